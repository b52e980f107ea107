//! Issued sessions: legacy `x-vcloud-authorization` tokens and JWT-like bearer tokens, with
//! the per-session request count that `Faults::session_ttl_requests` limits.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

/// How a session was obtained, which decides the shape of its token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SessionKind {
    /// `POST /api/sessions`: a 32-hex-digit token.
    Legacy,
    /// CloudAPI login or API token exchange: a JWT-shaped bearer token.
    Bearer,
}

#[derive(Debug)]
struct Session {
    /// Authenticated requests made with this session so far.
    uses: u32,
}

/// Why a token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Never issued, logged out, or wiped by `expire_sessions`.
    Unknown,
    /// Used up its `session_ttl_requests`; removed now.
    Expired,
}

#[derive(Debug, Default)]
pub(crate) struct Sessions {
    by_token: HashMap<String, Session>,
}

impl Sessions {
    /// Opens a session for `user` and returns its token.
    pub(crate) fn open(&mut self, kind: SessionKind, user: &str) -> String {
        let token = match kind {
            SessionKind::Legacy => Uuid::new_v4().simple().to_string(),
            SessionKind::Bearer => jwt_like(user),
        };
        self.by_token.insert(token.clone(), Session { uses: 0 });
        token
    }

    /// Counts one authenticated request on `token`; refuses unknown tokens and, when `ttl`
    /// is set, the request after the `ttl`-th.
    pub(crate) fn authenticate(&mut self, token: &str, ttl: Option<u32>) -> Result<(), Refusal> {
        let session = self.by_token.get_mut(token).ok_or(Refusal::Unknown)?;
        if ttl.is_some_and(|ttl| session.uses >= ttl) {
            self.by_token.remove(token);
            return Err(Refusal::Expired);
        }
        session.uses += 1;
        Ok(())
    }

    pub(crate) fn close(&mut self, token: &str) {
        self.by_token.remove(token);
    }

    pub(crate) fn clear(&mut self) {
        self.by_token.clear();
    }
}

/// A token shaped like vCD's JWTs (header.payload.signature, base64url); nobody verifies it.
fn jwt_like(user: &str) -> String {
    let header = r#"{"alg":"RS256","typ":"JWT"}"#;
    let payload = serde_json::json!({
        "iss": "vcd-sim",
        "sub": user,
        "jti": Uuid::new_v4().to_string(),
    })
    .to_string();
    let signature = Uuid::new_v4();
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode(signature.as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_shapes_vcd_uses() {
        let mut sessions = Sessions::default();
        let legacy = sessions.open(SessionKind::Legacy, "administrator@System");
        assert_eq!(legacy.len(), 32);
        let bearer = sessions.open(SessionKind::Bearer, "administrator@System");
        assert_eq!(bearer.split('.').count(), 3);
        assert!(bearer.starts_with("eyJ"));
    }

    #[test]
    fn ttl_allows_that_many_requests_then_expires() {
        let mut sessions = Sessions::default();
        let token = sessions.open(SessionKind::Legacy, "u");
        assert_eq!(sessions.authenticate(&token, Some(2)), Ok(()));
        assert_eq!(sessions.authenticate(&token, Some(2)), Ok(()));
        assert_eq!(
            sessions.authenticate(&token, Some(2)),
            Err(Refusal::Expired)
        );
        assert_eq!(sessions.authenticate(&token, None), Err(Refusal::Unknown));
    }

    #[test]
    fn clear_and_close_invalidate_tokens() {
        let mut sessions = Sessions::default();
        let a = sessions.open(SessionKind::Bearer, "u");
        let b = sessions.open(SessionKind::Bearer, "u");
        sessions.close(&a);
        assert_eq!(sessions.authenticate(&a, None), Err(Refusal::Unknown));
        sessions.clear();
        assert_eq!(sessions.authenticate(&b, None), Err(Refusal::Unknown));
    }
}
