//! `vcd-blockd completions SHELL` and `vcd-blockd man`: shell completions and a man page,
//! generated from the command-line definition that `main.rs` hands in, so they never drift
//! from the commands the binary takes.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap_complete::Shell;

use super::EXIT_FAILED;

/// Prints the completion script for `shell`.
pub fn completions(mut command: clap::Command, shell: Shell) -> ExitCode {
    let name = command.get_name().to_owned();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, name, &mut script);
    write_stdout(&script)
}

/// Prints the man page (roff), e.g. for `man -l -`; with `out_dir`, writes it and one page
/// per command (`vcd-blockd-run.1`, `vcd-blockd-holds-list.1`, …) there instead, as a package
/// installs them.
pub fn man(command: clap::Command, out_dir: Option<&Path>) -> ExitCode {
    if let Some(dir) = out_dir {
        return match clap_mangen::generate_to(command, dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!(
                    "vcd-blockd: cannot write man pages to {}: {error}",
                    dir.display()
                );
                ExitCode::from(EXIT_FAILED)
            }
        };
    }
    let mut page = Vec::new();
    if let Err(error) = clap_mangen::Man::new(command).render(&mut page) {
        eprintln!("vcd-blockd: cannot render the man page: {error}");
        return ExitCode::from(EXIT_FAILED);
    }
    write_stdout(&page)
}

fn write_stdout(bytes: &[u8]) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vcd-blockd: cannot write to stdout: {error}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}
