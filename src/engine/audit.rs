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
        windows = window_list(&decision.windows).as_deref(),
        reason = decision.reason.as_deref(),
        quota_count = decision.quota.map(|quota| quota.count),
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

/// A decision service was asked about a held task (`answer`: its decision, or `error` with
/// why), and what came of it: the task decided (`action`), or still held.
#[expect(clippy::too_many_arguments, reason = "one per field of the event")]
pub(super) fn asked(
    hold: &HoldView,
    service: &str,
    attempt: u32,
    answer: &str,
    error: Option<&str>,
    action: &str,
    outcome: AuditOutcome,
    message: &str,
) {
    audit!(
        Subject::held(hold),
        event = HoldEvent::Ask.label(),
        service,
        attempt,
        answer,
        error,
        action,
        dry_run = false,
        outcome = outcome.label(),
        deadline = %hold.deadline.to_rfc3339(),
        message,
        "ask"
    );
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
        approvers = (!hold.approvals.is_empty()).then(|| hold.approver_names()),
        needed = (hold.needed > 1).then_some(hold.needed),
        message,
        "hold"
    );
}

/// The windows open at the moment of a decision, comma-separated; `None` when none was.
fn window_list(windows: &[std::sync::Arc<str>]) -> Option<String> {
    (!windows.is_empty()).then(|| windows.join(", "))
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::policy::Action;
    use crate::task::{FinalAction, TaskId};

    const ID: &str = "8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94";

    /// Log output kept in memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The events `log` writes, as the JSON log format shows them.
    fn json_events(log: impl FnOnce()) -> Vec<serde_json::Value> {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[test]
    fn every_audit_event_opens_with_the_task_its_requester_and_the_rule() {
        let facts = TaskFacts {
            task_id: ID.into(),
            operation: "vdcInstantiateVapp".into(),
            org: "prod-eu".into(),
            user: "dave".into(),
            ..TaskFacts::default()
        };
        let rule: Arc<str> = Arc::from("production deployments need an approver");
        let decided = Decision {
            action: Action::Resume,
            rule: rule.clone(),
            message: "ok".into(),
            shadow: Vec::new(),
            vm: None,
            unknown: Vec::new(),
            windows: Vec::new(),
            reason: None,
            quota: Some(crate::facts::QuotaCount {
                count: 21,
                source: crate::facts::CountSource::Given,
            }),
        };
        let held = HoldView {
            id: TaskId::parse(ID).unwrap(),
            operation: "vdcInstantiateVapp".into(),
            org: "prod-eu".into(),
            user: "dave".into(),
            owner_name: "billing".into(),
            rule: rule.clone(),
            since: "2026-11-20T09:14:03Z".parse().unwrap(),
            deadline: "2026-11-20T10:14:03Z".parse().unwrap(),
            fallback: FinalAction::Abort,
            approvals: Vec::new(),
            needed: 1,
            reason: None,
        };
        let events = json_events(|| {
            decision(
                &facts,
                &decided,
                false,
                AuditOutcome::Done,
                Duration::from_millis(3),
            );
            shadow(&facts, &rule, "abort", "would abort");
            hold_event(
                &held,
                HoldEvent::Keepalive,
                "updateProgress",
                AuditOutcome::Done,
                "Waiting",
            );
            approval(
                &held,
                HoldEvent::Approve,
                "resume",
                AuditOutcome::Forbidden,
                "their own request",
                "dave",
            );
        });
        assert_eq!(events.len(), 4, "{events:#?}");
        for event in &events {
            assert_eq!(event["target"], "audit");
            let fields = &event["fields"];
            assert_eq!(fields["task_id"], ID, "{event}");
            assert_eq!(fields["operation"], "vdcInstantiateVapp", "{event}");
            assert_eq!(fields["org"], "prod-eu", "{event}");
            assert_eq!(fields["user"], "dave", "{event}");
            assert_eq!(fields["rule"], &*rule, "{event}");
        }
        let field = |n: usize, name: &str| events[n]["fields"][name].clone();
        assert_eq!(field(0, "outcome"), "done");
        assert_eq!(field(0, "quota_count"), 21, "the count a quota decided by");
        assert_eq!(field(1, "outcome"), "dry_run");
        assert_eq!(field(1, "dry_run"), true);
        assert_eq!(field(2, "event"), "keepalive");
        assert_eq!(field(2, "deadline"), "2026-11-20T10:14:03+00:00");
        assert_eq!(field(3, "outcome"), "forbidden");
        assert_eq!(field(3, "approver"), "dave");
        assert_eq!(
            field(2, "approver"),
            serde_json::Value::Null,
            "nobody acted"
        );
    }
}
