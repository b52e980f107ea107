//! Reloads of the approvers file and the admin token file: each file's content is compared
//! with what was last read every few seconds (so editors' rename dance and Kubernetes' `..data`
//! symlink swap are seen alike), and a changed file is checked whole and swapped in. A broken
//! edit, or a file that cannot be read, keeps the last good content, logged and counted once.
//! A file that is gone for [`GONE_FOR`] (longer than a swap in progress takes) revokes: no
//! named approvers, or no admin token, until it is back (DESIGN.md §5a).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Approvers, ApproversErrors, TokenHash, file};
use crate::metrics::Metrics;
use crate::outcome::RunOutcome;

/// How long a file must be gone before what it granted is revoked.
pub(crate) const GONE_FOR: Duration = Duration::from_secs(5);

/// Keeps [`Approvers`] in step with the approvers file and the admin token file.
pub(crate) struct Watch {
    approvers: Arc<Approvers>,
    metrics: Arc<Metrics>,
    /// How often the files are compared with what was last read.
    every: Duration,
    /// The files watched. The lock also serialises reloads.
    files: Mutex<Vec<Watched>>,
    /// Called after the approvers file was reloaded and swapped in.
    reloaded: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

/// What a watched file grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grants {
    /// `approvers_file`: the named approvers.
    Approvers,
    /// `admin_token_file`: the admin token.
    AdminToken,
}

impl Grants {
    fn what(self) -> &'static str {
        match self {
            Grants::Approvers => "every named approver",
            Grants::AdminToken => "the admin token",
        }
    }
}

/// One watched file.
struct Watched {
    grants: Grants,
    path: PathBuf,
    /// The bytes last tried, good or bad, so a broken edit is reported once rather than every
    /// few seconds; `None` after a failed read or a revocation.
    last: Option<Vec<u8>>,
    /// Since when the file is gone, while it is.
    gone_since: Option<Instant>,
}

impl Watch {
    /// A watch of no file yet; see [`Watch::approvers_file`] and [`Watch::admin_token_file`].
    /// The files are compared with what was last read `every` so often.
    pub(crate) fn new(approvers: Arc<Approvers>, metrics: Arc<Metrics>, every: Duration) -> Watch {
        Watch {
            approvers,
            metrics,
            every,
            files: Mutex::new(Vec::new()),
            reloaded: OnceLock::new(),
        }
    }

    /// Calls `reloaded` whenever the approvers file was read again and swapped in (the daemon
    /// checks the policy's approver names then).
    pub(crate) fn when_reloaded(&self, reloaded: impl Fn() + Send + Sync + 'static) {
        let _ = self.reloaded.set(Box::new(reloaded));
    }

    /// Watches the approvers file at `path`, whose content `loaded` the approvers were built
    /// from.
    pub(crate) fn approvers_file(self, path: PathBuf, loaded: Vec<u8>) -> Watch {
        self.with(Grants::Approvers, path, Some(loaded))
    }

    /// Watches the admin token file at `path`, whose content `loaded` the admin token was read
    /// from (`None` when it cannot be read again now).
    pub(crate) fn admin_token_file(self, path: PathBuf, loaded: Option<Vec<u8>>) -> Watch {
        self.with(Grants::AdminToken, path, loaded)
    }

    fn with(mut self, grants: Grants, path: PathBuf, last: Option<Vec<u8>>) -> Watch {
        self.files.get_mut().push(Watched {
            grants,
            path,
            last,
            gone_since: None,
        });
        self
    }

    /// Reads the files again and swaps their content in; on error the current ones stay (the
    /// first error is returned). A file that is gone is revoked by [`Watch::watch`] if it
    /// stays gone.
    pub(crate) async fn reload(&self) -> Result<(), ApproversErrors> {
        let mut files = self.files.lock().await;
        let mut result = Ok(());
        for file in files.iter_mut() {
            let read = std::fs::read(&file.path);
            file.last = read.as_ref().ok().cloned();
            let applied = self.apply(file, read);
            if result.is_ok() {
                result = applied;
            }
        }
        result
    }

    /// Reloads a file whenever its content changes, and revokes what a file grants once it is
    /// gone for [`GONE_FOR`], until `shutdown`.
    pub(crate) async fn watch(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.every) => {}
                () = shutdown.cancelled() => return,
            }
            let mut files = self.files.lock().await;
            for file in files.iter_mut() {
                self.check(file, Instant::now());
            }
        }
    }

    fn check(&self, file: &mut Watched, now: Instant) {
        let read = std::fs::read(&file.path);
        if let Err(error) = &read
            && error.kind() == std::io::ErrorKind::NotFound
        {
            match file.gone_since {
                None => {
                    file.gone_since = Some(now);
                    tracing::warn!(
                        path = %file.path.display(),
                        "the file is gone; unless it is back within {} s, {} is revoked",
                        GONE_FOR.as_secs(),
                        file.grants.what()
                    );
                }
                Some(since) if file.last.is_some() && now - since >= GONE_FOR => {
                    file.last = None;
                    self.revoke(file);
                }
                Some(_) => {}
            }
            return;
        }
        file.gone_since = None;
        let changed = match (&read, file.last.as_ref()) {
            (Ok(now), Some(before)) => now != before,
            (Ok(_), None) => true,
            // A read that fails is reported once, when the file stops being readable.
            (Err(_), before) => before.is_some(),
        };
        if changed {
            file.last = read.as_ref().ok().cloned();
            let _ = self.apply(file, read);
        }
    }

    fn revoke(&self, file: &Watched) {
        match file.grants {
            Grants::Approvers => self.approvers.replace(Vec::new()),
            Grants::AdminToken => self.approvers.replace_admin(None),
        }
        self.metrics.approvers_reload(RunOutcome::Error);
        tracing::error!(
            path = %file.path.display(),
            "the file is gone: {} is revoked until it is back",
            file.grants.what()
        );
    }

    fn apply(&self, file: &Watched, read: std::io::Result<Vec<u8>>) -> Result<(), ApproversErrors> {
        let shown = file.path.display().to_string();
        let bytes = read.map_err(|error| file::unreadable(&file.path, &error));
        let result = match file.grants {
            Grants::Approvers => bytes
                .and_then(|bytes| file::parse_bytes(&shown, &bytes))
                .map(|listed| {
                    let count = listed.len();
                    self.approvers.replace(listed);
                    tracing::info!(path = %shown, approvers = count, "approvers reloaded");
                    if let Some(reloaded) = self.reloaded.get() {
                        reloaded();
                    }
                }),
            Grants::AdminToken => {
                bytes
                    .and_then(|bytes| admin_token(&shown, &bytes))
                    .map(|token| {
                        self.approvers.replace_admin(Some(token));
                        tracing::info!(path = %shown, "admin token reloaded");
                    })
            }
        };
        match result {
            Ok(()) => {
                self.metrics.approvers_reload(RunOutcome::Ok);
                Ok(())
            }
            Err(errors) => {
                self.metrics.approvers_reload(RunOutcome::Error);
                tracing::error!(path = %shown, errors = %errors, "reload failed; keeping the last good content");
                Err(errors)
            }
        }
    }
}

/// The hash of the token in an admin token file: its one line, trimmed, not empty.
fn admin_token(shown: &str, bytes: &[u8]) -> Result<TokenHash, ApproversErrors> {
    match std::str::from_utf8(bytes).map(crate::token_file::one_line) {
        Ok(Ok(token)) => Ok(TokenHash::of(token.as_bytes())),
        Ok(Err(why)) => Err(file::whole_file(shown, why.to_owned())),
        Err(error) => Err(file::whole_file(shown, format!("not UTF-8 text: {error}"))),
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
        let watch = Arc::new(
            Watch::new(approvers.clone(), metrics.clone(), EVERY)
                .approvers_file(path.clone(), loaded),
        );
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

        // A swap in progress: gone for a moment, then back.
        std::fs::remove_file(&path).unwrap();
        tick().await;
        std::fs::write(&path, entry("dave", "dave-token")).unwrap();
        tick().await;
        tick().await;
        tick().await;
        assert_eq!(who("dave-token").as_deref(), Some("dave"));

        // Gone for good: revoked.
        std::fs::remove_file(&path).unwrap();
        tick().await;
        assert_eq!(who("dave-token").as_deref(), Some("dave"), "not yet");
        tokio::time::sleep(GONE_FOR + EVERY).await;
        assert_eq!(who("dave-token"), None, "revoked");
        std::fs::write(&path, entry("dave", "dave-token")).unwrap();
        tick().await;
        assert_eq!(who("dave-token").as_deref(), Some("dave"), "back");
        shutdown.cancel();
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_rotated_admin_token_replaces_the_old_one_and_a_deleted_one_revokes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin-token");
        std::fs::write(&path, "old-token\n").unwrap();
        let token = secrecy::SecretString::from("old-token");
        let approvers = Arc::new(Approvers::new(Some(&token), Vec::new()));
        let watch = Arc::new(
            Watch::new(approvers.clone(), Arc::new(Metrics::new()), EVERY)
                .admin_token_file(path.clone(), std::fs::read(&path).ok()),
        );
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(watch.clone().watch(shutdown.clone()));
        let tick = || tokio::time::sleep(EVERY + Duration::from_millis(10));
        let who = |token: &str| approvers.find(token).map(|a| a.name().to_owned());

        std::fs::write(&path, "  new-token \n").unwrap();
        tick().await;
        assert_eq!(who("old-token"), None, "the old token no longer works");
        assert_eq!(who("new-token").as_deref(), Some("admin"));

        std::fs::write(&path, "\n").unwrap();
        tick().await;
        assert_eq!(
            who("new-token").as_deref(),
            Some("admin"),
            "an empty file changes nothing"
        );

        std::fs::remove_file(&path).unwrap();
        tick().await;
        tokio::time::sleep(GONE_FOR + EVERY).await;
        assert_eq!(who("new-token"), None, "revoked");
        shutdown.cancel();
        task.await.unwrap();
    }
}
