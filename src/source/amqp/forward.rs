//! Admin calls forwarded to the leader: an instance that stands by publishes the call (list,
//! approve, reject) to the leader queue, where only the leader consumes, and waits for the
//! answer on its own reply queue. The call names the approver by the SHA-256 of their bearer
//! token (never the token), carries a random id and its time, and is signed with the cluster
//! secret (`signing`); the leader checks the signature, that the id is new, that the call is
//! younger than 60 s and than the leader's term, and the approver again, and signs its answer,
//! which the standby checks in turn. A standby also pings the leader this way every
//! [`PING_EVERY`], so that it can tell in `/readyz` when no signed leader answers (e.g. a
//! foreign consumer holds the leader queue). Without the secret an instance neither forwards
//! nor answers forwarded calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use lapin::message::Delivery;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::signing::{Purpose, Seen, SigningKey};
use crate::admin::{self, Answer, Call};
use crate::approvers::{Approvers, TokenHash};
use crate::engine::Engine;
use crate::leadership::Leadership;

/// How long a forwarded call may wait in the leader queue for a leader to take it; after
/// that the broker drops it, so a call nobody took in time never runs later.
const QUEUED_FOR_AT_MOST: Duration = Duration::from_secs(10);
/// How long the instance that forwarded a call waits for the answer (an approval waits for
/// vCD to accept the action).
const ANSWER_WITHIN: Duration = Duration::from_secs(30);
/// The oldest forwarded call the leader still runs, by its `sent_at` (instances' clocks must
/// agree within this); the leader remembers call ids for twice as long, which covers a call
/// stamped up to this far in its future too.
const MAX_AGE: Duration = Duration::from_secs(60);
/// How often a standby asks the leader to answer a ping.
const PING_EVERY: Duration = Duration::from_secs(15);
/// A standby that received no signed answer for this long is not ready: no leader is heard
/// (DESIGN.md §6).
pub(crate) const LEADER_SILENT_AFTER: Duration = Duration::from_secs(60);
/// The AMQP `type` property of a forwarded call.
pub(super) const CALL_TYPE: &str = "vcd-blockd.admin-call";
/// What a standby without the cluster secret answers to admin calls.
const NO_SECRET: &str = "no cluster secret: this instance stands by and cannot forward admin \
     calls to the leader without http.cluster_secret_file (the same on every instance); use \
     the leader's address, or set the secret";

/// A forwarded call on the wire (JSON), signed for [`Purpose::Call`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Forwarded {
    /// A random UUID, also the AMQP correlation id; the leader runs each id once.
    id: String,
    sent_at: DateTime<Utc>,
    /// The reply queue, signed with the rest so that a copied call cannot be answered
    /// elsewhere.
    reply_to: String,
    /// The admin call; `None` for a ping, which asks only that the leader answer.
    admin: Option<AdminCall>,
}

/// An approver's call.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminCall {
    /// Hex SHA-256 of the bearer token the approver presented.
    token_sha256: String,
    call: Call,
}

/// The leader's answer on the wire (JSON), signed for [`Purpose::Answer`] when the call was.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Answered {
    /// The call's id.
    id: String,
    answer: Answer,
}

/// The standby side: forwards calls over the current AMQP session, if there is one.
#[derive(Debug)]
pub(crate) struct Forwarder {
    /// `None`: no cluster secret, so nothing is forwarded.
    key: Option<SigningKey>,
    /// The leader queue, `<queue>.leader`.
    leader_queue: String,
    link: Mutex<Option<Link>>,
    /// Answers awaited, by call id.
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    /// When a signed answer last arrived (or the session began); `None` without a session.
    heard: Mutex<Option<Instant>>,
    /// Stops the session's pings when dropped.
    pinging: Mutex<Option<DropGuard>>,
}

/// The current session's channel and the reply queue it consumes.
#[derive(Debug, Clone)]
struct Link {
    channel: Channel,
    reply_queue: String,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Forwarder {
    /// `key` is the cluster secret's; `None` forwards nothing.
    pub(crate) fn new(key: Option<SigningKey>, leader_queue: String) -> Forwarder {
        Forwarder {
            key,
            leader_queue,
            link: Mutex::new(None),
            waiting: Mutex::default(),
            heard: Mutex::new(None),
            pinging: Mutex::new(None),
        }
    }

    /// Opens this session's reply queue (server-named, exclusive) and returns its deliveries,
    /// which the session hands to [`Forwarder::answered`]; starts pinging the leader.
    pub(super) async fn open(
        self: &Arc<Self>,
        connection: &Connection,
    ) -> Result<lapin::Consumer, lapin::Error> {
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(lapin::options::ConfirmSelectOptions::default())
            .await?;
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        let reply_queue = queue.name().to_string();
        let consumer = channel
            .basic_consume(
                reply_queue.as_str().into(),
                "vcd-blockd-replies".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        *lock(&self.link) = Some(Link {
            channel,
            reply_queue,
        });
        *lock(&self.heard) = Some(Instant::now());
        if self.key.is_some() {
            let stop = CancellationToken::new();
            tokio::spawn(self.clone().ping(stop.clone()));
            *lock(&self.pinging) = Some(stop.drop_guard());
        }
        Ok(consumer)
    }

    /// Pings the leader every [`PING_EVERY`] until `stop`.
    async fn ping(self: Arc<Self>, stop: CancellationToken) {
        let mut every = tokio::time::interval(PING_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let pinged = async {
                every.tick().await;
                self.send(None).await
            };
            tokio::select! {
                () = stop.cancelled() => return,
                _ = pinged => {}
            }
        }
    }

    /// The session ended: calls still waiting are answered 503 at once.
    pub(super) fn close(&self) {
        *lock(&self.pinging) = None;
        *lock(&self.link) = None;
        *lock(&self.heard) = None;
        lock(&self.waiting).clear();
    }

    /// Why this instance, standing by, is not ready: it serves the admin API (`admin_api`)
    /// but has no cluster secret, or no signed answer arrived for [`LEADER_SILENT_AFTER`].
    /// `None` otherwise (also while it has no session, which readiness reports already).
    pub(crate) fn unheard(&self, admin_api: bool) -> Option<String> {
        if self.key.is_none() {
            return admin_api.then(|| NO_SECRET.to_owned());
        }
        let heard = (*lock(&self.heard))?;
        (heard.elapsed() >= LEADER_SILENT_AFTER).then(|| {
            format!(
                "no leader heard: no instance answered this standby's signed calls for {} s \
                 (is another consumer on the leader queue, or a different cluster secret?)",
                LEADER_SILENT_AFTER.as_secs()
            )
        })
    }

    /// An answer arrived on the reply queue: one without a valid signature is ignored.
    pub(super) fn answered(&self, delivery: &Delivery) {
        let Some(key) = &self.key else {
            return;
        };
        let signed = key.signed(
            Purpose::Answer,
            delivery.properties.headers(),
            &delivery.data,
        );
        let answered = serde_json::from_slice::<Answered>(&delivery.data);
        let answered = match (signed, answered) {
            (true, Ok(answered)) => answered,
            (_, answered) => {
                let refused = answered.map(|a| a.answer.body).unwrap_or_default();
                tracing::warn!(
                    %refused,
                    "an answer without a valid signature arrived on the reply queue; ignored"
                );
                return;
            }
        };
        *lock(&self.heard) = Some(Instant::now());
        if let Some(waiting) = lock(&self.waiting).remove(&answered.id) {
            let _ = waiting.send(answered.answer);
        }
    }

    /// Forwards `call`, made by the approver whose token hashes to `token`, to the leader and
    /// returns its answer; 503 or 504 when no leader can be asked or none answers in time.
    pub(crate) async fn forward(&self, token: &TokenHash, call: Call) -> Answer {
        if self.key.is_none() {
            return Answer::error(503, NO_SECRET);
        }
        let admin = AdminCall {
            token_sha256: token.to_hex(),
            call,
        };
        self.send(Some(admin)).await
    }

    /// Sends one signed call (a ping when `admin` is `None`) and waits for its answer.
    async fn send(&self, admin: Option<AdminCall>) -> Answer {
        let (Some(key), Some(link)) = (&self.key, lock(&self.link).clone()) else {
            return Answer::error(
                503,
                "this instance is not connected to RabbitMQ, so it cannot reach the leader; try again",
            );
        };
        let id = uuid::Uuid::new_v4().to_string();
        let forwarded = Forwarded {
            id: id.clone(),
            sent_at: Utc::now(),
            reply_to: link.reply_queue.clone(),
            admin,
        };
        let body = serde_json::to_vec(&forwarded).unwrap_or_default();
        let (sender, receiver) = oneshot::channel();
        lock(&self.waiting).insert(id.clone(), sender);
        let properties = BasicProperties::default()
            .with_type(CALL_TYPE.into())
            .with_content_type("application/json".into())
            .with_correlation_id(id.as_str().into())
            .with_reply_to(link.reply_queue.as_str().into())
            .with_expiration(QUEUED_FOR_AT_MOST.as_millis().to_string().into())
            .with_headers(key.headers(Purpose::Call, &body));
        let published = async {
            link.channel
                .basic_publish(
                    "".into(),
                    self.leader_queue.as_str().into(),
                    BasicPublishOptions::default(),
                    &body,
                    properties,
                )
                .await?
                .await
        };
        if let Err(error) = published.await {
            lock(&self.waiting).remove(&id);
            return Answer::error(503, &format!("cannot forward to the leader: {error}"));
        }
        let answer = tokio::time::timeout(ANSWER_WITHIN, receiver).await;
        lock(&self.waiting).remove(&id);
        match answer {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Answer::error(
                503,
                "the connection to RabbitMQ ended before the leader answered; try again",
            ),
            Err(_) => Answer::error(
                504,
                &format!(
                    "no leader answered within {} s; try again",
                    ANSWER_WITHIN.as_secs()
                ),
            ),
        }
    }
}

/// The leader side: what the leader needs to run forwarded calls.
#[derive(Clone)]
pub(crate) struct CallDesk {
    /// `None`: no cluster secret, so no call is answered.
    pub key: Option<SigningKey>,
    engine: Arc<Engine>,
    /// Who may use the admin API; `None` when it is off.
    approvers: Option<Arc<Approvers>>,
    /// When this instance's term began.
    leadership: Arc<Leadership>,
    /// The ids of the calls answered, against replays.
    seen: Arc<Seen>,
}

impl CallDesk {
    pub(crate) fn new(
        key: Option<SigningKey>,
        engine: Arc<Engine>,
        approvers: Option<Arc<Approvers>>,
        leadership: Arc<Leadership>,
    ) -> CallDesk {
        CallDesk {
            key,
            engine,
            approvers,
            leadership,
            seen: Arc::new(Seen::new(2 * MAX_AGE)),
        }
    }

    /// Runs one forwarded call and publishes the answer to its reply queue, signed when the
    /// call was; the caller acks the delivery afterwards. Without the cluster secret nothing
    /// is answered.
    pub(super) async fn serve(&self, channel: &Channel, delivery: &Delivery) {
        let Some(key) = &self.key else {
            tracing::warn!(
                "a forwarded admin call arrived, but this instance has no cluster secret \
                 (http.cluster_secret_file), so it answers none; dropped"
            );
            return;
        };
        let properties = &delivery.properties;
        let (Some(reply_to), Some(correlation)) =
            (properties.reply_to(), properties.correlation_id())
        else {
            tracing::warn!("a call in the leader queue has no reply_to or correlation_id; dropped");
            return;
        };
        let (id, answer, signed) =
            if key.signed(Purpose::Call, properties.headers(), &delivery.data) {
                let (id, answer) = self.answer(&delivery.data, reply_to.as_str()).await;
                (id, answer, true)
            } else {
                tracing::warn!("a forwarded admin call has a wrong signature; refused");
                let answer = Answer::error(
                    403,
                    "the forwarded call's signature does not match: every instance needs the \
                     same http.cluster_secret_file",
                );
                (correlation.to_string(), answer, false)
            };
        let body = serde_json::to_vec(&Answered { id, answer }).unwrap_or_default();
        let mut reply = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_correlation_id(correlation.clone());
        // A refusal of an unverified call proves nothing, so it is not signed: nobody can
        // obtain a signed answer for an id of their choosing.
        if signed {
            reply = reply.with_headers(key.headers(Purpose::Answer, &body));
        }
        let published = channel
            .basic_publish(
                "".into(),
                reply_to.as_str().into(),
                BasicPublishOptions::default(),
                &body,
                reply,
            )
            .await;
        if let Err(error) = published {
            tracing::warn!(%error, "cannot answer a forwarded admin call");
        }
    }

    /// The answer to a signed call, with the call's id.
    async fn answer(&self, data: &[u8], reply_to: &str) -> (String, Answer) {
        let forwarded: Forwarded = match serde_json::from_slice(data) {
            Ok(forwarded) => forwarded,
            Err(error) => {
                return (
                    String::new(),
                    Answer::error(400, &format!("forwarded call: {error}")),
                );
            }
        };
        let answer = self.checked(&forwarded, reply_to).await;
        (forwarded.id, answer)
    }

    async fn checked(&self, forwarded: &Forwarded, reply_to: &str) -> Answer {
        if forwarded.reply_to != reply_to {
            return Answer::error(403, "the forwarded call names another reply queue; refused");
        }
        let age = (Utc::now() - forwarded.sent_at).abs();
        if age.to_std().unwrap_or(Duration::MAX) > MAX_AGE {
            return Answer::error(
                403,
                "the forwarded call is older than 60 s (or the instances' clocks disagree); refused",
            );
        }
        match self.leadership.since() {
            Some(since) if forwarded.sent_at >= since => {}
            _ => {
                return Answer::error(
                    503,
                    "the call was sent before this instance began to lead; try again",
                );
            }
        }
        if !self.seen.first(&forwarded.id, Instant::now()) {
            return Answer::error(403, "this call was answered before (a replay); refused");
        }
        let Some(admin) = &forwarded.admin else {
            return Answer {
                status: 200,
                body: serde_json::json!({"role": "leader"}),
            };
        };
        let Some(approvers) = &self.approvers else {
            return Answer::error(404, "the admin API is off on the leader");
        };
        let approver = TokenHash::parse_hex(&admin.token_sha256)
            .ok()
            .and_then(|token| approvers.find_hash(&token));
        match approver {
            Some(approver) => admin::execute(&self.engine, &approver, admin.call.clone()).await,
            None => Answer::error(401, "bearer token missing or unknown"),
        }
    }
}
