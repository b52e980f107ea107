//! Compiled rules and defaults: checked, typed and ready to evaluate against [`TaskFacts`]
//! without allocating until a message is rendered or an owner fact is unknown.
//!
//! A rule's conditions on owner facts have three outcomes: met, not met, or unknown (the fact
//! could not be had). All conditions of a rule must be met; one that is not met decides that
//! the rule does not match, otherwise an unknown one makes the rule's verdict unknown, which
//! does not match unless the rule says `on_unknown = "match"`. The `vm.*` conditions of a rule
//! are met together by one VM of the owner: any VM that meets them all will do.

use std::sync::Arc;

use super::matcher::Matcher;
use super::model::{Action, DEFAULTS_RULE, Location, ShadowMatch};
use super::template::{Context, Template};
use crate::facts::{
    FactGroup, FactValue, MatchKey, Needs, OwnerKey, TaskFacts, Unknown, UnknownFact,
};

/// One `[[rule]]`.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub name: Arc<str>,
    pub location: Location,
    /// On the task's own facts; all must match; none means the rule matches every task.
    pub conditions: Vec<Condition>,
    /// On owner facts other than `vm.*`, in the order written.
    pub owner: Vec<OwnerCondition>,
    /// On `vm.*` facts: one VM must meet them all.
    pub vm: Vec<OwnerCondition>,
    /// The owner-fact groups the conditions read.
    pub needs: Needs,
    /// Whether a rule whose owner facts are unknown matches.
    pub on_unknown_matches: bool,
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

/// An owner fact a rule matches on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OwnerFact {
    Key(OwnerKey),
    /// `metadata.<key>`.
    Metadata(Box<str>),
}

impl OwnerFact {
    pub(crate) fn name(&self) -> String {
        match self {
            OwnerFact::Key(key) => key.name().to_owned(),
            OwnerFact::Metadata(key) => format!("metadata.{key}"),
        }
    }

    pub(crate) fn group(&self) -> FactGroup {
        match self {
            OwnerFact::Key(key) => key.group(),
            OwnerFact::Metadata(_) => FactGroup::Metadata,
        }
    }
}

/// One owner fact of a rule and the value it must match.
#[derive(Debug, Clone)]
pub(crate) struct OwnerCondition {
    pub fact: OwnerFact,
    pub matcher: Matcher,
}

/// How a rule fared against a task.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict<'f> {
    /// Every condition was met, or `on_unknown = "match"` counted unknown ones as met (they
    /// are in `unknown`). `vm` is the VM that met the `vm.*` conditions.
    Matches {
        vm: Option<&'f str>,
        unknown: Vec<UnknownFact>,
    },
    /// A condition was not met.
    Fails(Failure),
    /// No condition failed, but some facts were unknown.
    Unknown(Vec<UnknownFact>),
}

/// Which condition was not met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// `conditions[i]`.
    Task(usize),
    /// `owner[i]`.
    Owner(usize),
    /// No VM met the `vm.*` conditions.
    Vms,
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

    /// Evaluates every condition: the task's own facts first (always known), then the owner's.
    pub(super) fn evaluate<'f>(&self, facts: &'f TaskFacts) -> Verdict<'f> {
        if let Some(index) = self.first_mismatch(facts) {
            return Verdict::Fails(Failure::Task(index));
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
        let vm = match self.any_vm(facts) {
            VmVerdict::Matches(vm) => vm,
            VmVerdict::Fails => return Verdict::Fails(Failure::Vms),
            VmVerdict::Unknown(mut facts) => {
                unknown.append(&mut facts);
                None
            }
        };
        if unknown.is_empty() || self.on_unknown_matches {
            Verdict::Matches { vm, unknown }
        } else {
            Verdict::Unknown(unknown)
        }
    }

    /// Whether some VM of the owner meets every `vm.*` condition.
    fn any_vm<'f>(&self, facts: &'f TaskFacts) -> VmVerdict<'f> {
        if self.vm.is_empty() {
            return VmVerdict::Matches(None);
        }
        let vms = match &facts.owner.vms {
            Ok(vms) => vms,
            Err(reason) => {
                let unknown = self.vm.iter().map(|condition| UnknownFact {
                    key: condition.fact.name(),
                    reason: reason.clone(),
                });
                return VmVerdict::Unknown(unknown.collect());
            }
        };
        let mut unknown = Vec::new();
        'vms: for vm in vms {
            let before = unknown.len();
            for condition in &self.vm {
                let OwnerFact::Key(key) = condition.fact else {
                    continue;
                };
                match vm.value(key) {
                    Ok(value) if condition.matcher.matches_value(value) => {}
                    Ok(_) => {
                        unknown.truncate(before);
                        continue 'vms;
                    }
                    Err(reason) => unknown.push(UnknownFact {
                        key: key.name().to_owned(),
                        reason,
                    }),
                }
            }
            if unknown.len() == before {
                return VmVerdict::Matches(Some(&vm.name));
            }
        }
        if unknown.is_empty() {
            VmVerdict::Fails
        } else {
            VmVerdict::Unknown(unknown)
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
            action: self.action,
            message: self.render(facts),
        }
    }
}

/// What the `vm.*` conditions of a rule found.
enum VmVerdict<'f> {
    /// A VM met them all (`None`: the rule has none).
    Matches(Option<&'f str>),
    Fails,
    Unknown(Vec<UnknownFact>),
}

/// The value of a non-VM owner fact.
pub(super) fn owner_value<'f>(
    facts: &'f TaskFacts,
    fact: &OwnerFact,
) -> Result<FactValue<'f>, Unknown> {
    match fact {
        OwnerFact::Key(key) => facts.owner.value(*key),
        OwnerFact::Metadata(key) => facts.owner.metadata_value(key),
    }
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
