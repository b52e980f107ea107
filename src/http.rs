//! The HTTP listeners: `/livez`, `/readyz`, `/metrics`, and, when an admin token or an
//! approvers file is configured, the admin API for held tasks under `/v1/` and the approvals page `/ui/`,
//! on `listen` or on their own `admin_listen` (optionally HTTPS). Handlers are thin: they read
//! shared state or call the engine, and format the answer.

pub(crate) mod admin;
mod refusals;
mod serve;
pub(crate) mod slack;
mod ui;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::{TcpListener, TcpSocket};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::approvers::Approvers;
use crate::config::{HttpSettings, TlsFiles};
use crate::engine::Engine;
use crate::health::Health;
use crate::leadership::{Leadership, Role};
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
    /// `POST /v1/slack/interactions`; `None` without `[slack] signing_secret_file`.
    pub slack: Option<Arc<slack::SlackRoute>>,
}

/// The bound listeners: their addresses, and the servers, which run until the shutdown token
/// given to [`bind`] is cancelled, then finish in-flight requests within a grace.
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

/// Binds `settings.listen` and, when set, `settings.admin_listen` (HTTPS with `settings.tls`);
/// port 0 picks a free port. Both listeners are served within the same bounds (`serve`).
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
        .then(|| admin::routes(state.clone()).merge(ui::routes()))
        .map(|admin| match &state.slack {
            Some(_) => admin.merge(slack::routes()),
            None => admin,
        });
    let (main, separate_admin) = match (settings.admin_listen, admin) {
        (None, Some(admin)) => (probes.merge(admin), None),
        (None, None) => (probes, None),
        (Some(address), admin) => (probes, Some((address, admin.unwrap_or_default()))),
    };
    let (address, main) = listen(
        settings.listen,
        None,
        main.with_state(state.clone()),
        settings.max_connections,
        shutdown.clone(),
    )
    .await?;
    let mut servers = vec![main];
    let mut admin_address = address;
    if let Some((address, routes)) = separate_admin {
        let mut app = routes.with_state(state);
        if settings.tls.is_some() {
            app = app.layer(middleware::map_response(strict_transport_security));
        }
        let (bound, server) = listen(
            address,
            settings.tls.as_ref(),
            app,
            settings.max_connections,
            shutdown,
        )
        .await?;
        admin_address = bound;
        servers.push(server);
    }
    Ok(Listeners {
        address,
        admin_address,
        servers,
    })
}

type Server = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Binds `address` and returns the bound address and the server, HTTPS with `tls`.
async fn listen(
    address: SocketAddr,
    tls: Option<&TlsFiles>,
    app: Router,
    max_connections: usize,
    shutdown: CancellationToken,
) -> Result<(SocketAddr, Server), BindError> {
    let error = |source| BindError { address, source };
    let tls = match tls {
        None => None,
        Some(files) => Some(tls_acceptor(files).map_err(error)?),
    };
    let socket = bind_socket(address).map_err(error)?;
    let bound = socket.local_addr().map_err(error)?;
    let listener = serve::Listener {
        socket,
        app,
        tls,
        max_connections,
    };
    Ok((bound, Box::pin(serve::serve(listener, shutdown))))
}

/// Clients beyond `max_connections` wait in the kernel's queue of this many connections (the
/// usual `somaxconn` cap; Rust's own default of 128 would refuse a burst of approvers sooner).
const BACKLOG: u32 = 1024;

fn bind_socket(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match address {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(BACKLOG)
}

/// HTTPS with rustls (ring): the certificate chain and key read from PEM files, HTTP/1.1 only.
fn tls_acceptor(files: &TlsFiles) -> std::io::Result<TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let invalid = |error: &dyn std::fmt::Display| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, error.to_string())
    };
    crate::tls::install_crypto_provider();
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid(&e))?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| invalid(&e))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| invalid(&e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Browsers that reached the admin listener over HTTPS keep to HTTPS for a year.
async fn strict_transport_security(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::STRICT_TRANSPORT_SECURITY,
        header::HeaderValue::from_static("max-age=31536000"),
    );
    response
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

/// Ready or not, with the reasons, and this instance's role (`leader` or `standby`). A standby
/// that cannot reach a signed leader (no cluster secret, or none heard for 60 s) is not ready:
/// it could not serve the admin API.
async fn readyz(State(state): State<HttpState>) -> Response {
    let role = state.leadership.role();
    let mut readiness = state.health.readiness();
    let unheard = match (&state.forwarder, role) {
        (Some(forwarder), Role::Standby) => forwarder.unheard(state.approvers.is_some()),
        _ => None,
    };
    if let Some(reason) = unheard {
        readiness = Err(readiness
            .err()
            .unwrap_or_default()
            .into_iter()
            .chain([reason])
            .collect());
    }
    let role = state.leadership.standing();
    match readiness {
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
