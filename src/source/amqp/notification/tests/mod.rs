//! Unit tests for notification.

use super::*;
use crate::xml::testing::variants;
use chrono::TimeZone;

const XML: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/protocol/notification-blockingtask-create.xml"
));
const JSON: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/protocol/notification-blockingtask-create.json"
));
const TASK: &str = "8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94";
const OTHER: &str = "2d4f6a8c-0e1b-4c3d-9f5a-7b9d1f3e5a70";
const ORG: &str = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d";
const USER: &str = "0d9e8f7a-6b5c-4d3e-a2f1-0e9d8c7b6a54";
const PARENT: &str = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9";
const LIMIT: usize = 64 * 1024;

fn key(entity: &str) -> String {
    format!(
        "true.{entity}.{ORG}.{USER}.com.vmware.vcloud.event.blockingtask.create.vdcInstantiateVapp"
    )
}

/// The headers of `amqp-properties.txt`.
fn vcd_headers() -> Headers {
    let text = |value: &str| HeaderValue::Text(value.to_owned());
    Headers::from([
        ("notification.type".to_owned(), text(BLOCKING_TASK_CREATE)),
        ("notification.entityType".to_owned(), text("blockingTask")),
        ("notification.entityUUID".to_owned(), text(TASK)),
        ("notification.orgUUID".to_owned(), text(ORG)),
        ("notification.userUUID".to_owned(), text(USER)),
        (
            "notification.operationSuccess".to_owned(),
            HeaderValue::Bool(true),
        ),
        ("notification.taskUUID".to_owned(), text(PARENT)),
    ])
}

fn with_header(name: &str, value: HeaderValue) -> Headers {
    let mut headers = vcd_headers();
    headers.insert(name.to_owned(), value);
    headers
}

fn parse_with(
    body: &str,
    routing_key: &str,
    headers: &Headers,
) -> Result<Notification, NotificationError> {
    let delivery = Delivery {
        body: body.as_bytes(),
        routing_key,
        headers,
    };
    parse(&delivery, LIMIT)
}

fn expected(format: BodyFormat) -> Notification {
    let names = format == BodyFormat::Xml;
    let entity = |name: &str, id: &str, kind: &str| EntityRef {
        name: if names {
            name.to_owned()
        } else {
            String::new()
        },
        id: id.to_owned(),
        kind: kind.to_owned(),
    };
    let timestamp =
        Utc.with_ymd_and_hms(2026, 11, 20, 8, 14, 3).unwrap() + chrono::Duration::milliseconds(512);
    Notification {
        event_type: BLOCKING_TASK_CREATE.to_owned(),
        format,
        event_id: Some("3f0c2b7e-9d41-4c55-8a0e-6b1f2d9c7a10".to_owned()),
        entity_urn: format!("urn:vcloud:blockingTask:{TASK}"),
        task_id: Some(TaskId::parse(TASK).unwrap()),
        operation: Some("vdcInstantiateVapp".to_owned()),
        org: Some(entity("acme", ORG, "org")),
        user: Some(entity("alice", USER, "user")),
        owner: Some(EntityRef {
            name: String::new(),
            id: "b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e".to_owned(),
            kind: "vApp".to_owned(),
        }),
        timestamp: Some(timestamp),
        operation_success: Some(true),
    }
}

#[test]
fn xml_fixture_in_every_spelling() {
    for (variant, body) in variants(XML, &["vmext"]) {
        let notification = parse_with(&body, &key(TASK), &vcd_headers()).unwrap();
        assert_eq!(notification, expected(BodyFormat::Xml), "{variant}");
        assert!(notification.is_blocking_task_create());
    }
}

#[test]
fn json_fixture_in_every_spelling() {
    let naive_time = JSON.replace("2026-11-20T09:14:03.512+01:00", "2026-11-20 08:14:03.512");
    let extra_field = JSON.replacen(
        '{',
        r#"{"source": {"nested": [1, 2]}, "resolverUrl": "https://evil.example/","#,
        1,
    );
    let bodies = [
        JSON.to_owned(),
        format!("\u{feff}\r\n\t{JSON}"),
        naive_time,
        extra_field,
    ];
    for body in bodies {
        let notification = parse_with(&body, &key(TASK), &vcd_headers()).unwrap();
        assert_eq!(notification, expected(BodyFormat::Json), "{body}");
    }
}

#[test]
fn optional_headers_and_foreign_routing_keys() {
    let none = Headers::new();
    for (body, format) in [(XML, BodyFormat::Xml), (JSON, BodyFormat::Json)] {
        for routing_key in ["", "republished.from.dead-letters", "vcd.blockingtask"] {
            let notification = parse_with(body, routing_key, &none).unwrap();
            // Only the operation came from the routing key, and only for JSON.
            let operation = expected(format)
                .operation
                .filter(|_| format == BodyFormat::Xml);
            assert_eq!(
                notification,
                Notification {
                    operation,
                    ..expected(format)
                },
                "{routing_key:?}"
            );
        }
    }
}

#[test]
fn operation_success_from_body_or_header() {
    let body = JSON.replace("\"operationSuccess\": true,", "");
    let cases = [
        (None, None),
        (Some(HeaderValue::Bool(true)), Some(true)),
        (Some(HeaderValue::Bool(false)), Some(false)),
        (Some(HeaderValue::Text("true".to_owned())), Some(true)),
        (Some(HeaderValue::Text(" FALSE ".to_owned())), Some(false)),
        (Some(HeaderValue::Int(0)), Some(false)),
    ];
    for (header, expected) in cases {
        let mut headers = vcd_headers();
        headers.remove(HEADER_OPERATION_SUCCESS);
        headers.extend(
            header
                .clone()
                .map(|h| (HEADER_OPERATION_SUCCESS.to_owned(), h)),
        );
        let notification = parse_with(&body, &key(TASK), &headers).unwrap();
        assert_eq!(notification.operation_success, expected, "{header:?}");
    }
    let text_body = JSON.replace(
        "\"operationSuccess\": true",
        "\"operationSuccess\": \"true\"",
    );
    let as_text = parse_with(&text_body, &key(TASK), &vcd_headers()).unwrap();
    assert_eq!(as_text.operation_success, Some(true));
}

#[test]
fn other_notification_types_parse_but_are_not_acted_on() {
    let task_urn = format!("urn:vcloud:task:{PARENT}");
    let task_create = JSON
        .replace("blockingtask/create", "task/create")
        .replace(&format!("urn:vcloud:blockingTask:{TASK}"), &task_urn);
    let mut headers = with_header(
        HEADER_TYPE,
        HeaderValue::Text("com/vmware/vcloud/event/task/create".to_owned()),
    );
    headers.insert(
        HEADER_ENTITY_UUID.to_owned(),
        HeaderValue::Text(PARENT.to_owned()),
    );
    let task = parse_with(
        &task_create,
        &format!("true.{PARENT}.{ORG}.{USER}.com.vmware.vcloud.event.task.create"),
        &headers,
    )
    .unwrap();
    assert_eq!(
        (task.task_id, task.entity_urn.as_str()),
        (None, task_urn.as_str())
    );
    assert!(!task.is_blocking_task_create());

    let resume = XML.replace("blockingtask/create", "blockingtask/resume");
    let resume = parse_with(&resume, "", &Headers::new()).unwrap();
    assert_eq!(resume.task_id, Some(TaskId::parse(TASK).unwrap()));
    assert!(!resume.is_blocking_task_create());
}

#[test]
fn ids_compare_without_regard_to_case() {
    let upper = with_header(HEADER_ENTITY_UUID, HeaderValue::Text(TASK.to_uppercase()));
    let body = XML.replace(TASK, &TASK.to_uppercase());
    for (body, headers) in [(XML.to_owned(), upper), (body, vcd_headers())] {
        let notification = parse_with(&body, &key(TASK), &headers).unwrap();
        assert_eq!(notification.task_id, Some(TaskId::parse(TASK).unwrap()));
    }
}

#[test]
fn hrefs_in_a_message_go_nowhere() {
    let body = XML.replace(
        "https://vcd.example.com/api/entity/",
        "https://evil.example/steal/",
    );
    let notification = parse_with(&body, &key(TASK), &vcd_headers()).unwrap();
    assert_eq!(notification, expected(BodyFormat::Xml));
    assert!(!format!("{notification:?}").contains("evil"));
}

#[test]
fn entity_links_wherever_they_stand_among_other_elements() {
    let timestamp = XML
        .lines()
        .find(|l| l.contains("<vmext:Timestamp>"))
        .unwrap()
        .to_owned()
        + "\n";
    let entity_link = XML
        .lines()
        .find(|l| l.contains("rel=\"entity\""))
        .unwrap()
        .to_owned()
        + "\n";
    let body = XML
        .replace(&timestamp, "")
        .replace(&entity_link, &format!("{entity_link}{timestamp}"));
    assert_ne!(body, XML);
    let notification = parse_with(&body, &key(TASK), &vcd_headers()).unwrap();
    assert_eq!(notification, expected(BodyFormat::Xml));
}

#[test]
fn own_attributes_win_over_prefixed_ones_of_the_same_name() {
    let body = XML.replace(
        "<vmext:EntityLink rel=\"entity\"",
        "<vmext:EntityLink vmext:rel=\"up\" rel=\"entity\" xsi:id=\"urn:vcloud:vapp:x\"",
    );
    let notification = parse_with(&body, &key(TASK), &vcd_headers()).unwrap();
    assert_eq!(notification, expected(BodyFormat::Xml));
}

fn assert_refused(
    name: &str,
    body: &[u8],
    key: &str,
    headers: &Headers,
    reason: &str,
    fragment: &str,
) {
    let delivery = Delivery {
        body,
        routing_key: key,
        headers,
    };
    let error = parse(&delivery, LIMIT).unwrap_err();
    assert_eq!(error.reason().label(), reason, "{name}: {error}");
    assert!(error.to_string().contains(fragment), "{name}: {error}");
}

#[test]
fn refused_bodies() {
    let urn = format!("urn:vcloud:blockingTask:{TASK}");
    let entity_line = format!("  \"entity\": \"{urn}\",\n");
    let entity_link = XML
        .lines()
        .find(|l| l.contains("rel=\"entity\""))
        .unwrap()
        .to_owned()
        + "\n";
    let utf16: Vec<u8> = "\u{feff}<Notification/>"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let laughs = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">\
                  <!ENTITY lol2 \"&lol;&lol;\">]><Notification type=\"&lol2;\"/>";
    let vapp = "urn:vcloud:vapp:b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e";
    #[rustfmt::skip]
    let cases: [(&str, Vec<u8>, &str, &str); 23] = [
        ("empty body", vec![], "unknown_format", "neither"),
        ("blank body", b" \r\n\t ".to_vec(), "unknown_format", "neither"),
        ("binary garbage", vec![0xff, 0x00, 0x3c, 0x9f, 0x80], "not_utf8", "UTF-8"),
        ("UTF-16 XML", utf16, "not_utf8", "UTF-8"),
        ("text garbage", b"hello <Notification/>".to_vec(), "unknown_format", "neither"),
        ("JSON array", format!("[{JSON}]").into(), "unknown_format", "neither"),
        ("truncated XML", XML[..XML.len() / 2].into(), "malformed", "not closed"),
        ("XML without end", XML.replace("</vmext:Notification>", "").into(), "malformed", "ends inside <Notification>"),
        ("truncated JSON", JSON[..JSON.len() / 2].into(), "malformed", "EOF"),
        ("wrong root", XML.replace("vmext:Notification", "vmext:Event").into(), "malformed", "<Event>"),
        ("DOCTYPE", laughs.into(), "malformed", "DOCTYPE"),
        ("two entity links", XML.replace(&entity_link, &entity_link.repeat(2)).into(), "malformed", "more than one EntityLink"),
        ("two timestamps", XML.replace("</vmext:OperationSuccess>", "</vmext:OperationSuccess><vmext:Timestamp/>").into(), "malformed", "<Timestamp> appears more than once"),
        ("bad timestamp", JSON.replace("2026-11-20T09:14:03.512+01:00", "soon").into(), "malformed", "soon"),
        ("entity not a string", JSON.replace(&format!("\"{urn}\""), "5").into(), "malformed", "invalid type"),
        ("entity given twice", JSON.replace(&entity_line, &entity_line.repeat(2)).into(), "malformed", "duplicate field"),
        ("success not boolean", XML.replace(">true<", ">maybe<").into(), "malformed", "maybe"),
        ("JSON missing entity", JSON.replace(&entity_line, "").into(), "missing_field", "entity"),
        ("XML missing entity", XML.replace(&entity_link, "").into(), "missing_field", "entity"),
        ("JSON missing type", JSON.replace("\"type\"", "\"kind\"").into(), "missing_field", "type"),
        ("path in the id", XML.replace(TASK, "../../admin/x").into(), "invalid_id", "../../admin/x"),
        ("id one short", JSON.replace(TASK, &TASK[1..]).into(), "invalid_id", &TASK[1..]),
        ("create for a vApp", XML.replace(&urn, vapp).into(), "invalid_id", vapp),
    ];
    for (name, body, reason, fragment) in cases {
        assert_refused(name, &body, &key(TASK), &vcd_headers(), reason, fragment);
    }
}

#[test]
fn refused_when_headers_or_routing_key_disagree() {
    let text = |value: &str| HeaderValue::Text(value.to_owned());
    let resume = text("com/vmware/vcloud/event/blockingtask/resume");
    #[rustfmt::skip]
    let header_cases = [
        ("header id differs", HEADER_ENTITY_UUID, text(OTHER), "id_mismatch", "header notification.entityUUID \"2d4f6a8c"),
        ("header id not text", HEADER_ENTITY_UUID, HeaderValue::Int(7), "id_mismatch", "header notification.entityUUID \"7\""),
        ("type header differs", HEADER_TYPE, resume, "malformed", "blockingtask/resume"),
        ("success header differs", HEADER_OPERATION_SUCCESS, HeaderValue::Bool(false), "malformed", "operationSuccess"),
        ("success header odd", HEADER_OPERATION_SUCCESS, text("yes"), "malformed", "\"yes\""),
    ];
    for (name, header, value, reason, fragment) in header_cases {
        for body in [XML, JSON] {
            let headers = with_header(header, value.clone());
            assert_refused(
                name,
                body.as_bytes(),
                &key(TASK),
                &headers,
                reason,
                fragment,
            );
        }
    }
    let key_cases = [
        (key(OTHER), "routing key \"2d4f6a8c"),
        ("false.....admin".to_owned(), "routing key \"\""),
    ];
    for (routing_key, fragment) in key_cases {
        for body in [XML, JSON] {
            assert_refused(
                &routing_key,
                body.as_bytes(),
                &routing_key,
                &vcd_headers(),
                "id_mismatch",
                fragment,
            );
        }
    }
}

#[test]
fn size_is_checked_before_anything_else() {
    let headers = vcd_headers();
    let garbage = [0xff; 100];
    for body in [XML.as_bytes(), JSON.as_bytes(), &garbage] {
        let delivery = Delivery {
            body,
            routing_key: "",
            headers: &headers,
        };
        let error = parse(&delivery, body.len() - 1).unwrap_err();
        let expected = (body.len(), body.len() - 1);
        assert!(
            matches!(error, NotificationError::TooLarge { size, limit } if (size, limit) == expected)
        );
        assert_eq!(error.reason().label(), "too_large");
        let at_limit = parse(&delivery, body.len())
            .err()
            .map(|e| e.reason().label());
        assert_ne!(at_limit, Some("too_large"));
    }
}

#[test]
fn damaged_fixtures_give_errors_not_panics() {
    let headers = vcd_headers();
    let routing_key = key(TASK);
    for fixture in [XML, JSON] {
        let bytes = fixture.as_bytes();
        for at in 0..bytes.len() {
            let mut bodies = vec![bytes[..at].to_vec()];
            for replacement in [b'<', b'>', b'&', b'"', b'{', b'[', 0, 0xff] {
                let mut damaged = bytes.to_vec();
                damaged[at] = replacement;
                bodies.push(damaged);
            }
            for body in &bodies {
                let delivery = Delivery {
                    body,
                    routing_key: &routing_key,
                    headers: &headers,
                };
                let _ = parse(&delivery, LIMIT);
            }
        }
    }
}

#[test]
fn the_owner_kind_is_spelled_as_the_blocking_task_spells_it() {
    let owner = "b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e";
    for (xml_type, urn_kind, kind) in [
        ("vcloud:vapp", "vapp", "vApp"),
        ("vcloud:vm", "vm", "vm"),
        ("vcloud:vapptemplate", "vapptemplate", "vAppTemplate"),
        ("vcloud:media", "media", "media"),
        ("vcloud:disk", "disk", "disk"),
    ] {
        let xml = XML.replace(
            r#"type="vcloud:vapp" id="urn:vcloud:vapp:"#,
            &format!(r#"type="{xml_type}" id="urn:vcloud:{urn_kind}:"#),
        );
        let json = JSON.replace("urn:vcloud:vapp:", &format!("urn:vcloud:{urn_kind}:"));
        for body in [xml, json] {
            let parsed = parse_with(&body, &key(TASK), &vcd_headers()).unwrap();
            let found = parsed.owner.unwrap();
            assert_eq!(
                (found.kind.as_str(), found.id.as_str()),
                (kind, owner),
                "{body}"
            );
        }
    }
}
