//! End to end through a real RabbitMQ and vcd-sim: notifications become resume, abort or fail
//! in vCD exactly as the policy says, with the rendered message reaching vCD.

use crate::helpers::{Options, World, wait_until};
use vcd_sim::NewTask;

const POLICY: &str = r#"
[defaults]
action = "abort"
message = "No rule allows {operation} for {org}"

[[rule]]
name = "media uploads are fine"
operation = ["vdcUploadMedia", "vdcCopyMedia"]
action = "resume"
message = "Upload of {owner_name} approved by rule {rule}"

[[rule]]
name = "no deletes by interns"
user = { regex = "^intern-" }
operation = "vdcDeleteVapp"
action = "fail"
message = "{user} may not delete {owner_name}"

[[rule]]
name = "leave snapshots to vCD"
operation = "vdcCreateSnapshot"
action = "ignore"
"#;

fn task(operation: &str, user: &str, owner_name: &str) -> NewTask {
    NewTask {
        operation: operation.into(),
        org: "acme".into(),
        user: user.into(),
        owner_name: owner_name.into(),
        ..NewTask::default()
    }
}

fn options(format: &'static str) -> Options {
    Options {
        format,
        policy: POLICY.into(),
        ..Options::default()
    }
}

/// The last action vCD accepted for a task, as (action, message).
fn last_accepted(view: &vcd_sim::TaskView) -> (String, String) {
    let record = view
        .actions
        .iter()
        .rev()
        .find(|a| a.accepted)
        .expect("an accepted action");
    (record.action.clone(), record.message.clone())
}

async fn decides_as_the_policy_says(format: &'static str) {
    let world = World::start(options(format)).await;
    let upload = world
        .create(task("vdcUploadMedia", "alice", "installer.iso"))
        .await;
    let delete = world
        .create(task("vdcDeleteVapp", "intern-bob", "web-frontend"))
        .await;
    let deploy = world
        .create(task("vdcInstantiateVapp", "alice", "db"))
        .await;

    let view = world.wait_for_status(upload, "resumed").await;
    assert_eq!(
        last_accepted(&view),
        (
            "resume".into(),
            "Upload of installer.iso approved by rule media uploads are fine".into()
        )
    );
    let view = world.wait_for_status(delete, "failed").await;
    assert_eq!(
        last_accepted(&view),
        (
            "fail".into(),
            "intern-bob may not delete web-frontend".into()
        )
    );
    let view = world.wait_for_status(deploy, "aborted").await;
    assert_eq!(
        last_accepted(&view),
        (
            "abort".into(),
            "No rule allows vdcInstantiateVapp for acme".into()
        )
    );
    for id in [upload, delete, deploy] {
        assert_eq!(
            world.action_calls(id).len(),
            1,
            "exactly one action for {id}"
        );
    }
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xml_notifications_are_decided_as_the_policy_says() {
    decides_as_the_policy_says("xml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_notifications_are_decided_as_the_policy_says() {
    decides_as_the_policy_says("json").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_leaves_the_task_to_vcd() {
    let world = World::start(options("xml")).await;
    let snapshot = world.create(task("vdcCreateSnapshot", "alice", "db")).await;
    let marker = world
        .create(task("vdcUploadMedia", "alice", "after.iso"))
        .await;
    // Deliveries are handled concurrently; wait for the ignore to be counted too.
    world.wait_for_status(marker, "resumed").await;
    wait_until("the ignored task is counted", || {
        world.daemon().metrics.notifications_with("ignored") == 1
    })
    .await;
    assert_eq!(world.sim.task(snapshot).unwrap().status, "active");
    assert!(world.action_calls(snapshot).is_empty());
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_mode_decides_but_never_acts() {
    let world = World::start(Options {
        mode: "dry-run",
        ..options("xml")
    })
    .await;
    let upload = world.create(task("vdcUploadMedia", "alice", "a.iso")).await;
    let delete = world
        .create(task("vdcDeleteVapp", "intern-bob", "web"))
        .await;
    wait_until("both decisions are logged", || {
        world.daemon().metrics.notifications_with("dry_run") == 2
    })
    .await;
    for id in [upload, delete] {
        assert_eq!(world.sim.task(id).unwrap().status, "active");
        assert!(world.action_calls(id).is_empty());
    }
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_policy_decides_the_demo_tasks() {
    let world = World::start(Options::default()).await;
    let upload = world
        .create(task("vdcUploadMedia", "alice", "installer.iso"))
        .await;
    let delete = world
        .create(task("vdcDeleteVapp", "intern-carol", "web"))
        .await;
    world.wait_for_status(upload, "resumed").await;
    world.wait_for_status(delete, "failed").await;
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_say_which_format_they_are_in() {
    let world = World::start(Options::default()).await;
    let response = crate::helpers::http_client()
        .get(format!("http://{}/metrics", world.daemon().http_address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let body = response.text().await.unwrap();
    assert!(
        body.ends_with("# EOF\n"),
        "an OpenMetrics body ends with # EOF"
    );
    assert!(
        body.contains("# TYPE vcd_blockd_holds_active gauge"),
        "{body}"
    );
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        body.contains(&format!(
            "vcd_blockd_build_info{{version=\"{version}\",mode=\"amqp\"}} 1"
        )),
        "{body}"
    );
    let loaded: i64 = body
        .lines()
        .find_map(|line| {
            line.strip_prefix("vcd_blockd_policy_last_reload_success_timestamp_seconds ")
        })
        .expect("the policy load time is exported")
        .trim()
        .parse()
        .unwrap();
    let age = chrono::Utc::now().timestamp() - loaded;
    assert!((0..600).contains(&age), "loaded {age} s ago");

    // What a scraper makes of it: a Prometheus text-format parser reads every sample.
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|line| Ok(line.to_owned())))
        .expect("a Prometheus parser reads /metrics");
    let build = scrape
        .samples
        .iter()
        .find(|sample| sample.metric == "vcd_blockd_build_info")
        .expect("build_info is a sample");
    assert_eq!(build.labels.get("version"), Some(version));
    assert!(
        scrape
            .samples
            .iter()
            .any(|sample| sample.metric == "vcd_blockd_vcd_requests_total"),
        "counters keep their _total samples"
    );
    let resident = scrape
        .samples
        .iter()
        .find(|sample| sample.metric == "process_resident_memory_bytes")
        .expect("the standard process metrics are there");
    assert!(
        matches!(resident.value, prometheus_parse::Value::Gauge(bytes) if bytes > 0.0),
        "{resident:?}"
    );
    assert!(
        scrape
            .samples
            .iter()
            .any(|sample| sample.metric == "process_cpu_seconds_total"),
        "{body}"
    );
    world.finish().await;
}
