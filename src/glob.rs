//! Globs as policies and the approvers file write them: `*` any run of characters, `?` exactly
//! one, everything else literal and compared case-insensitively; the whole value must match.
//! Matching never allocates.

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
    /// The glob as written.
    pub(crate) fn as_str(&self) -> &str {
        &self.source
    }

    /// Fails for `[`, `]`, `{` and `}`: in shell globs they mean character classes and
    /// alternatives, and a glob that silently took them literally would never match. The
    /// message suggests a list of globs; callers with more to offer add to it.
    pub(crate) fn compile(text: &str) -> Result<Glob, String> {
        if let Some(special) = text.chars().find(|c| matches!(c, '[' | ']' | '{' | '}')) {
            return Err(format!(
                "glob {text:?} contains '{special}': globs know only * and ?; for \
                 alternatives use a list of globs"
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
    pub(crate) fn matches(&self, value: &str) -> bool {
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
}
