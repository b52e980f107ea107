//! Compiled rules and defaults: checked, typed and ready to evaluate against [`TaskFacts`]
//! without allocating until a message is rendered or an owner fact is unknown.
//!
//! A rule's conditions on owner facts have three outcomes: met, not met, or unknown (the fact
//! could not be had). All conditions of a rule must be met; one that is not met decides that
//! the rule does not match, otherwise an unknown one makes the rule's verdict unknown, which
//! does not match unless the rule says `on_unknown = "match"`. The conditions on a group of
//! several records (`vm.*`: the VMs of a vApp) are met together by one record: any VM that meets
//! them all will do.

use std::sync::Arc;

use super::matcher::Matcher;
use super::model::{Action, DEFAULTS_RULE, Location, ShadowMatch};
use super::quota::Quota;
use super::template::{Context, Template};
use super::window::{Moment, TimeCondition, TimeFailure};
use crate::facts::{
    FactGroup, FactValue, MatchKey, Needs, OwnerFact, QuotaCount, TaskFacts, Unknown, UnknownFact,
};

/// One `[[rule]]`.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub name: Arc<str>,
    pub location: Location,
    /// On the task's own facts; all must match; none means the rule matches every task.
    pub conditions: Vec<Condition>,
    /// On owner facts of groups of one record, in the order written.
    pub owner: Vec<OwnerCondition>,
    /// On the facts of each group of several records (`vm`): one record must meet them all.
    pub each: Vec<EachCondition>,
    /// The owner-fact groups the conditions read.
    pub needs: Needs,
    /// Whether a rule whose owner facts are unknown matches.
    pub on_unknown_matches: bool,
    /// On the moment of the decision: windows, `from`, `until`.
    pub time: TimeCondition,
    /// On how many tasks vCD lists lately: checked last, when everything else matched.
    pub quota: Option<Quota>,
    pub action: Action,
    pub message: Template,
    /// Matches are recorded as shadow matches; evaluation goes on.
    pub dry_run: bool,
}

/// One match key of a rule and the value it must match.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    pub key: MatchKey,
    pub matcher: Matcher,
}

/// One owner fact of a rule and the value it must match.
#[derive(Debug, Clone)]
pub(crate) struct OwnerCondition {
    pub fact: OwnerFact,
    pub matcher: Matcher,
}

/// The conditions of a rule on one group of several records, which one record must meet.
#[derive(Debug, Clone)]
pub(crate) struct EachCondition {
    pub group: FactGroup,
    pub conditions: Vec<OwnerCondition>,
}

/// How a rule fared against a task.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict<'f> {
    /// Every condition was met, or `on_unknown = "match"` counted unknown ones as met (they
    /// are in `unknown`). `vm` is the record (the VM) that met the conditions on a group of
    /// several.
    Matches {
        vm: Option<&'f str>,
        unknown: Vec<UnknownFact>,
    },
    /// A condition was not met.
    Fails(Failure),
    /// No condition failed, but some facts were unknown.
    Unknown(Vec<UnknownFact>),
}

/// How a rule's quota fared, once every other condition matched.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum QuotaVerdict {
    /// The rule has no quota.
    Free,
    /// More than `max` were counted: the quota condition is met.
    Over(QuotaCount),
    /// No more than `max`: the rule does not match.
    Within(QuotaCount),
    /// Neither given nor counted yet.
    NotCounted,
    /// The count could not be had.
    Unknown(UnknownFact),
}

/// The key a quota's count is named by, in unknown facts and `explain --fact recent=21`.
pub(crate) const QUOTA_KEY: &str = "recent";

/// Which condition was not met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// `conditions[i]`.
    Task(usize),
    /// `owner[i]`.
    Owner(usize),
    /// No record met the conditions of `each[i]`.
    Each(usize),
    /// The moment did not meet the rule's conditions on time.
    Time(TimeFailure),
}

/// What happens when no rule matches.
#[derive(Debug, Clone)]
pub(crate) struct Defaults {
    /// Always [`DEFAULTS_RULE`], allocated once so that decisions share it.
    pub name: Arc<str>,
    /// Never [`Action::Hold`]: a hold needs a rule.
    pub action: Action,
    pub message: Template,
}

impl Rule {
    /// The first condition on the task's own facts that the task does not meet.
    pub(super) fn first_mismatch(&self, facts: &TaskFacts) -> Option<usize> {
        self.conditions
            .iter()
            .position(|condition| !condition.matcher.matches(facts.get(condition.key)))
    }

    /// Evaluates every condition: the task's own facts first (always known), then the
    /// moment's, then the owner's.
    pub(super) fn evaluate<'f>(&self, facts: &'f TaskFacts, moment: Moment<'_>) -> Verdict<'f> {
        if let Some(index) = self.first_mismatch(facts) {
            return Verdict::Fails(Failure::Task(index));
        }
        if let Err(failure) = self.time.check(moment) {
            return Verdict::Fails(Failure::Time(failure));
        }
        let mut unknown = Vec::new();
        for (index, condition) in self.owner.iter().enumerate() {
            match owner_value(facts, &condition.fact) {
                Ok(value) if condition.matcher.matches_value(value) => {}
                Ok(_) => return Verdict::Fails(Failure::Owner(index)),
                Err(reason) => unknown.push(UnknownFact {
                    key: condition.fact.name(),
                    reason,
                }),
            }
        }
        let mut vm = None;
        for (index, each) in self.each.iter().enumerate() {
            match each.any_record(facts) {
                RecordVerdict::Matches(record) => vm = vm.or(record),
                RecordVerdict::Fails => return Verdict::Fails(Failure::Each(index)),
                RecordVerdict::Unknown(mut facts) => unknown.append(&mut facts),
            }
        }
        if unknown.is_empty() || self.on_unknown_matches {
            Verdict::Matches { vm, unknown }
        } else {
            Verdict::Unknown(unknown)
        }
    }

    /// The rule's quota against the count `facts` hold for it; `index` is the rule's place in
    /// the policy.
    pub(super) fn quota_verdict(&self, index: usize, facts: &TaskFacts) -> QuotaVerdict {
        let Some(quota) = &self.quota else {
            return QuotaVerdict::Free;
        };
        match facts.quota.get(index) {
            None => QuotaVerdict::NotCounted,
            Some(Ok(count)) if count.count > quota.max => QuotaVerdict::Over(count),
            Some(Ok(count)) => QuotaVerdict::Within(count),
            Some(Err(reason)) => QuotaVerdict::Unknown(UnknownFact {
                key: QUOTA_KEY.to_owned(),
                reason,
            }),
        }
    }

    pub(super) fn render(&self, facts: &TaskFacts) -> String {
        self.message.render(&Context {
            rule: &self.name,
            action: self.action.name(),
            facts,
        })
    }

    pub(super) fn shadow(&self, facts: &TaskFacts) -> ShadowMatch {
        ShadowMatch {
            rule: self.name.clone(),
            action: self.action.clone(),
            message: self.render(facts),
        }
    }
}

impl EachCondition {
    /// Whether some record of the group meets every condition.
    fn any_record<'f>(&self, facts: &'f TaskFacts) -> RecordVerdict<'f> {
        let records = match facts.owner.records(self.group) {
            Ok(records) => records,
            Err(reason) => {
                let unknown = self.conditions.iter().map(|condition| UnknownFact {
                    key: condition.fact.name(),
                    reason: reason.clone(),
                });
                return RecordVerdict::Unknown(unknown.collect());
            }
        };
        let mut unknown = Vec::new();
        'records: for record in records {
            let before = unknown.len();
            for condition in &self.conditions {
                match condition.fact.value_in(record) {
                    Ok(value) if condition.matcher.matches_value(value) => {}
                    Ok(_) => {
                        unknown.truncate(before);
                        continue 'records;
                    }
                    Err(reason) => unknown.push(UnknownFact {
                        key: condition.fact.name(),
                        reason,
                    }),
                }
            }
            if unknown.len() == before {
                return RecordVerdict::Matches(Some(&record.name));
            }
        }
        if unknown.is_empty() {
            RecordVerdict::Fails
        } else {
            RecordVerdict::Unknown(unknown)
        }
    }
}

/// What the conditions on a group of several records found.
enum RecordVerdict<'f> {
    /// A record met them all.
    Matches(Option<&'f str>),
    Fails,
    Unknown(Vec<UnknownFact>),
}

/// The value of an owner fact of a group of one record.
pub(super) fn owner_value<'f>(
    facts: &'f TaskFacts,
    fact: &OwnerFact,
) -> Result<FactValue<'f>, Unknown> {
    facts.owner.value(fact)
}

impl Defaults {
    pub(super) fn new(action: Action, message: Template) -> Defaults {
        Defaults {
            name: Arc::from(DEFAULTS_RULE),
            action,
            message,
        }
    }

    pub(super) fn render(&self, facts: &TaskFacts) -> String {
        self.message.render(&Context {
            rule: DEFAULTS_RULE,
            action: self.action.name(),
            facts,
        })
    }
}

/// Without `[defaults]`, tasks no rule matches are left alone and vCD's own timeout applies.
impl Default for Defaults {
    fn default() -> Defaults {
        Defaults::new(Action::Ignore, Template::default_for_defaults())
    }
}
