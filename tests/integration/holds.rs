//! Holds through a real RabbitMQ and vcd-sim: keepalives outlive vCD's timeout, approvals
//! and rejections reach vCD, deadlines apply the fallback, and a restart loses nothing.

use std::time::Duration;

use crate::helpers::{Admin, Options, World, abort_directly, eventually, free_port, wait_until};
use serde_json::json;
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

[[rule]]
name = "imports wait only briefly"
operation = "vdcImportVapp"
action = "hold"
hold = { max = "2s", fallback = "fail" }

[[rule]]
name = "snapshots are left to vCD"
operation = "vdcCreateSnapshot"
action = "ignore"
"#;

fn task(operation: &str, owner_name: &str) -> NewTask {
    NewTask {
        operation: operation.into(),
        owner_name: owner_name.into(),
        ..NewTask::default()
    }
}

fn options() -> Options {
    Options {
        policy: POLICY.into(),
        ..Options::default()
    }
}

async fn held(admin: &Admin, count: usize) -> Vec<serde_json::Value> {
    eventually(&format!("{count} tasks are held"), || async {
        admin.holds().await.filter(|holds| holds.len() == count)
    })
    .await
}

fn accepted(view: &vcd_sim::TaskView, action: &str) -> usize {
    view.actions
        .iter()
        .filter(|a| a.accepted && a.action == action)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalives_keep_a_held_task_alive_past_many_vcd_timeouts() {
    // vCD times tasks out after 2 s; each keepalive asks for 3 s more.
    let world = World::start(Options {
        task_timeout: Duration::from_secs(2),
        extend_by: "3s",
        ..options()
    })
    .await;
    let held_task = world.create(task("vdcInstantiateVapp", "billing")).await;
    let left_alone = world.create(task("vdcCreateSnapshot", "billing")).await;
    // Without keepalives vCD applies its timeout action...
    let view = world.wait_for_status(left_alone, "aborted").await;
    assert_eq!(view.actions.last().unwrap().action, "timeout");
    // ...while the held task, created at the same moment with the same timeout, lives on.
    let view = eventually("the held task outlives four timeouts", || async {
        let view = world.sim.task(held_task).unwrap();
        (accepted(&view, "updateProgress") >= 4).then_some(view)
    })
    .await;
    assert_eq!(view.status, "active", "{view:#?}");
    assert!(
        view.actions.iter().all(|a| a.action != "timeout"),
        "{view:#?}"
    );
    // vCD's own timeout was created + 2 s; the keepalives moved it well past that.
    assert!(
        view.timeout_date > view.created + chrono::TimeDelta::seconds(6),
        "timeout not extended: {view:#?}"
    );
    let keepalive = view
        .actions
        .iter()
        .find(|a| a.action == "updateProgress")
        .unwrap();
    assert_eq!(
        keepalive.message,
        "Waiting for approval: vdcInstantiateVapp by alice"
    );
    assert_eq!(keepalive.timeout_ms, Some(3000));
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_resumes_and_reject_aborts_or_fails_with_the_given_message() {
    let world = World::start(options()).await;
    let admin = Admin::new(world.admin_url());
    let approve = world.create(task("vdcInstantiateVapp", "a")).await;
    let abort = world.create(task("vdcInstantiateVapp", "b")).await;
    let fail = world.create(task("vdcInstantiateVapp", "c")).await;
    let holds = held(&admin, 3).await;
    let listed = holds
        .iter()
        .find(|h| h["id"] == approve.to_string())
        .expect("listed");
    assert_eq!(listed["rule"], "deployments need an approver");
    assert_eq!(listed["operation"], "vdcInstantiateVapp");
    assert_eq!(listed["fallback"], "abort");

    let (status, _) = admin
        .decide(
            &approve.to_string(),
            "approve",
            json!({"message": "ok by Mia"}),
        )
        .await;
    assert_eq!(status, 200);
    // The answer came after vCD accepted: no waiting needed.
    let view = world.sim.task(approve).unwrap();
    assert_eq!(
        (
            view.status.as_str(),
            view.actions.last().unwrap().message.as_str()
        ),
        ("resumed", "ok by Mia")
    );

    let (status, _) = admin.decide(&abort.to_string(), "reject", json!({})).await;
    assert_eq!(status, 200);
    let view = world.sim.task(abort).unwrap();
    assert_eq!(view.status, "aborted");
    assert!(
        view.actions
            .last()
            .unwrap()
            .message
            .contains("Rejected by an administrator"),
        "{view:#?}"
    );

    let (status, _) = admin
        .decide(
            &fail.to_string(),
            "reject",
            json!({"action": "fail", "message": "not now"}),
        )
        .await;
    assert_eq!(status, 200);
    let view = world.sim.task(fail).unwrap();
    assert_eq!(
        (
            view.status.as_str(),
            view.actions.last().unwrap().message.as_str()
        ),
        ("failed", "not now")
    );
    assert!(admin.holds().await.unwrap().is_empty());
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_what_is_not_held_is_a_clear_error() {
    let world = World::start(options()).await;
    let admin = Admin::new(world.admin_url());
    let (status, answer) = admin
        .decide("8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94", "approve", json!({}))
        .await;
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("no blocking task"),
        "{answer}"
    );

    let decided = world.create(task("vdcUploadMedia", "x.iso")).await;
    world.wait_for_status(decided, "aborted").await;
    let (status, answer) = admin
        .decide(&decided.to_string(), "approve", json!({}))
        .await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("already decided"),
        "{answer}"
    );

    for hostile in ["..%2F..%2Fetc", "not-a-task"] {
        let (status, answer) = admin.decide(hostile, "approve", json!({})).await;
        assert_eq!(status, 400, "{hostile}: {answer}");
    }
    let (status, _) = admin
        .decide(&decided.to_string(), "reject", json!({"action": "resume"}))
        .await;
    assert_eq!(status, 400);

    let unauthenticated = crate::helpers::http_client()
        .get(format!("{}/v1/holds", admin.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let wrong = crate::helpers::http_client()
        .get(format!("{}/v1/holds", admin.base))
        .bearer_auth("guess")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_decided_in_vcd_while_held_leaves_the_holds() {
    let world = World::start(Options {
        task_timeout: Duration::from_secs(2),
        extend_by: "3s",
        ..options()
    })
    .await;
    let admin = Admin::new(world.admin_url());
    let id = world.create(task("vdcInstantiateVapp", "a")).await;
    held(&admin, 1).await;
    abort_directly(&world, id).await;
    // The next keepalive finds the task no longer active.
    held(&admin, 0).await;
    wait_until("the ended hold is counted", || {
        world
            .daemon()
            .metrics
            .render()
            .contains("vcd_blockd_keepalives_total{outcome=\"gone\"} 1")
    })
    .await;
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_applies_the_fallback() {
    let world = World::start(options()).await;
    let id = world.create(task("vdcImportVapp", "import")).await;
    let view = world.wait_for_status(id, "failed").await;
    let last = view.actions.last().unwrap();
    assert_eq!(last.action, "fail");
    assert_eq!(
        last.message,
        "No approval within 2s (vcd-blockd rule \"imports wait only briefly\"): fail"
    );
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_holds_command_lists_and_approves() {
    let world = World::start(options()).await;
    let id = world.create(task("vdcInstantiateVapp", "cli")).await;
    held(&Admin::new(world.admin_url()), 1).await;
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vcd-blockd"))
            .arg("holds")
            .arg("-c")
            .arg(world.config_path())
            .arg("--url")
            .arg(world.admin_url())
            .args(args)
            .output()
            .unwrap()
    };
    let list = tokio::task::block_in_place(|| cli(&["list"]));
    let stdout = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&list.stderr)
    );
    assert!(stdout.starts_with("TASK"), "{stdout}");
    assert!(
        stdout.contains(&id.to_string()) && stdout.contains("deployments need an approver"),
        "{stdout}"
    );

    let approve =
        tokio::task::block_in_place(|| cli(&["approve", &id.to_string(), "--message", "go"]));
    assert!(
        approve.status.success(),
        "{}",
        String::from_utf8_lossy(&approve.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&approve.stdout),
        format!("{id} resumed\n")
    );
    assert_eq!(world.sim.task(id).unwrap().status, "resumed");

    let again = tokio::task::block_in_place(|| cli(&["approve", &id.to_string()]));
    assert_eq!(again.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("409"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    world.finish().await;
}

/// Runs `vcd-blockd holds ARGS` in an empty directory (no config file anywhere), with
/// `env` set and `VCD_BLOCKD_TOKEN` / `VCD_BLOCKD_CONFIG` cleared unless given.
fn holds_cli(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let empty = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_vcd-blockd"));
    command
        .current_dir(empty.path())
        .env_remove("VCD_BLOCKD_TOKEN")
        .env_remove("VCD_BLOCKD_CONFIG")
        .arg("holds")
        .args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = tokio::task::block_in_place(|| command.output().unwrap());
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_holds_command_needs_no_config_only_an_address_and_a_token() {
    let world = World::start(options()).await;
    let first = world
        .create(task("vdcInstantiateVapp", "no-config-1"))
        .await;
    let second = world
        .create(task("vdcInstantiateVapp", "no-config-2"))
        .await;
    held(&Admin::new(world.admin_url()), 2).await;
    let token_dir = tempfile::tempdir().unwrap();
    let token_file = token_dir.path().join("token");
    std::fs::write(&token_file, format!("  {}\n", crate::helpers::ADMIN_TOKEN)).unwrap();
    let token_file = token_file.to_str().unwrap();
    let url = world.admin_url();

    // Flags after the subcommand, token from a file (whitespace around it ignored), JSON out.
    let (code, stdout, stderr) = holds_cli(
        &[
            "list",
            "--url",
            &url,
            "--token-file",
            token_file,
            "--output",
            "json",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let listed: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
    let mut ids: Vec<&str> = listed.iter().map(|h| h["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    let mut expected = [first.to_string(), second.to_string()];
    expected.sort_unstable();
    assert_eq!(ids, expected);

    // Flags before the subcommand, token from the environment.
    let (code, stdout, stderr) = holds_cli(
        &[
            "--url",
            &url,
            "approve",
            &first.to_string(),
            "--message",
            "ok",
        ],
        &[("VCD_BLOCKD_TOKEN", crate::helpers::ADMIN_TOKEN)],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, format!("{first} resumed\n"));
    assert_eq!(world.sim.task(first).unwrap().status, "resumed");

    let (code, _, stderr) = holds_cli(
        &[
            "reject",
            &second.to_string(),
            "--action",
            "fail",
            "--url",
            &url,
            "--token-file",
            token_file,
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(world.sim.task(second).unwrap().status, "failed");

    // What failed is said: a wrong token, nobody listening, no token at all.
    let (code, _, stderr) = holds_cli(
        &["list", "--url", &url],
        &[("VCD_BLOCKD_TOKEN", "not-the-token")],
    );
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("refused the token from $VCD_BLOCKD_TOKEN (401)"),
        "{stderr}"
    );
    let (code, _, stderr) = holds_cli(&["list", "--url", "127.0.0.1:9180"], &[]);
    assert_eq!(code, Some(2), "a URL without a scheme is a usage error");
    assert!(stderr.contains("is not the admin API's URL"), "{stderr}");
    let nobody = format!("http://127.0.0.1:{}", free_port());
    let (code, _, stderr) = holds_cli(&["list", "--url", &nobody, "--token-file", token_file], &[]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("connection refused"), "{stderr}");
    let (code, _, stderr) = holds_cli(&["list", "--url", &url], &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("no token"), "{stderr}");
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_holds_command_reads_only_the_http_section_of_a_config() {
    let world = World::start(options()).await;
    let id = world.create(task("vdcInstantiateVapp", "http-only")).await;
    held(&Admin::new(world.admin_url()), 1).await;
    // A config an approver may have: the daemon's [http] section, none of its secrets.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), crate::helpers::ADMIN_TOKEN).unwrap();
    let address = world.admin_url().trim_start_matches("http://").to_owned();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[vcd]\nurl = \"https://vcd.example.com\"\npassword_file = \"missing\"\n\
             [amqp]\nurl_file = \"missing-too\"\n\
             [http]\nlisten = \"{address}\"\nadmin_token_file = \"token\"\n"
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = holds_cli(&["-c", config.to_str().unwrap(), "list"], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains(&id.to_string()), "{stdout}");
    world.finish().await;
}

/// A CA and a certificate it signed for 127.0.0.1, as PEM files in `dir`: (ca, cert, key).
fn private_ca(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let cert = params.signed_by(&key, &issuer).unwrap();
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    (
        write("ca.pem", ca.pem()),
        write("cert.pem", cert.pem()),
        write("key.pem", key.serialize_pem()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_can_have_its_own_listener_with_tls_while_probes_stay_plain() {
    let pki = tempfile::tempdir().unwrap();
    let (ca, cert, key) = private_ca(pki.path());
    let world = World::start(Options {
        http_extra: format!(
            "admin_listen = \"127.0.0.1:0\"\ntls_cert_file = {cert:?}\ntls_key_file = {key:?}\n"
        ),
        ..options()
    })
    .await;
    let id = world.create(task("vdcInstantiateVapp", "over-tls")).await;
    let daemon = world.daemon();
    assert_ne!(daemon.admin_address, daemon.http_address);
    let https = format!("https://{}", daemon.admin_address);
    let plain = format!("http://{}", daemon.http_address);
    let token = pki.path().join("token");
    std::fs::write(&token, crate::helpers::ADMIN_TOKEN).unwrap();

    // Probes and metrics on `listen`; the admin API is not there.
    let http = crate::helpers::http_client();
    let livez = http.get(format!("{plain}/livez")).send().await.unwrap();
    assert_eq!(livez.status(), 200);
    let holds_on_plain = http
        .get(format!("{plain}/v1/holds"))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(holds_on_plain.status(), 404);
    let (code, _, stderr) = holds_cli(
        &[
            "list",
            "--url",
            &plain,
            "--token-file",
            token.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, Some(1));
    assert!(stderr.contains("no admin API here (404)"), "{stderr}");

    // The holds command reaches it over HTTPS with the private CA, and says so without it.
    let (ca, token) = (ca.to_str().unwrap(), token.to_str().unwrap());
    let listed = eventually("the task is held", || {
        let https = https.clone();
        async move {
            let (code, stdout, _) = holds_cli(
                &[
                    "list",
                    "--url",
                    &https,
                    "--token-file",
                    token,
                    "--ca-file",
                    ca,
                ],
                &[],
            );
            (code == Some(0) && stdout.contains(&id.to_string())).then_some(stdout)
        }
    })
    .await;
    assert!(listed.starts_with("TASK"), "{listed}");
    // Browsers keep to HTTPS there, and nobody keeps the answers.
    vcd_blockd::install_crypto_provider();
    let ca_pem = std::fs::read(ca).unwrap();
    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca_pem).unwrap())
        .build()
        .unwrap();
    let answer = trusting
        .get(format!("{https}/v1/holds"))
        .header(
            "authorization",
            format!("bEaReR {}", crate::helpers::ADMIN_TOKEN),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "the scheme name in any case");
    assert_eq!(answer.headers()["cache-control"], "no-store");
    assert_eq!(
        answer.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let (code, _, stderr) = holds_cli(&["list", "--url", &https, "--token-file", token], &[]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("TLS failed"), "{stderr}");
    let (code, stdout, stderr) = holds_cli(
        &[
            "approve",
            &id.to_string(),
            "--url",
            &https,
            "--token-file",
            token,
            "--ca-file",
            ca,
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, format!("{id} resumed\n"));
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_daemon_finds_every_held_task_again_with_the_same_deadlines() {
    let world = World::without_daemon(options()).await;
    let port = free_port();
    let admin = Admin::new(format!("http://127.0.0.1:{port}"));
    let daemon = world.spawn_daemon_process(port).await;
    let mut before = Vec::new();
    for n in 0..200 {
        before.push(
            world
                .create(task("vdcInstantiateVapp", &format!("vapp-{n}")))
                .await,
        );
    }
    let holds = held(&admin, 200).await;
    daemon.kill(); // SIGKILL: no graceful anything

    let mut during = Vec::new();
    for n in 0..50 {
        during.push(
            world
                .create(task("vdcInstantiateVapp", &format!("late-{n}")))
                .await,
        );
    }
    // Those notifications are lost too: only reconciliation can find the 50.
    purge(&world).await;

    let daemon = world.spawn_daemon_process(port).await;
    let after = held(&admin, 250).await;
    daemon.kill();

    let deadline_of = |holds: &[serde_json::Value], id: &uuid::Uuid| {
        holds
            .iter()
            .find(|h| h["id"] == id.to_string())
            .map(|h| h["deadline"].clone())
    };
    for id in &before {
        let old = deadline_of(&holds, id).expect("held before");
        assert_eq!(
            deadline_of(&after, id),
            Some(old),
            "deadline of {id} changed across the restart"
        );
    }
    for id in &during {
        let view = world.sim.task(*id).unwrap();
        let deadline = deadline_of(&after, id).expect("the task created while down is held");
        let deadline: chrono::DateTime<chrono::Utc> = serde_json::from_value(deadline).unwrap();
        // vCD states createdTime to the millisecond.
        let expected = view.created + chrono::TimeDelta::hours(1);
        assert_eq!(
            deadline.timestamp_millis(),
            expected.timestamp_millis(),
            "counted from createdTime"
        );
        assert!(
            accepted(&view, "updateProgress") >= 1,
            "kept alive: {view:#?}"
        );
    }
    world.finish().await;
}

async fn purge(world: &World) {
    world
        .channel
        .queue_purge(world.queue.as_str().into(), Default::default())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_policy_is_picked_up_and_a_broken_edit_changes_nothing() {
    let world = World::start(options()).await;
    let admin = Admin::new(world.admin_url());
    let id = world.create(task("vdcInstantiateVapp", "reloaded")).await;
    held(&admin, 1).await;
    let policy_file = world.config_path().with_file_name("policy.toml");

    // A typo: the daemon notices the change, refuses it and keeps the last good policy.
    std::fs::write(
        &policy_file,
        "[defaults]\naction = \"resume\"\n[[rule]]\nname = \"oops\"\nactoin = \"abort\"\n",
    )
    .unwrap();
    wait_until("the broken edit is refused", || {
        world
            .daemon()
            .metrics
            .render()
            .contains("vcd_blockd_policy_reloads_total{outcome=\"error\"} 1")
    })
    .await;
    assert_eq!(
        admin.holds().await.unwrap().len(),
        1,
        "the last good policy still holds the task"
    );
    assert_eq!(world.sim.task(id).unwrap().status, "active");

    // The fix: swapped in, and the held task is decided again under it.
    std::fs::write(
        &policy_file,
        "[defaults]\naction = \"resume\"\nmessage = \"Deployments no longer need approval\"\n",
    )
    .unwrap();
    let view = world.wait_for_status(id, "resumed").await;
    assert_eq!(
        view.actions.last().unwrap().message,
        "Deployments no longer need approval"
    );
    assert!(admin.holds().await.unwrap().is_empty());
    assert!(
        world
            .daemon()
            .metrics
            .render()
            .contains("vcd_blockd_policy_reloads_total{outcome=\"ok\"} 1")
    );
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_when_the_soonest_hold_reaches_its_deadline() {
    let world = World::start(options()).await;
    let scrape = || async {
        let body = crate::helpers::http_client()
            .get(format!("http://{}/metrics", world.daemon().http_address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        body.lines()
            .find_map(|line| line.strip_prefix("vcd_blockd_hold_next_deadline_timestamp_seconds "))
            .map(|value| value.trim().parse::<i64>().unwrap())
            .expect("the soonest deadline is exported")
    };
    assert_eq!(scrape().await, 0, "nothing is held yet");
    world.create(task("vdcInstantiateVapp", "metrics")).await;
    let holds = held(&Admin::new(world.admin_url()), 1).await;
    let deadline = chrono::DateTime::parse_from_rfc3339(holds[0]["deadline"].as_str().unwrap())
        .unwrap()
        .timestamp();
    assert_eq!(scrape().await, deadline);
    world.finish().await;
}
