//! Refused bearer tokens, per source address: the first refusal of a *burst* (refusals less
//! than [`BURST_GAP`] apart) is logged with the address, so that guessing leaves a trace
//! without flooding the log, and a source refused [`BACK_OFF_AFTER`] times in a burst is
//! answered 429 without a token check for [`BACK_OFF`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Refusals closer together than this belong to one burst.
const BURST_GAP: Duration = Duration::from_secs(60);
/// Refusals in one burst after which the source backs off.
const BACK_OFF_AFTER: u32 = 20;
/// How long a source that backs off is answered 429.
pub(super) const BACK_OFF: Duration = Duration::from_secs(10);
/// The most sources remembered; past it, sources whose burst ended are forgotten, and a new
/// source is not remembered while every one's burst goes on.
const MAX_SOURCES: usize = 10_000;

/// One source's current burst.
#[derive(Debug, Clone, Copy)]
struct Burst {
    refused: u32,
    last: Instant,
    /// Answered 429 until then.
    backing_off_until: Option<Instant>,
}

/// What became of a refusal.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The first of a burst: worth a log event.
    FirstOfBurst,
    /// One more of a burst that was logged.
    Again,
}

/// The refusals of every source, shared by the admin routes.
#[derive(Debug, Default)]
pub(super) struct Refusals {
    sources: Mutex<HashMap<IpAddr, Burst>>,
}

impl Refusals {
    /// Whether `source` must wait before its token is checked again.
    pub(super) fn backing_off(&self, source: IpAddr, now: Instant) -> bool {
        self.lock()
            .get(&source)
            .and_then(|burst| burst.backing_off_until)
            .is_some_and(|until| now < until)
    }

    /// Counts a refused token from `source`.
    pub(super) fn refused(&self, source: IpAddr, now: Instant) -> Refusal {
        let mut sources = self.lock();
        if sources.len() >= MAX_SOURCES && !sources.contains_key(&source) {
            sources.retain(|_, burst| now.saturating_duration_since(burst.last) < BURST_GAP);
            if sources.len() >= MAX_SOURCES {
                return Refusal::Again;
            }
        }
        let burst = sources.entry(source).or_insert(Burst {
            refused: 0,
            last: now,
            backing_off_until: None,
        });
        if now.saturating_duration_since(burst.last) >= BURST_GAP {
            burst.refused = 0;
            burst.backing_off_until = None;
        }
        burst.refused += 1;
        burst.last = now;
        if burst.refused.is_multiple_of(BACK_OFF_AFTER) {
            burst.backing_off_until = Some(now + BACK_OFF);
        }
        if burst.refused == 1 {
            Refusal::FirstOfBurst
        } else {
            Refusal::Again
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Burst>> {
        self.sources
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_logged_once_and_many_refusals_back_off_for_a_while() {
        let refusals = Refusals::default();
        let (source, other): (IpAddr, IpAddr) =
            ("192.0.2.7".parse().unwrap(), "192.0.2.8".parse().unwrap());
        let start = Instant::now();
        let mut now = start;
        assert_eq!(refusals.refused(source, now), Refusal::FirstOfBurst);
        for _ in 1..BACK_OFF_AFTER {
            assert!(!refusals.backing_off(source, now));
            now += Duration::from_secs(1);
            assert_eq!(refusals.refused(source, now), Refusal::Again);
        }
        assert!(refusals.backing_off(source, now), "after many refusals");
        assert!(!refusals.backing_off(other, now), "only that source");
        assert_eq!(refusals.refused(other, now), Refusal::FirstOfBurst);
        assert!(refusals.backing_off(source, now + BACK_OFF - Duration::from_millis(1)));
        assert!(!refusals.backing_off(source, now + BACK_OFF), "for a while");
        now += BURST_GAP;
        assert_eq!(
            refusals.refused(source, now),
            Refusal::FirstOfBurst,
            "a new burst after a quiet minute"
        );
        assert!(!refusals.backing_off(source, now));
    }
}
