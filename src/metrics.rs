//! Prometheus metrics (prefix `vcd_blockd_`), registered once and shared by every component
//! through an `Arc<Metrics>`. Label values are short, fixed vocabularies or rule names. Each
//! metric is one line of the [`metrics!`] table below: its name, kind, help and labels; the
//! table declares the field, registers it, writes its method and starts its series at zero.

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
    AskOutcome, ChatOutcome, DeadLetterReason, JournalSkip, KeepaliveOutcome, LoginOutcome,
    NotificationOutcome, RunOutcome, Vocabulary, WebhookEvent, WebhookOutcome,
};

/// A series' labels, `(name, value)` in declaration order.
type Labels = Vec<(&'static str, String)>;
type Counters = Family<Labels, Counter>;
type Infos = Family<Labels, Gauge>;

/// Buckets of `vcd_request_seconds`, in seconds.
const REQUEST_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Buckets of `hold_lateness_seconds`, in seconds.
/// Decision services answer within their `timeout` (5 s by default).
const ASK_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
const LATENESS_BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// A value a metric label takes: an outcome enum, a name (`&str`) or a flag.
pub(crate) trait LabelValue {
    fn value(&self) -> String;
    /// Every value the label can take, when that is a fixed vocabulary: then each series of a
    /// counter starts at 0.
    fn vocabulary() -> Option<Vec<String>>;
}

impl<T: Vocabulary> LabelValue for T {
    fn value(&self) -> String {
        self.label().to_owned()
    }

    fn vocabulary() -> Option<Vec<String>> {
        Some(
            T::all()
                .iter()
                .map(|value| value.label().to_owned())
                .collect(),
        )
    }
}

impl LabelValue for NotificationOutcome {
    fn value(&self) -> String {
        self.label().to_owned()
    }

    /// Not started at zero: its `Task(…)` values are counted as they come.
    fn vocabulary() -> Option<Vec<String>> {
        None
    }
}

impl LabelValue for &str {
    fn value(&self) -> String {
        (*self).to_owned()
    }

    fn vocabulary() -> Option<Vec<String>> {
        None
    }
}

impl LabelValue for bool {
    fn value(&self) -> String {
        self.to_string()
    }

    fn vocabulary() -> Option<Vec<String>> {
        None
    }
}

/// Every combination of `labels` (name, every value), in order; empty when a label has no
/// fixed vocabulary.
fn every_series(labels: &[(&'static str, Option<Vec<String>>)]) -> Vec<Labels> {
    let mut series: Vec<Labels> = vec![Vec::new()];
    for (name, values) in labels {
        let Some(values) = values else {
            return Vec::new();
        };
        series = series
            .iter()
            .flat_map(|prefix| {
                values.iter().map(move |value| {
                    let mut labels = prefix.clone();
                    labels.push((*name, value.clone()));
                    labels
                })
            })
            .collect();
    }
    series
}

/// The metric table. Each line is one metric, `kind name: "help"`, registered as
/// `vcd_blockd_<name>` (counters add `_total`) in the order written:
/// - `counter name: "help" => vis fn method(label: Type, …);` — a counter family whose
///   labels are the method's parameters (the label's name is the parameter's); the method adds
///   one. When every label is a [`Vocabulary`], every series starts at 0, so that an alert on
///   `increase(…) > 0` fires on the first event after a start.
/// - `gauge vis name: "help";` — a gauge, set directly through its field.
/// - `histogram name: "help" [buckets];` — observed by a method written below the table;
///   `histograms` is a family of them, by labels the method gives.
/// - `info name: "help" => vis fn method(label: Type, …);` — a gauge family at 1 for the
///   labels given to the method.
macro_rules! metrics {
    (@type counter) => { Counters };
    (@type gauge) => { Gauge };
    (@type histogram) => { Histogram };
    (@type histograms) => { Family<Labels, Histogram, fn() -> Histogram> };
    (@type info) => { Infos };
    (@new counter) => { Counters::default() };
    (@new gauge) => { Gauge::default() };
    (@new histogram $buckets:expr) => { Histogram::new($buckets) };
    (@new histograms $buckets:expr) => {
        Family::new_with_constructor((|| Histogram::new($buckets)) as fn() -> Histogram)
    };
    (@new info) => { Infos::default() };
    (@record counter, $series:expr) => { $series.inc() };
    (@record info, $series:expr) => { $series.set(1) };
    (@zero counter, $family:expr, $( $label:expr ),*) => {
        for labels in every_series(&[$( $label ),*]) {
            $family.get_or_create(&labels).inc_by(0);
        }
    };
    (@zero info, $family:expr, $( $label:expr ),*) => {};
    ( $(
        $kind:ident $field_vis:vis $field:ident : $help:literal $( [ $buckets:expr ] )?
            $( => $method_vis:vis fn $method:ident ( $( $label:ident : $label_type:ty ),* ) )? ;
    )* ) => {
        /// Every metric the daemon exports. Cheap to update from any task.
        #[derive(Debug)]
        pub struct Metrics {
            registry: Registry,
            $( #[doc = $help] $field_vis $field: metrics!(@type $kind), )*
            /// The latest decision, for systemd's `STATUS=` line.
            last_decision: Mutex<Option<LastDecision>>,
        }

        impl Metrics {
            /// Every metric registered, the fixed vocabularies' series at 0.
            fn register() -> Metrics {
                // The daemon's own metrics carry the prefix; the standard process_* ones do not.
                let mut root = Registry::default();
                root.register_collector(Box::new(ProcessCollector));
                let registry = root.sub_registry_with_prefix("vcd_blockd");
                $(
                    let $field = metrics!(@new $kind $( $buckets )?);
                    registry.register(stringify!($field), $help, $field.clone());
                )*
                let metrics = Metrics {
                    registry: root,
                    $( $field, )*
                    last_decision: Mutex::new(None),
                };
                $( $(
                    metrics!(@zero $kind, metrics.$field, $( (stringify!($label), <$label_type as LabelValue>::vocabulary()) ),*);
                )? )*
                metrics
            }

            $( $(
                #[doc = $help]
                $method_vis fn $method(&self, $( $label: $label_type ),*) {
                    let labels: Labels = vec![$( (stringify!($label), LabelValue::value(&$label)) ),*];
                    metrics!(@record $kind, self.$field.get_or_create(&labels));
                }
            )? )*
        }
    };
}

metrics! {
    counter notifications: "Notifications received, by outcome"
        => pub fn notification(outcome: NotificationOutcome);
    counter decisions: "Decisions taken, by action, rule and dry_run"
        => fn count_decision(action: &str, rule: &str, dry_run: bool);
    counter vcd_requests: "Requests to vCD, by operation and HTTP status"
        => fn count_vcd_request(op: &str, status: &str);
    histogram vcd_request_seconds: "Duration of requests to vCD" [REQUEST_BUCKETS];
    counter vcd_logins:
        "Logins to vCD, by outcome (refused: the credentials; error: vCD unreachable or failing)"
        => pub(crate) fn vcd_login(outcome: LoginOutcome);
    gauge pub vcd_in_flight: "Requests to vCD under way now";
    gauge pub vcd_concurrency_limit:
        "How many requests to vCD may be under way at once (adaptive, at most vcd.max_in_flight)";
    gauge pub holds_active: "Tasks currently held for a human";
    counter keepalives: "updateProgress keepalives, by outcome"
        => pub fn keepalive(outcome: KeepaliveOutcome);
    histogram hold_lateness_seconds:
        "How late held tasks were attended (keepalive or fallback) against their schedule"
        [LATENESS_BUCKETS];
    counter policy_reloads: "Policy reloads, by outcome"
        => pub fn policy_reload(outcome: RunOutcome);
    counter approvers_reloads: "Approvers file reloads, by outcome"
        => pub fn approvers_reload(outcome: RunOutcome);
    counter admin_auth_failures:
        "Admin API requests refused for a missing or unknown bearer token"
        => pub(crate) fn admin_auth_failure();
    gauge pub amqp_connected: "1 while the AMQP consumer is connected";
    gauge pub leader:
        "1 while this instance leads: it consumes, reconciles and keeps held tasks alive";
    counter reconcile_runs: "Reconciliation runs, by outcome"
        => pub fn reconcile_run(outcome: RunOutcome);
    counter dead_lettered: "Messages rejected to the dead-letter queue, by reason"
        => pub fn dead_lettered(reason: DeadLetterReason);
    gauge hold_next_deadline_timestamp_seconds:
        "Unix time at which the soonest held task reaches its deadline (0: nothing is held)";
    info build_info:
        "Always 1; version says which vcd-blockd runs, mode whether it consumes vCD's notifications from a broker (amqp) or polls vCD (poll)"
        => pub(crate) fn build_info(version: &str, mode: &str);
    gauge policy_last_reload_success_timestamp_seconds:
        "Unix time of the last successful policy load (at start or on reload)";
    counter webhooks: "Webhook events per [[notify]] receiver, by event and outcome"
        => pub(crate) fn webhook(event: WebhookEvent, outcome: WebhookOutcome);
    counter chat_decisions: "Decisions asked for from chat (Slack's buttons), by outcome"
        => pub(crate) fn chat_decision(outcome: ChatOutcome);
    counter journal_writes: "Records written to the journal (recorded approvals, reminders, decisions), by outcome"
        => pub(crate) fn journal_write(outcome: RunOutcome);
    counter journal_records_skipped:
        "Journal records skipped when the journal was read, as corrupt or foreign (another version or kind)"
        => pub(crate) fn journal_skipped(reason: JournalSkip);
    counter journal_lost:
        "Times the journal was found gone (its stream deleted): the approvals it recorded were lost"
        => pub(crate) fn journal_lost();
    info window_open:
        "1 while the policy's [[window]] of that name is open, 0 while it is closed";
    counter quota_queries:
        "Quota counts asked of vCD's task history, by outcome (error: the count is unknown and on_unknown decides)"
        => pub(crate) fn quota_query(outcome: RunOutcome);
    counter ask_requests: "Requests to decision services ([[ask]]), by service and outcome"
        => fn count_ask_request(service: &str, outcome: AskOutcome);
    histograms ask_request_seconds: "Duration of requests to decision services, by service"
        [ASK_BUCKETS];
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
    /// Sets `window_open` to the policy's windows, `(name, open)` each; windows no longer in
    /// the policy lose their series.
    pub(crate) fn windows_open(&self, windows: &[(std::sync::Arc<str>, bool)]) {
        self.window_open.clear();
        for (name, open) in windows {
            let labels: Labels = vec![("window", name.to_string())];
            self.window_open
                .get_or_create(&labels)
                .set(i64::from(*open));
        }
    }

    /// Every metric at its start. `build_info` is set by the daemon, which knows its mode.
    pub fn new() -> Metrics {
        Metrics::register()
    }

    pub fn decision(&self, action: &'static str, rule: &str, dry_run: bool) {
        self.count_decision(action, rule, dry_run);
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
        self.count_vcd_request(op, status);
        self.vcd_request_seconds.observe(seconds);
    }

    pub fn hold_lateness(&self, seconds: f64) {
        self.hold_lateness_seconds.observe(seconds.max(0.0));
    }

    /// One request to decision service `service`: how it went and how long it took.
    pub(crate) fn ask_request(&self, service: &str, outcome: AskOutcome, seconds: f64) {
        self.count_ask_request(service, outcome);
        let labels: Labels = vec![("service", service.to_owned())];
        self.ask_request_seconds
            .get_or_create(&labels)
            .observe(seconds);
    }

    /// The soonest deadline among held tasks, as of now (`None`: nothing is held).
    pub fn hold_next_deadline(&self, deadline: Option<chrono::DateTime<chrono::Utc>>) {
        self.hold_next_deadline_timestamp_seconds
            .set(deadline.map_or(0, |deadline| deadline.timestamp()));
    }

    /// A policy was loaded and is in force: at start and after each successful reload.
    pub fn policy_loaded(&self, at: chrono::DateTime<chrono::Utc>) {
        self.policy_last_reload_success_timestamp_seconds
            .set(at.timestamp());
    }

    /// The current value of `notifications_total{outcome}`, for tests and status lines. Reading
    /// creates no series: an outcome never counted reads 0 and stays out of `/metrics`.
    pub fn notifications_with(&self, outcome: &str) -> u64 {
        self.notifications
            .get(&vec![("outcome", outcome.to_owned())])
            .map_or(0, |counter| counter.get())
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

    /// Every line of a fresh daemon's own metrics (sorted, as the order of series within a
    /// family is not fixed): names, types, help texts and the series present at zero. Alert
    /// rules and dashboards rely on them; a change here is a change for operators.
    const AT_START: &str = r#"# HELP vcd_blockd_admin_auth_failures Admin API requests refused for a missing or unknown bearer token.
# HELP vcd_blockd_amqp_connected 1 while the AMQP consumer is connected.
# HELP vcd_blockd_approvers_reloads Approvers file reloads, by outcome.
# HELP vcd_blockd_build_info Always 1; version says which vcd-blockd runs, mode whether it consumes vCD's notifications from a broker (amqp) or polls vCD (poll).
# HELP vcd_blockd_chat_decisions Decisions asked for from chat (Slack's buttons), by outcome.
# HELP vcd_blockd_dead_lettered Messages rejected to the dead-letter queue, by reason.
# HELP vcd_blockd_hold_lateness_seconds How late held tasks were attended (keepalive or fallback) against their schedule.
# HELP vcd_blockd_hold_next_deadline_timestamp_seconds Unix time at which the soonest held task reaches its deadline (0: nothing is held).
# HELP vcd_blockd_holds_active Tasks currently held for a human.
# HELP vcd_blockd_journal_lost Times the journal was found gone (its stream deleted): the approvals it recorded were lost.
# HELP vcd_blockd_journal_records_skipped Journal records skipped when the journal was read, as corrupt or foreign (another version or kind).
# HELP vcd_blockd_journal_writes Records written to the journal (recorded approvals, reminders, decisions), by outcome.
# HELP vcd_blockd_keepalives updateProgress keepalives, by outcome.
# HELP vcd_blockd_leader 1 while this instance leads: it consumes, reconciles and keeps held tasks alive.
# HELP vcd_blockd_policy_last_reload_success_timestamp_seconds Unix time of the last successful policy load (at start or on reload).
# HELP vcd_blockd_policy_reloads Policy reloads, by outcome.
# HELP vcd_blockd_quota_queries Quota counts asked of vCD's task history, by outcome (error: the count is unknown and on_unknown decides).
# HELP vcd_blockd_reconcile_runs Reconciliation runs, by outcome.
# HELP vcd_blockd_vcd_concurrency_limit How many requests to vCD may be under way at once (adaptive, at most vcd.max_in_flight).
# HELP vcd_blockd_vcd_in_flight Requests to vCD under way now.
# HELP vcd_blockd_vcd_logins Logins to vCD, by outcome (refused: the credentials; error: vCD unreachable or failing).
# HELP vcd_blockd_vcd_request_seconds Duration of requests to vCD.
# HELP vcd_blockd_webhooks Webhook events per [[notify]] receiver, by event and outcome.
# TYPE vcd_blockd_admin_auth_failures counter
# TYPE vcd_blockd_amqp_connected gauge
# TYPE vcd_blockd_approvers_reloads counter
# TYPE vcd_blockd_build_info gauge
# TYPE vcd_blockd_chat_decisions counter
# TYPE vcd_blockd_dead_lettered counter
# TYPE vcd_blockd_hold_lateness_seconds histogram
# TYPE vcd_blockd_hold_next_deadline_timestamp_seconds gauge
# TYPE vcd_blockd_holds_active gauge
# TYPE vcd_blockd_journal_lost counter
# TYPE vcd_blockd_journal_records_skipped counter
# TYPE vcd_blockd_journal_writes counter
# TYPE vcd_blockd_keepalives counter
# TYPE vcd_blockd_leader gauge
# TYPE vcd_blockd_policy_last_reload_success_timestamp_seconds gauge
# TYPE vcd_blockd_policy_reloads counter
# TYPE vcd_blockd_quota_queries counter
# TYPE vcd_blockd_reconcile_runs counter
# TYPE vcd_blockd_vcd_concurrency_limit gauge
# TYPE vcd_blockd_vcd_in_flight gauge
# TYPE vcd_blockd_vcd_logins counter
# TYPE vcd_blockd_vcd_request_seconds histogram
# TYPE vcd_blockd_webhooks counter
vcd_blockd_admin_auth_failures_total 0
vcd_blockd_amqp_connected 0
vcd_blockd_approvers_reloads_total{outcome="error"} 0
vcd_blockd_approvers_reloads_total{outcome="ok"} 0
vcd_blockd_build_info{version="{version}",mode="amqp"} 1
vcd_blockd_chat_decisions_total{outcome="approved"} 0
vcd_blockd_chat_decisions_total{outcome="duplicate"} 0
vcd_blockd_chat_decisions_total{outcome="failed"} 0
vcd_blockd_chat_decisions_total{outcome="recorded"} 0
vcd_blockd_chat_decisions_total{outcome="refused"} 0
vcd_blockd_chat_decisions_total{outcome="rejected"} 0
vcd_blockd_dead_lettered_total{reason="action_refused"} 0
vcd_blockd_dead_lettered_total{reason="id_mismatch"} 0
vcd_blockd_dead_lettered_total{reason="invalid_id"} 0
vcd_blockd_dead_lettered_total{reason="malformed"} 0
vcd_blockd_dead_lettered_total{reason="missing_field"} 0
vcd_blockd_dead_lettered_total{reason="not_utf8"} 0
vcd_blockd_dead_lettered_total{reason="too_large"} 0
vcd_blockd_dead_lettered_total{reason="unknown_format"} 0
vcd_blockd_dead_lettered_total{reason="unreadable_task"} 0
vcd_blockd_dead_lettered_total{reason="vcd_refused"} 0
vcd_blockd_hold_lateness_seconds_bucket{le="+Inf"} 0
vcd_blockd_hold_lateness_seconds_bucket{le="0.01"} 0
vcd_blockd_hold_lateness_seconds_bucket{le="0.05"} 0
vcd_blockd_hold_lateness_seconds_bucket{le="0.1"} 0
vcd_blockd_hold_lateness_seconds_bucket{le="0.25"} 0
vcd_blockd_hold_lateness_seconds_bucket{le="0.5"} 0
vcd_blockd_hold_lateness_seconds_bucket{le="1.0"} 0
vcd_blockd_hold_lateness_seconds_bucket{le="10.0"} 0
vcd_blockd_hold_lateness_seconds_bucket{le="2.5"} 0
vcd_blockd_hold_lateness_seconds_bucket{le="30.0"} 0
vcd_blockd_hold_lateness_seconds_bucket{le="5.0"} 0
vcd_blockd_hold_lateness_seconds_count 0
vcd_blockd_hold_lateness_seconds_sum 0.0
vcd_blockd_hold_next_deadline_timestamp_seconds 0
vcd_blockd_holds_active 0
vcd_blockd_journal_lost_total 0
vcd_blockd_journal_records_skipped_total{reason="corrupt"} 0
vcd_blockd_journal_records_skipped_total{reason="foreign"} 0
vcd_blockd_journal_writes_total{outcome="error"} 0
vcd_blockd_journal_writes_total{outcome="ok"} 0
vcd_blockd_keepalives_total{outcome="error"} 0
vcd_blockd_keepalives_total{outcome="gone"} 0
vcd_blockd_keepalives_total{outcome="ok"} 0
vcd_blockd_leader 0
vcd_blockd_policy_last_reload_success_timestamp_seconds 0
vcd_blockd_policy_reloads_total{outcome="error"} 0
vcd_blockd_policy_reloads_total{outcome="ok"} 0
vcd_blockd_quota_queries_total{outcome="error"} 0
vcd_blockd_quota_queries_total{outcome="ok"} 0
vcd_blockd_reconcile_runs_total{outcome="error"} 0
vcd_blockd_reconcile_runs_total{outcome="ok"} 0
vcd_blockd_vcd_concurrency_limit 0
vcd_blockd_vcd_in_flight 0
vcd_blockd_vcd_logins_total{outcome="error"} 0
vcd_blockd_vcd_logins_total{outcome="ok"} 0
vcd_blockd_vcd_logins_total{outcome="refused"} 0
vcd_blockd_vcd_request_seconds_bucket{le="+Inf"} 0
vcd_blockd_vcd_request_seconds_bucket{le="0.005"} 0
vcd_blockd_vcd_request_seconds_bucket{le="0.01"} 0
vcd_blockd_vcd_request_seconds_bucket{le="0.025"} 0
vcd_blockd_vcd_request_seconds_bucket{le="0.05"} 0
vcd_blockd_vcd_request_seconds_bucket{le="0.1"} 0
vcd_blockd_vcd_request_seconds_bucket{le="0.25"} 0
vcd_blockd_vcd_request_seconds_bucket{le="0.5"} 0
vcd_blockd_vcd_request_seconds_bucket{le="1.0"} 0
vcd_blockd_vcd_request_seconds_bucket{le="10.0"} 0
vcd_blockd_vcd_request_seconds_bucket{le="2.5"} 0
vcd_blockd_vcd_request_seconds_bucket{le="30.0"} 0
vcd_blockd_vcd_request_seconds_bucket{le="5.0"} 0
vcd_blockd_vcd_request_seconds_count 0
vcd_blockd_vcd_request_seconds_sum 0.0
vcd_blockd_webhooks_total{event="approval_recorded",outcome="dropped"} 0
vcd_blockd_webhooks_total{event="approval_recorded",outcome="failed"} 0
vcd_blockd_webhooks_total{event="approval_recorded",outcome="retried"} 0
vcd_blockd_webhooks_total{event="approval_recorded",outcome="sent"} 0
vcd_blockd_webhooks_total{event="approved",outcome="dropped"} 0
vcd_blockd_webhooks_total{event="approved",outcome="failed"} 0
vcd_blockd_webhooks_total{event="approved",outcome="retried"} 0
vcd_blockd_webhooks_total{event="approved",outcome="sent"} 0
vcd_blockd_webhooks_total{event="escalated",outcome="dropped"} 0
vcd_blockd_webhooks_total{event="escalated",outcome="failed"} 0
vcd_blockd_webhooks_total{event="escalated",outcome="retried"} 0
vcd_blockd_webhooks_total{event="escalated",outcome="sent"} 0
vcd_blockd_webhooks_total{event="expired",outcome="dropped"} 0
vcd_blockd_webhooks_total{event="expired",outcome="failed"} 0
vcd_blockd_webhooks_total{event="expired",outcome="retried"} 0
vcd_blockd_webhooks_total{event="expired",outcome="sent"} 0
vcd_blockd_webhooks_total{event="gone",outcome="dropped"} 0
vcd_blockd_webhooks_total{event="gone",outcome="failed"} 0
vcd_blockd_webhooks_total{event="gone",outcome="retried"} 0
vcd_blockd_webhooks_total{event="gone",outcome="sent"} 0
vcd_blockd_webhooks_total{event="held",outcome="dropped"} 0
vcd_blockd_webhooks_total{event="held",outcome="failed"} 0
vcd_blockd_webhooks_total{event="held",outcome="retried"} 0
vcd_blockd_webhooks_total{event="held",outcome="sent"} 0
vcd_blockd_webhooks_total{event="keepalive_failed",outcome="dropped"} 0
vcd_blockd_webhooks_total{event="keepalive_failed",outcome="failed"} 0
vcd_blockd_webhooks_total{event="keepalive_failed",outcome="retried"} 0
vcd_blockd_webhooks_total{event="keepalive_failed",outcome="sent"} 0
vcd_blockd_webhooks_total{event="rejected",outcome="dropped"} 0
vcd_blockd_webhooks_total{event="rejected",outcome="failed"} 0
vcd_blockd_webhooks_total{event="rejected",outcome="retried"} 0
vcd_blockd_webhooks_total{event="rejected",outcome="sent"} 0
vcd_blockd_webhooks_total{event="reminder",outcome="dropped"} 0
vcd_blockd_webhooks_total{event="reminder",outcome="failed"} 0
vcd_blockd_webhooks_total{event="reminder",outcome="retried"} 0
vcd_blockd_webhooks_total{event="reminder",outcome="sent"} 0
"#;

    #[test]
    fn a_fresh_daemon_shows_exactly_these_metrics() {
        let metrics = Metrics::new();
        metrics.build_info(env!("CARGO_PKG_VERSION"), "amqp");
        let text = metrics.render();
        let mut own: Vec<&str> = text
            .lines()
            .filter(|line| line.contains("vcd_blockd_"))
            .collect();
        own.sort_unstable();
        let expected = AT_START.replace("{version}", env!("CARGO_PKG_VERSION"));
        assert_eq!(own.join("\n"), expected.trim_end());
    }

    #[test]
    fn reading_a_counter_creates_no_series() {
        let metrics = Metrics::new();
        assert_eq!(metrics.notifications_with("decided"), 0);
        assert!(
            !metrics.render().contains("vcd_blockd_notifications"),
            "a read must not add a series to /metrics: {}",
            metrics.render()
        );
        metrics.notification(NotificationOutcome::OtherType);
        assert_eq!(metrics.notifications_with("other_type"), 1);
        assert_eq!(metrics.notifications_with("decided"), 0);
    }

    #[test]
    fn every_series_is_each_combination_of_the_vocabularies_in_order() {
        let two = Some(vec!["a".to_owned(), "b".to_owned()]);
        let three = Some(vec!["x".to_owned(), "y".to_owned(), "z".to_owned()]);
        let series = every_series(&[("first", two.clone()), ("second", three)]);
        assert_eq!(series.len(), 6);
        assert_eq!(
            series[1],
            vec![("first", "a".to_owned()), ("second", "y".to_owned())]
        );
        assert!(every_series(&[("first", two), ("rule", None)]).is_empty());
        assert_eq!(every_series(&[]), vec![Vec::new()], "no labels: one series");
    }
}
