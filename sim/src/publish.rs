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
/// How long connecting, opening the channel and declaring the exchanges may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
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
    #[error("the broker did not answer within {0:?} while connecting")]
    ConnectTimeout(Duration),
    #[error("the sim is shut down")]
    Closed,
}

/// An open broker connection and its confirm-mode channel.
struct BrokerConnection {
    connection: Connection,
    channel: Channel,
}

impl BrokerConnection {
    /// Closes the connection; errors are moot, as the connection is being given up.
    async fn close(self, reason: &str) {
        let _ = self.connection.close(200, reason.into()).await;
    }
}

/// The publisher's connection state.
#[derive(Default)]
struct ConnectionState {
    /// `None` before the first connect and after a failure.
    current: Option<BrokerConnection>,
    /// Set by `close`: no reconnects after shutdown.
    closed: bool,
}

pub(crate) struct Publisher {
    url: String,
    xml_exchange: String,
    json_exchange: String,
    /// Held for a whole publish, so both bodies of one event go out back to back.
    state: Mutex<ConnectionState>,
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
            state: Mutex::new(ConnectionState::default()),
        };
        let broker = publisher.open().await?;
        publisher.state.lock().await.current = Some(broker);
        Ok(publisher)
    }

    /// Publishes the XML body and then the JSON body, each confirmed by the broker. If the
    /// connection turns out broken, reconnects once and publishes again.
    pub(crate) async fn publish(&self, notification: &Notification) -> Result<(), PublishError> {
        let mut state = self.state.lock().await;
        if state.closed {
            return Err(PublishError::Closed);
        }
        let mut last_error = None;
        for _attempt in 0..2 {
            let broker = match state.current.take() {
                Some(broker) if broker.channel.status().connected() => broker,
                stale => {
                    if let Some(stale) = stale {
                        stale.close("vcd-sim reconnects").await;
                    }
                    match self.open().await {
                        Ok(broker) => broker,
                        Err(error) => {
                            last_error = Some(error);
                            continue;
                        }
                    }
                }
            };
            match self.send(&broker.channel, notification).await {
                Ok(()) => {
                    state.current = Some(broker);
                    return Ok(());
                }
                Err(error) => {
                    tracing::warn!(%error, "publish failed; dropping the broker connection");
                    broker.close("vcd-sim reconnects").await;
                    last_error = Some(error);
                }
            }
        }
        Err(last_error.unwrap_or(PublishError::Unconfirmed {
            exchange: self.xml_exchange.clone(),
        }))
    }

    /// Closes the connection; later publishes fail with `Closed`.
    pub(crate) async fn close(&self) {
        let mut state = self.state.lock().await;
        state.closed = true;
        if let Some(broker) = state.current.take() {
            broker.close("vcd-sim shutting down").await;
        }
    }

    async fn open(&self) -> Result<BrokerConnection, PublishError> {
        tokio::time::timeout(CONNECT_TIMEOUT, self.open_now())
            .await
            .map_err(|_| PublishError::ConnectTimeout(CONNECT_TIMEOUT))?
    }

    async fn open_now(&self) -> Result<BrokerConnection, PublishError> {
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
        Ok(BrokerConnection {
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
