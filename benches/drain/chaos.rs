//! The takeover chaos run (`CHAOS_TASKS`): two instances of the daemon on one config and one
//! queue, vcd-sim answering every call after 50–200 ms (a new latency drawn every 200 ms),
//! `CHAOS_RATE` tasks a second announced, `CHAOS_HELD` of them held by the policy (announced
//! one every 2 s from the start, each with vCD's timeout at `CHAOS_TIMEOUT_SECS`; the others
//! get 6 h) and kept alive with `extend_by = "30s"`. From 50 s, vCD answers 503 to 30 % of
//! calls for `CHAOS_STORM_SECS`; the leader is SIGKILLed 20 s into the storm and again 10 s
//! after it, each time a new instance is started in its place as the standby. Once every task
//! but the held ones is decided, the run goes on for `CHAOS_AFTER_SECS` so the holds must
//! outlive another of vCD's timeouts, then it checks, from vcd-sim's record of every action:
//!
//! - every held task is still active and vCD never timed it out; reported: the least time any
//!   of them had left before its timeout when a keepalive arrived (its slack);
//! - every other task was resumed exactly once, by the daemon (none lost, none timed out, none
//!   decided twice);
//! - how long tasks waited from announcement to their resume (p50, p99, max).
//!
//! It prints a timeline every 5 s and a verdict; a failed verdict exits with failure. The
//! broker is shared with other users of the machine, so it is neither restarted nor are the
//! daemon's queues deleted here.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;
use vcd_sim::{Faults, NewTask, Sim, TaskView};

use crate::common::{free_port, remove_broker_objects, start_sim};
use crate::process::DaemonProcess;
use crate::say;

/// When the storm begins, after the first announcement.
const STORM_FROM: Duration = Duration::from_secs(50);
/// The first kill, after the storm began; the second, after it ended.
const FIRST_KILL_INTO_STORM: Duration = Duration::from_secs(20);
const SECOND_KILL_AFTER_STORM: Duration = Duration::from_secs(10);
/// The timeout of the tasks not held: far beyond the run, so only a held task can time out.
const LONG_TIMEOUT: Duration = Duration::from_secs(6 * 3600);
/// `[holds] extend_by`.
const EXTEND_BY_SECS: i64 = 30;
const HELD_OPERATION: &str = "vdcUploadMedia";

pub(crate) struct ChaosParams {
    pub tasks: usize,
    pub rate: u64,
    pub held: usize,
    pub timeout_secs: u64,
    pub storm_secs: u64,
    pub after_secs: u64,
}

/// One instance of the daemon: its process, where it answers, its config and log.
struct Instance {
    name: String,
    process: DaemonProcess,
    base: String,
}

/// The run's files and broker names.
struct Cluster {
    dir: tempfile::TempDir,
    sim_url: String,
    exchange: String,
    queue: String,
    started: usize,
    http: reqwest::Client,
}

impl Cluster {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes the shared files and one config per instance (only the HTTP port differs).
    fn write_shared(&self) -> Result<(), String> {
        let write = |name: &str, text: &str| {
            std::fs::write(self.path(name), text).map_err(|e| format!("{name}: {e}"))
        };
        write("vcd-password", "vmware\n")?;
        write("amqp-url", crate::common::AMQP_URL)?;
        write("cluster-secret", &format!("{}\n", "c".repeat(64)))?;
        write(
            "policy.toml",
            &format!(
                r#"[defaults]
action = "resume"

[[rule]]
name = "uploads wait for an approver"
operation = "{HELD_OPERATION}"
action = "hold"
hold = {{ max = "6h", fallback = "abort" }}
message = "Waiting for approval"
"#
            ),
        )
    }

    /// Starts one more instance on a config of its own (a fresh port each time).
    async fn start_instance(&mut self) -> Result<Instance, String> {
        self.started += 1;
        let name = format!("instance-{}", self.started);
        let port = free_port()?;
        let config = self.path(&format!("{name}.toml"));
        std::fs::write(
            &config,
            format!(
                r#"[vcd]
url = "{url}"
auth = "password"
password_file = "vcd-password"

[amqp]
url_file = "amqp-url"
exchange = "{exchange}"
queue = "{queue}"
queue_type = "classic"

[policy]
path = "policy.toml"

[holds]
extend_by = "{EXTEND_BY_SECS}s"

[reconcile]
interval = "1h"

[http]
listen = "127.0.0.1:{port}"
cluster_secret_file = "cluster-secret"

[log]
filter = "warn"
"#,
                url = self.sim_url,
                exchange = self.exchange,
                queue = self.queue,
            ),
        )
        .map_err(|e| format!("{}: {e}", config.display()))?;
        let mut process = DaemonProcess::start(&config, &self.path(&format!("{name}.log")), port)?;
        process.wait_ready(Duration::from_secs(60)).await?;
        Ok(Instance {
            name,
            process,
            base: format!("http://127.0.0.1:{port}"),
        })
    }

    /// `leader` or `standby`, from the instance's `/readyz`.
    async fn role(&self, instance: &Instance) -> Option<String> {
        let response = self
            .http
            .get(format!("{}/readyz", instance.base))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        let body: Value = response.json().await.ok()?;
        body["role"].as_str().map(str::to_owned)
    }

    /// Waits until exactly one of the two instances leads; returns its index.
    async fn leader(&self, instances: &[Instance; 2]) -> Result<usize, String> {
        let started = Instant::now();
        loop {
            let roles = (
                self.role(&instances[0]).await,
                self.role(&instances[1]).await,
            );
            match (roles.0.as_deref(), roles.1.as_deref()) {
                (Some("leader"), Some("standby")) => return Ok(0),
                (Some("standby"), Some("leader")) => return Ok(1),
                _ if started.elapsed() > Duration::from_secs(120) => {
                    return Err(format!("no single leader after 2 minutes: {roles:?}"));
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// SIGKILLs the leader, waits until the survivor leads, then starts a new instance in the
    /// dead one's place (it stands by). Returns how long the survivor took to report itself
    /// leader.
    async fn kill_leader(
        &mut self,
        instances: &mut [Instance; 2],
        sim: &Sim,
        first: Instant,
    ) -> Result<Duration, String> {
        let leader = self.leader(instances).await?;
        say(&format!(
            "chaos t={:>5.1}s: SIGKILL to the leader, {}, with {} tasks waiting",
            first.elapsed().as_secs_f64(),
            instances[leader].name,
            waiting(sim)
        ));
        let killed = Instant::now();
        instances[leader].process.kill();
        let survivor = 1 - leader;
        loop {
            if self.role(&instances[survivor]).await.as_deref() == Some("leader") {
                break;
            }
            if killed.elapsed() > Duration::from_secs(120) {
                return Err("no instance took over within 2 minutes".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let took = killed.elapsed();
        instances[leader] = self.start_instance().await?;
        say(&format!(
            "chaos t={:>5.1}s: {} leads ({:.1} s after the kill); {} started and stands by",
            first.elapsed().as_secs_f64(),
            instances[survivor].name,
            took.as_secs_f64(),
            instances[leader].name
        ));
        Ok(took)
    }
}

/// Tasks still active in vcd-sim, held ones included.
fn waiting(sim: &Sim) -> usize {
    sim.tasks().iter().filter(|t| t.status == "active").count()
}

/// Draws vCD's latency (50–200 ms) every 200 ms, and answers 503 to 30 % of calls while
/// `storm` is set, until `stop` is set.
fn vary_faults(sim: Sim, storm: Arc<AtomicBool>, stop: Arc<AtomicBool>) {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            sim.set_faults(Faults {
                latency_ms: fastrand::u64(50..=200),
                error_rate_5xx: if storm.load(Ordering::Relaxed) {
                    0.3
                } else {
                    0.0
                },
                ..Faults::default()
            });
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        sim.set_faults(Faults::default());
    });
}

pub(crate) async fn run(params: &ChaosParams) -> Result<(), String> {
    let run = start_sim("chaos").await?;
    let sim = run.sim.clone();
    let mut cluster = Cluster {
        dir: tempfile::tempdir().map_err(|e| e.to_string())?,
        sim_url: sim.base_url(),
        exchange: run.xml_exchange.clone(),
        queue: format!("vcd-blockd-chaos-{}", run.tag),
        started: 0,
        http: {
            vcd_blockd::install_crypto_provider();
            reqwest::Client::new()
        },
    };
    let outcome = chaos(params, &mut cluster, &sim).await;
    if let Some(dir) = std::env::var_os("KEEP_LOG") {
        for n in 1..=cluster.started {
            let name = format!("instance-{n}.log");
            let kept = Path::new(&dir).join(format!("chaos-{name}"));
            let _ = std::fs::copy(cluster.path(&name), &kept);
        }
        say(&format!(
            "daemon logs kept in {}",
            Path::new(&dir).display()
        ));
    }
    sim.shutdown().await;
    remove_broker_objects(&cluster.queue, [&run.xml_exchange, &run.json_exchange], &[]).await;
    outcome
}

async fn chaos(params: &ChaosParams, cluster: &mut Cluster, sim: &Sim) -> Result<(), String> {
    cluster.write_shared()?;
    let mut instances = [
        cluster.start_instance().await?,
        cluster.start_instance().await?,
    ];
    cluster.leader(&instances).await?;
    say(&format!(
        "chaos: {} tasks at {}/s, {} held (vCD timeout {} s, extend_by {EXTEND_BY_SECS} s), 30 % 503s from {} s for {} s, vCD latency 50–200 ms; load average {}",
        params.tasks,
        params.rate,
        params.held,
        params.timeout_secs,
        STORM_FROM.as_secs(),
        params.storm_secs,
        crate::load_average()
    ));
    let storm = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    vary_faults(sim.clone(), Arc::clone(&storm), Arc::clone(&stop));
    let storm_secs = Duration::from_secs(params.storm_secs);
    let kills = [
        STORM_FROM + FIRST_KILL_INTO_STORM.min(storm_secs),
        STORM_FROM + storm_secs + SECOND_KILL_AFTER_STORM,
    ];
    let mut kills_done = 0;
    let mut takeovers = Vec::new();
    let mut held_ids = Vec::new();
    let mut ids = Vec::with_capacity(params.tasks);
    let first = Instant::now();
    let mut last_report = Instant::now();
    let every = Duration::from_secs_f64(1.0 / params.rate.max(1) as f64);
    let mut tick = tokio::time::interval(every);
    let held_every = Duration::from_secs(2);
    let mut published = 0;
    // Announce, and while announcing run the storm and the kills; then wait for the drain.
    loop {
        let elapsed = first.elapsed();
        storm.store(
            elapsed >= STORM_FROM && elapsed < STORM_FROM + storm_secs,
            Ordering::Relaxed,
        );
        if kills_done < kills.len() && elapsed >= kills[kills_done] {
            takeovers.push(cluster.kill_leader(&mut instances, sim, first).await?);
            kills_done += 1;
        }
        if last_report.elapsed() >= Duration::from_secs(5) {
            report(sim, first, published, storm.load(Ordering::Relaxed));
            last_report = Instant::now();
        }
        if published < params.tasks {
            tick.tick().await;
            if held_ids.len() < params.held && elapsed >= held_every * held_ids.len() as u32 {
                // vCD's timeout for this one task only: the sim reads it at creation.
                sim.set_task_timeout(Duration::from_secs(params.timeout_secs))
                    .map_err(|e| e.to_string())?;
                let task = NewTask {
                    operation: HELD_OPERATION.into(),
                    owner_type: "media".into(),
                    owner_name: format!("held-{}", held_ids.len()),
                    ..NewTask::default()
                };
                let created = sim.create_task(task).await;
                sim.set_task_timeout(LONG_TIMEOUT)
                    .map_err(|e| e.to_string())?;
                held_ids.push(created.map_err(|e| e.to_string())?);
            } else {
                ids.push(
                    sim.create_task(NewTask::default())
                        .await
                        .map_err(|e| e.to_string())?,
                );
            }
            published += 1;
            continue;
        }
        if kills_done == kills.len() && decided_all(sim, &held_ids) {
            break;
        }
        if elapsed > Duration::from_secs(1800) {
            return Err("the tasks were not all decided within 30 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drained = first.elapsed();
    let published_in = ids
        .iter()
        .chain(&held_ids)
        .filter_map(|id| sim.task(*id))
        .map(|t| t.created)
        .fold(None::<(DateTime<Utc>, DateTime<Utc>)>, |span, at| {
            Some(span.map_or((at, at), |(lo, hi)| (lo.min(at), hi.max(at))))
        })
        .map_or(0.0, |(lo, hi)| (hi - lo).num_milliseconds() as f64 / 1000.0);
    say(&format!(
        "chaos t={:>5.1}s: every task but the held ones decided; the holds must now last {} s more",
        drained.as_secs_f64(),
        params.after_secs
    ));
    let after = Instant::now();
    while after.elapsed() < Duration::from_secs(params.after_secs) {
        tokio::time::sleep(Duration::from_secs(5)).await;
        report(sim, first, published, false);
    }
    stop.store(true, Ordering::Relaxed);
    let verdict = verdict(sim, &ids, &held_ids, params);
    for instance in instances {
        let _ = instance.process.stop(Duration::from_secs(30)).await;
    }
    println!();
    println!(
        "Chaos run: {} tasks announced in {published_in:.1} s ({:.0}/s), {} held; 30 % 503s for {} s from {} s; leader SIGKILLed at {} s, a new leader {}; every task but the held ones decided {:.1} s after the first announcement; load average at the end {}",
        published,
        published as f64 / published_in.max(0.001),
        held_ids.len(),
        params.storm_secs,
        STORM_FROM.as_secs(),
        kills
            .iter()
            .map(|k| format!("{:.0}", k.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(" and "),
        takeovers
            .iter()
            .map(|t| format!("{:.1} s", t.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(" and ")
            + " after each",
        drained.as_secs_f64(),
        crate::load_average()
    );
    for line in &verdict.lines {
        println!("{line}");
    }
    if verdict.passed {
        println!("Verdict: PASS");
        Ok(())
    } else {
        println!("Verdict: FAIL");
        Err("the chaos run's verdict is FAIL (see above)".into())
    }
}

/// Every task that is not held is no longer active.
fn decided_all(sim: &Sim, held: &[Uuid]) -> bool {
    sim.tasks()
        .iter()
        .all(|t| t.status != "active" || held.contains(&t.id))
}

fn report(sim: &Sim, first: Instant, published: usize, storm: bool) {
    let tasks = sim.tasks();
    let active = tasks.iter().filter(|t| t.status == "active").count();
    let load = sim.load();
    say(&format!(
        "chaos t={:>5.1}s: {published} announced, {} decided, {active} active, sim in flight {}{}",
        first.elapsed().as_secs_f64(),
        tasks.len() - active,
        load.in_flight,
        if storm { " (30 % 503)" } else { "" }
    ));
}

struct Verdict {
    passed: bool,
    lines: Vec<String>,
}

fn verdict(sim: &Sim, ids: &[Uuid], held: &[Uuid], params: &ChaosParams) -> Verdict {
    let mut lines = Vec::new();
    let mut passed = true;
    let now = Utc::now();
    let decisions = |view: &TaskView| {
        view.actions
            .iter()
            .filter(|a| a.accepted && a.action != "updateProgress")
            .count()
    };
    // Held tasks: alive, never timed out, and how close each keepalive came to the timeout.
    let mut alive = 0;
    let mut least_slack = f64::MAX;
    let mut keepalives = 0;
    for id in held {
        let Some(view) = sim.task(*id) else {
            continue;
        };
        let timed_out = view.actions.iter().any(|a| a.action == "timeout");
        if view.status == "active" && !timed_out && decisions(&view) == 0 {
            alive += 1;
        } else {
            lines.push(format!(
                "held task {id}: {} {:?}",
                view.status,
                view.actions
                    .iter()
                    .map(|a| (a.action.as_str(), a.at))
                    .collect::<Vec<_>>()
            ));
        }
        let mut deadline = view.created + chrono::Duration::seconds(params.timeout_secs as i64);
        for action in view
            .actions
            .iter()
            .filter(|a| a.accepted && a.action == "updateProgress")
        {
            least_slack = least_slack.min(seconds(deadline - action.at));
            let extend = action
                .timeout_ms
                .map_or(chrono::Duration::seconds(EXTEND_BY_SECS), |ms| {
                    chrono::Duration::milliseconds(ms as i64)
                });
            deadline = action.at + extend;
            keepalives += 1;
        }
        least_slack = least_slack.min(seconds(deadline - now));
    }
    let holds_ok = alive == held.len();
    passed &= holds_ok;
    lines.push(format!(
        "Held tasks alive at the end: {alive} of {} ({}); {keepalives} keepalives; the least time left before vCD's timeout when a keepalive arrived (or at the end): {least_slack:.1} s",
        held.len(),
        if holds_ok { "met" } else { "MISSED" }
    ));
    // The others: resumed once each, by the daemon.
    let mut resumed = 0;
    let mut twice = 0;
    let mut timed_out = 0;
    let mut still_active = 0;
    let mut waits = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(view) = sim.task(*id) else {
            still_active += 1;
            continue;
        };
        if decisions(&view) > 1 {
            twice += 1;
        }
        if view.actions.iter().any(|a| a.action == "timeout") {
            timed_out += 1;
        }
        if view.status == "active" {
            still_active += 1;
        }
        if let Some(resume) = view
            .actions
            .iter()
            .find(|a| a.accepted && a.action == "resume")
        {
            resumed += 1;
            waits.push(seconds(resume.at - view.created));
        }
    }
    let others_ok = resumed == ids.len() && twice == 0 && timed_out == 0 && still_active == 0;
    passed &= others_ok;
    lines.push(format!(
        "Other tasks: {resumed} of {} resumed by the daemon, {twice} decided twice, {timed_out} timed out, {still_active} still active ({})",
        ids.len(),
        if others_ok { "none lost" } else { "MISSED" }
    ));
    waits.sort_by(f64::total_cmp);
    if !waits.is_empty() {
        let at =
            |q: f64| waits[((q * waits.len() as f64).ceil() as usize).clamp(1, waits.len()) - 1];
        lines.push(format!(
            "Announcement → resume: p50 {:.2} s, p99 {:.2} s, max {:.2} s",
            at(0.5),
            at(0.99),
            at(1.0)
        ));
    }
    Verdict { passed, lines }
}

fn seconds(duration: chrono::Duration) -> f64 {
    duration.num_milliseconds() as f64 / 1000.0
}
