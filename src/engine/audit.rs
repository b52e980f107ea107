//! The audit trail: one structured event (target `audit`) per decision, so that every
//! resume, abort, fail, hold or ignore can be traced to a rule and explained.

use std::time::Duration;

use super::holds::HeldTask;
use crate::facts::{TaskFacts, UnknownFact};
use crate::outcome::{AuditOutcome, HoldEvent};
use crate::policy::Decision;

pub(super) fn decision(
    facts: &TaskFacts,
    decision: &Decision,
    dry_run: bool,
    outcome: AuditOutcome,
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
        outcome = outcome.label(),
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
        outcome = AuditOutcome::DryRun.label(),
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
    outcome: AuditOutcome,
    message: &str,
) {
    held_task_event(hold, event, action, outcome, message, None);
}

/// An approver approved or rejected a held task, or was refused: the hold event, naming them.
pub(super) fn approval(
    hold: &HeldTask,
    event: HoldEvent,
    action: &str,
    outcome: AuditOutcome,
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
    outcome: AuditOutcome,
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
        outcome = outcome.label(),
        deadline = %hold.deadline.to_rfc3339(),
        approver,
        message,
        "hold"
    );
}
