//! Quotas counted in vCD's task history, through a real RabbitMQ and vcd-sim: the count is one
//! `adminTask` query for a rule that matched in every other way, none for a policy without
//! quotas, and a count vCD refuses is an unknown fact that `on_unknown` decides.

use chrono::{TimeDelta, Utc};
use vcd_sim::{Faults, HistoryStatus, NewTask, PastTask};

use crate::helpers::{Admin, Options, World, eventually};

fn deployment(org: &str) -> NewTask {
    NewTask {
        operation: "vdcInstantiateVapp".into(),
        org: org.into(),
        user: "alice".into(),
        owner_name: "web".into(),
        ..NewTask::default()
    }
}

/// A task `minutes_ago` minutes old in the sim's task history.
fn past(operation: &str, org: &str, status: HistoryStatus, minutes_ago: i64) -> PastTask {
    let started = Utc::now() - TimeDelta::minutes(minutes_ago);
    PastTask {
        id: uuid::Uuid::new_v4(),
        operation: operation.into(),
        org: org.into(),
        user: "bob".into(),
        object: "older".into(),
        status,
        started,
        ended: (status != HistoryStatus::Running).then_some(started + TimeDelta::minutes(1)),
    }
}

/// The quota queries the sim received whose filter names `org`.
fn count_queries(world: &World, org: &str) -> Vec<String> {
    let org = format!("orgName%3D%3D{org}");
    let calls = world.sim.calls().into_iter().map(|call| call.path);
    calls
        .filter(|path| path.starts_with("/api/query?type=adminTask") && path.contains(&org))
        .collect()
}

fn all_count_queries(world: &World) -> usize {
    let calls = world.sim.calls().into_iter();
    calls
        .filter(|call| call.path.contains("type=adminTask"))
        .count()
}

/// The value of a counter series such as `quota_queries_total{outcome="ok"}`.
fn counter(world: &World, series: &str) -> f64 {
    let metrics = world.daemon().metrics.render();
    let line = format!("vcd_blockd_{series} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&line)?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
}

const QUOTA_POLICY: &str = r#"
[defaults]
action = "resume"
message = "Go ahead"

[[rule]]
name = "at most 3 deployments per org and hour"
operation = ["vdcInstantiateVapp", "vdcComposeVapp"]
quota = { max = 3, per = "1h", by = "org" }
action = "hold"
hold = { max = "1h", keepalive = "10m" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_holds_an_orgs_fourth_deployment_but_not_another_orgs_first() {
    let world = World::start(Options {
        policy: QUOTA_POLICY.into(),
        ..Options::default()
    })
    .await;
    world.sim.load_history(vec![
        past("vdcInstantiateVapp", "acme", HistoryStatus::Success, 50),
        past("vdcComposeVapp", "acme", HistoryStatus::Success, 20),
        past("vdcInstantiateVapp", "acme", HistoryStatus::Running, 5),
        // Not counted: too old, failed, aborted, another operation, another org.
        past("vdcInstantiateVapp", "acme", HistoryStatus::Success, 70),
        past("vdcInstantiateVapp", "acme", HistoryStatus::Error, 10),
        past("vdcInstantiateVapp", "acme", HistoryStatus::Aborted, 10),
        past("vdcDeleteVapp", "acme", HistoryStatus::Success, 10),
        past("vdcInstantiateVapp", "globex", HistoryStatus::Canceled, 10),
    ]);

    let fourth = world.create(deployment("acme")).await;
    let admin = Admin::new(world.admin_url());
    let holds = eventually("the fourth deployment is held", || async {
        admin.holds().await.filter(|holds| holds.len() == 1)
    })
    .await;
    assert_eq!(holds[0]["id"], fourth.to_string());
    assert_eq!(
        holds[0]["reason"],
        "4 of 3 vdcInstantiateVapp or vdcComposeVapp tasks in the last 1h by org \"acme\"",
        "the hold says why: {holds:?}"
    );
    let queries = count_queries(&world, "acme");
    assert_eq!(queries.len(), 1, "one query counted: {queries:?}");
    assert!(
        queries[0].contains("pageSize=1"),
        "a count reads one record: {queries:?}"
    );

    let first = world.create(deployment("globex")).await;
    let view = world.wait_for_status(first, "resumed").await;
    assert_eq!(view.actions.last().unwrap().message, "Go ahead");
    assert_eq!(count_queries(&world, "globex").len(), 1);
    assert_eq!(world.sim.task(fourth).unwrap().status, "active");
    assert_eq!(counter(&world, "quota_queries_total{outcome=\"ok\"}"), 2.0);
    assert_eq!(
        counter(&world, "quota_queries_total{outcome=\"error\"}"),
        0.0
    );
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_without_quotas_sends_no_query() {
    let world = World::start(Options {
        policy: r#"
[defaults]
action = "abort"

[[rule]]
name = "deployments go on"
operation = "vdcInstantiateVapp"
action = "resume"
"#
        .into(),
        ..Options::default()
    })
    .await;
    let id = world.create(deployment("acme")).await;
    world.wait_for_status(id, "resumed").await;
    assert_eq!(all_count_queries(&world), 0, "{:#?}", world.sim.calls());
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_rule_is_not_counted_when_the_rest_of_it_does_not_match() {
    let world = World::start(Options {
        policy: QUOTA_POLICY.into(),
        ..Options::default()
    })
    .await;
    let id = world
        .create(NewTask {
            operation: "vdcUploadMedia".into(),
            owner_type: "media".into(),
            ..NewTask::default()
        })
        .await;
    world.wait_for_status(id, "resumed").await;
    assert_eq!(all_count_queries(&world), 0, "{:#?}", world.sim.calls());
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_count_vcd_refuses_is_unknown_and_on_unknown_decides() {
    let world = World::start(Options {
        policy: r#"
[defaults]
action = "resume"

[[rule]]
name = "unknown counts are refused"
operation = "vdcInstantiateVapp"
quota = { max = 100, per = "24h", by = "user" }
on_unknown = "match"
action = "abort"
message = "Cannot count your deployments now; try later"

[[rule]]
name = "a quota that cannot be counted does not match"
operation = "vdcComposeVapp"
quota = { max = 0, per = "24h", by = "cloud" }
action = "fail"
"#
        .into(),
        ..Options::default()
    })
    .await;
    world.sim.set_faults(Faults {
        refuse_query: true,
        ..Faults::default()
    });
    let matched = world.create(deployment("acme")).await;
    let view = world.wait_for_status(matched, "aborted").await;
    assert_eq!(
        view.actions.last().unwrap().message,
        "Cannot count your deployments now; try later"
    );
    let passed_over = world
        .create(NewTask {
            operation: "vdcComposeVapp".into(),
            ..deployment("acme")
        })
        .await;
    world.wait_for_status(passed_over, "resumed").await;
    assert_eq!(all_count_queries(&world), 2);
    assert_eq!(
        counter(&world, "quota_queries_total{outcome=\"error\"}"),
        2.0
    );
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_with_a_live_task_counts_in_vcd() {
    // No daemon: nothing but `explain` talks to the sim.
    let world = World::without_daemon(Options {
        policy: QUOTA_POLICY.into(),
        ..Options::default()
    })
    .await;
    world.sim.load_history(vec![
        past("vdcInstantiateVapp", "acme", HistoryStatus::Success, 30),
        past("vdcComposeVapp", "acme", HistoryStatus::Success, 10),
        past("vdcComposeVapp", "acme", HistoryStatus::Running, 1),
    ]);
    let id = world.create(deployment("acme")).await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vcd-blockd"))
        .env_remove("VCD_BLOCKD_CONFIG")
        .args(["explain", "-c", world.config_path().to_str().unwrap()])
        .args(["--task-id", &id.to_string()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    for line in [
        "decision: hold (max 1h, fallback abort, keepalive 10m)",
        "reason:   4 of 3 vdcInstantiateVapp or vdcComposeVapp tasks in the last 1h by org \"acme\"",
        "quota:    \"at most 3 deployments per org and hour\" { max = 3, per = \"1h\", by = \"org\" }: counted in vCD: 4 since ",
    ] {
        assert!(stdout.contains(line), "{line:?} in\n{stdout}");
    }
    assert_eq!(count_queries(&world, "acme").len(), 1);
    assert_eq!(
        world.sim.task(id).unwrap().status,
        "active",
        "explain only reads"
    );
    world.finish().await;
}
