//! Authentication as vCD does it: the three logins (legacy `/api/sessions`, CloudAPI provider
//! sessions, API-token exchange), the two logouts, and the `XmlApi`/`JsonApi` extractors that
//! check the versioned `Accept` header and the session token of every other call.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::reply::{ApiError, Format, typed};
use crate::sessions::{Refusal, SessionKind};
use crate::shared::Shared;
use crate::versions::{ApiVersion, Flavor, requested_version};
use crate::xml;

/// Header carrying a legacy session token (requests and the legacy login's answer).
pub(crate) const LEGACY_TOKEN_HEADER: &str = "x-vcloud-authorization";
/// Header carrying the JWT in the CloudAPI login's answer.
pub(crate) const ACCESS_TOKEN_HEADER: &str = "x-vmware-vcloud-access-token";

/// What a request presents as credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Credentials {
    None,
    Basic {
        user: String,
        password: String,
    },
    Bearer(String),
    Legacy(String),
    /// An `Authorization` header that is neither valid Basic nor Bearer.
    Invalid,
}

impl Credentials {
    pub(crate) fn of(headers: &HeaderMap) -> Self {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            return value.to_str().map_or(Self::Invalid, parse_authorization);
        }
        match headers.get(LEGACY_TOKEN_HEADER).map(HeaderValue::to_str) {
            Some(Ok(token)) if !token.trim().is_empty() => Self::Legacy(token.trim().to_owned()),
            Some(_) => Self::Invalid,
            None => Self::None,
        }
    }

    /// The kind recorded in `Call::auth`; never the secret.
    pub(crate) fn kind(&self) -> String {
        match self {
            Self::None => "none".into(),
            Self::Basic { user, .. } => format!("basic:{user}"),
            Self::Bearer(_) => "bearer".into(),
            Self::Legacy(_) => "legacy-token".into(),
            Self::Invalid => "invalid".into(),
        }
    }
}

fn parse_authorization(value: &str) -> Credentials {
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        return Credentials::Bearer(rest.to_owned());
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Credentials::Invalid;
    }
    let decoded = STANDARD
        .decode(rest)
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    match decoded.as_deref().and_then(|d| d.split_once(':')) {
        Some((user, password)) => Credentials::Basic {
            user: user.to_owned(),
            password: password.to_owned(),
        },
        None => Credentials::Invalid,
    }
}

/// The served version named by the request's `Accept` header, or 406.
pub(crate) fn negotiate(
    shared: &Shared,
    headers: &HeaderMap,
    flavor: Flavor,
) -> Result<ApiVersion, ApiError> {
    let format = Format::from(flavor);
    let accept = accept_header(headers);
    let example = match flavor {
        Flavor::Xml => "application/*+xml;version=",
        Flavor::Json => "application/json;version=",
    };
    let Some(requested) = requested_version(accept, flavor) else {
        let message = format!(
            "The request has no Accept header with an API version, like {example}{}.",
            shared.ladder.top()
        );
        return Err(ApiError::not_acceptable(message).format(format));
    };
    shared.ladder.find(&requested).cloned().ok_or_else(|| {
        let message = format!("API version {requested} is not supported by this server.");
        ApiError::not_acceptable(message).format(format)
    })
}

/// An authenticated call: its negotiated version and the session token it used.
pub(crate) struct Authorized {
    pub version: ApiVersion,
    pub token: String,
}

/// Extracts an authenticated legacy-API (XML) call.
pub(crate) struct XmlApi(pub Authorized);

/// Extracts an authenticated CloudAPI (JSON) call.
pub(crate) struct JsonApi(pub Authorized);

impl FromRequestParts<Arc<Shared>> for XmlApi {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, shared: &Arc<Shared>) -> Result<Self, ApiError> {
        authorize(shared, &parts.headers, Flavor::Xml).map(Self)
    }
}

impl FromRequestParts<Arc<Shared>> for JsonApi {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, shared: &Arc<Shared>) -> Result<Self, ApiError> {
        authorize(shared, &parts.headers, Flavor::Json).map(Self)
    }
}

fn authorize(shared: &Shared, headers: &HeaderMap, flavor: Flavor) -> Result<Authorized, ApiError> {
    let version = negotiate(shared, headers, flavor)?;
    let format = Format::from(flavor);
    let refuse = |message: &str| {
        ApiError::unauthorized(message)
            .format(format)
            .version(&version)
    };
    let token = match Credentials::of(headers) {
        Credentials::Bearer(token) | Credentials::Legacy(token) => token,
        _ => return Err(refuse("This request requires a session: log in first.")),
    };
    let mut state = shared.state();
    let ttl = state.faults.session_ttl_requests;
    match state.sessions.authenticate(&token, ttl) {
        Ok(()) => Ok(Authorized { version, token }),
        Err(Refusal::Unknown) => Err(refuse("The session is not valid: log in again.")),
        Err(Refusal::Expired) => Err(refuse("The session has expired: log in again.")),
    }
}

/// The configured administrator, if the request's Basic credentials name them.
fn check_basic(shared: &Shared, headers: &HeaderMap) -> Option<String> {
    match Credentials::of(headers) {
        Credentials::Basic { user, password }
            if user == shared.settings.user && password == shared.settings.password =>
        {
            Some(user)
        }
        _ => None,
    }
}

/// `POST /api/sessions`: gone from API 38.0 on, whether the server or the request is at 38.
pub(crate) async fn legacy_login(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let asks_38 = requested_version(accept_header(&headers), Flavor::Xml)
        .is_some_and(|v| v.lacks_legacy_login());
    if shared.ladder.top().lacks_legacy_login() || asks_38 {
        return Err(ApiError::not_found(
            "/api/sessions was removed in API version 38.0; log in with POST /cloudapi/1.0.0/sessions/provider.",
        ));
    }
    let version = negotiate(&shared, &headers, Flavor::Xml)?;
    let Some(user) = check_basic(&shared, &headers) else {
        return Err(ApiError::unauthorized("Invalid user name or password.").version(&version));
    };
    let token = shared.state().sessions.open(SessionKind::Legacy, &user);
    let body = xml::session(&shared.base_url, &user, shared.admin_id);
    let mut response = typed(StatusCode::OK, xml::SESSION_TYPE, Some(&version), body);
    insert_header(&mut response, LEGACY_TOKEN_HEADER, &token);
    Ok(response)
}

/// `POST /cloudapi/1.0.0/sessions/provider`: a JWT in `X-VMWARE-VCLOUD-ACCESS-TOKEN`.
pub(crate) async fn provider_login(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let version = negotiate(&shared, &headers, Flavor::Json)?;
    let Some(user) = check_basic(&shared, &headers) else {
        return Err(ApiError::unauthorized("Invalid user name or password.")
            .format(Format::Json)
            .version(&version));
    };
    let token = shared.state().sessions.open(SessionKind::Bearer, &user);
    let (name, org) = user.split_once('@').unwrap_or((&user, "System"));
    let body = serde_json::json!({
        "id": format!("urn:vcloud:session:{}", uuid::Uuid::new_v4()),
        "user": { "name": name, "id": format!("urn:vcloud:user:{}", shared.admin_id) },
        "org": { "name": org, "id": format!("urn:vcloud:org:{}", shared.system_org_id) },
        "roles": ["System Administrator"],
        "sessionIdleTimeoutMinutes": 30,
    });
    let mut response = typed(
        StatusCode::OK,
        "application/json",
        Some(&version),
        body.to_string(),
    );
    insert_header(&mut response, ACCESS_TOKEN_HEADER, &token);
    insert_header(&mut response, "x-vmware-vcloud-token-type", "Bearer");
    Ok(response)
}

/// `POST /oauth/provider/token`: trades the configured API (refresh) token for a bearer token.
pub(crate) async fn token_exchange(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let mut grant_type = None;
    let mut refresh_token = None;
    for (key, value) in form_urlencoded::parse(&body) {
        match key.as_ref() {
            "grant_type" => grant_type = Some(value.into_owned()),
            "refresh_token" => refresh_token = Some(value.into_owned()),
            _ => {}
        }
    }
    let valid = grant_type.as_deref() == Some("refresh_token")
        && refresh_token.as_deref() == Some(shared.settings.api_token.as_str());
    if !valid {
        let body = serde_json::json!({ "error": "invalid_grant" });
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    let token = shared
        .state()
        .sessions
        .open(SessionKind::Bearer, &shared.settings.user);
    let body = serde_json::json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": null,
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// `DELETE /api/session`
pub(crate) async fn legacy_logout(
    State(shared): State<Arc<Shared>>,
    XmlApi(auth): XmlApi,
) -> StatusCode {
    shared.state().sessions.close(&auth.token);
    StatusCode::NO_CONTENT
}

/// `DELETE /cloudapi/1.0.0/sessions/current`
pub(crate) async fn cloudapi_logout(
    State(shared): State<Arc<Shared>>,
    JsonApi(auth): JsonApi,
) -> StatusCode {
    shared.state().sessions.close(&auth.token);
    StatusCode::NO_CONTENT
}

fn accept_header(headers: &HeaderMap) -> &str {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn insert_header(response: &mut Response, name: &'static str, value: &str) {
    // Tokens are hex, base64url and dots, always valid header values.
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn classifies_credentials_without_keeping_passwords_in_the_kind() {
        let basic = STANDARD.encode("administrator@System:vmware");
        let creds = Credentials::of(&headers(&[("authorization", &format!("Basic {basic}"))]));
        assert_eq!(creds.kind(), "basic:administrator@System");
        let bearer = Credentials::of(&headers(&[("authorization", "Bearer abc")]));
        assert_eq!(bearer, Credentials::Bearer("abc".into()));
        let legacy = Credentials::of(&headers(&[("x-vcloud-authorization", "0123")]));
        assert_eq!(legacy.kind(), "legacy-token");
        assert_eq!(
            Credentials::of(&headers(&[("authorization", "Basic !!!")])).kind(),
            "invalid"
        );
        assert_eq!(
            Credentials::of(&headers(&[("authorization", "Digest x")])).kind(),
            "invalid"
        );
        assert_eq!(Credentials::of(&HeaderMap::new()).kind(), "none");
    }
}
