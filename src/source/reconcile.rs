//! Reconciliation, the second source of task ids: vCD's list of active blocking tasks is the
//! source of truth. Tasks the daemon does not know are decided as if their notification had
//! arrived (it was lost, or sent while the daemon was down); holds vCD no longer lists are
//! dropped.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::engine::Engine;
use crate::liveness::{Liveness, Loop};
use crate::metrics::Metrics;
use crate::outcome::RunOutcome;
use crate::task::TaskId;
use crate::vcd::VcdError;

/// What one reconciliation found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ReconcileReport {
    /// Active tasks vCD lists.
    pub active: usize,
    /// Of those, tasks the daemon did not know and decided now.
    pub decided: usize,
    /// Holds dropped because vCD no longer lists them.
    pub dropped: usize,
    /// Unknown tasks that could not be decided now (vCD trouble); the next run tries again.
    pub failed: usize,
}

/// Lists vCD's active blocking tasks once and hands the engine those it does not know.
pub(crate) async fn reconcile(engine: &Arc<Engine>) -> Result<ReconcileReport, VcdError> {
    let active: HashSet<TaskId> = engine.vcd().active_tasks().await?.into_iter().collect();
    let sync = engine.sync_active(&active);
    let (decided, failed) = engine.handle_all(sync.unknown, None).await;
    Ok(ReconcileReport {
        active: active.len(),
        decided,
        dropped: sync.dropped,
        failed,
    })
}

/// Reconciles at start and every `interval` until `shutdown`; a failed run is retried
/// sooner, with backoff. It beats for the watchdog after each run and while it waits.
pub(crate) async fn run(
    engine: Arc<Engine>,
    metrics: Arc<Metrics>,
    liveness: Arc<Liveness>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut retry = Backoff::RECONCILE.schedule();
    loop {
        liveness.beat(Loop::Reconcile);
        let wait = match reconcile(&engine).await {
            Ok(report) => {
                metrics.reconcile_run(RunOutcome::Ok);
                tracing::info!(
                    active = report.active,
                    decided = report.decided,
                    dropped = report.dropped,
                    failed = report.failed,
                    "reconciled with vCD"
                );
                retry.reset();
                interval
            }
            Err(error) => {
                metrics.reconcile_run(RunOutcome::Error);
                let wait = retry.next_delay().unwrap_or(interval).min(interval);
                tracing::warn!(%error, retry_in = ?wait, "reconciliation failed");
                wait
            }
        };
        let stopped = liveness
            .beating(Loop::Reconcile, async {
                tokio::select! {
                    () = tokio::time::sleep(wait) => false,
                    () = shutdown.cancelled() => true,
                }
            })
            .await;
        if stopped {
            return;
        }
    }
}
