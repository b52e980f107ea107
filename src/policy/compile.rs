//! Turns raw policy files into a [`Policy`]: checks actions, hold parameters, durations,
//! regexes, templates and name uniqueness across all files, and reports every problem found
//! with its position.

use std::collections::HashMap;
use std::sync::Arc;

use toml::Spanned;

use super::Policy;
use super::action::{rule_action, simple_action, unknown_action};
use super::error::{Diagnostics, PolicyError, PolicyErrors, Source};
use super::index::{KnownRule, RuleIndex};
use super::matcher::Matcher;
use super::model::{Action, DEFAULTS_RULE, Location};
use super::quota;
use super::raw::{self, RawDefaults, RawRule, RawTest};
use super::rule::{Condition, Defaults, EachCondition, OwnerCondition, Rule};
use super::selftest;
use super::template::Template;
use super::window::{self, CompiledWindows, FileWindow};
use crate::facts::{FactKind, Needs, documented_owner, owner_has};

/// One file being compiled.
struct File<'a> {
    source: Source<'a>,
    name: Arc<str>,
}

impl File<'_> {
    fn location(&self, offset: usize) -> Location {
        Location {
            file: self.name.clone(),
            line: self.source.line_col(offset).0,
        }
    }
}

/// Compiles `(file name, text)` pairs, in order, into one policy.
pub(crate) fn compile(sources: &[(String, String)]) -> Result<Policy, PolicyErrors> {
    let mut compiler = Compiler {
        diagnostics: Diagnostics::default(),
        rules: Vec::new(),
        defaults: None,
        first_defaults: None,
        windows: CompiledWindows::default(),
        index: RuleIndex {
            rules: HashMap::new(),
            defaults_action: Some(Action::Ignore.name()),
            complete: true,
        },
    };
    let files: Vec<File<'_>> = sources
        .iter()
        .map(|(name, text)| File {
            source: Source { name, text },
            name: Arc::from(name.as_str()),
        })
        .collect();
    let mut parsed = Vec::with_capacity(files.len());
    let mut raw_windows = Vec::new();
    for (file_index, file) in files.iter().enumerate() {
        let (mut raw_file, errors) = raw::parse_file(&file.source);
        for raw in std::mem::take(&mut raw_file.windows) {
            raw_windows.push(FileWindow {
                source: &file.source,
                location: file.location(raw.span().start),
                file_index,
                raw,
            });
        }
        parsed.push((raw_file, errors));
    }
    let mut window_errors = Vec::new();
    compiler.windows = window::compile_windows(raw_windows, &mut window_errors);
    for (file_index, error) in window_errors {
        compiler.diagnostics.push(file_index, error);
    }
    let mut raw_tests = Vec::new();
    for (file_index, (file, (raw_file, errors))) in files.iter().zip(parsed).enumerate() {
        let tests = compiler.file(file, raw_file, errors, file_index);
        raw_tests.extend(tests.into_iter().map(|test| (file_index, test)));
    }
    let mut diagnostics = compiler.diagnostics;
    let tests = selftest::compile_tests(sources, raw_tests, &compiler.index, &mut diagnostics);
    if !diagnostics.is_empty() {
        return Err(diagnostics.into_errors());
    }
    let mut warnings: Vec<String> = compiler.rules.iter().filter_map(owner_warning).collect();
    warnings.extend(super::cloud::operation_warnings(&compiler.rules));
    Ok(Policy {
        rules: compiler.rules,
        defaults: compiler.defaults.unwrap_or_default(),
        tests,
        warnings,
        windows: compiler.windows,
    })
}

/// A warning for a rule whose operations are all documented to be about an owner that has
/// none of the facts of some group the rule matches on (`vm.*` with `vdcUploadMedia`): such a
/// condition is always unknown.
fn owner_warning(rule: &Rule) -> Option<String> {
    let operations = rule
        .conditions
        .iter()
        .find(|c| c.key == crate::facts::MatchKey::Operation)?;
    let globs = match &operations.matcher {
        Matcher::Glob(glob) => std::slice::from_ref(glob),
        Matcher::AnyOf(globs) => globs.as_slice(),
        _ => return None,
    };
    let owners: Option<Vec<(&str, &str)>> = globs
        .iter()
        .map(|glob| {
            let name = glob.as_str();
            let literal = !name.contains(['*', '?']);
            literal
                .then(|| documented_owner(name))
                .flatten()
                .map(|owner| (name, owner))
        })
        .collect();
    let owners = owners?;
    let group = rule
        .needs
        .groups()
        .find(|group| owners.iter().all(|(_, owner)| !owner_has(owner, *group)))?;
    let described: Vec<String> = owners
        .iter()
        .map(|(operation, owner)| format!("{operation} is about a {owner}"))
        .collect();
    Some(format!(
        "{}: warning: rule {:?} matches on {}.* facts, but {}: those facts are always unknown \
         for it",
        rule.location,
        rule.name,
        group.name(),
        described.join(", ")
    ))
}

/// What has been compiled so far.
struct Compiler {
    diagnostics: Diagnostics,
    rules: Vec<Rule>,
    defaults: Option<Defaults>,
    /// Where `[defaults]` was first written, even if it had errors.
    first_defaults: Option<Location>,
    /// Every file's `[[window]]`s, compiled before any rule names them.
    windows: CompiledWindows,
    index: RuleIndex,
}

impl Compiler {
    /// Compiles a file's `[defaults]` and rules; hands back its tests, which are compiled
    /// once every rule name is known.
    fn file(
        &mut self,
        file: &File<'_>,
        raw_file: raw::RawFile,
        mut errors: Vec<PolicyError>,
        file_index: usize,
    ) -> Vec<Spanned<RawTest>> {
        self.index.complete &= raw_file.rules_complete;
        if let Some(raw) = raw_file.defaults {
            self.defaults(file, raw, &mut errors);
        }
        for raw in raw_file.rules {
            let rule = compile_rule(file, raw, &mut self.index, &self.windows, &mut errors);
            if let Some(rule) = rule {
                self.rules.push(rule);
            }
        }
        for error in errors {
            self.diagnostics.push(file_index, error);
        }
        raw_file.tests
    }

    fn defaults(
        &mut self,
        file: &File<'_>,
        raw: Spanned<RawDefaults>,
        errors: &mut Vec<PolicyError>,
    ) {
        if let Some(first) = &self.first_defaults {
            let message = format!(
                "[defaults] is already set at {first}; a policy has at most one [defaults]"
            );
            errors.push(file.source.error(raw.span(), message));
            return;
        }
        self.first_defaults = Some(file.location(raw.span().start));
        match compile_defaults(&file.source, raw) {
            Ok(defaults) => {
                self.index.defaults_action = Some(defaults.action.name());
                self.defaults = Some(defaults);
            }
            Err(mut e) => {
                self.index.defaults_action = None;
                errors.append(&mut e);
            }
        }
    }
}

fn compile_defaults(
    source: &Source<'_>,
    raw: Spanned<RawDefaults>,
) -> Result<Defaults, Vec<PolicyError>> {
    let header = raw.span();
    let raw = raw.into_inner();
    let mut errors = Vec::new();
    let action = match &raw.action {
        None => {
            let message = "[defaults] has no `action`; add action = \"abort\" (or resume, fail, \
                           ignore)";
            errors.push(source.error(header, message));
            None
        }
        Some(action) if action.get_ref() == "hold" => {
            let message = "[defaults] cannot hold: a hold needs a rule; use resume, abort, fail \
                           or ignore, and write a [[rule]] with action = \"hold\"";
            errors.push(source.error(action.span(), message));
            None
        }
        Some(action) => simple_action(action.get_ref()).or_else(|| {
            let allowed = ["resume", "abort", "fail", "ignore"];
            let message = unknown_action("action", action.get_ref(), &allowed);
            errors.push(source.error(action.span(), message));
            None
        }),
    };
    let message = match &raw.message {
        Some(text) => template(text, source).map_err(|e| errors.push(e)).ok(),
        None => Some(Template::default_for_defaults()),
    };
    match (action, message) {
        (Some(action), Some(message)) if errors.is_empty() => Ok(Defaults::new(action, message)),
        _ => Err(errors),
    }
}

/// Compiles one rule and records its name in `index`; problems go to `errors`.
fn compile_rule(
    file: &File<'_>,
    raw: Spanned<RawRule>,
    index: &mut RuleIndex,
    windows: &CompiledWindows,
    errors: &mut Vec<PolicyError>,
) -> Option<Rule> {
    let source = &file.source;
    let header = raw.span();
    let location = file.location(header.start);
    let raw = raw.into_inner();
    let before = errors.len();
    let action = rule_action(&raw, header.clone(), source, errors);
    let name = rule_name(&raw, header, source, errors);
    if let Some(name) = &name {
        let known = KnownRule {
            location: location.clone(),
            action: action.as_ref().map(Action::name),
            dry_run: raw.dry_run,
        };
        if let Err(error) = index.register(name, known, source) {
            errors.push(error);
        }
    }
    let conditions = conditions(&raw, source, errors);
    let (owner, each) = owner_conditions(&raw, source, errors);
    let needs = owner
        .iter()
        .chain(each.iter().flat_map(|each| &each.conditions))
        .fold(Needs::default(), |needs, c| needs.with(c.fact.group));
    let on_unknown_matches = on_unknown(&raw, source, errors);
    let time = window::time_condition(&raw, windows, source, errors);
    let quota = quota::compile_quota(&raw, &conditions, source, errors);
    let message = match (&raw.message, &action) {
        (Some(text), _) => template(text, source).map_err(|e| errors.push(e)).ok(),
        (None, Some(action)) => Some(Template::default_for_rule(action.name())),
        (None, None) => None,
    };
    if errors.len() > before {
        return None;
    }
    Some(Rule {
        name: Arc::from(name?.into_inner()),
        location,
        conditions,
        owner,
        each,
        needs,
        on_unknown_matches,
        time,
        quota,
        action: action?,
        message: message?,
        dry_run: raw.dry_run,
    })
}

fn rule_name(
    raw: &RawRule,
    header: std::ops::Range<usize>,
    source: &Source<'_>,
    errors: &mut Vec<PolicyError>,
) -> Option<Spanned<String>> {
    let Some(name) = &raw.name else {
        let message = "[[rule]] has no `name`; every rule needs a unique name (it appears in \
                       logs, audit records and the message vCD shows)";
        errors.push(source.error(header, message));
        return None;
    };
    let problem = if name.get_ref().trim().is_empty() {
        "rule name must not be empty"
    } else if name.get_ref() == DEFAULTS_RULE {
        "rule name \"defaults\" is reserved for decisions made by [defaults]; choose another"
    } else {
        return Some(name.clone());
    };
    errors.push(source.error(name.span(), problem));
    None
}

fn conditions(raw: &RawRule, source: &Source<'_>, errors: &mut Vec<PolicyError>) -> Vec<Condition> {
    let mut conditions = Vec::new();
    for (&key, value) in &raw.matches {
        match Matcher::compile(value, key.name(), FactKind::Text, source) {
            Ok(matcher) => conditions.push(Condition { key, matcher }),
            Err(mut e) => errors.append(&mut e),
        }
    }
    conditions
}

/// The owner-fact conditions: those on groups of one record (`vapp`, `media`, `metadata`, …),
/// and those on each group of several (`vm`), which one record must meet together.
fn owner_conditions(
    raw: &RawRule,
    source: &Source<'_>,
    errors: &mut Vec<PolicyError>,
) -> (Vec<OwnerCondition>, Vec<EachCondition>) {
    let (mut owner, mut each) = (Vec::new(), Vec::<EachCondition>::new());
    for (fact, value) in &raw.owner {
        let matcher = match Matcher::compile(value, &fact.name(), fact.kind(), source) {
            Ok(matcher) => matcher,
            Err(mut e) => {
                errors.append(&mut e);
                continue;
            }
        };
        let condition = OwnerCondition {
            fact: fact.clone(),
            matcher,
        };
        if fact.group.spec().each.is_none() {
            owner.push(condition);
        } else if let Some(group) = each.iter_mut().find(|each| each.group == fact.group) {
            group.conditions.push(condition);
        } else {
            each.push(EachCondition {
                group: fact.group,
                conditions: vec![condition],
            });
        }
    }
    (owner, each)
}

/// `on_unknown`: "match" or "no_match" (the default).
fn on_unknown(raw: &RawRule, source: &Source<'_>, errors: &mut Vec<PolicyError>) -> bool {
    let Some(value) = &raw.on_unknown else {
        return false;
    };
    match value.get_ref().as_str() {
        "match" => true,
        "no_match" => false,
        other => {
            let message = format!(
                "unknown on_unknown {other:?}: write \"match\" (a rule whose owner facts cannot \
                 be had matches) or \"no_match\" (the default: it does not)"
            );
            errors.push(source.error(value.span(), message));
            false
        }
    }
}

fn template(text: &Spanned<String>, source: &Source<'_>) -> Result<Template, PolicyError> {
    Template::compile(text.get_ref()).map_err(|error| {
        let offset = source.offset_in_string(&text.span(), text.get_ref(), error.offset);
        source.error(offset..offset, error.message)
    })
}

#[cfg(test)]
mod tests;
