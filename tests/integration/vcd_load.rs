//! vCD's load: a backlog never has more requests under way at vCD than `vcd.max_in_flight`
//! (vcd-sim counts its own concurrency; logins included), an overloaded vCD (503, 429 with `Retry-After`)
//! shrinks the adaptive limit without losing a task, an approval goes through while a backlog
//! drains, and `/metrics` shows the limit and the requests under way.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use uuid::Uuid;
use vcd_sim::{Faults, NewTask};

use crate::helpers::{Admin, Options, World, eventually, http_client};

const RESUME_ALL: &str = r#"
[defaults]
action = "resume"

[[rule]]
name = "media uploads need an approver"
operation = "vdcUploadMedia"
action = "hold"
hold = { max = "1h", fallback = "abort" }
"#;

fn options(max_in_flight: usize) -> Options {
    Options {
        policy: RESUME_ALL.into(),
        max_in_flight,
        prefetch: None,
        ..Options::default()
    }
}

/// A world whose queue exists and whose daemon is stopped, with `count` tasks announced to
/// it meanwhile: the backlog a restart finds.
async fn backlog(options: Options, count: usize) -> (World, Vec<Uuid>) {
    let mut world = World::start(options).await;
    world.stop_daemon().await;
    let mut ids = Vec::new();
    for _ in 0..count {
        ids.push(world.create(NewTask::default()).await);
    }
    (world, ids)
}

async fn all_resumed(world: &World, ids: &[Uuid]) {
    eventually(&format!("all {} tasks are resumed", ids.len()), || {
        let done = ids
            .iter()
            .all(|id| world.sim.task(*id).is_some_and(|t| t.status == "resumed"));
        std::future::ready(done.then_some(()))
    })
    .await;
}

/// Follows the daemon's `vcd_concurrency_limit` gauge and keeps its lowest value.
fn watch_lowest_limit(world: &World) -> (Arc<AtomicI64>, tokio::task::JoinHandle<()>) {
    let metrics = world.daemon().metrics.clone();
    let lowest = Arc::new(AtomicI64::new(i64::MAX));
    let watch = tokio::spawn({
        let lowest = lowest.clone();
        async move {
            loop {
                lowest.fetch_min(metrics.vcd_concurrency_limit.get(), Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    (lowest, watch)
}

/// Follows the daemon's `vcd_concurrency_limit` gauge: every value it took, in order.
fn watch_limit(world: &World) -> (Arc<Mutex<Vec<i64>>>, tokio::task::JoinHandle<()>) {
    let metrics = world.daemon().metrics.clone();
    let limits = Arc::new(Mutex::new(Vec::new()));
    let watch = tokio::spawn({
        let limits = limits.clone();
        async move {
            loop {
                let now = metrics.vcd_concurrency_limit.get();
                {
                    let mut limits = limits.lock().unwrap();
                    if limits.last() != Some(&now) {
                        limits.push(now);
                    }
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
    (limits, watch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_never_has_more_requests_at_vcd_than_max_in_flight() {
    let (world, ids) = backlog(options(6), 120).await;
    world.sim.set_faults(Faults {
        latency_ms: 30,
        ..Faults::default()
    });
    let world = world.with_daemon().await;
    // Halfway, vCD forgets the session: the new login takes a slot like any request.
    eventually("40 tasks are resumed", || {
        let resumed = ids
            .iter()
            .filter(|id| world.sim.task(**id).is_some_and(|t| t.status == "resumed"))
            .count();
        std::future::ready((resumed >= 40).then_some(()))
    })
    .await;
    world.sim.expire_sessions();
    all_resumed(&world, &ids).await;
    let load = world.sim.load();
    assert_eq!(
        load.max_in_flight, 6,
        "the sim saw at most 6 requests at once (a login among them), and the backlog used all 6"
    );
    let logins = world
        .sim
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && c.path.contains("session"))
        .count();
    assert!(logins >= 2, "the daemon logged in again: {logins} logins");
    for id in &ids {
        let actions = world.action_calls(*id);
        let accepted = actions.iter().filter(|c| c.status < 300).count();
        // A resume refused with 401 when the session expired is sent again after the login.
        assert_eq!(accepted, 1, "one resume accepted for {id}: {actions:?}");
    }
    let reads = world
        .sim
        .calls()
        .iter()
        .filter(|c| c.method == "GET" && c.path.contains("/blockingTask/") && c.status < 300)
        .count();
    assert!(
        reads <= ids.len() + 12,
        "each task read about once, although the start-up reconciliation walked the same backlog: {reads} reads answered"
    );
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_vcd_shrinks_the_limit_and_every_task_is_still_decided() {
    let (world, ids) = backlog(options(64), 100).await;
    world.sim.set_faults(Faults {
        latency_ms: 10,
        error_rate_5xx: 0.3,
        ..Faults::default()
    });
    let world = world.with_daemon().await;
    let (limits, watch) = watch_limit(&world);
    all_resumed(&world, &ids).await;
    watch.abort();
    let limits = limits.lock().unwrap().clone();
    let halved = limits
        .iter()
        .enumerate()
        .any(|(i, &high)| limits[i..].iter().any(|&low| low * 2 <= high));
    assert!(halved, "30 % of 503s halved the limit: {limits:?}");
    for id in &ids {
        let view = world.sim.task(*id).unwrap();
        assert!(
            view.actions.iter().all(|a| a.action != "timeout"),
            "{id} was left to vCD's timeout"
        );
    }
    assert!(
        world.dead_letters().await.is_empty(),
        "no task was given up"
    );
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_few_percent_of_503s_do_not_take_the_limit_to_its_floor() {
    let (world, ids) = backlog(options(64), 400).await;
    // 50 ms, not less: on a busy machine the daemon's own scheduling adds milliseconds to every
    // call it times, which against a 10 ms vCD reads as rising latency and lowers the limit
    // for a reason that is not the 503s.
    world.sim.set_faults(Faults {
        latency_ms: 50,
        error_rate_5xx: 0.05,
        ..Faults::default()
    });
    let world = world.with_daemon().await;
    let (limits, watch) = watch_limit(&world);
    all_resumed(&world, &ids).await;
    watch.abort();
    let limits = limits.lock().unwrap().clone();
    let refused = world.sim.calls().iter().filter(|c| c.status == 503).count();
    assert!(refused >= 10, "vCD refused some requests: {refused}");
    let lowest_after_start = limits.iter().skip(1).min().copied().unwrap_or(8);
    assert!(
        lowest_after_start > 4,
        "the limit never fell to its floor of 4: {limits:?}"
    );
    assert!(
        limits.iter().any(|&l| l >= 32),
        "the backlog grew the limit although 5 % of requests were refused: {limits:?}"
    );
    assert!(
        world.dead_letters().await.is_empty(),
        "no task was given up"
    );
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_on_429_holds_requests_back_and_no_task_is_lost() {
    let (world, ids) = backlog(options(64), 200).await;
    world.sim.set_faults(Faults {
        rate_limit_rate: 0.2,
        retry_after_secs: Some(2),
        ..Faults::default()
    });
    let world = world.with_daemon().await;
    let (lowest, watch) = watch_lowest_limit(&world);
    // Logins take no slot and are retried on their own; the pause is about task requests.
    let task_calls = || {
        world
            .sim
            .calls()
            .into_iter()
            .filter(|c| c.path.contains("/blockingTask/"))
            .collect::<Vec<_>>()
    };
    eventually("vCD answered a task request 429", || {
        let refused = task_calls().iter().any(|c| c.status == 429);
        std::future::ready(refused.then_some(()))
    })
    .await;
    // Requests are logged as they arrive. During the 2 s of Retry-After only those that held a
    // slot when the 429 came may still arrive (at most the limit, 8 or less, e.g. waiting for
    // a login); without the pause, a sim without latency takes hundreds in 500 ms.
    let seen = task_calls().len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later = task_calls().len();
    assert!(
        later - seen <= 8,
        "vCD was left alone during Retry-After: {seen} task requests when the 429 was seen, {later} half a second later"
    );
    world.sim.set_faults(Faults::default());
    all_resumed(&world, &ids).await;
    watch.abort();
    assert!(
        lowest.load(Ordering::SeqCst) < 8,
        "the 429s shrank the limit"
    );
    assert!(
        world.dead_letters().await.is_empty(),
        "no task was given up"
    );
    world.finish().await;
}

/// An approval overtakes a backlog: with a prefetch of 64 the whole backlog waits inside the
/// daemon for the adaptive limit (which starts at 8), and the approval's request goes to vCD
/// next, not after the requests queued before it as a first-come-first-served limiter would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_goes_through_while_a_backlog_drains() {
    let world = World::start(options(64)).await;
    let held = world
        .create(NewTask {
            operation: "vdcUploadMedia".into(),
            owner_type: "media".into(),
            ..NewTask::default()
        })
        .await;
    let admin = Admin::new(world.admin_url());
    eventually("the upload is held", || async {
        admin.holds().await.filter(|h| h.len() == 1)
    })
    .await;
    // Slow enough that the limit grows by one window per 300 ms while the backlog waits.
    world.sim.set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    let mut backlog = Vec::new();
    for _ in 0..60 {
        backlog.push(world.create(NewTask::default()).await);
    }
    let waiting = backlog
        .iter()
        .filter(|id| world.sim.task(**id).is_some_and(|t| t.status == "active"))
        .count();
    let calls_before = world.sim.calls().len();
    let (status, body) = admin
        .decide(&held.to_string(), "approve", json!({"message": "go"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(world.sim.task(held).unwrap().status, "resumed");
    let resume = format!("/api/admin/extension/blockingTask/{held}/action/resume");
    let calls = world.sim.calls();
    let at = calls
        .iter()
        .position(|c| c.path == resume)
        .expect("the approval's resume reached vCD");
    // Every backlog task still active had a request queued or under way when the approval
    // came: first come, first served, all of those would reach vCD before the approval's.
    let overtaken_by = at.saturating_sub(calls_before);
    assert!(
        waiting >= 30,
        "the backlog was still waiting when the approval came: {waiting} of 60 tasks"
    );
    assert!(
        overtaken_by < waiting / 2,
        "{overtaken_by} requests reached vCD between the approval and its resume, with {waiting} backlog tasks waiting"
    );
    all_resumed(&world, &backlog).await;
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_the_limit_and_requests_under_way() {
    let world = World::start(options(16)).await;
    let port = world.daemon().http_address.port();
    let text = http_client()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let value = |name: &str| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name)
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
    };
    assert_eq!(value("vcd_blockd_vcd_in_flight"), Some(0.0));
    assert_eq!(value("vcd_blockd_vcd_concurrency_limit"), Some(8.0));
    world.finish().await;
}
