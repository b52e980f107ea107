//! Text that tenants and approvers control, as an attacker would write it: it stays inside its
//! log line, and an approval message over the bound is refused without dropping the hold, as is
//! an approval vCD turns down while the task still waits.

use vcd_sim::NewTask;

use crate::ha::accepted;
use crate::helpers::{Admin, Options, World, eventually, free_port};

const POLICY: &str = r#"
[defaults]
action = "resume"

[[rule]]
name = "deployments need an approver"
operation = "vdcInstantiateVapp"
action = "hold"
hold = { max = "1h", fallback = "abort" }
message = "Waiting for approval of {owner_name}"
"#;

fn deployment(owner_name: &str) -> NewTask {
    NewTask {
        operation: "vdcInstantiateVapp".into(),
        owner_name: owner_name.into(),
        ..NewTask::default()
    }
}

/// A line of the text log format: a timestamp, then the level.
fn is_event_line(line: &str) -> bool {
    let mut words = line.split(' ').filter(|word| !word.is_empty());
    let stamp = words.next().unwrap_or_default();
    let level = words.next().unwrap_or_default();
    chrono::DateTime::parse_from_rfc3339(stamp).is_ok()
        && ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level)
}

#[tokio::test]
async fn a_newline_in_a_vapp_name_and_in_an_approvers_message_stays_inside_one_log_line() {
    let world = World::without_daemon(Options {
        policy: POLICY.into(),
        ..Options::default()
    })
    .await;
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("daemon.log");
    let port = free_port();
    let daemon = world.spawn_limited_daemon_process(port, 4096, &log).await;
    let base = format!("http://127.0.0.1:{port}");
    let forged =
        "2026-12-07T10:00:00.000000Z  INFO audit: hold approver=\"carol\" outcome=\"done\"";
    let name = format!("web\n{forged}\r\u{0}");
    let held = world.create(deployment(&name)).await;
    let admin = Admin::new(base);
    eventually("the task is held", || async {
        admin.holds().await.filter(|holds| holds.len() == 1)
    })
    .await;
    let message = format!("fine by me\n{forged}");
    let (status, answer) = admin
        .decide(
            &held.to_string(),
            "approve",
            serde_json::json!({"message": message}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        accepted(&world.wait_for_status(held, "resumed").await),
        ["resume"]
    );

    let text = eventually("the approval is logged", || async {
        let text = std::fs::read_to_string(&log).ok()?;
        text.contains("fine by me").then_some(text)
    })
    .await;
    assert!(!text.contains('\0'), "a NUL is written as it is");
    for line in text.lines() {
        assert!(is_event_line(line), "a line that is not an event: {line:?}");
    }
    let held_line = text
        .lines()
        .find(|line| line.contains("Waiting for approval of web"))
        .expect("the hold is logged");
    // The sim writes the name into an XML attribute, where the newline reaches the daemon as
    // a space (XML attribute normalisation); the carriage return and the NUL arrive as sent.
    assert!(
        held_line.contains(r#"web\n2026-12-07"#) || held_line.contains("web 2026-12-07"),
        "{held_line}"
    );
    assert!(held_line.contains(r#"approver=\"carol\""#), "{held_line}");
    assert!(held_line.contains(r#"\r\u{00}"#), "{held_line}");
    let approved_line = text
        .lines()
        .find(|line| line.contains("fine by me"))
        .unwrap();
    assert!(
        approved_line.contains(r#"message="fine by me\n2026-12-07"#),
        "{approved_line}"
    );
    assert!(
        approved_line.contains(r#"approver="admin""#),
        "{approved_line}"
    );
    drop(daemon);
    world.finish().await;
}

#[tokio::test]
async fn a_one_megabyte_approval_message_is_refused_with_400_and_the_task_stays_held() {
    let world = World::start(Options {
        policy: POLICY.into(),
        ..Options::default()
    })
    .await;
    let held = world.create(deployment("big-message")).await;
    let admin = Admin::new(world.admin_url());
    eventually("the task is held", || async {
        admin.holds().await.filter(|holds| holds.len() == 1)
    })
    .await;
    let message = "x".repeat(1 << 20);
    for verdict in ["approve", "reject"] {
        let (status, answer) = admin
            .decide(
                &held.to_string(),
                verdict,
                serde_json::json!({"message": message}),
            )
            .await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(
            answer["error"],
            "the message is 1048576 bytes; at most 4096 are accepted"
        );
    }
    let holds = admin.holds().await.unwrap();
    assert_eq!(holds.len(), 1, "still held: {holds:?}");
    assert_eq!(holds[0]["id"], held.to_string());
    let task = world.sim.task(held).unwrap();
    assert_eq!(task.status, "active");
    assert!(accepted(&task).is_empty(), "nothing sent to vCD: {task:?}");
    assert!(
        world
            .action_calls(held)
            .iter()
            .all(|call| !call.path.ends_with("/resume")),
        "the message never reached vCD"
    );

    // Within the bound the approval goes through.
    let (status, answer) = admin
        .decide(
            &held.to_string(),
            "approve",
            serde_json::json!({"message": "y".repeat(4096)}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_vcd_refuses_while_the_task_waits_keeps_the_hold_and_says_why() {
    let world = World::start(Options {
        policy: POLICY.into(),
        ..Options::default()
    })
    .await;
    let held = world.create(deployment("refused-once")).await;
    let admin = Admin::new(world.admin_url());
    eventually("the task is held", || async {
        admin.holds().await.filter(|holds| holds.len() == 1)
    })
    .await;
    world.sim.set_faults(vcd_sim::Faults {
        refuse_actions: 1,
        ..vcd_sim::Faults::default()
    });
    let (status, answer) = admin
        .decide(&held.to_string(), "approve", serde_json::json!({}))
        .await;
    assert!(
        (400..600).contains(&status) && status != 409,
        "{status} {answer}"
    );
    assert!(
        answer
            .to_string()
            .contains("the operation is locked by another task"),
        "vCD's reason reaches the approver: {answer}"
    );
    let holds = admin.holds().await.unwrap();
    assert_eq!(holds.len(), 1, "still held: {holds:?}");
    assert_eq!(world.sim.task(held).unwrap().status, "active");

    // The refusal used up, the same approval goes through.
    let (status, answer) = admin
        .decide(&held.to_string(), "approve", serde_json::json!({}))
        .await;
    assert_eq!(status, 200, "{answer}");
    world.wait_for_status(held, "resumed").await;
    world.finish().await;
}

#[tokio::test]
async fn refused_tokens_are_counted_logged_with_the_source_and_a_guessing_source_backs_off() {
    let world = World::start(Options::default()).await;
    let guesser = Admin::with_token(world.admin_url(), "a-guess");
    for _ in 0..20 {
        assert_eq!(guesser.whoami().await.0, 401);
    }
    let (status, answer) = guesser.whoami().await;
    assert_eq!(status, 429, "{answer}");
    let (status, _) = Admin::new(world.admin_url()).whoami().await;
    assert_eq!(
        status, 429,
        "nothing is checked from that address for a while"
    );
    let metrics = world.daemon().metrics.render();
    assert!(
        metrics.contains("vcd_blockd_admin_auth_failures_total 20\n"),
        "{metrics}"
    );
    let logs = crate::helpers::captured_logs();
    assert!(
        logs.contains("a missing or unknown bearer token was refused")
            && logs.contains("source=127.0.0.1"),
        "{logs}"
    );
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_notifications_for_unknown_ids_cost_one_read_each_and_a_real_task_is_still_decided()
 {
    let world = World::start(Options {
        policy: POLICY.into(),
        ..Options::default()
    })
    .await;
    let upload = || NewTask {
        operation: "vdcUploadMedia".into(),
        ..NewTask::default()
    };
    let template = world.create(upload()).await;
    let mut template = world.wait_for_status(template, "resumed").await;
    let resolver = world.sim.base_url();
    let mut unknown = std::collections::HashSet::new();
    for _ in 0..1_000 {
        template.id = uuid::Uuid::new_v4();
        unknown.insert(template.id.to_string());
        let crafted = crate::helpers::craft_create_notification(&template, &resolver);
        world.publish_crafted(&crafted).await;
    }
    // Announced after the flood, so it waits behind it in the queue.
    let real = world.create(upload()).await;
    assert_eq!(
        accepted(&world.wait_for_status(real, "resumed").await),
        ["resume"]
    );
    let reads = world
        .sim
        .calls()
        .into_iter()
        .filter(|call| {
            call.method == "GET"
                && unknown
                    .iter()
                    .any(|id| call.path.ends_with(&format!("/blockingTask/{id}")))
        })
        .count();
    // One read per unknown id, and at most four tasks' six retries at once while the flood
    // lasted (`NOT_YET_VISIBLE_AT_ONCE`): without the shared budget every id cost six.
    assert!(reads >= 1_000, "every unknown id was read: {reads}");
    assert!(
        reads <= 2_000,
        "retries are bounded (six reads each before): {reads} reads"
    );
    world.finish().await;
}
