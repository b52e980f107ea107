//! Readiness: what `/readyz` reports. Two conditions belong to the daemon as a whole (policy
//! loaded, vCD session valid), each flipped by the component that owns it; the rest is what
//! each registered source says of itself (a [`Condition`]: the AMQP session up, or in poll
//! mode the last listing of vCD's tasks read), which also gives the systemd `STATUS=` line its
//! first words.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

#[derive(Debug, Default)]
pub struct Health {
    policy_loaded: AtomicBool,
    vcd_session: AtomicBool,
    /// Why there is no session, when only the operator can fix it (vCD refused the
    /// credentials).
    vcd_problem: Mutex<Option<String>>,
    /// Why the journal cannot be written, while it cannot.
    journal_problem: Mutex<Option<String>>,
    /// The sources that take part in readiness, in the order they registered.
    sources: Mutex<Vec<SourceHealth>>,
}

/// How a source stands, in its own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// Why the daemon is not ready on this source's account (a `/readyz` reason); `None`
    /// when it is.
    pub not_ready: Option<String>,
    /// What the source does now, for the `STATUS=` line (e.g. `consuming`).
    pub status: String,
}

/// A source's handle for saying how it stands; clones share the condition.
#[derive(Debug, Clone)]
pub struct SourceHealth {
    name: &'static str,
    condition: Arc<Mutex<Condition>>,
}

impl SourceHealth {
    /// Replaces the source's condition.
    pub fn set(&self, condition: Condition) {
        *self.lock() = condition;
    }

    pub fn get(&self) -> Condition {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Condition> {
        self.condition
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Health {
    pub fn set_policy_loaded(&self, value: bool) {
        self.policy_loaded.store(value, Ordering::Relaxed);
    }

    pub fn set_vcd_session(&self, value: bool) {
        self.vcd_session.store(value, Ordering::Relaxed);
    }

    /// Says why vCD gives no session (`None`: no known reason, or a session again).
    pub fn set_vcd_problem(&self, problem: Option<String>) {
        *self
            .vcd_problem
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = problem;
    }

    /// Says why the journal cannot be written (`None`: it can).
    pub fn set_journal_problem(&self, problem: Option<String>) {
        *self
            .journal_problem
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = problem;
    }

    /// Adds the source `name` to readiness and the `STATUS=` line, standing as `first` until
    /// it says otherwise.
    pub fn register_source(&self, name: &'static str, first: Condition) -> SourceHealth {
        let source = SourceHealth {
            name,
            condition: Arc::new(Mutex::new(first)),
        };
        self.sources().push(source.clone());
        source
    }

    /// Whether the source `name` is registered and says the daemon may be ready (for the
    /// AMQP source: its session is up).
    pub fn source_ready(&self, name: &str) -> bool {
        self.sources()
            .iter()
            .any(|source| source.name == name && source.get().not_ready.is_none())
    }

    /// What the registered sources do now, in the order they registered.
    pub(crate) fn statuses(&self) -> Vec<String> {
        self.sources()
            .iter()
            .map(|source| source.get().status)
            .collect()
    }

    /// `Ok` when ready, else the reasons it is not.
    pub fn readiness(&self) -> Result<(), Vec<String>> {
        let mut reasons = Vec::new();
        if !self.policy_loaded.load(Ordering::Relaxed) {
            reasons.push("policy not loaded".to_owned());
        }
        reasons.extend(
            self.sources()
                .iter()
                .filter_map(|source| source.get().not_ready),
        );
        if !self.vcd_session.load(Ordering::Relaxed) {
            let problem = self
                .vcd_problem
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            reasons.push(match problem {
                Some(problem) => format!("no valid vCD session: {problem}"),
                None => "no valid vCD session".to_owned(),
            });
        }
        if let Some(problem) = self
            .journal_problem
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            reasons.push(problem);
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons)
        }
    }

    fn sources(&self) -> std::sync::MutexGuard<'_, Vec<SourceHealth>> {
        self.sources.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(not_ready: Option<&str>, status: &str) -> Condition {
        Condition {
            not_ready: not_ready.map(str::to_owned),
            status: status.to_owned(),
        }
    }

    #[test]
    fn readiness_lists_what_each_registered_source_says_between_the_daemons_own_reasons() {
        let health = Health::default();
        let amqp = health.register_source(
            "amqp",
            condition(
                Some("AMQP consumer not active"),
                "not consuming (reconnecting)",
            ),
        );
        assert_eq!(
            health.readiness(),
            Err(vec![
                "policy not loaded".to_owned(),
                "AMQP consumer not active".to_owned(),
                "no valid vCD session".to_owned(),
            ])
        );
        assert!(!health.source_ready("amqp"));
        health.set_policy_loaded(true);
        health.set_vcd_session(true);
        amqp.set(condition(None, "consuming"));
        assert_eq!(health.readiness(), Ok(()));
        assert!(health.source_ready("amqp"));
        assert!(!health.source_ready("reconcile"), "not registered");
        assert_eq!(health.statuses(), ["consuming"]);
    }
}
