//! `POST /v1/slack/interactions`: Slack's interactivity requests, when
//! `[slack] signing_secret_file` is set (the alternative to Socket Mode). Authenticated by
//! Slack's `v0` signature, not a bearer token: a bad signature or a timestamp more than five
//! minutes off gets 401. The body is a form with one field, `payload` (the interaction's
//! JSON); it is answered 200 at once, as Slack wants within 3 s, and acted on after.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use secrecy::SecretString;

use super::HttpState;
use crate::slack::Desk;
use crate::slack::signature;

/// What the route needs: the desk that acts, and the secret that proves Slack sent it.
pub(crate) struct SlackRoute {
    pub desk: Arc<Desk>,
    pub signing_secret: SecretString,
}

pub(crate) fn routes() -> Router<HttpState> {
    Router::new().route("/v1/slack/interactions", post(interactions))
}

async fn interactions(State(state): State<HttpState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(slack) = state.slack.clone() else {
        return problem(
            StatusCode::NOT_FOUND,
            "slack.signing_secret_file is not set",
        );
    };
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let now = chrono::Utc::now().timestamp();
    if let Err(why) = signature::verify(
        &slack.signing_secret,
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        &body,
        now,
    ) {
        state.metrics.admin_auth_failure();
        tracing::warn!(%why, "a Slack interaction request was refused");
        return problem(StatusCode::UNAUTHORIZED, &why.to_string());
    }
    if !state.leadership.is_leader() {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "this instance stands by: point Slack's Request URL at the leader, or use Socket Mode",
        );
    }
    let payload = url::form_urlencoded::parse(&body)
        .find(|(key, _)| key == "payload")
        .and_then(|(_, value)| serde_json::from_str::<serde_json::Value>(&value).ok());
    let Some(payload) = payload else {
        return problem(
            StatusCode::BAD_REQUEST,
            "the body is not a form with a JSON payload",
        );
    };
    tokio::spawn(async move { slack.desk.handle(&payload, None).await });
    StatusCode::OK.into_response()
}

fn problem(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({"error": message}))).into_response()
}
