//! Poll mode: no `[amqp]` section, no notifications. The daemon finds blocking tasks by
//! listing them every `reconcile.interval`, and decides, holds and keeps them alive as with a
//! broker; it is ready without one.

use std::time::Duration;

use serde_json::Value;
use vcd_sim::NewTask;

use crate::helpers::{Admin, HOLD_DEPLOYMENTS, Options, World, eventually, http_client};

#[tokio::test]
async fn without_a_broker_tasks_are_found_by_listing_and_decided_held_and_kept_alive() {
    let world = World::start(Options {
        policy: HOLD_DEPLOYMENTS.into(),
        broker: false,
        reconcile_interval: "1s",
        // vCD gives up after 6 s unless somebody keeps the task alive.
        task_timeout: Duration::from_secs(6),
        extend_by: "6s",
        ..Options::default()
    })
    .await;
    assert!(
        world.settings.amqp.is_none(),
        "no [amqp] section: poll mode"
    );
    let readyz = format!("http://{}/readyz", world.daemon().http_address);
    let ready: Value = eventually("ready without a broker", || async {
        let response = http_client().get(&readyz).send().await.ok()?;
        (response.status() == 200).then_some(())?;
        response.json().await.ok()
    })
    .await;
    assert_eq!(ready, serde_json::json!({"ready": true, "role": "leader"}));

    let upload = world
        .create(NewTask {
            operation: "vdcUploadMedia".into(),
            owner_type: "media".into(),
            ..NewTask::default()
        })
        .await;
    let deployment = world.create(NewTask::default()).await;
    let resumed = world.wait_for_status(upload, "resumed").await;
    assert_eq!(resumed.actions.len(), 1, "{:?}", resumed.actions);

    let admin = Admin::new(world.admin_url());
    eventually("the deployment is held", || async {
        admin.holds().await.filter(|holds| holds.len() == 1)
    })
    .await;
    // Kept alive past vCD's 6 s timeout.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let view = world.sim.task(deployment).unwrap();
    assert_eq!(view.status, "active", "{:?}", view.actions);
    assert!(
        view.actions
            .iter()
            .filter(|a| a.action == "updateProgress")
            .count()
            >= 2,
        "{:?}",
        view.actions
    );
    let (status, _) = admin
        .decide(&deployment.to_string(), "approve", serde_json::json!({}))
        .await;
    assert_eq!(status, 200);
    world.wait_for_status(deployment, "resumed").await;
    world.finish().await;
}

#[tokio::test]
async fn in_poll_mode_readiness_follows_the_last_listing() {
    let world = World::start(Options {
        broker: false,
        reconcile_interval: "1s",
        ..Options::default()
    })
    .await;
    let readyz = format!("http://{}/readyz", world.daemon().http_address);
    let status = || async {
        http_client()
            .get(&readyz)
            .send()
            .await
            .ok()
            .map(|r| r.status())
    };
    eventually("ready", || async { (status().await? == 200).then_some(()) }).await;
    let metrics = world.daemon().metrics.render();
    assert!(
        metrics.contains(&format!(
            "vcd_blockd_build_info{{version=\"{}\",mode=\"poll\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "alerts tell poll mode from AMQP by build_info: {metrics}"
    );
    world.sim.set_faults(vcd_sim::Faults {
        error_rate_5xx: 1.0,
        ..vcd_sim::Faults::default()
    });
    let body: Value = eventually("not ready while listing fails", || async {
        let response = http_client().get(&readyz).send().await.ok()?;
        (response.status() == 503).then_some(())?;
        response.json().await.ok()
    })
    .await;
    let reasons = body["reasons"].as_array().unwrap();
    assert!(
        reasons.contains(&Value::from(
            "the last listing of vCD's blocking tasks failed (poll mode)"
        )),
        "{body}"
    );
    world.sim.set_faults(vcd_sim::Faults::default());
    eventually("ready again", || async {
        (status().await? == 200).then_some(())
    })
    .await;
    world.finish().await;
}

/// The sim's calls to the query service and to the `blockingTasks/` document.
fn listings(world: &World) -> (Vec<String>, usize) {
    let calls = world.sim.calls();
    let queries = calls
        .iter()
        .filter(|c| c.path.starts_with("/api/query"))
        .map(|c| c.path.clone())
        .collect();
    let documents = calls
        .iter()
        .filter(|c| c.path.starts_with("/api/admin/extension/blockingTasks"))
        .count();
    (queries, documents)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_mode_pages_through_the_query_service_and_decides_every_task() {
    let options = Options {
        policy: HOLD_DEPLOYMENTS.into(),
        broker: false,
        reconcile_interval: "1s",
        ..Options::default()
    };
    let world = World::without_daemon(options).await;
    // More than two pages of 128.
    let mut ids = Vec::new();
    for n in 0..300 {
        ids.push(
            world
                .create(NewTask {
                    operation: "vdcUploadMedia".into(),
                    owner_type: "media".into(),
                    owner_name: format!("iso-{n}"),
                    ..NewTask::default()
                })
                .await,
        );
    }
    let world = world.with_daemon().await;
    for id in &ids {
        world.wait_for_status(*id, "resumed").await;
    }
    let (queries, documents) = listings(&world);
    for page in 1..=3 {
        assert!(
            queries
                .iter()
                .any(|q| q.contains("type=blockingTask") && q.contains(&format!("&page={page}&"))),
            "page {page} was read: {queries:?}"
        );
    }
    assert_eq!(documents, 0, "the one big document was not needed");
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_vcd_refuses_the_query_the_task_list_document_is_read_instead() {
    let world = World::without_daemon(Options {
        policy: HOLD_DEPLOYMENTS.into(),
        broker: false,
        reconcile_interval: "1s",
        ..Options::default()
    })
    .await;
    world.sim.set_faults(vcd_sim::Faults {
        refuse_query: true,
        ..vcd_sim::Faults::default()
    });
    let id = world
        .create(NewTask {
            operation: "vdcUploadMedia".into(),
            owner_type: "media".into(),
            ..NewTask::default()
        })
        .await;
    let world = world.with_daemon().await;
    world.wait_for_status(id, "resumed").await;
    let (queries, documents) = listings(&world);
    assert!(!queries.is_empty(), "the query was tried first");
    assert!(documents >= 1, "then the document was read");
    world.finish().await;
}
