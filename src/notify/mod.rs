//! Webhooks and mail (`[[notify]]`): people are told when a task is held, decided by a
//! person, expires, or stops being kept alive. The engine hands an [`Event`] to the
//! [`Notifier`], which only queues it, once for every receiver that wants it; one sender per
//! receiver delivers its queue in order (`send`): a POST in the body format the receiver takes
//! (`format`), or a mail (`mail`, through `smtp`). A decision never waits for a webhook. A
//! [`Listener`] (the Slack app's messages, `slack`) hears every event besides the webhooks.

mod format;
mod mail;
mod queue;
mod send;
pub(crate) mod settings;
mod smtp;

pub(crate) use smtp::MailerError;
pub(crate) use smtp::default_port as smtp_default_port;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use url::Url;

pub(crate) use self::mail::Deciders;
use self::queue::Queue;
use self::send::{Channel, MailChannel};
use self::settings::WebhookSettings;
use self::smtp::Mailer;
use crate::metrics::Metrics;
use crate::outcome::{WebhookEvent, WebhookOutcome};
use crate::policy::ApprovalRule;
use crate::task::FinalAction;
use crate::task::HoldView;

/// Events waiting for one receiver; beyond this the oldest is dropped.
const QUEUE_CAPACITY: usize = 1000;

/// Something that happened to a held task, with the facts a webhook tells.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    pub kind: WebhookEvent,
    /// The held task, as every view shows it.
    pub hold: HoldView,
    /// Who decided: approved and rejected only.
    pub approver: Option<Box<str>>,
    /// What vCD was told to do: approved, rejected and expired only.
    pub action: Option<FinalAction>,
    /// The message vCD shows the tenant (the hold's, or the one sent with the action), or
    /// what went wrong with the keepalive.
    pub message: Option<Box<str>>,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// `held` only: the hold was found by a new leader's reconciliation, for a task created
    /// before its term; an earlier leader may have announced it already.
    pub rediscovered: bool,
    /// Who may decide the task, as its rule says: what `to = "approvers"` mails are sent by.
    pub approval: Arc<ApprovalRule>,
    /// Whether `escalate_after` had passed at `at`, so that `escalate_to` may decide too.
    pub escalated: bool,
}

/// The engine's handle on the webhooks: [`Notifier::send`] queues and returns at once. The
/// default handle (no `[[notify]]` configured) does nothing.
#[derive(Debug, Clone, Default)]
pub(crate) struct Notifier {
    inner: Option<Arc<Inner>>,
    /// Told of every event, whatever the webhooks want.
    listener: Option<Arc<dyn Listener>>,
}

/// Something besides the webhooks that is told of every event (the Slack app's messages). It
/// must return at once, as [`Notifier::send`] does: a decision never waits for it.
pub(crate) trait Listener: std::fmt::Debug + Send + Sync {
    fn hear(&self, event: &Arc<Event>);
}

/// The Slack body of `event` (the `slack` webhook format): `text` plus Block Kit `blocks`;
/// `link` is the task's approvals page, if known.
pub(crate) fn slack_body(event: &Event, link: Option<&str>) -> serde_json::Value {
    format::body(settings::WebhookFormat::Slack, event, link)
}

pub(crate) use format::approvals_link;

#[derive(Debug)]
struct Inner {
    receivers: Vec<Arc<Receiver>>,
    metrics: Arc<Metrics>,
}

/// One `[[notify]]` entry and the events waiting for it.
#[derive(Debug)]
struct Receiver {
    /// Its position among the `[[notify]]` entries: how logs name it (never by its URL).
    index: usize,
    settings: WebhookSettings,
    queue: Queue<Arc<Event>>,
}

/// Why the notifier cannot start.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("webhooks: cannot build the HTTP client: {}", crate::tls::with_sources(.0))]
    Http(#[from] reqwest::Error),
    /// A mail receiver, named by its position among the `[[notify]]` entries.
    #[error("notify[{index}]: {source}")]
    Mail { index: usize, source: MailerError },
}

impl Notifier {
    /// One queue and one sender for each of `webhooks`; the senders run on `tasks` until
    /// `shutdown`. Mail to `to = "approvers"` goes to whom `deciders` name. Without webhooks,
    /// the notifier does nothing and nothing is started.
    pub(crate) fn start(
        webhooks: &[WebhookSettings],
        public_url: Option<&Url>,
        deciders: &Deciders,
        metrics: Arc<Metrics>,
        tasks: &TaskTracker,
        shutdown: &CancellationToken,
    ) -> Result<Notifier, NotifyError> {
        if webhooks.is_empty() {
            return Ok(Notifier::default());
        }
        let client = send::client()?;
        let notifier = Notifier::with_queues(webhooks, metrics.clone(), QUEUE_CAPACITY);
        let mut senders = Vec::with_capacity(webhooks.len());
        for receiver in notifier.receivers() {
            let channel = match &receiver.settings.mail {
                Some(mail) => Channel::Mail(Box::new(MailChannel {
                    mailer: Mailer::new(&receiver.settings.url, mail.ca_file.as_deref()).map_err(
                        |source| NotifyError::Mail {
                            index: receiver.index,
                            source,
                        },
                    )?,
                    settings: mail.clone(),
                    deciders: deciders.clone(),
                })),
                None => Channel::Post(client.clone()),
            };
            senders.push(send::Sender {
                receiver: receiver.clone(),
                channel,
                public_url: public_url.cloned(),
                metrics: metrics.clone(),
            });
        }
        for sender in senders {
            tasks.spawn(sender.run(shutdown.clone()));
        }
        tracing::info!(receivers = webhooks.len(), "webhooks on");
        Ok(notifier)
    }

    /// The queues alone, `capacity` events each, with nobody sending them.
    fn with_queues(
        webhooks: &[WebhookSettings],
        metrics: Arc<Metrics>,
        capacity: usize,
    ) -> Notifier {
        let receivers = webhooks
            .iter()
            .enumerate()
            .map(|(index, settings)| {
                Arc::new(Receiver {
                    index,
                    settings: settings.clone(),
                    queue: Queue::new(capacity),
                })
            })
            .collect();
        Notifier {
            inner: Some(Arc::new(Inner { receivers, metrics })),
            listener: None,
        }
    }

    /// The same handle, also telling `listener` of every event.
    pub(crate) fn with_listener(self, listener: Arc<dyn Listener>) -> Notifier {
        Notifier {
            listener: Some(listener),
            ..self
        }
    }

    fn receivers(&self) -> &[Arc<Receiver>] {
        self.inner.as_deref().map_or(&[], |inner| &inner.receivers)
    }

    /// Queues `event` for every receiver that wants it; never waits. A full queue drops its
    /// oldest event, which is counted and logged.
    pub(crate) fn send(&self, event: Event) {
        let event = Arc::new(event);
        if let Some(listener) = &self.listener {
            listener.hear(&event);
        }
        let Some(inner) = &self.inner else { return };
        for receiver in &inner.receivers {
            if !receiver.settings.wants(event.kind) {
                continue;
            }
            if let Some(dropped) = receiver.queue.push(event.clone()) {
                inner.metrics.webhook(dropped.kind, WebhookOutcome::Dropped);
                tracing::warn!(
                    notify = receiver.index,
                    event = dropped.kind.label(),
                    task_id = %dropped.hold.id,
                    "webhook queue full: the oldest event was dropped"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::settings::WebhookFormat;
    use crate::task::TaskId;

    fn event(kind: WebhookEvent, n: u128) -> Event {
        Event {
            kind,
            hold: HoldView {
                id: TaskId::from_uuid(uuid::Uuid::from_u128(n)),
                operation: "vdcInstantiateVapp".into(),
                org: "prod".into(),
                user: "dave".into(),
                owner_name: "billing".into(),
                rule: Arc::from("hold"),
                since: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
                deadline: DateTime::from_timestamp(1_800_003_600, 0).unwrap(),
                fallback: FinalAction::Abort,
                approvals: Vec::new(),
                needed: 1,
                reason: None,
            },
            approver: None,
            action: None,
            message: None,
            at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            rediscovered: false,
            approval: Arc::default(),
            escalated: false,
        }
    }

    fn webhook(events: &[WebhookEvent]) -> WebhookSettings {
        WebhookSettings {
            url: "https://hooks.example.com/s3cret".to_owned().into(),
            format: WebhookFormat::Json,
            events: events.to_vec(),
            mail: None,
        }
    }

    #[test]
    fn each_receiver_queues_the_events_it_wants_and_drops_the_oldest_when_full() {
        let metrics = Arc::new(Metrics::new());
        let everything = webhook(&WebhookEvent::ALL);
        let expiries = webhook(&[WebhookEvent::Expired]);
        let notifier = Notifier::with_queues(&[everything, expiries], metrics.clone(), 2);
        notifier.send(event(WebhookEvent::Held, 1));
        notifier.send(event(WebhookEvent::Held, 2));
        notifier.send(event(WebhookEvent::Expired, 1));

        let [all, expired] = notifier.receivers() else {
            panic!("two receivers");
        };
        let queued = |receiver: &Receiver| -> Vec<(WebhookEvent, u128)> {
            receiver
                .queue
                .drain()
                .iter()
                .map(|e| (e.kind, e.hold.id.uuid().as_u128()))
                .collect()
        };
        assert_eq!(
            queued(all),
            [(WebhookEvent::Held, 2), (WebhookEvent::Expired, 1)],
            "the oldest made room"
        );
        assert_eq!(queued(expired), [(WebhookEvent::Expired, 1)]);
        assert!(
            metrics
                .render()
                .contains("vcd_blockd_webhooks_total{event=\"held\",outcome=\"dropped\"} 1"),
            "{}",
            metrics.render()
        );
    }

    #[tokio::test]
    async fn a_mail_receiver_whose_ca_file_cannot_be_read_stops_the_start_and_is_named() {
        let mail = WebhookSettings {
            url: "smtps://ops:s3cret-smtp@mail.example.com".to_owned().into(),
            format: WebhookFormat::Email,
            events: WebhookEvent::ALL.to_vec(),
            mail: Some(settings::MailSettings {
                from: "blockd@example.com".parse().unwrap(),
                to: settings::Recipients::Approvers,
                ca_file: Some("/nonexistent/mail-ca.pem".into()),
            }),
        };
        let tasks = TaskTracker::new();
        let error = Notifier::start(
            &[webhook(&[WebhookEvent::Held]), mail],
            None,
            &Deciders::default(),
            Arc::new(Metrics::new()),
            &tasks,
            &CancellationToken::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("notify[1]: cannot read ca_file /nonexistent/mail-ca.pem"),
            "{error}"
        );
        assert!(!error.contains("s3cret-smtp"), "{error}");
        assert!(tasks.is_empty(), "nothing started");
    }

    #[test]
    fn without_receivers_sending_does_nothing() {
        let notifier = Notifier::default();
        notifier.send(event(WebhookEvent::Held, 1));
        assert!(notifier.receivers().is_empty());
    }
}
