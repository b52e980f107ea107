//! What the app shows in Slack and what it reads back: the message of a held task (the
//! `slack` webhook body, plus **Approve** and **Reject** buttons while it waits), the reason
//! dialog Reject opens, and the interaction payloads Slack sends (`block_actions` for a click,
//! `view_submission` for the dialog), turned into [`Interaction`]s.

use serde_json::{Value, json};

use crate::notify::{Event, slack_body};
use crate::outcome::WebhookEvent;

/// `action_id` of the Approve and Reject buttons; their `value` is the task id.
const APPROVE: &str = "vcd_blockd_approve";
const REJECT: &str = "vcd_blockd_reject";
/// `callback_id` of the reason dialog; its `private_metadata` is the task id.
const REASON_VIEW: &str = "vcd_blockd_reject_reason";
/// The dialog's input block and element.
const REASON_BLOCK: &str = "reason";
const REASON_INPUT: &str = "reason_input";
/// The longest reason the dialog takes, in characters (within the admin API's 4 KiB bound).
const REASON_MAX_CHARS: u64 = 1000;

/// Whether the task may still be decided after `kind`: then the message has buttons.
pub(crate) fn undecided(kind: WebhookEvent) -> bool {
    !matches!(
        kind,
        WebhookEvent::Approved
            | WebhookEvent::Rejected
            | WebhookEvent::Expired
            | WebhookEvent::Gone
    )
}

/// The message for `event` (`text` and `blocks`); `link` is the approvals page, if known.
pub(crate) fn message(event: &Event, link: Option<&str>) -> Value {
    let mut body = slack_body(event, link);
    if undecided(event.kind) {
        let id = event.hold.id.to_string();
        let buttons = [
            json!({"type": "button", "action_id": APPROVE, "style": "primary", "value": id,
                   "text": {"type": "plain_text", "text": "Approve"}}),
            json!({"type": "button", "action_id": REJECT, "style": "danger", "value": id,
                   "text": {"type": "plain_text", "text": "Reject"}}),
        ];
        if let Some(blocks) = body["blocks"].as_array_mut() {
            blocks.push(
                json!({"type": "actions", "block_id": "vcd_blockd_decide", "elements": buttons}),
            );
        }
    }
    body
}

/// The dialog asking why task `id` is rejected.
pub(crate) fn reason_dialog(id: &str) -> Value {
    json!({
        "type": "modal",
        "callback_id": REASON_VIEW,
        "private_metadata": id,
        "title": {"type": "plain_text", "text": "Reject the task"},
        "submit": {"type": "plain_text", "text": "Reject"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [{
            "type": "input",
            "block_id": REASON_BLOCK,
            "label": {"type": "plain_text", "text": "Why? (the requester sees this in vCD)"},
            "element": {"type": "plain_text_input", "action_id": REASON_INPUT,
                        "multiline": true, "max_length": REASON_MAX_CHARS},
        }],
    })
}

/// What a person did in Slack, as far as the app cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Interaction {
    /// Approve or Reject was clicked on a task's message.
    Click {
        user: String,
        approve: bool,
        task: String,
        /// For the reason dialog (valid for 3 s).
        trigger_id: Option<String>,
        /// Where the click was, for an ephemeral answer.
        channel: Option<String>,
        /// The same click delivered again has the same key (user and `action_ts`).
        key: String,
    },
    /// The reason dialog was submitted.
    Reason {
        user: String,
        task: String,
        reason: String,
        /// The same submission delivered again has the same key (user and view id).
        key: String,
    },
    /// Anything else (another app's buttons, a dialog closed): acknowledged and ignored.
    Other,
}

impl Interaction {
    /// The key that tells a delivery of this interaction again, if it has one.
    pub(crate) fn key(&self) -> Option<&str> {
        match self {
            Interaction::Click { key, .. } | Interaction::Reason { key, .. } => Some(key),
            Interaction::Other => None,
        }
    }
}

/// Reads an interaction payload (`block_actions`, `view_submission`).
pub(crate) fn interaction(payload: &Value) -> Interaction {
    let text = |value: &Value| value.as_str().map(str::to_owned);
    let Some(user) = text(&payload["user"]["id"]) else {
        return Interaction::Other;
    };
    match payload["type"].as_str() {
        Some("block_actions") => {
            let Some(action) = payload["actions"].as_array().and_then(|a| a.first()) else {
                return Interaction::Other;
            };
            let approve = match action["action_id"].as_str() {
                Some(APPROVE) => true,
                Some(REJECT) => false,
                _ => return Interaction::Other,
            };
            let (Some(task), Some(at)) = (text(&action["value"]), text(&action["action_ts"]))
            else {
                return Interaction::Other;
            };
            Interaction::Click {
                key: format!("click:{user}:{at}"),
                user,
                approve,
                task,
                trigger_id: text(&payload["trigger_id"]),
                channel: text(&payload["channel"]["id"])
                    .or_else(|| text(&payload["container"]["channel_id"])),
            }
        }
        Some("view_submission") if payload["view"]["callback_id"] == REASON_VIEW => {
            let view = &payload["view"];
            let reason = &view["state"]["values"][REASON_BLOCK][REASON_INPUT]["value"];
            match (text(&view["private_metadata"]), text(&view["id"])) {
                (Some(task), Some(view_id)) => Interaction::Reason {
                    key: format!("reason:{user}:{view_id}"),
                    user,
                    task,
                    reason: text(reason).unwrap_or_default().trim().to_owned(),
                },
                _ => Interaction::Other,
            }
        }
        _ => Interaction::Other,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::DateTime;

    use super::*;
    use crate::task::{FinalAction, HoldView, TaskId};

    const ID: &str = "8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94";

    fn event(kind: WebhookEvent) -> Event {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        Event {
            kind,
            hold: HoldView {
                id: TaskId::parse(ID).unwrap(),
                operation: "vdcInstantiateVapp".into(),
                org: "prod".into(),
                user: "alice".into(),
                owner_name: "billing".into(),
                rule: Arc::from("hold"),
                since: at,
                deadline: at,
                fallback: FinalAction::Abort,
                approvals: Vec::new(),
                needed: 1,
                reason: None,
            },
            approver: (kind == WebhookEvent::Approved).then(|| "carol".into()),
            action: (kind == WebhookEvent::Approved).then_some(FinalAction::Resume),
            message: None,
            at,
            rediscovered: false,
            approval: Arc::default(),
            escalated: false,
        }
    }

    /// The `(action_id, value)` of every button but links.
    fn buttons(message: &Value) -> Vec<(String, String)> {
        message["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|block| block["type"] == "actions")
            .flat_map(|block| block["elements"].as_array().unwrap().clone())
            .filter(|button| button.get("url").is_none())
            .map(|b| {
                (
                    b["action_id"].as_str().unwrap().to_owned(),
                    b["value"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn a_waiting_task_has_approve_and_reject_and_a_decided_one_none() {
        let link = "https://blockd.example.com/ui/#x";
        for kind in [
            WebhookEvent::Held,
            WebhookEvent::ApprovalRecorded,
            WebhookEvent::Reminder,
        ] {
            let held = message(&event(kind), Some(link));
            assert_eq!(
                buttons(&held),
                [
                    (APPROVE.to_owned(), ID.to_owned()),
                    (REJECT.to_owned(), ID.to_owned())
                ],
                "{kind:?}"
            );
            assert!(held.to_string().contains(link), "the page's link stays");
        }
        for kind in [
            WebhookEvent::Approved,
            WebhookEvent::Rejected,
            WebhookEvent::Expired,
            WebhookEvent::Gone,
        ] {
            assert!(buttons(&message(&event(kind), None)).is_empty(), "{kind:?}");
        }
        let approved = message(&event(WebhookEvent::Approved), None);
        assert!(
            approved["text"]
                .as_str()
                .unwrap()
                .starts_with("Approved by carol")
        );
        let gone = message(&event(WebhookEvent::Gone), None);
        assert!(gone["text"].as_str().unwrap().starts_with("Decided in vCD"));
        assert!(
            !gone.to_string().contains("Fallback"),
            "vCD decided it; no fallback will be applied: {gone}"
        );
    }

    #[test]
    fn a_click_on_approve_names_the_user_the_task_and_the_channel() {
        let payload = json!({
            "type": "block_actions",
            "user": {"id": "U024BE7LH", "username": "carol"},
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
            "channel": {"id": "C0123ABCD"},
            "actions": [{"action_id": APPROVE, "value": "8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94",
                         "action_ts": "1548426417.840180", "type": "button"}],
        });
        assert_eq!(
            interaction(&payload),
            Interaction::Click {
                user: "U024BE7LH".into(),
                approve: true,
                task: "8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94".into(),
                trigger_id: Some("13345224609.738474920.8088930838d88f008e0".into()),
                channel: Some("C0123ABCD".into()),
                key: "click:U024BE7LH:1548426417.840180".into(),
            }
        );
    }

    #[test]
    fn the_reason_dialog_reads_back_its_task_and_reason() {
        let dialog = reason_dialog("8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94");
        let payload = json!({
            "type": "view_submission",
            "user": {"id": "U024BE7LH"},
            "view": {
                "id": "V0PKB1ZFV",
                "callback_id": dialog["callback_id"],
                "private_metadata": dialog["private_metadata"],
                "state": {"values": {REASON_BLOCK: {REASON_INPUT: {"type": "plain_text_input", "value": " not today \n"}}}},
            },
        });
        assert_eq!(
            interaction(&payload),
            Interaction::Reason {
                user: "U024BE7LH".into(),
                task: "8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94".into(),
                reason: "not today".into(),
                key: "reason:U024BE7LH:V0PKB1ZFV".into(),
            }
        );
    }

    #[test]
    fn other_payloads_are_ignored() {
        for payload in [
            json!({}),
            json!({"type": "block_actions", "user": {"id": "U1"}, "actions": [{"action_id": "other", "value": "x", "action_ts": "1"}]}),
            json!({"type": "view_closed", "user": {"id": "U1"}}),
            json!({"type": "view_submission", "user": {"id": "U1"}, "view": {"callback_id": "someone_elses"}}),
        ] {
            assert_eq!(interaction(&payload), Interaction::Other, "{payload}");
        }
    }
}
