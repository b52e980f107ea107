//! The audit trail: one structured event (target `audit`) per decision, so that every
//! resume, abort, fail, hold or ignore can be traced to a rule and explained. Every event
//! opens with the same five fields, written once by [`audit!`]: `task_id`, `operation`, `org`,
//! `user` and `rule`.

use std::time::Duration;

use crate::facts::{TaskFacts, UnknownFact};
use crate::outcome::{AuditOutcome, HoldEvent};
use crate::policy::Decision;
use crate::task::HoldView;

/// Which task an event is about and the rule that decided it.
struct Subject<'a> {
    task_id: &'a dyn std::fmt::Display,
    operation: &'a str,
    org: &'a str,
    user: &'a str,
    rule: &'a str,
}

impl<'a> Subject<'a> {
    /// A task as the policy saw it, and the rule that matched.
    fn decided(facts: &'a TaskFacts, rule: &'a str) -> Subject<'a> {
        Subject {
            task_id: &facts.task_id,
            operation: &facts.operation,
            org: &facts.org,
            user: &facts.user,
            rule,
        }
    }

    /// A held task.
    fn held(hold: &'a HoldView) -> Subject<'a> {
        Subject {
            task_id: &hold.id,
            operation: &hold.operation,
            org: &hold.org,
            user: &hold.user,
            rule: &hold.rule,
        }
    }
}

/// One `audit` event about `$subject` (a [`Subject`]), its five fields first, then the
/// event's own fields and message as `tracing::info!` takes them.
macro_rules! audit {
    ($subject:expr, $($fields:tt)+) => {{
        let subject: Subject<'_> = $subject;
        tracing::info!(
            target: "audit",
            task_id = %subject.task_id,
            operation = %subject.operation,
            org = %subject.org,
            user = %subject.user,
            rule = %subject.rule,
            $($fields)+
        )
    }};
}

pub(super) fn decision(
    facts: &TaskFacts,
    decision: &Decision,
    dry_run: bool,
    outcome: AuditOutcome,
    latency: Duration,
) {
    audit!(
        Subject::decided(facts, &decision.rule),
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
    audit!(
        Subject::decided(facts, rule),
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
    hold: &HoldView,
    event: HoldEvent,
    action: &str,
    outcome: AuditOutcome,
    message: &str,
) {
    held_task_event(hold, event, action, outcome, message, None);
}

/// An approver approved or rejected a held task, or was refused: the hold event, naming them.
pub(super) fn approval(
    hold: &HoldView,
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
    hold: &HoldView,
    event: HoldEvent,
    action: &str,
    outcome: AuditOutcome,
    message: &str,
    approver: Option<&str>,
) {
    audit!(
        Subject::held(hold),
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
