//! Rules on *when*: `[[window]]` tables compiled into [`Windows`], and a rule's `during`,
//! `outside`, `from` and `until` compiled into a [`TimeCondition`] that the moment of the
//! decision meets or not. Also what time tells about a policy: when its answer may next
//! change, which windows are open, and why a task is held ("weekend freeze until Mon 08:00").

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use toml::Spanned;

use super::error::{PolicyError, Source};
use super::model::Location;
use super::raw::{RawMatch, RawRule, RawWindow};
use crate::duration::parse_duration;
use crate::facts::window::{OpenSet, Timing, Window, Windows, parse_schedule, parse_zone};

/// A rule's conditions on the moment of the decision; each one given must hold.
#[derive(Debug, Clone, Default)]
pub(crate) struct TimeCondition {
    /// Indexes of windows of which one must be open; empty: no such condition.
    pub during: Vec<usize>,
    /// Indexes of windows of which none may be open; empty: no such condition.
    pub outside: Vec<usize>,
    /// The rule applies from this instant (included).
    pub from: Option<DateTime<Utc>>,
    /// The rule applies until this instant (excluded).
    pub until: Option<DateTime<Utc>>,
}

/// Which condition on the moment did not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeFailure {
    /// None of the `during` windows is open.
    NotDuring,
    /// This `outside` window is open.
    Inside(usize),
    /// Before `from`.
    Before,
    /// At or after `until`.
    Expired,
}

/// The moment a task is decided at, and the windows open then.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moment<'a> {
    pub now: DateTime<Utc>,
    pub open: &'a OpenSet,
}

impl TimeCondition {
    /// Whether the moment meets every condition, else the first that it does not.
    pub(crate) fn check(&self, moment: Moment<'_>) -> Result<(), TimeFailure> {
        if self.from.is_some_and(|from| moment.now < from) {
            return Err(TimeFailure::Before);
        }
        if self.until.is_some_and(|until| moment.now >= until) {
            return Err(TimeFailure::Expired);
        }
        if !self.during.is_empty() && !self.during.iter().any(|&i| moment.open.contains(i)) {
            return Err(TimeFailure::NotDuring);
        }
        match self.outside.iter().find(|&&i| moment.open.contains(i)) {
            Some(&inside) => Err(TimeFailure::Inside(inside)),
            None => Ok(()),
        }
    }

    /// Why a rule that matched at `now` holds a task, in an operator's words: `weekend freeze
    /// until Mon 06:00 CET`, `outside business hours until Mon 08:00 CET`, `until 2027-02-01
    /// 00:00 UTC`; `None` for a rule without conditions on time.
    pub(crate) fn reason(&self, windows: &Windows, now: DateTime<Utc>) -> Option<String> {
        let list = windows.list();
        let open = self
            .during
            .iter()
            .filter_map(|&i| Some((&list[i], list[i].closes_after(now)?)))
            .min_by_key(|(_, closes)| *closes);
        if let Some((window, closes)) = open {
            return Some(format!(
                "{} until {}",
                window.name,
                window.show_instant(closes, now)
            ));
        }
        if !self.outside.is_empty() {
            let names: Vec<&str> = self.outside.iter().map(|&i| &*list[i].name).collect();
            let opens = self
                .outside
                .iter()
                .filter_map(|&i| Some((&list[i], list[i].next_change(now)?)))
                .min_by_key(|(_, opens)| *opens);
            let mut reason = format!("outside {}", names.join(" and "));
            if let Some((window, opens)) = opens {
                reason.push_str(&format!(" until {}", window.show_instant(opens, now)));
            }
            return Some(reason);
        }
        self.until
            .map(|until| format!("until {}", show_utc(until, now)))
    }

    /// The instants at which this condition may change its answer on its own: `from`,
    /// `until`, and the openings and closings of the windows it names.
    pub(crate) fn next_change(
        &self,
        windows: &Windows,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let list = windows.list();
        let named = self.during.iter().chain(&self.outside);
        let window_changes = named.filter_map(|&i| list[i].next_change(now));
        let edges = [self.from, self.until].into_iter().flatten();
        edges.filter(|&t| t > now).chain(window_changes).min()
    }
}

/// An instant in UTC as `check` and `reason` show it.
fn show_utc(instant: DateTime<Utc>, now: DateTime<Utc>) -> String {
    crate::facts::window::show_instant(Tz::UTC, instant, now)
}

/// Every window of a policy with where it was written.
#[derive(Debug, Default)]
pub(crate) struct CompiledWindows {
    pub windows: Windows,
    pub locations: Vec<Location>,
    /// Names of windows that had errors: rules naming them are not told they are unknown.
    pub broken: Vec<String>,
}

/// One `[[window]]` as read from its file, before names are checked across files.
pub(crate) struct FileWindow<'a> {
    pub source: &'a Source<'a>,
    pub location: Location,
    pub file_index: usize,
    pub raw: Spanned<RawWindow>,
}

/// Compiles every file's windows; names are unique across the policy. Problems go to
/// `errors` with the index of the file they are in.
pub(crate) fn compile_windows(
    raw: Vec<FileWindow<'_>>,
    errors: &mut Vec<(usize, PolicyError)>,
) -> CompiledWindows {
    let mut seen: HashMap<String, Location> = HashMap::new();
    let mut compiled = CompiledWindows::default();
    let mut list = Vec::new();
    for window in raw {
        let mut problems = Vec::new();
        if let Some(name) = &window.raw.get_ref().name {
            if let Some(first) = seen.get(name.get_ref()) {
                let message = format!(
                    "duplicate window name {:?}: already used at {first}; window names must be \
                     unique",
                    name.get_ref()
                );
                problems.push(window.source.error(name.span(), message));
            } else {
                seen.insert(name.get_ref().clone(), window.location.clone());
            }
        }
        let name = window
            .raw
            .get_ref()
            .name
            .as_ref()
            .map(|n| n.get_ref().clone());
        match compile_window(window.source, window.raw, &mut problems) {
            Some(done) if problems.is_empty() => {
                list.push(done);
                compiled.locations.push(window.location);
            }
            _ => compiled.broken.extend(name),
        }
        errors.extend(problems.into_iter().map(|e| (window.file_index, e)));
    }
    compiled.windows = Windows::new(list);
    compiled
}

fn compile_window(
    source: &Source<'_>,
    raw: Spanned<RawWindow>,
    errors: &mut Vec<PolicyError>,
) -> Option<Window> {
    let header = raw.span();
    let raw = raw.into_inner();
    let before = errors.len();
    let name = match &raw.name {
        Some(name) if !name.get_ref().trim().is_empty() => Some(name.get_ref().clone()),
        Some(name) => {
            errors.push(source.error(name.span(), "window name must not be empty"));
            None
        }
        None => {
            let message = "[[window]] has no `name`; rules name windows in `during` and `outside`";
            errors.push(source.error(header.clone(), message));
            None
        }
    };
    let zone = match &raw.timezone {
        None => Some(Tz::UTC),
        Some(text) => parse_zone(text.get_ref()).or_else(|| {
            let message = format!(
                "unknown time zone {:?}: use an IANA name such as \"Europe/Berlin\" or \"UTC\"",
                text.get_ref()
            );
            errors.push(source.error(text.span(), message));
            None
        }),
    };
    let timing = timing(source, &raw, header, errors);
    if errors.len() > before {
        return None;
    }
    Some(Window {
        name: name?.into(),
        timing: timing?,
        zone: zone?,
    })
}

/// A schedule with a duration, or a one-off `from`/`until`.
fn timing(
    source: &Source<'_>,
    raw: &RawWindow,
    header: std::ops::Range<usize>,
    errors: &mut Vec<PolicyError>,
) -> Option<Timing> {
    match (&raw.schedule, &raw.duration) {
        (Some(schedule), duration) => {
            if let Some(extra) = raw.from.as_ref().or(raw.until.as_ref()) {
                let message = "a window has either `schedule` and `duration` or `from` and \
                               `until`, not both";
                errors.push(source.error(extra.span(), message));
            }
            let cron = parse_schedule(schedule.get_ref()).map_err(|problem| {
                let message = format!(
                    "`schedule`: bad cron expression {:?}: {problem}; write five fields: \
                     minute hour day-of-month month day-of-week, e.g. \"0 18 * * FRI\"",
                    schedule.get_ref()
                );
                errors.push(source.error(schedule.span(), message));
            });
            let Some(duration) = duration else {
                let message = "a window with a `schedule` needs a `duration`: how long it stays \
                               open (e.g. duration = \"62h\")";
                errors.push(source.error(schedule.span(), message));
                return None;
            };
            let length = window_duration(source, duration, errors);
            Some(Timing::Schedule {
                cron: Box::new(cron.ok()?),
                duration: length?,
            })
        }
        (None, Some(duration)) => {
            let message = "`duration` belongs with `schedule`; a one-off window has `from` and \
                           `until` instead";
            errors.push(source.error(duration.span(), message));
            None
        }
        (None, None) => {
            let (Some(from), Some(until)) = (&raw.from, &raw.until) else {
                let message = "a [[window]] needs `schedule` and `duration` (e.g. \"0 18 * * FRI\" \
                               and \"62h\"), or `from` and `until` for a one-off window";
                let span = raw.from.as_ref().or(raw.until.as_ref()).map(Spanned::span);
                errors.push(source.error(span.unwrap_or(header), message));
                return None;
            };
            let (from_at, until_at) = (
                instant(source, from, "from", errors),
                instant(source, until, "until", errors),
            );
            let (from_at, until_at) = (from_at?, until_at?);
            if until_at <= from_at {
                errors.push(source.error(until.span(), "`until` must be after `from`"));
                return None;
            }
            Some(Timing::Once {
                from: from_at,
                until: until_at,
            })
        }
    }
}

fn window_duration(
    source: &Source<'_>,
    text: &Spanned<String>,
    errors: &mut Vec<PolicyError>,
) -> Option<TimeDelta> {
    let problem = match parse_duration(text.get_ref()) {
        Ok(duration) if duration.is_zero() => "`duration` must be more than 0".to_owned(),
        Ok(duration) => match TimeDelta::from_std(duration) {
            Ok(delta) => return Some(delta),
            Err(_) => "`duration` is too long".to_owned(),
        },
        Err(message) => format!("`duration`: {message}"),
    };
    errors.push(source.error(text.span(), problem));
    None
}

/// An RFC 3339 instant with its offset (`2027-02-01T00:00:00Z`, `…+01:00`).
pub(crate) fn instant(
    source: &Source<'_>,
    text: &Spanned<String>,
    key: &str,
    errors: &mut Vec<PolicyError>,
) -> Option<DateTime<Utc>> {
    match DateTime::parse_from_rfc3339(text.get_ref().trim()) {
        Ok(instant) => Some(instant.with_timezone(&Utc)),
        Err(_) => {
            let message = format!(
                "`{key}`: {:?} is not an instant; write RFC 3339 with its offset, e.g. \
                 \"2027-02-01T00:00:00Z\" or \"2026-12-20T00:00:00+01:00\"",
                text.get_ref()
            );
            errors.push(source.error(text.span(), message));
            None
        }
    }
}

/// A rule's `during`, `outside`, `from` and `until`; window names must be known.
pub(crate) fn time_condition(
    raw: &RawRule,
    windows: &CompiledWindows,
    source: &Source<'_>,
    errors: &mut Vec<PolicyError>,
) -> TimeCondition {
    let mut names = |key: &str, value: &Option<Spanned<RawMatch>>| -> Vec<usize> {
        value
            .as_ref()
            .map(|value| window_names(key, value, windows, source, errors))
            .unwrap_or_default()
    };
    let during = names("during", &raw.during);
    let outside = names("outside", &raw.outside);
    let from = raw
        .from
        .as_ref()
        .and_then(|t| instant(source, t, "from", errors));
    let until = raw
        .until
        .as_ref()
        .and_then(|t| instant(source, t, "until", errors));
    if let (Some(from_at), Some(until_at), Some(until)) = (from, until, &raw.until)
        && until_at <= from_at
    {
        errors.push(source.error(until.span(), "`until` must be after `from`"));
    }
    TimeCondition {
        during,
        outside,
        from,
        until,
    }
}

/// `during = "name"` or `during = ["a", "b"]`: the windows' indexes.
fn window_names(
    key: &str,
    value: &Spanned<RawMatch>,
    compiled: &CompiledWindows,
    source: &Source<'_>,
    errors: &mut Vec<PolicyError>,
) -> Vec<usize> {
    let names: Vec<(String, std::ops::Range<usize>)> = match value.get_ref() {
        RawMatch::Glob(name) => vec![(name.clone(), value.span())],
        RawMatch::List(names) if !names.is_empty() => names
            .iter()
            .map(|name| (name.get_ref().clone(), name.span()))
            .collect(),
        _ => {
            let message = format!(
                "`{key}` takes a window name or a list of them, e.g. {key} = [\"weekend \
                 freeze\", \"year-end freeze\"]"
            );
            errors.push(source.error(value.span(), message));
            return Vec::new();
        }
    };
    let windows = &compiled.windows;
    let mut indexes = Vec::new();
    for (name, span) in names {
        match windows.index_of(&name) {
            Some(index) => indexes.push(index),
            None if compiled.broken.contains(&name) => {}
            None => {
                let written = compiled.broken.iter().map(String::as_str);
                let known: Vec<&str> = windows
                    .list()
                    .iter()
                    .map(|w| &*w.name)
                    .chain(written)
                    .collect();
                let hint = super::error::did_you_mean(&name, known.iter().copied())
                    .map(|k| format!(" (did you mean {k:?}?)"))
                    .unwrap_or_default();
                let listed = if known.is_empty() {
                    "the policy has no [[window]]".to_owned()
                } else {
                    format!("windows: {}", known.join(", "))
                };
                let message = format!("`{key}`: unknown window {name:?}{hint}; {listed}");
                errors.push(source.error(span, message));
            }
        }
    }
    indexes
}

/// `check`'s warnings about time that has passed: rules whose `until` is over and one-off
/// windows that have ended, as `file:line: warning: …`.
pub(crate) fn expired_warnings(
    windows: &CompiledWindows,
    rules: &[super::rule::Rule],
    now: DateTime<Utc>,
) -> Vec<String> {
    let mut warnings = Vec::new();
    for (window, location) in windows.windows.list().iter().zip(&windows.locations) {
        if let Timing::Once { until, .. } = window.timing
            && until <= now
        {
            warnings.push(format!(
                "{location}: warning: window {:?} ended at {}; rules naming it see it closed for \
                 ever",
                window.name,
                show_utc(until, now)
            ));
        }
    }
    for rule in rules {
        if let Some(until) = rule.time.until
            && until <= now
        {
            warnings.push(format!(
                "{}: warning: rule {:?} applied until {}, which has passed: it matches no task",
                rule.location,
                rule.name,
                show_utc(until, now)
            ));
        }
    }
    warnings
}

#[cfg(test)]
mod tests;
