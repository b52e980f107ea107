//! Holds benchmark: the real daemon, as a separate process, holding 100,000 tasks of vcd-sim.
//! The tasks are created in the sim without notifications, so the daemon's start-up
//! reconciliation finds them all and its policy holds every one. Measured: resident memory per
//! held task, CPU while nothing is due, how late a scheduled round of keepalives is, and how
//! long a policy reload takes with every task held.
//!
//! Run with `cargo bench --bench holds` (RabbitMQ on 127.0.0.1:5672). Parameters, from the
//! environment: `HOLDS` (100000), `KEEPALIVE` (the rule's cadence, "4m"), `IDLE_SECS` (60),
//! `EXTEND_BY` ("15m"), `RECONCILE` (the daemon's reconcile interval, "1h": no periodic run
//! during the benchmark), `LOG_FILTER` (the daemon's, "info"), `RELOAD=0` (skip the final
//! policy reload), `VCD_LATENCY_MS` (0: latency vcd-sim adds to every API call once the
//! baseline is taken), `KEEP_DIR=1` (keep the config and the daemon's log). See BENCHMARKS.md.

#[path = "../common/mod.rs"]
mod common;
mod inprocess;
mod process;
mod prom;
mod world;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use process::{DaemonProcess, Memory};
use prom::{Histogram, Scrape};
use vcd_sim::NewTask;
use world::{Setup, World};

const LATENESS: &str = "vcd_blockd_hold_lateness_seconds";
const HOLDS_ACTIVE: &str = "vcd_blockd_holds_active";
const KEEPALIVES: &str = "vcd_blockd_keepalives_total";
const DECISIONS: &str = "vcd_blockd_decisions_total";
/// How long the first round (reconciliation plus a keepalive per hold) may take at most.
const ROUND_PATIENCE: Duration = Duration::from_secs(900);
/// How often `/metrics` is read while a round runs (never during the idle window).
const POLL: Duration = Duration::from_millis(250);

/// The benchmark's parameters.
struct Params {
    holds: usize,
    keepalive: String,
    idle: Duration,
    extend_by: String,
    reconcile: String,
    log_filter: String,
    reload: bool,
    /// Added by vcd-sim to every API call after the baseline, like a real vCD's round trip.
    vcd_latency_ms: u64,
    keep_dir: bool,
}

impl Params {
    fn from_env() -> Params {
        let text =
            |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
        let number = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.replace('_', "").parse().ok())
                .unwrap_or(default)
        };
        Params {
            holds: number("HOLDS", 100_000) as usize,
            keepalive: text("KEEPALIVE", "4m"),
            idle: Duration::from_secs(number("IDLE_SECS", 60)),
            extend_by: text("EXTEND_BY", "15m"),
            reconcile: text("RECONCILE", "1h"),
            log_filter: text("LOG_FILTER", "info"),
            reload: text("RELOAD", "1") != "0",
            vcd_latency_ms: number("VCD_LATENCY_MS", 0),
            keep_dir: std::env::var("KEEP_DIR").is_ok_and(|v| v == "1"),
        }
    }

    fn keepalive(&self) -> Result<Duration, String> {
        vcd_duration::parse_duration(&self.keepalive)
            .map_err(|e| format!("KEEPALIVE={:?}: {e}", self.keepalive))
    }
}

fn main() -> ExitCode {
    let params = Params::from_env();
    common::run_main("holds", run(&params))
}

async fn run(params: &Params) -> Result<(), String> {
    let keepalive = params.keepalive()?;
    // First, while this process is still small and quiet; the list's peak before anything
    // else raises the high-water mark.
    let list = inprocess::list_parse_peak(params.holds);
    let registry = inprocess::registry_cost(params.holds);
    let setup = Setup {
        keepalive: &params.keepalive,
        extend_by: &params.extend_by,
        reconcile: &params.reconcile,
        log_filter: &params.log_filter,
    };
    let world = World::start(&setup).await?;
    say(&format!(
        "{} holds, keepalive {}, extend_by {}, reconcile every {}, idle window {:?}, daemon log filter {:?}, vCD latency {} ms",
        params.holds,
        params.keepalive,
        params.extend_by,
        params.reconcile,
        params.idle,
        params.log_filter,
        params.vcd_latency_ms
    ));
    say(&format!(
        "load average before the run: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    ));
    let outcome = measure(&world, params, keepalive).await;
    if let Some(kept) = world.finish(params.keep_dir).await {
        say(&format!(
            "config and daemon logs kept in {}",
            kept.display()
        ));
    }
    outcome.map(|report| report.print(params, InProcess { registry, list }))
}

/// Memory measured in the benchmark's own process (see `inprocess`).
struct InProcess {
    /// Bytes per hold of the registry alone, and the size of a `HeldTask`.
    registry: (f64, usize),
    /// KiB of a task list and KiB its parse raised the peak beyond it.
    list: (u64, u64),
}

/// Everything measured, printed at the end.
struct Report {
    holds: usize,
    baseline: Memory,
    create_time: Duration,
    all_held: Duration,
    round_one: Duration,
    round_one_cpu: Duration,
    held: Memory,
    /// After the scheduled keepalive round.
    held_later: Memory,
    idle: Idle,
    round_one_lateness: Histogram,
    round_two_lateness: Histogram,
    round_two: Duration,
    round_two_cpu: Duration,
    keepalive_errors: f64,
    reload: Option<Reload>,
    stopped: (String, Duration),
    log: DaemonLog,
}

/// What the daemon wrote: its size and the lines at WARN or ERROR.
struct DaemonLog {
    bytes: u64,
    problems: Vec<String>,
}

impl DaemonLog {
    fn read(path: &std::path::Path) -> DaemonLog {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let problems = text
            .lines()
            .filter(|line| line.contains(" WARN ") || line.contains(" ERROR "))
            .map(|line| line.chars().take(200).collect())
            .collect();
        DaemonLog {
            bytes: text.len() as u64,
            problems,
        }
    }
}

async fn measure(world: &World, params: &Params, keepalive: Duration) -> Result<Report, String> {
    let baseline = baseline_memory(world).await?;
    say(&format!(
        "baseline (no holds, after start-up reconciliation): RSS {} KiB, {} threads",
        baseline.rss_kib, baseline.threads
    ));
    let create_time = create_tasks(world, params.holds)?;
    if params.vcd_latency_ms > 0 {
        world.sim.set_faults(vcd_sim::Faults {
            latency_ms: params.vcd_latency_ms,
            ..vcd_sim::Faults::default()
        });
    }

    let mut daemon =
        DaemonProcess::start(&world.config, &world.path("daemon.log"), world.http_port)?;
    let started = Instant::now();
    daemon.wait_ready(Duration::from_secs(60)).await?;
    let round = first_round(&daemon, params.holds, started).await?;
    say(&format!(
        "all {} held after {:.1?}; first keepalive round done after {:.1?} ({:.1?} CPU)",
        params.holds, round.all_held, round.done, round.cpu
    ));
    tokio::time::sleep(Duration::from_secs(5)).await;
    let held = daemon.memory()?;
    say(&format!(
        "with {} holds: RSS {} KiB (peak {} KiB), {} threads",
        params.holds, held.rss_kib, held.peak_kib, held.threads
    ));

    let after_one = Scrape::parse(&daemon.scrape().await?);
    let keepalives_after_one = after_one.value(KEEPALIVES, "outcome=\"ok\"");
    // The first hold was kept alive about when the round began; its next keepalive is due
    // `keepalive` later.
    let next_due = started + round.first_keepalive + keepalive;
    let idle = idle_phase(&daemon, params.idle, next_due, keepalives_after_one).await?;
    let second = second_round(&daemon, params.holds, keepalive, keepalives_after_one).await?;
    let after_two = Scrape::parse(&daemon.scrape().await?);
    let keepalive_errors = after_two.value(KEEPALIVES, "outcome=\"error\"")
        + after_two.value(KEEPALIVES, "outcome=\"gone\"");
    let held_later = daemon.memory()?;
    let reload = if params.reload {
        Some(reload_round(&daemon, params.holds).await?)
    } else {
        None
    };

    let stopped = daemon.stop(Duration::from_secs(30)).await?;
    say(&format!(
        "daemon stopped: {} after {:.1?}",
        stopped.0, stopped.1
    ));
    Ok(Report {
        holds: params.holds,
        baseline,
        create_time,
        all_held: round.all_held,
        round_one: round.done,
        round_one_cpu: round.cpu,
        held,
        held_later,
        idle,
        round_one_lateness: after_one.histogram(LATENESS),
        round_two_lateness: after_two
            .histogram(LATENESS)
            .since(&after_one.histogram(LATENESS)),
        round_two: second.duration,
        round_two_cpu: second.cpu,
        keepalive_errors,
        reload,
        stopped,
        log: DaemonLog::read(&world.path("daemon.log")),
    })
}

fn create_tasks(world: &World, holds: usize) -> Result<Duration, String> {
    let started = Instant::now();
    let ids = world
        .sim
        .create_tasks_quietly(holds, NewTask::default())
        .map_err(|e| e.to_string())?;
    let took = started.elapsed();
    say(&format!(
        "{} tasks created quietly in vcd-sim in {took:.2?}",
        ids.len()
    ));
    Ok(took)
}

/// Resident memory of a daemon that has started, reconciled an empty cloud and is ready.
async fn baseline_memory(world: &World) -> Result<Memory, String> {
    let mut daemon = DaemonProcess::start(
        &world.config,
        &world.path("daemon-baseline.log"),
        world.http_port,
    )?;
    daemon.wait_ready(Duration::from_secs(60)).await?;
    wait_for(&daemon, Duration::from_secs(60), |scrape| {
        scrape.value("vcd_blockd_reconcile_runs_total", "outcome=\"ok\"") >= 1.0
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let memory = daemon.memory()?;
    daemon.stop(Duration::from_secs(30)).await?;
    Ok(memory)
}

/// Timings of the start-up round: reconciliation holds every task, and each hold gets its
/// first keepalive right away.
struct FirstRound {
    /// Since the daemon was started.
    first_keepalive: Duration,
    all_held: Duration,
    done: Duration,
    cpu: Duration,
}

async fn first_round(
    daemon: &DaemonProcess,
    holds: usize,
    started: Instant,
) -> Result<FirstRound, String> {
    let target = holds as f64;
    let (mut first_keepalive, mut all_held) = (None, None);
    let mut last_report = Instant::now();
    loop {
        tokio::time::sleep(POLL).await;
        let scrape = Scrape::parse(&daemon.scrape().await?);
        let held = scrape.value(HOLDS_ACTIVE, "");
        let kept = scrape.value(KEEPALIVES, "outcome=\"ok\"");
        // The first keepalive went out at most one poll earlier.
        if kept > 0.0 && first_keepalive.is_none() {
            first_keepalive = Some(started.elapsed().saturating_sub(POLL));
        }
        if held >= target && all_held.is_none() {
            all_held = Some(started.elapsed());
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            progress(daemon, started, held, kept)?;
        }
        if let (Some(first_keepalive), Some(all_held)) = (first_keepalive, all_held)
            && kept >= target
        {
            return Ok(FirstRound {
                first_keepalive,
                all_held,
                done: started.elapsed(),
                cpu: daemon.cpu()?,
            });
        }
        if started.elapsed() > ROUND_PATIENCE {
            return Err(format!(
                "after {ROUND_PATIENCE:?} only {held} held and {kept} kept alive"
            ));
        }
    }
}

fn progress(daemon: &DaemonProcess, started: Instant, held: f64, kept: f64) -> Result<(), String> {
    let memory = daemon.memory()?;
    say(&format!(
        "  {:>5.0?}  held {held:>7}  keepalives {kept:>7}  RSS {:>7} KiB  CPU {:.1?}",
        started.elapsed(),
        memory.rss_kib,
        daemon.cpu()?
    ));
    Ok(())
}

/// CPU used while every task is held and nothing is due.
struct Idle {
    window: Duration,
    daemon: Duration,
    /// This process: vcd-sim (its timeout ticker scans every task ten times a second).
    bench: Duration,
    /// Keepalives sent during the window; 0 unless something was due after all.
    keepalives: f64,
}

/// Measures CPU over the idle window, which ends a little before `next_due`. Nothing talks to
/// the daemon meanwhile.
async fn idle_phase(
    daemon: &DaemonProcess,
    wanted: Duration,
    next_due: Instant,
    keepalives_before: f64,
) -> Result<Idle, String> {
    let room = next_due
        .saturating_duration_since(Instant::now())
        .saturating_sub(Duration::from_secs(5));
    let window = wanted.min(room);
    if window < wanted {
        say(&format!(
            "warning: only {window:.0?} until keepalives are due; raise KEEPALIVE for a {wanted:?} idle window"
        ));
    }
    let (daemon_before, bench_before) = (daemon.cpu()?, process::own_cpu()?);
    tokio::time::sleep(window).await;
    let idle = Idle {
        window,
        daemon: daemon.cpu()?.saturating_sub(daemon_before),
        bench: process::own_cpu()?.saturating_sub(bench_before),
        keepalives: Scrape::parse(&daemon.scrape().await?).value(KEEPALIVES, "outcome=\"ok\"")
            - keepalives_before,
    };
    say(&format!(
        "idle for {window:.0?}: daemon used {:.2?} CPU ({:.3} % of one core), {} keepalives sent meanwhile",
        idle.daemon,
        percent(idle.daemon, window),
        idle.keepalives
    ));
    Ok(idle)
}

struct SecondRound {
    duration: Duration,
    cpu: Duration,
}

/// Waits for the scheduled round: every hold's second keepalive, due `keepalive` after its
/// first.
async fn second_round(
    daemon: &DaemonProcess,
    holds: usize,
    keepalive: Duration,
    before: f64,
) -> Result<SecondRound, String> {
    let target = before + holds as f64;
    let patience = keepalive + ROUND_PATIENCE;
    let waiting = Instant::now();
    say("waiting for the scheduled keepalive round");
    let mut began: Option<(Instant, Duration)> = None;
    let mut last_report = Instant::now();
    // The poll before the first keepalive of the round: where its time and CPU are counted from.
    let mut previous = (Instant::now(), daemon.cpu()?);
    loop {
        tokio::time::sleep(POLL).await;
        let scrape = Scrape::parse(&daemon.scrape().await?);
        let kept = scrape.value(KEEPALIVES, "outcome=\"ok\"");
        if began.is_none() {
            if kept > before {
                began = Some(previous);
            } else {
                previous = (Instant::now(), daemon.cpu()?);
            }
        }
        if began.is_some() && last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            progress(daemon, waiting, scrape.value(HOLDS_ACTIVE, ""), kept)?;
        }
        if let Some((at, cpu)) = began
            && kept >= target
        {
            return Ok(SecondRound {
                duration: at.elapsed(),
                cpu: daemon.cpu()?.saturating_sub(cpu),
            });
        }
        if waiting.elapsed() > patience {
            return Err(format!(
                "scheduled round incomplete: {} of {holds}",
                kept - before
            ));
        }
    }
}

/// A policy reload (SIGHUP) with every task held: the daemon reads and decides each held
/// task again before it handles another signal.
struct Reload {
    duration: Duration,
    cpu: Duration,
}

async fn reload_round(daemon: &DaemonProcess, holds: usize) -> Result<Reload, String> {
    let decided = |scrape: &Scrape| scrape.value(DECISIONS, "action=\"hold\"");
    let before = decided(&Scrape::parse(&daemon.scrape().await?));
    let (started, cpu) = (Instant::now(), daemon.cpu()?);
    daemon.reload()?;
    say("policy reload (SIGHUP): every held task is decided again");
    let target = before + holds as f64;
    wait_for(daemon, ROUND_PATIENCE, |scrape| decided(scrape) >= target).await?;
    let reload = Reload {
        duration: started.elapsed(),
        cpu: daemon.cpu()?.saturating_sub(cpu),
    };
    say(&format!(
        "reload done after {:.1?} ({:.1?} CPU)",
        reload.duration, reload.cpu
    ));
    Ok(reload)
}

/// Polls `/metrics` until `done` holds.
async fn wait_for(
    daemon: &DaemonProcess,
    patience: Duration,
    done: impl Fn(&Scrape) -> bool,
) -> Result<(), String> {
    let started = Instant::now();
    while started.elapsed() < patience {
        if done(&Scrape::parse(&daemon.scrape().await?)) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("condition not met within {patience:?}"))
}

fn percent(used: Duration, window: Duration) -> f64 {
    100.0 * used.as_secs_f64() / window.as_secs_f64().max(1e-9)
}

fn say(line: &str) {
    println!("[holds] {line}");
}

impl Report {
    fn print(&self, params: &Params, inprocess: InProcess) {
        let holds = self.holds as f64;
        let grown = self.held.rss_kib.saturating_sub(self.baseline.rss_kib);
        let per_hold = grown as f64 * 1024.0 / holds;
        let idle = percent(self.idle.daemon, self.idle.window);
        let late = &self.round_two_lateness;
        println!();
        println!(
            "== holds benchmark: {} held tasks (keepalive {}) ==",
            self.holds, params.keepalive
        );
        println!(
            "set-up: {} tasks created quietly in {:.2?}",
            self.holds, self.create_time
        );
        println!(
            "start-up: all held after {:.1?}, first keepalive round done after {:.1?}, {:.1?} CPU ({:.0} µs per task)",
            self.all_held,
            self.round_one,
            self.round_one_cpu,
            self.round_one_cpu.as_secs_f64() * 1e6 / holds
        );
        println!(
            "memory: RSS {} KiB with no holds, {} KiB with {} (peak {} KiB): {:.0} bytes per held task [target ≤ 2048: {}]; {} KiB after the scheduled round",
            self.baseline.rss_kib,
            self.held.rss_kib,
            self.holds,
            self.held.peak_kib,
            per_hold,
            verdict(per_hold <= 2048.0),
            self.held_later.rss_kib
        );
        println!(
            "memory, in the bench process: the registry alone {:.0} bytes per hold (a HeldTask value is {} bytes); parsing a list of {} tasks ({} KiB) peaks {} KiB above it",
            inprocess.registry.0,
            inprocess.registry.1,
            self.holds,
            inprocess.list.0,
            inprocess.list.1
        );
        println!(
            "idle: {} ms CPU in {:.0?} = {:.3} % of one core (clock tick {} ms), {} keepalives meanwhile [target < 2 %: {}]; vcd-sim in the bench process used {:.1} %",
            self.idle.daemon.as_millis(),
            self.idle.window,
            idle,
            process::clock_tick().as_millis(),
            self.idle.keepalives,
            verdict(idle < 2.0),
            percent(self.idle.bench, self.idle.window)
        );
        println!(
            "scheduled keepalive round: {} keepalives in {:.1?} ({:.0}/s), {:.1?} daemon CPU ({:.0} µs each), {} failed or gone",
            late.count,
            self.round_two,
            late.count / self.round_two.as_secs_f64().max(1e-9),
            self.round_two_cpu,
            self.round_two_cpu.as_secs_f64() * 1e6 / late.count.max(1.0),
            self.keepalive_errors
        );
        println!(
            "lateness, scheduled round: p50 {}, p99 {}, max {}, mean {:.3} s, {:.2} % within 1 s [target within 1 s: {}]",
            late.show_quantile(0.5),
            late.show_quantile(0.99),
            late.show_quantile(1.0),
            late.mean(),
            100.0 * late.fraction_within(1.0),
            verdict(late.quantile_bound(1.0) <= 1.0)
        );
        let first = &self.round_one_lateness;
        println!(
            "lateness, start-up round (every hold due at once): p50 {}, p99 {}, max {}, mean {:.3} s over {}",
            first.show_quantile(0.5),
            first.show_quantile(0.99),
            first.show_quantile(1.0),
            first.mean(),
            first.count
        );
        if let Some(reload) = &self.reload {
            println!(
                "policy reload (SIGHUP) with {} holds: all decided again after {:.1?}, {:.1?} daemon CPU ({:.0} µs per hold)",
                self.holds,
                reload.duration,
                reload.cpu,
                reload.cpu.as_secs_f64() * 1e6 / holds
            );
        }
        println!(
            "shutdown: {} after {:.1?}; daemon log {} MiB with {} WARN/ERROR lines; bench process (vcd-sim) RSS {} KiB",
            self.stopped.0,
            self.stopped.1,
            self.log.bytes >> 20,
            self.log.problems.len(),
            process::own_rss_kib().unwrap_or(0)
        );
        for line in self.log.problems.iter().take(5) {
            println!("  daemon log: {line}");
        }
        if self.log.problems.len() > 5 {
            println!("  daemon log: … {} more", self.log.problems.len() - 5);
        }
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}
