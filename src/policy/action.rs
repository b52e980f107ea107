//! Checks action names, hold parameters (`max`, `fallback`, `keepalive`, and through
//! `approval` who decides) and ask parameters (`service`, `on_error`, `recheck`) of rules and
//! `[defaults]`, turning them into an [`Action`].

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::approval;
use super::approval::Written;
use super::error::{PolicyError, Source, did_you_mean};
use super::model::{ACTION_NAMES, Action, Ask, Hold, OnError};
use super::raw::{RawAsk, RawHold, RawRule};
use crate::duration::{format_duration, parse_duration};
use crate::task::FinalAction;

/// Shortest keepalive a hold may ask for: each one is a call to vCD.
const MIN_KEEPALIVE: Duration = Duration::from_secs(10);
/// Shortest `ask.recheck`: each one is a request to the decision service.
const MIN_RECHECK: Duration = Duration::from_secs(1);
/// `ask.recheck` when the rule does not say.
const DEFAULT_RECHECK: Duration = Duration::from_secs(60);

/// The rule's action, with its hold parameters when it holds.
pub(crate) fn rule_action(
    raw: &RawRule,
    header: Range<usize>,
    source: &Source<'_>,
    errors: &mut Vec<PolicyError>,
) -> Option<Action> {
    let Some(action) = &raw.action else {
        let message = "[[rule]] has no `action`; add action = \"resume\" (or abort, fail, hold, ask, \
                       ignore)";
        errors.push(source.error(header, message));
        return None;
    };
    if let Some(ask) = &raw.ask
        && action.get_ref() != "ask"
    {
        let message = format!(
            "`ask` applies only to action = \"ask\", but this rule's action is {:?}; remove \
             `ask` or change the action",
            action.get_ref()
        );
        errors.push(source.error(ask.span(), message));
        return None;
    }
    let problem = match (action.get_ref().as_str(), &raw.hold) {
        ("ask", hold) => return compile_ask(raw, action.span(), hold.as_ref(), source, errors),
        ("hold", Some(hold)) => return compile_hold(hold, source, errors).map(Action::Hold),
        ("hold", None) => source.error(
            action.span(),
            "action = \"hold\" needs hold = { max = \"48h\" } (fallback is \"abort\" unless \
             given; keepalive is optional)",
        ),
        (written, hold) => match (simple_action(written), hold) {
            (Some(simple), None) => return Some(simple),
            (Some(_), Some(hold)) => source.error(
                hold.span(),
                format!(
                    "`hold` applies only to action = \"hold\" or \"ask\", but this rule's action is \
                     {written:?}; remove `hold` or change the action"
                ),
            ),
            (None, _) => {
                let message = unknown_action("action", written, &ACTION_NAMES);
                source.error(action.span(), message)
            }
        },
    };
    errors.push(problem);
    None
}

/// `action = "ask"`: its `ask` table and the `hold` the task is kept in while asked.
fn compile_ask(
    raw: &RawRule,
    action: Range<usize>,
    hold: Option<&Spanned<RawHold>>,
    source: &Source<'_>,
    errors: &mut Vec<PolicyError>,
) -> Option<Action> {
    let Some(ask) = &raw.ask else {
        let message = "action = \"ask\" needs ask = { service = \"…\" } naming an [[ask]] of \
                       the config (on_error and recheck are optional)";
        errors.push(source.error(action, message));
        return None;
    };
    let Some(hold) = hold else {
        let message = "action = \"ask\" needs hold = { max = \"48h\" }: the task is held while \
                       the service is asked, and when it answers hold";
        errors.push(source.error(action, message));
        return None;
    };
    let before = errors.len();
    let RawAsk {
        service,
        on_error,
        recheck,
    } = ask.get_ref();
    let service = match service {
        Some(name) if !name.get_ref().trim().is_empty() => Some(name),
        Some(name) => {
            errors.push(source.error(name.span(), "`ask.service` is empty"));
            None
        }
        None => {
            let message = "`ask` has no `service`; name an [[ask]] of the config, e.g. \
                           service = \"cmdb\"";
            errors.push(source.error(ask.span(), message));
            None
        }
    };
    let on_error = match on_error {
        None => Some(OnError::Hold),
        Some(written) if written.get_ref() == "hold" => Some(OnError::Hold),
        Some(written) => FinalAction::parse(written.get_ref())
            .map(OnError::Decide)
            .or_else(|| {
                let allowed = ["hold", "resume", "abort", "fail"];
                let message = unknown_action("ask.on_error", written.get_ref(), &allowed);
                errors.push(source.error(written.span(), message));
                None
            }),
    };
    let recheck = match recheck {
        None => Some(DEFAULT_RECHECK),
        Some(recheck) => duration(recheck, "ask.recheck", source, errors, |every| {
            (every < MIN_RECHECK).then(|| {
                format!(
                    "`ask.recheck` must be at least {}: every recheck is a request to the service",
                    format_duration(MIN_RECHECK)
                )
            })
        }),
    };
    let hold = compile_hold(hold, source, errors);
    if errors.len() > before {
        return None;
    }
    let service = service?;
    Some(Action::Ask(Ask {
        service: service.get_ref().trim().into(),
        on_error: on_error?,
        recheck: recheck?,
        hold: hold?,
        written: Written::at(source, &service.span()),
    }))
}

/// An action without parameters: `resume`, `abort`, `fail` or `ignore`.
pub(crate) fn simple_action(name: &str) -> Option<Action> {
    match name {
        "resume" => Some(Action::Resume),
        "abort" => Some(Action::Abort),
        "fail" => Some(Action::Fail),
        "ignore" => Some(Action::Ignore),
        _ => None,
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
        Some(max) => duration(max, "hold.max", source, errors, |max| {
            max.is_zero()
                .then(|| "`hold.max` must be longer than 0".to_owned())
        }),
    };
    let fallback = match &raw.fallback {
        None => Some(FinalAction::Abort),
        Some(fallback) => FinalAction::parse(fallback.get_ref()).or_else(|| {
            let message =
                unknown_action("fallback", fallback.get_ref(), &["resume", "abort", "fail"]);
            errors.push(source.error(fallback.span(), message));
            None
        }),
    };
    let keepalive = match &raw.keepalive {
        None => Some(None),
        Some(keepalive) => duration(keepalive, "hold.keepalive", source, errors, |every| {
            (every < MIN_KEEPALIVE).then(|| {
                format!(
                    "`hold.keepalive` must be at least {}: every keepalive is a call to vCD",
                    format_duration(MIN_KEEPALIVE)
                )
            })
        })
        .map(Some),
    };
    let approval = approval::compile(raw, max, source, errors);
    if errors.len() > before {
        return None;
    }
    Some(Hold {
        max: max?,
        fallback: fallback?,
        keepalive: keepalive?,
        approval: Arc::new(approval),
    })
}

/// Parses a duration; `refuse` says why a well-formed value is still not acceptable.
fn duration(
    text: &Spanned<String>,
    key: &str,
    source: &Source<'_>,
    errors: &mut Vec<PolicyError>,
    refuse: impl Fn(Duration) -> Option<String>,
) -> Option<Duration> {
    let problem = match parse_duration(text.get_ref()) {
        Ok(value) => match refuse(value) {
            None => return Some(value),
            Some(problem) => problem,
        },
        Err(message) => format!("`{key}`: {message}"),
    };
    errors.push(source.error(text.span(), problem));
    None
}

/// "unknown action "resum" (did you mean "resume"?); valid: resume, abort, …"
pub(crate) fn unknown_action(key: &str, written: &str, allowed: &[&str]) -> String {
    let hint = did_you_mean(written, allowed.iter().copied())
        .map(|name| format!(" (did you mean {name:?}?)"))
        .unwrap_or_default();
    format!(
        "unknown {key} {written:?}{hint}; valid: {}",
        allowed.join(", ")
    )
}
