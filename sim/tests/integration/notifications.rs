//! The notifications the sim publishes to RabbitMQ: on create, after actions and at timeouts,
//! checked as a consumer bound to the exchanges sees them.

use std::time::Duration;

use crate::helpers::*;
use lapin::types::{AMQPValue, FieldTable};
use vcd_sim::{NewTask, SimConfig};

fn text_header(headers: &FieldTable, name: &str) -> String {
    match headers.inner().get(name) {
        Some(AMQPValue::LongString(value)) => String::from_utf8(value.as_bytes().to_vec()).unwrap(),
        other => panic!("header {name} is {other:?}, want a long string"),
    }
}

#[tokio::test]
async fn create_publishes_xml_and_json_with_vcd_routing_key_and_headers() {
    let config = config();
    let sim = start(config.clone()).await;
    let listener = Listener::bind(&config).await;
    let id = sim.create_task(NewTask::default()).await.unwrap();

    let token = legacy_login(&sim).await;
    let task = get(
        &sim,
        &token,
        &format!("/api/admin/extension/blockingTask/{id}"),
    )
    .await
    .text()
    .await
    .unwrap();
    let last_segment = |href: String| href.rsplit('/').next().unwrap().to_owned();
    let org_id = last_segment(attribute(&task, "Organization", "href").unwrap());
    let user_id = last_segment(attribute(&task, "User", "href").unwrap());
    let parent_id = last_segment(link_href(&task, "up").unwrap());

    let first = listener.next().await;
    let second = listener.next().await;
    assert_eq!(first.exchange, config.xml_exchange, "XML goes out first");
    assert_eq!(
        second.exchange,
        format!("{}.notifications20", config.json_prefix)
    );
    let key = format!(
        "true.{id}.{org_id}.{user_id}.com.vmware.vcloud.event.blockingtask.create.vdcInstantiateVapp"
    );
    for message in [&first, &second] {
        assert_eq!(message.routing_key, key);
        assert_eq!(message.properties.delivery_mode(), &Some(2));
        let headers = message.properties.headers().clone().expect("headers");
        assert_eq!(
            text_header(&headers, "notification.type"),
            "com/vmware/vcloud/event/blockingtask/create"
        );
        assert_eq!(
            text_header(&headers, "notification.entityType"),
            "blockingTask"
        );
        assert_eq!(
            text_header(&headers, "notification.entityUUID"),
            id.to_string()
        );
        assert_eq!(text_header(&headers, "notification.orgUUID"), org_id);
        assert_eq!(text_header(&headers, "notification.userUUID"), user_id);
        assert_eq!(text_header(&headers, "notification.taskUUID"), parent_id);
        assert_eq!(
            headers.inner().get("notification.operationSuccess"),
            Some(&AMQPValue::Boolean(true))
        );
    }

    assert_shaped_like_fixture(&first.body, "notification-blockingtask-create.xml");
    assert_eq!(
        attribute(&first.body, "Link", "href"),
        Some(format!("{}/api/entity/", sim.base_url()))
    );
    assert_eq!(
        attribute(&first.body, "EntityLink", "id"),
        Some(format!("urn:vcloud:blockingTask:{id}"))
    );

    let json: serde_json::Value = serde_json::from_str(&second.body).unwrap();
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/../tests/fixtures/protocol/notification-blockingtask-create.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&json), keys(&fixture));
    assert_eq!(json["entity"], format!("urn:vcloud:blockingTask:{id}"));
    assert_eq!(json["org"], format!("urn:vcloud:org:{org_id}"));
    assert_eq!(json["task"], format!("urn:vcloud:task:{parent_id}"));
    assert_eq!(json["operationSuccess"], true);
    chrono::DateTime::parse_from_rfc3339(json["timestamp"].as_str().unwrap())
        .expect("RFC 3339 timestamp");
    finish(sim, &config).await;
}

#[tokio::test]
async fn accepted_actions_publish_and_refused_ones_do_not() {
    let config = config();
    let sim = start(config.clone()).await;
    let listener = Listener::bind(&config).await;
    let token = legacy_login(&sim).await;
    let id = sim.create_task(NewTask::default()).await.unwrap();
    listener.next().await;
    listener.next().await;

    assert_eq!(act(&sim, &token, id, "resume").await.status(), 204);
    let xml = listener.next().await;
    let json = listener.next().await;
    assert!(
        xml.routing_key
            .ends_with(".com.vmware.vcloud.event.blockingtask.resume.vdcInstantiateVapp")
    );
    assert_eq!(
        attribute(&xml.body, "Notification", "type").as_deref(),
        Some("com/vmware/vcloud/event/blockingtask/resume")
    );
    assert!(
        json.body
            .contains("\"type\":\"com/vmware/vcloud/event/blockingtask/resume\"")
    );

    assert_eq!(act(&sim, &token, id, "fail").await.status(), 400);
    assert!(
        listener
            .try_next(Duration::from_millis(500))
            .await
            .is_none()
    );
    finish(sim, &config).await;
}

#[tokio::test]
async fn timeout_applies_the_cloud_wide_action_and_announces_it() {
    let config = SimConfig {
        task_timeout: Duration::from_millis(300),
        timeout_action: "fail".into(),
        ..config()
    };
    let sim = start(config.clone()).await;
    let listener = Listener::bind(&config).await;
    let id = sim.create_task(NewTask::default()).await.unwrap();
    listener.next().await;
    listener.next().await;
    assert_eq!(sim.task(id).unwrap().status, "active");

    let xml = listener.next().await;
    assert!(xml.routing_key.contains(".blockingtask.fail."));
    let task = sim.task(id).unwrap();
    assert_eq!(task.status, "failed");
    assert_eq!(task.timeout_action, "fail");
    assert_eq!(task.actions.len(), 1);
    assert_eq!(task.actions[0].action, "timeout");
    assert!(task.actions[0].message.contains("fail"));
    finish(sim, &config).await;
}

#[tokio::test]
async fn legacy_json_timestamps_have_no_zone() {
    let config = SimConfig {
        json_legacy_timestamps: true,
        ..config()
    };
    let sim = start(config.clone()).await;
    let listener = Listener::bind(&config).await;
    sim.create_task(NewTask::default()).await.unwrap();
    listener.next().await;
    let json: serde_json::Value = serde_json::from_str(&listener.next().await.body).unwrap();
    let stamp = json["timestamp"].as_str().unwrap();
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M:%S%.3f")
        .expect("2012-10-08 16:23:08.842 style");
    finish(sim, &config).await;
}

#[tokio::test]
async fn publishing_recovers_after_the_broker_closes_the_channel() {
    let config = config();
    let sim = start(config.clone()).await;
    // Deleting the exchanges makes the broker close the sim's channel on its next publish.
    let connection = connect().await;
    let channel = connection.create_channel().await.unwrap();
    for exchange in [
        config.xml_exchange.clone(),
        format!("{}.notifications20", config.json_prefix),
    ] {
        channel
            .exchange_delete(exchange.into(), Default::default())
            .await
            .unwrap();
    }
    sim.create_task(NewTask::default())
        .await
        .expect("publish reconnects and redeclares");

    let listener = Listener::bind(&config).await;
    let id = sim.create_task(NewTask::default()).await.unwrap();
    assert!(
        listener
            .next()
            .await
            .routing_key
            .starts_with(&format!("true.{id}."))
    );
    finish(sim, &config).await;
}

#[tokio::test]
async fn start_fails_clearly_without_a_broker() {
    let config = SimConfig {
        amqp_url: Some("amqp://guest:guest@127.0.0.1:1/%2f".into()),
        ..config()
    };
    let error = vcd_sim::Sim::start(config)
        .await
        .err()
        .expect("no broker on port 1");
    assert!(matches!(error, vcd_sim::SimError::Amqp(_)), "{error}");
}

#[tokio::test]
async fn nothing_is_published_after_shutdown() {
    let config = config();
    let sim = start(config.clone()).await;
    sim.shutdown().await;
    let error = sim
        .create_task(NewTask::default())
        .await
        .expect_err("publisher closed");
    assert!(
        matches!(
            error,
            vcd_sim::SimError::Amqp(vcd_sim::PublishError::Closed)
        ),
        "{error}"
    );
    sim.shutdown().await;
    finish(sim, &config).await;
}

#[tokio::test]
async fn tasks_created_quietly_are_listed_but_never_announced() {
    let config = config();
    let sim = start(config.clone()).await;
    let listener = Listener::bind(&config).await;
    let upload = NewTask {
        operation: "vdcUploadMedia".into(),
        owner_type: "media".into(),
        ..NewTask::default()
    };
    let ids = sim.create_tasks_quietly(1500, upload).unwrap();
    assert_eq!(ids.len(), 1500);
    let distinct: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), 1500, "every task has its own id");

    let token = legacy_login(&sim).await;
    let listing = get(&sim, &token, "/api/admin/extension/blockingTasks/")
        .await
        .text()
        .await
        .unwrap();
    let listed: Vec<String> = shape(&listing)
        .into_iter()
        .filter(|e| e.local == "Reference")
        .filter_map(|e| e.attributes.into_iter().find(|(k, _)| k == "href"))
        .map(|(_, href)| href.rsplit('/').next().unwrap().to_owned())
        .collect();
    let created: Vec<String> = ids.iter().map(ToString::to_string).collect();
    assert_eq!(listed, created, "listed in creation order");
    let view = sim.task(ids[0]).unwrap();
    assert_eq!(
        (view.operation.as_str(), view.status.as_str()),
        ("vdcUploadMedia", "active")
    );
    assert!(
        listener
            .try_next(Duration::from_millis(500))
            .await
            .is_none(),
        "quiet tasks publish no notification"
    );
    assert!(
        sim.create_tasks_quietly(
            1,
            NewTask {
                operation: "vdc.Upload".into(),
                ..NewTask::default()
            }
        )
        .is_err()
    );
    finish(sim, &config).await;
}
