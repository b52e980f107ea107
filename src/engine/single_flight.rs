//! Per-task single flight: at most one code path handles a given task at any moment. A second
//! path (a duplicate delivery, reconciliation, an approval) waits for the first to finish and
//! then sees the task as the first left it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::task::TaskId;

/// Locks keyed by task id, removed again when nobody holds or waits for them.
#[derive(Debug, Default)]
pub(crate) struct SingleFlight {
    locks: Mutex<HashMap<TaskId, Arc<AsyncMutex<()>>>>,
}

/// Held while a task is being handled; releasing it lets the next waiter in.
pub(crate) struct FlightGuard<'a> {
    owner: &'a SingleFlight,
    id: TaskId,
    guard: Option<OwnedMutexGuard<()>>,
}

impl SingleFlight {
    pub(crate) async fn enter(&self, id: TaskId) -> FlightGuard<'_> {
        let lock = {
            let mut locks = self
                .locks
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            locks.entry(id).or_default().clone()
        };
        let guard = lock.lock_owned().await;
        FlightGuard {
            owner: self,
            id,
            guard: Some(guard),
        }
    }

    /// Number of tasks currently being handled or waited for.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        let mut locks = self
            .owner
            .locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.guard.take();
        // With our guard gone, the map holds one reference and each waiter another: the
        // entry can go only when nobody waits.
        if let Some(lock) = locks.get(&self.id)
            && Arc::strong_count(lock) == 1
        {
            locks.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn one_task_is_never_handled_twice_at_once() {
        let flights = Arc::new(SingleFlight::default());
        let id = TaskId::parse("8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94").unwrap();
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for _ in 0..8 {
            let (flights, inside, most) = (flights.clone(), inside.clone(), most.clone());
            handles.push(tokio::spawn(async move {
                let _guard = flights.enter(id).await;
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                inside.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for handle in handles {
            handle.await.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 1);
        assert!(flights.is_empty(), "locks must not pile up");
    }

    #[tokio::test]
    async fn different_tasks_do_not_wait_for_each_other() {
        let flights = SingleFlight::default();
        let a = TaskId::parse("8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94").unwrap();
        let b = TaskId::parse("2d4f6a8c-0e1b-4c3d-9f5a-7b9d1f3e5a70").unwrap();
        let _first = flights.enter(a).await;
        let second = tokio::time::timeout(Duration::from_secs(5), flights.enter(b)).await;
        assert!(second.is_ok());
    }
}
