//! What the sender needs to know about each `[[notify]]` receiver: where it goes (a webhook URL,
//! or for mail the SMTP server's URL; a secret either way), the body format it takes, the
//! events it wants and, for mail, who it is from and to; and what the Slack app (`slack`)
//! needs: its tokens, channel and API. Built by `config`.

use std::path::PathBuf;

use lettre::message::Mailbox;
use secrecy::SecretString;
use url::Url;

use crate::outcome::{WebhookEvent, label_enum};

/// One `[[notify]]` receiver.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// A chat webhook URL is a credential (whoever knows it can post to the channel), and an
    /// SMTP URL (`format = "email"`) carries the mail account's user and password: it is kept
    /// secret, and never logged, counted or put in an error.
    pub url: SecretString,
    pub format: WebhookFormat,
    /// The events this receiver is sent; never empty.
    pub events: Vec<WebhookEvent>,
    /// `format = "email"` only (and then always set): the mail's sender and recipients.
    pub mail: Option<MailSettings>,
}

impl WebhookSettings {
    pub(crate) fn wants(&self, event: WebhookEvent) -> bool {
        self.events.contains(&event)
    }
}

/// A mail receiver's `from`, `to` and `ca_file`.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// The `From:` of every mail, and the envelope's sender.
    pub from: Mailbox,
    pub to: Recipients,
    /// A PEM bundle trusted besides the system's roots for the SMTP server's certificate.
    pub ca_file: Option<PathBuf>,
}

/// Who a mail goes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Recipients {
    /// The same addresses for every event (`to = ["ops@example.com"]`).
    Listed(Vec<Mailbox>),
    /// `to = "approvers"`: the `email` of every approver who may decide the task at the
    /// moment of the event (the rule's approvers, and `escalate_to` once escalated).
    Approvers,
}

label_enum! {
    /// The body a receiver takes; its label is the config's `format`.
    pub enum WebhookFormat {
        /// vcd-blockd's own flat JSON object (as `docs/approvals.md` documents it).
        Json => "json",
        /// A Slack incoming-webhook message: `text` plus Block Kit `blocks`.
        Slack => "slack",
        /// A Microsoft Teams Workflows webhook message: an Adaptive Card attachment.
        Teams => "teams",
        /// A mail (plain text and HTML) through an SMTP server, instead of a POST.
        Email => "email",
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
