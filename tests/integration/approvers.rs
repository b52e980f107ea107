//! Named approvers through a real RabbitMQ and vcd-sim: each token names an approver, who
//! decides only the tasks of their orgs and never their own requests; the approvers file is
//! re-read when it changes; `vcd-blockd approvers add` prints an entry that works.

use crate::helpers::{
    Admin, Options, Webhook, WebhookReceiver, World, captured_logs, eventually, wait_until,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use vcd_sim::NewTask;

const POLICY: &str = r#"
[defaults]
action = "abort"

[[rule]]
name = "deployments need an approver"
operation = "vdcInstantiateVapp"
action = "hold"
hold = { max = "1h", fallback = "abort" }
message = "Waiting for approval: {operation} by {user}"
"#;

const CAROL: &str = "carol-token-0123456789";
const ALICE: &str = "alice-token-0123456789";
const BOB: &str = "bob-token-0123456789";

fn sha256_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub(crate) fn approver(name: &str, token: &str, orgs: Option<&str>) -> String {
    let orgs = orgs.map(|o| format!("orgs = {o}\n")).unwrap_or_default();
    format!(
        "[[approver]]\nname = \"{name}\"\ntoken_sha256 = \"{}\"\n{orgs}\n",
        sha256_hex(token)
    )
}

/// carol (every org), alice (every org; the sim's default user), bob (prod-* only).
fn approvers_file() -> String {
    [
        approver("carol", CAROL, None),
        approver("alice", ALICE, None),
        approver("bob", BOB, Some(r#"["prod-*"]"#)),
    ]
    .concat()
}

fn options() -> Options {
    Options {
        policy: POLICY.into(),
        approvers: Some(approvers_file()),
        ..Options::default()
    }
}

fn deployment(org: &str, user: &str, owner_name: &str) -> NewTask {
    NewTask {
        operation: "vdcInstantiateVapp".into(),
        org: org.into(),
        user: user.into(),
        owner_name: owner_name.into(),
        ..NewTask::default()
    }
}

/// Waits until the admin sees `count` held tasks.
async fn held(world: &World, count: usize) -> Vec<serde_json::Value> {
    let admin = Admin::new(world.admin_url());
    eventually(&format!("{count} tasks are held"), || async {
        admin.holds().await.filter(|holds| holds.len() == count)
    })
    .await
}

fn ids(holds: &[serde_json::Value]) -> Vec<String> {
    holds
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_decides_another_users_task_and_vcd_the_webhooks_and_the_audit_name_them() {
    let receiver = WebhookReceiver::start().await;
    let world = World::start(Options {
        webhooks: vec![Webhook {
            url: receiver.url.clone(),
            format: "json",
            events: Some(&["approved", "rejected"]),
        }],
        ..options()
    })
    .await;
    let carol = Admin::with_token(world.admin_url(), CAROL);
    let approved = world.create(deployment("acme", "dave", "web")).await;
    let rejected = world.create(deployment("acme", "dave", "db")).await;
    held(&world, 2).await;

    let (status, answer) = carol
        .decide(&approved.to_string(), "approve", json!({}))
        .await;
    assert_eq!(status, 200, "{answer}");
    let view = world.sim.task(approved).unwrap();
    assert_eq!(view.status, "resumed");
    assert_eq!(
        view.actions.last().unwrap().message,
        "Approved by carol (vcd-blockd rule \"deployments need an approver\")"
    );

    let (status, answer) = carol
        .decide(
            &rejected.to_string(),
            "reject",
            json!({"message": "not on a Friday"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let view = world.sim.task(rejected).unwrap();
    assert_eq!(
        (
            view.status.as_str(),
            view.actions.last().unwrap().message.as_str()
        ),
        ("aborted", "not on a Friday")
    );

    for (event, id) in [("approved", approved), ("rejected", rejected)] {
        let bodies = receiver
            .wait_for(1, |body| {
                body["event"] == event && body["task_id"] == id.to_string()
            })
            .await;
        assert_eq!(bodies[0]["approver"], "carol", "{event}: {}", bodies[0]);
    }
    let logs = captured_logs();
    for id in [approved, rejected] {
        let audit = logs
            .lines()
            .filter(|line| line.contains("audit") && line.contains(&id.to_string()))
            .find(|line| line.contains("event=\"approve\"") || line.contains("event=\"reject\""))
            .unwrap_or_else(|| panic!("an audit event for {id}"));
        assert!(audit.contains("approver=\"carol\""), "{audit}");
    }
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_decides_their_own_request() {
    let world = World::start(options()).await;
    let alice = Admin::with_token(world.admin_url(), ALICE);
    // vCD user names are compared ignoring case.
    let own = world.create(deployment("acme", "Alice", "web")).await;
    let by_admin_user = world.create(deployment("acme", "admin", "db")).await;
    held(&world, 2).await;

    for (verb, body) in [
        ("approve", json!({})),
        ("reject", json!({"action": "fail"})),
    ] {
        let (status, answer) = alice.decide(&own.to_string(), verb, body).await;
        assert_eq!(status, 403, "{verb}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(
            error.contains("alice requested this task") && error.contains("separation of duties"),
            "{error}"
        );
    }
    // Still held, still waiting in vCD, kept alive as before.
    assert_eq!(world.sim.task(own).unwrap().status, "active");
    assert!(ids(&alice.holds().await.unwrap()).contains(&own.to_string()));

    // Another approver may; the admin token names no person and is never its own requester.
    let carol = Admin::with_token(world.admin_url(), CAROL);
    let (status, _) = carol.decide(&own.to_string(), "approve", json!({})).await;
    assert_eq!(status, 200);
    let admin = Admin::new(world.admin_url());
    let (status, answer) = admin
        .decide(&by_admin_user.to_string(), "approve", json!({}))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        world
            .sim
            .task(by_admin_user)
            .unwrap()
            .actions
            .last()
            .unwrap()
            .message,
        "Approved by an administrator (vcd-blockd rule \"deployments need an approver\")"
    );
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_self_approval_lets_approvers_decide_their_own_requests() {
    let world = World::start(Options {
        allow_self_approval: true,
        ..options()
    })
    .await;
    let alice = Admin::with_token(world.admin_url(), ALICE);
    let own = world.create(deployment("acme", "alice", "web")).await;
    held(&world, 1).await;
    let (status, answer) = alice.decide(&own.to_string(), "approve", json!({})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(world.sim.task(own).unwrap().status, "resumed");
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_approver_sees_and_decides_only_their_orgs() {
    let world = World::start(options()).await;
    let bob = Admin::with_token(world.admin_url(), BOB);
    let prod = world.create(deployment("prod-eu", "dave", "web")).await;
    let other = world.create(deployment("acme", "dave", "web")).await;
    let all = held(&world, 2).await;
    assert_eq!(ids(&all).len(), 2);

    assert_eq!(ids(&bob.holds().await.unwrap()), [prod.to_string()]);
    let (status, answer) = bob.decide(&other.to_string(), "approve", json!({})).await;
    assert_eq!(status, 403, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(error.contains("outside their orgs (prod-*)"), "{error}");
    assert!(
        !error.contains("acme"),
        "tells nothing about the task: {error}"
    );
    assert_eq!(world.sim.task(other).unwrap().status, "active");
    held(&world, 2).await;

    let (status, _) = bob.decide(&prod.to_string(), "approve", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(world.sim.task(prod).unwrap().status, "resumed");

    // Once the other org's task is decided, bob still learns nothing about it: 403, not 409.
    let carol = Admin::with_token(world.admin_url(), CAROL);
    let (status, _) = carol.decide(&other.to_string(), "approve", json!({})).await;
    assert_eq!(status, 200);
    let (status, answer) = bob.decide(&other.to_string(), "approve", json!({})).await;
    assert_eq!(status, 403, "{answer}");
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_names_the_approver_and_unknown_tokens_get_401() {
    let world = World::start(options()).await;
    let base = world.admin_url();
    let cases = [
        (CAROL, json!({"name": "carol", "orgs": ["*"]})),
        (BOB, json!({"name": "bob", "orgs": ["prod-*"]})),
        (
            crate::helpers::ADMIN_TOKEN,
            json!({"name": "admin", "orgs": ["*"]}),
        ),
    ];
    for (token, expected) in cases {
        assert_eq!(
            Admin::with_token(base.clone(), token).whoami().await,
            (200, expected)
        );
    }
    let id = world.create(deployment("acme", "dave", "web")).await;
    held(&world, 1).await;
    for unknown in [
        "guess",
        &format!("{CAROL}x"),
        &CAROL.to_uppercase(),
        &sha256_hex(CAROL),
    ] {
        let stranger = Admin::with_token(base.clone(), unknown);
        assert_eq!(stranger.whoami().await.0, 401, "{unknown:?}");
        assert_eq!(
            stranger
                .decide(&id.to_string(), "approve", json!({}))
                .await
                .0,
            401
        );
        assert!(stranger.holds().await.is_none(), "401 has no list");
    }
    assert_eq!(world.sim.task(id).unwrap().status, "active");
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_edit_of_the_approvers_file_keeps_the_last_good_one() {
    let world = World::start(options()).await;
    let file = world.config_path().with_file_name("approvers.toml");
    let carol = Admin::with_token(world.admin_url(), CAROL);
    let erin = Admin::with_token(world.admin_url(), "erin-token-0123456789");
    let metrics = || world.daemon().metrics.render();

    // A typo: noticed, refused, counted; carol still signs in.
    std::fs::write(
        &file,
        format!(
            "[[approver]]\nname = \"erin\"\ntoken_sha = \"{}\"\n",
            sha256_hex("x")
        ),
    )
    .unwrap();
    wait_until("the broken edit is refused", || {
        metrics().contains("vcd_blockd_approvers_reloads_total{outcome=\"error\"} 1")
    })
    .await;
    assert_eq!(carol.whoami().await.0, 200);
    assert_eq!(erin.whoami().await.0, 401);

    // The fix: the file is swapped in whole.
    std::fs::write(&file, approver("erin", "erin-token-0123456789", None)).unwrap();
    eventually("erin can sign in", || async {
        (erin.whoami().await.0 == 200).then_some(())
    })
    .await;
    assert_eq!(carol.whoami().await.0, 401, "carol left the file");
    assert!(metrics().contains("vcd_blockd_approvers_reloads_total{outcome=\"ok\"} 1"));
    // The admin token does not come from the file and stays.
    assert_eq!(Admin::new(world.admin_url()).whoami().await.0, 200);
    world.finish().await;
}

#[tokio::test]
async fn a_deleted_approvers_file_revokes_every_named_approver_and_a_rotated_admin_token_takes_effect()
 {
    let world = World::start(options()).await;
    let file = world.config_path().with_file_name("approvers.toml");
    let carol = Admin::with_token(world.admin_url(), CAROL);
    assert_eq!(carol.whoami().await.0, 200);

    std::fs::remove_file(&file).unwrap();
    eventually("carol is revoked", || async {
        (carol.whoami().await.0 == 401).then_some(())
    })
    .await;
    assert!(
        captured_logs().contains("every named approver is revoked until it is back"),
        "logged loudly"
    );
    std::fs::write(&file, approver("carol", CAROL, None)).unwrap();
    eventually("carol is back", || async {
        (carol.whoami().await.0 == 200).then_some(())
    })
    .await;

    let token_file = world.config_path().with_file_name("admin-token");
    let old = Admin::new(world.admin_url());
    let rotated = Admin::with_token(world.admin_url(), "rotated-admin-token-0123456789");
    assert_eq!(rotated.whoami().await.0, 401);
    std::fs::write(&token_file, "rotated-admin-token-0123456789\n").unwrap();
    eventually("the rotated token works", || async {
        (rotated.whoami().await.0 == 200).then_some(())
    })
    .await;
    assert_eq!(old.whoami().await.0, 401, "the old token no longer does");
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvers_add_prints_a_token_once_and_an_entry_that_works() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vcd-blockd"))
        .args([
            "approvers",
            "add",
            "frank",
            "--org",
            "prod-*",
            "--org",
            "acme",
            "--email",
            "frank@example.com",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stdout}{stderr}");
    // stdout is the token alone, so `> file` saves a working token file.
    let token = stdout.trim_end_matches('\n').to_owned();
    assert!(!token.contains('\n') && !token.contains(' '), "{stdout:?}");
    assert!(token.len() >= 22, "at least 128 bits: {token}");
    assert!(stderr.contains("shown only once"), "{stderr}");
    let entry = &stderr[stderr.find("[[approver]]").expect("an entry")..];
    assert!(
        !stderr.contains(&token),
        "only the hash goes into the file: {entry}"
    );
    assert!(
        entry.contains(&format!("token_sha256 = \"{}\"", sha256_hex(&token))),
        "{entry}"
    );
    assert!(entry.contains("email = \"frank@example.com\""), "{entry}");

    // With --token-file the token goes to a new private file and nowhere else.
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("grace.token");
    let written = std::process::Command::new(env!("CARGO_BIN_EXE_vcd-blockd"))
        .args(["approvers", "add", "grace", "--token-file"])
        .arg(&token_file)
        .output()
        .unwrap();
    assert!(written.status.success(), "{written:?}");
    assert!(written.stdout.is_empty(), "{written:?}");
    let saved = std::fs::read_to_string(&token_file).unwrap();
    let saved = saved.trim();
    let told = String::from_utf8_lossy(&written.stderr);
    assert!(
        told.starts_with(&format!(
            "The token is in {} (mode 0600) and nowhere else: vcd-blockd keeps only its SHA-256.",
            token_file.display()
        )),
        "{told}"
    );
    assert!(
        String::from_utf8_lossy(&written.stderr)
            .contains(&format!("token_sha256 = \"{}\"", sha256_hex(saved))),
        "{written:?}"
    );

    // The entry, pasted into the approvers file, lets the token in.
    let world = World::start(Options {
        approvers: Some(entry.to_owned()),
        ..options()
    })
    .await;
    let frank = Admin::with_token(world.admin_url(), &token);
    assert_eq!(
        frank.whoami().await,
        (200, json!({"name": "frank", "orgs": ["prod-*", "acme"]}))
    );
    world.finish().await;

    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_vcd-blockd"))
        .args(["approvers", "add", "bad\u{1b}name"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(refused.stdout.is_empty(), "no token for a refused name");

    // An address the approvers file would refuse is refused here, with the file's words.
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_vcd-blockd"))
        .args([
            "approvers",
            "add",
            "frank",
            "--email",
            "frank at example.com",
        ])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(refused.stdout.is_empty(), "no token for a refused address");
    let told = String::from_utf8_lossy(&refused.stderr);
    assert!(
        told.contains("email \"frank at example.com\" is not a mail address"),
        "{told}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_approvers_file_is_named_by_check_and_stops_the_start() {
    let world = World::without_daemon(Options {
        approvers: Some(format!(
            "{}[[approver]]\nname = \"carol\"\n",
            approver("x", "y", None)
        )),
        ..options()
    })
    .await;
    let file = world.config_path().with_file_name("approvers.toml");
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_vcd-blockd"))
        .arg("check")
        .arg("-c")
        .arg(world.config_path())
        .env_remove("VCD_BLOCKD_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert_eq!(check.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "{}:6:8: approver \"carol\" has neither token_sha256 nor slack_user",
            file.display()
        )),
        "{stderr}"
    );
    let error = match vcd_blockd::Daemon::start(world.settings.clone()).await {
        Ok(_) => panic!("the daemon started with a broken approvers file"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.contains(":6:8: approver \"carol\" has neither token_sha256 nor slack_user"),
        "{error}"
    );
    world.finish().await;
}
