//! Liveness: a heartbeat per long-running loop (each source's, the hold scheduler's), so the
//! systemd watchdog pings only while every loop makes progress. A loop *registers* under its
//! name and gets a [`Heartbeat`]; it *beats* at least every [`Heartbeat::every`], also
//! when idle; a loop is *stale* when its last beat is older than [`Liveness::stale_after`].
//! A loop that does not run in this mode (the AMQP session in poll mode) is never registered.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The longest a loop goes between beats when no watchdog asks for less.
const MAX_BEAT_EVERY: Duration = Duration::from_secs(10);
/// Test hook: names one loop (e.g. `scheduler`) whose beats are ignored from the start, as if
/// it were stuck. Only the integration tests set it.
const TEST_STALL_VARIABLE: &str = "VCD_BLOCKD_TEST_STALL";

/// The registered loops' last beats. Shared by the loops (writers, through their
/// [`Heartbeat`]s) and the watchdog pinger and `/livez` (readers).
#[derive(Debug)]
pub(crate) struct Liveness {
    /// Beats are stored as milliseconds since `origin`.
    origin: Instant,
    beat_every: Duration,
    /// The loop whose beats the test hook ignores.
    stalled: Option<String>,
    /// In the order they registered; a loop is never removed.
    loops: Mutex<Vec<Arc<Beats>>>,
}

/// One loop's name and last beat.
#[derive(Debug)]
struct Beats {
    name: &'static str,
    /// Milliseconds since [`Liveness::origin`].
    last: AtomicU64,
}

/// A loop's handle for beating; cloning it beats for the same loop.
#[derive(Debug, Clone)]
pub(crate) struct Heartbeat {
    liveness: Arc<Liveness>,
    beats: Arc<Beats>,
    /// The test hook ignores this loop's beats.
    ignored: bool,
}

impl Default for Liveness {
    fn default() -> Self {
        Liveness::new(None, None)
    }
}

impl Liveness {
    /// With systemd's watchdog interval (`WATCHDOG_USEC`), loops beat four times per
    /// interval; without one, every [`MAX_BEAT_EVERY`]. `stalled` names a loop whose beats
    /// are ignored (the test hook).
    pub(crate) fn new(watchdog: Option<Duration>, stalled: Option<String>) -> Liveness {
        let beat_every = watchdog.map_or(MAX_BEAT_EVERY, |interval| {
            (interval / 4).clamp(Duration::from_millis(10), MAX_BEAT_EVERY)
        });
        Liveness {
            origin: Instant::now(),
            beat_every,
            stalled,
            loops: Mutex::default(),
        }
    }

    /// From the environment systemd sets up, plus the test hook.
    pub(crate) fn from_env() -> Liveness {
        let stalled = std::env::var(TEST_STALL_VARIABLE).ok();
        Liveness::new(sd_notify::watchdog_enabled(), stalled)
    }

    /// Adds the loop `name` (`/livez` names it when it is stuck), beating now.
    pub(crate) fn register(self: &Arc<Self>, name: &'static str) -> Heartbeat {
        let beats = Arc::new(Beats {
            name,
            last: AtomicU64::new(self.millis(Instant::now())),
        });
        self.loops
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(beats.clone());
        Heartbeat {
            liveness: self.clone(),
            beats,
            ignored: self.stalled.as_deref() == Some(name),
        }
    }

    /// How old a loop's last beat may be before the loop counts as stuck: long enough for one
    /// slow round of work (a vCD call with its retries), at least a second.
    pub(crate) fn stale_after(&self) -> Duration {
        (self.beat_every * 8).max(Duration::from_secs(1))
    }

    /// The name of the first registered loop whose last beat is older than
    /// [`Liveness::stale_after`] at `now`.
    pub(crate) fn stale(&self, now: Instant) -> Option<&'static str> {
        let now = self.millis(now);
        let limit = u64::try_from(self.stale_after().as_millis()).unwrap_or(u64::MAX);
        let loops = self.loops.lock().unwrap_or_else(PoisonError::into_inner);
        loops
            .iter()
            .find(|beats| now.saturating_sub(beats.last.load(Ordering::Relaxed)) > limit)
            .map(|beats| beats.name)
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX)
    }
}

impl Heartbeat {
    /// The loop made progress now.
    pub(crate) fn beat(&self) {
        if self.ignored {
            return;
        }
        let now = self.liveness.millis(Instant::now());
        self.beats.last.store(now, Ordering::Relaxed);
    }

    /// The longest the loop may go between beats.
    pub(crate) fn every(&self) -> Duration {
        self.liveness.beat_every
    }

    /// Runs `wait` while beating: a sleep, a backoff, or work whose every step ends by itself
    /// (a reconciliation: each vCD request has a timeout), so that a long one is not taken
    /// for a stuck loop. A blocked runtime still stops the beats.
    pub(crate) async fn beating<T>(&self, wait: impl Future<Output = T>) -> T {
        tokio::pin!(wait);
        loop {
            self.beat();
            tokio::select! {
                out = &mut wait => return out,
                () = tokio::time::sleep(self.every()) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_that_stops_beating_goes_stale_and_the_others_do_not() {
        let liveness = Arc::new(Liveness::new(Some(Duration::from_secs(60)), None));
        let start = Instant::now();
        let source = liveness.register("amqp");
        assert_eq!(source.every(), Duration::from_secs(10));
        let scheduler = liveness.register("scheduler");
        assert_eq!(liveness.stale(start), None);
        let later = Instant::now() + liveness.stale_after() + Duration::from_secs(1);
        assert_eq!(liveness.stale(later), Some("amqp"));
        source.beat();
        scheduler.beat();
        assert_eq!(liveness.stale(Instant::now()), None);
    }

    #[test]
    fn only_registered_loops_can_go_stale() {
        let liveness = Liveness::new(Some(Duration::from_secs(60)), None);
        let much_later = Instant::now() + Duration::from_secs(3600);
        assert_eq!(
            liveness.stale(much_later),
            None,
            "a loop that does not run in this mode is never stale"
        );
    }

    #[test]
    fn the_test_hook_ignores_one_loops_beats() {
        let liveness = Arc::new(Liveness::new(
            Some(Duration::from_millis(400)),
            Some("scheduler".to_owned()),
        ));
        let loops = ["amqp", "scheduler", "reconcile"].map(|name| liveness.register(name));
        assert_eq!(loops[1].every(), Duration::from_millis(100));
        std::thread::sleep(Duration::from_millis(1100));
        for heartbeat in &loops {
            heartbeat.beat();
        }
        assert_eq!(liveness.stale(Instant::now()), Some("scheduler"));
    }
}
