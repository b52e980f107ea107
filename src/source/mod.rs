//! Sources of task ids, behind one seam. A [`Source`] turns its input into
//! [`TaskId`](crate::task::TaskId)s and hands each to
//! [`Engine::handle_task`](crate::engine::Engine::handle_task) (a source of messages through
//! [`settle`]), then does what the returned [`Disposition`](crate::engine::Disposition) says
//! with whatever announced it. [`start`] registers a source (its liveness loop, its part in
//! readiness and the `STATUS=` line) and runs it: always, or during each term this instance
//! leads.
//!
//! - [`amqp`]: the fast source, vCD's notifications on RabbitMQ; it also holds the leader
//!   queue, so it runs always and finds out who leads.
//! - [`reconcile`]: the safety net, vCD's list of active blocking tasks, at the start of each
//!   term and every `reconcile.interval`; in poll mode the only source.

pub(crate) mod amqp;
pub(crate) mod reconcile;
pub(crate) mod settle;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::health::{Condition, Health, SourceHealth};
use crate::leadership::{Leadership, Role};
use crate::liveness::{Heartbeat, Liveness};

/// What a source's run is: a future that ends when its token is cancelled.
pub(crate) type Run = Pin<Box<dyn Future<Output = ()> + Send>>;

/// When the daemon runs a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Runs {
    /// Once, from start to shutdown (the AMQP session, which itself finds out who leads).
    Always,
    /// Once per term this instance leads, until the term ends.
    WhileLeading,
}

/// A source of task ids, as the daemon registers and runs it.
pub(crate) trait Source: Send + Sync + 'static {
    /// Its name, also its liveness loop's: `/livez` names it when it is stuck, and
    /// `VCD_BLOCKD_TEST_STALL` takes it.
    fn name(&self) -> &'static str;

    /// When it runs.
    fn runs(&self) -> Runs;

    /// How it stands for readiness and the `STATUS=` line until it first reports; `None` when
    /// it takes no part in them (reconciliation beside a broker: the broker session speaks).
    fn first_condition(&self) -> Option<Condition>;

    /// Runs until `until` is cancelled (shutdown, or for [`Runs::WhileLeading`] the term's
    /// end), beating at least every [`Report::beat_every`] and reporting how it stands. It
    /// may finish the step under way before it returns.
    fn run(self: Arc<Self>, report: Report, until: CancellationToken) -> Run;
}

/// What a running source reports through: its heartbeat and, when it takes part, its
/// condition.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    heartbeat: Heartbeat,
    health: Option<SourceHealth>,
}

impl Report {
    /// The source made progress now.
    pub(crate) fn beat(&self) {
        self.heartbeat.beat();
    }

    /// The longest the source may go between beats.
    pub(crate) fn beat_every(&self) -> std::time::Duration {
        self.heartbeat.every()
    }

    /// Runs `wait` (a sleep, a backoff, a step that ends by itself) while beating.
    pub(crate) async fn beating<T>(&self, wait: impl Future<Output = T>) -> T {
        self.heartbeat.beating(wait).await
    }

    /// Says how the source stands now; nothing for a source that takes no part.
    pub(crate) fn condition(&self, condition: Condition) {
        if let Some(health) = &self.health {
            health.set(condition);
        }
    }
}

/// Registers `source` with liveness and health and spawns it; the handle ends after
/// `shutdown` once the source has stopped.
pub(crate) fn start(
    source: Arc<dyn Source>,
    liveness: &Arc<Liveness>,
    health: &Health,
    leadership: Arc<Leadership>,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    let name = source.name();
    let report = Report {
        heartbeat: liveness.register(name),
        health: source
            .first_condition()
            .map(|first| health.register_source(name, first)),
    };
    match source.runs() {
        Runs::Always => tokio::spawn(source.run(report, shutdown)),
        Runs::WhileLeading => tokio::spawn(each_term(source, report, leadership, shutdown)),
    }
}

/// Runs `source` during each term, beating for it while this instance stands by. A new term
/// (also one that follows the last at once) starts a new run.
async fn each_term(
    source: Arc<dyn Source>,
    report: Report,
    leadership: Arc<Leadership>,
    shutdown: CancellationToken,
) {
    let mut role = leadership.subscribe();
    loop {
        let term = *role.borrow_and_update();
        let stopped = match term {
            Role::Standby => report.beating(next_term(&mut role, &shutdown)).await,
            Role::Leader { .. } => {
                let until = shutdown.child_token();
                let running = source.clone().run(report.clone(), until.clone());
                tokio::pin!(running);
                tokio::select! {
                    // Shutdown, or a source that ended by itself: nothing to run until the next term.
                    () = &mut running => report.beating(next_term(&mut role, &shutdown)).await,
                    changed = role.changed() => {
                        // The term ended or another began: the run finishes its step first.
                        until.cancel();
                        running.await;
                        changed.is_err()
                    }
                }
            }
        };
        if stopped {
            return;
        }
    }
}

/// Waits until the role changes (false) or the daemon stops (true).
async fn next_term(
    role: &mut tokio::sync::watch::Receiver<Role>,
    shutdown: &CancellationToken,
) -> bool {
    tokio::select! {
        changed = role.changed() => changed.is_err(),
        () = shutdown.cancelled() => true,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use prometheus_client::metrics::gauge::Gauge;

    use super::*;
    use crate::leadership::TermEnd;

    /// Records when its runs start and end.
    #[derive(Default)]
    struct Recorder {
        events: Mutex<Vec<&'static str>>,
    }

    impl Recorder {
        fn events(&self) -> Vec<&'static str> {
            self.events.lock().unwrap().clone()
        }
    }

    impl Source for Recorder {
        fn name(&self) -> &'static str {
            "recorder"
        }

        fn runs(&self) -> Runs {
            Runs::WhileLeading
        }

        fn first_condition(&self) -> Option<Condition> {
            None
        }

        fn run(self: Arc<Self>, report: Report, until: CancellationToken) -> Run {
            Box::pin(async move {
                self.events.lock().unwrap().push("start");
                report.beating(until.cancelled()).await;
                self.events.lock().unwrap().push("end");
            })
        }
    }

    async fn settled() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_source_that_runs_while_leading_runs_once_per_term_and_stops_when_it_ends() {
        let leadership = Arc::new(Leadership::standby(Gauge::default()));
        let liveness = Arc::new(Liveness::default());
        let health = Health::default();
        let shutdown = CancellationToken::new();
        let recorder = Arc::new(Recorder::default());
        let running = start(
            recorder.clone(),
            &liveness,
            &health,
            leadership.clone(),
            shutdown.clone(),
        );
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        assert_eq!(
            recorder.events(),
            Vec::<&str>::new(),
            "not while standing by"
        );
        leadership.gain();
        settled().await;
        assert_eq!(recorder.events(), ["start"]);
        leadership.lose(TermEnd::ConnectionLost);
        settled().await;
        assert_eq!(recorder.events(), ["start", "end"]);
        leadership.gain();
        settled().await;
        assert_eq!(recorder.events(), ["start", "end", "start"]);
        shutdown.cancel();
        running.await.unwrap();
        assert_eq!(recorder.events(), ["start", "end", "start", "end"]);
        assert!(health.statuses().is_empty(), "it takes no part in STATUS=");
    }
}
