//! Prometheus metrics (prefix `vcd_blockd_`), registered once and shared by every component
//! through an `Arc<Metrics>`. Label values are short, fixed vocabularies or rule names.

use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::outcome::{
    DeadLetterReason, KeepaliveOutcome, NotificationOutcome, RunOutcome, WebhookEvent,
    WebhookOutcome,
};

type Labels = Vec<(&'static str, String)>;
type Counters = Family<Labels, Counter>;

/// Every metric the daemon exports. Cheap to update from any task.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    notifications: Counters,
    decisions: Counters,
    vcd_requests: Counters,
    vcd_request_seconds: Histogram,
    /// Requests to vCD under way now (each holds a slot of the adaptive limit).
    pub vcd_in_flight: Gauge,
    /// The adaptive limit on concurrent vCD requests, at most `vcd.max_in_flight`.
    pub vcd_concurrency_limit: Gauge,
    pub holds_active: Gauge,
    /// Unix time of the soonest hold deadline; 0 when nothing is held. Set at each scrape.
    hold_next_deadline: Gauge,
    keepalives: Counters,
    hold_lateness_seconds: Histogram,
    policy_reloads: Counters,
    /// Unix time of the last policy load that succeeded (at start or on reload).
    policy_last_reload_success: Gauge,
    approvers_reloads: Counters,
    /// Admin API requests refused for a missing or unknown bearer token.
    pub admin_auth_failures: Counter,
    pub amqp_connected: Gauge,
    /// 1 while this instance leads (consumes, reconciles, keeps held tasks alive).
    pub leader: Gauge,
    reconcile_runs: Counters,
    dead_lettered: Counters,
    webhooks: Counters,
    /// The latest decision, for systemd's `STATUS=` line.
    last_decision: Mutex<Option<LastDecision>>,
}

/// When the latest decision was taken, its action and rule.
#[derive(Debug, Clone)]
pub(crate) struct LastDecision {
    pub at: Instant,
    pub action: &'static str,
    pub rule: String,
    pub dry_run: bool,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        // The daemon's own metrics carry the prefix; the standard process_* ones do not.
        let mut root = Registry::default();
        root.register_collector(Box::new(ProcessCollector));
        let registry = root.sub_registry_with_prefix("vcd_blockd");
        let notifications = Counters::default();
        let decisions = Counters::default();
        let vcd_requests = Counters::default();
        let buckets = [
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ];
        let vcd_request_seconds = Histogram::new(buckets);
        let vcd_in_flight = Gauge::default();
        let vcd_concurrency_limit = Gauge::default();
        let holds_active = Gauge::default();
        let hold_next_deadline = Gauge::default();
        let keepalives = Counters::default();
        let hold_lateness_seconds =
            Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]);
        let policy_reloads = Counters::default();
        let policy_last_reload_success = Gauge::default();
        let approvers_reloads = Counters::default();
        let admin_auth_failures = Counter::default();
        let amqp_connected = Gauge::default();
        let leader = Gauge::default();
        let reconcile_runs = Counters::default();
        let dead_lettered = Counters::default();
        let webhooks = Counters::default();
        registry.register(
            "notifications",
            "Notifications received, by outcome",
            notifications.clone(),
        );
        registry.register(
            "decisions",
            "Decisions taken, by action, rule and dry_run",
            decisions.clone(),
        );
        registry.register(
            "vcd_requests",
            "Requests to vCD, by operation and HTTP status",
            vcd_requests.clone(),
        );
        registry.register(
            "vcd_request_seconds",
            "Duration of requests to vCD",
            vcd_request_seconds.clone(),
        );
        registry.register(
            "vcd_in_flight",
            "Requests to vCD under way now",
            vcd_in_flight.clone(),
        );
        registry.register(
            "vcd_concurrency_limit",
            "How many requests to vCD may be under way at once (adaptive, at most vcd.max_in_flight)",
            vcd_concurrency_limit.clone(),
        );
        registry.register(
            "holds_active",
            "Tasks currently held for a human",
            holds_active.clone(),
        );
        registry.register(
            "keepalives",
            "updateProgress keepalives, by outcome",
            keepalives.clone(),
        );
        registry.register(
            "hold_lateness_seconds",
            "How late held tasks were attended (keepalive or fallback) against their schedule",
            hold_lateness_seconds.clone(),
        );
        registry.register(
            "policy_reloads",
            "Policy reloads, by outcome",
            policy_reloads.clone(),
        );
        registry.register(
            "approvers_reloads",
            "Approvers file reloads, by outcome",
            approvers_reloads.clone(),
        );
        registry.register(
            "admin_auth_failures",
            "Admin API requests refused for a missing or unknown bearer token",
            admin_auth_failures.clone(),
        );
        registry.register(
            "amqp_connected",
            "1 while the AMQP consumer is connected",
            amqp_connected.clone(),
        );
        registry.register(
            "leader",
            "1 while this instance leads: it consumes, reconciles and keeps held tasks alive",
            leader.clone(),
        );
        registry.register(
            "reconcile_runs",
            "Reconciliation runs, by outcome",
            reconcile_runs.clone(),
        );
        registry.register(
            "dead_lettered",
            "Messages rejected to the dead-letter queue, by reason",
            dead_lettered.clone(),
        );
        let build_info = Family::<Labels, Gauge>::default();
        build_info
            .get_or_create(&vec![("version", env!("CARGO_PKG_VERSION").to_owned())])
            .set(1);
        registry.register(
            "hold_next_deadline_timestamp_seconds",
            "Unix time at which the soonest held task reaches its deadline (0: nothing is held)",
            hold_next_deadline.clone(),
        );
        registry.register(
            "build_info",
            "Always 1; the version label says which vcd-blockd runs",
            build_info,
        );
        registry.register(
            "policy_last_reload_success_timestamp_seconds",
            "Unix time of the last successful policy load (at start or on reload)",
            policy_last_reload_success.clone(),
        );
        registry.register(
            "webhooks",
            "Webhook events per [[notify]] receiver, by event and outcome",
            webhooks.clone(),
        );
        let metrics = Metrics {
            registry: root,
            notifications,
            decisions,
            vcd_requests,
            vcd_request_seconds,
            vcd_in_flight,
            vcd_concurrency_limit,
            holds_active,
            hold_next_deadline,
            keepalives,
            hold_lateness_seconds,
            policy_reloads,
            policy_last_reload_success,
            approvers_reloads,
            admin_auth_failures,
            amqp_connected,
            leader,
            reconcile_runs,
            dead_lettered,
            webhooks,
            last_decision: Mutex::new(None),
        };
        metrics.start_at_zero();
        metrics
    }

    pub fn notification(&self, outcome: NotificationOutcome) {
        self.notifications
            .get_or_create(&vec![("outcome", outcome.label().to_owned())])
            .inc();
    }

    pub fn decision(&self, action: &'static str, rule: &str, dry_run: bool) {
        let labels = vec![
            ("action", action.to_owned()),
            ("rule", rule.to_owned()),
            ("dry_run", dry_run.to_string()),
        ];
        self.decisions.get_or_create(&labels).inc();
        let last = LastDecision {
            at: Instant::now(),
            action,
            rule: rule.to_owned(),
            dry_run,
        };
        *self
            .last_decision
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(last);
    }

    pub(crate) fn last_decision(&self) -> Option<LastDecision> {
        self.last_decision
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// `status` is the HTTP status, or `"error"` when no response came back.
    pub fn vcd_request(&self, op: &'static str, status: &str, seconds: f64) {
        let labels = vec![("op", op.to_owned()), ("status", status.to_owned())];
        self.vcd_requests.get_or_create(&labels).inc();
        self.vcd_request_seconds.observe(seconds);
    }

    pub fn keepalive(&self, outcome: KeepaliveOutcome) {
        self.keepalives
            .get_or_create(&vec![("outcome", outcome.label().to_owned())])
            .inc();
    }

    pub fn hold_lateness(&self, seconds: f64) {
        self.hold_lateness_seconds.observe(seconds.max(0.0));
    }

    pub fn policy_reload(&self, outcome: RunOutcome) {
        self.policy_reloads
            .get_or_create(&vec![("outcome", outcome.label().to_owned())])
            .inc();
    }

    /// The soonest deadline among held tasks, as of now (`None`: nothing is held).
    pub fn hold_next_deadline(&self, deadline: Option<chrono::DateTime<chrono::Utc>>) {
        self.hold_next_deadline
            .set(deadline.map_or(0, |deadline| deadline.timestamp()));
    }

    /// A policy was loaded and is in force: at start and after each successful reload.
    pub fn policy_loaded(&self, at: chrono::DateTime<chrono::Utc>) {
        self.policy_last_reload_success.set(at.timestamp());
    }

    pub fn approvers_reload(&self, outcome: RunOutcome) {
        self.approvers_reloads
            .get_or_create(&vec![("outcome", outcome.label().to_owned())])
            .inc();
    }

    pub fn reconcile_run(&self, outcome: RunOutcome) {
        self.reconcile_runs
            .get_or_create(&vec![("outcome", outcome.label().to_owned())])
            .inc();
    }

    pub fn dead_lettered(&self, reason: DeadLetterReason) {
        self.dead_lettered
            .get_or_create(&vec![("reason", reason.label().to_owned())])
            .inc();
    }

    pub(crate) fn webhook(&self, event: WebhookEvent, outcome: WebhookOutcome) {
        let labels = vec![
            ("event", event.label().to_owned()),
            ("outcome", outcome.label().to_owned()),
        ];
        self.webhooks.get_or_create(&labels).inc();
    }

    /// Creates every series of a fixed vocabulary at 0, so that an alert on `increase(…) > 0`
    /// fires on the first event after a start (a series that appears at 1 shows no increase).
    fn start_at_zero(&self) {
        let series = |name: &'static str, value: &str| vec![(name, value.to_owned())];
        for outcome in RunOutcome::ALL {
            self.policy_reloads
                .get_or_create(&series("outcome", outcome.label()))
                .inc_by(0);
            self.approvers_reloads
                .get_or_create(&series("outcome", outcome.label()))
                .inc_by(0);
            self.reconcile_runs
                .get_or_create(&series("outcome", outcome.label()))
                .inc_by(0);
        }
        for outcome in KeepaliveOutcome::ALL {
            self.keepalives
                .get_or_create(&series("outcome", outcome.label()))
                .inc_by(0);
        }
        for reason in DeadLetterReason::ALL {
            self.dead_lettered
                .get_or_create(&series("reason", reason.label()))
                .inc_by(0);
        }
        for event in WebhookEvent::ALL {
            for outcome in WebhookOutcome::ALL {
                let labels = vec![
                    ("event", event.label().to_owned()),
                    ("outcome", outcome.label().to_owned()),
                ];
                self.webhooks.get_or_create(&labels).inc_by(0);
            }
        }
    }

    /// The current value of `notifications_total{outcome}`, for tests and status lines.
    pub fn notifications_with(&self, outcome: &str) -> u64 {
        self.notifications
            .get_or_create(&vec![("outcome", outcome.to_owned())])
            .get()
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// The standard `process_*` metrics (CPU seconds, memory, file descriptors, threads, start
/// time), read from the operating system by metrics-process at each scrape.
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let process = metrics_process::collector::collect();
        if let Some(seconds) = process.cpu_seconds_total {
            let help = "Total user and system CPU time spent in seconds";
            let metric = encoder.encode_descriptor(
                "process_cpu_seconds",
                help,
                None,
                MetricType::Counter,
            )?;
            ConstCounter::new(seconds).encode(metric)?;
        }
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                process.resident_memory_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                process.virtual_memory_bytes,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors",
                process.open_fds,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors",
                process.max_fds,
            ),
            (
                "process_threads",
                "Number of OS threads in the process",
                process.threads,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch in seconds",
                process.start_time_seconds,
            ),
        ];
        for (name, help, value) in gauges {
            let Some(value) = value else { continue };
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX)).encode(metric)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_prefix_and_labels() {
        let metrics = Metrics::new();
        let decided = NotificationOutcome::Task(crate::outcome::TaskOutcome::Decided);
        metrics.notification(decided);
        metrics.notification(decided);
        metrics.dead_lettered(DeadLetterReason::Malformed);
        metrics.vcd_request("get_task", "200", 0.02);
        metrics.hold_lateness(0.3);
        metrics.webhook(WebhookEvent::KeepaliveFailed, WebhookOutcome::Dropped);
        let text = metrics.render();
        assert!(
            text.contains("vcd_blockd_notifications_total{outcome=\"decided\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("vcd_blockd_dead_lettered_total{reason=\"malformed\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("vcd_blockd_dead_lettered_total{reason=\"too_large\"} 0"),
            "alerts on increase() need every series from the start: {text}"
        );
        assert!(
            text.contains("vcd_blockd_policy_reloads_total{outcome=\"error\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("vcd_blockd_vcd_requests_total{op=\"get_task\",status=\"200\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("vcd_blockd_vcd_request_seconds_count 1"),
            "{text}"
        );
        assert!(
            text.contains("vcd_blockd_hold_lateness_seconds_bucket{le=\"0.5\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "vcd_blockd_webhooks_total{event=\"keepalive_failed\",outcome=\"dropped\"} 1"
            ),
            "{text}"
        );
        assert_eq!(metrics.notifications_with("decided"), 2);
    }
}
