//! What the webhook sender needs to know about each `[[notify]]` receiver: its URL (a secret),
//! the body format it takes and the events it wants. Built by `config`.

use secrecy::SecretString;

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
