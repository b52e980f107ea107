//! The hold scheduler: one task that sleeps until the earliest hold is due, then announces its
//! reminder or escalation when one is due, keeps it alive with `updateProgress` or, past its
//! deadline, applies the rule's fallback. Work on
//! due holds runs concurrently, bounded, each under the task's single flight.

use std::sync::Arc;
use std::time::Duration;

use std::future::Future;

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::holds::{Announcements, HeldTask, HoldRegistry, next_keepalive, next_retry};
use super::{Engine, audit};
use crate::duration::format_duration;
use crate::journal::{DecisionRecord, Record};
use crate::liveness::Heartbeat;
use crate::notify::Event;
use crate::outcome::{AuditOutcome, HoldEvent, KeepaliveOutcome, WebhookEvent};
use crate::task::TaskId;
use crate::vcd::{ErrorClass, VcdError};

/// At most this many keepalives or fallbacks in flight at once.
const CONCURRENCY: usize = 32;
/// Upper bound on one sleep, so that a clock jump is noticed.
const MAX_SLEEP: Duration = Duration::from_secs(30);

impl Engine {
    /// Serves the hold registry until `shutdown`.
    pub(crate) async fn run_scheduler(
        self: Arc<Self>,
        heartbeat: Heartbeat,
        shutdown: CancellationToken,
    ) {
        let engine = self.clone();
        serve_due(&self.holds, Utc::now, &heartbeat, shutdown, move |id| {
            let engine = engine.clone();
            // A held task must not time out behind a backlog of new ones.
            async move { crate::vcd::urgent(engine.attend(id)).await }
        })
        .await;
    }

    /// Handles one due hold: fallback past the deadline, else a keepalive.
    async fn attend(&self, id: TaskId) {
        let _flight = self.flights.enter(id).await;
        if !self.leadership.is_leader() {
            return; // the registry is emptied as the term ends
        }
        let Some(hold) = self.holds.get(id) else {
            return;
        };
        let now = Utc::now();
        let lateness = (now - hold.next_check).num_microseconds().unwrap_or(0) as f64 / 1e6;
        self.metrics.hold_lateness(lateness);
        if hold.expired(now) {
            self.fall_back(hold).await;
            return;
        }
        let hold = self.announce(hold, now).await;
        if hold.keepalive_due <= now {
            self.keep_alive(hold).await;
        } else {
            self.holds.reschedule(id, hold.keepalive_due, |_| {});
        }
    }

    /// Sends the reminder and the escalation due at `now`, if any, and counts them as sent in
    /// the registry and the journal (so that the next leader sends neither again): the one
    /// place they are announced. Both are timed from the task's `createdTime`; a reminder
    /// missed (no instance led) is sent once.
    async fn announce(&self, mut hold: HeldTask, now: DateTime<Utc>) -> HeldTask {
        let due = hold.take_announcements(now);
        if due == Announcements::default() {
            return hold;
        }
        let task_id = hold.view.id;
        let records = [
            due.reminder
                .then_some(Record::Reminder { task_id, at: now }),
            due.escalation
                .then_some(Record::Escalated { task_id, at: now }),
        ];
        for record in records.into_iter().flatten() {
            // Announced anyway: a reminder sent twice after a takeover is better than none.
            if let Err(error) = self.journal.write(record).await {
                tracing::warn!(task_id = %task_id, %error, "announcement not journaled");
            }
        }
        let (reminders_sent, escalation_sent) = (hold.reminders_sent, hold.escalation_sent);
        self.holds.update(hold.view.id, |h| {
            h.reminders_sent = reminders_sent;
            h.escalation_sent = escalation_sent;
        });
        let waited = format_duration((now - hold.view.since).to_std().unwrap_or_default());
        if due.reminder {
            let message = format!(
                "Still waiting for a decision after {waited} (vcd-blockd rule \"{}\"); {} at {}",
                hold.view.rule,
                hold.view.fallback.name(),
                hold.view.deadline.to_rfc3339()
            );
            audit::hold_event(
                &hold.view,
                HoldEvent::Reminder,
                "none",
                AuditOutcome::Done,
                &message,
            );
            self.notifier
                .send(hold.event(WebhookEvent::Reminder, &message, now));
        }
        if due.escalation {
            let to: Vec<String> = hold
                .approval
                .escalate_to
                .iter()
                .map(|(who, _)| who.to_string())
                .collect();
            let message = format!(
                "No decision after {waited} (vcd-blockd rule \"{}\"): {} may decide too",
                hold.view.rule,
                to.join(", ")
            );
            audit::hold_event(
                &hold.view,
                HoldEvent::Escalation,
                "none",
                AuditOutcome::Done,
                &message,
            );
            self.notifier
                .send(hold.event(WebhookEvent::Escalated, &message, now));
        }
        hold
    }

    async fn keep_alive(&self, hold: HeldTask) {
        let extend_by = self.hold_settings.extend_by;
        let message = hold.progress_message();
        match self
            .vcd
            .update_progress(hold.view.id, &message, Some(extend_by))
            .await
        {
            Ok(task) if task.status.is_active() => {
                self.metrics.keepalive(KeepaliveOutcome::Ok);
                let now = Utc::now();
                let mut refreshed = hold.clone();
                refreshed.vcd_timeout = task.timeout_date;
                let at = next_keepalive(&refreshed, now, extend_by);
                self.holds.reschedule(hold.view.id, at, |h| {
                    h.vcd_timeout = task.timeout_date;
                    h.failures = 0;
                });
                tracing::debug!(task_id = %hold.view.id, next = %at, "kept alive");
                audit::hold_event(
                    &hold.view,
                    HoldEvent::Keepalive,
                    "updateProgress",
                    AuditOutcome::Done,
                    &message,
                );
            }
            Ok(_) => self.release(&hold, HoldEvent::Keepalive),
            Err(error) => self.hold_failed(hold, HoldEvent::Keepalive, error).await,
        }
    }

    async fn fall_back(&self, hold: HeldTask) {
        let view = &hold.view;
        let message = format!(
            "No approval within {} (vcd-blockd rule \"{}\"): {}",
            format_duration((view.deadline - view.since).to_std().unwrap_or_default()),
            view.rule,
            view.fallback.name()
        );
        match self.vcd.act(view.id, view.fallback, &message).await {
            Ok(()) => {
                self.forget(view.id);
                self.decided.insert(view.id);
                self.metrics
                    .decision(view.fallback.name(), &view.rule, false);
                let decided = DecisionRecord::of_hold(view, view.fallback, Vec::new(), Utc::now());
                self.journal.decided(decided).await;
                audit::hold_event(
                    view,
                    HoldEvent::Fallback,
                    view.fallback.name(),
                    AuditOutcome::Done,
                    &message,
                );
                self.notifier.send(Event {
                    action: Some(view.fallback),
                    ..hold.event(WebhookEvent::Expired, &message, Utc::now())
                });
            }
            Err(error) => self.hold_failed(hold, HoldEvent::Fallback, error).await,
        }
    }

    /// A keepalive or fallback failed: if vCD no longer waits for the task, the hold ends;
    /// otherwise try again soon, ahead of vCD's timeout.
    async fn hold_failed(&self, hold: HeldTask, event: HoldEvent, error: VcdError) {
        if matches!(error.class(), ErrorClass::Refused | ErrorClass::NotFound) {
            match self.vcd.blocking_task_now(hold.view.id).await {
                Ok(task) if !task.status.is_active() => return self.release(&hold, event),
                Err(reread) if reread.class() == ErrorClass::NotFound => {
                    return self.release(&hold, event);
                }
                _ => {}
            }
        }
        if event == HoldEvent::Keepalive {
            self.metrics.keepalive(KeepaliveOutcome::Error);
            // Once per run of failures: the first since the hold began or last succeeded.
            if hold.failures == 0 {
                let message = error.to_string();
                let announcement = hold.event(WebhookEvent::KeepaliveFailed, &message, Utc::now());
                self.notifier.send(announcement);
            }
        }
        let mut failed = hold.clone();
        failed.failures += 1;
        let at = next_retry(&failed, Utc::now());
        tracing::warn!(task_id = %hold.view.id, event = event.label(), %error, retry_at = %at, "hold attention failed; will retry");
        self.holds
            .reschedule(hold.view.id, at, |h| h.failures = failed.failures);
    }

    /// vCD no longer waits for the task (someone decided it, or its timeout did).
    fn release(&self, hold: &HeldTask, event: HoldEvent) {
        self.gone(hold.view.id);
        if event == HoldEvent::Keepalive {
            self.metrics.keepalive(KeepaliveOutcome::Gone);
        }
        audit::hold_event(&hold.view, event, "none", AuditOutcome::AlreadyDecided, "");
    }
}

/// The scheduling loop: sleeps until the earliest hold is due (waking early when the registry
/// changes), then hands each due hold to `attend`, at most [`CONCURRENCY`] at once, until
/// `shutdown`; then waits for the attendances under way. `now` is the wall clock (vCD's times
/// are wall-clock times); tests pass one that follows tokio's paused clock. The loop beats on
/// every wake, and wakes at least every `heartbeat.every()`, also while all permits are
/// taken.
async fn serve_due<A, F>(
    holds: &HoldRegistry,
    now: impl Fn() -> DateTime<Utc>,
    heartbeat: &Heartbeat,
    shutdown: CancellationToken,
    attend: A,
) where
    A: Fn(TaskId) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let workers = TaskTracker::new();
    let max_sleep = MAX_SLEEP.min(heartbeat.every());
    loop {
        heartbeat.beat();
        let sleep = match holds.next_due() {
            Some(at) => (at - now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(max_sleep),
            None => max_sleep,
        };
        if !sleep.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                () = holds.changed() => {}
                () = shutdown.cancelled() => break,
            }
            continue;
        }
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit,
            () = tokio::time::sleep(max_sleep) => continue,
        };
        let Ok(permit) = permit else { break };
        let due = holds.take_due(now(), 1);
        let Some(&id) = due.first() else { continue };
        let attendance = attend(id);
        workers.spawn(async move {
            attendance.await;
            drop(permit);
        });
    }
    workers.close();
    workers.wait().await;
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::time::Instant;

    use super::*;
    use crate::liveness::Liveness;
    use crate::task::FinalAction;
    use crate::task::HoldView;

    const EXTEND_BY: Duration = Duration::from_secs(900);

    /// A wall clock that follows tokio's paused clock from a fixed start.
    fn paused_clock() -> impl Fn() -> DateTime<Utc> + Send + 'static {
        let start = Instant::now();
        let origin = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        move || origin + (Instant::now() - start)
    }

    fn held(n: u128, keepalive_secs: u64, due: DateTime<Utc>, deadline: DateTime<Utc>) -> HeldTask {
        HeldTask {
            view: HoldView {
                id: TaskId::from_uuid(uuid::Uuid::from_u128(n)),
                operation: "vdcInstantiateVapp".into(),
                org: "prod".into(),
                user: "dave".into(),
                owner_name: "billing".into(),
                rule: Arc::from("hold"),
                since: due,
                deadline,
                fallback: FinalAction::Abort,
                approvals: Vec::new(),
                needed: 1,
                reason: None,
            },
            keepalive: Duration::from_secs(keepalive_secs),
            message: "Waiting".into(),
            vcd_timeout: None,
            next_check: due,
            keepalive_due: due,
            failures: 0,
            approval: Arc::default(),
            reminders_sent: 0,
            escalation_sent: false,
        }
    }

    /// Serves `holds` on the paused clock as the engine would with a vCD that accepts every
    /// keepalive and fallback; returns what was done as (id, seconds since the start, what:
    /// `keepalive`, `fallback`, `reminder` or `escalated`).
    async fn serve_for(
        holds: Arc<HoldRegistry>,
        run_for: Duration,
        meanwhile: impl Future<Output = ()>,
    ) -> Vec<(u128, i64, &'static str)> {
        let clock = Arc::new(paused_clock());
        let start = clock();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shutdown = CancellationToken::new();
        let serving = {
            let (holds, seen, clock, shutdown) =
                (holds.clone(), seen.clone(), clock.clone(), shutdown.clone());
            tokio::spawn(async move {
                let now = {
                    let clock = clock.clone();
                    move || clock()
                };
                serve_due(
                    &holds.clone(),
                    now,
                    &Arc::new(Liveness::default()).register("scheduler"),
                    shutdown,
                    move |id| {
                        let (holds, seen, clock) = (holds.clone(), seen.clone(), clock.clone());
                        async move {
                            let now = clock();
                            let at = (now - start).num_seconds();
                            let did =
                                |what| seen.lock().unwrap().push((id.uuid().as_u128(), at, what));
                            let Some(mut hold) = holds.get(id) else {
                                return;
                            };
                            if hold.expired(now) {
                                did("fallback");
                                holds.remove(id);
                                return;
                            }
                            let due = hold.take_announcements(now);
                            let counted = (hold.reminders_sent, hold.escalation_sent);
                            holds.update(id, |h| (h.reminders_sent, h.escalation_sent) = counted);
                            if due.reminder {
                                did("reminder");
                            }
                            if due.escalation {
                                did("escalated");
                            }
                            if hold.keepalive_due <= now {
                                did("keepalive");
                                holds.reschedule(id, next_keepalive(&hold, now, EXTEND_BY), |_| {});
                            } else {
                                holds.reschedule(id, hold.keepalive_due, |_| {});
                            }
                        }
                    },
                )
                .await;
            })
        };
        meanwhile.await;
        tokio::time::sleep(run_for).await;
        shutdown.cancel();
        serving.await.unwrap();
        let mut seen = seen.lock().unwrap().clone();
        seen.sort_by_key(|&(id, at, what)| (at, id, what));
        seen
    }

    /// The times at which `what` was done to hold `id`.
    fn times(seen: &[(u128, i64, &str)], id: u128, what: &[&str]) -> Vec<i64> {
        seen.iter()
            .filter(|(seen_id, _, done)| *seen_id == id && what.contains(done))
            .map(|&(_, at, _)| at)
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn keepalives_come_at_their_cadence_and_the_last_attendance_at_the_deadline() {
        let start = paused_clock()();
        let hour = start + Duration::from_secs(3600);
        let holds = Arc::new(HoldRegistry::default());
        holds.insert(held(1, 300, start, hour));
        holds.insert(held(2, 600, start + Duration::from_secs(90), hour));
        let seen = serve_for(holds.clone(), Duration::from_secs(2 * 3600), async {}).await;

        let attended = |id| times(&seen, id, &["keepalive", "fallback"]);
        assert_eq!(attended(1), (0..=3600).step_by(300).collect::<Vec<_>>());
        assert_eq!(attended(2), [90, 690, 1290, 1890, 2490, 3090, 3600]);
        assert!(holds.is_empty(), "both holds ended at their deadline");
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_added_while_the_scheduler_sleeps_is_attended_on_time() {
        let start = paused_clock()();
        let hour = start + Duration::from_secs(3600);
        let holds = Arc::new(HoldRegistry::default());
        holds.insert(held(1, 300, start, hour));
        let late_arrival = {
            let holds = holds.clone();
            async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                holds.insert(held(2, 300, start + Duration::from_secs(10), hour));
            }
        };
        let seen = serve_for(holds, Duration::from_secs(20), late_arrival).await;
        assert_eq!(seen, [(1, 0, "keepalive"), (2, 10, "keepalive")]);
    }

    fn with_reminders(mut hold: HeldTask, remind_every: u64, escalate_after: u64) -> HeldTask {
        hold.approval = Arc::new(crate::policy::ApprovalRule {
            remind_every: Some(Duration::from_secs(remind_every)),
            escalate_after: Some(Duration::from_secs(escalate_after)),
            ..Default::default()
        });
        hold
    }

    #[tokio::test(start_paused = true)]
    async fn reminders_and_the_escalation_come_at_their_times_from_the_tasks_creation() {
        let start = paused_clock()();
        let hour = start + Duration::from_secs(3600);
        let holds = Arc::new(HoldRegistry::default());
        // Keepalives every 25 min; a reminder every 10 min; escalation after 35 min.
        holds.insert(with_reminders(held(1, 1500, start, hour), 600, 2100));
        let seen = serve_for(holds, Duration::from_secs(2 * 3600), async {}).await;
        assert_eq!(
            times(&seen, 1, &["reminder"]),
            [600, 1200, 1800, 2400, 3000]
        );
        assert_eq!(times(&seen, 1, &["escalated"]), [2100]);
        assert_eq!(times(&seen, 1, &["keepalive"]), [0, 1500, 3000]);
        assert_eq!(
            times(&seen, 1, &["fallback"]),
            [3600],
            "no reminder at the deadline"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn reminders_missed_while_nobody_led_come_once_and_nothing_announced_is_repeated() {
        // The task was created 25 min before this instance took it in: two reminders (10 and
        // 20 min) fell due meanwhile, and the escalation (at 15 min) too.
        let created = paused_clock()() - Duration::from_secs(1500);
        let deadline = created + Duration::from_secs(3600);
        let holds = Arc::new(HoldRegistry::default());
        let mut missed = with_reminders(held(1, 3000, created, deadline), 600, 900);
        missed.keepalive_due = created + Duration::from_secs(1500);
        holds.insert(missed.clone());
        // The same hold, as the journal says: the first reminder and the escalation were sent.
        let mut journaled = missed;
        journaled.view.id = TaskId::from_uuid(uuid::Uuid::from_u128(2));
        journaled.reminders_sent = 1;
        journaled.escalation_sent = true;
        holds.insert(journaled);
        let seen = serve_for(holds, Duration::from_secs(1200), async {}).await;
        for id in [1, 2] {
            assert_eq!(times(&seen, id, &["reminder"]), [0, 300, 900], "hold {id}");
        }
        assert_eq!(times(&seen, 1, &["escalated"]), [0]);
        assert_eq!(times(&seen, 2, &["escalated"]), Vec::<i64>::new());
    }
}
