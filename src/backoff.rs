//! Backoff schedules: exponential with jitter, capped per wait and, for request retries,
//! bounded by a total deadline, so a caller always knows how long the worst case takes.

use std::time::Duration;

/// When and how often to try again.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub cap: Duration,
    /// No new attempt starts after this much time since the first one.
    pub deadline: Duration,
    pub max_attempts: u32,
}

impl Backoff {
    /// For 5xx answers and connection errors.
    pub const TRANSIENT: Backoff = Backoff {
        first: Duration::from_millis(200),
        cap: Duration::from_secs(5),
        deadline: Duration::from_secs(30),
        max_attempts: 6,
    };

    /// For a task that vCD announced but does not show yet.
    pub const NOT_YET_VISIBLE: Backoff = Backoff {
        first: Duration::from_millis(250),
        cap: Duration::from_secs(2),
        deadline: Duration::from_secs(8),
        max_attempts: 6,
    };

    /// Between attempts to rebuild the AMQP session (DESIGN: jitter, at most 60 s).
    pub const RECONNECT: Backoff = Backoff {
        first: Duration::from_millis(500),
        cap: Duration::from_secs(60),
        deadline: Duration::MAX,
        max_attempts: u32::MAX,
    };

    /// Between attempts to handle a delivery while vCD is in trouble.
    pub const DELIVERY: Backoff = Backoff {
        first: Duration::from_secs(1),
        cap: Duration::from_secs(60),
        deadline: Duration::MAX,
        max_attempts: u32::MAX,
    };

    /// The wait before attempt `attempt` (1 = the first retry), jittered to 50–100 %.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(16);
        let full = self.first.saturating_mul(1 << exponent).min(self.cap);
        full.mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_capped() {
        let backoff = Backoff::TRANSIENT;
        for attempt in 1..40 {
            let delay = backoff.delay(attempt);
            assert!(delay <= backoff.cap, "attempt {attempt}: {delay:?}");
            let full = backoff
                .first
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(backoff.cap);
            assert!(
                delay >= full / 2,
                "attempt {attempt}: {delay:?} below half of {full:?}"
            );
        }
    }
}
