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
//! `STEADY_RATE` (200), `STEADY_SECS` (30, 0 skips), `ERRORS` (percentages, "0": one case per
//! latency and share of calls vCD answers 503 at random for the whole drain, side by side in
//! one run; the report gives each case's time against the 0 % case's), `RETRY_AFTER` (seconds
//! sent with those 503s and the storm's; unset: none), `OVERLOAD_SECS` (0: one more case per
//! latency, vCD answering 503 to 30 % of calls for this long from 2 s after the start, then
//! recovering; a per-second timeline is printed, and how soon the limit fell and came back),
//! `DAEMON_BIN` (another build of the daemon, e.g. the static musl one),
//! `KEEP_LOG` (a directory: each run's daemon log is copied there; the daemon's own
//! `VCD_BLOCKD__LOG__FILTER` sets how much it holds). With `POLL_TASKS` set it measures poll
//! mode's listing instead (`poll.rs`: `POLL_INTERVAL_SECS`, 5; `POLL_LISTINGS`, 3). With
//! `CHAOS_TASKS` set it runs the takeover chaos run instead (`chaos.rs`: two instances, a 503
//! storm, the leader killed twice, held tasks that must stay alive; `CHAOS_RATE`, 100;
//! `CHAOS_HELD`, 20; `CHAOS_TIMEOUT_SECS`, 40; `CHAOS_STORM_SECS`, 60; `CHAOS_AFTER_SECS`, 45).
//! With `ASK_TASKS` set it drains a backlog of which some tasks ask a decision service
//! (`ask.rs`: `ASK_EVERY`, 10; `ASK_SERVICE_MS`, 20), against the same backlog without asks.
//! See BENCHMARKS.md.

mod ask;
mod chaos;
#[path = "../common/mod.rs"]
mod common;
mod limits;
mod poll;
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
    errors: Vec<u32>,
    retry_after: Option<u64>,
    overload_secs: u64,
}

/// What vCD does during one drain besides answering after `latency` ms.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Case {
    latency: u64,
    /// Percent of calls answered 503 at random, the whole drain long.
    errors: u32,
    /// The 30 % storm of `OVERLOAD_SECS`.
    storm: bool,
}

impl Case {
    fn name(&self, params: &Params) -> String {
        let mut name = format!("{} ms", self.latency);
        if self.errors > 0 {
            name.push_str(&format!(", {} % 503s", self.errors));
        }
        if self.storm {
            name.push_str(&format!(", 30 % storm {} s", params.overload_secs));
        }
        if params.retry_after.is_some() && (self.storm || self.errors > 0) {
            name.push_str(", Retry-After");
        }
        name
    }

    /// The sim's faults in this case, outside a storm.
    fn faults(&self, params: &Params) -> Faults {
        Faults {
            latency_ms: self.latency,
            error_rate_5xx: f64::from(self.errors) / 100.0,
            retry_after_secs: params.retry_after,
            ..Faults::default()
        }
    }
}

impl Params {
    fn from_env() -> Params {
        let latencies = std::env::var("LATENCIES")
            .unwrap_or_else(|_| "0,50,200".into())
            .split(',')
            .filter_map(|v| v.trim().parse().ok())
            .collect();
        Params {
            tasks: count("TASKS").unwrap_or(10_000) as usize,
            latencies,
            runs: count("RUNS").unwrap_or(3).max(1) as usize,
            slow_runs: count("SLOW_RUNS").unwrap_or(1).max(1) as usize,
            max_in_flight: count("MAX_IN_FLIGHT").map(|n| n as usize),
            prefetch: count("PREFETCH").map(|n| n.min(u64::from(u16::MAX)) as u16),
            steady_rate: count("STEADY_RATE").unwrap_or(200),
            steady_secs: count("STEADY_SECS").unwrap_or(30),
            errors: std::env::var("ERRORS")
                .unwrap_or_else(|_| "0".into())
                .split(',')
                .filter_map(|v| v.trim().trim_end_matches('%').parse().ok())
                .filter(|&e| e <= 100)
                .collect(),
            retry_after: count("RETRY_AFTER"),
            overload_secs: count("OVERLOAD_SECS").unwrap_or(0),
        }
    }

    /// Every case, latency by latency: each share of `ERRORS`, then the storm.
    fn cases(&self) -> Vec<Case> {
        let mut cases = Vec::new();
        for &latency in &self.latencies {
            for &errors in &self.errors {
                cases.push(Case {
                    latency,
                    errors,
                    storm: false,
                });
            }
            if self.overload_secs > 0 {
                cases.push(Case {
                    latency,
                    errors: 0,
                    storm: true,
                });
            }
        }
        cases
    }

    fn max_in_flight(&self) -> usize {
        self.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT)
    }

    /// The prefetch the daemon computes: `max_in_flight` and a quarter, capped by `PREFETCH`.
    fn prefetch(&self) -> u16 {
        let max = self.max_in_flight();
        let follow = (max + max / 4).min(usize::from(u16::MAX)) as u16;
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
    /// The load average (1, 5, 15 min) as the run began.
    load: String,
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

/// The whole number in environment variable `name` (`10_000` reads as 10000), if set.
fn count(name: &str) -> Option<u64> {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
}

/// The whole number in environment variable `name`, or `default`.
fn number(name: &str, default: u64) -> u64 {
    count(name).unwrap_or(default)
}

fn main() -> ExitCode {
    if let Some(tasks) = count("POLL_TASKS") {
        let params = poll::PollParams {
            tasks: tasks as usize,
            interval_secs: number("POLL_INTERVAL_SECS", 5).max(1),
            listings: number("POLL_LISTINGS", 3).max(1) as usize,
        };
        return common::run_main("drain", poll::run(&params));
    }
    if let Some(tasks) = count("CHAOS_TASKS") {
        let params = chaos::ChaosParams {
            tasks: tasks as usize,
            rate: number("CHAOS_RATE", 100).max(1),
            held: number("CHAOS_HELD", 20) as usize,
            timeout_secs: number("CHAOS_TIMEOUT_SECS", 40).max(1),
            storm_secs: number("CHAOS_STORM_SECS", 60),
            after_secs: number("CHAOS_AFTER_SECS", 45),
        };
        return common::run_main("drain", chaos::run(&params));
    }
    if let Some(tasks) = count("ASK_TASKS") {
        let params = ask::AskParams {
            tasks: tasks as usize,
            every: number("ASK_EVERY", 10).max(1) as usize,
            service_ms: number("ASK_SERVICE_MS", 20),
        };
        return common::run_main("drain", ask::run(&params));
    }
    let params = Params::from_env();
    common::run_main("drain", run(&params))
}

async fn run(params: &Params) -> Result<(), String> {
    say(&format!(
        "{} tasks; vCD latencies {:?} ms, random 503s {:?} %, storm {} s; max_in_flight {}, prefetch {}; daemon {}",
        params.tasks,
        params.latencies,
        params.errors,
        params.overload_secs,
        params.max_in_flight(),
        params.prefetch(),
        std::env::var("DAEMON_BIN").unwrap_or_else(|_| "built by cargo bench".into())
    ));
    say(&format!("load average before the run: {}", load_average()));
    // Run by run, every case in turn, so that each run's cases share the machine's load
    // and their ratio (the report's min, median and max) compares like with like.
    let cases = params.cases();
    let mut table: Vec<(Case, Vec<Run>)> = cases.iter().map(|&c| (c, Vec::new())).collect();
    let most = params.runs.max(params.slow_runs);
    for index in 0..most {
        for (case, results) in &mut table {
            let case = *case;
            let runs = if case.latency >= 200 {
                params.slow_runs
            } else {
                params.runs
            };
            if index >= runs {
                continue;
            }
            let steady = case == cases[0] && index == 0 && params.steady_secs > 0;
            let steady = steady && case.latency == 0;
            let result = one_run(params, case, steady).await?;
            say(&format!(
                "{}, run {}: {:.0} tasks/s, drained in {:.2?}, peak RSS {} KiB, {:.2} CPU s, sim saw ≤ {} at once, limit median {:.0}; ack-only {:.0}/s, sim {:.0} req/s; load average {}",
                case.name(params),
                index + 1,
                params.tasks as f64 / result.drain.as_secs_f64(),
                result.drain,
                result.peak_kib,
                result.cpu.as_secs_f64(),
                result.sim_max_in_flight,
                result.limits.median(),
                result.ack_only_rate,
                result.sim_rate,
                load_average(),
            ));
            results.push(result);
        }
    }
    print_report(params, &table);
    Ok(())
}

pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

async fn one_run(params: &Params, case: Case, steady: bool) -> Result<Run, String> {
    let load = load_average();
    let setup = Setup {
        max_in_flight: params.max_in_flight,
        prefetch: params.prefetch,
    };
    let world = World::start(&setup).await?;
    let result = drain(&world, params, case, steady).await;
    world.finish().await;
    result.map(|run| Run { load, ..run })
}

async fn drain(world: &World, params: &Params, case: Case, steady: bool) -> Result<Run, String> {
    let ids = announce(world, params.tasks).await?;
    world.sim.set_faults(case.faults(params));
    let calls_before = world.sim.load().answered;
    let mut daemon =
        DaemonProcess::start(&world.config, &world.path("daemon.log"), world.http_port)?;
    let started = Instant::now();
    daemon.wait_ready(Duration::from_secs(60)).await?;
    let (drain, limits) = follow(world, &daemon, params, started, case).await?;
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
        let kept = std::path::Path::new(&dir).join(format!(
            "drain-{}ms-{}pct{}-daemon.log",
            case.latency,
            case.errors,
            if case.storm { "-storm" } else { "" }
        ));
        std::fs::copy(world.path("daemon.log"), &kept)
            .map_err(|e| format!("KEEP_LOG: {}: {e}", kept.display()))?;
        say(&format!("daemon log kept in {}", kept.display()));
    }
    world.sim.set_faults(Faults {
        latency_ms: case.latency,
        ..Faults::default()
    });
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
        load: String::new(),
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
    case: Case,
) -> Result<(Duration, Limits), String> {
    let target = params.tasks as f64;
    let mut limits = Limits::default();
    let mut overload = case.storm.then_some(OverloadPhase::Before);
    let mut last_second = (Instant::now(), 0.0);
    loop {
        tokio::time::sleep(POLL).await;
        let scrape = Scrape::parse(&daemon.scrape().await?);
        let decided = scrape.value(DECISIONS, "action=\"resume\"");
        let limit = scrape.value(LIMIT, "");
        limits.see(limit);
        if let Some(phase) = overload.as_mut() {
            if let Some(event) = phase.advance(world, started, params, case) {
                limits.storm(event);
            }
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
#[derive(Debug, Clone, Default)]
struct Limits {
    highest: f64,
    /// The lowest since `highest` was last seen: how far the limit fell back.
    lowest_after: f64,
    /// Every value polled, for the median.
    samples: Vec<f64>,
    /// With a storm: when it began and ended, the limit just before it, and how long after its
    /// start the limit first fell to half of that, and after its end it first came back.
    storm: Option<Storm>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Storm {
    began: Option<Instant>,
    ended: Option<Instant>,
    before: f64,
    fell_after: Option<Duration>,
    recovered_after: Option<Duration>,
}

impl Limits {
    fn see(&mut self, limit: f64) {
        self.samples.push(limit);
        if limit >= self.highest {
            self.highest = limit;
            self.lowest_after = limit;
        } else {
            self.lowest_after = self.lowest_after.min(limit);
        }
        let Some(storm) = self.storm.as_mut() else {
            return;
        };
        if let Some(began) = storm.began
            && storm.fell_after.is_none()
            && limit <= storm.before / 2.0
        {
            storm.fell_after = Some(began.elapsed());
        }
        if let Some(ended) = storm.ended
            && storm.recovered_after.is_none()
            && limit >= storm.before
        {
            storm.recovered_after = Some(ended.elapsed());
        }
    }

    fn storm(&mut self, event: OverloadPhase) {
        let before = self.samples.last().copied().unwrap_or_default();
        let storm = self.storm.get_or_insert_with(Storm::default);
        match event {
            OverloadPhase::During => {
                storm.began = Some(Instant::now());
                storm.before = before;
            }
            OverloadPhase::After => storm.ended = Some(Instant::now()),
            OverloadPhase::Before => {}
        }
    }

    fn median(&self) -> f64 {
        if self.samples.is_empty() {
            return 0.0;
        }
        median(self.samples.clone())
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
    /// Moves to the next phase when its time came; returns the phase entered.
    fn advance(
        &mut self,
        world: &World,
        started: Instant,
        params: &Params,
        case: Case,
    ) -> Option<OverloadPhase> {
        let elapsed = started.elapsed();
        let from = Duration::from_secs(2);
        match self {
            OverloadPhase::Before if elapsed >= from => {
                world.sim.set_faults(Faults {
                    error_rate_5xx: 0.3,
                    ..case.faults(params)
                });
                *self = OverloadPhase::During;
            }
            OverloadPhase::During
                if elapsed >= from + Duration::from_secs(params.overload_secs) =>
            {
                world.sim.set_faults(case.faults(params));
                *self = OverloadPhase::After;
            }
            _ => return None,
        }
        Some(*self)
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

fn print_report(params: &Params, table: &[(Case, Vec<Run>)]) {
    let n = params.tasks as f64;
    let max = params.max_in_flight() as f64;
    let drain_of = |runs: &[Run]| median(runs.iter().map(|r| r.drain.as_secs_f64()).collect());
    let limit_of = |runs: &[Run]| median(runs.iter().map(|r| r.limits.median()).collect());
    // The same latency without errors: what each case is compared with.
    let clean = |latency: u64| {
        table
            .iter()
            .find(|(c, _)| c.latency == latency && c.errors == 0 && !c.storm)
            .map(|(_, runs)| (drain_of(runs), limit_of(runs)))
    };
    println!();
    println!(
        "Drain of {} tasks, max_in_flight {}, prefetch {}; medians of the runs shown; load average at the end {}",
        params.tasks,
        params.max_in_flight(),
        params.prefetch(),
        load_average()
    );
    println!(
        "| vCD | runs | tasks/s | time to drain | × the 0 % case | bound (N×2×latency/max_in_flight) | peak RSS | CPU s | sim's most at once | limit: median (of the 0 % case), highest, lowest after | calls per task | ack-only consumer | daemon / ack-only | sim's rate (req/s ÷ 2) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (case, runs) in table {
        let latency = case.latency;
        let drain = drain_of(runs);
        let limit = limit_of(runs);
        let rate = n / drain;
        let ack_only = median(runs.iter().map(|r| r.ack_only_rate).collect());
        let bound = n * 2.0 * (latency as f64 / 1000.0) / max;
        let bound = if bound > 0.0 {
            format!("{bound:.1} s ({:.0} %)", drain / bound * 100.0)
        } else {
            "—".into()
        };
        let (versus, limit_versus) = match clean(latency) {
            Some((clean_drain, clean_limit)) => (
                format!("{:.2}×", drain / clean_drain),
                format!("{limit:.0} ({:.0} %)", limit / clean_limit * 100.0),
            ),
            None => ("—".into(), format!("{limit:.0}")),
        };
        println!(
            "| {} | {} | {rate:.0} | {drain:.2} s | {versus} | {bound} | {:.1} MB | {:.2} | {} | {limit_versus}, {:.0}, {:.0} | {:.2} | {:.0}/s | {:.0} % | {:.0} tasks/s |",
            case.name(params),
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
    print_ratios(params, table);
    for (case, runs) in table {
        for (index, storm) in runs.iter().filter_map(|r| r.limits.storm).enumerate() {
            let secs = |d: Option<Duration>| {
                d.map_or_else(|| "never".into(), |d| format!("{:.1} s", d.as_secs_f64()))
            };
            println!(
                "Storm, {} run {}: the limit was {:.0} when it began, fell to half of that {} after it began, and was back {} after it ended",
                case.name(params),
                index + 1,
                storm.before,
                secs(storm.fell_after),
                secs(storm.recovered_after),
            );
        }
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

/// Each case against the 0 % case at its latency, run by run (the cases of one run follow each
/// other, so they share the machine's load): every run's ratio of drain times and of the
/// limit's medians, then their min, median and max.
fn print_ratios(params: &Params, table: &[(Case, Vec<Run>)]) {
    for (case, runs) in table {
        let Some((_, clean)) = table
            .iter()
            .find(|(c, _)| c.latency == case.latency && c.errors == 0 && !c.storm)
        else {
            continue;
        };
        if case.errors == 0 && !case.storm {
            continue;
        }
        println!();
        println!("{} against 0 %, run by run:", case.name(params));
        let mut drains = Vec::new();
        let mut limits = Vec::new();
        for (index, (run, base)) in runs.iter().zip(clean).enumerate() {
            let drain = run.drain.as_secs_f64() / base.drain.as_secs_f64();
            let limit = run.limits.median() / base.limits.median();
            println!(
                "  run {}: {:.2} s against {:.2} s: {drain:.2}×; limit's median {:.0} against {:.0} ({:.0} %); load average at the starts {} and {}",
                index + 1,
                run.drain.as_secs_f64(),
                base.drain.as_secs_f64(),
                run.limits.median(),
                base.limits.median(),
                limit * 100.0,
                base.load,
                run.load,
            );
            drains.push(drain);
            limits.push(limit);
        }
        if drains.is_empty() {
            continue;
        }
        let spread = |mut values: Vec<f64>, scale: f64| {
            values.sort_by(f64::total_cmp);
            format!(
                "min {:.2}, median {:.2}, max {:.2}",
                values[0] * scale,
                values[values.len() / 2] * scale,
                values[values.len() - 1] * scale
            )
        };
        println!(
            "  time to drain, × the 0 % case: {}; limit's median, % of the 0 % case's: {}",
            spread(drains, 1.0),
            spread(limits, 100.0)
        );
    }
}

pub(crate) fn say(line: &str) {
    eprintln!("[drain] {line}");
}
