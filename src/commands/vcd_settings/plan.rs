//! The plan: how vCD's own settings (protocol notes §9) differ from what the config and policy
//! need, as `vcd plan` prints it, `vcd apply` carries it out and `doctor` checks it. Pure: the
//! settings are read and written elsewhere.
//!
//! Only BlockingTaskSettings are ever changed (operations, timeout, timeout action). The AMQP
//! and notification settings are reported, never PUT: vCD returns the AMQP password empty, so
//! a PUT would wipe it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use vcd_duration::format_duration;

use crate::config::{NotificationFormat, Settings};
use crate::policy::Policy;
use crate::task::FinalAction;
use crate::vcd::{AmqpSettings, BlockingSettings};

/// What the config and policy need of vCD, and what the operator asked for on the command line.
#[derive(Debug, Clone, Default)]
pub(crate) struct Wanted {
    /// Operation → the first rule that names it (or `--add-operation`).
    pub operations: BTreeMap<String, String>,
    /// Rules that name no operation: reported, not planned.
    pub rules_without_operation: Vec<String>,
    /// The shortest vCD timeout that works, and why.
    pub min_timeout: Option<(Duration, String)>,
    /// `--timeout`: exactly this timeout.
    pub timeout: Option<Duration>,
    /// `--timeout-action`.
    pub timeout_action: Option<FinalAction>,
    /// `--remove-operation`: the only operations ever removed.
    pub remove: Vec<String>,
    /// The exchange vCD must publish to, `None` in poll mode (no broker).
    pub exchange: Option<ExpectedExchange>,
}

/// The exchange the config consumes, and how vCD names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExpectedExchange {
    /// XML notifications: vCD's `AmqpExchange` is the exchange.
    Xml(String),
    /// JSON notifications: vCD publishes to `<AmqpPrefix>.notifications20`.
    Json(String),
}

/// The operator's flags for `vcd plan` and `vcd apply`.
#[derive(Debug, Clone, Default)]
pub struct SettingsFlags {
    pub timeout: Option<Duration>,
    pub timeout_action: Option<FinalAction>,
    pub add_operations: Vec<String>,
    pub remove_operations: Vec<String>,
}

impl Wanted {
    /// What `settings` and `policy` need, with the operator's `flags`.
    pub(crate) fn new(settings: &Settings, policy: &Policy, flags: &SettingsFlags) -> Wanted {
        let named = policy.operations_named();
        let mut operations = named.operations;
        for op in &flags.add_operations {
            operations
                .entry(op.clone())
                .or_insert_with(|| "--add-operation".to_owned());
        }
        for op in &flags.remove_operations {
            operations.remove(op);
        }
        let reconcile = settings.reconcile.interval * 2;
        let mut min_timeout = (
            reconcile,
            format!(
                "twice reconcile.interval ({}), so a task announced while no instance ran is \
                 still waiting when reconciliation finds it",
                format_duration(settings.reconcile.interval)
            ),
        );
        if let Some(keepalive) = policy.longest_keepalive(settings.holds.keepalive)
            && keepalive > min_timeout.0
        {
            min_timeout = (
                keepalive,
                format!(
                    "the longest hold keepalive ({}), so a held task is kept alive before vCD \
                     times it out",
                    format_duration(keepalive)
                ),
            );
        }
        let exchange = settings.amqp.as_ref().map(|amqp| match amqp.format {
            NotificationFormat::Xml => ExpectedExchange::Xml(amqp.exchange.clone()),
            NotificationFormat::Json => ExpectedExchange::Json(amqp.exchange.clone()),
        });
        Wanted {
            operations,
            rules_without_operation: named.rules_without_operation,
            min_timeout: Some(min_timeout),
            timeout: flags.timeout,
            timeout_action: flags.timeout_action,
            remove: flags.remove_operations.clone(),
            exchange,
        }
    }
}

/// One change to BlockingTaskSettings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// Start blocking an operation, because of `why` (a rule's name or a flag).
    Block {
        operation: String,
        why: String,
    },
    /// Stop blocking an operation (`--remove-operation` only).
    Unblock {
        operation: String,
    },
    Timeout {
        from: Duration,
        to: Duration,
        why: String,
    },
    TimeoutAction {
        from: FinalAction,
        to: FinalAction,
    },
}

/// Something `apply` cannot change, reported as a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finding {
    /// vCD publishes to another exchange than the config consumes.
    Exchange { vcd: String, config: String },
    /// vCD publishes no notifications.
    NotificationsOff,
    /// A rule without `operation`.
    RuleWithoutOperation(String),
    /// `--timeout` shorter than the config and policy need.
    TimeoutTooShort {
        timeout: Duration,
        needed: Duration,
        why: String,
    },
    /// A setting could not be read (`what`: AMQP or notification settings).
    Unread { what: &'static str, error: String },
}

/// The differences between vCD's settings and the wanted ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    pub changes: Vec<Change>,
    pub findings: Vec<Finding>,
}

/// What vCD's settings are now, as far as they could be read (BlockingTaskSettings always).
pub(crate) struct Current<'a> {
    pub blocking: &'a BlockingSettings,
    pub amqp: Result<&'a AmqpSettings, String>,
    pub notifications: Result<bool, String>,
}

impl Plan {
    /// Compares `current` with `wanted`.
    pub(crate) fn new(current: &Current<'_>, wanted: &Wanted) -> Plan {
        let mut plan = Plan::default();
        let blocking = current.blocking;
        for (operation, why) in &wanted.operations {
            if !blocking.blocks(operation) {
                plan.changes.push(Change::Block {
                    operation: operation.clone(),
                    why: why.clone(),
                });
            }
        }
        for operation in &wanted.remove {
            if blocking.blocks(operation) {
                plan.changes.push(Change::Unblock {
                    operation: operation.clone(),
                });
            }
        }
        plan.timeout(blocking.timeout, wanted);
        if let Some(to) = wanted.timeout_action
            && to != blocking.timeout_action
        {
            plan.changes.push(Change::TimeoutAction {
                from: blocking.timeout_action,
                to,
            });
        }
        plan.exchange(current, wanted);
        match &current.notifications {
            Ok(true) => {}
            Ok(false) => plan.findings.push(Finding::NotificationsOff),
            Err(error) => plan.findings.push(Finding::Unread {
                what: "notification settings",
                error: error.clone(),
            }),
        }
        plan.findings.extend(
            wanted
                .rules_without_operation
                .iter()
                .cloned()
                .map(Finding::RuleWithoutOperation),
        );
        plan
    }

    fn timeout(&mut self, current: Duration, wanted: &Wanted) {
        let needed = wanted.min_timeout.clone();
        if let Some(timeout) = wanted.timeout {
            if let Some((min, why)) = needed
                && timeout < min
            {
                self.findings.push(Finding::TimeoutTooShort {
                    timeout,
                    needed: min,
                    why,
                });
            }
            if timeout != current {
                self.changes.push(Change::Timeout {
                    from: current,
                    to: timeout,
                    why: "--timeout".to_owned(),
                });
            }
        } else if let Some((min, why)) = needed
            && current < min
        {
            self.changes.push(Change::Timeout {
                from: current,
                to: min,
                why,
            });
        }
    }

    fn exchange(&mut self, current: &Current<'_>, wanted: &Wanted) {
        let Some(expected) = &wanted.exchange else {
            return;
        };
        let amqp = match &current.amqp {
            Ok(amqp) => amqp,
            Err(error) => {
                self.findings.push(Finding::Unread {
                    what: "AMQP settings",
                    error: error.clone(),
                });
                return;
            }
        };
        let (vcd, config) = match expected {
            ExpectedExchange::Xml(config) => (amqp.exchange.clone(), config),
            ExpectedExchange::Json(config) => (format!("{}.notifications20", amqp.prefix), config),
        };
        if &vcd != config {
            self.findings.push(Finding::Exchange {
                vcd,
                config: config.clone(),
            });
        }
    }

    /// Whether vCD is as the config and policy need (nothing to change, nothing to report but
    /// rules without an operation).
    pub(crate) fn is_clean(&self) -> bool {
        self.changes.is_empty()
            && self
                .findings
                .iter()
                .all(|f| matches!(f, Finding::RuleWithoutOperation(_)))
    }

    /// `current` with the changes made: operations added at the end in plan order, removed
    /// ones dropped, every other operation kept as vCD listed it.
    pub(crate) fn applied_to(&self, current: &BlockingSettings) -> BlockingSettings {
        let mut next = current.clone();
        for change in &self.changes {
            match change {
                Change::Block { operation, .. } => next.operations.push(operation.clone()),
                Change::Unblock { operation } => next.operations.retain(|o| o != operation),
                Change::Timeout { to, .. } => next.timeout = *to,
                Change::TimeoutAction { to, .. } => next.timeout_action = *to,
            }
        }
        next
    }

    /// The plan as printed: one line per change (`+` block, `-` unblock, `~` change), then one
    /// per finding (`!` warning, `·` note).
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        for change in &self.changes {
            let _ = match change {
                Change::Block { operation, why } => {
                    writeln!(out, "  + block {operation}  ({})", describe_why(why))
                }
                Change::Unblock { operation } => {
                    writeln!(out, "  - stop blocking {operation}  (--remove-operation)")
                }
                Change::Timeout { from, to, why } => writeln!(
                    out,
                    "  ~ timeout {} -> {}  ({why})",
                    format_duration(*from),
                    format_duration(*to)
                ),
                Change::TimeoutAction { from, to } => {
                    writeln!(out, "  ~ timeout action {from} -> {to}  (--timeout-action)")
                }
            };
        }
        for finding in &self.findings {
            let _ = writeln!(out, "  {}", describe_finding(finding));
        }
        out
    }
}

fn describe_why(why: &str) -> String {
    if why.starts_with("--") {
        why.to_owned()
    } else {
        format!("rule {why:?}")
    }
}

fn describe_finding(finding: &Finding) -> String {
    match finding {
        Finding::Exchange { vcd, config } => format!(
            "! vCD publishes to exchange {vcd:?}, but amqp.exchange is {config:?}: nothing \
             reaches the daemon's queue; set one to the other (vCD: Administration > \
             Extensibility > AMQP Broker; `vcd apply` never changes AMQP settings)"
        ),
        Finding::NotificationsOff => "! vCD's notifications are off: vCD publishes no blocking \
             task messages; turn them on (Administration > Extensibility > Notifications), or \
             rely on reconciliation alone"
            .to_owned(),
        Finding::RuleWithoutOperation(rule) => format!(
            "· rule {rule:?} names no operation: it decides whatever vCD blocks, and adds \
             nothing to the plan"
        ),
        Finding::TimeoutTooShort {
            timeout,
            needed,
            why,
        } => format!(
            "! --timeout {} is shorter than {} ({why})",
            format_duration(*timeout),
            format_duration(*needed)
        ),
        Finding::Unread { what, error } => format!("! cannot read vCD's {what}: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocking(operations: &[&str], timeout: u64) -> BlockingSettings {
        BlockingSettings {
            timeout_action: FinalAction::Abort,
            operations: operations.iter().map(|o| (*o).to_owned()).collect(),
            timeout: Duration::from_secs(timeout),
        }
    }

    fn wanted(operations: &[&str]) -> Wanted {
        Wanted {
            operations: operations
                .iter()
                .map(|o| ((*o).to_owned(), "r".to_owned()))
                .collect(),
            min_timeout: Some((Duration::from_secs(600), "twice".into())),
            exchange: Some(ExpectedExchange::Xml("systemExchange".into())),
            ..Wanted::default()
        }
    }

    fn amqp(exchange: &str) -> AmqpSettings {
        AmqpSettings {
            exchange: exchange.into(),
            prefix: "vcd".into(),
            ..AmqpSettings::default()
        }
    }

    #[test]
    fn a_cloud_as_needed_has_a_clean_plan() {
        let current = blocking(&["vdcInstantiateVapp", "vdcUploadMedia"], 3600);
        let amqp = amqp("systemExchange");
        let plan = Plan::new(
            &Current {
                blocking: &current,
                amqp: Ok(&amqp),
                notifications: Ok(true),
            },
            &wanted(&["vdcInstantiateVapp"]),
        );
        assert!(plan.is_clean(), "{plan:?}");
        assert_eq!(plan.applied_to(&current), current);
    }

    #[test]
    fn missing_operations_and_a_short_timeout_are_planned_and_nothing_is_removed() {
        let current = blocking(&["vdcUploadMedia"], 60);
        let amqp = amqp("systemExchange");
        let plan = Plan::new(
            &Current {
                blocking: &current,
                amqp: Ok(&amqp),
                notifications: Ok(true),
            },
            &wanted(&["vdcDeleteVapp", "vdcInstantiateVapp"]),
        );
        assert_eq!(plan.changes.len(), 3, "{plan:?}");
        let next = plan.applied_to(&current);
        assert_eq!(
            next.operations,
            ["vdcUploadMedia", "vdcDeleteVapp", "vdcInstantiateVapp"]
        );
        assert_eq!(next.timeout, Duration::from_secs(600));
        assert!(
            plan.render()
                .contains("  + block vdcDeleteVapp  (rule \"r\")")
        );
        assert!(plan.render().contains("  ~ timeout 1m -> 10m  (twice)"));
    }

    #[test]
    fn flags_remove_set_the_timeout_and_action() {
        let current = blocking(&["vdcUploadMedia", "vdcDeleteVapp"], 3600);
        let mut wanted = wanted(&[]);
        wanted.remove = vec!["vdcUploadMedia".into(), "vdcCopyMedia".into()];
        wanted.timeout = Some(Duration::from_secs(300));
        wanted.timeout_action = Some(FinalAction::Fail);
        let plan = Plan::new(
            &Current {
                blocking: &current,
                amqp: Err("refused".into()),
                notifications: Ok(false),
            },
            &wanted,
        );
        let next = plan.applied_to(&current);
        assert_eq!(next.operations, ["vdcDeleteVapp"]);
        assert_eq!(next.timeout, Duration::from_secs(300));
        assert_eq!(next.timeout_action, FinalAction::Fail);
        assert!(plan.findings.contains(&Finding::NotificationsOff));
        assert!(
            plan.findings
                .iter()
                .any(|f| matches!(f, Finding::TimeoutTooShort { .. }))
        );
        assert!(
            plan.findings
                .iter()
                .any(|f| matches!(f, Finding::Unread { .. }))
        );
    }

    #[test]
    fn another_exchange_is_reported_for_both_formats() {
        let current = blocking(&[], 3600);
        let amqp = amqp("otherExchange");
        let mut wanted = wanted(&[]);
        let xml = Plan::new(
            &Current {
                blocking: &current,
                amqp: Ok(&amqp),
                notifications: Ok(true),
            },
            &wanted,
        );
        assert_eq!(
            xml.findings,
            [Finding::Exchange {
                vcd: "otherExchange".into(),
                config: "systemExchange".into()
            }]
        );
        wanted.exchange = Some(ExpectedExchange::Json("vcd.notifications20".into()));
        let json = Plan::new(
            &Current {
                blocking: &current,
                amqp: Ok(&amqp),
                notifications: Ok(true),
            },
            &wanted,
        );
        assert!(json.is_clean(), "{json:?}");
        wanted.exchange = None;
        let poll = Plan::new(
            &Current {
                blocking: &current,
                amqp: Err("not read".into()),
                notifications: Ok(true),
            },
            &wanted,
        );
        assert!(poll.is_clean(), "{poll:?}");
    }
}
