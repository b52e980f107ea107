//! Readiness: the three things `/readyz` reports (policy loaded, AMQP consumer active, vCD
//! session valid), each flipped by the component that owns it.

use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Default)]
pub struct Health {
    policy_loaded: AtomicBool,
    amqp_consuming: AtomicBool,
    vcd_session: AtomicBool,
}

impl Health {
    pub fn set_policy_loaded(&self, value: bool) {
        self.policy_loaded.store(value, Ordering::Relaxed);
    }

    pub fn set_amqp_consuming(&self, value: bool) {
        self.amqp_consuming.store(value, Ordering::Relaxed);
    }

    pub fn set_vcd_session(&self, value: bool) {
        self.vcd_session.store(value, Ordering::Relaxed);
    }

    pub fn amqp_consuming(&self) -> bool {
        self.amqp_consuming.load(Ordering::Relaxed)
    }

    /// `Ok` when ready, else the reasons it is not.
    pub fn readiness(&self) -> Result<(), Vec<&'static str>> {
        let mut reasons = Vec::new();
        if !self.policy_loaded.load(Ordering::Relaxed) {
            reasons.push("policy not loaded");
        }
        if !self.amqp_consuming.load(Ordering::Relaxed) {
            reasons.push("AMQP consumer not active");
        }
        if !self.vcd_session.load(Ordering::Relaxed) {
            reasons.push("no valid vCD session");
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons)
        }
    }
}
