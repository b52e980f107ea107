//! The HTTP listener (DESIGN §5): `/livez`, `/readyz`, `/metrics`, and, when an admin token or
//! an approvers file is configured, the admin API for held tasks under `/v1/`. Handlers are thin: they read
//! shared state or call the engine, and format the answer.

pub(crate) mod admin;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::approvers::Approvers;
use crate::engine::Engine;
use crate::health::Health;
use crate::metrics::Metrics;

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct HttpState {
    pub health: Arc<Health>,
    pub metrics: Arc<Metrics>,
    pub engine: Arc<Engine>,
    /// Who may use the admin API; `None` turns it off.
    pub approvers: Option<Arc<Approvers>>,
}

/// Binds `listen` (port 0 picks a free port) and returns the bound address with the server
/// future, which runs until `shutdown`.
pub(crate) async fn bind(
    listen: SocketAddr,
    state: HttpState,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, impl Future<Output = std::io::Result<()>>)> {
    let listener = TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    let mut app = Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text));
    if state.approvers.is_some() {
        app = app.merge(admin::routes(state.clone()));
    }
    let app = app.with_state(state);
    let server = async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
    };
    Ok((address, server))
}

async fn readyz(State(state): State<HttpState>) -> Response {
    match state.health.readiness() {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"ready": true})),
        )
            .into_response(),
        Err(reasons) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"ready": false, "reasons": reasons})),
        )
            .into_response(),
    }
}

async fn metrics_text(State(state): State<HttpState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
