//! Checks action names and hold parameters (`max`, `fallback`, `keepalive`) of rules and
//! `[defaults]`, turning them into an [`Action`].

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::error::{PolicyError, Source, did_you_mean};
use super::model::{ACTION_NAMES, Action, FinalAction, Hold};
use super::raw::{RawHold, RawRule};
use crate::duration::{format_duration, parse_duration};

/// Shortest keepalive a hold may ask for: each one is a call to vCD.
const MIN_KEEPALIVE: Duration = Duration::from_secs(10);

/// The rule's action, with its hold parameters when it holds.
pub(crate) fn rule_action(
    raw: &RawRule,
    header: Range<usize>,
    source: &Source<'_>,
    errors: &mut Vec<PolicyError>,
) -> Option<Action> {
    let Some(action) = &raw.action else {
        let message = "[[rule]] has no `action`; add action = \"resume\" (or abort, fail, hold, \
                       ignore)";
        errors.push(source.error(header, message));
        return None;
    };
    let name = action_name(action, &ACTION_NAMES, source)
        .map_err(|e| errors.push(e))
        .ok()?;
    match (name, &raw.hold) {
        ("hold", Some(hold)) => compile_hold(hold, source, errors).map(Action::Hold),
        ("hold", None) => {
            let message = "action = \"hold\" needs hold = { max = \"48h\" } (fallback is \
                           \"abort\" unless given; keepalive is optional)";
            errors.push(source.error(action.span(), message));
            None
        }
        (other, Some(hold)) => {
            let message = format!(
                "`hold` applies only to action = \"hold\", but this rule's action is \
                 {other:?}; remove `hold` or change the action"
            );
            errors.push(source.error(hold.span(), message));
            None
        }
        (other, None) => Some(simple_action(other)),
    }
}

fn compile_hold(
    hold: &Spanned<RawHold>,
    source: &Source<'_>,
    errors: &mut Vec<PolicyError>,
) -> Option<Hold> {
    let raw = hold.get_ref();
    let before = errors.len();
    let max = match &raw.max {
        None => {
            let message = "`hold` has no `max`, the longest a task may wait for a human; \
                           add e.g. max = \"48h\"";
            errors.push(source.error(hold.span(), message));
            None
        }
        Some(max) => duration(max, "hold.max", Duration::from_millis(1), source, errors),
    };
    let fallback = match &raw.fallback {
        None => Some(FinalAction::Abort),
        Some(fallback) => match FinalAction::parse(fallback.get_ref()) {
            Some(action) => Some(action),
            None => {
                let message =
                    unknown_action("fallback", fallback.get_ref(), &["resume", "abort", "fail"]);
                errors.push(source.error(fallback.span(), message));
                None
            }
        },
    };
    let keepalive = match &raw.keepalive {
        None => Some(None),
        Some(k) => duration(k, "hold.keepalive", MIN_KEEPALIVE, source, errors).map(Some),
    };
    if errors.len() > before {
        return None;
    }
    Some(Hold {
        max: max?,
        fallback: fallback?,
        keepalive: keepalive?,
    })
}

fn duration(
    text: &Spanned<String>,
    key: &str,
    at_least: Duration,
    source: &Source<'_>,
    errors: &mut Vec<PolicyError>,
) -> Option<Duration> {
    let problem = match parse_duration(text.get_ref()) {
        Ok(value) if value >= at_least => return Some(value),
        Ok(_) if at_least <= Duration::from_millis(1) => format!("`{key}` must be longer than 0"),
        Ok(_) => format!(
            "`{key}` must be at least {}: every keepalive is a call to vCD",
            format_duration(at_least)
        ),
        Err(message) => format!("`{key}`: {message}"),
    };
    errors.push(source.error(text.span(), problem));
    None
}

/// Checks an action name against `allowed`, returning its canonical `&'static str`.
pub(crate) fn action_name(
    action: &Spanned<String>,
    allowed: &[&'static str],
    source: &Source<'_>,
) -> Result<&'static str, PolicyError> {
    let written = action.get_ref();
    allowed
        .iter()
        .find(|name| **name == written)
        .copied()
        .ok_or_else(|| source.error(action.span(), unknown_action("action", written, allowed)))
}

pub(crate) fn unknown_action(key: &str, written: &str, allowed: &[&str]) -> String {
    let hint = did_you_mean(written, allowed.iter().copied())
        .map(|name| format!(" (did you mean {name:?}?)"))
        .unwrap_or_default();
    format!(
        "unknown {key} {written:?}{hint}; valid: {}",
        allowed.join(", ")
    )
}

/// An action without parameters, from a name already checked against [`ACTION_NAMES`].
pub(crate) fn simple_action(name: &str) -> Action {
    match name {
        "resume" => Action::Resume,
        "abort" => Action::Abort,
        "fail" => Action::Fail,
        _ => Action::Ignore,
    }
}
