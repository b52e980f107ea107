//! Every wire fixture under `tests/fixtures/` (the protocol examples and the field samples from
//! public sources), run through the daemon's public parsers and pinned to the value they give.
//! A fixture added to either folder fails [`every_fixture_is_pinned`] until it is pinned here.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::source::amqp::notification::{
    self, BodyFormat, Delivery, HeaderValue, Headers, Notification,
};
use crate::task::{BlockingTask, EntityRef, TaskId, TaskStatus};
use crate::vcd::model::{self, ErrorDocument, ModelError};
use crate::vcd::version::VersionInfo;
use crate::xml::testing::variants;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const LIMIT: usize = 64 * 1024;

/// The files the tests below pin, by folder (owner documents: `vcd/model/owner/tests`; the
/// cloud's blocking task settings: `vcd/model/settings`).
const PINNED: [(&str, &[&str]); 2] = [
    (
        "protocol",
        &[
            "amqp-properties.txt",
            "blocking-task-operation-params.xml",
            "blocking-task-references.xml",
            "blocking-task-settings.xml",
            "blocking-task-update-progress-params.xml",
            "blocking-task.xml",
            "error.xml",
            "media.xml",
            "metadata.xml",
            "notification-blockingtask-create.json",
            "notification-blockingtask-create.xml",
            "vapp.xml",
            "vdc.xml",
            "versions.xml",
        ],
    ),
    (
        "field",
        &[
            "01-nclient-blockingtask-create.xml",
            "02-nclient-json-notification.json",
            "05-docs-blockingtask-guide-5.1.xml",
            "08-docs-blockingtaskreferences-guide.xml",
            "09-terraform-provider-vm.xml",
        ],
    ),
];

fn fixture(path: &str) -> String {
    let path = format!("{FIXTURES}/{path}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn id(uuid: &str) -> TaskId {
    TaskId::parse(uuid).unwrap()
}

fn entity(name: &str, id: &str, kind: &str) -> EntityRef {
    EntityRef {
        name: name.to_owned(),
        id: id.to_owned(),
        kind: kind.to_owned(),
    }
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

fn notify(body: &str, routing_key: &str, headers: &Headers) -> Notification {
    let delivery = Delivery {
        body: body.as_bytes(),
        routing_key,
        headers,
    };
    notification::parse(&delivery, LIMIT).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[test]
fn every_fixture_is_pinned() {
    for (folder, pinned) in PINNED {
        let found: BTreeSet<String> = std::fs::read_dir(format!("{FIXTURES}/{folder}"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        let pinned: BTreeSet<String> = pinned.iter().map(|name| name.to_string()).collect();
        assert_eq!(found, pinned, "tests/fixtures/{folder}");
    }
}

/// `amqp-properties.txt`: the routing key and headers vCD sends with the protocol notification
/// fixtures, each header a string (the file notes the boolean may come as either).
fn amqp_properties() -> (String, Headers) {
    let text = fixture("protocol/amqp-properties.txt");
    let mut routing_key = String::new();
    let mut headers = Headers::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, value)) = line.split_once(" = ") else {
            continue;
        };
        // Values are followed by notes in parentheses after a run of blanks.
        let value = value.split("  ").next().unwrap_or_default().trim();
        match name.strip_prefix("header ") {
            Some(header) => {
                headers.insert(header.to_owned(), HeaderValue::Text(value.to_owned()));
            }
            None if name == "routing_key" => routing_key = value.to_owned(),
            None => {}
        }
    }
    (routing_key, headers)
}

#[test]
fn amqp_properties_name_the_protocol_notification() {
    let (routing_key, headers) = amqp_properties();
    assert_eq!(
        routing_key,
        "true.8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94.a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d.\
         0d9e8f7a-6b5c-4d3e-a2f1-0e9d8c7b6a54.com.vmware.vcloud.event.blockingtask.create.\
         vdcInstantiateVapp"
    );
    let text = |value: &str| HeaderValue::Text(value.to_owned());
    let expected = Headers::from([
        (
            "notification.type".to_owned(),
            text(notification::BLOCKING_TASK_CREATE),
        ),
        ("notification.entityType".to_owned(), text("blockingTask")),
        (
            "notification.entityUUID".to_owned(),
            text("8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94"),
        ),
        (
            "notification.orgUUID".to_owned(),
            text("a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"),
        ),
        (
            "notification.userUUID".to_owned(),
            text("0d9e8f7a-6b5c-4d3e-a2f1-0e9d8c7b6a54"),
        ),
        ("notification.operationSuccess".to_owned(), text("true")),
        (
            "notification.taskUUID".to_owned(),
            text("5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"),
        ),
    ]);
    assert_eq!(headers, expected);
}

fn protocol_notification(format: BodyFormat) -> Notification {
    let names = |name: &str| match format {
        BodyFormat::Xml => name.to_owned(),
        BodyFormat::Json => String::new(),
    };
    Notification {
        event_type: notification::BLOCKING_TASK_CREATE.to_owned(),
        format,
        event_id: Some("3f0c2b7e-9d41-4c55-8a0e-6b1f2d9c7a10".to_owned()),
        entity_urn: "urn:vcloud:blockingTask:8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94".to_owned(),
        task_id: Some(id("8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94")),
        operation: Some("vdcInstantiateVapp".to_owned()),
        org: Some(EntityRef {
            name: names("acme"),
            ..entity("", "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "org")
        }),
        user: Some(EntityRef {
            name: names("alice"),
            ..entity("", "0d9e8f7a-6b5c-4d3e-a2f1-0e9d8c7b6a54", "user")
        }),
        owner: Some(entity("", "b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e", "vApp")),
        timestamp: Some(utc("2026-11-20T08:14:03.512Z")),
        operation_success: Some(true),
    }
}

#[test]
fn protocol_notifications() {
    let (routing_key, headers) = amqp_properties();
    let cases = [
        ("notification-blockingtask-create.xml", BodyFormat::Xml),
        ("notification-blockingtask-create.json", BodyFormat::Json),
    ];
    for (name, format) in cases {
        let body = fixture(&format!("protocol/{name}"));
        let parsed = notify(&body, &routing_key, &headers);
        assert_eq!(parsed, protocol_notification(format), "{name}");
        assert!(parsed.is_blocking_task_create(), "{name}");
    }
}

const FIELD_TASK: &str = "3c9e7b21-5d4a-4f60-8e1b-2a7c9d0e4f13";
const FIELD_ORG: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const FIELD_USER: &str = "8d2f4a6c-1e3b-4c5d-9f70-a1b2c3d4e5f6";

/// The routing key and headers vCD would send with a field notification of this type.
fn field_delivery(event_type: &str, key_tail: &str) -> (String, Headers) {
    let routing_key = format!("true.{FIELD_TASK}.{FIELD_ORG}.{FIELD_USER}.{key_tail}");
    let text = |value: &str| HeaderValue::Text(value.to_owned());
    let headers = Headers::from([
        ("notification.type".to_owned(), text(event_type)),
        ("notification.entityType".to_owned(), text("blockingTask")),
        ("notification.entityUUID".to_owned(), text(FIELD_TASK)),
        ("notification.orgUUID".to_owned(), text(FIELD_ORG)),
        ("notification.userUUID".to_owned(), text(FIELD_USER)),
        (
            "notification.operationSuccess".to_owned(),
            HeaderValue::Bool(true),
        ),
    ]);
    (routing_key, headers)
}

#[test]
fn field_xml_notification_in_every_spelling() {
    let expected = Notification {
        event_type: notification::BLOCKING_TASK_CREATE.to_owned(),
        format: BodyFormat::Xml,
        event_id: Some("6f1d2c3b-4a59-4e8f-9b0a-1c2d3e4f5a6b".to_owned()),
        entity_urn: format!("urn:vcloud:blockingTask:{FIELD_TASK}"),
        task_id: Some(id(FIELD_TASK)),
        operation: Some("vappUpdateVm".to_owned()),
        org: Some(entity("org-a", FIELD_ORG, "org")),
        user: Some(entity("user-a", FIELD_USER, "user")),
        owner: Some(entity("", "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d", "vm")),
        timestamp: Some(utc("2011-06-10T09:04:49.047Z")),
        operation_success: Some(true),
    };
    let (routing_key, headers) = field_delivery(
        notification::BLOCKING_TASK_CREATE,
        "com.vmware.vcloud.event.blockingtask.create.vappUpdateVm",
    );
    let fixture = fixture("field/01-nclient-blockingtask-create.xml");
    for (variant, body) in variants(&fixture, &["vmext"]) {
        assert_eq!(notify(&body, &routing_key, &headers), expected, "{variant}");
        // Without headers or a vCD-shaped key the body alone says the same.
        assert_eq!(notify(&body, "", &Headers::new()), expected, "{variant}");
    }
}

#[test]
fn field_json_notification_of_another_type() {
    let expected = Notification {
        event_type: "com/vmware/foobar".to_owned(),
        format: BodyFormat::Json,
        event_id: Some("6f1d2c3b-4a59-4e8f-9b0a-1c2d3e4f5a6c".to_owned()),
        entity_urn: format!("urn:vcloud:blockingTask:{FIELD_TASK}"),
        task_id: Some(id(FIELD_TASK)),
        operation: None,
        org: Some(entity("", FIELD_ORG, "org")),
        user: Some(entity("", FIELD_USER, "user")),
        owner: None,
        timestamp: Some(utc("2012-10-08T16:23:08.842Z")),
        operation_success: Some(true),
    };
    let body = fixture("field/02-nclient-json-notification.json");
    let (routing_key, headers) = field_delivery("com/vmware/foobar", "com.vmware.foobar");
    for (routing_key, headers) in [(routing_key.as_str(), headers), ("", Headers::new())] {
        let parsed = notify(&body, routing_key, &headers);
        assert_eq!(parsed, expected, "{routing_key:?}");
        assert!(!parsed.is_blocking_task_create());
    }
}

#[test]
fn protocol_blocking_task() {
    let expected = BlockingTask {
        id: id("8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94"),
        operation: "vdcInstantiateVapp".to_owned(),
        status: TaskStatus::Active,
        created: Some(utc("2026-11-20T08:14:03.540Z")),
        timeout_date: Some(utc("2026-11-25T08:14:03.540Z")),
        timeout_action: "abort".to_owned(),
        description: "Instantiate vApp from template".to_owned(),
        org: entity("acme", "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "org"),
        user: entity("alice", "0d9e8f7a-6b5c-4d3e-a2f1-0e9d8c7b6a54", "user"),
        owner: entity(
            "web-frontend",
            "b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e",
            "vApp",
        ),
    };
    let parsed = model::parse_blocking_task(&fixture("protocol/blocking-task.xml"));
    assert_eq!(parsed.unwrap(), expected);
}

#[test]
fn field_blocking_task_has_a_placeholder_id() {
    let fixture = fixture("field/05-docs-blockingtask-guide-5.1.xml");
    let error = model::parse_blocking_task(&fixture).unwrap_err();
    assert!(
        matches!(&error, ModelError::Invalid { field: "id", value } if value == "urn:vcloud:blockingTask:25"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "response has an invalid id: \"urn:vcloud:blockingTask:25\""
    );

    // With a real id the rest of VMware's example reads as follows.
    let real = fixture.replace("blockingTask:25", &format!("blockingTask:{FIELD_TASK}"));
    let expected = BlockingTask {
        id: id(FIELD_TASK),
        operation: "importSingletonTemplate".to_owned(),
        status: TaskStatus::Active,
        created: Some(utc("2011-05-02T13:25:18.857Z")),
        timeout_date: Some(utc("2011-05-07T13:25:18.857Z")),
        timeout_action: "abort".to_owned(),
        description: String::new(),
        org: entity("", "97", "org"),
        user: entity("system", "80", "user"),
        owner: entity("", "vappTemplate-89", "vAppTemplate"),
    };
    for (variant, document) in variants(&real, &["vmext", "vcloud"]) {
        let parsed = model::parse_blocking_task(&document);
        assert_eq!(parsed.unwrap(), expected, "{variant}");
    }
}

#[test]
fn protocol_task_references() {
    let parsed =
        model::parse_task_references(&fixture("protocol/blocking-task-references.xml")).unwrap();
    let expected = [
        "2d4f6a8c-0e1b-4c3d-9f5a-7b9d1f3e5a70",
        "8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94",
    ]
    .map(id);
    assert_eq!(parsed.ids, expected);
    assert_eq!(parsed.skipped, []);
}

#[test]
fn field_task_references_have_placeholder_ids() {
    let fixture = fixture("field/08-docs-blockingtaskreferences-guide.xml");
    let list = model::parse_task_references(&fixture).unwrap();
    assert_eq!(list.ids, []);
    let skipped: Vec<String> = list.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(
        skipped,
        ["28", "25", "12"].map(|placeholder| format!(
            "response has an invalid Reference href: \
             \"https://vcloud.example.com/api/admin/extension/blockingTask/{placeholder}\""
        ))
    );

    let uuids = [
        "28000000-0000-4000-8000-000000000028",
        "25000000-0000-4000-8000-000000000025",
        "12000000-0000-4000-8000-000000000012",
    ];
    let real =
        ["28", "25", "12"]
            .iter()
            .zip(uuids)
            .fold(fixture.clone(), |text, (placeholder, uuid)| {
                text.replace(
                    &format!("blockingTask/{placeholder}\""),
                    &format!("blockingTask/{uuid}\""),
                )
            });
    for (variant, document) in variants(&real, &["vmext", "vcloud"]) {
        let parsed = model::parse_task_references(&document);
        assert_eq!(parsed.unwrap().ids, uuids.map(id), "{variant}");
    }
}

#[test]
fn protocol_versions() {
    let parsed = model::parse_versions(&fixture("protocol/versions.xml")).unwrap();
    let info = |version: &str, deprecated, url: &str| VersionInfo {
        version: version.parse().unwrap(),
        deprecated,
        login_url: Some(url.to_owned()),
    };
    let expected = [
        info("36.0", true, "https://vcd.example.com/api/sessions"),
        info("37.2", false, "https://vcd.example.com/api/sessions"),
        info(
            "38.0",
            false,
            "https://vcd.example.com/cloudapi/1.0.0/sessions",
        ),
    ];
    assert_eq!(parsed, expected);
    // Versions compare numerically; the text is what the Accept header carries.
    let texts: Vec<String> = parsed.iter().map(|v| v.version.to_string()).collect();
    assert_eq!(texts, ["36.0", "37.2", "38.0"]);
}

#[test]
fn protocol_error() {
    let expected = ErrorDocument {
        message:
            "The requested operation could not be executed since the blocking task is not active."
                .to_owned(),
        major_code: Some(400),
        minor_code: "BAD_REQUEST".to_owned(),
    };
    assert_eq!(
        model::parse_error(&fixture("protocol/error.xml")),
        Some(expected)
    );
}

#[test]
fn protocol_request_bodies_are_what_the_daemon_sends() {
    // The fixtures leave quotes in text unescaped; the daemon escapes them.
    let operation = model::operation_params("Approved by vcd-blockd rule \"small media uploads\"");
    let progress = model::update_progress_params(
        "Waiting for approval (rule \"production deployments\")",
        Some(Duration::from_secs(600)),
    );
    let cases = [
        ("blocking-task-operation-params.xml", operation),
        ("blocking-task-update-progress-params.xml", progress),
    ];
    for (name, body) in cases {
        let fixture = fixture(&format!("protocol/{name}"));
        assert_eq!(body.replace("&quot;", "\""), fixture, "{name}");
    }
}

/// What each vCD document parser makes of the other parsers' documents: a wrong root is named
/// (and for error bodies, "not an error"), whatever the fixture.
#[test]
fn every_xml_fixture_through_every_document_parser() {
    let roots = [
        ("protocol/blocking-task.xml", "BlockingTask"),
        (
            "protocol/blocking-task-references.xml",
            "BlockingTaskReferences",
        ),
        ("protocol/versions.xml", "SupportedVersions"),
        ("protocol/error.xml", "Error"),
        (
            "protocol/notification-blockingtask-create.xml",
            "Notification",
        ),
        (
            "protocol/blocking-task-operation-params.xml",
            "BlockingTaskOperationParams",
        ),
        (
            "protocol/blocking-task-update-progress-params.xml",
            "BlockingTaskUpdateProgressParams",
        ),
        ("protocol/vapp.xml", "VApp"),
        ("protocol/media.xml", "Media"),
        ("protocol/metadata.xml", "Metadata"),
        ("protocol/vdc.xml", "Vdc"),
        ("field/09-terraform-provider-vm.xml", "Vm"),
        ("field/01-nclient-blockingtask-create.xml", "Notification"),
        ("field/05-docs-blockingtask-guide-5.1.xml", "BlockingTask"),
        (
            "field/08-docs-blockingtaskreferences-guide.xml",
            "BlockingTaskReferences",
        ),
    ];
    let wrong_root = |result: Result<(), ModelError>, expected: &str, found: &str| match result {
        Err(ModelError::UnexpectedRoot {
            expected: e,
            found: f,
        }) => e == expected && f == found,
        _ => false,
    };
    for (path, root) in roots {
        let document = fixture(path);
        if root != "BlockingTask" {
            let result = model::parse_blocking_task(&document).map(drop);
            assert!(wrong_root(result, "BlockingTask", root), "{path}");
        }
        if root != "BlockingTaskReferences" {
            let result = model::parse_task_references(&document).map(drop);
            assert!(wrong_root(result, "BlockingTaskReferences", root), "{path}");
        }
        if root != "SupportedVersions" {
            let result = model::parse_versions(&document).map(drop);
            assert!(wrong_root(result, "SupportedVersions", root), "{path}");
        }
        if root != "Error" {
            assert_eq!(model::parse_error(&document), None, "{path}");
        }
    }
}

/// The notification parser refuses vCD's other documents as a notification, by their root.
#[test]
fn vcd_documents_are_not_notifications() {
    let (routing_key, headers) = amqp_properties();
    let cases = [
        ("protocol/blocking-task.xml", "<BlockingTask>"),
        ("protocol/versions.xml", "<SupportedVersions>"),
        ("protocol/error.xml", "<Error>"),
    ];
    for (path, root) in cases {
        let body = fixture(path);
        let delivery = Delivery {
            body: body.as_bytes(),
            routing_key: &routing_key,
            headers: &headers,
        };
        let error = notification::parse(&delivery, LIMIT).unwrap_err();
        assert_eq!(error.reason().label(), "malformed", "{path}");
        assert_eq!(
            error.to_string(),
            format!("malformed notification: root element is {root}, not <Notification>"),
            "{path}"
        );
    }
}
