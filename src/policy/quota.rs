//! Rules on *how many*: a rule's `quota = { max, per, by }` compiled into a [`Quota`]: the
//! rule matches when vCD lists more than `max` tasks of the rule's operations started within
//! the last `per` by the task's org, its user or anyone (DESIGN §4b). The count itself is a
//! fact ([`crate::facts::QuotaCounts`]); here is what to count and how a hold says why.

use std::fmt;
use std::time::Duration;

use toml::Spanned;

use super::error::{PolicyError, Source};
use super::matcher::Matcher;
use super::raw::RawRule;
use super::rule::Condition;
use crate::duration::{format_duration, parse_duration};
use crate::facts::{MatchKey, TaskFacts};

/// Whose tasks a quota counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QuotaBy {
    /// The task's org's (`orgName`).
    Org,
    /// The task's user's (`ownerName`).
    User,
    /// Everybody's.
    Cloud,
}

/// A rule's `quota`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Quota {
    /// The rule matches when more than this many tasks are counted, this task included.
    pub max: u64,
    /// How far back tasks are counted from the moment of the decision.
    pub per: Duration,
    pub by: QuotaBy,
    /// The operations counted: the rule's `operation` names (globs keep `*`, vCD's wildcard);
    /// empty when the rule names none, counting every operation.
    pub operations: Vec<String>,
}

impl Quota {
    /// The org and the user whose tasks are counted for `facts`' task (at most one is set).
    pub(crate) fn scope<'f>(&self, facts: &'f TaskFacts) -> (Option<&'f str>, Option<&'f str>) {
        match self.by {
            QuotaBy::Org => (Some(&facts.org), None),
            QuotaBy::User => (None, Some(&facts.user)),
            QuotaBy::Cloud => (None, None),
        }
    }

    /// Why a quota holds a task, for people: `21 of 20 vdcInstantiateVapp or vdcComposeVapp
    /// tasks in the last 24h by org "acme"`.
    pub(crate) fn reason(&self, count: u64, facts: &TaskFacts) -> String {
        let what = match self.operations.as_slice() {
            [] => "tasks".to_owned(),
            operations => format!("{} tasks", operations.join(" or ")),
        };
        let scope = match self.by {
            QuotaBy::Org => format!("by org {:?}", facts.org),
            QuotaBy::User => format!("by user {:?}", facts.user),
            QuotaBy::Cloud => "in the cloud".to_owned(),
        };
        format!(
            "{count} of {} {what} in the last {} {scope}",
            self.max,
            show_per(self.per)
        )
    }
}

/// `per` as people say it: whole hours up to three days in hours (`24h`, not `1d`), the rest as
/// written in a policy (`7d`, `90m`).
fn show_per(per: Duration) -> String {
    let secs = per.as_secs();
    if secs.is_multiple_of(3600) && per.subsec_nanos() == 0 && secs <= 72 * 3600 {
        format!("{}h", secs / 3600)
    } else {
        format_duration(per)
    }
}

/// `{ max = 20, per = "24h", by = "org" }`, as `explain` shows a rule's quota.
impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let by = match self.by {
            QuotaBy::Org => "org",
            QuotaBy::User => "user",
            QuotaBy::Cloud => "cloud",
        };
        write!(
            f,
            "{{ max = {}, per = {:?}, by = {by:?} }}",
            self.max,
            show_per(self.per)
        )
    }
}

/// A rule's `quota`, checked: `max` ≥ 0, `per` > 0, `by` one of `org`, `user`, `cloud`, and
/// operations vCD's filter can name (names or globs with `*`, not a regex or `not`).
pub(crate) fn compile_quota(
    raw: &RawRule,
    conditions: &[Condition],
    source: &Source<'_>,
    errors: &mut Vec<PolicyError>,
) -> Option<Quota> {
    let quota = raw.quota.as_ref()?;
    let before = errors.len();
    let table = quota.get_ref();
    let max = match &table.max {
        None => {
            errors.push(source.error(quota.span(), "`quota` needs `max`, e.g. max = 20"));
            None
        }
        Some(max) => u64::try_from(*max.get_ref()).ok().or_else(|| {
            errors.push(source.error(max.span(), "`quota.max` must be 0 or more"));
            None
        }),
    };
    let per = per(quota, source, errors);
    let by = by(quota, source, errors);
    let operations = operations(conditions, quota, source, errors);
    if errors.len() > before {
        return None;
    }
    Some(Quota {
        max: max?,
        per: per?,
        by: by?,
        operations: operations?,
    })
}

fn per(
    quota: &Spanned<super::raw::RawQuota>,
    source: &Source<'_>,
    errors: &mut Vec<PolicyError>,
) -> Option<Duration> {
    let Some(text) = &quota.get_ref().per else {
        let message = "`quota` needs `per`, the time counted back, e.g. per = \"24h\"";
        errors.push(source.error(quota.span(), message));
        return None;
    };
    let problem = match parse_duration(text.get_ref()) {
        Ok(duration) if duration.is_zero() => "`quota.per` must be more than 0".to_owned(),
        Ok(duration) => return Some(duration),
        Err(message) => format!("`quota.per`: {message}"),
    };
    errors.push(source.error(text.span(), problem));
    None
}

fn by(
    quota: &Spanned<super::raw::RawQuota>,
    source: &Source<'_>,
    errors: &mut Vec<PolicyError>,
) -> Option<QuotaBy> {
    let Some(text) = &quota.get_ref().by else {
        let message = "`quota` needs `by`: \"org\", \"user\" or \"cloud\"";
        errors.push(source.error(quota.span(), message));
        return None;
    };
    match text.get_ref().as_str() {
        "org" => Some(QuotaBy::Org),
        "user" => Some(QuotaBy::User),
        "cloud" => Some(QuotaBy::Cloud),
        other => {
            let message = format!(
                "unknown `quota.by` {other:?}: write \"org\" (the task's org's tasks), \"user\" \
                 (its user's) or \"cloud\" (everybody's)"
            );
            errors.push(source.error(text.span(), message));
            None
        }
    }
}

/// The rule's operations as vCD's filter names them.
fn operations(
    conditions: &[Condition],
    quota: &Spanned<super::raw::RawQuota>,
    source: &Source<'_>,
    errors: &mut Vec<PolicyError>,
) -> Option<Vec<String>> {
    let Some(condition) = conditions.iter().find(|c| c.key == MatchKey::Operation) else {
        return Some(Vec::new());
    };
    let globs = match &condition.matcher {
        Matcher::Glob(glob) => std::slice::from_ref(glob),
        Matcher::AnyOf(globs) => globs.as_slice(),
        _ => &[],
    };
    let countable = !globs.is_empty() && globs.iter().all(|glob| !glob.as_str().contains('?'));
    if !countable {
        let message = "a rule with a `quota` names its operations as vCD can count them: a name, \
                       a glob with `*` or a list of them (not a regex, `?` or `not`)";
        errors.push(source.error(quota.span(), message));
        return None;
    }
    Some(globs.iter().map(|glob| glob.as_str().to_owned()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    fn compile(rule: &str) -> Result<Policy, String> {
        let text = format!("[[rule]]\nname = \"r\"\naction = \"resume\"\n{rule}\n");
        Policy::from_sources(&[("p.toml".into(), text)]).map_err(|e| e.to_string())
    }

    fn quota(rule: &str) -> Quota {
        let policy = compile(rule).unwrap_or_else(|e| panic!("{e}"));
        policy.rules[0].quota.clone().expect("a quota")
    }

    #[test]
    fn a_quota_reads_max_per_by_and_the_rules_operations() {
        let q = quota(
            "operation = [\"vdcInstantiateVapp\", \"vdcComposeVapp\"]\n\
             quota = { max = 20, per = \"24h\", by = \"org\" }",
        );
        assert_eq!(
            q,
            Quota {
                max: 20,
                per: Duration::from_secs(24 * 3600),
                by: QuotaBy::Org,
                operations: vec!["vdcInstantiateVapp".into(), "vdcComposeVapp".into()],
            }
        );
        let every = quota("quota = { max = 0, per = \"1h\", by = \"cloud\" }");
        assert_eq!((every.max, every.by), (0, QuotaBy::Cloud));
        assert!(every.operations.is_empty());
        let glob =
            quota("operation = \"vdcDelete*\"\nquota = { max = 3, per = \"1h\", by = \"user\" }");
        assert_eq!(
            (glob.by, glob.operations),
            (QuotaBy::User, vec!["vdcDelete*".to_owned()])
        );
    }

    #[test]
    fn every_mistake_in_a_quota_is_reported_where_it_was_written() {
        let cases = [
            (
                "quota = { max = -1, per = \"1h\", by = \"org\" }",
                "p.toml:4:17: `quota.max` must be 0 or more",
            ),
            (
                "quota = { max = 1, per = \"0s\", by = \"org\" }",
                "p.toml:4:26: `quota.per` must be more than 0",
            ),
            (
                "quota = { max = 1, per = \"soon\", by = \"org\" }",
                "p.toml:4:26: `quota.per`: ",
            ),
            (
                "quota = { max = 1, per = \"1h\", by = \"vdc\" }",
                "p.toml:4:37: unknown `quota.by` \"vdc\"",
            ),
            (
                "quota = { max = 1, per = \"1h\", by = \"org\", per_org = 2 }",
                "p.toml:4:44: unknown key `per_org` in `quota`",
            ),
            (
                "quota = { per = \"1h\", by = \"org\" }",
                "p.toml:4:9: `quota` needs `max`",
            ),
            (
                "operation = { regex = \"^vdc\" }\nquota = { max = 1, per = \"1h\", by = \"org\" }",
                "p.toml:5:9: a rule with a `quota` names its operations as vCD can count them",
            ),
        ];
        for (rule, expected) in cases {
            let errors = compile(rule).unwrap_err();
            assert!(errors.contains(expected), "{expected:?} in\n{errors}");
        }
    }

    #[test]
    fn a_hold_by_quota_says_how_many_of_what_in_which_time() {
        let facts = TaskFacts {
            org: "acme".into(),
            user: "alice".into(),
            ..TaskFacts::default()
        };
        let q = quota(
            "operation = [\"vdcInstantiateVapp\", \"vdcComposeVapp\"]\n\
             quota = { max = 20, per = \"24h\", by = \"org\" }",
        );
        assert_eq!(
            q.reason(21, &facts),
            "21 of 20 vdcInstantiateVapp or vdcComposeVapp tasks in the last 24h by org \"acme\""
        );
        assert_eq!(q.scope(&facts), (Some("acme"), None));
        let user = Quota {
            by: QuotaBy::User,
            operations: Vec::new(),
            ..q.clone()
        };
        assert_eq!(
            user.reason(4, &facts),
            "4 of 20 tasks in the last 24h by user \"alice\""
        );
        assert_eq!(user.scope(&facts), (None, Some("alice")));
        let cloud = Quota {
            by: QuotaBy::Cloud,
            ..q
        };
        assert_eq!(cloud.scope(&facts), (None, None));
        assert!(
            cloud
                .reason(21, &facts)
                .ends_with("in the last 24h in the cloud")
        );
    }
}
