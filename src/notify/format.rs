//! The three webhook bodies for one [`Event`]: vcd-blockd's own flat JSON object, a Slack
//! incoming-webhook message (`text` plus Block Kit `blocks`) and a Microsoft Teams Workflows
//! webhook message (an Adaptive Card 1.4 attachment whose only action opens a URL). Both chat
//! formats show the same facts: a header line, the facts that apply, the message, and a link
//! to the approvals page when `[http] public_url` is set.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use url::Url;

use super::Event;
use super::settings::WebhookFormat;
use crate::outcome::WebhookEvent;
use crate::task::{FinalAction, TaskId};

/// Slack's limits (Block Kit reference): a header's text, a section field's text, a section's
/// text, and at most ten fields.
const SLACK_HEADER_CHARS: usize = 150;
const SLACK_FIELD_CHARS: usize = 2000;
const SLACK_TEXT_CHARS: usize = 3000;
const SLACK_MAX_FIELDS: usize = 10;
/// The Adaptive Card version of `teams` cards, as Microsoft's examples for Workflows webhooks
/// ("When a Teams webhook request is received") give it.
const TEAMS_CARD_VERSION: &str = "1.4";
/// The link's label in both chat formats and in mail.
pub(super) const OPEN_LABEL: &str = "Open the approvals page";

/// The approvals page for task `id`: `public_url` + `/ui/#<id>`.
pub(crate) fn approvals_link(public_url: &Url, id: TaskId) -> String {
    format!("{}/ui/#{id}", public_url.as_str().trim_end_matches('/'))
}

/// The body `format` sends for `event`; `link` is its task's approvals page, if known.
pub(super) fn body(format: WebhookFormat, event: &Event, link: Option<&str>) -> Value {
    match format {
        // A mail receiver is sent a mail (`mail`), never a body; its facts are the plain ones.
        WebhookFormat::Json | WebhookFormat::Email => plain(event, link),
        WebhookFormat::Slack => slack(event, link),
        WebhookFormat::Teams => teams(event, link),
    }
}

/// The documented body: every field present, `null` where it does not apply, RFC 3339 times.
fn plain(event: &Event, link: Option<&str>) -> Value {
    json!({
        "event": event.kind.label(),
        "task_id": event.hold.id.to_string(),
        "operation": &*event.hold.operation,
        "org": &*event.hold.org,
        "user": &*event.hold.user,
        "owner_name": &*event.hold.owner_name,
        "rule": &*event.hold.rule,
        "reason": event.hold.reason.as_deref(),
        "deadline": rfc3339(event.hold.deadline),
        "fallback": event.hold.fallback.name(),
        "approver": event.approver.as_deref(),
        "action": event.action.map(FinalAction::name),
        "message": event.message.as_deref(),
        "url": link,
        "at": rfc3339(event.at),
        "rediscovered": (event.kind == WebhookEvent::Held).then_some(event.rediscovered),
        "approvals": event.hold.approvals.iter().map(|a| json!({
            "approver": &*a.approver,
            "at": rfc3339(a.at),
        })).collect::<Vec<_>>(),
        "needed": event.hold.needed,
    })
}

fn slack(event: &Event, link: Option<&str>) -> Value {
    let headline = headline(event);
    let fields: Vec<Value> = facts(event)
        .into_iter()
        .take(SLACK_MAX_FIELDS)
        .map(|(name, value)| {
            // Plain text: tenants' names can neither format (`*bold*`) nor link (bare URLs).
            let text = format!("{name}\n{value}");
            json!({"type": "plain_text", "text": clip(&text, SLACK_FIELD_CHARS)})
        })
        .collect();
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": clip(&headline, SLACK_HEADER_CHARS)}}),
        json!({"type": "section", "fields": fields}),
    ];
    if let Some(message) = &event.message {
        blocks.push(json!({"type": "section", "text": {"type": "plain_text", "text": clip(message, SLACK_TEXT_CHARS)}}));
    }
    if let Some(link) = link {
        blocks.push(json!({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": OPEN_LABEL}, "url": link}
        ]}));
    }
    json!({"text": slack_escape(&headline), "mrkdwn": false, "blocks": blocks})
}

fn teams(event: &Event, link: Option<&str>) -> Value {
    let facts: Vec<Value> = facts(event)
        .into_iter()
        .map(|(name, value)| json!({"title": name, "value": teams_escape(&value)}))
        .collect();
    let mut body = vec![
        json!({"type": "TextBlock", "text": teams_escape(&headline(event)), "size": "Medium", "weight": "Bolder", "wrap": true}),
        json!({"type": "FactSet", "facts": facts}),
    ];
    if let Some(message) = &event.message {
        body.push(json!({"type": "TextBlock", "text": teams_escape(message), "wrap": true}));
    }
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        // Workflows posts the card as it is: a version Teams renders on every client, and
        // Action.OpenUrl only (a card posted by a flow has no bot to take Action.Submit).
        "version": TEAMS_CARD_VERSION,
        "body": body,
    });
    if let Some(link) = link {
        card["actions"] = json!([{"type": "Action.OpenUrl", "title": OPEN_LABEL, "url": link}]);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

/// One line saying what happened, for a chat's header and notification, and a mail's heading.
pub(super) fn headline(event: &Event) -> String {
    let what = match (event.kind, event.approver.as_deref()) {
        (WebhookEvent::Held, _) if event.rediscovered => {
            "Still held for approval (found again after a takeover)".to_owned()
        }
        (WebhookEvent::Held, _) => "Held for approval".to_owned(),
        (WebhookEvent::Approved, Some(approver)) => format!("Approved by {approver}"),
        (WebhookEvent::Approved, None) => "Approved".to_owned(),
        (WebhookEvent::Rejected, Some(approver)) => format!("Rejected by {approver}"),
        (WebhookEvent::Rejected, None) => "Rejected".to_owned(),
        (WebhookEvent::Expired, _) => format!(
            "No decision in time, {}",
            event.action.unwrap_or(event.hold.fallback).name()
        ),
        (WebhookEvent::KeepaliveFailed, _) => "Keepalives failing, the task may time out".into(),
        (WebhookEvent::ApprovalRecorded, _) => format!("Approved {}", event.hold.progress()),
        (WebhookEvent::Reminder, _) => "Still waiting for approval".to_owned(),
        (WebhookEvent::Escalated, _) => "Escalated: no decision yet".to_owned(),
        (WebhookEvent::Gone, _) => "Decided in vCD".to_owned(),
    };
    format!(
        "{what}: {} by {} in {}",
        event.hold.operation, event.hold.user, event.hold.org
    )
}

/// The facts a person needs, in order, leaving out what does not apply: the fallback only
/// while nothing has been done yet, the approver and the action once something has.
pub(super) fn facts(event: &Event) -> Vec<(&'static str, String)> {
    let mut facts = vec![
        ("Task", event.hold.id.to_string()),
        ("Operation", event.hold.operation.to_string()),
        ("Org", event.hold.org.to_string()),
        ("User", event.hold.user.to_string()),
        ("Owner", event.hold.owner_name.to_string()),
        ("Rule", event.hold.rule.to_string()),
        ("Deadline", readable(event.hold.deadline)),
    ];
    if let Some(reason) = &event.hold.reason {
        facts.push(("Why", reason.to_string()));
    }
    match event.action {
        Some(action) => facts.push(("Action", action.name().to_owned())),
        // vCD decided it: the fallback will not be applied, and what vCD did is not known.
        None if event.kind == WebhookEvent::Gone => {}
        None => facts.push(("Fallback", event.hold.fallback.name().to_owned())),
    }
    if let Some(approver) = &event.approver {
        facts.push(("Approver", approver.to_string()));
    }
    if event.hold.needed > 1 {
        facts.push(("Approvals", event.hold.progress()));
    }
    facts
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn readable(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Slack's mrkdwn treats `&`, `<` and `>` as control characters (links, mentions such as
/// `<!channel>`): names from vCD are escaped so they show as written and link nowhere.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Adaptive Cards render TextBlock and FactSet texts as a Markdown subset (emphasis, links,
/// lists) and expand `{{DATE(…)}}`: every character that starts markup is escaped with a
/// backslash (CommonMark), as are a list or heading marker at the start of a line and the
/// slashes of `://`, so that names from vCD and people's messages show as written and link
/// nowhere.
fn teams_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    let (mut line_start, mut previous) = (true, '\0');
    for c in text.chars() {
        let markup = matches!(
            c,
            '\\' | '*'
                | '_'
                | '['
                | ']'
                | '('
                | ')'
                | '<'
                | '>'
                | '`'
                | '~'
                | '|'
                | '{'
                | '}'
                | '!'
        ) || (line_start && matches!(c, '-' | '+' | '#'))
            || (c == '/' && matches!(previous, ':' | '/'));
        if markup {
            escaped.push('\\');
        }
        escaped.push(c);
        line_start = c == '\n' || (line_start && c == ' ');
        previous = c;
    }
    escaped
}

/// At most `max` characters, the last one an ellipsis when cut.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut clipped: String = text.chars().take(max.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::task::HoldView;

    const ID: &str = "8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94";
    const LINK: &str = "https://blockd.example.com/ui/#8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94";

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn held() -> Event {
        Event {
            kind: WebhookEvent::Held,
            hold: HoldView {
                id: TaskId::parse(ID).unwrap(),
                operation: "vdcInstantiateVapp".into(),
                org: "prod-eu".into(),
                user: "dave".into(),
                owner_name: "billing".into(),
                rule: Arc::from("production deployments need an approver"),
                since: at("2026-11-20T09:14:03.512Z"),
                deadline: at("2026-11-20T10:14:03.512Z"),
                fallback: FinalAction::Abort,
                approvals: Vec::new(),
                needed: 1,
                reason: None,
            },
            approver: None,
            action: None,
            message: Some("Waiting for approval".into()),
            at: at("2026-11-20T09:14:04Z"),
            rediscovered: false,
            approval: Arc::default(),
            escalated: false,
        }
    }

    fn approved() -> Event {
        Event {
            kind: WebhookEvent::Approved,
            approver: Some("carol".into()),
            action: Some(FinalAction::Resume),
            message: Some("ok by carol".into()),
            ..held()
        }
    }

    #[test]
    fn the_link_is_the_public_url_plus_the_page_and_task() {
        let id = TaskId::parse(ID).unwrap();
        for public_url in ["https://blockd.example.com", "https://blockd.example.com/"] {
            assert_eq!(approvals_link(&Url::parse(public_url).unwrap(), id), LINK);
        }
        assert_eq!(
            approvals_link(&Url::parse("https://example.com/blockd").unwrap(), id),
            format!("https://example.com/blockd/ui/#{ID}")
        );
    }

    #[test]
    fn json_has_every_field_with_nulls_where_they_do_not_apply() {
        assert_eq!(
            body(WebhookFormat::Json, &held(), None),
            json!({
                "event": "held",
                "task_id": ID,
                "operation": "vdcInstantiateVapp",
                "org": "prod-eu",
                "user": "dave",
                "owner_name": "billing",
                "rule": "production deployments need an approver",
                "reason": null,
                "deadline": "2026-11-20T10:14:03.512Z",
                "fallback": "abort",
                "approver": null,
                "action": null,
                "message": "Waiting for approval",
                "url": null,
                "approvals": [],
                "needed": 1,
                "at": "2026-11-20T09:14:04Z",
                "rediscovered": false,
            })
        );
    }

    #[test]
    fn a_hold_found_again_by_a_new_leader_says_so_in_every_format() {
        let again = Event {
            rediscovered: true,
            ..held()
        };
        assert_eq!(
            body(WebhookFormat::Json, &again, None)["rediscovered"],
            true
        );
        let slack = body(WebhookFormat::Slack, &again, None);
        assert_eq!(
            slack["text"],
            "Still held for approval (found again after a takeover): vdcInstantiateVapp by dave in prod-eu"
        );
        let teams = body(WebhookFormat::Teams, &again, None);
        let headline = &teams["attachments"][0]["content"]["body"][0]["text"];
        assert!(
            headline
                .as_str()
                .unwrap()
                .starts_with(r"Still held for approval \(found again"),
            "{teams}"
        );
    }

    #[test]
    fn json_names_the_approver_the_action_and_the_link() {
        let body = body(WebhookFormat::Json, &approved(), Some(LINK));
        assert_eq!(body["event"], "approved");
        assert_eq!(body["approver"], "carol");
        assert_eq!(body["action"], "resume");
        assert_eq!(body["message"], "ok by carol");
        assert_eq!(body["url"], LINK);
        assert_eq!(body["rediscovered"], Value::Null, "held events only");
        assert_eq!(body.as_object().unwrap().len(), 18);
    }

    #[test]
    fn a_recorded_approval_says_how_far_the_approvals_are_in_every_format() {
        let recorded = Event {
            kind: WebhookEvent::ApprovalRecorded,
            approver: Some("carol".into()),
            message: Some("Approved by carol".into()),
            hold: HoldView {
                approvals: vec![crate::task::Approval {
                    approver: "carol".into(),
                    at: at("2026-11-20T09:20:00Z"),
                }],
                needed: 2,
                ..held().hold
            },
            ..held()
        };
        let json = body(WebhookFormat::Json, &recorded, None);
        assert_eq!(json["event"], "approval_recorded");
        assert_eq!(
            json["approvals"],
            json!([{"approver": "carol", "at": "2026-11-20T09:20:00Z"}])
        );
        assert_eq!(json["needed"], 2);
        let slack = body(WebhookFormat::Slack, &recorded, None).to_string();
        assert!(
            slack.contains("Approved 1 of 2: carol: vdcInstantiateVapp"),
            "{slack}"
        );
        assert!(slack.contains("Approvals\\n1 of 2: carol"), "{slack}");
        let teams = body(WebhookFormat::Teams, &recorded, None).to_string();
        assert!(
            teams.contains("\"title\":\"Approvals\",\"value\":\"1 of 2: carol\""),
            "{teams}"
        );
    }

    #[test]
    fn slack_has_a_fallback_text_a_header_the_facts_and_a_button() {
        assert_eq!(
            body(WebhookFormat::Slack, &approved(), Some(LINK)),
            json!({
                "text": "Approved by carol: vdcInstantiateVapp by dave in prod-eu",
                "mrkdwn": false,
                "blocks": [
                    {"type": "header", "text": {"type": "plain_text", "text": "Approved by carol: vdcInstantiateVapp by dave in prod-eu"}},
                    {"type": "section", "fields": [
                        {"type": "plain_text", "text": format!("Task\n{ID}")},
                        {"type": "plain_text", "text": "Operation\nvdcInstantiateVapp"},
                        {"type": "plain_text", "text": "Org\nprod-eu"},
                        {"type": "plain_text", "text": "User\ndave"},
                        {"type": "plain_text", "text": "Owner\nbilling"},
                        {"type": "plain_text", "text": "Rule\nproduction deployments need an approver"},
                        {"type": "plain_text", "text": "Deadline\n2026-11-20 10:14:03 UTC"},
                        {"type": "plain_text", "text": "Action\nresume"},
                        {"type": "plain_text", "text": "Approver\ncarol"},
                    ]},
                    {"type": "section", "text": {"type": "plain_text", "text": "ok by carol"}},
                    {"type": "actions", "elements": [
                        {"type": "button", "text": {"type": "plain_text", "text": "Open the approvals page"}, "url": LINK}
                    ]},
                ]
            })
        );
    }

    #[test]
    fn slack_shows_names_as_written_and_links_only_with_a_public_url() {
        let mut event = Event {
            kind: WebhookEvent::KeepaliveFailed,
            message: None,
            ..held()
        };
        event.hold.owner_name = "<!channel> & <https://evil.example|click>".into();
        let body = body(WebhookFormat::Slack, &event, None);
        let blocks = body["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), 2, "no message, no link: {body:#}");
        assert_eq!(
            blocks[1]["fields"][4],
            json!({"type": "plain_text", "text": "Owner\n<!channel> & <https://evil.example|click>"}),
            "plain text: shown as written, never a mention or a link"
        );
        assert_eq!(blocks[1]["fields"][7]["text"], "Fallback\nabort");
        assert_eq!(
            body["text"],
            "Keepalives failing, the task may time out: vdcInstantiateVapp by dave in prod-eu"
        );
    }

    #[test]
    fn slack_texts_stay_within_slacks_limits() {
        let mut event = held();
        event.hold.operation = "x".repeat(400).into();
        event.hold.rule = Arc::from("r".repeat(3000));
        let body = body(WebhookFormat::Slack, &event, None);
        let header = body["blocks"][0]["text"]["text"].as_str().unwrap();
        assert_eq!(header.chars().count(), SLACK_HEADER_CHARS);
        assert!(header.ends_with('…'));
        let rule = body["blocks"][1]["fields"][5]["text"].as_str().unwrap();
        assert_eq!(rule.chars().count(), SLACK_FIELD_CHARS);
    }

    #[test]
    fn teams_is_an_adaptive_card_with_a_fact_set_and_an_open_url_action() {
        let expired = Event {
            kind: WebhookEvent::Expired,
            action: Some(FinalAction::Abort),
            message: Some("No approval within 1h".into()),
            ..held()
        };
        assert_eq!(
            body(WebhookFormat::Teams, &expired, Some(LINK)),
            json!({
                "type": "message",
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": null,
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": [
                            {"type": "TextBlock", "text": "No decision in time, abort: vdcInstantiateVapp by dave in prod-eu", "size": "Medium", "weight": "Bolder", "wrap": true},
                            {"type": "FactSet", "facts": [
                                {"title": "Task", "value": ID},
                                {"title": "Operation", "value": "vdcInstantiateVapp"},
                                {"title": "Org", "value": "prod-eu"},
                                {"title": "User", "value": "dave"},
                                {"title": "Owner", "value": "billing"},
                                {"title": "Rule", "value": "production deployments need an approver"},
                                {"title": "Deadline", "value": "2026-11-20 10:14:03 UTC"},
                                {"title": "Action", "value": "abort"},
                            ]},
                            {"type": "TextBlock", "text": "No approval within 1h", "wrap": true},
                        ],
                        "actions": [{"type": "Action.OpenUrl", "title": "Open the approvals page", "url": LINK}],
                    },
                }],
            })
        );
    }

    #[test]
    fn teams_shows_markdown_from_tenants_and_approvers_as_text() {
        let mut event = Event {
            message: Some("- see https://evil.example {{DATE(2026-01-01T00:00:00Z)}}".into()),
            ..held()
        };
        event.hold.owner_name = "[Approve here](https://evil.example)".into();
        event.hold.user = "*boss*".into();
        let body = body(WebhookFormat::Teams, &event, None);
        let card = &body["attachments"][0]["content"];
        assert_eq!(
            card["body"][1]["facts"][4]["value"],
            r"\[Approve here\]\(https:\/\/evil.example\)"
        );
        assert_eq!(card["body"][1]["facts"][3]["value"], r"\*boss\*");
        assert_eq!(
            card["body"][0]["text"],
            r"Held for approval: vdcInstantiateVapp by \*boss\* in prod-eu"
        );
        assert_eq!(
            card["body"][2]["text"],
            r"\- see https:\/\/evil.example \{\{DATE\(2026-01-01T00:00:00Z\)\}\}"
        );
    }

    #[test]
    fn teams_is_what_a_workflows_webhook_posts_for_every_event() {
        for kind in WebhookEvent::ALL {
            let event = Event {
                kind,
                approver: Some("carol".into()),
                ..held()
            };
            let body = body(WebhookFormat::Teams, &event, Some(LINK));
            assert_eq!(body["type"], "message", "{body:#}");
            let [attachment] = body["attachments"].as_array().unwrap().as_slice() else {
                panic!("one attachment: {body:#}");
            };
            assert_eq!(
                attachment["contentType"],
                "application/vnd.microsoft.card.adaptive"
            );
            assert!(attachment["contentUrl"].is_null(), "{attachment:#}");
            let card = &attachment["content"];
            assert_eq!(card["type"], "AdaptiveCard");
            assert_eq!(
                card["$schema"],
                "http://adaptivecards.io/schemas/adaptive-card.json"
            );
            assert_eq!(card["version"], "1.4", "the version Workflows cards take");
            let actions = card["actions"].as_array().unwrap();
            assert!(
                actions
                    .iter()
                    .all(|a| a["type"] == "Action.OpenUrl" && a["url"] == LINK),
                "buttons only open the approvals page: {actions:#?}"
            );
            for element in card["body"].as_array().unwrap() {
                assert!(
                    matches!(element["type"].as_str(), Some("TextBlock" | "FactSet")),
                    "{element:#}"
                );
            }
        }
    }

    #[test]
    fn teams_has_no_action_without_a_public_url() {
        let body = body(WebhookFormat::Teams, &held(), None);
        let card = &body["attachments"][0]["content"];
        assert!(card.get("actions").is_none(), "{card:#}");
        assert_eq!(card["body"][1]["facts"][7]["title"], "Fallback");
    }
}
