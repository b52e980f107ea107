//! Time moves held tasks: when a window that a rule names opens or closes, or a rule's
//! `from`/`until` passes, the policy may answer differently for a held task, so every held
//! task is decided again at that instant, as after a policy reload. One task sleeps until the
//! policy's next such instant (woken early when the policy is replaced); it never polls vCD.
//! It also keeps `window_open` true.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::Engine;

/// Upper bound on one sleep, so that a jump of the wall clock is noticed. Waking early costs
/// nothing: no held task is decided again unless an instant of change has passed.
const MAX_SLEEP: Duration = Duration::from_secs(60);

impl Engine {
    /// Decides the held tasks again at every instant time changes the policy's answers, until
    /// `shutdown`.
    pub(crate) async fn run_timeline(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            // Listening before the policy is read: a replacement in between is not missed.
            let replaced = self.policy_changed.notified();
            tokio::pin!(replaced);
            replaced.as_mut().enable();
            let policy = self.policy();
            let now = Utc::now();
            self.metrics.windows_open(&policy.windows_at(now));
            let change = policy.next_change(now);
            let wake = [change, policy.next_window_change(now)]
                .into_iter()
                .flatten()
                .min();
            let sleep = wake.map_or(MAX_SLEEP, |at| until(at, now).min(MAX_SLEEP));
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                () = replaced => continue,
                () = shutdown.cancelled() => return,
            }
            let Some(change) = change else { continue };
            if Utc::now() < change || self.holds.is_empty() {
                continue;
            }
            tracing::info!(at = %change, "time changed the policy's answers; held tasks are decided again");
            self.clone()
                .redecide_holds(shutdown.clone(), "time changed the policy's answers")
                .await;
        }
    }
}

/// How long from `now` until `at`; zero when it has passed. A millisecond is added so that
/// the wake-up comes at or after `at` by the wall clock, which sets the moment of decisions.
fn until(at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (at - now).to_std().unwrap_or(Duration::ZERO) + Duration::from_millis(1)
}
