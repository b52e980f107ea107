//! The vCD API routes: versions, logins, the blocking-task reads, the listing and the four
//! actions. Handlers are thin: they check the request the way vCD does, change the state under
//! its lock, and render an answer.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::{Duration, Utc};
use uuid::Uuid;

use crate::auth::{self, XmlApi};
use crate::model::{Decision, Unreadable};
use crate::params;
use crate::record::record_and_inject_faults;
use crate::reply::{ApiError, Format, require_content_type, typed, utf8};
use crate::shared::Shared;
use crate::task::ActionOutcome;
use crate::versions::ApiVersion;
use crate::{control, owner_api, query, settings_api, xml};

const ENTITY_URN_PREFIX: &str = "urn:vcloud:blockingTask:";
const NOT_ACTIVE: &str =
    "The requested operation could not be executed since the blocking task is not active.";
/// What a login proxy in front of vCD answers with status 200 (`Unreadable::Html`).
const PROXY_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\n\
    <body><form method=\"post\" action=\"/login\"><input name=\"user\"></form></body></html>\n";
/// The answer to an action refused by the `refuse_actions` fault.
const ACTION_REFUSED: &str =
    "The blocking task action was refused: the operation is locked by another task.";
/// The answer to a keepalive refused by the `refuse_update_progress` fault.
const KEEPALIVE_REFUSED: &str = "The progress of the blocking task could not be updated.";

/// The whole HTTP application: recorded vCD routes plus the unrecorded `/sim/` control routes.
pub(crate) fn app(shared: Arc<Shared>) -> Router {
    let vcd = Router::new()
        .route("/api/versions", get(versions))
        .route("/api/sessions", post(auth::legacy_login))
        .route("/api/session", delete(auth::legacy_logout))
        .route(
            "/cloudapi/1.0.0/sessions/provider",
            post(auth::provider_login),
        )
        .route(
            "/cloudapi/1.0.0/sessions/current",
            delete(auth::cloudapi_logout),
        )
        .route("/oauth/provider/token", post(auth::token_exchange))
        .route("/api/admin/extension/blockingTasks", get(list_tasks))
        .route("/api/admin/extension/blockingTasks/", get(list_tasks))
        .route("/api/admin/extension/blockingTask/{id}", get(get_task))
        .route(
            "/api/admin/extension/blockingTask/{id}/action/{action}",
            post(act),
        )
        .route(
            "/api/admin/extension/settings/blockingTask",
            get(settings_api::get_blocking).put(settings_api::put_blocking),
        )
        .route(
            "/api/admin/extension/settings/amqp",
            get(settings_api::get_amqp),
        )
        .route(
            "/api/admin/extension/settings/notifications",
            get(settings_api::get_notifications),
        )
        .route("/api/query", get(query::query))
        .route("/api/entity/{urn}", get(resolve_entity))
        .route("/api/vApp/{reference}", get(owner_api::vapp_or_vm))
        .route("/api/vApp/{reference}/metadata", get(owner_api::metadata))
        .route("/api/media/{id}", get(owner_api::media))
        .route("/api/media/{id}/metadata", get(owner_api::metadata))
        .route("/api/vdc/{id}", get(owner_api::vdc))
        .fallback(unknown)
        .layer(from_fn_with_state(
            Arc::clone(&shared),
            record_and_inject_faults,
        ));
    vcd.merge(control::routes()).with_state(shared)
}

async fn versions(State(shared): State<Arc<Shared>>) -> Response {
    let body = xml::versions(&shared.base_url, &shared.ladder);
    typed(StatusCode::OK, xml::VERSIONS_TYPE, None, body)
}

async fn unknown(uri: Uri) -> ApiError {
    ApiError::not_found("The requested resource does not exist.")
        .format(Format::for_path(uri.path()))
}

async fn get_task(
    State(shared): State<Arc<Shared>>,
    XmlApi(auth): XmlApi,
    Path(id): Path<String>,
) -> Response {
    let result = parse_id(&id).and_then(|id| read_task(&shared, id, &auth.version));
    result.unwrap_or_else(|error| error.version(&auth.version).into_response())
}

/// `GET /api/entity/urn:vcloud:blockingTask:<uuid>`: the same document as the direct GET.
async fn resolve_entity(
    State(shared): State<Arc<Shared>>,
    XmlApi(auth): XmlApi,
    Path(urn): Path<String>,
) -> Response {
    let result = strip_prefix_ignore_case(&urn, ENTITY_URN_PREFIX)
        .ok_or_else(|| ApiError::not_found(format!("No entity {urn:?} is known.")))
        .and_then(parse_id)
        .and_then(|id| read_task(&shared, id, &auth.version));
    result.unwrap_or_else(|error| error.version(&auth.version).into_response())
}

fn read_task(shared: &Shared, id: Uuid, version: &ApiVersion) -> Result<Response, ApiError> {
    let (task, unreadable) = {
        let mut state = shared.state();
        let unreadable = state.faults.unreadable_tasks.get(&id).copied();
        (
            state.read_task(id).ok_or_else(|| not_found(id))?,
            unreadable,
        )
    };
    let body = xml::blocking_task(&shared.base_url, &task);
    Ok(match unreadable {
        None => typed(StatusCode::OK, xml::BLOCKING_TASK_TYPE, Some(version), body),
        Some(Unreadable::Html) => typed(
            StatusCode::OK,
            "text/html; charset=utf-8",
            None,
            PROXY_PAGE.to_owned(),
        ),
        Some(Unreadable::Truncated) => {
            let mut cut = body.len() / 2;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            typed(
                StatusCode::OK,
                xml::BLOCKING_TASK_TYPE,
                Some(version),
                body[..cut].to_owned(),
            )
        }
    })
}

/// `GET /api/admin/extension/blockingTasks/`: one Reference per active task.
async fn list_tasks(State(shared): State<Arc<Shared>>, XmlApi(auth): XmlApi) -> Response {
    let body = {
        let state = shared.state();
        let active = state.tasks().filter(|t| t.is_active());
        xml::references(&shared.base_url, state.faults.bad_list_entry, active)
    };
    typed(
        StatusCode::OK,
        xml::REFERENCES_TYPE,
        Some(&auth.version),
        body,
    )
}

/// `POST …/blockingTask/<uuid>/action/{resume|abort|fail|updateProgress}`
async fn act(
    State(shared): State<Arc<Shared>>,
    XmlApi(auth): XmlApi,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = parse_id(&id).and_then(|id| match (action.as_str(), Decision::parse(&action)) {
        ("updateProgress", _) => update_progress(&shared, id, &headers, &body, &auth.version),
        (_, Some(decision)) => decide(&shared, id, decision, &headers, &body),
        _ => Err(ApiError::not_found(format!(
            "There is no blocking task action {action:?}."
        ))),
    });
    result.unwrap_or_else(|error| error.version(&auth.version).into_response())
}

fn decide(
    shared: &Arc<Shared>,
    id: Uuid,
    decision: Decision,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    require_content_type(headers, xml::OPERATION_PARAMS_TYPE)?;
    let params =
        params::operation_params(utf8(body)?).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let (outcome, task) = {
        let mut state = shared.state();
        if state.task(id).is_some_and(|task| task.is_active()) && state.refuse_action() {
            tracing::info!(task_id = %id, action = decision.as_str(), "blocking task action refused (fault refuse_actions)");
            return Err(ApiError::bad_request(ACTION_REFUSED));
        }
        let task = state.task_mut(id).ok_or_else(|| not_found(id))?;
        let outcome = task.decide(decision, &params.message, Utc::now());
        (outcome, task.clone())
    };
    tracing::info!(task_id = %id, action = decision.as_str(), ?outcome, "blocking task action");
    match outcome {
        ActionOutcome::Applied => {
            shared.announce_later(decision.into(), task);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        ActionOutcome::Repeated => Ok(StatusCode::NO_CONTENT.into_response()),
        ActionOutcome::NotActive => Err(ApiError::bad_request(NOT_ACTIVE)),
    }
}

fn update_progress(
    shared: &Shared,
    id: Uuid,
    headers: &HeaderMap,
    body: &[u8],
    version: &ApiVersion,
) -> Result<Response, ApiError> {
    require_content_type(headers, xml::UPDATE_PROGRESS_PARAMS_TYPE)?;
    let params =
        params::progress_params(utf8(body)?).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let (accepted, task) = {
        let mut state = shared.state();
        let extend = match params.timeout_ms {
            // `progress_params` caps the value far below i64::MAX milliseconds.
            Some(ms) => Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX / 2)),
            // Without a value vCD applies the cloud's timeout, as its settings say now.
            None => state.blocking.timeout,
        };
        if state.task(id).is_some() && state.refuse_update_progress() {
            tracing::info!(task_id = %id, action = "updateProgress", "blocking task action refused (fault refuse_update_progress)");
            return Err(ApiError::bad_request(KEEPALIVE_REFUSED));
        }
        let task = state.task_mut(id).ok_or_else(|| not_found(id))?;
        let accepted = task.update_progress(&params.message, params.timeout_ms, extend, Utc::now());
        (accepted, task.clone())
    };
    tracing::info!(task_id = %id, action = "updateProgress", accepted, timeout_date = %task.timeout_date, "blocking task action");
    if !accepted {
        return Err(ApiError::bad_request(NOT_ACTIVE));
    }
    let body = xml::blocking_task(&shared.base_url, &task);
    Ok(typed(
        StatusCode::OK,
        xml::BLOCKING_TASK_TYPE,
        Some(version),
        body,
    ))
}

fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id)
        .map_err(|_| ApiError::bad_request(format!("{id:?} is not a blocking task id.")))
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!(
        "[ {id} ] No access to entity \"com.vmware.vcloud.entity.blockingTask:{id}\"."
    ))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}
