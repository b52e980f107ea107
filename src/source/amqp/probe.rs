//! Looking at the broker without changing it, for `doctor`: why a connection failed, in the
//! operator's terms (refused, credentials, unknown vhost, TLS), and whether the exchange vCD
//! publishes to and the daemon's queue are as the daemon needs them. Nothing is created: an
//! exchange or queue is re-declared only when it exists, with the arguments the daemon itself
//! declares, which the broker either confirms (changing nothing) or refuses with the
//! difference.

use std::fmt;

use lapin::options::{ExchangeDeclareOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ErrorKind, ExchangeKind};

use super::topology::{self, NOT_FOUND, PRECONDITION_FAILED, reply_code, reply_text};
use crate::config::AmqpSettings;

/// AMQP reply codes a broker closes a connection with at login.
const ACCESS_REFUSED: u16 = 403;
const NOT_ALLOWED: u16 = 530;

/// Why the broker cannot be used, as the operator must fix it. Never holds the URL (it carries
/// the password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BrokerProblem {
    /// Nothing answers at the address (refused, unreachable, timed out).
    Unreachable(String),
    /// The broker refused the user name or password.
    Credentials,
    /// The broker has no such virtual host, or the user may not use it.
    Vhost(String),
    /// The TLS handshake failed (certificate not trusted, wrong port for TLS, …).
    Tls(String),
    /// Anything else, in the broker's or the client's words.
    Other(String),
}

impl BrokerProblem {
    /// Classifies an error of connecting (or of the first channel) to the broker.
    pub(crate) fn of(error: &lapin::Error) -> BrokerProblem {
        match error.kind() {
            ErrorKind::ProtocolError(amqp) => {
                let text = amqp.get_message().to_string();
                match amqp.get_id() {
                    ACCESS_REFUSED if text.contains("Login was refused") => {
                        BrokerProblem::Credentials
                    }
                    NOT_ALLOWED | ACCESS_REFUSED if text.contains("vhost") => {
                        BrokerProblem::Vhost(text)
                    }
                    _ => BrokerProblem::Other(text),
                }
            }
            ErrorKind::IOError(io) => {
                let text = chain(io.as_ref());
                let lower = text.to_ascii_lowercase();
                if ["tls", "certificate", "handshake", "ssl"]
                    .iter()
                    .any(|word| lower.contains(word))
                {
                    BrokerProblem::Tls(text)
                } else if matches!(
                    io.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
                ) {
                    // RabbitMQ drops the socket of a failed PLAIN login before telling why
                    // when the client closes late; a reset right at login is most often that.
                    BrokerProblem::Other(format!(
                        "the broker closed the connection during login ({text}): often wrong \
                         credentials or a TLS/plain mismatch of port and scheme"
                    ))
                } else {
                    BrokerProblem::Unreachable(text)
                }
            }
            _ => BrokerProblem::Other(error.to_string()),
        }
    }
}

impl fmt::Display for BrokerProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrokerProblem::Unreachable(detail) => write!(
                f,
                "cannot reach the broker ({detail}): check the host and port of amqp.url and \
                 that RabbitMQ runs"
            ),
            BrokerProblem::Credentials => f.write_str(
                "the broker refused the user name or password in amqp.url (authentication failed)",
            ),
            BrokerProblem::Vhost(detail) => write!(
                f,
                "the broker refused the virtual host ({detail}): create it \
                 (rabbitmqctl add_vhost), grant the user permissions on it, or fix the path of \
                 amqp.url (%2f is the default vhost /)"
            ),
            BrokerProblem::Tls(detail) => write!(
                f,
                "TLS with the broker failed ({detail}): for amqps:// check the port (5671) and \
                 amqp.ca_file"
            ),
            BrokerProblem::Other(detail) => write!(f, "the broker said: {detail}"),
        }
    }
}

/// The whole chain of an I/O error's sources, as one line.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let next = inner.to_string();
        if !text.contains(&next) {
            text = format!("{text}: {next}");
        }
        source = inner.source();
    }
    text
}

/// What the exchange named by `amqp.exchange` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExchangeState {
    /// A topic exchange as the daemon would declare it (or `amq.topic`).
    Topic,
    /// A topic exchange that differs in something the daemon does not need (durability,
    /// arguments): used as it is.
    TopicAsItIs(String),
    /// Another type: vCD's routing keys cannot be matched by pattern.
    OtherType(String),
    Missing,
}

/// Looks at the exchange; re-declares it (topic, durable) only when it exists.
pub(crate) async fn exchange(
    connection: &Connection,
    name: &str,
) -> Result<ExchangeState, lapin::Error> {
    if !topology::exchange_exists(connection, name).await? {
        return Ok(ExchangeState::Missing);
    }
    if name == "amq.topic" {
        return Ok(ExchangeState::Topic);
    }
    let channel = connection.create_channel().await?;
    let declared = channel
        .exchange_declare(
            name.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await;
    match declared {
        Ok(()) => {
            let _ = channel.close(200, "checked".into()).await;
            Ok(ExchangeState::Topic)
        }
        Err(error) if reply_code(&error) == Some(PRECONDITION_FAILED) => {
            let detail = reply_text(&error).unwrap_or_default();
            if detail.contains("inequivalent arg 'type'") {
                Ok(ExchangeState::OtherType(detail))
            } else {
                Ok(ExchangeState::TopicAsItIs(detail))
            }
        }
        Err(error) => Err(error),
    }
}

/// What the daemon's queue is.
#[derive(Debug)]
pub(crate) enum QueueState {
    /// Not declared yet: the daemon declares it when it starts.
    Missing,
    /// As the daemon declares it.
    AsDeclared,
    /// Declared with other arguments; the daemon would refuse to start on it.
    Differs(topology::TopologyError),
}

/// Looks at the queue; re-declares it with the daemon's arguments only when it exists.
pub(crate) async fn queue(
    connection: &Connection,
    settings: &AmqpSettings,
) -> Result<QueueState, lapin::Error> {
    let probe = connection.create_channel().await?;
    let passive = probe
        .queue_declare(
            settings.queue.as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await;
    match passive {
        Ok(_) => {
            let _ = probe.close(200, "checked".into()).await;
        }
        Err(error) if reply_code(&error) == Some(NOT_FOUND) => return Ok(QueueState::Missing),
        Err(error) => return Err(error),
    }
    let channel = connection.create_channel().await?;
    match topology::declare_main_queue(&channel, settings).await {
        Ok(()) => {
            let _ = channel.close(200, "checked".into()).await;
            Ok(QueueState::AsDeclared)
        }
        Err(topology::TopologyError::Broker(error)) => Err(error),
        Err(differs) => Ok(QueueState::Differs(differs)),
    }
}
