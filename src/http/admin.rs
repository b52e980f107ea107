//! The admin API for held tasks: list them, approve (resume) or reject (abort/fail) one. Every
//! route needs `Authorization: Bearer <admin token>`; approvals answer after vCD accepted.

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::HttpState;
use crate::engine::{HeldTask, HoldError};
use crate::task::FinalAction;
use crate::task::TaskId;

/// The approver the admin token stands for (DESIGN §5a).
const ADMIN_APPROVER: &str = "admin";

pub(crate) fn routes(state: HttpState) -> Router<HttpState> {
    Router::new()
        .route("/v1/holds", get(list))
        .route("/v1/holds/{id}/approve", post(approve))
        .route("/v1/holds/{id}/reject", post(reject))
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

async fn require_token(State(state): State<HttpState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let expected = state
        .admin_token
        .as_ref()
        .map(|t| t.expose_secret().as_bytes());
    match (presented, expected) {
        (Some(presented), Some(expected)) if constant_time_eq(presented.as_bytes(), expected) => {
            next.run(request).await
        }
        _ => problem(StatusCode::UNAUTHORIZED, "admin token missing or wrong"),
    }
}

/// Compares without stopping at the first difference, so timing tells nothing about the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn list(State(state): State<HttpState>) -> Json<Vec<HoldView>> {
    Json(
        state
            .engine
            .holds
            .list()
            .iter()
            .map(HoldView::from)
            .collect(),
    )
}

async fn approve(State(state): State<HttpState>, Path(id): Path<String>, body: Bytes) -> Response {
    let (id, request) = match parse(&id, &body) {
        Ok(parsed) => parsed,
        Err(message) => return problem(StatusCode::BAD_REQUEST, &message),
    };
    let result = state
        .engine
        .approve(id, Some(ADMIN_APPROVER), request.message)
        .await;
    answer(id, FinalAction::Resume, result)
}

async fn reject(State(state): State<HttpState>, Path(id): Path<String>, body: Bytes) -> Response {
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
        .reject(id, action, Some(ADMIN_APPROVER), request.message)
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
                HoldError::Vcd(_) => StatusCode::BAD_GATEWAY,
            };
            problem(status, &error.to_string())
        }
    }
}

fn problem(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({"error": message}))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison_needs_every_byte() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret", b"s3creT"));
        assert!(!constant_time_eq(b"s3cret", b"s3cret!"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
