//! One delivery's life: decode it into a task id, hand that to the engine, then ack,
//! dead-letter, or retry transient trouble with backoff while keeping it unacknowledged, well
//! inside RabbitMQ's 30-minute consumer timeout.

use std::sync::Arc;
use std::time::Instant;

use lapin::Channel;
use lapin::message::Delivery as AmqpDelivery;
use lapin::options::{BasicAckOptions, BasicNackOptions, BasicPublishOptions, BasicRejectOptions};
use lapin::types::AMQPValue;
use tokio_util::sync::CancellationToken;

use super::headers::{key, text};
use super::notification::{self, Delivery};
use super::topology::dead_letter_exchange;
use crate::backoff::Backoff;
use crate::engine::{Disposition, Engine, Origin};
use crate::metrics::Metrics;
use crate::outcome::{DeadLetterReason, NotificationOutcome};
use crate::task::TaskId;

/// Header naming why vcd-blockd dead-lettered a message.
pub(super) const REASON_HEADER: &str = "x-vcd-blockd-reason";
/// Header with the human-readable detail of the reason.
pub(super) const DETAIL_HEADER: &str = "x-vcd-blockd-detail";

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
    pub(super) async fn handle(self, delivery: AmqpDelivery) {
        let received = Instant::now();
        let id = match self.decode(&delivery) {
            Ok(Some(id)) => id,
            Ok(None) => {
                self.metrics.notification(NotificationOutcome::OtherType);
                acknowledge(&delivery).await;
                return;
            }
            Err((reason, detail)) => return self.reject(&delivery, reason, &detail).await,
        };
        let mut schedule = Backoff::DELIVERY.schedule();
        loop {
            match self
                .engine
                .handle_task(id, received, Origin::Notified)
                .await
            {
                Disposition::Ack(outcome) => {
                    self.metrics
                        .notification(NotificationOutcome::Task(outcome));
                    acknowledge(&delivery).await;
                    return;
                }
                Disposition::DeadLetter { reason, detail } => {
                    return self.reject(&delivery, reason, &detail).await;
                }
                Disposition::Retry(error) => {
                    tracing::warn!(%error, attempt = schedule.attempts(), "vCD trouble; will retry");
                    if schedule.wait(&self.shutdown).await {
                        continue;
                    }
                    // Stopping: left unacknowledged, it returns to the queue with the channel.
                    if !self.shutdown.is_cancelled() {
                        tracing::warn!(%error, "still failing; returning the message to the queue");
                        self.metrics.notification(NotificationOutcome::Requeued);
                        let requeue = BasicNackOptions {
                            requeue: true,
                            ..BasicNackOptions::default()
                        };
                        let _ = delivery.acker.nack(requeue).await;
                    }
                    return;
                }
            }
        }
    }

    /// The blocking task a delivery announces; `None` for any other notification type (vCD's
    /// own resume and abort events among them); a dead-letter reason for a message that can
    /// never be handled.
    fn decode(
        &self,
        delivery: &AmqpDelivery,
    ) -> Result<Option<TaskId>, (DeadLetterReason, String)> {
        let headers = super::headers::from_table(delivery.properties.headers().as_ref());
        let view = Delivery {
            body: &delivery.data,
            routing_key: delivery.routing_key.as_str(),
            headers: &headers,
        };
        let notification = notification::parse(&view, self.max_bytes)
            .map_err(|error| (error.reason(), error.to_string()))?;
        match notification.task_id {
            Some(id) if notification.is_blocking_task_create() => Ok(Some(id)),
            _ => {
                tracing::debug!(event_type = %notification.event_type, "not a new blocking task; nothing to do");
                Ok(None)
            }
        }
    }

    async fn reject(&self, delivery: &AmqpDelivery, reason: DeadLetterReason, detail: &str) {
        tracing::warn!(reason = reason.label(), detail, routing_key = %delivery.routing_key, "dead-lettering message");
        self.metrics.notification(NotificationOutcome::DeadLettered);
        self.metrics.dead_lettered(reason);
        self.dead_letter(delivery, reason.label(), detail).await;
    }

    /// Publishes a copy with the reason to `<queue>.dlx` and acks the original once the broker
    /// confirmed the copy; if that fails, rejects it so the broker dead-letters it itself.
    async fn dead_letter(&self, delivery: &AmqpDelivery, reason: &str, detail: &str) {
        let mut table = delivery.properties.headers().clone().unwrap_or_default();
        table.insert(key(REASON_HEADER), text(reason));
        table.insert(key(DETAIL_HEADER), text(&truncate(detail, 1024)));
        table.insert(
            key("x-vcd-blockd-original-exchange"),
            AMQPValue::LongString(delivery.exchange.as_str().into()),
        );
        let properties = delivery.properties.clone().with_headers(table);
        let published = async {
            self.channel
                .basic_publish(
                    dead_letter_exchange(&self.queue).as_str().into(),
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
