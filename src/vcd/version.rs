//! vCloud API versions (`5.5`, `37.2`, `38.0`, `9.1.0`) compared numerically part by part, and
//! the [`VersionInfo`] entries `GET /api/versions` lists.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// More parts than this are not a version vCD or a product built on it would send.
const MAX_PARTS: usize = 4;

/// An API version. Missing parts count as zero, so `38` and `38.0` are equal (and hash
/// alike); [`Display`](fmt::Display) gives the text as vCD wrote it, which is what the
/// `Accept` header must carry.
#[derive(Clone)]
pub struct ApiVersion {
    /// Numeric parts with trailing zeros removed: the form equality, order and hash use.
    parts: Vec<u32>,
    text: String,
}

impl ApiVersion {
    /// Parses dot-separated decimal numbers, e.g. `38.0`; surrounding whitespace is ignored.
    pub fn parse(text: &str) -> Result<ApiVersion, String> {
        let text = text.trim();
        let invalid = || format!("invalid API version {text:?}: expected numbers such as \"38.0\"");
        let mut parts = Vec::new();
        for part in text.split('.') {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            parts.push(part.parse::<u32>().map_err(|_| invalid())?);
        }
        if parts.len() > MAX_PARTS {
            return Err(invalid());
        }
        while parts.len() > 1 && parts.last() == Some(&0) {
            parts.pop();
        }
        Ok(ApiVersion {
            parts,
            text: text.to_owned(),
        })
    }

    pub fn major(&self) -> u32 {
        self.part(0)
    }

    /// Whether this version is `major.minor` or later.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.part(0), self.part(1)) >= (major, minor)
    }

    fn part(&self, index: usize) -> u32 {
        self.parts.get(index).copied().unwrap_or(0)
    }
}

impl FromStr for ApiVersion {
    type Err = String;

    fn from_str(text: &str) -> Result<ApiVersion, String> {
        ApiVersion::parse(text)
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiVersion({:?})", self.text)
    }
}

impl Ord for ApiVersion {
    fn cmp(&self, other: &ApiVersion) -> Ordering {
        let len = self.parts.len().max(other.parts.len());
        (0..len)
            .map(|i| self.part(i).cmp(&other.part(i)))
            .find(|order| order.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for ApiVersion {
    fn partial_cmp(&self, other: &ApiVersion) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for ApiVersion {
    fn eq(&self, other: &ApiVersion) -> bool {
        // `parts` is normalised (no trailing zeros), so equal versions have equal parts.
        self.parts == other.parts
    }
}

impl Eq for ApiVersion {}

impl Hash for ApiVersion {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts.hash(state);
    }
}

/// One `VersionInfo` of `GET /api/versions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VersionInfo {
    pub version: ApiVersion,
    pub deprecated: bool,
    /// As listed; informational only (which login to use is decided by version).
    pub login_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn v(text: &str) -> ApiVersion {
        ApiVersion::parse(text).unwrap()
    }

    #[test]
    fn versions_order_numerically() {
        let ascending = ["5.5", "9.1.0", "31.0", "37.2", "38.0", "39.0"];
        for (i, low) in ascending.iter().enumerate() {
            for high in &ascending[i + 1..] {
                assert!(v(low) < v(high), "{low} < {high}");
                assert!(v(high) > v(low), "{high} > {low}");
            }
        }
        let mut shuffled: Vec<ApiVersion> = ["38.0", "5.5", "39.0", "9.1.0", "37.2", "31.0"]
            .into_iter()
            .map(v)
            .collect();
        shuffled.sort();
        let sorted: Vec<String> = shuffled.iter().map(ToString::to_string).collect();
        assert_eq!(sorted, ascending);
    }

    #[test]
    fn missing_parts_are_zero() {
        let equal = [
            ("38", "38.0"),
            ("9.1", "9.1.0"),
            ("38.0.0", "38"),
            ("0", "0.0"),
        ];
        for (a, b) in equal {
            assert_eq!(v(a), v(b), "{a} == {b}");
            assert_eq!(v(a).cmp(&v(b)), Ordering::Equal);
            let set: HashSet<ApiVersion> = [v(a), v(b)].into_iter().collect();
            assert_eq!(set.len(), 1, "{a} and {b} hash alike");
        }
        assert!(v("9.10") > v("9.9"));
        assert!(v("37.2") > v("37.1.9"));
    }

    #[test]
    fn displays_the_text_as_given() {
        for text in ["38.0", "38", "9.1.0", "5.5"] {
            assert_eq!(v(text).to_string(), text);
        }
        assert_eq!(" 38.0 ".parse::<ApiVersion>().unwrap().to_string(), "38.0");
    }

    #[test]
    fn major_and_at_least() {
        let cases = [
            ("37.2", 37, (37, 2), true),
            ("37.2", 37, (37, 3), false),
            ("38", 38, (37, 9), true),
            ("38.0", 38, (38, 0), true),
            ("9.1.0", 9, (33, 0), false),
            ("36.1", 36, (36, 1), true),
        ];
        for (text, major, (at_major, at_minor), expected) in cases {
            assert_eq!(v(text).major(), major, "{text}");
            assert_eq!(
                v(text).at_least(at_major, at_minor),
                expected,
                "{text} >= {at_major}.{at_minor}"
            );
        }
    }

    #[test]
    fn refuses_what_is_not_a_version() {
        for text in [
            "",
            ".",
            "38.",
            ".5",
            "v38",
            "38.0-beta",
            "-1",
            "38,0",
            "1.2.3.4.5",
            "99999999999",
        ] {
            assert!(ApiVersion::parse(text).is_err(), "{text:?} was accepted");
        }
    }
}
