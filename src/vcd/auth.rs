//! Logging in to vCD, three ways (protocol notes §5): legacy `/api/sessions` (API < 38),
//! provider `/cloudapi/1.0.0/sessions/provider` (API ≥ 33, the only one from 38 on), and an
//! API token exchanged at `/oauth/provider/token`. A [`Session`] is the header to send after.

use std::fmt;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use super::error::VcdError;
use super::settings::VcdAuth;
use super::urls::Endpoints;
use super::version::ApiVersion;

/// The header that carries a legacy session token.
pub(super) const LEGACY_TOKEN_HEADER: &str = "x-vcloud-authorization";
/// The header a provider login returns its JWT in.
pub(super) const ACCESS_TOKEN_HEADER: &str = "x-vmware-vcloud-access-token";

/// How to log in, chosen from the auth mode and the API version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LoginMethod {
    Legacy,
    Provider,
    ApiToken,
}

impl LoginMethod {
    pub(super) fn choose(auth: &VcdAuth, version: &ApiVersion) -> LoginMethod {
        match auth {
            VcdAuth::ApiToken { .. } => LoginMethod::ApiToken,
            VcdAuth::Password { .. } if version.at_least(38, 0) => LoginMethod::Provider,
            VcdAuth::Password { .. } => LoginMethod::Legacy,
        }
    }
}

/// A logged-in session: the header every later request carries.
pub(super) struct Session {
    pub header: HeaderName,
    /// Marked sensitive so that HTTP-level logging never prints it.
    pub value: HeaderValue,
    pub method: LoginMethod,
    /// Increases with every login, so that concurrent 401s cause only one new login.
    pub generation: u64,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("method", &self.method)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// Logs in with `method`; falls back from a legacy login that vCD no longer offers (404/405)
/// to the provider login.
pub(super) async fn login(
    http: &reqwest::Client,
    endpoints: &Endpoints,
    auth: &VcdAuth,
    version: &ApiVersion,
    method: LoginMethod,
    generation: u64,
) -> Result<Session, VcdError> {
    let result = match auth {
        VcdAuth::ApiToken { token } => token_login(http, endpoints, token).await,
        VcdAuth::Password { user, password } => {
            let basic = |method| basic_login(http, endpoints, user, password, version, method);
            if method == LoginMethod::Legacy {
                match basic(LoginMethod::Legacy).await {
                    Err(LoginFailure::Gone) => basic(LoginMethod::Provider).await,
                    other => other,
                }
            } else {
                basic(LoginMethod::Provider).await
            }
        }
    };
    let (header, mut value, method) = result.map_err(LoginFailure::into_error)?;
    value.set_sensitive(true);
    Ok(Session {
        header,
        value,
        method,
        generation,
    })
}

enum LoginFailure {
    /// The login endpoint does not exist on this vCD.
    Gone,
    Failed(VcdError),
}

impl LoginFailure {
    fn into_error(self) -> VcdError {
        match self {
            LoginFailure::Gone => VcdError::Login("vCD offers none of the login endpoints".into()),
            LoginFailure::Failed(error) => error,
        }
    }
}

type LoginResult = Result<(HeaderName, HeaderValue, LoginMethod), LoginFailure>;

/// The two Basic-auth logins: legacy `/api/sessions` (XML, token in `x-vcloud-authorization`)
/// and provider `/cloudapi/1.0.0/sessions/provider` (JSON, JWT sent back as Bearer).
async fn basic_login(
    http: &reqwest::Client,
    endpoints: &Endpoints,
    user: &str,
    password: &SecretString,
    version: &ApiVersion,
    method: LoginMethod,
) -> LoginResult {
    let (url, accept, token_name) = match method {
        LoginMethod::Legacy => (
            endpoints.legacy_sessions(),
            "application/*+xml",
            LEGACY_TOKEN_HEADER,
        ),
        _ => (
            endpoints.provider_sessions(),
            "application/json",
            ACCESS_TOKEN_HEADER,
        ),
    };
    let response = http
        .post(url)
        .basic_auth(user, Some(password.expose_secret()))
        .header(ACCEPT, format!("{accept};version={version}"))
        .send()
        .await
        .map_err(|e| transport("login", e))?;
    let status = response.status();
    if method == LoginMethod::Legacy
        && matches!(
            status,
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
        )
    {
        return Err(LoginFailure::Gone);
    }
    if !status.is_success() {
        return Err(refused(user, status));
    }
    let token = token_header(&response, token_name)?;
    match method {
        LoginMethod::Legacy => Ok((HeaderName::from_static(LEGACY_TOKEN_HEADER), token, method)),
        _ => Ok((
            AUTHORIZATION,
            bearer(token.as_bytes())?,
            LoginMethod::Provider,
        )),
    }
}

async fn token_login(
    http: &reqwest::Client,
    endpoints: &Endpoints,
    token: &SecretString,
) -> LoginResult {
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "refresh_token")
        .append_pair("refresh_token", token.expose_secret())
        .finish();
    let response = http
        .post(endpoints.provider_token())
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ACCEPT, "application/json")
        .body(form)
        .send()
        .await
        .map_err(|e| transport("login", e))?;
    if !response.status().is_success() {
        return Err(LoginFailure::Failed(VcdError::Login(format!(
            "vCD refused the API token ({})",
            response.status()
        ))));
    }
    #[derive(serde::Deserialize)]
    struct Grant {
        access_token: String,
    }
    let grant: Grant = response.json().await.map_err(|_| {
        LoginFailure::Failed(VcdError::Login(
            "the token answer has no access_token".into(),
        ))
    })?;
    Ok((
        AUTHORIZATION,
        bearer(grant.access_token.as_bytes())?,
        LoginMethod::ApiToken,
    ))
}

fn token_header(response: &reqwest::Response, name: &str) -> Result<HeaderValue, LoginFailure> {
    response.headers().get(name).cloned().ok_or_else(|| {
        LoginFailure::Failed(VcdError::Login(format!(
            "the login answer has no {name} header"
        )))
    })
}

fn bearer(token: &[u8]) -> Result<HeaderValue, LoginFailure> {
    let mut value = b"Bearer ".to_vec();
    value.extend_from_slice(token);
    HeaderValue::from_bytes(&value)
        .map_err(|_| LoginFailure::Failed(VcdError::Login("vCD sent an unusable token".into())))
}

fn refused(user: &str, status: StatusCode) -> LoginFailure {
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        // vCD is in trouble, not the credentials: worth retrying.
        return LoginFailure::Failed(VcdError::Status {
            op: "login",
            status: status.as_u16(),
            document: None,
        });
    }
    LoginFailure::Failed(VcdError::Login(format!(
        "vCD refused the credentials of {user} ({status})"
    )))
}

fn transport(op: &'static str, error: reqwest::Error) -> LoginFailure {
    LoginFailure::Failed(VcdError::Transport {
        op,
        message: super::error::describe_transport_error(&error),
    })
}
