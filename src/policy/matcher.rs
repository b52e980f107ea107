//! Match keys and compiled match values. A value is a glob (`*` any run, `?` one character,
//! case-insensitive, whole string), a list of globs (any matches), a regex, or the negation of
//! any of these. Matching never allocates.

use std::fmt;

use regex::Regex;
use toml::Spanned;

use super::error::{PolicyError, Source};
use super::raw::RawMatch;

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
            RawMatch::Glob(text) => Glob::compile(text)
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

/// Compiles every glob of a list, reporting each bad one at its own position.
fn compile_list(
    items: &[Spanned<String>],
    source: &Source<'_>,
) -> Result<Vec<Glob>, Vec<PolicyError>> {
    let mut globs = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for item in items {
        match Glob::compile(item.get_ref()) {
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
            Matcher::Glob(glob) => write!(f, "{:?}", glob.source),
            Matcher::AnyOf(globs) => {
                f.write_str("[")?;
                for (i, glob) in globs.iter().enumerate() {
                    let separator = if i == 0 { "" } else { ", " };
                    write!(f, "{separator}{:?}", glob.source)?;
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

/// A compiled glob: `*` any run of characters, `?` exactly one, everything else literal and
/// compared case-insensitively; the whole value must match.
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    /// As written, for explanations.
    source: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// A literal character, already case-folded.
    Char(char),
    One,
    Many,
}

impl Glob {
    /// Fails for `[`, `]`, `{` and `}`: in shell globs they mean character classes and
    /// alternatives, and a policy glob that silently took them literally would never match.
    pub(super) fn compile(text: &str) -> Result<Glob, String> {
        if let Some(special) = text.chars().find(|c| matches!(c, '[' | ']' | '{' | '}')) {
            return Err(format!(
                "glob {text:?} contains '{special}': globs know only * and ?; for \
                 alternatives use a list of globs, for anything else {{ regex = \"…\" }}"
            ));
        }
        let mut tokens: Vec<Token> = Vec::with_capacity(text.len());
        for c in text.chars() {
            let token = match c {
                '*' => Token::Many,
                '?' => Token::One,
                c => Token::Char(fold(c)),
            };
            if !(token == Token::Many && tokens.last() == Some(&Token::Many)) {
                tokens.push(token);
            }
        }
        Ok(Glob {
            source: text.to_owned(),
            tokens,
        })
    }

    /// Classic wildcard matching: walk both strings, remember the last `*` and, on a
    /// mismatch, let that `*` swallow one more character. Worst case O(pattern × value).
    pub(super) fn matches(&self, value: &str) -> bool {
        let tokens = &self.tokens;
        let (mut t, mut v) = (0, 0);
        // (token index after the last `*`, value index that `*` has swallowed up to)
        let mut star: Option<(usize, usize)> = None;
        while let Some(c) = value[v..].chars().next() {
            match tokens.get(t) {
                Some(Token::Many) => {
                    star = Some((t + 1, v));
                    t += 1;
                    continue;
                }
                Some(Token::One) => {}
                Some(Token::Char(expected)) if *expected == fold(c) => {}
                _ => match star {
                    Some((after_star, swallowed)) => {
                        let next = swallowed + next_char_len(&value[swallowed..]);
                        star = Some((after_star, next));
                        t = after_star;
                        v = next;
                        continue;
                    }
                    None => return false,
                },
            }
            t += 1;
            v += c.len_utf8();
        }
        tokens[t..].iter().all(|token| *token == Token::Many)
    }
}

fn next_char_len(text: &str) -> usize {
    text.chars().next().map_or(0, char::len_utf8)
}

/// Simple case folding without allocation: ASCII directly, other characters when their
/// lower case is a single character (which covers the letters names are written in).
fn fold(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(single), None) => single,
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_values_case_insensitively() {
        let cases = [
            ("prod-*", "prod-eu", true),
            ("prod-*", "PROD-EU", true),
            ("prod-*", "prod-", true),
            ("prod-*", "preprod-eu", false),
            ("prod", "prod-eu", false),
            ("prod", "Prod", true),
            ("vdc*Media", "vdcUploadMedia", true),
            ("vdc*Media", "vdcUploadMediaX", false),
            ("*media*", "vdcUploadMedia", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXcYb", false),
            ("team-?", "team-a", true),
            ("team-?", "team-ab", false),
            ("team-?", "team-", false),
            ("?", "é", true),
            ("ÉTÉ-*", "été-2024", true),
            ("*", "", true),
            ("", "", true),
            ("", "x", false),
            ("**a", "ba", true),
        ];
        for (pattern, value, expected) in cases {
            let glob = Glob::compile(pattern).unwrap();
            assert_eq!(glob.matches(value), expected, "{pattern:?} on {value:?}");
        }
    }

    #[test]
    fn globs_refuse_shell_syntax_they_do_not_support() {
        for pattern in ["vdc{Upload,Copy}Media", "team-[ab]", "x]"] {
            let error = Glob::compile(pattern).unwrap_err();
            assert!(error.contains("globs know only * and ?"), "{error}");
        }
    }

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
