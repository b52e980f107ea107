//! Reconciliation, the second source of task ids: vCD's list of active blocking tasks is the
//! source of truth. Tasks the daemon does not know are decided as if their notification had
//! arrived (it was lost, or sent while the daemon was down); holds vCD no longer lists are
//! dropped. Only the leader reconciles; a new leader does so at once, which is how it finds
//! the tasks an earlier leader held. A term's first run (until it succeeds) lists and reads in
//! the limiter's takeover line, ahead of a backlog of notifications, so those holds are kept
//! alive before vCD times them out; later runs wait in the background line, behind the backlog
//! (`vcd::limit`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::engine::Engine;
use crate::health::Health;
use crate::leadership::{Leadership, Role};
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
    let listing = engine.vcd().active_tasks().await?;
    let active: HashSet<TaskId> = listing.ids.iter().copied().collect();
    let sync = engine.sync_active(&active, listing.complete);
    let count = active.len();
    drop(active);
    // Oldest first, as vCD lists them: the holds an earlier leader kept are older than a
    // backlog that formed after them, and nearer vCD's timeout.
    let mut unknown: HashSet<TaskId> = sync.unknown.into_iter().collect();
    let mut ordered = listing.ids;
    // Each once: a task listed twice (the list moved while it was paged) is kept where first.
    ordered.retain(|id| unknown.remove(id));
    drop(unknown);
    let (decided, failed) = engine.handle_all(ordered, None).await;
    Ok(ReconcileReport {
        active: count,
        decided,
        dropped: sync.dropped,
        failed,
    })
}

/// Reconciles whenever this instance begins to lead and then every `interval` while it leads,
/// until `shutdown`; a failed run is retried sooner, with backoff. It beats for the watchdog
/// after each run and while it waits.
pub(crate) async fn run(
    engine: Arc<Engine>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    liveness: Arc<Liveness>,
    leadership: Arc<Leadership>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut retry = Backoff::RECONCILE.schedule();
    let mut role = leadership.subscribe();
    // The term whose holds were found again: its later runs yield to a backlog.
    let mut taken_over = None;
    loop {
        liveness.beat(Loop::Reconcile);
        let term = *role.borrow_and_update();
        let wait = match term {
            Role::Standby => None,
            // Beating meanwhile: a reconciliation that waits or reads for minutes progresses.
            Role::Leader { .. } => {
                let run = reconcile_once(&engine, &metrics, &health, &mut retry, interval);
                let (wait, ok) = if taken_over == Some(term) {
                    // In the background line: while a backlog of notifications drains, the
                    // listing waits, so it lists what the queue did not announce.
                    liveness
                        .beating(Loop::Reconcile, crate::vcd::background(run))
                        .await
                } else {
                    // Ahead of the backlog: the holds an earlier leader kept must be kept
                    // alive before vCD's timeout.
                    liveness
                        .beating(Loop::Reconcile, crate::vcd::takeover(run))
                        .await
                };
                if ok {
                    taken_over = Some(term);
                }
                Some(wait)
            }
        };
        let stopped = liveness
            .beating(Loop::Reconcile, async {
                let sleep = async {
                    match wait {
                        Some(wait) => tokio::time::sleep(wait).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = sleep => false,
                    // A term began or ended: reconcile at once, or stop until the next one.
                    changed = role.changed() => changed.is_err(),
                    () = shutdown.cancelled() => true,
                }
            })
            .await;
        if stopped {
            return;
        }
    }
}

/// One run; returns how long to wait before the next, and whether it succeeded.
async fn reconcile_once(
    engine: &Arc<Engine>,
    metrics: &Metrics,
    health: &Health,
    retry: &mut crate::backoff::Schedule,
    interval: Duration,
) -> (Duration, bool) {
    let result = reconcile(engine).await;
    health.set_last_listing(result.is_ok());
    match result {
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
            (interval, true)
        }
        Err(error) => {
            metrics.reconcile_run(RunOutcome::Error);
            let wait = retry.next_delay().unwrap_or(interval).min(interval);
            tracing::warn!(%error, retry_in = ?wait, "reconciliation failed");
            (wait, false)
        }
    }
}
