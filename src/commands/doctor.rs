//! `vcd-blockd doctor -c CONFIG`: the live checks `check` cannot do, one line each (ok, warning
//! or error, with what to do): vCD (reachable, TLS trusted, login, API version, system
//! administrator rights, the plan of `vcd plan`), the broker (reachable, credentials, vhost,
//! the exchange vCD publishes to, the daemon's queue), the admin API's files, the webhooks'
//! hosts. It changes nothing: it PUTs nothing, and declares nothing that does not exist.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use secrecy::ExposeSecret;
use vcd_duration::format_duration;

use super::vcd_settings::{Current, Plan, SettingsFlags, Wanted};
use super::{EXIT_FAILED, EXIT_USAGE, Threads, block_on, config_path, counted};
use crate::config::{AmqpSettings, Settings};
use crate::policy::Policy;
use crate::source::amqp::probe::{self, BrokerProblem, ExchangeState, QueueState};
use crate::source::amqp::{AmqpError, connect};
use crate::vcd::{VcdClient, VcdError};

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Ok,
    Warning,
    Error,
}

impl Level {
    fn label(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// The lines printed, in order.
#[derive(Default)]
struct Report {
    lines: Vec<(Level, String)>,
}

impl Report {
    fn ok(&mut self, text: impl Into<String>) {
        self.lines.push((Level::Ok, text.into()));
    }
    fn warning(&mut self, text: impl Into<String>) {
        self.lines.push((Level::Warning, text.into()));
    }
    fn error(&mut self, text: impl Into<String>) {
        self.lines.push((Level::Error, text.into()));
    }

    fn worst(&self) -> Level {
        self.lines
            .iter()
            .map(|(level, _)| *level)
            .max()
            .unwrap_or(Level::Ok)
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for (level, text) in &self.lines {
            let _ = writeln!(out, "{:<8}{text}", level.label());
        }
        let count = |wanted| self.lines.iter().filter(|(l, _)| *l == wanted).count();
        let _ = writeln!(
            out,
            "{} error(s), {} warning(s)",
            count(Level::Error),
            count(Level::Warning)
        );
        out
    }
}

/// `vcd-blockd doctor`. Exit 0 when nothing is an error (warnings included), 1 on an error, 2
/// for a configuration that cannot be read.
pub fn doctor(config: Option<PathBuf>) -> ExitCode {
    let path = config_path(config);
    let settings = match Settings::load(path.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("vcd-blockd: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let mut report = Report::default();
    let policy = match Policy::load(&settings.policy.path) {
        Ok(policy) => {
            report.ok(format!(
                "policy {} loads ({})",
                settings.policy.path.display(),
                counted(policy.rule_count(), "rule")
            ));
            Some(policy)
        }
        Err(errors) => {
            report.error(format!(
                "policy {} does not load; `vcd-blockd check -c CONFIG` shows where:\n{errors}",
                settings.policy.path.display()
            ));
            None
        }
    };
    block_on(Threads::This, async {
        check_vcd(&settings, policy.as_ref(), &mut report).await;
        match &settings.amqp {
            Some(amqp) => check_broker(amqp, &mut report).await,
            None => report.ok("poll mode (no amqp.url): no broker to check"),
        }
        check_admin(&settings, &mut report);
        check_webhooks(&settings, &mut report).await;
        print!("{}", report.render());
        if report.worst() == Level::Error {
            ExitCode::from(EXIT_FAILED)
        } else {
            ExitCode::SUCCESS
        }
    })
}

async fn check_vcd(settings: &Settings, policy: Option<&Policy>, report: &mut Report) {
    let url = &settings.vcd.url;
    let vcd = match VcdClient::standalone(&settings.vcd) {
        Ok(vcd) => vcd,
        Err(error) => {
            report.error(format!("vCD client: {error}"));
            return;
        }
    };
    match vcd.connect().await {
        Ok(version) => report.ok(format!(
            "vCD {url} answers, API version {version}; login accepted"
        )),
        Err(error) => {
            report.error(describe_vcd_error(settings, &error));
            return;
        }
    }
    let blocking = match vcd.blocking_settings().await {
        Ok(blocking) => {
            report.ok("the vCD account may read the cloud's blocking task settings (system administrator)");
            blocking
        }
        Err(error) if matches!(error.status(), Some(401 | 403)) => {
            report.error(format!(
                "the vCD account may not read the cloud's blocking task settings ({error}): \
                 vcd.user needs the system administrator role"
            ));
            vcd.logout().await;
            return;
        }
        Err(error) => {
            report.error(format!("cannot read vCD's blocking task settings: {error}"));
            vcd.logout().await;
            return;
        }
    };
    if let Some(policy) = policy {
        let amqp = vcd.amqp_settings().await.map_err(|e| e.to_string());
        let notifications = vcd.notifications_enabled().await.map_err(|e| e.to_string());
        let wanted = Wanted::new(settings, policy, &SettingsFlags::default());
        let current = Current {
            blocking: &blocking,
            amqp: amqp.as_ref().map_err(Clone::clone),
            notifications,
        };
        plan_lines(&Plan::new(&current, &wanted), &blocking, report);
    }
    vcd.logout().await;
}

/// The plan as doctor lines: a timeout too short is an error (held tasks would be timed out),
/// every other difference a warning.
fn plan_lines(plan: &Plan, blocking: &crate::vcd::BlockingSettings, report: &mut Report) {
    use super::vcd_settings::plan::{Change, Finding};
    let mut blocked_ok = true;
    for change in &plan.changes {
        match change {
            Change::Block { operation, why } => {
                blocked_ok = false;
                report.warning(format!(
                    "vCD does not block {operation}, which {} names: that rule never fires; \
                     run `vcd-blockd vcd plan` and `vcd apply`",
                    if why.starts_with("--") {
                        why.clone()
                    } else {
                        format!("rule {why:?}")
                    }
                ));
            }
            Change::Timeout { from, to, why } => report.error(format!(
                "vCD's blocking task timeout {} is shorter than {} ({why}): tasks would be \
                 timed out by vCD; run `vcd-blockd vcd apply`",
                format_duration(*from),
                format_duration(*to)
            )),
            Change::Unblock { .. } | Change::TimeoutAction { .. } => {}
        }
    }
    if blocked_ok {
        report.ok(format!(
            "vCD blocks every operation the policy names ({} operations block)",
            blocking.operations.len()
        ));
    }
    if !plan
        .changes
        .iter()
        .any(|change| matches!(change, Change::Timeout { .. }))
    {
        report.ok(format!(
            "vCD's blocking task timeout ({}, then {}) leaves time for reconciliation and \
             keepalives",
            format_duration(blocking.timeout),
            blocking.timeout_action
        ));
    }
    for finding in &plan.findings {
        match finding {
            Finding::Exchange { vcd, config } => report.warning(format!(
                "vCD publishes to exchange {vcd:?}, but amqp.exchange is {config:?}: nothing \
                 vCD announces reaches the daemon (reconciliation still finds tasks, late); \
                 set one to the other"
            )),
            Finding::NotificationsOff => report.warning(
                "vCD's notifications are off: it announces no blocking tasks; turn them on \
                 (Administration > Extensibility), or rely on reconciliation alone",
            ),
            Finding::Unread { what, error } => {
                report.warning(format!("cannot read vCD's {what}: {error}"));
            }
            Finding::RuleWithoutOperation(_) | Finding::TimeoutTooShort { .. } => {}
        }
    }
}

/// A failed connect or login in words that say what to do.
fn describe_vcd_error(settings: &Settings, error: &VcdError) -> String {
    let url = &settings.vcd.url;
    let text = error.to_string();
    let lower = text.to_ascii_lowercase();
    match error {
        VcdError::Login(_) if lower.contains("refused the credentials") => {
            format!("{text}; check vcd.user and the password (or API token) file")
        }
        _ if lower.contains("certificate") || lower.contains("unknownissuer") => format!(
            "vCD's TLS certificate at {url} is not trusted ({text}): set vcd.ca_file to the CA \
             that signed it"
        ),
        VcdError::Transport { .. } => format!(
            "cannot reach vCD at {url} ({text}): check vcd.url and that this machine may \
             reach it"
        ),
        _ => format!("vCD at {url}: {text}"),
    }
}

async fn check_broker(amqp: &AmqpSettings, report: &mut Report) {
    let connection = match connect(amqp).await {
        Ok(connection) => connection,
        Err(AmqpError::Broker(error)) => {
            report.error(format!("broker: {}", BrokerProblem::of(&error)));
            return;
        }
        Err(error) => {
            report.error(format!("broker: {error}"));
            return;
        }
    };
    report.ok("broker: connected, the credentials and the virtual host are accepted");
    match probe::exchange(&connection, &amqp.exchange).await {
        Ok(ExchangeState::Topic) => report.ok(format!(
            "exchange {:?} exists and is a topic exchange",
            amqp.exchange
        )),
        Ok(ExchangeState::TopicAsItIs(detail)) => report.ok(format!(
            "exchange {:?} exists and is used as it is ({detail})",
            amqp.exchange
        )),
        Ok(ExchangeState::OtherType(detail)) => report.error(format!(
            "exchange {:?} is not a topic exchange ({detail}): vCD's routing keys cannot be \
             bound by pattern; point vCD and amqp.exchange at a topic exchange",
            amqp.exchange
        )),
        Ok(ExchangeState::Missing) => report.error(format!(
            "exchange {:?} does not exist: vCD publishes nowhere the daemon listens; check \
             vCD's AMQP settings (`vcd-blockd vcd show`) and amqp.exchange",
            amqp.exchange
        )),
        Err(error) => report.error(format!(
            "exchange {:?}: {}",
            amqp.exchange,
            BrokerProblem::of(&error)
        )),
    }
    match probe::queue(&connection, amqp).await {
        Ok(QueueState::Missing) => report.ok(format!(
            "queue {:?} is not declared yet: the daemon declares it when it starts",
            amqp.queue
        )),
        Ok(QueueState::AsDeclared) => report.ok(format!(
            "queue {:?} exists with the arguments the daemon declares",
            amqp.queue
        )),
        Ok(QueueState::Differs(error)) => report.error(error.to_string()),
        Err(error) => report.error(format!(
            "queue {:?}: {}",
            amqp.queue,
            BrokerProblem::of(&error)
        )),
    }
    let _ = connection.close(200, "doctor done".into()).await;
}

fn check_admin(settings: &Settings, report: &mut Report) {
    let http = &settings.http;
    if !http.admin_api() {
        report.ok("admin API off (no admin_token_file, no approvers_file): held tasks are decided only at their deadline");
        return;
    }
    if http.admin_token.is_some() {
        report.ok("admin token read");
    }
    if settings.amqp.is_some() {
        if http.cluster_secret.is_some() {
            report.ok("cluster secret read: instances sign and check forwarded admin calls");
        } else {
            report.warning(
                "no http.cluster_secret_file: fine for one instance; with several, a standby \
                 cannot forward admin calls to the leader (it answers 503 \"no cluster \
                 secret\"): give every instance the same file of at least 32 bytes",
            );
        }
    }
    if let Some(path) = &http.approvers_file {
        match crate::approvers::load(path) {
            Ok(listed) => {
                report.ok(format!(
                    "approvers file {} read ({})",
                    path.display(),
                    counted(listed.len(), "approver")
                ));
                for warning in mail_to_nobody(&settings.notify, &listed) {
                    report.warning(warning);
                }
            }
            Err(errors) => report.error(format!(
                "approvers file {}: {}",
                path.display(),
                errors
                    .0
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
        }
    }
}

/// A warning for each `to = "approvers"` mail receiver when no approver of the file has an
/// `email`: its mails would reach nobody.
fn mail_to_nobody(
    notify: &[crate::config::WebhookSettings],
    listed: &[crate::approvers::Listed],
) -> Vec<String> {
    if listed.iter().any(|entry| entry.approver.email().is_some()) {
        return Vec::new();
    }
    notify
        .iter()
        .enumerate()
        .filter(|(_, receiver)| {
            receiver
                .mail
                .as_ref()
                .is_some_and(|mail| mail.to == crate::config::Recipients::Approvers)
        })
        .map(|(index, _)| {
            format!(
                "notify[{index}] mails the approvers who may decide, but no approver in the \
                 approvers file has an email: those mails reach nobody"
            )
        })
        .collect()
}

/// Each webhook's host resolves (nothing is sent). The URL is a secret: only its number and
/// format are named.
async fn check_webhooks(settings: &Settings, report: &mut Report) {
    for (index, webhook) in settings.notify.iter().enumerate() {
        let number = index + 1;
        let format = webhook.format.label();
        let Ok(url) = url::Url::parse(webhook.url.expose_secret().trim()) else {
            report.error(format!(
                "webhook {number} ({format}): its URL does not parse"
            ));
            continue;
        };
        let port = url
            .port_or_known_default()
            .or_else(|| crate::notify::smtp_default_port(url.scheme()));
        let (Some(host), Some(port)) = (url.host_str(), port) else {
            report.error(format!(
                "webhook {number} ({format}): its URL names no host"
            ));
            continue;
        };
        let resolved = tokio::net::lookup_host((host, port))
            .await
            .is_ok_and(|mut addresses| addresses.next().is_some());
        if resolved {
            report.ok(format!("webhook {number} ({format}): its host resolves"));
        } else {
            report.warning(format!(
                "webhook {number} ({format}): its host does not resolve from here; events to \
                 it will be retried and dropped"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approvers::{Approver, Listed, TokenHash};
    use crate::config::{MailSettings, Recipients, WebhookFormat, WebhookSettings};
    use crate::outcome::WebhookEvent;

    fn receiver(to: Recipients) -> WebhookSettings {
        WebhookSettings {
            url: "smtps://mail.example.com".to_owned().into(),
            format: WebhookFormat::Email,
            events: WebhookEvent::ALL.to_vec(),
            mail: Some(MailSettings {
                from: "blockd@example.com".parse().unwrap(),
                to,
                ca_file: None,
            }),
        }
    }

    fn approver(email: Option<&str>) -> Listed {
        Listed {
            approver: Approver::person("carol".into(), None)
                .with_email(email.map(|e| e.parse().unwrap())),
            token: Some(TokenHash::of(b"carol")),
        }
    }

    #[test]
    fn mail_to_the_approvers_is_a_warning_when_none_has_an_address() {
        let notify = [
            receiver(Recipients::Listed(vec!["ops@example.com".parse().unwrap()])),
            receiver(Recipients::Approvers),
        ];
        let warnings = mail_to_nobody(&notify, &[approver(None)]);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("notify[1] mails the approvers"),
            "{warnings:?}"
        );
        assert!(mail_to_nobody(&notify, &[approver(Some("carol@example.com"))]).is_empty());
        assert!(mail_to_nobody(&notify[..1], &[approver(None)]).is_empty());
    }
}
