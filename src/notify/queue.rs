//! A bounded queue that keeps the newest entries: pushing onto a full queue pushes the oldest
//! entry out and hands it back, to be counted. One consumer waits on it; pushing never waits.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

#[derive(Debug)]
pub(super) struct Queue<T> {
    items: Mutex<VecDeque<T>>,
    /// Never more than this many entries.
    capacity: usize,
    /// Wakes the consumer after a push (the permit is kept if it is not waiting yet).
    pushed: Notify,
}

impl<T> Queue<T> {
    /// A queue of at most `capacity` entries (at least one).
    pub(super) fn new(capacity: usize) -> Queue<T> {
        let capacity = capacity.max(1);
        Queue {
            items: Mutex::new(VecDeque::with_capacity(capacity.min(64))),
            capacity,
            pushed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<T>> {
        self.items
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds `item` at the back. When the queue is full, the oldest entry makes room and is
    /// returned.
    pub(super) fn push(&self, item: T) -> Option<T> {
        let mut items = self.lock();
        let dropped = if items.len() >= self.capacity {
            items.pop_front()
        } else {
            None
        };
        items.push_back(item);
        drop(items);
        self.pushed.notify_one();
        dropped
    }

    /// Takes the oldest entry, waiting for one if the queue is empty. Cancel-safe: an entry is
    /// only taken when the call returns it.
    pub(super) async fn pop(&self) -> T {
        loop {
            if let Some(item) = self.lock().pop_front() {
                return item;
            }
            self.pushed.notified().await;
        }
    }

    /// Takes every entry left, oldest first.
    pub(super) fn drain(&self) -> Vec<T> {
        self.lock().drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_full_queue_drops_the_oldest_and_hands_it_back() {
        let queue = Queue::new(3);
        assert_eq!(queue.push(1), None);
        assert_eq!(queue.push(2), None);
        assert_eq!(queue.push(3), None);
        assert_eq!(queue.push(4), Some(1));
        assert_eq!(queue.push(5), Some(2));
        assert_eq!(queue.drain(), [3, 4, 5]);
        assert!(queue.drain().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn pop_takes_the_oldest_and_waits_for_a_push_when_empty() {
        let queue = Arc::new(Queue::new(10));
        queue.push("a");
        queue.push("b");
        assert_eq!(queue.pop().await, "a");
        assert_eq!(queue.pop().await, "b");
        let waiting = tokio::spawn({
            let queue = queue.clone();
            async move { queue.pop().await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiting.is_finished(), "pop returned from an empty queue");
        queue.push("c");
        assert_eq!(waiting.await.unwrap(), "c");
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_pop_loses_nothing() {
        let queue = Queue::new(10);
        let timed_out = tokio::time::timeout(Duration::from_secs(1), queue.pop()).await;
        assert!(timed_out.is_err());
        queue.push(7);
        assert_eq!(queue.pop().await, 7);
    }
}
