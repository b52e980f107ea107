//! `vcd-blockd vcd show|plan|apply`: the cloud's own settings that make tasks block at all
//! (protocol notes §9), compared with what the config and policy need and, on `apply`, set in
//! the style of a plan and its application: only BlockingTaskSettings are ever PUT, only after
//! they were shown, and no operation is removed unless the operator names it.

pub(super) mod plan;

pub use plan::SettingsFlags;
pub(crate) use plan::{Current, Plan, Wanted};

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use vcd_duration::format_duration;

use super::{EXIT_FAILED, EXIT_USAGE, Threads, block_on, config_path, standalone_vcd};
use crate::config::Settings;
use crate::policy::Policy;
use crate::vcd::{AmqpSettings, BlockingSettings, VcdClient};

/// Which of the three `vcd` commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VcdRequest {
    /// Print the settings.
    Show,
    /// Print the differences; exit 1 when there are any.
    Plan,
    /// PUT the BlockingTaskSettings changes, after showing them; `yes` skips the question.
    Apply { yes: bool },
}

/// Everything read from vCD for one command.
struct Cloud {
    blocking: BlockingSettings,
    amqp: Result<AmqpSettings, String>,
    notifications: Result<bool, String>,
}

impl Cloud {
    fn current(&self) -> Current<'_> {
        Current {
            blocking: &self.blocking,
            amqp: self.amqp.as_ref().map_err(Clone::clone),
            notifications: self.notifications.clone(),
        }
    }
}

/// `vcd-blockd vcd show|plan|apply -c CONFIG`.
pub fn vcd_settings(
    config: Option<PathBuf>,
    request: VcdRequest,
    flags: &SettingsFlags,
) -> ExitCode {
    let path = config_path(config);
    let settings = match Settings::load(path.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("vcd-blockd: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let policy = if request == VcdRequest::Show {
        None
    } else {
        match Policy::load(&settings.policy.path) {
            Ok(policy) => Some(policy),
            Err(errors) => {
                eprintln!("{errors}");
                return ExitCode::from(EXIT_FAILED);
            }
        }
    };
    block_on(Threads::This, async {
        let vcd = match standalone_vcd(&settings.vcd) {
            Ok(vcd) => vcd,
            Err(code) => return code,
        };
        let code = match read_cloud(&vcd).await {
            Err(error) => {
                eprintln!(
                    "vcd-blockd: cannot read vCD's blocking task settings at {}: {error}",
                    settings.vcd.url
                );
                ExitCode::from(EXIT_FAILED)
            }
            Ok(cloud) => match (request, policy) {
                (VcdRequest::Plan, Some(policy)) => {
                    let wanted = Wanted::new(&settings, &policy, flags);
                    plan(&settings, &cloud, &wanted)
                }
                (VcdRequest::Apply { yes }, Some(policy)) => {
                    let wanted = Wanted::new(&settings, &policy, flags);
                    apply(&vcd, &settings, &cloud, &wanted, yes).await
                }
                _ => {
                    show(&settings, &cloud);
                    ExitCode::SUCCESS
                }
            },
        };
        vcd.logout().await;
        code
    })
}

async fn read_cloud(vcd: &VcdClient) -> Result<Cloud, crate::vcd::VcdError> {
    let blocking = vcd.blocking_settings().await?;
    let amqp = vcd.amqp_settings().await.map_err(|e| e.to_string());
    let notifications = vcd.notifications_enabled().await.map_err(|e| e.to_string());
    Ok(Cloud {
        blocking,
        amqp,
        notifications,
    })
}

fn show(settings: &Settings, cloud: &Cloud) {
    let blocking = &cloud.blocking;
    println!("vCD {}", settings.vcd.url);
    println!("Blocking task settings");
    println!("  timeout         {}", format_duration(blocking.timeout));
    println!("  timeout action  {}", blocking.timeout_action);
    if blocking.operations.is_empty() {
        println!("  operations      none: no operation blocks");
    } else {
        println!("  operations      {}", blocking.operations.len());
        for operation in &blocking.operations {
            println!("    {operation}");
        }
    }
    println!("AMQP settings");
    match &cloud.amqp {
        Ok(amqp) => {
            let port = amqp.port.map_or_else(String::new, |p| format!(":{p}"));
            let tls = if amqp.use_ssl { "on" } else { "off" };
            println!(
                "  broker          {}{port} (vhost {:?}, TLS {tls})",
                amqp.host, amqp.vhost
            );
            println!("  user            {}", amqp.user);
            println!("  exchange        {}", amqp.exchange);
            println!("  prefix          {}", amqp.prefix);
        }
        Err(error) => println!("  cannot be read: {error}"),
    }
    match &cloud.notifications {
        Ok(true) => println!("Notifications     on"),
        Ok(false) => println!("Notifications     off"),
        Err(error) => println!("Notifications     cannot be read: {error}"),
    }
}

fn plan(settings: &Settings, cloud: &Cloud, wanted: &Wanted) -> ExitCode {
    let plan = Plan::new(&cloud.current(), wanted);
    print!("{}", describe(settings, &plan));
    if plan.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

async fn apply(
    vcd: &VcdClient,
    settings: &Settings,
    cloud: &Cloud,
    wanted: &Wanted,
    yes: bool,
) -> ExitCode {
    let plan = Plan::new(&cloud.current(), wanted);
    print!("{}", describe(settings, &plan));
    if plan.changes.is_empty() {
        return ExitCode::SUCCESS;
    }
    if !yes && !confirmed(&settings.vcd.url) {
        return ExitCode::from(EXIT_FAILED);
    }
    let next = plan.applied_to(&cloud.blocking);
    match vcd.put_blocking_settings(&next).await {
        Ok(stored) if stored == next => {
            println!(
                "Applied: vCD blocks {} operation(s) and applies {} to a task nobody decided \
                 within {}.",
                stored.operations.len(),
                stored.timeout_action,
                format_duration(stored.timeout)
            );
            ExitCode::SUCCESS
        }
        Ok(stored) => {
            eprintln!(
                "vcd-blockd: vCD stored other settings than were sent: {} operations, timeout \
                 {}, action {}; run `vcd-blockd vcd plan` to see what differs",
                stored.operations.len(),
                format_duration(stored.timeout),
                stored.timeout_action
            );
            ExitCode::from(EXIT_FAILED)
        }
        Err(error) => {
            eprintln!("vcd-blockd: vCD refused the new blocking task settings: {error}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// The plan with a heading saying what it compares.
fn describe(settings: &Settings, plan: &Plan) -> String {
    let heading = if plan.changes.is_empty() {
        format!(
            "vCD {}: its blocking task settings are as the config and policy need.\n",
            settings.vcd.url
        )
    } else {
        format!(
            "vCD {}: {} change(s) to its blocking task settings:\n",
            settings.vcd.url,
            plan.changes.len()
        )
    };
    format!("{heading}{}", plan.render())
}

/// Asks on the terminal; refuses (with the reason) when standard input is not one.
fn confirmed(url: &url::Url) -> bool {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        eprintln!(
            "vcd-blockd: not applied: standard input is not a terminal, so nobody can confirm; \
             run again with --yes to apply these changes"
        );
        return false;
    }
    print!("Apply these changes to vCD {url}? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    if stdin.lock().read_line(&mut answer).is_err() {
        return false;
    }
    let yes = matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes");
    if !yes {
        eprintln!("vcd-blockd: not applied");
    }
    yes
}
