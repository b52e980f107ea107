//! Webhooks through a real RabbitMQ and vcd-sim, to receivers on loopback: every event a person
//! needs arrives once, with its facts, in the receiver's format; a dead receiver delays no
//! decision, and webhook URLs never reach the logs.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vcd_sim::{Faults, NewTask};

use crate::helpers::{
    Admin, Options, Webhook, WebhookReceiver, World, abort_directly, captured_logs, counter,
    craft_create_notification, eventually, free_port, wait_until,
};

const POLICY: &str = r#"
[defaults]
action = "abort"

[[rule]]
name = "deployments need an approver"
operation = "vdcInstantiateVapp"
action = "hold"
hold = { max = "1h", fallback = "abort" }
message = "Waiting for approval: {operation} by {user}"

[[rule]]
name = "imports wait only briefly"
operation = "vdcImportVapp"
action = "hold"
hold = { max = "2s", fallback = "fail" }
"#;

const PUBLIC_URL: &str = "https://blockd.example.com";

fn options(webhooks: Vec<Webhook>) -> Options {
    Options {
        policy: POLICY.into(),
        public_url: PUBLIC_URL,
        webhooks,
        ..Options::default()
    }
}

fn json_to(receiver: &WebhookReceiver) -> Webhook {
    Webhook {
        url: receiver.url.clone(),
        format: "json",
        events: None,
    }
}

fn task(operation: &str, owner_name: &str) -> NewTask {
    NewTask {
        operation: operation.into(),
        owner_name: owner_name.into(),
        ..NewTask::default()
    }
}

/// Selects the JSON bodies of `event` about task `id`.
fn about(event: &'static str, id: uuid::Uuid) -> impl Fn(&Value) -> bool {
    move |body| body["event"] == event && body["task_id"] == id.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_task_is_announced_once_with_every_field() {
    let receiver = WebhookReceiver::start().await;
    let world = World::start(options(vec![json_to(&receiver)])).await;
    let admin = Admin::new(world.admin_url());
    let id = world.create(task("vdcInstantiateVapp", "billing")).await;

    let bodies = receiver.wait_for(1, about("held", id)).await;
    let held = &bodies[0];
    let listed = eventually("the task is held", || async {
        admin
            .holds()
            .await?
            .into_iter()
            .find(|h| h["id"] == id.to_string())
    })
    .await;
    let at: chrono::DateTime<chrono::Utc> = held["at"].as_str().unwrap().parse().unwrap();
    assert!((chrono::Utc::now() - at).num_seconds().abs() < 60, "{held}");
    assert_eq!(
        held,
        &json!({
            "event": "held",
            "task_id": id.to_string(),
            "operation": "vdcInstantiateVapp",
            "org": "acme",
            "user": "alice",
            "owner_name": "billing",
            "rule": "deployments need an approver",
            "reason": null,
            "deadline": listed["deadline"],
            "fallback": "abort",
            "approver": null,
            "action": null,
            "message": "Waiting for approval: vdcInstantiateVapp by alice",
            "url": format!("{PUBLIC_URL}/ui/#{id}"),
            "at": held["at"],
            "rediscovered": false,
            "approvals": [],
            "needed": 1,
        })
    );
    let deadline: chrono::DateTime<chrono::Utc> =
        held["deadline"].as_str().unwrap().parse().unwrap();
    let created = world.sim.task(id).unwrap().created;
    assert_eq!(
        deadline.timestamp_millis(),
        (created + chrono::TimeDelta::hours(1)).timestamp_millis(),
        "RFC 3339, counted from createdTime"
    );

    // The same task announced again (a duplicate notification) is decided again, not held anew.
    let metrics = world.daemon().metrics.clone();
    let view = world.sim.task(id).unwrap();
    world
        .publish_crafted(&craft_create_notification(&view, &world.sim.base_url()))
        .await;
    wait_until("the duplicate is handled", || {
        metrics.notifications_with("held") == 2
    })
    .await;
    // A receiver gets its events in order: once a later event arrived, a second "held" for
    // the duplicate would have arrived before it.
    let later = world.create(task("vdcInstantiateVapp", "later")).await;
    receiver.wait_for(1, about("held", later)).await;
    assert_eq!(
        receiver
            .bodies()
            .iter()
            .filter(|b| about("held", id)(b))
            .count(),
        1,
        "{:#?}",
        receiver.bodies()
    );
    wait_until("the two held tasks' events are counted as sent", || {
        counter(&metrics, "webhooks_total{event=\"held\",outcome=\"sent\"}") == 2
    })
    .await;
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_and_rejections_reach_each_receiver_in_its_format() {
    let decisions = WebhookReceiver::start().await;
    let slack = WebhookReceiver::start().await;
    let teams = WebhookReceiver::start().await;
    let world = World::start(options(vec![
        Webhook {
            events: Some(&["approved", "rejected"]),
            ..json_to(&decisions)
        },
        Webhook {
            url: slack.url.clone(),
            format: "slack",
            events: None,
        },
        Webhook {
            url: teams.url.clone(),
            format: "teams",
            events: None,
        },
    ]))
    .await;
    let admin = Admin::new(world.admin_url());
    let approved = world.create(task("vdcInstantiateVapp", "a")).await;
    let failed = world.create(task("vdcInstantiateVapp", "b")).await;
    eventually("both tasks are held", || async {
        admin.holds().await.filter(|holds| holds.len() == 2)
    })
    .await;

    let (status, _) = admin
        .decide(
            &approved.to_string(),
            "approve",
            json!({"message": "ok by Mia"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = admin
        .decide(&failed.to_string(), "reject", json!({"action": "fail"}))
        .await;
    assert_eq!(status, 200);

    let body = &decisions.wait_for(1, about("approved", approved)).await[0];
    assert_eq!(
        (&body["approver"], &body["action"], &body["message"]),
        (&json!("admin"), &json!("resume"), &json!("ok by Mia"))
    );
    let body = &decisions.wait_for(1, about("rejected", failed)).await[0];
    assert_eq!(
        (&body["approver"], &body["action"]),
        (&json!("admin"), &json!("fail"))
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Rejected by an administrator"),
        "{body}"
    );
    assert!(
        decisions.bodies().iter().all(|b| b["event"] != "held"),
        "this receiver only takes decisions"
    );

    // Slack: a held and an approved message per task, with a button to the approvals page.
    let approved_in_slack = slack
        .wait_for(1, |b| {
            b["text"].as_str().unwrap().starts_with("Approved by admin")
        })
        .await;
    let blocks = approved_in_slack[0]["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert!(
        blocks[1]["fields"]
            .as_array()
            .unwrap()
            .contains(&json!({"type": "plain_text", "text": format!("Task\n{approved}")})),
        "{blocks:#?}"
    );
    assert_eq!(
        blocks.last().unwrap()["elements"][0]["url"],
        format!("{PUBLIC_URL}/ui/#{approved}")
    );
    slack
        .wait_for(2, |b| {
            b["text"].as_str().unwrap().starts_with("Held for approval")
        })
        .await;

    // Teams: an Adaptive Card whose facts name the task, with a link to the approvals page.
    let cards = teams.wait_for(4, |b| b["type"] == "message").await;
    let rejected_card = cards
        .iter()
        .map(|b| &b["attachments"][0]["content"])
        .find(|card| {
            card["body"][0]["text"]
                .as_str()
                .unwrap()
                .starts_with("Rejected by admin")
                && card["body"][1]["facts"][0]["value"] == failed.to_string()
        })
        .unwrap_or_else(|| panic!("no rejection card: {cards:#?}"));
    assert_eq!(rejected_card["type"], "AdaptiveCard");
    assert_eq!(rejected_card["actions"][0]["type"], "Action.OpenUrl");
    assert_eq!(
        cards[0]["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let logs = captured_logs();
    for receiver in [&decisions, &slack, &teams] {
        assert!(!logs.contains(&receiver.secret), "a webhook URL was logged");
    }
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_fallback_is_announced_as_expired() {
    let receiver = WebhookReceiver::start().await;
    let world = World::start(options(vec![json_to(&receiver)])).await;
    let id = world.create(task("vdcImportVapp", "import")).await;
    world.wait_for_status(id, "failed").await;
    let body = &receiver.wait_for(1, about("expired", id)).await[0];
    assert_eq!(body["action"], "fail");
    assert_eq!(body["fallback"], "fail");
    assert_eq!(body["approver"], Value::Null);
    assert_eq!(
        body["message"],
        "No approval within 2s (vcd-blockd rule \"imports wait only briefly\"): fail"
    );
    let events: Vec<Value> = receiver
        .bodies()
        .iter()
        .map(|b| b["event"].clone())
        .collect();
    assert_eq!(events, [json!("held"), json!("expired")]);
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_task_that_vcd_stops_listing_is_announced_as_gone_to_receivers_of_every_event() {
    let receiver = WebhookReceiver::start().await;
    let world = World::start(Options {
        reconcile_interval: "1s",
        ..options(vec![json_to(&receiver)])
    })
    .await;
    let admin = Admin::new(world.admin_url());
    let id = world.create(task("vdcInstantiateVapp", "billing")).await;
    receiver.wait_for(1, about("held", id)).await;

    // Decided in vCD by someone else: the next listing no longer has it.
    abort_directly(&world, id).await;
    let gone = &receiver.wait_for(1, about("gone", id)).await[0];
    assert_eq!(gone["approver"], Value::Null, "{gone}");
    assert_eq!(
        gone["action"],
        Value::Null,
        "what vCD did is not known: {gone}"
    );
    assert!(
        gone["message"]
            .as_str()
            .unwrap()
            .starts_with("vCD no longer waits for the task"),
        "{gone}"
    );
    eventually("the hold is gone from the list", || async {
        admin.holds().await.filter(Vec::is_empty)
    })
    .await;
    let events: Vec<Value> = receiver
        .bodies()
        .iter()
        .map(|b| b["event"].clone())
        .collect();
    assert_eq!(events, [json!("held"), json!("gone")], "announced once");
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_keepalives_are_announced_once_per_run_of_failures() {
    let receiver = WebhookReceiver::start().await;
    // vCD times tasks out after 10 s; keepalives ask for 6 s more, so they come every 4 s.
    let world = World::start(Options {
        task_timeout: Duration::from_secs(10),
        extend_by: "6s",
        ..options(vec![json_to(&receiver)])
    })
    .await;
    let refuse = |count| {
        world.sim.set_faults(Faults {
            refuse_update_progress: count,
            ..Faults::default()
        })
    };
    refuse(2);
    let id = world.create(task("vdcInstantiateVapp", "kept")).await;
    let accepted_keepalives = || {
        world
            .sim
            .task(id)
            .unwrap()
            .actions
            .iter()
            .filter(|a| a.action == "updateProgress" && a.accepted)
            .count()
    };
    wait_until("a keepalive succeeds after two refusals", || {
        accepted_keepalives() >= 1
    })
    .await;
    let failed = receiver.wait_for(1, about("keepalive_failed", id)).await;
    assert!(
        failed[0]["message"].as_str().unwrap().contains("400"),
        "{:#}",
        failed[0]
    );

    // Kept alive again: the next refusal starts a new run, announced once more.
    refuse(1);
    let before = accepted_keepalives();
    wait_until("a keepalive succeeds after one more refusal", || {
        accepted_keepalives() > before
    })
    .await;
    receiver.wait_for(2, about("keepalive_failed", id)).await;
    assert_eq!(world.sim.task(id).unwrap().status, "active");
    // A receiver gets its events in order: once the approval's event arrived, any further
    // announcement of the refusals would have arrived before it.
    let admin = Admin::new(world.admin_url());
    let (status, body) = admin.decide(&id.to_string(), "approve", json!({})).await;
    assert_eq!(status, 200, "{body}");
    receiver.wait_for(1, about("approved", id)).await;
    assert_eq!(
        receiver
            .bodies()
            .iter()
            .filter(|b| about("keepalive_failed", id)(b))
            .count(),
        2,
        "one announcement per run of failures, not one per refusal"
    );
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_receiver_delays_no_decision_and_its_url_is_never_logged() {
    // One receiver's port is closed; the other accepts connections and never answers.
    let closed = format!("s3cret-{}", uuid::Uuid::new_v4().simple());
    let hanging = format!("s3cret-{}", uuid::Uuid::new_v4().simple());
    let black_hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let black_hole_port = black_hole.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held_open = Vec::new();
        while let Ok((socket, _)) = black_hole.accept().await {
            held_open.push(socket);
        }
    });
    let webhook = |url: String| Webhook {
        url,
        format: "slack",
        events: None,
    };
    let mut world = World::start(options(vec![
        webhook(format!("http://127.0.0.1:{}/hooks/{closed}", free_port())),
        webhook(format!(
            "http://127.0.0.1:{black_hole_port}/hooks/{hanging}"
        )),
    ]))
    .await;
    let admin = Admin::new(world.admin_url());
    let started = Instant::now();
    let held = [
        world.create(task("vdcInstantiateVapp", "one")).await,
        world.create(task("vdcInstantiateVapp", "two")).await,
    ];
    let aborted = world.create(task("vdcDeleteVapp", "three")).await;
    world.wait_for_status(aborted, "aborted").await;
    eventually("both tasks are held", || async {
        admin.holds().await.filter(|holds| holds.len() == 2)
    })
    .await;
    let approving = Instant::now();
    let (status, _) = admin
        .decide(&held[0].to_string(), "approve", json!({}))
        .await;
    assert_eq!(status, 200);
    assert!(
        approving.elapsed() < Duration::from_secs(3),
        "the approval waited for a webhook: {:?}",
        approving.elapsed()
    );
    let (status, _) = admin
        .decide(&held[1].to_string(), "reject", json!({}))
        .await;
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "decisions waited for webhooks: {:?}",
        started.elapsed()
    );

    let metrics = world.daemon().metrics.clone();
    wait_until("failed deliveries are retried", || {
        counter(
            &metrics,
            "webhooks_total{event=\"held\",outcome=\"retried\"}",
        ) >= 1
    })
    .await;
    assert_eq!(
        counter(&metrics, "webhooks_total{event=\"held\",outcome=\"sent\"}"),
        0
    );
    world.stop_daemon().await;
    assert!(
        counter(
            &metrics,
            "webhooks_total{event=\"held\",outcome=\"dropped\"}"
        ) >= 1,
        "what was pending at shutdown is counted: {}",
        metrics.render()
    );

    let logs = captured_logs();
    assert!(
        logs.lines()
            .any(|line| line.contains("webhook failed; retrying")
                && held.iter().any(|id| line.contains(&id.to_string()))),
        "the failure was logged (so the capture works)"
    );
    for secret in [&closed, &hanging] {
        assert!(!logs.contains(secret.as_str()), "a webhook URL was logged");
    }
    world.finish().await;
}

#[tokio::test]
async fn a_markdown_link_in_an_owner_name_reaches_teams_as_text_and_slack_as_plain_text() {
    let teams = WebhookReceiver::start().await;
    let slack = WebhookReceiver::start().await;
    let world = World::start(options(vec![
        Webhook {
            url: teams.url.clone(),
            format: "teams",
            events: None,
        },
        Webhook {
            url: slack.url.clone(),
            format: "slack",
            events: None,
        },
    ]))
    .await;
    let owner = "[Approve here](https://evil.example)";
    world.create(task("vdcInstantiateVapp", owner)).await;

    let card = &teams.wait_for(1, |b| b["type"] == "message").await[0];
    let facts = &card["attachments"][0]["content"]["body"][1]["facts"];
    let shown = facts
        .as_array()
        .unwrap()
        .iter()
        .find(|fact| fact["title"] == "Owner")
        .unwrap_or_else(|| panic!("no owner fact: {card:#}"));
    assert_eq!(
        shown["value"], r"\[Approve here\]\(https:\/\/evil.example\)",
        "escaped Markdown shows the name as written, and links nowhere"
    );
    assert_eq!(
        card["attachments"][0]["content"]["actions"][0]["url"]
            .as_str()
            .unwrap()
            .split("/ui/")
            .next(),
        Some(PUBLIC_URL),
        "the only link is the approvals page"
    );

    let message = &slack.wait_for(1, |b| b["blocks"].is_array()).await[0];
    let fields = message["blocks"][1]["fields"].as_array().unwrap();
    assert!(
        fields.contains(&json!({"type": "plain_text", "text": format!("Owner\n{owner}")})),
        "{message:#}"
    );
    world.finish().await;
}
