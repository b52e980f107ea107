//! Leadership through RabbitMQ, with no other infrastructure: every instance consumes the
//! *leader queue* `<queue>.leader`, a durable queue with `x-single-active-consumer`, so the
//! broker delivers its messages to one instance at a time, the leader, and moves them to the
//! next consumer the moment the leader's connection ends. The queue carries two kinds of
//! message: *batons* and forwarded admin calls (see `forward`).
//!
//! A baton is a small persistent message, signed with the cluster secret when there is one
//! (`signing`): a baton without a valid signature is acknowledged and dropped, so nobody who
//! can merely publish to the queue hands out leadership tokens. Each instance publishes one when it connects; the
//! leader keeps the newest baton it received unacknowledged, acknowledging older ones, and
//! publishes a fresh one every [`BATON_RENEWAL`] (so no delivery stays unacknowledged long
//! enough for RabbitMQ's consumer timeout). An instance leads from the first delivery the
//! queue gives it, since the broker only delivers to the active consumer; when the leader
//! dies, its baton returns to the queue and is delivered to the next instance at once.

use std::time::Duration;

use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection};

use super::headers::{key, text};
use super::signing::{Purpose, SigningKey};
use crate::config::AmqpSettings;

/// How often the leader replaces its baton (RabbitMQ's default consumer timeout is 30 min).
pub(super) const BATON_RENEWAL: Duration = Duration::from_secs(60);
/// Unacknowledged deliveries on the leader queue: the kept baton, a newer one, and calls
/// being answered.
const PREFETCH: u16 = 32;
/// The AMQP `type` property of a baton.
const BATON_TYPE: &str = "vcd-blockd.baton";

/// The leader queue of `queue`.
pub(crate) fn leader_queue(queue: &str) -> String {
    format!("{queue}.leader")
}

/// What a delivery from the leader queue was.
pub(super) enum Received {
    /// A baton, now kept.
    Baton,
    /// A forwarded admin call, to answer and then acknowledge.
    Call(Box<Delivery>),
}

/// This session's end of the leader queue.
pub(super) struct LeaderQueue {
    pub channel: Channel,
    name: String,
    /// The delivery tag of the baton this instance keeps while it leads.
    kept: Option<u64>,
    /// Signs and checks batons; `None` without a cluster secret (any baton is kept).
    key: Option<SigningKey>,
}

impl LeaderQueue {
    /// Declares the leader queue (durable, `amqp.queue_type`, single active consumer),
    /// consumes it and publishes this instance's baton. Returns the queue and its deliveries.
    pub(super) async fn open(
        connection: &Connection,
        settings: &AmqpSettings,
        signing: Option<SigningKey>,
    ) -> Result<(LeaderQueue, lapin::Consumer), lapin::Error> {
        let channel = connection.create_channel().await?;
        channel
            .basic_qos(PREFETCH, BasicQosOptions::default())
            .await?;
        let name = leader_queue(&settings.queue);
        let mut arguments = FieldTable::default();
        arguments.insert(key("x-queue-type"), text(settings.queue_type.name()));
        arguments.insert(key("x-single-active-consumer"), AMQPValue::Boolean(true));
        channel
            .queue_declare(
                name.as_str().into(),
                QueueDeclareOptions::durable(),
                arguments,
            )
            .await?;
        let consumer = channel
            .basic_consume(
                name.as_str().into(),
                format!("vcd-blockd-leader-{}", uuid::Uuid::new_v4())
                    .as_str()
                    .into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let queue = LeaderQueue {
            channel,
            name,
            kept: None,
            key: signing,
        };
        queue.publish_baton().await?;
        Ok((queue, consumer))
    }

    /// Publishes a baton (persistent, so a broker restart keeps it): its body is a random id,
    /// so that no two batons carry the same signature.
    pub(super) async fn publish_baton(&self) -> Result<(), lapin::Error> {
        let body = uuid::Uuid::new_v4().to_string();
        let mut properties = BasicProperties::default()
            .with_type(BATON_TYPE.into())
            .with_delivery_mode(2);
        if let Some(key) = &self.key {
            properties = properties.with_headers(key.headers(Purpose::Baton, body.as_bytes()));
        }
        self.channel
            .basic_publish(
                "".into(),
                self.name.as_str().into(),
                BasicPublishOptions::default(),
                body.as_bytes(),
                properties,
            )
            .await?;
        Ok(())
    }

    /// Sorts a delivery: a signed baton replaces the kept one (acknowledged now), an unsigned
    /// one is dropped; anything else is a call for the leader.
    pub(super) async fn received(&mut self, delivery: Delivery) -> Result<Received, lapin::Error> {
        let is_baton = delivery
            .properties
            .kind()
            .as_ref()
            .is_some_and(|kind| kind.as_str() == BATON_TYPE);
        if !is_baton {
            return Ok(Received::Call(Box::new(delivery)));
        }
        let signed = self.key.as_ref().is_none_or(|key| {
            key.signed(
                Purpose::Baton,
                delivery.properties.headers(),
                &delivery.data,
            )
        });
        if !signed {
            tracing::warn!("a baton without a valid signature in the leader queue; dropped");
            self.channel
                .basic_ack(delivery.delivery_tag, BasicAckOptions::default())
                .await?;
            return Ok(Received::Baton);
        }
        if let Some(older) = self.kept.replace(delivery.delivery_tag) {
            self.channel
                .basic_ack(older, BasicAckOptions::default())
                .await?;
        }
        Ok(Received::Baton)
    }
}
