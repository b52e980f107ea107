//! Journal benchmark: how long a new leader takes to read a journal of 100,000 records before
//! it serves approvals, and how long poll mode's start takes to read a file of as many.
//!
//! The stream case fills a fresh stream `<queue>.journal` on the shared RabbitMQ with
//! `RECORDS` records (70 % decisions, 25 % recorded approvals, 5 % reminders, as the daemon
//! writes them), then starts the real daemon in this process `RUNS` times on that queue and
//! times its start until it leads: each start is a takeover, which reads the whole stream up to
//! the mark it writes. The same is timed with an empty stream, so the difference is the read.
//! The file case writes as many records to `journal.jsonl` and times `Journal::replay`.
//!
//! Run with `cargo bench --bench journal` (RabbitMQ on 127.0.0.1:5672). Parameters, from the
//! environment: `RECORDS` (100000), `RUNS` (3). See BENCHMARKS.md.

#[path = "common/mod.rs"]
mod common;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use vcd_blockd::{Daemon, Health, Journal, Metrics, Settings};

/// The most confirms awaited at once while the stream is filled.
const PUBLISH_BATCH: usize = 5_000;

fn main() -> ExitCode {
    let number = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.replace('_', "").parse().ok())
            .unwrap_or(default)
    };
    let records = number("RECORDS", 100_000);
    let runs = number("RUNS", 3).max(1);
    common::run_main("journal", benchmark(records, runs))
}

async fn benchmark(records: usize, runs: usize) -> Result<(), String> {
    vcd_blockd::install_crypto_provider();
    println!("journal benchmark: {records} records, {runs} takeovers each");
    let lines = journal_lines(records);
    let bytes: usize = lines.iter().map(|line| line.len() + 1).sum();
    println!(
        "records: {:.1} MiB, {} bytes each on average",
        bytes as f64 / (1 << 20) as f64,
        bytes / records.max(1)
    );
    let file = file_replay(&lines)?;
    println!("file: Journal::replay of journal.jsonl: {}", millis(file));
    let run = common::start_sim("journal").await?;
    let queue = format!("vcd-blockd-journal-bench-{}", run.tag);
    let stream = format!("{queue}.journal");
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let settings = write_config(dir.path(), &run.sim.base_url(), &run.xml_exchange, &queue)?;
    let result = async {
        let empty = takeovers(&settings, runs).await?;
        println!("stream, empty: start to leading: {}", summary(&empty));
        let filled = Instant::now();
        fill_stream(&stream, &lines).await?;
        println!(
            "stream: {records} records published and confirmed in {}",
            millis(filled.elapsed())
        );
        let full = takeovers(&settings, runs).await?;
        println!(
            "stream, {records} records: start to leading: {}",
            summary(&full)
        );
        let median = |times: &[Duration]| times[times.len() / 2];
        let read = median(&full).saturating_sub(median(&empty));
        println!(
            "the read itself (median difference): {}; target: under 2 s for 100,000 records",
            millis(read)
        );
        Ok::<(), String>(())
    }
    .await;
    run.sim.shutdown().await;
    common::remove_broker_objects(&queue, [&run.xml_exchange, &run.json_exchange], &[&stream])
        .await;
    result
}

/// `records` encoded records as the daemon writes them, one per line (without the line end).
fn journal_lines(records: usize) -> Vec<String> {
    let at = chrono::Utc::now();
    (0..records)
        .map(|i| {
            let task_id = uuid::Uuid::new_v4().to_string();
            let at = (at + chrono::Duration::milliseconds(i as i64)).to_rfc3339();
            let record = match i % 20 {
                0 => serde_json::json!({"v": 1, "kind": "reminder", "task_id": task_id, "at": at}),
                1..=5 => serde_json::json!({
                    "v": 1, "kind": "approval", "task_id": task_id, "approver": "carol", "at": at,
                }),
                _ => serde_json::json!({
                    "v": 1, "kind": "decision", "task_id": task_id,
                    "operation": "vdcInstantiateVapp", "org": "prod-eu", "user": "erin",
                    "rule": "production deployments need an approver", "action": "resume",
                    "approvers": ["carol", "dave"], "at": at,
                }),
            };
            record.to_string()
        })
        .collect()
}

fn file_replay(lines: &[String]) -> Result<Duration, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(dir.path().join("journal.jsonl"), text).map_err(|e| e.to_string())?;
    let journal = Journal::file(
        dir.path(),
        Arc::new(Metrics::new()),
        Arc::new(Health::default()),
    );
    // The replay runs on a runtime of its own in a thread of its own: this function is called
    // from the benchmark's runtime, where another may be neither entered nor dropped.
    let (read, took) = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                let started = Instant::now();
                let read = runtime
                    .block_on(journal.replay())
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>((read, started.elapsed()))
            })
            .join()
            .map_err(|_| "the replay panicked".to_owned())
    })??;
    if read != lines.len() {
        return Err(format!("{read} records read of {}", lines.len()));
    }
    Ok(took)
}

/// Publishes every line, with publisher confirms.
async fn fill_stream(stream: &str, lines: &[String]) -> Result<(), String> {
    let connection = Connection::connect(common::AMQP_URL, ConnectionProperties::default())
        .await
        .map_err(|e| e.to_string())?;
    let channel = connection
        .create_channel()
        .await
        .map_err(|e| e.to_string())?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    // The daemon declared the stream, with its retention, during the empty takeovers; a
    // declaration with other arguments would be refused (PRECONDITION_FAILED), so this one only
    // checks that it is there.
    let passive = QueueDeclareOptions {
        passive: true,
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(stream.into(), passive, FieldTable::default())
        .await
        .map_err(|e| format!("the journal stream {stream}: {e}"))?;
    for batch in lines.chunks(PUBLISH_BATCH) {
        let mut confirms = Vec::with_capacity(batch.len());
        for line in batch {
            let confirm = channel
                .basic_publish(
                    "".into(),
                    stream.into(),
                    BasicPublishOptions::default(),
                    line.as_bytes(),
                    BasicProperties::default().with_delivery_mode(2),
                )
                .await
                .map_err(|e| e.to_string())?;
            confirms.push(confirm);
        }
        for confirm in confirms {
            confirm.await.map_err(|e| e.to_string())?;
        }
    }
    let _ = connection.close(200, "filled".into()).await;
    Ok(())
}

/// Starts the daemon `runs` times and times each start until it leads.
async fn takeovers(settings: &Settings, runs: usize) -> Result<Vec<Duration>, String> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let daemon = Daemon::start(settings.clone())
            .await
            .map_err(|e| e.to_string())?;
        while !daemon.is_leader() {
            if started.elapsed() > Duration::from_secs(120) {
                daemon.stop().await;
                return Err("the daemon did not lead within 120 s".to_owned());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        times.push(started.elapsed());
        daemon.stop().await;
    }
    times.sort();
    Ok(times)
}

fn write_config(
    dir: &std::path::Path,
    vcd_url: &str,
    exchange: &str,
    queue: &str,
) -> Result<Settings, String> {
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"))
    };
    write("vcd-password", "vmware\n")?;
    write("amqp-url", common::AMQP_URL)?;
    write("policy.toml", "[defaults]\naction = \"resume\"\n")?;
    let config = format!(
        r#"[vcd]
url = "{vcd_url}"
password_file = "vcd-password"

[amqp]
url_file = "amqp-url"
exchange = "{exchange}"
queue = "{queue}"
queue_type = "classic"

[policy]
path = "policy.toml"

[reconcile]
interval = "1h"

[http]
listen = "127.0.0.1:{port}"

[state]
dir = "{state}"
"#,
        state = dir.join("state").display(),
        port = common::free_port()?,
    );
    write("config.toml", &config)?;
    Settings::load_with_env(Some(&dir.join("config.toml")), &Default::default())
        .map_err(|e| e.to_string())
}

fn millis(duration: Duration) -> String {
    format!("{:.0} ms", duration.as_secs_f64() * 1000.0)
}

fn summary(times: &[Duration]) -> String {
    let all: Vec<String> = times.iter().map(|t| millis(*t)).collect();
    format!(
        "median {} (runs: {})",
        millis(times[times.len() / 2]),
        all.join(", ")
    )
}
