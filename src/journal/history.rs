//! What the journal tells the leader once read: the latest decisions (the history that
//! `GET /v1/decisions` answers from) and, for tasks not yet decided, what people said and what
//! was announced ([`Pending`]). Built by [`Replay::apply`] record by record, in journal order,
//! the same way whether the records come from the file at start or the stream on takeover,
//! and kept up to date by the records written afterwards.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};

use super::record::{DecisionRecord, Record};
use crate::task::TaskId;

/// How many decisions are kept in memory for the history, newest first; older ones stay in
/// the journal until its retention drops them.
pub(crate) const KEPT_DECISIONS: usize = 10_000;

/// The most `GET /v1/decisions` returns at once, and what it returns without `limit`.
pub(crate) const MAX_LIMIT: usize = 1_000;
pub(crate) const DEFAULT_LIMIT: usize = 100;

/// What was journaled about a task that is not decided yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Pending {
    /// The approvals recorded, in the order given (one per approver).
    pub approvals: Vec<(String, DateTime<Utc>)>,
    /// When the latest reminder was sent.
    pub reminded: Option<DateTime<Utc>>,
    /// When the escalation was announced.
    pub escalated: Option<DateTime<Utc>>,
    /// Where the task's chat message is: its channel and `ts`.
    pub chat: Option<(String, String)>,
}

/// The journal as read so far.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    /// The latest decisions, oldest first, at most [`KEPT_DECISIONS`].
    decisions: VecDeque<DecisionRecord>,
    /// Tasks with something journaled and no decision yet.
    pending: HashMap<TaskId, Pending>,
    /// Where the chat messages of tasks decided lately are, oldest first, at most
    /// [`KEPT_CHATS`]: the decision is journaled before the message is updated to say so.
    decided_chats: VecDeque<(TaskId, (String, String))>,
}

/// The chat messages of decided tasks whose place is kept, so that the update saying how the
/// task ended finds them (about 100 KB).
const KEPT_CHATS: usize = 1024;

impl Replay {
    /// Takes one more record into account; records come in the order they were written.
    pub(crate) fn apply(&mut self, record: Record) {
        match record {
            Record::Decision(decided) => {
                if let Some(pending) = self.pending.remove(&decided.task_id) {
                    self.keep_chat(decided.task_id, pending);
                }
                if self.decisions.len() == KEPT_DECISIONS {
                    self.decisions.pop_front();
                }
                self.decisions.push_back(decided);
            }
            Record::Approval {
                task_id,
                approver,
                at,
            } => {
                let pending = self.pending.entry(task_id).or_default();
                if !pending.approvals.iter().any(|(name, _)| *name == approver) {
                    pending.approvals.push((approver, at));
                }
            }
            Record::Reminder { task_id, at } => {
                self.pending.entry(task_id).or_default().reminded = Some(at);
            }
            Record::Escalated { task_id, at } => {
                self.pending.entry(task_id).or_default().escalated = Some(at);
            }
            Record::ChatMessage {
                task_id,
                channel,
                ts,
                ..
            } => {
                self.pending.entry(task_id).or_default().chat = Some((channel, ts));
            }
            Record::Mark { .. } => {}
        }
    }

    /// What was journaled about the undecided task `id`.
    pub(crate) fn pending(&self, id: TaskId) -> Option<&Pending> {
        self.pending.get(&id)
    }

    /// Where task `id`'s chat message is (channel, `ts`), whether it waits or was decided
    /// lately.
    pub(crate) fn chat(&self, id: TaskId) -> Option<(String, String)> {
        match self.pending.get(&id) {
            Some(pending) => pending.chat.clone(),
            None => self
                .decided_chats
                .iter()
                .rev()
                .find(|(task, _)| *task == id)
                .map(|(_, chat)| chat.clone()),
        }
    }

    /// Forgets where task `id`'s chat message is.
    pub(crate) fn forget_chat(&mut self, id: TaskId) {
        if let Some(pending) = self.pending.get_mut(&id) {
            pending.chat = None;
        }
        self.decided_chats.retain(|(task, _)| *task != id);
    }

    /// Forgets what was journaled about undecided tasks vCD no longer waits for (where their
    /// chat messages are is kept a while, for the update saying so).
    pub(crate) fn retain_pending(&mut self, mut keep: impl FnMut(TaskId) -> bool) {
        let gone: Vec<TaskId> = self
            .pending
            .keys()
            .copied()
            .filter(|id| !keep(*id))
            .collect();
        for id in gone {
            if let Some(pending) = self.pending.remove(&id) {
                self.keep_chat(id, pending);
            }
        }
    }

    /// Keeps where the message of task `id`, just decided or gone, is.
    fn keep_chat(&mut self, id: TaskId, pending: Pending) {
        let Some(chat) = pending.chat else { return };
        if self.decided_chats.len() == KEPT_CHATS {
            self.decided_chats.pop_front();
        }
        self.decided_chats.push_back((id, chat));
    }

    /// The decisions at or after `since` that `visible` lets through, newest first, at most
    /// `limit`.
    pub(crate) fn decisions(
        &self,
        since: Option<DateTime<Utc>>,
        limit: usize,
        mut visible: impl FnMut(&DecisionRecord) -> bool,
    ) -> Vec<DecisionRecord> {
        self.decisions
            .iter()
            .rev()
            .take_while(|decided| since.is_none_or(|since| decided.at >= since))
            .filter(|decided| visible(decided))
            .take(limit)
            .cloned()
            .collect()
    }

    /// How many decisions are kept.
    pub(crate) fn decision_count(&self) -> usize {
        self.decisions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> TaskId {
        TaskId::parse(&format!("8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e{n:02x}")).unwrap()
    }

    fn at(minute: u32) -> DateTime<Utc> {
        format!("2026-11-20T09:{minute:02}:00Z").parse().unwrap()
    }

    fn decided(n: u8, org: &str, minute: u32) -> Record {
        Record::Decision(DecisionRecord {
            task_id: id(n),
            operation: "vdcDeleteVapp".into(),
            org: org.into(),
            user: "erin".into(),
            rule: "r".into(),
            action: "resume".into(),
            approvers: vec![],
            at: at(minute),
        })
    }

    #[test]
    fn approvals_are_kept_until_the_task_is_decided_and_count_each_approver_once() {
        let mut replay = Replay::default();
        for approver in ["carol", "carol"] {
            replay.apply(Record::Approval {
                task_id: id(1),
                approver: approver.into(),
                at: at(1),
            });
        }
        replay.apply(Record::Reminder {
            task_id: id(1),
            at: at(2),
        });
        replay.apply(Record::ChatMessage {
            task_id: id(1),
            channel: "C0123ABCD".into(),
            ts: "1700000000.000100".into(),
            at: at(2),
        });
        let pending = replay.pending(id(1)).unwrap();
        assert_eq!(pending.approvals, vec![("carol".to_owned(), at(1))]);
        assert_eq!(pending.reminded, Some(at(2)));
        assert_eq!(
            pending.chat,
            Some(("C0123ABCD".to_owned(), "1700000000.000100".to_owned()))
        );
        replay.apply(decided(1, "prod", 3));
        assert_eq!(replay.pending(id(1)), None);
    }

    #[test]
    fn a_chat_message_is_found_after_its_task_was_decided_or_gone() {
        let mut replay = Replay::default();
        for n in [1, 2] {
            replay.apply(Record::ChatMessage {
                task_id: id(n),
                channel: "C0123ABCD".into(),
                ts: format!("1700000000.00010{n}"),
                at: at(1),
            });
        }
        let chat = |n: u8| ("C0123ABCD".to_owned(), format!("1700000000.00010{n}"));
        // The decision is journaled before the message is updated to say so.
        replay.apply(decided(1, "prod", 2));
        assert_eq!(replay.pending(id(1)), None);
        assert_eq!(replay.chat(id(1)), Some(chat(1)));
        // vCD stopped waiting for task 2: it leaves the pending tasks, its message stays known.
        replay.retain_pending(|task| task != id(2));
        assert_eq!(replay.pending(id(2)), None);
        assert_eq!(replay.chat(id(2)), Some(chat(2)));
        replay.forget_chat(id(2));
        assert_eq!(replay.chat(id(2)), None);
        assert_eq!(replay.chat(id(3)), None);
    }

    #[test]
    fn decisions_come_newest_first_since_a_time_filtered_and_limited() {
        let mut replay = Replay::default();
        for (n, org) in [(1, "prod"), (2, "test"), (3, "prod"), (4, "prod")] {
            replay.apply(decided(n, org, u32::from(n)));
        }
        let ids = |list: Vec<DecisionRecord>| list.iter().map(|d| d.task_id).collect::<Vec<_>>();
        assert_eq!(
            ids(replay.decisions(None, 10, |_| true)),
            [id(4), id(3), id(2), id(1)]
        );
        assert_eq!(
            ids(replay.decisions(Some(at(2)), 10, |d| d.org == "prod")),
            [id(4), id(3)]
        );
        assert_eq!(ids(replay.decisions(None, 1, |_| true)), [id(4)]);
    }

    #[test]
    fn only_the_latest_decisions_are_kept() {
        let mut replay = Replay::default();
        for minute in 0..(KEPT_DECISIONS as u32 + 5) {
            replay.apply(decided(1, "prod", minute % 60));
        }
        assert_eq!(replay.decision_count(), KEPT_DECISIONS);
    }
}
