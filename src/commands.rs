//! The `vcd-blockd` commands behind the command line: `run` (the daemon), `check` (validate
//! config, approvers file and policy), `test` and `explain` (work with a policy alone), `holds`
//! (operate on held tasks through the running daemon), `approvers add` (a new approver's
//! token and entry), `vcd show|plan|apply` (the cloud's own blocking settings), `doctor` (live checks of vCD, the
//! broker and the files), `config` (the
//! effective configuration), `completions` and `man`. Each
//! returns the process exit code: 0 ok, 1 check or test failures, 2 usage or configuration
//! errors.

mod approvers;
mod doctor;
mod exposure;
mod generate;
mod holds;
mod policy_tools;
mod show_config;
mod vcd_settings;

pub use approvers::approvers_add;
pub use doctor::doctor;
pub use generate::{completions, man};
pub use holds::{HoldsOptions, HoldsRequest, holds};
pub use policy_tools::{explain, explain_live, test};
pub use show_config::show_config;
pub use vcd_settings::{SettingsFlags, VcdRequest, vcd_settings};

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tokio::signal::unix::{SignalKind, signal};

use crate::config::{DEFAULT_CONFIG_PATH, Settings};
use crate::daemon::{Daemon, SHUTDOWN_DEADLINE};
use crate::policy::{Policy, PolicyErrors};
use crate::systemd::Systemd;

pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

/// The config file to read: `-c FILE`, else `$VCD_BLOCKD_CONFIG`, else the default path when
/// it exists. `None` means built-in defaults plus environment alone (the container way); a
/// file named explicitly is returned even when missing, so that reading it reports the error.
pub fn config_path(flag: Option<PathBuf>) -> Option<PathBuf> {
    let named = flag.or_else(|| {
        std::env::var_os("VCD_BLOCKD_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    named.or_else(|| {
        let default = Path::new(DEFAULT_CONFIG_PATH);
        // An error other than "not found" (e.g. permissions) is left for the read to report.
        (!matches!(default.try_exists(), Ok(false))).then(|| default.to_owned())
    })
}

/// Said after a configuration error when no file was read, as the error alone ("built-in
/// default: vcd.url: required") does not tell someone who expected a file why none was read.
fn explain_missing_file(path: Option<&Path>) {
    if path.is_none() {
        eprintln!(
            "vcd-blockd: no config file was read: neither -c nor $VCD_BLOCKD_CONFIG names one \
             and {DEFAULT_CONFIG_PATH} does not exist, so the settings are built-in defaults \
             and VCD_BLOCKD__* environment variables"
        );
    }
}

/// How messages name where the configuration came from.
fn config_origin(path: Option<&Path>) -> String {
    match path {
        Some(path) => path.display().to_string(),
        None => "configuration (built-in defaults and environment)".to_owned(),
    }
}

/// `vcd-blockd run`: the daemon, until SIGTERM or SIGINT. SIGHUP reloads the policy and the
/// approvers file.
pub fn run(config: Option<PathBuf>) -> ExitCode {
    let path = config_path(config);
    let settings = match Settings::load(path.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("vcd-blockd: {error}");
            explain_missing_file(path.as_deref());
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if let Err(error) = crate::logging::init(&settings.log) {
        eprintln!("vcd-blockd: {error}");
        return ExitCode::from(EXIT_USAGE);
    }
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    block_on(Threads::Every, serve(settings))
}

/// Which threads a command's async work runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Threads {
    /// A worker per core: the daemon.
    Every,
    /// The calling thread alone: a one-shot command that waits on one thing at a time.
    This,
}

/// Runs `work` to its end on a new Tokio runtime (timers and I/O enabled). A runtime that
/// cannot start is a usage error (exit 2) with the reason.
fn block_on(threads: Threads, work: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    let mut builder = match threads {
        Threads::Every => tokio::runtime::Builder::new_multi_thread(),
        Threads::This => tokio::runtime::Builder::new_current_thread(),
    };
    match builder.enable_all().build() {
        Ok(runtime) => runtime.block_on(work),
        Err(error) => {
            eprintln!("vcd-blockd: cannot start the async runtime: {error}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// The vCD client of a one-shot command, or the usage error (exit 2) that it cannot be built.
fn standalone_vcd(
    settings: &crate::vcd::settings::VcdSettings,
) -> Result<crate::vcd::VcdClient, ExitCode> {
    crate::vcd::VcdClient::standalone(settings).map_err(|error| {
        eprintln!("vcd-blockd: {error}");
        ExitCode::from(EXIT_USAGE)
    })
}

async fn serve(settings: Settings) -> ExitCode {
    // Installed before anything listens, so a started daemon always stops cleanly.
    let (Ok(mut terminate), Ok(mut interrupt), Ok(mut hangup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        eprintln!("vcd-blockd: cannot install signal handlers");
        return ExitCode::from(EXIT_USAGE);
    };
    let daemon = match Daemon::start(settings).await {
        Ok(daemon) => daemon,
        Err(error) => {
            eprintln!("vcd-blockd: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let systemd = Systemd::ready(&daemon);
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            _ = hangup.recv() => {
                systemd.reloading();
                let _ = daemon.reload_policy().await;
                let _ = daemon.reload_approvers().await;
                systemd.reloaded();
            }
        }
    }
    tracing::info!("shutting down");
    systemd.stopping();
    // One deadline for the whole stop, inside the unit's TimeoutStopSec, so that systemd never
    // has to SIGKILL: whatever is still running then is dropped (unacknowledged deliveries
    // return to the queue; held tasks stay blocked in vCD for the next start).
    if tokio::time::timeout(SHUTDOWN_DEADLINE, daemon.stop())
        .await
        .is_err()
    {
        tracing::warn!(
            deadline = %crate::duration::format_duration(SHUTDOWN_DEADLINE),
            "not stopped within the shutdown deadline; exiting anyway"
        );
    }
    ExitCode::SUCCESS
}

/// `vcd-blockd check [-c FILE] [POLICY]`: with only POLICY, the policy alone (no config
/// needed); otherwise the config, the approvers file it names and the policy it names (or
/// POLICY, when given).
pub fn check(config: Option<PathBuf>, policy: Option<PathBuf>) -> ExitCode {
    let (policy_path, approvers, services) = match (&config, policy) {
        (None, Some(policy)) => (policy, None, None),
        (config, policy) => {
            let path = config_path(config.clone());
            let origin = config_origin(path.as_deref());
            match Settings::load(path.as_deref()) {
                Ok(settings) => {
                    println!("{origin}: ok");
                    println!("{origin}: {}", mode(&settings));
                    for warning in settings
                        .warnings
                        .iter()
                        .chain(&exposure::warnings(&settings))
                    {
                        println!("{origin}: warning: {warning}");
                    }
                    let approvers = settings.http.approvers_file.as_deref().map(check_approvers);
                    let services: Vec<String> =
                        settings.ask.iter().map(|s| s.name.clone()).collect();
                    (
                        policy.unwrap_or(settings.policy.path),
                        approvers,
                        Some(services),
                    )
                }
                Err(error) => {
                    eprintln!("{error}");
                    explain_missing_file(path.as_deref());
                    return ExitCode::from(EXIT_FAILED);
                }
            }
        }
    };
    let approvers_ok = !matches!(approvers, Some(None));
    let policy_ok = check_policy(
        &policy_path,
        approvers.flatten().as_deref(),
        services.as_deref(),
    );
    if policy_ok && approvers_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

/// Which source of task ids a configuration selects, for `check`.
fn mode(settings: &Settings) -> String {
    let every = crate::duration::format_duration(settings.reconcile.interval);
    match &settings.amqp {
        Some(amqp) => format!(
            "mode: AMQP: consumes queue {:?} bound to exchange {:?}, reconciles every {every}",
            amqp.queue, amqp.exchange
        ),
        None => format!("mode: poll: no AMQP URL, lists vCD's blocking tasks every {every}"),
    }
}

/// Checks the policy at `path`; with the approvers file's `approvers`, also that the rules
/// name only approvers and groups it has, and need no more approvals than they can give; with
/// the config's `services` (the `[[ask]]` names), that every `ask.service` is one of them.
fn check_policy(
    path: &Path,
    approvers: Option<&[crate::approvers::Listed]>,
    services: Option<&[String]>,
) -> bool {
    let loaded = Policy::load(path).and_then(|policy| {
        let mut errors = match approvers {
            Some(listed) => policy.approval_errors(|who| crate::approvers::members(listed, who)),
            None => PolicyErrors(Vec::new()),
        };
        if let Some(services) = services {
            let known = |name: &str| services.iter().any(|service| service == name);
            errors.0.extend(policy.ask_errors(known).0);
        }
        if errors.0.is_empty() {
            Ok(policy)
        } else {
            Err(errors)
        }
    });
    match loaded {
        Ok(policy) => {
            println!(
                "{}: ok ({}, {})",
                path.display(),
                counted(policy.rule_count(), "rule"),
                counted(policy.tests().len(), "test")
            );
            for warning in policy.warnings() {
                println!("{warning}");
            }
            for warning in policy.time_warnings(chrono::Utc::now()) {
                println!("{warning}");
            }
            if services.is_none() && policy.asks().next().is_some() {
                println!(
                    "{}: note: the names in ask.service were not checked against the config's \
                     [[ask]] services; check with -c CONFIG to check them",
                    path.display()
                );
            }
            true
        }
        Err(errors) => {
            for error in &errors.0 {
                eprintln!("{error}");
            }
            false
        }
    }
}

/// `count` and `noun`, in the plural unless it is one: "1 rule", "3 rules", "0 tests".
fn counted(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// The approvers file's approvers, or `None` (its problems printed) when it is refused.
fn check_approvers(path: &Path) -> Option<Vec<crate::approvers::Listed>> {
    match crate::approvers::load(path) {
        Ok(listed) => {
            println!(
                "{}: ok ({})",
                path.display(),
                counted(listed.len(), "approver")
            );
            Some(listed)
        }
        Err(errors) => {
            for error in &errors.0 {
                eprintln!("{error}");
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::counted;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(counted(1, "approver"), "1 approver");
        assert_eq!(counted(0, "test"), "0 tests");
        assert_eq!(counted(12, "rule"), "12 rules");
    }
}
