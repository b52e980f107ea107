//! The admin API for held tasks: list them, approve (resume) or reject (abort/fail) one, and
//! `whoami`. Every route needs `Authorization: Bearer <token>`, the admin token or an
//! approver's; the token names the approver, who sees only the tasks of their orgs. Approvals
//! answer after vCD accepted. An instance that stands by forwards the calls to the leader.

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::HttpState;
use crate::admin::{self, Call};
use crate::approvers::{Approver, TokenHash};

pub(crate) fn routes(state: HttpState) -> Router<HttpState> {
    Router::new()
        .route("/v1/holds", get(list))
        .route("/v1/holds/{id}/approve", post(approve))
        .route("/v1/holds/{id}/reject", post(reject))
        .route("/v1/whoami", get(whoami))
        .route_layer(middleware::from_fn_with_state(state, require_token))
}

/// Body of approve and reject; every field optional.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecisionRequest {
    pub message: Option<String>,
    /// `abort` (default) or `fail`; reject only.
    pub action: Option<String>,
}

/// Who called: the approver and the hash of the token they presented (what a forwarded call
/// carries in place of the token).
#[derive(Clone)]
struct Caller {
    approver: Arc<Approver>,
    token: TokenHash,
}

/// Finds the approver the bearer token belongs to and hands them to the route; 401 when there
/// is none.
async fn require_token(
    State(state): State<HttpState>,
    mut request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let caller = presented
        .map(|token| TokenHash::of(token.as_bytes()))
        .zip(state.approvers.as_ref())
        .and_then(|(token, approvers)| {
            let approver = approvers.find_hash(&token)?;
            Some(Caller { approver, token })
        });
    match caller {
        Some(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        None => problem(StatusCode::UNAUTHORIZED, "bearer token missing or unknown"),
    }
}

/// The approver the token names. `orgs` lists their org globs; `["*"]` means every org (the
/// admin token, and approvers without `orgs`).
async fn whoami(Extension(caller): Extension<Caller>) -> Json<serde_json::Value> {
    let approver = &caller.approver;
    Json(serde_json::json!({"name": approver.name(), "orgs": approver.org_globs()}))
}

/// The held tasks of the approver's orgs, oldest first.
async fn list(State(state): State<HttpState>, Extension(caller): Extension<Caller>) -> Response {
    run(&state, &caller, Call::List).await
}

async fn approve(
    State(state): State<HttpState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    match parse(&body) {
        Ok(request) => {
            let call = Call::Approve {
                id,
                message: request.message,
            };
            run(&state, &caller, call).await
        }
        Err(message) => problem(StatusCode::BAD_REQUEST, &message),
    }
}

async fn reject(
    State(state): State<HttpState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    match parse(&body) {
        Ok(request) => {
            let call = Call::Reject {
                id,
                action: request.action,
                message: request.message,
            };
            run(&state, &caller, call).await
        }
        Err(message) => problem(StatusCode::BAD_REQUEST, &message),
    }
}

/// Runs the call here when this instance leads, else forwards it to the leader.
async fn run(state: &HttpState, caller: &Caller, call: Call) -> Response {
    let answer = match &state.forwarder {
        Some(forwarder) if !state.leadership.is_leader() => {
            forwarder.forward(&caller.token, call).await
        }
        _ => admin::execute(&state.engine, &caller.approver, call).await,
    };
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    (status, Json(answer.body)).into_response()
}

/// The optional JSON body; the error is the 400 message.
fn parse(body: &[u8]) -> Result<DecisionRequest, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(DecisionRequest::default());
    }
    serde_json::from_slice(body).map_err(|e| format!("body: {e}"))
}

fn problem(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({"error": message}))).into_response()
}
