//! `vcd-sim`: runs the simulated vCD from the command line until SIGINT or SIGTERM. Parses the
//! arguments into a `SimConfig` and hands over to the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use vcd_duration::parse_duration;
use vcd_sim::{PastTask, Sim, SimConfig};

/// The control endpoints, for `--help`; docs/vcd-sim.md has the whole reference.
const CONTROL_API: &str = "\
Control endpoints (JSON, under /sim/, not recorded as vCD calls):
  POST /sim/tasks          create a blocking task, as a tenant's operation would, and publish
                           its notification: {\"operation\", \"org\", \"user\", \"owner_type\",
                           \"owner_name\", \"description\", \"vms\", \"media\", \"metadata\", \"vdc\",
                           \"owner_gone\"}, every field optional; 201 {\"id\"}, or 409 when the
                           cloud's blocking task settings do not list the operation
  GET  /sim/tasks[/{id}]   the tasks and every action attempted on them
  GET  /sim/calls          every vCD API request, in arrival order
  GET  /sim/load           requests being answered now, the most at once, how many answered
  POST /sim/history        add past tasks to the task history (type=adminTask queries):
                           [{\"operation\", \"org\", \"user\", \"status\", \"started\",
                           \"ended\", \"object\"}, ...]
  PUT  /sim/faults         inject faults ({} clears them): latency_ms, error_rate_5xx,
                           rate_limit_rate, retry_after_secs, not_found_first_reads,
                           session_ttl_requests, refuse_update_progress, refuse_actions, ...
  POST /sim/sessions/expire  every session answers 401 from now on
The vCD API it serves includes the cloud's settings: GET|PUT
/api/admin/extension/settings/blockingTask (until a PUT every operation blocks), GET
.../settings/amqp and .../settings/notifications. Reference: docs/vcd-sim.md.";

/// A stand-in for VMware Cloud Director's blocking-task API and AMQP notifications.
#[derive(Debug, Parser)]
#[command(version, after_help = CONTROL_API)]
struct Args {
    /// HTTP listen address (plain HTTP)
    #[arg(long, env = "VCD_SIM_LISTEN", default_value = "127.0.0.1:9440")]
    listen: SocketAddr,
    /// RabbitMQ URL notifications are published to, e.g. amqp://guest:guest@127.0.0.1:5672/%2f;
    /// without it the sim serves the API only and publishes no notifications
    #[arg(long, env = "VCD_SIM_AMQP_URL")]
    amqp_url: Option<String>,
    /// Exchange for XML notifications (vCD's AmqpExchange)
    #[arg(long, default_value = "systemExchange")]
    exchange: String,
    /// vCD's AmqpPrefix: JSON notifications go to <PREFIX>.notifications20
    #[arg(long, default_value = "vcd")]
    prefix: String,
    /// Highest API version served; 38.0 and later have no /api/sessions
    #[arg(long, default_value = "37.2")]
    api_version: String,
    /// System administrator accepted by the logins
    #[arg(long, default_value = "administrator@System")]
    user: String,
    /// File holding the administrator's password (trailing newline ignored)
    #[arg(long, conflicts_with = "password")]
    password_file: Option<PathBuf>,
    /// The administrator's password
    #[arg(long, default_value = "vmware")]
    password: String,
    /// Refresh token accepted by /oauth/provider/token
    #[arg(long, default_value = "sim-api-token")]
    api_token: String,
    /// Cloud-wide blocking task timeout, e.g. 30s, 10m, 1h30m
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    task_timeout: Duration,
    /// Action applied when a task times out
    #[arg(long, default_value = "abort", value_parser = ["abort", "fail", "resume"])]
    timeout_action: String,
    /// Write JSON timestamps as "2012-10-08 16:23:08.842" (older vCD) instead of RFC 3339
    #[arg(long)]
    json_legacy_timestamps: bool,
    /// Keep only the first N API calls in the call log (`GET /sim/calls`); default: all.
    #[arg(long, value_name = "N")]
    call_log_limit: Option<usize>,
    /// A JSON file of past tasks for the task history (type=adminTask queries), as
    /// `POST /sim/history` takes them
    #[arg(long, value_name = "FILE")]
    history: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Delete what a run left on the broker (at --amqp-url), then exit: the exchanges named
    /// with --delete-exchange and a vcd-blockd queue with its companions (<QUEUE>,
    /// <QUEUE>.dead, <QUEUE>.leader and the exchange <QUEUE>.dlx). Missing ones are fine. For
    /// demos and scripts that must leave the broker as they found it.
    CleanBroker {
        /// An exchange to delete (repeatable), e.g. the demo's own.
        #[arg(long = "delete-exchange", value_name = "EXCHANGE")]
        exchanges: Vec<String>,
        /// The vcd-blockd queue (amqp.queue) whose objects go too.
        #[arg(long)]
        queue: Option<String>,
    },
}

impl Args {
    fn into_config(self) -> Result<SimConfig, String> {
        let password = match &self.password_file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read --password-file {}: {e}", path.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            None => self.password,
        };
        Ok(SimConfig {
            listen: self.listen,
            amqp_url: self.amqp_url,
            xml_exchange: self.exchange,
            json_prefix: self.prefix,
            api_version: self.api_version,
            user: self.user,
            password,
            api_token: self.api_token,
            task_timeout: self.task_timeout,
            timeout_action: self.timeout_action,
            json_legacy_timestamps: self.json_legacy_timestamps,
            call_log_limit: self.call_log_limit,
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Some(Command::CleanBroker { exchanges, queue }) = &args.command {
        let Some(url) = &args.amqp_url else {
            eprintln!("vcd-sim: clean-broker needs --amqp-url");
            return ExitCode::from(2);
        };
        return match vcd_sim::clean_broker(url, exchanges, queue.as_deref()).await {
            Ok(deleted) => {
                println!("deleted from the broker: {}", deleted.join(", "));
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("vcd-sim: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let history = match args.history.as_deref().map(read_history).transpose() {
        Ok(history) => history.unwrap_or_default(),
        Err(message) => {
            eprintln!("vcd-sim: {message}");
            return ExitCode::from(2);
        }
    };
    let config = match args.into_config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("vcd-sim: {message}");
            return ExitCode::from(2);
        }
    };
    let sim = match Sim::start(config).await {
        Ok(sim) => sim,
        Err(error) => {
            eprintln!("vcd-sim: {error}");
            return ExitCode::FAILURE;
        }
    };
    sim.load_history(history);
    println!("vcd-sim listening on {}", sim.base_url());
    wait_for_signal().await;
    tracing::info!("shutting down");
    sim.shutdown().await;
    ExitCode::SUCCESS
}

/// The past tasks of a `--history` file.
fn read_history(path: &std::path::Path) -> Result<Vec<PastTask>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read --history {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("--history {}: {e}", path.display()))
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot watch SIGTERM; only SIGINT stops the sim");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_timeout_takes_durations_like_the_daemon_config() {
        let timeout = |text: &str| {
            Args::try_parse_from(["vcd-sim", "--task-timeout", text]).map(|args| args.task_timeout)
        };
        assert_eq!(timeout("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(timeout("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(timeout("250ms").unwrap(), Duration::from_millis(250));
        assert!(timeout("10").is_err());
        assert!(timeout("5 minutes").is_err());
        assert!(timeout("").is_err());
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
