//! A backlog where some tasks ask a decision service (`ASK_TASKS`): that many tasks are
//! announced while the daemon is stopped, every `ASK_EVERY`-th (10) of them matching a rule
//! with `action = "ask"` whose service (a stand-in in this process) answers resume after
//! `ASK_SERVICE_MS` (20) ms; the others resume by `[defaults]`. In the same run, the same
//! backlog with no task asking is drained first, for the rate without asks. Reported: how fast
//! the tasks that do not ask were decided in both cases (their rate must not fall because
//! others ask), when the last asking task was decided, and the most asks the service had
//! under way at once (the daemon's bound per service).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use vcd_sim::NewTask;

use crate::process::DaemonProcess;
use crate::prom::Scrape;
use crate::world::{Setup, World};
use crate::{DECISIONS, POLL, created, say};

/// The asking rule's name, as `decisions_total{rule}` shows it.
const ASKING_RULE: &str = "ask the service";

pub(crate) struct AskParams {
    pub tasks: usize,
    /// One task in this many asks.
    pub every: usize,
    pub service_ms: u64,
}

/// What one drain measured.
struct Drained {
    /// Until every task that does not ask was decided.
    plain: Duration,
    /// Until every asking task was decided (`None`: none asked).
    asking: Option<Duration>,
}

pub(crate) async fn run(params: &AskParams) -> Result<(), String> {
    let service = Service::start(Duration::from_millis(params.service_ms)).await?;
    let asking = params.tasks / params.every;
    say(&format!(
        "ask: {} tasks, {asking} of them ask a service answering after {} ms",
        params.tasks, params.service_ms
    ));
    let without = drain(params, &service, false).await?;
    let with = drain(params, &service, true).await?;
    let plain = params.tasks - asking;
    let rate = |count: usize, took: Duration| count as f64 / took.as_secs_f64();
    say(&format!(
        "without asks: {} tasks decided in {:.2?} ({:.0}/s)",
        params.tasks,
        without.plain,
        rate(params.tasks, without.plain)
    ));
    let asked = with.asking.unwrap_or_default();
    say(&format!(
        "with asks: the {plain} that do not ask decided in {:.2?} ({:.0}/s), the {asking} that ask \
         by {:.2?} ({:.0} asks/s); the service had at most {} asks at once",
        with.plain,
        rate(plain, with.plain),
        asked,
        rate(asking, asked),
        service.most.load(Ordering::Relaxed),
    ));
    println!(
        "\nask ({} tasks, 1 in {} asks a service answering in {} ms)\n\
         | case | tasks that do not ask | their rate | tasks that ask, all decided by |\n\
         |---|---|---|---|\n\
         | no task asks | {} in {:.2?} | {:.0}/s | — |\n\
         | 1 in {} asks | {plain} in {:.2?} | {:.0}/s | {asking} by {:.2?} ({:.0} asks/s, ≤ {} at once) |",
        params.tasks,
        params.every,
        params.service_ms,
        params.tasks,
        without.plain,
        rate(params.tasks, without.plain),
        params.every,
        with.plain,
        rate(plain, with.plain),
        asked,
        rate(asking, asked),
        service.most.load(Ordering::Relaxed),
    );
    Ok(())
}

/// One drain of the backlog; with `ask`, every `params.every`-th task asks the service.
async fn drain(params: &AskParams, service: &Service, ask: bool) -> Result<Drained, String> {
    let setup = Setup {
        max_in_flight: None,
        prefetch: None,
    };
    let world = World::start(&setup).await?;
    let result = drain_in(&world, params, service, ask).await;
    world.finish().await;
    result
}

async fn drain_in(
    world: &World,
    params: &AskParams,
    service: &Service,
    ask: bool,
) -> Result<Drained, String> {
    let policy = format!(
        "[defaults]\naction = \"resume\"\n\n[[rule]]\nname = \"{ASKING_RULE}\"\n\
         owner_name = \"ask-*\"\naction = \"ask\"\nask = {{ service = \"svc\", recheck = \"1m\" }}\n\
         hold = {{ max = \"1h\" }}\n"
    );
    std::fs::write(world.path("policy.toml"), policy).map_err(|e| e.to_string())?;
    let mut config = std::fs::read_to_string(&world.config).map_err(|e| e.to_string())?;
    config.push_str(&format!(
        "\n[[ask]]\nname = \"svc\"\nurl = \"{}\"\ntimeout = \"10s\"\n",
        service.url
    ));
    std::fs::write(&world.config, config).map_err(|e| e.to_string())?;

    let every = if ask { params.every } else { usize::MAX };
    announce(world, params.tasks, every).await?;
    let asking = if ask { params.tasks / params.every } else { 0 };
    let plain = (params.tasks - asking) as f64;
    let mut daemon =
        DaemonProcess::start(&world.config, &world.path("daemon.log"), world.http_port)?;
    let started = Instant::now();
    daemon.wait_ready(Duration::from_secs(60)).await?;
    let mut plain_done = None;
    let mut asking_done = (asking == 0).then(Duration::default);
    while plain_done.is_none() || asking_done.is_none() {
        tokio::time::sleep(POLL).await;
        let scrape = Scrape::parse(&daemon.scrape().await?);
        let by_defaults = scrape.value(DECISIONS, "action=\"resume\",rule=\"defaults\"");
        let by_service = scrape.value(
            DECISIONS,
            &format!("action=\"resume\",rule=\"{ASKING_RULE}\""),
        );
        if plain_done.is_none() && by_defaults >= plain {
            plain_done = Some(started.elapsed());
        }
        if asking_done.is_none() && by_service >= asking as f64 {
            asking_done = Some(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(1800) {
            return Err(format!(
                "after 30 minutes: {by_defaults} of {plain} plain and {by_service} of {asking} \
                 asking tasks decided"
            ));
        }
    }
    daemon.stop(Duration::from_secs(30)).await?;
    Ok(Drained {
        plain: plain_done.unwrap_or_default(),
        asking: (asking > 0).then(|| asking_done.unwrap_or_default()),
    })
}

/// Creates `count` tasks, every `every`-th owned by a vApp `ask-<n>`, 64 at a time, and waits
/// until the daemon's queue holds them all.
async fn announce(world: &World, count: usize, every: usize) -> Result<(), String> {
    let started = Instant::now();
    let mut pending = tokio::task::JoinSet::new();
    for n in 0..count {
        if pending.len() >= 64
            && let Some(done) = pending.join_next().await
        {
            created(done)?;
        }
        let task = if n % every == every - 1 {
            NewTask {
                owner_name: format!("ask-{n}"),
                ..NewTask::default()
            }
        } else {
            NewTask::default()
        };
        let sim = world.sim.clone();
        pending.spawn(async move { sim.create_task(task).await });
    }
    while let Some(done) = pending.join_next().await {
        created(done)?;
    }
    while (world.ready(&world.queue).await? as usize) < count {
        tokio::time::sleep(POLL).await;
    }
    say(&format!(
        "{count} tasks announced in {:.1?}",
        started.elapsed()
    ));
    Ok(())
}

/// The decision service stand-in: answers every request `{"decision": "resume"}` after
/// `delay`, and keeps the most requests it had under way at once.
struct Service {
    url: String,
    most: Arc<AtomicUsize>,
}

impl Service {
    async fn start(delay: Duration) -> Result<Service, String> {
        let now = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (under_way, highest) = (now.clone(), most.clone());
        let app = axum::Router::new().fallback(move || {
            let (under_way, highest) = (under_way.clone(), highest.clone());
            async move {
                let at_once = under_way.fetch_add(1, Ordering::Relaxed) + 1;
                highest.fetch_max(at_once, Ordering::Relaxed);
                tokio::time::sleep(delay).await;
                under_way.fetch_sub(1, Ordering::Relaxed);
                axum::Json(serde_json::json!({"decision": "resume"}))
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Service {
            url: format!("http://{address}/decide"),
            most,
        })
    }
}
