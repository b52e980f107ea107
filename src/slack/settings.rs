//! What the Slack app needs to know (`[slack]`): its two tokens and the signing secret (all
//! secrets), the channel it posts to, and where Slack's Web API answers. Built by `config`.

use secrecy::SecretString;
use url::Url;

/// The `[slack]` section, checked.
#[derive(Debug, Clone)]
pub struct SlackSettings {
    /// The bot token (`xoxb-…`): posts and updates messages, opens the reason dialog.
    pub bot_token: SecretString,
    /// The app-level token (`xapp-…`, scope `connections:write`): Socket Mode. `None`: no
    /// socket; clicks arrive at `POST /v1/slack/interactions` instead.
    pub app_token: Option<SecretString>,
    /// The channel held tasks are posted to: an ID (`C0123ABCD`) or a name (`#approvals`).
    pub channel: String,
    /// Slack's Web API, `https://slack.com/api` unless a test points it elsewhere; methods
    /// are `api_url/<method>`.
    pub api_url: Url,
    /// Turns on `POST /v1/slack/interactions`, which checks Slack's `v0` signature with it.
    pub signing_secret: Option<SecretString>,
}

impl SlackSettings {
    /// Whether a plain `ws://` socket URL may be used: only with an `http://` API, which
    /// nothing but a local stand-in serves.
    pub(crate) fn plain_socket_allowed(&self) -> bool {
        self.api_url.scheme() == "http"
    }
}
