//! vCD's two notification bodies as they come over the wire: the XML document (for quick-xml's
//! deserializer, names by local name, `@` for attributes) and the flat JSON object of the
//! `notifications20` exchange. Unknown elements, attributes and fields are ignored (unlike our
//! config files): vCD adds them between releases and we read only a few. Both become a
//! `RawNotification` in [`super`], the only code that reads these.

use serde::Deserialize;

/// `Notification` (extension namespace, `vmext:` in practice).
#[derive(Debug, Deserialize)]
pub(super) struct XmlNotification {
    #[serde(rename = "@type")]
    pub event_type: Option<String>,
    #[serde(rename = "@eventId")]
    pub event_id: Option<String>,
    /// `Link rel="entityResolver"` is deliberately not read: hrefs from the broker never
    /// become URLs we call.
    #[serde(rename = "EntityLink", default)]
    pub entity_links: Vec<EntityLinkXml>,
    #[serde(rename = "Timestamp")]
    pub timestamp: Option<String>,
    #[serde(rename = "OperationSuccess")]
    pub operation_success: Option<String>,
}

/// `EntityLink`: what `rel` relates to the event (`entity`, `up` = org, `down` = user,
/// `task:owner` = what the task operates on, …).
#[derive(Debug, Deserialize)]
pub(super) struct EntityLinkXml {
    #[serde(rename = "@rel")]
    pub rel: Option<String>,
    /// E.g. `vcloud:vapp`, `vcloud:vm`.
    #[serde(rename = "@type")]
    pub kind: Option<String>,
    #[serde(rename = "@name")]
    pub name: Option<String>,
    /// A URN such as `urn:vcloud:blockingTask:<uuid>`.
    #[serde(rename = "@id")]
    pub id: Option<String>,
}

/// The JSON object.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JsonNotification {
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    pub event_id: Option<String>,
    pub entity: Option<String>,
    pub org: Option<String>,
    pub user: Option<String>,
    /// The URN of what the task operates on, e.g. `urn:vcloud:vapp:<uuid>`.
    pub task_owner: Option<String>,
    pub timestamp: Option<String>,
    pub operation_success: Option<JsonBool>,
}

/// `operationSuccess` as a JSON boolean or as text.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum JsonBool {
    Bool(bool),
    Text(String),
}
