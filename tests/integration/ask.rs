//! Decision services (`[[ask]]`) through a real RabbitMQ and vcd-sim, asked on loopback by a
//! stand-in that answers as each test scripts it: the service's decision is carried out with
//! its message; `hold` keeps the task alive and asks again; every kind of failure goes the way
//! the rule's `on_error` says; requests are signed; OPA's data API is spoken; an approver
//! still decides a held ask; a slow service delays no other task; its URL is never logged.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;
use vcd_sim::{NewTask, TaskView};

use crate::decision_service::{DecisionService, OPA_PATH, Reply};
use crate::helpers::{
    Admin, AskService, Options, Webhook, WebhookReceiver, World, abort_directly, captured_logs,
    counter, eventually, wait_until,
};

/// Deployments ask the CMDB, whose errors each rule below takes its own way (by owner name);
/// uploads resume without asking.
const POLICY: &str = r#"
[defaults]
action = "abort"

[[rule]]
name = "uploads resume"
operation = "vdcUploadMedia"
action = "resume"

[[rule]]
name = "errors resume"
operation = "vdcInstantiateVapp"
owner_name = "resume-*"
action = "ask"
ask = { service = "cmdb", on_error = "resume", recheck = "1s" }
hold = { max = "1h" }
message = "CMDB unavailable, resumed by {rule}"

[[rule]]
name = "errors abort"
operation = "vdcInstantiateVapp"
owner_name = "abort-*"
action = "ask"
ask = { service = "cmdb", on_error = "abort", recheck = "1s" }
hold = { max = "1h" }
message = "CMDB unavailable, aborted by {rule}"

[[rule]]
name = "errors fail"
operation = "vdcInstantiateVapp"
owner_name = "fail-*"
action = "ask"
ask = { service = "cmdb", on_error = "fail", recheck = "1s" }
hold = { max = "1h" }
message = "CMDB unavailable, failed by {rule}"

[[rule]]
name = "deployments ask the CMDB"
operation = "vdcInstantiateVapp"
action = "ask"
ask = { service = "cmdb", recheck = "1s" }
hold = { max = "1h", keepalive = "10s" }
message = "Decided by the CMDB check"
"#;

fn cmdb(service: &DecisionService) -> AskService {
    AskService {
        name: "cmdb",
        url: service.url.clone(),
        format: "vcd-blockd",
        timeout: "2s",
        hmac_secret: None,
    }
}

fn options(asks: Vec<AskService>) -> Options {
    Options {
        policy: POLICY.into(),
        asks,
        ..Options::default()
    }
}

fn deployment(owner_name: &str) -> NewTask {
    NewTask {
        operation: "vdcInstantiateVapp".into(),
        owner_name: owner_name.into(),
        ..NewTask::default()
    }
}

fn upload(owner_name: &str) -> NewTask {
    NewTask {
        operation: "vdcUploadMedia".into(),
        owner_type: "media".into(),
        owner_name: owner_name.into(),
        ..NewTask::default()
    }
}

/// The owner name the daemon sent about the task.
fn owner(body: &Value) -> &str {
    body["owner"]["name"].as_str().unwrap_or_default()
}

/// The message of the final action vCD accepted for the task.
fn final_message(view: &TaskView) -> String {
    view.actions
        .iter()
        .rev()
        .find(|a| a.accepted && a.action != "updateProgress")
        .map(|a| a.message.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_resumes_aborts_and_fails_with_its_message() {
    let service = DecisionService::start(|body| match owner(body) {
        "billing" => Reply::Decide("resume", Some("CI billing is in the CMDB")),
        "unknown" => Reply::Decide("abort", Some("no CMDB entry for unknown")),
        _ => Reply::Decide("fail", None),
    })
    .await;
    let world = World::start(options(vec![cmdb(&service)])).await;
    let resumed = world.create(deployment("billing")).await;
    let aborted = world.create(deployment("unknown")).await;
    let failed = world.create(deployment("legacy")).await;

    let view = world.wait_for_status(resumed, "resumed").await;
    assert_eq!(final_message(&view), "CI billing is in the CMDB");
    let view = world.wait_for_status(aborted, "aborted").await;
    assert_eq!(final_message(&view), "no CMDB entry for unknown");
    let view = world.wait_for_status(failed, "failed").await;
    assert_eq!(
        final_message(&view),
        "Decided by the CMDB check",
        "without a message from the service, the rule's message"
    );

    let asked = service.requests_about(resumed);
    assert_eq!(asked.len(), 1, "asked once: {asked:?}");
    let body = &asked[0].body;
    let created = world.sim.task(resumed).unwrap().created;
    assert_eq!(body["operation"], "vdcInstantiateVapp");
    assert_eq!(body["org"], "acme");
    assert_eq!(body["user"], "alice");
    assert_eq!(body["owner"]["type"], "vApp");
    assert_eq!(body["owner"]["name"], "billing");
    assert_eq!(body["facts"]["owner_name"], "billing");
    assert_eq!(body["rule"], "deployments ask the CMDB");
    assert_eq!(body["attempt"], 1);
    let sent: chrono::DateTime<chrono::Utc> = body["created"].as_str().unwrap().parse().unwrap();
    assert_eq!(sent.timestamp(), created.timestamp());
    let deadline: chrono::DateTime<chrono::Utc> =
        body["deadline"].as_str().unwrap().parse().unwrap();
    assert_eq!((deadline - sent).num_seconds(), 3600, "created + hold.max");

    let metrics = &world.daemon().metrics;
    for outcome in ["resume", "abort", "fail"] {
        let series = format!("ask_requests_total{{service=\"cmdb\",outcome=\"{outcome}\"}}");
        assert_eq!(counter(metrics, &series), 1, "{series}");
    }
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_answer_keeps_the_task_alive_until_a_later_ask_resumes_it() {
    // Hold for the first two asks, resume on the third.
    let service = DecisionService::start(|body| {
        if body["attempt"].as_u64().unwrap() < 3 {
            Reply::Decide("hold", Some("change not approved yet"))
        } else {
            Reply::Decide("resume", Some("change CHG0042 approved"))
        }
    })
    .await;
    let world = World::start(options(vec![cmdb(&service)])).await;
    let id = world.create(deployment("billing")).await;

    let view = world.wait_for_status(id, "resumed").await;
    assert_eq!(final_message(&view), "change CHG0042 approved");
    let attempts: Vec<u64> = service
        .requests_about(id)
        .iter()
        .map(|r| r.body["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
    let actions: Vec<&str> = view.actions.iter().map(|a| a.action.as_str()).collect();
    let resume = actions.iter().position(|a| *a == "resume").unwrap();
    assert!(
        actions[..resume].contains(&"updateProgress"),
        "kept alive while the service said hold: {actions:?}"
    );
    let series = "ask_requests_total{service=\"cmdb\",outcome=\"hold\"}";
    assert_eq!(counter(&world.daemon().metrics, series), 2);
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_ask_that_vcd_decides_itself_is_announced_gone() {
    // The service holds until the task was aborted in vCD, then answers resume, too late.
    let aborted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let answer = aborted.clone();
    let service = DecisionService::start(move |_| {
        if answer.load(std::sync::atomic::Ordering::SeqCst) {
            Reply::Decide("resume", Some("change CHG0042 approved"))
        } else {
            Reply::Decide("hold", Some("change not approved yet"))
        }
    })
    .await;
    let receiver = WebhookReceiver::start().await;
    let world = World::start(Options {
        webhooks: vec![Webhook {
            url: receiver.url.clone(),
            format: "json",
            events: Some(&["held", "gone", "approved"]),
        }],
        ..options(vec![cmdb(&service)])
    })
    .await;
    let id = world.create(deployment("billing")).await;
    receiver.wait_for(1, |body| body["event"] == "held").await;

    abort_directly(&world, id).await;
    aborted.store(true, std::sync::atomic::Ordering::SeqCst);
    let gone = receiver.wait_for(1, |body| body["event"] == "gone").await;
    assert_eq!(gone[0]["task_id"], id.to_string());
    assert_eq!(world.sim.task(id).unwrap().status, "aborted");
    assert!(
        !receiver
            .bodies()
            .iter()
            .any(|body| body["event"] == "approved"),
        "{:?}",
        receiver.bodies()
    );
    world.finish().await;
}

/// The failures the stand-in produces, each named in the task's owner name.
fn failure(name: &str) -> Reply {
    match name {
        "timeout" => Reply::Late(
            Duration::from_secs(4),
            Box::new(Reply::Decide("resume", None)),
        ),
        "500" => Reply::Status(500),
        "redirect" => Reply::Redirect,
        "huge" => Reply::Huge,
        _ => Reply::Garbage,
    }
}

const FAILURES: [&str; 5] = ["timeout", "500", "redirect", "huge", "garbage"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_failure_goes_the_way_on_error_says() {
    let service =
        DecisionService::start(|body| failure(owner(body).rsplit('-').next().unwrap())).await;
    let world = World::start(options(vec![cmdb(&service)])).await;
    // (owner name prefix, the status it ends in; None: held and asked again)
    let policies = [
        ("resume", Some("resumed")),
        ("abort", Some("aborted")),
        ("fail", Some("failed")),
        ("hold", None),
    ];
    let mut tasks = Vec::new();
    for (prefix, end) in policies {
        for failure in FAILURES {
            let name = format!("{prefix}-{failure}");
            tasks.push((world.create(deployment(&name)).await, name, end));
        }
    }
    for (id, name, end) in &tasks {
        match end {
            Some(status) => {
                let view = world.wait_for_status(*id, status).await;
                let rule = format!("errors {}", name.split('-').next().unwrap());
                assert_eq!(
                    final_message(&view),
                    format!("CMDB unavailable, {status} by {rule}"),
                    "{name}"
                );
                assert_eq!(service.requests_about(*id).len(), 1, "{name} asked once");
            }
            None => {
                // on_error = "hold": still waiting, asked again every recheck.
                eventually(&format!("{name} is asked again"), || {
                    std::future::ready((service.requests_about(*id).len() >= 2).then_some(()))
                })
                .await;
                let view = world.sim.task(*id).unwrap();
                assert_eq!(view.status, "active", "{name}");
                assert!(
                    view.actions.iter().any(|a| a.action == "updateProgress"),
                    "{name} is kept alive"
                );
            }
        }
    }
    let logs = captured_logs();
    let audited = |id: &Uuid, why: &str| {
        logs.lines()
            .any(|line| line.contains(&id.to_string()) && line.contains(why))
    };
    let (server_error, _, _) = &tasks[1];
    assert!(audited(server_error, "the service answered 500"), "{logs}");
    let (redirect, _, _) = &tasks[2];
    assert!(audited(redirect, "a redirect, which is not followed"));
    let (huge, _, _) = &tasks[3];
    assert!(audited(huge, "the answer is over 64 KiB"));
    assert!(
        service
            .requests()
            .iter()
            .all(|r| !r.path.starts_with("/redirected")),
        "the redirect was not followed"
    );
    let errors = "ask_requests_total{service=\"cmdb\",outcome=\"error\"}";
    assert!(counter(&world.daemon().metrics, errors) >= 20);
    assert!(
        !logs.contains(&service.secret),
        "the service's URL must never be logged"
    );
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_signed_with_the_services_key() {
    let key = "hmac-key-for-the-cmdb";
    let service = DecisionService::signed(key, |_| Reply::Decide("resume", None)).await;
    let world = World::start(options(vec![AskService {
        hmac_secret: Some(key.into()),
        ..cmdb(&service)
    }]))
    .await;
    let id = world.create(deployment("billing")).await;
    world.wait_for_status(id, "resumed").await;
    let asked = service.requests_about(id);
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].signed, Some(true), "the signature verifies");
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opa_data_api_decides_with_an_object_or_a_bare_decision() {
    let service = DecisionService::opa(|input| match owner(input) {
        "billing" => Reply::Bare("resume"),
        _ => Reply::Decide("abort", Some("denied by OPA")),
    })
    .await;
    let world = World::start(options(vec![AskService {
        format: "opa",
        ..cmdb(&service)
    }]))
    .await;
    let resumed = world.create(deployment("billing")).await;
    let aborted = world.create(deployment("unknown")).await;

    let view = world.wait_for_status(resumed, "resumed").await;
    assert_eq!(final_message(&view), "Decided by the CMDB check");
    let view = world.wait_for_status(aborted, "aborted").await;
    assert_eq!(final_message(&view), "denied by OPA");
    let asked = service.requests_about(resumed);
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].path, OPA_PATH);
    assert_eq!(asked[0].body["operation"], "vdcInstantiateVapp");
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_decides_a_task_the_service_holds() {
    let service = DecisionService::start(|_| Reply::Decide("hold", None)).await;
    let world = World::start(options(vec![cmdb(&service)])).await;
    let admin = Admin::new(world.admin_url());
    let id = world.create(deployment("billing")).await;
    eventually("the service answered hold twice", || {
        std::future::ready((service.requests_about(id).len() >= 2).then_some(()))
    })
    .await;
    let listed = admin.holds().await.unwrap();
    assert!(
        listed.iter().any(|h| h["id"] == id.to_string()),
        "{listed:?}"
    );

    let (status, _) = admin
        .decide(
            &id.to_string(),
            "approve",
            json!({"message": "approved by hand"}),
        )
        .await;
    assert_eq!(status, 200);
    let view = world.wait_for_status(id, "resumed").await;
    assert_eq!(final_message(&view), "approved by hand");
    wait_until("the task leaves the hold registry", || {
        !world
            .daemon()
            .engine
            .holds
            .contains(vcd_blockd::TaskId::from_uuid(id))
    })
    .await;
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_service_delays_no_task_that_does_not_ask_it() {
    let service = DecisionService::start(|_| {
        Reply::Late(
            Duration::from_secs(5),
            Box::new(Reply::Decide("resume", None)),
        )
    })
    .await;
    let world = World::start(options(vec![AskService {
        timeout: "30s",
        ..cmdb(&service)
    }]))
    .await;
    let asking = world.create(deployment("billing")).await;
    eventually("the slow service was asked", || {
        std::future::ready((!service.requests_about(asking).is_empty()).then_some(()))
    })
    .await;
    let mut uploads = Vec::new();
    for n in 0..5 {
        uploads.push(world.create(upload(&format!("iso-{n}"))).await);
    }
    for id in &uploads {
        world.wait_for_status(*id, "resumed").await;
    }
    assert_eq!(
        world.sim.task(asking).unwrap().status,
        "active",
        "the uploads were decided while the slow ask was still outstanding"
    );
    world.wait_for_status(asking, "resumed").await;
    assert!(!captured_logs().contains(&service.secret));
    world.finish().await;
}

fn run(args: &[&str]) -> (Option<i32>, Vec<String>, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vcd-blockd"))
        .env_remove("VCD_BLOCKD_CONFIG")
        .args(args)
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), lines, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_calls_the_service_only_with_ask_and_check_knows_the_services() {
    let service =
        DecisionService::start(|_| Reply::Decide("resume", Some("listed in the CMDB"))).await;
    // No daemon: nothing but the commands talks to the sim and the service.
    let world = World::without_daemon(options(vec![cmdb(&service)])).await;
    let id = world.create(deployment("billing")).await;
    let config = world.config_path();
    let config = config.to_str().unwrap();
    let id_text = id.to_string();

    let (code, lines, stderr) = run(&["explain", "-c", config, "--task-id", &id_text]);
    assert_eq!(code, Some(0), "{lines:#?}{stderr}");
    assert!(
        lines[..].contains(
            &"ask:      service \"cmdb\" was not asked; explain --ask asks it".to_owned()
        )
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("decision: ask \"cmdb\"")),
        "{lines:#?}"
    );
    assert!(service.requests().is_empty(), "not called without --ask");

    let (code, lines, stderr) = run(&["explain", "-c", config, "--task-id", &id_text, "--ask"]);
    assert_eq!(code, Some(0), "{lines:#?}{stderr}");
    assert!(lines.contains(&"decision: resume".to_owned()), "{lines:#?}");
    assert!(lines.contains(
        &"ask:      service \"cmdb\" answers resume (asked with --ask, message \"listed in the CMDB\")"
            .to_owned()
    ));
    let asked = service.requests_about(id);
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].body["attempt"], 1);
    assert!(
        world
            .sim
            .calls()
            .iter()
            .all(|c| !c.path.contains("/action/")),
        "explain never acts"
    );

    // Offline, the answer is a fact.
    let policy = world.config_path().with_file_name("policy.toml");
    let policy = policy.to_str().unwrap();
    let (code, lines, _) = run(&[
        "explain",
        policy,
        "--fact",
        "operation=vdcInstantiateVapp",
        "--fact",
        "ask=hold",
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(
        lines.iter().find(|l| l.starts_with("decision:")).unwrap(),
        "decision: hold (max 1h, fallback abort, keepalive 10s)"
    );
    assert_eq!(
        service.requests().len(),
        1,
        "the offline explain called nobody"
    );

    // check -c refuses a service the config lacks; the policy alone cannot know.
    let other = world.config_path().with_file_name("other.toml");
    std::fs::write(
        &other,
        POLICY.replace(
            "service = \"cmdb\", recheck",
            "service = \"billing\", recheck",
        ),
    )
    .unwrap();
    let other = other.to_str().unwrap();
    let (code, _, stderr) = run(&["check", "-c", config, other]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "`ask.service` names \"billing\", but the config has no [[ask]] of that name"
        ),
        "{stderr}"
    );
    let (code, lines, stderr) = run(&["check", other]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("names in ask.service were not checked")),
        "{lines:#?}"
    );
    world.finish().await;
}
