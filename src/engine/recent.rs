//! The tasks this daemon decided lately (vCD accepted its resume, abort or fail), so that a
//! second announcement of one (the start-up reconciliation walking the same backlog as the
//! queue, a redelivery) is acknowledged without reading the task from vCD again. Bounded: the
//! oldest entry goes when a new one comes past [`CAPACITY`].

use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::task::TaskId;

/// About 100 KB: more than the start-up reconciliation falls behind the queue while both walk
/// the same backlog.
const CAPACITY: usize = 4096;

#[derive(Debug, Default)]
pub(crate) struct RecentlyDecided {
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    ids: HashSet<TaskId>,
    order: VecDeque<TaskId>,
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
        if entries.order.len() > CAPACITY
            && let Some(oldest) = entries.order.pop_front()
        {
            entries.ids.remove(&oldest);
        }
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
}
