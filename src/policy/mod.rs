//! The policy: an operator-written TOML language that says, for each blocking task, whether
//! to resume, abort, fail, hold or ignore it, or to ask a decision service. This module parses and checks policy files
//! (errors as `file:line:col: message`), and decides tasks with a pure function.
//!
//! Flow: [`Policy::load`] reads the files, `raw` checks their shape, `compile` checks their
//! meaning into rules; [`decide`] and [`explain`] evaluate them; [`run_tests`] runs the
//! policy's own `[[test]]` cases.

mod action;
mod approval;
mod cloud;
mod compile;
mod error;
mod eval;
mod index;
mod load;
mod matcher;
mod model;
mod quota;
mod raw;
mod rule;
mod selftest;
mod template;
mod window;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::facts::{Needs, TaskFacts};

pub use approval::ApprovalRule;
pub(crate) use approval::{Who, Written};
pub(crate) use error::PolicyError;
pub use error::PolicyErrors;
pub use eval::decide;
pub(crate) use eval::{count_needed, explain};
pub(crate) use model::Hold;
pub use model::{Action, Answer, Ask, Decision, OnError};
pub(crate) use quota::Quota;
pub(crate) use selftest::{PolicyTest, run_tests};

use rule::{Defaults, Rule};

/// A compiled, checked policy. Immutable; share it in an `Arc` and swap the `Arc` to reload.
#[derive(Debug)]
pub struct Policy {
    /// In evaluation order: files in name order, rules in file order.
    rules: Vec<Rule>,
    /// `ignore` when no file has `[defaults]`.
    defaults: Defaults,
    tests: Vec<PolicyTest>,
    /// What `check` should point out without refusing the policy, as `file:line: text`.
    warnings: Vec<String>,
    /// The `[[window]]`s rules name in `during` and `outside`.
    windows: window::CompiledWindows,
}

impl Policy {
    /// Loads a `.toml` file, or every `*.toml` file of a directory in file-name order. Every
    /// problem found is reported, each naming its own file.
    pub fn load(path: &Path) -> Result<Policy, PolicyErrors> {
        let sources = load::read_sources(path)?;
        Policy::from_sources(&sources)
    }

    /// Compiles `(file name as shown in errors, text)` pairs, concatenated in the given order.
    pub fn from_sources(sources: &[(String, String)]) -> Result<Policy, PolicyErrors> {
        compile::compile(sources)
    }

    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// A fingerprint of the policy text at `path` (every file's name and content), or `None`
    /// when it cannot be read. Equal fingerprints mean nothing changed, whatever the files'
    /// timestamps or the symlinks that lead to them (a ConfigMap's `..data` swap).
    pub fn fingerprint(path: &Path) -> Option<u64> {
        use std::hash::{Hash, Hasher};
        let sources = load::read_sources(path).ok()?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        sources.hash(&mut hasher);
        Some(hasher.finish())
    }

    /// `check -c`: what the rules' `approvers` and `escalate_to` name that the approvers file
    /// does not have, and `approvals` no set of its people could reach, in file order.
    /// `members` gives the (lower-case) names an entry stands for in the approvers file.
    pub(crate) fn approval_errors(&self, members: impl Fn(&Who) -> Vec<String>) -> PolicyErrors {
        PolicyErrors(
            self.approval_problems(members)
                .into_iter()
                .map(|(_, error)| error)
                .collect(),
        )
    }

    /// The same as [`Policy::approval_errors`], each with the name of its rule: what the
    /// daemon warns about when the policy or the approvers file is (re)loaded.
    pub(crate) fn approval_problems(
        &self,
        members: impl Fn(&Who) -> Vec<String>,
    ) -> Vec<(Arc<str>, PolicyError)> {
        let mut problems: Vec<(Arc<str>, PolicyError)> = self
            .rules
            .iter()
            .filter_map(|rule| {
                let problems = rule.action.hold()?.approval.unknown_in(&members);
                Some(problems.into_iter().map(|error| (rule.name.clone(), error)))
            })
            .flatten()
            .collect();
        problems.sort_by(|(_, a), (_, b)| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
        problems
    }

    /// `check -c` and the daemon's start: the rules whose `ask.service` names no `[[ask]]` of
    /// the config (`known` says whether a name is one), as errors at the place it is written.
    pub fn ask_errors(&self, known: impl Fn(&str) -> bool) -> PolicyErrors {
        let errors = self
            .asks()
            .filter(|ask| !known(&ask.service))
            .map(|ask| {
                ask.written.error(format!(
                    "`ask.service` names {:?}, but the config has no [[ask]] of that name",
                    ask.service
                ))
            })
            .collect();
        PolicyErrors(errors)
    }

    /// Every rule's `ask`, in policy order.
    pub fn asks(&self) -> impl Iterator<Item = &Ask> {
        self.rules.iter().filter_map(|rule| match &rule.action {
            Action::Ask(ask) => Some(ask),
            _ => None,
        })
    }

    /// The policy's `[[test]]` cases, in order.
    pub fn tests(&self) -> &[PolicyTest] {
        &self.tests
    }

    /// The owner-fact groups [`decide`] may look at for a task with these facts: those of every
    /// rule whose conditions on the task's own facts hold, up to the first enforcing rule that
    /// needs no owner facts and no quota count and so surely decides. Empty for a policy
    /// without owner facts, and
    /// for tasks such a rule decides first: nothing more is read from vCD for them.
    pub fn owner_needs(&self, facts: &TaskFacts) -> Needs {
        let mut needs = Needs::default();
        for rule in &self.rules {
            if rule.first_mismatch(facts).is_some() {
                continue;
            }
            if rule.needs.is_empty() && rule.quota.is_none() && !rule.dry_run {
                break;
            }
            needs = needs.union(rule.needs);
        }
        needs
    }

    /// Things worth pointing out that do not make the policy wrong (`check` prints them).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The first instant after `now` at which time alone may change a decision: a window
    /// that a rule names opens or closes, or a rule's `from` or `until` passes. `None` when
    /// the policy's answers no longer depend on time.
    pub fn next_change(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let windows = &self.windows.windows;
        let changes = self
            .rules
            .iter()
            .map(|rule| rule.time.next_change(windows, now));
        changes.flatten().min()
    }

    /// The first instant after `now` at which any window of the policy opens or closes,
    /// named by a rule or not (for `window_open`).
    pub fn next_window_change(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let list = self.windows.windows.list();
        list.iter()
            .filter_map(|window| window.next_change(now))
            .min()
    }

    /// Every window of the policy, in policy order, with whether it is open at `now`.
    pub fn windows_at(&self, now: DateTime<Utc>) -> Vec<(Arc<str>, bool)> {
        let open = self.windows.windows.open_at(now);
        let list = self.windows.windows.list().iter().enumerate();
        list.map(|(i, window)| (window.name.clone(), open.contains(i)))
            .collect()
    }

    /// What `check` points out about time that has passed at `now`: rules whose `until` is
    /// over, one-off windows that have ended.
    pub fn time_warnings(&self, now: DateTime<Utc>) -> Vec<String> {
        window::expired_warnings(&self.windows, &self.rules, now)
    }

    /// The quota of the rule at `index` in policy order (as [`count_needed`] names it).
    pub(crate) fn quota(&self, index: usize) -> Option<&Quota> {
        self.rules.get(index)?.quota.as_ref()
    }

    /// Whether any rule matches on owner facts.
    pub fn uses_owner_facts(&self) -> bool {
        self.rules.iter().any(|rule| !rule.needs.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_fingerprint_follows_the_text_not_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.toml");
        std::fs::write(&file, "[defaults]\naction = \"resume\"\n").unwrap();
        let first = Policy::fingerprint(dir.path()).unwrap();
        std::fs::write(&file, "[defaults]\naction = \"resume\"\n").unwrap();
        assert_eq!(
            Policy::fingerprint(dir.path()),
            Some(first),
            "rewritten, same text"
        );
        std::fs::write(&file, "[defaults]\naction = \"abort\"\n").unwrap();
        assert_ne!(Policy::fingerprint(dir.path()), Some(first));
        assert_eq!(Policy::fingerprint(&dir.path().join("missing")), None);
    }

    #[test]
    fn the_example_policy_loads_and_its_tests_pass() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/example.toml");
        let policy = Policy::load(&path).unwrap_or_else(|errors| panic!("{errors}"));
        assert_eq!(policy.rule_count(), 13);
        let outcomes = run_tests(&policy, chrono::DateTime::UNIX_EPOCH);
        assert!(outcomes.len() >= 5);
        for outcome in outcomes {
            assert!(outcome.passed(), "{outcome}");
        }
    }

    #[test]
    fn a_policy_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Policy>();
    }
}
