//! The audit trail: one structured event (target `audit`) per decision, so that every
//! resume, abort, fail, hold or ignore can be traced to a rule and explained.

use std::time::Duration;

use super::holds::HeldTask;
use crate::facts::{TaskFacts, UnknownFact};
use crate::outcome::HoldEvent;
use crate::policy::Decision;

/// What happened when a decision was carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// vCD accepted the action.
    Done,
    /// Decided but not acted on: `mode = "dry-run"` or a rule with `dry_run = true`.
    DryRun,
    /// The action is "ignore": vCD's own timeout applies.
    Left,
    /// vCD showed the task already decided when we tried to act.
    AlreadyDecided,
    /// vCD refused the action on a task that is still active.
    Refused,
    /// Taken into the hold registry.
    Held,
    /// Decided `hold` again (duplicate notification, reconciliation, policy reload).
    StillHeld,
    /// Decided `hold` just after this instance stopped leading: the next leader holds it.
    LeftToLeader,
    /// An approver asked for a decision they may not take (outside their orgs, their own
    /// request); nothing was done.
    Forbidden,
}

impl Outcome {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::DryRun => "dry_run",
            Outcome::Left => "left_to_vcd",
            Outcome::AlreadyDecided => "already_decided",
            Outcome::Refused => "refused",
            Outcome::Held => "held",
            Outcome::StillHeld => "still_held",
            Outcome::LeftToLeader => "left_to_leader",
            Outcome::Forbidden => "forbidden",
        }
    }
}

pub(super) fn decision(
    facts: &TaskFacts,
    decision: &Decision,
    dry_run: bool,
    outcome: Outcome,
    latency: Duration,
) {
    tracing::info!(
        target: "audit",
        task_id = %facts.task_id,
        operation = %facts.operation,
        org = %facts.org,
        user = %facts.user,
        rule = %decision.rule,
        action = decision.action.name(),
        dry_run,
        outcome = outcome.name(),
        latency_ms = %format_args!("{:.3}", latency.as_secs_f64() * 1000.0),
        vm = decision.vm.as_deref(),
        unknown = unknown_list(&decision.unknown).as_deref(),
        message = %decision.message,
        "decision"
    );
}

/// `vm.memory_mb (the task's owner is a media), …`, or `None` when every fact was known.
fn unknown_list(unknown: &[UnknownFact]) -> Option<String> {
    if unknown.is_empty() {
        return None;
    }
    let facts: Vec<String> = unknown.iter().map(ToString::to_string).collect();
    Some(facts.join(", "))
}

/// A `dry_run = true` rule that matched before the deciding rule: logged, never acted on.
pub(super) fn shadow(facts: &TaskFacts, rule: &str, action: &'static str, message: &str) {
    tracing::info!(
        target: "audit",
        task_id = %facts.task_id,
        operation = %facts.operation,
        org = %facts.org,
        user = %facts.user,
        rule,
        action,
        dry_run = true,
        outcome = Outcome::DryRun.name(),
        message,
        "decision"
    );
}

/// Something happened to a held task by the daemon's own doing: a keepalive, the fallback at
/// the deadline, or the hold ending because vCD no longer waits for it.
pub(super) fn hold_event(
    hold: &HeldTask,
    event: HoldEvent,
    action: &str,
    outcome: Outcome,
    message: &str,
) {
    held_task_event(hold, event, action, outcome, message, None);
}

/// An approver approved or rejected a held task, or was refused: the hold event, naming them.
pub(super) fn approval(
    hold: &HeldTask,
    event: HoldEvent,
    action: &str,
    outcome: Outcome,
    message: &str,
    approver: &str,
) {
    held_task_event(hold, event, action, outcome, message, Some(approver));
}

/// `approver` is left out of the event when `None`.
fn held_task_event(
    hold: &HeldTask,
    event: HoldEvent,
    action: &str,
    outcome: Outcome,
    message: &str,
    approver: Option<&str>,
) {
    tracing::info!(
        target: "audit",
        task_id = %hold.id,
        operation = %hold.operation,
        org = %hold.org,
        user = %hold.user,
        rule = %hold.rule,
        event = event.label(),
        action,
        dry_run = false,
        outcome = outcome.name(),
        deadline = %hold.deadline.to_rfc3339(),
        approver,
        message,
        "hold"
    );
}
