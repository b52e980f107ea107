//! vCloud API documents as they come over the wire, for quick-xml's deserializer: fields name
//! child elements and `@`attributes by local name, and every one is optional, so that what is
//! missing or wrong is reported by the conversion into domain types (in [`super`]), which is
//! the only code that reads these. Elements and attributes vcd-blockd does not use (the
//! action `Link`s, `SchemaRoot`, `MediaTypeMapping`, …) are not named and are skipped.

use serde::Deserialize;

/// `BlockingTask` (`application/vnd.vmware.admin.blockingTask+xml`).
#[derive(Debug, Deserialize)]
pub(super) struct BlockingTaskXml {
    #[serde(rename = "@id")]
    pub id: Option<String>,
    /// The suspended operation.
    #[serde(rename = "@name")]
    pub name: Option<String>,
    #[serde(rename = "@status")]
    pub status: Option<String>,
    #[serde(rename = "@createdTime")]
    pub created_time: Option<String>,
    #[serde(rename = "@timeoutDate")]
    pub timeout_date: Option<String>,
    #[serde(rename = "@timeoutAction")]
    pub timeout_action: Option<String>,
    #[serde(rename = "Description")]
    pub description: Option<String>,
    #[serde(rename = "Organization")]
    pub organization: Option<ReferenceXml>,
    #[serde(rename = "User")]
    pub user: Option<ReferenceXml>,
    #[serde(rename = "TaskOwner")]
    pub task_owner: Option<ReferenceXml>,
}

/// A reference to another object: `Organization`, `User`, `TaskOwner`.
#[derive(Debug, Deserialize)]
pub(super) struct ReferenceXml {
    /// The object's media type, e.g. `application/vnd.vmware.vcloud.vApp+xml`.
    #[serde(rename = "@type")]
    pub media_type: Option<String>,
    #[serde(rename = "@name")]
    pub name: Option<String>,
    #[serde(rename = "@href")]
    pub href: Option<String>,
}

/// `SupportedVersions`, the answer of `GET /api/versions`.
#[derive(Debug, Deserialize)]
pub(super) struct SupportedVersionsXml {
    #[serde(rename = "VersionInfo", default)]
    pub versions: Vec<VersionInfoXml>,
}

/// One `VersionInfo`. vCD gives one `Version` and one `LoginUrl`; of more, the first counts.
#[derive(Debug, Deserialize)]
pub(super) struct VersionInfoXml {
    #[serde(rename = "@deprecated")]
    pub deprecated: Option<String>,
    #[serde(rename = "Version", default)]
    pub version: Vec<String>,
    #[serde(rename = "LoginUrl", default)]
    pub login_url: Vec<String>,
}

/// `Error` (`application/vnd.vmware.vcloud.error+xml`).
#[derive(Debug, Deserialize)]
pub(super) struct ErrorXml {
    #[serde(rename = "@message")]
    pub message: Option<String>,
    #[serde(rename = "@majorErrorCode")]
    pub major_error_code: Option<String>,
    #[serde(rename = "@minorErrorCode")]
    pub minor_error_code: Option<String>,
}
