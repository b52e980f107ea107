//! A decision service stand-in on loopback, for `[[ask]]`: it records every request (path,
//! body, whether its `X-Vcd-Blockd-Signature` verifies) and answers as the test scripts it,
//! per request: a decision, a status, a redirect, a body too large, garbage, or any of these
//! late. In OPA mode it serves OPA's data API: only `POST /v1/data/vcd/blockd/decision`, the
//! request's `input` recorded, the scripted answer wrapped as `{"result": …}`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;

/// OPA's data API path for the example policy's decision.
pub(crate) const OPA_PATH: &str = "/v1/data/vcd/blockd/decision";

/// What the stand-in answers one request with.
#[derive(Clone, Debug)]
pub(crate) enum Reply {
    /// 200 with `{"decision", "message"}` (OPA mode: `{"result": {…}}`).
    Decide(&'static str, Option<&'static str>),
    /// OPA mode: `{"result": "<decision>"}`, a bare string.
    Bare(&'static str),
    /// This status, with an empty JSON object.
    Status(u16),
    /// 302 to another path of the stand-in, which answers resume (never to be followed).
    Redirect,
    /// 200 with a well-formed answer of 100 KiB.
    Huge,
    /// 200 with an HTML error page.
    Garbage,
    /// `Reply` after a delay.
    Late(Duration, Box<Reply>),
}

/// One request as the stand-in received it.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    pub path: String,
    /// The body (OPA mode: its `input`).
    pub body: Value,
    /// `Some(true)` when the signature header matched the body under the stand-in's key.
    pub signed: Option<bool>,
}

type Script = Box<dyn Fn(&Value) -> Reply + Send + Sync>;

struct Shared {
    opa: bool,
    key: Option<String>,
    requests: Mutex<Vec<Request>>,
    script: Script,
}

pub(crate) struct DecisionService {
    /// Where the daemon POSTs; its path holds a secret that must never be logged.
    pub url: String,
    /// The secret part of `url`.
    pub secret: String,
    shared: Arc<Shared>,
}

impl DecisionService {
    /// A `vcd-blockd` format service that answers `script(request body)`.
    pub(crate) async fn start(script: impl Fn(&Value) -> Reply + Send + Sync + 'static) -> Self {
        DecisionService::serve(false, None, Box::new(script)).await
    }

    /// As [`start`](Self::start), verifying signatures made with `key`.
    pub(crate) async fn signed(
        key: &str,
        script: impl Fn(&Value) -> Reply + Send + Sync + 'static,
    ) -> Self {
        DecisionService::serve(false, Some(key.to_owned()), Box::new(script)).await
    }

    /// An OPA data API answering at [`OPA_PATH`] with `script(input)`.
    pub(crate) async fn opa(script: impl Fn(&Value) -> Reply + Send + Sync + 'static) -> Self {
        DecisionService::serve(true, None, Box::new(script)).await
    }

    async fn serve(opa: bool, key: Option<String>, script: Script) -> Self {
        let secret = format!("ask-s3cret-{}", Uuid::new_v4().simple());
        let shared = Arc::new(Shared {
            opa,
            key,
            requests: Mutex::new(Vec::new()),
            script,
        });
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let url = if opa {
            format!("http://{address}{OPA_PATH}?token={secret}")
        } else {
            format!("http://{address}/decide/{secret}")
        };
        DecisionService {
            url,
            secret,
            shared,
        }
    }

    /// Every request so far, in arrival order.
    pub(crate) fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The requests about task `id`.
    pub(crate) fn requests_about(&self, id: Uuid) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.body["task_id"] == id.to_string())
            .collect()
    }
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if uri.path().starts_with("/redirected") {
        return axum::Json(json!({"decision": "resume"})).into_response();
    }
    if shared.opa && uri.path() != OPA_PATH {
        return StatusCode::NOT_FOUND.into_response();
    }
    let signed = shared.key.as_ref().map(|key| {
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(&body);
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        headers
            .get("x-vcd-blockd-signature")
            .is_some_and(|got| got.as_bytes() == expected.as_bytes())
    });
    let Ok(mut parsed) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if shared.opa {
        parsed = parsed["input"].take();
    }
    let reply = (shared.script)(&parsed);
    shared.requests.lock().unwrap().push(Request {
        path: uri.path().to_owned(),
        body: parsed,
        signed,
    });
    respond(shared.opa, reply).await
}

async fn respond(opa: bool, mut reply: Reply) -> Response {
    while let Reply::Late(delay, inner) = reply {
        tokio::time::sleep(delay).await;
        reply = *inner;
    }
    let wrap = |answer: Value| {
        if opa {
            json!({ "result": answer })
        } else {
            answer
        }
    };
    match reply {
        Reply::Decide(decision, message) => {
            axum::Json(wrap(json!({"decision": decision, "message": message}))).into_response()
        }
        Reply::Bare(decision) => axum::Json(json!({ "result": decision })).into_response(),
        Reply::Status(code) => {
            (StatusCode::from_u16(code).unwrap(), axum::Json(json!({}))).into_response()
        }
        Reply::Redirect => (StatusCode::FOUND, [("location", "/redirected")], "").into_response(),
        Reply::Huge => {
            let message = "x".repeat(100 * 1024);
            axum::Json(wrap(json!({"decision": "resume", "message": message}))).into_response()
        }
        Reply::Garbage => (
            StatusCode::OK,
            [("content-type", "text/html")],
            "<html><body>502 Bad Gateway</body></html>",
        )
            .into_response(),
        Reply::Late(..) => unreachable!("unwrapped above"),
    }
}
