//! One delivery's life: a [`settle::Message`] (decoded by `notification`, acked, dead-lettered
//! to `<queue>.dlx` with its reason, or nacked back to the queue) that `source::settle` takes
//! through the engine, and the count of how it ended.

use std::sync::Arc;

use lapin::Channel;
use lapin::message::Delivery as AmqpDelivery;
use lapin::options::{BasicAckOptions, BasicNackOptions, BasicPublishOptions, BasicRejectOptions};
use lapin::types::AMQPValue;
use tokio_util::sync::CancellationToken;

use super::headers::{key, text};
use super::notification::{self, Delivery};
use super::topology::dead_letter_exchange;
use crate::engine::{Engine, Origin};
use crate::metrics::Metrics;
use crate::outcome::NotificationOutcome;
use crate::source::settle::{self, Settled, Undecodable, settle};
use crate::task::TaskId;

/// Header naming why vcd-blockd dead-lettered a message.
pub(super) const REASON_HEADER: &str = "x-vcd-blockd-reason";
/// Header with the human-readable detail of the reason.
pub(super) const DETAIL_HEADER: &str = "x-vcd-blockd-detail";

/// What one delivery needs besides itself.
pub(super) struct Handler {
    pub engine: Arc<Engine>,
    pub metrics: Arc<Metrics>,
    /// The channel the delivery came on: acks must go back on it, never on a newer one.
    pub channel: Channel,
    pub queue: String,
    pub max_bytes: usize,
    pub shutdown: CancellationToken,
}

impl Handler {
    /// Settles `delivery` (`source::settle`) and counts how (`notifications_total`,
    /// `dead_lettered_total`).
    pub(super) async fn handle(self, delivery: AmqpDelivery) {
        let message = Message {
            delivery,
            channel: &self.channel,
            queue: &self.queue,
            max_bytes: self.max_bytes,
        };
        let outcome = match settle(message, &self.engine, Origin::Notified, &self.shutdown).await {
            Settled::Task(outcome) => NotificationOutcome::Task(outcome),
            Settled::NoTask => NotificationOutcome::OtherType,
            Settled::DeadLettered(reason) => {
                self.metrics.dead_lettered(reason);
                NotificationOutcome::DeadLettered
            }
            Settled::GivenBack => NotificationOutcome::Requeued,
            Settled::Stopping => return,
        };
        self.metrics.notification(outcome);
    }
}

/// A delivery as a message to settle.
struct Message<'a> {
    delivery: AmqpDelivery,
    channel: &'a Channel,
    queue: &'a str,
    max_bytes: usize,
}

impl settle::Message for Message<'_> {
    /// The blocking task a delivery announces; `None` for any other notification type (vCD's
    /// own resume and abort events among them).
    fn decode(&self) -> Result<Option<TaskId>, Undecodable> {
        let delivery = &self.delivery;
        let headers = super::headers::from_table(delivery.properties.headers().as_ref());
        let view = Delivery {
            body: &delivery.data,
            routing_key: delivery.routing_key.as_str(),
            headers: &headers,
        };
        let notification =
            notification::parse(&view, self.max_bytes).map_err(|error| Undecodable {
                reason: error.reason(),
                detail: error.to_string(),
            })?;
        match notification.task_id {
            Some(id) if notification.is_blocking_task_create() => Ok(Some(id)),
            _ => {
                tracing::debug!(event_type = %notification.event_type, "not a new blocking task; nothing to do");
                Ok(None)
            }
        }
    }

    async fn ack(self) {
        acknowledge(&self.delivery).await;
    }

    /// Publishes a copy with the reason to `<queue>.dlx` and acks the original once the broker
    /// confirmed the copy; if that fails, rejects it so the broker dead-letters it itself.
    async fn dead_letter(self, why: &Undecodable) {
        let delivery = &self.delivery;
        let reason = why.reason.label();
        tracing::warn!(reason, detail = why.detail, routing_key = %delivery.routing_key, "dead-lettering message");
        let mut table = delivery.properties.headers().clone().unwrap_or_default();
        table.insert(key(REASON_HEADER), text(reason));
        table.insert(key(DETAIL_HEADER), text(&truncate(&why.detail, 1024)));
        table.insert(
            key("x-vcd-blockd-original-exchange"),
            AMQPValue::LongString(delivery.exchange.as_str().into()),
        );
        let properties = delivery.properties.clone().with_headers(table);
        let published = async {
            self.channel
                .basic_publish(
                    dead_letter_exchange(self.queue).as_str().into(),
                    delivery.routing_key.clone(),
                    BasicPublishOptions::default(),
                    &delivery.data,
                    properties,
                )
                .await?
                .await
        }
        .await;
        match published {
            Ok(confirmation) if !confirmation.is_nack() => acknowledge(delivery).await,
            outcome => {
                tracing::warn!(
                    ?outcome,
                    "could not publish the dead letter; rejecting instead"
                );
                let options = BasicRejectOptions { requeue: false };
                if let Err(error) = delivery.acker.reject(options).await {
                    tracing::warn!(%error, "reject failed; the broker will redeliver the message");
                }
            }
        }
    }

    async fn give_back(self) {
        let requeue = BasicNackOptions {
            requeue: true,
            ..BasicNackOptions::default()
        };
        if let Err(error) = self.delivery.acker.nack(requeue).await {
            tracing::warn!(%error, "nack failed; the broker will redeliver the message");
        }
    }
}

async fn acknowledge(delivery: &AmqpDelivery) {
    if let Err(error) = delivery.acker.ack(BasicAckOptions::default()).await {
        // The channel is gone; the broker redelivers, and the task is then found decided.
        tracing::warn!(%error, "ack failed; the broker will redeliver the message");
    }
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
