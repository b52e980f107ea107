//! The pure decision: rules in order, dry-run matches recorded and passed over, the first
//! enforcing match decides, else `[defaults]`. [`explain`] gives the same decision with the
//! reason for every rule.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::Policy;
use super::model::{Action, Answer, DEFAULTS_RULE, Decision, Location};
use super::rule::{EachCondition, Failure, QUOTA_KEY, QuotaVerdict, Rule, Verdict, owner_value};
use super::window::{Moment, TimeFailure};
use crate::facts::window::OpenSet;
use crate::facts::{FactGroup, FactValue, QuotaCount, Record, TaskFacts, Unknown, UnknownFact};

/// Decides what to do with a task. Pure: no I/O, no clock; allocates only the message, the
/// shadow list and what it says about unknown owner facts. A quota whose count `facts` do not
/// hold is unknown ("not given").
pub fn decide(policy: &Policy, facts: &TaskFacts, now: DateTime<Utc>) -> Decision {
    let Ok(decision) = walk(policy, facts, now, |_| Ok::<(), Infallible>(()));
    decision
}

/// The rule whose quota must be counted before `facts` can be decided at `now`: the first
/// rule, in the order [`decide`] tries them, that matched in every other way and whose count
/// `facts` do not hold yet; `None` when the decision needs no more counts. The engine counts
/// it in vCD, adds the count to the facts and asks again, so every count is one query, made
/// only for a rule that the count alone decides.
pub(crate) fn count_needed(
    policy: &Policy,
    facts: &TaskFacts,
    now: DateTime<Utc>,
) -> Option<usize> {
    walk(policy, facts, now, Err).err()
}

/// The evaluation [`decide`] and [`count_needed`] share: `missing` is told of each rule whose
/// quota has no count, and stops the walk with its error or lets it go on with the count
/// unknown.
fn walk<E>(
    policy: &Policy,
    facts: &TaskFacts,
    now: DateTime<Utc>,
    mut missing: impl FnMut(usize) -> Result<(), E>,
) -> Result<Decision, E> {
    let open = policy.windows.windows.open_at(now);
    let moment = Moment { now, open: &open };
    let mut shadow = Vec::new();
    let mut unknown = Vec::new();
    for (index, rule) in policy.rules.iter().enumerate() {
        let vm = match rule.evaluate(facts, moment) {
            Verdict::Fails(_) => continue,
            Verdict::Unknown(facts) => {
                note_unknown(&mut unknown, facts);
                continue;
            }
            Verdict::Matches { vm, unknown: facts } => {
                note_unknown(&mut unknown, facts);
                vm
            }
        };
        let count = match rule.quota_verdict(index, facts) {
            QuotaVerdict::Free => None,
            QuotaVerdict::Over(count) => Some(count),
            QuotaVerdict::Within(_) => continue,
            QuotaVerdict::NotCounted => {
                missing(index)?;
                note_unknown(&mut unknown, vec![not_given()]);
                if !rule.on_unknown_matches {
                    continue;
                }
                None
            }
            QuotaVerdict::Unknown(fact) => {
                note_unknown(&mut unknown, vec![fact]);
                if !rule.on_unknown_matches {
                    continue;
                }
                None
            }
        };
        if rule.dry_run {
            shadow.push(rule.shadow(facts));
            continue;
        }
        return Ok(Decision {
            action: rule.action.clone(),
            rule: rule.name.clone(),
            message: rule.render(facts),
            shadow,
            vm: vm.map(str::to_owned),
            unknown,
            windows: open_names(policy, &open),
            reason: reason(policy, rule, count, facts, now),
            quota: count,
        });
    }
    Ok(Decision {
        action: policy.defaults.action.clone(),
        rule: policy.defaults.name.clone(),
        message: policy.defaults.render(facts),
        shadow,
        vm: None,
        unknown,
        windows: open_names(policy, &open),
        reason: None,
        quota: None,
    })
}

/// A quota's count that was neither given nor counted.
fn not_given() -> UnknownFact {
    UnknownFact {
        key: QUOTA_KEY.to_owned(),
        reason: Unknown::NotGiven,
    }
}

/// Why the deciding rule decided, for people: its quota's count (`21 of 20 … in the last
/// 24h by org "acme"`) and what time has to do with it (`weekend freeze until Mon 06:00`).
fn reason(
    policy: &Policy,
    rule: &Rule,
    count: Option<QuotaCount>,
    facts: &TaskFacts,
    now: DateTime<Utc>,
) -> Option<String> {
    let quota = rule
        .quota
        .as_ref()
        .zip(count)
        .map(|(quota, count)| quota.reason(count.count, facts));
    let time = rule.time.reason(&policy.windows.windows, now);
    match (quota, time) {
        (Some(quota), Some(time)) => Some(format!("{quota}; {time}")),
        (quota, time) => quota.or(time),
    }
}

/// The names of the open windows, in policy order.
fn open_names(policy: &Policy, open: &OpenSet) -> Vec<Arc<str>> {
    let list = policy.windows.windows.list();
    let open = list.iter().enumerate().filter(|(i, _)| open.contains(*i));
    open.map(|(_, window)| window.name.clone()).collect()
}

/// Adds `facts` to `unknown`, each key once.
fn note_unknown(unknown: &mut Vec<UnknownFact>, facts: Vec<UnknownFact>) {
    for fact in facts {
        if !unknown.iter().any(|known| known.key == fact.key) {
            unknown.push(fact);
        }
    }
}

/// A decision and, rule by rule, how it came about.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Explanation {
    pub decision: Decision,
    /// The owner facts the task was decided with, shown when any were given or read.
    pub owner: crate::facts::OwnerFacts,
    /// Every rule of the policy, in order.
    pub rules: Vec<RuleTrace>,
    /// The moment of the decision.
    pub at: DateTime<Utc>,
    /// Each window of the policy at that moment: `"weekend freeze": open until Mon 08:00 CET`.
    pub windows: Vec<String>,
    /// Each quota of the policy and its count: `"r" { max = 20, … }: given: 21`.
    pub quotas: Vec<String>,
    /// What the decision service said, and where that answer came from, when a rule asks one.
    pub asked: Option<String>,
}

impl Explanation {
    /// The decision once the decision service answered `answer` (`how`: where the answer came
    /// from, e.g. `--fact ask=resume`). Without an answer, says that the service was not asked
    /// (and `how` what would ask it).
    pub(crate) fn answered(mut self, answer: Option<Answer>, how: &str) -> Explanation {
        let Action::Ask(ask) = &self.decision.action else {
            if answer.is_some() {
                self.asked = Some(format!(
                    "no rule asks a decision service; {how} is not used"
                ));
            }
            return self;
        };
        self.asked = Some(match answer {
            Some(answer) => format!(
                "service {:?} answers {} ({how})",
                ask.service,
                answer.name()
            ),
            None if how.is_empty() => format!(
                "service {:?} was not asked; give its answer with --fact ask=resume (or abort, \
                 fail, hold)",
                ask.service
            ),
            None => format!("service {:?} was not asked; {how}", ask.service),
        });
        self.decision = self.decision.answered(answer);
        self
    }
}

/// How one rule fared against the task.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RuleTrace {
    pub rule: Arc<str>,
    pub location: Location,
    pub action: Action,
    pub dry_run: bool,
    pub result: RuleResult,
    /// When the rule matched: the VM that met its `vm.*` conditions.
    pub vm: Option<String>,
    /// When the rule matched with `on_unknown = "match"`: the facts that were unknown.
    pub unknown: Vec<UnknownFact>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RuleResult {
    /// Matched, and its action is the decision.
    Decided,
    /// A dry-run rule that matched before the decision: recorded in `shadow`.
    Shadow,
    /// Did not match.
    NoMatch(Mismatch),
    /// Did not match because owner facts it needs are unknown.
    Unknown(Vec<UnknownFact>),
    /// After the rule that decided: never evaluated, as the daemon does not evaluate it.
    NotReached,
}

/// The first match key of a rule that the task did not meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mismatch {
    /// The key, e.g. `org` or `vm.memory_mb`.
    pub key: String,
    /// The match value as written in the policy.
    pub pattern: String,
    /// The task's value for `key`, as written in a policy (for `vm.*`: each VM's).
    pub value: String,
}

/// Decides like [`decide`] and says, for every rule, whether it matched and why not.
pub(crate) fn explain(policy: &Policy, facts: &TaskFacts, now: DateTime<Utc>) -> Explanation {
    let decision = decide(policy, facts, now);
    let open = policy.windows.windows.open_at(now);
    let moment = Moment { now, open: &open };
    let mut decided = false;
    let rules = policy
        .rules
        .iter()
        .enumerate()
        .map(|(index, rule)| {
            let (mut vm, mut unknown) = (None, Vec::new());
            let result = match rule.evaluate(facts, moment) {
                _ if decided => RuleResult::NotReached,
                Verdict::Fails(failure) => {
                    RuleResult::NoMatch(mismatch(policy, rule, failure, facts, now))
                }
                Verdict::Unknown(facts) => RuleResult::Unknown(facts),
                Verdict::Matches {
                    vm: matched,
                    unknown: mut missing,
                } => match quota_result(rule, index, facts, &mut missing) {
                    Some(result) => result,
                    None => {
                        (vm, unknown) = (matched.map(str::to_owned), missing);
                        if rule.dry_run {
                            RuleResult::Shadow
                        } else {
                            decided = true;
                            RuleResult::Decided
                        }
                    }
                },
            };
            RuleTrace {
                rule: rule.name.clone(),
                location: rule.location.clone(),
                action: rule.action.clone(),
                dry_run: rule.dry_run,
                result,
                vm,
                unknown,
            }
        })
        .collect();
    Explanation {
        decision,
        owner: facts.owner.clone(),
        rules,
        at: now,
        windows: window_lines(policy, now),
        quotas: quota_lines(policy, facts),
        asked: None,
    }
}

/// What a rule that matched in every other way makes of its quota: `None` when the quota does
/// not stop it (none, over, or unknown with `on_unknown = "match"`, added to `unknown`), else
/// why the rule did not match.
fn quota_result(
    rule: &Rule,
    index: usize,
    facts: &TaskFacts,
    unknown: &mut Vec<UnknownFact>,
) -> Option<RuleResult> {
    let fact = match rule.quota_verdict(index, facts) {
        QuotaVerdict::Free | QuotaVerdict::Over(_) => return None,
        QuotaVerdict::Within(count) => {
            let quota = rule.quota.as_ref()?;
            return Some(RuleResult::NoMatch(Mismatch {
                key: "quota".to_owned(),
                pattern: quota.to_string(),
                value: format!("{count}, not more than {}", quota.max),
            }));
        }
        QuotaVerdict::Unknown(fact) => fact,
        QuotaVerdict::NotCounted => not_given(),
    };
    unknown.push(fact);
    if rule.on_unknown_matches {
        None
    } else {
        Some(RuleResult::Unknown(std::mem::take(unknown)))
    }
}

/// `"at most 20 deployments" { max = 20, per = "1d", by = "org" }: counted in vCD: 21 since
/// 2026-12-06T10:00:00Z`, one per rule with a quota; `not counted` for a rule whose other
/// conditions did not match.
fn quota_lines(policy: &Policy, facts: &TaskFacts) -> Vec<String> {
    let rules = policy.rules.iter().enumerate();
    rules
        .filter_map(|(index, rule)| {
            let quota = rule.quota.as_ref()?;
            let count = match facts.quota.get(index) {
                Some(Ok(count)) => count.to_string(),
                Some(Err(reason)) => format!("unknown: {reason}"),
                None => "not counted".to_owned(),
            };
            Some(format!("{:?} {quota}: {count}", rule.name))
        })
        .collect()
}

/// `"weekend freeze": open until Mon 08:00 CET` or `"business hours": closed, opens Mon 08:00
/// CET`, one per window of the policy.
fn window_lines(policy: &Policy, now: DateTime<Utc>) -> Vec<String> {
    let list = policy.windows.windows.list();
    list.iter()
        .map(|window| match window.closes_after(now) {
            Some(closes) => format!(
                "{:?}: open until {}",
                window.name,
                window.show_instant(closes, now)
            ),
            None => match window.next_change(now) {
                Some(opens) => format!(
                    "{:?}: closed, opens {}",
                    window.name,
                    window.show_instant(opens, now)
                ),
                None => format!("{:?}: closed for ever", window.name),
            },
        })
        .collect()
}

/// What the condition that failed asked for and what the task had.
fn mismatch(
    policy: &Policy,
    rule: &Rule,
    failure: Failure,
    facts: &TaskFacts,
    now: DateTime<Utc>,
) -> Mismatch {
    match failure {
        Failure::Time(failure) => time_mismatch(policy, rule, failure, now),
        Failure::Task(index) => {
            let condition = &rule.conditions[index];
            Mismatch {
                key: condition.key.name().to_owned(),
                pattern: condition.matcher.to_string(),
                value: facts.get(condition.key).to_owned(),
            }
        }
        Failure::Owner(index) => {
            let condition = &rule.owner[index];
            let value = owner_value(facts, &condition.fact);
            Mismatch {
                key: condition.fact.name(),
                pattern: condition.matcher.to_string(),
                value: value.map_or_else(|reason| reason.to_string(), |v| v.to_string()),
            }
        }
        Failure::Each(index) => {
            let each = &rule.each[index];
            let records = facts.owner.records(each.group).unwrap_or_default();
            let keys: Vec<String> = each.conditions.iter().map(|c| c.fact.name()).collect();
            let patterns: Vec<String> = each
                .conditions
                .iter()
                .map(|c| format!("{} {}", c.fact.name(), c.matcher))
                .collect();
            let words = each.group.spec().each.as_ref();
            let value = if records.is_empty() {
                words.map_or("none", |words| words.none).to_owned()
            } else {
                records
                    .iter()
                    .map(|record| record_values(record, each))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            Mismatch {
                key: keys.join(" and "),
                pattern: format!(
                    "any {}: {}",
                    words.map_or("record", |words| words.word),
                    patterns.join(" and ")
                ),
                value,
            }
        }
    }
}

/// The keys of a rule's conditions on time, as a [`Mismatch`] names them.
const TIME_KEYS: [&str; 4] = ["during", "outside", "from", "until"];

/// What a rule's condition on time asked for and what the moment was.
fn time_mismatch(
    policy: &Policy,
    rule: &Rule,
    failure: TimeFailure,
    now: DateTime<Utc>,
) -> Mismatch {
    let list = policy.windows.windows.list();
    let names = |indexes: &[usize]| -> String {
        let names: Vec<String> = indexes
            .iter()
            .map(|&i| format!("{:?}", list[i].name))
            .collect();
        names.join(", ")
    };
    let moment = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (key, pattern, value) = match failure {
        TimeFailure::NotDuring => (
            "during",
            names(&rule.time.during),
            "none of them is open".to_owned(),
        ),
        TimeFailure::Inside(index) => (
            "outside",
            names(&rule.time.outside),
            format!("{:?} is open", list[index].name),
        ),
        TimeFailure::Before => (
            "from",
            rule.time.from.map(|t| t.to_rfc3339()).unwrap_or_default(),
            format!("it is {moment}"),
        ),
        TimeFailure::Expired => (
            "until",
            rule.time.until.map(|t| t.to_rfc3339()).unwrap_or_default(),
            format!("it is {moment}"),
        ),
    };
    Mismatch {
        key: key.to_owned(),
        pattern,
        value,
    }
}

/// `"web-1": 4096` (one condition) or `"web-1": cpu 2, memory_mb 4096` (several).
fn record_values(record: &Record, each: &EachCondition) -> String {
    let values: Vec<String> = each
        .conditions
        .iter()
        .map(|condition| {
            let value = condition
                .fact
                .value_in(record)
                .map_or_else(|_| "unknown".to_owned(), |v: FactValue<'_>| v.to_string());
            if each.conditions.len() == 1 {
                value
            } else {
                format!("{} {value}", condition.fact.field)
            }
        })
        .collect();
    format!("{:?}: {}", record.name, values.join(", "))
}

/// Whether `key` (`vm.memory_mb and vm.cpu`) names facts that one record must meet together.
fn of_each(key: &str) -> bool {
    let group = key
        .split_once('.')
        .and_then(|(group, _)| FactGroup::parse(group));
    group.is_some_and(|group| group.spec().each.is_some())
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let decision = &self.decision;
        writeln!(f, "decision: {}", decision.action)?;
        if let Some(asked) = &self.asked {
            writeln!(f, "ask:      {asked}")?;
        }
        if &*decision.rule == DEFAULTS_RULE {
            writeln!(f, "by:       [defaults] (no rule matched)")?;
        } else {
            writeln!(f, "by:       rule {:?}", decision.rule)?;
        }
        if let Some(vm) = &decision.vm {
            writeln!(f, "vm:       {vm:?}")?;
        }
        writeln!(f, "message:  {}", decision.message)?;
        if let Some(reason) = &decision.reason {
            writeln!(f, "reason:   {reason}")?;
        }
        if !self.windows.is_empty() {
            let at = self.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            writeln!(f, "at:       {at}")?;
            for line in &self.windows {
                writeln!(f, "window:   {line}")?;
            }
        }
        for line in &self.quotas {
            writeln!(f, "quota:    {line}")?;
        }
        for fact in &decision.unknown {
            writeln!(f, "unknown:  {fact}")?;
        }
        for shadow in &decision.shadow {
            writeln!(
                f,
                "dry run:  rule {:?} would {}: {}",
                shadow.rule, shadow.action, shadow.message
            )?;
        }
        write!(f, "{}", self.owner)?;
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
            RuleResult::Unknown(_) => "unknown    ",
            RuleResult::NotReached => "not reached",
        };
        write!(f, "{label} {:?} ({}): ", self.rule, self.location)?;
        let vm = self
            .vm
            .as_ref()
            .map(|vm| format!(" (VM {vm:?})"))
            .unwrap_or_default();
        let unknown = if self.unknown.is_empty() {
            String::new()
        } else {
            format!(" (on_unknown = \"match\": {})", list(&self.unknown))
        };
        match &self.result {
            RuleResult::Decided => write!(f, "matched{vm}{unknown}; {}", self.action),
            RuleResult::Shadow => write!(
                f,
                "matched{vm}{unknown}; would {}, evaluation went on",
                self.action
            ),
            RuleResult::NoMatch(m) if TIME_KEYS.contains(&m.key.as_str()) || m.key == "quota" => {
                write!(f, "{} {}: {}", m.key, m.pattern, m.value)
            }
            RuleResult::NoMatch(m) if of_each(&m.key) => {
                write!(f, "{} does not match: {}", m.pattern, m.value)
            }
            RuleResult::NoMatch(m) if m.key.contains('.') => {
                write!(f, "{} {} does not match {}", m.key, m.value, m.pattern)
            }
            RuleResult::NoMatch(m) => {
                write!(f, "{} {:?} does not match {}", m.key, m.value, m.pattern)
            }
            RuleResult::Unknown(facts) => write!(f, "not matched, unknown: {}", list(facts)),
            RuleResult::NotReached => f.write_str("an earlier rule decided"),
        }
    }
}

/// `vm.memory_mb (the task's owner is a media), …`
fn list(facts: &[UnknownFact]) -> String {
    facts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
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

    fn hold() -> Action {
        Action::Hold(Hold {
            max: Duration::from_secs(48 * 3600),
            fallback: FinalAction::Abort,
            keepalive: Some(Duration::from_secs(600)),
            approval: std::sync::Arc::default(),
        })
    }

    #[test]
    fn first_enforcing_match_decides_and_dry_runs_are_shadows() {
        let policy = policy(POLICY);
        let shadow = &["shadow: interns deleting"][..];
        #[rustfmt::skip]
        let cases: &[(TaskFacts, Action, &str, &[&str])] = &[
            (facts("vdcUploadMedia", "dev", "alice", ""), Action::Resume, "media", &[]),
            (facts("VDCCOPYMEDIA", "dev", "alice", ""), Action::Resume, "media", &[]),
            (facts("vdcInstantiateVapp", "prod-eu", "alice", ""), hold(), "prod needs approval", &[]),
            (facts("vdcInstantiateVapp", "PROD-EU", "alice", ""), hold(), "prod needs approval", &[]),
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
                (
                    decision.action.clone(),
                    &*decision.rule,
                    shadow_rules.as_slice()
                ),
                (action.clone(), *rule, *shadows),
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
                key: key.to_owned(),
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

#[cfg(test)]
mod owner_tests {
    use super::*;
    use crate::facts::{FactGroup, OwnerFacts, Record, Unknown, Value};

    const POLICY: &str = r#"
[defaults]
action = "resume"

[[rule]]
name = "big VMs wait"
operation = ["vdcInstantiateVapp", "vdcRecomposeVapp"]
vm = { memory_mb = { gt = 65536 } }
action = "hold"
hold = { max = "24h" }

[[rule]]
name = "no crowds in trial orgs"
org = "trial-*"
vapp.vm_count = { gt = 10 }
action = "fail"

[[rule]]
name = "no big ISOs"
operation = "vdcUploadMedia"
media = { size_gb = { gt = 20 }, image_type = "iso" }
action = "fail"

[[rule]]
name = "only Gold in prod"
org = "prod-*"
vm = { storage_profile = { not = "Gold*" } }
action = "abort"

[[rule]]
name = "cost centre required"
metadata = { "cost-center" = { not = "4*" } }
on_unknown = "match"
action = "abort"
"#;

    fn policy() -> Policy {
        Policy::from_sources(&[("p.toml".into(), POLICY.into())]).unwrap()
    }

    fn number(n: f64) -> Option<Value> {
        Some(Value::Number(n))
    }

    fn text(text: &str) -> Option<Value> {
        Some(Value::Text(text.into()))
    }

    fn vm(name: &str, memory_mb: u64) -> Record {
        Record::new(name)
            .with("cpu", number(2.0))
            .with("memory_mb", number(memory_mb as f64))
            .with("disk_gb", number(16.0))
            .with("storage_profile", text("Gold"))
            .with("network", Some(Value::Texts(vec!["net1".into()])))
    }

    fn task(operation: &str, org: &str, owner: OwnerFacts) -> TaskFacts {
        TaskFacts {
            operation: operation.into(),
            org: org.into(),
            owner,
            ..TaskFacts::default()
        }
    }

    fn with_metadata(owner: OwnerFacts) -> OwnerFacts {
        let entries = Record::new("").with("cost-center", text("4711"));
        owner.with("metadata", Ok(vec![entries]))
    }

    fn count(vms: usize) -> Result<Vec<Record>, Unknown> {
        Ok(vec![Record::new("").with("vm_count", number(vms as f64))])
    }

    fn vapp(vms: Vec<Record>) -> OwnerFacts {
        let owner = OwnerFacts::default().with("vapp", count(vms.len()));
        with_metadata(owner.with("vm", Ok(vms)))
    }

    fn media(size_gb: f64) -> OwnerFacts {
        let media = Record::new("")
            .with("size_gb", number(size_gb))
            .with("image_type", text("iso"));
        with_metadata(OwnerFacts::default().with("media", Ok(vec![media])))
    }

    fn group(name: &str) -> FactGroup {
        FactGroup::parse(name).unwrap()
    }

    fn decided(facts: &TaskFacts) -> (String, Option<String>) {
        let decision = decide(&policy(), facts, DateTime::UNIX_EPOCH);
        (decision.rule.to_string(), decision.vm)
    }

    #[test]
    fn any_vm_of_the_vapp_can_match_and_is_named() {
        let small_and_big = vapp(vec![vm("web", 4096), vm("db", 131072), vm("cache", 8192)]);
        let facts = task("vdcInstantiateVapp", "acme", small_and_big);
        assert_eq!(decided(&facts), ("big VMs wait".into(), Some("db".into())));
        let small = vapp(vec![vm("web", 4096), vm("cache", 65536)]);
        let facts = task("vdcInstantiateVapp", "acme", small);
        assert_eq!(decided(&facts), ("defaults".into(), None));
    }

    #[test]
    fn a_vapp_without_vms_has_none_that_matches_and_nothing_is_unknown() {
        let facts = task("vdcInstantiateVapp", "prod-eu", vapp(Vec::new()));
        let decision = decide(&policy(), &facts, DateTime::UNIX_EPOCH);
        assert_eq!(&*decision.rule, "defaults");
        assert_eq!(decision.unknown, []);
        let explanation = explain(&policy(), &facts, DateTime::UNIX_EPOCH).to_string();
        assert!(
            explanation.contains(
                "no match    \"big VMs wait\" (p.toml:5): any VM: vm.memory_mb { gt = 65536 } \
                 does not match: the vApp has no VMs"
            ),
            "{explanation}"
        );
    }

    #[test]
    fn counts_sizes_and_negations_decide() {
        let crowd = vapp((0..11).map(|i| vm(&format!("vm{i}"), 1024)).collect());
        assert_eq!(
            decided(&task("vdcComposeVapp", "trial-7", crowd)).0,
            "no crowds in trial orgs"
        );
        let ten = vapp((0..10).map(|i| vm(&format!("vm{i}"), 1024)).collect());
        assert_eq!(
            decided(&task("vdcComposeVapp", "trial-7", ten)).0,
            "defaults"
        );
        assert_eq!(
            decided(&task("vdcUploadMedia", "acme", media(20.5))).0,
            "no big ISOs"
        );
        assert_eq!(
            decided(&task("vdcUploadMedia", "acme", media(20.0))).0,
            "defaults"
        );
        let silver = vm("db", 1024).with("storage_profile", text("Silver"));
        assert_eq!(
            decided(&task(
                "vdcComposeVapp",
                "prod-eu",
                vapp(vec![vm("web", 1), silver])
            )),
            ("only Gold in prod".into(), Some("db".into()))
        );
    }

    #[test]
    fn an_unknown_fact_does_not_match_and_is_reported_with_its_reason() {
        let owner = with_metadata(
            OwnerFacts::default()
                .with("vm", Err(Unknown::OwnerType("media".into())))
                .with("vapp", Err(Unknown::OwnerType("media".into()))),
        );
        let facts = task("vdcInstantiateVapp", "prod-eu", owner);
        let decision = decide(&policy(), &facts, DateTime::UNIX_EPOCH);
        assert_eq!(&*decision.rule, "defaults");
        let unknown: Vec<String> = decision.unknown.iter().map(ToString::to_string).collect();
        assert_eq!(
            unknown,
            [
                "vm.memory_mb (the task's owner is a media)",
                "vm.storage_profile (the task's owner is a media)"
            ]
        );
        // `{ not = … }` on an unknown fact is unknown too, not a match.
        let explanation = explain(&policy(), &facts, DateTime::UNIX_EPOCH);
        assert_eq!(
            explanation.rules[3].result,
            RuleResult::Unknown(vec![UnknownFact {
                key: "vm.storage_profile".into(),
                reason: Unknown::OwnerType("media".into()),
            }])
        );
    }

    #[test]
    fn on_unknown_match_lets_a_rule_match_an_unknown_fact() {
        let owner = OwnerFacts::default()
            .with("vm", Ok(Vec::new()))
            .with("vapp", count(0))
            .with(
                "metadata",
                Err(Unknown::ReadFailed("vCD answered 404".into())),
            );
        let facts = task("vdcComposeVapp", "acme", owner);
        let decision = decide(&policy(), &facts, DateTime::UNIX_EPOCH);
        assert_eq!(&*decision.rule, "cost centre required");
        assert_eq!(decision.unknown[0].key, "metadata.cost-center");
        let text = explain(&policy(), &facts, DateTime::UNIX_EPOCH).to_string();
        assert!(
            text.contains(
                "matched (on_unknown = \"match\": metadata.cost-center (reading the owner failed: \
                 vCD answered 404)); abort"
            ),
            "{text}"
        );
    }

    #[test]
    fn only_groups_of_rules_that_can_be_reached_are_needed() {
        let policy = policy();
        let needs = |operation: &str, org: &str| {
            policy
                .owner_needs(&task(operation, org, OwnerFacts::default()))
                .groups()
                .collect::<Vec<_>>()
        };
        assert_eq!(
            needs("vdcUploadMedia", "acme"),
            [group("media"), group("metadata")]
        );
        assert_eq!(
            needs("vdcInstantiateVapp", "prod-1"),
            [group("vm"), group("metadata")]
        );
        let plain = Policy::from_sources(&[(
            "p.toml".into(),
            "[[rule]]\nname = \"all\"\naction = \"resume\"\n[[rule]]\nname = \"vm\"\n\
             vm.cpu = 2\naction = \"fail\"\n"
                .into(),
        )])
        .unwrap();
        assert!(plain.owner_needs(&TaskFacts::default()).is_empty());
    }

    mod quotas {
        use super::super::*;
        use crate::facts::{CountSource, QuotaCounts};

        const QUOTAS: &str = r#"
[defaults]
action = "resume"

[[rule]]
name = "prod deployments over the org quota"
operation = "vdcInstantiateVapp"
org = "prod-*"
quota = { max = 2, per = "1h", by = "org" }
action = "abort"

[[rule]]
name = "deployments over the cloud quota"
operation = "vdcInstantiateVapp"
quota = { max = 10, per = "1h", by = "cloud" }
on_unknown = "match"
action = "fail"
"#;

        fn policy() -> Policy {
            Policy::from_sources(&[("p.toml".into(), QUOTAS.into())]).unwrap()
        }

        fn task(operation: &str, org: &str) -> TaskFacts {
            TaskFacts {
                operation: operation.into(),
                org: org.into(),
                ..TaskFacts::default()
            }
        }

        fn counted(count: u64) -> Result<QuotaCount, Unknown> {
            Ok(QuotaCount {
                count,
                source: CountSource::Counted {
                    since: DateTime::UNIX_EPOCH,
                },
            })
        }

        #[test]
        fn a_quota_is_counted_last_only_for_a_rule_that_matched_in_every_other_way() {
            let policy = policy();
            let now = DateTime::UNIX_EPOCH;
            let media = task("vdcUploadMedia", "prod-eu");
            assert_eq!(count_needed(&policy, &media, now), None, "no rule matches");
            let dev = task("vdcInstantiateVapp", "dev");
            assert_eq!(
                count_needed(&policy, &dev, now),
                Some(1),
                "the org rule does not match dev: only the cloud quota is counted"
            );

            let mut prod = task("vdcInstantiateVapp", "prod-eu");
            assert_eq!(
                count_needed(&policy, &prod, now),
                Some(0),
                "in policy order"
            );
            prod.quota.set(0, counted(2));
            assert_eq!(
                count_needed(&policy, &prod, now),
                Some(1),
                "2 of 2 is not over: the next rule's quota is counted"
            );
            prod.quota.set(1, counted(11));
            assert_eq!(count_needed(&policy, &prod, now), None);
            let decision = decide(&policy, &prod, now);
            assert_eq!(&*decision.rule, "deployments over the cloud quota");
            assert_eq!(decision.quota.map(|q| q.count), Some(11));
            assert_eq!(
                decision.reason.as_deref(),
                Some("11 of 10 vdcInstantiateVapp tasks in the last 1h in the cloud")
            );

            let mut over = task("vdcInstantiateVapp", "prod-eu");
            over.quota.set(0, counted(3));
            assert_eq!(
                count_needed(&policy, &over, now),
                None,
                "the first rule decides: the second is never counted"
            );
            assert_eq!(decide(&policy, &over, now).action, Action::Abort);
        }

        #[test]
        fn a_count_that_cannot_be_had_is_unknown_and_on_unknown_decides() {
            let policy = policy();
            let now = DateTime::UNIX_EPOCH;
            let mut prod = task("vdcInstantiateVapp", "prod-eu");
            prod.quota
                .set(0, Err(Unknown::CountFailed("vCD answered 403".into())));
            prod.quota
                .set(1, Err(Unknown::CountFailed("vCD answered 403".into())));
            let decision = decide(&policy, &prod, now);
            assert_eq!(
                &*decision.rule, "deployments over the cloud quota",
                "the org rule does not match on an unknown count; the cloud rule does (on_unknown = \"match\")"
            );
            assert_eq!(decision.unknown.len(), 1);
            assert_eq!(
                decision.unknown[0].to_string(),
                "recent (counting in vCD failed: vCD answered 403)"
            );
            assert_eq!(decision.quota, None);

            let untold = decide(&policy, &task("vdcInstantiateVapp", "prod-eu"), now);
            assert_eq!(&*untold.rule, "deployments over the cloud quota");
            assert_eq!(untold.unknown[0].to_string(), "recent (not given)");
        }

        #[test]
        fn explain_shows_each_quota_with_its_count_and_where_it_came_from() {
            let policy = policy();
            let facts = TaskFacts {
                quota: QuotaCounts::given(2),
                ..task("vdcInstantiateVapp", "prod-eu")
            };
            let text = explain(&policy, &facts, DateTime::UNIX_EPOCH).to_string();
            for line in [
                "quota:    \"prod deployments over the org quota\" { max = 2, per = \"1h\", by = \"org\" }: given: 2",
                "no match    \"prod deployments over the org quota\" (p.toml:5): quota { max = 2, per = \"1h\", by = \"org\" }: given: 2, not more than 2",
                "by:       [defaults] (no rule matched)",
                "no match    \"deployments over the cloud quota\" (p.toml:12): quota { max = 10, per = \"1h\", by = \"cloud\" }: given: 2, not more than 10",
            ] {
                assert!(text.contains(line), "{line:?} in\n{text}");
            }
            let mut counted_facts = task("vdcInstantiateVapp", "prod-eu");
            counted_facts.quota.set(0, counted(3));
            let text = explain(&policy, &counted_facts, DateTime::UNIX_EPOCH).to_string();
            assert!(
                text.contains("org quota\" { max = 2, per = \"1h\", by = \"org\" }: counted in vCD: 3 since 1970-01-01T00:00:00Z"),
                "{text}"
            );
            assert!(text.contains("\"deployments over the cloud quota\" { max = 10, per = \"1h\", by = \"cloud\" }: not counted"), "{text}");
            assert!(
                text.contains(
                    "reason:   3 of 2 vdcInstantiateVapp tasks in the last 1h by org \"prod-eu\""
                ),
                "{text}"
            );
        }
    }
}
