//! `vcd-blockd completions SHELL` and `vcd-blockd man`: shell completions and a man page,
//! generated from the command-line definition that `main.rs` hands in, so they never drift
//! from the commands the binary takes. The main page also gets the sections clap knows nothing
//! of (FILES, ENVIRONMENT, EXIT STATUS, SIGNALS, EXAMPLES), written in `man_sections.roff`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap_complete::Shell;

use super::EXIT_FAILED;

/// The main page's sections beyond the command line's, in roff.
const EXTRA_SECTIONS: &str = include_str!("man_sections.roff");

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
    let page = match main_page(command.clone()) {
        Ok(page) => page,
        Err(error) => {
            eprintln!("vcd-blockd: cannot render the man page: {error}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let Some(dir) = out_dir else {
        return write_stdout(&page);
    };
    // The subcommands' pages as clap renders them, then the main page with its extra sections
    // over clap's.
    let main = dir.join(format!("{}.1", command.get_name()));
    match clap_mangen::generate_to(command, dir).and_then(|()| std::fs::write(&main, &page)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!(
                "vcd-blockd: cannot write man pages to {}: {error}",
                dir.display()
            );
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// The main page: clap's sections, then [`EXTRA_SECTIONS`].
fn main_page(command: clap::Command) -> std::io::Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command).render(&mut page)?;
    page.extend_from_slice(EXTRA_SECTIONS.as_bytes());
    Ok(page)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::EXIT_USAGE;
    use crate::config::DEFAULT_CONFIG_PATH;

    #[test]
    fn the_extra_sections_name_the_codes_and_paths_the_code_uses() {
        for code in [0, EXIT_FAILED, EXIT_USAGE] {
            assert!(
                EXTRA_SECTIONS.contains(&format!(".TP\n\\fB{code}\\fR\n")),
                "EXIT STATUS lacks {code}"
            );
        }
        let path = DEFAULT_CONFIG_PATH.replace('-', "\\-");
        assert!(EXTRA_SECTIONS.contains(&path), "FILES lacks {path}");
    }
}
