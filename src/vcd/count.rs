//! Counting recent tasks in vCD's task history: a [`TaskCount`] says which tasks (operations,
//! org or user, started since when) and becomes the FIQL `filter` of one
//! `GET /api/query?type=adminTask&format=records&pageSize=1` whose `total` is the count
//! (protocol notes §8). Tasks that ended `error`, `aborted` or `canceled` are left out.

use chrono::{DateTime, Utc};
use url::form_urlencoded;

/// The statuses of tasks a count leaves out: they did not happen.
const LEFT_OUT: [&str; 3] = ["error", "aborted", "canceled"];

/// Which tasks to count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskCount {
    /// Operation names (`vdcInstantiateVapp`; `*` is vCD's wildcard); empty counts every
    /// operation.
    pub operations: Vec<String>,
    /// Tasks started at or after this instant.
    pub since: DateTime<Utc>,
    /// Only the tasks of this org (`orgName`), when set.
    pub org: Option<String>,
    /// Only the tasks this user started (`ownerName`), when set.
    pub user: Option<String>,
}

impl TaskCount {
    /// The FIQL filter: `(name==a,name==b);startDate=ge=2026-12-07T10:00:00.000Z;
    /// orgName==acme;status!=error;status!=aborted;status!=canceled`. Names are URL-encoded
    /// (a `,` or `;` in an org name cannot end the value); the whole filter is encoded once
    /// more as a query parameter.
    pub fn filter(&self) -> String {
        let mut terms = Vec::new();
        let names: Vec<String> = self
            .operations
            .iter()
            .map(|operation| format!("name=={}", encode(operation)))
            .collect();
        match names.len() {
            0 => {}
            1 => terms.extend(names),
            _ => terms.push(format!("({})", names.join(","))),
        }
        terms.push(format!("startDate=ge={}", fiql_time(self.since)));
        if let Some(org) = &self.org {
            terms.push(format!("orgName=={}", encode(org)));
        }
        if let Some(user) = &self.user {
            terms.push(format!("ownerName=={}", encode(user)));
        }
        terms.extend(LEFT_OUT.iter().map(|status| format!("status!={status}")));
        terms.join(";")
    }
}

/// A timestamp as the query service takes it: `2026-12-07T10:00:00.000Z`.
pub(crate) fn fiql_time(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A value URL-encoded, keeping vCD's `*` wildcard.
fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The query string's `filter` parameter for `filter`.
pub(super) fn filter_parameter(filter: &str) -> String {
    form_urlencoded::byte_serialize(filter.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn since() -> DateTime<Utc> {
        "2026-12-07T10:00:00Z".parse().unwrap()
    }

    fn count(operations: &[&str], org: Option<&str>, user: Option<&str>) -> TaskCount {
        TaskCount {
            operations: operations.iter().map(|s| (*s).to_owned()).collect(),
            since: since(),
            org: org.map(str::to_owned),
            user: user.map(str::to_owned),
        }
    }

    const TAIL: &str = "status!=error;status!=aborted;status!=canceled";

    #[test]
    fn the_filter_names_operations_scope_start_and_left_out_statuses() {
        let cases = [
            (
                count(
                    &["vdcInstantiateVapp", "vdcComposeVapp"],
                    Some("acme"),
                    None,
                ),
                format!(
                    "(name==vdcInstantiateVapp,name==vdcComposeVapp);\
                     startDate=ge=2026-12-07T10:00:00.000Z;orgName==acme;{TAIL}"
                ),
            ),
            (
                count(&["vdcDeleteVapp"], None, Some("alice")),
                format!(
                    "name==vdcDeleteVapp;startDate=ge=2026-12-07T10:00:00.000Z;\
                     ownerName==alice;{TAIL}"
                ),
            ),
            (
                count(&[], None, None),
                format!("startDate=ge=2026-12-07T10:00:00.000Z;{TAIL}"),
            ),
            (
                count(&["vdcDelete*"], Some("a,b;c (d)"), None),
                format!(
                    "name==vdcDelete*;startDate=ge=2026-12-07T10:00:00.000Z;\
                     orgName==a%2Cb%3Bc+%28d%29;{TAIL}"
                ),
            ),
        ];
        for (count, filter) in cases {
            assert_eq!(count.filter(), filter);
        }
    }

    #[test]
    fn times_have_milliseconds_and_the_filter_is_encoded_again_as_a_parameter() {
        let instant = "2026-12-07T10:00:00.250+01:00".parse().unwrap();
        assert_eq!(fiql_time(instant), "2026-12-07T09:00:00.250Z");
        assert_eq!(
            filter_parameter("name==a%2Cb;startDate=ge=2026-12-07T09:00:00.000Z"),
            "name%3D%3Da%252Cb%3BstartDate%3Dge%3D2026-12-07T09%3A00%3A00.000Z"
        );
    }
}
