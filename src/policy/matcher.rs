//! Match keys and compiled match values. A value is a glob (`crate::glob`: `*` any run, `?`
//! one character, case-insensitive, whole string), a list of globs (any matches), a regex, or
//! the negation of any of these. Matching never allocates.

use std::fmt;

use regex::Regex;
use toml::Spanned;

use super::error::{PolicyError, Source};
use super::raw::RawMatch;
use crate::glob::Glob;

/// A compiled match value.
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    Glob(Glob),
    AnyOf(Vec<Glob>),
    Regex(Regex),
    Not(Box<Matcher>),
}

impl Matcher {
    /// Compiles a value as written, reporting every problem in it at its own position.
    pub(super) fn compile(
        raw: &Spanned<RawMatch>,
        source: &Source<'_>,
    ) -> Result<Matcher, Vec<PolicyError>> {
        match raw.get_ref() {
            RawMatch::Glob(text) => compile_glob(text)
                .map_err(|message| vec![source.error(raw.span(), message)])
                .map(Matcher::Glob),
            RawMatch::List(items) if items.is_empty() => Err(vec![source.error(
                raw.span(),
                "an empty list matches nothing; give at least one glob, or remove the key to \
                 match any value",
            )]),
            RawMatch::List(items) => compile_list(items, source).map(Matcher::AnyOf),
            RawMatch::Regex(pattern) => {
                Regex::new(pattern.get_ref())
                    .map(Matcher::Regex)
                    .map_err(|error| {
                        let message = format!(
                            "invalid regex {:?}: {}",
                            pattern.get_ref(),
                            brief_regex_error(&error)
                        );
                        vec![source.error(pattern.span(), message)]
                    })
            }
            RawMatch::Not(inner) => {
                Matcher::compile(inner, source).map(|m| Matcher::Not(Box::new(m)))
            }
        }
    }

    pub(super) fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Glob(glob) => glob.matches(value),
            Matcher::AnyOf(globs) => globs.iter().any(|glob| glob.matches(value)),
            Matcher::Regex(regex) => regex.is_match(value),
            Matcher::Not(inner) => !inner.matches(value),
        }
    }
}

/// A glob, with the policy's way out when it is not one: a regex.
fn compile_glob(text: &str) -> Result<Glob, String> {
    Glob::compile(text)
        .map_err(|message| format!("{message}, for anything else {{ regex = \"…\" }}"))
}

/// Compiles every glob of a list, reporting each bad one at its own position.
fn compile_list(
    items: &[Spanned<String>],
    source: &Source<'_>,
) -> Result<Vec<Glob>, Vec<PolicyError>> {
    let mut globs = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for item in items {
        match compile_glob(item.get_ref()) {
            Ok(glob) => globs.push(glob),
            Err(message) => errors.push(source.error(item.span(), message)),
        }
    }
    if errors.is_empty() {
        Ok(globs)
    } else {
        Err(errors)
    }
}

/// The value as it would be written in a policy.
impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matcher::Glob(glob) => write!(f, "{:?}", glob.as_str()),
            Matcher::AnyOf(globs) => {
                f.write_str("[")?;
                for (i, glob) in globs.iter().enumerate() {
                    let separator = if i == 0 { "" } else { ", " };
                    write!(f, "{separator}{:?}", glob.as_str())?;
                }
                f.write_str("]")
            }
            Matcher::Regex(regex) => write!(f, "{{ regex = {:?} }}", regex.as_str()),
            Matcher::Not(inner) => write!(f, "{{ not = {inner} }}"),
        }
    }
}

/// The regex crate's message without its multi-line picture of the pattern: the line that
/// starts with `error: `, or the whole message when there is none.
fn brief_regex_error(error: &regex::Error) -> String {
    let full = error.to_string();
    full.lines()
        .find_map(|line| line.strip_prefix("error: "))
        .unwrap_or(&full)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(raw: RawMatch) -> Matcher {
        let source = Source {
            name: "t",
            text: "",
        };
        Matcher::compile(&Spanned::new(0..0, raw), &source).unwrap()
    }

    fn list(items: &[&str]) -> RawMatch {
        RawMatch::List(
            items
                .iter()
                .map(|s| Spanned::new(0..0, (*s).to_owned()))
                .collect(),
        )
    }

    fn not(inner: RawMatch) -> RawMatch {
        RawMatch::Not(Box::new(Spanned::new(0..0, inner)))
    }

    #[test]
    fn lists_regexes_and_negations_combine() {
        let regex = |p: &str| RawMatch::Regex(Spanned::new(0..0, p.to_owned()));
        let cases = [
            (
                list(&["vdcUploadMedia", "vdcCopyMedia"]),
                "VDCCOPYMEDIA",
                true,
            ),
            (
                list(&["vdcUploadMedia", "vdcCopyMedia"]),
                "vdcDeleteMedia",
                false,
            ),
            (regex("^intern-"), "intern-bob", true),
            (regex("^intern-"), "Intern-bob", false),
            (regex("(?i)^intern-"), "Intern-bob", true),
            (regex("intern"), "an-intern-x", true),
            (not(RawMatch::Glob("prod-*".into())), "dev-1", true),
            (not(RawMatch::Glob("prod-*".into())), "prod-1", false),
            (not(list(&["a", "b"])), "b", false),
            (not(not(RawMatch::Glob("prod-*".into()))), "prod-1", true),
            (not(regex("^intern-")), "alice", true),
        ];
        for (raw, value, expected) in cases {
            let matcher = matcher(raw);
            assert_eq!(matcher.matches(value), expected, "{matcher} on {value:?}");
        }
    }

    #[test]
    fn matchers_print_as_written() {
        let cases = [
            (RawMatch::Glob("prod-*".into()), r#""prod-*""#),
            (list(&["a", "b"]), r#"["a", "b"]"#),
            (
                not(RawMatch::Regex(Spanned::new(0..0, "^x".into()))),
                r#"{ not = { regex = "^x" } }"#,
            ),
        ];
        for (raw, shown) in cases {
            assert_eq!(matcher(raw).to_string(), shown);
        }
    }
}
