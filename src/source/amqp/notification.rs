//! vCD's AMQP notifications ([`Delivery`]: body, routing key, headers) turned into checked
//! [`Notification`]s. vCD publishes each event twice, as XML and as JSON; both become the same
//! type. Only the entity's UUID is ever used to reach vCD, and only after it has been
//! validated and cross-checked against the headers and the routing key.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use self::wire::{JsonBool, JsonNotification, XmlNotification};
use crate::outcome::DeadLetterReason;
use crate::task::{BLOCKING_TASK_URN_PREFIX, EntityRef, TaskId};
use crate::timestamp::parse_timestamp;
use crate::xml;

mod wire;

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
    /// What the task operates on (`EntityLink rel="task:owner"`, JSON `taskOwner`), its kind
    /// spelled as the BlockingTask's `TaskOwner` gives it (`vApp`, `vm`, `vAppTemplate`,
    /// `media`).
    pub owner: Option<EntityRef>,
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
    /// Why the message is dead-lettered.
    pub fn reason(&self) -> DeadLetterReason {
        match self {
            NotificationError::TooLarge { .. } => DeadLetterReason::TooLarge,
            NotificationError::NotUtf8 => DeadLetterReason::NotUtf8,
            NotificationError::UnknownFormat => DeadLetterReason::UnknownFormat,
            NotificationError::Malformed(_) => DeadLetterReason::Malformed,
            NotificationError::MissingField(_) => DeadLetterReason::MissingField,
            NotificationError::InvalidId(_) => DeadLetterReason::InvalidId,
            NotificationError::IdMismatch { .. } => DeadLetterReason::IdMismatch,
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
    owner: Option<RawLink>,
    timestamp: Option<String>,
    operation_success: Option<bool>,
}

#[derive(Debug, Default)]
struct RawLink {
    name: Option<String>,
    urn: Option<String>,
    /// The link's `type` (`vcloud:vm`); XML only.
    kind: Option<String>,
}

fn read_xml(text: &str) -> Result<RawNotification, NotificationError> {
    let document = xml::check(text).map_err(malformed)?;
    if document.root() != "Notification" {
        return Err(malformed(format!(
            "root element is <{}>, not <Notification>",
            document.root()
        )));
    }
    let notification: XmlNotification = document.deserialize().map_err(malformed)?;
    notification.try_into()
}

fn read_json(text: &str) -> Result<RawNotification, NotificationError> {
    let notification: JsonNotification = serde_json::from_str(text).map_err(malformed)?;
    notification.try_into()
}

impl TryFrom<XmlNotification> for RawNotification {
    type Error = NotificationError;

    fn try_from(xml: XmlNotification) -> Result<RawNotification, NotificationError> {
        let mut raw = RawNotification {
            event_type: xml.event_type,
            event_id: xml.event_id,
            timestamp: xml.timestamp.map(|text| text.trim().to_owned()),
            ..RawNotification::default()
        };
        for link in xml.entity_links {
            let slot = match link.rel.as_deref() {
                Some("entity") => &mut raw.entity,
                Some("up") => &mut raw.org,
                Some("down") => &mut raw.user,
                Some("task:owner") => &mut raw.owner,
                _ => continue,
            };
            if slot.is_some() {
                let rel = link.rel.unwrap_or_default();
                return Err(malformed(format!("more than one EntityLink rel={rel:?}")));
            }
            *slot = Some(RawLink {
                name: link.name,
                urn: link.id,
                kind: link.kind,
            });
        }
        raw.operation_success = xml
            .operation_success
            .map(|text| {
                let text = text.trim();
                parse_bool(text).ok_or_else(|| malformed(format!("OperationSuccess {text:?}")))
            })
            .transpose()?;
        Ok(raw)
    }
}

impl TryFrom<JsonNotification> for RawNotification {
    type Error = NotificationError;

    fn try_from(json: JsonNotification) -> Result<RawNotification, NotificationError> {
        let link = |urn: Option<String>| {
            urn.map(|urn| RawLink {
                name: None,
                urn: Some(urn),
                kind: None,
            })
        };
        let operation_success = match json.operation_success {
            None => None,
            Some(JsonBool::Bool(value)) => Some(value),
            Some(JsonBool::Text(text)) => Some(
                parse_bool(&text).ok_or_else(|| malformed(format!("operationSuccess {text:?}")))?,
            ),
        };
        Ok(RawNotification {
            event_type: json.event_type,
            event_id: json.event_id,
            entity: link(json.entity),
            org: link(json.org),
            user: link(json.user),
            owner: link(json.task_owner),
            timestamp: json.timestamp,
            operation_success,
        })
    }
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
        owner: raw.owner.map(owner_ref),
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

/// The task's owner: the kind from the link's `type` (`vcloud:vm`), else from the URN
/// (`urn:vcloud:vm:<uuid>`), spelled as vCD's media types spell it; the id is the URN's last
/// part, a UUID in lower case as the BlockingTask path gives it.
fn owner_ref(link: RawLink) -> EntityRef {
    let urn = link.urn.unwrap_or_default();
    let urn = urn.trim();
    let from_type = link
        .kind
        .as_deref()
        .map(|kind| {
            kind.trim()
                .rsplit(':')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .filter(|kind| !kind.is_empty());
    let mut parts = urn.rsplitn(3, ':');
    let id = parts.next().unwrap_or_default();
    let from_urn = parts.next().map(str::to_owned);
    let kind = from_type.or(from_urn).unwrap_or_default();
    EntityRef {
        name: non_blank(link.name).unwrap_or_default(),
        id: uuid::Uuid::try_parse(id)
            .map_or_else(|_| id.to_owned(), |u| u.hyphenated().to_string()),
        kind: owner_kind(&kind).to_owned(),
    }
}

/// `vapp` → `vApp`, `vapptemplate` → `vAppTemplate`, …: the spelling of the BlockingTask's
/// `TaskOwner` media type (`application/vnd.vmware.vcloud.vApp+xml`); other kinds as given.
fn owner_kind(kind: &str) -> &str {
    const SPELLINGS: [&str; 6] = ["vApp", "vm", "vAppTemplate", "media", "vdc", "catalog"];
    SPELLINGS
        .iter()
        .find(|spelling| spelling.eq_ignore_ascii_case(kind))
        .copied()
        .unwrap_or(kind)
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
mod tests;
