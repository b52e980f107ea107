//! Many tasks at once: the ids a source found in vCD's list of active tasks, and the held
//! tasks decided again after a policy reload. Each is handled as if it had just been announced,
//! with bounded concurrency.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{Disposition, Engine, Origin};
use crate::task::TaskId;

/// At most this many tasks of one batch are handled at once.
const CONCURRENCY: usize = 16;

/// What comparing vCD's list of active tasks with the engine's own state found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ActiveSync {
    /// Holds dropped because vCD no longer lists their task.
    pub dropped: usize,
    /// Active tasks the engine knows nothing about (neither held nor left alone): lost or late
    /// notifications, or tasks created while the daemon was down. The caller handles them.
    pub unknown: Vec<TaskId>,
}

impl Engine {
    /// Takes `active`, vCD's list of active blocking tasks, as the truth: holds and settled
    /// tasks it does not list are forgotten (only when the list is `complete`: a listing paged
    /// while tasks left it may miss some), and the ids it lists that the engine does not know
    /// are returned.
    pub fn sync_active(&self, active: &HashSet<TaskId>, complete: bool) -> ActiveSync {
        self.decided.cover(active.len());
        let dropped = if complete {
            self.holds.retain(|id| active.contains(&id))
        } else {
            Vec::new()
        };
        for hold in &dropped {
            self.asking.remove(hold.id());
            tracing::info!(task_id = %hold.id(), "vCD no longer lists the held task; hold dropped");
            self.announce_gone(hold);
        }
        self.metrics.holds_active.set(self.holds.len() as i64);
        if complete {
            self.journal.forget_undecided(|id| !active.contains(&id));
        }
        let mut settled = self.settled_set();
        if complete {
            settled.retain(|id| active.contains(id));
        }
        let unknown = active
            .iter()
            .copied()
            .filter(|id| !self.holds.contains(*id) && !settled.contains(id))
            .collect();
        ActiveSync {
            dropped: dropped.len(),
            unknown,
        }
    }

    /// Decides every held task again with the current policy (after a reload, or when time
    /// changed its answers: `why`), with bounded concurrency, until done or `shutdown`.
    pub async fn redecide_holds(self: Arc<Self>, shutdown: CancellationToken, why: &'static str) {
        let ids: Vec<TaskId> = self.holds.list().iter().map(|hold| hold.view.id).collect();
        let count = ids.len();
        let (decided, failed) = self.handle_all(ids, Some(&shutdown)).await;
        tracing::info!(
            held = count,
            decided,
            failed,
            why,
            "held tasks decided again"
        );
    }

    /// Handles `ids` as if each had just been announced, [`CONCURRENCY`] at a time; stops
    /// starting new ones once `stop` is cancelled. Returns (handled, failed): a task fails when
    /// vCD trouble kept it from being decided now, and the next reconciliation tries again.
    pub async fn handle_all(
        self: &Arc<Self>,
        ids: Vec<TaskId>,
        stop: Option<&CancellationToken>,
    ) -> (usize, usize) {
        let (mut handled, mut failed) = (0, 0);
        let mut pending = ids.into_iter();
        let mut running = JoinSet::new();
        loop {
            while running.len() < CONCURRENCY && !stop.is_some_and(CancellationToken::is_cancelled)
            {
                let Some(id) = pending.next() else { break };
                let engine = self.clone();
                // In the caller's vCD line (takeover, background), not the bulk one.
                running.spawn(crate::vcd::same_line(async move {
                    (
                        id,
                        engine.handle_task(id, Instant::now(), Origin::Listed).await,
                    )
                }));
            }
            let Some(done) = running.join_next().await else {
                break;
            };
            match done {
                Ok((id, Disposition::Retry(error))) => {
                    failed += 1;
                    tracing::warn!(task_id = %id, %error, "could not decide the task now; it is tried again later");
                }
                Ok((id, Disposition::DeadLetter { reason, detail })) => {
                    failed += 1;
                    tracing::warn!(task_id = %id, reason = reason.label(), detail, "could not decide the task; the next reconciliation tries again");
                }
                Ok(_) => handled += 1,
                Err(error) => {
                    failed += 1;
                    tracing::error!(%error, "a decision worker failed");
                }
            }
        }
        (handled, failed)
    }
}
