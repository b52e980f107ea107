//! Drain benchmark: `TASKS` blocking tasks are announced while the daemon is stopped, then it
//! starts and decides them all (a policy that resumes every task: one GET and one POST each),
//! against vcd-sim answering every call after 0, 50 and 200 ms. Reported per latency, as the
//! median of `RUNS` runs: tasks per second, time to drain, the daemon's peak RSS and CPU
//! seconds, the most requests vcd-sim saw at once, and in the same run the limits: the bound
//! `TASKS × 2 × latency / max_in_flight`, a consumer that only acknowledges the same
//! notifications (the broker's rate) and the sim's own request rate. With the fast stand-in
//! (0 ms) the first run also measures the steady state: `STEADY_RATE` tasks a second for
//! `STEADY_SECS`, publish-to-action latency and RSS.
//!
//! Run with `cargo bench --bench drain` (RabbitMQ on 127.0.0.1:5672). Parameters, from the
//! environment: `TASKS` (10000), `LATENCIES` (ms, "0,50,200"), `RUNS` (3; runs at 200 ms and
//! more: `SLOW_RUNS`, 1), `MAX_IN_FLIGHT` and `PREFETCH` (unset: the daemon's defaults),
//! `STEADY_RATE` (200), `STEADY_SECS` (30, 0 skips), `OVERLOAD_SECS` (0: vCD answers 503 to
//! 30 % of calls for this long from 2 s after the start, then recovers; a per-second timeline
//! is printed), `DAEMON_BIN` (another build of the daemon, e.g. the static musl one),
//! `KEEP_LOG` (a directory: each run's daemon log is copied there; the daemon's own
//! `VCD_BLOCKD__LOG__FILTER` sets how much it holds).
//! See BENCHMARKS.md.

#[path = "../common/mod.rs"]
mod common;
mod limits;
#[allow(
    dead_code,
    reason = "shared with the holds benchmark, which uses all of it"
)]
#[path = "../holds/process.rs"]
mod process;
#[allow(
    dead_code,
    reason = "shared with the holds benchmark, which uses all of it"
)]
#[path = "../holds/prom.rs"]
mod prom;
mod world;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use process::DaemonProcess;
use prom::Scrape;
use vcd_sim::{Faults, NewTask};
use world::{Setup, World};

const DECISIONS: &str = "vcd_blockd_decisions_total";
const LIMIT: &str = "vcd_blockd_vcd_concurrency_limit";
const POLL: Duration = Duration::from_millis(100);
/// The daemon's default `vcd.max_in_flight`.
const DEFAULT_MAX_IN_FLIGHT: usize = 64;

struct Params {
    tasks: usize,
    latencies: Vec<u64>,
    runs: usize,
    slow_runs: usize,
    max_in_flight: Option<usize>,
    prefetch: Option<u16>,
    steady_rate: u64,
    steady_secs: u64,
    overload_secs: u64,
}

impl Params {
    fn from_env() -> Params {
        let number = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.replace('_', "").parse::<u64>().ok())
        };
        let latencies = std::env::var("LATENCIES")
            .unwrap_or_else(|_| "0,50,200".into())
            .split(',')
            .filter_map(|v| v.trim().parse().ok())
            .collect();
        Params {
            tasks: number("TASKS").unwrap_or(10_000) as usize,
            latencies,
            runs: number("RUNS").unwrap_or(3).max(1) as usize,
            slow_runs: number("SLOW_RUNS").unwrap_or(1).max(1) as usize,
            max_in_flight: number("MAX_IN_FLIGHT").map(|n| n as usize),
            prefetch: number("PREFETCH").map(|n| n.min(u64::from(u16::MAX)) as u16),
            steady_rate: number("STEADY_RATE").unwrap_or(200),
            steady_secs: number("STEADY_SECS").unwrap_or(30),
            overload_secs: number("OVERLOAD_SECS").unwrap_or(0),
        }
    }

    fn max_in_flight(&self) -> usize {
        self.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT)
    }

    /// The prefetch the daemon computes: `max_in_flight`, capped by `PREFETCH`.
    fn prefetch(&self) -> u16 {
        let follow = self.max_in_flight().min(usize::from(u16::MAX)) as u16;
        self.prefetch.map_or(follow, |cap| cap.min(follow))
    }
}

/// One drain.
#[derive(Debug, Clone, Default)]
struct Run {
    drain: Duration,
    cpu: Duration,
    peak_kib: u64,
    sim_max_in_flight: usize,
    /// vCD API calls the sim answered during the drain, per task (a GET and a POST: 2).
    calls_per_task: f64,
    ack_only_rate: f64,
    sim_rate: f64,
    /// The daemon's concurrency limit: the highest it reached, and the lowest after that.
    limits: Limits,
    steady: Option<Steady>,
}

#[derive(Debug, Clone, Default)]
struct Steady {
    tasks: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Which task was slowest (0-based, in announcement order), and its id.
    slowest: (usize, uuid::Uuid),
    /// The longest the sim waited for RabbitMQ to confirm a publish (it records a task's
    /// creation before publishing, so this wait is part of publish → action).
    slowest_publish: Duration,
    rss_kib: u64,
}

fn main() -> ExitCode {
    let params = Params::from_env();
    common::run_main("drain", run(&params))
}

async fn run(params: &Params) -> Result<(), String> {
    say(&format!(
        "{} tasks; vCD latencies {:?} ms; max_in_flight {}, prefetch {}; daemon {}",
        params.tasks,
        params.latencies,
        params.max_in_flight(),
        params.prefetch(),
        std::env::var("DAEMON_BIN").unwrap_or_else(|_| "built by cargo bench".into())
    ));
    say(&format!(
        "load average before the run: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    ));
    let mut table = Vec::new();
    for &latency in &params.latencies {
        let runs = if latency >= 200 {
            params.slow_runs
        } else {
            params.runs
        };
        let mut results = Vec::new();
        for index in 0..runs {
            let steady = latency == 0 && index == 0 && params.steady_secs > 0;
            let result = one_run(params, latency, steady).await?;
            say(&format!(
                "{latency} ms, run {}: {:.0} tasks/s, drained in {:.2?}, peak RSS {} KiB, {:.2} CPU s, sim saw ≤ {} at once; ack-only {:.0}/s, sim {:.0} req/s",
                index + 1,
                params.tasks as f64 / result.drain.as_secs_f64(),
                result.drain,
                result.peak_kib,
                result.cpu.as_secs_f64(),
                result.sim_max_in_flight,
                result.ack_only_rate,
                result.sim_rate
            ));
            results.push(result);
        }
        table.push((latency, results));
    }
    print_report(params, &table);
    Ok(())
}

async fn one_run(params: &Params, latency: u64, steady: bool) -> Result<Run, String> {
    let setup = Setup {
        max_in_flight: params.max_in_flight,
        prefetch: params.prefetch,
    };
    let world = World::start(&setup).await?;
    let result = drain(&world, params, latency, steady).await;
    world.finish().await;
    result
}

async fn drain(world: &World, params: &Params, latency: u64, steady: bool) -> Result<Run, String> {
    let ids = announce(world, params.tasks).await?;
    world.sim.set_faults(Faults {
        latency_ms: latency,
        ..Faults::default()
    });
    let calls_before = world.sim.load().answered;
    let mut daemon =
        DaemonProcess::start(&world.config, &world.path("daemon.log"), world.http_port)?;
    let started = Instant::now();
    daemon.wait_ready(Duration::from_secs(60)).await?;
    let (drain, limits) = follow(world, &daemon, params, started, latency).await?;
    let cpu = daemon.cpu()?;
    let peak_kib = daemon.memory()?.peak_kib;
    let load = world.sim.load();
    let sim_max_in_flight = load.max_in_flight;
    let calls_per_task = (load.answered - calls_before) as f64 / params.tasks as f64;
    let steady = if steady {
        Some(steady_state(world, &daemon, params).await?)
    } else {
        None
    };
    daemon.stop(Duration::from_secs(30)).await?;
    if let Some(dir) = std::env::var_os("KEEP_LOG") {
        let kept = std::path::Path::new(&dir).join(format!("drain-{latency}ms-daemon.log"));
        std::fs::copy(world.path("daemon.log"), &kept)
            .map_err(|e| format!("KEEP_LOG: {}: {e}", kept.display()))?;
        say(&format!("daemon log kept in {}", kept.display()));
    }
    let ack_only_rate = limits::ack_only_rate(world, params.tasks, params.prefetch()).await?;
    let sim_rate = limits::sim_rate(
        world,
        ids[0],
        params.max_in_flight(),
        Duration::from_secs(3),
    )
    .await?;
    Ok(Run {
        drain,
        cpu,
        peak_kib,
        sim_max_in_flight,
        calls_per_task,
        ack_only_rate,
        sim_rate,
        limits,
        steady,
    })
}

/// Creates `count` tasks in the sim, each announced on the exchange, 64 at a time, and waits
/// until the daemon's queue holds them all.
async fn announce(world: &World, count: usize) -> Result<Vec<uuid::Uuid>, String> {
    let started = Instant::now();
    let mut ids = Vec::with_capacity(count);
    let mut pending = tokio::task::JoinSet::new();
    for _ in 0..count {
        if pending.len() >= 64
            && let Some(done) = pending.join_next().await
        {
            ids.push(created(done)?);
        }
        let sim = world.sim.clone();
        pending.spawn(async move { sim.create_task(NewTask::default()).await });
    }
    while let Some(done) = pending.join_next().await {
        ids.push(created(done)?);
    }
    while (world.ready(&world.queue).await? as usize) < count {
        tokio::time::sleep(POLL).await;
    }
    say(&format!(
        "{count} tasks announced in {:.1?}",
        started.elapsed()
    ));
    Ok(ids)
}

fn created(
    done: Result<Result<uuid::Uuid, vcd_sim::SimError>, tokio::task::JoinError>,
) -> Result<uuid::Uuid, String> {
    done.map_err(|e| e.to_string())?.map_err(|e| e.to_string())
}

/// Waits until every task is decided; returns the time since the daemon was started and the
/// concurrency limits seen. With `OVERLOAD_SECS`, injects the 503s and prints the
/// timeline.
async fn follow(
    world: &World,
    daemon: &DaemonProcess,
    params: &Params,
    started: Instant,
    latency: u64,
) -> Result<(Duration, Limits), String> {
    let target = params.tasks as f64;
    let mut limits = Limits::default();
    let mut overload = (params.overload_secs > 0).then_some(OverloadPhase::Before);
    let mut last_second = (Instant::now(), 0.0);
    loop {
        tokio::time::sleep(POLL).await;
        let scrape = Scrape::parse(&daemon.scrape().await?);
        let decided = scrape.value(DECISIONS, "action=\"resume\"");
        let limit = scrape.value(LIMIT, "");
        limits.see(limit);
        if let Some(phase) = overload.as_mut() {
            phase.advance(world, started, params.overload_secs, latency);
            if last_second.0.elapsed() >= Duration::from_secs(1) {
                say(&format!(
                    "  t={:>5.1}s {:>8} decided, {:>6.0}/s, limit {limit}, sim in flight {} ({})",
                    started.elapsed().as_secs_f64(),
                    decided,
                    (decided - last_second.1) / last_second.0.elapsed().as_secs_f64(),
                    world.sim.load().in_flight,
                    phase.name()
                ));
                last_second = (Instant::now(), decided);
            }
        }
        if decided >= target {
            return Ok((started.elapsed(), limits));
        }
        if started.elapsed() > Duration::from_secs(1800) {
            return Err(format!(
                "only {decided} of {target} decided after 30 minutes"
            ));
        }
    }
}

/// The concurrency limit seen while draining (polled every [`POLL`]).
#[derive(Debug, Clone, Copy, Default)]
struct Limits {
    highest: f64,
    /// The lowest since `highest` was last seen: how far the limit fell back.
    lowest_after: f64,
}

impl Limits {
    fn see(&mut self, limit: f64) {
        if limit >= self.highest {
            self.highest = limit;
            self.lowest_after = limit;
        } else {
            self.lowest_after = self.lowest_after.min(limit);
        }
    }
}

/// The 503 storm of `OVERLOAD_SECS`: from 2 s after the start, 30 % of calls answer 503.
#[derive(Debug, Clone, Copy)]
enum OverloadPhase {
    Before,
    During,
    After,
}

impl OverloadPhase {
    fn advance(&mut self, world: &World, started: Instant, secs: u64, latency: u64) {
        let elapsed = started.elapsed();
        let from = Duration::from_secs(2);
        match self {
            OverloadPhase::Before if elapsed >= from => {
                world.sim.set_faults(Faults {
                    latency_ms: latency,
                    error_rate_5xx: 0.3,
                    ..Faults::default()
                });
                *self = OverloadPhase::During;
            }
            OverloadPhase::During if elapsed >= from + Duration::from_secs(secs) => {
                world.sim.set_faults(Faults {
                    latency_ms: latency,
                    ..Faults::default()
                });
                *self = OverloadPhase::After;
            }
            _ => {}
        }
    }

    fn name(self) -> &'static str {
        match self {
            OverloadPhase::Before => "healthy",
            OverloadPhase::During => "30 % 503",
            OverloadPhase::After => "recovered",
        }
    }
}

/// `STEADY_RATE` new tasks a second for `STEADY_SECS` against the running daemon: how long
/// from announcing a task (the sim records its creation just before publishing) to vCD
/// receiving the action, and the daemon's RSS afterwards.
async fn steady_state(
    world: &World,
    daemon: &DaemonProcess,
    params: &Params,
) -> Result<Steady, String> {
    world.sim.set_faults(Faults::default());
    let count = (params.steady_rate * params.steady_secs) as usize;
    let every = Duration::from_secs_f64(1.0 / params.steady_rate.max(1) as f64);
    let mut tick = tokio::time::interval(every);
    let mut ids = Vec::with_capacity(count);
    let mut slowest_publish = Duration::ZERO;
    for _ in 0..count {
        tick.tick().await;
        let publishing = Instant::now();
        ids.push(
            world
                .sim
                .create_task(NewTask::default())
                .await
                .map_err(|e| e.to_string())?,
        );
        slowest_publish = slowest_publish.max(publishing.elapsed());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut latencies = Vec::with_capacity(count);
    let mut slowest = (0, ids[0], f64::MIN);
    for (position, id) in ids.iter().enumerate() {
        loop {
            let view = world.sim.task(*id).ok_or("a steady-state task vanished")?;
            if let Some(action) = view.actions.iter().find(|a| a.action == "resume") {
                let took =
                    (action.at - view.created).num_microseconds().unwrap_or(0) as f64 / 1000.0;
                if took > slowest.2 {
                    slowest = (position, *id, took);
                }
                latencies.push(took);
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "steady-state task {id} not resumed within a minute"
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| {
        latencies[((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    Ok(Steady {
        tasks: count,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: at(1.0),
        slowest: (slowest.0, slowest.1),
        slowest_publish,
        rss_kib: daemon.memory()?.rss_kib,
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn print_report(params: &Params, table: &[(u64, Vec<Run>)]) {
    let n = params.tasks as f64;
    let max = params.max_in_flight() as f64;
    println!();
    println!(
        "Drain of {} tasks, max_in_flight {}, prefetch {}; medians of the runs shown",
        params.tasks,
        params.max_in_flight(),
        params.prefetch()
    );
    println!(
        "| vCD latency | runs | tasks/s | time to drain | bound (N×2×latency/max_in_flight) | peak RSS | CPU s | sim's most at once | limit: highest, lowest after | calls per task | ack-only consumer | daemon / ack-only | sim's rate (req/s ÷ 2) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (latency, runs) in table {
        let drain = median(runs.iter().map(|r| r.drain.as_secs_f64()).collect());
        let rate = n / drain;
        let ack_only = median(runs.iter().map(|r| r.ack_only_rate).collect());
        let bound = n * 2.0 * (*latency as f64 / 1000.0) / max;
        let bound = if bound > 0.0 {
            format!("{bound:.1} s ({:.0} %)", drain / bound * 100.0)
        } else {
            "—".into()
        };
        println!(
            "| {latency} ms | {} | {rate:.0} | {drain:.2} s | {bound} | {:.1} MB | {:.2} | {} | {:.0}, {:.0} | {:.2} | {:.0}/s | {:.0} % | {:.0} tasks/s |",
            runs.len(),
            median(runs.iter().map(|r| r.peak_kib as f64).collect()) / 1024.0,
            median(runs.iter().map(|r| r.cpu.as_secs_f64()).collect()),
            runs.iter().map(|r| r.sim_max_in_flight).max().unwrap_or(0),
            median(runs.iter().map(|r| r.limits.highest).collect()),
            median(runs.iter().map(|r| r.limits.lowest_after).collect()),
            median(runs.iter().map(|r| r.calls_per_task).collect()),
            ack_only,
            rate / ack_only * 100.0,
            median(runs.iter().map(|r| r.sim_rate).collect()) / 2.0,
        );
    }
    for (_, runs) in table {
        for steady in runs.iter().filter_map(|r| r.steady.as_ref()) {
            println!();
            println!(
                "Steady state, fast stand-in: {} tasks at {}/s: publish → action p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (task #{} of the run, {}; the slowest publish waited {:.2} ms for RabbitMQ's confirm); RSS afterwards {:.1} MB",
                steady.tasks,
                params.steady_rate,
                steady.p50_ms,
                steady.p99_ms,
                steady.max_ms,
                steady.slowest.0 + 1,
                steady.slowest.1,
                steady.slowest_publish.as_secs_f64() * 1000.0,
                steady.rss_kib as f64 / 1024.0
            );
        }
    }
}

fn say(line: &str) {
    eprintln!("[drain] {line}");
}
