//! The tasks this daemon decided lately (vCD accepted its resume, abort or fail), so that a
//! second announcement of one (the start-up reconciliation walking the same backlog as the
//! queue, a redelivery) is acknowledged without reading the task from vCD again. Bounded: the
//! oldest entry goes when a new one comes past the capacity, [`CAPACITY`] or the length of
//! vCD's last list of active tasks if that is longer (reconciliation then walks a backlog the
//! queue is deciding too, and must find every task the queue decided meanwhile).

use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::task::TaskId;

/// The least it remembers: about 100 KB.
const CAPACITY: usize = 4096;

#[derive(Debug, Default)]
pub(crate) struct RecentlyDecided {
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    ids: HashSet<TaskId>,
    order: VecDeque<TaskId>,
    /// Set by [`RecentlyDecided::cover`]; [`CAPACITY`] until then.
    capacity: Option<usize>,
}

impl RecentlyDecided {
    fn entries(&self) -> MutexGuard<'_, Entries> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn insert(&self, id: TaskId) {
        let mut entries = self.entries();
        if !entries.ids.insert(id) {
            return;
        }
        entries.order.push_back(id);
        let capacity = entries.capacity.unwrap_or(CAPACITY);
        while entries.order.len() > capacity
            && let Some(oldest) = entries.order.pop_front()
        {
            entries.ids.remove(&oldest);
        }
    }

    /// Remembers at least the last `listed` decisions (the length of vCD's list of active
    /// tasks), and never fewer than [`CAPACITY`]; a shorter list lets it shrink back.
    pub(crate) fn cover(&self, listed: usize) {
        self.entries().capacity = Some(listed.max(CAPACITY));
    }

    pub(crate) fn contains(&self, id: TaskId) -> bool {
        self.entries().ids.contains(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> TaskId {
        TaskId::from_uuid(uuid::Uuid::from_u128(n))
    }

    #[test]
    fn keeps_the_latest_and_forgets_the_oldest() {
        let recent = RecentlyDecided::default();
        for n in 0..(CAPACITY as u128 + 10) {
            recent.insert(id(n));
        }
        recent.insert(id(20));
        assert!(!recent.contains(id(0)));
        assert!(!recent.contains(id(9)));
        assert!(recent.contains(id(10)));
        assert!(recent.contains(id(CAPACITY as u128 + 9)));
        assert_eq!(recent.entries().order.len(), CAPACITY);
    }

    #[test]
    fn covers_a_long_listing_then_shrinks_back() {
        let recent = RecentlyDecided::default();
        recent.cover(10_000);
        for n in 0..10_000 {
            recent.insert(id(n));
        }
        assert!(recent.contains(id(0)), "the first of a 10,000-task backlog");
        recent.cover(10);
        recent.insert(id(10_000));
        assert_eq!(recent.entries().order.len(), CAPACITY);
        assert!(!recent.contains(id(0)));
        assert!(recent.contains(id(10_000)));
    }
}
