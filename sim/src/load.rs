//! How hard the sim is being called: API requests under way now, the most there ever were at
//! once, and how many were answered. Tests check a client's concurrency limit against it; the
//! benchmarks read the sim's own request rate from it. Atomics, apart from the state mutex.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;

#[derive(Debug, Default)]
pub(crate) struct Load {
    in_flight: AtomicUsize,
    most: AtomicUsize,
    answered: AtomicU64,
}

/// A snapshot of `Load`, as `Sim::load` and `GET /sim/load` give it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LoadView {
    /// API requests being answered now (waiting out injected latency included).
    pub in_flight: usize,
    /// The most API requests that were ever being answered at once.
    pub max_in_flight: usize,
    /// API requests answered so far.
    pub answered: u64,
}

impl Load {
    /// Counts a request in until the returned guard is dropped.
    pub(crate) fn begin(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        InFlight(self)
    }

    pub(crate) fn view(&self) -> LoadView {
        LoadView {
            in_flight: self.in_flight.load(Ordering::SeqCst),
            max_in_flight: self.most.load(Ordering::SeqCst),
            answered: self.answered.load(Ordering::SeqCst),
        }
    }
}

pub(crate) struct InFlight<'a>(&'a Load);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.answered.fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_most_at_once() {
        let load = Load::default();
        let a = load.begin();
        let b = load.begin();
        drop(a);
        let c = load.begin();
        assert_eq!(
            load.view(),
            LoadView {
                in_flight: 2,
                max_in_flight: 2,
                answered: 1
            }
        );
        drop((b, c));
        assert_eq!(load.view().in_flight, 0);
        assert_eq!(load.view().answered, 3);
    }
}
