//! Every vCD URL the daemon calls, built from the configured base URL and, where a task is
//! involved, a validated [`TaskId`]. Nothing here accepts a URL or path from a message.

use url::Url;
use uuid::Uuid;

use crate::task::FinalAction;
use crate::task::TaskId;

/// The object a blocking task is about, or one it lives in (its vApp, its VDC), by kind and
/// validated UUID: the only owner URLs the daemon builds (never the href a task or a document
/// names, which could point elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum OwnerRef {
    Vapp(Uuid),
    Vm(Uuid),
    Media(Uuid),
    Vdc(Uuid),
}

impl OwnerRef {
    /// The owner of kind `kind` (`vApp`, `vm`, `media`, as a TaskOwner's media type names
    /// it, in any case) with id `id`; `None` for other kinds or an id that is not a UUID.
    pub(crate) fn new(kind: &str, id: &str) -> Option<OwnerRef> {
        let id = Uuid::try_parse(id).ok()?;
        match kind.to_ascii_lowercase().as_str() {
            "vapp" => Some(OwnerRef::Vapp(id)),
            "vm" => Some(OwnerRef::Vm(id)),
            "media" => Some(OwnerRef::Media(id)),
            _ => None,
        }
    }

    /// The vApp or VDC an owner document's `Link rel="up"` names: only the kind and the UUID
    /// are taken from `href` (`…/api/vApp/vapp-<uuid>`, `…/api/vdc/<uuid>`); its host never is.
    /// `None` for anything else.
    pub(crate) fn parent(href: &str) -> Option<OwnerRef> {
        let (_, path) = href.rsplit_once("/api/")?;
        if let Some(id) = path.strip_prefix("vApp/vapp-") {
            return Some(OwnerRef::Vapp(Uuid::try_parse(id).ok()?));
        }
        Some(OwnerRef::Vdc(
            Uuid::try_parse(path.strip_prefix("vdc/")?).ok()?,
        ))
    }

    /// The name of the GET of its document, as logs and errors give it.
    pub(crate) fn op(self) -> &'static str {
        match self {
            OwnerRef::Vapp(_) => "get_vapp",
            OwnerRef::Vm(_) => "get_vm",
            OwnerRef::Media(_) => "get_media",
            OwnerRef::Vdc(_) => "get_vdc",
        }
    }

    fn path(self) -> String {
        match self {
            OwnerRef::Vapp(id) => format!("/api/vApp/vapp-{id}"),
            OwnerRef::Vm(id) => format!("/api/vApp/vm-{id}"),
            OwnerRef::Media(id) => format!("/api/media/{id}"),
            OwnerRef::Vdc(id) => format!("/api/vdc/{id}"),
        }
    }
}

/// The vCD endpoints, rooted at the configured base URL.
#[derive(Debug, Clone)]
pub(super) struct Endpoints {
    /// Base URL as text without a trailing slash, e.g. `https://vcd.example.com`.
    base: String,
}

impl Endpoints {
    pub(super) fn new(base: &Url) -> Endpoints {
        Endpoints {
            base: base.as_str().trim_end_matches('/').to_owned(),
        }
    }

    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(super) fn versions(&self) -> String {
        self.at("/api/versions")
    }

    pub(super) fn legacy_sessions(&self) -> String {
        self.at("/api/sessions")
    }

    pub(super) fn legacy_logout(&self) -> String {
        self.at("/api/session")
    }

    pub(super) fn provider_sessions(&self) -> String {
        self.at("/cloudapi/1.0.0/sessions/provider")
    }

    pub(super) fn current_session(&self) -> String {
        self.at("/cloudapi/1.0.0/sessions/current")
    }

    pub(super) fn provider_token(&self) -> String {
        self.at("/oauth/provider/token")
    }

    pub(super) fn blocking_task(&self, id: TaskId) -> String {
        self.at(&format!("/api/admin/extension/blockingTask/{id}"))
    }

    /// Page `page` (from 1) of the active blocking tasks, oldest first, `page_size` records
    /// per page.
    pub(super) fn blocking_task_query(&self, page: u32, page_size: u32) -> String {
        self.at(&format!(
            "/api/query?type=blockingTask&format=records&sortAsc=creationDate&page={page}&pageSize={page_size}"
        ))
    }

    /// One record of the tasks `filter` (FIQL) selects, for its `total`.
    pub(super) fn admin_task_count(&self, filter: &str) -> String {
        self.at(&format!(
            "/api/query?type=adminTask&format=records&pageSize=1&filter={}",
            super::count::filter_parameter(filter)
        ))
    }

    pub(super) fn blocking_tasks(&self) -> String {
        self.at("/api/admin/extension/blockingTasks/")
    }

    pub(super) fn action(&self, id: TaskId, action: FinalAction) -> String {
        self.at(&format!(
            "/api/admin/extension/blockingTask/{id}/action/{}",
            action.name()
        ))
    }

    pub(super) fn owner(&self, owner: OwnerRef) -> String {
        self.at(&owner.path())
    }

    pub(super) fn owner_metadata(&self, owner: OwnerRef) -> String {
        self.at(&format!("{}/metadata", owner.path()))
    }

    /// The cloud's BlockingTaskSettings (protocol notes §9); also where a change is PUT, as
    /// its `rel="edit"` link names the same path (the link itself is never followed).
    pub(super) fn blocking_settings(&self) -> String {
        self.at("/api/admin/extension/settings/blockingTask")
    }

    pub(super) fn amqp_settings(&self) -> String {
        self.at("/api/admin/extension/settings/amqp")
    }

    pub(super) fn notifications_settings(&self) -> String {
        self.at("/api/admin/extension/settings/notifications")
    }

    pub(super) fn update_progress(&self, id: TaskId) -> String {
        self.at(&format!(
            "/api/admin/extension/blockingTask/{id}/action/updateProgress"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_stay_under_the_configured_base() {
        let id = TaskId::parse("8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94").unwrap();
        for base in [
            "https://vcd.example.com",
            "https://vcd.example.com/",
            "https://vcd.example.com/",
        ] {
            let endpoints = Endpoints::new(&Url::parse(base).unwrap());
            assert_eq!(
                endpoints.action(id, FinalAction::Resume),
                "https://vcd.example.com/api/admin/extension/blockingTask/8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94/action/resume"
            );
            assert_eq!(
                endpoints.blocking_tasks(),
                "https://vcd.example.com/api/admin/extension/blockingTasks/"
            );
        }
        let endpoints = Endpoints::new(&Url::parse("https://vcd.example.com/").unwrap());
        let owner = OwnerRef::new("VAPP", "B7C8D9E0-F1A2-4B3C-8D4E-5F6A7B8C9D0E").unwrap();
        assert_eq!(
            endpoints.owner_metadata(owner),
            "https://vcd.example.com/api/vApp/vapp-b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e/metadata"
        );
        let media = OwnerRef::new("media", "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8").unwrap();
        assert_eq!(
            endpoints.owner(media),
            "https://vcd.example.com/api/media/4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8"
        );
        for (kind, id) in [
            ("vApp", "../../admin"),
            ("vApp", "vapp-b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e"),
            ("vAppTemplate", "b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e"),
        ] {
            assert_eq!(OwnerRef::new(kind, id), None, "{kind} {id}");
        }
        let vdc = "6b8d0f2a-4c3e-4a5b-9d7f-1e3a5c7b9d0f";
        let up = OwnerRef::parent(&format!("https://elsewhere.example.org/api/vdc/{vdc}")).unwrap();
        assert_eq!(
            endpoints.owner(up),
            format!("https://vcd.example.com/api/vdc/{vdc}")
        );
        for href in [
            "https://vcd.example.com/api/org/6b8d0f2a-4c3e-4a5b-9d7f-1e3a5c7b9d0f",
            "https://vcd.example.com/api/vdc/6b8d0f2a-4c3e-4a5b-9d7f-1e3a5c7b9d0f/../../admin",
            "https://vcd.example.com/api/vApp/vm-6b8d0f2a-4c3e-4a5b-9d7f-1e3a5c7b9d0f",
            "",
        ] {
            assert_eq!(OwnerRef::parent(href), None, "{href}");
        }
        let prefixed = Endpoints::new(&Url::parse("https://proxy.example.com/vcd").unwrap());
        assert_eq!(
            prefixed.versions(),
            "https://proxy.example.com/vcd/api/versions"
        );
    }
}
