//! Who decides a held task and how many must agree (`hold.approvers`, `hold.approvals`), and
//! who is reminded or called in when nobody does (`remind_every`, `escalate_after`,
//! `escalate_to`): the [`ApprovalRule`] part of a rule's hold, checked here. Whether the names and
//! groups exist is the approvers file's business; `check -c` compares the two
//! ([`ApprovalRule::unknown_in`]).

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::error::{PolicyError, Source};
use super::raw::RawHold;
use crate::duration::{format_duration, parse_duration};

/// The prefix of a group entry in `approvers` and `escalate_to` (`"group:prod-leads"`).
const GROUP_PREFIX: &str = "group:";

/// One entry of `approvers` or `escalate_to`: an approver's name or a group of the approvers
/// file. Names compare without regard to case, as the approvers file's do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Who {
    Person(Box<str>),
    Group(Box<str>),
}

impl Who {
    fn parse(written: &str) -> Result<Who, String> {
        let (group, name) = match written.strip_prefix(GROUP_PREFIX) {
            Some(group) => (true, group),
            None => (false, written),
        };
        if name.trim().is_empty() || name.trim() != name || name.chars().any(char::is_control) {
            return Err(format!(
                "{written:?} is not an approver's name or \"group:<name>\" (no empty names, \
                 no white space around them)"
            ));
        }
        Ok(if group {
            Who::Group(name.into())
        } else {
            Who::Person(name.into())
        })
    }
}

impl std::fmt::Display for Who {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Who::Person(name) => f.write_str(name),
            Who::Group(group) => write!(f, "{GROUP_PREFIX}{group}"),
        }
    }
}

/// Where something was written in a policy file, for `check -c`'s errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Written {
    pub(crate) file: Arc<str>,
    pub(crate) line: usize,
    pub(crate) col: usize,
}

impl Written {
    pub(super) fn at(source: &Source<'_>, span: &Range<usize>) -> Written {
        let (line, col) = source.line_col(span.start);
        Written {
            file: source.name.into(),
            line,
            col,
        }
    }

    /// A problem found here.
    pub(crate) fn error(&self, message: impl Into<String>) -> PolicyError {
        PolicyError {
            file: self.file.to_string(),
            line: self.line,
            col: self.col,
            message: message.into(),
        }
    }
}

/// Who may decide a rule's held tasks and how many must approve. The default (no keys given)
/// is one approval by any approver in scope, with no reminders and no escalation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRule {
    /// `hold.approvers`; `None`: any approver in the task's orgs.
    pub(crate) approvers: Option<Vec<(Who, Written)>>,
    /// `hold.approvals`: distinct approvers who must approve (at least 1).
    pub(crate) needed: u32,
    /// Where `approvals` was written (`None` when left at its default).
    pub(crate) needed_at: Option<Written>,
    /// `hold.remind_every`: a `reminder` event each time this passes, counted from the task's
    /// `createdTime`, while nobody decided.
    pub(crate) remind_every: Option<Duration>,
    /// `hold.escalate_after`, counted from the task's `createdTime`: then `escalate_to` may
    /// decide too and `escalated` is sent once. Shorter than `hold.max`.
    pub(crate) escalate_after: Option<Duration>,
    /// `hold.escalate_to`.
    pub(crate) escalate_to: Vec<(Who, Written)>,
}

impl Default for ApprovalRule {
    fn default() -> ApprovalRule {
        ApprovalRule {
            approvers: None,
            needed: 1,
            needed_at: None,
            remind_every: None,
            escalate_after: None,
            escalate_to: Vec::new(),
        }
    }
}

impl ApprovalRule {
    /// Every entry of `approvers` and `escalate_to`, with where it was written.
    pub(crate) fn named(&self) -> impl Iterator<Item = &(Who, Written)> {
        self.approvers.iter().flatten().chain(&self.escalate_to)
    }

    /// `check -c`: the entries no approver of the file answers to, and an `approvals` larger
    /// than the distinct people the rule names, as errors at their places. `members` gives the
    /// names (lower-case) an entry stands for; empty when it names nobody in the file.
    pub(crate) fn unknown_in(&self, members: impl Fn(&Who) -> Vec<String>) -> Vec<PolicyError> {
        let mut errors = Vec::new();
        let mut people: Vec<String> = Vec::new();
        for (who, written) in self.named() {
            let found = members(who);
            if found.is_empty() {
                let message = match who {
                    Who::Person(name) => {
                        format!("no approver named {name:?} in the approvers file")
                    }
                    Who::Group(group) => {
                        format!("no approver of the approvers file is in group {group:?}")
                    }
                };
                errors.push(written.error(message));
            }
            people.extend(found);
        }
        people.sort();
        people.dedup();
        if let (Some(_), Some(at)) = (&self.approvers, &self.needed_at)
            && self.needed as usize > people.len()
        {
            errors.push(at.error(format!(
                "`hold.approvals` is {} but `approvers` and `escalate_to` name {} people in \
                 the approvers file ({}); the task could never be approved",
                self.needed,
                people.len(),
                people.join(", ")
            )));
        }
        errors
    }
}

/// Checks the approval keys of a hold; `max` (when valid) bounds `escalate_after`.
pub(super) fn compile(
    raw: &RawHold,
    max: Option<Duration>,
    source: &Source<'_>,
    errors: &mut Vec<PolicyError>,
) -> ApprovalRule {
    let mut approval = ApprovalRule {
        approvers: raw
            .approvers
            .as_ref()
            .map(|list| who_list(list, "hold.approvers", source, errors)),
        escalate_to: raw
            .escalate_to
            .as_ref()
            .map(|list| who_list(list, "hold.escalate_to", source, errors))
            .unwrap_or_default(),
        ..ApprovalRule::default()
    };
    if let Some(approvals) = &raw.approvals {
        let n = *approvals.get_ref();
        match u32::try_from(n) {
            Ok(n) if n >= 1 => {
                approval.needed = n;
                approval.needed_at = Some(Written::at(source, &approvals.span()));
            }
            _ => errors.push(source.error(
                approvals.span(),
                format!("`hold.approvals` must be at least 1 (got {n})"),
            )),
        }
    }
    if let Some(list) = &approval.approvers {
        let groups = list.iter().any(|(who, _)| matches!(who, Who::Group(_)))
            || approval
                .escalate_to
                .iter()
                .any(|(who, _)| matches!(who, Who::Group(_)));
        let named = distinct_people(list.iter().chain(&approval.escalate_to));
        if raw
            .approvers
            .as_ref()
            .is_some_and(|raw| raw.get_ref().is_empty())
        {
            let span = raw
                .approvers
                .as_ref()
                .map(Spanned::span)
                .unwrap_or_default();
            errors.push(source.error(
                span,
                "`hold.approvers` is empty: nobody but the admin token could decide; name \
                 approvers or groups, or leave the key out (any approver in scope)",
            ));
        } else if !groups
            && approval.needed as usize > named
            && let Some(approvals) = &raw.approvals
        {
            errors.push(source.error(
                approvals.span(),
                format!(
                    "`hold.approvals` is {} but `approvers` and `escalate_to` name only {named} \
                     people; the task could never be approved",
                    approval.needed
                ),
            ));
        }
    }
    approval.remind_every = raw
        .remind_every
        .as_ref()
        .and_then(|every| positive(every, "hold.remind_every", source, errors));
    approval.escalate_after = raw.escalate_after.as_ref().and_then(|after| {
        let after_value = positive(after, "hold.escalate_after", source, errors)?;
        match max {
            Some(max) if after_value >= max => {
                errors.push(source.error(
                    after.span(),
                    format!(
                        "`hold.escalate_after` ({}) must be shorter than `hold.max` ({}): the \
                         fallback applies at `max`",
                        format_duration(after_value),
                        format_duration(max)
                    ),
                ));
                None
            }
            _ => Some(after_value),
        }
    });
    match (&raw.escalate_after, &raw.escalate_to) {
        (Some(after), None) => errors.push(source.error(
            after.span(),
            "`hold.escalate_after` needs `escalate_to`: who may decide after it",
        )),
        (None, Some(to)) => errors.push(source.error(
            to.span(),
            "`hold.escalate_to` needs `escalate_after`: when they may decide",
        )),
        _ => {}
    }
    approval
}

fn who_list(
    list: &Spanned<Vec<Spanned<String>>>,
    key: &str,
    source: &Source<'_>,
    errors: &mut Vec<PolicyError>,
) -> Vec<(Who, Written)> {
    let mut entries = Vec::new();
    for written in list.get_ref() {
        match Who::parse(written.get_ref()) {
            Ok(who) => entries.push((who, Written::at(source, &written.span()))),
            Err(message) => {
                errors.push(source.error(written.span(), format!("`{key}`: {message}")))
            }
        }
    }
    entries
}

fn distinct_people<'a>(list: impl Iterator<Item = &'a (Who, Written)>) -> usize {
    let mut names: Vec<String> = list
        .filter_map(|(who, _)| match who {
            Who::Person(name) => Some(name.to_lowercase()),
            Who::Group(_) => None,
        })
        .collect();
    names.sort();
    names.dedup();
    names.len()
}

fn positive(
    text: &Spanned<String>,
    key: &str,
    source: &Source<'_>,
    errors: &mut Vec<PolicyError>,
) -> Option<Duration> {
    let problem = match parse_duration(text.get_ref()) {
        Ok(value) if !value.is_zero() => return Some(value),
        Ok(_) => format!("`{key}` must be longer than 0"),
        Err(message) => format!("`{key}`: {message}"),
    };
    errors.push(source.error(text.span(), problem));
    None
}
