//! The names a policy's tests may refer to: every rule seen while compiling (with its action
//! and location, even when the rule had other errors) and the action of `[defaults]`. Built by
//! `compile`, read by `selftest` to refuse expectations that could never hold.

use std::collections::HashMap;

use toml::Spanned;

use super::error::{PolicyError, Source};
use super::model::Location;

/// What the tests of a policy may refer to: every rule name seen (including rules that had
/// other errors) and the action of `[defaults]`.
#[derive(Debug)]
pub(crate) struct RuleIndex {
    pub rules: HashMap<String, KnownRule>,
    /// `None` when `[defaults]` has an error.
    pub defaults_action: Option<&'static str>,
    /// False when some `[[rule]]` could not be read at all, so a name may be missing.
    pub complete: bool,
}

#[derive(Debug)]
pub(crate) struct KnownRule {
    pub location: Location,
    /// `None` when the rule's action has an error.
    pub action: Option<&'static str>,
    pub dry_run: bool,
}

impl RuleIndex {
    /// Records a rule's name, refusing one that is already taken.
    pub(super) fn register(
        &mut self,
        name: &Spanned<String>,
        rule: KnownRule,
        source: &Source<'_>,
    ) -> Result<(), PolicyError> {
        if let Some(first) = self.rules.get(name.get_ref()) {
            let message = format!(
                "duplicate rule name {:?}: already used at {}; rule names must be unique",
                name.get_ref(),
                first.location
            );
            return Err(source.error(name.span(), message));
        }
        self.rules.insert(name.get_ref().clone(), rule);
        Ok(())
    }
}
