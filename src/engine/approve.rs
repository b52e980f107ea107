//! Approvals: a human resumes, aborts or fails a held task through the admin API. The answer
//! comes only after vCD accepted the action; its requests to vCD go ahead of any backlog.
//!
//! Whether the approver may decide the task (its org in their scope, not their own request) is
//! checked here, inside the task's single flight and against the held task itself: the org and
//! user come from the registry at the moment of the decision, so no hold taken or changed
//! between a check and the action can slip past it.

use chrono::Utc;

use super::{Engine, audit};
use crate::approvers::{Approver, Forbidden};
use crate::journal::{Decided, JournalError};
use crate::notify::Event;
use crate::outcome::{AuditOutcome, HoldEvent, WebhookEvent};
use crate::task::FinalAction;
use crate::task::TaskId;
use crate::vcd::{ErrorClass, VcdError};

/// Why [`HoldError::NotHeld`] when vCD no longer waits for the task.
const ALREADY_DECIDED: &str = "already decided";

/// Why an approval or rejection did not happen.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HoldError {
    /// vCD has no such blocking task.
    #[error("no blocking task {0} in vCD")]
    Unknown(TaskId),
    /// The task exists but is not held: already decided, or decided without a hold.
    #[error("task {id} is not held ({why})")]
    NotHeld { id: TaskId, why: &'static str },
    /// `reject` takes abort or fail.
    #[error("a rejection aborts or fails the task; {0} is not a rejection")]
    NotARejection(&'static str),
    /// The approver may not decide this task (outside their orgs, or their own request).
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    /// The journal cannot be written, so the decision is not taken (503).
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// vCD could not be asked, or refused.
    #[error(transparent)]
    Vcd(#[from] VcdError),
}

impl Engine {
    /// Resumes a held task on `approver`'s word.
    pub(crate) async fn approve(
        &self,
        id: TaskId,
        approver: &Approver,
        message: Option<String>,
    ) -> Result<(), HoldError> {
        let release = self.release_held(
            id,
            FinalAction::Resume,
            HoldEvent::Approve,
            approver,
            message,
        );
        crate::vcd::urgent(release).await
    }

    /// Aborts or fails a held task on `approver`'s word.
    pub(crate) async fn reject(
        &self,
        id: TaskId,
        action: FinalAction,
        approver: &Approver,
        message: Option<String>,
    ) -> Result<(), HoldError> {
        if action == FinalAction::Resume {
            return Err(HoldError::NotARejection(action.name()));
        }
        let release = self.release_held(id, action, HoldEvent::Reject, approver, message);
        crate::vcd::urgent(release).await
    }

    async fn release_held(
        &self,
        id: TaskId,
        action: FinalAction,
        event: HoldEvent,
        approver: &Approver,
        message: Option<String>,
    ) -> Result<(), HoldError> {
        let _flight = self.flights.enter(id).await;
        let Some(hold) = self.holds.get(id) else {
            return Err(self.why_not_held(id, approver).await);
        };
        let allow_self = self.hold_settings.allow_self_approval;
        if let Err(forbidden) = approver.may_decide(&hold.view.org, &hold.view.user, allow_self) {
            let reason = forbidden.to_string();
            audit::approval(
                &hold.view,
                event,
                action.name(),
                AuditOutcome::Forbidden,
                &reason,
                approver.name(),
            );
            return Err(forbidden.into());
        }
        let verb = if event == HoldEvent::Approve {
            "Approved"
        } else {
            "Rejected"
        };
        let message = message.filter(|m| !m.trim().is_empty()).unwrap_or_else(|| {
            format!(
                "{verb} by {} (vcd-blockd rule \"{}\")",
                approver.signature(),
                hold.view.rule
            )
        });
        // What people decide is journaled; a journal that cannot take it refuses the decision
        // before vCD hears of it.
        self.journal.check().await?;
        let started = Utc::now();
        match self.vcd.act(id, action, &message).await {
            Ok(()) => {
                self.forget(id);
                self.decided.insert(id);
                self.metrics.decision(action.name(), &hold.view.rule, false);
                let approvers = vec![approver.name().to_owned()];
                let decided = Decided::of_hold(&hold.view, action, approvers, Utc::now());
                self.journal.decided(decided).await;
                audit::approval(
                    &hold.view,
                    event,
                    action.name(),
                    AuditOutcome::Done,
                    &message,
                    approver.name(),
                );
                let kind = if event == HoldEvent::Approve {
                    WebhookEvent::Approved
                } else {
                    WebhookEvent::Rejected
                };
                self.notifier.send(Event {
                    approver: Some(approver.name().into()),
                    action: Some(action),
                    ..hold.event(kind, &message, Utc::now())
                });
                tracing::debug!(task_id = %id, took_ms = (Utc::now() - started).num_milliseconds(), "hold released");
                Ok(())
            }
            Err(error) if matches!(error.class(), ErrorClass::Refused | ErrorClass::NotFound) => {
                // Only a task vCD no longer waits for ends the hold; a task still active whose
                // action vCD refused for another reason stays held, and the approver gets
                // vCD's reason.
                let reason = self.why_not_held(id, approver).await;
                let gone = matches!(
                    reason,
                    HoldError::NotHeld {
                        why: ALREADY_DECIDED,
                        ..
                    } | HoldError::Unknown(_)
                );
                if gone {
                    self.forget(id);
                    audit::approval(
                        &hold.view,
                        event,
                        action.name(),
                        AuditOutcome::AlreadyDecided,
                        &message,
                        approver.name(),
                    );
                    return Err(reason);
                }
                Err(HoldError::Vcd(error))
            }
            Err(error) => Err(HoldError::Vcd(error)),
        }
    }

    /// Asks vCD about a task the registry does not hold, to tell "unknown" from "decided". A
    /// task outside the approver's orgs is refused as such, so that a scoped approver learns
    /// nothing about other orgs' tasks.
    async fn why_not_held(&self, id: TaskId, approver: &Approver) -> HoldError {
        match self.vcd.blocking_task_now(id).await {
            Ok(task) if !approver.may_see(&task.org.name) => {
                HoldError::Forbidden(approver.outside_orgs())
            }
            Ok(task) if task.status.is_active() => HoldError::NotHeld {
                id,
                why: "vCD still waits for it, but no rule holds it",
            },
            Ok(_) => HoldError::NotHeld {
                id,
                why: ALREADY_DECIDED,
            },
            Err(error) if error.class() == ErrorClass::NotFound => HoldError::Unknown(id),
            Err(error) => HoldError::Vcd(error),
        }
    }
}
