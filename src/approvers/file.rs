//! The approvers file (`[http] approvers_file`): `[[approver]]` tables with `name`,
//! `token_sha256` and/or `slack_user` (at least one), optional `orgs` globs, optional
//! `groups` and an optional `email`. Every problem is reported as `file:line:col:
//! message`; a file with any problem is refused whole.

use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::{Approver, TokenHash, check_group, check_name, check_slack_user, compile_orgs};
use crate::located::line_col;

/// One approver as the file names them.
#[derive(Debug)]
pub(crate) struct Listed {
    pub(crate) approver: Approver,
    /// `None`: the approver decides from Slack only.
    pub(crate) token: Option<TokenHash>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    approver: Vec<RawApprover>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApprover {
    name: Spanned<String>,
    token_sha256: Option<Spanned<String>>,
    orgs: Option<Spanned<Vec<Spanned<String>>>>,
    /// The groups a rule's `approvers = ["group:…"]` may name.
    groups: Option<Vec<Spanned<String>>>,
    /// Where `to = "approvers"` mail reaches this approver.
    email: Option<Spanned<String>>,
    /// Their Slack user ID, for the Slack app's buttons.
    slack_user: Option<Spanned<String>>,
}

pub use crate::located::{FileError as ApproversError, FileErrors as ApproversErrors};

/// Reads and checks the approvers file at `path`.
pub(crate) fn load(path: &Path) -> Result<Vec<Listed>, ApproversErrors> {
    parse_bytes(&path.display().to_string(), &read(path)?)
}

/// The approvers file's bytes, to be checked with [`parse_bytes`].
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, ApproversErrors> {
    std::fs::read(path).map_err(|e| unreadable(path, &e))
}

/// The approvers file cannot be read.
pub(super) fn unreadable(path: &Path, error: &std::io::Error) -> ApproversErrors {
    whole_file(&path.display().to_string(), format!("cannot read: {error}"))
}

/// Checks the bytes of an approvers file; `shown` names it in errors.
pub(crate) fn parse_bytes(shown: &str, bytes: &[u8]) -> Result<Vec<Listed>, ApproversErrors> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| whole_file(shown, format!("not UTF-8 text: {e}")))?;
    parse(shown, text)
}

/// Checks the text of an approvers file; `shown` names it in errors.
pub(crate) fn parse(shown: &str, text: &str) -> Result<Vec<Listed>, ApproversErrors> {
    let at = |span: Range<usize>, message: String| {
        let (line, col) = line_col(text, span.start);
        ApproversError {
            file: shown.to_owned(),
            line,
            col,
            message,
        }
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let message = e.message().trim_end().to_owned();
        ApproversErrors(vec![match e.span() {
            Some(span) => at(span, message),
            None => ApproversError::whole_file(shown, message),
        }])
    })?;
    let mut errors = Vec::new();
    let mut listed: Vec<(Listed, Range<usize>)> = Vec::with_capacity(raw.approver.len());
    for entry in raw.approver {
        match check_entry(&entry, &listed, text) {
            Ok(approver) => listed.push((approver, entry.name.span())),
            Err(problems) => errors.extend(problems.into_iter().map(|(s, m)| at(s, m))),
        }
    }
    if errors.is_empty() {
        Ok(listed.into_iter().map(|(listed, _)| listed).collect())
    } else {
        Err(ApproversErrors(errors))
    }
}

/// One `[[approver]]` checked against itself and the ones before it; the problems come with
/// their places.
fn check_entry(
    entry: &RawApprover,
    before: &[(Listed, Range<usize>)],
    text: &str,
) -> Result<Listed, Vec<(Range<usize>, String)>> {
    let mut problems = Vec::new();
    let name = entry.name.get_ref();
    if let Err(message) = check_name(name) {
        problems.push((entry.name.span(), message));
    }
    let line_of = |span: &Range<usize>| line_col(text, span.start).0;
    if let Some((_, span)) = before
        .iter()
        .find(|(other, _)| other.approver.name().to_lowercase() == name.to_lowercase())
    {
        problems.push((
            entry.name.span(),
            format!(
                "approver {name:?} is already named on line {}; names must differ (ignoring case)",
                line_of(span)
            ),
        ));
    }
    let token = match &entry.token_sha256 {
        None => None,
        Some(hex) => match TokenHash::parse_hex(hex.get_ref()) {
            Ok(token) => {
                if let Some((other, _)) =
                    before.iter().find(|(other, _)| other.token == Some(token))
                {
                    problems.push((
                        hex.span(),
                        format!(
                            "the same token_sha256 as approver {:?}: every approver needs a token of their own",
                            other.approver.name()
                        ),
                    ));
                }
                Some(token)
            }
            Err(message) => {
                problems.push((hex.span(), message));
                None
            }
        },
    };
    let slack_user = entry.slack_user.as_ref().map(|user| {
        if let Err(message) = check_slack_user(user.get_ref()) {
            problems.push((user.span(), message));
        } else if let Some((other, _)) = before
            .iter()
            .find(|(other, _)| other.approver.slack_user() == Some(user.get_ref().as_str()))
        {
            problems.push((
                user.span(),
                format!(
                    "the same slack_user as approver {:?}: a Slack user is one approver",
                    other.approver.name()
                ),
            ));
        }
        user.get_ref().clone()
    });
    if entry.token_sha256.is_none() && slack_user.is_none() {
        problems.push((
            entry.name.span(),
            format!(
                "approver {name:?} has neither token_sha256 nor slack_user: give at least one \
                 (`vcd-blockd approvers add` makes a token)"
            ),
        ));
    }
    let orgs = match &entry.orgs {
        None => None,
        Some(list) if list.get_ref().is_empty() => {
            problems.push((
                list.span(),
                "an empty orgs list lets the approver decide nothing; list at least one glob, \
                 or leave orgs out for every org"
                    .to_owned(),
            ));
            None
        }
        Some(list) => {
            let mut globs = Vec::with_capacity(list.get_ref().len());
            for glob in list.get_ref() {
                match compile_orgs([glob.get_ref().as_str()]) {
                    Ok(mut one) => globs.append(&mut one),
                    Err(message) => problems.push((glob.span(), message)),
                }
            }
            Some(globs)
        }
    };
    let mut groups = Vec::new();
    for group in entry.groups.iter().flatten() {
        match check_group(group.get_ref()) {
            Ok(()) => groups.push(group.get_ref().clone()),
            Err(message) => problems.push((group.span(), message)),
        }
    }
    let email = match &entry.email {
        None => None,
        Some(text) => match super::check_email(text.get_ref()) {
            Ok(address) => Some(address),
            Err(message) => {
                problems.push((text.span(), message));
                None
            }
        },
    };
    if problems.is_empty() {
        Ok(Listed {
            approver: Approver::person(name.clone(), orgs)
                .in_groups(groups)
                .in_slack(slack_user)
                .with_email(email),
            token,
        })
    } else {
        Err(problems)
    }
}

pub(super) fn whole_file(shown: &str, message: String) -> ApproversErrors {
    ApproversErrors(vec![ApproversError::whole_file(shown, message)])
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAROL: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    const DAVE: &str = "e6934743adaafccb852330753e54c6d7635e319dd1dfc1bd0f5ab05e0103e641";

    fn errors(text: &str) -> Vec<String> {
        parse("approvers.toml", text)
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_good_file_names_its_approvers() {
        let text = format!(
            "# who may approve\n\
             [[approver]]\nname = \"carol\"\ntoken_sha256 = \"{CAROL}\"\norgs = [\"prod-*\", \"shared\"]\n\
             email = \"carol@example.com\"\n\n\
             [[approver]]\nname = \"Dave Jones\"\ntoken_sha256 = \"{}\"\n",
            DAVE.to_uppercase()
        );
        let listed = parse("approvers.toml", &text).unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].approver.name(), "carol");
        assert_eq!(listed[0].approver.org_globs(), ["prod-*", "shared"]);
        assert!(listed[0].token == Some(TokenHash::of(b"test")));
        assert_eq!(listed[1].approver.name(), "Dave Jones");
        assert_eq!(listed[1].approver.org_globs(), ["*"]);
        assert_eq!(
            listed[0]
                .approver
                .email()
                .map(ToString::to_string)
                .as_deref(),
            Some("carol@example.com")
        );
        assert_eq!(listed[1].approver.email(), None, "no email: no mail");
        assert!(listed[1].token == Some(TokenHash::of(b"Xb3kQ9-vL2_pR7tY")));
        assert!(parse("approvers.toml", "").unwrap().is_empty());
    }

    #[test]
    fn an_approver_may_decide_from_slack_only_and_a_slack_user_is_one_approver() {
        let text = format!(
            "[[approver]]\nname = \"carol\"\nslack_user = \"U024BE7LH\"\n\
             [[approver]]\nname = \"dave\"\ntoken_sha256 = \"{DAVE}\"\nslack_user = \"W0DAVE\"\n"
        );
        let listed = parse("approvers.toml", &text).unwrap();
        assert!(listed[0].token.is_none());
        assert_eq!(listed[0].approver.slack_user(), Some("U024BE7LH"));
        assert_eq!(listed[1].approver.slack_user(), Some("W0DAVE"));
        let twice = format!("{text}[[approver]]\nname = \"erin\"\nslack_user = \"U024BE7LH\"\n");
        assert_eq!(
            errors(&twice),
            [
                "approvers.toml:10:14: the same slack_user as approver \"carol\": a Slack user is one approver"
            ]
        );
    }

    #[test]
    fn problems_name_file_line_and_column() {
        let entry = |body: &str| format!("[[approver]]\n{body}\n");
        let cases = [
            (
                entry(&format!("name = \"carol\"\ntoken = \"{CAROL}\"")),
                "approvers.toml:3:1: unknown field `token`, expected one of `name`, `token_sha256`, `orgs`",
            ),
            (
                entry(&format!(
                    "name = \"carol\"\ntoken_sha256 = \"{CAROL}\"\nteam = \"x\""
                )),
                "approvers.toml:4:1: unknown field `team`",
            ),
            (
                "[approvers]\nname = \"carol\"\n".to_owned(),
                "approvers.toml:1:2: unknown field `approvers`, expected `approver`",
            ),
            (
                entry("name = \"carol\"\ntoken_sha256 = \"9f86d081\""),
                "approvers.toml:3:16: token_sha256 must be 64 hex digits",
            ),
            (
                entry(&format!(
                    "name = \"carol\"\ntoken_sha256 = \"{}x\"",
                    &CAROL[..63]
                )),
                "approvers.toml:3:16: token_sha256 must be 64 hex digits; 'x' is not a hex digit",
            ),
            (
                entry(&format!(
                    "name = \"carol\"\ntoken_sha256 = \"{CAROL}\"\norgs = [\"prod-*\", \"team-[ab]\"]"
                )),
                "approvers.toml:4:19: glob \"team-[ab]\" contains '['",
            ),
            (
                entry(&format!(
                    "name = \"carol\"\ntoken_sha256 = \"{CAROL}\"\norgs = []"
                )),
                "approvers.toml:4:8: an empty orgs list",
            ),
            (
                entry(&format!("name = \"admin\"\ntoken_sha256 = \"{CAROL}\"")),
                "approvers.toml:2:8: the name \"admin\" belongs to the holder of admin_token_file",
            ),
            (
                entry(&format!("name = \"\"\ntoken_sha256 = \"{CAROL}\"")),
                "approvers.toml:2:8: an approver's name must not be empty",
            ),
            (
                entry(&format!("name = \"car\\tol\"\ntoken_sha256 = \"{CAROL}\"")),
                "approvers.toml:2:8: approver name \"car\\tol\" contains a control character",
            ),
            (
                entry(&format!(
                    "name = \"carol\"\norgs = \"prod-*\"\ntoken_sha256 = \"{CAROL}\""
                )),
                "approvers.toml:3:8: invalid type: string \"prod-*\", expected a sequence",
            ),
            (
                entry("name = \"carol\""),
                "approvers.toml:2:8: approver \"carol\" has neither token_sha256 nor slack_user",
            ),
            (
                entry("name = \"carol\"\nslack_user = \"carol@example.com\""),
                "approvers.toml:3:14: slack_user \"carol@example.com\" is not a Slack user ID",
            ),
            (
                entry(&format!(
                    "name = \"carol\"\ntoken_sha256 = \"{CAROL}\"\nemail = \"carol at example.com\""
                )),
                "approvers.toml:4:9: email \"carol at example.com\" is not a mail address",
            ),
            ("[[approver]\n".to_owned(), "approvers.toml:1:"),
        ];
        for (text, expected) in cases {
            let errors = errors(&text);
            assert!(
                errors.iter().any(|e| e.starts_with(expected)),
                "{text}\n{errors:#?} has no {expected:?}"
            );
        }
    }

    #[test]
    fn names_and_tokens_are_each_approver_s_own() {
        let text = format!(
            "[[approver]]\nname = \"carol\"\ntoken_sha256 = \"{CAROL}\"\n\
             [[approver]]\nname = \"Carol\"\ntoken_sha256 = \"{DAVE}\"\n\
             [[approver]]\nname = \"dave\"\ntoken_sha256 = \"{CAROL}\"\n"
        );
        assert_eq!(
            errors(&text),
            [
                "approvers.toml:5:8: approver \"Carol\" is already named on line 2; names must \
                 differ (ignoring case)",
                "approvers.toml:9:16: the same token_sha256 as approver \"carol\": every \
                 approver needs a token of their own",
            ]
        );
    }

    #[test]
    fn every_broken_entry_is_reported() {
        let text = format!(
            "[[approver]]\nname = \"\"\ntoken_sha256 = \"abc\"\n\
             [[approver]]\nname = \"dave\"\ntoken_sha256 = \"{DAVE}\"\norgs = [\"{{x}}\"]\n"
        );
        let errors = errors(&text);
        let places: Vec<&str> = errors
            .iter()
            .map(|e| e.split(": ").next().unwrap())
            .collect();
        assert_eq!(
            places,
            [
                "approvers.toml:2:8",
                "approvers.toml:3:16",
                "approvers.toml:7:9"
            ]
        );
    }

    #[test]
    fn unreadable_files_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.toml");
        let error = load(&missing).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("{}: cannot read", missing.display())),
            "{error}"
        );
        let error = parse_bytes("a.toml", b"name = \"\xff\"")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("a.toml: not UTF-8"), "{error}");
    }
}
