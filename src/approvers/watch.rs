//! Approvers file reloads: the file's content is compared with what was last read every few
//! seconds (so editors' rename dance and Kubernetes' `..data` symlink swap are seen alike), and
//! a changed file is checked whole and swapped in. A broken edit, or a file that cannot be read,
//! keeps the last good approvers, logged and counted once.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::{Approvers, ApproversErrors, file};
use crate::metrics::Metrics;
use crate::outcome::RunOutcome;

/// Keeps [`Approvers`] in step with the approvers file.
pub(crate) struct Watch {
    approvers: Arc<Approvers>,
    metrics: Arc<Metrics>,
    path: PathBuf,
    /// How often the file is compared with what was last read.
    every: Duration,
    /// The bytes last tried, good or bad, so a broken edit is reported once rather than every
    /// few seconds; `None` after a failed read. Also serialises reloads.
    last: Mutex<Option<Vec<u8>>>,
}

impl Watch {
    /// `loaded` is the content the approvers were built from; the file is compared with it
    /// `every` so often.
    pub(crate) fn new(
        approvers: Arc<Approvers>,
        metrics: Arc<Metrics>,
        path: PathBuf,
        loaded: Vec<u8>,
        every: Duration,
    ) -> Watch {
        Watch {
            approvers,
            metrics,
            path,
            every,
            last: Mutex::new(Some(loaded)),
        }
    }

    /// Reads the file again and swaps its approvers in; on error the current ones stay.
    pub(crate) async fn reload(&self) -> Result<(), ApproversErrors> {
        let mut last = self.last.lock().await;
        let read = std::fs::read(&self.path);
        *last = read.as_ref().ok().cloned();
        self.apply(read)
    }

    /// Reloads whenever the file's content changes, until `shutdown`.
    pub(crate) async fn watch(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.every) => {}
                () = shutdown.cancelled() => return,
            }
            let mut last = self.last.lock().await;
            let read = std::fs::read(&self.path);
            let changed = match (&read, last.as_ref()) {
                (Ok(now), Some(before)) => now != before,
                (Ok(_), None) => true,
                // A read that fails is reported once, when the file stops being readable.
                (Err(_), before) => before.is_some(),
            };
            if changed {
                *last = read.as_ref().ok().cloned();
                let _ = self.apply(read);
            }
        }
    }

    fn apply(&self, read: std::io::Result<Vec<u8>>) -> Result<(), ApproversErrors> {
        let shown = self.path.display().to_string();
        let result = match read {
            Ok(bytes) => file::parse_bytes(&shown, &bytes),
            Err(error) => Err(file::unreadable(&self.path, &error)),
        };
        match result {
            Ok(listed) => {
                let count = listed.len();
                self.approvers.replace(listed);
                self.metrics.approvers_reload(RunOutcome::Ok);
                tracing::info!(path = %shown, approvers = count, "approvers reloaded");
                Ok(())
            }
            Err(errors) => {
                self.metrics.approvers_reload(RunOutcome::Error);
                tracing::error!(path = %shown, errors = %errors, "approvers reload failed; keeping the last good approvers");
                Err(errors)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approvers::TokenHash;

    const EVERY: Duration = Duration::from_secs(2);

    fn entry(name: &str, token: &str) -> String {
        format!(
            "[[approver]]\nname = \"{name}\"\ntoken_sha256 = \"{}\"\n",
            TokenHash::of(token.as_bytes()).to_hex()
        )
    }

    #[tokio::test(start_paused = true)]
    async fn edits_are_picked_up_and_broken_ones_keep_the_last_good_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("approvers.toml");
        std::fs::write(&path, entry("carol", "carol-token")).unwrap();
        let loaded = std::fs::read(&path).unwrap();
        let approvers = Arc::new(Approvers::new(None, file::load(&path).unwrap()));
        let metrics = Arc::new(Metrics::new());
        let watch = Arc::new(Watch::new(
            approvers.clone(),
            metrics.clone(),
            path.clone(),
            loaded,
            EVERY,
        ));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(watch.clone().watch(shutdown.clone()));
        let tick = || tokio::time::sleep(EVERY + Duration::from_millis(10));
        let who = |token: &str| approvers.find(token).map(|a| a.name().to_owned());
        let counted = |outcome: &str| {
            metrics.render().contains(&format!(
                "vcd_blockd_approvers_reloads_total{{outcome=\"{outcome}\"}} 1\n"
            ))
        };

        tick().await;
        assert!(!counted("ok"), "an unchanged file is not reloaded");

        std::fs::write(&path, "[[approver]]\nname = \"dave\"\ntoken = \"x\"\n").unwrap();
        tick().await;
        tick().await;
        assert!(counted("error"), "{}", metrics.render());
        assert_eq!(who("carol-token").as_deref(), Some("carol"));

        std::fs::write(&path, entry("dave", "dave-token")).unwrap();
        tick().await;
        assert!(counted("ok"), "{}", metrics.render());
        assert_eq!(who("carol-token"), None);
        assert_eq!(who("dave-token").as_deref(), Some("dave"));

        std::fs::remove_file(&path).unwrap();
        tick().await;
        tick().await;
        assert!(
            metrics
                .render()
                .contains("vcd_blockd_approvers_reloads_total{outcome=\"error\"} 2\n"),
            "{}",
            metrics.render()
        );
        assert_eq!(who("dave-token").as_deref(), Some("dave"));
        shutdown.cancel();
        task.await.unwrap();
    }
}
