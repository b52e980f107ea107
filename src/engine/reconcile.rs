//! Reconciliation: vCD's list of active blocking tasks is the source of truth. Tasks the
//! daemon does not know are decided as if their notification had arrived (it was lost, or sent
//! while the daemon was down); holds vCD no longer lists are dropped.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{Disposition, Engine};
use crate::task::TaskId;
use crate::vcd::error::VcdError;

/// At most this many unknown tasks are decided at once.
const CONCURRENCY: usize = 16;

/// What one reconciliation found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Active tasks vCD lists.
    pub active: usize,
    /// Of those, tasks the daemon did not know and decided now.
    pub decided: usize,
    /// Holds dropped because vCD no longer lists them.
    pub dropped: usize,
    /// Unknown tasks that could not be decided now (vCD trouble); the next run tries again.
    pub failed: usize,
}

impl Engine {
    pub async fn reconcile(self: &Arc<Self>) -> Result<ReconcileReport, VcdError> {
        let active: HashSet<TaskId> = self.vcd.active_tasks().await?.into_iter().collect();
        let dropped = self.holds.retain(|id| active.contains(&id));
        for id in &dropped {
            tracing::info!(task_id = %id, "vCD no longer lists the held task; hold dropped");
        }
        self.metrics.holds_active.set(self.holds.len() as i64);
        self.settled_set().retain(|id| active.contains(id));
        let unknown: Vec<TaskId> = {
            let settled = self.settled_set();
            active
                .iter()
                .copied()
                .filter(|id| !self.holds.contains(*id) && !settled.contains(id))
                .collect()
        };
        let mut report = ReconcileReport {
            active: active.len(),
            dropped: dropped.len(),
            ..Default::default()
        };
        let (decided, failed) = self.decide_all(unknown, None).await;
        report.decided = decided;
        report.failed = failed;
        Ok(report)
    }

    /// Decides every held task again with the current policy (after a reload), in the
    /// background with bounded concurrency, until done or `shutdown`.
    pub async fn redecide_holds(self: Arc<Self>, shutdown: CancellationToken) {
        let ids: Vec<TaskId> = self.holds.list().iter().map(|hold| hold.id).collect();
        let count = ids.len();
        let (decided, failed) = self.decide_all(ids, Some(&shutdown)).await;
        tracing::info!(
            held = count,
            decided,
            failed,
            "held tasks decided again with the new policy"
        );
    }

    /// Handles `ids` as if each had just been announced, [`CONCURRENCY`] at a time; stops
    /// starting new ones once `stop` is cancelled. Returns (decided, failed).
    async fn decide_all(
        self: &Arc<Self>,
        ids: Vec<TaskId>,
        stop: Option<&CancellationToken>,
    ) -> (usize, usize) {
        let (mut decided, mut failed) = (0, 0);
        let mut pending = ids.into_iter();
        let mut running = JoinSet::new();
        loop {
            while running.len() < CONCURRENCY && !stop.is_some_and(CancellationToken::is_cancelled)
            {
                let Some(id) = pending.next() else { break };
                let engine = self.clone();
                running.spawn(async move { (id, engine.handle_task(id, Instant::now()).await) });
            }
            let Some(done) = running.join_next().await else {
                break;
            };
            match done {
                Ok((id, Disposition::Retry(error))) => {
                    failed += 1;
                    tracing::warn!(task_id = %id, %error, "could not decide the task now; it is tried again later");
                }
                Ok(_) => decided += 1,
                Err(error) => {
                    failed += 1;
                    tracing::error!(%error, "a decision worker failed");
                }
            }
        }
        (decided, failed)
    }

    /// Reconciles at start and every `interval` until `shutdown`; a failed run is retried
    /// sooner, with backoff.
    pub async fn run_reconciler(self: Arc<Self>, interval: Duration, shutdown: CancellationToken) {
        let mut retry = Duration::from_secs(2);
        loop {
            let wait = match self.reconcile().await {
                Ok(report) => {
                    self.metrics.reconcile_run("ok");
                    tracing::info!(
                        active = report.active,
                        decided = report.decided,
                        dropped = report.dropped,
                        failed = report.failed,
                        "reconciled with vCD"
                    );
                    retry = Duration::from_secs(2);
                    interval
                }
                Err(error) => {
                    self.metrics.reconcile_run("error");
                    tracing::warn!(%error, retry_in = ?retry, "reconciliation failed");
                    let wait = retry.min(interval);
                    retry = (retry * 2).min(Duration::from_secs(60));
                    wait
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }
}
