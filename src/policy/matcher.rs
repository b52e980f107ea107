//! Match keys and compiled match values. A text value is a glob (`crate::glob`: `*` any run,
//! `?` one character, case-insensitive, whole string), a list of globs (any matches) or a
//! regex; a number value is a number (equal) or comparisons (`{ gt, ge, lt, le, eq }`, all must
//! hold); either can be negated. Which kind a key takes is checked when compiling. Matching
//! never allocates.

use std::fmt;

use regex::Regex;
use toml::Spanned;

use super::error::{PolicyError, Source};
use super::raw::{Comparison, RawMatch};
use crate::facts::{FactKind, FactValue};
use crate::glob::Glob;

/// A compiled match value.
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    Glob(Glob),
    AnyOf(Vec<Glob>),
    Regex(Regex),
    /// Every comparison holds (a plain number is one `eq`).
    Compare(Vec<(Comparison, f64)>),
    Not(Box<Matcher>),
}

impl Matcher {
    /// Compiles a value as written for a fact of `kind` named `key`, reporting every problem in
    /// it at its own position (a glob on a number, a comparison on text).
    pub(super) fn compile(
        raw: &Spanned<RawMatch>,
        key: &str,
        kind: FactKind,
        source: &Source<'_>,
    ) -> Result<Matcher, Vec<PolicyError>> {
        let wrong = |message: String| Err(vec![source.error(raw.span(), message)]);
        match (raw.get_ref(), kind) {
            (RawMatch::Not(inner), _) => {
                Matcher::compile(inner, key, kind, source).map(|m| Matcher::Not(Box::new(m)))
            }
            (RawMatch::Number(_) | RawMatch::Compare(_), FactKind::Text) => wrong(format!(
                "`{key}` is text: match it with a glob, a list of globs or {{ regex = \"…\" }}, \
                 not a number or a comparison"
            )),
            (RawMatch::Number(number), FactKind::Number) => {
                Ok(Matcher::Compare(vec![(Comparison::Eq, *number)]))
            }
            (RawMatch::Compare(comparisons), FactKind::Number) => Ok(Matcher::Compare(
                comparisons
                    .iter()
                    .map(|(comparison, bound)| (*comparison, *bound.get_ref()))
                    .collect(),
            )),
            (_, FactKind::Number) => wrong(format!(
                "`{key}` is a number: compare it with a number or {{ gt, ge, lt, le, eq }}, e.g. \
                 {{ gt = 16 }}, not a glob or a regex"
            )),
            (_, FactKind::Text) => Matcher::compile_text(raw, source),
        }
    }

    fn compile_text(
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
            // Numbers, comparisons and negations are handled by `compile`.
            _ => Err(vec![source.error(raw.span(), "not a text match")]),
        }
    }

    /// Whether a text fact matches.
    pub(super) fn matches(&self, value: &str) -> bool {
        self.matches_value(FactValue::Text(value))
    }

    /// Whether a fact matches: text by the globs or regex, several texts when any one does,
    /// numbers by the comparisons. A value of the other kind never matches (compiling keeps
    /// them apart).
    pub(super) fn matches_value(&self, value: FactValue<'_>) -> bool {
        match (self, value) {
            (Matcher::Not(inner), value) => !inner.matches_value(value),
            (Matcher::Compare(comparisons), FactValue::Number(number)) => comparisons
                .iter()
                .all(|(comparison, bound)| comparison.holds(number, *bound)),
            (Matcher::Compare(_), _) | (_, FactValue::Number(_)) => false,
            (text, FactValue::Texts(values)) => values.iter().any(|v| text.matches_text(v)),
            (text, FactValue::Text(value)) => text.matches_text(value),
        }
    }

    fn matches_text(&self, value: &str) -> bool {
        match self {
            Matcher::Glob(glob) => glob.matches(value),
            Matcher::AnyOf(globs) => globs.iter().any(|glob| glob.matches(value)),
            Matcher::Regex(regex) => regex.is_match(value),
            Matcher::Compare(_) => false,
            Matcher::Not(inner) => !inner.matches_text(value),
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
            Matcher::Compare(comparisons) => match comparisons.as_slice() {
                [(Comparison::Eq, number)] => write!(f, "{number}"),
                comparisons => {
                    f.write_str("{ ")?;
                    for (i, (comparison, bound)) in comparisons.iter().enumerate() {
                        let separator = if i == 0 { "" } else { ", " };
                        write!(f, "{separator}{} = {bound}", comparison.name())?;
                    }
                    f.write_str(" }")
                }
            },
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
        Matcher::compile(&Spanned::new(0..0, raw), "k", FactKind::Text, &source).unwrap()
    }

    fn number_matcher(raw: RawMatch) -> Result<Matcher, Vec<PolicyError>> {
        let source = Source {
            name: "t",
            text: "",
        };
        Matcher::compile(&Spanned::new(0..0, raw), "k", FactKind::Number, &source)
    }

    fn compare(items: &[(Comparison, f64)]) -> RawMatch {
        RawMatch::Compare(
            items
                .iter()
                .map(|(c, n)| (*c, Spanned::new(0..0, *n)))
                .collect(),
        )
    }

    #[test]
    fn numbers_compare_and_every_comparison_must_hold() {
        let range =
            number_matcher(compare(&[(Comparison::Gt, 8.0), (Comparison::Le, 16.0)])).unwrap();
        assert_eq!(range.to_string(), "{ gt = 8, le = 16 }");
        let cases = [(8.0, false), (8.5, true), (16.0, true), (16.1, false)];
        for (value, expected) in cases {
            assert_eq!(
                range.matches_value(FactValue::Number(value)),
                expected,
                "{value}"
            );
        }
        let equal = number_matcher(RawMatch::Number(4.0)).unwrap();
        assert!(equal.matches_value(FactValue::Number(4.0)));
        assert!(!equal.matches_value(FactValue::Number(4.5)));
        let not = number_matcher(not(compare(&[(Comparison::Ge, 64.0)]))).unwrap();
        assert!(not.matches_value(FactValue::Number(63.0)));
        assert!(!not.matches_value(FactValue::Number(64.0)));
    }

    #[test]
    fn a_glob_is_refused_for_a_number_and_a_comparison_for_text() {
        let error = number_matcher(RawMatch::Glob("64*".into())).unwrap_err();
        assert!(error[0].message.contains("`k` is a number"), "{error:?}");
        let source = Source {
            name: "t",
            text: "",
        };
        let error = Matcher::compile(
            &Spanned::new(0..0, compare(&[(Comparison::Gt, 1.0)])),
            "k",
            FactKind::Text,
            &source,
        )
        .unwrap_err();
        assert!(error[0].message.contains("`k` is text"), "{error:?}");
    }

    #[test]
    fn several_texts_match_when_any_does() {
        let networks = ["frontend".to_owned(), "backend".to_owned()];
        let glob = matcher(RawMatch::Glob("back*".into()));
        assert!(glob.matches_value(FactValue::Texts(&networks)));
        let none_on = matcher(not(RawMatch::Glob("back*".into())));
        assert!(!none_on.matches_value(FactValue::Texts(&networks)));
        assert!(none_on.matches_value(FactValue::Texts(&[])));
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
