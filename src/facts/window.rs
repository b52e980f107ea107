//! Time windows, the facts about *when* a task is decided: a [`Window`] opens on a cron
//! schedule in an IANA time zone and stays open for a duration, or once, from one instant
//! until another. [`Windows`] holds a policy's windows and answers which are open at an
//! instant ([`OpenSet`]), computing that again only when an opening or closing has passed.
//!
//! Cron times are wall-clock times of the window's zone. One that a daylight-saving change
//! skips opens at the first instant after the gap; one that occurs twice opens once, at its
//! first occurrence. A window is open from its opening (included) for its duration of elapsed
//! time (its end excluded).

use std::fmt;
use std::sync::{Arc, Mutex};

use chrono::offset::LocalResult;
use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// How many cron occurrences one question may step through before it gives up: enough for a
/// window opening every minute to chain through a week, bounded so that no schedule makes a
/// decision slow.
const MAX_STEPS: usize = 10_080;

/// One `[[window]]`.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    pub(crate) name: Arc<str>,
    pub(crate) timing: Timing,
    /// The zone its times are shown in (and, for a schedule, read in).
    pub(crate) zone: Tz,
}

/// When a window is open.
#[derive(Debug, Clone)]
pub(crate) enum Timing {
    /// Opens at each of the schedule's wall-clock times in the window's zone, for `duration`.
    Schedule {
        cron: Box<Cron>,
        duration: TimeDelta,
    },
    /// Open from `from` (included) until `until` (excluded), once.
    Once {
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    },
}

/// Parses a 5-field cron expression (minute hour day-of-month month day-of-week; names such as
/// `MON-FRI` and `JAN` allowed); the error says what is wrong.
pub(crate) fn parse_schedule(text: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(text)
        .map_err(|error| error.to_string())
}

/// Parses an IANA zone name (`Europe/Berlin`, `UTC`), from the database compiled in.
pub(crate) fn parse_zone(text: &str) -> Option<Tz> {
    text.parse().ok()
}

impl Window {
    /// When the window, open at `now`, closes; `None` when it is closed at `now`. Occurrences
    /// of a schedule that overlap keep it open until the last of them closes.
    pub(crate) fn closes_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.timing {
            Timing::Once { from, until } => (*from <= now && now < *until).then_some(*until),
            Timing::Schedule { cron, duration } => {
                let mut opened = self.opening_after(cron, now - *duration)?;
                if opened > now {
                    return None;
                }
                let mut closes = opened + *duration;
                for _ in 0..MAX_STEPS {
                    match self.opening_after(cron, opened) {
                        Some(next) if next <= closes => {
                            opened = next;
                            closes = next + *duration;
                        }
                        _ => break,
                    }
                }
                Some(closes)
            }
        }
    }

    /// Whether the window is open at `now`.
    pub(crate) fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.closes_after(now).is_some()
    }

    /// The first instant after `now` at which the window opens or closes; `None` when it never
    /// will again.
    pub(crate) fn next_change(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if let Some(closes) = self.closes_after(now) {
            return Some(closes);
        }
        match &self.timing {
            Timing::Once { from, .. } => (*from > now).then_some(*from),
            Timing::Schedule { cron, .. } => self.opening_after(cron, now),
        }
    }

    /// The first opening strictly after `after`. The schedule is stepped through in the
    /// zone's wall-clock time; each wall-clock time is one opening, so a time that occurs
    /// twice opens once, and one that does not occur opens when the gap ends.
    fn opening_after(&self, cron: &Cron, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut local = after.with_timezone(&self.zone).naive_local();
        for _ in 0..MAX_STEPS {
            local = cron.find_next_occurrence(&local, false).ok()?;
            let instant = resolve(self.zone, local);
            if instant > after {
                return Some(instant);
            }
        }
        None
    }

    /// `Mon 06:00` within the coming week, else `2027-01-04 00:00`, in the window's zone, with
    /// the zone's abbreviation unless it is UTC's.
    pub(crate) fn show_instant(&self, instant: DateTime<Utc>, now: DateTime<Utc>) -> String {
        show_instant(self.zone, instant, now)
    }
}

/// An instant as an operator of `zone` reads it: `Mon 06:00` within the coming week, else
/// `2027-01-04 00:00`, followed by the zone's abbreviation (`CET`, `UTC`).
pub(crate) fn show_instant(zone: Tz, instant: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let local = instant.with_timezone(&zone);
    let soon = instant >= now && instant - now < TimeDelta::days(6);
    let layout = if soon {
        "%a %H:%M %Z"
    } else {
        "%Y-%m-%d %H:%M %Z"
    };
    local.format(layout).to_string()
}

/// The instant a wall-clock time of `zone` stands for: its first occurrence when it occurs
/// twice, the end of the gap when a daylight-saving change skips it.
fn resolve(zone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let mut probe = local;
    // Gaps are whole minutes long and at most a day (Samoa, 2011).
    for _ in 0..=24 * 60 {
        match zone.from_local_datetime(&probe) {
            LocalResult::Single(instant) | LocalResult::Ambiguous(instant, _) => {
                return instant.with_timezone(&Utc);
            }
            LocalResult::None => probe += TimeDelta::minutes(1),
        }
    }
    // Not reached for any zone in the database; taken as UTC rather than lost.
    local.and_utc()
}

/// Which of a policy's windows are open, by index into [`Windows`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OpenSet(Arc<[bool]>);

impl OpenSet {
    pub(crate) fn contains(&self, index: usize) -> bool {
        self.0.get(index).copied().unwrap_or(false)
    }
}

/// A policy's windows, in the order written, and the open set of the last instant asked
/// about together with the span of time it holds for.
#[derive(Default)]
pub(crate) struct Windows {
    list: Vec<Window>,
    cache: Mutex<Option<Cached>>,
}

/// The open set at every instant of `from..until` (`until` `None`: for ever after).
#[derive(Clone)]
struct Cached {
    from: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    open: OpenSet,
}

impl Windows {
    pub(crate) fn new(list: Vec<Window>) -> Windows {
        Windows {
            list,
            cache: Mutex::new(None),
        }
    }

    pub(crate) fn list(&self) -> &[Window] {
        &self.list
    }

    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        self.list.iter().position(|window| &*window.name == name)
    }

    /// The windows open at `now`. Computed again only when `now` is outside the span the
    /// last answer holds for (an opening or closing passed, or an earlier instant is asked
    /// about), so deciding costs a lock and a comparison.
    pub(crate) fn open_at(&self, now: DateTime<Utc>) -> OpenSet {
        if self.list.is_empty() {
            return OpenSet::default();
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cached) = cache.as_ref()
            && cached.from <= now
            && cached.until.is_none_or(|until| now < until)
        {
            return cached.open.clone();
        }
        let open: Arc<[bool]> = self.list.iter().map(|w| w.is_open(now)).collect();
        let until = self.list.iter().filter_map(|w| w.next_change(now)).min();
        let fresh = Cached {
            from: now,
            until,
            open: OpenSet(open),
        };
        *cache = Some(fresh.clone());
        fresh.open
    }
}

impl fmt::Debug for Windows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.list.iter().map(|w| &w.name))
            .finish()
    }
}

#[cfg(test)]
mod tests;
