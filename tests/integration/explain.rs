//! `vcd-blockd explain` on what operators feed it: the field samples of `tests/fixtures/field/`
//! (copied from the protocol notes, as a user's checkout has no `../shared`), with the exact
//! lines it prints, and a live task read from vcd-sim with `--task-id`, which posts no action.

use std::path::Path;
use std::process::{Command, Output};

use vcd_sim::NewTask;

use crate::helpers::{Options, World, abort_directly};

const POLICY: &str = r#"[defaults]
action = "abort"
message = "No rule for {operation}"

[[rule]]
name = "media"
operation = "vdcUploadMedia"
action = "resume"

[[rule]]
name = "VM updates in org-a"
operation = "vappUpdateVm"
org = "org-a"
owner_type = "vm"
action = "resume"
message = "{operation} by {user}@{org} is fine"

[[rule]]
name = "everything else"
action = "fail"
"#;

fn explain(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vcd-blockd"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("VCD_BLOCKD_CONFIG")
        .arg("explain")
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn each_field_sample_is_explained_or_refused_with_the_exact_lines() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let policy = policy.to_str().unwrap();
    let field = "tests/fixtures/field";
    assert!(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(field).is_dir(),
        "the field samples are part of the repository"
    );

    let output = explain(&[
        policy,
        "--task",
        &format!("{field}/01-nclient-blockingtask-create.xml"),
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        text(&output.stdout),
        [
            "task:     3c9e7b21-5d4a-4f60-8e1b-2a7c9d0e4f13, from a notification (XML)".to_owned(),
            "facts:".to_owned(),
            "  operation    \"vappUpdateVm\"".to_owned(),
            "  org          \"org-a\"".to_owned(),
            "  org_id       \"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\"".to_owned(),
            "  user         \"user-a\"".to_owned(),
            "  user_id      \"8d2f4a6c-1e3b-4c5d-9f70-a1b2c3d4e5f6\"".to_owned(),
            "  owner_type   \"vm\"".to_owned(),
            "  owner_name   unknown: not in the notification".to_owned(),
            "  owner_id     \"9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d\"".to_owned(),
            "  description  unknown: not in the notification".to_owned(),
            "unknown facts are matched as empty here; the daemon reads them from vCD (explain -c CONFIG --task-id 3c9e7b21-5d4a-4f60-8e1b-2a7c9d0e4f13, or give them with --fact)".to_owned(),
            "decision: resume".to_owned(),
            "by:       rule \"VM updates in org-a\"".to_owned(),
            "message:  vappUpdateVm by user-a@org-a is fine".to_owned(),
            "rules:".to_owned(),
            format!("  no match    \"media\" ({policy}:5): operation \"vappUpdateVm\" does not match \"vdcUploadMedia\""),
            format!("  decided     \"VM updates in org-a\" ({policy}:10): matched; resume"),
            format!("  not reached \"everything else\" ({policy}:18): an earlier rule decided"),
        ]
    );
    assert!(output.stderr.is_empty());

    // A fact given on the command line is no longer unknown.
    let output = explain(&[
        policy,
        "--task",
        &format!("{field}/01-nclient-blockingtask-create.xml"),
        "--fact",
        "owner_name=web-1",
    ]);
    let lines = text(&output.stdout);
    assert!(
        lines.contains(&"  owner_name   \"web-1\"".to_owned()),
        "{lines:#?}"
    );
    assert!(lines.contains(&"  description  unknown: not in the notification".to_owned()));

    let output = explain(&[
        policy,
        "--task",
        &format!("{field}/02-nclient-json-notification.json"),
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        text(&output.stdout),
        [
            "type:     com/vmware/foobar",
            "no action: the daemon acts only on com/vmware/vcloud/event/blockingtask/create notifications",
        ]
    );

    let output = explain(&[
        policy,
        "--task",
        &format!("{field}/05-docs-blockingtask-guide-5.1.xml"),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert_eq!(
        text(&output.stderr),
        [format!(
            "vcd-blockd: {field}/05-docs-blockingtask-guide-5.1.xml: not a usable BlockingTask: \
             its id \"urn:vcloud:blockingTask:25\" is not a blocking task id (urn:vcloud:blockingTask:<UUID>)"
        )]
    );

    let output = explain(&[
        policy,
        "--task",
        &format!("{field}/08-docs-blockingtaskreferences-guide.xml"),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr),
        [format!(
            "vcd-blockd: {field}/08-docs-blockingtaskreferences-guide.xml: \
             <BlockingTaskReferences> is neither a BlockingTask nor a Notification"
        )]
    );

    let output = explain(&[policy, "--task", "tests/fixtures/field/no-such-file.xml"]);
    assert_eq!(output.status.code(), Some(1), "a file that cannot be read");
    let output = explain(&[
        policy,
        "--task-id",
        "3c9e7b21-5d4a-4f60-8e1b-2a7c9d0e4f13",
        "--task",
        "x",
    ]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "--task-id and --task together"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_task_is_explained_from_vcd_without_any_action() {
    // No daemon: nothing but `explain` talks to the sim.
    let world = World::without_daemon(Options::default()).await;
    let id = world
        .create(NewTask {
            operation: "vdcUploadMedia".into(),
            owner_type: "media".into(),
            owner_name: "explained.iso".into(),
            ..NewTask::default()
        })
        .await;
    let config = world.config_path();
    let config = config.to_str().unwrap();
    let id_text = id.to_string();

    let output = explain(&["-c", config, "--task-id", &id_text]);
    let lines = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{lines:#?}{:?}",
        text(&output.stderr)
    );
    assert_eq!(
        lines[0],
        format!("task:     {id}, from vCD at {}/", world.sim.base_url())
    );
    for line in [
        "  operation    \"vdcUploadMedia\"",
        "  org          \"acme\"",
        "  user         \"alice\"",
        "  owner_type   \"media\"",
        "  owner_name   \"explained.iso\"",
        "decision: resume",
        "by:       rule \"media uploads and copies are fine\"",
    ] {
        assert!(
            lines.contains(&line.to_owned()),
            "{line:?} missing: {lines:#?}"
        );
    }
    // vCD supplies every fact of the task; of the owner, what the policy needs (the Media).
    let facts: Vec<&String> = lines
        .iter()
        .take_while(|l| !l.starts_with("decision:"))
        .collect();
    assert!(!facts.iter().any(|l| l.contains("unknown")), "{lines:#?}");
    assert!(
        lines.contains(&"  media          size_gb 1, image_type \"iso\"".to_owned()),
        "the owner facts read from vCD: {lines:#?}"
    );

    // GETs (and the login and logout around them), never an action.
    let calls = world.sim.calls();
    assert!(
        calls.iter().all(|c| !c.path.contains("/action/")),
        "{calls:#?}"
    );
    assert!(
        calls
            .iter()
            .any(|c| c.method == "GET" && c.path.ends_with(&id_text)),
        "the task was read: {calls:#?}"
    );
    assert_eq!(world.sim.task(id).unwrap().status, "active");

    let output = explain(&["-c", config, "--task-id", &uuid::Uuid::new_v4().to_string()]);
    assert_eq!(output.status.code(), Some(1), "a task vCD does not know");
    assert!(String::from_utf8_lossy(&output.stderr).contains("vCD does not know blocking task"));

    let output = explain(&["-c", config, "--task-id", "25"]);
    assert_eq!(output.status.code(), Some(2), "not a task id");

    abort_directly(&world, id).await;
    let output = explain(&["-c", config, "--task-id", &id_text]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        text(&output.stdout),
        [
            format!("task:     {id} (vdcUploadMedia)"),
            "already decided: its status is \"aborted\", not \"active\"; the daemon takes no action"
                .to_owned(),
        ]
    );
    assert_eq!(
        world.action_calls(id).len(),
        1,
        "only the administrator's abort"
    );
    world.finish().await;
}
