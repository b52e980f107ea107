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

pub(crate) const POLICY: &str = r#"
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
pub(crate) struct Instance {
    pub process: DaemonProcess,
    pub base: String,
}

impl Instance {
    pub(crate) async fn start(world: &World) -> Instance {
        let port = free_port();
        let process = world.spawn_daemon_process(port).await;
        Instance {
            process,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// `leader` or `standby`, from `/readyz`.
    pub(crate) async fn role(&self) -> Option<String> {
        let response = http_client()
            .get(format!("{}/readyz", self.base))
            .send()
            .await
            .ok()?;
        let body: Value = response.json().await.ok()?;
        body["role"].as_str().map(str::to_owned)
    }

    pub(crate) fn admin(&self) -> Admin {
        Admin::new(self.base.clone())
    }
}

pub(crate) fn deployment(owner_name: &str) -> NewTask {
    NewTask {
        operation: "vdcInstantiateVapp".into(),
        owner_name: owner_name.into(),
        ..NewTask::default()
    }
}

pub(crate) fn accepted(view: &vcd_sim::TaskView) -> Vec<&str> {
    view.actions
        .iter()
        .filter(|a| a.accepted && a.action != "updateProgress")
        .map(|a| a.action.as_str())
        .collect()
}

/// Waits until exactly one of the instances leads, and returns (leader, standby).
pub(crate) async fn roles(a: Instance, b: Instance) -> (Instance, Instance) {
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

/// A broker user's own reply queue, where the leader's answers to its calls arrive.
struct ReplyQueue {
    name: String,
    answers: lapin::Consumer,
}

impl ReplyQueue {
    async fn open(world: &World) -> ReplyQueue {
        use lapin::options::{BasicConsumeOptions, QueueDeclareOptions};
        use lapin::types::FieldTable;
        let reply = world
            .channel
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
        let answers = world
            .channel
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
        ReplyQueue {
            name: reply.name().to_string(),
            answers,
        }
    }

    /// A forwarded call as a standby writes it, with this queue as its `reply_to`.
    fn call(&self, id: &str, sent_at: chrono::DateTime<chrono::Utc>) -> Value {
        use sha2::Digest;
        serde_json::json!({
            "id": id,
            "sent_at": sent_at,
            "reply_to": self.name,
            "admin": {
                "token_sha256": hex::encode(sha2::Sha256::digest(crate::helpers::ADMIN_TOKEN.as_bytes())),
                "call": {"call": "list"},
            },
        })
    }

    /// Publishes `bytes` to the leader queue as a forwarded call with `signature` in its
    /// header and answers to this queue, and returns the answer: its body, as JSON and as
    /// sent, and its signature.
    async fn send(
        &mut self,
        world: &World,
        bytes: &[u8],
        signature: &str,
    ) -> (Value, Vec<u8>, Option<String>) {
        use futures_lite::StreamExt;
        use lapin::options::BasicPublishOptions;
        use lapin::types::{AMQPValue, FieldTable};
        let mut headers = FieldTable::default();
        headers.insert(
            "x-vcd-blockd-signature".into(),
            AMQPValue::LongString(signature.into()),
        );
        world
            .channel
            .basic_publish(
                "".into(),
                format!("{}.leader", world.queue).as_str().into(),
                BasicPublishOptions::default(),
                bytes,
                lapin::BasicProperties::default()
                    .with_type("vcd-blockd.admin-call".into())
                    .with_correlation_id("c-1".into())
                    .with_reply_to(self.name.as_str().into())
                    .with_headers(headers),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(10), self.answers.next())
            .await
            .expect("the leader answers")
            .unwrap()
            .unwrap();
        let signature = answer.properties.headers().as_ref().and_then(|headers| {
            match headers.inner().get("x-vcd-blockd-signature")? {
                AMQPValue::LongString(text) => Some(text.to_string()),
                _ => None,
            }
        });
        let body = serde_json::from_slice(&answer.data).unwrap();
        (body, answer.data, signature)
    }
}

/// Hex HMAC-SHA256 of a purpose `label`, a NUL and `body` under `key`: how instances sign
/// calls ("vcd-blockd call v2") and answers ("vcd-blockd answer v2") with the cluster secret.
fn signature(key: &[u8], label: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(label.as_bytes());
    mac.update(&[0]);
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A call signed as earlier versions did: under a key derived from the vCD password (the test
/// config's is "vmware") with no salt, which anyone who captured a call could brute-force.
fn signed_with_the_vcd_password(body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"vmware").unwrap();
    mac.update(b"vcd-blockd forwarded admin calls v1");
    let key = mac.finalize().into_bytes();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn error(answer: &Value) -> &str {
    answer["answer"]["body"]["error"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn the_leader_answers_only_new_calls_signed_with_the_cluster_secret_and_signs_its_answers() {
    let world = World::start(Options {
        policy: POLICY.into(),
        ..Options::default()
    })
    .await;
    let secret = crate::helpers::CLUSTER_SECRET.as_bytes();
    let sign = |body: &[u8]| signature(secret, "vcd-blockd call v2", body);
    let mut replies = ReplyQueue::open(&world).await;
    let now = chrono::Utc::now;

    let call = serde_json::to_vec(&replies.call("call-1", now())).unwrap();
    let (answer, body, signed) = replies.send(&world, &call, &sign(&call)).await;
    assert_eq!(
        answer,
        serde_json::json!({"id": "call-1", "answer": {"status": 200, "body": []}})
    );
    assert_eq!(
        signed,
        Some(signature(secret, "vcd-blockd answer v2", &body)),
        "the answer is signed with the cluster secret"
    );

    // The same call again: a replay.
    let (answer, _, _) = replies.send(&world, &call, &sign(&call)).await;
    assert_eq!(answer["answer"]["status"], 403, "{answer}");
    assert!(error(&answer).contains("replay"), "{answer}");

    // A call signed as before, with a key derived from the vCD password.
    let call = serde_json::to_vec(&replies.call("call-2", now())).unwrap();
    let (answer, _, signed) = replies
        .send(&world, &call, &signed_with_the_vcd_password(&call))
        .await;
    assert_eq!(answer["answer"]["status"], 403, "{answer}");
    assert!(error(&answer).contains("signature"), "{answer}");
    assert_eq!(
        signed, None,
        "a refusal of an unverified call proves nothing"
    );

    // A copy of a signed call, sent to be answered on another queue.
    let mut elsewhere = replies.call("call-3", now());
    elsewhere["reply_to"] = Value::from("amq.gen-elsewhere");
    let call = serde_json::to_vec(&elsewhere).unwrap();
    let (answer, _, _) = replies.send(&world, &call, &sign(&call)).await;
    assert_eq!(answer["answer"]["status"], 403, "{answer}");
    assert!(error(&answer).contains("reply queue"), "{answer}");

    // A call sent before this leader's term began, and one minutes old.
    let before = now() - chrono::TimeDelta::seconds(30);
    let call = serde_json::to_vec(&replies.call("call-4", before)).unwrap();
    let (answer, _, _) = replies.send(&world, &call, &sign(&call)).await;
    assert_eq!(answer["answer"]["status"], 503, "{answer}");
    assert!(
        error(&answer).contains("before this instance began to lead"),
        "{answer}"
    );
    let stale = now() - chrono::TimeDelta::minutes(5);
    let call = serde_json::to_vec(&replies.call("call-5", stale)).unwrap();
    let (answer, _, _) = replies.send(&world, &call, &sign(&call)).await;
    assert_eq!(answer["answer"]["status"], 403, "{answer}");
    assert!(error(&answer).contains("older"), "{answer}");
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_consumer_on_the_leader_queue_cannot_make_an_instance_obey_it_and_readyz_says_so()
{
    use futures_lite::StreamExt;
    use lapin::options::{
        BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions,
    };
    use lapin::types::{AMQPValue, FieldTable};

    let world = World::without_daemon(Options {
        policy: POLICY.into(),
        ..Options::default()
    })
    .await;
    // A broker user consumes the leader queue before any instance does, so RabbitMQ makes it
    // the single active consumer, and answers every call with a forged 200.
    let leader_queue = format!("{}.leader", world.queue);
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("classic".into()),
    );
    arguments.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
    world
        .channel
        .queue_declare(
            leader_queue.as_str().into(),
            QueueDeclareOptions::durable(),
            arguments,
        )
        .await
        .unwrap();
    let mut stolen = world
        .channel
        .basic_consume(
            leader_queue.as_str().into(),
            "foreign".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let channel = world.channel.clone();
    let forged = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = forged.clone();
    let forger = tokio::spawn(async move {
        while let Some(Ok(delivery)) = stolen.next().await {
            let properties = &delivery.properties;
            if let (Some(reply_to), Some(id)) = (properties.reply_to(), properties.correlation_id())
            {
                let body = serde_json::json!({
                    "id": id.as_str(),
                    "answer": {"status": 200, "body": {"id": "forged", "action": "resume"}},
                });
                channel
                    .basic_publish(
                        "".into(),
                        reply_to.as_str().into(),
                        BasicPublishOptions::default(),
                        &serde_json::to_vec(&body).unwrap(),
                        lapin::BasicProperties::default().with_correlation_id(id.clone()),
                    )
                    .await
                    .unwrap();
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            let _ = delivery.ack(BasicAckOptions::default()).await;
        }
    });

    let instance = Instance::start(&world).await;
    let held = world.create(deployment("hijacked")).await;
    let (status, answer) = instance
        .admin()
        .decide(&held.to_string(), "approve", serde_json::json!({}))
        .await;
    assert_ne!(status, 200, "a forged answer is not taken: {answer}");
    assert!(
        forged.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "the foreign consumer answered the instance's calls"
    );
    assert_eq!(instance.role().await.as_deref(), Some("standby"));
    let task = world.sim.task(held).unwrap();
    assert_eq!(task.status, "active", "nothing acted on the task");
    assert!(accepted(&task).is_empty(), "{task:?}");

    // Within a minute of hearing no signed leader, /readyz says so.
    let readyz = format!("{}/readyz", instance.base);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let reasons = loop {
        let response = http_client().get(&readyz).send().await.unwrap();
        if response.status() == 503 {
            let body: Value = response.json().await.unwrap();
            break body["reasons"].to_string();
        }
        assert!(tokio::time::Instant::now() < deadline, "/readyz stays 200");
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert!(reasons.contains("no leader heard"), "{reasons}");
    drop(instance);
    forger.abort();
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
