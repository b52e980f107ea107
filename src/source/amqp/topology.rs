//! Declares what the daemon consumes from. vCD's exchange is used as it is when it exists
//! (a passive declare: shared, non-durable, or with arguments such as an alternate exchange),
//! and created as a durable topic exchange only when missing. Then the durable queue of the
//! configured type with its dead-letter exchange `<queue>.dlx` and dead-letter queue
//! `<queue>.dead`, and one binding per routing key. A queue that already exists with other
//! arguments is a [`TopologyError::QueueArguments`] naming the argument.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ErrorKind, ExchangeKind};

use super::headers::{key, text};
use crate::config::AmqpSettings;

/// AMQP reply codes the broker closes a channel with.
pub(super) const NOT_FOUND: u16 = 404;
pub(super) const PRECONDITION_FAILED: u16 = 406;

#[derive(Debug, thiserror::Error)]
pub(crate) enum TopologyError {
    #[error(
        "queue {queue:?} already exists with {argument} other than this daemon declares ({detail}); \
         delete the queue, or set [amqp] queue_type or queue to match it"
    )]
    QueueArguments {
        queue: String,
        /// The argument RabbitMQ named, e.g. `x-queue-type` or `durable`.
        argument: String,
        /// RabbitMQ's own words.
        detail: String,
    },
    #[error("RabbitMQ: {0}")]
    Broker(#[from] lapin::Error),
}

pub(crate) fn dead_letter_exchange(queue: &str) -> String {
    format!("{queue}.dlx")
}

pub(crate) fn dead_letter_queue(queue: &str) -> String {
    format!("{queue}.dead")
}

pub(crate) async fn declare(
    connection: &Connection,
    channel: &Channel,
    settings: &AmqpSettings,
) -> Result<(), TopologyError> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    if !exchange_exists(connection, &settings.exchange).await? {
        tracing::info!(exchange = %settings.exchange, "exchange missing; declaring it topic and durable");
        channel
            .exchange_declare(
                settings.exchange.as_str().into(),
                ExchangeKind::Topic,
                durable,
                FieldTable::default(),
            )
            .await?;
    }
    let dlx = dead_letter_exchange(&settings.queue);
    let dead = dead_letter_queue(&settings.queue);
    channel
        .exchange_declare(
            dlx.as_str().into(),
            ExchangeKind::Fanout,
            durable,
            FieldTable::default(),
        )
        .await?;
    declare_queue(channel, &dead, queue_arguments(settings, None)).await?;
    channel
        .queue_bind(
            dead.as_str().into(),
            dlx.as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    declare_main_queue(channel, settings).await?;
    for binding in &settings.binding_keys {
        channel
            .queue_bind(
                settings.queue.as_str().into(),
                settings.exchange.as_str().into(),
                binding.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}

/// The queue notifications are consumed from, durable, of `queue_type`, dead-lettering to
/// `<queue>.dlx`.
pub(super) async fn declare_main_queue(
    channel: &Channel,
    settings: &AmqpSettings,
) -> Result<(), TopologyError> {
    let dlx = dead_letter_exchange(&settings.queue);
    declare_queue(
        channel,
        &settings.queue,
        queue_arguments(settings, Some(&dlx)),
    )
    .await
}

/// A passive declare on a channel of its own, as the broker closes the channel of a passive
/// declare that finds nothing.
pub(super) async fn exchange_exists(
    connection: &Connection,
    exchange: &str,
) -> Result<bool, lapin::Error> {
    let probe = connection.create_channel().await?;
    let passive = ExchangeDeclareOptions {
        passive: true,
        ..ExchangeDeclareOptions::default()
    };
    let found = probe
        .exchange_declare(
            exchange.into(),
            ExchangeKind::Topic,
            passive,
            FieldTable::default(),
        )
        .await;
    match found {
        Ok(()) => {
            let _ = probe.close(200, "exchange found".into()).await;
            Ok(true)
        }
        Err(error) if reply_code(&error) == Some(NOT_FOUND) => Ok(false),
        Err(error) => Err(error),
    }
}

async fn declare_queue(
    channel: &Channel,
    queue: &str,
    arguments: FieldTable,
) -> Result<(), TopologyError> {
    let declared = channel
        .queue_declare(queue.into(), QueueDeclareOptions::durable(), arguments)
        .await;
    match declared {
        Ok(_) => Ok(()),
        Err(error) if reply_code(&error) == Some(PRECONDITION_FAILED) => {
            let detail = reply_text(&error).unwrap_or_default();
            Err(TopologyError::QueueArguments {
                queue: queue.to_owned(),
                argument: inequivalent_argument(&detail)
                    .unwrap_or("arguments")
                    .to_owned(),
                detail,
            })
        }
        Err(error) => Err(error.into()),
    }
}

/// The reply code the broker closed the channel with, if it did.
pub(super) fn reply_code(error: &lapin::Error) -> Option<u16> {
    match error.kind() {
        ErrorKind::ProtocolError(amqp) => Some(amqp.get_id()),
        _ => None,
    }
}

pub(super) fn reply_text(error: &lapin::Error) -> Option<String> {
    match error.kind() {
        ErrorKind::ProtocolError(amqp) => Some(amqp.get_message().to_string()),
        _ => None,
    }
}

/// `… inequivalent arg 'x-queue-type' for queue …` → `x-queue-type`.
fn inequivalent_argument(detail: &str) -> Option<&str> {
    let (_, rest) = detail.split_once("inequivalent arg '")?;
    rest.split_once('\'').map(|(argument, _)| argument)
}

fn queue_arguments(settings: &AmqpSettings, dead_letter_exchange: Option<&str>) -> FieldTable {
    let mut arguments = FieldTable::default();
    arguments.insert(key("x-queue-type"), text(settings.queue_type.name()));
    if let Some(dlx) = dead_letter_exchange {
        arguments.insert(
            key("x-dead-letter-exchange"),
            AMQPValue::LongString(dlx.into()),
        );
    }
    arguments
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inequivalent_argument_is_named() {
        let rabbit = "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'q' in vhost '/': received 'classic' but current is 'quorum'";
        assert_eq!(inequivalent_argument(rabbit), Some("x-queue-type"));
        assert_eq!(
            inequivalent_argument("PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q'"),
            Some("durable")
        );
        assert_eq!(inequivalent_argument("PRECONDITION_FAILED - other"), None);
    }
}
