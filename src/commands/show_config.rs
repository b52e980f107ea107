//! `vcd-blockd config [-c FILE]`: the effective configuration (built-in defaults < file <
//! environment) as TOML, with secrets redacted, to see what the daemon would run with.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{EXIT_USAGE, config_path};

/// Prints the effective configuration; exit 2 when the file cannot be read or parsed.
pub fn show_config(config: Option<PathBuf>) -> ExitCode {
    let path = config_path(config);
    match crate::config::effective_toml(path.as_deref()) {
        Ok(text) => {
            let layers = match &path {
                Some(path) => format!("built-in defaults < {} < environment", path.display()),
                None => "built-in defaults < environment (no config file)".to_owned(),
            };
            println!("# Effective configuration: {layers}. Secrets are redacted.");
            println!("# Not validated: `vcd-blockd check` does that.\n");
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("vcd-blockd: {error}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
