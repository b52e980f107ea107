//! The adaptive limit's arithmetic, without clocks or locks: fed one [`Sample`] per finished
//! vCD request, it moves the concurrency limit once per *window* (about one round trip's worth
//! of requests), in the spirit of TCP Vegas and gradient concurrency limiters:
//!
//! - **grow** by a quarter (at least 1) after a window in which requests had to wait for a slot,
//!   latency stayed near its *baseline* (the lowest window latency seen lately) and refusals
//!   stayed near their usual share;
//! - **shrink** by a tenth after a window whose mean latency rose clearly above the baseline;
//! - **halve** when the share of *refusals* (429, 503, no answer) among the recent requests
//!   clearly exceeds its usual share, or at once when vCD sends `Retry-After`. Overload is a
//!   rate, not an event: a vCD behind a balancer with one sick cell answers a steady few
//!   percent 503 while having plenty of room, and halving on each of them kept the limit at
//!   its floor. "Clearly" is a one-sided binomial test: more refusals among the last `n` than
//!   `n·p + 3·√(n·p·(1−p)) + 1`, `p` the usual share (at least 5 %).
//!
//! Answers to requests sent before the last decrease say nothing about the limit now and are
//! not counted, so the limit falls at most once per round trip.
//!
//! Not a crate: `tower-acc` (AIMD, Gradient2, Vegas), `tower-resilience-adaptive`,
//! `rate_limiter_aimd` (vector's adaptive request concurrency) and `throttle-net` all lower
//! the limit on every failed request or on latency alone, which is what kept this limit at its
//! floor under a few percent of 503s; none weighs a share of refusals against its usual level,
//! and as tower layers or reqwest middleware they bring one queue, where the daemon needs its
//! four lines, `Retry-After` pauses and a cap that urgent work may reach.

use std::time::{Duration, Instant};

/// The limit never goes below this (nor above `max_in_flight`), so work always progresses.
/// Four, not two: with two, one slow answer halves the daemon's pace, and a vCD cell serves
/// far more requests at once than four.
const MIN_LIMIT: f64 = 4.0;
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
/// The share of refusals taken as usual, at least: a few percent of 503s from a load balancer
/// with one sick cell is not overload.
const USUAL_REFUSALS: f64 = 0.05;
/// The most the usual share learns: a vCD refusing more than a tenth of all requests is
/// overloaded, however long it has done so (a 30 % storm must never become usual).
const MAX_USUAL_REFUSALS: f64 = 0.1;
/// How fast the usual share follows the windows that were not overloaded (per window): slowly,
/// over about 500 windows (half a minute of a busy backlog at 50 ms), so that the windows of a
/// storm that happened not to trigger do not teach it.
const USUAL_DRIFT: f64 = 0.002;
/// How many standard deviations above the usual share of refusals counts as overload: with 64
/// recent requests and 5 % usual, 10 refusals (16 %); a steady 5 % reaches that about once in
/// 700 windows, a 30 % storm nearly always (and still with 10 % usual: 15 refusals).
const CONFIDENCE: f64 = 3.0;

/// How a vCD request ended, as far as vCD's load is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// An answer (success or an ordinary error): its latency counts.
    Answered,
    /// A refusal: vCD answered 429 or 503 without `Retry-After`, or did not answer at all. One
    /// says little; a share clearly above the usual one is overload.
    Refused,
    /// vCD answered 429 or 503 with `Retry-After`: it says itself that it is overloaded.
    Throttled,
}

impl Signal {
    /// 429 and 503 are refusals (throttling with `Retry-After`); every other status is an
    /// answer.
    pub(crate) fn of_status(status: u16, retry_after: bool) -> Signal {
        match (status, retry_after) {
            (429 | 503, true) => Signal::Throttled,
            (429 | 503, false) => Signal::Refused,
            _ => Signal::Answered,
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
    /// The usual share of refusals (0.0..=[`MAX_USUAL_REFUSALS`]), learnt from windows that
    /// were not overloaded.
    usual_refusals: f64,
    /// When the limit was last lowered: answers to older requests are not counted.
    decreased_at: Option<Instant>,
    /// Which of the requests since the last decrease (the last 64 at most) were refused.
    recent: Recent,
    window: Window,
}

#[derive(Debug, Default)]
struct Window {
    samples: u32,
    answered: u32,
    refused: u32,
    latency_sum: f64,
    /// Some request had to wait for a slot: the limit, not the demand, bounded the work.
    saturated: bool,
}

/// The outcomes of the last (up to) 64 requests, one bit each, 1 for a refusal.
#[derive(Debug, Default, Clone, Copy)]
struct Recent {
    bits: u64,
    len: u32,
}

impl Recent {
    fn push(&mut self, refused: bool) {
        self.bits = (self.bits << 1) | u64::from(refused);
        self.len = (self.len + 1).min(u64::BITS);
    }

    fn refused(&self) -> u32 {
        let mask = if self.len >= u64::BITS {
            u64::MAX
        } else {
            (1u64 << self.len) - 1
        };
        (self.bits & mask).count_ones()
    }

    /// True when the refusals clearly exceed what `usual` (a share) explains.
    fn overloaded(&self, usual: f64) -> bool {
        let n = f64::from(self.len);
        let p = usual.clamp(USUAL_REFUSALS, MAX_USUAL_REFUSALS);
        let expected = n * p;
        let spread = (n * p * (1.0 - p)).sqrt();
        f64::from(self.refused()) > expected + CONFIDENCE * spread + 1.0
    }
}

impl Control {
    pub(crate) fn new(max_in_flight: usize) -> Control {
        let max = max_in_flight.max(1) as f64;
        Control {
            max,
            limit: INITIAL_LIMIT.min(max),
            baseline: None,
            usual_refusals: USUAL_REFUSALS,
            decreased_at: None,
            recent: Recent::default(),
            window: Window::default(),
        }
    }

    /// The number of requests that may be under way now.
    pub(crate) fn limit(&self) -> usize {
        self.limit as usize
    }

    /// The cap, `vcd.max_in_flight`: the limit never exceeds it.
    pub(crate) fn max(&self) -> usize {
        self.max as usize
    }

    /// A request found every slot taken and waits.
    pub(crate) fn saturated(&mut self) {
        self.window.saturated = true;
    }

    /// Takes one finished request into account; true when the limit changed.
    pub(crate) fn record(&mut self, sample: Sample, now: Instant) -> bool {
        let before = self.limit();
        if self.decreased_at.is_some_and(|at| sample.started < at) {
            return false;
        }
        let window = &mut self.window;
        window.samples += 1;
        match sample.signal {
            Signal::Throttled => {
                self.set(self.limit * 0.5, Some(now));
                return self.limit() != before;
            }
            Signal::Refused => {
                window.refused += 1;
                self.recent.push(true);
            }
            Signal::Answered => {
                window.answered += 1;
                window.latency_sum += sample.latency.as_secs_f64();
                self.recent.push(false);
            }
        }
        if window.samples < MIN_WINDOW.max(self.limit as u32) {
            return false;
        }
        let window = std::mem::take(&mut self.window);
        if self.recent.overloaded(self.usual_refusals) {
            self.set(self.limit * 0.5, Some(now));
        } else if self.latency_rising(&window) {
            self.set(self.limit * 0.9, Some(now));
        } else {
            let share = f64::from(window.refused) / f64::from(window.samples);
            self.usual_refusals = (self.usual_refusals
                + (share - self.usual_refusals) * USUAL_DRIFT)
                .min(MAX_USUAL_REFUSALS);
            if window.saturated {
                self.set(self.limit + (self.limit * 0.25).max(1.0), None);
            }
        }
        self.limit() != before
    }

    /// Updates the baseline with the window's mean latency (of answered requests) and says
    /// whether it rose clearly above it.
    fn latency_rising(&mut self, window: &Window) -> bool {
        if window.answered == 0 {
            return false;
        }
        let mean = window.latency_sum / f64::from(window.answered);
        let baseline = self.baseline.map_or(mean, |b| {
            if mean < b {
                mean
            } else {
                b + (mean - b) * BASELINE_DRIFT
            }
        });
        self.baseline = Some(baseline);
        mean > baseline * TOLERANCE && mean - baseline > SLACK.as_secs_f64()
    }

    fn set(&mut self, limit: f64, decreased_at: Option<Instant>) {
        self.limit = limit.clamp(MIN_LIMIT.min(self.max), self.max);
        if decreased_at.is_some() {
            self.decreased_at = decreased_at;
            self.window = Window::default();
            self.recent = Recent::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(started: Instant, millis: u64, signal: Signal) -> Sample {
        Sample {
            started,
            latency: Duration::from_millis(millis),
            signal,
        }
    }

    /// Runs `n` windows at the current limit, every request waiting for a slot, each answered
    /// after `millis`, or refused when `refuse` says so; returns the limit after each.
    fn windows(
        control: &mut Control,
        clock: &mut Instant,
        n: usize,
        millis: u64,
        mut refuse: impl FnMut() -> bool,
    ) -> Vec<usize> {
        let mut limits = Vec::new();
        for _ in 0..n {
            let size = control.limit().max(MIN_WINDOW as usize);
            for _ in 0..size {
                control.saturated();
                let started = *clock;
                *clock += Duration::from_millis(millis);
                let signal = if refuse() {
                    Signal::Refused
                } else {
                    Signal::Answered
                };
                control.record(sample(started, millis, signal), *clock);
            }
            limits.push(control.limit());
        }
        limits
    }

    fn busy_windows(
        control: &mut Control,
        clock: &mut Instant,
        n: usize,
        millis: u64,
    ) -> Vec<usize> {
        windows(control, clock, n, millis, || false)
    }

    /// Refuses a random `share` of requests, the same ones every run.
    fn random_refusals(share: f64, seed: u64) -> impl FnMut() -> bool {
        let mut rng = fastrand::Rng::with_seed(seed);
        move || rng.f64() < share
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
            control.record(
                sample(start, 50, Signal::Answered),
                start + Duration::from_millis(i),
            );
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
    fn a_steady_five_percent_of_refusals_does_not_shrink_the_limit() {
        // Every twentieth request refused: never lowered at all.
        let mut control = Control::new(64);
        let mut clock = Instant::now();
        let mut count = 0;
        let every_twentieth = move || {
            count += 1;
            count % 20 == 0
        };
        let limits = windows(&mut control, &mut clock, 500, 50, every_twentieth);
        assert!(limits[20..].iter().all(|&l| l == 64), "{limits:?}");
        // At random, 5 % now and then clusters; the limit stays at the cap nearly always and
        // never falls far.
        for seed in 1..=5 {
            let mut control = Control::new(64);
            let limits = windows(
                &mut control,
                &mut clock,
                1000,
                50,
                random_refusals(0.05, seed),
            );
            let steady = &limits[20..];
            let at_cap = steady.iter().filter(|&&l| l == 64).count();
            assert!(
                at_cap * 100 >= steady.len() * 97,
                "seed {seed}: {at_cap} of {}",
                steady.len()
            );
            assert!(steady.iter().all(|&l| l >= 32), "seed {seed}: {limits:?}");
        }
    }

    #[test]
    fn thirty_percent_of_refusals_shrinks_the_limit_within_a_few_round_trips() {
        for seed in 1..=5 {
            let mut control = Control::new(64);
            let mut clock = Instant::now();
            busy_windows(&mut control, &mut clock, 20, 50);
            assert_eq!(control.limit(), 64);
            let storm = windows(&mut control, &mut clock, 40, 50, random_refusals(0.3, seed));
            assert!(
                storm[..3].iter().any(|&l| l <= 32),
                "seed {seed}: {storm:?}"
            );
            let median = {
                let mut sorted = storm[10..].to_vec();
                sorted.sort_unstable();
                sorted[sorted.len() / 2]
            };
            assert!(median <= 16, "seed {seed}: {storm:?}");
        }
    }

    #[test]
    fn a_higher_share_that_stays_is_learnt_as_usual_up_to_a_tenth() {
        let mut control = Control::new(64);
        let mut clock = Instant::now();
        busy_windows(&mut control, &mut clock, 20, 50);
        windows(&mut control, &mut clock, 3000, 50, random_refusals(0.08, 7));
        assert!(control.usual_refusals > 0.06, "{}", control.usual_refusals);
        windows(&mut control, &mut clock, 3000, 50, random_refusals(0.3, 7));
        assert!(control.usual_refusals <= MAX_USUAL_REFUSALS);
    }

    #[test]
    fn retry_after_halves_once_per_round_of_requests_and_never_below_the_floor() {
        let mut control = Control::new(64);
        let mut clock = Instant::now();
        busy_windows(&mut control, &mut clock, 20, 50);
        let sent = clock;
        clock += Duration::from_millis(50);
        assert!(control.record(sample(sent, 50, Signal::Throttled), clock));
        assert_eq!(control.limit(), 32);
        // Every other request of that round is throttled too: already reacted to.
        for _ in 0..63 {
            assert!(!control.record(sample(sent, 50, Signal::Throttled), clock));
        }
        assert_eq!(control.limit(), 32);
        for _ in 0..10 {
            let started = clock;
            clock += Duration::from_millis(50);
            control.record(sample(started, 50, Signal::Throttled), clock);
        }
        assert_eq!(control.limit(), MIN_LIMIT as usize);
    }

    #[test]
    fn recovers_within_a_few_dozen_round_trips_after_overload() {
        let mut control = Control::new(64);
        let mut clock = Instant::now();
        for _ in 0..10 {
            let started = clock;
            clock += Duration::from_millis(50);
            control.record(sample(started, 50, Signal::Throttled), clock);
        }
        assert_eq!(control.limit(), 4);
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
    fn only_429_and_503_are_refusals_and_with_retry_after_throttling() {
        assert_eq!(Signal::of_status(503, false), Signal::Refused);
        assert_eq!(Signal::of_status(429, false), Signal::Refused);
        assert_eq!(Signal::of_status(503, true), Signal::Throttled);
        assert_eq!(Signal::of_status(429, true), Signal::Throttled);
        for status in [200, 204, 400, 404, 500, 502] {
            assert_eq!(Signal::of_status(status, false), Signal::Answered);
            assert_eq!(Signal::of_status(status, true), Signal::Answered);
        }
    }
}
