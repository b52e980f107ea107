//! Time moves held tasks, through a real RabbitMQ and vcd-sim: a freeze that ends and a
//! rule whose `until` passes let held tasks go on at that instant, with nobody acting and
//! nothing asked of vCD in between.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use vcd_sim::NewTask;

use crate::helpers::{Admin, Options, World, eventually, wait_until};

fn prod_deployment() -> NewTask {
    NewTask {
        operation: "vdcInstantiateVapp".into(),
        org: "prod-eu".into(),
        owner_name: "billing".into(),
        ..NewTask::default()
    }
}

fn rfc3339(at: chrono::DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Holds `id` as the only hold, then waits for vCD to resume it by the next rule and returns
/// how long after `at` the resume was seen; asserts that vCD heard nothing from the daemon
/// between the hold and `at` and that the task was still active just before `at`.
async fn resumed_after(world: &World, id: uuid::Uuid, at: chrono::DateTime<Utc>) -> f64 {
    let admin = Admin::new(world.admin_url());
    eventually("the task is held", || async {
        admin.holds().await.filter(|holds| holds.len() == 1)
    })
    .await;
    // The first keepalive follows the hold at once; let it land before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let calls_after_hold = world.sim.calls().len();
    let just_before = (at - Utc::now() - chrono::TimeDelta::milliseconds(300))
        .to_std()
        .expect("the hold came well before the instant of change");
    tokio::time::sleep(just_before).await;
    assert_eq!(
        world.sim.calls().len(),
        calls_after_hold,
        "nothing is asked of vCD while the task waits: no polling"
    );
    assert_eq!(world.sim.task(id).unwrap().status, "active");
    world.wait_for_status(id, "resumed").await;
    (Utc::now() - at).num_milliseconds() as f64 / 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_held_during_a_freeze_goes_on_by_the_next_rule_when_the_freeze_ends() {
    let start = Utc::now();
    let end = start + chrono::TimeDelta::seconds(20);
    let policy = format!(
        r#"
[defaults]
action = "abort"

[[window]]
name = "release freeze"
from = "{}"
until = "{}"

[[rule]]
name = "no production changes in a freeze"
org = "prod-*"
during = "release freeze"
action = "hold"
hold = {{ max = "1h", keepalive = "10m" }}

[[rule]]
name = "production deployments go on"
org = "prod-*"
action = "resume"
message = "Freeze over: {{operation}} goes on"
"#,
        rfc3339(start - chrono::TimeDelta::hours(1)),
        rfc3339(end)
    );
    let world = World::start(Options {
        policy,
        ..Options::default()
    })
    .await;
    let id = world.create(prod_deployment()).await;
    let late = resumed_after(&world, id, end).await;
    assert!(
        (0.0..2.0).contains(&late),
        "resumed {late} s after the freeze ended"
    );
    let view = world.sim.task(id).unwrap();
    assert_eq!(
        view.actions.last().unwrap().message,
        "Freeze over: vdcInstantiateVapp goes on"
    );
    // The metric follows the timeline's wake-up, which may come just after the resume.
    wait_until("window_open shows the freeze closed", || {
        world
            .daemon()
            .metrics
            .render()
            .contains("vcd_blockd_window_open{window=\"release freeze\"} 0")
    })
    .await;
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_whose_until_passes_lets_its_held_task_go_on() {
    let until = Utc::now() + chrono::TimeDelta::seconds(10);
    let policy = format!(
        r#"
[defaults]
action = "resume"

[[rule]]
name = "prod deployments wait for the audit (until it is over)"
org = "prod-*"
until = "{}"
action = "hold"
hold = {{ max = "1h", keepalive = "10m" }}
"#,
        rfc3339(until)
    );
    let world = World::start(Options {
        policy,
        ..Options::default()
    })
    .await;
    let id = world.create(prod_deployment()).await;
    let admin = Admin::new(world.admin_url());
    let holds = eventually("the task is held", || async {
        admin.holds().await.filter(|holds| holds.len() == 1)
    })
    .await;
    assert!(
        holds[0]["reason"].as_str().unwrap().starts_with("until "),
        "the hold says why: {holds:?}"
    );
    let late = resumed_after(&world, id, until).await;
    assert!((0.0..2.0).contains(&late), "resumed {late} s after until");
    world.finish().await;
}
