//! The few Slack Web API methods the app calls (`chat.postMessage`, `chat.update`,
//! `chat.postEphemeral`, `views.open`, `apps.connections.open`): a JSON POST to
//! `api_url/<method>` with a bearer token, answered `{"ok": true, …}` or
//! `{"ok": false, "error": "…"}`. Tokens never appear in errors or logs; neither do URLs.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use url::Url;

use super::SlackSettings;
use crate::tls::Roots;
use crate::vcd::describe_transport_error;

/// Longest wait for one call's answer (Slack answers within a second or two).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a call did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ApiError {
    /// No answer, a 5xx or a 429: worth another try.
    #[error("Slack could not be reached or failed: {0}")]
    Transient(String),
    /// Slack answered and refused (`ok: false`, another status): trying again would not help.
    #[error("Slack refused {method}: {why}")]
    Refused { method: &'static str, why: String },
}

impl ApiError {
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self, ApiError::Transient(_))
    }
}

/// Where a posted message is: its channel's ID and its `ts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Posted {
    pub channel: String,
    pub ts: String,
}

/// A client of Slack's Web API with the app's tokens.
#[derive(Debug)]
pub(crate) struct Api {
    client: reqwest::Client,
    base: Url,
    bot: SecretString,
    app: Option<SecretString>,
}

impl Api {
    /// No redirects, a timeout per call, TLS verified against the system's roots (none for a
    /// plain `http://` stand-in). Errors: the client cannot be built.
    pub(crate) fn new(settings: &SlackSettings) -> Result<Api, String> {
        crate::tls::install_crypto_provider();
        let builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("vcd-blockd/", env!("CARGO_PKG_VERSION")));
        let client = Roots::for_url(&settings.api_url, None)
            .apply(builder)?
            .build()
            .map_err(|e| crate::tls::with_sources(&e))?;
        Ok(Api {
            client,
            base: settings.api_url.clone(),
            bot: settings.bot_token.clone(),
            app: settings.app_token.clone(),
        })
    }

    /// `chat.postMessage` of `message` (`text` and `blocks`) to `channel`.
    pub(crate) async fn post_message(
        &self,
        channel: &str,
        message: &Value,
    ) -> Result<Posted, ApiError> {
        let mut body = message.clone();
        body["channel"] = json!(channel);
        let answer = self.call("chat.postMessage", &self.bot, &body).await?;
        let field = |name: &str| answer[name].as_str().map(str::to_owned);
        match (field("channel"), field("ts")) {
            (Some(channel), Some(ts)) => Ok(Posted { channel, ts }),
            _ => Err(ApiError::Refused {
                method: "chat.postMessage",
                why: "the answer names no channel and ts".to_owned(),
            }),
        }
    }

    /// `chat.update`: the message at `posted` becomes `message`.
    pub(crate) async fn update(&self, posted: &Posted, message: &Value) -> Result<(), ApiError> {
        let mut body = message.clone();
        body["channel"] = json!(posted.channel);
        body["ts"] = json!(posted.ts);
        self.call("chat.update", &self.bot, &body).await.map(drop)
    }

    /// `chat.postEphemeral`: `text` shown to `user` alone in `channel`.
    pub(crate) async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        text: &str,
    ) -> Result<(), ApiError> {
        let body = json!({"channel": channel, "user": user, "text": text});
        self.call("chat.postEphemeral", &self.bot, &body)
            .await
            .map(drop)
    }

    /// `views.open`: shows `view` (a modal) to whoever's click gave `trigger_id`.
    pub(crate) async fn open_view(&self, trigger_id: &str, view: &Value) -> Result<(), ApiError> {
        let body = json!({"trigger_id": trigger_id, "view": view});
        self.call("views.open", &self.bot, &body).await.map(drop)
    }

    /// `apps.connections.open` with the app-level token: the URL of a new Socket Mode
    /// connection (it carries a ticket: never logged).
    pub(crate) async fn open_connection(&self) -> Result<Url, ApiError> {
        let method = "apps.connections.open";
        let Some(app) = &self.app else {
            return Err(ApiError::Refused {
                method,
                why: "no app-level token (slack.app_token_file)".to_owned(),
            });
        };
        let answer = self.call(method, app, &json!({})).await?;
        answer["url"]
            .as_str()
            .and_then(|url| Url::parse(url).ok())
            .ok_or_else(|| ApiError::Refused {
                method,
                why: "the answer has no socket URL".to_owned(),
            })
    }

    /// POSTs `body` to `method` with `token`; the answer's object when `ok` is true.
    async fn call(
        &self,
        method: &'static str,
        token: &SecretString,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let url = format!("{}/{method}", self.base.as_str().trim_end_matches('/'));
        let response = self
            .client
            .post(url)
            .bearer_auth(token.expose_secret())
            .json(body)
            .send()
            .await
            .map_err(|e| ApiError::Transient(describe_transport_error(&e.without_url())))?;
        let status = response.status();
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(ApiError::Transient(format!("{method} answered {status}")));
        }
        if !status.is_success() {
            return Err(ApiError::Refused {
                method,
                why: format!("answered {status}"),
            });
        }
        let answer: Value = response
            .json()
            .await
            .map_err(|_| ApiError::Transient(format!("{method} answered something not JSON")))?;
        if answer["ok"].as_bool() == Some(true) {
            Ok(answer)
        } else {
            let why = answer["error"].as_str().unwrap_or("no reason given");
            Err(ApiError::Refused {
                method,
                why: why.chars().take(200).collect(),
            })
        }
    }
}
