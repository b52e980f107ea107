//! The `vcd-blockd` command line: parses arguments and hands over to [`vcd_blockd::commands`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vcd_blockd::commands;

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
        /// Config file (default: $VCD_BLOCKD_CONFIG, else /etc/vcd-blockd/config.toml).
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
    match cli.command {
        Command::Run { config } => commands::run(config),
        Command::Check { config, policy } => commands::check(config, policy),
    }
}
