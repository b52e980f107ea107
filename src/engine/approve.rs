//! Approvals: a human resumes, aborts or fails a held task through the admin API. The answer
//! comes only after vCD accepted the action; its requests to vCD go ahead of any backlog. A
//! rule that needs N approvals records the first N − 1 ([`Engine::record_approval`], the one
//! place an approval is added to a hold) and resumes on the N-th; one rejection rejects.
//!
//! Whether the approver may decide the task (its org in their scope, not their own request,
//! among the rule's approvers, not approved by them already) is checked here, inside the task's
//! single flight and against the held task itself: everything comes from the registry at the
//! moment of the decision, so no hold taken or changed between a check and the action can slip
//! past it.

use chrono::{DateTime, Utc};

use super::{Engine, HeldTask, audit};
use crate::approvers::{Approver, Forbidden, Gate};
use crate::journal::{DecisionRecord, JournalError, Record};
use crate::notify::Event;
use crate::outcome::{AuditOutcome, HoldEvent, WebhookEvent};
use crate::task::{Approval, FinalAction, TaskId};
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

/// What became of an approval or rejection that was allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decided {
    /// vCD accepted the action.
    Acted,
    /// The approval was recorded; the task waits for more (`approvals` of `needed`).
    Recorded {
        approvals: Vec<Approval>,
        needed: u32,
    },
}

/// Who may decide `hold` at `now`, as [`Approver::may_decide`] asks.
pub(crate) fn gate(hold: &HeldTask, allow_self_approval: bool, now: DateTime<Utc>) -> Gate<'_> {
    Gate::of(
        &hold.view,
        &hold.approval,
        hold.escalated(now),
        allow_self_approval,
    )
}

/// "carol", "carol and dave", "carol, dave and erin".
fn and_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

impl Engine {
    /// Resumes a held task on `approver`'s word, or records their approval when the rule
    /// needs more.
    pub(crate) async fn approve(
        &self,
        id: TaskId,
        approver: &Approver,
        message: Option<String>,
    ) -> Result<Decided, HoldError> {
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
    ) -> Result<Decided, HoldError> {
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
    ) -> Result<Decided, HoldError> {
        let _flight = self.flights.enter(id).await;
        let Some(mut hold) = self.holds.get(id) else {
            return Err(self.why_not_held(id, approver).await);
        };
        let allow_self = self.hold_settings.allow_self_approval;
        let now = Utc::now();
        if let Err(forbidden) = approver.may_decide(&gate(&hold, allow_self, now)) {
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
        let approval = Approval {
            approver: approver.name().into(),
            at: now,
        };
        let verb = if event == HoldEvent::Approve {
            hold.view.approvals.push(approval.clone());
            let enough = hold.view.approvals.len() >= hold.view.needed as usize;
            if !enough && !approver.is_admin() {
                return self.record_approval(&hold, approval, message).await;
            }
            "Approved"
        } else {
            "Rejected"
        };
        let by: Vec<&str> = if event == HoldEvent::Approve {
            let earlier = &hold.view.approvals[..hold.view.approvals.len() - 1];
            earlier
                .iter()
                .map(|a| &*a.approver)
                .chain([approver.signature()])
                .collect()
        } else {
            vec![approver.signature()]
        };
        let message = match message.filter(|m| !m.trim().is_empty()) {
            // With more than one approver, vCD's message names them all after the last one's
            // own words.
            Some(own) if by.len() > 1 => format!("{own} (approved by {})", and_list(&by)),
            Some(own) => own,
            None => format!(
                "{verb} by {} (vcd-blockd rule \"{}\")",
                and_list(&by),
                hold.view.rule
            ),
        };
        // What people decide is journaled; a journal that cannot take it refuses the decision
        // before vCD hears of it.
        self.journal.check().await?;
        let started = Utc::now();
        match self.vcd.act(id, action, &message).await {
            Ok(()) => {
                self.forget(id);
                self.decided.insert(id);
                self.metrics.decision(action.name(), &hold.view.rule, false);
                // Everyone whose approval counted, in order; a rejection is its rejecter's.
                let approvers = if event == HoldEvent::Approve {
                    hold.view
                        .approvals
                        .iter()
                        .map(|a| a.approver.to_string())
                        .collect()
                } else {
                    vec![approver.name().to_owned()]
                };
                let decided = DecisionRecord::of_hold(&hold.view, action, approvers, Utc::now());
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
                Ok(Decided::Acted)
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
                    self.gone(id);
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

    /// Records an approval that does not complete the task's N (the hold's view already holds
    /// it as its last): in the journal first (a journal that cannot take it refuses the
    /// approval, and nothing is recorded), then in the registry, announced
    /// (`approval_recorded`) and audited; the next keepalive, brought forward to now, tells vCD
    /// "1 of 2 approvals (carol)". Every approval added to a hold passes here.
    async fn record_approval(
        &self,
        hold: &HeldTask,
        approval: Approval,
        message: Option<String>,
    ) -> Result<Decided, HoldError> {
        self.journal
            .write(Record::Approval {
                task_id: hold.view.id,
                approver: approval.approver.to_string(),
                at: approval.at,
            })
            .await?;
        let approvals = hold.view.approvals.clone();
        let now = Utc::now();
        let recorded = self.holds.reschedule(hold.view.id, now, |held| {
            held.view.approvals.push(approval.clone());
        });
        let note = message
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| format!("Approved by {}", approval.approver));
        if recorded {
            audit::approval(
                &hold.view,
                HoldEvent::Approve,
                FinalAction::Resume.name(),
                AuditOutcome::Recorded,
                &note,
                &approval.approver,
            );
            self.notifier.send(Event {
                approver: Some(approval.approver.clone()),
                ..hold.event(WebhookEvent::ApprovalRecorded, &note, now)
            });
        }
        Ok(Decided::Recorded {
            approvals,
            needed: hold.view.needed,
        })
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
