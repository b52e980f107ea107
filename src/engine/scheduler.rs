//! The hold scheduler: one task that sleeps until the earliest hold is due, then keeps it
//! alive with `updateProgress` or, past its deadline, applies the rule's fallback. Work on
//! due holds runs concurrently, bounded, each under the task's single flight.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::audit::Outcome;
use super::holds::{HeldTask, next_keepalive, next_retry};
use super::{Engine, audit};
use crate::duration::format_duration;
use crate::outcome::{HoldEvent, KeepaliveOutcome};
use crate::vcd::error::{ErrorClass, VcdError};

/// At most this many keepalives or fallbacks in flight at once.
const CONCURRENCY: usize = 32;
/// Upper bound on one sleep, so that a clock jump is noticed.
const MAX_SLEEP: Duration = Duration::from_secs(30);

impl Engine {
    /// Serves the hold registry until `shutdown`.
    pub async fn run_scheduler(self: Arc<Self>, shutdown: CancellationToken) {
        let permits = Arc::new(Semaphore::new(CONCURRENCY));
        let workers = TaskTracker::new();
        loop {
            let now = Utc::now();
            let sleep = match self.holds.next_due() {
                Some(at) if at <= now => Duration::ZERO,
                Some(at) => (at - now).to_std().unwrap_or(Duration::ZERO).min(MAX_SLEEP),
                None => MAX_SLEEP,
            };
            if !sleep.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(sleep) => {}
                    () = self.holds.changed() => {}
                    () = shutdown.cancelled() => break,
                }
                continue;
            }
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let due = self.holds.take_due(Utc::now(), 1);
            let Some(&id) = due.first() else { continue };
            let engine = self.clone();
            workers.spawn(async move {
                engine.attend(id).await;
                drop(permit);
            });
        }
        workers.close();
        workers.wait().await;
    }

    /// Handles one due hold: fallback past the deadline, else a keepalive.
    async fn attend(&self, id: crate::task::TaskId) {
        let _flight = self.flights.enter(id).await;
        let Some(hold) = self.holds.get(id) else {
            return;
        };
        let now = Utc::now();
        let lateness = (now - hold.next_check).num_microseconds().unwrap_or(0) as f64 / 1e6;
        self.metrics.hold_lateness(lateness);
        if hold.expired(now) {
            self.fall_back(hold).await;
        } else {
            self.keep_alive(hold).await;
        }
    }

    async fn keep_alive(&self, hold: HeldTask) {
        let extend_by = self.hold_settings.extend_by;
        match self
            .vcd
            .update_progress(hold.id, &hold.message, Some(extend_by))
            .await
        {
            Ok(task) if task.status.is_active() => {
                self.metrics.keepalive(KeepaliveOutcome::Ok);
                let now = Utc::now();
                let mut refreshed = hold.clone();
                refreshed.vcd_timeout = task.timeout_date;
                let at = next_keepalive(&refreshed, now, extend_by);
                self.holds.reschedule(hold.id, at, |h| {
                    h.vcd_timeout = task.timeout_date;
                    h.failures = 0;
                });
                tracing::debug!(task_id = %hold.id, next = %at, "kept alive");
                audit::hold_event(
                    &hold,
                    HoldEvent::Keepalive,
                    "updateProgress",
                    Outcome::Done,
                    &hold.message,
                );
            }
            Ok(_) => self.release(&hold, HoldEvent::Keepalive),
            Err(error) => self.hold_failed(hold, HoldEvent::Keepalive, error).await,
        }
    }

    async fn fall_back(&self, hold: HeldTask) {
        let message = format!(
            "No approval within {} (vcd-blockd rule \"{}\"): {}",
            format_duration((hold.deadline - hold.since).to_std().unwrap_or_default()),
            hold.rule,
            hold.fallback.name()
        );
        match self.vcd.act(hold.id, hold.fallback, &message).await {
            Ok(()) => {
                self.forget(hold.id);
                self.metrics
                    .decision(hold.fallback.name(), &hold.rule, false);
                audit::hold_event(
                    &hold,
                    HoldEvent::Fallback,
                    hold.fallback.name(),
                    Outcome::Done,
                    &message,
                );
            }
            Err(error) => self.hold_failed(hold, HoldEvent::Fallback, error).await,
        }
    }

    /// A keepalive or fallback failed: if vCD no longer waits for the task, the hold ends;
    /// otherwise try again soon, ahead of vCD's timeout.
    async fn hold_failed(&self, hold: HeldTask, event: HoldEvent, error: VcdError) {
        if matches!(error.class(), ErrorClass::Refused | ErrorClass::NotFound) {
            match self.vcd.blocking_task_now(hold.id).await {
                Ok(task) if !task.status.is_active() => return self.release(&hold, event),
                Err(reread) if reread.class() == ErrorClass::NotFound => {
                    return self.release(&hold, event);
                }
                _ => {}
            }
        }
        if event == HoldEvent::Keepalive {
            self.metrics.keepalive(KeepaliveOutcome::Error);
        }
        let mut failed = hold.clone();
        failed.failures += 1;
        let at = next_retry(&failed, Utc::now());
        tracing::warn!(task_id = %hold.id, event = event.label(), %error, retry_at = %at, "hold attention failed; will retry");
        self.holds
            .reschedule(hold.id, at, |h| h.failures = failed.failures);
    }

    /// vCD no longer waits for the task (someone decided it, or its timeout did).
    fn release(&self, hold: &HeldTask, event: HoldEvent) {
        self.forget(hold.id);
        if event == HoldEvent::Keepalive {
            self.metrics.keepalive(KeepaliveOutcome::Gone);
        }
        audit::hold_event(hold, event, "none", Outcome::AlreadyDecided, "");
    }
}
