//! `vcd-blockd vcd show|plan|apply` against vcd-sim: the cloud's blocking task settings as an
//! operator reads, plans and changes them, and what the change does to new tasks.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use vcd_sim::{NewTask, SimError};

use crate::helpers::{Options, World};

const POLICY: &str = r#"[defaults]
action = "resume"

[[rule]]
name = "uploads"
operation = "vdcUploadMedia"
action = "resume"

[[rule]]
name = "deletes wait"
operation = "vdcDelete*"
action = "hold"
hold = { max = "1h" }

[[rule]]
name = "acme"
org = "acme"
action = "resume"
"#;

fn vcd(world: &World, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vcd-blockd"))
        .env_remove("VCD_BLOCKD_CONFIG")
        .arg("vcd")
        .args(args)
        .arg("-c")
        .arg(world.config_path())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn both(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn media_upload() -> NewTask {
    NewTask {
        operation: "vdcUploadMedia".into(),
        owner_type: "media".into(),
        ..NewTask::default()
    }
}

fn puts(world: &World) -> Vec<vcd_sim::Call> {
    world
        .sim
        .calls()
        .into_iter()
        .filter(|call| call.method == "PUT")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_blocks_after_apply_and_the_timeout_is_raised_to_fit_the_holds() {
    let world = World::without_daemon(Options {
        policy: POLICY.into(),
        task_timeout: Duration::from_secs(60),
        reconcile_interval: "5m",
        ..Options::default()
    })
    .await;

    // A fresh sim blocks everything, for a minute.
    let show = vcd(&world, &["show"]);
    assert_eq!(show.status.code(), Some(0), "{}", both(&show));
    let text = stdout(&show);
    assert!(text.contains("  timeout         1m\n"), "{text}");
    assert!(text.contains("  timeout action  abort\n"), "{text}");
    assert!(text.contains("    vdcUploadMedia\n"), "{text}");
    assert!(
        text.contains(&format!("  exchange        {}\n", world.xml_exchange)),
        "{text}"
    );
    assert!(text.contains("Notifications     on"), "{text}");

    // The operator stops uploads from blocking; the same apply raises the timeout to twice
    // reconcile.interval.
    let apply = vcd(
        &world,
        &["apply", "--yes", "--remove-operation", "vdcUploadMedia"],
    );
    assert_eq!(apply.status.code(), Some(0), "{}", both(&apply));
    let text = stdout(&apply);
    assert!(
        text.contains("  - stop blocking vdcUploadMedia  (--remove-operation)"),
        "{text}"
    );
    assert!(
        text.contains("  ~ timeout 1m -> 10m  (twice reconcile.interval (5m)"),
        "{text}"
    );
    assert!(
        text.contains("· rule \"acme\" names no operation"),
        "{text}"
    );
    assert!(matches!(
        world.sim.create_task(media_upload()).await,
        Err(SimError::NotBlocking(_))
    ));
    let delete = world
        .sim
        .create_task(NewTask {
            operation: "vdcDeleteVapp".into(),
            ..NewTask::default()
        })
        .await
        .unwrap();
    let delete = world.sim.task(delete).unwrap();
    assert_eq!(
        (delete.timeout_date - delete.created).num_seconds(),
        600,
        "new tasks wait the raised timeout"
    );

    // The plan now wants uploads back, because a rule names them.
    let plan = vcd(&world, &["plan"]);
    assert_eq!(plan.status.code(), Some(1), "{}", both(&plan));
    assert!(
        stdout(&plan).contains("  + block vdcUploadMedia  (rule \"uploads\")"),
        "{}",
        both(&plan)
    );

    // Without a terminal and without --yes nothing is changed.
    let refused = vcd(&world, &["apply"]);
    assert_eq!(refused.status.code(), Some(1), "{}", both(&refused));
    assert!(
        both(&refused).contains("run again with --yes"),
        "{}",
        both(&refused)
    );
    assert_eq!(puts(&world).len(), 1, "only the first apply PUT anything");

    let apply = vcd(&world, &["apply", "--yes"]);
    assert_eq!(apply.status.code(), Some(0), "{}", both(&apply));
    assert!(stdout(&apply).contains("Applied:"), "{}", both(&apply));
    let id = world.sim.create_task(media_upload()).await.unwrap();
    assert_eq!(world.sim.task(id).unwrap().status, "active");

    let plan = vcd(&world, &["plan"]);
    assert_eq!(plan.status.code(), Some(0), "{}", both(&plan));
    assert!(
        stdout(&plan).contains("are as the config and policy need"),
        "{}",
        both(&plan)
    );
    // Only BlockingTaskSettings were ever PUT, never the AMQP settings.
    let puts = puts(&world);
    assert_eq!(puts.len(), 2);
    assert!(
        puts.iter()
            .all(|call| call.path == "/api/admin/extension/settings/blockingTask"),
        "{puts:?}"
    );
    // Nothing was removed that the operator did not name: the last PUT still lists the
    // operations no rule names.
    assert!(puts[1].body.contains(">vappPowerOff<"), "{}", puts[1].body);
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_reports_what_apply_cannot_change() {
    let world = World::without_daemon(Options {
        policy: POLICY.into(),
        exchange: Some("anotherExchange".into()),
        ..Options::default()
    })
    .await;
    let plan = vcd(
        &world,
        &["plan", "--timeout-action", "fail", "--timeout", "1m"],
    );
    assert_eq!(plan.status.code(), Some(1), "{}", both(&plan));
    let text = stdout(&plan);
    assert!(
        text.contains(&format!(
            "! vCD publishes to exchange {:?}, but amqp.exchange is \"anotherExchange\"",
            world.xml_exchange
        )),
        "{text}"
    );
    assert!(
        text.contains("  ~ timeout action abort -> fail  (--timeout-action)"),
        "{text}"
    );
    assert!(
        text.contains("! --timeout 1m is shorter than 10m (twice reconcile.interval"),
        "{text}"
    );
    assert!(puts(&world).is_empty(), "plan changes nothing");
    world.finish().await;
}
