//! What instances sign with the cluster secret (`[http] cluster_secret_file`): forwarded admin
//! calls, the leader's answers and leadership batons. A signature is the hex HMAC-SHA256 of a
//! purpose label, a NUL and the message body, under the secret's bytes, carried in the AMQP
//! header [`SIGNATURE_HEADER`]; the label keeps a signed answer from passing as a call or a
//! baton. Nothing is derived from the vCD credentials: a broker user who reads a signed
//! message learns nothing that helps to forge one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use lapin::types::{AMQPValue, FieldTable};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use super::headers::key;

/// The AMQP header carrying a message's signature, hex.
pub(super) const SIGNATURE_HEADER: &str = "x-vcd-blockd-signature";

type HmacSha256 = Hmac<Sha256>;

/// What a signature is for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Purpose {
    /// A standby's call to the leader.
    Call,
    /// The leader's answer to a call.
    Answer,
    /// A leadership baton.
    Baton,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::Call => b"vcd-blockd call v2",
            Purpose::Answer => b"vcd-blockd answer v2",
            Purpose::Baton => b"vcd-blockd baton v2",
        }
    }
}

/// The cluster secret's bytes, the HMAC key. Its `Debug` shows nothing of it.
#[derive(Clone)]
pub(crate) struct SigningKey(Arc<SecretString>);

impl SigningKey {
    /// The key is the secret's bytes as given (already trimmed and at least 32 bytes long:
    /// `config::validate`).
    pub(crate) fn new(secret: &SecretString) -> SigningKey {
        SigningKey(Arc::new(secret.clone()))
    }

    fn mac(&self, purpose: Purpose, body: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(self.0.expose_secret().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(purpose.label());
        mac.update(&[0]);
        mac.update(body);
        mac
    }

    pub(super) fn sign(&self, purpose: Purpose, body: &[u8]) -> String {
        hex::encode(self.mac(purpose, body).finalize().into_bytes())
    }

    /// Whether `signature` (hex) signs `body` for `purpose`; compared in constant time.
    pub(super) fn verify(&self, purpose: Purpose, body: &[u8], signature: &str) -> bool {
        let Ok(signature) = hex::decode(signature) else {
            return false;
        };
        self.mac(purpose, body).verify_slice(&signature).is_ok()
    }

    /// Whether the message with `headers` and `body` carries a valid signature for `purpose`.
    pub(super) fn signed(
        &self,
        purpose: Purpose,
        headers: &Option<FieldTable>,
        body: &[u8],
    ) -> bool {
        signature(headers).is_some_and(|signature| self.verify(purpose, body, &signature))
    }

    /// The headers of a message with `body`, signed for `purpose`.
    pub(super) fn headers(&self, purpose: Purpose, body: &[u8]) -> FieldTable {
        let mut headers = FieldTable::default();
        headers.insert(
            key(SIGNATURE_HEADER),
            AMQPValue::LongString(self.sign(purpose, body).into()),
        );
        headers
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(…)")
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

/// The ids of the calls a leader accepted, each remembered for `keep` after it arrived, so
/// that a copy sent again within the calls' validity window is refused.
#[derive(Debug)]
pub(super) struct Seen {
    keep: Duration,
    ids: Mutex<HashMap<String, Instant>>,
}

impl Seen {
    pub(super) fn new(keep: Duration) -> Seen {
        Seen {
            keep,
            ids: Mutex::default(),
        }
    }

    /// Remembers `id`; false when it was seen before (a replay).
    pub(super) fn first(&self, id: &str, now: Instant) -> bool {
        let mut ids = self
            .ids
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        ids.retain(|_, at| now.saturating_duration_since(*at) < self.keep);
        ids.insert(id.to_owned(), now).is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(secret: &str) -> SigningKey {
        SigningKey::new(&SecretString::from(secret))
    }

    #[test]
    fn only_the_same_secret_and_purpose_verify_a_signature() {
        let body = br#"{"call":"list"}"#;
        let secret = "0123456789abcdef0123456789abcdef";
        let signature = key(secret).sign(Purpose::Call, body);
        assert!(key(secret).verify(Purpose::Call, body, &signature));
        assert!(
            !key("another secret of thirty-two bytes").verify(Purpose::Call, body, &signature),
            "another secret"
        );
        assert!(
            !key(secret).verify(Purpose::Answer, body, &signature),
            "a call's signature does not sign an answer"
        );
        assert!(
            !key(secret).verify(Purpose::Call, br#"{"call":"approve"}"#, &signature),
            "another body"
        );
        assert!(!key(secret).verify(Purpose::Call, body, "zz"), "not hex");
        assert_eq!(format!("{:?}", key(secret)), "SigningKey(…)");
    }

    #[test]
    fn an_id_is_accepted_once_within_the_window() {
        let seen = Seen::new(Duration::from_secs(120));
        let start = Instant::now();
        assert!(seen.first("a", start));
        assert!(
            !seen.first("a", start + Duration::from_secs(119)),
            "a replay"
        );
        assert!(seen.first("b", start + Duration::from_secs(1)));
        assert!(
            seen.first("a", start + Duration::from_secs(240)),
            "forgotten after the window, when its time refuses it anyway"
        );
    }
}
