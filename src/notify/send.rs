//! The sender of one `[[notify]]` receiver: takes its queue in order and delivers each event
//! through its [`Channel`] (a POST, or a mail through `smtp`), retrying on [`Backoff::WEBHOOK`]
//! (honouring a 429's `Retry-After`) until the receiver takes it, refuses it, or five minutes
//! have passed. It never follows redirects, and never logs the URL: receivers are named by
//! their position among the `[[notify]]` entries.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::mail::{self, Deciders};
use super::settings::MailSettings;
use super::smtp::Mailer;
use super::{Event, Receiver, format};
use crate::backoff::Backoff;
use crate::metrics::Metrics;
use crate::outcome::WebhookOutcome;
use crate::vcd::describe_transport_error;

/// Longest wait for one POST's answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The HTTP client every sender shares: no redirects, a timeout per request, TLS verified
/// against the system's roots.
pub(super) fn client() -> Result<reqwest::Client, reqwest::Error> {
    crate::tls::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("vcd-blockd/", env!("CARGO_PKG_VERSION")))
        .build()
}

pub(super) struct Sender {
    pub receiver: Arc<Receiver>,
    pub channel: Channel,
    /// `[http] public_url`, for links to the approvals page.
    pub public_url: Option<Url>,
    pub metrics: Arc<Metrics>,
}

/// How a receiver is reached.
#[derive(Debug)]
pub(super) enum Channel {
    /// A webhook: a POST of the receiver's body format to its URL.
    Post(reqwest::Client),
    /// `format = "email"`: a mail through the receiver's SMTP server.
    Mail(Box<MailChannel>),
}

/// A mail receiver's server, addresses, and who may decide (for `to = "approvers"`).
#[derive(Debug)]
pub(super) struct MailChannel {
    pub mailer: Mailer,
    pub settings: MailSettings,
    pub deciders: Deciders,
}

/// One event made ready for its receiver, to be sent as often as it takes.
enum Prepared<'a> {
    Post {
        client: &'a reqwest::Client,
        body: serde_json::Value,
    },
    Mail {
        mailer: &'a Mailer,
        message: lettre::Message,
    },
}

/// How one POST or mail went.
#[derive(Debug)]
pub(super) enum Attempt {
    Sent,
    /// Sending it again would not help (a 4xx other than 408 and 429, a redirect; an SMTP
    /// server's permanent 5xx, or one that would get the credentials unencrypted).
    Refused(String),
    /// Worth another try (no answer, 408, 429, 5xx), after `retry_after` if the receiver said.
    Failed {
        why: String,
        retry_after: Option<Duration>,
    },
}

impl Sender {
    /// Sends the queue's events one after the other until `shutdown`; what is still queued
    /// or under way then is dropped, counted and logged.
    pub(super) async fn run(self, shutdown: CancellationToken) {
        let interrupted = loop {
            let event = tokio::select! {
                event = self.receiver.queue.pop() => event,
                () = shutdown.cancelled() => break None,
            };
            match self.deliver(&event, &shutdown).await {
                Some(outcome) => self.metrics.webhook(event.kind, outcome),
                None => break Some(event),
            }
        };
        let dropped: Vec<Arc<Event>> = interrupted
            .into_iter()
            .chain(self.receiver.queue.drain())
            .collect();
        for event in &dropped {
            self.metrics.webhook(event.kind, WebhookOutcome::Dropped);
        }
        if !dropped.is_empty() {
            tracing::warn!(
                notify = self.receiver.index,
                dropped = dropped.len(),
                "shutting down: webhook events not yet sent were dropped"
            );
        }
    }

    /// Sends `event` until the receiver takes it, refuses it or the retry window closes;
    /// `None` when `shutdown` came first.
    async fn deliver(&self, event: &Event, shutdown: &CancellationToken) -> Option<WebhookOutcome> {
        let link = self
            .public_url
            .as_ref()
            .map(|url| format::approvals_link(url, event.hold.id));
        let prepared = match self.prepare(event, link.as_deref()) {
            Ok(prepared) => prepared,
            Err(why) => {
                tracing::warn!(notify = self.receiver.index, event = event.kind.label(), task_id = %event.hold.id, %why, "webhook not sent");
                return Some(WebhookOutcome::Failed);
            }
        };
        let mut schedule = Backoff::WEBHOOK.schedule();
        loop {
            let attempt = tokio::select! {
                attempt = self.attempt(&prepared) => attempt,
                () = shutdown.cancelled() => return None,
            };
            let (why, retry_after) = match attempt {
                Attempt::Sent => {
                    tracing::debug!(notify = self.receiver.index, event = event.kind.label(), task_id = %event.hold.id, "webhook sent");
                    return Some(WebhookOutcome::Sent);
                }
                Attempt::Refused(why) => {
                    tracing::warn!(notify = self.receiver.index, event = event.kind.label(), task_id = %event.hold.id, %why, "webhook refused; not sent again");
                    return Some(WebhookOutcome::Failed);
                }
                Attempt::Failed { why, retry_after } => (why, retry_after),
            };
            let attempts = schedule.attempts();
            let Some(delay) = schedule.next_delay() else {
                tracing::warn!(notify = self.receiver.index, event = event.kind.label(), task_id = %event.hold.id, %why, attempts, elapsed = ?schedule.elapsed(), "webhook still failing; given up");
                return Some(WebhookOutcome::Failed);
            };
            let delay = retry_after.map_or(delay, |after| after.clamp(delay, Backoff::WEBHOOK.cap));
            self.metrics.webhook(event.kind, WebhookOutcome::Retried);
            if attempts == 1 {
                tracing::warn!(notify = self.receiver.index, event = event.kind.label(), task_id = %event.hold.id, %why, retry_in = ?delay, "webhook failed; retrying");
            } else {
                tracing::debug!(notify = self.receiver.index, event = event.kind.label(), task_id = %event.hold.id, %why, attempt = attempts, retry_in = ?delay, "webhook failed; retrying");
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shutdown.cancelled() => return None,
            }
        }
    }

    /// The body or the mail for `event`, made once for all its attempts.
    fn prepare(&self, event: &Event, link: Option<&str>) -> Result<Prepared<'_>, String> {
        match &self.channel {
            Channel::Mail(channel) => {
                let deciders = channel.deciders.of(event);
                let message = mail::message(&channel.settings, event, link, &deciders)
                    .map_err(|e| e.to_string())?;
                Ok(Prepared::Mail {
                    mailer: &channel.mailer,
                    message,
                })
            }
            Channel::Post(client) => Ok(Prepared::Post {
                client,
                body: format::body(self.receiver.settings.format, event, link),
            }),
        }
    }

    async fn attempt(&self, prepared: &Prepared<'_>) -> Attempt {
        match prepared {
            Prepared::Post { client, body } => self.post(client, body).await,
            Prepared::Mail { mailer, message } => mailer.send(message).await,
        }
    }

    async fn post(&self, client: &reqwest::Client, body: &serde_json::Value) -> Attempt {
        let url = self.receiver.settings.url.expose_secret();
        let response = match client.post(url).json(body).send().await {
            Ok(response) => response,
            // Described without the URL, which reqwest would otherwise quote.
            Err(error) => {
                return Attempt::Failed {
                    why: describe_transport_error(&error.without_url()),
                    retry_after: None,
                };
            }
        };
        classify(response.status(), retry_after(&response))
    }
}

/// What an answer means for the event.
fn classify(status: StatusCode, retry_after: Option<Duration>) -> Attempt {
    if status.is_success() {
        return Attempt::Sent;
    }
    let why = format!("receiver answered {}", status.as_u16());
    match status.as_u16() {
        300..=399 => Attempt::Refused(format!("{why}, a redirect, which is not followed")),
        408 | 429 | 500..=599 => Attempt::Failed {
            why,
            retry_after: retry_after.filter(|_| status == StatusCode::TOO_MANY_REQUESTS),
        },
        _ => Attempt::Refused(why),
    }
}

/// `Retry-After` in seconds; its date form is rare enough to fall back to the backoff.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let seconds = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    seconds.trim().parse().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> StatusCode {
        StatusCode::from_u16(code).unwrap()
    }

    #[test]
    fn only_timeouts_throttling_and_server_errors_are_tried_again() {
        let cases = [
            (200, "sent"),
            (204, "sent"),
            (301, "refused"),
            (307, "refused"),
            (400, "refused"),
            (403, "refused"),
            (404, "refused"),
            (408, "failed"),
            (410, "refused"),
            (429, "failed"),
            (500, "failed"),
            (503, "failed"),
        ];
        for (code, expected) in cases {
            let got = match classify(status(code), None) {
                Attempt::Sent => "sent",
                Attempt::Refused(_) => "refused",
                Attempt::Failed { .. } => "failed",
            };
            assert_eq!(got, expected, "{code}");
        }
    }

    #[test]
    fn retry_after_counts_only_on_429() {
        let after = Some(Duration::from_secs(30));
        assert!(matches!(
            classify(status(429), after),
            Attempt::Failed { retry_after: Some(d), .. } if d == Duration::from_secs(30)
        ));
        assert!(matches!(
            classify(status(503), after),
            Attempt::Failed {
                retry_after: None,
                ..
            }
        ));
    }
}
