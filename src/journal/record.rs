//! The journal's records and their encoding: one JSON object per record (a line in the file, a
//! message body in the stream), `{"v": 1, "kind": "…", …}`. The version and kind make each
//! record self-describing: a record of another version or an unknown kind is *foreign*, one
//! that does not parse is *corrupt*; replay skips and counts both ([`Decoded`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::task::{BlockingTask, FinalAction, HoldView, TaskId};

/// The version written in every record's `v`.
pub(crate) const VERSION: u64 = 1;

/// One thing the journal keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Record {
    /// A task was decided: by a rule (no approvers), by people, or by its fallback at the
    /// deadline.
    Decision(DecisionRecord),
    /// One approval of a task that needs several was recorded.
    Approval {
        task_id: TaskId,
        approver: String,
        at: DateTime<Utc>,
    },
    /// A `reminder` event was sent for a held task.
    Reminder { task_id: TaskId, at: DateTime<Utc> },
    /// The `escalated` event was sent for a held task.
    Escalated { task_id: TaskId, at: DateTime<Utc> },
    /// Written by a new leader before it reads the stream: reading stops at its own mark.
    Mark { id: String, at: DateTime<Utc> },
    /// A held task was posted to chat (the Slack app): where its message is, so that a new
    /// leader updates it instead of posting anew.
    ChatMessage {
        task_id: TaskId,
        /// The channel's ID, as Slack answered the post.
        channel: String,
        /// The message's timestamp, Slack's ID of a message in its channel.
        ts: String,
        at: DateTime<Utc>,
    },
}

/// A decision as `GET /v1/decisions` lists it (DESIGN.md §5b).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub task_id: TaskId,
    pub operation: String,
    pub org: String,
    pub user: String,
    pub rule: String,
    /// `resume`, `abort` or `fail`.
    pub action: String,
    /// Who decided, in the order they approved; empty for a rule's or a fallback's decision.
    pub approvers: Vec<String>,
    pub at: DateTime<Utc>,
}

impl DecisionRecord {
    /// A rule's decision on `task`, carried out at `at`.
    pub(crate) fn by_rule(
        task: &BlockingTask,
        rule: &str,
        action: FinalAction,
        at: DateTime<Utc>,
    ) -> DecisionRecord {
        DecisionRecord {
            task_id: task.id,
            operation: task.operation.clone(),
            org: task.org.name.clone(),
            user: task.user.name.clone(),
            rule: rule.to_owned(),
            action: action.name().to_owned(),
            approvers: Vec::new(),
            at,
        }
    }

    /// The decision on the held task `view`: by `approvers`, or by its fallback (none).
    pub(crate) fn of_hold(
        view: &HoldView,
        action: FinalAction,
        approvers: Vec<String>,
        at: DateTime<Utc>,
    ) -> DecisionRecord {
        DecisionRecord {
            task_id: view.id,
            operation: view.operation.to_string(),
            org: view.org.to_string(),
            user: view.user.to_string(),
            rule: view.rule.to_string(),
            action: action.name().to_owned(),
            approvers,
            at,
        }
    }
}

/// The kinds a version-1 record may have.
const KINDS: [&str; 6] = [
    "decision",
    "approval",
    "reminder",
    "escalated",
    "mark",
    "chat_message",
];

/// What a record's bytes turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    Record(Record),
    /// Another version or an unknown kind: somebody else's, or a later vcd-blockd's.
    Foreign,
    /// Not a record at all (cut off, not JSON, fields missing).
    Corrupt,
}

/// The record's bytes, without a line end.
pub(crate) fn encode(record: &Record) -> Vec<u8> {
    #[derive(Serialize)]
    struct Versioned<'a> {
        v: u64,
        #[serde(flatten)]
        record: &'a Record,
    }
    // A record holds strings, ids and times only: serialising it cannot fail.
    serde_json::to_vec(&Versioned { v: VERSION, record }).unwrap_or_default()
}

pub(crate) fn decode(bytes: &[u8]) -> Decoded {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Decoded::Corrupt;
    };
    let Some(object) = value.as_object() else {
        return Decoded::Corrupt;
    };
    let version = object.get("v").and_then(serde_json::Value::as_u64);
    let kind = object.get("kind").and_then(serde_json::Value::as_str);
    match (version, kind) {
        (Some(VERSION), Some(kind)) if KINDS.contains(&kind) => {}
        (Some(_), Some(_)) => return Decoded::Foreign,
        _ => return Decoded::Corrupt,
    }
    match serde_json::from_value::<Record>(value) {
        Ok(record) => Decoded::Record(record),
        Err(_) => Decoded::Corrupt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision() -> Record {
        Record::Decision(DecisionRecord {
            task_id: TaskId::parse("8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94").unwrap(),
            operation: "vdcDeleteVapp".into(),
            org: "prod-eu".into(),
            user: "erin".into(),
            rule: "production deletes need two people".into(),
            action: "resume".into(),
            approvers: vec!["carol".into(), "dave".into()],
            at: "2026-11-20T09:14:03.512Z".parse().unwrap(),
        })
    }

    #[test]
    fn a_record_is_one_versioned_json_object_that_reads_back() {
        let bytes = encode(&decision());
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "v": 1,
                "kind": "decision",
                "task_id": "8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94",
                "operation": "vdcDeleteVapp",
                "org": "prod-eu",
                "user": "erin",
                "rule": "production deletes need two people",
                "action": "resume",
                "approvers": ["carol", "dave"],
                "at": "2026-11-20T09:14:03.512Z",
            })
        );
        assert!(!bytes.contains(&b'\n'), "one line per record");
        assert_eq!(decode(&bytes), Decoded::Record(decision()));
        let approval = Record::Approval {
            task_id: TaskId::parse("8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94").unwrap(),
            approver: "carol".into(),
            at: "2026-11-20T09:15:00Z".parse().unwrap(),
        };
        assert_eq!(decode(&encode(&approval)), Decoded::Record(approval));
    }

    #[test]
    fn other_versions_and_kinds_are_foreign_and_broken_bytes_corrupt() {
        assert_eq!(
            decode(br#"{"v":2,"kind":"decision","task_id":"x"}"#),
            Decoded::Foreign
        );
        assert_eq!(decode(br#"{"v":1,"kind":"vote"}"#), Decoded::Foreign);
        assert_eq!(decode(br#"{"hello":"world"}"#), Decoded::Corrupt);
        assert_eq!(
            decode(br#"{"v":1,"kind":"decision","task_"#),
            Decoded::Corrupt
        );
        assert_eq!(
            decode(br#"{"v":1,"kind":"approval","task_id":"not-a-uuid","approver":"c","at":"2026-11-20T09:15:00Z"}"#),
            Decoded::Corrupt
        );
        assert_eq!(decode(b"\xff\xfe"), Decoded::Corrupt);
    }
}
