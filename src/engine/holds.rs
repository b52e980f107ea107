//! The hold registry: tasks held for a human, each with the moment it next needs attention (a
//! keepalive before vCD's timeout comes near, or the rule's deadline). It is a delay queue: a
//! map of holds plus a set ordered by due time, served by one scheduler task, so 100,000 holds
//! cost memory but no timers. Nothing here does I/O; times are passed in.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::backoff::Backoff;
use crate::notify::Event;
use crate::outcome::WebhookEvent;
use crate::policy::ApprovalRule;
use crate::task::{HoldView, TaskId};

/// A task held for a human: its view, and what the scheduler needs to keep it alive.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldTask {
    /// What the admin API, the webhooks and the audit log show of it.
    pub view: HoldView,
    /// How often to send `updateProgress` while vCD's timeout is still far.
    pub keepalive: Duration,
    /// Sent with every keepalive; the tenant sees it in vCD.
    pub message: Box<str>,
    /// vCD's `timeoutDate` as last seen.
    pub vcd_timeout: Option<DateTime<Utc>>,
    /// When the scheduler looks at this hold next: its next keepalive, or an announcement
    /// (reminder, escalation) due earlier.
    pub next_check: DateTime<Utc>,
    /// When the next keepalive (or retry) is due.
    pub keepalive_due: DateTime<Utc>,
    /// Keepalive or fallback attempts that failed in a row.
    pub failures: u32,
    /// Who may decide, how many must approve, reminders and escalation: the rule's, as it
    /// was when the task was last decided `hold`.
    pub approval: Arc<ApprovalRule>,
    /// Reminders counted as sent: the `n`th is due at `since + n × remind_every`.
    pub reminders_sent: u32,
    /// Whether `escalated` was announced.
    pub escalation_sent: bool,
}

impl HeldTask {
    /// The held blocking task's id (the registry's key).
    pub fn id(&self) -> TaskId {
        self.view.id
    }

    /// The deadline has passed: apply the fallback instead of keeping the task alive.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.view.deadline
    }

    /// Whether `escalate_to` may decide too: `escalate_after` has passed since the task was
    /// created.
    pub fn escalated(&self, now: DateTime<Utc>) -> bool {
        self.escalation_due().is_some_and(|due| now >= due)
    }

    fn escalation_due(&self) -> Option<DateTime<Utc>> {
        self.approval
            .escalate_after
            .map(|after| self.view.since + after)
    }

    /// How many reminders are due by `now`, counted from the task's creation (none at or
    /// after the deadline, when the fallback applies instead).
    pub fn reminders_due(&self, now: DateTime<Utc>) -> u32 {
        let Some(every) = self.approval.remind_every else {
            return 0;
        };
        let until = now.min(self.view.deadline - Duration::from_millis(1));
        let elapsed = (until - self.view.since).to_std().unwrap_or_default();
        u32::try_from(elapsed.as_millis() / every.as_millis().max(1)).unwrap_or(u32::MAX)
    }

    /// What is due to be announced at `now`: a reminder (one, however many were missed), the
    /// escalation (once).
    pub fn announcements_due(&self, now: DateTime<Utc>) -> Announcements {
        Announcements {
            reminder: self.reminders_due(now) > self.reminders_sent,
            escalation: !self.escalation_sent && self.escalated(now),
        }
    }

    /// When the next reminder or the escalation is due, if any is still to come before the
    /// deadline.
    fn next_announcement(&self) -> Option<DateTime<Utc>> {
        let reminder = self
            .approval
            .remind_every
            .map(|every| self.view.since + every * self.reminders_sent.saturating_add(1));
        let escalation = self.escalation_due().filter(|_| !self.escalation_sent);
        [reminder, escalation]
            .into_iter()
            .flatten()
            .filter(|at| *at < self.view.deadline)
            .min()
    }

    /// When the scheduler should look at this hold, given its next keepalive.
    fn next_check_for(&self, keepalive_due: DateTime<Utc>) -> DateTime<Utc> {
        self.next_announcement()
            .map_or(keepalive_due, |at| at.min(keepalive_due))
    }

    /// What each keepalive tells vCD: the rule's message, and once approvals are recorded,
    /// how far they are ("…; 1 of 2 approvals (carol)").
    pub fn progress_message(&self) -> String {
        if self.view.approvals.is_empty() {
            return self.message.to_string();
        }
        format!(
            "{}; {} of {} approvals ({})",
            self.message,
            self.view.approvals.len(),
            self.view.needed,
            self.view.approver_names()
        )
    }

    /// Takes what is due at `now` as announced (the reminders due so far, the escalation) and
    /// says what to announce: at most one reminder however many fell due, the escalation once.
    pub fn take_announcements(&mut self, now: DateTime<Utc>) -> Announcements {
        let due = self.announcements_due(now);
        if due.reminder {
            self.reminders_sent = self.reminders_due(now);
        }
        if due.escalation {
            self.escalation_sent = true;
        }
        due
    }

    /// What the webhooks are told when `kind` happens to this hold at `at`; the caller adds
    /// the approver and the action where they apply.
    pub(crate) fn event(&self, kind: WebhookEvent, message: &str, at: DateTime<Utc>) -> Event {
        Event {
            kind,
            hold: self.view.clone(),
            approver: None,
            action: None,
            message: Some(message.into()),
            at,
            rediscovered: false,
            approval: self.approval.clone(),
            escalated: self.escalated(at),
        }
    }
}

/// What a hold has due to announce at a moment ([`HeldTask::announcements_due`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Announcements {
    pub reminder: bool,
    pub escalation: bool,
}

/// When a hold needs its next keepalive: at its cadence, but early enough before vCD's timeout
/// (a third of `extend_by` ahead, between 1 s and 2 min), and never after its deadline.
pub(crate) fn next_keepalive(
    hold: &HeldTask,
    now: DateTime<Utc>,
    extend_by: Duration,
) -> DateTime<Utc> {
    let margin = (extend_by / 3).clamp(Duration::from_secs(1), Duration::from_secs(120));
    let by_cadence = now + hold.keepalive;
    let by_vcd = hold
        .vcd_timeout
        .map_or(by_cadence, |timeout| timeout - margin);
    by_cadence.min(by_vcd).min(hold.view.deadline).max(now)
}

/// When to try again after `failures` failed attempts: quickly at first, at most a minute
/// apart, and before vCD's timeout if it is known.
pub(crate) fn next_retry(hold: &HeldTask, now: DateTime<Utc>) -> DateTime<Utc> {
    let retry = now + Backoff::KEEPALIVE.ceiling(hold.failures);
    let before_timeout = hold
        .vcd_timeout
        .map_or(retry, |t| t - Duration::from_millis(500));
    retry
        .min(before_timeout.max(now + Duration::from_millis(200)))
        .min(hold.view.deadline.max(now))
}

/// Held tasks, ordered by when each needs attention. Shared by the engine, the scheduler and
/// the admin API.
#[derive(Debug, Default)]
pub struct HoldRegistry {
    inner: Mutex<Inner>,
    /// Wakes the scheduler when a hold becomes due earlier than it planned.
    changed: Notify,
}

#[derive(Debug, Default)]
struct Inner {
    holds: HashMap<TaskId, HeldTask>,
    /// `(next_check, id)` of every hold not currently being worked on.
    due: BTreeSet<(DateTime<Utc>, TaskId)>,
}

impl HoldRegistry {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a hold, or replaces the one with the same id, and schedules it at its
    /// `keepalive_due`, or earlier when a reminder or escalation is due first.
    pub fn insert(&self, mut hold: HeldTask) {
        hold.next_check = hold.next_check_for(hold.keepalive_due);
        let mut inner = self.lock();
        if let Some(old) = inner.holds.remove(&hold.id()) {
            inner.due.remove(&(old.next_check, old.id()));
        }
        inner.due.insert((hold.next_check, hold.id()));
        inner.holds.insert(hold.id(), hold);
        drop(inner);
        self.changed.notify_one();
    }

    pub fn remove(&self, id: TaskId) -> Option<HeldTask> {
        let mut inner = self.lock();
        let hold = inner.holds.remove(&id)?;
        inner.due.remove(&(hold.next_check, id));
        Some(hold)
    }

    pub fn get(&self, id: TaskId) -> Option<HeldTask> {
        self.lock().holds.get(&id).cloned()
    }

    pub fn contains(&self, id: TaskId) -> bool {
        self.lock().holds.contains_key(&id)
    }

    pub fn len(&self) -> usize {
        self.lock().holds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The soonest deadline of any hold (when its fallback applies), if any is held. Walks
    /// every hold: meant for a metrics scrape, not a hot path.
    pub fn earliest_deadline(&self) -> Option<DateTime<Utc>> {
        self.lock()
            .holds
            .values()
            .map(|hold| hold.view.deadline)
            .min()
    }

    /// Every hold, oldest first.
    pub fn list(&self) -> Vec<HeldTask> {
        let mut holds: Vec<HeldTask> = self.lock().holds.values().cloned().collect();
        holds.sort_by_key(|h| (h.view.since, h.view.id));
        holds
    }

    /// Updates a hold and schedules its next keepalive at `at` (its next check may come
    /// earlier, for a reminder or escalation). Returns false if it is gone.
    pub fn reschedule(
        &self,
        id: TaskId,
        at: DateTime<Utc>,
        update: impl FnOnce(&mut HeldTask),
    ) -> bool {
        let mut inner = self.lock();
        let Some(hold) = inner.holds.get_mut(&id) else {
            return false;
        };
        let old = (hold.next_check, id);
        update(hold);
        hold.keepalive_due = at;
        hold.next_check = hold.next_check_for(at);
        let new = (hold.next_check, id);
        inner.due.remove(&old);
        inner.due.insert(new);
        drop(inner);
        self.changed.notify_one();
        true
    }

    /// The earliest scheduled check.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.lock().due.first().map(|(at, _)| *at)
    }

    /// Takes up to `max` holds due at `now` out of the schedule; the caller works on them and
    /// then calls [`HoldRegistry::reschedule`] or [`HoldRegistry::remove`] for each.
    pub fn take_due(&self, now: DateTime<Utc>, max: usize) -> Vec<TaskId> {
        let mut inner = self.lock();
        let mut taken = Vec::new();
        while taken.len() < max {
            match inner.due.first() {
                Some(&(at, id)) if at <= now => {
                    inner.due.pop_first();
                    taken.push(id);
                }
                _ => break,
            }
        }
        taken
    }

    /// Updates a hold without touching its schedule (for a hold taken out by
    /// [`HoldRegistry::take_due`] and being worked on). Returns false if it is gone.
    pub fn update(&self, id: TaskId, update: impl FnOnce(&mut HeldTask)) -> bool {
        let mut inner = self.lock();
        match inner.holds.get_mut(&id) {
            Some(hold) => {
                let next_check = hold.next_check;
                update(hold);
                hold.next_check = next_check;
                true
            }
            None => false,
        }
    }

    /// Drops every hold for which `keep` is false; returns the dropped holds.
    pub fn retain(&self, keep: impl Fn(TaskId) -> bool) -> Vec<HeldTask> {
        let mut inner = self.lock();
        let ids: Vec<TaskId> = inner
            .holds
            .keys()
            .copied()
            .filter(|id| !keep(*id))
            .collect();
        let mut dropped = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(hold) = inner.holds.remove(&id) {
                inner.due.remove(&(hold.next_check, id));
                dropped.push(hold);
            }
        }
        dropped
    }

    /// Resolves when a hold was added or rescheduled since the last call.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::task::FinalAction;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
    }

    fn hold(n: u128, next_check: i64) -> HeldTask {
        HeldTask {
            view: HoldView {
                id: TaskId::from_uuid(uuid::Uuid::from_u128(n)),
                operation: "vdcInstantiateVapp".into(),
                org: "prod-eu".into(),
                user: "dave".into(),
                owner_name: "billing".into(),
                rule: Arc::from("production deployments need an approver"),
                since: at(0),
                deadline: at(3600),
                fallback: FinalAction::Abort,
                approvals: Vec::new(),
                needed: 1,
                reason: None,
            },
            keepalive: Duration::from_secs(300),
            message: "Waiting for approval".into(),
            vcd_timeout: Some(at(900)),
            next_check: at(next_check),
            keepalive_due: at(next_check),
            failures: 0,
            approval: Arc::default(),
            reminders_sent: 0,
            escalation_sent: false,
        }
    }

    #[test]
    fn the_earliest_deadline_is_the_soonest_of_all_holds() {
        let registry = HoldRegistry::default();
        assert_eq!(registry.earliest_deadline(), None);
        let mut late = hold(1, 30);
        late.view.deadline = at(7200);
        let mut soon = hold(2, 60);
        soon.view.deadline = at(1800);
        registry.insert(late);
        registry.insert(soon);
        assert_eq!(registry.earliest_deadline(), Some(at(1800)));
        registry.remove(TaskId::from_uuid(uuid::Uuid::from_u128(2)));
        assert_eq!(registry.earliest_deadline(), Some(at(7200)));
    }

    #[test]
    fn due_holds_come_out_in_time_order_and_only_when_due() {
        let registry = HoldRegistry::default();
        registry.insert(hold(1, 30));
        registry.insert(hold(2, 10));
        registry.insert(hold(3, 20));
        assert_eq!(registry.next_due(), Some(at(10)));
        assert!(registry.take_due(at(9), 10).is_empty());
        let due = registry.take_due(at(25), 10);
        assert_eq!(due, [hold(2, 0).id(), hold(3, 0).id()]);
        // Taken holds stay registered but leave the schedule until rescheduled.
        assert_eq!(registry.len(), 3);
        assert_eq!(registry.next_due(), Some(at(30)));
        assert!(registry.reschedule(hold(2, 0).id(), at(40), |h| h.failures = 1));
        assert_eq!(registry.get(hold(2, 0).id()).unwrap().failures, 1);
        assert_eq!(registry.take_due(at(100), 1), [hold(1, 0).id()]);
    }

    #[test]
    fn replacing_and_removing_keep_the_schedule_consistent() {
        let registry = HoldRegistry::default();
        registry.insert(hold(1, 10));
        registry.insert(hold(1, 50));
        assert_eq!(registry.len(), 1);
        assert_eq!(registry.next_due(), Some(at(50)));
        assert!(registry.remove(hold(1, 0).id()).is_some());
        assert_eq!(registry.next_due(), None);
        assert!(!registry.reschedule(hold(1, 0).id(), at(60), |_| {}));
        registry.insert(hold(2, 10));
        registry.insert(hold(3, 10));
        let dropped: Vec<TaskId> = registry
            .retain(|id| id == hold(3, 0).id())
            .iter()
            .map(HeldTask::id)
            .collect();
        assert_eq!(dropped, [hold(2, 0).id()]);
        assert_eq!(registry.take_due(at(10), 10), [hold(3, 0).id()]);
    }

    #[test]
    fn keepalives_come_before_vcd_times_the_task_out() {
        let extend_by = Duration::from_secs(900);
        let mut held = hold(1, 0);
        // vCD's timeout is far: the cadence decides.
        held.vcd_timeout = Some(at(900));
        assert_eq!(next_keepalive(&held, at(0), extend_by), at(300));
        // vCD's timeout is near: a margin of a third of extend_by (capped at 2 min) before it.
        held.vcd_timeout = Some(at(200));
        assert_eq!(next_keepalive(&held, at(0), extend_by), at(80));
        // Short timeouts (tests, small clouds): a third of extend_by, at least a second.
        held.vcd_timeout = Some(at(3));
        assert_eq!(next_keepalive(&held, at(0), Duration::from_secs(3)), at(2));
        // Never past the deadline, never in the past.
        held.vcd_timeout = None;
        held.view.deadline = at(100);
        assert_eq!(next_keepalive(&held, at(0), extend_by), at(100));
        held.vcd_timeout = Some(at(-50));
        assert_eq!(next_keepalive(&held, at(0), extend_by), at(0));
    }

    #[test]
    fn retries_back_off_but_stay_ahead_of_the_timeout() {
        let mut held = hold(1, 0);
        held.vcd_timeout = Some(at(3600));
        held.view.deadline = at(7200);
        let waits: Vec<i64> = (1..=8)
            .map(|failures| {
                held.failures = failures;
                (next_retry(&held, at(0)) - at(0)).num_seconds()
            })
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        held.failures = 8;
        held.vcd_timeout = Some(at(10));
        assert_eq!(
            next_retry(&held, at(0)),
            at(10) - Duration::from_millis(500)
        );
    }
}
