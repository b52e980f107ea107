//! Mail to approvers (`[[notify]] format = "email"`) through a real RabbitMQ and vcd-sim, to an
//! SMTP server on loopback: one mail per event with the facts and the link, in plain text and
//! HTML; `to = "approvers"` reaches exactly who may decide; a server that is down is tried
//! again; credentials only ever travel over TLS, and the password never reaches the logs.

use serde_json::json;
use sha2::{Digest, Sha256};
use vcd_sim::NewTask;

use crate::helpers::{Admin, Options, World, captured_logs, counter, free_port, wait_until};
use crate::smtp_sink::{Received, SinkTls, SmtpSink};

const PUBLIC_URL: &str = "https://blockd.example.com";
const SMTP_USER: &str = "blockd@example.com";

const POLICY: &str = r#"
[defaults]
action = "abort"

[[rule]]
name = "deployments need an approver"
operation = "vdcInstantiateVapp"
action = "hold"
hold = { max = "1h", fallback = "abort" }
message = "Waiting for approval: {operation} by {user}"
"#;

/// A password of this test's own, to look for in the logs.
fn password() -> String {
    format!("s3cret-smtp-{}", uuid::Uuid::new_v4().simple())
}

/// A `[[notify]] format = "email"` entry; the SMTP URL is written to `smtp_url_file` in `dir`.
fn mail_receiver(
    dir: &std::path::Path,
    smtp_url: &str,
    ca_file: Option<&std::path::Path>,
    to: &str,
    events: &str,
) -> String {
    let url_file = dir.join(format!("smtp-url-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&url_file, format!("{smtp_url}\n")).unwrap();
    let ca_file = ca_file.map_or_else(String::new, |path| format!("ca_file = {path:?}\n"));
    format!(
        "\n[[notify]]\nformat = \"email\"\nsmtp_url_file = {url_file:?}\n{ca_file}\
         from = \"vcd-blockd <blockd@example.com>\"\nto = {to}\nevents = {events}\n"
    )
}

fn task(operation: &str, owner_name: &str) -> NewTask {
    NewTask {
        operation: operation.into(),
        owner_name: owner_name.into(),
        ..NewTask::default()
    }
}

/// Selects the mails whose subject names `event` and task `id`.
fn about(event: &'static str, id: uuid::Uuid) -> impl Fn(&Received) -> bool {
    let short = id.to_string()[..8].to_owned();
    move |mail| {
        mail.header("Subject").is_some_and(|subject| {
            subject.starts_with(&format!("[vcd-blockd] {event}: "))
                && subject.ends_with(&format!("(task {short})"))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_is_one_mail_with_the_facts_and_the_link_in_text_and_html() {
    let dir = tempfile::tempdir().unwrap();
    let tls = SinkTls::new();
    let sink = SmtpSink::start(Some(&tls)).await;
    let password = password();
    let receiver = mail_receiver(
        dir.path(),
        &format!(
            "smtp://blockd%40example.com:{password}@127.0.0.1:{}",
            sink.port
        ),
        Some(&tls.write_ca(dir.path())),
        r#"["ops@example.com", "Carol <carol@example.com>"]"#,
        r#"["held", "approved"]"#,
    );
    let world = World::start(Options {
        policy: POLICY.into(),
        public_url: PUBLIC_URL,
        notify_extra: receiver,
        ..Options::default()
    })
    .await;
    let admin = Admin::new(world.admin_url());
    let id = world
        .create(task("vdcInstantiateVapp", "<b>billing</b> & co"))
        .await;

    let held = sink.wait_for(1, about("held", id)).await.remove(0);
    assert_eq!(held.from, "blockd@example.com");
    assert_eq!(held.to, ["ops@example.com", "carol@example.com"]);
    assert!(held.encrypted, "upgraded with STARTTLS");
    assert_eq!(
        held.auth,
        Some((SMTP_USER.to_owned(), password.clone())),
        "the URL's user (percent-decoded) and password, sent over TLS"
    );
    assert_eq!(
        held.header("Subject").unwrap(),
        format!(
            "[vcd-blockd] held: vdcInstantiateVapp in acme (task {})",
            &id.to_string()[..8]
        )
    );
    assert!(
        held.header("Content-Type")
            .unwrap()
            .starts_with("multipart/alternative"),
        "{}",
        held.data
    );
    let link = format!("{PUBLIC_URL}/ui/#{id}");
    let text = held.part("text/plain");
    for fact in [
        "Held for approval: vdcInstantiateVapp by alice in acme".to_owned(),
        "Task:".to_owned(),
        id.to_string(),
        "Owner:".to_owned(),
        "<b>billing</b> & co".to_owned(),
        "deployments need an approver".to_owned(),
        "Waiting for approval: vdcInstantiateVapp by alice".to_owned(),
        "May decide:".to_owned(),
        link.clone(),
    ] {
        assert!(text.contains(&fact), "{fact:?} missing from:\n{text}");
    }
    let html = held.part("text/html");
    assert!(
        html.contains("&lt;b&gt;billing&lt;/b&gt; &amp; co"),
        "the owner's name is escaped:\n{html}"
    );
    assert!(!html.contains("<b>billing"), "{html}");
    assert!(html.contains(&format!("<a href=\"{link}\">")), "{html}");

    let (status, _) = admin.decide(&id.to_string(), "approve", json!({})).await;
    assert_eq!(status, 200);
    let approved = sink.wait_for(1, about("approved", id)).await.remove(0);
    let text = approved.part("text/plain");
    assert!(
        text.contains("Approved by admin: vdcInstantiateVapp by alice in acme"),
        "{text}"
    );
    assert!(!text.contains("May decide:"), "decided: {text}");
    assert_eq!(
        sink.messages()
            .iter()
            .filter(|m| about("held", id)(m))
            .count(),
        1,
        "one mail per event"
    );
    let metrics = world.daemon().metrics.clone();
    assert_eq!(
        counter(&metrics, "webhooks_total{event=\"held\",outcome=\"sent\"}"),
        1,
        "mail is counted as webhooks are"
    );
    assert!(
        !captured_logs().contains(&password),
        "the SMTP password was logged"
    );
    world.finish().await;
}

/// An `[[approver]]` with a token of its own.
fn approver(name: &str, orgs: &str, email: Option<&str>) -> String {
    let token = format!("{name}-token-0123456789");
    let email = email.map_or_else(String::new, |email| format!("email = \"{email}\"\n"));
    format!(
        "[[approver]]\nname = \"{name}\"\ntoken_sha256 = \"{}\"\norgs = {orgs}\n{email}\n",
        hex::encode(Sha256::digest(token.as_bytes()))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn to_approvers_mails_exactly_those_who_may_decide_and_the_escalation_group_later() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(None).await;
    let approvers = [
        // In the org, among the rule's approvers: mailed.
        approver("carol", r#"["acme"]"#, Some("carol@example.com")),
        // Among the rule's approvers, but outside the org.
        approver("dave", r#"["other-*"]"#, Some("dave@example.com")),
        // The requester: never asked to decide their own task.
        approver("alice", r#"["acme"]"#, Some("alice@example.com")),
        // In the org, not among the rule's approvers: only after the escalation.
        approver("erin", r#"["acme"]"#, Some("erin@example.com")),
        // Among the rule's approvers, but without an address.
        approver("frank", r#"["acme"]"#, None),
        // In the org, named nowhere.
        approver("oscar", r#"["*"]"#, Some("oscar@example.com")),
    ]
    .concat();
    let policy = r#"
[defaults]
action = "abort"

[[rule]]
name = "deletes need a lead"
operation = "vdcDeleteVapp"
action = "hold"
[rule.hold]
max = "1h"
fallback = "abort"
approvers = ["carol", "dave", "alice", "frank"]
escalate_after = "3s"
escalate_to = ["erin"]
"#;
    let world = World::start(Options {
        policy: policy.into(),
        approvers: Some(approvers),
        notify_extra: mail_receiver(
            dir.path(),
            &format!("smtp://127.0.0.1:{}", sink.port),
            None,
            "\"approvers\"",
            r#"["held", "escalated"]"#,
        ),
        ..Options::default()
    })
    .await;
    let id = world.create(task("vdcDeleteVapp", "legacy")).await;

    let held = sink.wait_for(1, about("held", id)).await.remove(0);
    assert_eq!(held.to, ["carol@example.com"]);
    assert_eq!(
        held.header("To").unwrap(),
        "carol <carol@example.com>",
        "named as the approvers file names them"
    );
    assert!(
        held.part("text/plain").contains("May decide: carol, frank"),
        "{}",
        held.part("text/plain")
    );

    let escalated = sink.wait_for(1, about("escalated", id)).await.remove(0);
    assert_eq!(escalated.to, ["carol@example.com", "erin@example.com"]);
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_waits_out_a_server_that_is_down_and_the_password_stays_out_of_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let tls = SinkTls::new();
    let port = free_port();
    let password = password();
    let world = World::start(Options {
        policy: POLICY.into(),
        notify_extra: mail_receiver(
            dir.path(),
            &format!("smtp://ops:{password}@127.0.0.1:{port}"),
            Some(&tls.write_ca(dir.path())),
            r#"["ops@example.com"]"#,
            r#"["held"]"#,
        ),
        ..Options::default()
    })
    .await;
    let metrics = world.daemon().metrics.clone();
    let id = world.create(task("vdcInstantiateVapp", "patient")).await;
    wait_until("the mail failed and is to be tried again", || {
        counter(
            &metrics,
            "webhooks_total{event=\"held\",outcome=\"retried\"}",
        ) >= 1
    })
    .await;

    // The server comes up: the next attempt delivers.
    let sink = SmtpSink::start_on(port, Some(&tls)).await;
    let held = sink.wait_for(1, about("held", id)).await.remove(0);
    assert_eq!(held.to, ["ops@example.com"]);
    assert_eq!(held.auth, Some(("ops".to_owned(), password.clone())));
    assert_eq!(
        counter(&metrics, "webhooks_total{event=\"held\",outcome=\"sent\"}"),
        1
    );
    let logs = captured_logs();
    assert!(
        logs.lines().any(|line| line.contains("webhook failed; retrying")
            && line.contains(&id.to_string())),
        "the failure was logged (so the capture works)"
    );
    assert!(!logs.contains(&password), "the SMTP password was logged");
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_never_sent_to_a_server_that_offers_no_starttls() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(None).await;
    let password = password();
    let world = World::start(Options {
        policy: POLICY.into(),
        notify_extra: mail_receiver(
            dir.path(),
            &format!("smtp://ops:{password}@127.0.0.1:{}", sink.port),
            None,
            r#"["ops@example.com"]"#,
            r#"["held"]"#,
        ),
        ..Options::default()
    })
    .await;
    let metrics = world.daemon().metrics.clone();
    let id = world.create(task("vdcInstantiateVapp", "careful")).await;
    wait_until("the mail is given up", || {
        counter(
            &metrics,
            "webhooks_total{event=\"held\",outcome=\"failed\"}",
        ) >= 1
    })
    .await;
    assert_eq!(sink.auths(), [], "no AUTH over an unencrypted connection");
    assert!(sink.messages().is_empty(), "{:?}", sink.messages());
    let logs = captured_logs();
    let refusal = logs
        .lines()
        .find(|line| line.contains("webhook refused") && line.contains(&id.to_string()))
        .unwrap_or_else(|| panic!("the refusal is logged:\n{logs}"));
    assert!(
        refusal.contains("offers no STARTTLS")
            && refusal.contains("credentials of smtp_url were not sent"),
        "{refusal}"
    );
    assert!(!logs.contains(&password), "the SMTP password was logged");
    world.finish().await;
}
