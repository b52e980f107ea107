//! The task history over HTTP: past tasks loaded through `POST /sim/history` and the tasks the
//! sim created, listed by `GET /api/query?type=adminTask` with a FIQL filter, page by page.

use chrono::{TimeDelta, Utc};
use vcd_sim::{HistoryStatus, NewTask, PastTask};

use crate::helpers::{act, config, finish, get, http, legacy_login, shape, start};

fn past(org: &str, status: HistoryStatus, minutes_ago: i64) -> serde_json::Value {
    let started = Utc::now() - TimeDelta::minutes(minutes_ago);
    serde_json::json!({
        "operation": "vdcInstantiateVapp",
        "org": org,
        "user": "bob",
        "status": status,
        "started": started,
    })
}

/// The `AdminTaskRecord`s of a page, as (name, orgName, status).
fn records(xml: &str) -> Vec<(String, String, String)> {
    shape(xml)
        .into_iter()
        .filter(|el| el.local == "AdminTaskRecord")
        .map(|el| {
            let get = |name: &str| {
                let found = el.attributes.iter().find(|(k, _)| k == name);
                found.map(|(_, v)| v.clone()).unwrap_or_default()
            };
            (get("name"), get("orgName"), get("status"))
        })
        .collect()
}

fn root(xml: &str, name: &str) -> String {
    crate::helpers::attribute(xml, "QueryResultRecords", name).unwrap()
}

#[tokio::test]
async fn the_history_lists_loaded_and_created_tasks_filtered_and_paged() {
    let config = config();
    let sim = start(config.clone()).await;
    let loaded = http()
        .post(format!("{}/sim/history", sim.base_url()))
        .json(&[
            past("acme", HistoryStatus::Success, 30),
            past("acme", HistoryStatus::Error, 20),
            past("acme", HistoryStatus::Running, 10),
            past("globex", HistoryStatus::Success, 5),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(loaded.status(), 200);
    sim.load_history(vec![PastTask {
        id: uuid::Uuid::new_v4(),
        operation: "vdcComposeVapp".into(),
        org: "acme".into(),
        user: "carol".into(),
        object: String::new(),
        status: HistoryStatus::Success,
        started: Utc::now() - TimeDelta::hours(3),
        ended: None,
    }]);
    let created = sim
        .create_task(NewTask {
            operation: "vdcInstantiateVapp".into(),
            org: "acme".into(),
            ..NewTask::default()
        })
        .await
        .unwrap();
    let token = legacy_login(&sim).await;

    let since = (Utc::now() - TimeDelta::hours(1)).format("%Y-%m-%dT%H:%M:%S%.3fZ");
    let filter = format!("orgName==acme;startDate=ge={since};status!=error");
    let encoded: String = form_urlencoded::byte_serialize(filter.as_bytes()).collect();
    let first = get(
        &sim,
        &token,
        &format!("/api/query?type=adminTask&format=records&pageSize=1&filter={encoded}"),
    )
    .await;
    assert_eq!(first.status(), 200);
    let first = first.text().await.unwrap();
    assert_eq!(root(&first, "total"), "3", "{first}");
    assert_eq!(
        records(&first),
        [("vdcInstantiateVapp".into(), "acme".into(), "success".into())]
    );

    // Following nextPage keeps the filter; the last page is the created task, running.
    let mut page = first;
    let mut seen = records(&page);
    while let Some(next) = crate::helpers::link_href(&page, "nextPage") {
        let path = next.strip_prefix(&sim.base_url()).unwrap().to_owned();
        page = get(&sim, &token, &path).await.text().await.unwrap();
        seen.extend(records(&page));
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(
        seen.last().unwrap(),
        &("vdcInstantiateVapp".into(), "acme".into(), "running".into())
    );

    assert_eq!(act(&sim, &token, created, "resume").await.status(), 204);
    let done = "orgName==acme;status==success;name==vdc*Vapp";
    let encoded: String = form_urlencoded::byte_serialize(done.as_bytes()).collect();
    let page = get(
        &sim,
        &token,
        &format!("/api/query?type=adminTask&format=records&pageSize=10&filter={encoded}"),
    )
    .await
    .text()
    .await
    .unwrap();
    assert_eq!(
        root(&page, "total"),
        "3",
        "two loaded and the resumed one: {page}"
    );

    let bad = get(
        &sim,
        &token,
        "/api/query?type=adminTask&filter=colour%3D%3Dred",
    )
    .await;
    assert_eq!(bad.status(), 400);
    finish(sim, &config).await;
}
