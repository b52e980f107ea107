//! The benchmark's world: vcd-sim in this process, a directory with the daemon's config, secret
//! files and a policy that holds every task, and exchange and queue names of its own on the
//! shared RabbitMQ, removed again at the end.

use std::path::PathBuf;

use vcd_sim::Sim;

use crate::common::{AMQP_URL, RunSim, free_port, remove_broker_objects, start_sim};

/// What the daemon is configured with; see `Params` in `main.rs`.
pub(crate) struct Setup<'a> {
    pub keepalive: &'a str,
    pub extend_by: &'a str,
    pub reconcile: &'a str,
    pub log_filter: &'a str,
}

pub(crate) struct World {
    pub sim: Sim,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub http_port: u16,
    queue: String,
    xml_exchange: String,
    json_exchange: String,
}

impl World {
    pub(crate) async fn start(setup: &Setup<'_>) -> Result<World, String> {
        let RunSim {
            sim,
            tag,
            xml_exchange,
            json_exchange,
        } = start_sim("bench").await?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let http_port = free_port()?;
        let queue = format!("vcd-blockd-bench-{tag}");
        let world = World {
            config: dir.path().join("config.toml"),
            sim,
            dir,
            http_port,
            queue,
            xml_exchange,
            json_exchange,
        };
        world.write_files(setup)?;
        Ok(world)
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write_files(&self, setup: &Setup<'_>) -> Result<(), String> {
        let write = |name: &str, text: &str| {
            std::fs::write(self.path(name), text).map_err(|e| format!("{name}: {e}"))
        };
        write("vcd-password", "vmware\n")?;
        write("amqp-url", AMQP_URL)?;
        write("policy.toml", &hold_everything_policy(setup.keepalive))?;
        write("config.toml", &self.daemon_config(setup))
    }

    fn daemon_config(&self, setup: &Setup<'_>) -> String {
        format!(
            r#"[vcd]
url = "{url}"
auth = "password"
password_file = "vcd-password"
request_timeout = "30s"

[amqp]
url_file = "amqp-url"
exchange = "{exchange}"
format = "xml"
queue = "{queue}"
queue_type = "classic"

[policy]
path = "policy.toml"

[holds]
keepalive = "{keepalive}"
extend_by = "{extend_by}"

[reconcile]
interval = "{reconcile}"

[http]
listen = "127.0.0.1:{port}"

[log]
format = "text"
filter = "{filter}"
"#,
            url = self.sim.base_url(),
            exchange = self.xml_exchange,
            queue = self.queue,
            keepalive = setup.keepalive,
            extend_by = setup.extend_by,
            reconcile = setup.reconcile,
            port = self.http_port,
            filter = setup.log_filter,
        )
    }

    /// Stops the sim and removes the queues and exchanges this run created, and the
    /// directory unless `keep_dir`; returns the directory when kept.
    pub(crate) async fn finish(self, keep_dir: bool) -> Option<PathBuf> {
        self.sim.shutdown().await;
        remove_broker_objects(&self.queue, [&self.xml_exchange, &self.json_exchange], &[]).await;
        keep_dir.then(|| self.dir.keep())
    }
}

/// One rule without match keys: it matches, and holds, every task.
fn hold_everything_policy(keepalive: &str) -> String {
    format!(
        r#"[defaults]
action = "abort"

[[rule]]
name = "benchmark: hold every task"
action = "hold"
hold = {{ max = "48h", fallback = "abort", keepalive = "{keepalive}" }}
message = "Waiting for approval: {{operation}} by {{user}}@{{org}}"
"#
    )
}
