//! The sim's public data types: what a caller asks for (`NewTask`, `Faults`) and what it can
//! inspect afterwards (`TaskView`, `ActionRecord`, `Call`), plus the small enums the rest of
//! the crate uses for task status, decisions and task owners.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A blocking task to create, as a tenant's operation would. Every field is optional on the
/// control endpoint; missing ones take the defaults below.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewTask {
    /// The suspended operation, e.g. `vdcInstantiateVapp`; becomes the task's `name`.
    pub operation: String,
    pub org: String,
    pub user: String,
    /// One of `vApp`, `vm`, `vAppTemplate`, `media`, `vdc` (case-insensitive).
    pub owner_type: String,
    pub owner_name: String,
    /// Shown as the task's `Description`; omitted from the XML when empty.
    pub description: String,
    /// The owner vApp's VMs (`owner_type` vApp; one default VM when not given), or the owner
    /// VM (`owner_type` vm: the first, else a default one).
    pub vms: Option<Vec<SimVm>>,
    /// The owner Media (`owner_type` media).
    pub media: SimMedia,
    /// The owner's metadata entries (string values).
    pub metadata: BTreeMap<String, String>,
    /// The VDC the owner lives in (its `Link rel="up"`, through its vApp for a VM).
    pub vdc: SimVdc,
    /// The owner is gone (deleted meanwhile): reads of it and its metadata answer 404.
    pub owner_gone: bool,
}

/// A VM as vCD describes it in a vApp's `Children` or on its own.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SimVm {
    pub name: String,
    pub cpu: u32,
    pub memory_mb: u64,
    /// One hard disk per entry, in MB.
    pub disks_mb: Vec<u64>,
    pub storage_profile: String,
    /// One NIC per entry, on the named network.
    pub networks: Vec<String>,
}

impl Default for SimVm {
    fn default() -> Self {
        Self {
            name: "vm-1".into(),
            cpu: 2,
            memory_mb: 4096,
            disks_mb: vec![16384],
            storage_profile: "*".into(),
            networks: vec!["net1".into()],
        }
    }
}

/// A Media as vCD describes it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SimMedia {
    /// Bytes, as the uploading client declared them.
    pub size: u64,
    /// `iso` or `floppy`.
    pub image_type: String,
}

impl Default for SimMedia {
    fn default() -> Self {
        Self {
            size: 1 << 30,
            image_type: "iso".into(),
        }
    }
}

/// A VDC as vCD describes it. VDCs of the same name are one VDC.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SimVdc {
    pub name: String,
    /// `AllocationVApp`, `AllocationPool`, `ReservationPool` or `Flex`.
    pub allocation_model: String,
}

impl Default for SimVdc {
    fn default() -> Self {
        Self {
            name: "acme-vdc".into(),
            allocation_model: "AllocationVApp".into(),
        }
    }
}

impl Default for NewTask {
    fn default() -> Self {
        Self {
            operation: "vdcInstantiateVapp".into(),
            org: "acme".into(),
            user: "alice".into(),
            owner_type: "vApp".into(),
            owner_name: "web-frontend".into(),
            description: String::new(),
            vms: None,
            media: SimMedia::default(),
            metadata: BTreeMap::new(),
            vdc: SimVdc::default(),
            owner_gone: false,
        }
    }
}

/// A blocking task as the sim holds it, for assertions.
#[derive(Clone, Debug, Serialize)]
pub struct TaskView {
    pub id: Uuid,
    pub operation: String,
    pub org: String,
    pub user: String,
    /// `active`, `resumed`, `aborted` or `failed`.
    pub status: String,
    pub created: DateTime<Utc>,
    pub timeout_date: DateTime<Utc>,
    pub timeout_action: String,
    /// Every action attempted on the task, in order, including refused ones.
    pub actions: Vec<ActionRecord>,
}

/// One action attempted on a task through the API, or applied by the timeout ticker.
#[derive(Clone, Debug, Serialize)]
pub struct ActionRecord {
    /// `resume`, `abort`, `fail`, `updateProgress` or `timeout`.
    pub action: String,
    pub message: String,
    /// `TimeoutValueInMilliseconds` of an updateProgress, when given.
    pub timeout_ms: Option<u64>,
    pub at: DateTime<Utc>,
    /// False when the sim refused the action because the task was no longer active.
    pub accepted: bool,
}

/// One HTTP request to the vCD API (control calls under `/sim/` are not recorded).
#[derive(Clone, Debug, Serialize)]
pub struct Call {
    pub method: String,
    /// Path plus query string.
    pub path: String,
    /// Response status; 0 while the request is still being answered.
    pub status: u16,
    /// `none`, `basic:<user>`, `legacy-token`, `bearer` or `invalid` (unparseable header).
    pub auth: String,
    pub accept: String,
    pub content_type: String,
    pub host: String,
    /// The request body as text; secrets in form bodies are replaced by `***`.
    pub body: String,
}

/// Faults to inject into API calls; `Faults::default()` injects none.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Each task's first N GETs answer 404, as if the notification outran the database.
    pub not_found_first_reads: u32,
    /// Added to every API call before it is answered.
    pub latency_ms: u64,
    /// Fraction (0.0..=1.0) of API calls answered 503.
    pub error_rate_5xx: f64,
    /// Fraction (0.0..=1.0) of API calls answered 429 (checked after `error_rate_5xx`).
    pub rate_limit_rate: f64,
    /// Sent as `Retry-After` (seconds) with every injected 503 and 429.
    pub retry_after_secs: Option<u64>,
    /// A session expires after this many authenticated requests.
    pub session_ttl_requests: Option<u32>,
    /// The next this many `updateProgress` calls are refused (400), as when vCD will not
    /// extend a task; each refusal uses one up.
    pub refuse_update_progress: u32,
    /// The next this many `resume`, `abort` or `fail` calls are refused (400) while the task
    /// stays active, as when vCD turns an action down for a reason of its own; each refusal
    /// uses one up.
    pub refuse_actions: u32,
    /// GETs of these tasks answer 200 with a body that cannot be read, as a proxy in front of
    /// vCD can give: `{"<task id>": "html"}` (a login page) or `"truncated"` (the document cut
    /// off half-way). The other tasks are served as usual.
    pub unreadable_tasks: BTreeMap<Uuid, Unreadable>,
    /// The task list carries one more `Reference` that names no task (a placeholder id, as
    /// VMware's own examples print), before the real ones; the query service's first page
    /// one more such `BlockingTaskRecord`.
    pub bad_list_entry: bool,
    /// The query service (`/api/query`) answers 403, as a cell whose administrator may not
    /// use it: clients fall back to `blockingTasks/`.
    pub refuse_query: bool,
}

/// How an unreadable answer looks (see [`Faults::unreadable_tasks`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unreadable {
    /// An HTML page with status 200, as a login proxy answers.
    Html,
    /// The first half of the BlockingTask document.
    Truncated,
}

impl Faults {
    /// Refuses an `error_rate_5xx` or `rate_limit_rate` outside 0.0..=1.0.
    pub(crate) fn check(&self) -> Result<(), String> {
        for (name, rate) in [
            ("error_rate_5xx", self.error_rate_5xx),
            ("rate_limit_rate", self.rate_limit_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} {rate} must be between 0.0 and 1.0"));
            }
        }
        Ok(())
    }
}

/// Where a blocking task stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskStatus {
    Active,
    Resumed,
    Aborted,
    Failed,
}

impl TaskStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Resumed => "resumed",
            Self::Aborted => "aborted",
            Self::Failed => "failed",
        }
    }
}

/// A final decision on a blocking task: by an API caller or by the timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    Resume,
    Abort,
    Fail,
}

impl Decision {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "resume" => Some(Self::Resume),
            "abort" => Some(Self::Abort),
            "fail" => Some(Self::Fail),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Resume => "resume",
            Self::Abort => "abort",
            Self::Fail => "fail",
        }
    }

    /// The status a task ends in after this decision.
    pub(crate) fn status(self) -> TaskStatus {
        match self {
            Self::Resume => TaskStatus::Resumed,
            Self::Abort => TaskStatus::Aborted,
            Self::Fail => TaskStatus::Failed,
        }
    }
}

/// The kind of object a suspended task operates on, with the names vCD uses for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OwnerType {
    VApp,
    Vm,
    VAppTemplate,
    Media,
    Vdc,
}

impl OwnerType {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "vapp" => Some(Self::VApp),
            "vm" => Some(Self::Vm),
            "vapptemplate" => Some(Self::VAppTemplate),
            "media" => Some(Self::Media),
            "vdc" => Some(Self::Vdc),
            _ => None,
        }
    }

    /// The media type in `TaskOwner type="…"`.
    pub(crate) fn media_type(self) -> &'static str {
        match self {
            Self::VApp => "application/vnd.vmware.vcloud.vApp+xml",
            Self::Vm => "application/vnd.vmware.vcloud.vm+xml",
            Self::VAppTemplate => "application/vnd.vmware.vcloud.vAppTemplate+xml",
            Self::Media => "application/vnd.vmware.vcloud.media+xml",
            Self::Vdc => "application/vnd.vmware.vcloud.vdc+xml",
        }
    }

    /// The entity type in URNs (`urn:vcloud:<this>:<uuid>`), lower case as vCD writes it.
    pub(crate) fn urn_type(self) -> &'static str {
        match self {
            Self::VApp => "vapp",
            Self::Vm => "vm",
            Self::VAppTemplate => "vapptemplate",
            Self::Media => "media",
            Self::Vdc => "vdc",
        }
    }

    /// The API path of the object, e.g. `/api/vApp/vapp-<uuid>`.
    pub(crate) fn api_path(self, id: Uuid) -> String {
        match self {
            Self::VApp => format!("/api/vApp/vapp-{id}"),
            Self::Vm => format!("/api/vApp/vm-{id}"),
            Self::VAppTemplate => format!("/api/vAppTemplate/vappTemplate-{id}"),
            Self::Media => format!("/api/media/{id}"),
            Self::Vdc => format!("/api/vdc/{id}"),
        }
    }
}

/// A named vCD object with its id (organization, user, task owner).
#[derive(Clone, Debug)]
pub(crate) struct Named {
    pub name: String,
    pub id: Uuid,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_types_parse_case_insensitively() {
        assert_eq!(OwnerType::parse("vApp"), Some(OwnerType::VApp));
        assert_eq!(
            OwnerType::parse("VAPPTEMPLATE"),
            Some(OwnerType::VAppTemplate)
        );
        assert_eq!(OwnerType::parse("disk"), None);
    }

    #[test]
    fn new_task_fills_missing_fields_with_defaults() {
        let task: NewTask = serde_json::from_str(r#"{"operation": "vdcUploadMedia"}"#).unwrap();
        assert_eq!(task.operation, "vdcUploadMedia");
        assert_eq!(task.org, "acme");
        assert_eq!(task.owner_type, "vApp");
    }
}
