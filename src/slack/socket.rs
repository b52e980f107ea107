//! Socket Mode: the leader's outbound WebSocket to Slack, over which clicks arrive (no
//! inbound access needed). `apps.connections.open` (with the app-level token) gives a
//! `wss://` URL; the socket says `hello`, then sends envelopes
//! `{"envelope_id", "type": "interactive", "payload"}`, each acknowledged at once with
//! `{"envelope_id"}` (Slack wants it within 3 s) before the [`Desk`] acts on it. A
//! `disconnect` message (Slack refreshes connections every few hours) is followed by a new
//! connection at once; a lost or refused one by another after [`Backoff::SLACK_SOCKET`].
//! Runs only while this instance leads: a standby holds no socket.
//!
//! A small client on `tokio-tungstenite` (rustls) rather than the `slack-morphism` crate: the
//! app needs one socket and five Web API methods, which the `reqwest` client already here
//! serves; `slack-morphism` would add its own HTTP stack (hyper and its connectors) and
//! hundreds of API types to the build for them.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::api::Api;
use super::desk::Desk;
use crate::backoff::Backoff;
use crate::health::Condition;
use crate::source::{Report, Run, Runs, Source};

/// One open Socket Mode connection.
type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The Socket Mode connection, as a source of decisions.
pub(crate) struct SocketMode {
    pub(crate) api: Arc<Api>,
    pub(crate) desk: Arc<Desk>,
    /// A plain `ws://` URL is taken only with an `http://` API (a local stand-in).
    pub(crate) plain_allowed: bool,
}

/// How a connection ended.
enum Ended {
    /// Slack asked for a new connection (`disconnect`).
    Asked,
    /// It was lost, refused or never opened; `greeted`: after Slack's `hello`.
    Lost { why: String, greeted: bool },
    /// The term or the daemon ends.
    Stopped,
}

impl Source for SocketMode {
    fn name(&self) -> &'static str {
        "slack"
    }

    fn runs(&self) -> Runs {
        Runs::WhileLeading
    }

    fn first_condition(&self) -> Option<Condition> {
        None
    }

    fn run(self: Arc<Self>, report: Report, until: CancellationToken) -> Run {
        Box::pin(async move {
            let handlers = TaskTracker::new();
            let mut schedule = Backoff::SLACK_SOCKET.schedule();
            loop {
                match self.connection(&report, &until, &handlers).await {
                    Ended::Stopped => break,
                    Ended::Asked => {
                        tracing::debug!("Slack asked for a new Socket Mode connection");
                        schedule.reset();
                    }
                    Ended::Lost { why, greeted } => {
                        if greeted {
                            schedule.reset();
                        }
                        let delay = schedule.next_delay().unwrap_or(Backoff::SLACK_SOCKET.cap);
                        tracing::warn!(%why, retry_in = ?delay, "Slack Socket Mode connection lost");
                        tokio::select! {
                            () = report.beating(tokio::time::sleep(delay)) => {}
                            () = until.cancelled() => break,
                        }
                    }
                }
            }
            handlers.close();
            handlers.wait().await;
        })
    }
}

impl SocketMode {
    /// Opens one connection and serves it until it ends.
    async fn connection(
        &self,
        report: &Report,
        until: &CancellationToken,
        handlers: &TaskTracker,
    ) -> Ended {
        let url = tokio::select! {
            url = report.beating(self.api.open_connection()) => url,
            () = until.cancelled() => return Ended::Stopped,
        };
        let url = match url {
            Ok(url) => url,
            Err(error) => return lost(error.to_string(), false),
        };
        match url.scheme() {
            "wss" => {}
            "ws" if self.plain_allowed => {}
            other => {
                return lost(
                    format!("Slack gave a {other}:// socket URL, not wss://"),
                    false,
                );
            }
        }
        let connected = tokio::select! {
            connected = report.beating(tokio_tungstenite::connect_async(url.as_str())) => connected,
            () = until.cancelled() => return Ended::Stopped,
        };
        // The URL carries a ticket: errors are described without it.
        match connected {
            Ok((socket, _)) => self.serve(socket, report, until, handlers).await,
            Err(error) => lost(format!("cannot connect: {}", describe(&error)), false),
        }
    }

    /// Reads `socket` until it ends: acknowledges each envelope at once and hands an
    /// interactive one to the desk; follows `hello` and `disconnect`.
    async fn serve(
        &self,
        mut socket: Socket,
        report: &Report,
        until: &CancellationToken,
        handlers: &TaskTracker,
    ) -> Ended {
        let mut greeted = false;
        loop {
            let next = tokio::select! {
                next = report.beating(socket.next()) => next,
                () = until.cancelled() => {
                    let _ = socket.close(None).await;
                    return Ended::Stopped;
                }
            };
            report.beat();
            let text = match next {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(_))) | None => return lost("closed".to_owned(), greeted),
                Some(Ok(_)) => continue, // pings are answered by the library
                Some(Err(error)) => return lost(describe(&error), greeted),
            };
            let Ok(message) = serde_json::from_str::<Value>(text.as_str()) else {
                tracing::warn!("Slack sent a Socket Mode message that is not JSON: ignored");
                continue;
            };
            if let Some(envelope) = message["envelope_id"].as_str() {
                // Acknowledged before acting: Slack wants it within 3 s, a decision may take longer.
                let ack = json!({"envelope_id": envelope}).to_string();
                if let Err(error) = socket.send(Message::text(ack)).await {
                    return lost(describe(&error), greeted);
                }
                if message["type"] == "interactive" {
                    let (desk, envelope) = (self.desk.clone(), envelope.to_owned());
                    let payload = message["payload"].clone();
                    handlers.spawn(async move { desk.handle(&payload, Some(&envelope)).await });
                }
                continue;
            }
            match message["type"].as_str() {
                Some("hello") => {
                    greeted = true;
                    tracing::info!("Slack Socket Mode connected");
                }
                Some("disconnect") => {
                    let _ = socket.close(None).await;
                    return Ended::Asked;
                }
                _ => {}
            }
        }
    }
}

fn lost(why: String, greeted: bool) -> Ended {
    Ended::Lost { why, greeted }
}

/// A WebSocket error in a few words, without the URL.
fn describe(error: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error;
    match error {
        Error::Http(response) => format!("the socket answered {}", response.status()),
        Error::Io(error) => error.kind().to_string(),
        Error::Tls(_) => "TLS failed".to_owned(),
        Error::ConnectionClosed | Error::AlreadyClosed => "closed".to_owned(),
        other => other.to_string(),
    }
}
