//! What the sender needs to know about each `[[notify]]` receiver: where it goes (a webhook URL,
//! or for mail the SMTP server's URL; a secret either way), the body format it takes, the
//! events it wants and, for mail, who it is from and to. Built by `config`.

use std::path::PathBuf;

use lettre::message::Mailbox;
use secrecy::SecretString;

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
