//! What a policy asks of vCD's own settings (protocol notes §9): the operations its rules name,
//! which vCD must block for those rules ever to fire, and the longest keepalive of its holds,
//! which vCD's timeout must outlast. `vcd plan` reads both; `check` warns about names that are
//! none of vCD's documented operations.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Policy;
use super::matcher::Matcher;
use super::rule::Rule;
use crate::facts::MatchKey;
use crate::glob::Glob;
use crate::operations;

/// The operations a policy's rules name.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct OperationsNamed {
    /// What vCD must block: the documented operations the rules' `operation` conditions match
    /// (a glob or regex stands for the documented operations it matches), plus names written
    /// out in full that are not documented and not close to a documented one (the list is not
    /// closed; a newer cell may block more). Each maps to the first rule that names it.
    pub(crate) operations: BTreeMap<String, String>,
    /// Rules without an `operation` condition: they match whatever vCD blocks, and say nothing
    /// of what it should block.
    pub(crate) rules_without_operation: Vec<String>,
}

impl Policy {
    /// The operations the rules name, for `vcd plan`.
    pub(crate) fn operations_named(&self) -> OperationsNamed {
        let mut named = OperationsNamed::default();
        for rule in &self.rules {
            let Some(matcher) = operation_matcher(rule) else {
                named.rules_without_operation.push(rule.name.to_string());
                continue;
            };
            let documented = operations::DOCUMENTED
                .iter()
                .filter(|op| matcher.matches(op))
                .copied();
            // A name close to a documented one is a misspelling (`check` says so), not a new
            // operation to block.
            let undocumented = literals(matcher)
                .filter(|name| !operations::is_documented(name))
                .filter(|name| operations::nearest(name).is_none());
            for operation in documented.chain(undocumented) {
                named
                    .operations
                    .entry(operation.to_owned())
                    .or_insert_with(|| rule.name.to_string());
            }
        }
        named
    }

    /// The longest `hold.max` among the rules that hold, or `None` when no rule holds: what
    /// the journal must keep at least (recorded approvals of a task still held).
    pub(crate) fn longest_hold(&self) -> Option<Duration> {
        self.rules
            .iter()
            .filter_map(|rule| rule.action.hold().map(|hold| hold.max))
            .max()
    }

    /// The longest keepalive cadence among the rules that hold (`default` for those that set
    /// none), or `None` when no rule holds.
    pub(crate) fn longest_keepalive(&self, default: Duration) -> Option<Duration> {
        self.rules
            .iter()
            .filter_map(|rule| {
                let hold = rule.action.hold()?;
                Some(hold.keepalive.unwrap_or(default))
            })
            .max()
    }
}

/// `check`'s warnings, as `file:line: warning: …`, for each rule whose `operation` names none of
/// vCD's documented operations: a name written out in full (with the nearest documented one,
/// when it is a likely misspelling) or a glob or regex that matches none.
pub(super) fn operation_warnings(rules: &[Rule]) -> Vec<String> {
    let mut warnings = Vec::new();
    for rule in rules {
        let Some(matcher) = operation_matcher(rule) else {
            continue;
        };
        for name in literals(matcher).filter(|name| !operations::is_documented(name)) {
            let hint = match operations::nearest(name) {
                Some(op) if op.eq_ignore_ascii_case(name) => format!("vCD spells it {op:?}"),
                Some(op) => format!("did you mean {op:?}?"),
                None => "vCD may still block it if this cell knows it".to_owned(),
            };
            warnings.push(format!(
                "{}: warning: rule {:?}: operation {name:?} is none of vCD's documented \
                 operations; {hint}",
                rule.location, rule.name
            ));
        }
        let patterns_match_none = !matches!(matcher, Matcher::Not(_))
            && literals(matcher).next().is_none()
            && !operations::DOCUMENTED.iter().any(|op| matcher.matches(op));
        if patterns_match_none {
            warnings.push(format!(
                "{}: warning: rule {:?}: its operation pattern matches none of vCD's documented \
                 operations",
                rule.location, rule.name
            ));
        }
    }
    warnings
}

fn operation_matcher(rule: &Rule) -> Option<&Matcher> {
    rule.conditions
        .iter()
        .find(|condition| condition.key == MatchKey::Operation)
        .map(|condition| &condition.matcher)
}

/// The names a matcher writes out in full (globs without `*` or `?`, alone or in a list);
/// nothing for regexes and negations.
fn literals(matcher: &Matcher) -> impl Iterator<Item = &str> {
    let globs: &[Glob] = match matcher {
        Matcher::Glob(glob) => std::slice::from_ref(glob),
        Matcher::AnyOf(globs) => globs,
        _ => &[],
    };
    globs
        .iter()
        .map(Glob::as_str)
        .filter(|name| !name.contains(['*', '?']))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> Policy {
        Policy::from_sources(&[("p.toml".into(), text.into())]).unwrap()
    }

    #[test]
    fn names_globs_and_regexes_stand_for_documented_operations() {
        let policy = policy(
            r#"
            [[rule]]
            name = "deploys"
            operation = ["vdcInstantiateVapp", "vdccomposevapp"]
            action = "resume"
            [[rule]]
            name = "deletes"
            operation = "vdcDelete*"
            action = "hold"
            hold = { max = "1h", keepalive = "20m" }
            [[rule]]
            name = "snapshots"
            operation = { regex = "^vappCreateSnap" }
            action = "abort"
            [[rule]]
            name = "newer cell"
            operation = "networkTeleportEverything"
            action = "fail"
            [[rule]]
            name = "acme"
            org = "acme"
            action = "resume"
            "#,
        );
        let named = policy.operations_named();
        let mut expected = vec![
            "vdcInstantiateVapp",
            "vdcComposeVapp",
            "vdcDeleteVapp",
            "vdcDeleteTemplate",
            "vdcDeleteMedia",
            "vdcDeleteDisk",
            "vdcDeleteVdc",
            "vappCreateSnapshot",
            "networkTeleportEverything",
        ];
        expected.sort_unstable();
        assert_eq!(named.operations.keys().collect::<Vec<_>>(), expected);
        assert_eq!(named.operations["vdcDeleteVdc"], "deletes");
        assert_eq!(named.rules_without_operation, ["acme"]);
        assert_eq!(
            policy.longest_keepalive(Duration::from_secs(300)),
            Some(Duration::from_secs(1200))
        );
    }

    #[test]
    fn without_holds_no_keepalive_counts() {
        let policy = policy("[[rule]]\nname = \"r\"\naction = \"resume\"\n");
        assert_eq!(policy.longest_keepalive(Duration::from_secs(300)), None);
    }

    #[test]
    fn misspelt_and_unknown_operations_are_warned_about() {
        let policy = policy(
            r#"
            [[rule]]
            name = "typo"
            operation = "vdcInstatiateVapp"
            action = "resume"

            [[rule]]
            name = "nothing"
            operation = "vdcTeleport*"
            action = "resume"

            [[rule]]
            name = "fine"
            operation = ["vdcDeleteVapp", "vapp*"]
            action = "resume"
            "#,
        );
        let warnings = policy.warnings();
        assert_eq!(warnings.len(), 2, "{warnings:#?}");
        assert!(
            warnings[0].starts_with("p.toml:2: warning: rule \"typo\"")
                && warnings[0].contains("did you mean \"vdcInstantiateVapp\"?"),
            "{}",
            warnings[0]
        );
        assert!(
            warnings[1].contains("rule \"nothing\"")
                && warnings[1].contains("matches none of vCD's documented operations"),
            "{}",
            warnings[1]
        );
        // A misspelt name is not planned; what the other rules name is.
        let planned = policy.operations_named().operations;
        assert!(!planned.contains_key("vdcInstatiateVapp"));
        assert!(planned.contains_key("vdcDeleteVapp") && planned.contains_key("vappPowerOff"));
    }
}
