//! The journal's stream: `<queue>.journal`, a RabbitMQ stream queue (`x-queue-type=stream`)
//! that the journal ([`crate::journal`]) writes through while the AMQP source has a session
//! ([`StreamJournal::attach`]). Records are published persistent and mandatory on a channel
//! with publisher confirms, so a record counts as written once the broker confirmed it, and a
//! record the broker cannot route (the stream was deleted) is noticed as such. Reading starts
//! from the stream's first offset and stops at a mark this instance writes first, so a new
//! leader reads exactly what was written before it took over.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use futures_lite::StreamExt;
use lapin::Confirmation;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection};

use super::headers::{key, text};
use super::topology::{NOT_FOUND, reply_code};
use crate::journal::record::{self, Decoded, Record};
use crate::journal::{Backend, BackendFuture, Trouble};

/// Unacknowledged deliveries while the stream is read (streams need a prefetch).
const READ_PREFETCH: u16 = 2_000;
/// Acknowledge read records in batches of this many.
const ACK_EVERY: u64 = 500;
/// The longest a read may take before the leader gives up on it.
const READ_TIMEOUT: Duration = Duration::from_secs(120);
/// What the stream keeps besides the longest hold: a week of decision history.
pub(crate) const HISTORY_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// The largest the stream grows, in bytes, whatever its age (about four million records).
const MAX_BYTES: i64 = 1 << 30;

/// The journal stream of `queue`.
pub(crate) fn journal_stream(queue: &str) -> String {
    format!("{queue}.journal")
}

/// The stream and, during a session, the channel records are published on.
pub(crate) struct StreamJournal {
    name: String,
    /// `x-max-age` when this instance declares the stream, in seconds.
    max_age: Duration,
    session: Mutex<Option<Session>>,
    /// Whether this instance ever found the stream: one missing after that was deleted.
    seen: std::sync::atomic::AtomicBool,
}

#[derive(Clone)]
struct Session {
    connection: Arc<Connection>,
    /// Publisher confirms on; replaced when the broker closes it.
    channel: Channel,
}

impl StreamJournal {
    /// The stream of `queue`; declared, when missing, to keep records for `max_age`.
    pub(crate) fn new(queue: &str, max_age: Duration) -> StreamJournal {
        StreamJournal {
            name: journal_stream(queue),
            max_age,
            session: Mutex::new(None),
            seen: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Writes through `connection` from now on, declaring the stream if it is missing.
    pub(crate) async fn attach(&self, connection: Arc<Connection>) -> Result<(), lapin::Error> {
        let created = self.declare(&connection).await?;
        if created && self.seen.load(std::sync::atomic::Ordering::Relaxed) {
            tracing::error!(stream = %self.name, "the journal stream was gone and is created again: the approvals it recorded are lost");
        }
        self.seen.store(true, std::sync::atomic::Ordering::Relaxed);
        let channel = publishing_channel(&connection).await?;
        *self.lock() = Some(Session {
            connection,
            channel,
        });
        Ok(())
    }

    /// The session ended: nothing can be written until the next one.
    pub(crate) fn detach(&self) {
        *self.lock() = None;
    }

    fn session(&self) -> Result<Session, Trouble> {
        self.lock().clone().ok_or(Trouble::Detached)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Session>> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Declares the stream unless it exists (an existing one is used as it is, whatever its
    /// retention); `true` when it had to be created.
    async fn declare(&self, connection: &Connection) -> Result<bool, lapin::Error> {
        if self.exists(connection).await? {
            return Ok(false);
        }
        let channel = connection.create_channel().await?;
        let mut arguments = FieldTable::default();
        arguments.insert(key("x-queue-type"), text("stream"));
        arguments.insert(
            key("x-max-age"),
            text(&format!("{}s", self.max_age.as_secs().max(1))),
        );
        arguments.insert(key("x-max-length-bytes"), AMQPValue::LongLongInt(MAX_BYTES));
        channel
            .queue_declare(
                self.name.as_str().into(),
                QueueDeclareOptions::durable(),
                arguments,
            )
            .await?;
        let _ = channel.close(200, "declared".into()).await;
        tracing::info!(stream = %self.name, max_age_s = self.max_age.as_secs(), "journal stream declared");
        Ok(true)
    }

    /// Whether the stream exists, asked on a channel of its own (the broker closes a channel
    /// that asks about a queue it does not have).
    async fn exists(&self, connection: &Connection) -> Result<bool, lapin::Error> {
        let channel = connection.create_channel().await?;
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        match channel
            .queue_declare(self.name.as_str().into(), passive, FieldTable::default())
            .await
        {
            Ok(_) => {
                let _ = channel.close(200, "checked".into()).await;
                Ok(true)
            }
            Err(error) if reply_code(&error) == Some(NOT_FOUND) => Ok(false),
            Err(error) => Err(error),
        }
    }

    async fn publish(&self, body: Vec<u8>) -> Result<(), Trouble> {
        let mut session = self.session()?;
        if !session.channel.status().connected() {
            session.channel = publishing_channel(&session.connection)
                .await
                .map_err(broker)?;
            if let Some(current) = self.lock().as_mut() {
                current.channel = session.channel.clone();
            }
        }
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into());
        let confirm = session
            .channel
            .basic_publish(
                "".into(),
                self.name.as_str().into(),
                options,
                &body,
                properties,
            )
            .await
            .map_err(broker)?;
        match confirm.await.map_err(broker)? {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(_)) => Err(self.gone()),
            Confirmation::Nack(_) => Err(Trouble::Unwritable(
                "the broker did not confirm the record".to_owned(),
            )),
            Confirmation::NotRequested => Err(Trouble::Unwritable(
                "publisher confirms are off on the journal's channel".to_owned(),
            )),
        }
    }

    fn gone(&self) -> Trouble {
        Trouble::Gone(format!("the stream {} does not exist", self.name))
    }

    /// Reads from the first offset up to a mark written now.
    async fn read_all(&self, each: &mut (dyn FnMut(Decoded) + Send)) -> Result<(), Trouble> {
        let mark = uuid::Uuid::new_v4().to_string();
        self.publish(record::encode(&Record::Mark {
            id: mark.clone(),
            at: Utc::now(),
        }))
        .await?;
        let session = self.session()?;
        let channel = session.connection.create_channel().await.map_err(broker)?;
        channel
            .basic_qos(READ_PREFETCH, BasicQosOptions::default())
            .await
            .map_err(broker)?;
        let mut arguments = FieldTable::default();
        arguments.insert(key("x-stream-offset"), text("first"));
        let tag = format!("vcd-blockd-journal-{mark}");
        let mut consumer = channel
            .basic_consume(
                self.name.as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                arguments,
            )
            .await
            .map_err(broker)?;
        let reading = async {
            let mut unacked = 0_u64;
            while let Some(delivery) = consumer.next().await {
                let delivery = delivery.map_err(broker)?;
                unacked += 1;
                let decoded = record::decode(&delivery.data);
                let last =
                    matches!(&decoded, Decoded::Record(Record::Mark { id, .. }) if *id == mark);
                if unacked >= ACK_EVERY || last {
                    let multiple = BasicAckOptions { multiple: true };
                    channel
                        .basic_ack(delivery.delivery_tag, multiple)
                        .await
                        .map_err(broker)?;
                    unacked = 0;
                }
                if last {
                    return Ok(());
                }
                each(decoded);
            }
            Err(Trouble::Unwritable(
                "the broker ended the read before its end".to_owned(),
            ))
        };
        let read = match tokio::time::timeout(READ_TIMEOUT, reading).await {
            Ok(read) => read,
            Err(_) => Err(Trouble::Unwritable(format!(
                "reading the stream took longer than {} s",
                READ_TIMEOUT.as_secs()
            ))),
        };
        let _ = channel
            .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
            .await;
        let _ = channel.close(200, "read".into()).await;
        read
    }
}

async fn publishing_channel(connection: &Connection) -> Result<Channel, lapin::Error> {
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok(channel)
}

fn broker(error: lapin::Error) -> Trouble {
    Trouble::Unwritable(format!("RabbitMQ: {error}"))
}

impl Backend for StreamJournal {
    fn describe(&self) -> String {
        format!("stream {}", self.name)
    }

    fn append(&self, record: Vec<u8>) -> BackendFuture<'_, Result<(), Trouble>> {
        Box::pin(self.publish(record))
    }

    fn check(&self) -> BackendFuture<'_, Result<(), Trouble>> {
        Box::pin(async move {
            let session = self.session()?;
            match self.exists(&session.connection).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(self.gone()),
                Err(error) => Err(broker(error)),
            }
        })
    }

    fn repair(&self) -> BackendFuture<'_, Result<(), Trouble>> {
        Box::pin(async move {
            let session = self.session()?;
            self.declare(&session.connection).await.map_err(broker)?;
            Ok(())
        })
    }

    fn read<'a>(
        &'a self,
        each: &'a mut (dyn FnMut(Decoded) + Send),
    ) -> BackendFuture<'a, Result<(), Trouble>> {
        Box::pin(self.read_all(each))
    }
}
