//! The admin API for held tasks: list them, approve (resume) or reject (abort/fail) one, and
//! `whoami`. Every route needs `Authorization: Bearer <token>`, the admin token or an
//! approver's; the token names the approver, who sees only the tasks of their orgs. Approvals
//! answer after vCD accepted.

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::HttpState;
use crate::approvers::Approver;
use crate::engine::{HeldTask, HoldError};
use crate::task::FinalAction;
use crate::task::TaskId;

pub(crate) fn routes(state: HttpState) -> Router<HttpState> {
    Router::new()
        .route("/v1/holds", get(list))
        .route("/v1/holds/{id}/approve", post(approve))
        .route("/v1/holds/{id}/reject", post(reject))
        .route("/v1/whoami", get(whoami))
        .route_layer(middleware::from_fn_with_state(state, require_token))
}

/// A held task as the API shows it.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct HoldView {
    pub id: String,
    pub operation: String,
    pub org: String,
    pub user: String,
    pub owner_name: String,
    pub rule: String,
    pub since: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub fallback: String,
    pub next_keepalive: DateTime<Utc>,
}

impl From<&HeldTask> for HoldView {
    fn from(hold: &HeldTask) -> HoldView {
        HoldView {
            id: hold.id.to_string(),
            operation: hold.operation.to_string(),
            org: hold.org.to_string(),
            user: hold.user.to_string(),
            owner_name: hold.owner_name.to_string(),
            rule: hold.rule.to_string(),
            since: hold.since,
            deadline: hold.deadline,
            fallback: hold.fallback.name().to_owned(),
            next_keepalive: hold.next_check.min(hold.deadline),
        }
    }
}

/// Body of approve and reject; every field optional.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecisionRequest {
    pub message: Option<String>,
    /// `abort` (default) or `fail`; reject only.
    pub action: Option<String>,
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
    let approver = presented
        .zip(state.approvers.as_ref())
        .and_then(|(token, approvers)| approvers.find(token));
    match approver {
        Some(approver) => {
            request.extensions_mut().insert(approver);
            next.run(request).await
        }
        None => problem(StatusCode::UNAUTHORIZED, "bearer token missing or unknown"),
    }
}

/// The approver the token names. `orgs` lists their org globs; `["*"]` means every org (the
/// admin token, and approvers without `orgs`).
async fn whoami(Extension(approver): Extension<Arc<Approver>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({"name": approver.name(), "orgs": approver.org_globs()}))
}

/// The held tasks of the approver's orgs, oldest first.
async fn list(
    State(state): State<HttpState>,
    Extension(approver): Extension<Arc<Approver>>,
) -> Json<Vec<HoldView>> {
    Json(
        state
            .engine
            .holds
            .list()
            .iter()
            .filter(|hold| approver.may_see(&hold.org))
            .map(HoldView::from)
            .collect(),
    )
}

async fn approve(
    State(state): State<HttpState>,
    Extension(approver): Extension<Arc<Approver>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let (id, request) = match parse(&id, &body) {
        Ok(parsed) => parsed,
        Err(message) => return problem(StatusCode::BAD_REQUEST, &message),
    };
    let result = state.engine.approve(id, &approver, request.message).await;
    answer(id, FinalAction::Resume, result)
}

async fn reject(
    State(state): State<HttpState>,
    Extension(approver): Extension<Arc<Approver>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let (id, request) = match parse(&id, &body) {
        Ok(parsed) => parsed,
        Err(message) => return problem(StatusCode::BAD_REQUEST, &message),
    };
    let action = match request.action.as_deref().unwrap_or("abort") {
        "abort" => FinalAction::Abort,
        "fail" => FinalAction::Fail,
        other => {
            return problem(
                StatusCode::BAD_REQUEST,
                &format!("action {other:?} is not abort or fail"),
            );
        }
    };
    let result = state
        .engine
        .reject(id, action, &approver, request.message)
        .await;
    answer(id, action, result)
}

/// The task id from the path and the optional JSON body; the error is the 400 message.
fn parse(id: &str, body: &[u8]) -> Result<(TaskId, DecisionRequest), String> {
    let id = TaskId::parse(id).map_err(|e| e.to_string())?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((id, DecisionRequest::default()));
    }
    let request = serde_json::from_slice(body).map_err(|e| format!("body: {e}"))?;
    Ok((id, request))
}

fn answer(id: TaskId, action: FinalAction, result: Result<(), HoldError>) -> Response {
    match result {
        Ok(()) => {
            Json(serde_json::json!({"id": id.to_string(), "action": action.name()})).into_response()
        }
        Err(error) => {
            let status = match &error {
                HoldError::Unknown(_) => StatusCode::NOT_FOUND,
                HoldError::NotHeld { .. } => StatusCode::CONFLICT,
                HoldError::NotARejection(_) => StatusCode::BAD_REQUEST,
                HoldError::Forbidden(_) => StatusCode::FORBIDDEN,
                HoldError::Vcd(_) => StatusCode::BAD_GATEWAY,
            };
            problem(status, &error.to_string())
        }
    }
}

fn problem(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({"error": message}))).into_response()
}
