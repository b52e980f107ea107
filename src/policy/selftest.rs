//! A policy's own test cases (`[[test]]`): a task, the action expected for it and optionally
//! the rule expected to decide. Checked at load for expectations that could never hold, and run
//! by [`run_tests`] for `vcd-blockd test` and CI.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use toml::Spanned;

use super::Policy;
use super::action::unknown_action;
use super::error::{Diagnostics, PolicyError, Source, did_you_mean};
use super::eval::decide;
use super::index::RuleIndex;
use super::model::{ACTION_NAMES, Answer, DEFAULTS_RULE, Decision, Location};
use super::raw::{RawMatch, RawOwnerValues, RawRecords, RawTask, RawTest};
use crate::facts::{FactGroup, FactKind, OwnerFact, QuotaCounts, Record, TaskFacts, Value};

/// One `[[test]]` case.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyTest {
    pub name: String,
    pub location: Location,
    /// The task; keys the test left out are empty, `task_id` always is.
    pub facts: TaskFacts,
    /// The expected action's name, one of `resume`, `abort`, `fail`, `hold`, `ask`, `ignore`.
    pub expect: &'static str,
    /// `ask = "resume"`: what the decision service answers when a rule asks it (never called
    /// by a test); `None`: an asking rule's decision stays `ask`.
    pub ask: Option<Answer>,
    /// The rule expected to decide, or `"defaults"`; `None` = any rule.
    pub rule: Option<Arc<str>>,
    /// The moment the task is decided at; `None`: the moment the tests run.
    pub at: Option<DateTime<Utc>>,
}

/// The result of running one [`PolicyTest`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TestOutcome {
    pub name: String,
    pub location: Location,
    pub expect: &'static str,
    pub expect_rule: Option<Arc<str>>,
    /// What the policy decided (the action, the rule that decided, the message).
    pub got: Decision,
}

impl TestOutcome {
    pub(crate) fn passed(&self) -> bool {
        self.got.action.name() == self.expect
            && self
                .expect_rule
                .as_ref()
                .is_none_or(|rule| *rule == self.got.rule)
    }
}

/// `ok    name: resume by rule "r"` or `FAIL  name (file:line): expected …, got …`.
impl fmt::Display for TestOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut got = format!("{} by {}", self.got.action, by(&self.got.rule));
        if let Some(vm) = &self.got.vm {
            got.push_str(&format!(" (VM {vm:?})"));
        }
        for fact in &self.got.unknown {
            got.push_str(&format!("; unknown: {fact}"));
        }
        if self.passed() {
            return write!(f, "ok    {}: {got}", self.name);
        }
        write!(
            f,
            "FAIL  {} ({}): expected {}",
            self.name, self.location, self.expect
        )?;
        if let Some(rule) = &self.expect_rule {
            write!(f, " by {}", by(rule))?;
        }
        write!(f, ", got {got}")
    }
}

fn by(rule: &str) -> String {
    if rule == DEFAULTS_RULE {
        "[defaults]".to_owned()
    } else {
        format!("rule {rule:?}")
    }
}

/// Decides every test case's task with `policy`, in policy order, each at its `at` or else
/// at `now`.
pub(crate) fn run_tests(policy: &Policy, now: DateTime<Utc>) -> Vec<TestOutcome> {
    policy
        .tests()
        .iter()
        .map(|test| TestOutcome {
            name: test.name.clone(),
            location: test.location.clone(),
            expect: test.expect,
            expect_rule: test.rule.clone(),
            got: decide(policy, &test.facts, test.at.unwrap_or(now)).answered(test.ask),
        })
        .collect()
}

/// Compiles the tests of all files once every rule is known. `raw` holds each test with the
/// index of its file in `sources`.
pub(crate) fn compile_tests(
    sources: &[(String, String)],
    raw: Vec<(usize, Spanned<RawTest>)>,
    index: &RuleIndex,
    diagnostics: &mut Diagnostics,
) -> Vec<PolicyTest> {
    let mut tests = Vec::with_capacity(raw.len());
    let mut names: HashMap<String, Location> = HashMap::new();
    for (file_index, test) in raw {
        let (name, text) = &sources[file_index];
        let source = Source { name, text };
        let mut errors = Vec::new();
        if let Some(test) = compile_test(&source, test, index, &mut names, &mut errors) {
            tests.push(test);
        }
        errors
            .into_iter()
            .for_each(|e| diagnostics.push(file_index, e));
    }
    tests
}

fn compile_test(
    source: &Source<'_>,
    raw: Spanned<RawTest>,
    index: &RuleIndex,
    names: &mut HashMap<String, Location>,
    errors: &mut Vec<PolicyError>,
) -> Option<PolicyTest> {
    let header = raw.span();
    let location = Location {
        file: Arc::from(source.name),
        line: source.line_col(header.start).0,
    };
    let raw = raw.into_inner();
    let before = errors.len();
    let name = test_name(&raw, header.clone(), &location, names, source, errors);
    let expect = expected_action(&raw, header.clone(), source, errors);
    let ask = raw.ask.as_ref().and_then(|written| {
        Answer::parse(written.get_ref()).or_else(|| {
            let message = unknown_action("ask answer", written.get_ref(), &Answer::NAMES);
            errors.push(source.error(written.span(), message));
            None
        })
    });
    if let (Some(rule), Some(expect)) = (&raw.rule, expect)
        && let Some(problem) = impossible_rule(rule.get_ref(), expect, ask, index)
    {
        errors.push(source.error(rule.span(), problem));
    }
    let at = raw
        .at
        .as_ref()
        .map(|at| super::window::instant(source, at, "at", errors));
    let mut facts = facts(raw.task, header.clone(), source, errors);
    if let Some(recent) = &raw.recent {
        match u64::try_from(*recent.get_ref()) {
            Ok(count) => facts.quota = QuotaCounts::given(count),
            Err(_) => errors.push(source.error(recent.span(), "`recent` must be 0 or more")),
        }
    }
    if errors.len() > before {
        return None;
    }
    Some(PolicyTest {
        name: name?,
        location,
        facts,
        expect: expect?,
        ask,
        rule: raw.rule.map(|rule| Arc::from(rule.into_inner())),
        at: at.flatten(),
    })
}

/// The test's name, unless it is missing or taken; records it in `names`.
fn test_name(
    raw: &RawTest,
    header: Range<usize>,
    location: &Location,
    names: &mut HashMap<String, Location>,
    source: &Source<'_>,
    errors: &mut Vec<PolicyError>,
) -> Option<String> {
    let Some(name) = &raw.name else {
        errors.push(source.error(header, "[[test]] has no `name`"));
        return None;
    };
    if let Some(first) = names.get(name.get_ref()) {
        let message = format!(
            "duplicate test name {:?}: already used at {first}",
            name.get_ref()
        );
        errors.push(source.error(name.span(), message));
        return None;
    }
    names.insert(name.get_ref().clone(), location.clone());
    Some(name.get_ref().clone())
}

fn expected_action(
    raw: &RawTest,
    header: Range<usize>,
    source: &Source<'_>,
    errors: &mut Vec<PolicyError>,
) -> Option<&'static str> {
    let Some(expect) = &raw.expect else {
        let message = "[[test]] has no `expect`; add expect = \"resume\" (or abort, fail, hold, \
                       ask, ignore)";
        errors.push(source.error(header, message));
        return None;
    };
    let found = ACTION_NAMES.iter().find(|name| **name == expect.get_ref());
    if found.is_none() {
        let message = unknown_action("action", expect.get_ref(), &ACTION_NAMES);
        errors.push(source.error(expect.span(), format!("`expect`: {message}")));
    }
    found.copied()
}

/// Why a test expecting `expect` by rule `rule` could never pass, if it could not.
fn impossible_rule(
    rule: &str,
    expect: &str,
    ask: Option<Answer>,
    index: &RuleIndex,
) -> Option<String> {
    if rule == DEFAULTS_RULE {
        let action = index.defaults_action?;
        return (action != expect).then(|| {
            format!("[defaults] decides {action:?}, so a test expecting {expect:?} from it can never pass")
        });
    }
    let Some(known) = index.rules.get(rule) else {
        if !index.complete {
            return None;
        }
        let names = index
            .rules
            .keys()
            .map(String::as_str)
            .chain([DEFAULTS_RULE]);
        let hint = did_you_mean(rule, names)
            .map(|name| format!(" (did you mean {name:?}?)"))
            .unwrap_or_default();
        return Some(format!(
            "no rule is named {rule:?}{hint}; `rule` names the rule expected to decide, or \
             \"defaults\""
        ));
    };
    if known.dry_run {
        return Some(format!(
            "rule {rule:?} ({}) is dry_run: it never decides, so it cannot be the expected rule",
            known.location
        ));
    }
    let action = match (known.action?, ask) {
        ("ask", Some(answer)) => answer.name(),
        (action, _) => action,
    };
    (action != expect).then(|| {
        format!(
            "rule {rule:?} ({}) decides {action:?}, so a test expecting {expect:?} from it can \
             never pass",
            known.location
        )
    })
}

/// The test task's facts; owner facts it leaves out are unknown ("not given"). A group given
/// as a list of records also gives the fact it counts (`vms` gives `vapp.vm_count`) unless
/// the task gives that too.
fn facts(
    task: RawTask,
    header: Range<usize>,
    source: &Source<'_>,
    errors: &mut Vec<PolicyError>,
) -> TaskFacts {
    let mut facts = TaskFacts::default();
    for (key, value) in task.facts {
        *facts.get_mut(key) = value;
    }
    let mut values = TestValues { source, errors };
    let mut given = Vec::new();
    let mut counts = Vec::new();
    for (group, raw) in &task.owner {
        let spec = group.spec();
        if given.contains(group) {
            let list = spec.test.list.unwrap_or(spec.name);
            values.errors.push(source.error(
                header.clone(),
                format!(
                    "the test task gives both `{0}` and `{list}`; give one as {0} = {{ … }} or \
                     several as {list} = [{{ … }}, {{ … }}]",
                    spec.name
                ),
            ));
            continue;
        }
        given.push(*group);
        let records = match raw {
            RawRecords::One(record) => {
                let name = if spec.each.is_some() { spec.name } else { "" };
                vec![values.record(name.to_owned(), record)]
            }
            RawRecords::List(records) => {
                let list = spec.test.list.unwrap_or(spec.name);
                counts.extend(spec.test.counts.map(|counted| (counted, records.len())));
                let records = records.iter().enumerate();
                records
                    .map(|(i, record)| values.record(format!("{list}[{i}]"), record))
                    .collect()
            }
        };
        facts.owner.set_records(*group, Ok(records));
    }
    for ((group, field), count) in counts {
        if let Some(group) = FactGroup::parse(group).filter(|group| !given.contains(group)) {
            let record = Record::new("").with(field, Some(Value::Number(count as f64)));
            facts.owner.set_records(group, Ok(vec![record]));
        }
    }
    facts
}

/// Reads the plain values of a test's owner facts, reporting a value of the wrong kind.
struct TestValues<'a, 'e> {
    source: &'a Source<'a>,
    errors: &'e mut Vec<PolicyError>,
}

impl TestValues<'_, '_> {
    /// One record named `name` from the values given for it.
    fn record(&mut self, name: String, values: &RawOwnerValues) -> Record {
        values
            .iter()
            .fold(Record::new(name), |record, (fact, value)| {
                let value = self.value(fact, value);
                record.with(&fact.field, value)
            })
    }

    /// A number for a number fact, a string for a text, one or a list for a fact of several.
    fn value(&mut self, fact: &OwnerFact, value: &Spanned<RawMatch>) -> Option<Value> {
        let many = fact.spec().is_some_and(|field| field.many);
        match (fact.kind(), value.get_ref()) {
            (FactKind::Number, RawMatch::Number(number)) => Some(Value::Number(*number)),
            (FactKind::Text, RawMatch::Glob(text)) if many => {
                Some(Value::Texts(vec![text.clone()]))
            }
            (FactKind::Text, RawMatch::Glob(text)) => Some(Value::Text(text.clone())),
            (FactKind::Text, RawMatch::List(items)) if many => Some(Value::Texts(
                items.iter().map(|item| item.get_ref().clone()).collect(),
            )),
            _ => self.wrong(fact, value),
        }
    }

    fn wrong<T>(&mut self, fact: &OwnerFact, value: &Spanned<RawMatch>) -> Option<T> {
        let expected = match fact.kind() {
            FactKind::Number => "a number, e.g. 4096",
            FactKind::Text => "a string",
        };
        let message = format!(
            "`{}` in a test task is a value, not a match: give {expected}",
            fact.name()
        );
        self.errors.push(self.source.error(value.span(), message));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"[defaults]
action = "abort"

[[rule]]
name = "media"
operation = "vdc*Media"
action = "resume"

[[test]]
name = "uploads resume"
task = { operation = "vdcUploadMedia", org = "acme" }
expect = "resume"
rule = "media"

[[test]]
name = "deletes resume"
task = { operation = "vdcDeleteVapp" }
expect = "resume"

[[test]]
name = "deletes abort by default"
task = { operation = "vdcDeleteVapp" }
expect = "abort"
rule = "defaults"
"#;

    #[test]
    fn run_tests_reports_each_case_with_expected_and_got() {
        let policy = Policy::from_sources(&[("p.toml".into(), POLICY.into())]).unwrap();
        assert_eq!(policy.tests().len(), 3);
        assert_eq!(policy.tests()[0].facts.org, "acme");
        let outcomes = run_tests(&policy, DateTime::UNIX_EPOCH);
        let report: Vec<(bool, String)> = outcomes
            .iter()
            .map(|outcome| (outcome.passed(), outcome.to_string()))
            .collect();
        assert_eq!(
            report,
            [
                (
                    true,
                    "ok    uploads resume: resume by rule \"media\"".to_owned()
                ),
                (
                    false,
                    "FAIL  deletes resume (p.toml:15): expected resume, got abort by [defaults]"
                        .to_owned()
                ),
                (
                    true,
                    "ok    deletes abort by default: abort by [defaults]".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn test_tasks_give_owner_facts_and_outcomes_name_the_vm_and_unknown_facts() {
        let policy = Policy::from_sources(&[(
            "p.toml".into(),
            "[[rule]]\nname = \"big\"\nvm.memory_mb = { gt = 65536 }\naction = \"fail\"\n\
             [[test]]\nname = \"one of several\"\nexpect = \"fail\"\n\
             task = { vms = [{ memory_mb = 4096 }, { memory_mb = 131072 }] }\n\
             [[test]]\nname = \"one\"\nexpect = \"fail\"\ntask = { vm = { memory_mb = 65536 } }\n\
             [[test]]\nname = \"none given\"\nexpect = \"ignore\"\ntask = { operation = \"x\" }\n"
                .into(),
        )])
        .unwrap();
        let report: Vec<String> = run_tests(&policy, DateTime::UNIX_EPOCH)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            report,
            [
                "ok    one of several: fail by rule \"big\" (VM \"vms[1]\")",
                "FAIL  one (p.toml:9): expected fail, got ignore by [defaults]",
                "ok    none given: ignore by [defaults]; unknown: vm.memory_mb (not given)",
            ]
        );
        let vm_count = crate::facts::OwnerFact::parse("vapp.vm_count").unwrap();
        assert_eq!(
            policy.tests()[0].facts.owner.value(&vm_count),
            Ok(crate::facts::FactValue::Number(2.0))
        );
    }

    #[test]
    fn a_test_fails_when_another_rule_decides_with_the_expected_action() {
        let policy = Policy::from_sources(&[(
            "p.toml".into(),
            "[[rule]]\nname = \"a\"\naction = \"resume\"\n\
             [[rule]]\nname = \"b\"\naction = \"resume\"\n\
             [[test]]\nname = \"t\"\nexpect = \"resume\"\nrule = \"b\"\n"
                .into(),
        )])
        .unwrap();
        let outcome = &run_tests(&policy, DateTime::UNIX_EPOCH)[0];
        assert!(!outcome.passed());
        assert_eq!(
            outcome.to_string(),
            "FAIL  t (p.toml:7): expected resume by rule \"b\", got resume by rule \"a\""
        );
    }

    const ASKING: &str = r#"[defaults]
action = "abort"

[[rule]]
name = "cmdb"
operation = "vdcInstantiateVapp"
action = "ask"
ask = { service = "cmdb" }
hold = { max = "1h" }

[[test]]
name = "asked"
task = { operation = "vdcInstantiateVapp" }
expect = "ask"

[[test]]
name = "the CMDB resumes"
task = { operation = "vdcInstantiateVapp" }
ask = "resume"
expect = "resume"
rule = "cmdb"

[[test]]
name = "the CMDB holds"
task = { operation = "vdcInstantiateVapp" }
ask = "hold"
expect = "hold"

[[test]]
name = "the answer is for asking rules only"
task = { operation = "vdcDeleteVapp" }
ask = "resume"
expect = "abort"
"#;

    #[test]
    fn a_test_gives_the_services_answer_and_never_asks() {
        let policy = Policy::from_sources(&[("p.toml".into(), ASKING.into())]).unwrap();
        let outcomes = run_tests(&policy, DateTime::UNIX_EPOCH);
        let failed: Vec<String> = outcomes
            .iter()
            .filter(|outcome| !outcome.passed())
            .map(ToString::to_string)
            .collect();
        assert!(failed.is_empty(), "{failed:#?}");
        assert_eq!(outcomes.len(), 4);
    }

    #[test]
    fn an_answer_that_is_not_one_or_an_impossible_expectation_is_refused() {
        let head = ASKING.split("[[test]]").next().unwrap();
        let cases = [
            (
                "[[test]]\nname = \"t\"\ntask = { operation = \"vdcInstantiateVapp\" }\nask = \"maybe\"\nexpect = \"resume\"\n",
                "p.toml:14:7: unknown ask answer \"maybe\"",
            ),
            (
                "[[test]]\nname = \"t\"\ntask = { operation = \"vdcInstantiateVapp\" }\nask = \"abort\"\nexpect = \"resume\"\nrule = \"cmdb\"\n",
                "p.toml:16:8: rule \"cmdb\" (p.toml:4) decides \"abort\"",
            ),
        ];
        for (test, expected) in cases {
            let text = format!("{head}{test}");
            let errors = Policy::from_sources(&[("p.toml".into(), text.clone())]).unwrap_err();
            let shown: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
            assert!(
                shown.len() == 1 && shown[0].starts_with(expected),
                "{text}\n{shown:#?}"
            );
        }
    }
}
