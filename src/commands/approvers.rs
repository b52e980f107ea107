//! `vcd-blockd approvers add NAME [--org GLOB]…`: makes a new approver's bearer token, prints
//! it once, and prints the `[[approver]]` entry (with the token's SHA-256, never the token) to
//! paste into the approvers file. Needs no config and touches no file.

use std::process::ExitCode;

use super::{EXIT_FAILED, EXIT_USAGE};
use crate::approvers::{TokenHash, check_name, compile_orgs, new_token};

/// Prints a new token for approver `name`, who may decide the tasks of `orgs` (every org when
/// empty), and their entry for the approvers file.
pub fn approvers_add(name: &str, orgs: &[String]) -> ExitCode {
    let checked = check_name(name).and_then(|()| compile_orgs(orgs.iter().map(String::as_str)));
    if let Err(message) = checked {
        eprintln!("vcd-blockd: {message}");
        return ExitCode::from(EXIT_USAGE);
    }
    match new_token() {
        Ok(token) => {
            print!("{}", announce(name, orgs, &token));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("vcd-blockd: cannot get random bytes from the operating system: {error}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// The token, the warning that it is shown only once, and the entry to paste.
fn announce(name: &str, orgs: &[String], token: &str) -> String {
    format!(
        "token: {token}\n\
         This token is shown only once: vcd-blockd keeps only its SHA-256. Give it to {name} \
         over a safe channel.\n\
         \n\
         Add this to the approvers file ([http] approvers_file); it is read again within seconds:\n\
         \n\
         {}",
        entry(name, orgs, TokenHash::of(token.as_bytes()))
    )
}

/// An `[[approver]]` table; strings are written by the TOML library, so any name is quoted
/// correctly.
fn entry(name: &str, orgs: &[String], token: TokenHash) -> String {
    let string = |text: &str| toml::Value::String(text.to_owned()).to_string();
    let mut entry = format!(
        "[[approver]]\nname = {}\ntoken_sha256 = {}\n",
        string(name),
        string(&token.to_hex())
    );
    if !orgs.is_empty() {
        let globs: Vec<String> = orgs.iter().map(|glob| string(glob)).collect();
        entry.push_str(&format!("orgs = [{}]\n", globs.join(", ")));
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_reads_back_as_an_approvers_file() {
        let orgs = ["prod-*".to_owned(), "shared \"x\"".to_owned()];
        let printed = announce("Zoë \"Z\" O'Brien", &orgs, "the-token");
        let (head, entry) = printed.split_once("\n\n[[approver]]").unwrap();
        assert!(head.starts_with("token: the-token\n"), "{printed}");
        assert!(head.contains("shown only once"), "{printed}");
        let listed =
            crate::approvers::parse_bytes("pasted", format!("[[approver]]{entry}").as_bytes())
                .unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].approver.name(), "Zoë \"Z\" O'Brien");
        assert_eq!(listed[0].approver.org_globs(), ["prod-*", "shared \"x\""]);
        assert!(listed[0].token == TokenHash::of(b"the-token"));
        assert!(
            !entry.contains("the-token"),
            "the token itself is not in the entry"
        );

        let everyone = entry_of("carol", &[]);
        assert!(!everyone.contains("orgs"), "{everyone}");
    }

    fn entry_of(name: &str, orgs: &[String]) -> String {
        entry(name, orgs, TokenHash::of(b"x"))
    }
}
