//! Quota counts: how many tasks vCD's task history lists for a rule's `quota` (protocol notes
//! §8), as a decision sees them. The engine counts in vCD, rule by rule, when a decision asks
//! for it; a `[[test]]` (`recent = 21`) or `explain --fact recent=21` gives one count for every
//! quota instead. A count that could not be had is [`Unknown`].

use std::fmt;

use chrono::{DateTime, Utc};

use super::value::Unknown;

/// Where a count came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountSource {
    /// Given by a `[[test]]` case or `explain --fact recent=N`.
    Given,
    /// Counted in vCD's task history: tasks started at or after `since`.
    Counted { since: DateTime<Utc> },
}

/// The number of recent tasks a quota counts, this task included, and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaCount {
    pub count: u64,
    pub source: CountSource,
}

/// "counted in vCD: 21 since 2026-12-06T10:00:00Z", or "given: 21".
impl fmt::Display for QuotaCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.source {
            CountSource::Given => write!(f, "given: {}", self.count),
            CountSource::Counted { since } => write!(
                f,
                "counted in vCD: {} since {}",
                self.count,
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        }
    }
}

/// The quota counts of one task: one given for every quota, or each rule's as the engine
/// counted it. A rule is named by its place in the policy (the policy the counts were made
/// for: the engine counts afresh for every decision).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuotaCounts {
    given: Option<u64>,
    counted: Vec<(usize, Result<QuotaCount, Unknown>)>,
}

impl QuotaCounts {
    /// One count for every quota, as a test case or `explain` gives it.
    pub fn given(count: u64) -> QuotaCounts {
        QuotaCounts {
            given: Some(count),
            counted: Vec::new(),
        }
    }

    /// The count for rule `rule`; `None` when it was neither given nor counted yet.
    pub fn get(&self, rule: usize) -> Option<Result<QuotaCount, Unknown>> {
        if let Some(count) = self.given {
            return Some(Ok(QuotaCount {
                count,
                source: CountSource::Given,
            }));
        }
        self.counted
            .iter()
            .find(|(index, _)| *index == rule)
            .map(|(_, count)| count.clone())
    }

    /// Records what counting for rule `rule` found.
    pub fn set(&mut self, rule: usize, count: Result<QuotaCount, Unknown>) {
        self.counted.retain(|(index, _)| *index != rule);
        self.counted.push((rule, count));
    }

    /// What was counted in vCD, in the order it was counted.
    pub fn counted(&self) -> impl Iterator<Item = &Result<QuotaCount, Unknown>> {
        self.counted.iter().map(|(_, count)| count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_count_answers_for_every_rule_and_counted_ones_for_their_own() {
        let given = QuotaCounts::given(21);
        assert_eq!(given.get(0).map(|c| c.map(|c| c.count)), Some(Ok(21)));
        assert_eq!(given.get(7).map(|c| c.map(|c| c.count)), Some(Ok(21)));

        let since = DateTime::UNIX_EPOCH;
        let mut counts = QuotaCounts::default();
        assert_eq!(counts.get(2), None);
        let count = QuotaCount {
            count: 4,
            source: CountSource::Counted { since },
        };
        counts.set(2, Ok(count));
        counts.set(3, Err(Unknown::CountFailed("vCD answered 403".into())));
        assert_eq!(counts.get(2), Some(Ok(count)));
        assert_eq!(counts.get(1), None);
        assert_eq!(counts.counted().count(), 2);
        assert_eq!(
            count.to_string(),
            "counted in vCD: 4 since 1970-01-01T00:00:00Z"
        );
        assert_eq!(given.get(0).unwrap().unwrap().to_string(), "given: 21");
    }
}
