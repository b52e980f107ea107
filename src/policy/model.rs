//! What a policy decides: the [`Action`] to take on a blocking task, the parameters of a
//! [`Hold`] and of an [`Ask`], and the [`Decision`] that names the rule responsible and the
//! rendered message.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::approval::{ApprovalRule, Written};
use crate::duration::format_duration;
use crate::facts::UnknownFact;
use crate::task::FinalAction;

/// The rule name a decision carries when no rule matched and `[defaults]` applied.
pub(crate) const DEFAULTS_RULE: &str = "defaults";

/// What to do with a blocking task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Resume,
    Abort,
    Fail,
    /// Take no action: the task stays blocked and vCD's own timeout applies.
    Ignore,
    /// Keep the task blocked until a human decides or the deadline passes.
    Hold(Hold),
    /// Hand the decision to a decision service (`[[ask]]` of the config); the task is held
    /// meanwhile.
    Ask(Ask),
}

/// A rule's `ask`: which decision service decides, what an error means, how often a task the
/// service holds is asked again, and the hold the task is kept in meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// The `[[ask]]` entry's `name`.
    pub service: Arc<str>,
    /// What a failed ask (no answer in time, a non-2xx status, a redirect, a body over 64 KiB,
    /// an answer that is not one) decides.
    pub on_error: OnError,
    /// How long after a `hold` answer (or an error with `on_error = "hold"`) the service is
    /// asked again; at least a second.
    pub recheck: Duration,
    /// The rule's `hold` table: the deadline and fallback of the task while it is asked.
    pub hold: Hold,
    /// Where `ask.service` was written, for `check -c`'s error about an unknown service.
    pub(crate) written: Written,
}

/// `ask.on_error`: keep the task held and ask again, or decide it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    Hold,
    Decide(FinalAction),
}

impl OnError {
    pub fn name(self) -> &'static str {
        match self {
            OnError::Hold => "hold",
            OnError::Decide(action) => action.name(),
        }
    }
}

/// A decision service's answer: decided, or hold and ask again later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Decide(FinalAction),
    Hold,
}

impl Answer {
    /// Every answer's name, as services, tests (`ask = "resume"`) and `explain --fact ask=`
    /// write it.
    pub const NAMES: [&'static str; 4] = ["resume", "abort", "fail", "hold"];

    pub fn parse(name: &str) -> Option<Answer> {
        match name {
            "hold" => Some(Answer::Hold),
            other => FinalAction::parse(other).map(Answer::Decide),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Answer::Hold => "hold",
            Answer::Decide(action) => action.name(),
        }
    }
}

impl Ask {
    /// The action an answer leads to: the answer's own, or the rule's hold.
    pub fn resolve(&self, answer: Answer) -> Action {
        match answer {
            Answer::Decide(action) => action.into(),
            Answer::Hold => Action::Hold(self.hold.clone()),
        }
    }
}

impl Decision {
    /// This decision once the decision service gave `answer`: an ask becomes the answer's
    /// action; any other decision is unchanged. For `test` and `explain`, which never ask.
    pub fn answered(mut self, answer: Option<Answer>) -> Decision {
        if let (Action::Ask(ask), Some(answer)) = (&self.action, answer) {
            self.action = ask.resolve(answer);
        }
        self
    }
}

/// How long a task may be held, what happens when nobody decides in time, and who decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// Deadline, measured from the task's creation time (so restarts do not extend it).
    pub max: Duration,
    /// Applied when `max` has passed without a human decision.
    pub fallback: FinalAction,
    /// Cadence of `updateProgress` calls; `None` = the daemon's configured default.
    pub keepalive: Option<Duration>,
    /// Who may decide, how many must approve, reminders and escalation (shared by every
    /// task the rule holds).
    pub approval: Arc<ApprovalRule>,
}

/// Every action name a rule may use, in the order error messages list them.
pub(crate) const ACTION_NAMES: [&str; 6] = ["resume", "abort", "fail", "hold", "ask", "ignore"];

impl Action {
    /// The hold a task is kept in: a hold's own, or an ask's while the service is asked.
    pub fn hold(&self) -> Option<&Hold> {
        match self {
            Action::Hold(hold) | Action::Ask(Ask { hold, .. }) => Some(hold),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Action::Resume => "resume",
            Action::Abort => "abort",
            Action::Fail => "fail",
            Action::Ignore => "ignore",
            Action::Hold(_) => "hold",
            Action::Ask(_) => "ask",
        }
    }
}

impl From<FinalAction> for Action {
    fn from(action: FinalAction) -> Action {
        match action {
            FinalAction::Resume => Action::Resume,
            FinalAction::Abort => Action::Abort,
            FinalAction::Fail => Action::Fail,
        }
    }
}

/// `hold (max 48h, fallback abort, keepalive 10m)`; other actions print their name.
impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Hold(hold) => {
                write!(
                    f,
                    "hold (max {}, fallback {}",
                    format_duration(hold.max),
                    hold.fallback.name()
                )?;
                if let Some(keepalive) = hold.keepalive {
                    write!(f, ", keepalive {}", format_duration(keepalive))?;
                }
                if hold.approval.needed > 1 {
                    write!(f, ", {} approvals", hold.approval.needed)?;
                }
                write!(f, ")")
            }
            Action::Ask(ask) => write!(
                f,
                "ask {:?} (on error {}, recheck {}, then {})",
                ask.service,
                ask.on_error.name(),
                format_duration(ask.recheck),
                Action::Hold(ask.hold.clone())
            ),
            other => f.write_str(other.name()),
        }
    }
}

/// The outcome of [`decide`](super::decide) for one task.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub action: Action,
    /// The deciding rule's name, or `DEFAULTS_RULE` when no rule matched.
    pub rule: Arc<str>,
    /// The rendered message, sent to vCD with the action and shown to the tenant.
    pub message: String,
    /// Dry-run rules that matched before the deciding one, in policy order.
    pub shadow: Vec<ShadowMatch>,
    /// The VM of the owner that met the deciding rule's `vm.*` conditions.
    pub vm: Option<String>,
    /// Owner facts the rules tried needed but could not have, and why (each key once).
    pub unknown: Vec<UnknownFact>,
    /// The policy's windows open at the moment of the decision, in policy order.
    pub windows: Vec<Arc<str>>,
    /// Why the deciding rule decided, for people: `weekend freeze until Mon 06:00 CET` when it
    /// has conditions on time, `21 of 20 … in the last 24h by org "acme"` when its quota was
    /// over (both, separated by `; `, when it has both).
    pub reason: Option<String>,
    /// The deciding rule's quota count, when it has a quota that was over.
    pub quota: Option<crate::facts::QuotaCount>,
}

/// A `dry_run` rule that matched: what it would have done.
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowMatch {
    pub rule: Arc<str>,
    pub action: Action,
    pub message: String,
}

/// Where something was written in the policy, for `explain` and `test` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: Arc<str>,
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_print_their_name_and_hold_parameters() {
        let hold = Hold {
            max: Duration::from_secs(48 * 3600),
            fallback: FinalAction::Abort,
            keepalive: Some(Duration::from_secs(600)),
            approval: Arc::default(),
        };
        let cases = [
            (Action::Resume, "resume", "resume"),
            (Action::Fail, "fail", "fail"),
            (Action::Ignore, "ignore", "ignore"),
            (
                Action::Hold(hold.clone()),
                "hold",
                "hold (max 2d, fallback abort, keepalive 10m)",
            ),
            (
                Action::Hold(Hold {
                    keepalive: None,
                    ..hold
                }),
                "hold",
                "hold (max 2d, fallback abort)",
            ),
        ];
        for (action, name, shown) in cases {
            assert_eq!(action.name(), name);
            assert_eq!(action.to_string(), shown);
        }
        assert_eq!(FinalAction::Resume.name(), "resume");
    }
}
