//! The Slack app through a real RabbitMQ and vcd-sim, against the Slack stand-in: a held task
//! is posted with Approve and Reject buttons; a click decides as the approver whose
//! `slack_user` clicked, with the admin API's rules; refusals are told to the clicker alone;
//! the message follows the task wherever it is decided; Socket Mode survives lost connections
//! and runs on the leader only; signed HTTP interactions are the alternative.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use vcd_sim::NewTask;

use crate::ha::{Instance, roles};
use crate::helpers::{
    Admin, Options, SLACK_APP_TOKEN, SLACK_BOT_TOKEN, SlackOptions, Webhook, WebhookReceiver,
    World, abort_directly, captured_logs, eventually, http_client,
};
use crate::slack_standin::{CHANNEL_ID, SlackStandIn};

const POLICY: &str = r#"
[defaults]
action = "resume"

[[rule]]
name = "deployments need an approver"
operation = "vdcInstantiateVapp"
action = "hold"
hold = { max = "1h", fallback = "abort" }
message = "Waiting for approval"
"#;

const CAROL: &str = "U0CAROL";
const DAVE: &str = "U0DAVE";
const CAROL_TOKEN: &str = "carol-token-0123456789";
const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

/// carol (a token and a Slack user) and dave (Slack only).
fn approvers_file() -> String {
    format!(
        "[[approver]]\nname = \"carol\"\ntoken_sha256 = \"{}\"\nslack_user = \"{CAROL}\"\n\n\
         [[approver]]\nname = \"dave\"\nslack_user = \"{DAVE}\"\n",
        hex::encode(Sha256::digest(CAROL_TOKEN.as_bytes()))
    )
}

fn options(slack: &SlackStandIn, socket: bool) -> Options {
    Options {
        policy: POLICY.into(),
        approvers: Some(approvers_file()),
        slack: Some(SlackOptions {
            api_url: slack.api_url.clone(),
            socket,
            signing_secret: (!socket).then(|| SIGNING_SECRET.to_owned()),
        }),
        ..Options::default()
    }
}

fn deployment(user: &str) -> NewTask {
    NewTask {
        operation: "vdcInstantiateVapp".into(),
        user: user.into(),
        owner_name: "billing".into(),
        ..NewTask::default()
    }
}

/// The buttons of a message (`chat.postMessage` or `chat.update` body) for task `id`.
fn buttons(body: &Value, id: uuid::Uuid) -> Vec<Value> {
    body["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|block| block["type"] == "actions")
        .flat_map(|block| block["elements"].as_array().cloned().unwrap_or_default())
        .filter(|element| element["value"] == id.to_string())
        .collect()
}

fn button(body: &Value, id: uuid::Uuid, label: &str) -> Value {
    buttons(body, id)
        .into_iter()
        .find(|b| b["text"]["text"] == label)
        .unwrap_or_else(|| panic!("no {label} button for {id} in {body}"))
}

/// Waits until task `id` is posted, and returns the message.
async fn posted(slack: &SlackStandIn, id: uuid::Uuid) -> Value {
    let call = slack
        .wait_for_call("chat.postMessage", |body| !buttons(body, id).is_empty())
        .await;
    call.body
}

/// A `block_actions` payload: `user` clicked `button` at `action_ts`.
fn click(user: &str, button: &Value, action_ts: &str) -> Value {
    json!({
        "type": "block_actions",
        "user": {"id": user, "username": user.to_lowercase()},
        "trigger_id": format!("trigger-{action_ts}"),
        "channel": {"id": CHANNEL_ID},
        "container": {"type": "message", "channel_id": CHANNEL_ID, "message_ts": "1700000000.000000"},
        "actions": [{
            "type": "button",
            "action_id": button["action_id"],
            "block_id": "b1",
            "value": button["value"],
            "action_ts": action_ts,
        }],
    })
}

/// A `view_submission` payload of the dialog `view` (as `views.open` was given it) with
/// `reason` typed in.
fn submission(user: &str, view: &Value, reason: &str) -> Value {
    let input = &view["blocks"][0];
    let (block, action) = (
        input["block_id"].as_str().unwrap(),
        input["element"]["action_id"].as_str().unwrap(),
    );
    let mut values = Map::new();
    values.insert(
        block.to_owned(),
        json!({ action: {"type": "plain_text_input", "value": reason} }),
    );
    json!({
        "type": "view_submission",
        "user": {"id": user},
        "view": {
            "id": "V0STANDIN",
            "callback_id": view["callback_id"],
            "private_metadata": view["private_metadata"],
            "state": {"values": values},
        },
    })
}

/// The value of `chat_decisions_total{outcome}`.
fn decisions(world: &World, outcome: &str) -> u64 {
    let series = format!("vcd_blockd_chat_decisions_total{{outcome=\"{outcome}\"}} ");
    world
        .daemon()
        .metrics
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0, |value| value.trim().parse().unwrap())
}

fn accepted_actions(view: &vcd_sim::TaskView) -> Vec<(String, String)> {
    view.actions
        .iter()
        .filter(|a| a.accepted && a.action != "updateProgress")
        .map(|a| (a.action.clone(), a.message.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_task_is_posted_with_buttons_and_its_approvers_click_resumes_it() {
    let slack = SlackStandIn::start().await;
    let world = World::start(options(&slack, true)).await;
    slack.wait_for_sockets(1).await;
    let id = world.create(deployment("alice")).await;

    let message = posted(&slack, id).await;
    let calls = slack.calls("chat.postMessage");
    assert_eq!(calls[0].authorization, format!("Bearer {SLACK_BOT_TOKEN}"));
    let socket = &slack.calls("apps.connections.open")[0];
    assert_eq!(socket.authorization, format!("Bearer {SLACK_APP_TOKEN}"));
    assert_eq!(message["channel"], "#approvals");
    assert!(
        message["text"]
            .as_str()
            .unwrap()
            .contains("Held for approval"),
        "{message}"
    );
    let approve = button(&message, id, "Approve");
    button(&message, id, "Reject");

    slack
        .push_acknowledged(&click(CAROL, &approve, "1700000100.000001"))
        .await;
    let view = world.wait_for_status(id, "resumed").await;
    assert_eq!(accepted_actions(&view).len(), 1);

    let update = slack
        .wait_for_call("chat.update", |body| {
            body["text"]
                .as_str()
                .is_some_and(|t| t.contains("Approved by carol"))
        })
        .await;
    assert_eq!(
        update.body["channel"], CHANNEL_ID,
        "the message posted is the one updated"
    );
    assert!(
        buttons(&update.body, id).is_empty(),
        "a decided task has no buttons: {}",
        update.body
    );
    assert_eq!(decisions(&world, "approved"), 1);
    let logs = captured_logs();
    assert!(!logs.contains(SLACK_BOT_TOKEN) && !logs.contains(SLACK_APP_TOKEN));
    assert!(
        !logs.contains("t-secret"),
        "the socket URL's ticket is not logged"
    );
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicks_by_an_unknown_user_or_the_requester_are_refused_to_them_alone() {
    let slack = SlackStandIn::start().await;
    let world = World::start(options(&slack, true)).await;
    slack.wait_for_sockets(1).await;
    let id = world.create(deployment("dave")).await;
    let message = posted(&slack, id).await;
    let approve = button(&message, id, "Approve");
    let reject = button(&message, id, "Reject");

    slack.push_interactive(&click("U0NOBODY", &approve, "1700000100.000001"));
    let refusal = slack
        .wait_for_call("chat.postEphemeral", |body| body["user"] == "U0NOBODY")
        .await;
    let text = refusal.body["text"].as_str().unwrap();
    assert!(text.contains("not among vcd-blockd's approvers"), "{text}");
    assert!(text.contains("slack_user = \"U0NOBODY\""), "{text}");

    // dave requested the task: neither his approval nor his rejection counts.
    slack.push_interactive(&click(DAVE, &approve, "1700000100.000002"));
    slack.push_interactive(&click(DAVE, &reject, "1700000100.000003"));
    let refusal = slack
        .wait_for_call("chat.postEphemeral", |body| body["user"] == DAVE)
        .await;
    assert_eq!(refusal.body["channel"], CHANNEL_ID);
    assert!(
        refusal.body["text"]
            .as_str()
            .unwrap()
            .contains("your own request"),
        "{}",
        refusal.body
    );
    eventually("both of dave's clicks are refused", || async {
        (decisions(&world, "refused") == 3).then_some(())
    })
    .await;
    assert!(
        slack.calls("views.open").is_empty(),
        "no dialog for who may not reject"
    );
    let admin = Admin::new(world.admin_url());
    let holds = admin.holds().await.unwrap();
    assert_eq!(holds.len(), 1, "still held");
    assert!(accepted_actions(&world.sim.task(id).unwrap()).is_empty());
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_asks_for_a_reason_which_reaches_vcd() {
    let slack = SlackStandIn::start().await;
    let world = World::start(options(&slack, true)).await;
    slack.wait_for_sockets(1).await;
    let id = world.create(deployment("alice")).await;
    let message = posted(&slack, id).await;
    let reject = button(&message, id, "Reject");

    slack.push_interactive(&click(CAROL, &reject, "1700000100.000001"));
    let open = slack.wait_for_call("views.open", |_| true).await;
    assert_eq!(open.body["trigger_id"], "trigger-1700000100.000001");
    let view = &open.body["view"];
    assert_eq!(view["type"], "modal");
    assert_eq!(
        world.sim.task(id).unwrap().status,
        "active",
        "nothing before the reason"
    );

    slack.push_interactive(&submission(CAROL, view, "no deployments during the freeze"));
    let task = world.wait_for_status(id, "aborted").await;
    let actions = accepted_actions(&task);
    assert_eq!(actions.len(), 1);
    assert!(
        actions[0].1.contains("no deployments during the freeze"),
        "{actions:?}"
    );
    slack
        .wait_for_call("chat.update", |body| {
            body["text"]
                .as_str()
                .is_some_and(|t| t.contains("Rejected by carol"))
        })
        .await;
    assert_eq!(decisions(&world, "rejected"), 1);
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interaction_delivered_twice_decides_once() {
    let slack = SlackStandIn::start().await;
    let world = World::start(options(&slack, true)).await;
    slack.wait_for_sockets(1).await;
    let id = world.create(deployment("alice")).await;
    let approve = button(&posted(&slack, id).await, id, "Approve");
    let payload = click(CAROL, &approve, "1700000100.000001");

    let envelope = slack.push_interactive(&payload);
    slack.push_envelope(&envelope, &payload); // the same envelope again
    let again = slack.push_interactive(&payload); // the same click in a new envelope
    slack.wait_for_ack(&again).await;
    world.wait_for_status(id, "resumed").await;
    eventually(
        "both deliveries again are counted as duplicates",
        || async { (decisions(&world, "duplicate") == 2).then_some(()) },
    )
    .await;
    assert_eq!(decisions(&world, "approved"), 1);
    let resumes = world
        .sim
        .task(id)
        .unwrap()
        .actions
        .iter()
        .filter(|a| a.action == "resume")
        .count();
    assert_eq!(resumes, 1, "vCD was asked once");
    assert!(
        slack.calls("chat.postEphemeral").is_empty(),
        "nobody was told anything was refused"
    );
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_message_follows_an_approval_made_on_the_page() {
    let slack = SlackStandIn::start().await;
    let world = World::start(options(&slack, true)).await;
    let id = world.create(deployment("alice")).await;
    posted(&slack, id).await;

    let carol = Admin::with_token(world.admin_url(), CAROL_TOKEN);
    let (status, _) = carol.decide(&id.to_string(), "approve", json!({})).await;
    assert_eq!(status, 200);
    let update = slack
        .wait_for_call("chat.update", |body| {
            body["text"]
                .as_str()
                .is_some_and(|t| t.contains("Approved by carol"))
        })
        .await;
    assert_eq!(
        update.body["ts"], "1700000000.000000",
        "the posted message, in place"
    );
    assert!(buttons(&update.body, id).is_empty());
    assert_eq!(slack.calls("chat.postMessage").len(), 1);
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_decided_in_vcd_itself_loses_its_buttons_and_is_announced_as_gone() {
    let slack = SlackStandIn::start().await;
    let receiver = WebhookReceiver::start().await;
    let world = World::start(Options {
        webhooks: vec![Webhook {
            url: receiver.url.clone(),
            format: "json",
            events: Some(&["held", "gone"]),
        }],
        task_timeout: Duration::from_secs(2),
        extend_by: "3s",
        ..options(&slack, true)
    })
    .await;
    let id = world.create(deployment("alice")).await;
    posted(&slack, id).await;
    receiver
        .wait_for(1, |b| {
            b["event"] == "held" && b["task_id"] == id.to_string()
        })
        .await;

    // Another handler aborts the task through vCD's API; the next keepalive finds it ended.
    abort_directly(&world, id).await;

    let update = slack
        .wait_for_call("chat.update", |body| {
            body["text"]
                .as_str()
                .is_some_and(|t| t.contains("Decided in vCD"))
        })
        .await;
    assert_eq!(
        update.body["ts"], "1700000000.000000",
        "the posted message, in place"
    );
    assert!(
        buttons(&update.body, id).is_empty(),
        "a task vCD decided has no buttons: {}",
        update.body
    );
    let [gone] = receiver
        .wait_for(1, |b| b["event"] == "gone")
        .await
        .try_into()
        .unwrap();
    assert_eq!(gone["task_id"], id.to_string());
    assert!(
        gone["approver"].is_null() && gone["action"].is_null(),
        "{gone}"
    );
    let admin = Admin::new(world.admin_url());
    eventually("the hold is gone from the list", || async {
        admin.holds().await.filter(Vec::is_empty)
    })
    .await;
    assert_eq!(
        slack.calls("chat.postMessage").len(),
        1,
        "nothing posted anew"
    );
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_mode_reconnects_after_a_dropped_socket_or_a_disconnect() {
    let slack = SlackStandIn::start().await;
    let world = World::start(options(&slack, true)).await;
    slack.wait_for_sockets(1).await;
    slack.drop_socket();
    slack.wait_for_sockets(2).await;
    slack.disconnect();
    slack.wait_for_sockets(3).await;

    let id = world.create(deployment("alice")).await;
    let approve = button(&posted(&slack, id).await, id, "Approve");
    slack
        .push_acknowledged(&click(CAROL, &approve, "1700000100.000001"))
        .await;
    world.wait_for_status(id, "resumed").await;
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_opens_no_socket() {
    let slack = SlackStandIn::start().await;
    let world = World::without_daemon(options(&slack, true)).await;
    let (a, b) = (Instance::start(&world).await, Instance::start(&world).await);
    let (_leader, _standby) = roles(a, b).await;
    slack.wait_for_sockets(1).await;

    let id = world.create(deployment("alice")).await;
    let approve = button(&posted(&slack, id).await, id, "Approve");
    slack
        .push_acknowledged(&click(CAROL, &approve, "1700000100.000001"))
        .await;
    world.wait_for_status(id, "resumed").await;
    assert_eq!(
        slack.sockets_accepted(),
        1,
        "only the leader holds a socket"
    );
    assert_eq!(slack.calls("apps.connections.open").len(), 1);
    assert_eq!(
        slack.calls("chat.postMessage").len(),
        1,
        "only the leader posts"
    );
    world.finish().await;
}

/// POSTs `payload` to `/v1/slack/interactions` as Slack would, signed at `timestamp` with
/// `secret`; the status.
async fn interact(world: &World, payload: &Value, timestamp: i64, secret: &str) -> u16 {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    let signature = format!("v0={}", hex::encode(mac.finalize().into_bytes()));
    http_client()
        .post(format!("{}/v1/slack/interactions", world.admin_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", timestamp.to_string())
        .header("x-slack-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_interactions_decide_and_forged_stale_or_unknown_ones_do_not() {
    let slack = SlackStandIn::start().await;
    let world = World::start(options(&slack, false)).await;
    let id = world.create(deployment("alice")).await;
    let approve = button(&posted(&slack, id).await, id, "Approve");
    let now = chrono::Utc::now().timestamp();

    let forged = interact(
        &world,
        &click(CAROL, &approve, "1.1"),
        now,
        "not-the-secret",
    )
    .await;
    assert_eq!(forged, 401);
    let stale = interact(
        &world,
        &click(CAROL, &approve, "1.2"),
        now - 301,
        SIGNING_SECRET,
    )
    .await;
    assert_eq!(stale, 401, "a replay after five minutes");
    let unknown = interact(
        &world,
        &click("U0NOBODY", &approve, "1.3"),
        now,
        SIGNING_SECRET,
    )
    .await;
    assert_eq!(unknown, 200);
    slack
        .wait_for_call("chat.postEphemeral", |body| body["user"] == "U0NOBODY")
        .await;
    assert_eq!(world.sim.task(id).unwrap().status, "active");

    let signed = interact(&world, &click(CAROL, &approve, "1.4"), now, SIGNING_SECRET).await;
    assert_eq!(signed, 200);
    world.wait_for_status(id, "resumed").await;
    assert!(
        slack.calls("apps.connections.open").is_empty(),
        "no Socket Mode without its token"
    );
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_updates_the_message_the_killed_one_posted() {
    let slack = SlackStandIn::start().await;
    let world = World::without_daemon(options(&slack, true)).await;
    let (a, b) = (Instance::start(&world).await, Instance::start(&world).await);
    let (leader, _standby) = roles(a, b).await;
    let id = world.create(deployment("alice")).await;
    posted(&slack, id).await;
    // Where the message is reaches the journal just after the post.
    let metrics = format!("{}/metrics", leader.base);
    eventually("the message's place is journaled", || async {
        let text = http_client()
            .get(&metrics)
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains("vcd_blockd_journal_writes_total{outcome=\"ok\"} 1")
            .then_some(())
    })
    .await;

    leader.process.kill();
    let update = slack
        .wait_for_call("chat.update", |body| {
            body["text"]
                .as_str()
                .is_some_and(|t| t.contains("found again"))
        })
        .await;
    assert_eq!(
        update.body["ts"], "1700000000.000000",
        "the message posted before"
    );
    assert_eq!(slack.calls("chat.postMessage").len(), 1, "not posted again");
    let approve = button(&update.body, id, "Approve");
    slack.wait_for_sockets(2).await;
    slack
        .push_acknowledged(&click(CAROL, &approve, "1700000100.000001"))
        .await;
    world.wait_for_status(id, "resumed").await;
    // The message the killed leader posted says how the task ended, and lost its buttons.
    let approved = slack
        .wait_for_call("chat.update", |body| {
            body["text"]
                .as_str()
                .is_some_and(|t| t.contains("Approved by carol"))
        })
        .await;
    assert_eq!(approved.body["ts"], "1700000000.000000");
    assert!(buttons(&approved.body, id).is_empty(), "{}", approved.body);
    assert_eq!(slack.calls("chat.postMessage").len(), 1, "not posted again");
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_approvers_clicks_show_their_progress_and_then_resume() {
    let slack = SlackStandIn::start().await;
    let world = World::start(Options {
        policy: POLICY.replace(
            "hold = { max = \"1h\", fallback = \"abort\" }",
            "hold = { max = \"1h\", fallback = \"abort\", approvals = 2 }",
        ),
        ..options(&slack, true)
    })
    .await;
    slack.wait_for_sockets(1).await;
    let id = world.create(deployment("alice")).await;
    let approve = button(&posted(&slack, id).await, id, "Approve");

    slack.push_interactive(&click(CAROL, &approve, "1700000100.000001"));
    let progress = slack
        .wait_for_call("chat.update", |body| {
            body["text"]
                .as_str()
                .is_some_and(|t| t.contains("Approved 1 of 2: carol"))
        })
        .await;
    assert_eq!(
        buttons(&progress.body, id).len(),
        2,
        "still waiting: the buttons stay"
    );
    assert_eq!(world.sim.task(id).unwrap().status, "active");

    slack.push_interactive(&click(DAVE, &approve, "1700000100.000002"));
    world.wait_for_status(id, "resumed").await;
    slack
        .wait_for_call("chat.update", |body| {
            body["text"]
                .as_str()
                .is_some_and(|t| t.contains("Approved by dave"))
        })
        .await;
    assert_eq!(decisions(&world, "recorded"), 1);
    assert_eq!(decisions(&world, "approved"), 1);
    world.finish().await;
}
