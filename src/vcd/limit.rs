//! [`Limiter`]: how many requests to vCD may be under way at once. Every request takes a slot
//! ([`Permit`]) for as long as it runs; the number of slots is an adaptive limit (`control`)
//! between 4 and `vcd.max_in_flight`. Requests that find no free slot queue in four lines:
//!
//! - **urgent** (keepalives and their retries, approvals, fallbacks: whatever runs inside
//!   [`urgent`]) is always served first, and may use slots above the adaptive limit up to
//!   `vcd.max_in_flight`, so neither a backlog nor a lowered limit starves a held task;
//! - **takeover** (a new leader's first listing and its reads: whatever runs inside
//!   [`takeover`]) next, so the holds an earlier leader kept are found again ahead of a
//!   backlog of notifications;
//! - **bulk** (reading and deciding announced tasks) next;
//! - **background** (reconciliation: whatever runs inside [`background`]) only when no bulk
//!   request waits, or once it has waited [`BACKGROUND_PATIENCE`]. While a backlog of
//!   notifications drains, listing and reading the same tasks again would only slow it down.
//!
//! A `Retry-After` from vCD holds every new request back until it has passed.

mod control;

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

pub(crate) use control::Signal;
use control::{Control, Sample};

use crate::metrics::Metrics;

/// The longest `Retry-After` honoured: a bogus header must not stop the daemon for hours.
const MAX_PAUSE: Duration = Duration::from_secs(60);
/// The longest a background request (reconciliation) waits behind bulk ones: under a backlog
/// that never drains, reconciliation still goes on, one request per slot freed after this.
pub(crate) const BACKGROUND_PATIENCE: Duration = Duration::from_secs(30);

tokio::task_local! {
    static PRIORITY: Priority;
}

/// Which line a request waits in when every slot is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Priority {
    Urgent,
    Takeover,
    Bulk,
    Background,
}

/// Runs `work` with its vCD requests in the urgent line (keepalives, approvals, fallbacks).
pub(crate) async fn urgent<F: Future>(work: F) -> F::Output {
    PRIORITY.scope(Priority::Urgent, work).await
}

/// Runs `work` with its vCD requests in the takeover line (a new leader finding the holds of
/// the one before); an [`urgent`] block inside it is still urgent.
pub(crate) async fn takeover<F: Future>(work: F) -> F::Output {
    PRIORITY.scope(Priority::Takeover, work).await
}

/// Wraps `work` to run in the line of the caller, for work the caller spawns as its own
/// tokio task (a task-local line does not pass to spawned tasks by itself).
pub(crate) fn same_line<F: Future>(work: F) -> impl Future<Output = F::Output> {
    PRIORITY.scope(current_priority(), work)
}

/// Runs `work` with its vCD requests in the background line (reconciliation); an
/// [`urgent`] block inside it is still urgent.
pub(crate) async fn background<F: Future>(work: F) -> F::Output {
    PRIORITY.scope(Priority::Background, work).await
}

fn current_priority() -> Priority {
    PRIORITY.try_with(|p| *p).unwrap_or(Priority::Bulk)
}

/// The slots, shared by every request the client sends.
#[derive(Debug)]
pub(crate) struct Limiter {
    state: Mutex<State>,
    metrics: Arc<Metrics>,
}

#[derive(Debug)]
struct State {
    control: Control,
    in_flight: usize,
    urgent: VecDeque<oneshot::Sender<()>>,
    takeover: VecDeque<oneshot::Sender<()>>,
    bulk: VecDeque<oneshot::Sender<()>>,
    /// With when each began to wait, for [`BACKGROUND_PATIENCE`].
    background: VecDeque<(tokio::time::Instant, oneshot::Sender<()>)>,
    /// No request starts before this (vCD's `Retry-After`).
    paused_until: Option<tokio::time::Instant>,
}

impl Limiter {
    pub(crate) fn new(max_in_flight: usize, metrics: Arc<Metrics>) -> Limiter {
        let control = Control::new(max_in_flight);
        metrics.vcd_concurrency_limit.set(control.limit() as i64);
        Limiter {
            state: Mutex::new(State {
                control,
                in_flight: 0,
                urgent: VecDeque::new(),
                takeover: VecDeque::new(),
                bulk: VecDeque::new(),
                background: VecDeque::new(),
                paused_until: None,
            }),
            metrics,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for a slot (and for any `Retry-After` to pass) and takes it.
    pub(crate) async fn acquire(&self) -> Permit<'_> {
        let priority = current_priority();
        loop {
            let waiting = {
                let mut state = self.state();
                let (ahead, slots) = match priority {
                    Priority::Urgent => (!state.urgent.is_empty(), state.control.max()),
                    Priority::Takeover => (
                        !state.urgent.is_empty() || !state.takeover.is_empty(),
                        state.control.limit(),
                    ),
                    Priority::Bulk => (
                        !state.urgent.is_empty()
                            || !state.takeover.is_empty()
                            || !state.bulk.is_empty(),
                        state.control.limit(),
                    ),
                    Priority::Background => (
                        !state.urgent.is_empty()
                            || !state.takeover.is_empty()
                            || !state.bulk.is_empty()
                            || !state.background.is_empty(),
                        state.control.limit(),
                    ),
                };
                if state.in_flight < slots && !ahead {
                    state.in_flight += 1;
                    self.metrics.vcd_in_flight.set(state.in_flight as i64);
                    None
                } else {
                    state.control.saturated();
                    let (sender, receiver) = oneshot::channel();
                    match priority {
                        Priority::Urgent => state.urgent.push_back(sender),
                        Priority::Takeover => state.takeover.push_back(sender),
                        Priority::Bulk => state.bulk.push_back(sender),
                        Priority::Background => {
                            state
                                .background
                                .push_back((tokio::time::Instant::now(), sender));
                        }
                    }
                    Some(receiver)
                }
            };
            if let Some(receiver) = waiting {
                let mut wait = Waiting {
                    receiver: Some(receiver),
                    limiter: self,
                };
                if !wait.granted().await {
                    continue;
                }
            }
            // Held while a Retry-After runs out, so that cancelling here frees the slot.
            let mut permit = Permit {
                limiter: self,
                started: Instant::now(),
                done: false,
            };
            let paused_until = self.state().paused_until;
            if let Some(until) = paused_until {
                tokio::time::sleep_until(until).await;
                permit.started = Instant::now();
            }
            return permit;
        }
    }

    /// vCD asked for no requests during `wait` (`Retry-After`, at most a minute).
    pub(crate) fn pause(&self, wait: Duration) {
        let until = tokio::time::Instant::now() + wait.min(MAX_PAUSE);
        let mut state = self.state();
        state.paused_until = Some(state.paused_until.map_or(until, |u| u.max(until)));
    }

    /// The limit now (for tests and the benchmark's view through `/metrics`).
    #[cfg(test)]
    fn limit(&self) -> usize {
        self.state().control.limit()
    }

    /// Gives a slot back, with what the request taught about vCD's load when it finished.
    fn release(&self, sample: Option<Sample>) {
        let mut state = self.state();
        state.in_flight -= 1;
        if let Some(sample) = sample
            && state.control.record(sample, Instant::now())
        {
            self.metrics
                .vcd_concurrency_limit
                .set(state.control.limit() as i64);
        }
        if state
            .paused_until
            .is_some_and(|until| until <= tokio::time::Instant::now())
        {
            state.paused_until = None;
        }
        grant(&mut state, tokio::time::Instant::now());
        self.metrics.vcd_in_flight.set(state.in_flight as i64);
    }
}

/// Hands free slots to waiters: urgent first (up to the cap), then, within the limit,
/// takeover, a background request that has waited its patience out, bulk, then background; a
/// waiter that gave up is skipped.
fn grant(state: &mut State, now: tokio::time::Instant) {
    loop {
        let next = if state.in_flight < state.control.max() && !state.urgent.is_empty() {
            state.urgent.pop_front()
        } else if state.in_flight < state.control.limit() {
            next_within_limit(state, now)
        } else {
            None
        };
        let Some(next) = next else {
            return;
        };
        if next.send(()).is_ok() {
            state.in_flight += 1;
        }
    }
}

fn next_within_limit(state: &mut State, now: tokio::time::Instant) -> Option<oneshot::Sender<()>> {
    let overdue = state
        .background
        .front()
        .is_some_and(|(since, _)| now.duration_since(*since) >= BACKGROUND_PATIENCE);
    let background = |state: &mut State| state.background.pop_front().map(|(_, sender)| sender);
    if let Some(next) = state.takeover.pop_front() {
        return Some(next);
    }
    if overdue {
        return background(state);
    }
    state.bulk.pop_front().or_else(|| background(state))
}

/// A request waiting in line. Dropped before its turn (the request was cancelled), it leaves
/// the line; dropped just after a slot was handed to it, it gives the slot back.
struct Waiting<'a> {
    receiver: Option<oneshot::Receiver<()>>,
    limiter: &'a Limiter,
}

impl Waiting<'_> {
    /// True once a slot is ours; false if the line was dropped (then queue again).
    async fn granted(&mut self) -> bool {
        let Some(receiver) = self.receiver.as_mut() else {
            return false;
        };
        let granted = receiver.await.is_ok();
        self.receiver = None;
        granted
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(mut receiver) = self.receiver.take() {
            receiver.close();
            if receiver.try_recv().is_ok() {
                self.limiter.release(None);
            }
        }
    }
}

/// One slot, held while a request runs. [`Permit::finish`] reports how it went; a permit
/// dropped without that (the request was cancelled) frees the slot and teaches nothing.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    limiter: &'a Limiter,
    started: Instant,
    done: bool,
}

impl Permit<'_> {
    pub(crate) fn finish(mut self, signal: Signal) {
        self.done = true;
        self.limiter.release(Some(Sample {
            started: self.started,
            latency: self.started.elapsed(),
            signal,
        }));
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.limiter.release(None);
        }
    }
}

#[cfg(test)]
mod tests;
