//! The admin operations on held tasks (list, approve, reject) and their answers, the same
//! whether the HTTP API runs them here (this instance leads) or another instance forwards
//! them to the leader through RabbitMQ. An [`Answer`] is what the HTTP API sends back: a
//! status and a JSON body.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::approvers::{Approver, Forbidden};
use crate::engine::{Decided, Engine, HeldTask, HoldError, gate};
use crate::journal;
use crate::task::{FinalAction, HoldView, TaskId};

/// One admin operation, as given (ids and actions are checked by [`execute`], so that the
/// leader checks what another instance forwards).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Call {
    /// The held tasks the approver may see.
    List,
    /// The latest decisions of the approver's orgs, newest first (`since`: RFC 3339).
    Decisions {
        since: Option<String>,
        limit: Option<usize>,
    },
    /// Resume a held task.
    Approve { id: String, message: Option<String> },
    /// Abort (default) or fail a held task.
    Reject {
        id: String,
        action: Option<String>,
        message: Option<String>,
    },
}

/// The longest approval or rejection message accepted, in bytes (DESIGN.md §5): vCD documents
/// no limit for the `message` of resume/abort/fail, refuses bodies of a few MB (413), and the
/// message is also written to the audit log; the approvals page caps it at 500 characters.
pub(crate) const MAX_MESSAGE_BYTES: usize = 4096;

impl Call {
    /// Refuses what no leader should run: a message over [`MAX_MESSAGE_BYTES`] (400).
    pub(crate) fn check(&self) -> Result<(), Answer> {
        let message = match self {
            Call::List | Call::Decisions { .. } => None,
            Call::Approve { message, .. } | Call::Reject { message, .. } => message.as_deref(),
        };
        match message {
            Some(message) if message.len() > MAX_MESSAGE_BYTES => Err(Answer::error(
                400,
                &format!(
                    "the message is {} bytes; at most {MAX_MESSAGE_BYTES} are accepted",
                    message.len()
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// What the HTTP API answers: `status` (an HTTP status code) and a JSON `body`, an
/// `{"error": "…"}` object on failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
}

impl Answer {
    pub(crate) fn error(status: u16, message: &str) -> Answer {
        Answer {
            status,
            body: serde_json::json!({ "error": message }),
        }
    }

    fn ok(body: serde_json::Value) -> Answer {
        Answer { status: 200, body }
    }
}

/// A held task as `GET /v1/holds` lists it: the hold's view (its fields at the top level of
/// the object), when it is next kept alive, and whether the caller may decide it.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct ListedHold {
    #[serde(flatten)]
    pub hold: HoldView,
    /// The next keepalive, or the deadline when that comes first.
    pub next_keepalive: DateTime<Utc>,
    /// Whether the caller may approve or reject it now.
    #[serde(default = "yes")]
    pub may_decide: bool,
    /// Why not, in a few words ("your own request", "not among the rule's approvers",
    /// "already approved by you"); `null` when they may.
    #[serde(default)]
    pub why_not: Option<String>,
}

fn yes() -> bool {
    true
}

impl ListedHold {
    /// `held` as `approver` sees it at `now`.
    fn of(
        held: &HeldTask,
        approver: &Approver,
        allow_self: bool,
        now: DateTime<Utc>,
    ) -> ListedHold {
        let refusal = approver.may_decide(&gate(held, allow_self, now)).err();
        ListedHold {
            hold: held.view.clone(),
            next_keepalive: held.keepalive_due.min(held.view.deadline),
            may_decide: refusal.is_none(),
            why_not: refusal.map(|refusal| refusal.short().to_owned()),
        }
    }
}

/// Runs `call` for `approver` against this instance's engine, which must be the leader's.
pub(crate) async fn execute(engine: &Engine, approver: &Approver, call: Call) -> Answer {
    if let Err(answer) = call.check() {
        return answer;
    }
    match call {
        Call::List => {
            let (allow_self, now) = (engine.allow_self_approval(), Utc::now());
            let holds: Vec<ListedHold> = engine
                .holds
                .list()
                .iter()
                .filter(|held| approver.may_see(&held.view.org))
                .map(|held| ListedHold::of(held, approver, allow_self, now))
                .collect();
            Answer::ok(serde_json::to_value(holds).unwrap_or_default())
        }
        Call::Decisions { since, limit } => decisions(engine, approver, since, limit),
        Call::Approve { id, message } => {
            let id = match TaskId::parse(&id) {
                Ok(id) => id,
                Err(error) => return Answer::error(400, &error.to_string()),
            };
            let result = engine.approve(id, approver, message).await;
            answer(id, FinalAction::Resume, result)
        }
        Call::Reject {
            id,
            action,
            message,
        } => {
            let id = match TaskId::parse(&id) {
                Ok(id) => id,
                Err(error) => return Answer::error(400, &error.to_string()),
            };
            let action = match action.as_deref().unwrap_or("abort") {
                "abort" => FinalAction::Abort,
                "fail" => FinalAction::Fail,
                other => {
                    return Answer::error(400, &format!("action {other:?} is not abort or fail"));
                }
            };
            let result = engine.reject(id, action, approver, message).await;
            answer(id, action, result)
        }
    }
}

/// `GET /v1/decisions`: 400 for a `since` that is not an RFC 3339 time or a `limit` of 0.
fn decisions(
    engine: &Engine,
    approver: &Approver,
    since: Option<String>,
    limit: Option<usize>,
) -> Answer {
    let since = match since.as_deref().map(DateTime::parse_from_rfc3339) {
        None => None,
        Some(Ok(since)) => Some(since.with_timezone(&Utc)),
        Some(Err(error)) => {
            return Answer::error(
                400,
                &format!("since: not an RFC 3339 time such as 2026-11-20T09:00:00Z ({error})"),
            );
        }
    };
    let limit = match limit {
        Some(0) => return Answer::error(400, "limit: at least 1"),
        Some(limit) => limit,
        None => journal::DEFAULT_LIMIT,
    };
    let decisions = engine
        .journal()
        .decisions(since, limit, |decided| approver.may_see(&decided.org));
    Answer::ok(serde_json::to_value(decisions).unwrap_or_default())
}

/// 200 when vCD accepted the action; 202 with `approvals` and `needed` when an approval was
/// recorded and the task waits for more.
fn answer(id: TaskId, action: FinalAction, result: Result<Decided, HoldError>) -> Answer {
    match result {
        Ok(Decided::Acted) => {
            Answer::ok(serde_json::json!({"id": id.to_string(), "action": action.name()}))
        }
        Ok(Decided::Recorded { approvals, needed }) => Answer {
            status: 202,
            body: serde_json::json!({
                "id": id.to_string(),
                "action": action.name(),
                "recorded": true,
                "approvals": approvals,
                "needed": needed,
            }),
        },
        Err(error) => {
            let status = match &error {
                HoldError::Unknown(_) => 404,
                HoldError::NotHeld { .. } => 409,
                HoldError::NotARejection(_) => 400,
                HoldError::Forbidden(Forbidden::AlreadyApproved { .. }) => 409,
                HoldError::Forbidden(_) => 403,
                HoldError::Journal(_) => 503,
                HoldError::Vcd(_) => 502,
            };
            Answer::error(status, &error.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_have_a_stable_wire_form() {
        let call = Call::Reject {
            id: "0b7e2ad5-8c3f-4d2a-9d8e-3c1a2b4c5d6e".into(),
            action: Some("fail".into()),
            message: None,
        };
        let text = serde_json::to_string(&call).unwrap();
        assert_eq!(
            text,
            r#"{"call":"reject","id":"0b7e2ad5-8c3f-4d2a-9d8e-3c1a2b4c5d6e","action":"fail","message":null}"#
        );
        assert_eq!(serde_json::from_str::<Call>(&text).unwrap(), call);
        assert_eq!(
            serde_json::from_str::<Call>(r#"{"call":"list"}"#).unwrap(),
            Call::List
        );
        assert!(serde_json::from_str::<Call>(r#"{"call":"delete","id":"x"}"#).is_err());
    }

    #[test]
    fn a_listed_hold_is_one_flat_object_with_the_documented_fields() {
        let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
        let listed = ListedHold {
            hold: HoldView {
                id: TaskId::parse("8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94").unwrap(),
                operation: "vdcInstantiateVapp".into(),
                org: "prod-eu".into(),
                user: "dave".into(),
                owner_name: "billing".into(),
                rule: "production deployments need an approver".into(),
                since: at("2026-11-20T09:14:03.512Z"),
                deadline: at("2026-11-20T10:14:03.512Z"),
                fallback: FinalAction::Abort,
                approvals: Vec::new(),
                needed: 1,
                reason: None,
            },
            next_keepalive: at("2026-11-20T09:19:03Z"),
            may_decide: false,
            why_not: Some("your own request".into()),
        };
        let json = serde_json::to_value(&listed).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": "8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94",
                "operation": "vdcInstantiateVapp",
                "org": "prod-eu",
                "user": "dave",
                "owner_name": "billing",
                "rule": "production deployments need an approver",
                "since": "2026-11-20T09:14:03.512Z",
                "deadline": "2026-11-20T10:14:03.512Z",
                "fallback": "abort",
                "reason": null,
                "next_keepalive": "2026-11-20T09:19:03Z",
                "approvals": [],
                "needed": 1,
                "may_decide": false,
                "why_not": "your own request",
            })
        );
        assert_eq!(
            serde_json::from_value::<ListedHold>(json).unwrap(),
            listed,
            "vcd-blockd holds reads back what the API lists"
        );
    }
}
