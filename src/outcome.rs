//! The outcomes the daemon counts and logs, one enum per metric label. Each names its own label
//! through `label()`, so the strings an operator sees in `/metrics` and in the audit log are
//! written once, here. [`label_enum!`] writes an enum whose variants are a fixed vocabulary:
//! each variant beside its label, `ALL` and `label()` derived from that one list.

/// A fixed vocabulary of label values: an enum whose every value names itself. Metrics start
/// every series of such labels at 0 (see `metrics.rs`).
pub(crate) trait Vocabulary: Copy + 'static {
    /// Every value, in declaration order.
    fn all() -> &'static [Self];
    /// The value's label in `/metrics`, the audit log, a webhook body or the config.
    fn label(self) -> &'static str;
}

/// Declares an enum of unit variants, each written once beside its label:
///
/// ```ignore
/// label_enum! {
///     /// How a job ended.
///     pub enum RunOutcome {
///         Ok => "ok",
///         Error => "error",
///     }
/// }
/// ```
///
/// The enum gets `ALL` (every variant, in order), `label()`, `from_label()` (the variant a
/// label names, for config values) and [`Vocabulary`].
macro_rules! label_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident => $label:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$variant_meta])* $variant, )+
        }

        #[allow(dead_code, reason = "not every vocabulary needs every method")]
        impl $name {
            /// Every value, in declaration order.
            $vis const ALL: [$name; [$($label),+].len()] = [$($name::$variant),+];

            $vis fn label(self) -> &'static str {
                match self {
                    $( $name::$variant => $label, )+
                }
            }

            /// The value `label` names, if any.
            $vis fn from_label(label: &str) -> Option<$name> {
                $name::ALL.into_iter().find(|value| value.label() == label)
            }
        }

        impl $crate::outcome::Vocabulary for $name {
            fn all() -> &'static [Self] {
                &$name::ALL
            }

            fn label(self) -> &'static str {
                $name::label(self)
            }
        }
    };
}
pub(crate) use label_enum;

label_enum! {
    /// What became of a task the engine was asked to handle, when the triggering delivery can
    /// be acknowledged (its label is the `notifications_total{outcome}` value).
    pub enum TaskOutcome {
        /// vCD accepted the action.
        Decided => "decided",
        /// Taken into the hold registry (or already there).
        Held => "held",
        /// The policy said `ignore`: vCD's own timeout applies.
        Ignored => "ignored",
        /// Decided but not acted on (`[policy] mode = "dry-run"`).
        DryRun => "dry_run",
        /// vCD no longer waits for the task: somebody (or vCD's timeout) decided it.
        AlreadyDecided => "already_decided",
        /// vCD does not know the task, even after the not-yet-visible retries.
        TaskNotFound => "task_not_found",
    }
}

label_enum! {
    /// How one request to a decision service went (`ask_requests_total{outcome}`): its answer,
    /// or `error` (no answer in time, a non-2xx status, a redirect, a body too large, an answer
    /// that is not one).
    pub(crate) enum AskOutcome {
        Resume => "resume",
        Abort => "abort",
        Fail => "fail",
        Hold => "hold",
        Error => "error",
    }
}

/// What became of one AMQP delivery (`notifications_total{outcome}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationOutcome {
    /// It announced a blocking task, which was handled.
    Task(TaskOutcome),
    /// Another notification type (vCD's own resume or abort events, task events): acknowledged,
    /// never acted on.
    OtherType,
    /// Published to `<queue>.dead` with a reason.
    DeadLettered,
    /// vCD stayed in trouble for the whole retry window: returned to the queue.
    Requeued,
}

impl NotificationOutcome {
    pub fn label(self) -> &'static str {
        match self {
            NotificationOutcome::Task(outcome) => outcome.label(),
            NotificationOutcome::OtherType => "other_type",
            NotificationOutcome::DeadLettered => "dead_lettered",
            NotificationOutcome::Requeued => "requeued",
        }
    }
}

label_enum! {
    /// Why a message went to `<queue>.dead` (`dead_lettered_total{reason}` and the
    /// `x-vcd-blockd-reason` header). The same message would fail the same way again.
    pub enum DeadLetterReason {
        /// Larger than `amqp.max_message_bytes`.
        TooLarge => "too_large",
        NotUtf8 => "not_utf8",
        /// Neither XML nor a JSON object.
        UnknownFormat => "unknown_format",
        /// XML or JSON that does not read as a vCD notification.
        Malformed => "malformed",
        /// A field the notification must carry is missing.
        MissingField => "missing_field",
        /// The blocking task id is not a UUID.
        InvalidId => "invalid_id",
        /// The body, the `notification.entityUUID` header and the routing key name different
        /// tasks.
        IdMismatch => "id_mismatch",
        /// vCD refused to show the task (e.g. 403): retrying will not help.
        VcdRefused => "vcd_refused",
        /// vCD refused the action on a task that is still active.
        ActionRefused => "action_refused",
        /// vCD's answer for the task could not be read (e.g. a proxy's HTML page with status
        /// 200, a cut-off document), again after a few more reads.
        UnreadableTask => "unreadable_task",
    }
}

label_enum! {
    /// One `updateProgress` on a held task (`keepalives_total{outcome}`).
    pub enum KeepaliveOutcome {
        /// vCD moved the task's timeout.
        Ok => "ok",
        /// It failed; retried ahead of vCD's timeout.
        Error => "error",
        /// vCD no longer waits for the task; the hold ends.
        Gone => "gone",
    }
}

label_enum! {
    /// One login to vCD (`vcd_logins_total{outcome}`).
    pub(crate) enum LoginOutcome {
        /// vCD gave a session.
        Ok => "ok",
        /// vCD did not accept the credentials (401, 403), or offers no login the daemon can
        /// use; the next try waits minutes so that the account is never locked.
        Refused => "refused",
        /// vCD could not be reached or was in trouble (transport error, 5xx, 429).
        Error => "error",
    }
}

label_enum! {
    /// Why a journal record was skipped when the journal was read
    /// (`journal_records_skipped_total{reason}`).
    pub(crate) enum JournalSkip {
        /// Not a record: cut off, not JSON, or fields missing.
        Corrupt => "corrupt",
        /// Another version or an unknown kind.
        Foreign => "foreign",
    }
}

label_enum! {
    /// How a periodic or one-off job ended (`policy_reloads_total{outcome}`,
    /// `approvers_reloads_total{outcome}`, `reconcile_runs_total{outcome}`,
    /// `journal_writes_total{outcome}`).
    pub enum RunOutcome {
        Ok => "ok",
        Error => "error",
    }
}

label_enum! {
    /// What happened when a decision was carried out: the audit event's `outcome`.
    pub(crate) enum AuditOutcome {
        /// vCD accepted the action.
        Done => "done",
        /// Decided but not acted on: `mode = "dry-run"` or a rule with `dry_run = true`.
        DryRun => "dry_run",
        /// The action is "ignore": vCD's own timeout applies.
        Left => "left_to_vcd",
        /// vCD showed the task already decided when we tried to act.
        AlreadyDecided => "already_decided",
        /// vCD refused the action on a task that is still active.
        Refused => "refused",
        /// Taken into the hold registry.
        Held => "held",
        /// Decided `hold` again (duplicate notification, reconciliation, policy reload).
        StillHeld => "still_held",
        /// Decided `hold` just after this instance stopped leading: the next leader holds it.
        LeftToLeader => "left_to_leader",
        /// An approver asked for a decision they may not take (outside their orgs, their own
        /// request); nothing was done.
        Forbidden => "forbidden",
        /// An approval was recorded; the task waits for more.
        Recorded => "recorded",
    }
}

label_enum! {
    /// What happened to a held task, in its audit events (`event`).
    pub(crate) enum HoldEvent {
        /// An `updateProgress` that keeps vCD waiting.
        Keepalive => "keepalive",
        /// A person resumed it.
        Approve => "approve",
        /// A person aborted or failed it.
        Reject => "reject",
        /// The rule's deadline passed; its fallback was applied.
        Fallback => "fallback",
        /// A reminder was announced (`hold.remind_every`).
        Reminder => "reminder",
        /// The escalation was announced (`hold.escalate_after`).
        Escalation => "escalation",
        /// A decision service was asked (`action = "ask"`).
        Ask => "ask",
    }
}

label_enum! {
    /// Something a `[[notify]]` webhook is told about: the body's `event`, the names `events`
    /// takes, and `webhooks_total{event}`.
    pub enum WebhookEvent {
        /// A task was taken into the hold registry.
        Held => "held",
        /// A person resumed a held task.
        Approved => "approved",
        /// A person aborted or failed a held task.
        Rejected => "rejected",
        /// The deadline passed and the rule's fallback was applied.
        Expired => "expired",
        /// vCD refused or failed the keepalives of a held task: it may time out.
        KeepaliveFailed => "keepalive_failed",
        /// An approval was recorded; the task needs more (`hold.approvals`).
        ApprovalRecorded => "approval_recorded",
        /// `hold.remind_every` passed again and nobody has decided.
        Reminder => "reminder",
        /// `hold.escalate_after` passed: `escalate_to` may decide too.
        Escalated => "escalated",
        /// vCD no longer waits for the held task: it timed out there, the tenant cancelled
        /// it, or another handler decided it.
        Gone => "gone",
    }
}

label_enum! {
    /// What became of one event for one `[[notify]]` receiver (`webhooks_total{outcome}`).
    pub(crate) enum WebhookOutcome {
        /// The receiver accepted it (2xx).
        Sent => "sent",
        /// An attempt failed and another follows.
        Retried => "retried",
        /// Given up: refused (a 4xx other than 408 and 429, a redirect) or still failing after
        /// the retry window.
        Failed => "failed",
        /// Never sent: pushed out of a full queue by a newer event, or pending at shutdown.
        Dropped => "dropped",
    }
}

label_enum! {
    /// What became of a decision asked for from chat (`chat_decisions_total{outcome}`).
    pub(crate) enum ChatOutcome {
        /// The task was resumed.
        Approved => "approved",
        /// An approval was recorded; the task waits for more.
        Recorded => "recorded",
        /// The task was aborted or failed.
        Rejected => "rejected",
        /// The person may not decide it (not an approver, their own request, outside their
        /// orgs or the rule's approvers, approved already, no longer held): told why.
        Refused => "refused",
        /// vCD or the journal failed; the person was told.
        Failed => "failed",
        /// The same interaction delivered again: nothing done.
        Duplicate => "duplicate",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vocabulary_lists_every_value_once_and_reads_its_labels_back() {
        assert_eq!(
            WebhookEvent::ALL.map(WebhookEvent::label),
            [
                "held",
                "approved",
                "rejected",
                "expired",
                "keepalive_failed",
                "approval_recorded",
                "reminder",
                "escalated",
                "gone"
            ]
        );
        for reason in DeadLetterReason::ALL {
            assert_eq!(DeadLetterReason::from_label(reason.label()), Some(reason));
        }
        assert_eq!(WebhookEvent::from_label("Held"), None, "labels are exact");
        assert_eq!(<RunOutcome as Vocabulary>::all(), &RunOutcome::ALL);
        assert_eq!(AuditOutcome::Left.label(), "left_to_vcd");
    }
}
