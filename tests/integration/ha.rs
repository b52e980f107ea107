//! Several instances on one config and one queue: one leads (consumes, reconciles, keeps held
//! tasks alive, sends webhooks), the other stands by and forwards admin calls to it; when the
//! leader is killed (SIGKILL), the other takes over with nothing lost or decided twice.

use std::time::Duration;

use serde_json::Value;
use vcd_sim::NewTask;

use crate::helpers::{
    Admin, DaemonProcess, Options, Webhook, WebhookReceiver, World, eventually, free_port,
    http_client,
};

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

/// A running instance: its process and where it answers.
struct Instance {
    process: DaemonProcess,
    base: String,
}

impl Instance {
    async fn start(world: &World) -> Instance {
        let port = free_port();
        let process = world.spawn_daemon_process(port).await;
        Instance {
            process,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// `leader` or `standby`, from `/readyz`.
    async fn role(&self) -> Option<String> {
        let response = http_client()
            .get(format!("{}/readyz", self.base))
            .send()
            .await
            .ok()?;
        let body: Value = response.json().await.ok()?;
        body["role"].as_str().map(str::to_owned)
    }

    fn admin(&self) -> Admin {
        Admin::new(self.base.clone())
    }
}

fn deployment(owner_name: &str) -> NewTask {
    NewTask {
        operation: "vdcInstantiateVapp".into(),
        owner_name: owner_name.into(),
        ..NewTask::default()
    }
}

fn accepted(view: &vcd_sim::TaskView) -> Vec<&str> {
    view.actions
        .iter()
        .filter(|a| a.accepted && a.action != "updateProgress")
        .map(|a| a.action.as_str())
        .collect()
}

/// Waits until exactly one of the instances leads, and returns (leader, standby).
async fn roles(a: Instance, b: Instance) -> (Instance, Instance) {
    let (role_a, role_b) = eventually("one instance leads and the other stands by", || async {
        let (role_a, role_b) = (a.role().await?, b.role().await?);
        (role_a != role_b).then_some((role_a, role_b))
    })
    .await;
    match (role_a.as_str(), role_b.as_str()) {
        ("leader", "standby") => (a, b),
        ("standby", "leader") => (b, a),
        other => panic!("unexpected roles {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_standby_takes_over_when_the_leader_is_killed_and_nothing_is_lost_or_decided_twice() {
    let receiver = WebhookReceiver::start().await;
    let world = World::without_daemon(Options {
        policy: POLICY.into(),
        // vCD gives up on a task after 20 s unless somebody keeps it alive.
        task_timeout: Duration::from_secs(20),
        extend_by: "20s",
        webhooks: vec![Webhook {
            url: receiver.url.clone(),
            format: "json",
            events: None,
        }],
        ..Options::default()
    })
    .await;
    let first = Instance::start(&world).await;
    let second = Instance::start(&world).await;
    let (leader, standby) = roles(first, second).await;

    // Two tasks held by the leader; the standby lists them and approves one, through the leader.
    let kept = world.create(deployment("kept")).await;
    let approved = world.create(deployment("approved")).await;
    let listed = eventually("the standby lists both holds", || async {
        standby
            .admin()
            .holds()
            .await
            .filter(|holds| holds.len() == 2)
    })
    .await;
    assert!(
        listed.iter().any(|h| h["id"] == kept.to_string()),
        "{listed:?}"
    );
    let (status, answer) = standby
        .admin()
        .decide(&approved.to_string(), "approve", serde_json::json!({}))
        .await;
    assert_eq!(
        (status, &answer["action"]),
        (200, &Value::from("resume")),
        "{answer}"
    );
    assert_eq!(
        accepted(&world.wait_for_status(approved, "resumed").await),
        ["resume"]
    );

    // Tasks stream in while the leader is killed halfway.
    let mut leader = Some(leader);
    let mut killed_at = chrono::Utc::now();
    let streaming: Vec<uuid::Uuid> = {
        let mut ids = Vec::new();
        for n in 0..60 {
            if n == 30
                && let Some(leader) = leader.take()
            {
                killed_at = chrono::Utc::now();
                leader.process.kill();
            }
            let task = NewTask {
                operation: "vdcUploadMedia".into(),
                owner_type: "media".into(),
                owner_name: format!("iso-{n}"),
                ..NewTask::default()
            };
            ids.push(world.create(task).await);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        ids
    };
    eventually("the standby leads", || async {
        (standby.role().await? == "leader").then_some(())
    })
    .await;
    for id in &streaming {
        let view = world.wait_for_status(*id, "resumed").await;
        assert_eq!(accepted(&view), ["resume"], "task {id} decided once");
        let refused = view.actions.iter().filter(|a| !a.accepted).count();
        assert_eq!(refused, 0, "task {id}: no second action was even tried");
    }

    // The held task survives: the new leader keeps it alive, lists it, and it can be approved.
    let kept_alive = eventually("the new leader keeps the held task alive", || async {
        let view = world.sim.task(kept)?;
        view.actions
            .iter()
            .any(|a| a.action == "updateProgress" && a.at > killed_at)
            .then_some(view)
    })
    .await;
    assert_eq!(kept_alive.status, "active");
    let holds = standby.admin().holds().await.unwrap();
    assert_eq!(holds.len(), 1, "{holds:?}");
    assert_eq!(holds[0]["id"], kept.to_string());
    let (status, _) = standby
        .admin()
        .decide(
            &kept.to_string(),
            "approve",
            serde_json::json!({"message": "ok"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        accepted(&world.wait_for_status(kept, "resumed").await),
        ["resume"]
    );

    // Webhooks: each hold announced once as new; the new leader's announcement of the hold
    // it found again says so.
    receiver.wait_for(2, |b| b["event"] == "approved").await;
    let bodies = receiver.bodies();
    let held = |id: uuid::Uuid, rediscovered: bool| {
        bodies
            .iter()
            .filter(|b| {
                b["event"] == "held"
                    && b["task_id"] == id.to_string()
                    && b["rediscovered"] == rediscovered
            })
            .count()
    };
    assert_eq!(held(kept, false), 1, "{bodies:#?}");
    assert_eq!(held(approved, false), 1, "{bodies:#?}");
    assert_eq!(
        held(kept, true),
        1,
        "found again by the new leader: {bodies:#?}"
    );
    assert_eq!(held(approved, true), 0, "{bodies:#?}");
    let approvals: Vec<&Value> = bodies.iter().filter(|b| b["event"] == "approved").collect();
    assert_eq!(approvals.len(), 2, "one per approval: {bodies:#?}");
    assert!(approvals.iter().all(|b| b["approver"] == "admin"));
    world.finish().await;
}

#[tokio::test]
async fn a_standby_is_ready_and_forwards_calls_that_the_leader_checks() {
    let world = World::without_daemon(Options {
        policy: POLICY.into(),
        ..Options::default()
    })
    .await;
    let first = Instance::start(&world).await;
    let second = Instance::start(&world).await;
    let (leader, standby) = roles(first, second).await;
    let response = http_client()
        .get(format!("{}/readyz", standby.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "a standby is ready: it serves the admin API"
    );

    let held = world.create(deployment("billing")).await;
    eventually("the hold shows through the standby", || async {
        standby
            .admin()
            .holds()
            .await
            .filter(|holds| holds.len() == 1)
    })
    .await;
    // The leader answers as it would itself: an unknown token, a bad id, a bad action.
    let stranger = Admin::with_token(standby.base.clone(), "not-a-token");
    assert_eq!(stranger.whoami().await.0, 401);
    let (status, answer) = standby
        .admin()
        .decide("not-a-uuid", "approve", serde_json::json!({}))
        .await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = standby
        .admin()
        .decide(
            &held.to_string(),
            "reject",
            serde_json::json!({"action": "resume"}),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("resume"),
        "{answer}"
    );
    let (status, answer) = standby
        .admin()
        .decide(
            &held.to_string(),
            "reject",
            serde_json::json!({"action": "fail"}),
        )
        .await;
    assert_eq!((status, &answer["action"]), (200, &Value::from("fail")));
    assert_eq!(
        accepted(&world.wait_for_status(held, "failed").await),
        ["fail"]
    );
    let (status, _) = leader
        .admin()
        .decide(&held.to_string(), "approve", serde_json::json!({}))
        .await;
    assert_eq!(status, 409, "already decided, through either instance");
    world.finish().await;
}

/// Publishes `body` to the leader queue as a forwarded call, signed with `key` (hex HMAC-SHA256
/// of the body), with `reply_to` as the property, and returns the answer.
async fn forwarded_call(world: &World, body: &Value, key: &[u8], reply_to_property: bool) -> Value {
    use futures_lite::StreamExt;
    use hmac::{Hmac, Mac};
    use lapin::options::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
    use lapin::types::{AMQPValue, FieldTable};

    let channel = &world.channel;
    let reply = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut answers = channel
        .basic_consume(
            reply.name().as_str().into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut body = body.clone();
    if reply_to_property {
        body["reply_to"] = Value::from(reply.name().as_str());
    }
    let bytes = serde_json::to_vec(&body).unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(&bytes);
    let mut headers = FieldTable::default();
    headers.insert(
        "x-vcd-blockd-signature".into(),
        AMQPValue::LongString(hex::encode(mac.finalize().into_bytes()).into()),
    );
    channel
        .basic_publish(
            "".into(),
            format!("{}.leader", world.queue).as_str().into(),
            BasicPublishOptions::default(),
            &bytes,
            lapin::BasicProperties::default()
                .with_type("vcd-blockd.admin-call".into())
                .with_correlation_id("c-1".into())
                .with_reply_to(reply.name().clone())
                .with_headers(headers),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), answers.next())
        .await
        .expect("the leader answers")
        .unwrap()
        .unwrap();
    serde_json::from_slice(&answer.data).unwrap()
}

/// The key the daemon signs forwarded calls with: HMAC-SHA256 of a fixed label under the vCD
/// password (the test config's is "vmware").
fn signing_key(secret: &str) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(b"vcd-blockd forwarded admin calls v1");
    mac.finalize().into_bytes().to_vec()
}

#[tokio::test]
async fn the_leader_answers_only_calls_signed_with_the_shared_credentials_for_their_own_reply_queue()
 {
    use sha2::Digest;
    let world = World::start(Options {
        policy: POLICY.into(),
        ..Options::default()
    })
    .await;
    let call = serde_json::json!({
        "token_sha256": hex::encode(sha2::Sha256::digest(crate::helpers::ADMIN_TOKEN.as_bytes())),
        "sent_at": chrono::Utc::now(),
        "reply_to": "",
        "call": {"call": "list"},
    });
    let answer = forwarded_call(&world, &call, &signing_key("vmware"), true).await;
    assert_eq!(answer, serde_json::json!({"status": 200, "body": []}));

    let answer = forwarded_call(&world, &call, &signing_key("a-guess"), true).await;
    assert_eq!(answer["status"], 403, "{answer}");
    assert!(
        answer["body"]["error"]
            .as_str()
            .unwrap()
            .contains("signature"),
        "{answer}"
    );

    // A copy of a signed call, sent to be answered on another queue.
    let answer = forwarded_call(&world, &call, &signing_key("vmware"), false).await;
    assert_eq!(answer["status"], 403, "{answer}");
    assert!(
        answer["body"]["error"]
            .as_str()
            .unwrap()
            .contains("reply queue"),
        "{answer}"
    );

    // A replay, minutes later.
    let mut stale = call.clone();
    stale["sent_at"] = serde_json::json!(chrono::Utc::now() - chrono::TimeDelta::minutes(5));
    let answer = forwarded_call(&world, &stale, &signing_key("vmware"), true).await;
    assert_eq!(answer["status"], 403, "{answer}");
    assert!(
        answer["body"]["error"].as_str().unwrap().contains("older"),
        "{answer}"
    );
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_leader_keeps_a_hold_alive_ahead_of_a_backlog_in_a_503_storm() {
    let world = World::without_daemon(Options {
        policy: POLICY.into(),
        // vCD gives up on a task after 8 s unless somebody keeps it alive.
        task_timeout: Duration::from_secs(8),
        extend_by: "8s",
        // 80 deliveries at once (the prefetch) for the few slots a storm leaves.
        max_in_flight: 64,
        prefetch: None,
        ..Options::default()
    })
    .await;
    let first = Instance::start(&world).await;
    let second = Instance::start(&world).await;
    let (leader, standby) = roles(first, second).await;
    let held = world.create(deployment("held")).await;
    eventually("the leader holds the deployment", || async {
        leader
            .admin()
            .holds()
            .await
            .filter(|holds| holds.len() == 1)
    })
    .await;

    // A storm: slow answers, 30 % of them 503; then a backlog, and the leader dies.
    world.sim.set_faults(vcd_sim::Faults {
        latency_ms: 100,
        error_rate_5xx: 0.3,
        ..vcd_sim::Faults::default()
    });
    let mut backlog = Vec::new();
    for n in 0..400 {
        let task = NewTask {
            operation: "vdcUploadMedia".into(),
            owner_type: "media".into(),
            owner_name: format!("iso-{n}"),
            ..NewTask::default()
        };
        backlog.push(world.create(task).await);
    }
    let killed_at = chrono::Utc::now();
    leader.process.kill();
    eventually("the standby leads", || async {
        (standby.role().await? == "leader").then_some(())
    })
    .await;
    eventually("the new leader keeps the held task alive", || async {
        let view = world.sim.task(held)?;
        view.actions
            .iter()
            .any(|a| a.action == "updateProgress" && a.accepted && a.at > killed_at)
            .then_some(())
    })
    .await;
    let waiting = backlog
        .iter()
        .filter(|id| world.sim.task(**id).is_some_and(|t| t.status == "active"))
        .count();
    assert!(
        waiting > 0,
        "the hold was kept alive while the backlog still waited"
    );
    // The hold outlives several of vCD's timeouts while the backlog drains.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let view = world.sim.task(held).unwrap();
    assert_eq!(view.status, "active", "{:?}", view.actions);
    assert!(
        view.actions.iter().all(|a| a.action != "timeout"),
        "vCD never timed the held task out: {:?}",
        view.actions
    );
    world.sim.set_faults(vcd_sim::Faults::default());
    world.finish().await;
}
