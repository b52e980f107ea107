//! The JSON control endpoints under `/sim/`, as the demo and the binary's users drive them.

use crate::helpers::*;
use serde_json::{Value, json};

#[tokio::test]
async fn tasks_are_created_and_inspected_over_http() {
    let config = config();
    let sim = start(config.clone()).await;
    let listener = Listener::bind(&config).await;
    let base = sim.base_url();

    let created = http()
        .post(format!("{base}/sim/tasks"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "an empty body means all defaults");
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        listener
            .next()
            .await
            .routing_key
            .starts_with(&format!("true.{id}."))
    );

    let upload = json!({ "operation": "vdcUploadMedia", "org": "globex", "owner_type": "media" });
    let created = http()
        .post(format!("{base}/sim/tasks"))
        .json(&upload)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    let tasks: Vec<Value> = http()
        .get(format!("{base}/sim/tasks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0]["id"], id);
    assert_eq!(tasks[0]["operation"], "vdcInstantiateVapp");
    assert_eq!(tasks[1]["org"], "globex");
    assert_eq!(tasks[1]["status"], "active");

    let one = http()
        .get(format!("{base}/sim/tasks/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(one.json::<Value>().await.unwrap()["user"], "alice");
    let missing = http()
        .get(format!("{base}/sim/tasks/{}", uuid::Uuid::new_v4()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let bad = http()
        .post(format!("{base}/sim/tasks"))
        .json(&json!({ "owner_type": "disk" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let typo = http()
        .post(format!("{base}/sim/tasks"))
        .json(&json!({ "operaton": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(typo.status(), 400);
    finish(sim, &config).await;
}

#[tokio::test]
async fn faults_and_session_expiry_are_set_over_http_and_control_calls_are_not_recorded() {
    let config = config();
    let sim = start(config.clone()).await;
    let base = sim.base_url();
    let token = legacy_login(&sim).await;

    let faults = json!({ "error_rate_5xx": 1.0 });
    let set = http()
        .put(format!("{base}/sim/faults"))
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 204);
    assert_eq!(
        get(&sim, &token, "/api/admin/extension/blockingTasks/")
            .await
            .status(),
        503
    );
    let out_of_range = json!({ "error_rate_5xx": 2.0 });
    let refused = http()
        .put(format!("{base}/sim/faults"))
        .json(&out_of_range)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let cleared = http()
        .put(format!("{base}/sim/faults"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 204);
    assert_eq!(
        get(&sim, &token, "/api/admin/extension/blockingTasks/")
            .await
            .status(),
        200
    );

    let expire = http()
        .post(format!("{base}/sim/sessions/expire"))
        .send()
        .await
        .unwrap();
    assert_eq!(expire.status(), 204);
    assert_eq!(
        get(&sim, &token, "/api/admin/extension/blockingTasks/")
            .await
            .status(),
        401
    );

    let calls: Vec<Value> = http()
        .get(format!("{base}/sim/calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths: Vec<&str> = calls.iter().map(|c| c["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths.len(),
        4,
        "login and three listings, no /sim/ calls: {paths:?}"
    );
    assert!(paths.iter().all(|p| !p.starts_with("/sim/")));
    finish(sim, &config).await;
}
