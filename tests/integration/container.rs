//! The daemon as a container runs it: no config file anywhere, only `VCD_BLOCKD__*`
//! environment variables and secrets in mounted files; and on a system without CA
//! certificates (a minimal Debian without `ca-certificates`, an image without them).

use crate::helpers::{AMQP_URL, DaemonProcess, Options, World, eventually, free_port, http_client};
use vcd_sim::NewTask;

#[tokio::test(flavor = "multi_thread")]
async fn run_decides_tasks_configured_by_the_environment_alone() {
    if std::path::Path::new("/etc/vcd-blockd/config.toml").exists() {
        eprintln!("skipped: /etc/vcd-blockd/config.toml exists on this machine");
        return;
    }
    let world = World::without_daemon(Options {
        policy: "[defaults]\naction = \"resume\"\nmessage = \"configured by env\"\n".into(),
        ..Options::default()
    })
    .await;
    // The container's view: secrets mounted as files, policies in a mounted directory, a
    // working directory and HOME with no config in them, and no CA certificates (rustls reads
    // SSL_CERT_FILE and SSL_CERT_DIR instead of the system's store): a plain http:// vCD needs
    // none.
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(secrets.join("vcd-password"), "vmware\n").unwrap();
    std::fs::write(secrets.join("amqp-url"), AMQP_URL).unwrap();
    std::fs::write(
        policies.join("policy.toml"),
        "[defaults]\naction = \"resume\"\nmessage = \"configured by env\"\n",
    )
    .unwrap();
    let port = free_port();
    let path = |p: &std::path::Path| p.display().to_string();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_vcd-blockd"))
        .arg("run")
        .env_clear()
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("SSL_CERT_FILE", dir.path().join("no-ca.pem"))
        .env("SSL_CERT_DIR", dir.path().join("no-certs"))
        .env("VCD_BLOCKD__VCD__URL", world.sim.base_url())
        .env(
            "VCD_BLOCKD__VCD__PASSWORD_FILE",
            path(&secrets.join("vcd-password")),
        )
        .env(
            "VCD_BLOCKD__AMQP__URL_FILE",
            path(&secrets.join("amqp-url")),
        )
        .env("VCD_BLOCKD__AMQP__EXCHANGE", &world.xml_exchange)
        .env("VCD_BLOCKD__AMQP__QUEUE", &world.queue)
        .env("VCD_BLOCKD__AMQP__QUEUE_TYPE", "classic")
        .env("VCD_BLOCKD__POLICY__PATH", path(&policies))
        .env("VCD_BLOCKD__HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("VCD_BLOCKD__LOG__FORMAT", "json")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("vcd-blockd starts");
    let daemon = DaemonProcess::from(child);
    let readyz = format!("http://127.0.0.1:{port}/readyz");
    let client = http_client();
    eventually("the env-configured daemon is ready", || async {
        let response = client.get(&readyz).send().await.ok()?;
        response.status().is_success().then_some(())
    })
    .await;

    let id = world
        .create(NewTask {
            operation: "vdcUploadMedia".into(),
            ..NewTask::default()
        })
        .await;
    let view = world.wait_for_status(id, "resumed").await;
    assert!(
        view.actions
            .iter()
            .any(|a| a.accepted && a.message == "configured by env"),
        "{:?}",
        view.actions
    );
    daemon.kill();
    world.finish().await;
}

#[test]
fn without_ca_certificates_an_https_vcd_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[defaults]\naction = \"resume\"\n").unwrap();
    std::fs::write(dir.path().join("vcd-password"), "vmware\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vcd-blockd"))
        .arg("run")
        .env_clear()
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("SSL_CERT_FILE", dir.path().join("no-ca.pem"))
        .env("SSL_CERT_DIR", dir.path().join("no-certs"))
        .env("VCD_BLOCKD__VCD__URL", "https://vcd.invalid")
        .env(
            "VCD_BLOCKD__VCD__PASSWORD_FILE",
            dir.path().join("vcd-password"),
        )
        .env("VCD_BLOCKD__POLICY__PATH", &policy)
        .env("VCD_BLOCKD__HTTP__LISTEN", "127.0.0.1:0")
        .output()
        .expect("vcd-blockd runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("No CA certificates were loaded from the system"),
        "the cause, not only \"builder error\": {stderr}"
    );
}
