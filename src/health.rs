//! Readiness: the three things `/readyz` reports (policy loaded, AMQP session up, or in poll
//! mode the last listing of vCD's tasks read; vCD session valid), each flipped by the
//! component that owns it, and why the consumer is not active when the broker said why (a
//! queue declared with other arguments).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Default)]
pub struct Health {
    policy_loaded: AtomicBool,
    amqp_consuming: AtomicBool,
    vcd_session: AtomicBool,
    /// No broker: readiness follows the last listing instead of the AMQP session.
    poll_mode: AtomicBool,
    last_listing_ok: AtomicBool,
    /// What keeps the consumer from starting that only the operator can fix.
    amqp_problem: Mutex<Option<String>>,
}

impl Health {
    pub fn set_policy_loaded(&self, value: bool) {
        self.policy_loaded.store(value, Ordering::Relaxed);
    }

    pub(crate) fn set_poll_mode(&self, value: bool) {
        self.poll_mode.store(value, Ordering::Relaxed);
    }

    /// Whether the latest listing of vCD's active blocking tasks succeeded.
    pub(crate) fn set_last_listing(&self, ok: bool) {
        self.last_listing_ok.store(ok, Ordering::Relaxed);
    }

    /// Connected to RabbitMQ and consuming: the notifications while leading, the leader
    /// queue while standing by.
    pub fn set_amqp_consuming(&self, value: bool) {
        self.amqp_consuming.store(value, Ordering::Relaxed);
    }

    /// Why the consumer cannot start, shown in `/readyz` until it can (`None` clears it).
    pub fn set_amqp_problem(&self, problem: Option<String>) {
        *self
            .amqp_problem
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = problem;
    }

    pub fn set_vcd_session(&self, value: bool) {
        self.vcd_session.store(value, Ordering::Relaxed);
    }

    pub fn amqp_consuming(&self) -> bool {
        self.amqp_consuming.load(Ordering::Relaxed)
    }

    /// `Ok` when ready, else the reasons it is not.
    pub fn readiness(&self) -> Result<(), Vec<String>> {
        let mut reasons = Vec::new();
        if !self.policy_loaded.load(Ordering::Relaxed) {
            reasons.push("policy not loaded".to_owned());
        }
        if self.poll_mode.load(Ordering::Relaxed) {
            if !self.last_listing_ok.load(Ordering::Relaxed) {
                reasons
                    .push("the last listing of vCD's blocking tasks failed (poll mode)".to_owned());
            }
        } else if !self.amqp_consuming.load(Ordering::Relaxed) {
            let problem = self
                .amqp_problem
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone();
            reasons.push(match problem {
                Some(problem) => format!("AMQP consumer not active: {problem}"),
                None => "AMQP consumer not active".to_owned(),
            });
        }
        if !self.vcd_session.load(Ordering::Relaxed) {
            reasons.push("no valid vCD session".to_owned());
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons)
        }
    }
}
