//! Declares what the daemon consumes from: vCD's exchange as a durable topic
//! exchange if missing, the durable queue of the configured type with its dead-letter exchange
//! `<queue>.dlx` and dead-letter queue `<queue>.dead`, and one binding per routing key.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

use super::headers::{key, text};
use crate::config::AmqpSettings;

pub(crate) fn dead_letter_exchange(queue: &str) -> String {
    format!("{queue}.dlx")
}

pub(crate) fn dead_letter_queue(queue: &str) -> String {
    format!("{queue}.dead")
}

pub(crate) async fn declare(
    channel: &Channel,
    settings: &AmqpSettings,
) -> Result<(), lapin::Error> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    channel
        .exchange_declare(
            settings.exchange.as_str().into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await?;
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
    channel
        .queue_declare(
            dead.as_str().into(),
            QueueDeclareOptions::durable(),
            queue_arguments(settings, None),
        )
        .await?;
    channel
        .queue_bind(
            dead.as_str().into(),
            dlx.as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_declare(
            settings.queue.as_str().into(),
            QueueDeclareOptions::durable(),
            queue_arguments(settings, Some(&dlx)),
        )
        .await?;
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
