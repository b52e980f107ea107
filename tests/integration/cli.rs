//! The `vcd-blockd` binary as an operator uses it: `check` and start-up errors.

use std::process::Command;

fn vcd_blockd() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vcd-blockd"));
    command.env_remove("VCD_BLOCKD_CONFIG");
    command
}

/// A directory with a password file and a one-line policy, and the path its config goes to.
fn config_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "x").unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        "[defaults]\naction = \"resume\"\n",
    )
    .unwrap();
    let config = dir.path().join("config.toml");
    (dir, config)
}

#[test]
fn check_accepts_the_example_policy() {
    let policy = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/example.toml");
    let output = vcd_blockd().args(["check", policy]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("example.toml: ok"), "{stdout}");
}

#[test]
fn check_names_file_line_and_column_of_a_broken_policy() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("broken.toml");
    std::fs::write(
        &policy,
        "[defaults]\naction = \"abort\"\n\n[[rule]]\nname = \"uploads\"\noperation = \"vdcUploadMedia\"\nacton = \"resume\"\n",
    )
    .unwrap();
    let output = vcd_blockd().arg("check").arg(&policy).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let expected = format!("{}:7:1: ", policy.display());
    assert!(
        stderr
            .lines()
            .any(|line| line.starts_with(&expected) && line.contains("acton")),
        "{stderr}"
    );
}

#[test]
fn check_with_a_config_validates_both() {
    let (_dir, config) = config_dir();
    std::fs::write(
        &config,
        "[vcd]\nurl = \"https://vcd.example.com\"\npassword_file = \"pw\"\n[amqp]\nurl = \"amqp://localhost\"\n[policy]\npath = \"policy.toml\"\n",
    )
    .unwrap();
    let output = vcd_blockd()
        .arg("check")
        .arg("-c")
        .arg(&config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("config.toml: ok") && stdout.contains("policy.toml: ok"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "config.toml: mode: AMQP: consumes queue \"vcd-blockd\" bound to exchange \"systemExchange\", reconciles every 5m"
        ),
        "{stdout}"
    );

    // Without an AMQP URL the same config polls vCD.
    std::fs::write(
        &config,
        "[vcd]\nurl = \"https://vcd.example.com\"\npassword_file = \"pw\"\n[policy]\npath = \"policy.toml\"\n",
    )
    .unwrap();
    let output = vcd_blockd()
        .arg("check")
        .arg("-c")
        .arg(&config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout
            .contains("config.toml: mode: poll: no AMQP URL, lists vCD's blocking tasks every 15s"),
        "{stdout}"
    );

    std::fs::write(
        &config,
        "[vcd]\nurl = \"https://vcd.example.com\"\npasword_file = \"pw\"\n",
    )
    .unwrap();
    let output = vcd_blockd()
        .arg("check")
        .arg("-c")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!("{}:3:1: ", config.display())),
        "{stderr}"
    );
    assert!(stderr.contains("pasword_file"), "{stderr}");
}

#[test]
fn check_shows_the_warnings_a_config_earns() {
    let (dir, config) = config_dir();
    std::fs::write(dir.path().join("token"), "t0ken").unwrap();
    std::fs::write(
        &config,
        "[vcd]\nurl = \"https://vcd.example.com\"\npassword_file = \"pw\"\n\
         [amqp]\nurl = \"amqp://localhost\"\n[policy]\npath = \"policy.toml\"\n\
         [http]\nadmin_listen = \"0.0.0.0:9443\"\nadmin_token_file = \"token\"\n",
    )
    .unwrap();
    let output = vcd_blockd()
        .arg("check")
        .arg("-c")
        .arg(&config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "warnings are not failures: {stdout}"
    );
    assert!(
        stdout.contains("warning: http.admin_listen 0.0.0.0:9443 is not loopback and has no TLS"),
        "{stdout}"
    );
}

#[test]
fn run_with_a_bad_config_exits_2_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[vcd]\nurl = \"https://vcd.example.com\"\npassword = \"hunter2\"\n[amqp]\nurl = \"amqp://localhost\"\nqueue_type = \"stream\"\n").unwrap();
    let output = vcd_blockd()
        .arg("run")
        .arg("-c")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(":6:14: amqp.queue_type: \"stream\" is not one of quorum, classic"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"));
}

#[test]
fn run_without_any_config_file_says_where_it_looked() {
    let output = vcd_blockd()
        .args(["run", "-c", "/nonexistent/vcd-blockd.toml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr.contains("/nonexistent/vcd-blockd.toml: cannot read the config file"),
        "{stderr}"
    );
}

#[test]
fn sigterm_stops_the_daemon_cleanly() {
    let (_dir, config) = config_dir();
    let queue = format!("vcd-blockd-sigterm-test-{}", uuid::Uuid::new_v4().simple());
    // vCD is unreachable: the daemon keeps trying, and must still stop at once when told.
    std::fs::write(
        &config,
        format!(
            "[vcd]\nurl = \"http://127.0.0.1:9\"\npassword_file = \"pw\"\n[amqp]\nurl = \"{}\"\nqueue = \"{queue}\"\nqueue_type = \"classic\"\n[policy]\npath = \"policy.toml\"\n",
            crate::helpers::AMQP_URL
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut daemon = vcd_blockd()
        .arg("run")
        .arg("-c")
        .arg(&config)
        .env("VCD_BLOCKD__HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the daemon never listened"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(daemon.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let status = daemon.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    // The queues the daemon declared go with the test.
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(vcd_sim::clean_broker(
            crate::helpers::AMQP_URL,
            &[],
            Some(&queue),
        ))
        .unwrap();
}

#[test]
fn test_runs_the_policy_cases_and_fails_on_a_wrong_expectation() {
    let policy = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/example.toml");
    let output = vcd_blockd().args(["test", policy]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("ok ")), "{stdout}");

    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.toml");
    std::fs::write(
        &wrong,
        "[defaults]\naction = \"abort\"\n\n[[rule]]\nname = \"uploads\"\noperation = \"vdcUploadMedia\"\naction = \"resume\"\n\n[[test]]\nname = \"deploys resume\"\ntask = { operation = \"vdcInstantiateVapp\" }\nexpect = \"resume\"\n",
    )
    .unwrap();
    let output = vcd_blockd().arg("test").arg(&wrong).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL") && stdout.contains("deploys resume"),
        "{stdout}"
    );
    assert!(stdout.contains("0 passed, 1 failed"), "{stdout}");
}

#[test]
fn explain_shows_the_deciding_rule_and_why_others_did_not_match() {
    let policy = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/example.toml");
    let task = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/protocol/blocking-task.xml"
    );
    let output = vcd_blockd()
        .args(["explain", policy, "--task", task, "--fact", "org=prod-eu"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("\ndecision: hold"), "{stdout}");
    assert!(
        stdout.contains("\"production deployments need an approver\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("operation \"vdcInstantiateVapp\" does not match \"vdcDeleteVapp\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("not reached \"trial: staging deployments need an approver\""),
        "rules after the decision are not evaluated: {stdout}"
    );

    let notification = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/protocol/notification-blockingtask-create.xml"
    );
    let output = vcd_blockd()
        .args(["explain", policy, "--task", notification])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("\ndecision: resume"),
        "acme is not production: {stdout}"
    );

    let output = vcd_blockd()
        .args(["explain", policy, "--fact", "colour=blue"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown key"));
}

/// The binary with no environment but `vars`, in `dir` (also its HOME): nothing of the test
/// runner's environment (a `VCD_BLOCKD_*` variable, a config next to the sources) leaks in.
fn vcd_blockd_with_env_only(dir: &std::path::Path, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vcd-blockd"));
    command.env_clear().current_dir(dir).env("HOME", dir);
    command.envs(vars.iter().copied());
    command
}

/// Where the daemon looks when nobody names a config; these tests expect it absent.
const DEFAULT_CONFIG: &str = "/etc/vcd-blockd/config.toml";

#[test]
fn check_works_from_the_environment_alone() {
    if std::path::Path::new(DEFAULT_CONFIG).exists() {
        eprintln!("skipped: {DEFAULT_CONFIG} exists on this machine");
        return;
    }
    let (dir, _) = config_dir();
    std::fs::write(dir.path().join("amqp-url"), "amqp://localhost").unwrap();
    let output = vcd_blockd_with_env_only(
        dir.path(),
        &[
            ("VCD_BLOCKD__VCD__URL", "https://vcd.example.com"),
            ("VCD_BLOCKD__VCD__PASSWORD_FILE", "pw"),
            ("VCD_BLOCKD__AMQP__URL_FILE", "amqp-url"),
            ("VCD_BLOCKD__POLICY__PATH", "policy.toml"),
        ],
    )
    .arg("check")
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("configuration (built-in defaults and environment): ok"),
        "{stdout}"
    );
    assert!(stdout.contains("policy.toml: ok"), "{stdout}");
}

#[test]
fn run_without_any_config_says_no_file_was_read() {
    if std::path::Path::new(DEFAULT_CONFIG).exists() {
        eprintln!("skipped: {DEFAULT_CONFIG} exists on this machine");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let output = vcd_blockd_with_env_only(dir.path(), &[])
        .arg("run")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("vcd.url: required"), "{stderr}");
    assert!(
        stderr.contains("no config file was read") && stderr.contains(DEFAULT_CONFIG),
        "{stderr}"
    );
}

#[test]
fn a_config_named_in_the_environment_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let output = vcd_blockd_with_env_only(
        dir.path(),
        &[("VCD_BLOCKD_CONFIG", "/nonexistent/vcd-blockd.toml")],
    )
    .arg("check")
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("/nonexistent/vcd-blockd.toml: cannot read the config file"),
        "{stderr}"
    );
}

#[test]
fn config_prints_the_layered_settings_with_secrets_redacted() {
    let (dir, config) = config_dir();
    std::fs::write(
        &config,
        "[vcd]\nurl = \"https://vcd.example.com\"\npassword = \"hunter2\"\n[policy]\nmode = \"dry-run\"\n",
    )
    .unwrap();
    let output = vcd_blockd_with_env_only(
        dir.path(),
        &[
            (
                "VCD_BLOCKD__AMQP__URL",
                "amqps://blockd:broker-s3cret@mq:5671/",
            ),
            ("VCD_BLOCKD__LOG__FORMAT", "json"),
        ],
    )
    .arg("config")
    .arg("-c")
    .arg(&config)
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!stdout.contains("hunter2"), "{stdout}");
    assert!(!stdout.contains("broker-s3cret"), "{stdout}");
    let shown: toml::Table = toml::from_str(&stdout).unwrap();
    assert_eq!(shown["vcd"]["password"].as_str(), Some("<redacted>"));
    assert_eq!(shown["amqp"]["url"].as_str(), Some("<redacted>"));
    assert_eq!(
        shown["policy"]["mode"].as_str(),
        Some("dry-run"),
        "from the file"
    );
    assert_eq!(
        shown["log"]["format"].as_str(),
        Some("json"),
        "from the environment"
    );
    assert_eq!(
        shown["http"]["listen"].as_str(),
        Some("127.0.0.1:9180"),
        "a default"
    );
}

#[test]
fn completions_cover_every_command_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let output = vcd_blockd().args(["completions", shell]).output().unwrap();
        let script = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{shell}");
        for word in [
            "vcd-blockd",
            "check",
            "explain",
            "holds",
            "approve",
            "completions",
        ] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
    let output = vcd_blockd().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

/// `vcd-blockd man | head -0`: the command ends when its reader has gone, without a panic.
#[test]
fn output_to_a_reader_that_has_gone_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;

    let mut child = vcd_blockd()
        .arg("man")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader leaves before reading a byte: every write to the pipe now fails.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Ended by SIGPIPE (13), as `head`'s writers are; a panic would exit with 101.
    assert_eq!(
        output.status.signal(),
        Some(13),
        "{:?}: {stderr}",
        output.status
    );
}

#[test]
fn man_prints_a_roff_page_naming_the_commands() {
    let output = vcd_blockd().arg("man").output().unwrap();
    let page = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0));
    assert!(page.contains(".TH vcd-blockd 1"), "{page}");
    for word in ["run", "check", "holds", "approvers", "config"] {
        assert!(page.contains(word), "the man page lacks {word}");
    }
    let sections = [
        ".SH FILES",
        ".SH ENVIRONMENT",
        ".SH EXIT STATUS",
        ".SH SIGNALS",
        ".SH EXAMPLES",
    ];
    for section in sections {
        assert!(page.contains(section), "the man page lacks {section}");
    }
    for fact in [
        "/etc/vcd\\-blockd/config.toml",
        "VCD_BLOCKD_CONFIG",
        "SIGHUP",
        "SIGTERM",
        "RestartPreventExitStatus=2",
    ] {
        assert!(page.contains(fact), "the man page lacks {fact}");
    }

    let dir = tempfile::tempdir().unwrap();
    let output = vcd_blockd()
        .args(["man", "--out-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    for page in [
        "vcd-blockd.1",
        "vcd-blockd-run.1",
        "vcd-blockd-holds-approve.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
        assert!(text.starts_with(".ie"), "{page}: {text}");
    }
    let run = std::fs::read_to_string(dir.path().join("vcd-blockd-run.1")).unwrap();
    assert!(run.contains("VCD_BLOCKD_CONFIG"), "{run}");
    let main = std::fs::read_to_string(dir.path().join("vcd-blockd.1")).unwrap();
    assert_eq!(main, page, "the installed page is the one `man` prints");
}

#[test]
fn check_warns_about_vm_facts_on_media_uploads_and_still_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(
        &policy,
        "[[rule]]\nname = \"big uploads\"\noperation = \"vdcUploadMedia\"\n\
         vm.memory_mb = { gt = 65536 }\naction = \"fail\"\n",
    )
    .unwrap();
    let output = vcd_blockd().arg("check").arg(&policy).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "{}:1: warning: rule \"big uploads\" matches on vm.* facts, but vdcUploadMedia is \
             about a media",
            policy.display()
        )),
        "{stdout}"
    );
}

#[test]
fn explain_takes_owner_facts_and_names_the_vm_and_what_was_unknown() {
    let policy = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/example.toml");
    let output = vcd_blockd()
        .args(["explain", policy, "--fact", "operation=vdcInstantiateVapp"])
        .args(["--fact", "org=acme", "--fact", "vm.memory_mb=131072"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("decision: hold"), "{stdout}");
    assert!(stdout.contains("vm:       \"vm\""), "{stdout}");
    assert!(
        stdout.contains("  vm \"vm\": cpu unknown, memory_mb 131072"),
        "{stdout}"
    );

    let output = vcd_blockd()
        .args(["explain", policy, "--fact", "operation=vdcUploadMedia"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("decision: resume"), "{stdout}");
    assert!(
        stdout.contains("unknown:  media.size_gb (not given)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("unknown     \"no ISOs over 20 GiB\" (")
            && stdout.contains(
                "not matched, unknown: media.image_type (not given), media.size_gb (not given)"
            ),
        "{stdout}"
    );
}

#[test]
fn check_warns_about_a_misspelt_operation_and_names_the_nearest() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("typo.toml");
    std::fs::write(
        &policy,
        "[[rule]]\nname = \"deploys\"\noperation = \"vdcInstatiateVapp\"\naction = \"resume\"\n",
    )
    .unwrap();
    let output = vcd_blockd().arg("check").arg(&policy).output().unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "a warning is no failure: {all}"
    );
    let expected = format!(
        "{}:1: warning: rule \"deploys\": operation \"vdcInstatiateVapp\" is none of vCD's \
         documented operations; did you mean \"vdcInstantiateVapp\"?",
        policy.display()
    );
    assert!(all.lines().any(|line| line == expected), "{all}");
}

/// A policy with a rule on the VDC the owner lives in and `[[test]]`s that give it.
const VDC_POLICY: &str = r#"[defaults]
action = "resume"

[[rule]]
name = "nothing new in VDCs being retired"
operation = ["vdcInstantiateVapp", "vdcUploadMedia"]
vdc.name = "*-retiring"
action = "fail"

[[rule]]
name = "pay-as-you-go VDCs take no big VMs"
vdc = { allocation_model = "AllocationVApp" }
vm.memory_mb = { gt = 65536 }
action = "abort"

[[test]]
name = "no uploads into a retiring VDC"
task = { operation = "vdcUploadMedia", vdc = { name = "fra-retiring" } }
expect = "fail"
rule = "nothing new in VDCs being retired"

[[test]]
name = "a big VM in a pay-as-you-go VDC"
task = { operation = "vdcComposeVapp", vdc = { name = "dev", allocation_model = "AllocationVApp" }, vm = { memory_mb = 131072 } }
expect = "abort"

[[test]]
name = "a big VM elsewhere"
task = { operation = "vdcComposeVapp", vdc = { name = "prod", allocation_model = "Flex" }, vm = { memory_mb = 131072 } }
expect = "resume"
"#;

#[test]
fn vdc_facts_are_given_by_test_tasks_and_explain_fact() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("vdc.toml");
    std::fs::write(&policy, VDC_POLICY).unwrap();
    let output = vcd_blockd().arg("test").arg(&policy).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("ok    no uploads into a retiring VDC: fail by rule"),
        "{stdout}"
    );

    let explain = |facts: &[&str]| {
        let mut command = vcd_blockd();
        command.arg("explain").arg(&policy);
        for fact in facts {
            command.args(["--fact", fact]);
        }
        let output = command.output().unwrap();
        assert_eq!(output.status.code(), Some(0));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let retiring = explain(&["operation=vdcInstantiateVapp", "vdc.name=ber-retiring"]);
    assert!(retiring.starts_with("decision: fail"), "{retiring}");
    assert!(
        retiring.contains("by:       rule \"nothing new in VDCs being retired\""),
        "{retiring}"
    );
    assert!(
        retiring.contains("  vdc            name \"ber-retiring\", allocation_model unknown"),
        "{retiring}"
    );
    let open = explain(&["operation=vdcInstantiateVapp", "vdc.name=ber-1"]);
    assert!(open.starts_with("decision: resume"), "{open}");
    assert!(
        open.contains("vdc.name \"ber-1\" does not match \"*-retiring\""),
        "{open}"
    );
    let output = vcd_blockd()
        .arg("explain")
        .arg(&policy)
        .args(["--fact", "vdc.size=3"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0));
    assert!(stderr.contains("name, allocation_model"), "{stderr}");
}

#[test]
fn a_token_file_of_two_lines_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret-token\n[[approver]]\nname = \"carol\"\n").unwrap();
    let output = vcd_blockd()
        .args(["holds", "--url", "http://127.0.0.1:9", "--token-file"])
        .arg(&token)
        .arg("list")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "--token-file {} holds more than one line; a token file holds the token alone, on one line",
            token.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret-token"), "{stderr}");
    assert!(
        !stderr.contains("cannot reach"),
        "not blamed on the API: {stderr}"
    );
}

#[test]
fn check_names_where_a_bad_value_came_from_file_secret_file_or_variable() {
    let (dir, config) = config_dir();
    std::fs::write(dir.path().join("amqp-url"), "amqp//missing-colon\n").unwrap();
    let check = |text: &str, vars: &[(&str, &str)]| {
        std::fs::write(&config, text).unwrap();
        let output = vcd_blockd()
            .arg("check")
            .arg("-c")
            .arg(&config)
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let base = "[vcd]\nurl = \"https://vcd.example.com\"\npassword_file = \"pw\"\n\
                [policy]\npath = \"policy.toml\"\n";

    // The config file: its line and column.
    let stderr = check(&format!("{base}[log]\nformat = \"yaml\"\n"), &[]);
    assert!(
        stderr.starts_with(&format!(
            "{}:7:10: log.format: \"yaml\" is not one of text, json",
            config.display()
        )),
        "{stderr}"
    );

    // The file a `*_file` key named, and where that key was set.
    let stderr = check(&format!("{base}[amqp]\nurl_file = \"amqp-url\"\n"), &[]);
    assert!(
        stderr.starts_with(&format!(
            "{} (read through amqp.url_file, set at {}:7:12): amqp.url: not a URL",
            dir.path().join("amqp-url").display(),
            config.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("built-in default"), "{stderr}");

    // An environment variable: its value, or its name when it names no setting.
    let stderr = check(base, &[("VCD_BLOCKD__HOLDS__KEEPALIVE", "soon")]);
    assert!(
        stderr.starts_with("environment VCD_BLOCKD__HOLDS__KEEPALIVE: holds.keepalive: "),
        "{stderr}"
    );
    let stderr = check(base, &[("VCD_BLOCKD__HOLDS__KEEPALIFE", "5m")]);
    assert!(
        stderr.starts_with(
            "environment VCD_BLOCKD__HOLDS__KEEPALIFE: names no setting; did you mean \
             VCD_BLOCKD__HOLDS__KEEPALIVE?"
        ),
        "{stderr}"
    );
}

/// Runs the daemon against a broker that refuses it (`amqp_url`) until it has reconnected
/// three times, and returns its log (stderr, text format). `filter` is `log.filter`.
fn log_of_a_daemon_the_broker_refuses(amqp_url: &str, filter: &str) -> String {
    let (dir, config) = config_dir();
    let http_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        &config,
        format!(
            "[vcd]\nurl = \"http://127.0.0.1:9\"\npassword_file = \"pw\"\n\
             [amqp]\nurl = \"{amqp_url}\"\n\
             [http]\nlisten = \"127.0.0.1:{http_port}\"\n\
             [policy]\npath = \"policy.toml\"\n[log]\nfilter = \"{filter}\"\n"
        ),
    )
    .unwrap();
    let log_path = dir.path().join("daemon.log");
    let mut daemon = vcd_blockd()
        .arg("run")
        .arg("-c")
        .arg(&config)
        .env_remove("RUST_LOG")
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let reconnects = |log: &str| log.matches("AMQP session ended; reconnecting").count();
    let started = std::time::Instant::now();
    let mut log = String::new();
    while reconnects(&log) < 3 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the daemon never reconnected three times: {log}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
        log = std::fs::read_to_string(&log_path).unwrap();
    }
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(daemon.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(daemon.wait().unwrap().code(), Some(0));
    std::fs::read_to_string(&log_path).unwrap()
}

#[test]
fn a_refusing_broker_is_logged_by_the_daemon_alone_without_lapins_recovery_noise() {
    let noise = |log: &str| {
        log.lines()
            .filter(|line| line.contains("lapin") || line.contains("backoff attempts"))
            .count()
    };
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let refused = format!("amqp://guest:guest@127.0.0.1:{closed_port}/%2f");
    let wrong_password =
        crate::helpers::AMQP_URL.replace("guest:guest@", "guest:not-the-password@");
    assert_ne!(wrong_password, crate::helpers::AMQP_URL);
    for url in [&refused, &wrong_password] {
        let log = log_of_a_daemon_the_broker_refuses(url, "info");
        assert_eq!(noise(&log), 0, "{log}");
    }

    // The same daemon with lapin named in the filter shows lapin's own lines: what the
    // default filter keeps out is there to keep out.
    let log = log_of_a_daemon_the_broker_refuses(&wrong_password, "info,lapin=info");
    assert!(noise(&log) > 0, "{log}");
}
