//! Policy reloads: on SIGHUP, and whenever the policy text changes on disk (checked every few
//! seconds by content, so editors' rename dance and Kubernetes' `..data` symlink swap are seen
//! alike). The new policy is checked whole and swapped in atomically; held tasks are then
//! decided again. A broken edit keeps the last good policy, logged and counted. Approvers and
//! groups the new policy names that the approvers file lacks are warned about.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::approvers::Approvers;
use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::outcome::RunOutcome;
use crate::policy::{Policy, PolicyErrors};

/// How often the policy files are compared with what is loaded.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(2);

pub(crate) struct Reloader {
    engine: Arc<Engine>,
    /// The approvers file's approvers, when there is one: a new policy's approver names are
    /// checked against them.
    approvers: Option<Arc<Approvers>>,
    metrics: Arc<Metrics>,
    path: PathBuf,
    /// Stops a re-decision of held tasks that is still running at shutdown.
    shutdown: CancellationToken,
    /// The fingerprint of the text last tried (good or bad), so that a broken edit is
    /// reported once, not every few seconds. Also serialises reloads.
    last: Mutex<Option<u64>>,
    /// Whether the last reload failed, so that the last good policy is still in force.
    failed: AtomicBool,
}

impl Reloader {
    /// `loaded` is the fingerprint of the policy the engine started with.
    pub(crate) fn new(
        engine: Arc<Engine>,
        approvers: Option<Arc<Approvers>>,
        metrics: Arc<Metrics>,
        path: PathBuf,
        loaded: Option<u64>,
        shutdown: CancellationToken,
    ) -> Reloader {
        Reloader {
            engine,
            approvers,
            metrics,
            path,
            shutdown,
            last: Mutex::new(loaded),
            failed: AtomicBool::new(false),
        }
    }

    /// Loads the policy again and swaps it in whole; held tasks are then decided again in the
    /// background, so a reload never delays a shutdown.
    pub(crate) async fn reload(&self) -> Result<(), PolicyErrors> {
        let mut last = self.last.lock().await;
        *last = Policy::fingerprint(&self.path);
        let loaded = Policy::load(&self.path).and_then(|policy| {
            let errors = policy.ask_errors(|name| self.engine.knows_service(name));
            if errors.0.is_empty() {
                Ok(policy)
            } else {
                Err(errors)
            }
        });
        match loaded {
            Ok(policy) => {
                tracing::info!(path = %self.path.display(), rules = policy.rule_count(), "policy reloaded");
                if let Some(approvers) = &self.approvers {
                    approvers.warn_unknown_in(&policy);
                }
                self.engine.replace_policy(policy);
                self.failed.store(false, Ordering::Relaxed);
                self.metrics.policy_reload(RunOutcome::Ok);
                self.metrics.policy_loaded(chrono::Utc::now());
                let redecide = self
                    .engine
                    .clone()
                    .redecide_holds(self.shutdown.clone(), "policy reloaded");
                tokio::spawn(redecide);
                Ok(())
            }
            Err(errors) => {
                tracing::error!(path = %self.path.display(), errors = %errors, "policy reload failed; keeping the last good policy");
                self.metrics.policy_reload(RunOutcome::Error);
                self.failed.store(true, Ordering::Relaxed);
                Err(errors)
            }
        }
    }

    /// True when the last reload failed and the last good policy is still in force, until a
    /// reload succeeds.
    pub(crate) fn last_failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Reloads whenever the policy text changes, until `shutdown`.
    pub(crate) async fn watch(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(CHECK_EVERY) => {}
                () = shutdown.cancelled() => return,
            }
            let current = Policy::fingerprint(&self.path);
            let changed = current.is_some() && current != *self.last.lock().await;
            if changed {
                let _ = self.reload().await;
            }
        }
    }
}
