//! The HTTP listeners' bounds (DESIGN.md §5): a client that connects and sends nothing, or
//! trickles its headers, is cut off, and a flood of them holds at most `max_connections` of the
//! daemon's file descriptors, so tasks are still decided and approvals still work.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vcd_sim::NewTask;

use crate::ha::{Instance, POLICY, accepted, deployment, roles};
use crate::helpers::{Options, World, eventually, free_port};

/// Each instance may open this many files: far fewer than the flood's connections, enough for
/// one listener's 256 and the daemon's own sockets.
const OPEN_FILES: u32 = 400;
const IDLE: usize = 1_200;
const TRICKLING: usize = 100;

async fn limited_instance(world: &World, log: &std::path::Path) -> Instance {
    let port = free_port();
    Instance {
        process: world
            .spawn_limited_daemon_process(port, OPEN_FILES, log)
            .await,
        base: format!("http://127.0.0.1:{port}"),
    }
}

/// Sends a request line, then one header line every 3 s; true once the server ends the
/// connection (or answers) before 20 lines, i.e. within a minute.
async fn trickle(address: String) -> bool {
    let Ok(mut stream) = TcpStream::connect(&address).await else {
        return false;
    };
    if stream.write_all(b"GET /livez HTTP/1.1\r\n").await.is_err() {
        return true;
    }
    let mut buffer = [0u8; 256];
    for line in 0..20 {
        let read = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buffer)).await;
        if let Ok(_ended_or_answered) = read {
            return true;
        }
        let header = format!("X-Trickle-{line}: {line}\r\n");
        if stream.write_all(header.as_bytes()).await.is_err() {
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_and_trickling_connections_neither_stay_nor_starve_decisions_or_approvals() {
    let world = World::without_daemon(Options {
        policy: POLICY.into(),
        ..Options::default()
    })
    .await;
    let logs = tempfile::tempdir().unwrap();
    let first = limited_instance(&world, &logs.path().join("first.log")).await;
    let second = limited_instance(&world, &logs.path().join("second.log")).await;
    let (leader, standby) = roles(first, second).await;
    let address = leader.base.trim_start_matches("http://").to_owned();

    let trickling: Vec<_> = (0..TRICKLING)
        .map(|_| tokio::spawn(trickle(address.clone())))
        .collect();
    let connecting: Vec<_> = (0..IDLE)
        .map(|_| {
            let address = address.clone();
            tokio::spawn(async move {
                tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(address))
                    .await
                    .ok()?
                    .ok()
            })
        })
        .collect();
    let mut idle = Vec::new();
    for connecting in connecting {
        idle.extend(connecting.await.unwrap());
    }
    assert!(idle.len() >= 1_000, "the flood connected: {}", idle.len());

    // While the leader's listener is flooded: plain tasks are resumed, and a held one is
    // approved through the other instance.
    let mut resumed = Vec::new();
    for n in 0..20 {
        let task = NewTask {
            operation: "vdcUploadMedia".into(),
            owner_name: format!("flooded-{n}"),
            ..NewTask::default()
        };
        resumed.push(world.create(task).await);
    }
    let held = world.create(deployment("approved-while-flooded")).await;
    eventually("the standby lists the hold", || async {
        standby
            .admin()
            .holds()
            .await
            .filter(|holds| holds.iter().any(|h| h["id"] == held.to_string()))
    })
    .await;
    let (status, answer) = standby
        .admin()
        .decide(&held.to_string(), "approve", serde_json::json!({}))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        accepted(&world.wait_for_status(held, "resumed").await),
        ["resume"]
    );
    for id in resumed {
        assert_eq!(
            accepted(&world.wait_for_status(id, "resumed").await),
            ["resume"]
        );
    }

    // Every trickling client was cut off before it finished its headers.
    for trickler in trickling {
        assert!(
            trickler.await.unwrap(),
            "a client trickling headers stays connected"
        );
    }
    // The first idle clients were accepted and are closed without having sent a byte.
    for stream in idle.iter_mut().take(50) {
        let mut buffer = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut buffer)).await;
        assert!(
            matches!(read, Ok(Ok(0) | Err(_))),
            "an idle connection stays open: {read:?}"
        );
    }
    drop(idle);
    for name in ["first.log", "second.log"] {
        let log = std::fs::read_to_string(logs.path().join(name)).unwrap();
        assert!(
            !log.contains("Too many open files") && !log.contains("os error 24"),
            "{name} ran out of file descriptors:\n{log}"
        );
    }
    drop((leader, standby));
    world.finish().await;
}
