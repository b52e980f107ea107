//! Leadership among instances that share one queue. Exactly one instance, the *leader*,
//! consumes the notifications, reconciles with vCD, keeps the held tasks alive, applies their
//! deadlines and sends the webhooks; the others *stand by*: they answer `/v1/holds` and
//! approvals by forwarding them to the leader, and take over when it goes. The AMQP session
//! decides the role (see `source::amqp::leader`); a daemon without a broker is its own leader.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::watch;

/// This instance's role. `Leader` carries when the term began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Standby,
    Leader { since: DateTime<Utc> },
}

impl Role {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Role::Standby => "standby",
            Role::Leader { .. } => "leader",
        }
    }
}

/// The current role, readable from anywhere and watchable by the loops that act only while
/// leading.
#[derive(Debug)]
pub(crate) struct Leadership {
    role: watch::Sender<Role>,
    /// The `leader` metric: 1 while leading.
    gauge: Gauge,
    /// In the running: the source that elects the leader (the AMQP session on the leader
    /// queue) is up, so a standby waits for its turn. Without it, an instance that does not
    /// lead takes no part at all.
    in_the_running: AtomicBool,
}

impl Leadership {
    /// Starts as standby: an instance leads only once the broker says so.
    pub(crate) fn standby(gauge: Gauge) -> Leadership {
        gauge.set(0);
        Leadership {
            role: watch::Sender::new(Role::Standby),
            gauge,
            in_the_running: AtomicBool::new(false),
        }
    }

    /// A daemon without a broker (poll mode) leads from the start and for good.
    pub(crate) fn alone(gauge: Gauge) -> Leadership {
        gauge.set(1);
        Leadership {
            role: watch::Sender::new(Role::Leader { since: Utc::now() }),
            gauge,
            in_the_running: AtomicBool::new(true),
        }
    }

    pub(crate) fn role(&self) -> Role {
        *self.role.borrow()
    }

    /// What `/readyz` calls this instance: `leader`, `standby` while in the running, else
    /// `none` (a broker-backed instance without its session neither leads nor stands by).
    pub(crate) fn standing(&self) -> &'static str {
        match self.role() {
            Role::Standby if !self.in_the_running.load(Ordering::Relaxed) => "none",
            role => role.label(),
        }
    }

    /// The electing source's session is up (`true`) or gone (`false`).
    pub(crate) fn set_in_the_running(&self, running: bool) {
        self.in_the_running.store(running, Ordering::Relaxed);
    }

    pub(crate) fn is_leader(&self) -> bool {
        matches!(self.role(), Role::Leader { .. })
    }

    /// When the current term began; `None` while standing by.
    pub(crate) fn since(&self) -> Option<DateTime<Utc>> {
        match self.role() {
            Role::Leader { since } => Some(since),
            Role::Standby => None,
        }
    }

    /// Begins a term now (no change when already leading).
    pub(crate) fn gain(&self) {
        let now = Utc::now();
        let changed = self.role.send_if_modified(|role| {
            let gained = *role == Role::Standby;
            if gained {
                *role = Role::Leader { since: now };
            }
            gained
        });
        if changed {
            self.gauge.set(1);
            tracing::info!(
                "this instance leads: it consumes, reconciles and keeps held tasks alive"
            );
        }
    }

    /// Ends the term (no change when standing by): `why` says whether this instance is
    /// stopping (logged as information) or lost its broker connection (a warning).
    pub(crate) fn lose(&self, why: TermEnd) {
        let changed = self.role.send_if_modified(|role| {
            let lost = *role != Role::Standby;
            *role = Role::Standby;
            lost
        });
        if changed {
            self.gauge.set(0);
            match why {
                TermEnd::Stopping => tracing::info!(
                    "this instance stops leading as it shuts down; a standby instance, if any, takes over"
                ),
                TermEnd::ConnectionLost => tracing::warn!(
                    "this instance no longer leads (its broker connection ended); a standby instance, if any, takes over"
                ),
            }
        }
    }

    /// Follows the role: loops that act only while leading wait on it.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Role> {
        self.role.subscribe()
    }
}

/// Why a term ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TermEnd {
    /// The daemon is shutting down.
    Stopping,
    /// The broker connection ended; the baton went to another consumer.
    ConnectionLost,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standby_out_of_the_running_is_none() {
        let leadership = Leadership::standby(Gauge::default());
        assert_eq!(leadership.standing(), "none");
        leadership.set_in_the_running(true);
        assert_eq!(leadership.standing(), "standby");
        leadership.gain();
        assert_eq!(leadership.standing(), "leader");
        leadership.lose(TermEnd::ConnectionLost);
        leadership.set_in_the_running(false);
        assert_eq!(leadership.standing(), "none");
        assert_eq!(Leadership::alone(Gauge::default()).standing(), "leader");
    }

    #[test]
    fn a_term_begins_once_and_ends() {
        let gauge = Gauge::default();
        let leadership = Leadership::standby(gauge.clone());
        assert!(!leadership.is_leader());
        leadership.gain();
        assert_eq!(gauge.get(), 1);
        let since = leadership.since().unwrap();
        leadership.gain();
        assert_eq!(
            leadership.since(),
            Some(since),
            "a second gain keeps the term"
        );
        leadership.lose(TermEnd::Stopping);
        assert_eq!(leadership.role(), Role::Standby);
        assert_eq!(gauge.get(), 0);
        assert!(Leadership::alone(Gauge::default()).is_leader());
    }
}
