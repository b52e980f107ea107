//! What a click in Slack does. The clicking Slack user is the approver whose `slack_user` it
//! is; Approve and the reason dialog's submission run the same [`admin::execute`] as
//! `POST /v1/holds/{id}/approve` and `…/reject` (scope, self-approval, the rule's approvers,
//! N of M, the journal). Reject first opens the dialog. Whoever may not decide is told why in
//! a message only they see (`chat.postEphemeral`), and nothing happens. An interaction
//! delivered twice (the same envelope, or the same click or submission) is acted on once.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use super::api::Api;
use super::message::{self, Interaction};
use crate::admin::{self, Call, ListedHold};
use crate::approvers::{Approver, Approvers};
use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::outcome::ChatOutcome;

/// How many interactions are remembered to tell a delivery again.
const REMEMBERED: usize = 4096;

/// Acts on interactions for the leader.
pub(crate) struct Desk {
    engine: Arc<Engine>,
    approvers: Option<Arc<Approvers>>,
    api: Arc<Api>,
    /// Where refusals go when the interaction names no channel (a dialog's submission).
    channel: String,
    metrics: Arc<Metrics>,
    seen: Mutex<Seen>,
}

/// The keys of the latest interactions and envelopes, oldest first.
#[derive(Debug, Default)]
struct Seen {
    order: VecDeque<String>,
    keys: HashSet<String>,
}

impl Seen {
    /// Records `keys`; false when any of them was seen before.
    fn first_time(&mut self, keys: &[String]) -> bool {
        let new = keys.iter().all(|key| !self.keys.contains(key));
        for key in keys {
            if self.keys.insert(key.clone()) {
                self.order.push_back(key.clone());
            }
        }
        while self.order.len() > REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.keys.remove(&old);
            }
        }
        new
    }
}

impl Desk {
    pub(crate) fn new(
        engine: Arc<Engine>,
        approvers: Option<Arc<Approvers>>,
        api: Arc<Api>,
        channel: String,
        metrics: Arc<Metrics>,
    ) -> Desk {
        Desk {
            engine,
            approvers,
            api,
            channel,
            metrics,
            seen: Mutex::default(),
        }
    }

    /// Acts on one interaction `payload`; `envelope` is its Socket Mode envelope id. Returns
    /// once it was acted on, refused or found delivered before.
    pub(crate) async fn handle(&self, payload: &Value, envelope: Option<&str>) {
        let interaction = message::interaction(payload);
        let Some(key) = interaction.key() else {
            return;
        };
        let mut keys = vec![key.to_owned()];
        keys.extend(envelope.map(|id| format!("envelope:{id}")));
        let first = self
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .first_time(&keys);
        if !first {
            self.metrics.chat_decision(ChatOutcome::Duplicate);
            tracing::debug!(key, "Slack interaction delivered again: ignored");
            return;
        }
        self.act(interaction).await;
    }

    async fn act(&self, interaction: Interaction) {
        match interaction {
            Interaction::Click {
                user,
                approve,
                task,
                trigger_id,
                channel,
                ..
            } => {
                let channel = channel.unwrap_or_else(|| self.channel.clone());
                self.click(&user, approve, task, trigger_id, &channel).await;
            }
            Interaction::Reason {
                user, task, reason, ..
            } => {
                let channel = self.channel.clone();
                let Some(approver) = self.approver(&user, &channel).await else {
                    return;
                };
                let call = Call::Reject {
                    id: task,
                    action: None,
                    message: (!reason.is_empty()).then_some(reason),
                };
                self.decide(&approver, call, &channel, &user).await;
            }
            Interaction::Other => {}
        }
    }

    /// `user` clicked Approve (`approve`) or Reject on `task`'s message in `channel`: approves,
    /// or opens the reason dialog with `trigger_id`, when they may decide it.
    async fn click(
        &self,
        user: &str,
        approve: bool,
        task: String,
        trigger_id: Option<String>,
        channel: &str,
    ) {
        let Some(approver) = self.approver(user, channel).await else {
            return;
        };
        if let Some(why) = self.why_not(&approver, &task).await {
            return self.refuse(channel, user, &why).await;
        }
        if approve {
            let call = Call::Approve {
                id: task,
                message: None,
            };
            self.decide(&approver, call, channel, user).await;
        } else if let Some(trigger_id) = trigger_id {
            let dialog = message::reason_dialog(&task);
            if let Err(error) = self.api.open_view(&trigger_id, &dialog).await {
                tracing::warn!(task_id = task, %error, "the reason dialog could not be opened");
            }
        }
    }

    /// The approver Slack user `user` is; tells them and counts a refusal when none is.
    async fn approver(&self, user: &str, channel: &str) -> Option<Arc<Approver>> {
        let found = self
            .approvers
            .as_ref()
            .and_then(|approvers| approvers.find_slack_user(user));
        if found.is_none() {
            let why = format!(
                "you are not among vcd-blockd's approvers: its operator can add \
                 slack_user = \"{user}\" to your [[approver]] entry"
            );
            self.refuse(channel, user, &why).await;
        }
        found
    }

    /// Why `approver` may not decide held task `task` now, in the approvals page's words;
    /// `None` when they may, or when the task is not among those they see (the decision
    /// itself then says why).
    async fn why_not(&self, approver: &Approver, task: &str) -> Option<String> {
        let answer = admin::execute(&self.engine, approver, Call::List).await;
        let holds: Vec<ListedHold> = serde_json::from_value(answer.body).ok()?;
        let listed = holds
            .into_iter()
            .find(|held| held.hold.id.to_string() == task)?;
        listed.why_not
    }

    /// Runs `call` as `approver`; a refusal or failure is told to `user`.
    async fn decide(&self, approver: &Approver, call: Call, channel: &str, user: &str) {
        let approving = matches!(call, Call::Approve { .. });
        let answer = admin::execute(&self.engine, approver, call).await;
        let outcome = match (answer.status, approving) {
            (200, true) => ChatOutcome::Approved,
            (202, _) => ChatOutcome::Recorded,
            (200, false) => ChatOutcome::Rejected,
            (403 | 404 | 409, _) => ChatOutcome::Refused,
            _ => ChatOutcome::Failed,
        };
        tracing::info!(
            approver = approver.name(),
            outcome = outcome.label(),
            status = answer.status,
            "decision from Slack"
        );
        if !matches!(
            outcome,
            ChatOutcome::Approved | ChatOutcome::Recorded | ChatOutcome::Rejected
        ) {
            let why = answer.body["error"]
                .as_str()
                .unwrap_or("it could not be done");
            self.tell(channel, user, &format!("Nothing was done: {why}"))
                .await;
        }
        self.metrics.chat_decision(outcome);
    }

    /// Tells `user` why they may not decide, and counts the refusal.
    async fn refuse(&self, channel: &str, user: &str, why: &str) {
        self.metrics.chat_decision(ChatOutcome::Refused);
        tracing::info!(slack_user = user, why, "decision from Slack refused");
        self.tell(
            channel,
            user,
            &format!("You may not decide this task: {why}."),
        )
        .await;
    }

    async fn tell(&self, channel: &str, user: &str, text: &str) {
        if let Err(error) = self.api.post_ephemeral(channel, user, text).await {
            tracing::warn!(%error, "could not tell a Slack user why nothing was done");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_or_envelope_seen_before_is_not_new_and_old_ones_are_forgotten() {
        let mut seen = Seen::default();
        let keys = |list: &[&str]| list.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>();
        assert!(seen.first_time(&keys(&["click:U1:1.0", "envelope:e1"])));
        assert!(
            !seen.first_time(&keys(&["click:U1:1.0", "envelope:e2"])),
            "same click"
        );
        assert!(
            !seen.first_time(&keys(&["click:U1:2.0", "envelope:e1"])),
            "same envelope"
        );
        assert!(
            seen.first_time(&keys(&["click:U2:1.0"])),
            "another user's click"
        );
        for n in 0..REMEMBERED {
            seen.first_time(&[format!("k{n}")]);
        }
        assert!(
            seen.first_time(&keys(&["click:U1:1.0"])),
            "forgotten after {REMEMBERED}"
        );
        assert!(seen.order.len() <= REMEMBERED);
    }
}
