//! vcd-sim: a stateful stand-in for VMware Cloud Director's blocking-task API. It serves the
//! vCloud REST subset vcd-blockd uses (versions, the three logins, blocking task reads, listing
//! and actions), publishes blocking-task notifications to RabbitMQ as vCD does, applies task
//! timeouts, records every call and injects faults on request.
//!
//! Start one with [`Sim::start`]; drive it through the returned handle or the `/sim/` control
//! endpoints.

mod api;
mod auth;
mod blocking;
mod clean;
mod config;
mod control;
mod error;
mod fiql;
mod history;
mod load;
mod model;
mod notification;
mod owner;
mod owner_api;
mod owner_xml;
mod params;
mod publish;
mod query;
mod record;
mod reply;
mod sessions;
mod settings_api;
mod shared;
mod state;
mod task;
mod ticker;
mod versions;
mod xml;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use uuid::Uuid;

pub use clean::clean_broker;
pub use config::SimConfig;
pub use error::SimError;
pub use history::{HistoryStatus, PastTask};
pub use load::LoadView;
pub use model::{
    ActionRecord, Call, Faults, NewTask, SimMedia, SimVdc, SimVm, TaskView, Unreadable,
};
pub use publish::PublishError;
pub use task::InvalidTask;

use config::Settings;
use publish::Publisher;
use shared::Shared;

/// How long `shutdown` waits for in-flight requests and publishes.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running sim. Cheap to clone; all clones drive the same simulated cloud.
#[derive(Clone)]
pub struct Sim {
    shared: Arc<Shared>,
}

impl Sim {
    /// Binds the HTTP listener, connects to the broker (publisher confirms on) and declares
    /// both exchanges topic+durable, and starts serving and the timeout ticker. Without an
    /// `amqp_url` there is no broker: the sim serves the API and publishes nothing, neither on
    /// creation nor after actions or timeouts.
    pub async fn start(config: SimConfig) -> Result<Sim, SimError> {
        let settings = Settings::validate(&config)?;
        let bind_error = |source| SimError::Bind {
            addr: config.listen,
            source,
        };
        let listener = TcpListener::bind(config.listen).await.map_err(bind_error)?;
        let base_url = base_url(listener.local_addr().map_err(bind_error)?);
        let publisher = match &settings.amqp_url {
            Some(url) => Some(
                Publisher::connect(
                    url.clone(),
                    settings.xml_exchange.clone(),
                    settings.json_exchange.clone(),
                )
                .await?,
            ),
            None => {
                tracing::info!("no AMQP URL: notifications are off, serving the API only");
                None
            }
        };
        let shared = Arc::new(Shared::new(settings, base_url, publisher));
        let app = api::app(Arc::clone(&shared));
        let cancel = shared.cancel.clone();
        shared.tracker.spawn(async move {
            let server =
                axum::serve(listener, app).with_graceful_shutdown(cancel.cancelled_owned());
            if let Err(error) = server.await {
                tracing::error!(%error, "HTTP server failed");
            }
        });
        shared.tracker.spawn(ticker::run(Arc::clone(&shared)));
        tracing::info!(base_url = %shared.base_url, api_version = %shared.ladder.top(), "vcd-sim started");
        Ok(Sim { shared })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// Registers an active blocking task and publishes its `blockingtask/create`
    /// notification (XML and JSON), returning once the broker confirmed both. If publishing
    /// fails the task still exists, as after a lost notification. A sim without a broker
    /// (no `amqp_url`) only registers the task.
    pub async fn create_task(&self, task: NewTask) -> Result<Uuid, SimError> {
        self.shared.create_task(task).await
    }

    /// Registers `count` active blocking tasks like `task` and publishes nothing, as if their
    /// notifications had been lost or sent before any consumer existed. Returns their ids in
    /// creation order. Only reconciliation (listing the active tasks) finds them.
    pub fn create_tasks_quietly(&self, count: usize, task: NewTask) -> Result<Vec<Uuid>, SimError> {
        self.shared.create_tasks_quietly(count, task)
    }

    /// Adds past tasks to the task history the query service's `adminTask` type lists, as
    /// if vCD had run them (they publish nothing and cannot be decided).
    pub fn load_history(&self, tasks: Vec<PastTask>) {
        self.shared.state().load_history(tasks);
    }

    pub fn task(&self, id: Uuid) -> Option<TaskView> {
        self.shared.task_view(id)
    }

    /// All tasks, in creation order.
    pub fn tasks(&self) -> Vec<TaskView> {
        self.shared.task_views()
    }

    /// Every vCD API request received, in arrival order (only the first
    /// [`SimConfig::call_log_limit`] when that is set).
    pub fn calls(&self) -> Vec<Call> {
        self.shared.calls()
    }

    /// Replaces the faults in force. An `error_rate_5xx` outside 0.0..=1.0 is clamped.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.set_faults(faults);
    }

    /// Sets the timeout of tasks created from now on, as an administrator's PUT of
    /// `…/settings/blockingTask` does; tasks already created keep their `timeoutDate`.
    /// A timeout too large for a date is an error ([`SimError::Config`]).
    pub fn set_task_timeout(&self, timeout: Duration) -> Result<(), SimError> {
        let timeout = chrono::Duration::from_std(timeout)
            .map_err(|_| SimError::Config("task timeout is too large".into()))?;
        self.shared.state().blocking.timeout = timeout;
        Ok(())
    }

    /// API requests under way now, the most at once so far, and how many were answered.
    pub fn load(&self) -> LoadView {
        self.shared.load.view()
    }

    /// Invalidates every issued session and token: their next use answers 401.
    pub fn expire_sessions(&self) {
        self.shared.expire_sessions();
    }

    /// Stops the HTTP server and the ticker, waits (briefly) for in-flight work, and closes
    /// the broker connection, if any. Calling it again does nothing.
    pub async fn shutdown(&self) {
        self.shared.cancel.cancel();
        self.shared.tracker.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.shared.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("shutdown grace period passed with work still running");
        }
        self.shared.close_broker().await;
    }
}

/// The URL clients use: a wildcard listen address is reached through loopback.
fn base_url(local: SocketAddr) -> String {
    let host = match local.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
        ip if ip.is_unspecified() => "[::1]".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        std::net::IpAddr::V4(ip) => ip.to_string(),
    };
    format!("http://{host}:{}", local.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_uses_loopback_for_wildcards() {
        assert_eq!(
            base_url("0.0.0.0:9440".parse().unwrap()),
            "http://127.0.0.1:9440"
        );
        assert_eq!(base_url("[::]:1".parse().unwrap()), "http://[::1]:1");
        assert_eq!(
            base_url("127.0.0.1:80".parse().unwrap()),
            "http://127.0.0.1:80"
        );
    }
}
