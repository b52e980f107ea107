//! The cloud's task history, as the query service's `adminTask` type lists it (protocol notes
//! §8): every blocking task the sim created (running while it waits, then `success`,
//! `aborted` or `error` as it was decided) and the past tasks loaded for tests and demos
//! ([`PastTask`], through `POST /sim/history`, `--history FILE` or [`crate::Sim::load_history`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::TaskStatus;
use crate::task::Task;

/// A task's status as vCD's task list names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum HistoryStatus {
    Queued,
    PreRunning,
    Running,
    Success,
    Error,
    Canceled,
    Aborted,
}

impl HistoryStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::PreRunning => "preRunning",
            Self::Running => "running",
            Self::Success => "success",
            Self::Error => "error",
            Self::Canceled => "canceled",
            Self::Aborted => "aborted",
        }
    }
}

/// One task of the history: loaded as JSON, e.g. `{"operation": "vdcInstantiateVapp", "org":
/// "acme", "user": "alice", "status": "success", "started": "2026-12-07T09:00:00Z"}`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PastTask {
    /// The task's id (its `href`); a new one when left out.
    #[serde(default = "Uuid::new_v4")]
    pub id: Uuid,
    /// The operation, the record's `name`, e.g. `vdcInstantiateVapp`.
    pub operation: String,
    /// The org's name (`orgName`).
    pub org: String,
    /// The user who started it (`ownerName`).
    pub user: String,
    /// What the task works on (`objectName`).
    #[serde(default)]
    pub object: String,
    pub status: HistoryStatus,
    /// `startDate`.
    pub started: DateTime<Utc>,
    /// `endDate`, once it ended.
    #[serde(default)]
    pub ended: Option<DateTime<Utc>>,
}

impl PastTask {
    /// A blocking task the sim created, as the history shows it: its suspended task (the
    /// parent), running while it waits, then as it was decided.
    pub(crate) fn of(task: &Task) -> PastTask {
        let status = match task.status {
            TaskStatus::Active => HistoryStatus::Running,
            TaskStatus::Resumed => HistoryStatus::Success,
            TaskStatus::Aborted => HistoryStatus::Aborted,
            TaskStatus::Failed => HistoryStatus::Error,
        };
        let ended = (!task.is_active())
            .then(|| task.actions.iter().rev().find(|a| a.accepted).map(|a| a.at))
            .flatten();
        PastTask {
            id: task.parent_task,
            operation: task.operation.clone(),
            org: task.org.name.clone(),
            user: task.user.name.clone(),
            object: task.owner.name.clone(),
            status,
            started: task.created,
            ended,
        }
    }

    /// The value of a record attribute a filter names (`name`, `orgName`, `ownerName`,
    /// `objectName`, `status`, `startDate`, `endDate`); `None` for one the sim does not keep.
    pub(crate) fn attribute(&self, name: &str) -> Option<Attribute<'_>> {
        Some(match name {
            "name" | "operationFull" => Attribute::Text(&self.operation),
            "orgName" => Attribute::Text(&self.org),
            "ownerName" => Attribute::Text(&self.user),
            "objectName" => Attribute::Text(&self.object),
            "status" => Attribute::Text(self.status.as_str()),
            "startDate" => Attribute::Time(Some(self.started)),
            "endDate" => Attribute::Time(self.ended),
            _ => return None,
        })
    }
}

/// Whether a filter may name attribute `name`, and whether it holds an instant.
pub(crate) fn attribute_is_time(name: &str) -> Option<bool> {
    match name {
        "name" | "operationFull" | "orgName" | "ownerName" | "objectName" | "status" => Some(false),
        "startDate" | "endDate" => Some(true),
        _ => None,
    }
}

/// A record attribute's value, as a filter compares it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Attribute<'a> {
    Text(&'a str),
    /// `None`: not set (a task that has not ended has no `endDate`).
    Time(Option<DateTime<Utc>>),
}
