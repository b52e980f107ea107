//! vCloud API documents converted into domain types ([`BlockingTask`], task references,
//! [`VersionInfo`], [`ErrorDocument`]) and the XML bodies of the blocking-task actions.
//!
//! Everything here reads responses from a remote server: a document that is not what it should
//! be gives a [`ModelError`], never a panic. Each document passes [`xml::check`], is
//! deserialized into its wire type ([`wire`]) and converted once into its domain type; the
//! task list, which can name every task in the cloud, is read tag by tag instead.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use self::wire::{BlockingTaskXml, ErrorXml, ReferenceXml, SupportedVersionsXml, VersionInfoXml};
use super::version::{ApiVersion, VersionInfo};
use crate::task::{BlockingTask, EntityRef, TaskId, TaskStatus};
use crate::timestamp::parse_timestamp;
use crate::xml::{self, XmlError};

pub(crate) mod owner;
mod settings;
mod wire;

pub(crate) use settings::{
    AmqpSettings, BlockingSettings, MEDIA_BLOCKING_TASK_SETTINGS, blocking_settings_document,
    parse_amqp_settings, parse_blocking_settings, parse_notifications_enabled,
};

pub(crate) const MEDIA_OPERATION_PARAMS: &str =
    "application/vnd.vmware.admin.blockingTaskOperationParams+xml";
/// Note the media type says `…UpdateProgressOperationParams` while the element is
/// `BlockingTaskUpdateProgressParams`.
pub(crate) const MEDIA_UPDATE_PROGRESS_PARAMS: &str =
    "application/vnd.vmware.admin.blockingTaskUpdateProgressOperationParams+xml";

const EXTENSION_NAMESPACE: &str = "http://www.vmware.com/vcloud/extension/v1.5";

/// A vCD response document that cannot be turned into the expected domain value. The vCD
/// client treats all of them alike: vCD (or a proxy in front of it) said something we do not
/// understand, which a few more tries may cure (a proxy's error page, a cut-off body) and
/// more will not.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error("response is not well-formed XML: {0}")]
    Xml(String),
    #[error("expected a <{expected}> document, got <{found}>")]
    UnexpectedRoot {
        expected: &'static str,
        found: String,
    },
    #[error("response lacks {0}")]
    Missing(&'static str),
    #[error("response has an invalid {field}: {value:?}")]
    Invalid { field: &'static str, value: String },
}

impl From<XmlError> for ModelError {
    fn from(error: XmlError) -> ModelError {
        ModelError::Xml(error.to_string())
    }
}

/// The body of a vCD error response (`application/vnd.vmware.vcloud.error+xml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorDocument {
    pub message: String,
    /// The HTTP status vCD meant, when it gave a number.
    pub major_code: Option<u16>,
    /// E.g. `BAD_REQUEST`; empty when absent.
    pub minor_code: String,
}

impl fmt::Display for ErrorDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}", self.message, self.minor_code)?;
        if let Some(code) = self.major_code {
            write!(f, ", {code}")?;
        }
        f.write_str(")")
    }
}

/// `GET /api/admin/extension/blockingTask/<uuid>`.
pub fn parse_blocking_task(xml: &str) -> Result<BlockingTask, ModelError> {
    document::<BlockingTaskXml>(xml, "BlockingTask")?.try_into()
}

/// vCD's list of active blocking tasks, as far as it could be read.
#[derive(Debug, Default, PartialEq)]
pub struct TaskReferences {
    /// The tasks of the entries that name one, in document order.
    pub ids: Vec<TaskId>,
    /// What was wrong with each entry that names no task (no href, an id that is not a UUID);
    /// the other entries are still listed.
    pub skipped: Vec<ModelError>,
}

/// `GET /api/admin/extension/blockingTasks/`: the ids of all active blocking tasks. An entry
/// that names no task is set aside in [`TaskReferences::skipped`]; only a document that is not
/// a readable list is an error.
pub fn parse_task_references(xml: &str) -> Result<TaskReferences, ModelError> {
    // Read tag by tag, not deserialized: the list names every active task in the cloud, and
    // only the ids are kept. A wrong root is reported once the XML checks passed.
    let mut list = TaskReferences::default();
    let mut wrong_root = None;
    xml::scan(xml, |depth, tag| {
        match depth {
            0 if tag.name() != "BlockingTaskReferences" => {
                wrong_root = Some(ModelError::UnexpectedRoot {
                    expected: "BlockingTaskReferences",
                    found: tag.name().to_owned(),
                });
            }
            1 if tag.name() == "Reference" && wrong_root.is_none() => match tag.attr("href")? {
                None => list.skipped.push(ModelError::Missing("Reference href")),
                Some(href) => match TaskId::parse(last_path_segment(&href)) {
                    Ok(id) => list.ids.push(id),
                    Err(_) => list.skipped.push(invalid("Reference href", &href)),
                },
            },
            _ => {}
        }
        Ok(())
    })?;
    match wrong_root {
        Some(problem) => Err(problem),
        None => Ok(list),
    }
}

/// One page of `GET /api/query?type=blockingTask&format=records` (protocol notes §8).
#[derive(Debug, Default)]
pub struct TaskPage {
    /// The tasks of this page's `BlockingTaskRecord`s, and the records that name none.
    pub tasks: TaskReferences,
    /// vCD links a `nextPage`: more records follow.
    pub more: bool,
    /// The root's `total`: how many records all pages hold together, when vCD says.
    pub total: Option<u64>,
}

/// A page of the query service's `QueryResultRecords`: the ids of its `BlockingTaskRecord`s
/// (the task's id is the last segment of the record's `href`, as in the references list) and
/// whether a `Link rel="nextPage"` says more follow. A record that names no task is set aside
/// in [`TaskReferences::skipped`]; only a document that is not a page of records is an error.
pub fn parse_task_page(xml: &str) -> Result<TaskPage, ModelError> {
    let mut page = TaskPage::default();
    let mut wrong_root = None;
    xml::scan(xml, |depth, tag| {
        match depth {
            0 if tag.name() != "QueryResultRecords" => {
                wrong_root = Some(ModelError::UnexpectedRoot {
                    expected: "QueryResultRecords",
                    found: tag.name().to_owned(),
                });
            }
            0 => page.total = tag.attr("total")?.and_then(|total| total.parse().ok()),
            1 if wrong_root.is_some() => {}
            1 if tag.name() == "Link" => {
                page.more |= tag.attr("rel")?.is_some_and(|rel| rel == "nextPage");
            }
            1 if tag.name() == "BlockingTaskRecord" => match tag.attr("href")? {
                None => page
                    .tasks
                    .skipped
                    .push(ModelError::Missing("BlockingTaskRecord href")),
                Some(href) => match TaskId::parse(last_path_segment(&href)) {
                    Ok(id) => page.tasks.ids.push(id),
                    Err(_) => page
                        .tasks
                        .skipped
                        .push(invalid("BlockingTaskRecord href", &href)),
                },
            },
            _ => {}
        }
        Ok(())
    })?;
    match wrong_root {
        Some(problem) => Err(problem),
        None => Ok(page),
    }
}

/// The `total` of a page of the query service's `QueryResultRecords`: how many records all
/// pages hold together (a count asks for `pageSize=1` and reads only this).
pub(crate) fn parse_record_total(xml: &str) -> Result<u64, ModelError> {
    let mut total = None;
    let mut wrong_root = None;
    xml::scan(xml, |depth, tag| {
        match depth {
            0 if tag.name() != "QueryResultRecords" => {
                wrong_root = Some(ModelError::UnexpectedRoot {
                    expected: "QueryResultRecords",
                    found: tag.name().to_owned(),
                });
            }
            0 => total = tag.attr("total")?.map(|text| text.into_owned()),
            _ => {}
        }
        Ok(())
    })?;
    if let Some(problem) = wrong_root {
        return Err(problem);
    }
    let total = total.ok_or(ModelError::Missing("QueryResultRecords total"))?;
    total
        .parse()
        .map_err(|_| invalid("QueryResultRecords total", &total))
}

/// `GET /api/versions`, in document order (vCD lists oldest first). Entries whose version
/// cannot be parsed are skipped: one odd entry must not hide the versions we can use.
pub(crate) fn parse_versions(xml: &str) -> Result<Vec<VersionInfo>, ModelError> {
    let versions: SupportedVersionsXml = document(xml, "SupportedVersions")?;
    let versions = versions
        .versions
        .into_iter()
        .filter_map(|info| VersionInfo::try_from(info).ok())
        .collect();
    Ok(versions)
}

/// The error a vCD response body describes, or `None` when the body is not a vCD `Error`.
pub(crate) fn parse_error(xml: &str) -> Option<ErrorDocument> {
    let error: ErrorXml = document(xml, "Error").ok()?;
    Some(error.into())
}

/// The body of `resume`, `abort` and `fail` ([`MEDIA_OPERATION_PARAMS`]).
pub(crate) fn operation_params(message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <BlockingTaskOperationParams xmlns=\"{EXTENSION_NAMESPACE}\">\n    \
         <Message>{}</Message>\n\
         </BlockingTaskOperationParams>\n",
        xml::escape_text(message)
    )
}

/// The body of `updateProgress` ([`MEDIA_UPDATE_PROGRESS_PARAMS`]); `timeout` resets the task's
/// deadline to now + timeout (whole milliseconds, capped at `xs:long`).
pub(crate) fn update_progress_params(message: &str, timeout: Option<Duration>) -> String {
    let timeout = timeout
        .map(|t| {
            let millis = i64::try_from(t.as_millis()).unwrap_or(i64::MAX);
            format!("    <TimeoutValueInMilliseconds>{millis}</TimeoutValueInMilliseconds>\n")
        })
        .unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <BlockingTaskUpdateProgressParams xmlns=\"{EXTENSION_NAMESPACE}\">\n    \
         <Message>{}</Message>\n\
         {timeout}\
         </BlockingTaskUpdateProgressParams>\n",
        xml::escape_text(message)
    )
}

/// The document deserialized into its wire type, when its root is `expected`.
fn document<T: DeserializeOwned>(xml: &str, expected: &'static str) -> Result<T, ModelError> {
    let document = xml::check(xml)?;
    if document.root() != expected {
        return Err(ModelError::UnexpectedRoot {
            expected,
            found: document.root().to_owned(),
        });
    }
    Ok(document.deserialize()?)
}

impl TryFrom<BlockingTaskXml> for BlockingTask {
    type Error = ModelError;

    fn try_from(xml: BlockingTaskXml) -> Result<BlockingTask, ModelError> {
        let id = xml.id.ok_or(ModelError::Missing("id"))?;
        Ok(BlockingTask {
            id: TaskId::parse(&id).map_err(|_| invalid("id", &id))?,
            operation: xml.name.ok_or(ModelError::Missing("name"))?,
            status: TaskStatus::parse(&xml.status.ok_or(ModelError::Missing("status"))?),
            created: optional_time("createdTime", xml.created_time)?,
            timeout_date: optional_time("timeoutDate", xml.timeout_date)?,
            timeout_action: xml.timeout_action.unwrap_or_default(),
            description: xml
                .description
                .map(|text| text.trim().to_owned())
                .unwrap_or_default(),
            org: entity_ref(xml.organization, Some("org")),
            user: entity_ref(xml.user, Some("user")),
            owner: entity_ref(xml.task_owner, None),
        })
    }
}

impl TryFrom<VersionInfoXml> for VersionInfo {
    type Error = ModelError;

    fn try_from(xml: VersionInfoXml) -> Result<VersionInfo, ModelError> {
        let version = xml.version.first().ok_or(ModelError::Missing("Version"))?;
        Ok(VersionInfo {
            version: ApiVersion::parse(version).map_err(|_| invalid("Version", version))?,
            deprecated: xml.deprecated.as_deref().is_some_and(parse_xs_bool),
            login_url: xml
                .login_url
                .into_iter()
                .next()
                .map(|url| url.trim().to_owned())
                .filter(|url| !url.is_empty()),
        })
    }
}

impl From<ErrorXml> for ErrorDocument {
    fn from(xml: ErrorXml) -> ErrorDocument {
        ErrorDocument {
            message: xml.message.unwrap_or_default(),
            major_code: xml
                .major_error_code
                .and_then(|code| code.trim().parse().ok()),
            minor_code: xml.minor_error_code.unwrap_or_default(),
        }
    }
}

fn optional_time(
    attribute: &'static str,
    text: Option<String>,
) -> Result<Option<DateTime<Utc>>, ModelError> {
    text.map(|text| parse_timestamp(&text).map_err(|_| invalid(attribute, &text)))
        .transpose()
}

fn invalid(field: &'static str, value: &str) -> ModelError {
    ModelError::Invalid {
        field,
        value: value.to_owned(),
    }
}

/// `xs:boolean`: `true`/`false`/`1`/`0`.
fn parse_xs_bool(text: &str) -> bool {
    matches!(text.trim().to_ascii_lowercase().as_str(), "true" | "1")
}

/// `Organization`, `User` or `TaskOwner`: name, id from the href, kind fixed or from the
/// media type. An absent element gives an empty reference.
fn entity_ref(reference: Option<ReferenceXml>, kind: Option<&str>) -> EntityRef {
    let Some(reference) = reference else {
        return EntityRef::default();
    };
    let kind = match kind {
        Some(kind) => kind.to_owned(),
        None => {
            kind_from_media_type(reference.media_type.as_deref().unwrap_or_default()).to_owned()
        }
    };
    EntityRef {
        name: reference.name.unwrap_or_default(),
        id: reference
            .href
            .as_deref()
            .map(id_from_href)
            .unwrap_or_default(),
        kind,
    }
}

/// The last path segment of an href, without query or fragment.
fn last_path_segment(href: &str) -> &str {
    let path = href.split(['?', '#']).next().unwrap_or_default();
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
}

/// The last path segment, reduced to its trailing UUID when it has one
/// (`vapp-b7c8…` → `b7c8…`, lower case).
fn id_from_href(href: &str) -> String {
    let segment = last_path_segment(href);
    let trailing_uuid = segment
        .len()
        .checked_sub(36)
        .filter(|&start| start == 0 || segment.as_bytes().get(start - 1) == Some(&b'-'))
        .and_then(|start| segment.get(start..))
        .and_then(|tail| Uuid::try_parse(tail).ok());
    match trailing_uuid {
        Some(uuid) => uuid.hyphenated().to_string(),
        None => segment.to_owned(),
    }
}

/// `application/vnd.vmware.vcloud.vApp+xml` → `vApp`; empty when the type is not a vCD one.
fn kind_from_media_type(media_type: &str) -> &str {
    let essence = media_type.split(';').next().unwrap_or_default().trim();
    ["vnd.vmware.vcloud.", "vnd.vmware.admin."]
        .iter()
        .find_map(|marker| essence.split_once(marker).map(|(_, rest)| rest))
        .and_then(|rest| rest.split('+').next())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
