//! The Slack app (`[slack]`): held tasks are posted to a channel with **Approve** and
//! **Reject** buttons, and the message follows the task until it is decided; a click decides
//! as the approver whose `slack_user` clicked, with every rule the admin API applies.
//!
//! - [`SlackSettings`]: the `[slack]` section, checked (built by `config`; kept in
//!   `notify::settings`, which imports nothing back).
//! - `api`: the Web API methods called.
//! - `message`: the message, the reason dialog, and the interaction payloads read back.
//! - `poster`: the notifier's listener that posts and updates the messages.
//! - `desk`: what a click does (`admin::execute`), once per interaction.
//! - `socket`: Socket Mode, the leader's source of clicks over an outbound WebSocket.
//! - `signature`: Slack's `v0` request signature, for `POST /v1/slack/interactions`.
//!
//! Only the leader posts (the notifier runs there) and holds the socket (a `WhileLeading`
//! source). Where each message is, is journaled: a new leader updates the messages of the
//! tasks it finds held.

mod api;
mod desk;
mod message;
mod poster;
pub(crate) mod signature;
mod socket;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use url::Url;

pub(crate) use crate::notify::settings::SlackSettings;
pub(crate) use desk::Desk;

use self::api::Api;
use self::poster::Poster;
use crate::approvers::Approvers;
use crate::engine::Engine;
use crate::journal::Journal;
use crate::metrics::Metrics;
use crate::source::Source;

/// The started app: its Web API client and the poster to hand to the notifier.
pub(crate) struct Slack {
    settings: SlackSettings,
    api: Arc<Api>,
    pub(crate) poster: Arc<Poster>,
}

impl Slack {
    /// Builds the client and starts the posting loop on `tasks` until `shutdown`. Errors: the
    /// HTTP client cannot be built.
    pub(crate) fn start(
        settings: &SlackSettings,
        public_url: Option<&Url>,
        metrics: Arc<Metrics>,
        journal: Arc<Journal>,
        tasks: &TaskTracker,
        shutdown: &CancellationToken,
    ) -> Result<Slack, String> {
        let api = Arc::new(Api::new(settings)?);
        let (poster, posting) = poster::poster(
            api.clone(),
            settings.channel.clone(),
            public_url.cloned(),
            metrics,
            journal,
        );
        tasks.spawn(posting.run(shutdown.clone()));
        tracing::info!(
            socket_mode = settings.app_token.is_some(),
            signed_requests = settings.signing_secret.is_some(),
            "Slack app on"
        );
        Ok(Slack {
            settings: settings.clone(),
            api,
            poster: Arc::new(poster),
        })
    }

    /// The desk that acts on clicks, for the engine and approvers of this instance.
    pub(crate) fn desk(
        &self,
        engine: Arc<Engine>,
        approvers: Option<Arc<Approvers>>,
        metrics: Arc<Metrics>,
    ) -> Arc<Desk> {
        Arc::new(Desk::new(
            engine,
            approvers,
            self.api.clone(),
            self.settings.channel.clone(),
            metrics,
        ))
    }

    /// The Socket Mode source, when an app-level token is configured.
    pub(crate) fn socket(&self, desk: Arc<Desk>) -> Option<Arc<dyn Source>> {
        self.settings.app_token.as_ref()?;
        Some(Arc::new(socket::SocketMode {
            api: self.api.clone(),
            desk,
            plain_allowed: self.settings.plain_socket_allowed(),
        }))
    }
}
