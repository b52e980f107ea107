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
    permit.finish(Signal::Throttled);
    assert_eq!(metrics.vcd_in_flight.get(), 0);
    assert_eq!(metrics.vcd_concurrency_limit.get(), 4);
}

/// Queues `names` (each `background:`-prefixed name in the background line, each
/// `takeover:`-prefixed one in the takeover line, the rest in the bulk line) while every slot
/// of a 2-slot limiter is taken, waiting `gap` between them, then
/// frees the slots; returns the order in which they got one.
async fn order_of_service(names: &[&'static str], gap: Duration) -> Vec<&'static str> {
    let limiter = limiter(2);
    let held: Vec<_> = vec![limiter.acquire().await, limiter.acquire().await];
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for &name in names {
        let (limiter, order) = (limiter.clone(), order.clone());
        let work = async move {
            let permit = limiter.acquire().await;
            order.lock().unwrap().push(name);
            tokio::time::sleep(Duration::from_millis(1)).await;
            drop(permit);
        };
        tasks.push(if name.starts_with("background:") {
            tokio::spawn(background(work))
        } else if name.starts_with("takeover:") {
            tokio::spawn(takeover(work))
        } else {
            tokio::spawn(work)
        });
        tokio::task::yield_now().await;
        tokio::time::advance(gap).await;
    }
    drop(held);
    for task in tasks {
        task.await.unwrap();
    }
    order.lock().unwrap().clone()
}

#[tokio::test(start_paused = true)]
async fn reconciliation_waits_while_a_backlog_does() {
    let order = order_of_service(
        &["background:list", "bulk-1", "bulk-2", "bulk-3"],
        Duration::from_millis(10),
    )
    .await;
    assert_eq!(order, ["bulk-1", "bulk-2", "bulk-3", "background:list"]);
}

#[tokio::test(start_paused = true)]
async fn reconciliation_goes_first_once_it_has_waited_its_patience() {
    let order = order_of_service(
        &["background:list", "bulk-1", "bulk-2"],
        BACKGROUND_PATIENCE / 2,
    )
    .await;
    assert_eq!(order, ["background:list", "bulk-1", "bulk-2"]);
}

#[tokio::test(start_paused = true)]
async fn urgent_work_inside_reconciliation_stays_urgent() {
    let limiter = limiter(2);
    let mut held: Vec<_> = vec![limiter.acquire().await, limiter.acquire().await];
    let bulk_done = Arc::new(AtomicUsize::new(0));
    let bulk = tokio::spawn({
        let (limiter, bulk_done) = (limiter.clone(), bulk_done.clone());
        async move {
            drop(limiter.acquire().await);
            bulk_done.store(1, Ordering::SeqCst);
        }
    });
    tokio::task::yield_now().await;
    let (inside, got) = (limiter.clone(), Arc::new(AtomicUsize::new(0)));
    let got_inside = got.clone();
    let nested = tokio::spawn(background(urgent(async move {
        let _permit = inside.acquire().await;
        got_inside.store(1, Ordering::SeqCst);
        std::future::pending::<()>().await;
    })));
    tokio::task::yield_now().await;
    // One slot frees: the urgent request takes it, although the bulk one queued first.
    held.pop();
    tokio::task::yield_now().await;
    tokio::task::yield_now().await;
    assert_eq!(got.load(Ordering::SeqCst), 1);
    assert_eq!(bulk_done.load(Ordering::SeqCst), 0);
    nested.abort();
    bulk.await.unwrap();
    assert_eq!(bulk_done.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_new_leaders_listing_and_reads_go_ahead_of_a_backlog() {
    let order = order_of_service(
        &[
            "bulk-1",
            "background:list",
            "bulk-2",
            "takeover:list",
            "takeover:read",
        ],
        Duration::from_millis(10),
    )
    .await;
    assert_eq!(
        order,
        [
            "takeover:list",
            "takeover:read",
            "bulk-1",
            "bulk-2",
            "background:list"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_line_passes_to_spawned_work_wrapped_in_same_line() {
    let limiter = limiter(2);
    let held: Vec<_> = vec![limiter.acquire().await, limiter.acquire().await];
    let order = Arc::new(Mutex::new(Vec::new()));
    let bulk = tokio::spawn({
        let (limiter, order) = (limiter.clone(), order.clone());
        async move {
            drop(limiter.acquire().await);
            order.lock().unwrap().push("bulk");
        }
    });
    tokio::task::yield_now().await;
    let (inner, inner_order) = (limiter.clone(), order.clone());
    // Spawned from inside the takeover line, as `Engine::handle_all` spawns its workers.
    let (sender, receiver) = oneshot::channel();
    takeover(async move {
        let spawned = tokio::spawn(same_line(async move {
            drop(inner.acquire().await);
            inner_order.lock().unwrap().push("spawned by the takeover");
        }));
        let _ = sender.send(spawned);
    })
    .await;
    let spawned = receiver.await.unwrap();
    tokio::task::yield_now().await;
    drop(held);
    spawned.await.unwrap();
    bulk.await.unwrap();
    assert_eq!(*order.lock().unwrap(), ["spawned by the takeover", "bulk"]);
}

#[tokio::test(start_paused = true)]
async fn urgent_requests_use_slots_above_a_lowered_limit_up_to_the_cap() {
    let limiter = limiter(16);
    // Lowered to the floor by vCD's Retry-After answers.
    for _ in 0..4 {
        let permit = limiter.acquire().await;
        permit.finish(Signal::Throttled);
        tokio::time::advance(Duration::from_millis(1)).await;
    }
    assert_eq!(limiter.limit(), 4);
    let mut bulk = Vec::new();
    for _ in 0..4 {
        bulk.push(limiter.acquire().await);
    }
    // A bulk request now waits; keepalives still get slots, up to the cap of 16.
    let waiting = tokio::spawn({
        let limiter = limiter.clone();
        async move { drop(limiter.acquire().await) }
    });
    tokio::task::yield_now().await;
    let mut keepalives = Vec::new();
    for _ in 0..12 {
        keepalives.push(urgent(limiter.acquire()).await);
    }
    assert_eq!(limiter.state().in_flight, 16);
    assert!(!waiting.is_finished());
    let over_the_cap = tokio::spawn({
        let limiter = limiter.clone();
        urgent(async move { drop(limiter.acquire().await) })
    });
    tokio::task::yield_now().await;
    assert!(
        !over_the_cap.is_finished(),
        "the cap holds for urgent requests too"
    );
    drop(keepalives);
    over_the_cap.await.unwrap();
    drop(bulk);
    waiting.await.unwrap();
    assert_eq!(limiter.state().in_flight, 0);
}
