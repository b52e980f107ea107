//! `vcd-blockd doctor` against vcd-sim and the real broker: a healthy setup passes, then one
//! thing at a time is broken (the vCD password, the broker's password and vhost, the exchange, an operation
//! vCD does not block, vCD's timeout) and each gives its own line and exit code.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::helpers::{AMQP_URL, Options, World};

const POLICY: &str = r#"[defaults]
action = "resume"

[[rule]]
name = "uploads"
operation = "vdcUploadMedia"
action = "abort"

[[rule]]
name = "deletes wait"
operation = "vdcDeleteVapp"
action = "hold"
hold = { max = "1h" }
"#;

fn run(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vcd-blockd"))
        .env_remove("VCD_BLOCKD_CONFIG")
        .args(args)
        .arg("-c")
        .arg(config)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Runs doctor and returns its exit code and its lines of `level`.
fn doctor(config: &Path, level: &str) -> (Option<i32>, Vec<String>, String) {
    let output = run(config, &["doctor"]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let prefix = format!("{level:<8}");
    let picked = lines(&output)
        .into_iter()
        .filter(|line| line.starts_with(&prefix))
        .collect();
    (output.status.code(), picked, all)
}

/// Replaces `file` in the config's directory for the length of `check`, then puts it back.
fn with_file(dir: &Path, file: &str, text: &str, check: impl FnOnce()) {
    let path: PathBuf = dir.join(file);
    let good = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text).unwrap();
    check();
    std::fs::write(&path, good).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_a_healthy_setup_and_names_each_broken_part() {
    let world = World::without_daemon(Options {
        policy: POLICY.into(),
        ..Options::default()
    })
    .await;
    let config = world.config_path();
    let dir = config.parent().unwrap().to_owned();

    let (code, errors, all) = doctor(&config, "error");
    assert_eq!(code, Some(0), "{all}");
    assert!(errors.is_empty(), "{all}");
    for expected in [
        "ok      vCD http://127.0.0.1:",
        "ok      the vCD account may read the cloud's blocking task settings",
        "ok      vCD blocks every operation the policy names",
        "ok      broker: connected, the credentials and the virtual host are accepted",
        "ok      exchange \"systemExchange-test-",
        "ok      queue \"vcd-blockd-test-",
        "ok      cluster secret read",
    ] {
        assert!(
            all.lines().any(|l| l.starts_with(expected)),
            "{expected}\n{all}"
        );
    }
    assert!(
        all.contains("is not declared yet"),
        "doctor declares nothing: {all}"
    );

    with_file(&dir, "vcd-password", "not-the-password\n", || {
        let (code, errors, all) = doctor(&config, "error");
        assert_eq!(code, Some(1), "{all}");
        assert!(
            errors
                .iter()
                .any(|l| l.contains("vCD refused the credentials")
                    && l.contains("check vcd.user and the password")),
            "{all}"
        );
        assert!(
            !all.contains("not-the-password"),
            "no secret in the output: {all}"
        );
    });

    let no_vhost = AMQP_URL.replace("%2f", "no-such-vhost-for-doctor");
    assert_ne!(no_vhost, AMQP_URL);
    with_file(&dir, "amqp-url", &no_vhost, || {
        let (code, errors, all) = doctor(&config, "error");
        assert_eq!(code, Some(1), "{all}");
        assert!(
            errors
                .iter()
                .any(|l| l.contains("the broker refused the virtual host")),
            "{all}"
        );
    });

    let wrong_password = AMQP_URL.replace("guest:guest@", "guest:not-the-password@");
    assert_ne!(wrong_password, AMQP_URL);
    with_file(&dir, "amqp-url", &wrong_password, || {
        let (code, errors, all) = doctor(&config, "error");
        assert_eq!(code, Some(1), "{all}");
        assert!(
            errors
                .iter()
                .any(|l| l.contains("the broker refused the user name or password")),
            "{all}"
        );
        assert!(
            !all.contains("not-the-password"),
            "no secret in the output: {all}"
        );
    });

    let text = std::fs::read_to_string(&config).unwrap();
    let missing = text.replace(
        &format!("exchange = \"{}\"", world.xml_exchange),
        "exchange = \"vcd-blockd-doctor-no-such-exchange\"",
    );
    assert_ne!(missing, text);
    with_file(&dir, "config.toml", &missing, || {
        let (code, errors, all) = doctor(&config, "error");
        assert_eq!(code, Some(1), "{all}");
        assert!(
            errors.iter().any(|l| l.contains(
                "exchange \"vcd-blockd-doctor-no-such-exchange\" does not exist: vCD publishes nowhere"
            )),
            "{all}"
        );
    });

    // An exchange that exists but routes by something other than pattern.
    let fanout = format!("{}-fanout", world.queue);
    world
        .channel
        .exchange_declare(
            fanout.as_str().into(),
            lapin::ExchangeKind::Fanout,
            lapin::options::ExchangeDeclareOptions::default(),
            lapin::types::FieldTable::default(),
        )
        .await
        .unwrap();
    let not_topic = text.replace(
        &format!("exchange = \"{}\"", world.xml_exchange),
        &format!("exchange = \"{fanout}\""),
    );
    with_file(&dir, "config.toml", &not_topic, || {
        let (code, errors, all) = doctor(&config, "error");
        assert_eq!(code, Some(1), "{all}");
        assert!(
            errors.iter().any(|l| l
                .contains(&format!("exchange {fanout:?} is not a topic exchange"))
                && l.contains("point vCD and amqp.exchange at a topic exchange")),
            "{all}"
        );
    });
    world
        .channel
        .exchange_delete(
            fanout.as_str().into(),
            lapin::options::ExchangeDeleteOptions::default(),
        )
        .await
        .unwrap();

    // A webhook whose host does not resolve: a warning, and its URL (a secret) is not shown.
    std::fs::write(
        dir.join("hook-url"),
        "https://hooks.vcd-blockd-doctor.invalid/s3cret-path\n",
    )
    .unwrap();
    let with_hook = format!("{text}\n[[notify]]\nurl_file = \"hook-url\"\n");
    with_file(&dir, "config.toml", &with_hook, || {
        let (code, warnings, all) = doctor(&config, "warning");
        assert_eq!(code, Some(0), "{all}");
        assert!(
            warnings.iter().any(|l| l.contains(
                "webhook 1 (json): its host does not resolve from here; events to it will be \
                 retried and dropped"
            )),
            "{all}"
        );
        assert!(
            !all.contains("s3cret-path"),
            "no secret in the output: {all}"
        );
    });

    // vCD stops blocking uploads: a warning, as the daemon still works for the rest.
    let apply = run(
        &config,
        &[
            "vcd",
            "apply",
            "--yes",
            "--remove-operation",
            "vdcUploadMedia",
        ],
    );
    assert_eq!(apply.status.code(), Some(0), "{apply:?}");
    let (code, warnings, all) = doctor(&config, "warning");
    assert_eq!(code, Some(0), "{all}");
    assert!(
        warnings
            .iter()
            .any(|l| l.contains("vCD does not block vdcUploadMedia, which rule \"uploads\" names")),
        "{all}"
    );

    // A timeout shorter than twice reconcile.interval: an error.
    let apply = run(&config, &["vcd", "apply", "--yes", "--timeout", "1m"]);
    assert_eq!(apply.status.code(), Some(0), "{apply:?}");
    let (code, errors, all) = doctor(&config, "error");
    assert_eq!(code, Some(1), "{all}");
    assert!(
        errors.iter().any(|l| l.contains(
            "vCD's blocking task timeout 1m is shorter than 10m (twice reconcile.interval"
        )),
        "{all}"
    );
    // Doctor PUT nothing: only the two applies did.
    let puts = world
        .sim
        .calls()
        .into_iter()
        .filter(|call| call.method != "GET" && call.path.contains("/settings/"))
        .count();
    assert_eq!(puts, 2);
    world.finish().await;
}
