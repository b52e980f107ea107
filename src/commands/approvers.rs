//! `vcd-blockd approvers add NAME [--org GLOB]… [--slack-user ID] [--email ADDRESS]
//! [--token-file FILE]`: makes a new approver's bearer token and prints it alone on stdout (or writes it to a new file, mode 0600), and
//! prints the `[[approver]]` entry (with the token's SHA-256, never the token) to paste into the
//! approvers file on stderr, so that saving stdout saves the token and nothing else. Needs no
//! config and touches no file but the token file.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use super::{EXIT_FAILED, EXIT_USAGE};
use crate::approvers::{
    TokenHash, check_email, check_name, check_slack_user, compile_orgs, new_token,
};

/// Makes a new token for approver `name`, who may decide the tasks of `orgs` (every org when
/// empty): printed alone on stdout, or written to `token_file`; the entry for the approvers
/// file, with their Slack member ID `slack_user` and mail address `email` if given, goes to
/// stderr. A bad name, org glob, Slack ID or address is refused (exit 2) before any token is
/// made, with the message the approvers file would give.
pub fn approvers_add(
    name: &str,
    orgs: &[String],
    slack_user: Option<&str>,
    email: Option<&str>,
    token_file: Option<&Path>,
) -> ExitCode {
    let checked = check_name(name)
        .and_then(|()| slack_user.map_or(Ok(()), check_slack_user))
        .and_then(|()| email.map_or(Ok(()), |email| check_email(email).map(drop)))
        .and_then(|()| compile_orgs(orgs.iter().map(String::as_str)).map(drop));
    if let Err(message) = checked {
        eprintln!("vcd-blockd: {message}");
        return ExitCode::from(EXIT_USAGE);
    }
    let token = match new_token() {
        Ok(token) => token,
        Err(error) => {
            eprintln!("vcd-blockd: cannot get random bytes from the operating system: {error}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let kept = match token_file {
        Some(path) => match write_token(path, &token) {
            Ok(()) => format!(
                "The token is in {} (mode 0600) and nowhere else",
                path.display()
            ),
            Err(error) => {
                eprintln!(
                    "vcd-blockd: cannot write the token to {}: {error}",
                    path.display()
                );
                return ExitCode::from(EXIT_FAILED);
            }
        },
        None => {
            println!("{token}");
            "The token above (on stdout) is shown only once".to_owned()
        }
    };
    eprint!(
        "{}",
        guidance(
            &Entry {
                name,
                orgs,
                slack_user,
                email: email.map(str::trim),
            },
            &kept,
            TokenHash::of(token.as_bytes())
        )
    );
    ExitCode::SUCCESS
}

/// Writes the token to a new file only the owner can read; an existing file is left alone.
fn write_token(path: &Path, token: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(file, "{token}")
}

/// What the `[[approver]]` entry says besides the token's hash.
struct Entry<'a> {
    name: &'a str,
    orgs: &'a [String],
    slack_user: Option<&'a str>,
    email: Option<&'a str>,
}

/// Where the token is (`kept`, a sentence without its full stop), that no copy is kept, and
/// the entry to paste.
fn guidance(approver: &Entry<'_>, kept: &str, token: TokenHash) -> String {
    let name = approver.name;
    format!(
        "{kept}: vcd-blockd keeps only its SHA-256. Give it to {name} over a \
         safe channel.\n\
         \n\
         Add this to the approvers file ([http] approvers_file); it is read again within seconds:\n\
         \n\
         {}",
        entry(approver, token)
    )
}

/// An `[[approver]]` table; strings are written by the TOML library, so any name is quoted
/// correctly.
fn entry(approver: &Entry<'_>, token: TokenHash) -> String {
    let string = |text: &str| toml::Value::String(text.to_owned()).to_string();
    let mut entry = format!(
        "[[approver]]\nname = {}\ntoken_sha256 = {}\n",
        string(approver.name),
        string(&token.to_hex())
    );
    if let Some(user) = approver.slack_user {
        entry.push_str(&format!("slack_user = {}\n", string(user)));
    }
    if let Some(email) = approver.email {
        entry.push_str(&format!("email = {}\n", string(email)));
    }
    if !approver.orgs.is_empty() {
        let globs: Vec<String> = approver.orgs.iter().map(|glob| string(glob)).collect();
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
        let token = TokenHash::of(b"the-token");
        let printed = guidance(
            &Entry {
                name: "Zoë \"Z\" O'Brien",
                orgs: &orgs,
                slack_user: Some("U024BE7LH"),
                email: Some("zoe@example.com"),
            },
            "The token above is shown only once",
            token,
        );
        let (head, entry) = printed.split_once("\n\n[[approver]]").unwrap();
        assert!(head.contains("keeps only its SHA-256"), "{printed}");
        let listed =
            crate::approvers::parse_bytes("pasted", format!("[[approver]]{entry}").as_bytes())
                .unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].approver.name(), "Zoë \"Z\" O'Brien");
        assert_eq!(listed[0].approver.org_globs(), ["prod-*", "shared \"x\""]);
        assert_eq!(listed[0].approver.slack_user(), Some("U024BE7LH"));
        assert_eq!(
            listed[0]
                .approver
                .email()
                .map(ToString::to_string)
                .as_deref(),
            Some("zoe@example.com")
        );
        assert!(listed[0].token == Some(TokenHash::of(b"the-token")));
        assert!(
            !printed.contains("the-token"),
            "the token itself is not in the entry"
        );

        let everyone = entry_of("carol", &[]);
        assert!(!everyone.contains("orgs"), "{everyone}");
    }

    #[test]
    fn a_token_file_is_new_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("carol.token");
        write_token(&path, "the-token").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "the-token\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(write_token(&path, "another").is_err(), "never overwritten");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "the-token\n");
    }

    fn entry_of(name: &str, orgs: &[String]) -> String {
        let approver = Entry {
            name,
            orgs,
            slack_user: None,
            email: None,
        };
        entry(&approver, TokenHash::of(b"x"))
    }
}
