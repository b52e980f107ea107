//! Reading, listing and deciding blocking tasks through the API, and the faults that disturb it.

use std::time::{Duration, Instant};

use crate::helpers::*;
use chrono::SubsecRound;
use vcd_sim::{Faults, NewTask, SimConfig};

#[tokio::test]
async fn task_reads_look_like_vcd_by_id_and_by_entity_urn() {
    let config = config();
    let sim = start(config.clone()).await;
    let token = legacy_login(&sim).await;
    let id = sim
        .create_task(NewTask {
            description: "Instantiate vApp from template".into(),
            ..NewTask::default()
        })
        .await
        .unwrap();

    let direct = get(
        &sim,
        &token,
        &format!("/api/admin/extension/blockingTask/{id}"),
    )
    .await;
    assert_eq!(direct.status(), 200);
    assert_eq!(
        header(&direct, "content-type"),
        "application/vnd.vmware.admin.blockingTask+xml;version=37.2"
    );
    let doc = direct.text().await.unwrap();
    assert_shaped_like_fixture(&doc, "blocking-task.xml");
    let base = sim.base_url();
    assert_eq!(
        attribute(&doc, "BlockingTask", "status").as_deref(),
        Some("active")
    );
    assert_eq!(
        attribute(&doc, "BlockingTask", "href"),
        Some(format!("{base}/api/admin/extension/blockingTask/{id}"))
    );
    assert_eq!(
        attribute(&doc, "BlockingTask", "id"),
        Some(format!("urn:vcloud:blockingTask:{id}"))
    );
    assert_eq!(
        attribute(&doc, "TaskOwner", "type").as_deref(),
        Some("application/vnd.vmware.vcloud.vApp+xml")
    );
    assert_eq!(
        attribute(&doc, "Organization", "name").as_deref(),
        Some("acme")
    );
    for el in shape(&doc) {
        for (key, value) in el.attributes.iter().filter(|(k, _)| k == "href") {
            assert!(
                value.starts_with(&base),
                "{} {key}={value} is not on the sim",
                el.qname
            );
        }
    }

    let by_urn = get(
        &sim,
        &token,
        &format!("/api/entity/urn:vcloud:blockingTask:{id}"),
    )
    .await;
    assert_eq!(by_urn.status(), 200);
    assert_eq!(by_urn.text().await.unwrap(), doc);

    let unknown = get(
        &sim,
        &token,
        &format!("/api/admin/extension/blockingTask/{}", uuid::Uuid::new_v4()),
    )
    .await;
    assert_eq!(unknown.status(), 404);
    assert!(
        header(&unknown, "content-type").starts_with("application/vnd.vmware.vcloud.error+xml")
    );
    finish(sim, &config).await;
}

#[tokio::test]
async fn orgs_and_users_keep_their_ids_across_tasks() {
    let config = config();
    let sim = start(config.clone()).await;
    let token = legacy_login(&sim).await;
    let mut org_and_user_hrefs = Vec::new();
    for owner_type in ["vApp", "media"] {
        let id = sim
            .create_task(NewTask {
                owner_type: owner_type.into(),
                ..NewTask::default()
            })
            .await
            .unwrap();
        let doc = get(
            &sim,
            &token,
            &format!("/api/admin/extension/blockingTask/{id}"),
        )
        .await
        .text()
        .await
        .unwrap();
        org_and_user_hrefs.push((
            attribute(&doc, "Organization", "href"),
            attribute(&doc, "User", "href"),
        ));
        if owner_type == "media" {
            assert_eq!(
                attribute(&doc, "TaskOwner", "type").as_deref(),
                Some("application/vnd.vmware.vcloud.media+xml")
            );
        }
    }
    assert_eq!(org_and_user_hrefs[0], org_and_user_hrefs[1]);
    finish(sim, &config).await;
}

#[tokio::test]
async fn listing_shows_only_active_tasks() {
    let config = config();
    let sim = start(config.clone()).await;
    let token = legacy_login(&sim).await;
    let first = sim.create_task(NewTask::default()).await.unwrap();
    let upload = NewTask {
        operation: "vdcUploadMedia".into(),
        owner_type: "media".into(),
        ..NewTask::default()
    };
    let second = sim.create_task(upload).await.unwrap();
    assert_eq!(act(&sim, &token, first, "resume").await.status(), 204);

    let listing = get(&sim, &token, "/api/admin/extension/blockingTasks/").await;
    assert_eq!(listing.status(), 200);
    let doc = listing.text().await.unwrap();
    let references: Vec<_> = shape(&doc)
        .into_iter()
        .filter(|e| e.local == "Reference")
        .collect();
    assert_eq!(references.len(), 1);
    let href = format!(
        "{}/api/admin/extension/blockingTask/{second}",
        sim.base_url()
    );
    assert!(references[0].attributes.contains(&("href".into(), href)));
    assert!(
        references[0]
            .attributes
            .contains(&("name".into(), "vdcUploadMedia".into()))
    );
    finish(sim, &config).await;
}

#[tokio::test]
async fn a_task_is_decided_once_and_later_actions_are_refused() {
    let config = config();
    let sim = start(config.clone()).await;
    let token = legacy_login(&sim).await;
    let id = sim.create_task(NewTask::default()).await.unwrap();

    assert_eq!(act(&sim, &token, id, "resume").await.status(), 204);
    let doc = get(
        &sim,
        &token,
        &format!("/api/admin/extension/blockingTask/{id}"),
    )
    .await
    .text()
    .await
    .unwrap();
    assert_eq!(
        attribute(&doc, "BlockingTask", "status").as_deref(),
        Some("resumed")
    );

    let again = act(&sim, &token, id, "fail").await;
    assert_eq!(again.status(), 400);
    let error = again.text().await.unwrap();
    assert!(
        attribute(&error, "Error", "message")
            .unwrap()
            .contains("blocking task is not active")
    );
    assert_eq!(
        attribute(&error, "Error", "minorErrorCode").as_deref(),
        Some("BAD_REQUEST")
    );

    let task = sim.task(id).unwrap();
    assert_eq!(task.status, "resumed");
    let attempts: Vec<(&str, bool)> = task
        .actions
        .iter()
        .map(|a| (a.action.as_str(), a.accepted))
        .collect();
    assert_eq!(attempts, [("resume", true), ("fail", false)]);
    assert_eq!(task.actions[0].message, "resume by test");

    let unknown = act(&sim, &token, uuid::Uuid::new_v4(), "resume").await;
    assert_eq!(unknown.status(), 404);
    finish(sim, &config).await;
}

#[tokio::test]
async fn aborting_twice_succeeds_but_nothing_else_does() {
    let config = config();
    let sim = start(config.clone()).await;
    let token = legacy_login(&sim).await;
    let id = sim.create_task(NewTask::default()).await.unwrap();
    assert_eq!(act(&sim, &token, id, "abort").await.status(), 204);
    assert_eq!(act(&sim, &token, id, "abort").await.status(), 204);
    assert_eq!(act(&sim, &token, id, "resume").await.status(), 400);
    assert_eq!(sim.task(id).unwrap().status, "aborted");
    finish(sim, &config).await;
}

#[tokio::test]
async fn actions_need_the_params_media_type_and_a_message() {
    let config = config();
    let sim = start(config.clone()).await;
    let token = legacy_login(&sim).await;
    let id = sim.create_task(NewTask::default()).await.unwrap();
    let url = format!(
        "{}/api/admin/extension/blockingTask/{id}/action/resume",
        sim.base_url()
    );
    let post = |content_type: &'static str, body: &'static str| {
        http()
            .post(&url)
            .bearer_auth(&token)
            .header("Accept", ACCEPT_XML)
            .header("Content-Type", content_type)
            .body(body)
            .send()
    };
    let params = "<BlockingTaskOperationParams><Message>ok</Message></BlockingTaskOperationParams>";
    assert_eq!(post("application/xml", params).await.unwrap().status(), 415);
    let no_message = "<BlockingTaskOperationParams/>";
    assert_eq!(
        post(OPERATION_PARAMS, no_message).await.unwrap().status(),
        400
    );
    assert_eq!(
        post(OPERATION_PARAMS, "not xml <").await.unwrap().status(),
        400
    );
    assert_eq!(sim.task(id).unwrap().status, "active");
    assert!(sim.task(id).unwrap().actions.is_empty());
    finish(sim, &config).await;
}

#[tokio::test]
async fn update_progress_moves_the_timeout_and_returns_the_task() {
    let config = config();
    let sim = start(config.clone()).await;
    let token = legacy_login(&sim).await;
    let id = sim.create_task(NewTask::default()).await.unwrap();
    let progress = |body| update_progress(&sim, &token, id, body);

    let body = "<BlockingTaskUpdateProgressParams xmlns=\"http://www.vmware.com/vcloud/extension/v1.5\"><Message>Waiting</Message><TimeoutValueInMilliseconds>3600000</TimeoutValueInMilliseconds></BlockingTaskUpdateProgressParams>";
    let before = chrono::Utc::now();
    let response = progress(body).await;
    assert_eq!(response.status(), 200);
    let doc = response.text().await.unwrap();
    let task = sim.task(id).unwrap();
    let moved = task.timeout_date - before;
    assert!(moved >= chrono::Duration::minutes(60) && moved < chrono::Duration::minutes(61));
    let shown = attribute(&doc, "BlockingTask", "timeoutDate").unwrap();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(&shown).unwrap(),
        task.timeout_date.trunc_subsecs(3)
    );
    assert_eq!(task.actions[0].timeout_ms, Some(3_600_000));

    let without = "<BlockingTaskUpdateProgressParams><Message>Still waiting</Message></BlockingTaskUpdateProgressParams>";
    assert_eq!(progress(without).await.status(), 200);
    let moved = sim.task(id).unwrap().timeout_date - chrono::Utc::now();
    assert!(
        moved > chrono::Duration::minutes(9),
        "default task_timeout is 10 min"
    );

    assert_eq!(act(&sim, &token, id, "fail").await.status(), 204);
    assert_eq!(progress(without).await.status(), 400);
    finish(sim, &config).await;
}

#[tokio::test]
async fn refused_keepalives_answer_400_until_used_up() {
    let config = config();
    let sim = start(config.clone()).await;
    let token = legacy_login(&sim).await;
    sim.set_faults(Faults {
        refuse_update_progress: 2,
        ..Faults::default()
    });
    let id = sim.create_task(NewTask::default()).await.unwrap();
    let progress = || {
        update_progress(
            &sim,
            &token,
            id,
            "<BlockingTaskUpdateProgressParams xmlns=\"http://www.vmware.com/vcloud/extension/v1.5\"><Message>Waiting</Message></BlockingTaskUpdateProgressParams>",
        )
    };
    let timeout_before = sim.task(id).unwrap().timeout_date;
    assert_eq!(progress().await.status(), 400);
    assert_eq!(progress().await.status(), 400);
    let task = sim.task(id).unwrap();
    assert_eq!(task.status, "active");
    assert_eq!(
        task.timeout_date, timeout_before,
        "a refused keepalive moves nothing"
    );
    assert_eq!(progress().await.status(), 200);
    finish(sim, &config).await;
}

#[tokio::test]
async fn first_reads_answer_404_until_the_task_is_visible() {
    let config = config();
    let sim = start(config.clone()).await;
    let token = legacy_login(&sim).await;
    sim.set_faults(Faults {
        not_found_first_reads: 2,
        ..Faults::default()
    });
    let id = sim.create_task(NewTask::default()).await.unwrap();
    let path = format!("/api/admin/extension/blockingTask/{id}");
    assert_eq!(get(&sim, &token, &path).await.status(), 404);
    assert_eq!(get(&sim, &token, &path).await.status(), 404);
    assert_eq!(get(&sim, &token, &path).await.status(), 200);
    finish(sim, &config).await;
}

#[tokio::test]
async fn injected_5xx_and_latency_reach_every_api_call() {
    let config = config();
    let sim = start(config.clone()).await;
    let token = legacy_login(&sim).await;
    sim.set_faults(Faults {
        error_rate_5xx: 1.0,
        latency_ms: 150,
        ..Faults::default()
    });
    let started = Instant::now();
    let response = get(&sim, &token, "/api/admin/extension/blockingTasks/").await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(response.status(), 503);
    let body = response.text().await.unwrap();
    assert_eq!(
        attribute(&body, "Error", "majorErrorCode").as_deref(),
        Some("503")
    );

    sim.set_faults(Faults::default());
    assert_eq!(
        get(&sim, &token, "/api/admin/extension/blockingTasks/")
            .await
            .status(),
        200
    );
    let statuses: Vec<u16> = sim.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, [200, 503, 200]);
    finish(sim, &config).await;
}

#[tokio::test]
async fn calls_are_recorded_with_headers_and_bodies() {
    let config = config();
    let sim = start(config.clone()).await;
    let token = legacy_login(&sim).await;
    let id = sim.create_task(NewTask::default()).await.unwrap();
    act(&sim, &token, id, "resume").await;
    let calls = sim.calls();
    assert_eq!(calls.len(), 2);
    let action = &calls[1];
    assert_eq!(action.method, "POST");
    assert_eq!(
        action.path,
        format!("/api/admin/extension/blockingTask/{id}/action/resume")
    );
    assert_eq!(action.status, 204);
    assert_eq!(action.auth, "bearer");
    assert_eq!(action.accept, ACCEPT_XML);
    assert_eq!(action.content_type, OPERATION_PARAMS);
    assert_eq!(action.host, sim.base_url().trim_start_matches("http://"));
    assert!(action.body.contains("<Message>resume by test</Message>"));
    finish(sim, &config).await;
}

#[tokio::test]
async fn a_call_log_limit_keeps_the_first_calls_and_serves_the_rest() {
    let config = vcd_sim::SimConfig {
        call_log_limit: Some(2),
        ..config()
    };
    let sim = start(config.clone()).await;
    let token = legacy_login(&sim).await;
    let ids = sim.create_tasks_quietly(3, NewTask::default()).unwrap();
    for id in &ids {
        let path = format!("/api/admin/extension/blockingTask/{id}");
        assert_eq!(get(&sim, &token, &path).await.status(), 200);
    }
    let paths: Vec<String> = sim.calls().into_iter().map(|c| c.path).collect();
    assert_eq!(
        paths,
        [
            "/api/sessions".to_owned(),
            format!("/api/admin/extension/blockingTask/{}", ids[0])
        ]
    );
    finish(sim, &config).await;
}

/// A sim without a broker, for tests of the API alone.
fn without_broker() -> SimConfig {
    SimConfig {
        amqp_url: None,
        ..SimConfig::default()
    }
}

#[tokio::test]
async fn without_a_broker_the_sim_serves_and_decides_tasks() {
    let sim = start(without_broker()).await;
    let token = legacy_login(&sim).await;
    let created = sim.create_task(NewTask::default()).await.unwrap();
    let over_http = http()
        .post(format!("{}/sim/tasks", sim.base_url()))
        .json(&NewTask::default())
        .send()
        .await
        .unwrap();
    assert_eq!(over_http.status(), 201);
    let listing = get(&sim, &token, "/api/admin/extension/blockingTasks/").await;
    assert_eq!(listing.status(), 200);
    let references = shape(&listing.text().await.unwrap())
        .into_iter()
        .filter(|e| e.local == "Reference")
        .count();
    assert_eq!(references, 2);
    let path = format!("/api/admin/extension/blockingTask/{created}");
    assert_eq!(get(&sim, &token, &path).await.status(), 200);
    assert_eq!(act(&sim, &token, created, "resume").await.status(), 204);
    assert_eq!(sim.task(created).unwrap().status, "resumed");
    sim.shutdown().await;
}

#[tokio::test]
async fn without_a_broker_timeouts_still_apply() {
    let sim = start(SimConfig {
        task_timeout: Duration::from_millis(300),
        ..without_broker()
    })
    .await;
    let id = sim.create_task(NewTask::default()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.task(id).unwrap().status == "active" {
        assert!(Instant::now() < deadline, "the task never timed out");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sim.task(id).unwrap().status, "aborted");
    sim.shutdown().await;
}

#[tokio::test]
async fn unreadable_faults_spoil_only_the_named_tasks_and_the_list_gets_a_bad_entry() {
    let config = config();
    let sim = start(config.clone()).await;
    let token = legacy_login(&sim).await;
    let html = sim.create_task(NewTask::default()).await.unwrap();
    let cut = sim.create_task(NewTask::default()).await.unwrap();
    let fine = sim.create_task(NewTask::default()).await.unwrap();
    sim.set_faults(Faults {
        unreadable_tasks: [
            (html, vcd_sim::Unreadable::Html),
            (cut, vcd_sim::Unreadable::Truncated),
        ]
        .into(),
        bad_list_entry: true,
        ..Faults::default()
    });
    let read = |id: uuid::Uuid| {
        let (sim, token) = (sim.clone(), token.clone());
        async move {
            let response = get(
                &sim,
                &token,
                &format!("/api/admin/extension/blockingTask/{id}"),
            )
            .await;
            assert_eq!(response.status(), 200);
            response.text().await.unwrap()
        }
    };
    let page = read(html).await;
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    let whole = read(fine).await;
    let truncated = read(cut).await;
    assert!(
        whole.trim_end().ends_with("</vmext:BlockingTask>"),
        "{whole}"
    );
    assert!(!truncated.contains("</vmext:BlockingTask>"), "{truncated}");
    assert!(truncated.starts_with("<?xml"), "{truncated}");

    let list = get(&sim, &token, "/api/admin/extension/blockingTasks/").await;
    let list = list.text().await.unwrap();
    assert!(
        list.contains("/api/admin/extension/blockingTask/25\""),
        "{list}"
    );
    for id in [html, cut, fine] {
        assert!(list.contains(&id.to_string()), "{list}");
    }
    finish(sim, &config).await;
}

#[tokio::test]
async fn a_new_task_timeout_applies_to_tasks_created_afterwards_only() {
    let config = config();
    let sim = start(config.clone()).await;
    let before = sim.create_task(NewTask::default()).await.unwrap();
    sim.set_task_timeout(Duration::from_secs(40)).unwrap();
    let after = sim.create_task(NewTask::default()).await.unwrap();
    let left = |id| sim.task(id).unwrap().timeout_date - chrono::Utc::now();
    assert!(
        left(before) > chrono::Duration::minutes(9),
        "kept its 10 min"
    );
    let short = left(after);
    assert!(
        short > chrono::Duration::seconds(35) && short <= chrono::Duration::seconds(40),
        "{short}"
    );
    assert!(sim.set_task_timeout(Duration::MAX).is_err());
    finish(sim, &config).await;
}
