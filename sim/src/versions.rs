//! API versions: numeric comparison of version strings, the ladder of versions the sim serves
//! (up to the configured one), and reading the requested version from an `Accept` header.

use std::cmp::Ordering;
use std::fmt;

/// Released vCD API versions the ladder is cut from, oldest first (10.0 … 10.6).
const RELEASED: &[&str] = &[
    "33.0", "34.0", "35.0", "36.0", "36.3", "37.0", "37.2", "38.0", "38.1", "39.0",
];

/// The first API version without the legacy `/api/sessions` login (vCD 10.5).
const LEGACY_LOGIN_REMOVED: u32 = 38;

/// A dotted version like `37.2`; compared part by part, `38` equals `38.0`.
#[derive(Clone, Debug)]
pub(crate) struct ApiVersion {
    text: String,
    parts: Vec<u32>,
}

impl ApiVersion {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let parts = text
            .split('.')
            .map(|p| p.parse::<u32>().ok())
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            text: text.to_owned(),
            parts,
        })
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    pub(crate) fn major(&self) -> u32 {
        self.parts.first().copied().unwrap_or(0)
    }

    /// True from API 38.0 (vCD 10.5), where `/api/sessions` is gone.
    pub(crate) fn lacks_legacy_login(&self) -> bool {
        self.major() >= LEGACY_LOGIN_REMOVED
    }
}

impl Ord for ApiVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let len = self.parts.len().max(other.parts.len());
        (0..len)
            .map(|i| {
                let a = self.parts.get(i).copied().unwrap_or(0);
                let b = other.parts.get(i).copied().unwrap_or(0);
                a.cmp(&b)
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for ApiVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for ApiVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for ApiVersion {}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The versions one sim serves, oldest first; the last is the configured highest.
#[derive(Clone, Debug)]
pub(crate) struct Ladder {
    versions: Vec<ApiVersion>,
}

impl Ladder {
    pub(crate) fn up_to(top: &ApiVersion) -> Self {
        let mut versions: Vec<ApiVersion> = RELEASED
            .iter()
            .filter_map(|v| ApiVersion::parse(v))
            .filter(|v| v < top)
            .collect();
        versions.push(top.clone());
        Self { versions }
    }

    pub(crate) fn versions(&self) -> &[ApiVersion] {
        &self.versions
    }

    pub(crate) fn top(&self) -> &ApiVersion {
        // `up_to` always pushes the top version, so the ladder is never empty.
        &self.versions[self.versions.len() - 1]
    }

    /// Versions two majors below the top are listed as deprecated, as vCD does.
    pub(crate) fn is_deprecated(&self, version: &ApiVersion) -> bool {
        version.major() + 1 < self.top().major()
    }

    /// The served version equal to `requested`, if any.
    pub(crate) fn find(&self, requested: &ApiVersion) -> Option<&ApiVersion> {
        self.versions.iter().find(|v| *v == requested)
    }
}

/// Which family of media ranges an endpoint answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// The legacy API: `application/*+xml`, `application/vnd.vmware.…+xml` and the like.
    Xml,
    /// CloudAPI: `application/json`.
    Json,
}

/// The `version` parameter of the first media range in `accept` that suits `flavor`.
pub(crate) fn requested_version(accept: &str, flavor: Flavor) -> Option<ApiVersion> {
    accept.split(',').find_map(|range| {
        let mut pieces = range.split(';');
        let media = pieces.next()?.trim().to_ascii_lowercase();
        if !media_suits(&media, flavor) {
            return None;
        }
        pieces.find_map(|param| {
            let (name, value) = param.split_once('=')?;
            if name.trim().eq_ignore_ascii_case("version") {
                ApiVersion::parse(value.trim().trim_matches('"'))
            } else {
                None
            }
        })
    })
}

fn media_suits(media: &str, flavor: Flavor) -> bool {
    if media == "*/*" || media == "application/*" {
        return true;
    }
    match flavor {
        Flavor::Xml => media == "application/xml" || media.ends_with("+xml"),
        Flavor::Json => media == "application/json" || media.ends_with("+json"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> ApiVersion {
        ApiVersion::parse(s).unwrap()
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(v("9.1.0") < v("30.0"));
        assert!(v("37.10") > v("37.2"));
        assert_eq!(v("38"), v("38.0"));
        assert!(ApiVersion::parse("38.x").is_none());
    }

    #[test]
    fn ladder_stops_at_the_configured_version() {
        let ladder = Ladder::up_to(&v("37.2"));
        let listed: Vec<&str> = ladder.versions().iter().map(|v| v.as_str()).collect();
        assert_eq!(
            listed,
            ["33.0", "34.0", "35.0", "36.0", "36.3", "37.0", "37.2"]
        );
        assert!(ladder.is_deprecated(&v("35.0")));
        assert!(!ladder.is_deprecated(&v("36.0")));
        assert!(ladder.find(&v("38.0")).is_none());
    }

    #[test]
    fn unreleased_top_version_is_still_served() {
        let ladder = Ladder::up_to(&v("37.1"));
        assert_eq!(ladder.top().as_str(), "37.1");
        assert!(ladder.find(&v("37.1")).is_some());
    }

    #[test]
    fn accept_header_yields_version_per_flavor() {
        let xml = "application/*+xml;version=37.2";
        assert_eq!(requested_version(xml, Flavor::Xml), Some(v("37.2")));
        assert_eq!(requested_version(xml, Flavor::Json), None);
        let json = "application/json; version=\"38.0\"";
        assert_eq!(requested_version(json, Flavor::Json), Some(v("38.0")));
        assert_eq!(requested_version("application/*+xml", Flavor::Xml), None);
        let specific = "application/vnd.vmware.admin.blockingTask+xml;version=36.0";
        assert_eq!(requested_version(specific, Flavor::Xml), Some(v("36.0")));
    }
}
