//! The drain benchmark's world: vcd-sim in this process, a config whose policy resumes every
//! task, the daemon's queue declared by one short daemon start, and beside it an "ack-only"
//! queue bound to the same exchange, so the same notifications reach both. Every broker object
//! is named for the run and removed at the end.

use std::path::PathBuf;
use std::time::Duration;

use lapin::options::{QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};
use vcd_sim::Sim;

use crate::common::{AMQP_URL, RunSim, free_port, remove_broker_objects, start_sim};
use crate::process::DaemonProcess;

/// How the daemon is configured; unset values keep the daemon's defaults.
pub(crate) struct Setup {
    pub max_in_flight: Option<usize>,
    pub prefetch: Option<u16>,
}

pub(crate) struct World {
    pub sim: Sim,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub http_port: u16,
    pub queue: String,
    /// Receives a copy of every notification; the ack-only consumer drains it.
    pub ack_only_queue: String,
    xml_exchange: String,
    json_exchange: String,
    connection: Connection,
    pub channel: Channel,
}

impl World {
    pub(crate) async fn start(setup: &Setup) -> Result<World, String> {
        let RunSim {
            sim,
            tag,
            xml_exchange,
            json_exchange,
        } = start_sim("drain").await?;
        let connection = Connection::connect(AMQP_URL, ConnectionProperties::default())
            .await
            .map_err(|e| format!("RabbitMQ: {e}"))?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| e.to_string())?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let queue = format!("vcd-blockd-drain-{tag}");
        let world = World {
            config: dir.path().join("config.toml"),
            sim,
            dir,
            http_port: free_port()?,
            ack_only_queue: format!("{queue}.ack-only"),
            queue,
            xml_exchange,
            json_exchange,
            connection,
            channel,
        };
        world.write_files(setup)?;
        world.declare().await?;
        Ok(world)
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The daemon declares its own queue (with its arguments) on a first short start; the
    /// ack-only queue is a plain classic queue with the same binding.
    async fn declare(&self) -> Result<(), String> {
        let mut daemon =
            DaemonProcess::start(&self.config, &self.path("declare.log"), self.http_port)?;
        daemon.wait_ready(Duration::from_secs(60)).await?;
        daemon.stop(Duration::from_secs(30)).await?;
        self.channel
            .queue_declare(
                self.ack_only_queue.as_str().into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| e.to_string())?;
        self.channel
            .queue_bind(
                self.ack_only_queue.as_str().into(),
                self.xml_exchange.as_str().into(),
                "#.blockingtask.create.#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| e.to_string())
    }

    /// Messages ready in `queue`.
    pub(crate) async fn ready(&self, queue: &str) -> Result<u32, String> {
        let declared = self
            .channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(declared.message_count())
    }

    fn write_files(&self, setup: &Setup) -> Result<(), String> {
        let write = |name: &str, text: &str| {
            std::fs::write(self.path(name), text).map_err(|e| format!("{name}: {e}"))
        };
        write("vcd-password", "vmware\n")?;
        write("amqp-url", AMQP_URL)?;
        write("policy.toml", "[defaults]\naction = \"resume\"\n")?;
        let max_in_flight = setup
            .max_in_flight
            .map_or_else(String::new, |n| format!("max_in_flight = {n}"));
        let prefetch = setup
            .prefetch
            .map_or_else(String::new, |n| format!("prefetch = {n}"));
        write(
            "config.toml",
            &format!(
                r#"[vcd]
url = "{url}"
auth = "password"
password_file = "vcd-password"
{max_in_flight}

[amqp]
url_file = "amqp-url"
exchange = "{exchange}"
queue = "{queue}"
queue_type = "classic"
{prefetch}

[policy]
path = "policy.toml"

[reconcile]
interval = "1h"

[http]
listen = "127.0.0.1:{port}"

[log]
filter = "warn"
"#,
                url = self.sim.base_url(),
                exchange = self.xml_exchange,
                queue = self.queue,
                port = self.http_port,
            ),
        )
    }

    /// Stops the sim and removes every broker object of the run.
    pub(crate) async fn finish(self) {
        self.sim.shutdown().await;
        let _ = self.connection.close(200, "benchmark done".into()).await;
        remove_broker_objects(
            &self.queue,
            [&self.xml_exchange, &self.json_exchange],
            &[&self.ack_only_queue],
        )
        .await;
    }
}
