//! The adaptive limit's arithmetic, without clocks or locks: fed one [`Sample`] per finished
//! vCD request, it moves the concurrency limit once per *window* (about one round trip's worth
//! of requests), in the spirit of TCP Vegas and gradient concurrency limiters:
//!
//! - **grow** by a quarter (at least 1) after a window in which requests had to wait for a slot
//!   and latency stayed near its *baseline* (the lowest window latency seen lately);
//! - **shrink** by a tenth after a window whose mean latency rose clearly above the baseline;
//! - **halve** when vCD says it is overloaded (429, 503) or does not answer, once per window:
//!   answers to requests sent before the last decrease say nothing new and are not counted.

use std::time::{Duration, Instant};

/// The limit never goes below this (nor above `max_in_flight`), so work always progresses.
const MIN_LIMIT: f64 = 2.0;
/// Where the limit starts: low enough not to hit a struggling vCD with a burst, and grown to
/// 64 within eight windows of a backlog.
const INITIAL_LIMIT: f64 = 8.0;
/// A window closes after this many samples at least, so that one slow answer at a low limit
/// does not decide alone.
const MIN_WINDOW: u32 = 4;
/// Latency counts as rising when a window's mean exceeds the baseline by this factor…
const TOLERANCE: f64 = 1.5;
/// …and by at least this much: on a fast loopback stand-in, 0.3 ms becoming 1 ms is noise.
const SLACK: Duration = Duration::from_millis(5);
/// How fast the baseline follows a latency that stays higher (per window): vCD that got slower
/// for good is learned within a few dozen windows, instead of shrinking the limit for ever.
const BASELINE_DRIFT: f64 = 0.05;

/// How a vCD request ended, as far as vCD's load is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// An answer (success or an ordinary error): its latency counts.
    Answered,
    /// vCD said it is overloaded (429, 503) or did not answer at all.
    Overloaded,
}

impl Signal {
    /// 429 and 503 mean "too much"; every other status is an answer.
    pub(crate) fn of_status(status: u16) -> Signal {
        if matches!(status, 429 | 503) {
            Signal::Overloaded
        } else {
            Signal::Answered
        }
    }
}

/// One finished request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    pub started: Instant,
    pub latency: Duration,
    pub signal: Signal,
}

/// The limit and what it is computed from.
#[derive(Debug)]
pub(crate) struct Control {
    max: f64,
    limit: f64,
    /// Lowest recent window mean latency, in seconds; `None` before the first window.
    baseline: Option<f64>,
    /// When the limit was last lowered: overload answers to older requests are not counted.
    decreased_at: Option<Instant>,
    window: Window,
}

#[derive(Debug, Default)]
struct Window {
    samples: u32,
    answered: u32,
    latency_sum: f64,
    /// Some request had to wait for a slot: the limit, not the demand, bounded the work.
    saturated: bool,
}

impl Control {
    pub(crate) fn new(max_in_flight: usize) -> Control {
        let max = max_in_flight.max(1) as f64;
        Control {
            max,
            limit: INITIAL_LIMIT.min(max),
            baseline: None,
            decreased_at: None,
            window: Window::default(),
        }
    }

    /// The number of requests that may be under way now.
    pub(crate) fn limit(&self) -> usize {
        self.limit as usize
    }

    /// A request found every slot taken and waits.
    pub(crate) fn saturated(&mut self) {
        self.window.saturated = true;
    }

    /// Takes one finished request into account; true when the limit changed.
    pub(crate) fn record(&mut self, sample: Sample, now: Instant) -> bool {
        let before = self.limit();
        if sample.signal == Signal::Overloaded {
            let news = self.decreased_at.is_none_or(|at| sample.started >= at);
            if news {
                self.set(self.limit * 0.5, Some(now));
            }
            return self.limit() != before;
        }
        let window = &mut self.window;
        window.samples += 1;
        window.answered += 1;
        window.latency_sum += sample.latency.as_secs_f64();
        if window.samples < MIN_WINDOW.max(self.limit as u32) {
            return false;
        }
        let window = std::mem::take(&mut self.window);
        let mean = window.latency_sum / f64::from(window.answered.max(1));
        let baseline = self.baseline.map_or(mean, |b| {
            if mean < b {
                mean
            } else {
                b + (mean - b) * BASELINE_DRIFT
            }
        });
        let rising = mean > baseline * TOLERANCE && mean - baseline > SLACK.as_secs_f64();
        self.baseline = Some(baseline);
        if rising {
            self.set(self.limit * 0.9, Some(now));
        } else if window.saturated {
            self.set(self.limit + (self.limit * 0.25).max(1.0), None);
        }
        self.limit() != before
    }

    fn set(&mut self, limit: f64, decreased_at: Option<Instant>) {
        self.limit = limit.clamp(MIN_LIMIT.min(self.max), self.max);
        if decreased_at.is_some() {
            self.decreased_at = decreased_at;
            self.window = Window::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(started: Instant, millis: u64) -> Sample {
        Sample {
            started,
            latency: Duration::from_millis(millis),
            signal: Signal::Answered,
        }
    }

    /// Runs `n` windows at the current limit, every request waiting for a slot, each answered
    /// after `millis`; returns the limit after each.
    fn busy_windows(
        control: &mut Control,
        clock: &mut Instant,
        n: usize,
        millis: u64,
    ) -> Vec<usize> {
        let mut limits = Vec::new();
        for _ in 0..n {
            let size = control.limit().max(MIN_WINDOW as usize);
            for _ in 0..size {
                control.saturated();
                let started = *clock;
                *clock += Duration::from_millis(millis);
                control.record(answered(started, millis), *clock);
            }
            limits.push(control.limit());
        }
        limits
    }

    #[test]
    fn grows_to_the_maximum_while_latency_stays_flat_and_no_further() {
        let mut control = Control::new(64);
        let mut clock = Instant::now();
        assert_eq!(control.limit(), 8);
        let limits = busy_windows(&mut control, &mut clock, 20, 50);
        assert_eq!(&limits[..3], &[10, 12, 15]);
        assert_eq!(*limits.last().unwrap(), 64);
        assert!(limits.iter().all(|&l| l <= 64));
    }

    #[test]
    fn does_not_grow_when_the_limit_was_not_what_held_requests_back() {
        let mut control = Control::new(64);
        let start = Instant::now();
        for i in 0..100 {
            control.record(answered(start, 50), start + Duration::from_millis(i));
        }
        assert_eq!(control.limit(), 8);
    }

    #[test]
    fn shrinks_on_rising_latency_and_learns_a_new_normal() {
        let mut control = Control::new(64);
        let mut clock = Instant::now();
        busy_windows(&mut control, &mut clock, 20, 50);
        assert_eq!(control.limit(), 64);
        let slower = busy_windows(&mut control, &mut clock, 5, 200);
        assert!(slower.windows(2).all(|w| w[1] < w[0]), "{slower:?}");
        // vCD stays at 200 ms: the baseline follows and the limit grows again.
        let later = busy_windows(&mut control, &mut clock, 200, 200);
        assert_eq!(*later.last().unwrap(), 64, "{later:?}");
    }

    #[test]
    fn latency_noise_on_a_fast_stand_in_is_not_a_rise() {
        let mut control = Control::new(64);
        let mut clock = Instant::now();
        busy_windows(&mut control, &mut clock, 3, 0);
        let limits = busy_windows(&mut control, &mut clock, 20, 3);
        assert_eq!(*limits.last().unwrap(), 64);
    }

    #[test]
    fn overload_halves_once_per_round_of_requests_and_never_below_two() {
        let mut control = Control::new(64);
        let mut clock = Instant::now();
        busy_windows(&mut control, &mut clock, 20, 50);
        let sent = clock;
        clock += Duration::from_millis(50);
        let overloaded = |started| Sample {
            started,
            latency: Duration::from_millis(50),
            signal: Signal::Overloaded,
        };
        assert!(control.record(overloaded(sent), clock));
        assert_eq!(control.limit(), 32);
        // Every other request of that round answers 503 too: already reacted to.
        for _ in 0..63 {
            assert!(!control.record(overloaded(sent), clock));
        }
        assert_eq!(control.limit(), 32);
        for _ in 0..10 {
            let started = clock;
            clock += Duration::from_millis(50);
            control.record(overloaded(started), clock);
        }
        assert_eq!(control.limit(), 2);
    }

    #[test]
    fn recovers_within_a_few_dozen_round_trips_after_overload() {
        let mut control = Control::new(64);
        let mut clock = Instant::now();
        for _ in 0..10 {
            let started = clock;
            clock += Duration::from_millis(50);
            control.record(
                Sample {
                    started,
                    latency: Duration::from_millis(50),
                    signal: Signal::Overloaded,
                },
                clock,
            );
        }
        assert_eq!(control.limit(), 2);
        let limits = busy_windows(&mut control, &mut clock, 30, 50);
        let back = limits.iter().position(|&l| l == 64).expect("back at 64");
        assert!(back < 20, "{limits:?}");
    }

    #[test]
    fn a_maximum_below_the_floor_is_kept() {
        let mut control = Control::new(1);
        let mut clock = Instant::now();
        assert_eq!(control.limit(), 1);
        assert_eq!(busy_windows(&mut control, &mut clock, 3, 10), vec![1, 1, 1]);
    }

    #[test]
    fn only_429_and_503_are_overload() {
        assert_eq!(Signal::of_status(503), Signal::Overloaded);
        assert_eq!(Signal::of_status(429), Signal::Overloaded);
        for status in [200, 204, 400, 404, 500, 502] {
            assert_eq!(Signal::of_status(status), Signal::Answered);
        }
    }
}
