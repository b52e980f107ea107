//! Domain types for a blocking task: its validated identifier ([`TaskId`]), the task as vCD
//! reports it ([`BlockingTask`]), the three decisions vCD knows ([`FinalAction`]) and a held
//! task as the admin API, webhooks and audit log show it ([`HoldView`]), with the
//! [`Approval`]s recorded on it.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// The URN prefix vCD gives blocking tasks (`urn:vcloud:blockingTask:<uuid>`).
pub(crate) const BLOCKING_TASK_URN_PREFIX: &str = "urn:vcloud:blockingTask:";

/// A blocking task's UUID, validated. It is the only piece of a notification that ever
/// becomes part of a URL, so it can hold nothing but a UUID.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(Uuid);

/// A string that is not a blocking task id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a blocking task id: {0:?}")]
pub struct InvalidTaskId(pub String);

impl TaskId {
    /// Accepts a bare UUID or `urn:vcloud:blockingTask:<uuid>` (prefix matched without regard
    /// to case). Braced, simple or URN-style UUID spellings are refused: vCD never sends them.
    pub fn parse(text: &str) -> Result<TaskId, InvalidTaskId> {
        let text = text.trim();
        let bare = match text.get(..BLOCKING_TASK_URN_PREFIX.len()) {
            Some(head) if head.eq_ignore_ascii_case(BLOCKING_TASK_URN_PREFIX) => {
                &text[BLOCKING_TASK_URN_PREFIX.len()..]
            }
            _ => text,
        };
        if bare.len() != 36 {
            return Err(InvalidTaskId(text.to_owned()));
        }
        Uuid::try_parse(bare)
            .map(TaskId)
            .map_err(|_| InvalidTaskId(text.to_owned()))
    }

    pub fn from_uuid(uuid: Uuid) -> TaskId {
        TaskId(uuid)
    }

    pub fn uuid(&self) -> Uuid {
        self.0
    }

    /// `urn:vcloud:blockingTask:<uuid>`
    pub fn urn(&self) -> String {
        format!("{BLOCKING_TASK_URN_PREFIX}{}", self.0)
    }
}

/// Lower-case hyphenated UUID, the form vCD uses in paths.
impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// In JSON (the admin API) as its `Display` form; read back through [`TaskId::parse`].
impl Serialize for TaskId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TaskId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<TaskId, D::Error> {
        let text = String::deserialize(deserializer)?;
        TaskId::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({self})")
    }
}

/// Whether vCD still waits for a decision on a task. Anything but `active` means some
/// decision (ours, a human's, or vCD's timeout) has already been taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskStatus {
    Active,
    Other(String),
}

impl TaskStatus {
    pub fn parse(text: &str) -> TaskStatus {
        if text.eq_ignore_ascii_case("active") {
            TaskStatus::Active
        } else {
            TaskStatus::Other(text.to_owned())
        }
    }

    pub fn is_active(&self) -> bool {
        matches!(self, TaskStatus::Active)
    }
}

/// A reference to another vCD object as a blocking task names it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntityRef {
    pub name: String,
    /// The object's id as the last path segment of its href (a UUID, sometimes with a type
    /// prefix such as `vapp-`), or empty when vCD gave no href.
    pub id: String,
    /// Short type name such as `vApp`, `vm`, `media`; empty when unknown.
    pub kind: String,
}

/// A blocking task as read from `GET /api/admin/extension/blockingTask/<uuid>`.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockingTask {
    pub id: TaskId,
    /// The suspended operation, e.g. `vdcInstantiateVapp` (the task's `name`).
    pub operation: String,
    pub status: TaskStatus,
    pub created: Option<DateTime<Utc>>,
    pub timeout_date: Option<DateTime<Utc>>,
    /// What vCD does when `timeout_date` passes: `abort`, `fail` or `resume`.
    pub timeout_action: String,
    pub description: String,
    pub org: EntityRef,
    pub user: EntityRef,
    pub owner: EntityRef,
}

/// The three actions vCD itself knows for a blocking task; in JSON by [`FinalAction::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FinalAction {
    Resume,
    Abort,
    Fail,
}

impl FinalAction {
    /// `resume`, `abort` or `fail`: the action's name in the policy language, in metrics and
    /// in vCD's action paths.
    pub fn name(self) -> &'static str {
        match self {
            FinalAction::Resume => "resume",
            FinalAction::Abort => "abort",
            FinalAction::Fail => "fail",
        }
    }

    /// Parses `resume`, `abort` or `fail`.
    pub fn parse(name: &str) -> Option<FinalAction> {
        match name {
            "resume" => Some(FinalAction::Resume),
            "abort" => Some(FinalAction::Abort),
            "fail" => Some(FinalAction::Fail),
            _ => None,
        }
    }
}

impl fmt::Display for FinalAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A held task as the admin API (`GET /v1/holds`), the webhooks and the audit log show it:
/// who asked for what, the rule that holds it and what happens at its deadline. The one copy
/// of these fields: the engine's `HeldTask` keeps it, and each of those views borrows or clones it. In
/// JSON (the admin API), times are RFC 3339 and `fallback` is `resume`, `abort` or `fail`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldView {
    pub id: TaskId,
    pub operation: Box<str>,
    pub org: Box<str>,
    pub user: Box<str>,
    /// The name of what the task acts on (its vApp, VM or media).
    pub owner_name: Box<str>,
    /// The rule that holds it (shared with the policy's other decisions).
    #[serde(with = "shared_str")]
    pub rule: Arc<str>,
    /// The task's `createdTime`: deadlines count from here, so restarts never extend them.
    pub since: DateTime<Utc>,
    /// When the fallback applies: `since` plus the rule's `hold.max`.
    pub deadline: DateTime<Utc>,
    pub fallback: FinalAction,
    /// The approvals recorded so far, oldest first (fewer than `needed` while it is held).
    #[serde(default)]
    pub approvals: Vec<Approval>,
    /// How many distinct approvers must approve (the rule's `hold.approvals`, at least 1).
    #[serde(default = "one")]
    pub needed: u32,
    /// Why time holds it, when the rule has conditions on time: `weekend freeze until Mon
    /// 06:00 CET`.
    #[serde(default)]
    pub reason: Option<Box<str>>,
}

fn one() -> u32 {
    1
}

impl HoldView {
    /// The approvers recorded so far, in order: `carol, dave`.
    pub fn approver_names(&self) -> String {
        let names: Vec<&str> = self.approvals.iter().map(|a| &*a.approver).collect();
        names.join(", ")
    }

    /// `1 of 2: carol`, how far the approvals are.
    pub fn progress(&self) -> String {
        format!(
            "{} of {}: {}",
            self.approvals.len(),
            self.needed,
            self.approver_names()
        )
    }
}

/// One approval recorded on a held task: who, and when (RFC 3339 in JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub approver: Box<str>,
    pub at: DateTime<Utc>,
}

/// `Arc<str>` in JSON as a plain string (serde's `rc` feature would do the same for every
/// `Arc` of the crate).
mod shared_str {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        text: &Arc<str>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(text)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Arc<str>, D::Error> {
        String::deserialize(deserializer).map(Arc::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_id_accepts_bare_uuid_and_urn() {
        let bare = TaskId::parse("8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94").unwrap();
        let urn =
            TaskId::parse("urn:vcloud:blockingTask:8C1D6E2A-4F3B-4A7D-9E21-5B0C3F7D1E94").unwrap();
        assert_eq!(bare, urn);
        assert_eq!(bare.to_string(), "8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94");
        assert_eq!(
            bare.urn(),
            "urn:vcloud:blockingTask:8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94"
        );
    }

    #[test]
    fn task_id_refuses_anything_that_could_change_a_path() {
        for hostile in [
            "",
            "../../admin",
            "8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94/../x",
            "8c1d6e2a4f3b4a7d9e215b0c3f7d1e94",
            "{8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94}",
            "urn:vcloud:vapp:8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94",
            "8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e9%",
        ] {
            assert!(TaskId::parse(hostile).is_err(), "{hostile:?} was accepted");
        }
    }
}
