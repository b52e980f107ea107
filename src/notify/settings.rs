//! What the webhook sender needs to know about each `[[notify]]` receiver: its URL (a secret),
//! the body format it takes and the events it wants; and what the Slack app (`slack`) needs:
//! its tokens, channel and API. Built by `config`.

use secrecy::SecretString;
use url::Url;

use crate::outcome::{WebhookEvent, label_enum};

/// One `[[notify]]` receiver.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// A chat webhook URL is a credential (whoever knows it can post to the channel): it is
    /// kept secret, and never logged, counted or put in an error.
    pub url: SecretString,
    pub format: WebhookFormat,
    /// The events this receiver is sent; never empty.
    pub events: Vec<WebhookEvent>,
}

impl WebhookSettings {
    pub(crate) fn wants(&self, event: WebhookEvent) -> bool {
        self.events.contains(&event)
    }
}

label_enum! {
    /// The body a receiver takes; its label is the config's `format`.
    pub enum WebhookFormat {
        /// vcd-blockd's own flat JSON object (as `docs/approvals.md` documents it).
        Json => "json",
        /// A Slack incoming-webhook message: `text` plus Block Kit `blocks`.
        Slack => "slack",
        /// A Microsoft Teams incoming-webhook message: an Adaptive Card attachment.
        Teams => "teams",
    }
}

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
