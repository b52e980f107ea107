//! The engine: what happens to one blocking task, given its id by a source (the AMQP
//! consumer, reconciliation). It reads the task from vCD (the source of truth), decides with the
//! current policy and acts, and tells the source what became of it ([`Disposition`]).

mod approve;
mod ask;
mod audit;
mod batch;
pub(crate) mod holds;
mod owner;
mod recent;
mod scheduler;
mod single_flight;
mod timeline;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::ask::Services;
use crate::config::{HoldSettings, PolicyMode};
use crate::facts::TaskFacts;
use crate::journal::{DecisionRecord, Journal};
use crate::leadership::Leadership;
use crate::metrics::Metrics;
use crate::notify::{Event, Notifier};
use crate::outcome::{AuditOutcome, DeadLetterReason, RunOutcome, TaskOutcome, WebhookEvent};
use crate::policy::{self, Action, Decision, Policy};
use crate::task::{Approval, BlockingTask, FinalAction, HoldView, TaskId};
use crate::vcd::VcdClient;
use crate::vcd::{ErrorClass, VcdError};

pub(crate) use approve::{Decided, HoldError, gate};
pub use holds::{HeldTask, HoldRegistry};
pub(crate) use owner::task_facts;
use recent::RecentlyDecided;
pub(crate) use single_flight::SingleFlight;

/// What became of a task, and so what its source does with whatever announced it.
#[derive(Debug)]
pub enum Disposition {
    /// Done with: the task was acted on, found decided, held, or needs nothing.
    Ack(TaskOutcome),
    /// The task can never be handled this way (vCD refuses, or answers what cannot be read):
    /// an AMQP delivery goes to the dead-letter queue with this reason.
    DeadLetter {
        reason: DeadLetterReason,
        detail: String,
    },
    /// Transient trouble (vCD unreachable, overloaded, login failing): try again later and
    /// keep the delivery meanwhile.
    Retry(VcdError),
}

/// Where a task id came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Its notification.
    Notified,
    /// vCD's list of active tasks (reconciliation, or held tasks decided again).
    Listed,
}

/// Decides blocking tasks and carries the decisions out.
pub struct Engine {
    vcd: Arc<VcdClient>,
    /// The current policy; replaced whole on reload.
    policy: RwLock<Arc<Policy>>,
    mode: PolicyMode,
    hold_settings: HoldSettings,
    metrics: Arc<Metrics>,
    /// Tells the `[[notify]]` webhooks about holds; only queues, so it never delays anything.
    notifier: Notifier,
    /// Where decisions (and what people said) are written before they are acknowledged.
    journal: Arc<Journal>,
    /// Only the leader holds tasks, keeps them alive and announces them.
    leadership: Arc<Leadership>,
    flights: SingleFlight,
    pub holds: HoldRegistry,
    /// Active tasks decided `ignore` (or decided in dry-run mode): left alone by
    /// reconciliation until the policy changes or vCD stops listing them.
    settled: Mutex<HashSet<TaskId>>,
    /// Tasks vCD accepted this daemon's decision for lately: announced again, they need no read.
    decided: RecentlyDecided,
    /// Woken when the policy is replaced, so that the timeline sleeps until the new policy's
    /// next instant of change.
    policy_changed: tokio::sync::Notify,
    /// The `[[ask]]` decision services rules hand decisions to.
    services: Arc<Services>,
    /// Held tasks a decision service is being asked about, each with its loop.
    asking: ask::Asking,
    /// This engine, for the loops it spawns.
    me: Weak<Engine>,
}

impl Engine {
    #[expect(
        clippy::too_many_arguments,
        reason = "each is one of the engine's parts, built by the daemon"
    )]
    pub(crate) fn new(
        vcd: Arc<VcdClient>,
        policy: Policy,
        mode: PolicyMode,
        hold_settings: HoldSettings,
        metrics: Arc<Metrics>,
        notifier: Notifier,
        journal: Arc<Journal>,
        leadership: Arc<Leadership>,
        services: Arc<Services>,
    ) -> Arc<Engine> {
        Arc::new_cyclic(|me| Engine {
            vcd,
            policy: RwLock::new(Arc::new(policy)),
            mode,
            hold_settings,
            metrics,
            notifier,
            journal,
            leadership,
            flights: SingleFlight::default(),
            holds: HoldRegistry::default(),
            settled: Mutex::new(HashSet::new()),
            decided: RecentlyDecided::default(),
            policy_changed: tokio::sync::Notify::new(),
            services,
            asking: ask::Asking::default(),
            me: me.clone(),
        })
    }

    pub fn policy(&self) -> Arc<Policy> {
        self.policy
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Swaps in a new policy. Tasks left alone under the old one are decided again by the
    /// next reconciliation; held tasks by [`Engine::redecide_holds`].
    pub fn replace_policy(&self, policy: Policy) {
        *self
            .policy
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(policy);
        self.settled_set().clear();
        self.policy_changed.notify_waiters();
    }

    fn settled_set(&self) -> std::sync::MutexGuard<'_, HashSet<TaskId>> {
        self.settled
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn vcd(&self) -> &VcdClient {
        &self.vcd
    }

    /// The journal decisions are written to; also what `GET /v1/decisions` reads.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Leadership ended: the holds and settled tasks are the next leader's now. If this
    /// instance leads again, reconciliation finds them again.
    pub(crate) fn end_term(&self) {
        self.holds.retain(|_| false);
        self.asking.clear();
        self.metrics.holds_active.set(0);
        self.settled_set().clear();
    }

    /// Reads task `id` from vCD, decides it and acts. Safe to call for the same task from
    /// several places at once: they take turns, and later turns find the task decided.
    pub async fn handle_task(&self, id: TaskId, received: Instant, origin: Origin) -> Disposition {
        let _flight = self.flights.enter(id).await;
        if self.decided.contains(id) {
            tracing::debug!(task_id = %id, "decided here lately; not read again");
            return Disposition::Ack(TaskOutcome::AlreadyDecided);
        }
        let task = match self.vcd.blocking_task(id).await {
            Ok(task) => task,
            Err(error) => return self.read_failed(id, error),
        };
        if !task.status.is_active() {
            self.gone(id);
            tracing::info!(task_id = %id, status = ?task.status, "task already decided in vCD");
            return Disposition::Ack(TaskOutcome::AlreadyDecided);
        }
        let policy = self.policy();
        let now = Utc::now();
        let facts = task_facts(&self.vcd, &policy, &task, now).await;
        self.count_queries(&facts);
        let decision = policy::decide(&policy, &facts, now);
        for shadow in &decision.shadow {
            audit::shadow(&facts, &shadow.rule, shadow.action.name(), &shadow.message);
            self.metrics
                .decision(shadow.action.name(), &shadow.rule, true);
        }
        self.carry_out(&task, &facts, &decision, received, origin)
            .await
    }

    /// Counts the quota queries gathering `facts` sent, by what they found.
    fn count_queries(&self, facts: &TaskFacts) {
        for count in facts.quota.counted() {
            self.metrics.quota_query(if count.is_ok() {
                RunOutcome::Ok
            } else {
                RunOutcome::Error
            });
        }
    }

    async fn carry_out(
        &self,
        task: &BlockingTask,
        facts: &TaskFacts,
        decision: &Decision,
        received: Instant,
        origin: Origin,
    ) -> Disposition {
        let dry_run = self.mode == PolicyMode::DryRun;
        if !matches!(decision.action, Action::Ask(_)) {
            self.asking.remove(task.id);
        }
        let final_action = match &decision.action {
            Action::Resume => FinalAction::Resume,
            Action::Abort => FinalAction::Abort,
            Action::Fail => FinalAction::Fail,
            Action::Hold(hold) if !dry_run => {
                let outcome = self.hold(task, decision, hold.clone(), origin, Utc::now(), true);
                self.record(facts, decision, false, outcome, received);
                return Disposition::Ack(TaskOutcome::Held);
            }
            // Held while the service is asked, and announced only when it answers hold.
            Action::Ask(ask) if !dry_run => {
                let outcome =
                    self.hold(task, decision, ask.hold.clone(), origin, Utc::now(), false);
                self.record(facts, decision, false, outcome, received);
                self.start_asking(task, facts, decision, ask);
                return Disposition::Ack(TaskOutcome::Held);
            }
            Action::Hold(_) | Action::Ask(_) | Action::Ignore => {
                self.forget(task.id);
                self.settled_set().insert(task.id);
                let outcome = if dry_run {
                    AuditOutcome::DryRun
                } else {
                    AuditOutcome::Left
                };
                self.record(facts, decision, dry_run, outcome, received);
                return Disposition::Ack(if dry_run {
                    TaskOutcome::DryRun
                } else {
                    TaskOutcome::Ignored
                });
            }
        };
        if dry_run {
            self.settled_set().insert(task.id);
            self.record(facts, decision, true, AuditOutcome::DryRun, received);
            return Disposition::Ack(TaskOutcome::DryRun);
        }
        match self.vcd.act(task.id, final_action, &decision.message).await {
            Ok(()) => {
                self.forget(task.id);
                self.decided.insert(task.id);
                self.record(facts, decision, false, AuditOutcome::Done, received);
                let decided =
                    DecisionRecord::by_rule(task, &decision.rule, final_action, Utc::now());
                self.journal.decided(decided).await;
                Disposition::Ack(TaskOutcome::Decided)
            }
            Err(error) => {
                self.action_failed(task.id, facts, decision, error, received)
                    .await
            }
        }
    }

    /// Takes the task into the hold registry, due for its first keepalive now, and announces
    /// it. A task already held keeps its schedule; only what the policy says about it is
    /// refreshed. A hold found in vCD's list for a task older than this leader's term may have
    /// been announced by an earlier leader: it is announced as `rediscovered`. An instance that
    /// no longer leads holds nothing (the next leader finds the task). A task held while a
    /// decision service is asked is not announced (`announce` false): the ask announces it
    /// if the service answers hold.
    fn hold(
        &self,
        task: &BlockingTask,
        decision: &Decision,
        hold: policy::Hold,
        origin: Origin,
        now: DateTime<Utc>,
        announce: bool,
    ) -> AuditOutcome {
        let Some(term_began) = self.leadership.since() else {
            tracing::info!(task_id = %task.id, "not the leader any more: the task is left to the next one");
            return AuditOutcome::LeftToLeader;
        };
        let since = task.created.unwrap_or(now);
        let deadline = since + hold.max;
        let existing = self.holds.get(task.id);
        let rediscovered = origin == Origin::Listed && task.created.is_none_or(|c| c < term_began);
        let keepalive_due = existing
            .as_ref()
            .map_or(now, |h| h.keepalive_due.min(deadline));
        let mut held = HeldTask {
            view: HoldView {
                id: task.id,
                operation: task.operation.as_str().into(),
                org: task.org.name.as_str().into(),
                user: task.user.name.as_str().into(),
                owner_name: task.owner.name.as_str().into(),
                rule: decision.rule.clone(),
                since,
                deadline,
                fallback: hold.fallback,
                approvals: existing
                    .as_ref()
                    .map(|h| h.view.approvals.clone())
                    .unwrap_or_default(),
                needed: hold.approval.needed,
                reason: decision.reason.as_deref().map(Box::from),
            },
            keepalive: hold.keepalive.unwrap_or(self.hold_settings.keepalive),
            message: decision.message.as_str().into(),
            vcd_timeout: task.timeout_date,
            next_check: keepalive_due,
            keepalive_due,
            failures: existing.as_ref().map_or(0, |h| h.failures),
            approval: hold.approval.clone(),
            reminders_sent: existing.as_ref().map_or(0, |h| h.reminders_sent),
            escalation_sent: existing.as_ref().is_some_and(|h| h.escalation_sent),
        };
        if existing.is_none() {
            self.restore_from_journal(&mut held, rediscovered, now);
        }
        let announcement = (existing.is_none() && announce).then(|| Event {
            rediscovered,
            ..held.event(WebhookEvent::Held, &held.message, now)
        });
        self.holds.insert(held);
        self.settled_set().remove(&task.id);
        self.metrics.holds_active.set(self.holds.len() as i64);
        if existing.is_some() {
            return AuditOutcome::StillHeld;
        }
        let Some(announcement) = announcement else {
            return AuditOutcome::Held;
        };
        self.notifier.send(announcement);
        AuditOutcome::Held
    }

    /// A hold taken in anew (at start, after a takeover, or first held): what the journal
    /// says was recorded and announced for it, "1 of 2: carol" and the reminders sent. A hold
    /// found again in vCD's list of which the journal knows nothing (a journal that was lost,
    /// or could not be read) counts what fell due before as announced, so that nothing is
    /// repeated.
    fn restore_from_journal(&self, held: &mut HeldTask, rediscovered: bool, now: DateTime<Utc>) {
        match self.journal.pending(held.view.id) {
            Some(pending) => {
                held.view.approvals = pending
                    .approvals
                    .into_iter()
                    .map(|(approver, at)| Approval {
                        approver: approver.into(),
                        at,
                    })
                    .collect();
                held.reminders_sent = pending
                    .reminded
                    .map_or(0, |at| held.reminders_due(at.min(now)));
                held.escalation_sent = pending.escalated.is_some();
            }
            None if rediscovered && !self.journal.was_read() => {
                held.reminders_sent = held.reminders_due(now);
                held.escalation_sent = held.escalated(now);
            }
            None => {}
        }
    }

    /// The journal lost what it held (its stream was deleted): recorded approvals are gone
    /// with it, and held tasks start again at 0 of N.
    pub(crate) fn forget_approvals(&self) {
        for held in self.holds.list() {
            if !held.view.approvals.is_empty() {
                self.holds
                    .update(held.view.id, |held| held.view.approvals.clear());
            }
        }
    }

    /// Whether `name` is one of the config's `[[ask]]` decision services.
    pub(crate) fn knows_service(&self, name: &str) -> bool {
        self.services.has(name)
    }

    /// `[holds] allow_self_approval`: whether approvers may decide their own requests.
    pub(crate) fn allow_self_approval(&self) -> bool {
        self.hold_settings.allow_self_approval
    }

    /// The task is decided: it is neither held nor settled any more. Returns its hold, if it
    /// was held.
    fn forget(&self, id: TaskId) -> Option<HeldTask> {
        self.asking.remove(id);
        let hold = self.holds.remove(id);
        if hold.is_some() {
            self.metrics.holds_active.set(self.holds.len() as i64);
        }
        self.settled_set().remove(&id);
        hold
    }

    /// vCD no longer waits for task `id` (found decided or not found): it is forgotten, and
    /// if it was held, that is announced.
    fn gone(&self, id: TaskId) {
        if let Some(hold) = self.forget(id) {
            self.announce_gone(&hold);
        }
    }

    /// Tells the webhooks and the Slack app that vCD no longer waits for the held task: it
    /// timed out there, the tenant cancelled it, or another handler decided it.
    fn announce_gone(&self, hold: &HeldTask) {
        let message = "vCD no longer waits for the task: it timed out, was cancelled, or was \
                       decided elsewhere";
        self.notifier
            .send(hold.event(WebhookEvent::Gone, message, Utc::now()));
    }

    /// vCD refused or lost track of the action: re-read the task to learn whether somebody
    /// else decided it first.
    async fn action_failed(
        &self,
        id: TaskId,
        facts: &TaskFacts,
        decision: &Decision,
        error: VcdError,
        received: Instant,
    ) -> Disposition {
        if !matches!(error.class(), ErrorClass::Refused | ErrorClass::NotFound) {
            return Disposition::Retry(error);
        }
        match self.vcd.blocking_task_now(id).await {
            Ok(task) if !task.status.is_active() => {
                self.gone(id);
                self.record(
                    facts,
                    decision,
                    false,
                    AuditOutcome::AlreadyDecided,
                    received,
                );
                Disposition::Ack(TaskOutcome::AlreadyDecided)
            }
            Ok(_) => {
                self.record(facts, decision, false, AuditOutcome::Refused, received);
                Disposition::DeadLetter {
                    reason: DeadLetterReason::ActionRefused,
                    detail: error.to_string(),
                }
            }
            Err(reread) if reread.class() == ErrorClass::NotFound => {
                Disposition::Ack(TaskOutcome::TaskNotFound)
            }
            Err(reread) => Disposition::Retry(reread),
        }
    }

    fn read_failed(&self, id: TaskId, error: VcdError) -> Disposition {
        match error.class() {
            ErrorClass::NotFound => {
                self.gone(id);
                tracing::warn!(task_id = %id, %error, "blocking task not found in vCD; reconciliation will pick it up if it appears");
                Disposition::Ack(TaskOutcome::TaskNotFound)
            }
            ErrorClass::Refused => Disposition::DeadLetter {
                reason: DeadLetterReason::VcdRefused,
                detail: error.to_string(),
            },
            ErrorClass::Unreadable => Disposition::DeadLetter {
                reason: DeadLetterReason::UnreadableTask,
                detail: error.to_string(),
            },
            ErrorClass::Transient | ErrorClass::Misconfigured => Disposition::Retry(error),
        }
    }

    fn record(
        &self,
        facts: &TaskFacts,
        decision: &Decision,
        dry_run: bool,
        outcome: AuditOutcome,
        received: Instant,
    ) {
        audit::decision(facts, decision, dry_run, outcome, received.elapsed());
        self.metrics
            .decision(decision.action.name(), &decision.rule, dry_run);
    }
}
