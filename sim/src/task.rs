//! One simulated blocking task and its life: created `active`, then decided once (by an API
//! action or by the timeout), with every attempt kept in `actions`. Time is passed in.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::model::{ActionRecord, Decision, Named, NewTask, OwnerType, TaskStatus, TaskView};
use crate::owner::OwnerDetails;

/// Why a `NewTask` was refused; the message names the field.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidTask(String);

/// A `NewTask` whose fields were checked.
#[derive(Clone, Debug)]
pub(crate) struct ValidTask {
    pub operation: String,
    pub org: String,
    pub user: String,
    pub owner_type: OwnerType,
    pub owner_name: String,
    pub description: String,
    /// What the owner looks like when read; `None` when it is gone.
    pub owner_details: Option<OwnerDetails>,
}

impl ValidTask {
    pub(crate) fn parse(new: NewTask) -> Result<Self, InvalidTask> {
        let invalid = |msg: String| Err(InvalidTask(msg));
        // The operation ends the routing key, so it must be one topic word.
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if new.operation.is_empty() || !new.operation.chars().all(word) {
            return invalid(format!(
                "operation {:?} must be a non-empty name like vdcInstantiateVapp",
                new.operation
            ));
        }
        if new.org.is_empty() || new.user.is_empty() {
            return invalid("org and user must not be empty".into());
        }
        let Some(owner_type) = OwnerType::parse(&new.owner_type) else {
            return invalid(format!(
                "owner_type {:?} must be one of vApp, vm, vAppTemplate, media, vdc",
                new.owner_type
            ));
        };
        let owner_details = (!new.owner_gone).then(|| OwnerDetails {
            vms: new.vms.unwrap_or_else(|| vec![Default::default()]),
            media: new.media,
            metadata: new.metadata,
            vdc: new.vdc,
        });
        Ok(Self {
            operation: new.operation,
            org: new.org,
            user: new.user,
            owner_type,
            owner_name: new.owner_name,
            description: new.description,
            owner_details,
        })
    }
}

/// A blocking task as vCD holds it.
#[derive(Clone, Debug)]
pub(crate) struct Task {
    pub id: Uuid,
    /// The suspended operation; the task's `name` and `operationKey`.
    pub operation: String,
    pub description: String,
    pub org: Named,
    pub user: Named,
    pub owner_type: OwnerType,
    pub owner: Named,
    /// The suspended parent Task (`Link rel="up"`, `notification.taskUUID`).
    pub parent_task: Uuid,
    pub status: TaskStatus,
    pub created: DateTime<Utc>,
    pub timeout_date: DateTime<Utc>,
    pub timeout_action: Decision,
    pub actions: Vec<ActionRecord>,
}

/// What an action did to a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ActionOutcome {
    /// The task was active and is now decided.
    Applied,
    /// An abort of an already aborted task: vCD answers success and changes nothing.
    Repeated,
    /// The task was already decided; vCD answers 400.
    NotActive,
}

impl Task {
    pub(crate) fn is_active(&self) -> bool {
        self.status == TaskStatus::Active
    }

    /// Applies `decision` if the task is still active; records the attempt either way.
    pub(crate) fn decide(
        &mut self,
        decision: Decision,
        message: &str,
        now: DateTime<Utc>,
    ) -> ActionOutcome {
        let outcome = if self.is_active() {
            self.status = decision.status();
            ActionOutcome::Applied
        } else if decision == Decision::Abort && self.status == TaskStatus::Aborted {
            ActionOutcome::Repeated
        } else {
            ActionOutcome::NotActive
        };
        self.record_action(
            decision.as_str(),
            message,
            None,
            now,
            outcome != ActionOutcome::NotActive,
        );
        outcome
    }

    /// Moves the timeout to `now + extend` if the task is active; records the attempt.
    pub(crate) fn update_progress(
        &mut self,
        message: &str,
        timeout_ms: Option<u64>,
        extend: Duration,
        now: DateTime<Utc>,
    ) -> bool {
        let accepted = self.is_active();
        if accepted {
            self.timeout_date = now + extend;
        }
        self.record_action("updateProgress", message, timeout_ms, now, accepted);
        accepted
    }

    /// Applies the timeout action if the task is active and its timeout has passed.
    pub(crate) fn time_out_if_due(&mut self, now: DateTime<Utc>) -> bool {
        if !self.is_active() || self.timeout_date > now {
            return false;
        }
        self.status = self.timeout_action.status();
        let message = format!(
            "Timed out; timeout action {} applied",
            self.timeout_action.as_str()
        );
        self.record_action("timeout", &message, None, now, true);
        true
    }

    fn record_action(
        &mut self,
        action: &str,
        message: &str,
        timeout_ms: Option<u64>,
        at: DateTime<Utc>,
        accepted: bool,
    ) {
        self.actions.push(ActionRecord {
            action: action.to_owned(),
            message: message.to_owned(),
            timeout_ms,
            at,
            accepted,
        });
    }

    pub(crate) fn view(&self) -> TaskView {
        TaskView {
            id: self.id,
            operation: self.operation.clone(),
            org: self.org.name.clone(),
            user: self.user.name.clone(),
            status: self.status.as_str().to_owned(),
            created: self.created,
            timeout_date: self.timeout_date,
            timeout_action: self.timeout_action.as_str().to_owned(),
            actions: self.actions.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(now: DateTime<Utc>) -> Task {
        let named = |name: &str| Named {
            name: name.into(),
            id: Uuid::new_v4(),
        };
        Task {
            id: Uuid::new_v4(),
            operation: "vdcInstantiateVapp".into(),
            description: String::new(),
            org: named("acme"),
            user: named("alice"),
            owner_type: OwnerType::VApp,
            owner: named("web"),
            parent_task: Uuid::new_v4(),
            status: TaskStatus::Active,
            created: now,
            timeout_date: now + Duration::minutes(10),
            timeout_action: Decision::Abort,
            actions: Vec::new(),
        }
    }

    #[test]
    fn first_decision_wins_and_later_ones_are_refused() {
        let now = Utc::now();
        let mut t = task(now);
        assert_eq!(
            t.decide(Decision::Resume, "ok", now),
            ActionOutcome::Applied
        );
        assert_eq!(t.status, TaskStatus::Resumed);
        assert_eq!(
            t.decide(Decision::Fail, "no", now),
            ActionOutcome::NotActive
        );
        assert_eq!(t.status, TaskStatus::Resumed);
        let accepted: Vec<bool> = t.actions.iter().map(|a| a.accepted).collect();
        assert_eq!(accepted, [true, false]);
    }

    #[test]
    fn repeated_abort_succeeds_without_change() {
        let now = Utc::now();
        let mut t = task(now);
        assert_eq!(t.decide(Decision::Abort, "a", now), ActionOutcome::Applied);
        assert_eq!(t.decide(Decision::Abort, "b", now), ActionOutcome::Repeated);
        assert_eq!(
            t.decide(Decision::Resume, "c", now),
            ActionOutcome::NotActive
        );
    }

    #[test]
    fn update_progress_moves_the_timeout_only_while_active() {
        let now = Utc::now();
        let mut t = task(now);
        assert!(t.update_progress("wait", Some(5000), Duration::seconds(5), now));
        assert_eq!(t.timeout_date, now + Duration::seconds(5));
        t.decide(Decision::Fail, "x", now);
        assert!(!t.update_progress("wait", None, Duration::seconds(60), now));
        assert_eq!(t.timeout_date, now + Duration::seconds(5));
    }

    #[test]
    fn timeout_applies_the_action_once() {
        let now = Utc::now();
        let mut t = task(now);
        assert!(!t.time_out_if_due(now));
        let later = now + Duration::minutes(11);
        assert!(t.time_out_if_due(later));
        assert_eq!(t.status, TaskStatus::Aborted);
        assert!(!t.time_out_if_due(later));
        assert_eq!(t.actions.len(), 1);
        assert!(t.actions[0].message.contains("abort"));
    }

    #[test]
    fn rejects_operation_that_would_break_the_routing_key() {
        let new = NewTask {
            operation: "vdc.Instantiate".into(),
            ..NewTask::default()
        };
        assert!(ValidTask::parse(new).is_err());
        assert!(ValidTask::parse(NewTask::default()).is_ok());
    }
}
