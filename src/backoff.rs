//! The one retry facility: exponential backoff with jitter, capped per wait and bounded by a
//! total deadline and a number of attempts, so a caller always knows how long the worst case
//! takes. A [`Backoff`] is the policy (one constant per kind of trouble); a [`Schedule`] is one
//! run of it, with its own random source (injectable, for tests) and clock (tokio's, so tests
//! can pause it).

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// When and how often to try again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    /// The first wait, before jitter.
    pub first: Duration,
    /// No single wait is longer.
    pub cap: Duration,
    /// No new attempt starts after this much time since the schedule began.
    pub deadline: Duration,
    /// At most this many attempts, the first one included.
    pub max_attempts: u32,
}

impl Backoff {
    /// For 5xx answers and connection errors from vCD. The first retry comes soon (25–50 ms):
    /// a 503 from one sick cell behind a balancer is answered by another at once, and a task
    /// waiting out its retry holds one of the deliveries the prefetch allows while making no
    /// call. The limiter, not this wait, protects an overloaded vCD: every retry takes a slot.
    /// Eight attempts keep the worst case near the six that began at 200 ms (about 6 s).
    pub(crate) const TRANSIENT: Backoff = Backoff {
        first: Duration::from_millis(50),
        cap: Duration::from_secs(5),
        deadline: Duration::from_secs(30),
        max_attempts: 8,
    };

    /// For a task that vCD announced but does not show yet.
    pub(crate) const NOT_YET_VISIBLE: Backoff = Backoff {
        first: Duration::from_millis(250),
        cap: Duration::from_secs(2),
        deadline: Duration::from_secs(8),
        max_attempts: 6,
    };

    /// For an answer vCD gave that cannot be read (a proxy's error page, a cut-off document):
    /// a few more reads within seconds, as such trouble either passes at once or lasts.
    pub(crate) const UNREADABLE: Backoff = Backoff {
        first: Duration::from_millis(250),
        cap: Duration::from_secs(2),
        deadline: Duration::from_secs(10),
        max_attempts: 3,
    };

    /// Between attempts to rebuild the AMQP session (jitter, at most 60 s).
    pub(crate) const RECONNECT: Backoff = Backoff::forever(Duration::from_millis(500));

    /// Between attempts to handle a delivery while vCD is in trouble. The deadline stays well
    /// inside RabbitMQ's 30-minute consumer timeout; past it the delivery is requeued.
    pub(crate) const DELIVERY: Backoff = Backoff {
        first: Duration::from_secs(1),
        cap: Duration::from_secs(60),
        deadline: Duration::from_secs(20 * 60),
        max_attempts: u32::MAX,
    };

    /// Between attempts to log in to vCD at start-up.
    pub(crate) const SESSION: Backoff = Backoff::forever(Duration::from_secs(1));

    /// Between reconciliations that failed (the next regular one comes sooner if it is due).
    pub(crate) const RECONCILE: Backoff = Backoff::forever(Duration::from_secs(2));

    /// Between attempts to keep a held task alive after a failed `updateProgress`; the hold
    /// scheduler also keeps each retry ahead of vCD's timeout.
    pub(crate) const KEEPALIVE: Backoff = Backoff::forever(Duration::from_secs(1));

    /// Between attempts to deliver one event to a `[[notify]]` webhook: at most a minute
    /// apart, for up to five minutes (as `docs/approvals.md` documents it); past that the event is given up.
    pub(crate) const WEBHOOK: Backoff = Backoff {
        first: Duration::from_secs(1),
        cap: Duration::from_secs(60),
        deadline: Duration::from_secs(5 * 60),
        max_attempts: u32::MAX,
    };

    /// Between attempts to open Slack's Socket Mode connection after it was lost or refused
    /// (a `disconnect` Slack asked for is followed at once).
    pub(crate) const SLACK_SOCKET: Backoff = Backoff::forever(Duration::from_secs(1));

    /// Between attempts to repair a journal that cannot be written (a deleted stream is
    /// declared again). The first wait (2–4 s) lets `/readyz` and a refused approval show the
    /// trouble before it is mended.
    pub(crate) const JOURNAL: Backoff = Backoff {
        first: Duration::from_secs(4),
        cap: Duration::from_secs(30),
        deadline: Duration::MAX,
        max_attempts: u32::MAX,
    };

    /// Starts at `first`, waits at most a minute, never gives up.
    const fn forever(first: Duration) -> Backoff {
        Backoff {
            first,
            cap: Duration::from_secs(60),
            deadline: Duration::MAX,
            max_attempts: u32::MAX,
        }
    }

    /// One run of this policy, starting now, with a randomly seeded jitter.
    pub(crate) fn schedule(self) -> Schedule {
        self.schedule_with(fastrand::Rng::new())
    }

    /// One run of this policy with the given random source (seed it for repeatable tests).
    pub(crate) fn schedule_with(self, rng: fastrand::Rng) -> Schedule {
        Schedule {
            backoff: self,
            rng,
            started: Instant::now(),
            attempts: 1,
        }
    }

    /// The longest wait before retry number `retry` (1 = the first): `first` doubled for each
    /// retry before it, capped.
    pub(crate) fn ceiling(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(16);
        self.first.saturating_mul(1 << exponent).min(self.cap)
    }

    /// The wait before retry number `retry`, jittered to 50–100 % of [`Backoff::ceiling`].
    fn delay(&self, retry: u32, rng: &mut fastrand::Rng) -> Duration {
        self.ceiling(retry).mul_f64(0.5 + rng.f64() * 0.5)
    }
}

/// One run of a [`Backoff`]: the first attempt is under way when it is made.
#[derive(Debug)]
pub(crate) struct Schedule {
    backoff: Backoff,
    rng: fastrand::Rng,
    started: Instant,
    /// Attempts started so far, the current one included.
    attempts: u32,
}

impl Schedule {
    /// The wait before the next attempt, counting that attempt as started; `None` when the
    /// attempts or the deadline are used up.
    pub(crate) fn next_delay(&mut self) -> Option<Duration> {
        if self.attempts >= self.backoff.max_attempts || self.elapsed() >= self.backoff.deadline {
            return None;
        }
        let delay = self.backoff.delay(self.attempts, &mut self.rng);
        self.attempts += 1;
        Some(delay)
    }

    /// Sleeps until the next attempt. False when the schedule is used up or `stop` was
    /// cancelled first: the caller gives up.
    pub(crate) async fn wait(&mut self, stop: &CancellationToken) -> bool {
        let Some(delay) = self.next_delay() else {
            return false;
        };
        tokio::select! {
            () = tokio::time::sleep(delay) => true,
            () = stop.cancelled() => false,
        }
    }

    /// Sleeps until the next attempt, uncancellable; false when the schedule is used up.
    pub(crate) async fn sleep(&mut self) -> bool {
        match self.next_delay() {
            Some(delay) => {
                tokio::time::sleep(delay).await;
                true
            }
            None => false,
        }
    }

    /// Starts over after a success: the next trouble begins again with the first, short wait.
    pub(crate) fn reset(&mut self) {
        self.started = Instant::now();
        self.attempts = 1;
    }

    /// Attempts started so far.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Time since the schedule began.
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_capped() {
        let backoff = Backoff::RECONNECT;
        let mut rng = fastrand::Rng::with_seed(7);
        for attempt in 1..40 {
            let delay = backoff.delay(attempt, &mut rng);
            assert!(delay <= backoff.cap, "attempt {attempt}: {delay:?}");
            let full = backoff
                .first
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(backoff.cap);
            assert_eq!(backoff.ceiling(attempt), full);
            assert!(
                delay >= full / 2,
                "attempt {attempt}: {delay:?} below half of {full:?}"
            );
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_waits() {
        let waits = |seed| {
            let mut schedule = Backoff::TRANSIENT.schedule_with(fastrand::Rng::with_seed(seed));
            std::iter::from_fn(|| schedule.next_delay()).collect::<Vec<_>>()
        };
        assert_eq!(waits(1), waits(1));
        assert_ne!(waits(1), waits(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_schedule_ends_at_its_attempts_or_its_deadline() {
        let mut by_count = Backoff::TRANSIENT.schedule();
        let retries = std::iter::from_fn(|| by_count.next_delay()).count() as u32;
        assert_eq!(retries + 1, Backoff::TRANSIENT.max_attempts);

        let mut by_time = Backoff::DELIVERY.schedule();
        let stop = CancellationToken::new();
        let mut waited = 0;
        while by_time.wait(&stop).await {
            waited += 1;
        }
        assert!(by_time.elapsed() >= Backoff::DELIVERY.deadline);
        assert!(
            by_time.elapsed() < Backoff::DELIVERY.deadline + Backoff::DELIVERY.cap,
            "{:?}",
            by_time.elapsed()
        );
        assert!(waited > 10, "{waited}");

        by_time.reset();
        assert!(
            by_time
                .next_delay()
                .is_some_and(|d| d <= Backoff::DELIVERY.first)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_wait_gives_up_at_once() {
        let stop = CancellationToken::new();
        stop.cancel();
        let mut schedule = Backoff::RECONNECT.schedule();
        let before = Instant::now();
        assert!(!schedule.wait(&stop).await);
        assert_eq!(before.elapsed(), Duration::ZERO);
    }
}
