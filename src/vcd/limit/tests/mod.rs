//! The limiter's queueing: the slot count holds, urgent work goes first, cancelled waiters
//! give back what they were handed, and `Retry-After` holds requests back.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;

fn limiter(max: usize) -> Arc<Limiter> {
    Arc::new(Limiter::new(max, Arc::new(Metrics::new())))
}

#[tokio::test(start_paused = true)]
async fn never_more_requests_under_way_than_the_limit() {
    let limiter = limiter(64);
    let limit = limiter.limit();
    let now = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (limiter, now, most) = (limiter.clone(), now.clone(), most.clone());
        tasks.push(tokio::spawn(async move {
            let permit = limiter.acquire().await;
            let running = now.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(running, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(10)).await;
            now.fetch_sub(1, Ordering::SeqCst);
            permit.finish(Signal::Answered);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert!(most.load(Ordering::SeqCst) <= 64);
    assert!(most.load(Ordering::SeqCst) >= limit);
    assert_eq!(limiter.state().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn urgent_requests_overtake_a_backlog() {
    let limiter = limiter(2);
    let held: Vec<_> = vec![limiter.acquire().await, limiter.acquire().await];
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for name in ["bulk-1", "bulk-2", "bulk-3"] {
        let (limiter, order) = (limiter.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            let permit = limiter.acquire().await;
            order.lock().unwrap().push(name);
            tokio::time::sleep(Duration::from_millis(1)).await;
            drop(permit);
        }));
        tokio::task::yield_now().await;
    }
    let (urgent_limiter, urgent_order) = (limiter.clone(), order.clone());
    tasks.push(tokio::spawn(urgent(async move {
        let permit = urgent_limiter.acquire().await;
        urgent_order.lock().unwrap().push("keepalive");
        drop(permit);
    })));
    tokio::task::yield_now().await;
    drop(held);
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        order.lock().unwrap()[0],
        "keepalive",
        "{:?}",
        order.lock().unwrap()
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_leaves_no_slot_taken() {
    let limiter = limiter(2);
    let first = limiter.acquire().await;
    let second = limiter.acquire().await;
    let waiting = tokio::spawn({
        let limiter = limiter.clone();
        async move {
            let _permit = limiter.acquire().await;
        }
    });
    tokio::task::yield_now().await;
    waiting.abort();
    let _ = waiting.await;
    drop(first);
    drop(second);
    assert_eq!(limiter.state().in_flight, 0);
    let _a = limiter.acquire().await;
    let _b = limiter.acquire().await;
}

#[tokio::test(start_paused = true)]
async fn retry_after_holds_new_requests_back() {
    let limiter = limiter(8);
    limiter.pause(Duration::from_secs(3));
    let started = tokio::time::Instant::now();
    let permit = limiter.acquire().await;
    assert!(started.elapsed() >= Duration::from_secs(3));
    drop(permit);
    // A bogus Retry-After is capped.
    limiter.pause(Duration::from_secs(3600));
    let started = tokio::time::Instant::now();
    drop(limiter.acquire().await);
    assert_eq!(started.elapsed(), MAX_PAUSE);
}

#[tokio::test(start_paused = true)]
async fn the_metrics_follow_the_slots() {
    let metrics = Arc::new(Metrics::new());
    let limiter = Limiter::new(64, metrics.clone());
    let permit = limiter.acquire().await;
    assert_eq!(metrics.vcd_in_flight.get(), 1);
    assert_eq!(metrics.vcd_concurrency_limit.get(), 8);
    permit.finish(Signal::Overloaded);
    assert_eq!(metrics.vcd_in_flight.get(), 0);
    assert_eq!(metrics.vcd_concurrency_limit.get(), 4);
}
