//! vCD's AMQP notifications ([`Delivery`]: body, routing key, headers) turned into checked
//! [`Notification`]s. vCD publishes each event twice, as XML and as JSON; both become the same
//! type. Only the entity's UUID is ever used to reach vCD, and only after it has been
//! validated and cross-checked against the headers and the routing key.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::task::{BLOCKING_TASK_URN_PREFIX, EntityRef, TaskId};
use crate::timestamp::parse_timestamp;
use crate::xml::{self, Element};

/// The one notification type the daemon acts on.
pub const BLOCKING_TASK_CREATE: &str = "com/vmware/vcloud/event/blockingtask/create";

const HEADER_TYPE: &str = "notification.type";
const HEADER_ENTITY_UUID: &str = "notification.entityUUID";
const HEADER_OPERATION_SUCCESS: &str = "notification.operationSuccess";
const HEADER_ENTITY_UUID_SOURCE: &str = "header notification.entityUUID";
const ROUTING_KEY_OPERATION_MARKER: &str = "blockingtask.create.";

/// An AMQP header value, reduced to what vCD sends (the amqp layer converts lapin's types).
#[derive(Debug, Clone, PartialEq)]
pub enum HeaderValue {
    Text(String),
    Bool(bool),
    Int(i64),
    Other,
}

pub type Headers = BTreeMap<String, HeaderValue>;

/// One message as the broker delivered it.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub body: &'a [u8],
    pub routing_key: &'a str,
    pub headers: &'a Headers,
}

/// Which of vCD's two publications a body came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Xml,
    Json,
}

/// A notification whose ids have been validated and cross-checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// E.g. `com/vmware/vcloud/event/blockingtask/create`.
    pub event_type: String,
    pub format: BodyFormat,
    pub event_id: Option<String>,
    /// The entity URN as given, trimmed (`urn:vcloud:blockingTask:<uuid>` for blocking tasks).
    pub entity_urn: String,
    /// Some exactly when the entity is a blocking task.
    pub task_id: Option<TaskId>,
    /// The suspended operation, e.g. `vdcInstantiateVapp`.
    pub operation: Option<String>,
    /// Names only come with XML bodies; ids are the last part of the URNs.
    pub org: Option<EntityRef>,
    pub user: Option<EntityRef>,
    pub timestamp: Option<DateTime<Utc>>,
    pub operation_success: Option<bool>,
}

impl Notification {
    /// Whether vCD has just suspended an operation and waits for a decision. Every other type
    /// (including the notifications our own actions cause) must be left alone.
    pub fn is_blocking_task_create(&self) -> bool {
        self.event_type == BLOCKING_TASK_CREATE && self.task_id.is_some()
    }
}

/// Why a delivery is not a usable notification. Every variant means the same to the caller:
/// dead-letter the message with [`reason`](NotificationError::reason); the same bytes would fail
/// the same way again.
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("message body is not UTF-8")]
    NotUtf8,
    #[error("message body is neither XML nor a JSON object")]
    UnknownFormat,
    #[error("malformed notification: {0}")]
    Malformed(String),
    #[error("notification lacks its {0}")]
    MissingField(&'static str),
    #[error("invalid blocking task id {0:?}")]
    InvalidId(String),
    #[error("entity {body_id:?} in the body disagrees with {other_source} {other_id:?}")]
    IdMismatch {
        body_id: String,
        other_source: &'static str,
        other_id: String,
    },
}

impl NotificationError {
    /// Short label for the dead-letter reason header and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            NotificationError::TooLarge { .. } => "too_large",
            NotificationError::NotUtf8 => "not_utf8",
            NotificationError::UnknownFormat => "unknown_format",
            NotificationError::Malformed(_) => "malformed",
            NotificationError::MissingField(_) => "missing_field",
            NotificationError::InvalidId(_) => "invalid_id",
            NotificationError::IdMismatch { .. } => "id_mismatch",
        }
    }
}

/// Parses and checks one delivery. The format is told by the first non-blank byte (`<` or `{`),
/// never by content type, which vCD does not document.
pub fn parse(delivery: &Delivery<'_>, max_bytes: usize) -> Result<Notification, NotificationError> {
    let size = delivery.body.len();
    if size > max_bytes {
        return Err(NotificationError::TooLarge {
            size,
            limit: max_bytes,
        });
    }
    let text = std::str::from_utf8(delivery.body).map_err(|_| NotificationError::NotUtf8)?;
    let text = xml::trim_preamble(text);
    let (format, raw) = match text.as_bytes().first() {
        Some(b'<') => (BodyFormat::Xml, read_xml(text)?),
        Some(b'{') => (BodyFormat::Json, read_json(text)?),
        _ => return Err(NotificationError::UnknownFormat),
    };
    check(raw, format, delivery)
}

/// What either body format says, before any checks.
#[derive(Debug, Default)]
struct RawNotification {
    event_type: Option<String>,
    event_id: Option<String>,
    entity: Option<RawLink>,
    org: Option<RawLink>,
    user: Option<RawLink>,
    timestamp: Option<String>,
    operation_success: Option<bool>,
}

#[derive(Debug, Default)]
struct RawLink {
    name: Option<String>,
    urn: Option<String>,
}

fn read_xml(text: &str) -> Result<RawNotification, NotificationError> {
    let root = xml::parse_document(text).map_err(malformed)?;
    if root.name != "Notification" {
        return Err(malformed(format!(
            "root element is <{}>, not <Notification>",
            root.name
        )));
    }
    let owned = |element: &Element, name| element.attr(name).map(str::to_owned);
    let mut raw = RawNotification {
        event_type: owned(&root, "type"),
        event_id: owned(&root, "eventId"),
        ..RawNotification::default()
    };
    // `Link rel="entityResolver"` is deliberately not read: hrefs from the broker never
    // become URLs we call.
    for link in root.children_named("EntityLink") {
        let slot = match link.attr("rel") {
            Some("entity") => &mut raw.entity,
            Some("up") => &mut raw.org,
            Some("down") => &mut raw.user,
            _ => continue,
        };
        if slot.is_some() {
            let rel = link.attr("rel").unwrap_or_default();
            return Err(malformed(format!("more than one EntityLink rel={rel:?}")));
        }
        *slot = Some(RawLink {
            name: owned(link, "name"),
            urn: owned(link, "id"),
        });
    }
    let child_text = |name| {
        let child = root.single_child(name).map_err(malformed)?;
        Ok::<_, NotificationError>(child.map(|c| c.text().to_owned()))
    };
    raw.timestamp = child_text("Timestamp")?;
    raw.operation_success = child_text("OperationSuccess")?
        .map(|text| {
            parse_bool(&text).ok_or_else(|| malformed(format!("OperationSuccess {text:?}")))
        })
        .transpose()?;
    Ok(raw)
}

/// The flat JSON object of the `notifications20` exchange. Unknown fields are ignored (unlike
/// our config files): vCD adds fields between releases and we read only a few.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonNotification {
    #[serde(rename = "type")]
    event_type: Option<String>,
    event_id: Option<String>,
    entity: Option<String>,
    org: Option<String>,
    user: Option<String>,
    timestamp: Option<String>,
    operation_success: Option<JsonBool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonBool {
    Bool(bool),
    Text(String),
}

fn read_json(text: &str) -> Result<RawNotification, NotificationError> {
    let json: JsonNotification = serde_json::from_str(text).map_err(malformed)?;
    let link = |urn: Option<String>| {
        urn.map(|urn| RawLink {
            name: None,
            urn: Some(urn),
        })
    };
    let operation_success = match json.operation_success {
        None => None,
        Some(JsonBool::Bool(value)) => Some(value),
        Some(JsonBool::Text(text)) => {
            Some(parse_bool(&text).ok_or_else(|| malformed(format!("operationSuccess {text:?}")))?)
        }
    };
    Ok(RawNotification {
        event_type: json.event_type,
        event_id: json.event_id,
        entity: link(json.entity),
        org: link(json.org),
        user: link(json.user),
        timestamp: json.timestamp,
        operation_success,
    })
}

/// Turns what the body says into a [`Notification`], checking it against headers and key.
fn check(
    raw: RawNotification,
    format: BodyFormat,
    delivery: &Delivery<'_>,
) -> Result<Notification, NotificationError> {
    let event_type = non_blank(raw.event_type).ok_or(NotificationError::MissingField("type"))?;
    check_type_header(&event_type, delivery.headers)?;
    let entity = raw.entity.unwrap_or_default();
    let entity_urn = non_blank(entity.urn).ok_or(NotificationError::MissingField("entity"))?;
    let task_id = blocking_task_id(&event_type, &entity_urn)?;
    if let Some(task_id) = task_id {
        check_entity_header(task_id, &entity_urn, delivery.headers)?;
        check_routing_key(task_id, &entity_urn, delivery.routing_key)?;
    }
    let timestamp = raw
        .timestamp
        .map(|text| parse_timestamp(&text).map_err(malformed))
        .transpose()?;
    Ok(Notification {
        operation: non_blank(entity.name).or_else(|| operation_from_key(delivery.routing_key)),
        operation_success: operation_success(raw.operation_success, delivery.headers)?,
        event_type,
        format,
        event_id: raw.event_id,
        entity_urn,
        task_id,
        org: raw.org.map(|link| entity_ref(link, "org")),
        user: raw.user.map(|link| entity_ref(link, "user")),
        timestamp,
    })
}

/// The task id when the entity is a blocking task. A `blockingtask/create` must name one.
fn blocking_task_id(event_type: &str, urn: &str) -> Result<Option<TaskId>, NotificationError> {
    let claims_blocking_task = urn
        .get(..BLOCKING_TASK_URN_PREFIX.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(BLOCKING_TASK_URN_PREFIX));
    if claims_blocking_task {
        TaskId::parse(urn)
            .map(Some)
            .map_err(|_| NotificationError::InvalidId(urn.to_owned()))
    } else if event_type == BLOCKING_TASK_CREATE {
        Err(NotificationError::InvalidId(urn.to_owned()))
    } else {
        Ok(None)
    }
}

fn check_type_header(event_type: &str, headers: &Headers) -> Result<(), NotificationError> {
    match headers.get(HEADER_TYPE) {
        None => Ok(()),
        Some(HeaderValue::Text(text)) if text.trim() == event_type => Ok(()),
        Some(other) => Err(malformed(format!(
            "body type {event_type:?} disagrees with header {HEADER_TYPE} {}",
            describe(other)
        ))),
    }
}

fn check_entity_header(id: TaskId, urn: &str, headers: &Headers) -> Result<(), NotificationError> {
    let Some(value) = headers.get(HEADER_ENTITY_UUID) else {
        return Ok(());
    };
    match value {
        HeaderValue::Text(text) if TaskId::parse(text).is_ok_and(|h| h == id) => Ok(()),
        HeaderValue::Text(text) => Err(mismatch(urn, HEADER_ENTITY_UUID_SOURCE, text.clone())),
        other => Err(mismatch(urn, HEADER_ENTITY_UUID_SOURCE, describe(other))),
    }
}

/// vCD's routing keys start `<operationSuccess>.<entityUUID>.`; keys of another shape (a
/// re-published message, say) carry no id to compare.
fn check_routing_key(id: TaskId, urn: &str, routing_key: &str) -> Result<(), NotificationError> {
    let mut segments = routing_key.split('.');
    let vcd_shaped = segments.next().is_some_and(|first| {
        first.eq_ignore_ascii_case("true") || first.eq_ignore_ascii_case("false")
    });
    match segments.next() {
        Some(key_id) if vcd_shaped && TaskId::parse(key_id).is_ok_and(|k| k == id) => Ok(()),
        Some(key_id) if vcd_shaped => Err(mismatch(urn, "routing key", key_id.to_owned())),
        _ => Ok(()),
    }
}

/// The body's value wins; the header fills in when the body lacks it; disagreement is refused.
fn operation_success(
    body: Option<bool>,
    headers: &Headers,
) -> Result<Option<bool>, NotificationError> {
    let header = match headers.get(HEADER_OPERATION_SUCCESS) {
        None => None,
        Some(HeaderValue::Bool(value)) => Some(*value),
        Some(HeaderValue::Int(value @ (0 | 1))) => Some(*value == 1),
        Some(HeaderValue::Text(text)) if parse_bool(text).is_some() => parse_bool(text),
        Some(other) => {
            let value = describe(other);
            return Err(malformed(format!(
                "header {HEADER_OPERATION_SUCCESS} is {value}"
            )));
        }
    };
    match (body, header) {
        (Some(body), Some(header)) if body != header => Err(malformed(format!(
            "body says operationSuccess {body} but header {HEADER_OPERATION_SUCCESS} says {header}"
        ))),
        (body, header) => Ok(body.or(header)),
    }
}

/// `…blockingtask.create.vdcInstantiateVapp` → `vdcInstantiateVapp`.
fn operation_from_key(routing_key: &str) -> Option<String> {
    let (_, rest) = routing_key.split_once(ROUTING_KEY_OPERATION_MARKER)?;
    rest.rsplit('.')
        .next()
        .filter(|op| !op.is_empty())
        .map(str::to_owned)
}

fn entity_ref(link: RawLink, kind: &str) -> EntityRef {
    let urn = link.urn.unwrap_or_default();
    EntityRef {
        name: link.name.unwrap_or_default(),
        id: urn.rsplit(':').next().unwrap_or_default().to_owned(),
        kind: kind.to_owned(),
    }
}

/// `xs:boolean` as text: `true`, `false`, `1`, `0` (any case, surrounding blanks ignored).
fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// The trimmed text, or `None` when there is none.
fn non_blank(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

fn describe(value: &HeaderValue) -> String {
    match value {
        HeaderValue::Text(text) => format!("{text:?}"),
        HeaderValue::Bool(value) => value.to_string(),
        HeaderValue::Int(value) => value.to_string(),
        HeaderValue::Other => "a value of an unexpected type".to_owned(),
    }
}

fn malformed(detail: impl std::fmt::Display) -> NotificationError {
    NotificationError::Malformed(detail.to_string())
}

fn mismatch(urn: &str, other_source: &'static str, other_id: String) -> NotificationError {
    NotificationError::IdMismatch {
        body_id: urn.to_owned(),
        other_source,
        other_id,
    }
}

#[cfg(test)]
mod tests {
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
        let timestamp = Utc.with_ymd_and_hms(2026, 11, 20, 8, 14, 3).unwrap()
            + chrono::Duration::milliseconds(512);
        Notification {
            event_type: BLOCKING_TASK_CREATE.to_owned(),
            format,
            event_id: Some("3f0c2b7e-9d41-4c55-8a0e-6b1f2d9c7a10".to_owned()),
            entity_urn: format!("urn:vcloud:blockingTask:{TASK}"),
            task_id: Some(TaskId::parse(TASK).unwrap()),
            operation: Some("vdcInstantiateVapp".to_owned()),
            org: Some(entity("acme", ORG, "org")),
            user: Some(entity("alice", USER, "user")),
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
        assert_eq!(error.reason(), reason, "{name}: {error}");
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
        let cases: [(&str, Vec<u8>, &str, &str); 22] = [
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
            assert_eq!(error.reason(), "too_large");
            let at_limit = parse(&delivery, body.len()).err().map(|e| e.reason());
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
}
