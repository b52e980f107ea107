//! Timestamps as vCD writes them: RFC 3339 in XML documents and most JSON notifications, and a
//! zone-less `2012-10-08 16:23:08.842` in some JSON notifications, which we read as UTC.

use chrono::{DateTime, NaiveDateTime, Utc};

/// Zone-less layouts; `%.f` also matches an absent fraction.
const NAIVE_FORMATS: [&str; 2] = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"];

/// RFC 3339 with an offset written without a colon (`+0100`), seen in Java-produced text.
const COMPACT_OFFSET_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.f%z";

/// Parses `2011-06-18T14:33:27.787+03:00`, `…Z`, `2012-10-08 16:23:08.842` or
/// `2012-10-08T16:23:08.842` (no zone: taken as UTC). The fraction is optional.
pub(crate) fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    if let Ok(time) = DateTime::parse_from_str(text, COMPACT_OFFSET_FORMAT) {
        return Ok(time.with_timezone(&Utc));
    }
    NAIVE_FORMATS
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|naive| naive.and_utc())
        .ok_or_else(|| {
            format!(
                "invalid timestamp {text:?}: expected RFC 3339 (2011-06-18T14:33:27.787+03:00) \
                 or a UTC time without zone (2012-10-08 16:23:08.842)"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
            + chrono::Duration::milliseconds(ms.into())
    }

    #[test]
    fn accepts_every_layout_vcd_writes() {
        let cases = [
            (
                "2011-06-18T14:33:27.787+03:00",
                utc(2011, 6, 18, 11, 33, 27, 787),
            ),
            (
                "2011-06-18T14:33:27.787Z",
                utc(2011, 6, 18, 14, 33, 27, 787),
            ),
            ("2011-06-18T14:33:27Z", utc(2011, 6, 18, 14, 33, 27, 0)),
            (
                "2011-06-18T14:33:27.787-02:30",
                utc(2011, 6, 18, 17, 3, 27, 787),
            ),
            (
                "2011-06-18T14:33:27.787+0300",
                utc(2011, 6, 18, 11, 33, 27, 787),
            ),
            ("2012-10-08 16:23:08.842", utc(2012, 10, 8, 16, 23, 8, 842)),
            ("2012-10-08T16:23:08.842", utc(2012, 10, 8, 16, 23, 8, 842)),
            ("2012-10-08 16:23:08", utc(2012, 10, 8, 16, 23, 8, 0)),
            ("  2012-10-08T16:23:08\n", utc(2012, 10, 8, 16, 23, 8, 0)),
            (
                "2026-11-20T09:14:03.512+01:00",
                utc(2026, 11, 20, 8, 14, 3, 512),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_timestamp(text), Ok(expected), "{text:?}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_timestamp() {
        for text in [
            "",
            "yesterday",
            "2012-10-08",
            "16:23:08",
            "2012-13-08 16:23:08",
            "2012-10-08 16:23:08.842 garbage",
            "1349713388",
        ] {
            let error = parse_timestamp(text).unwrap_err();
            assert!(error.contains("invalid timestamp"), "{text:?}: {error}");
        }
    }
}
