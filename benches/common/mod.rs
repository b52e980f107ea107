//! What the holds and drain benchmarks share: the broker's address, a vcd-sim in this process
//! publishing to exchanges of the run's own, a free port for the daemon, `main`'s runtime, and
//! the teardown that removes every broker object a run created.

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection, ConnectionProperties};
use vcd_sim::{Sim, SimConfig};

/// The shared RabbitMQ the benchmarks need (guest/guest on 127.0.0.1:5672).
pub(crate) const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A started vcd-sim and the names of the run (`tag` is unique per run).
pub(crate) struct RunSim {
    pub sim: Sim,
    pub tag: String,
    /// Where the sim publishes vCD's XML notifications.
    pub xml_exchange: String,
    /// Where it publishes the JSON ones.
    pub json_exchange: String,
}

/// Starts vcd-sim for a `kind` of benchmark ("bench", "drain"): tasks never time out during
/// the run (only the daemon may decide or keep them alive), and the sim keeps only the first
/// 1,000 calls (hundreds of thousands would otherwise stay in memory).
pub(crate) async fn start_sim(kind: &str) -> Result<RunSim, String> {
    let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let xml_exchange = format!("systemExchange-{kind}-{tag}");
    let json_prefix = format!("vcd-{kind}-{tag}");
    let sim = Sim::start(SimConfig {
        amqp_url: Some(AMQP_URL.into()),
        xml_exchange: xml_exchange.clone(),
        json_prefix: json_prefix.clone(),
        task_timeout: Duration::from_secs(6 * 3600),
        call_log_limit: Some(1000),
        ..SimConfig::default()
    })
    .await
    .map_err(|e| format!("vcd-sim does not start (is RabbitMQ on 127.0.0.1:5672?): {e}"))?;
    Ok(RunSim {
        sim,
        tag,
        xml_exchange,
        json_exchange: format!("{json_prefix}.notifications20"),
    })
}

/// Removes what a run left on the broker: the daemon's `queue` with the objects the daemon
/// declares beside it (`<queue>.dead`, the durable leader queue `<queue>.leader`, the journal
/// stream `<queue>.journal`, the
/// dead-letter exchange `<queue>.dlx`), the sim's two exchanges, and the run's own
/// `extra_queues`. Objects already gone are skipped; a broker out of reach is reported on
/// stderr, as the run's figures still stand.
pub(crate) async fn remove_broker_objects(
    queue: &str,
    sim_exchanges: [&str; 2],
    extra_queues: &[&str],
) {
    let Ok(connection) = Connection::connect(AMQP_URL, ConnectionProperties::default()).await
    else {
        eprintln!("cannot reach RabbitMQ to remove {queue} and its exchanges");
        return;
    };
    if let Ok(channel) = connection.create_channel().await {
        let daemon_queues = [
            queue.to_owned(),
            format!("{queue}.dead"),
            format!("{queue}.leader"),
            format!("{queue}.journal"),
        ];
        let queues = daemon_queues
            .iter()
            .map(String::as_str)
            .chain(extra_queues.iter().copied());
        for name in queues {
            let _ = channel
                .queue_delete(name.into(), QueueDeleteOptions::default())
                .await;
        }
        let dead_letter_exchange = format!("{queue}.dlx");
        for name in [dead_letter_exchange.as_str()]
            .into_iter()
            .chain(sim_exchanges)
        {
            let _ = channel
                .exchange_delete(name.into(), ExchangeDeleteOptions::default())
                .await;
        }
    }
    let _ = connection.close(200, "benchmark done".into()).await;
}

/// A port that was free a moment ago, for the daemon's HTTP listener.
pub(crate) fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(|e| e.to_string())
}

/// Runs a benchmark on a multi-threaded runtime; an error is printed as "`name` benchmark
/// failed: …" and exits with failure.
pub(crate) fn run_main(
    name: &str,
    benchmark: impl Future<Output = Result<(), String>>,
) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start a runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(benchmark) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{name} benchmark failed: {error}");
            ExitCode::FAILURE
        }
    }
}
