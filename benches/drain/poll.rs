//! Poll mode's listing with many active tasks (`POLL_TASKS`): the daemon without a broker,
//! vcd-sim holding `POLL_TASKS` active blocking tasks that a policy of `ignore` leaves alone
//! (each is read once, then only listed), reconciling every `POLL_INTERVAL_SECS`. After the
//! first listing has read them all, the daemon's RSS is sampled every 2 ms for
//! `POLL_LISTINGS` more listings: its idle RSS (the lowest between listings) against its peak
//! (the kernel's high-water mark, reset before the first of them), and how long a listing
//! took.

use std::time::{Duration, Instant};

use vcd_sim::NewTask;

use crate::common::{free_port, start_sim};
use crate::process::DaemonProcess;
use crate::prom::Scrape;
use crate::say;

const RUNS: &str = "vcd_blockd_reconcile_runs_total";

pub(crate) struct PollParams {
    pub tasks: usize,
    pub interval_secs: u64,
    pub listings: usize,
}

pub(crate) async fn run(params: &PollParams) -> Result<(), String> {
    let run = start_sim("poll").await?;
    let sim = run.sim;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = |name: &str| dir.path().join(name);
    let write = |name: &str, text: &str| {
        std::fs::write(path(name), text).map_err(|e| format!("{name}: {e}"))
    };
    write("vcd-password", "vmware\n")?;
    write("policy.toml", "[defaults]\naction = \"ignore\"\n")?;
    let port = free_port()?;
    write(
        "config.toml",
        &format!(
            r#"[vcd]
url = "{url}"
auth = "password"
password_file = "vcd-password"

[policy]
path = "policy.toml"

[reconcile]
interval = "{interval}s"

[http]
listen = "127.0.0.1:{port}"

[log]
filter = "warn"
"#,
            url = sim.base_url(),
            interval = params.interval_secs,
        ),
    )?;
    let created = Instant::now();
    sim.create_tasks_quietly(params.tasks, NewTask::default())
        .map_err(|e| e.to_string())?;
    say(&format!(
        "poll mode: {} active tasks created in {:.1?}",
        params.tasks,
        created.elapsed()
    ));
    let mut daemon = DaemonProcess::start(&path("config.toml"), &path("daemon.log"), port)?;
    daemon.wait_ready(Duration::from_secs(600)).await?;
    let runs = |scrape: &Scrape| scrape.value(RUNS, "outcome=\"ok\"");
    // The first listing reads every task once (and leaves it alone); the second only lists.
    let mut done = 0.0;
    let started = Instant::now();
    while done < 2.0 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        done = runs(&Scrape::parse(&daemon.scrape().await?));
        if started.elapsed() > Duration::from_secs(1800) {
            return Err("the first listings took over 30 minutes".into());
        }
    }
    say(&format!(
        "poll mode: first two listings done after {:.1?}",
        started.elapsed()
    ));
    std::fs::write(format!("/proc/{}/clear_refs", daemon.pid()), "5")
        .map_err(|e| format!("resetting the RSS high-water mark: {e}"))?;
    let mut idle_kib = u64::MAX;
    let mut samples = Vec::new();
    let target = done + params.listings as f64;
    let measuring = Instant::now();
    let mut listing_started: Option<Instant> = None;
    let mut listing_took = Vec::new();
    let mut in_flight_before = 0;
    loop {
        let memory = daemon.memory()?;
        samples.push(memory.rss_kib);
        // Between listings the daemon makes no vCD call: what it holds then is its idle RSS.
        let in_flight = sim.load().in_flight;
        if in_flight == 0 && listing_started.is_none() {
            idle_kib = idle_kib.min(memory.rss_kib);
        }
        if in_flight > 0 && in_flight_before == 0 && listing_started.is_none() {
            listing_started = Some(Instant::now());
        }
        in_flight_before = in_flight;
        if samples.len() % 50 == 0 {
            let now = runs(&Scrape::parse(&daemon.scrape().await?));
            if now > done {
                if let Some(began) = listing_started.take() {
                    listing_took.push(began.elapsed());
                }
                done = now;
            }
            if done >= target {
                break;
            }
        }
        if measuring.elapsed()
            > Duration::from_secs(params.interval_secs * 4 * params.listings as u64 + 60)
        {
            return Err("the listings did not finish".into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let peak_kib = daemon.memory()?.peak_kib;
    daemon.stop(Duration::from_secs(30)).await?;
    sim.shutdown().await;
    let most = samples.iter().copied().max().unwrap_or(0);
    println!();
    println!(
        "Poll mode, {} active tasks, {} listings: idle RSS {:.1} MB, peak {:.1} MB (high-water mark; highest sample {:.1} MB): {:+.1} MB; a listing took {}",
        params.tasks,
        params.listings,
        idle_kib as f64 / 1024.0,
        peak_kib as f64 / 1024.0,
        most as f64 / 1024.0,
        (peak_kib as f64 - idle_kib as f64) / 1024.0,
        listing_took
            .iter()
            .map(|d| format!("{:.2} s", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
