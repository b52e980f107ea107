//! Tasks a rule hands to a decision service (`action = "ask"`). The task is held like any
//! other (kept alive by the scheduler, its deadline's fallback applied there, approvers may
//! decide it) and its delivery acknowledged; one loop per task asks the service outside the
//! task's single flight, so a slow service delays only the tasks that ask it, and applies the
//! answer inside it. A `hold` answer, or an error with `on_error = "hold"`, waits `recheck`
//! and asks again; any other answer or error policy decides the task.
//!
//! What is being asked is kept in [`Asking`], apart from the hold registry: an entry per task
//! whose loop runs, refreshed whenever the policy decides the task again (a reload may change
//! the service or `recheck`) and removed when the task is decided, no longer asks, or leaves
//! the registry; a loop that finds its entry gone ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::Utc;

use super::{Engine, audit};
use crate::ask::{AskError, Question, Reply};
use crate::facts::TaskFacts;
use crate::journal::DecisionRecord;
use crate::notify::Event;
use crate::outcome::{AuditOutcome, WebhookEvent};
use crate::policy::{Answer, Ask, Decision, OnError};
use crate::task::{BlockingTask, FinalAction, TaskId};
use crate::vcd::ErrorClass;

/// How soon a task is asked again after vCD refused to carry out its service's decision.
const AFTER_VCD_FAILED: Duration = Duration::from_secs(15);

/// One task being asked.
#[derive(Debug, Clone)]
struct Entry {
    /// The rule's `ask`, as the policy last decided the task.
    ask: Ask,
    question: Question,
    /// The rule's rendered message: vCD's message when the service gives none.
    message: Arc<str>,
    /// Asks sent so far.
    attempts: u32,
    /// Whether `held` was announced (after the first `hold`, or an error held the task).
    announced: bool,
    /// Which loop asks: a loop that finds another's number here (the entry was removed and
    /// made anew while it slept) ends, so that a task is never asked by two at once.
    asker: u64,
}

/// The tasks being asked, each with its loop running.
#[derive(Debug, Default)]
pub(super) struct Asking {
    entries: Mutex<HashMap<TaskId, Entry>>,
    /// The number of the last loop started.
    started: AtomicU64,
}

impl Asking {
    fn map(&self) -> MutexGuard<'_, HashMap<TaskId, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The task no longer asks: its loop ends at its next look.
    pub(super) fn remove(&self, id: TaskId) {
        self.map().remove(&id);
    }

    /// Every loop ends at its next look (the term ended).
    pub(super) fn clear(&self) {
        self.map().clear();
    }
}

/// What an answer (or an error) decides.
enum Verdict {
    Decide {
        action: FinalAction,
        message: String,
    },
    Hold,
}

impl Engine {
    /// The policy decided `ask` for a task now in the hold registry: starts its loop, or
    /// refreshes what the running loop asks.
    pub(super) fn start_asking(
        &self,
        task: &BlockingTask,
        facts: &TaskFacts,
        decision: &Decision,
        ask: &Ask,
    ) {
        let Some(held) = self.holds.get(task.id) else {
            return;
        };
        let question = Question {
            task_id: task.id,
            facts: facts.clone(),
            rule: decision.rule.clone(),
            created: task.created,
            deadline: held.view.deadline,
        };
        let mut map = self.asking.map();
        if let Some(entry) = map.get_mut(&task.id) {
            entry.ask = ask.clone();
            entry.question = question;
            entry.message = decision.message.as_str().into();
            return;
        }
        let asker = self.asking.started.fetch_add(1, Ordering::Relaxed) + 1;
        map.insert(
            task.id,
            Entry {
                ask: ask.clone(),
                question,
                message: decision.message.as_str().into(),
                attempts: 0,
                announced: false,
                asker,
            },
        );
        drop(map);
        let Some(engine) = self.me.upgrade() else {
            return;
        };
        tokio::spawn(engine.keep_asking(task.id, asker));
    }

    /// Task `id` was decided in vCD while it was asked: announced as `gone` when its `held`
    /// was announced, else forgotten as quietly as it was held.
    fn end(&self, id: TaskId, announced: bool) {
        if announced {
            self.gone(id);
        } else {
            self.forget(id);
        }
    }

    /// The task's loop: ask, apply the answer, and after a `hold` wait `recheck` and ask
    /// again, until the task is decided or leaves the registry.
    async fn keep_asking(self: Arc<Self>, id: TaskId, asker: u64) {
        loop {
            let Some(entry) = self.next_ask(id, asker) else {
                return;
            };
            let result = self
                .services
                .ask(&entry.ask.service, &entry.question, entry.attempts)
                .await;
            match self.apply_answer(id, asker, entry.attempts, result).await {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return,
            }
        }
    }

    /// Counts the next ask of `id` by loop `asker` and hands back what to ask; `None` (and
    /// the entry gone) when the task no longer waits to be asked, or another loop asks it.
    fn next_ask(&self, id: TaskId, asker: u64) -> Option<Entry> {
        let mut map = self.asking.map();
        if map.get(&id).is_none_or(|entry| entry.asker != asker) {
            return None;
        }
        if !self.leadership.is_leader() || !self.holds.contains(id) {
            map.remove(&id);
            return None;
        }
        let entry = map.get_mut(&id)?;
        entry.attempts += 1;
        Some(entry.clone())
    }

    /// Applies what the service said about ask number `attempt`, inside the task's single
    /// flight and only while the task is still held (an approver, the fallback or vCD may
    /// have decided it meanwhile). Returns how long to wait before asking again, or `None`
    /// when the task is done with.
    async fn apply_answer(
        &self,
        id: TaskId,
        asker: u64,
        attempt: u32,
        result: Result<Reply, AskError>,
    ) -> Option<Duration> {
        let _flight = self.flights.enter(id).await;
        let entry = self.asking.map().get(&id).cloned()?;
        if entry.asker != asker {
            // A reload took the task out and in again meanwhile: another loop asks it now.
            return None;
        }
        let Some(held) = self.holds.get(id) else {
            // Decided, or dropped by reconciliation, while it was asked.
            self.asking.remove(id);
            return None;
        };
        let ask = &entry.ask;
        let (answered, verdict) = match &result {
            Ok(reply) => (
                reply.answer.name(),
                match reply.answer {
                    Answer::Decide(action) => Verdict::Decide {
                        action,
                        message: reply
                            .message
                            .clone()
                            .unwrap_or_else(|| entry.message.to_string()),
                    },
                    Answer::Hold => Verdict::Hold,
                },
            ),
            Err(_) => (
                "error",
                match ask.on_error {
                    OnError::Hold => Verdict::Hold,
                    OnError::Decide(action) => Verdict::Decide {
                        action,
                        message: entry.message.to_string(),
                    },
                },
            ),
        };
        let error = result.as_ref().err().map(ToString::to_string);
        let Verdict::Decide { action, message } = verdict else {
            audit::asked(
                &held.view,
                &ask.service,
                attempt,
                answered,
                error.as_deref(),
                "hold",
                AuditOutcome::StillHeld,
                &entry.message,
            );
            if !entry.announced {
                if let Some(entry) = self.asking.map().get_mut(&id) {
                    entry.announced = true;
                }
                self.notifier
                    .send(held.event(WebhookEvent::Held, &held.message, Utc::now()));
            }
            return Some(ask.recheck);
        };
        let acted = crate::vcd::urgent(self.vcd.act(id, action, &message)).await;
        match acted {
            Ok(()) => {
                self.forget(id);
                self.decided.insert(id);
                self.metrics.decision(action.name(), &held.view.rule, false);
                let decided = DecisionRecord::of_hold(&held.view, action, Vec::new(), Utc::now());
                self.journal.decided(decided).await;
                audit::asked(
                    &held.view,
                    &ask.service,
                    attempt,
                    answered,
                    error.as_deref(),
                    action.name(),
                    AuditOutcome::Done,
                    &message,
                );
                if entry.announced {
                    let kind = if action == FinalAction::Resume {
                        WebhookEvent::Approved
                    } else {
                        WebhookEvent::Rejected
                    };
                    self.notifier.send(Event {
                        action: Some(action),
                        ..held.event(kind, &message, Utc::now())
                    });
                }
                None
            }
            Err(failure) => {
                if matches!(failure.class(), ErrorClass::Refused | ErrorClass::NotFound) {
                    match self.vcd.blocking_task_now(id).await {
                        Ok(task) if !task.status.is_active() => {
                            self.end(id, entry.announced);
                            audit::asked(
                                &held.view,
                                &ask.service,
                                attempt,
                                answered,
                                error.as_deref(),
                                action.name(),
                                AuditOutcome::AlreadyDecided,
                                &message,
                            );
                            return None;
                        }
                        Err(reread) if reread.class() == ErrorClass::NotFound => {
                            self.end(id, entry.announced);
                            return None;
                        }
                        _ => {}
                    }
                }
                tracing::warn!(task_id = %id, service = %ask.service, action = action.name(), error = %failure, "vCD did not take the decision service's answer; the service is asked again");
                Some(AFTER_VCD_FAILED.min(ask.recheck))
            }
        }
    }
}
