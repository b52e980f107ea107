//! The HTTP listeners: `/livez`, `/readyz`, `/metrics`, and, when an admin token or an
//! approvers file is configured, the admin API for held tasks under `/v1/` and the approvals page `/ui/`,
//! on `listen` or on their own `admin_listen` (optionally HTTPS). Handlers are thin: they read
//! shared state or call the engine, and format the answer.

pub(crate) mod admin;
mod ui;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_server::tls_rustls::RustlsConfig;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::approvers::Approvers;
use crate::config::{HttpSettings, TlsFiles};
use crate::engine::Engine;
use crate::health::Health;
use crate::leadership::Leadership;
use crate::liveness::Liveness;
use crate::metrics::Metrics;
use crate::source::amqp::forward::Forwarder;

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct HttpState {
    pub health: Arc<Health>,
    pub metrics: Arc<Metrics>,
    pub engine: Arc<Engine>,
    /// Who may use the admin API; `None` turns it off.
    pub approvers: Option<Arc<Approvers>>,
    pub leadership: Arc<Leadership>,
    /// The long-running loops' heartbeats, which `/livez` reads.
    pub liveness: Arc<Liveness>,
    /// Forwards admin calls to the leader while this instance stands by; `None` without a
    /// broker (the instance always leads).
    pub forwarder: Option<Arc<Forwarder>>,
}

/// The bound listeners: their addresses, and the servers, which run until the shutdown token
/// given to [`bind`] is cancelled.
pub(crate) struct Listeners {
    /// `/livez`, `/readyz`, `/metrics` (and the admin API without `admin_listen`).
    pub address: SocketAddr,
    /// Where the admin API answers: `address` unless `admin_listen` is set.
    pub admin_address: SocketAddr,
    pub servers: Vec<Server>,
}

/// A listener that could not be set up.
#[derive(Debug)]
pub(crate) struct BindError {
    pub address: SocketAddr,
    pub source: std::io::Error,
}

/// How long in-flight admin requests may take to finish once the daemon stops.
const ADMIN_GRACE: Duration = Duration::from_secs(5);

/// Binds `settings.listen` and, when set, `settings.admin_listen` (HTTPS with `settings.tls`);
/// port 0 picks a free port.
pub(crate) async fn bind(
    settings: &HttpSettings,
    state: HttpState,
    shutdown: CancellationToken,
) -> Result<Listeners, BindError> {
    let probes = Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text));
    let admin = state
        .approvers
        .is_some()
        .then(|| admin::routes(state.clone()).merge(ui::routes()));
    let (main, separate_admin) = match (settings.admin_listen, admin) {
        (None, Some(admin)) => (probes.merge(admin), None),
        (None, None) => (probes, None),
        (Some(address), admin) => (probes, Some((address, admin.unwrap_or_default()))),
    };
    let (address, main) = serve_plain(
        settings.listen,
        main.with_state(state.clone()),
        shutdown.clone(),
    )
    .await?;
    let mut servers = vec![main];
    let mut admin_address = address;
    if let Some((listen, routes)) = separate_admin {
        let app = routes.with_state(state);
        let (bound, server) = match &settings.tls {
            None => serve_plain(listen, app, shutdown).await?,
            Some(tls) => serve_tls(listen, tls, app, shutdown).await?,
        };
        admin_address = bound;
        servers.push(server);
    }
    Ok(Listeners {
        address,
        admin_address,
        servers,
    })
}

type Server = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;

async fn serve_plain(
    listen: SocketAddr,
    app: Router,
    shutdown: CancellationToken,
) -> Result<(SocketAddr, Server), BindError> {
    let error = |source| BindError {
        address: listen,
        source,
    };
    let listener = TcpListener::bind(listen).await.map_err(error)?;
    let address = listener.local_addr().map_err(error)?;
    let server = async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
    };
    Ok((address, Box::pin(server)))
}

/// HTTPS with rustls (ring), the certificate chain and key read from PEM files.
async fn serve_tls(
    listen: SocketAddr,
    tls: &TlsFiles,
    app: Router,
    shutdown: CancellationToken,
) -> Result<(SocketAddr, Server), BindError> {
    let error = |source| BindError {
        address: listen,
        source,
    };
    crate::tls::install_crypto_provider();
    let config = RustlsConfig::from_pem_file(&tls.cert, &tls.key)
        .await
        .map_err(error)?;
    let listener = std::net::TcpListener::bind(listen).map_err(error)?;
    let address = listener.local_addr().map_err(error)?;
    let handle = axum_server::Handle::new();
    let server = axum_server::from_tcp_rustls(listener, config)
        .map_err(error)?
        .handle(handle.clone())
        .serve(app.into_make_service());
    // A server that fails ends at once (and is logged); otherwise it runs until shutdown,
    // then finishes in-flight requests within the grace.
    let server = async move {
        tokio::pin!(server);
        tokio::select! {
            served = &mut server => served,
            () = shutdown.cancelled() => {
                handle.graceful_shutdown(Some(ADMIN_GRACE));
                server.await
            }
        }
    };
    Ok((address, Box::pin(server)))
}

/// 200 while every long-running loop makes progress (they beat while waiting on RabbitMQ or
/// vCD too, so neither is checked); 503 naming the loop that is stuck, so that Kubernetes
/// restarts the daemon as systemd's watchdog would.
async fn livez(State(state): State<HttpState>) -> Response {
    match state.liveness.stale(std::time::Instant::now()) {
        None => "ok\n".into_response(),
        Some(stuck) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "stuck: the {} loop made no progress for {} s\n",
                stuck,
                state.liveness.stale_after().as_secs()
            ),
        )
            .into_response(),
    }
}

/// Ready or not, with the reasons, and this instance's role (`leader` or `standby`).
async fn readyz(State(state): State<HttpState>) -> Response {
    let role = state.leadership.role().label();
    match state.health.readiness() {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"ready": true, "role": role})),
        )
            .into_response(),
        Err(reasons) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"ready": false, "reasons": reasons, "role": role})),
        )
            .into_response(),
    }
}

async fn metrics_text(State(state): State<HttpState>) -> Response {
    let deadline = state.engine.holds.earliest_deadline();
    state.metrics.hold_next_deadline(deadline);
    (
        [(
            header::CONTENT_TYPE,
            // prometheus-client writes OpenMetrics (`_total` samples, `# EOF`).
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
