//! Compiled rules and defaults: checked, typed and ready to evaluate against [`TaskFacts`]
//! without allocating until a message is rendered.

use std::sync::Arc;

use super::matcher::Matcher;
use super::model::{Action, DEFAULTS_RULE, Location, ShadowMatch};
use super::template::{Context, Template};
use crate::facts::{MatchKey, TaskFacts};

/// One `[[rule]]`.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub name: Arc<str>,
    pub location: Location,
    /// All must match; none means the rule matches every task.
    pub conditions: Vec<Condition>,
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
    /// The first condition the task does not meet, or `None` when the rule matches.
    pub(super) fn first_mismatch(&self, facts: &TaskFacts) -> Option<&Condition> {
        self.conditions
            .iter()
            .find(|condition| !condition.matcher.matches(facts.get(condition.key)))
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
