//! The messages in the channel: the leader's notifier hands every event to the [`Poster`]
//! ([`Listener`]), which only queues it; one loop posts a task's first event
//! (`chat.postMessage`), remembers where (channel and `ts`), and updates that message in place
//! (`chat.update`) on every later event, without buttons once the task is decided (also when
//! vCD decided it itself: `gone`), and forgets where it is then. Where each message is, is also
//! journaled (`chat_message` records), so a new leader updates the message the one before
//! posted; an event for a task with no message known is posted anew, except `gone`. Sends are
//! counted in `webhooks_total`, as webhooks are.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::api::{Api, ApiError, Posted};
use super::message;
use crate::backoff::Backoff;
use crate::journal::{Journal, Record};
use crate::metrics::Metrics;
use crate::notify::{Event, Listener, approvals_link};
use crate::outcome::{WebhookEvent, WebhookOutcome};
use crate::task::TaskId;

/// Events waiting to be posted; beyond this new ones are dropped (and counted).
const QUEUE_CAPACITY: usize = 1000;

/// The queue's sending end, given to the notifier.
#[derive(Debug)]
pub(crate) struct Poster {
    queue: mpsc::Sender<Arc<Event>>,
    metrics: Arc<Metrics>,
}

impl Listener for Poster {
    fn hear(&self, event: &Arc<Event>) {
        if let Err(error) = self.queue.try_send(event.clone()) {
            self.metrics.webhook(event.kind, WebhookOutcome::Dropped);
            let why = match error {
                mpsc::error::TrySendError::Full(_) => "the queue is full",
                mpsc::error::TrySendError::Closed(_) => "shutting down",
            };
            tracing::warn!(task_id = %event.hold.id, event = event.kind.label(), why, "Slack message not posted");
        }
    }
}

/// The loop that posts and updates.
pub(crate) struct Posting {
    queue: mpsc::Receiver<Arc<Event>>,
    api: Arc<Api>,
    channel: String,
    public_url: Option<Url>,
    metrics: Arc<Metrics>,
    /// Where messages are kept for the next leader.
    journal: Arc<Journal>,
    /// Where each undecided task's message is.
    messages: Mutex<HashMap<TaskId, Posted>>,
}

/// A poster and the loop it feeds.
pub(crate) fn poster(
    api: Arc<Api>,
    channel: String,
    public_url: Option<Url>,
    metrics: Arc<Metrics>,
    journal: Arc<Journal>,
) -> (Poster, Posting) {
    let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
    let poster = Poster {
        queue: sender,
        metrics: metrics.clone(),
    };
    let posting = Posting {
        queue: receiver,
        api,
        channel,
        public_url,
        metrics,
        journal,
        messages: Mutex::default(),
    };
    (poster, posting)
}

impl Posting {
    /// Posts or updates for each event in order, until `shutdown`.
    pub(crate) async fn run(mut self, shutdown: CancellationToken) {
        loop {
            let event = tokio::select! {
                event = self.queue.recv() => event,
                () = shutdown.cancelled() => None,
            };
            let Some(event) = event else { return };
            let id = event.hold.id;
            if event.kind == WebhookEvent::Gone && self.known(id).is_none() {
                // No message to update: a task that vCD ended is not posted anew.
                tracing::debug!(task_id = %id, "no Slack message for the task vCD ended");
                continue;
            }
            let outcome = tokio::select! {
                outcome = self.show(&event) => outcome,
                () = shutdown.cancelled() => WebhookOutcome::Dropped,
            };
            if !message::undecided(event.kind) {
                // The task left, shown or not: its message is not updated again.
                self.lock().remove(&id);
            }
            self.metrics.webhook(event.kind, outcome);
        }
    }

    /// Shows `event`: updates its task's message, or posts one; retried on
    /// [`Backoff::WEBHOOK`] while Slack cannot be reached.
    async fn show(&self, event: &Event) -> WebhookOutcome {
        let link = self
            .public_url
            .as_ref()
            .map(|url| approvals_link(url, event.hold.id));
        let body = message::message(event, link.as_deref());
        let id = event.hold.id;
        let mut schedule = Backoff::WEBHOOK.schedule();
        loop {
            let known = self.known(id);
            let attempt = match &known {
                Some(posted) => self
                    .api
                    .update(posted, &body)
                    .await
                    .map(|()| (posted.clone(), false)),
                None => self
                    .api
                    .post_message(&self.channel, &body)
                    .await
                    .map(|posted| (posted, true)),
            };
            match attempt {
                Ok((posted, new)) => {
                    if new && message::undecided(event.kind) {
                        self.journal_message(id, &posted).await;
                    }
                    // Kept in this term's map either way: a message known only from the
                    // journal is updated in place again on the next event.
                    self.remember(id, posted, message::undecided(event.kind));
                    tracing::debug!(task_id = %id, event = event.kind.label(), "Slack message shown");
                    return WebhookOutcome::Sent;
                }
                Err(error) if error.is_transient() => {
                    let Some(delay) = schedule.next_delay() else {
                        tracing::warn!(task_id = %id, %error, "Slack still failing; message given up");
                        return WebhookOutcome::Failed;
                    };
                    self.metrics.webhook(event.kind, WebhookOutcome::Retried);
                    tracing::debug!(task_id = %id, %error, retry_in = ?delay, "Slack failed; retrying");
                    tokio::time::sleep(delay).await;
                }
                Err(ApiError::Refused { why, .. })
                    if known.is_some() && why == "message_not_found" =>
                {
                    // Deleted in Slack: the next attempt posts anew.
                    self.forget(id);
                }
                Err(error) => {
                    tracing::warn!(task_id = %id, %error, "Slack refused the message");
                    return WebhookOutcome::Failed;
                }
            }
        }
    }

    /// Where task `id`'s message is: posted in this term, or journaled by a leader before.
    fn known(&self, id: TaskId) -> Option<Posted> {
        let posted = self.lock().get(&id).cloned();
        posted.or_else(|| {
            let (channel, ts) = self.journal.chat(id)?;
            Some(Posted { channel, ts })
        })
    }

    /// Journals where task `id`'s message is; without it a next leader posts anew, which is
    /// logged and nothing worse.
    async fn journal_message(&self, id: TaskId, posted: &Posted) {
        let record = Record::ChatMessage {
            task_id: id,
            channel: posted.channel.clone(),
            ts: posted.ts.clone(),
            at: chrono::Utc::now(),
        };
        if let Err(error) = self.journal.write(record).await {
            tracing::warn!(task_id = %id, %error, "where the Slack message is was not journaled");
        }
    }

    /// Keeps where the message is while the task waits; forgets it once decided.
    fn remember(&self, id: TaskId, posted: Posted, undecided: bool) {
        let mut messages = self.lock();
        if undecided {
            messages.insert(id, posted);
        } else {
            messages.remove(&id);
        }
    }

    /// Forgets the message of task `id` (deleted in Slack), also the one journaled.
    fn forget(&self, id: TaskId) {
        self.lock().remove(&id);
        self.journal.forget_chat(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TaskId, Posted>> {
        self.messages.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
