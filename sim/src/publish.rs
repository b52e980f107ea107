//! Publishing notifications to RabbitMQ with lapin: one connection and one confirm-mode
//! channel, both exchanges declared topic+durable, every message waited on until the broker
//! confirms it. A broken connection is replaced on the next publish.

use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::Mutex;

use crate::notification::Notification;

/// How long one broker confirm may take before the publish counts as failed.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);
/// AMQP delivery mode 2: the broker writes the message to disk.
const PERSISTENT: u8 = 2;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot connect to the broker: {0}")]
    Connect(#[source] lapin::Error),
    #[error("cannot declare exchange {exchange:?}: {source}")]
    Declare {
        exchange: String,
        #[source]
        source: lapin::Error,
    },
    #[error("cannot publish to exchange {exchange:?}: {source}")]
    Publish {
        exchange: String,
        #[source]
        source: lapin::Error,
    },
    #[error("the broker refused (nacked) the message to exchange {exchange:?}")]
    Nacked { exchange: String },
    #[error("the broker did not confirm the message to exchange {exchange:?} in time")]
    Unconfirmed { exchange: String },
}

/// The connection in use; `None` until the first connect and after a failure.
struct Link {
    connection: Connection,
    channel: Channel,
}

pub(crate) struct Publisher {
    url: String,
    xml_exchange: String,
    json_exchange: String,
    /// Held for a whole publish, so both bodies of one event go out back to back.
    link: Mutex<Option<Link>>,
}

impl Publisher {
    /// Connects and declares both exchanges, so a bad broker shows at start.
    pub(crate) async fn connect(
        url: String,
        xml_exchange: String,
        json_exchange: String,
    ) -> Result<Self, PublishError> {
        let publisher = Self {
            url,
            xml_exchange,
            json_exchange,
            link: Mutex::new(None),
        };
        let link = publisher.open().await?;
        *publisher.link.lock().await = Some(link);
        Ok(publisher)
    }

    /// Publishes the XML body and then the JSON body, each confirmed by the broker. If the
    /// connection turns out broken, reconnects once and publishes again.
    pub(crate) async fn publish(&self, notification: &Notification) -> Result<(), PublishError> {
        let mut guard = self.link.lock().await;
        let mut last_error = None;
        for _attempt in 0..2 {
            let link = match guard.take() {
                Some(link) if link.channel.status().connected() => link,
                _ => match self.open().await {
                    Ok(link) => link,
                    Err(error) => {
                        last_error = Some(error);
                        continue;
                    }
                },
            };
            match self.send(&link.channel, notification).await {
                Ok(()) => {
                    *guard = Some(link);
                    return Ok(());
                }
                Err(error) => {
                    tracing::warn!(%error, "publish failed; dropping the broker connection");
                    let _ = link
                        .connection
                        .close(320, "vcd-sim reconnects".into())
                        .await;
                    last_error = Some(error);
                }
            }
        }
        Err(last_error.unwrap_or(PublishError::Unconfirmed {
            exchange: self.xml_exchange.clone(),
        }))
    }

    pub(crate) async fn close(&self) {
        if let Some(link) = self.link.lock().await.take() {
            let _ = link
                .connection
                .close(200, "vcd-sim shutting down".into())
                .await;
        }
    }

    async fn open(&self) -> Result<Link, PublishError> {
        let properties = ConnectionProperties::default().with_connection_name("vcd-sim".into());
        let connection = Connection::connect(&self.url, properties)
            .await
            .map_err(PublishError::Connect)?;
        let channel = connection
            .create_channel()
            .await
            .map_err(PublishError::Connect)?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(PublishError::Connect)?;
        for exchange in [&self.xml_exchange, &self.json_exchange] {
            declare(&channel, exchange).await?;
        }
        tracing::info!(xml_exchange = %self.xml_exchange, json_exchange = %self.json_exchange, "connected to the broker");
        Ok(Link {
            connection,
            channel,
        })
    }

    async fn send(
        &self,
        channel: &Channel,
        notification: &Notification,
    ) -> Result<(), PublishError> {
        let properties = BasicProperties::default()
            .with_delivery_mode(PERSISTENT)
            .with_headers(notification.headers.clone());
        for (exchange, body) in [
            (&self.xml_exchange, &notification.xml),
            (&self.json_exchange, &notification.json),
        ] {
            let failed = |source| PublishError::Publish {
                exchange: exchange.clone(),
                source,
            };
            let confirm = channel
                .basic_publish(
                    exchange.as_str().into(),
                    notification.routing_key.as_str().into(),
                    BasicPublishOptions::default(),
                    body.as_bytes(),
                    properties.clone(),
                )
                .await
                .map_err(failed)?;
            let confirmation = tokio::time::timeout(CONFIRM_TIMEOUT, confirm)
                .await
                .map_err(|_| PublishError::Unconfirmed {
                    exchange: exchange.clone(),
                })?
                .map_err(failed)?;
            if confirmation.is_nack() {
                return Err(PublishError::Nacked {
                    exchange: exchange.clone(),
                });
            }
        }
        Ok(())
    }
}

/// Declares `name` as vCD 10.6 requires and the daemon declares it: topic, durable, no
/// arguments. Idempotent when the exchange already exists with the same settings.
async fn declare(channel: &Channel, name: &str) -> Result<(), PublishError> {
    let options = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    channel
        .exchange_declare(
            name.into(),
            ExchangeKind::Topic,
            options,
            FieldTable::default(),
        )
        .await
        .map_err(|source| PublishError::Declare {
            exchange: name.to_owned(),
            source,
        })
}
