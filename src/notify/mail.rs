//! The mail a `format = "email"` receiver is sent for one [`Event`]: plain text and HTML
//! (multipart/alternative) with the facts, why the task is held, who may decide it and the link
//! to the approvals page. Its subject starts with [`SUBJECT_PREFIX`] and the event's name, for
//! filters. With `to = "approvers"` it goes to the approvers who may decide the task
//! ([`Deciders`]), as the admin API and the page judge it.

use std::sync::Arc;

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};

use super::Event;
use super::format::{OPEN_LABEL, facts, headline};
use super::settings::{MailSettings, Recipients};
use crate::approvers::{Approver, Approvers, Gate};

/// The start of every subject: `[vcd-blockd] held: vdcDeleteVdc in acme (task 1234abcd)`.
pub(super) const SUBJECT_PREFIX: &str = "[vcd-blockd]";

/// Who may decide a task, for `to = "approvers"` and the mail's "May decide" line.
#[derive(Debug, Clone, Default)]
pub(crate) struct Deciders {
    /// The approvers file's approvers, as last read; `None` without the admin API.
    pub approvers: Option<Arc<Approvers>>,
    /// `[holds] allow_self_approval`.
    pub allow_self_approval: bool,
}

impl Deciders {
    /// The named approvers who may decide `event`'s task at the event's moment: in its org,
    /// not its requester, among its rule's `approvers` (and `escalate_to` once escalated).
    /// Those who approved it already count too, so that they hear how it ends.
    pub(super) fn of(&self, event: &Event) -> Vec<Arc<Approver>> {
        let Some(approvers) = &self.approvers else {
            return Vec::new();
        };
        let gate = Gate {
            approvals: &[],
            ..Gate::of(
                &event.hold,
                &event.approval,
                event.escalated,
                self.allow_self_approval,
            )
        };
        approvers.who_may_decide(&gate)
    }
}

/// Why no mail can be built for an event.
#[derive(Debug, thiserror::Error)]
pub(super) enum Unsendable {
    /// `to = "approvers"` and no approver who may decide the task has an `email`.
    #[error(
        "no approver who may decide this task has an email in the approvers file; nobody was mailed"
    )]
    NobodyToMail,
    #[error("the mail could not be built: {0}")]
    Build(#[from] lettre::error::Error),
}

/// The mail for `event` as `settings` address it; `link` is the task's approvals page, if
/// known; `deciders` are the approvers who may decide it.
pub(super) fn message(
    settings: &MailSettings,
    event: &Event,
    link: Option<&str>,
    deciders: &[Arc<Approver>],
) -> Result<Message, Unsendable> {
    let to: Vec<Mailbox> = match &settings.to {
        Recipients::Listed(list) => list.clone(),
        Recipients::Approvers => {
            let mut to: Vec<Mailbox> = Vec::new();
            for approver in deciders {
                if let Some(address) = approver.email()
                    && !to.iter().any(|mailbox| &mailbox.email == address)
                {
                    to.push(Mailbox::new(
                        Some(approver.name().to_owned()),
                        address.clone(),
                    ));
                }
            }
            to
        }
    };
    if to.is_empty() {
        return Err(Unsendable::NobodyToMail);
    }
    let who = may_decide(event, deciders);
    let mut builder = Message::builder()
        .from(settings.from.clone())
        .subject(subject(event))
        .message_id(Some(format!(
            "<{}@{}>",
            uuid::Uuid::new_v4().simple(),
            settings.from.email.domain()
        )));
    for mailbox in to {
        builder = builder.to(mailbox);
    }
    let body = MultiPart::alternative_plain_html(text(event, link, &who), html(event, link, &who));
    Ok(builder.multipart(body)?)
}

/// `[vcd-blockd] held: vdcDeleteVdc in acme (task 1234abcd)`: the event's name as the
/// webhooks and `events` spell it, and the first eight hex digits of the task id.
pub(super) fn subject(event: &Event) -> String {
    let id = event.hold.id.to_string();
    single_line(&format!(
        "{SUBJECT_PREFIX} {}: {} in {} (task {})",
        event.kind.label(),
        event.hold.operation,
        event.hold.org,
        &id[..8.min(id.len())]
    ))
}

/// The "May decide" line: the approvers found, else what the rule says.
fn may_decide(event: &Event, deciders: &[Arc<Approver>]) -> String {
    if !deciders.is_empty() {
        let names: Vec<&str> = deciders.iter().map(|a| a.name()).collect();
        return names.join(", ");
    }
    match &event.approval.approvers {
        None => format!("any approver of org {}", event.hold.org),
        Some(entries) => {
            let escalated = if event.escalated {
                &event.approval.escalate_to[..]
            } else {
                &[]
            };
            let names: Vec<String> = entries
                .iter()
                .chain(escalated)
                .map(|(who, _)| who.to_string())
                .collect();
            names.join(", ")
        }
    }
}

/// The plain-text part.
pub(super) fn text(event: &Event, link: Option<&str>, who: &str) -> String {
    let mut lines = vec![headline(event), String::new()];
    let rows = rows(event, who);
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0) + 1;
    for (name, value) in &rows {
        lines.push(format!("{:<width$} {value}", format!("{name}:")));
    }
    if let Some(message) = &event.message {
        lines.push(String::new());
        lines.push(message.to_string());
    }
    if let Some(link) = link {
        lines.push(String::new());
        lines.push(format!("{OPEN_LABEL}: {link}"));
    }
    lines.push(String::new());
    lines.join("\n")
}

/// The HTML part: every text from vCD and from people escaped.
pub(super) fn html(event: &Event, link: Option<&str>, who: &str) -> String {
    let mut page = String::from("<!DOCTYPE html>\n<html><body>\n");
    page.push_str(&format!("<h2>{}</h2>\n<table>\n", escape(&headline(event))));
    for (name, value) in rows(event, who) {
        page.push_str(&format!(
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>\n",
            escape(name),
            escape(&value)
        ));
    }
    page.push_str("</table>\n");
    if let Some(message) = &event.message {
        page.push_str(&format!("<p>{}</p>\n", escape(message)));
    }
    if let Some(link) = link {
        page.push_str(&format!(
            "<p><a href=\"{}\">{}</a></p>\n",
            escape(link),
            escape(OPEN_LABEL)
        ));
    }
    page.push_str("</body></html>\n");
    page
}

/// The facts, then who may decide while the task waits for a decision.
fn rows(event: &Event, who: &str) -> Vec<(&'static str, String)> {
    let mut rows = facts(event);
    if event.action.is_none() {
        rows.push(("May decide", who.to_owned()));
    }
    rows
}

/// Text as HTML shows it literally, in an element or a quoted attribute.
pub(super) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Control characters (a line break in a name from vCD) become spaces: a subject is one line.
fn single_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::approvers::{Listed, TokenHash};
    use crate::outcome::WebhookEvent;
    use crate::policy::{ApprovalRule, Who, Written};
    use crate::task::{FinalAction, HoldView, TaskId};

    const ID: &str = "8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94";
    const LINK: &str = "https://blockd.example.com/ui/#8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94";

    fn held() -> Event {
        Event {
            kind: WebhookEvent::Held,
            hold: HoldView {
                id: TaskId::parse(ID).unwrap(),
                operation: "vdcDeleteVdc".into(),
                org: "acme".into(),
                user: "alice".into(),
                owner_name: "billing".into(),
                rule: Arc::from("deletes need a lead"),
                since: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
                deadline: DateTime::from_timestamp(1_800_003_600, 0).unwrap(),
                fallback: FinalAction::Abort,
                approvals: Vec::new(),
                needed: 1,
                reason: Some("deletes in production".into()),
            },
            approver: None,
            action: None,
            message: Some("Waiting for approval".into()),
            at: DateTime::from_timestamp(1_800_000_001, 0).unwrap(),
            rediscovered: false,
            approval: Arc::default(),
            escalated: false,
        }
    }

    fn settings(to: Recipients) -> MailSettings {
        MailSettings {
            from: "vcd-blockd <blockd@example.com>".parse().unwrap(),
            to,
            ca_file: None,
        }
    }

    fn person(name: &str, orgs: &[&str], email: Option<&str>) -> Listed {
        Listed {
            approver: Approver::person(
                name.to_owned(),
                Some(crate::approvers::compile_orgs(orgs.iter().copied()).unwrap()),
            )
            .with_email(email.map(|e| e.parse().unwrap())),
            token: Some(TokenHash::of(format!("{name}-token").as_bytes())),
        }
    }

    fn who(names: &[&str]) -> Vec<(Who, Written)> {
        let written = Written {
            file: "policy.toml".into(),
            line: 1,
            col: 1,
        };
        names
            .iter()
            .map(|name| (Who::Person((*name).into()), written.clone()))
            .collect()
    }

    #[test]
    fn the_subject_is_filterable_and_one_line() {
        assert_eq!(
            subject(&held()),
            "[vcd-blockd] held: vdcDeleteVdc in acme (task 8c1d6e2a)"
        );
        let mut event = Event {
            kind: WebhookEvent::ApprovalRecorded,
            ..held()
        };
        event.hold.org = "ac\r\nBcc: x@evil.example".into();
        assert_eq!(
            subject(&event),
            "[vcd-blockd] approval_recorded: vdcDeleteVdc in ac  Bcc: x@evil.example (task 8c1d6e2a)"
        );
    }

    #[test]
    fn the_text_has_the_facts_why_it_is_held_who_may_decide_and_the_link() {
        let text = text(&held(), Some(LINK), "carol, dave");
        assert_eq!(
            text,
            format!(
                "Held for approval: vdcDeleteVdc by alice in acme\n\
                 \n\
                 Task:       {ID}\n\
                 Operation:  vdcDeleteVdc\n\
                 Org:        acme\n\
                 User:       alice\n\
                 Owner:      billing\n\
                 Rule:       deletes need a lead\n\
                 Deadline:   2027-01-15 09:00:00 UTC\n\
                 Why:        deletes in production\n\
                 Fallback:   abort\n\
                 May decide: carol, dave\n\
                 \n\
                 Waiting for approval\n\
                 \n\
                 Open the approvals page: {LINK}\n"
            )
        );
        let decided = Event {
            kind: WebhookEvent::Approved,
            approver: Some("carol".into()),
            action: Some(FinalAction::Resume),
            ..held()
        };
        let text = super::text(&decided, None, "carol");
        assert!(text.starts_with("Approved by carol: "), "{text}");
        assert!(
            text.lines()
                .any(|line| line.starts_with("Action:") && line.ends_with(" resume")),
            "{text}"
        );
        assert!(!text.contains("May decide"), "decided already: {text}");
        assert!(!text.contains("approvals page"), "no public_url: {text}");
    }

    #[test]
    fn the_html_shows_everything_from_vcd_and_people_as_text() {
        let mut event = held();
        event.hold.owner_name = "<script>alert('x')</script>".into();
        event.hold.user = "\"bob\" & co".into();
        event.message = Some("<a href=\"https://evil.example\">approve</a>".into());
        let html = html(&event, Some(LINK), "carol <c@example.com>");
        assert!(
            html.contains("<td>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</td>"),
            "{html}"
        );
        assert!(
            html.contains(
                "<h2>Held for approval: vdcDeleteVdc by &quot;bob&quot; &amp; co in acme</h2>"
            ),
            "{html}"
        );
        assert!(
            html.contains(
                "<p>&lt;a href=&quot;https://evil.example&quot;&gt;approve&lt;/a&gt;</p>"
            ),
            "{html}"
        );
        assert!(
            html.contains("<td>carol &lt;c@example.com&gt;</td>"),
            "{html}"
        );
        assert!(
            html.contains(&format!(
                "<p><a href=\"{LINK}\">Open the approvals page</a></p>"
            )),
            "{html}"
        );
        assert!(!html.contains("<script>") && !html.contains("evil.example\">"));
    }

    #[test]
    fn a_mail_is_multipart_text_and_html_to_the_listed_addresses() {
        let to = Recipients::Listed(vec!["ops@example.com".parse().unwrap()]);
        let message = message(&settings(to), &held(), Some(LINK), &[]).unwrap();
        let envelope = message.envelope();
        assert_eq!(envelope.from().unwrap().to_string(), "blockd@example.com");
        let to: Vec<String> = envelope.to().iter().map(ToString::to_string).collect();
        assert_eq!(to, ["ops@example.com"]);
        let formatted = String::from_utf8(message.formatted()).unwrap();
        assert!(
            formatted.contains("Subject: [vcd-blockd] held: vdcDeleteVdc in acme (task 8c1d6e2a)"),
            "{formatted}"
        );
        assert!(formatted.contains("multipart/alternative"), "{formatted}");
        assert!(formatted.contains("text/plain"), "{formatted}");
        assert!(formatted.contains("text/html"), "{formatted}");
        assert!(
            formatted.contains("@example.com>\r\n"),
            "a Message-ID of the sender's domain"
        );
    }

    #[test]
    fn approvers_are_mailed_when_they_may_decide_and_have_an_address() {
        let approvers = Arc::new(Approvers::new(
            None,
            vec![
                person("carol", &["acme"], Some("carol@example.com")),
                person("dave", &["other-*"], Some("dave@example.com")),
                person("alice", &["acme"], Some("alice@example.com")),
                person("erin", &["*"], Some("erin@example.com")),
                person("frank", &["acme"], None),
                person("oscar", &["acme"], Some("oscar@example.com")),
            ],
        ));
        let deciders = Deciders {
            approvers: Some(approvers),
            allow_self_approval: false,
        };
        let mut event = held();
        event.approval = Arc::new(ApprovalRule {
            approvers: Some(who(&["carol", "dave", "alice", "frank"])),
            escalate_to: who(&["erin"]),
            ..ApprovalRule::default()
        });
        let names = |event: &Event| -> Vec<String> {
            deciders
                .of(event)
                .iter()
                .map(|a| a.name().to_owned())
                .collect()
        };
        assert_eq!(
            names(&event),
            ["carol", "frank"],
            "in the org, among the rule's approvers, not the requester"
        );
        let escalated = Event {
            escalated: true,
            ..event.clone()
        };
        assert_eq!(names(&escalated), ["carol", "erin", "frank"]);
        // Whoever approved already still hears how it ends.
        event.hold.approvals = vec![crate::task::Approval {
            approver: "carol".into(),
            at: event.at,
        }];
        assert_eq!(names(&event), ["carol", "frank"]);

        let to_approvers = settings(Recipients::Approvers);
        let mail = message(&to_approvers, &escalated, None, &deciders.of(&escalated)).unwrap();
        let to: Vec<String> = mail
            .envelope()
            .to()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(to, ["carol@example.com", "erin@example.com"]);
        let formatted = String::from_utf8(mail.formatted()).unwrap();
        assert!(
            formatted.contains("May decide: carol, erin, frank"),
            "{formatted}"
        );

        let nobody = Deciders {
            approvers: None,
            allow_self_approval: false,
        };
        assert!(matches!(
            message(&to_approvers, &event, None, &nobody.of(&event)),
            Err(Unsendable::NobodyToMail)
        ));
    }

    #[test]
    fn without_the_approvers_file_the_mail_says_what_the_rule_says() {
        let mut event = held();
        assert_eq!(may_decide(&event, &[]), "any approver of org acme");
        event.approval = Arc::new(ApprovalRule {
            approvers: Some(who(&["carol"])),
            escalate_to: who(&["erin"]),
            ..ApprovalRule::default()
        });
        assert_eq!(may_decide(&event, &[]), "carol");
        event.escalated = true;
        assert_eq!(may_decide(&event, &[]), "carol, erin");
    }
}
