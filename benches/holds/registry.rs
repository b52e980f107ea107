//! The hold registry on its own, in this process: what `n` holds shaped like the benchmark's
//! cost in resident memory when nothing else happens, to tell the registry's share of the
//! daemon's growth from the rest (allocator, transient work).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use vcd_blockd::engine::{HeldTask, HoldRegistry};
use vcd_blockd::policy::FinalAction;
use vcd_blockd::task::TaskId;

/// Bytes of resident memory per hold of a registry filled with `n` holds, and the size of
/// one `HeldTask` value.
pub fn cost(n: usize) -> (f64, usize) {
    let before = super::process::own_rss_kib().unwrap_or(0);
    let registry = HoldRegistry::default();
    let rule: Arc<str> = Arc::from("benchmark: hold every task");
    let now = Utc::now();
    for i in 0..n {
        registry.insert(HeldTask {
            id: TaskId::from_uuid(uuid::Uuid::new_v4()),
            operation: "vdcInstantiateVapp".into(),
            org: "acme".into(),
            user: "alice".into(),
            owner_name: "web-frontend".into(),
            rule: rule.clone(),
            since: now,
            deadline: now + chrono::Duration::hours(48),
            fallback: FinalAction::Abort,
            keepalive: Duration::from_secs(240),
            message: "Waiting for approval: vdcInstantiateVapp by alice@acme".into(),
            vcd_timeout: Some(now + chrono::Duration::minutes(15)),
            // Spread like a keepalive round: about 10,000 a second.
            next_check: now + chrono::Duration::microseconds(100 * i as i64),
            failures: 0,
        });
    }
    let after = super::process::own_rss_kib().unwrap_or(0);
    let held = registry.len().max(1);
    drop(registry);
    (
        after.saturating_sub(before) as f64 * 1024.0 / held as f64,
        std::mem::size_of::<HeldTask>(),
    )
}
