//! The `vcd-blockd` command line: parses arguments and hands over to [`vcd_blockd::commands`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use clap_complete::Shell;
use vcd_blockd::commands;

#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read once when it starts (its `malloc_conf`): one arena, whatever the
/// number of CPUs; freed pages go back to the system within a second, from jemalloc's own
/// background thread, so an idle daemon shrinks too.
// SAFETY: jemalloc reads this NUL-terminated string once, before the first allocation, and
// never writes it; no other symbol has this name.
#[cfg(feature = "jemalloc")]
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &[u8; 86] =
    b"narenas:1,background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,abort_conf:true\0";

/// Decides VMware Cloud Director blocking tasks with an operator-written policy.
#[derive(Debug, Parser)]
#[command(name = "vcd-blockd", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon.
    Run {
        /// Config file (default: $VCD_BLOCKD_CONFIG, else /etc/vcd-blockd/config.toml if it
        /// exists, else built-in defaults and VCD_BLOCKD__* environment variables alone).
        #[arg(short, long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Validate the config and policy; print file:line:col for every problem.
    Check {
        /// Config file; without it and with POLICY, only the policy is checked.
        #[arg(short, long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// A policy file or directory (default: the one the config names).
        policy: Option<PathBuf>,
    },
    /// Run the policy's [[test]] cases; exit 1 if any fails.
    Test {
        /// Config file, to find the policy when POLICY is not given.
        #[arg(short, long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// A policy file or directory.
        policy: Option<PathBuf>,
    },
    /// Show how the policy decides one task, rule by rule.
    Explain {
        /// Config file, to find the policy when POLICY is not given.
        #[arg(short, long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// A policy file or directory.
        policy: Option<PathBuf>,
        /// A BlockingTask XML document or a notification (XML or JSON).
        #[arg(long, value_name = "FILE")]
        task: Option<PathBuf>,
        /// Read this blocking task (UUID) from the vCD the config names (GET only, no action,
        /// no broker) and explain it with the facts the daemon would use.
        #[arg(long, value_name = "ID", conflicts_with_all = ["task", "facts"])]
        task_id: Option<String>,
        /// A fact as key=value (operation, org, user, owner_type, …); overrides --task.
        #[arg(long = "fact", value_name = "KEY=VALUE")]
        facts: Vec<String>,
        /// Decide at this moment (RFC 3339, e.g. 2026-12-26T10:00:00+01:00) instead of now:
        /// which windows are open, which rules' `from`/`until` hold.
        #[arg(long, value_name = "TIME", value_parser = parse_moment)]
        at: Option<chrono::DateTime<chrono::Utc>>,
        /// With --task-id: when a rule asks a decision service ([[ask]] of the config), send
        /// it the request and show its answer (it is told nothing else; no action is taken).
        /// Without it, the service is never called.
        #[arg(long, requires = "task_id")]
        ask: bool,
    },
    /// List, approve or reject held tasks, or show the latest decisions, through a running
    /// daemon's admin API. Needs no
    /// daemon config: the flags may go before or after the subcommand.
    Holds {
        /// A config whose [http] section gives the admin API's address and admin token (no
        /// other part of it is read).
        #[arg(short, long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
        /// Admin API base URL (default: from -c, else http://127.0.0.1:9180).
        #[arg(long, global = true)]
        url: Option<String>,
        /// File holding the bearer token (default: $VCD_BLOCKD_TOKEN, else -c's
        /// admin_token_file).
        #[arg(long, value_name = "FILE", global = true)]
        token_file: Option<PathBuf>,
        /// CA certificates (PEM) for an admin API served over HTTPS with a private CA.
        #[arg(long, value_name = "PEM", global = true)]
        ca_file: Option<PathBuf>,
        /// How to print answers.
        #[arg(long, value_parser = ["table", "json"], default_value = "table", global = true)]
        output: String,
        #[command(subcommand)]
        request: HoldsCommand,
    },
    /// Manage the people who may approve or reject held tasks.
    Approvers {
        #[command(subcommand)]
        command: ApproversCommand,
    },
    /// vCD's own settings that make tasks block at all: show them, plan what the config and
    /// policy need, apply it. Only the blocking task settings are ever changed.
    Vcd {
        /// Config file (looked up as for `run`): the vCD to ask, and the policy to plan for.
        #[arg(short, long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: VcdCommand,
    },
    /// Check the live setup `check` cannot: vCD (login, rights, its blocking settings against
    /// the policy), the broker (credentials, vhost, exchange, queue), the admin API's files
    /// and the webhooks' hosts. Changes nothing; exit 1 on an error.
    Doctor {
        /// Config file (looked up as for `run`).
        #[arg(short, long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Print the effective configuration (built-in defaults < file < environment) as TOML,
    /// secrets redacted.
    Config {
        /// Config file (looked up as for `run`).
        #[arg(short, long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Print a shell completion script, e.g. `vcd-blockd completions bash >
    /// /etc/bash_completion.d/vcd-blockd`.
    Completions {
        /// bash, zsh, fish (also elvish, powershell).
        shell: Shell,
    },
    /// Print the man page (roff), e.g. `vcd-blockd man | man -l -`.
    Man {
        /// Write vcd-blockd.1 and one page per command (vcd-blockd-run.1, …) into DIR instead.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ApproversCommand {
    /// Make a new approver's token: printed alone on stdout (or written to --token-file), and
    /// the [[approver]] entry for the approvers file on stderr.
    Add {
        /// Shown in audit events and vCD messages; the approver's vCD user name, so that they
        /// cannot decide their own requests.
        name: String,
        /// An org whose tasks the approver may decide (a glob, e.g. "prod-*"); repeat for
        /// several. Without it: every org.
        #[arg(long = "org", value_name = "GLOB")]
        orgs: Vec<String>,
        /// Their Slack member ID (e.g. U024BE7LH), for the Slack app's buttons.
        #[arg(long, value_name = "ID")]
        slack_user: Option<String>,
        /// Their mail address (e.g. carol@example.com), for mail to `to = "approvers"`.
        #[arg(long, value_name = "ADDRESS")]
        email: Option<String>,
        /// Write the token to this new file (mode 0600) instead of stdout.
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum VcdCommand {
    /// Print the cloud's blocking task settings (operations, timeout, timeout action), its
    /// AMQP settings and whether notifications are on.
    Show,
    /// Print how the settings differ from what the policy and config need; exit 1 when they
    /// do.
    Plan {
        #[command(flatten)]
        flags: SettingsArgs,
    },
    /// Show the plan, then change vCD's blocking task settings to carry it out (never the
    /// AMQP or notification settings).
    Apply {
        /// Apply without asking (needed when standard input is not a terminal).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        flags: SettingsArgs,
    },
}

/// What the policy cannot say about vCD's blocking task settings.
#[derive(Debug, clap::Args)]
struct SettingsArgs {
    /// vCD's timeout for a blocking task, e.g. 2h (default: the shortest that the config and
    /// policy need, when vCD's is shorter).
    #[arg(long, value_name = "DURATION", value_parser = vcd_duration::parse_duration)]
    timeout: Option<std::time::Duration>,
    /// What vCD does with a task nobody decided in time.
    #[arg(long, value_name = "ACTION", value_parser = ["abort", "fail", "resume"])]
    timeout_action: Option<String>,
    /// Block this operation too (repeatable), e.g. vdcDeleteVapp.
    #[arg(long = "add-operation", value_name = "OP")]
    add_operations: Vec<String>,
    /// Stop blocking this operation (repeatable): the only way anything is removed.
    #[arg(long = "remove-operation", value_name = "OP")]
    remove_operations: Vec<String>,
}

impl From<SettingsArgs> for commands::SettingsFlags {
    fn from(args: SettingsArgs) -> Self {
        commands::SettingsFlags {
            timeout: args.timeout,
            timeout_action: args
                .timeout_action
                .as_deref()
                .and_then(vcd_blockd::FinalAction::parse),
            add_operations: args.add_operations,
            remove_operations: args.remove_operations,
        }
    }
}

#[derive(Debug, Subcommand)]
enum HoldsCommand {
    /// Show held tasks, oldest first.
    List,
    /// Resume a held task.
    Approve {
        id: String,
        /// Shown to the tenant in vCD.
        #[arg(long)]
        message: Option<String>,
    },
    /// Abort or fail a held task.
    Reject {
        id: String,
        #[arg(long, value_parser = ["abort", "fail"], default_value = "abort")]
        action: String,
        /// Shown to the tenant in vCD.
        #[arg(long)]
        message: Option<String>,
    },
    /// Show the latest decisions, automatic and human, newest first.
    History {
        /// Only decisions at or after this time (RFC 3339, e.g. 2026-11-20T09:00:00Z).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// At most this many (default 100, at most 1000).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
}

impl From<HoldsCommand> for commands::HoldsRequest {
    fn from(command: HoldsCommand) -> Self {
        match command {
            HoldsCommand::List => commands::HoldsRequest::List,
            HoldsCommand::History { since, limit } => {
                commands::HoldsRequest::History { since, limit }
            }
            HoldsCommand::Approve { id, message } => {
                commands::HoldsRequest::Approve { id, message }
            }
            HoldsCommand::Reject {
                id,
                action,
                message,
            } => commands::HoldsRequest::Reject {
                id,
                action,
                message,
            },
        }
    }
}

/// A command whose output goes to a reader that stops early (`vcd-blockd man | head`) ends
/// there, silently, as Unix tools do, instead of panicking in `println!`: SIGPIPE gets its
/// default disposition back (Rust's runtime ignores it). The daemon (`run`) keeps it ignored, so
/// that a closed pipe or socket is an error it handles, never its death. Network writes never
/// raise SIGPIPE either way (the standard library sends with `MSG_NOSIGNAL`).
fn end_quietly_when_the_reader_leaves() {
    // SAFETY: called at the start of `main`, before this process starts a thread; `SIG_DFL` is
    // a valid disposition for SIGPIPE and `signal` has no other effect.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(commands::EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    if !matches!(cli.command, Command::Run { .. }) {
        end_quietly_when_the_reader_leaves();
    }
    match cli.command {
        Command::Run { config } => commands::run(config),
        Command::Check { config, policy } => commands::check(config, policy),
        Command::Test { config, policy } => commands::test(config, policy),
        Command::Explain {
            config,
            policy,
            task_id: Some(id),
            at,
            ask,
            ..
        } => commands::explain_live(config, policy, &id, at, ask),
        Command::Explain {
            config,
            policy,
            task,
            facts,
            task_id: None,
            at,
            ..
        } => commands::explain(config, policy, task, &facts, at),
        Command::Holds {
            config,
            url,
            token_file,
            ca_file,
            output,
            request,
        } => {
            let options = commands::HoldsOptions {
                config,
                url,
                token_file,
                ca_file,
                json: output == "json",
            };
            commands::holds(options, request.into())
        }
        Command::Approvers {
            command:
                ApproversCommand::Add {
                    name,
                    orgs,
                    slack_user,
                    email,
                    token_file,
                },
        } => commands::approvers_add(
            &name,
            &orgs,
            slack_user.as_deref(),
            email.as_deref(),
            token_file.as_deref(),
        ),
        Command::Vcd { config, command } => {
            let (request, flags) = match command {
                VcdCommand::Show => (
                    commands::VcdRequest::Show,
                    commands::SettingsFlags::default(),
                ),
                VcdCommand::Plan { flags } => (commands::VcdRequest::Plan, flags.into()),
                VcdCommand::Apply { yes, flags } => {
                    (commands::VcdRequest::Apply { yes }, flags.into())
                }
            };
            commands::vcd_settings(config, request, &flags)
        }
        Command::Doctor { config } => commands::doctor(config),
        Command::Config { config } => commands::show_config(config),
        Command::Completions { shell } => commands::completions(Cli::command(), shell),
        Command::Man { out_dir } => commands::man(Cli::command(), out_dir.as_deref()),
    }
}

/// `--at`: an RFC 3339 instant with its offset.
fn parse_moment(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|moment| moment.with_timezone(&chrono::Utc))
        .map_err(|_| {
            format!("{text:?} is not an instant; write RFC 3339, e.g. 2026-12-26T10:00:00+01:00")
        })
}
