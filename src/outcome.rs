//! The outcomes the daemon counts and logs, one enum per metric label. Each names its own label
//! through `label()`, so the strings an operator sees in `/metrics` and in the audit log are
//! written once, here.

/// What became of a task the engine was asked to handle, when the triggering delivery can be
/// acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskOutcome {
    /// vCD accepted the action.
    Decided,
    /// Taken into the hold registry (or already there).
    Held,
    /// The policy said `ignore`: vCD's own timeout applies.
    Ignored,
    /// Decided but not acted on (`[policy] mode = "dry-run"`).
    DryRun,
    /// vCD no longer waits for the task: somebody (or vCD's timeout) decided it.
    AlreadyDecided,
    /// vCD does not know the task, even after the not-yet-visible retries.
    TaskNotFound,
}

impl TaskOutcome {
    /// The `notifications_total{outcome}` value.
    pub fn label(self) -> &'static str {
        match self {
            TaskOutcome::Decided => "decided",
            TaskOutcome::Held => "held",
            TaskOutcome::Ignored => "ignored",
            TaskOutcome::DryRun => "dry_run",
            TaskOutcome::AlreadyDecided => "already_decided",
            TaskOutcome::TaskNotFound => "task_not_found",
        }
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

/// Why a message went to `<queue>.dead` (`dead_lettered_total{reason}` and the
/// `x-vcd-blockd-reason` header). The same message would fail the same way again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterReason {
    /// Larger than `amqp.max_message_bytes`.
    TooLarge,
    NotUtf8,
    /// Neither XML nor a JSON object.
    UnknownFormat,
    /// XML or JSON that does not read as a vCD notification.
    Malformed,
    /// A field the notification must carry is missing.
    MissingField,
    /// The blocking task id is not a UUID.
    InvalidId,
    /// The body, the `notification.entityUUID` header and the routing key name different tasks.
    IdMismatch,
    /// vCD refused to show the task (e.g. 403): retrying will not help.
    VcdRefused,
    /// vCD refused the action on a task that is still active.
    ActionRefused,
    /// vCD's answer for the task could not be read (e.g. a proxy's HTML page with status 200,
    /// a cut-off document), again after a few more reads.
    UnreadableTask,
}

impl DeadLetterReason {
    pub(crate) const ALL: [DeadLetterReason; 10] = [
        DeadLetterReason::TooLarge,
        DeadLetterReason::NotUtf8,
        DeadLetterReason::UnknownFormat,
        DeadLetterReason::Malformed,
        DeadLetterReason::MissingField,
        DeadLetterReason::InvalidId,
        DeadLetterReason::IdMismatch,
        DeadLetterReason::VcdRefused,
        DeadLetterReason::ActionRefused,
        DeadLetterReason::UnreadableTask,
    ];

    pub fn label(self) -> &'static str {
        match self {
            DeadLetterReason::TooLarge => "too_large",
            DeadLetterReason::NotUtf8 => "not_utf8",
            DeadLetterReason::UnknownFormat => "unknown_format",
            DeadLetterReason::Malformed => "malformed",
            DeadLetterReason::MissingField => "missing_field",
            DeadLetterReason::InvalidId => "invalid_id",
            DeadLetterReason::IdMismatch => "id_mismatch",
            DeadLetterReason::VcdRefused => "vcd_refused",
            DeadLetterReason::ActionRefused => "action_refused",
            DeadLetterReason::UnreadableTask => "unreadable_task",
        }
    }
}

/// One `updateProgress` on a held task (`keepalives_total{outcome}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepaliveOutcome {
    /// vCD moved the task's timeout.
    Ok,
    /// It failed; retried ahead of vCD's timeout.
    Error,
    /// vCD no longer waits for the task; the hold ends.
    Gone,
}

impl KeepaliveOutcome {
    pub(crate) const ALL: [KeepaliveOutcome; 3] = [
        KeepaliveOutcome::Ok,
        KeepaliveOutcome::Error,
        KeepaliveOutcome::Gone,
    ];

    pub fn label(self) -> &'static str {
        match self {
            KeepaliveOutcome::Ok => "ok",
            KeepaliveOutcome::Error => "error",
            KeepaliveOutcome::Gone => "gone",
        }
    }
}

/// How a periodic or one-off job ended (`policy_reloads_total{outcome}`,
/// `approvers_reloads_total{outcome}`, `reconcile_runs_total{outcome}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Ok,
    Error,
}

impl RunOutcome {
    pub(crate) const ALL: [RunOutcome; 2] = [RunOutcome::Ok, RunOutcome::Error];

    pub fn label(self) -> &'static str {
        match self {
            RunOutcome::Ok => "ok",
            RunOutcome::Error => "error",
        }
    }
}

/// What happened to a held task, in its audit events (`event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HoldEvent {
    /// An `updateProgress` that keeps vCD waiting.
    Keepalive,
    /// A person resumed it.
    Approve,
    /// A person aborted or failed it.
    Reject,
    /// The rule's deadline passed; its fallback was applied.
    Fallback,
}

impl HoldEvent {
    pub(crate) fn label(self) -> &'static str {
        match self {
            HoldEvent::Keepalive => "keepalive",
            HoldEvent::Approve => "approve",
            HoldEvent::Reject => "reject",
            HoldEvent::Fallback => "fallback",
        }
    }
}

/// Something a `[[notify]]` webhook is told about: the body's `event`, the names `events`
/// takes, and `webhooks_total{event}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookEvent {
    /// A task was taken into the hold registry.
    Held,
    /// A person resumed a held task.
    Approved,
    /// A person aborted or failed a held task.
    Rejected,
    /// The deadline passed and the rule's fallback was applied.
    Expired,
    /// vCD refused or failed the keepalives of a held task: it may time out.
    KeepaliveFailed,
}

impl WebhookEvent {
    pub(crate) const ALL: [WebhookEvent; 5] = [
        WebhookEvent::Held,
        WebhookEvent::Approved,
        WebhookEvent::Rejected,
        WebhookEvent::Expired,
        WebhookEvent::KeepaliveFailed,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            WebhookEvent::Held => "held",
            WebhookEvent::Approved => "approved",
            WebhookEvent::Rejected => "rejected",
            WebhookEvent::Expired => "expired",
            WebhookEvent::KeepaliveFailed => "keepalive_failed",
        }
    }

    /// The event an `events` entry names.
    pub(crate) fn parse(name: &str) -> Option<WebhookEvent> {
        WebhookEvent::ALL.into_iter().find(|e| e.label() == name)
    }
}

/// What became of one event for one `[[notify]]` receiver (`webhooks_total{outcome}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WebhookOutcome {
    /// The receiver accepted it (2xx).
    Sent,
    /// An attempt failed and another follows.
    Retried,
    /// Given up: refused (a 4xx other than 408 and 429, a redirect) or still failing after the
    /// retry window.
    Failed,
    /// Never sent: pushed out of a full queue by a newer event, or pending at shutdown.
    Dropped,
}

impl WebhookOutcome {
    pub(crate) const ALL: [WebhookOutcome; 4] = [
        WebhookOutcome::Sent,
        WebhookOutcome::Retried,
        WebhookOutcome::Failed,
        WebhookOutcome::Dropped,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            WebhookOutcome::Sent => "sent",
            WebhookOutcome::Retried => "retried",
            WebhookOutcome::Failed => "failed",
            WebhookOutcome::Dropped => "dropped",
        }
    }
}
