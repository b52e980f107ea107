//! The pure decision: rules in order, dry-run matches recorded and passed over, the first
//! enforcing match decides, else `[defaults]`. [`explain`] gives the same decision with the
//! reason for every rule.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::Policy;
use super::model::{Action, DEFAULTS_RULE, Decision, Location};
use crate::facts::TaskFacts;

/// Decides what to do with a task. Pure: no I/O, no clock; allocates only the message and
/// the shadow list.
pub fn decide(policy: &Policy, facts: &TaskFacts, now: DateTime<Utc>) -> Decision {
    let _ = now; // reserved for time-of-day rules
    let mut shadow = Vec::new();
    for rule in &policy.rules {
        if rule.first_mismatch(facts).is_some() {
            continue;
        }
        if rule.dry_run {
            shadow.push(rule.shadow(facts));
            continue;
        }
        return Decision {
            action: rule.action,
            rule: rule.name.clone(),
            message: rule.render(facts),
            shadow,
        };
    }
    Decision {
        action: policy.defaults.action,
        rule: policy.defaults.name.clone(),
        message: policy.defaults.render(facts),
        shadow,
    }
}

/// A decision and, rule by rule, how it came about.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Explanation {
    pub decision: Decision,
    /// Every rule of the policy, in order.
    pub rules: Vec<RuleTrace>,
}

/// How one rule fared against the task.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RuleTrace {
    pub rule: Arc<str>,
    pub location: Location,
    pub action: Action,
    pub dry_run: bool,
    pub result: RuleResult,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RuleResult {
    /// Matched, and its action is the decision.
    Decided,
    /// A dry-run rule that matched before the decision: recorded in `shadow`.
    Shadow,
    /// Did not match.
    NoMatch(Mismatch),
    /// After the rule that decided: never evaluated, as the daemon does not evaluate it.
    NotReached,
}

/// The first match key of a rule that the task did not meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mismatch {
    pub key: &'static str,
    /// The match value as written in the policy.
    pub pattern: String,
    /// The task's value for `key`.
    pub value: String,
}

/// Decides like [`decide`] and says, for every rule, whether it matched and why not.
pub(crate) fn explain(policy: &Policy, facts: &TaskFacts, now: DateTime<Utc>) -> Explanation {
    let decision = decide(policy, facts, now);
    let mut decided = false;
    let rules = policy
        .rules
        .iter()
        .map(|rule| {
            let result = match rule.first_mismatch(facts) {
                _ if decided => RuleResult::NotReached,
                Some(condition) => RuleResult::NoMatch(Mismatch {
                    key: condition.key.name(),
                    pattern: condition.matcher.to_string(),
                    value: facts.get(condition.key).to_owned(),
                }),
                None if rule.dry_run => RuleResult::Shadow,
                None => {
                    decided = true;
                    RuleResult::Decided
                }
            };
            RuleTrace {
                rule: rule.name.clone(),
                location: rule.location.clone(),
                action: rule.action,
                dry_run: rule.dry_run,
                result,
            }
        })
        .collect();
    Explanation { decision, rules }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let decision = &self.decision;
        writeln!(f, "decision: {}", decision.action)?;
        if &*decision.rule == DEFAULTS_RULE {
            writeln!(f, "by:       [defaults] (no rule matched)")?;
        } else {
            writeln!(f, "by:       rule {:?}", decision.rule)?;
        }
        writeln!(f, "message:  {}", decision.message)?;
        for shadow in &decision.shadow {
            writeln!(
                f,
                "dry run:  rule {:?} would {}: {}",
                shadow.rule, shadow.action, shadow.message
            )?;
        }
        writeln!(f, "rules:")?;
        for trace in &self.rules {
            writeln!(f, "  {trace}")?;
        }
        Ok(())
    }
}

/// `decided     name (file:line): matched; hold (…)`, `no match    name (file:line): org "x"
/// does not match …` or `not reached name (file:line): an earlier rule decided`.
impl fmt::Display for RuleTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match &self.result {
            RuleResult::Decided => "decided    ",
            RuleResult::Shadow => "dry run    ",
            RuleResult::NoMatch(_) => "no match   ",
            RuleResult::NotReached => "not reached",
        };
        write!(f, "{label} {:?} ({}): ", self.rule, self.location)?;
        match &self.result {
            RuleResult::Decided => write!(f, "matched; {}", self.action),
            RuleResult::Shadow => write!(f, "matched; would {}, evaluation went on", self.action),
            RuleResult::NoMatch(m) => {
                write!(f, "{} {:?} does not match {}", m.key, m.value, m.pattern)
            }
            RuleResult::NotReached => f.write_str("an earlier rule decided"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::policy::Hold;
    use crate::task::FinalAction;

    const POLICY: &str = r#"
[defaults]
action = "abort"
message = "No rule for {operation} by {user}@{org}"

[[rule]]
name = "shadow: interns deleting"
operation = "vdcDeleteVapp"
user = { regex = "^intern-" }
action = "fail"
message = "would refuse {user}"
dry_run = true

[[rule]]
name = "media"
operation = ["vdcUploadMedia", "vdcCopyMedia"]
action = "resume"

[[rule]]
name = "prod needs approval"
operation = "vdcInstantiateVapp"
org = "prod-*"
action = "hold"
hold = { max = "48h", keepalive = "10m" }

[[rule]]
name = "instantiate elsewhere"
operation = "vdcInstantiateVapp"
action = "resume"

[[rule]]
name = "team vApps"
owner_name = "team-?-*"
action = "ignore"

[[rule]]
name = "system org"
org = { not = { not = "System" } }
action = "fail"

[[rule]]
name = "deletes outside prod"
operation = "vdcDeleteVapp"
org = { not = ["prod-*", "staging-*"] }
action = "resume"
"#;

    fn policy(text: &str) -> Policy {
        Policy::from_sources(&[("p.toml".into(), text.into())]).unwrap()
    }

    fn facts(operation: &str, org: &str, user: &str, owner_name: &str) -> TaskFacts {
        TaskFacts {
            operation: operation.into(),
            org: org.into(),
            user: user.into(),
            owner_name: owner_name.into(),
            ..TaskFacts::default()
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::UNIX_EPOCH
    }

    const HOLD: Action = Action::Hold(Hold {
        max: Duration::from_secs(48 * 3600),
        fallback: FinalAction::Abort,
        keepalive: Some(Duration::from_secs(600)),
    });

    #[test]
    fn first_enforcing_match_decides_and_dry_runs_are_shadows() {
        let policy = policy(POLICY);
        let shadow = &["shadow: interns deleting"][..];
        #[rustfmt::skip]
        let cases: &[(TaskFacts, Action, &str, &[&str])] = &[
            (facts("vdcUploadMedia", "dev", "alice", ""), Action::Resume, "media", &[]),
            (facts("VDCCOPYMEDIA", "dev", "alice", ""), Action::Resume, "media", &[]),
            (facts("vdcInstantiateVapp", "prod-eu", "alice", ""), HOLD, "prod needs approval", &[]),
            (facts("vdcInstantiateVapp", "PROD-EU", "alice", ""), HOLD, "prod needs approval", &[]),
            (facts("vdcInstantiateVapp", "preprod-eu", "alice", ""), Action::Resume, "instantiate elsewhere", &[]),
            (facts("vdcDeleteVapp", "dev", "intern-bob", ""), Action::Resume, "deletes outside prod", shadow),
            (facts("vdcDeleteVapp", "prod-eu", "intern-bob", ""), Action::Abort, "defaults", shadow),
            (facts("vdcDeleteVapp", "staging-1", "alice", ""), Action::Abort, "defaults", &[]),
            (facts("vdcDeleteVapp", "dev", "Intern-bob", ""), Action::Resume, "deletes outside prod", &[]),
            (facts("vdcComposeVapp", "dev", "alice", "team-a-web"), Action::Ignore, "team vApps", &[]),
            (facts("vdcComposeVapp", "dev", "alice", "team-ab-web"), Action::Abort, "defaults", &[]),
            (facts("vdcComposeVapp", "system", "alice", ""), Action::Fail, "system org", &[]),
        ];
        for (facts, action, rule, shadows) in cases {
            let decision = decide(&policy, facts, now());
            let shadow_rules: Vec<&str> = decision.shadow.iter().map(|s| &*s.rule).collect();
            assert_eq!(
                (decision.action, &*decision.rule, shadow_rules.as_slice()),
                (*action, *rule, *shadows),
                "{facts:?}"
            );
            assert_eq!(explain(&policy, facts, now()).decision, decision);
        }
    }

    #[test]
    fn messages_are_rendered_for_decisions_and_shadows() {
        let policy = policy(POLICY);
        let decision = decide(
            &policy,
            &facts("vdcDeleteVapp", "prod-eu", "intern-bob", ""),
            now(),
        );
        assert_eq!(
            decision.message,
            "No rule for vdcDeleteVapp by intern-bob@prod-eu"
        );
        assert_eq!(decision.shadow[0].message, "would refuse intern-bob");
        assert_eq!(decision.shadow[0].action, Action::Fail);
        let decision = decide(&policy, &facts("vdcUploadMedia", "", "", ""), now());
        assert_eq!(decision.message, "Approved by vcd-blockd rule \"media\"");
    }

    #[test]
    fn without_defaults_unmatched_tasks_are_ignored() {
        let policy =
            policy("[[rule]]\nname = \"media\"\noperation = \"vdc*Media\"\naction = \"resume\"\n");
        let decision = decide(&policy, &facts("vdcDeleteVapp", "acme", "alice", ""), now());
        assert_eq!(decision.action, Action::Ignore);
        assert_eq!(&*decision.rule, DEFAULTS_RULE);
        assert_eq!(
            decision.message,
            "No vcd-blockd rule matched vdcDeleteVapp by alice@acme"
        );
    }

    #[test]
    fn a_rule_without_match_keys_matches_everything() {
        let policy = policy(
            "[[rule]]\nname = \"all\"\naction = \"fail\"\n[defaults]\naction = \"resume\"\n",
        );
        assert_eq!(
            decide(&policy, &TaskFacts::default(), now()).action,
            Action::Fail
        );
    }

    #[test]
    fn explain_says_why_each_rule_did_or_did_not_match() {
        let policy = policy(POLICY);
        let facts = facts("vdcDeleteVapp", "dev", "intern-bob", "");
        let explanation = explain(&policy, &facts, now());
        let results: Vec<(&str, &RuleResult)> = explanation
            .rules
            .iter()
            .map(|t| (&*t.rule, &t.result))
            .collect();
        let no_match = |key: &'static str, pattern: &str, value: &str| {
            RuleResult::NoMatch(Mismatch {
                key,
                pattern: pattern.into(),
                value: value.into(),
            })
        };
        assert_eq!(
            results,
            [
                ("shadow: interns deleting", &RuleResult::Shadow),
                (
                    "media",
                    &no_match(
                        "operation",
                        r#"["vdcUploadMedia", "vdcCopyMedia"]"#,
                        "vdcDeleteVapp"
                    )
                ),
                (
                    "prod needs approval",
                    &no_match("operation", r#""vdcInstantiateVapp""#, "vdcDeleteVapp")
                ),
                (
                    "instantiate elsewhere",
                    &no_match("operation", r#""vdcInstantiateVapp""#, "vdcDeleteVapp")
                ),
                ("team vApps", &no_match("owner_name", r#""team-?-*""#, "")),
                (
                    "system org",
                    &no_match("org", r#"{ not = { not = "System" } }"#, "dev")
                ),
                ("deletes outside prod", &RuleResult::Decided),
            ]
        );
        let text = explanation.to_string();
        assert!(
            text.starts_with("decision: resume\nby:       rule \"deletes outside prod\"\n"),
            "{text}"
        );
        assert!(text.contains("\n  no match    \"media\" (p.toml:14): operation \"vdcDeleteVapp\" does not match [\"vdcUploadMedia\", \"vdcCopyMedia\"]\n"), "{text}");
        assert!(
            text.contains(
                "dry run:  rule \"shadow: interns deleting\" would fail: would refuse intern-bob\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn explain_shows_every_rule_after_the_decision_as_not_reached() {
        let policy = policy(POLICY);
        let explanation = explain(
            &policy,
            &facts("vdcInstantiateVapp", "prod-1", "a", ""),
            now(),
        );
        assert_eq!(explanation.rules[2].result, RuleResult::Decided);
        // The next would match, the others would not: neither is evaluated.
        for trace in &explanation.rules[3..] {
            assert_eq!(trace.result, RuleResult::NotReached, "{}", trace.rule);
        }
        let text = explanation.to_string();
        assert!(
            text.contains(
                "\n  not reached \"instantiate elsewhere\" (p.toml:26): an earlier rule decided\n"
            ),
            "{text}"
        );
        assert!(!text.contains("no match    \"team vApps\""), "{text}");
    }
}
