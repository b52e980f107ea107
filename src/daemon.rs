//! The running daemon: loads the policy, starts the HTTP listener, the vCD session keeper,
//! the hold scheduler and the sources (the AMQP session unless it polls, with no AMQP URL;
//! reconciliation), and stops them in order. Tests start it in-process through
//! [`Daemon::start`]; `vcd-blockd run` wraps it with signal handling.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::approvers::{self, Approvers, ApproversErrors};
use crate::ask::Services;
use crate::backoff::Backoff;
use crate::config::Settings;
use crate::engine::Engine;
use crate::health::Health;
use crate::journal::{Backend, FileJournal, Journal};
use crate::leadership::Leadership;
use crate::liveness::Liveness;
use crate::metrics::Metrics;
use crate::notify::{Deciders, Notifier, NotifyError};
use crate::policy::{Policy, PolicyErrors};
use crate::reload::Reloader;
use crate::slack::Slack;
use crate::source::Source;
use crate::source::amqp::AmqpSource;
use crate::source::amqp::forward::{CallDesk, Forwarder};
use crate::source::amqp::journal::{HISTORY_RETENTION, StreamJournal};
use crate::source::amqp::leader::leader_queue;
use crate::source::amqp::signing::SigningKey;
use crate::source::reconcile::Reconciler;
use crate::vcd::{VcdClient, VcdError};

/// How long a graceful stop may take in all: the AMQP grace for in-flight deliveries, the
/// other in-flight vCD calls and the logout. Below the unit's `TimeoutStopSec=30s`.
pub(crate) const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(25);
/// What a stop keeps back from the AMQP grace for closing the channel and logging out.
const AFTER_DELIVERIES: Duration = Duration::from_secs(5);
/// How long in-flight deliveries may take to finish once a stop begins.
const DELIVERY_GRACE: Duration = SHUTDOWN_DEADLINE.saturating_sub(AFTER_DELIVERIES);

/// Why the daemon could not start. Everything else is retried while running.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("policy {path}:\n{errors}")]
    Policy { path: String, errors: PolicyErrors },
    #[error("approvers file:\n{0}")]
    Approvers(ApproversErrors),
    #[error("vCD client: {0}")]
    Vcd(#[from] VcdError),
    #[error("{0}")]
    Webhooks(NotifyError),
    #[error("Slack: cannot build the HTTP client: {0}")]
    Slack(String),
    #[error("decision services: {0}")]
    Ask(String),
    #[error("cannot listen on {address}: {source}")]
    Http {
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// A started daemon. Dropping it does not stop it; call [`Daemon::stop`].
pub struct Daemon {
    pub health: Arc<Health>,
    pub metrics: Arc<Metrics>,
    pub engine: Arc<Engine>,
    /// Where `/livez`, `/readyz` and `/metrics` answer.
    pub http_address: SocketAddr,
    /// Where the admin API answers (`http_address` unless `[http] admin_listen` is set).
    pub admin_address: SocketAddr,
    /// The long-running loops' heartbeats, for the systemd watchdog.
    pub(crate) liveness: Arc<Liveness>,
    /// Whether this instance leads.
    pub(crate) leadership: Arc<Leadership>,
    pub(crate) reloader: Arc<Reloader>,
    /// Re-reads the approvers file and the admin token file; `None` without the admin API.
    approvers_watch: Option<Arc<approvers::Watch>>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    /// The running sources, by name.
    sources: Vec<(&'static str, JoinHandle<()>)>,
}

impl Daemon {
    pub async fn start(settings: Settings) -> Result<Daemon, StartError> {
        let metrics = Arc::new(Metrics::new());
        let mode = if settings.amqp.is_some() {
            "amqp"
        } else {
            "poll"
        };
        metrics.build_info(env!("CARGO_PKG_VERSION"), mode);
        let health = Arc::new(Health::default());
        // Without a broker there is nobody to share the work with: the daemon leads alone.
        let leadership = Arc::new(match &settings.amqp {
            Some(_) => Leadership::standby(metrics.leader.clone()),
            None => Leadership::alone(metrics.leader.clone()),
        });
        let liveness = Arc::new(Liveness::from_env());
        let fingerprint = Policy::fingerprint(&settings.policy.path);
        let policy = load_policy(&settings)?;
        let known = |name: &str| settings.ask.iter().any(|service| service.name == name);
        let unknown = policy.ask_errors(known);
        if !unknown.0.is_empty() {
            return Err(StartError::Policy {
                path: settings.policy.path.display().to_string(),
                errors: unknown,
            });
        }
        health.set_policy_loaded(true);
        metrics.policy_loaded(chrono::Utc::now());
        tracing::info!(path = %settings.policy.path.display(), rules = policy.rule_count(), mode = ?settings.policy.mode, "policy loaded");
        let vcd = Arc::new(VcdClient::new(
            &settings.vcd,
            metrics.clone(),
            health.clone(),
        )?);
        let access = load_approvers(&settings, &metrics)?;
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let deciders = Deciders {
            approvers: access.as_ref().map(|access| access.approvers.clone()),
            allow_self_approval: settings.holds.allow_self_approval,
        };
        let mut notifier = Notifier::start(
            &settings.notify,
            settings.http.public_url.as_ref(),
            &deciders,
            metrics.clone(),
            &tasks,
            &shutdown,
        )
        .map_err(StartError::Webhooks)?;
        // The journal: the broker's stream, or poll mode's file, read now (the stream is read
        // by each new leader).
        let stream = settings.amqp.as_ref().map(|amqp| {
            let longest_hold = policy.longest_hold().unwrap_or_default();
            Arc::new(StreamJournal::new(
                &amqp.queue,
                longest_hold + HISTORY_RETENTION,
            ))
        });
        let backend: Arc<dyn Backend> = match &stream {
            Some(stream) => stream.clone(),
            None => Arc::new(FileJournal::new(&settings.state.dir)),
        };
        let journal = Arc::new(Journal::new(backend, metrics.clone(), health.clone()));
        if stream.is_none() {
            // Read what the file holds, then make sure the next record can be written, so
            // that /readyz names an unwritable [state] dir from the start.
            match journal.replay().await {
                Ok(_) => {
                    let _ = journal.check().await;
                }
                Err(error) => {
                    tracing::error!(%error, "the journal could not be read: approvals are refused until it can be written");
                }
            }
        }
        let slack = settings
            .slack
            .as_ref()
            .map(|slack| {
                Slack::start(
                    slack,
                    settings.http.public_url.as_ref(),
                    metrics.clone(),
                    journal.clone(),
                    &tasks,
                    &shutdown,
                )
            })
            .transpose()
            .map_err(|error| {
                shutdown.cancel(); // stops what already runs: the webhook senders
                StartError::Slack(error)
            })?;
        if let Some(slack) = &slack {
            notifier = notifier.with_listener(slack.poster.clone());
        }
        let services = Services::new(&settings.ask, metrics.clone()).map_err(StartError::Ask)?;
        let engine = Engine::new(
            vcd.clone(),
            policy,
            settings.policy.mode,
            settings.holds.clone(),
            metrics.clone(),
            notifier,
            journal.clone(),
            leadership.clone(),
            Arc::new(services),
        );
        let lost = Arc::downgrade(&engine);
        journal.when_lost(move || {
            if let Some(engine) = lost.upgrade() {
                engine.forget_approvals();
            }
        });
        tasks.spawn(journal.watch(shutdown.clone()));
        let approvers_watch = access.as_ref().and_then(|access| access.watch.clone());
        if let Some(watch) = &approvers_watch {
            tasks.spawn(watch.clone().watch(shutdown.clone()));
        }
        let approvers = access.map(|access| access.approvers);
        // The policy's approver names are checked against the approvers file now and whenever
        // either is reloaded; unknown ones are warned about.
        let named = approvers
            .clone()
            .filter(|_| settings.http.approvers_file.is_some());
        if let Some(named) = &named {
            named.warn_unknown_in(&engine.policy());
            if let Some(watch) = &approvers_watch {
                let (named, engine) = (named.clone(), Arc::downgrade(&engine));
                watch.when_reloaded(move || {
                    if let Some(engine) = engine.upgrade() {
                        named.warn_unknown_in(&engine.policy());
                    }
                });
            }
        }
        let signing_key = settings.http.cluster_secret.as_ref().map(SigningKey::new);
        let forwarder = settings.amqp.as_ref().map(|amqp| {
            Arc::new(Forwarder::new(
                signing_key.clone(),
                leader_queue(&amqp.queue),
            ))
        });
        let desk = slack
            .as_ref()
            .map(|slack| slack.desk(engine.clone(), approvers.clone(), metrics.clone()));
        let slack_route = settings
            .slack
            .as_ref()
            .and_then(|slack| slack.signing_secret.clone())
            .zip(desk.clone())
            .map(|(signing_secret, desk)| {
                Arc::new(crate::http::slack::SlackRoute {
                    desk,
                    signing_secret,
                })
            });
        let state = crate::http::HttpState {
            health: health.clone(),
            metrics: metrics.clone(),
            engine: engine.clone(),
            approvers: approvers.clone(),
            leadership: leadership.clone(),
            liveness: liveness.clone(),
            forwarder: forwarder.clone(),
            slack: slack_route,
        };
        let listeners = crate::http::bind(&settings.http, state, shutdown.clone())
            .await
            .map_err(|error| {
                shutdown.cancel(); // stops what already runs: the webhook senders
                StartError::Http {
                    address: error.address,
                    source: error.source,
                }
            })?;
        for server in listeners.servers {
            tasks.spawn(server);
        }
        let (http_address, admin_address) = (listeners.address, listeners.admin_address);
        tracing::info!(address = %http_address, admin_address = %admin_address, "HTTP listeners up");
        tasks.spawn(keep_vcd_session(vcd, shutdown.clone()));
        tasks.spawn(
            engine
                .clone()
                .run_scheduler(liveness.register("scheduler"), shutdown.clone()),
        );
        tasks.spawn(engine.clone().run_timeline(shutdown.clone()));
        let reloader = Arc::new(Reloader::new(
            engine.clone(),
            named,
            metrics.clone(),
            settings.policy.path.clone(),
            fingerprint,
            shutdown.clone(),
        ));
        tasks.spawn(reloader.clone().watch(shutdown.clone()));
        // The sources; a new one is one more entry.
        let mut sources: Vec<Arc<dyn Source>> = Vec::new();
        match (&settings.amqp, forwarder, stream) {
            (Some(amqp), Some(forwarder), Some(stream)) => sources.push(Arc::new(AmqpSource {
                settings: amqp.clone(),
                engine: engine.clone(),
                metrics: metrics.clone(),
                handlers: TaskTracker::new(),
                grace: DELIVERY_GRACE,
                leadership: leadership.clone(),
                forwarder,
                desk: CallDesk::new(signing_key, engine.clone(), approvers, leadership.clone()),
                stream,
            })),
            _ => {
                tracing::info!(interval = ?settings.reconcile.interval, "no AMQP URL: polling vCD for blocking tasks");
            }
        }
        if let Some(socket) = slack.zip(desk).and_then(|(slack, desk)| slack.socket(desk)) {
            sources.push(socket);
        }
        sources.push(Arc::new(Reconciler {
            engine: engine.clone(),
            metrics: metrics.clone(),
            interval: settings.reconcile.interval,
            alone: settings.amqp.is_none(),
        }));
        let sources = sources
            .into_iter()
            .map(|source| {
                let name = source.name();
                let running = crate::source::start(
                    source,
                    &liveness,
                    &health,
                    leadership.clone(),
                    shutdown.clone(),
                );
                (name, running)
            })
            .collect();
        Ok(Daemon {
            health,
            metrics,
            engine,
            http_address,
            admin_address,
            liveness,
            leadership,
            reloader,
            approvers_watch,
            shutdown,
            tasks,
            sources,
        })
    }

    /// Whether this instance leads (runs the sources, keeps held tasks alive); see
    /// `leadership`.
    pub fn is_leader(&self) -> bool {
        self.leadership.is_leader()
    }

    /// Loads the policy again and swaps it in whole, then decides the held tasks again; on
    /// error the current policy stays.
    pub async fn reload_policy(&self) -> Result<(), PolicyErrors> {
        self.reloader.reload().await
    }

    /// Reads the approvers file and the admin token file again and swaps their content in; on
    /// error the current ones stay. Without the admin API there is nothing to do.
    pub async fn reload_approvers(&self) -> Result<(), ApproversErrors> {
        match &self.approvers_watch {
            Some(watch) => watch.reload().await,
            None => Ok(()),
        }
    }

    /// Stops consuming, lets in-flight deliveries finish within 20 s, logs out. `vcd-blockd run`
    /// bounds the whole stop by its 25 s shutdown deadline.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.wait().await;
    }

    /// Waits until the shutdown token is cancelled (by [`Daemon::stop`] or a signal handler)
    /// and everything has wound down.
    pub async fn wait(mut self) {
        self.shutdown.cancelled().await;
        for (name, running) in std::mem::take(&mut self.sources) {
            if let Err(error) = running.await {
                tracing::error!(source = name, %error, "source task failed");
            }
        }
        self.tasks.close();
        self.tasks.wait().await;
        self.engine.vcd().logout().await;
        tracing::info!("stopped");
    }
}

/// A daemon dropped without [`Daemon::stop`] stops its loops too (it does not wait for them):
/// nothing it started goes on consuming, reconnecting or declaring broker objects for a
/// daemon nobody holds.
impl Drop for Daemon {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn load_policy(settings: &Settings) -> Result<Policy, StartError> {
    Policy::load(&settings.policy.path).map_err(|errors| StartError::Policy {
        path: settings.policy.path.display().to_string(),
        errors,
    })
}

/// Who may use the admin API, and with an approvers file the watch that keeps them in step
/// with it.
struct AdminAccess {
    approvers: Arc<Approvers>,
    watch: Option<Arc<approvers::Watch>>,
}

/// The admin API's approvers; `None` when it is off. A broken approvers file stops the start.
fn load_approvers(
    settings: &Settings,
    metrics: &Arc<Metrics>,
) -> Result<Option<AdminAccess>, StartError> {
    let http = &settings.http;
    if !http.admin_api() {
        return Ok(None);
    }
    let mut listed = Vec::new();
    let mut loaded = None;
    if let Some(path) = &http.approvers_file {
        let bytes = approvers::read(path).map_err(StartError::Approvers)?;
        listed = approvers::parse_bytes(&path.display().to_string(), &bytes)
            .map_err(StartError::Approvers)?;
        tracing::info!(path = %path.display(), approvers = listed.len(), "approvers loaded");
        loaded = Some((path.clone(), bytes));
    }
    let approvers = Arc::new(Approvers::new(http.admin_token.as_ref(), listed));
    let mut watch = approvers::Watch::new(
        approvers.clone(),
        metrics.clone(),
        crate::reload::CHECK_EVERY,
    );
    if let Some((path, bytes)) = loaded {
        watch = watch.approvers_file(path, bytes);
    }
    if let Some(path) = &http.admin_token_file {
        watch = watch.admin_token_file(path.clone(), std::fs::read(path).ok());
    }
    Ok(Some(AdminAccess {
        approvers,
        watch: Some(Arc::new(watch)),
    }))
}

/// Logs in at start and keeps trying, with backoff, until vCD accepts; after vCD refused the
/// credentials, only as often as the client allows (once a minute, then less). After that,
/// requests log in again as needed, and the client keeps readiness up to date.
async fn keep_vcd_session(vcd: Arc<VcdClient>, shutdown: CancellationToken) {
    let mut schedule = Backoff::SESSION.schedule();
    loop {
        match vcd.connect().await {
            Ok(version) => {
                tracing::info!(api_version = %version, "vCD session ready");
                return;
            }
            // The client already said so when vCD refused; it sends nothing until then.
            Err(VcdError::LoginPaused { retry_in, .. }) => {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(retry_in) => continue,
                }
            }
            Err(error @ VcdError::Login(_)) => {
                tracing::debug!(%error, "vCD refused the login");
            }
            Err(error) => {
                tracing::warn!(%error, attempt = schedule.attempts(), "cannot reach vCD yet");
            }
        }
        if !schedule.wait(&shutdown).await {
            return;
        }
    }
}
