//! Reconciliation, the second source of task ids: vCD's list of active blocking tasks is the
//! source of truth. Tasks the daemon does not know are decided as if their notification had
//! arrived (it was lost, or sent while the daemon was down); holds vCD no longer lists are
//! dropped. Only the leader reconciles; a new leader does so at once, which is how it finds
//! the tasks an earlier leader held. A term's first run (until it succeeds) lists and reads in
//! the limiter's takeover line, ahead of a backlog of notifications, so those holds are kept
//! alive before vCD times them out; later runs wait in the background line, behind the backlog
//! (`vcd::limit`). In poll mode it is the only source, and readiness and the `STATUS=` line
//! follow its listings.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Report, Run, Runs, Source};
use crate::backoff::Backoff;
use crate::duration::format_duration;
use crate::engine::Engine;
use crate::health::Condition;
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

/// Reconciliation as a [`Source`]: at the start of each term and then every `interval`.
pub(crate) struct Reconciler {
    pub engine: Arc<Engine>,
    pub metrics: Arc<Metrics>,
    pub interval: Duration,
    /// Poll mode: reconciliation is the only source, so readiness and the `STATUS=` line
    /// follow its listings. Beside a broker they follow the AMQP session.
    pub alone: bool,
}

impl Source for Reconciler {
    fn name(&self) -> &'static str {
        "reconcile"
    }

    fn runs(&self) -> Runs {
        Runs::WhileLeading
    }

    fn first_condition(&self) -> Option<Condition> {
        self.alone.then(|| poll_condition(self.interval, None))
    }

    fn run(self: Arc<Self>, report: Report, until: CancellationToken) -> Run {
        Box::pin(async move { self.term(report, until).await })
    }
}

impl Reconciler {
    /// Reconciles at once and then every `interval` until `until`; a failed run is retried
    /// sooner, with backoff. It beats while it waits and while a run is under way.
    async fn term(&self, report: Report, until: CancellationToken) {
        let mut retry = Backoff::RECONCILE.schedule();
        // Whether this term found the holds again: until then the listing and its reads go
        // ahead of a backlog (the takeover line), as the holds an earlier leader kept must be
        // kept alive before vCD's timeout. Later runs wait in the background line: while a
        // backlog of notifications drains, they list what the queue did not announce.
        let mut taken_over = false;
        loop {
            // Beating meanwhile: a reconciliation that waits or reads for minutes progresses.
            let listed = if taken_over {
                report
                    .beating(crate::vcd::background(reconcile(&self.engine)))
                    .await
            } else {
                report
                    .beating(crate::vcd::takeover(reconcile(&self.engine)))
                    .await
            };
            taken_over |= listed.is_ok();
            report.condition(poll_condition(self.interval, Some(listed.is_ok())));
            let wait = self.after(listed, &mut retry);
            let stopped = report
                .beating(async {
                    tokio::select! {
                        () = tokio::time::sleep(wait) => false,
                        () = until.cancelled() => true,
                    }
                })
                .await;
            if stopped {
                return;
            }
        }
    }

    /// Counts and logs one run; returns how long to wait before the next.
    fn after(
        &self,
        listed: Result<ReconcileReport, VcdError>,
        retry: &mut crate::backoff::Schedule,
    ) -> Duration {
        match listed {
            Ok(report) => {
                self.metrics.reconcile_run(RunOutcome::Ok);
                tracing::info!(
                    active = report.active,
                    decided = report.decided,
                    dropped = report.dropped,
                    failed = report.failed,
                    "reconciled with vCD"
                );
                retry.reset();
                self.interval
            }
            Err(error) => {
                self.metrics.reconcile_run(RunOutcome::Error);
                let wait = retry
                    .next_delay()
                    .unwrap_or(self.interval)
                    .min(self.interval);
                tracing::warn!(%error, retry_in = ?wait, "reconciliation failed");
                wait
            }
        }
    }
}

/// The `/readyz` reason while poll mode has no good listing.
const LISTING_FAILED: &str = "the last listing of vCD's blocking tasks failed (poll mode)";

/// How poll mode stands after a listing that succeeded (`Some(true)`), failed, or has not yet
/// been made (`None`).
fn poll_condition(interval: Duration, listed: Option<bool>) -> Condition {
    let every = format_duration(interval);
    let (not_ready, status) = match listed {
        Some(true) => (None, format!("polling vCD every {every}")),
        Some(false) => (
            Some(LISTING_FAILED),
            format!("polling vCD every {every} (the last listing failed)"),
        ),
        None => (
            Some(LISTING_FAILED),
            format!("polling vCD every {every} (first listing under way)"),
        ),
    };
    Condition {
        not_ready: not_ready.map(str::to_owned),
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_mode_is_ready_and_says_it_polls_after_a_good_listing() {
        let every = Duration::from_secs(15);
        let first = poll_condition(every, None);
        assert_eq!(first.not_ready.as_deref(), Some(LISTING_FAILED));
        assert_eq!(
            first.status,
            "polling vCD every 15s (first listing under way)"
        );
        let good = poll_condition(every, Some(true));
        assert_eq!(good.not_ready, None);
        assert_eq!(good.status, "polling vCD every 15s");
        let failed = poll_condition(every, Some(false));
        assert_eq!(failed.not_ready.as_deref(), Some(LISTING_FAILED));
        assert_eq!(
            failed.status,
            "polling vCD every 15s (the last listing failed)"
        );
    }
}
