//! The timeout ticker: about every 100 ms, applies each active task's `timeoutAction` once its
//! `timeoutDate` has passed, and publishes the notification vCD would.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::time::MissedTickBehavior;

use crate::notification::EventKind;
use crate::shared::Shared;

const TICK: Duration = Duration::from_millis(100);

/// Runs until the sim shuts down.
pub(crate) async fn run(shared: Arc<Shared>) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shared.cancel.cancelled() => break,
            _ = interval.tick() => {}
        }
        let decided = shared.state().time_out_due(Utc::now());
        for task in decided {
            let action = task.timeout_action;
            tracing::info!(task_id = %task.id, action = action.as_str(), "blocking task timed out");
            if let Err(error) = shared.announce(EventKind::from(action), &task).await {
                tracing::warn!(task_id = %task.id, %error, "notification lost");
            }
        }
    }
}
