//! Admin calls forwarded to the leader: an instance that stands by publishes the call (list,
//! approve, reject) to the leader queue, where only the leader consumes, and waits for the
//! answer on its own reply queue. The call names the approver by the SHA-256 of their bearer
//! token (never the token) and is signed with HMAC-SHA256 under a key derived from the vCD
//! credentials every instance shares, so that a broker user who can publish to the queue
//! cannot approve anything; the leader checks the signature, the age and the approver again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use lapin::message::Delivery;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::oneshot;

use super::headers::key;
use crate::admin::{self, Answer, Call};
use crate::approvers::{Approvers, TokenHash};
use crate::config::VcdAuth;
use crate::engine::Engine;

/// How long a forwarded call may wait in the leader queue for a leader to take it; after
/// that the broker drops it, so a call nobody took in time never runs later.
const QUEUED_FOR_AT_MOST: Duration = Duration::from_secs(10);
/// How long the instance that forwarded a call waits for the answer (an approval waits for
/// vCD to accept the action).
const ANSWER_WITHIN: Duration = Duration::from_secs(30);
/// The oldest forwarded call the leader still runs, by its `sent_at`: a replayed call is
/// refused (instances' clocks must agree within this).
const MAX_AGE: Duration = Duration::from_secs(60);
/// The AMQP header carrying the call's signature, hex.
const SIGNATURE_HEADER: &str = "x-vcd-blockd-signature";
/// The AMQP `type` property of a forwarded call.
pub(super) const CALL_TYPE: &str = "vcd-blockd.admin-call";

type HmacSha256 = Hmac<Sha256>;

/// The key calls are signed with: HMAC-SHA256 of a fixed label under the vCD secret (password
/// or API token), so every instance with the same config has it and nobody else does.
#[derive(Clone)]
pub(crate) struct SigningKey([u8; 32]);

impl SigningKey {
    pub(crate) fn from_vcd(auth: &VcdAuth) -> SigningKey {
        let secret = match auth {
            VcdAuth::Password { password, .. } => password.expose_secret(),
            VcdAuth::ApiToken { token } => token.expose_secret(),
        };
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"vcd-blockd forwarded admin calls v1");
        SigningKey(mac.finalize().into_bytes().into())
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
    }

    fn sign(&self, body: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `signature` (hex) signs `body`; compared in constant time.
    fn verify(&self, body: &[u8], signature: &str) -> bool {
        let Ok(signature) = hex::decode(signature) else {
            return false;
        };
        let mut mac = self.mac();
        mac.update(body);
        mac.verify_slice(&signature).is_ok()
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(…)")
    }
}

/// A forwarded call on the wire (JSON).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Forwarded {
    /// Hex SHA-256 of the bearer token the approver presented.
    token_sha256: String,
    sent_at: DateTime<Utc>,
    /// The reply queue, signed with the rest so that a copied call cannot be answered
    /// elsewhere.
    reply_to: String,
    call: Call,
}

/// The standby side: forwards calls over the current AMQP session, if there is one.
#[derive(Debug)]
pub(crate) struct Forwarder {
    key: SigningKey,
    /// The leader queue, `<queue>.leader`.
    leader_queue: String,
    link: Mutex<Option<Link>>,
    /// Answers awaited, by correlation id.
    waiting: Arc<Mutex<HashMap<String, oneshot::Sender<Answer>>>>,
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
    pub(crate) fn new(key: SigningKey, leader_queue: String) -> Forwarder {
        Forwarder {
            key,
            leader_queue,
            link: Mutex::new(None),
            waiting: Arc::default(),
        }
    }

    /// Opens this session's reply queue (server-named, exclusive) and returns its deliveries,
    /// which the session hands to [`Forwarder::answered`].
    pub(super) async fn open(
        &self,
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
        Ok(consumer)
    }

    /// The session ended: calls still waiting are answered 503 at once.
    pub(super) fn close(&self) {
        *lock(&self.link) = None;
        lock(&self.waiting).clear();
    }

    /// An answer arrived on the reply queue.
    pub(super) fn answered(&self, delivery: &Delivery) {
        let Some(correlation) = delivery.properties.correlation_id() else {
            return;
        };
        let Some(waiting) = lock(&self.waiting).remove(correlation.as_str()) else {
            return; // its caller gave up already
        };
        let answer = serde_json::from_slice(&delivery.data).unwrap_or_else(|error| {
            Answer::error(502, &format!("the leader's answer cannot be read: {error}"))
        });
        let _ = waiting.send(answer);
    }

    /// Forwards `call`, made by the approver whose token hashes to `token`, to the leader and
    /// returns its answer; 503 or 504 when no leader can be asked or none answers in time.
    pub(crate) async fn forward(&self, token: &TokenHash, call: Call) -> Answer {
        let Some(link) = lock(&self.link).clone() else {
            return Answer::error(
                503,
                "this instance is not connected to RabbitMQ, so it cannot reach the leader; try again",
            );
        };
        let forwarded = Forwarded {
            token_sha256: token.to_hex(),
            sent_at: Utc::now(),
            reply_to: link.reply_queue.clone(),
            call,
        };
        let body = serde_json::to_vec(&forwarded).unwrap_or_default();
        let correlation = uuid::Uuid::new_v4().to_string();
        let (sender, receiver) = oneshot::channel();
        lock(&self.waiting).insert(correlation.clone(), sender);
        let mut headers = FieldTable::default();
        headers.insert(
            key(SIGNATURE_HEADER),
            AMQPValue::LongString(self.key.sign(&body).into()),
        );
        let properties = BasicProperties::default()
            .with_type(CALL_TYPE.into())
            .with_content_type("application/json".into())
            .with_correlation_id(correlation.as_str().into())
            .with_reply_to(link.reply_queue.as_str().into())
            .with_expiration(QUEUED_FOR_AT_MOST.as_millis().to_string().into())
            .with_headers(headers);
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
            lock(&self.waiting).remove(&correlation);
            return Answer::error(503, &format!("cannot forward to the leader: {error}"));
        }
        let answer = tokio::time::timeout(ANSWER_WITHIN, receiver).await;
        lock(&self.waiting).remove(&correlation);
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
    pub key: SigningKey,
    pub engine: Arc<Engine>,
    /// Who may use the admin API; `None` when it is off.
    pub approvers: Option<Arc<Approvers>>,
}

impl CallDesk {
    /// Runs one forwarded call and publishes the answer to its reply queue; the caller acks
    /// the delivery afterwards.
    pub(super) async fn serve(&self, channel: &Channel, delivery: &Delivery) {
        let properties = &delivery.properties;
        let (Some(reply_to), Some(correlation)) =
            (properties.reply_to(), properties.correlation_id())
        else {
            tracing::warn!("a call in the leader queue has no reply_to or correlation_id; dropped");
            return;
        };
        let answer = self.answer(delivery, reply_to.as_str()).await;
        let body = serde_json::to_vec(&answer).unwrap_or_default();
        let reply = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_correlation_id(correlation.clone());
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

    async fn answer(&self, delivery: &Delivery, reply_to: &str) -> Answer {
        let signature = signature(delivery.properties.headers());
        if !signature.is_some_and(|signature| self.key.verify(&delivery.data, &signature)) {
            tracing::warn!("a forwarded admin call has a wrong signature; refused");
            return Answer::error(
                403,
                "the forwarded call's signature does not match: every instance needs the same vCD credentials",
            );
        }
        let forwarded: Forwarded = match serde_json::from_slice(&delivery.data) {
            Ok(forwarded) => forwarded,
            Err(error) => return Answer::error(400, &format!("forwarded call: {error}")),
        };
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
        let Some(approvers) = &self.approvers else {
            return Answer::error(404, "the admin API is off on the leader");
        };
        let approver = TokenHash::parse_hex(&forwarded.token_sha256)
            .ok()
            .and_then(|token| approvers.find_hash(&token));
        match approver {
            Some(approver) => admin::execute(&self.engine, &approver, forwarded.call).await,
            None => Answer::error(401, "bearer token missing or unknown"),
        }
    }
}

fn signature(headers: &Option<FieldTable>) -> Option<String> {
    let (_, value) = headers
        .as_ref()?
        .inner()
        .iter()
        .find(|(name, _)| name.as_str() == SIGNATURE_HEADER)?;
    match value {
        AMQPValue::LongString(text) => Some(String::from_utf8_lossy(text.as_bytes()).into_owned()),
        AMQPValue::ShortString(text) => Some(text.as_str().to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn key(secret: &str) -> SigningKey {
        SigningKey::from_vcd(&VcdAuth::ApiToken {
            token: SecretString::from(secret),
        })
    }

    #[test]
    fn only_the_same_credentials_verify_a_signature() {
        let body = br#"{"call":"list"}"#;
        let signature = key("s3cret").sign(body);
        assert!(key("s3cret").verify(body, &signature));
        assert!(!key("other").verify(body, &signature), "another secret");
        assert!(
            !key("s3cret").verify(br#"{"call":"approve"}"#, &signature),
            "another body"
        );
        assert!(!key("s3cret").verify(body, "zz"), "not hex");
        assert_eq!(format!("{:?}", key("s3cret")), "SigningKey(…)");
    }
}
