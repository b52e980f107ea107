//! `Shared`: the one value behind every `Sim` handle, HTTP handler and background job. It
//! owns the settings, the state mutex, the publisher (none without a broker) and the shutdown
//! machinery, and carries the operations both the library API and the control endpoints offer.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::blocking::BlockingSettings;
use crate::config::Settings;
use crate::error::SimError;
use crate::load::Load;
use crate::model::{Call, Faults, NewTask, TaskView};
use crate::notification::{EventKind, Notification, RenderOptions};
use crate::publish::{PublishError, Publisher};
use crate::state::CloudState;
use crate::task::{Task, ValidTask};
use crate::versions::Ladder;

/// Tasks created per turn of the state lock by `create_tasks_quietly`, so API requests are
/// served in between.
const QUIET_CHUNK: usize = 1024;

pub(crate) struct Shared {
    pub settings: Settings,
    pub ladder: Ladder,
    /// `http://127.0.0.1:PORT`, no trailing slash; every emitted href starts with it.
    pub base_url: String,
    /// The system administrator's user id, stable for this sim.
    pub admin_id: Uuid,
    /// The System organization's id, stable for this sim.
    pub system_org_id: Uuid,
    state: Mutex<CloudState>,
    /// API requests under way and answered, outside the state lock.
    pub load: Load,
    /// `None` when the sim runs without a broker: nothing is published.
    publisher: Option<Publisher>,
    /// Cancelled once by `shutdown`; the server and the ticker stop on it.
    pub cancel: CancellationToken,
    /// The server, the ticker and in-flight notification publishes.
    pub tracker: TaskTracker,
}

impl Shared {
    pub(crate) fn new(settings: Settings, base_url: String, publisher: Option<Publisher>) -> Self {
        Self {
            ladder: Ladder::up_to(&settings.api_version),
            state: Mutex::new(CloudState::new(
                settings.call_log_limit,
                BlockingSettings::new(settings.task_timeout, settings.timeout_action),
            )),
            load: Load::default(),
            settings,
            base_url,
            admin_id: Uuid::new_v4(),
            system_org_id: Uuid::new_v4(),
            publisher,
            cancel: CancellationToken::new(),
            tracker: TaskTracker::new(),
        }
    }

    /// The state. A panic while it was held leaves it usable (every update is a single
    /// assignment or push), so poisoning is ignored rather than spread.
    pub(crate) fn state(&self) -> MutexGuard<'_, CloudState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) async fn create_task(&self, new: NewTask) -> Result<Uuid, SimError> {
        let valid = ValidTask::parse(new)?;
        let now = Utc::now();
        let task = {
            let mut state = self.state();
            let blocking = state.blocking.clone();
            if !blocking.blocks(&valid.operation) {
                return Err(SimError::NotBlocking(valid.operation));
            }
            state.create_task(valid, now, blocking.timeout, blocking.timeout_action)
        };
        tracing::info!(task_id = %task.id, operation = %task.operation, org = %task.org.name, user = %task.user.name, "blocking task created");
        self.announce(EventKind::Create, &task).await?;
        Ok(task.id)
    }

    /// Registers `count` active tasks like `new` without announcing any of them: for a cloud
    /// that already has many tasks waiting when a consumer starts (benchmarks, reconciliation
    /// tests). All share one `createdTime`; each gets its own ids.
    pub(crate) fn create_tasks_quietly(
        &self,
        count: usize,
        new: NewTask,
    ) -> Result<Vec<Uuid>, SimError> {
        let valid = ValidTask::parse(new)?;
        let now = Utc::now();
        let blocking = self.state().blocking.clone();
        if !blocking.blocks(&valid.operation) {
            return Err(SimError::NotBlocking(valid.operation));
        }
        let mut ids = Vec::with_capacity(count);
        while ids.len() < count {
            let mut state = self.state();
            for _ in 0..(count - ids.len()).min(QUIET_CHUNK) {
                let task = state.create_task(
                    valid.clone(),
                    now,
                    blocking.timeout,
                    blocking.timeout_action,
                );
                ids.push(task.id);
            }
        }
        tracing::info!(
            count,
            "blocking tasks created quietly, without notifications"
        );
        Ok(ids)
    }

    /// Publishes the notification for `kind` and waits for the broker's confirms. Without a
    /// broker there is nobody to tell, and this does nothing.
    pub(crate) async fn announce(&self, kind: EventKind, task: &Task) -> Result<(), PublishError> {
        let Some(publisher) = &self.publisher else {
            return Ok(());
        };
        let render = RenderOptions {
            base_url: &self.base_url,
            json_legacy_timestamps: self.settings.json_legacy_timestamps,
        };
        let notification = Notification::new(kind, task, Utc::now(), render);
        publisher.publish(&notification).await
    }

    /// Publishes in the background, as vCD does after answering an action.
    pub(crate) fn announce_later(self: &Arc<Self>, kind: EventKind, task: Task) {
        let shared = Arc::clone(self);
        self.tracker.spawn(async move {
            if let Err(error) = shared.announce(kind, &task).await {
                tracing::warn!(task_id = %task.id, %error, "notification lost");
            }
        });
    }

    pub(crate) fn task_view(&self, id: Uuid) -> Option<TaskView> {
        self.state().task(id).map(Task::view)
    }

    pub(crate) fn task_views(&self) -> Vec<TaskView> {
        self.state().tasks().map(Task::view).collect()
    }

    pub(crate) fn calls(&self) -> Vec<Call> {
        self.state().calls().to_vec()
    }

    pub(crate) fn set_faults(&self, mut faults: Faults) {
        if let Err(problem) = faults.check() {
            tracing::warn!(%problem, "fault rates clamped into 0.0..=1.0");
            let clamp = |rate: f64| {
                if rate.is_nan() {
                    0.0
                } else {
                    rate.clamp(0.0, 1.0)
                }
            };
            faults.error_rate_5xx = clamp(faults.error_rate_5xx);
            faults.rate_limit_rate = clamp(faults.rate_limit_rate);
        }
        tracing::info!(?faults, "faults set");
        self.state().faults = faults;
    }

    pub(crate) fn expire_sessions(&self) {
        self.state().sessions.clear();
    }

    pub(crate) async fn close_broker(&self) {
        if let Some(publisher) = &self.publisher {
            publisher.close().await;
        }
    }
}
