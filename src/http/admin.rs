//! The admin API for held tasks: list them, approve (resume) or reject (abort/fail) one, the
//! latest decisions (`/v1/decisions`), and `whoami`. Every route needs `Authorization: Bearer <token>`, the admin token or an
//! approver's; the token names the approver, who sees only the tasks of their orgs. Approvals
//! answer after vCD accepted. An instance that stands by forwards the calls to the leader.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::HttpState;
use super::refusals::{self, Refusal, Refusals};
use crate::admin::{self, Call};
use crate::approvers::{Approver, TokenHash};

pub(crate) fn routes(state: HttpState) -> Router<HttpState> {
    let guard = Guard {
        state,
        refusals: Arc::default(),
    };
    Router::new()
        .route("/v1/holds", get(list))
        .route("/v1/holds/{id}/approve", post(approve))
        .route("/v1/holds/{id}/reject", post(reject))
        .route("/v1/decisions", get(decisions))
        .route("/v1/whoami", get(whoami))
        .route_layer(middleware::from_fn_with_state(guard, require_token))
        .layer(middleware::map_response(no_store))
}

/// What the token check needs: the shared state, and the refusals per source address.
#[derive(Clone)]
struct Guard {
    state: HttpState,
    refusals: Arc<Refusals>,
}

/// Answers about held tasks and tokens are never kept by a browser or a proxy.
async fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// The token of an `Authorization: Bearer <token>` header; the scheme name is matched without
/// regard to case (RFC 9110 §11.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
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
/// is none (counted, and logged once per burst with the source address), 429 while the source
/// backs off after many refusals.
async fn require_token(State(guard): State<Guard>, mut request: Request, next: Next) -> Response {
    let source = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    let now = Instant::now();
    if source.is_some_and(|source| guard.refusals.backing_off(source, now)) {
        return too_many_refusals();
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    let caller = presented
        .map(|token| TokenHash::of(token.as_bytes()))
        .zip(guard.state.approvers.as_ref())
        .and_then(|(token, approvers)| {
            let approver = approvers.find_hash(&token)?;
            Some(Caller { approver, token })
        });
    match caller {
        Some(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        None => {
            guard.state.metrics.admin_auth_failure();
            if let Some(source) = source
                && guard.refusals.refused(source, now) == Refusal::FirstOfBurst
            {
                tracing::warn!(
                    %source,
                    "admin API: a missing or unknown bearer token was refused (more from this \
                     address within a minute are only counted, in admin_auth_failures_total)"
                );
            }
            problem(StatusCode::UNAUTHORIZED, "bearer token missing or unknown")
        }
    }
}

/// 429 with `Retry-After`, for a source refused many times in a row.
fn too_many_refusals() -> Response {
    let mut response = problem(
        StatusCode::TOO_MANY_REQUESTS,
        "too many refused tokens from this address; wait and try again",
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from(refusals::BACK_OFF.as_secs()),
    );
    response
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

/// The latest decisions of the approver's orgs, newest first, from the journal:
/// `GET /v1/decisions?since=RFC3339&limit=N`; 400 for a parameter that cannot be read.
async fn decisions(
    State(state): State<HttpState>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Response {
    let (mut since, mut limit) = (None, None);
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "since" => since = Some(value.into_owned()),
            "limit" => match value.parse::<usize>() {
                Ok(value) => limit = Some(value),
                Err(_) => {
                    return problem(
                        StatusCode::BAD_REQUEST,
                        &format!("limit: {value:?} is not a number of decisions"),
                    );
                }
            },
            other => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    &format!("unknown parameter {other:?}; use since and limit"),
                );
            }
        }
    }
    run(&state, &caller, Call::Decisions { since, limit }).await
}

async fn approve(
    State(state): State<HttpState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    decide(&state, &caller, id, &body, Verdict::Approve).await
}

async fn reject(
    State(state): State<HttpState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    decide(&state, &caller, id, &body, Verdict::Reject).await
}

/// Which of the two decisions a route makes.
#[derive(Clone, Copy)]
enum Verdict {
    Approve,
    Reject,
}

/// Approves or rejects task `id` with the optional JSON `body`; 400 for a body that cannot
/// be read or a message over the bound, before anything is forwarded.
async fn decide(
    state: &HttpState,
    caller: &Caller,
    id: String,
    body: &[u8],
    verdict: Verdict,
) -> Response {
    let request = match parse(body) {
        Ok(request) => request,
        Err(message) => return problem(StatusCode::BAD_REQUEST, &message),
    };
    let message = request.message;
    let call = match verdict {
        Verdict::Approve => Call::Approve { id, message },
        Verdict::Reject => Call::Reject {
            id,
            action: request.action,
            message,
        },
    };
    if let Err(answer) = call.check() {
        return reply(answer);
    }
    run(state, caller, call).await
}

/// Runs the call here when this instance leads, else forwards it to the leader.
async fn run(state: &HttpState, caller: &Caller, call: Call) -> Response {
    let answer = match &state.forwarder {
        Some(forwarder) if !state.leadership.is_leader() => {
            forwarder.forward(&caller.token, call).await
        }
        _ => admin::execute(&state.engine, &caller.approver, call).await,
    };
    reply(answer)
}

fn reply(answer: admin::Answer) -> Response {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_matched_without_regard_to_case() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("BEARER  abc"), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearerabc"), None);
    }
}
