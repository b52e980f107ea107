//! `vcd-blockd run` under systemd's notify protocol, with the test in systemd's place: the
//! daemon runs as a process with `NOTIFY_SOCKET` pointing at a datagram socket the test reads,
//! and `WATCHDOG_USEC` set. Watchdog pings, `STATUS=` lines and the reload handshake.

use std::ffi::OsStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UnixDatagram;
use tokio::time::Instant;

use crate::helpers::{DaemonProcess, HOLD_DEPLOYMENTS, Options, World, eventually, free_port};
use vcd_sim::NewTask;

/// 400 ms: the daemon pings every 200 ms.
const WATCHDOG_USEC: &str = "400000";

/// The datagrams the daemon sent, each with when it arrived.
#[derive(Clone)]
struct Notifications(Arc<Mutex<Vec<(Instant, String)>>>);

impl Notifications {
    fn all(&self) -> Vec<(Instant, String)> {
        self.0.lock().unwrap().clone()
    }

    /// Pings that arrived within `since..until`.
    fn pings(&self, since: Instant, until: Instant) -> usize {
        self.all()
            .iter()
            .filter(|(at, text)| *at >= since && *at < until && text.contains("WATCHDOG=1"))
            .count()
    }

    /// Waits for a datagram after the first `skip` that satisfies `wanted`; returns its index.
    async fn wait_for(&self, what: &str, skip: usize, wanted: impl Fn(&str) -> bool) -> usize {
        eventually(what, || async {
            self.all()
                .iter()
                .enumerate()
                .skip(skip)
                .find(|(_, (_, text))| wanted(text))
                .map(|(index, _)| index)
        })
        .await
    }
}

/// A daemon process notifying a socket this test reads.
struct Notified {
    world: World,
    daemon: DaemonProcess,
    notifications: Notifications,
    /// Where its HTTP listener answers.
    port: u16,
    _dir: tempfile::TempDir,
}

async fn start(extra_env: &[(&str, &OsStr)]) -> Notified {
    start_with(
        Options {
            policy: HOLD_DEPLOYMENTS.into(),
            ..Options::default()
        },
        extra_env,
    )
    .await
}

async fn start_with(options: Options, extra_env: &[(&str, &OsStr)]) -> Notified {
    let world = World::without_daemon(options).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&path).unwrap();
    let notifications = Notifications(Arc::default());
    let received = notifications.clone();
    tokio::spawn(async move {
        let mut buffer = vec![0; 4096];
        while let Ok(n) = socket.recv(&mut buffer).await {
            let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
            received.0.lock().unwrap().push((Instant::now(), text));
        }
    });
    let mut env = vec![
        ("NOTIFY_SOCKET", path.as_os_str()),
        ("WATCHDOG_USEC", OsStr::new(WATCHDOG_USEC)),
    ];
    env.extend_from_slice(extra_env);
    let port = free_port();
    let daemon = world.spawn_daemon_process_with(port, &env).await;
    notifications
        .wait_for("READY=1", 0, |text| text.contains("READY=1"))
        .await;
    Notified {
        world,
        daemon,
        notifications,
        port,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchdog_pings_come_at_half_the_interval_and_the_status_line_follows_the_work() {
    let notified = start(&[]).await;
    let since = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pings = notified.notifications.pings(since, Instant::now());
    // About 10 in 2 s; generous, since the machine may be busy.
    assert!((5..=20).contains(&pings), "{pings} pings in 2 s");

    let all = notified.notifications.all();
    let first = all
        .iter()
        .find(|(_, text)| text.contains("STATUS="))
        .map(|(_, text)| text.clone())
        .unwrap();
    assert!(first.contains("0 held; no decision yet"), "{first}");

    notified
        .world
        .create(NewTask {
            operation: "vdcInstantiateVapp".into(),
            ..NewTask::default()
        })
        .await;
    let index = notified
        .notifications
        .wait_for("a STATUS= line with the held task", 0, |text| {
            text.contains("STATUS=consuming; 1 held; last decision")
        })
        .await;
    let line = notified.notifications.all()[index].1.clone();
    assert!(
        line.contains("(hold by \"deployments need an approver\")"),
        "{line}"
    );
    notified.daemon.kill();
    notified.world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_poll_mode_the_status_line_says_the_daemon_polls() {
    let notified = start_with(
        Options {
            policy: HOLD_DEPLOYMENTS.into(),
            broker: false,
            reconcile_interval: "1s",
            ..Options::default()
        },
        &[],
    )
    .await;
    notified
        .notifications
        .wait_for("a STATUS= line after the first listing", 0, |text| {
            text.contains("STATUS=polling vCD every 1s; 0 held; no decision yet")
        })
        .await;
    notified
        .world
        .create(NewTask {
            operation: "vdcInstantiateVapp".into(),
            ..NewTask::default()
        })
        .await;
    notified
        .notifications
        .wait_for(
            "a STATUS= line with the task the listing found",
            0,
            |text| text.contains("STATUS=polling vCD every 1s; 1 held; last decision"),
        )
        .await;
    assert!(
        notified
            .notifications
            .all()
            .iter()
            .all(|(_, text)| !text.contains("not consuming")),
        "{:#?}",
        notified.notifications.all()
    );
    notified.daemon.kill();
    notified.world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_says_reloading_then_ready_whether_the_policy_is_taken_or_kept() {
    let notified = start(&[]).await;
    let policy_path = notified.world.settings.policy.path.clone();
    let edits = [
        HOLD_DEPLOYMENTS.replace("1h", "2h"),
        "[[rule]\nname = broken".to_owned(),
    ];
    for edit in edits {
        std::fs::write(&policy_path, edit).unwrap();
        let skip = notified.notifications.all().len();
        notified.daemon.signal("HUP");
        let reloading = notified
            .notifications
            .wait_for("RELOADING=1", skip, |text| text.contains("RELOADING=1"))
            .await;
        let text = notified.notifications.all()[reloading].1.clone();
        let usec = text
            .lines()
            .find_map(|line| line.strip_prefix("MONOTONIC_USEC="))
            .unwrap_or_else(|| panic!("no MONOTONIC_USEC with RELOADING=1: {text:?}"));
        assert!(usec.parse::<u64>().unwrap() > 0, "{text:?}");
        notified
            .notifications
            .wait_for("READY=1 after the reload", reloading + 1, |text| {
                text.lines().any(|line| line == "READY=1")
            })
            .await;
    }
    // `systemctl status` says the broken edit was not taken.
    notified
        .notifications
        .wait_for("a status line naming the failed reload", 0, |text| {
            text.lines().any(|line| {
                line.starts_with("STATUS=")
                    && line.ends_with(
                        "; policy reload failed, last good policy kept (see the journal)",
                    )
            })
        })
        .await;
    notified.daemon.kill();
    notified.world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_loop_stops_the_watchdog_pings() {
    let notified = start(&[("VCD_BLOCKD_TEST_STALL", OsStr::new("scheduler"))]).await;
    // The scheduler counts as stuck once its last beat is older than a second.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let since = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pings = notified.notifications.pings(since, Instant::now());
    assert_eq!(pings, 0, "pings went on while the scheduler was stalled");
    // Kubernetes' liveness probe sees the same.
    let livez = crate::helpers::http_client()
        .get(format!("http://127.0.0.1:{}/livez", notified.port))
        .send()
        .await
        .unwrap();
    assert_eq!(livez.status(), 503);
    let text = livez.text().await.unwrap();
    assert!(text.starts_with("stuck: the scheduler loop"), "{text}");
    notified.daemon.kill();
    notified.world.finish().await;
}
