//! Shared harness for the integration tests: a real RabbitMQ on 127.0.0.1:5672, a `vcd-sim`
//! and the daemon, both in-process, with exchange and queue names unique to each test so tests
//! can run in parallel against one broker. Tests of the vCD client alone use a sim without a
//! broker and the client as the daemon builds it. Webhooks go to a [`WebhookReceiver`] on
//! loopback; everything the test binary logs is also kept for [`captured_logs`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::StreamExt;
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeleteOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use uuid::Uuid;
use vcd_blockd::Daemon;
use vcd_blockd::Health;
use vcd_blockd::Metrics;
use vcd_blockd::VcdClient;
use vcd_blockd::{ApiVersionChoice, Settings, VcdAuth, VcdSettings};
use vcd_sim::{NewTask, Sim, SimConfig, TaskView};

pub(crate) const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// The admin API token every test daemon is configured with.
pub(crate) const ADMIN_TOKEN: &str = "test-admin-token";
/// The cluster secret every test daemon shares (`[http] cluster_secret_file`).
pub(crate) const CLUSTER_SECRET: &str =
    "5f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
/// A policy that holds deployments for an approver (an hour, then aborts) and resumes the rest.
pub(crate) const HOLD_DEPLOYMENTS: &str = r#"
[defaults]
action = "resume"

[[rule]]
name = "deployments need an approver"
operation = "vdcInstantiateVapp"
action = "hold"
hold = { max = "1h", fallback = "abort" }
"#;

/// How long a test waits for something that should happen within a second or two.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// The value of a counter series such as `webhooks_total{event="held",outcome="sent"}`; 0
/// while the series has not been written.
pub(crate) fn counter(metrics: &vcd_blockd::Metrics, series: &str) -> u64 {
    let prefixed = format!("vcd_blockd_{series} ");
    metrics
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(&prefixed))
        .map_or(0, |value| value.trim().parse().unwrap())
}

pub(crate) fn example_policy() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies/example.toml"
    ))
    .unwrap()
}

/// How to set up a test world.
pub(crate) struct Options {
    pub format: &'static str,
    pub api_version: &'static str,
    pub auth: &'static str,
    pub policy: String,
    pub mode: &'static str,
    pub queue_type: &'static str,
    /// The sim's cloud-wide blocking task timeout.
    pub task_timeout: Duration,
    /// `[holds] extend_by`: the timeout each keepalive asks for.
    pub extend_by: &'static str,
    pub reconcile_interval: &'static str,
    /// More lines for the `[http]` section (e.g. `admin_listen`, TLS files).
    pub http_extra: String,
    /// The text of `[http] approvers_file`; `None` leaves the key out.
    pub approvers: Option<String>,
    /// `[holds] allow_self_approval`.
    pub allow_self_approval: bool,
    /// `[http] public_url`; empty = none.
    pub public_url: &'static str,
    /// One `[[notify]]` entry each, its URL given through `url_file`.
    pub webhooks: Vec<Webhook>,
    /// More `[[notify]]` entries, as TOML (mail receivers), after those of `webhooks`.
    pub notify_extra: String,
    /// False: poll mode. The config has no `[amqp]` section and the sim publishes nothing.
    pub broker: bool,
    /// `[amqp] exchange` when the operator's exchange is not the one the sim publishes to;
    /// `None` = the sim's exchange of `format`.
    pub exchange: Option<String>,
    /// `[vcd] max_in_flight`.
    pub max_in_flight: usize,
    /// `[amqp] prefetch`; `None` leaves the key out (it follows `max_in_flight`).
    pub prefetch: Option<u16>,
    /// `[slack]`; `None` leaves the section out.
    pub slack: Option<SlackOptions>,
    /// One `[[ask]]` entry each, its URL given through `url_file`.
    pub asks: Vec<AskService>,
}

/// An `[[ask]]` entry.
pub(crate) struct AskService {
    pub name: &'static str,
    pub url: String,
    pub format: &'static str,
    pub timeout: &'static str,
    /// The key of `hmac_secret_file`; `None` leaves the key out.
    pub hmac_secret: Option<String>,
}

/// A `[slack]` section, its tokens written to files.
pub(crate) struct SlackOptions {
    pub api_url: String,
    /// Socket Mode: an `app_token_file`.
    pub socket: bool,
    /// `signing_secret_file` holding this secret.
    pub signing_secret: Option<String>,
}

/// The tokens the `[slack]` section's files hold; they must never show in a log.
pub(crate) const SLACK_BOT_TOKEN: &str = "xoxb-1111-2222-s3cretbot";
pub(crate) const SLACK_APP_TOKEN: &str = "xapp-1-A0001-3333-s3cretapp";

/// A `[[notify]]` entry.
pub(crate) struct Webhook {
    pub url: String,
    pub format: &'static str,
    /// `events`; `None` leaves the key out (every event).
    pub events: Option<&'static [&'static str]>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            format: "xml",
            api_version: "37.2",
            auth: "password",
            policy: example_policy(),
            mode: "enforce",
            queue_type: "classic",
            task_timeout: Duration::from_secs(600),
            extend_by: "15m",
            reconcile_interval: "5m",
            http_extra: String::new(),
            approvers: None,
            allow_self_approval: false,
            public_url: "",
            webhooks: Vec::new(),
            notify_extra: String::new(),
            broker: true,
            exchange: None,
            max_in_flight: 64,
            prefetch: Some(8),
            slack: None,
            asks: Vec::new(),
        }
    }
}

pub(crate) struct World {
    pub sim: Sim,
    pub daemon: Option<Daemon>,
    pub settings: Settings,
    pub queue: String,
    pub xml_exchange: String,
    pub json_exchange: String,
    pub channel: Channel,
    connection: Connection,
    dir: tempfile::TempDir,
    /// Deletes the queues and exchanges when the world ends without [`World::finish`] (a
    /// failed assertion, a forgotten `finish`).
    leftovers: Leftovers,
}

/// A test's queues (`queue`, `.dead`, `.leader`) and exchanges (the sim's two, `.dlx`), deleted
/// on drop unless `finish` already did.
struct Leftovers {
    queue: String,
    exchanges: Vec<String>,
    cleaned: bool,
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        if self.cleaned {
            return;
        }
        let queue = self.queue.clone();
        let exchanges = self.exchanges.clone();
        // Its own thread and runtime: the drop may run inside the test's runtime, or while
        // it unwinds.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime
                .block_on(vcd_sim::clean_broker(AMQP_URL, &exchanges, Some(&queue)))
                .ok()
        })
        .join();
    }
}

impl World {
    /// Starts the sim and the daemon and waits until the daemon consumes.
    pub(crate) async fn start(options: Options) -> World {
        let world = World::without_daemon(options).await;
        world.with_daemon().await
    }

    /// Starts the sim only; [`World::with_daemon`] adds the daemon.
    pub(crate) async fn without_daemon(options: Options) -> World {
        init_logging();
        let tag = Uuid::new_v4().simple().to_string()[..10].to_owned();
        let xml_exchange = format!("systemExchange-test-{tag}");
        let json_prefix = format!("vcd-test-{tag}");
        let json_exchange = format!("{json_prefix}.notifications20");
        let sim = Sim::start(SimConfig {
            amqp_url: options.broker.then(|| AMQP_URL.into()),
            xml_exchange: xml_exchange.clone(),
            json_prefix,
            api_version: options.api_version.into(),
            task_timeout: options.task_timeout,
            ..SimConfig::default()
        })
        .await
        .expect("vcd-sim starts (is RabbitMQ running on 127.0.0.1:5672?)");
        let dir = tempfile::tempdir().unwrap();
        let queue = format!("vcd-blockd-test-{tag}");
        let exchange = match &options.exchange {
            Some(exchange) => exchange,
            None if options.format == "json" => &json_exchange,
            None => &xml_exchange,
        };
        let settings = write_config(&dir, &sim, &options, exchange, &queue);
        let connection = Connection::connect(AMQP_URL, ConnectionProperties::default())
            .await
            .unwrap();
        let channel = connection.create_channel().await.unwrap();
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        let leftovers = Leftovers {
            queue: queue.clone(),
            exchanges: vec![xml_exchange.clone(), json_exchange.clone()],
            cleaned: false,
        };
        World {
            sim,
            daemon: None,
            settings,
            queue,
            xml_exchange,
            json_exchange,
            channel,
            connection,
            dir,
            leftovers,
        }
    }

    pub(crate) async fn with_daemon(mut self) -> World {
        let daemon = Daemon::start(self.settings.clone())
            .await
            .expect("daemon starts");
        let poll_mode = self.settings.amqp.is_none();
        wait_until("the daemon consumes (or polls)", || {
            daemon.is_leader() && (daemon.health.source_ready("amqp") || poll_mode)
        })
        .await;
        self.daemon = Some(daemon);
        self
    }

    pub(crate) fn daemon(&self) -> &Daemon {
        self.daemon.as_ref().expect("daemon running")
    }

    /// The in-process daemon's admin API base URL.
    pub(crate) fn admin_url(&self) -> String {
        format!("http://{}", self.daemon().admin_address)
    }

    pub(crate) fn config_path(&self) -> std::path::PathBuf {
        self.dir.path().join("config.toml")
    }

    /// Starts the daemon as its own process (`vcd-blockd run`) listening on `port`, and waits
    /// until it is ready.
    pub(crate) async fn spawn_daemon_process(&self, port: u16) -> DaemonProcess {
        self.spawn_daemon_process_with(port, &[]).await
    }

    /// [`World::spawn_daemon_process`] with more environment variables.
    pub(crate) async fn spawn_daemon_process_with(
        &self,
        port: u16,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> DaemonProcess {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_vcd-blockd"))
            .arg("run")
            .arg("-c")
            .arg(self.config_path())
            .env("VCD_BLOCKD__HTTP__LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("vcd-blockd starts");
        ready_process(child, port).await
    }

    /// [`World::spawn_daemon_process`] with at most `open_files` file descriptors
    /// (`ulimit -n`) and its log (text format) written to `log`.
    pub(crate) async fn spawn_limited_daemon_process(
        &self,
        port: u16,
        open_files: u32,
        log: &std::path::Path,
    ) -> DaemonProcess {
        let log = std::fs::File::create(log).unwrap();
        let child = std::process::Command::new("sh")
            .arg("-c")
            .arg("ulimit -n \"$0\" && exec \"$@\"")
            .arg(open_files.to_string())
            .arg(env!("CARGO_BIN_EXE_vcd-blockd"))
            .arg("run")
            .arg("-c")
            .arg(self.config_path())
            .env("VCD_BLOCKD__HTTP__LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("vcd-blockd starts");
        ready_process(child, port).await
    }

    pub(crate) async fn stop_daemon(&mut self) {
        if let Some(daemon) = self.daemon.take() {
            daemon.stop().await;
        }
    }

    pub(crate) async fn create(&self, task: NewTask) -> Uuid {
        self.sim
            .create_task(task)
            .await
            .expect("sim creates the task")
    }

    /// Waits until the sim shows task `id` in `status`, and returns it.
    pub(crate) async fn wait_for_status(&self, id: Uuid, status: &str) -> TaskView {
        let mut last = None;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while tokio::time::Instant::now() < deadline {
            let view = self.sim.task(id).expect("task exists in the sim");
            if view.status == status {
                return view;
            }
            last = Some(view);
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("task {id} never became {status:?}; last seen: {last:#?}");
    }

    /// The action calls (resume/abort/fail/updateProgress) the sim received for task `id`.
    pub(crate) fn action_calls(&self, id: Uuid) -> Vec<vcd_sim::Call> {
        let prefix = format!("/api/admin/extension/blockingTask/{id}/action/");
        self.sim
            .calls()
            .into_iter()
            .filter(|c| c.path.starts_with(&prefix))
            .collect()
    }

    pub(crate) async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        headers: FieldTable,
        body: &[u8],
    ) {
        let properties = BasicProperties::default()
            .with_headers(headers)
            .with_delivery_mode(2);
        let confirm = self
            .channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                properties,
            )
            .await
            .unwrap()
            .await
            .unwrap();
        assert!(!confirm.is_nack(), "broker refused the test message");
    }

    /// Publishes a crafted notification to the XML exchange, as vCD would.
    pub(crate) async fn publish_crafted(&self, crafted: &Crafted) {
        self.publish(
            &self.xml_exchange,
            &crafted.routing_key,
            crafted.headers.clone(),
            crafted.body.as_bytes(),
        )
        .await;
    }

    /// The first request the sim received for task `id` (the daemon's read of it).
    pub(crate) fn first_read(&self, id: Uuid) -> vcd_sim::Call {
        self.sim
            .calls()
            .into_iter()
            .find(|c| c.path.ends_with(&id.to_string()))
            .expect("the daemon read the task")
    }

    /// Waits until the daemon has listed vCD's active tasks once (the reconciliation at
    /// start): tasks created after that are found only through their notifications, until
    /// the next reconciliation (`reconcile_interval`, 5 min by default).
    pub(crate) async fn wait_for_first_listing(&self) {
        wait_until("the daemon listed vCD's tasks", || {
            self.sim.calls().iter().any(|c| {
                (c.path.starts_with("/api/query?type=blockingTask")
                    || c.path.starts_with("/api/admin/extension/blockingTasks"))
                    && c.status != 0
            })
        })
        .await;
    }

    /// Takes every message currently in `<queue>.dead`.
    pub(crate) async fn dead_letters(&self) -> Vec<lapin::message::BasicGetMessage> {
        let dead = format!("{}.dead", self.queue);
        let mut messages = Vec::new();
        while let Some(message) = self
            .channel
            .basic_get(dead.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            messages.push(message);
        }
        messages
    }

    /// Stops the daemon and the sim, and removes the test's queues and exchanges.
    pub(crate) async fn finish(mut self) {
        self.stop_daemon().await;
        self.sim.shutdown().await;
        for queue in [
            self.queue.clone(),
            format!("{}.dead", self.queue),
            format!("{}.leader", self.queue),
            format!("{}.journal", self.queue),
        ] {
            let _ = self
                .channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        for exchange in [
            format!("{}.dlx", self.queue),
            self.xml_exchange.clone(),
            self.json_exchange.clone(),
        ] {
            let _ = self
                .channel
                .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                .await;
        }
        let _ = self.connection.close(200, "done".into()).await;
        self.leftovers.cleaned = true;
        drop(self.dir);
    }
}

fn write_config(
    dir: &tempfile::TempDir,
    sim: &Sim,
    options: &Options,
    exchange: &str,
    queue: &str,
) -> Settings {
    let path = |name: &str| dir.path().join(name);
    std::fs::write(path("vcd-password"), "vmware\n").unwrap();
    std::fs::write(path("vcd-api-token"), "sim-api-token\n").unwrap();
    std::fs::write(path("amqp-url"), AMQP_URL).unwrap();
    std::fs::write(path("policy.toml"), &options.policy).unwrap();
    std::fs::write(path("admin-token"), ADMIN_TOKEN).unwrap();
    std::fs::write(path("cluster-secret"), format!("{CLUSTER_SECRET}\n")).unwrap();
    let approvers_file = match &options.approvers {
        Some(text) => {
            std::fs::write(path("approvers.toml"), text).unwrap();
            "approvers_file = \"approvers.toml\""
        }
        None => "",
    };
    let secret = if options.auth == "api-token" {
        "api_token_file = \"vcd-api-token\""
    } else {
        "password_file = \"vcd-password\""
    };
    let mut notify = String::new();
    for (index, webhook) in options.webhooks.iter().enumerate() {
        let url_file = format!("webhook-url-{index}");
        std::fs::write(path(&url_file), format!("{}\n", webhook.url)).unwrap();
        notify.push_str(&format!(
            "\n[[notify]]\nurl_file = \"{url_file}\"\nformat = \"{}\"\n",
            webhook.format
        ));
        if let Some(events) = webhook.events {
            notify.push_str(&format!("events = {events:?}\n"));
        }
    }
    notify.push_str(&options.notify_extra);
    if let Some(slack) = &options.slack {
        std::fs::write(path("slack-bot-token"), format!("{SLACK_BOT_TOKEN}\n")).unwrap();
        notify.push_str(&format!(
            "\n[slack]\nbot_token_file = \"slack-bot-token\"\nchannel = \"#approvals\"\napi_url = \"{}\"\n",
            slack.api_url
        ));
        if slack.socket {
            std::fs::write(path("slack-app-token"), format!("{SLACK_APP_TOKEN}\n")).unwrap();
            notify.push_str("app_token_file = \"slack-app-token\"\n");
        }
        if let Some(secret) = &slack.signing_secret {
            std::fs::write(path("slack-signing-secret"), format!("{secret}\n")).unwrap();
            notify.push_str("signing_secret_file = \"slack-signing-secret\"\n");
        }
    }
    for (index, ask) in options.asks.iter().enumerate() {
        let url_file = format!("ask-url-{index}");
        std::fs::write(path(&url_file), format!("{}\n", ask.url)).unwrap();
        notify.push_str(&format!(
            "\n[[ask]]\nname = \"{}\"\nurl_file = \"{url_file}\"\nformat = \"{}\"\ntimeout = \"{}\"\n",
            ask.name, ask.format, ask.timeout
        ));
        if let Some(secret) = &ask.hmac_secret {
            let secret_file = format!("ask-hmac-{index}");
            std::fs::write(path(&secret_file), format!("{secret}\n")).unwrap();
            notify.push_str(&format!("hmac_secret_file = \"{secret_file}\"\n"));
        }
    }
    let config = format!(
        r#"
[vcd]
url = "{url}"
auth = "{auth}"
{secret}
request_timeout = "5s"
max_in_flight = {max_in_flight}

{amqp}
[policy]
path = "policy.toml"
mode = "{mode}"

[holds]
extend_by = "{extend_by}"
allow_self_approval = {allow_self_approval}

[reconcile]
interval = "{reconcile_interval}"

[state]
dir = "{state_dir}"

[http]
listen = "127.0.0.1:0"
admin_token_file = "admin-token"
cluster_secret_file = "cluster-secret"
{http_extra}
{approvers_file}
public_url = "{public_url}"
{notify}"#,
        url = sim.base_url(),
        amqp = if options.broker {
            format!(
                "[amqp]\nurl_file = \"amqp-url\"\nexchange = \"{exchange}\"\nformat = \"{}\"\n\
                 queue = \"{queue}\"\nqueue_type = \"{}\"\n{}\n",
                options.format,
                options.queue_type,
                options
                    .prefetch
                    .map_or_else(String::new, |p| format!("prefetch = {p}")),
            )
        } else {
            String::new()
        },
        auth = options.auth,
        mode = options.mode,
        extend_by = options.extend_by,
        reconcile_interval = options.reconcile_interval,
        http_extra = options.http_extra,
        allow_self_approval = options.allow_self_approval,
        public_url = options.public_url,
        max_in_flight = options.max_in_flight,
        state_dir = path("state").display(),
    );
    std::fs::write(path("config.toml"), config).unwrap();
    Settings::load_with_env(Some(&path("config.toml")), &Default::default())
        .expect("test config is valid")
}

/// `child`, a daemon process listening on `port`, once its `/readyz` answers 200.
async fn ready_process(child: std::process::Child, port: u16) -> DaemonProcess {
    let process = DaemonProcess(child);
    let readyz = format!("http://127.0.0.1:{port}/readyz");
    let client = http_client();
    eventually("the daemon process is ready", || async {
        let response = client.get(&readyz).send().await.ok()?;
        response.status().is_success().then_some(())
    })
    .await;
    process
}

/// A daemon running as its own process; killed (SIGKILL) when dropped, so a failing test
/// leaves nothing behind.
pub(crate) struct DaemonProcess(std::process::Child);

impl DaemonProcess {
    /// Sends the process `signal` (e.g. `"HUP"`).
    pub(crate) fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.0.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// SIGKILL, and wait for the process to be gone.
    pub(crate) fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl From<std::process::Child> for DaemonProcess {
    fn from(child: std::process::Child) -> Self {
        DaemonProcess(child)
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A vcd-sim serving up to API `api_version` with no broker behind it: it publishes nothing,
/// for tests that only talk to its API.
pub(crate) async fn sim_without_broker(api_version: &str) -> Sim {
    init_logging();
    Sim::start(SimConfig {
        amqp_url: None,
        api_version: api_version.into(),
        ..SimConfig::default()
    })
    .await
    .expect("vcd-sim starts without a broker")
}

/// The daemon's `[vcd]` settings for `sim`: its administrator and password, the API version
/// negotiated automatically.
pub(crate) fn vcd_settings(sim: &Sim) -> VcdSettings {
    VcdSettings {
        url: url::Url::parse(&sim.base_url()).expect("the sim's base URL parses"),
        api_version: ApiVersionChoice::Auto,
        auth: VcdAuth::Password {
            user: "administrator@System".into(),
            password: "vmware".to_owned().into(),
        },
        ca_file: None,
        request_timeout: Duration::from_secs(5),
        max_in_flight: 64,
    }
}

/// The vCD client as the daemon builds it from `settings`, and the health it reports to.
pub(crate) fn vcd_client(settings: &VcdSettings) -> (VcdClient, Arc<Health>) {
    let health = Arc::new(Health::default());
    let client = VcdClient::new(settings, Arc::new(Metrics::new()), Arc::clone(&health))
        .expect("the vCD client builds");
    (client, health)
}

/// A port nobody listens on right now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A client for the admin API, with the test token or an approver's.
pub(crate) struct Admin {
    pub base: String,
    token: String,
    http: reqwest::Client,
}

impl Admin {
    pub(crate) fn new(base: String) -> Admin {
        Admin::with_token(base, ADMIN_TOKEN)
    }

    /// A client that presents `token` (an approver's).
    pub(crate) fn with_token(base: String, token: &str) -> Admin {
        Admin {
            base,
            token: token.to_owned(),
            http: http_client(),
        }
    }

    /// GET /v1/whoami: the status and the JSON answer.
    pub(crate) async fn whoami(&self) -> (u16, serde_json::Value) {
        let response = self
            .http
            .get(format!("{}/v1/whoami", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    /// GET /v1/holds, or `None` while the daemon does not answer.
    pub(crate) async fn holds(&self) -> Option<Vec<serde_json::Value>> {
        let response = self
            .http
            .get(format!("{}/v1/holds", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .ok()?;
        response.json().await.ok()
    }

    /// POST /v1/holds/{id}/{verb}: the status and the JSON answer.
    pub(crate) async fn decide(
        &self,
        id: &str,
        verb: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let response = self
            .http
            .post(format!("{}/v1/holds/{id}/{verb}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }
}

/// Polls `probe` until it returns `Some`.
pub(crate) async fn eventually<T, F: Future<Output = Option<T>>>(
    what: &str,
    mut probe: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The `x-vcd-blockd-reason` header of a dead letter.
pub(crate) fn dead_letter_reason(message: &lapin::message::BasicGetMessage) -> String {
    let headers = message
        .delivery
        .properties
        .headers()
        .clone()
        .unwrap_or_default();
    match headers.inner().get("x-vcd-blockd-reason") {
        Some(AMQPValue::LongString(reason)) => {
            String::from_utf8_lossy(reason.as_bytes()).into_owned()
        }
        other => panic!("dead letter without a reason header: {other:?}"),
    }
}

/// A `blockingtask/create` notification as vCD would publish it for `task`, with the
/// entity resolver pointing at `resolver` (normally the vCD base URL).
pub(crate) struct Crafted {
    pub routing_key: String,
    pub headers: FieldTable,
    pub body: String,
}

pub(crate) fn craft_create_notification(task: &TaskView, resolver: &str) -> Crafted {
    let org = Uuid::new_v4();
    let user = Uuid::new_v4();
    let id = task.id;
    let operation = &task.operation;
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<vmext:Notification xmlns:vmext="http://www.vmware.com/vcloud/extension/v1.5" type="com/vmware/vcloud/event/blockingtask/create" eventId="{event}">
    <vmext:Link rel="entityResolver" href="{resolver}/api/entity/"/>
    <vmext:EntityLink rel="entity" type="vcloud:blockingTask" name="{operation}" id="urn:vcloud:blockingTask:{id}"/>
    <vmext:EntityLink rel="down" type="vcloud:user" name="{user_name}" id="urn:vcloud:user:{user}"/>
    <vmext:EntityLink rel="up" type="vcloud:org" name="{org_name}" id="urn:vcloud:org:{org}"/>
    <vmext:Timestamp>2026-11-20T09:14:03.512+01:00</vmext:Timestamp>
    <vmext:OperationSuccess>true</vmext:OperationSuccess>
</vmext:Notification>"#,
        event = Uuid::new_v4(),
        user_name = task.user,
        org_name = task.org,
    );
    let mut headers = FieldTable::default();
    let text = |v: String| AMQPValue::LongString(v.into());
    headers.insert(
        "notification.type".into(),
        text("com/vmware/vcloud/event/blockingtask/create".into()),
    );
    headers.insert(
        "notification.entityType".into(),
        text("blockingTask".into()),
    );
    headers.insert("notification.entityUUID".into(), text(id.to_string()));
    headers.insert("notification.orgUUID".into(), text(org.to_string()));
    headers.insert("notification.userUUID".into(), text(user.to_string()));
    headers.insert(
        "notification.operationSuccess".into(),
        AMQPValue::Boolean(true),
    );
    Crafted {
        routing_key: format!(
            "true.{id}.{org}.{user}.com.vmware.vcloud.event.blockingtask.create.{operation}"
        ),
        headers,
        body,
    }
}

/// Everything the test binary logged at `info` and above (the daemon's own modules from
/// `debug`), whatever `RUST_LOG` shows: tests look for what must never be logged.
static CAPTURED_LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// The captured logs so far, of every test in this binary.
pub(crate) fn captured_logs() -> String {
    String::from_utf8_lossy(&CAPTURED_LOGS.lock().unwrap()).into_owned()
}

#[derive(Clone, Copy)]
struct Capture;

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        CAPTURED_LOGS.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl tracing_subscriber::fmt::MakeWriter<'_> for Capture {
    type Writer = Capture;

    fn make_writer(&self) -> Capture {
        Capture
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let shown = tracing_subscriber::fmt::layer()
        .with_test_writer()
        .with_filter(EnvFilter::new(
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        ));
    let captured = tracing_subscriber::fmt::layer()
        .with_writer(Capture)
        .with_ansi(false)
        .with_filter(EnvFilter::new("info,vcd_blockd=debug"));
    let _ = tracing_subscriber::registry()
        .with(shown)
        .with(captured)
        .try_init();
}

/// A webhook receiver on loopback, as a chat service would be: it records every POST to its
/// URL (whose path holds a secret, like a Slack or Teams webhook's) and answers 200.
pub(crate) struct WebhookReceiver {
    pub url: String,
    /// The secret path segment: it must never show in a log.
    pub secret: String,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl WebhookReceiver {
    pub(crate) async fn start() -> WebhookReceiver {
        use axum::extract::State;
        let secret = format!("s3cret-{}", Uuid::new_v4().simple());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .route(
                &format!("/hooks/{secret}"),
                axum::routing::post(
                    |State(bodies): State<Arc<Mutex<Vec<serde_json::Value>>>>,
                     axum::Json(body): axum::Json<serde_json::Value>| async move {
                        bodies.lock().unwrap().push(body);
                    },
                ),
            )
            .with_state(bodies.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        WebhookReceiver {
            url: format!("http://{address}/hooks/{secret}"),
            secret,
            bodies,
        }
    }

    /// Every body received so far, in arrival order.
    pub(crate) fn bodies(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().unwrap().clone()
    }

    /// Waits until `count` bodies came for which `select` is true, and returns them.
    pub(crate) async fn wait_for(
        &self,
        count: usize,
        select: impl Fn(&serde_json::Value) -> bool,
    ) -> Vec<serde_json::Value> {
        eventually(&format!("{count} webhooks arrived"), || {
            let chosen: Vec<_> = self.bodies().into_iter().filter(|b| select(b)).collect();
            std::future::ready((chosen.len() >= count).then_some(chosen))
        })
        .await
    }
}

/// Reads `<queue>` messages as a stream until none arrive for a moment (for inspection).
pub(crate) async fn drain(channel: &Channel, queue: &str) -> usize {
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "drain".into(),
            Default::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut count = 0;
    while let Ok(Some(Ok(delivery))) =
        tokio::time::timeout(Duration::from_millis(300), consumer.next()).await
    {
        delivery.acker.ack(Default::default()).await.unwrap();
        count += 1;
    }
    channel
        .basic_cancel("drain".into(), Default::default())
        .await
        .unwrap();
    count
}

/// An administrator aborts task `id` in vCD directly, as through the vCD UI.
pub(crate) async fn abort_directly(world: &World, id: uuid::Uuid) {
    let http = http_client();
    let base = world.sim.base_url();
    let login = http
        .post(format!("{base}/api/sessions"))
        .basic_auth("administrator@System", Some("vmware"))
        .header("Accept", "application/*+xml;version=37.2")
        .send()
        .await
        .unwrap();
    let token = login.headers()["x-vcloud-authorization"].clone();
    let abort = http
        .post(format!("{base}/api/admin/extension/blockingTask/{id}/action/abort"))
        .header("x-vcloud-authorization", token)
        .header("Accept", "application/*+xml;version=37.2")
        .header("Content-Type", "application/vnd.vmware.admin.blockingTaskOperationParams+xml")
        .body(r#"<BlockingTaskOperationParams xmlns="http://www.vmware.com/vcloud/extension/v1.5"><Message>by hand</Message></BlockingTaskOperationParams>"#)
        .send()
        .await
        .unwrap();
    assert_eq!(abort.status(), 204);
}

/// A plain HTTP client for talking to the daemon and the sim. reqwest is built without a
/// crypto provider (the daemon installs ring's), so one is installed first.
pub(crate) fn http_client() -> reqwest::Client {
    vcd_blockd::install_crypto_provider();
    reqwest::Client::new()
}
