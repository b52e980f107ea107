//! API version negotiation: which vCloud API version to speak, given what vCD offers in
//! `GET /api/versions` and what the config asks for.

use super::error::VcdError;
use super::settings::ApiVersionChoice;
use super::version::{ApiVersion, VersionInfo};

/// The newest vCloud API version vcd-blockd knows how to speak (vCD 10.6).
pub(super) const NEWEST_SUPPORTED: (u32, u32) = (39, 0);

/// Picks the API version: the pinned one if vCD offers it, else the highest offered version
/// up to [`NEWEST_SUPPORTED`], preferring versions vCD does not mark deprecated.
pub(super) fn choose_version(
    choice: &ApiVersionChoice,
    offered: &[VersionInfo],
) -> Result<ApiVersion, VcdError> {
    let listing = || {
        offered
            .iter()
            .map(|v| v.version.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match choice {
        ApiVersionChoice::Fixed(version) => {
            if offered.iter().any(|v| &v.version == version) {
                Ok(version.clone())
            } else {
                Err(VcdError::Login(format!(
                    "vcd.api_version {version} is not offered by vCD (it offers {})",
                    listing()
                )))
            }
        }
        ApiVersionChoice::Auto => {
            let (major, minor) = NEWEST_SUPPORTED;
            let usable = offered
                .iter()
                .filter(|v| !v.version.at_least(major, minor + 1));
            usable
                .max_by(|a, b| (!a.deprecated, &a.version).cmp(&(!b.deprecated, &b.version)))
                .map(|v| v.version.clone())
                .ok_or_else(|| {
                    VcdError::Login(format!(
                        "vCD offers no API version vcd-blockd supports (it offers {})",
                        listing()
                    ))
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered(list: &[(&str, bool)]) -> Vec<VersionInfo> {
        list.iter()
            .map(|(v, deprecated)| VersionInfo {
                version: v.parse().unwrap(),
                deprecated: *deprecated,
                login_url: None,
            })
            .collect()
    }

    #[test]
    fn auto_takes_the_newest_supported_version_not_deprecated() {
        let cases: [(&[(&str, bool)], &str); 5] = [
            (&[("36.0", true), ("37.2", false), ("38.0", false)], "38.0"),
            (&[("37.2", false), ("38.0", true)], "37.2"),
            (
                &[
                    ("38.0", false),
                    ("39.0", false),
                    ("40.0", false),
                    ("39.1", false),
                ],
                "39.0",
            ),
            (&[("9.1.0", false), ("5.5", false), ("31.0", false)], "31.0"),
            (&[("36.0", true), ("37.0", true)], "37.0"),
        ];
        for (list, expected) in cases {
            let chosen = choose_version(&ApiVersionChoice::Auto, &offered(list)).unwrap();
            assert_eq!(chosen, expected.parse().unwrap(), "{list:?}");
        }
    }

    #[test]
    fn nothing_usable_or_a_pinned_version_vcd_lacks_is_an_error_that_lists_the_offer() {
        let error =
            choose_version(&ApiVersionChoice::Auto, &offered(&[("40.0", false)])).unwrap_err();
        assert!(error.to_string().contains("it offers 40.0"), "{error}");
        let pinned = ApiVersionChoice::Fixed("36.3".parse().unwrap());
        let error =
            choose_version(&pinned, &offered(&[("37.2", false), ("38.0", false)])).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("36.3 is not offered by vCD (it offers 37.2, 38.0)"),
            "{error}"
        );
        let pinned = ApiVersionChoice::Fixed("37.2".parse().unwrap());
        let chosen = choose_version(&pinned, &offered(&[("37.2", true), ("38.0", false)])).unwrap();
        assert_eq!(chosen, "37.2".parse().unwrap());
    }
}
