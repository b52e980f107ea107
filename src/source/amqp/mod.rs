//! The AMQP source ([`AmqpSource`], source name `amqp`): its session connects to RabbitMQ,
//! declares the topology and joins the leader queue (`leader`). While this instance leads, it
//! consumes the notifications with manual acks and settles each delivery (`deliver`,
//! `source::settle`): a delivery is acknowledged only after its task was acted on, found
//! decided or needs nothing; unparseable ones go to `<queue>.dead` with a reason. While it
//! stands by, it only forwards admin calls (`forward`). On any connection or channel failure
//! the whole session is rebuilt with backoff, and leadership ends with it. Readiness and the
//! `STATUS=` line follow the session: up (consuming, or standing by) or down.

mod deliver;
pub(crate) mod forward;
pub(crate) mod headers;
pub(crate) mod journal;
pub(crate) mod leader;
pub(crate) mod notification;
pub(crate) mod probe;
pub(crate) mod signing;
pub(crate) mod topology;

use std::sync::Arc;
use std::time::Duration;

use futures_lite::StreamExt;
use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions,
};
use lapin::tcp::OwnedTLSConfig;
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Report, Run, Runs, Source};
use crate::backoff::{Backoff, Schedule};
use crate::config::AmqpSettings;
use crate::engine::Engine;
use crate::health::Condition;
use crate::leadership::{Leadership, TermEnd};
use crate::metrics::Metrics;
use forward::{CallDesk, Forwarder};
use leader::{LeaderQueue, Received};

/// The largest AMQP frame this client accepts, in bytes, unless the URL sets `frame_max`.
///
/// lapin keeps a receive and a send buffer of 32 frames each for the whole connection, so
/// RabbitMQ's default of 131,072 costs 8 MiB of resident memory; 16 KiB frames cost 1 MiB. A
/// vCD notification is a few KiB (larger bodies are split across frames, as AMQP 0-9-1 allows).
const FRAME_MAX: u32 = 16_384;

/// The AMQP source: keeps one session with RabbitMQ alive until shutdown. In it, the instance
/// joins the leader queue, forwards admin calls while it stands by, and while it leads
/// consumes the notifications and answers forwarded calls.
pub(crate) struct AmqpSource {
    pub settings: AmqpSettings,
    pub engine: Arc<Engine>,
    pub metrics: Arc<Metrics>,
    /// In-flight delivery handlers; drained on shutdown.
    pub handlers: TaskTracker,
    /// How long a graceful stop waits for in-flight deliveries before closing the channel.
    pub grace: Duration,
    /// This instance's role, which the session sets.
    pub leadership: Arc<Leadership>,
    /// Forwards admin calls while this instance stands by.
    pub forwarder: Arc<Forwarder>,
    /// Answers forwarded admin calls while this instance leads.
    pub desk: CallDesk,
    /// The journal's stream, written through this source's sessions.
    pub stream: Arc<journal::StreamJournal>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum AmqpError {
    #[error("RabbitMQ: {0}")]
    Broker(#[from] lapin::Error),
    #[error("cannot read amqp.ca_file {path}: {source}")]
    CaFile {
        path: String,
        source: std::io::Error,
    },
    #[error("the broker cancelled the consumer or closed the channel")]
    ConsumerEnded,
    #[error(transparent)]
    Topology(#[from] topology::TopologyError),
}

impl Source for AmqpSource {
    fn name(&self) -> &'static str {
        "amqp"
    }

    fn runs(&self) -> Runs {
        Runs::Always
    }

    fn first_condition(&self) -> Option<Condition> {
        Some(down(None))
    }

    fn run(self: Arc<Self>, report: Report, until: CancellationToken) -> Run {
        Box::pin(async move { self.sessions(&report, &until).await })
    }
}

/// Without a session: not ready, with what only the operator can fix when the broker said so.
/// The words are those `/readyz` has always given (operators' checks match them), although
/// what they follow is the session, not the consumer.
fn down(problem: Option<&str>) -> Condition {
    Condition {
        not_ready: Some(match problem {
            Some(problem) => format!("AMQP consumer not active: {problem}"),
            None => "AMQP consumer not active".to_owned(),
        }),
        status: "not consuming (reconnecting)".to_owned(),
    }
}

/// With a session, leading (consuming) or standing by.
fn up(leading: bool) -> Condition {
    let status = if leading {
        "consuming"
    } else {
        "standing by (another instance leads)"
    };
    Condition {
        not_ready: None,
        status: status.to_owned(),
    }
}

impl AmqpSource {
    /// Keeps a session until `shutdown`, reconnecting with jittered backoff after every
    /// failure.
    async fn sessions(&self, report: &Report, shutdown: &CancellationToken) {
        let mut reconnect = Backoff::RECONNECT.schedule();
        // What keeps the session from starting that only the operator can fix (a queue
        // declared with other arguments), until a session gets past it.
        let mut problem = None;
        while !shutdown.is_cancelled() {
            report.beat();
            let session = self.session(report, shutdown, &mut reconnect, &mut problem);
            let ended = session.await;
            // Nothing is written through a session that ended, however it ended.
            self.stream.detach();
            match ended {
                Ok(()) => break,
                Err(error) => {
                    // The broker's own refusal, in words that say what to fix, unless a
                    // problem of the topology already says more.
                    let broker = match &error {
                        AmqpError::Broker(error) => {
                            Some(probe::BrokerProblem::of(error).to_string())
                        }
                        _ => None,
                    };
                    report.condition(down(problem.as_deref().or(broker.as_deref())));
                    self.metrics.amqp_connected.set(0);
                    tracing::warn!(%error, attempt = reconnect.attempts(), "AMQP session ended; reconnecting");
                    let waited = report.beating(reconnect.wait(shutdown)).await;
                    if !waited {
                        break;
                    }
                }
            }
        }
    }

    /// One connection's life: connect, declare, join the leader queue; consume while leading,
    /// until failure or shutdown.
    async fn session(
        &self,
        report: &Report,
        shutdown: &CancellationToken,
        reconnect: &mut Schedule,
        problem: &mut Option<String>,
    ) -> Result<(), AmqpError> {
        let connection = Arc::new(self.connect().await?);
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        channel
            .basic_qos(self.settings.prefetch, BasicQosOptions::default())
            .await?;
        if let Err(error) = topology::declare(&connection, &channel, &self.settings).await {
            // Only the operator can fix a queue of other arguments: say so in /readyz too.
            if matches!(error, topology::TopologyError::QueueArguments { .. }) {
                *problem = Some(error.to_string());
            }
            let _ = connection
                .close(200, "declaring the topology failed".into())
                .await;
            return Err(error.into());
        }
        *problem = None;
        self.stream.attach(connection.clone()).await?;
        let mut replies = self.forwarder.open(&connection).await?;
        let (mut leader_queue, mut leader_deliveries) =
            LeaderQueue::open(&connection, &self.settings, self.desk.key.clone()).await?;
        report.condition(up(false));
        self.leadership.set_in_the_running(true);
        self.metrics.amqp_connected.set(1);
        reconnect.reset();
        tracing::info!(queue = %self.settings.queue, exchange = %self.settings.exchange, "connected to RabbitMQ; waiting for leadership");
        // Handlers of this session stop retrying when it ends: the broker redelivers their
        // messages to the next session, and acks on a dead channel cannot succeed anyway.
        let session = shutdown.child_token();
        let tag = format!("vcd-blockd-{}", uuid::Uuid::new_v4());
        let mut notifications: Option<lapin::Consumer> = None;
        let mut beat = tokio::time::interval(report.beat_every());
        let mut renewal = tokio::time::interval(leader::BATON_RENEWAL);
        renewal.reset();
        let ended = loop {
            tokio::select! {
                () = shutdown.cancelled() => break Ok(()),
                _ = beat.tick() => report.beat(),
                _ = renewal.tick(), if notifications.is_some() => {
                    if let Err(error) = leader_queue.publish_baton().await {
                        break Err(AmqpError::Broker(error));
                    }
                }
                next = leader_deliveries.next() => {
                    let delivery = match next {
                        Some(Ok(delivery)) => delivery,
                        Some(Err(error)) => break Err(AmqpError::Broker(error)),
                        None => break Err(AmqpError::ConsumerEnded),
                    };
                    // The broker delivers the leader queue to its active consumer only.
                    if notifications.is_none() {
                        match self.lead(&channel, &tag).await {
                            Ok(consumer) => {
                                notifications = Some(consumer);
                                report.condition(up(true));
                            }
                            Err(error) => break Err(error),
                        }
                    }
                    match leader_queue.received(delivery).await {
                        Ok(Received::Baton) => {}
                        Ok(Received::Call(call)) => self.answer(&leader_queue, call),
                        Err(error) => break Err(AmqpError::Broker(error)),
                    }
                }
                next = replies.next() => match next {
                    Some(Ok(answer)) => self.forwarder.answered(&answer),
                    Some(Err(error)) => break Err(AmqpError::Broker(error)),
                    None => break Err(AmqpError::ConsumerEnded),
                },
                next = next_notification(&mut notifications) => match next {
                    Some(Ok(delivery)) => {
                        let handler = deliver::Handler {
                            engine: self.engine.clone(),
                            metrics: self.metrics.clone(),
                            channel: channel.clone(),
                            queue: self.settings.queue.clone(),
                            max_bytes: self.settings.max_message_bytes,
                            shutdown: session.clone(),
                        };
                        self.handlers.spawn(handler.handle(delivery));
                    }
                    Some(Err(error)) => break Err(AmqpError::Broker(error)),
                    None => break Err(AmqpError::ConsumerEnded),
                },
            }
        };
        self.forwarder.close();
        report.condition(down(problem.as_deref()));
        self.leadership.set_in_the_running(false);
        self.metrics.amqp_connected.set(0);
        if ended.is_ok() {
            self.stop(
                &connection,
                &channel,
                notifications.is_some().then_some(tag.as_str()),
            )
            .await;
        } else {
            session.cancel();
            let _ = connection.close(200, "reconnecting".into()).await;
        }
        if notifications.is_some() {
            self.leadership.lose(if ended.is_ok() {
                TermEnd::Stopping
            } else {
                TermEnd::ConnectionLost
            });
            self.engine.end_term();
        }
        ended
    }

    /// Begins a term: read the journal (so that what people said before is known before
    /// anyone is answered), then consume the notifications.
    async fn lead(
        &self,
        channel: &lapin::Channel,
        tag: &str,
    ) -> Result<lapin::Consumer, AmqpError> {
        let consumer = channel
            .basic_consume(
                self.settings.queue.as_str().into(),
                tag.into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        if let Err(error) = self.engine.journal().replay().await {
            tracing::error!(%error, "the journal could not be read: recorded approvals start again at 0 until a later takeover reads it");
        }
        self.leadership.gain();
        tracing::info!(queue = %self.settings.queue, "consuming");
        Ok(consumer)
    }

    /// Answers a forwarded admin call in the background, then acknowledges it.
    fn answer(&self, leader_queue: &LeaderQueue, call: Box<lapin::message::Delivery>) {
        let desk = self.desk.clone();
        let channel = leader_queue.channel.clone();
        self.handlers.spawn(async move {
            desk.serve(&channel, &call).await;
            let _ = call.ack(lapin::options::BasicAckOptions::default()).await;
        });
    }

    /// Graceful stop: no new deliveries, let in-flight handlers finish (bounded by
    /// `grace`), then close; unacknowledged deliveries return to the queue, and the baton to
    /// the leader queue, where the next instance takes it.
    async fn stop(&self, connection: &Connection, channel: &lapin::Channel, tag: Option<&str>) {
        if let Some(tag) = tag {
            let _ = channel
                .basic_cancel(tag.into(), BasicCancelOptions::default())
                .await;
        }
        self.handlers.close();
        if tokio::time::timeout(self.grace, self.handlers.wait())
            .await
            .is_err()
        {
            tracing::warn!("in-flight deliveries did not finish in time; they return to the queue");
        }
        let _ = channel.close(200, "shutting down".into()).await;
        let _ = connection.close(200, "shutting down".into()).await;
    }

    async fn connect(&self) -> Result<Connection, AmqpError> {
        connect(&self.settings).await
    }
}

/// Connects as `settings` say: the URL with a heartbeat and this daemon's frame size unless it
/// sets its own, and `amqp.ca_file` trusted for `amqps://`.
pub(crate) async fn connect(settings: &AmqpSettings) -> Result<Connection, AmqpError> {
    let properties = ConnectionProperties::default().with_connection_name("vcd-blockd".into());
    let mut uri = settings.url.expose_secret().trim().to_owned();
    let heartbeat = format!("heartbeat={}", settings.heartbeat.as_secs().max(1));
    let frame_max = format!("frame_max={FRAME_MAX}");
    for (key, parameter) in [("heartbeat=", heartbeat), ("frame_max=", frame_max)] {
        if !uri.contains(key) {
            let separator = if uri.contains('?') { '&' } else { '?' };
            uri = format!("{uri}{separator}{parameter}");
        }
    }
    let tls = match &settings.ca_file {
        None => OwnedTLSConfig::default(),
        Some(path) => OwnedTLSConfig {
            identity: None,
            cert_chain: Some(std::fs::read_to_string(path).map_err(|source| {
                AmqpError::CaFile {
                    path: path.display().to_string(),
                    source,
                }
            })?),
        },
    };
    let runtime = lapin::runtime::default_runtime()?;
    Ok(Connection::connect_with_config(&uri, properties, tls, runtime).await?)
}

/// The next notification while leading; never ready while standing by.
async fn next_notification(
    notifications: &mut Option<lapin::Consumer>,
) -> Option<Result<lapin::message::Delivery, lapin::Error>> {
    match notifications {
        Some(consumer) => consumer.next().await,
        None => std::future::pending().await,
    }
}
