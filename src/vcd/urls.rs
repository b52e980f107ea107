//! Every vCD URL the daemon calls, built from the configured base URL and, where a task is
//! involved, a validated [`TaskId`]. Nothing here accepts a URL or path from a message.

use url::Url;

use crate::task::FinalAction;
use crate::task::TaskId;

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

    pub(super) fn blocking_tasks(&self) -> String {
        self.at("/api/admin/extension/blockingTasks/")
    }

    pub(super) fn action(&self, id: TaskId, action: FinalAction) -> String {
        self.at(&format!(
            "/api/admin/extension/blockingTask/{id}/action/{}",
            action.name()
        ))
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
        let prefixed = Endpoints::new(&Url::parse("https://proxy.example.com/vcd").unwrap());
        assert_eq!(
            prefixed.versions(),
            "https://proxy.example.com/vcd/api/versions"
        );
    }
}
