//! The XML documents the sim serves (SupportedVersions, Session, BlockingTask,
//! BlockingTaskReferences, Error), shaped like vCD's and like `protocol/fixtures/`, plus the
//! media types and hrefs they use. Every value is escaped on the way in.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use quick_xml::escape::escape;
use uuid::Uuid;

use crate::task::Task;
use crate::versions::Ladder;

pub(crate) const BLOCKING_TASK_TYPE: &str = "application/vnd.vmware.admin.blockingTask+xml";
pub(crate) const OPERATION_PARAMS_TYPE: &str =
    "application/vnd.vmware.admin.blockingTaskOperationParams+xml";
pub(crate) const UPDATE_PROGRESS_PARAMS_TYPE: &str =
    "application/vnd.vmware.admin.blockingTaskUpdateProgressOperationParams+xml";
pub(crate) const REFERENCES_TYPE: &str = "application/vnd.vmware.admin.blockingTaskList+xml";
pub(crate) const SESSION_TYPE: &str = "application/vnd.vmware.vcloud.session+xml";
pub(crate) const ERROR_TYPE: &str = "application/vnd.vmware.vcloud.error+xml";
/// What vCD's own examples show for `GET /api/versions`.
pub(crate) const VERSIONS_TYPE: &str = "text/xml";

pub(crate) const NS_VCLOUD: &str = "http://www.vmware.com/vcloud/v1.5";
pub(crate) const NS_VMEXT: &str = "http://www.vmware.com/vcloud/extension/v1.5";
const NS_VERSIONS: &str = "http://www.vmware.com/vcloud/versions";
const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
pub(crate) const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Escapes text for an attribute value or element content.
pub(crate) fn e(value: &str) -> Cow<'_, str> {
    escape(value)
}

/// xs:dateTime with milliseconds and a numeric offset, as vCD writes it.
pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, false)
}

pub(crate) fn task_href(base: &str, id: Uuid) -> String {
    format!("{base}/api/admin/extension/blockingTask/{id}")
}

pub(crate) fn org_href(base: &str, id: Uuid) -> String {
    format!("{base}/api/admin/org/{id}")
}

pub(crate) fn user_href(base: &str, id: Uuid) -> String {
    format!("{base}/api/admin/user/{id}")
}

pub(crate) fn parent_task_href(base: &str, id: Uuid) -> String {
    format!("{base}/api/task/{id}")
}

/// `<Error …/>` with the HTTP status as `majorErrorCode`.
pub(crate) fn error(status: u16, minor: &str, message: &str) -> String {
    format!(
        r#"{DECLARATION}<Error xmlns="{NS_VCLOUD}" majorErrorCode="{status}" minorErrorCode="{}" message="{}" type="{ERROR_TYPE}"/>"#,
        e(minor),
        e(message)
    )
}

/// `SupportedVersions`, oldest first, with the login URL each version uses.
pub(crate) fn versions(base: &str, ladder: &Ladder) -> String {
    let mut doc = format!(
        "{DECLARATION}<SupportedVersions xmlns=\"{NS_VERSIONS}\" xmlns:vmext=\"{NS_VMEXT}\">\n"
    );
    for version in ladder.versions() {
        let login = if version.lacks_legacy_login() {
            "/cloudapi/1.0.0/sessions"
        } else {
            "/api/sessions"
        };
        doc.push_str(&format!(
            "    <VersionInfo deprecated=\"{}\">\n        <Version>{}</Version>\n        <LoginUrl>{}</LoginUrl>\n    </VersionInfo>\n",
            ladder.is_deprecated(version),
            e(version.as_str()),
            e(&format!("{base}{login}")),
        ));
    }
    doc.push_str(&format!(
        "    <SchemaRoot>{}</SchemaRoot>\n</SupportedVersions>\n",
        e(&format!("{base}/api/v1.5/schema/"))
    ));
    doc
}

/// The `Session` a legacy login returns; `user` is `name@Org`.
pub(crate) fn session(base: &str, user: &str, user_id: Uuid) -> String {
    let (name, org) = user.split_once('@').unwrap_or((user, "System"));
    format!(
        r#"{DECLARATION}<Session xmlns="{NS_VCLOUD}" user="{}" org="{}" userId="urn:vcloud:user:{user_id}" type="{SESSION_TYPE}" href="{}">
    <Link rel="down" type="application/vnd.vmware.vcloud.orgList+xml" href="{}"/>
    <Link rel="remove" href="{}"/>
    <Link rel="down" type="application/vnd.vmware.admin.vcloud+xml" href="{}"/>
    <Link rel="down" type="application/vnd.vmware.admin.vmwExtension+xml" href="{}"/>
</Session>
"#,
        e(name),
        e(org),
        e(&format!("{base}/api/session/")),
        e(&format!("{base}/api/org/")),
        e(&format!("{base}/api/session")),
        e(&format!("{base}/api/admin/")),
        e(&format!("{base}/api/admin/extension")),
    )
}

/// One `BlockingTask` document, like `fixtures/blocking-task.xml`.
pub(crate) fn blocking_task(base: &str, task: &Task) -> String {
    let href = task_href(base, task.id);
    let mut doc = format!(
        r#"{DECLARATION}<vmext:BlockingTask xmlns:vcloud="{NS_VCLOUD}" xmlns:vmext="{NS_VMEXT}" xmlns:xsi="{NS_XSI}" status="{}" timeoutDate="{}" timeoutAction="{}" createdTime="{}" name="{}" operationKey="{}" id="urn:vcloud:blockingTask:{}" type="{BLOCKING_TASK_TYPE}" href="{}">
"#,
        task.status.as_str(),
        timestamp(task.timeout_date),
        task.timeout_action.as_str(),
        timestamp(task.created),
        e(&task.operation),
        e(&task.operation),
        task.id,
        e(&href),
    );
    for rel in ["resume", "abort", "fail", "updateProgress"] {
        let media = if rel == "updateProgress" {
            UPDATE_PROGRESS_PARAMS_TYPE
        } else {
            OPERATION_PARAMS_TYPE
        };
        let action = format!("{href}/action/{rel}");
        doc.push_str(&format!(
            "    <vcloud:Link rel=\"{rel}\" type=\"{media}\" href=\"{}\"/>\n",
            e(&action)
        ));
    }
    doc.push_str(&task_children(base, task));
    doc.push_str("</vmext:BlockingTask>\n");
    doc
}

/// The parent task link, description, organization, user and owner of a BlockingTask.
fn task_children(base: &str, task: &Task) -> String {
    let mut out = format!(
        "    <vcloud:Link rel=\"up\" type=\"application/vnd.vmware.vcloud.task+xml\" href=\"{}\"/>\n",
        e(&parent_task_href(base, task.parent_task))
    );
    if !task.description.is_empty() {
        out.push_str(&format!(
            "    <vcloud:Description>{}</vcloud:Description>\n",
            e(&task.description)
        ));
    }
    out.push_str(&format!(
        "    <vcloud:Organization type=\"application/vnd.vmware.admin.organization+xml\" name=\"{}\" href=\"{}\"/>\n",
        e(&task.org.name),
        e(&org_href(base, task.org.id))
    ));
    out.push_str(&format!(
        "    <vcloud:User type=\"application/vnd.vmware.admin.user+xml\" name=\"{}\" href=\"{}\"/>\n",
        e(&task.user.name),
        e(&user_href(base, task.user.id))
    ));
    out.push_str(&format!(
        "    <vcloud:TaskOwner type=\"{}\" name=\"{}\" href=\"{}\"/>\n",
        task.owner_type.media_type(),
        e(&task.owner.name),
        e(&format!(
            "{base}{}",
            task.owner_type.api_path(task.owner.id)
        ))
    ));
    out
}

/// `BlockingTaskReferences` listing `tasks` (the caller passes only active ones).
pub(crate) fn references<'a>(
    base: &str,
    bad_entry: bool,
    tasks: impl Iterator<Item = &'a Task>,
) -> String {
    let mut doc = format!(
        r#"{DECLARATION}<vmext:BlockingTaskReferences xmlns:vmext="{NS_VMEXT}" xmlns:vcloud="{NS_VCLOUD}" type="{REFERENCES_TYPE}">
    <vcloud:Link rel="up" type="application/vnd.vmware.admin.vmwExtension+xml" href="{}"/>
"#,
        e(&format!("{base}/api/admin/extension"))
    );
    if bad_entry {
        // A placeholder id, as in VMware's own examples: the entry names no task.
        doc.push_str(&format!(
            "    <vcloud:Reference type=\"{BLOCKING_TASK_TYPE}\" name=\"vdcComposeVapp\" href=\"{}\"/>\n",
            e(&format!("{base}/api/admin/extension/blockingTask/25"))
        ));
    }
    for task in tasks {
        doc.push_str(&format!(
            "    <vcloud:Reference type=\"{BLOCKING_TASK_TYPE}\" name=\"{}\" href=\"{}\"/>\n",
            e(&task.operation),
            e(&task_href(base, task.id))
        ));
    }
    doc.push_str("</vmext:BlockingTaskReferences>\n");
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::versions::ApiVersion;

    #[test]
    fn error_escapes_its_message() {
        let doc = error(400, "BAD_REQUEST", r#"bad "quote" & <tag>"#);
        assert!(doc.contains(r#"majorErrorCode="400""#));
        assert!(doc.contains("bad &quot;quote&quot; &amp; &lt;tag&gt;"));
    }

    #[test]
    fn versions_name_the_login_each_version_uses() {
        let ladder = Ladder::up_to(&ApiVersion::parse("38.0").unwrap());
        let doc = versions("http://h", &ladder);
        assert!(doc.contains(
            "<Version>37.2</Version>\n        <LoginUrl>http://h/api/sessions</LoginUrl>"
        ));
        assert!(doc.contains(
            "<Version>38.0</Version>\n        <LoginUrl>http://h/cloudapi/1.0.0/sessions</LoginUrl>"
        ));
        assert!(doc.contains("<VersionInfo deprecated=\"true\">\n        <Version>33.0"));
    }
}
