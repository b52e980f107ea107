//! Liveness: a heartbeat per long-running loop (the AMQP consumer, the hold scheduler, the
//! reconciliation), so the systemd watchdog pings only while every loop makes progress. A loop
//! *beats* at least every [`Liveness::beat_every`], also when idle; a loop is *stale* when its
//! last beat is older than [`Liveness::stale_after`].

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The longest a loop goes between beats when no watchdog asks for less.
const MAX_BEAT_EVERY: Duration = Duration::from_secs(10);
/// Test hook: names one loop (`consumer`, `scheduler` or `reconcile`) whose beats are ignored
/// from the start, as if it were stuck. Only the integration tests set it.
const TEST_STALL_VARIABLE: &str = "VCD_BLOCKD_TEST_STALL";

/// The loops that must keep beating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Loop {
    Consumer,
    Scheduler,
    Reconcile,
}

impl Loop {
    const ALL: [Loop; 3] = [Loop::Consumer, Loop::Scheduler, Loop::Reconcile];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Loop::Consumer => "consumer",
            Loop::Scheduler => "scheduler",
            Loop::Reconcile => "reconcile",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The loops' last beats. Shared by the loops (writers) and the watchdog pinger (reader).
#[derive(Debug)]
pub(crate) struct Liveness {
    /// Beats are stored as milliseconds since `origin`.
    origin: Instant,
    beats: [AtomicU64; 3],
    beat_every: Duration,
    /// The loop whose beats the test hook ignores.
    stalled: Option<Loop>,
}

impl Default for Liveness {
    fn default() -> Self {
        Liveness::new(None, None)
    }
}

impl Liveness {
    /// With systemd's watchdog interval (`WATCHDOG_USEC`), loops beat four times per
    /// interval; without one, every [`MAX_BEAT_EVERY`].
    pub(crate) fn new(watchdog: Option<Duration>, stalled: Option<Loop>) -> Liveness {
        let beat_every = watchdog.map_or(MAX_BEAT_EVERY, |interval| {
            (interval / 4).clamp(Duration::from_millis(10), MAX_BEAT_EVERY)
        });
        Liveness {
            origin: Instant::now(),
            beats: Default::default(),
            beat_every,
            stalled,
        }
    }

    /// From the environment systemd sets up, plus the test hook.
    pub(crate) fn from_env() -> Liveness {
        let stalled = std::env::var(TEST_STALL_VARIABLE).ok().and_then(|name| {
            Loop::ALL
                .into_iter()
                .find(|candidate| candidate.label() == name)
        });
        Liveness::new(sd_notify::watchdog_enabled(), stalled)
    }

    /// The longest a loop may go between beats.
    pub(crate) fn beat_every(&self) -> Duration {
        self.beat_every
    }

    /// How old a loop's last beat may be before the loop counts as stuck: long enough for one
    /// slow round of work (a vCD call with its retries), at least a second.
    pub(crate) fn stale_after(&self) -> Duration {
        (self.beat_every * 8).max(Duration::from_secs(1))
    }

    /// `which` made progress now.
    pub(crate) fn beat(&self, which: Loop) {
        if self.stalled == Some(which) {
            return;
        }
        let now = self.millis(Instant::now());
        self.beats[which.index()].store(now, Ordering::Relaxed);
    }

    /// `which` does not run in this mode (the AMQP session in poll mode): it never goes stale.
    pub(crate) fn not_running(&self, which: Loop) {
        self.beats[which.index()].store(u64::MAX, Ordering::Relaxed);
    }

    /// Runs `wait` while beating for `which`: a sleep, a backoff, or work whose every step
    /// ends by itself (a reconciliation: each vCD request has a timeout), so that a long one
    /// is not taken for a stuck loop. A blocked runtime still stops the beats.
    pub(crate) async fn beating<T>(&self, which: Loop, wait: impl Future<Output = T>) -> T {
        tokio::pin!(wait);
        loop {
            self.beat(which);
            tokio::select! {
                out = &mut wait => return out,
                () = tokio::time::sleep(self.beat_every) => {}
            }
        }
    }

    /// The first loop whose last beat is older than [`Liveness::stale_after`] at `now`.
    pub(crate) fn stale(&self, now: Instant) -> Option<Loop> {
        let now = self.millis(now);
        let limit = u64::try_from(self.stale_after().as_millis()).unwrap_or(u64::MAX);
        Loop::ALL.into_iter().find(|which| {
            let last = self.beats[which.index()].load(Ordering::Relaxed);
            now.saturating_sub(last) > limit
        })
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_that_stops_beating_goes_stale_and_the_others_do_not() {
        let liveness = Liveness::new(Some(Duration::from_secs(60)), None);
        assert_eq!(liveness.beat_every(), Duration::from_secs(10));
        let start = Instant::now();
        assert_eq!(liveness.stale(start), None);
        let later = start + liveness.stale_after() + Duration::from_secs(1);
        assert_eq!(liveness.stale(later), Some(Loop::Consumer));
        liveness.not_running(Loop::Consumer);
        liveness.beat(Loop::Scheduler);
        liveness.beat(Loop::Reconcile);
        assert_eq!(
            liveness.stale(Instant::now()),
            None,
            "a loop that does not run is never stale"
        );
    }

    #[test]
    fn the_test_hook_ignores_one_loops_beats() {
        let liveness = Liveness::new(Some(Duration::from_millis(400)), Some(Loop::Scheduler));
        assert_eq!(liveness.beat_every(), Duration::from_millis(100));
        std::thread::sleep(Duration::from_millis(1100));
        for which in Loop::ALL {
            liveness.beat(which);
        }
        assert_eq!(liveness.stale(Instant::now()), Some(Loop::Scheduler));
    }
}
