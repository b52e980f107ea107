//! Slack's request signature: `X-Slack-Signature: v0=<hex>`, the HMAC-SHA256 with the app's
//! signing secret of `v0:<X-Slack-Request-Timestamp>:<body>`. A request is taken when the
//! signature matches (compared in constant time) and its timestamp is within five minutes of
//! now, so a captured request cannot be replayed later.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// The most a request's timestamp may differ from now, in seconds.
pub(crate) const MAX_AGE_SECONDS: i64 = 5 * 60;

/// Why a request is not Slack's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unsigned {
    #[error("X-Slack-Signature or X-Slack-Request-Timestamp is missing or unreadable")]
    Missing,
    #[error("the request's timestamp is more than 5 minutes from now")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks `signature` (`v0=<hex>`) over `timestamp` (Unix seconds, as sent) and `body`, at
/// `now` (Unix seconds).
pub(crate) fn verify(
    secret: &SecretString,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), Unsigned> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(Unsigned::Missing);
    };
    let sent: i64 = timestamp.trim().parse().map_err(|_| Unsigned::Missing)?;
    if now.abs_diff(sent) > MAX_AGE_SECONDS.unsigned_abs() {
        return Err(Unsigned::Stale);
    }
    let presented = signature
        .strip_prefix("v0=")
        .and_then(|hex| hex::decode(hex).ok())
        .ok_or(Unsigned::Missing)?;
    mac(secret, timestamp, body)
        .verify_slice(&presented)
        .map_err(|_| Unsigned::Mismatch)
}

/// The signature Slack sends for `body` at `timestamp`: `v0=<hex>`.
#[cfg(test)]
pub(crate) fn sign(secret: &SecretString, timestamp: &str, body: &[u8]) -> String {
    format!(
        "v0={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

fn mac(secret: &SecretString, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slack's own example ("Verifying requests from Slack").
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn check(timestamp: &str, signature: &str, body: &str, now: i64) -> Result<(), Unsigned> {
        let secret = SecretString::from(SECRET);
        verify(
            &secret,
            Some(timestamp),
            Some(signature),
            body.as_bytes(),
            now,
        )
    }

    #[test]
    fn slacks_example_is_signed_and_anything_changed_is_not() {
        let now: i64 = TIMESTAMP.parse().unwrap();
        assert_eq!(check(TIMESTAMP, SIGNATURE, BODY, now + 10), Ok(()));
        assert_eq!(
            sign(&SecretString::from(SECRET), TIMESTAMP, BODY.as_bytes()),
            SIGNATURE
        );
        let tampered = BODY.replace("roadrunner", "coyote");
        assert_eq!(
            check(TIMESTAMP, SIGNATURE, &tampered, now),
            Err(Unsigned::Mismatch)
        );
        assert_eq!(
            check("1531420619", SIGNATURE, BODY, now),
            Err(Unsigned::Mismatch)
        );
        assert_eq!(
            check(TIMESTAMP, "v1=abc", BODY, now),
            Err(Unsigned::Missing)
        );
        assert_eq!(
            check(TIMESTAMP, SIGNATURE, BODY, now + MAX_AGE_SECONDS + 1),
            Err(Unsigned::Stale),
            "a replay after five minutes"
        );
        for far in [i64::MIN, i64::MAX] {
            assert_eq!(
                check(&far.to_string(), SIGNATURE, BODY, now),
                Err(Unsigned::Stale),
                "a timestamp at the end of the range is stale, not an overflow"
            );
        }
        let secret = SecretString::from(SECRET);
        assert_eq!(
            verify(&secret, None, Some(SIGNATURE), BODY.as_bytes(), now),
            Err(Unsigned::Missing)
        );
    }
}
