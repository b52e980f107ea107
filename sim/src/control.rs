//! The JSON control endpoints under `/sim/` that drive the sim from a demo or another process:
//! create tasks, inspect tasks and calls, load a task history, set faults, expire sessions.
//! They are not recorded.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::json;
use uuid::Uuid;

use crate::error::SimError;
use crate::history::PastTask;
use crate::model::{Faults, NewTask};
use crate::shared::Shared;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/sim/tasks", post(create_task).get(list_tasks))
        .route("/sim/tasks/{id}", get(one_task))
        .route("/sim/calls", get(calls))
        .route("/sim/load", get(load))
        .route("/sim/history", post(load_history))
        .route("/sim/faults", put(set_faults))
        .route("/sim/sessions/expire", post(expire_sessions))
}

async fn create_task(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let new: NewTask = match json_or_default(&body) {
        Ok(new) => new,
        Err(error) => return problem(StatusCode::BAD_REQUEST, &error),
    };
    match shared.create_task(new).await {
        Ok(id) => (StatusCode::CREATED, Json(json!({ "id": id }))).into_response(),
        Err(error @ SimError::InvalidTask(_)) => problem(StatusCode::BAD_REQUEST, &error),
        Err(error @ SimError::NotBlocking(_)) => problem(StatusCode::CONFLICT, &error),
        Err(error) => problem(StatusCode::BAD_GATEWAY, &error),
    }
}

async fn list_tasks(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.task_views()).into_response()
}

async fn one_task(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let view = Uuid::parse_str(&id)
        .ok()
        .and_then(|id| shared.task_view(id));
    match view {
        Some(view) => Json(view).into_response(),
        None => problem(StatusCode::NOT_FOUND, &format!("no task {id}")),
    }
}

async fn calls(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.calls()).into_response()
}

async fn load(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.load.view()).into_response()
}

/// `POST /sim/history` with a JSON array of past tasks ([`PastTask`]): added to the task
/// history `adminTask` queries list.
async fn load_history(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let tasks: Vec<PastTask> = match json_or_default(&body) {
        Ok(tasks) => tasks,
        Err(error) => return problem(StatusCode::BAD_REQUEST, &error),
    };
    let loaded = tasks.len();
    shared.state().load_history(tasks);
    (StatusCode::OK, Json(json!({ "loaded": loaded }))).into_response()
}

async fn set_faults(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let faults: Faults = match json_or_default(&body) {
        Ok(faults) => faults,
        Err(error) => return problem(StatusCode::BAD_REQUEST, &error),
    };
    if let Err(message) = faults.check() {
        return problem(StatusCode::BAD_REQUEST, &message);
    }
    shared.set_faults(faults);
    StatusCode::NO_CONTENT.into_response()
}

async fn expire_sessions(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.expire_sessions();
    StatusCode::NO_CONTENT
}

/// The JSON body, or the type's defaults for an empty body.
fn json_or_default<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, serde_json::Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
}

fn problem(status: StatusCode, error: &dyn std::fmt::Display) -> Response {
    (status, Json(json!({ "error": error.to_string() }))).into_response()
}
