//! The daemon's side of systemd's notify protocol (`sd_notify(3)`): `READY=1` and
//! `STOPPING=1`, `RELOADING=1` with `MONOTONIC_USEC` around a reload, `STATUS=` lines saying
//! what the daemon does, and `WATCHDOG=1` pings sent only while every loop beats (see
//! [`Liveness`]). Without `NOTIFY_SOCKET` (not under systemd) every send does nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sd_notify::NotifyState;
use tokio::task::JoinHandle;

use crate::daemon::Daemon;
use crate::duration::format_duration;
use crate::health::Health;
use crate::liveness::Liveness;
use crate::metrics::{LastDecision, Metrics};
use crate::reload::Reloader;

/// How often the `STATUS=` line is recomputed; it is sent only when it changed.
const STATUS_EVERY: Duration = Duration::from_secs(1);

/// The notifier's background tasks: the status updater and, with a watchdog, the pinger.
pub(crate) struct Systemd {
    tasks: Vec<JoinHandle<()>>,
}

impl Systemd {
    /// Tells systemd the daemon is ready and starts keeping it informed.
    pub(crate) fn ready(daemon: &Daemon) -> Systemd {
        let status = Status {
            health: daemon.health.clone(),
            metrics: daemon.metrics.clone(),
            reloader: daemon.reloader.clone(),
        };
        let line = status.line(Instant::now());
        send(&[NotifyState::Ready, NotifyState::Status(&line)]);
        let mut tasks = vec![tokio::spawn(status.keep_sending(line))];
        if let Some(interval) = sd_notify::watchdog_enabled() {
            tracing::info!(interval = %format_duration(interval), "systemd watchdog on");
            tasks.push(tokio::spawn(ping(daemon.liveness.clone(), interval / 2)));
        }
        Systemd { tasks }
    }

    /// Before a reload: `RELOADING=1` with the monotonic clock, as `Type=notify-reload`
    /// expects.
    pub(crate) fn reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => send(&[NotifyState::Reloading, now]),
            Err(error) => tracing::warn!(%error, "cannot read the monotonic clock"),
        }
    }

    /// After a reload, whether the new files were taken or the last good ones kept.
    pub(crate) fn reloaded(&self) {
        send(&[NotifyState::Ready]);
    }

    /// Stops pinging and updating the status, and says the daemon is stopping.
    pub(crate) fn stopping(self) {
        for task in self.tasks {
            task.abort();
        }
        send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
    }
}

fn send(states: &[NotifyState]) {
    if let Err(error) = sd_notify::notify(states) {
        tracing::debug!(%error, "cannot notify systemd");
    }
}

/// Sends `WATCHDOG=1` every `every` while no loop is stale; a stale loop stops the pings, so
/// systemd restarts the daemon after `WatchdogSec=`.
async fn ping(liveness: Arc<Liveness>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    let mut stalled = None;
    loop {
        tick.tick().await;
        let stale = liveness.stale(Instant::now());
        match stale {
            None => send(&[NotifyState::Watchdog]),
            Some(which) if stalled != stale => {
                tracing::error!(
                    stalled = which,
                    after = %format_duration(liveness.stale_after()),
                    "a loop makes no progress; no more watchdog pings, so systemd restarts the daemon"
                );
            }
            Some(_) => {}
        }
        stalled = stale;
    }
}

/// What the `STATUS=` line is made of: what the registered sources say they do, the held
/// tasks and the last decision.
struct Status {
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    reloader: Arc<Reloader>,
}

impl Status {
    fn line(&self, now: Instant) -> String {
        status_line(
            &self.health.statuses().join(", "),
            self.metrics.holds_active.get(),
            self.metrics.last_decision().as_ref(),
            self.reloader.last_failed(),
            now,
        )
    }

    /// Recomputes the line every [`STATUS_EVERY`] and sends it when it changed.
    async fn keep_sending(self, mut sent: String) {
        let mut tick = tokio::time::interval(STATUS_EVERY);
        loop {
            tick.tick().await;
            let line = self.line(Instant::now());
            if line != sent {
                send(&[NotifyState::Status(&line)]);
                sent = line;
            }
        }
    }
}

/// E.g. `consuming; 3 held; last decision 12s ago (resume by "rule")`; `sources` says where
/// task ids come from now (e.g. `consuming`, `polling vCD every 15s`). After a failed policy
/// reload it ends with `; policy reload failed, last good policy kept (see the journal)` until a
/// reload succeeds.
fn status_line(
    sources: &str,
    held: i64,
    last: Option<&LastDecision>,
    reload_failed: bool,
    now: Instant,
) -> String {
    let decision = match last {
        None => "no decision yet".to_owned(),
        Some(last) => {
            let secs = now.saturating_duration_since(last.at).as_secs();
            let ago = match secs {
                0 => "0s".to_owned(),
                _ => format_duration(Duration::from_secs(secs)),
            };
            let dry_run = if last.dry_run { ", dry run" } else { "" };
            format!(
                "last decision {ago} ago ({} by \"{}\"{dry_run})",
                last.action, last.rule
            )
        }
    };
    let reload = if reload_failed {
        "; policy reload failed, last good policy kept (see the journal)"
    } else {
        ""
    };
    format!("{sources}; {held} held; {decision}{reload}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_says_what_the_daemon_does() {
        let now = Instant::now();
        assert_eq!(
            status_line("not consuming (reconnecting)", 0, None, false, now),
            "not consuming (reconnecting); 0 held; no decision yet"
        );
        let last = LastDecision {
            at: now,
            action: "resume",
            rule: "dev".into(),
            dry_run: false,
        };
        let later = now + Duration::from_secs(72);
        assert_eq!(
            status_line("consuming", 3, Some(&last), false, later),
            "consuming; 3 held; last decision 1m12s ago (resume by \"dev\")"
        );
        let shadow = LastDecision {
            dry_run: true,
            ..last
        };
        assert_eq!(
            status_line("consuming", 0, Some(&shadow), false, now),
            "consuming; 0 held; last decision 0s ago (resume by \"dev\", dry run)"
        );
        assert_eq!(
            status_line("consuming", 0, None, true, now),
            "consuming; 0 held; no decision yet; policy reload failed, last good policy kept \
             (see the journal)"
        );
    }
}
