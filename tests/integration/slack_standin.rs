//! A Slack stand-in on loopback, speaking what the app uses of Slack: the Web API methods
//! (`POST /api/<method>` with a bearer token, answered `{"ok": …}`), every call recorded with
//! its JSON body; and Socket Mode: `apps.connections.open` (with an `xapp-` token) gives a
//! `ws://` URL to its own WebSocket server, which says `hello` to each connection, records the
//! acknowledgements it gets, and sends whatever envelopes, `disconnect`s or drops the test asks
//! for.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::eventually;

/// The channel ID the stand-in answers `chat.postMessage` with.
pub(crate) const CHANNEL_ID: &str = "C0APPROVALS";

/// One Web API call: its method, JSON body and `Authorization` header.
#[derive(Debug, Clone)]
pub(crate) struct ApiCall {
    pub method: String,
    pub body: Value,
    pub authorization: String,
}

/// What the test tells an open socket to do.
#[derive(Debug)]
enum Command {
    Send(String),
    Drop,
}

#[derive(Default)]
struct Inner {
    calls: Mutex<Vec<ApiCall>>,
    /// The senders of the sockets open now, oldest first.
    sockets: Mutex<Vec<mpsc::UnboundedSender<Command>>>,
    /// Every socket accepted so far.
    accepted: AtomicUsize,
    /// The `envelope_id`s acknowledged, in order.
    acks: Mutex<Vec<String>>,
    posted: AtomicUsize,
    envelopes: AtomicUsize,
    socket_port: AtomicUsize,
}

pub(crate) struct SlackStandIn {
    /// What `[slack] api_url` is set to.
    pub api_url: String,
    inner: Arc<Inner>,
}

impl SlackStandIn {
    pub(crate) async fn start() -> SlackStandIn {
        let inner = Arc::new(Inner::default());
        let sockets = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        inner.socket_port.store(
            usize::from(sockets.local_addr().unwrap().port()),
            Ordering::SeqCst,
        );
        tokio::spawn(serve_sockets(sockets, inner.clone()));
        let app = axum::Router::new()
            .route("/api/{method}", axum::routing::post(api))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        SlackStandIn {
            api_url: format!("http://{address}/api"),
            inner,
        }
    }

    /// Every call of `method` so far, in order.
    pub(crate) fn calls(&self, method: &str) -> Vec<ApiCall> {
        let calls = self.inner.calls.lock().unwrap();
        calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// Waits until a call of `method` satisfies `select`, and returns it.
    pub(crate) async fn wait_for_call(
        &self,
        method: &str,
        select: impl Fn(&Value) -> bool,
    ) -> ApiCall {
        eventually(&format!("Slack's {method} is called as expected"), || {
            let found = self.calls(method).into_iter().find(|c| select(&c.body));
            std::future::ready(found)
        })
        .await
    }

    /// How many sockets were opened so far.
    pub(crate) fn sockets_accepted(&self) -> usize {
        self.inner.accepted.load(Ordering::SeqCst)
    }

    /// Waits until at least `count` sockets were opened and one is open now.
    pub(crate) async fn wait_for_sockets(&self, count: usize) {
        eventually(&format!("{count} Socket Mode connections opened"), || {
            let open = !self.inner.sockets.lock().unwrap().is_empty();
            std::future::ready((open && self.sockets_accepted() >= count).then_some(()))
        })
        .await;
    }

    /// Sends an `interactive` envelope with `payload` on the newest socket; its id.
    pub(crate) fn push_interactive(&self, payload: &Value) -> String {
        let n = self.inner.envelopes.fetch_add(1, Ordering::SeqCst);
        let id = format!("envelope-{n}");
        self.push_envelope(&id, payload);
        id
    }

    /// Sends an `interactive` envelope of `payload` and waits until the app acknowledged it.
    pub(crate) async fn push_acknowledged(&self, payload: &Value) {
        let envelope = self.push_interactive(payload);
        self.wait_for_ack(&envelope).await;
    }

    /// Sends an `interactive` envelope with the given id (again, for a redelivery).
    pub(crate) fn push_envelope(&self, envelope_id: &str, payload: &Value) {
        let envelope = json!({
            "envelope_id": envelope_id,
            "type": "interactive",
            "payload": payload,
            "accepts_response_payload": false,
        });
        self.command(Command::Send(envelope.to_string()));
    }

    /// Asks the app to reconnect, as Slack does before it refreshes a connection.
    pub(crate) fn disconnect(&self) {
        let message = json!({"type": "disconnect", "reason": "refresh_requested"});
        self.command(Command::Send(message.to_string()));
    }

    /// Drops the newest socket without a close frame, as a lost connection would.
    pub(crate) fn drop_socket(&self) {
        self.command(Command::Drop);
    }

    /// Waits until `envelope_id` was acknowledged.
    pub(crate) async fn wait_for_ack(&self, envelope_id: &str) {
        eventually(&format!("envelope {envelope_id} is acknowledged"), || {
            let acked = self
                .inner
                .acks
                .lock()
                .unwrap()
                .iter()
                .any(|a| a == envelope_id);
            std::future::ready(acked.then_some(()))
        })
        .await;
    }

    fn command(&self, command: Command) {
        let sockets = self.inner.sockets.lock().unwrap();
        let newest = sockets.last().expect("a Socket Mode connection is open");
        newest.send(command).expect("the socket is being served");
    }
}

/// The Web API: records the call and answers as Slack would.
async fn api(
    State(inner): State<Arc<Inner>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> axum::Json<Value> {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    inner.calls.lock().unwrap().push(ApiCall {
        method: method.clone(),
        body: body.clone(),
        authorization: authorization.clone(),
    });
    let needs = if method == "apps.connections.open" {
        "Bearer xapp-"
    } else {
        "Bearer xoxb-"
    };
    if !authorization.starts_with(needs) {
        return axum::Json(json!({"ok": false, "error": "invalid_auth"}));
    }
    axum::Json(match method.as_str() {
        "apps.connections.open" => {
            let port = inner.socket_port.load(Ordering::SeqCst);
            json!({"ok": true, "url": format!("ws://127.0.0.1:{port}/link/?ticket=t-secret")})
        }
        "chat.postMessage" => {
            let n = inner.posted.fetch_add(1, Ordering::SeqCst);
            json!({"ok": true, "channel": CHANNEL_ID, "ts": format!("1700000000.{n:06}")})
        }
        "chat.update" => json!({"ok": true, "channel": body["channel"], "ts": body["ts"]}),
        "chat.postEphemeral" => json!({"ok": true, "message_ts": "1700000001.000001"}),
        "views.open" => json!({"ok": true, "view": {"id": "V0STANDIN"}}),
        _ => json!({"ok": false, "error": "unknown_method"}),
    })
}

async fn serve_sockets(listener: tokio::net::TcpListener, inner: Arc<Inner>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let inner = inner.clone();
        tokio::spawn(async move {
            let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            inner.accepted.fetch_add(1, Ordering::SeqCst);
            let hello = json!({"type": "hello", "num_connections": 1});
            if socket.send(Message::text(hello.to_string())).await.is_err() {
                return;
            }
            let (sender, mut commands) = mpsc::unbounded_channel();
            inner.sockets.lock().unwrap().push(sender.clone());
            loop {
                tokio::select! {
                    command = commands.recv() => match command {
                        Some(Command::Send(text)) => {
                            if socket.send(Message::text(text)).await.is_err() { break; }
                        }
                        Some(Command::Drop) | None => break,
                    },
                    incoming = socket.next() => match incoming {
                        Some(Ok(Message::Text(text))) => {
                            let ack: Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                            if let Some(id) = ack["envelope_id"].as_str() {
                                inner.acks.lock().unwrap().push(id.to_owned());
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    },
                }
            }
            inner
                .sockets
                .lock()
                .unwrap()
                .retain(|open| !open.same_channel(&sender));
        });
    }
}
