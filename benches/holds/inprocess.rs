//! Memory measured in this process before anything else runs in it, to tell the parts of the
//! daemon's growth apart: the hold registry on its own, and the transient peak of parsing
//! vCD's list of active tasks, which every reconciliation does.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use vcd_blockd::FinalAction;
use vcd_blockd::TaskId;
use vcd_blockd::{ApprovalRule, HeldTask, HoldRegistry, HoldView};

/// Bytes of resident memory per hold of a registry filled with `n` holds, and the size of
/// one `HeldTask` value.
pub(crate) fn registry_cost(n: usize) -> (f64, usize) {
    let before = super::process::own_rss_kib().unwrap_or(0);
    let registry = HoldRegistry::default();
    let approval = Arc::new(ApprovalRule::default());
    let rule: Arc<str> = Arc::from("benchmark: hold every task");
    let now = Utc::now();
    for i in 0..n {
        registry.insert(HeldTask {
            view: HoldView {
                id: TaskId::from_uuid(uuid::Uuid::new_v4()),
                operation: "vdcInstantiateVapp".into(),
                org: "acme".into(),
                user: "alice".into(),
                owner_name: "web-frontend".into(),
                rule: rule.clone(),
                since: now,
                deadline: now + chrono::Duration::hours(48),
                fallback: FinalAction::Abort,
                approvals: Vec::new(),
                needed: 1,
                reason: None,
            },
            keepalive: Duration::from_secs(240),
            message: "Waiting for approval: vdcInstantiateVapp by alice@acme".into(),
            vcd_timeout: Some(now + chrono::Duration::minutes(15)),
            // Spread like a keepalive round: about 10,000 a second.
            next_check: now + chrono::Duration::microseconds(100 * i as i64),
            keepalive_due: now + chrono::Duration::microseconds(100 * i as i64),
            failures: 0,
            approval: approval.clone(),
            reminders_sent: 0,
            escalation_sent: false,
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

/// Parses a list of `n` active tasks as vcd-sim renders it; returns the document's size and
/// how far the parse raised this process's peak resident memory (`VmHWM`) above the
/// document, both in KiB. Run it first: a later peak would hide this one.
pub(crate) fn list_parse_peak(n: usize) -> (u64, u64) {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<vmext:BlockingTaskReferences \
         xmlns:vmext=\"http://www.vmware.com/vcloud/extension/v1.5\" \
         xmlns:vcloud=\"http://www.vmware.com/vcloud/v1.5\" \
         type=\"application/vnd.vmware.admin.blockingTaskList+xml\">\n",
    );
    for _ in 0..n {
        xml.push_str(&format!(
            "    <vcloud:Reference type=\"application/vnd.vmware.admin.blockingTask+xml\" \
             name=\"vdcInstantiateVapp\" \
             href=\"http://127.0.0.1:40000/api/admin/extension/blockingTask/{}\"/>\n",
            uuid::Uuid::new_v4()
        ));
    }
    xml.push_str("</vmext:BlockingTaskReferences>\n");
    let before = super::process::own_peak_kib().unwrap_or(0);
    let parsed = vcd_blockd::wire::parse_task_references(&xml).map_or(0, |list| list.ids.len());
    let after = super::process::own_peak_kib().unwrap_or(0);
    assert_eq!(parsed, n, "the generated list parses");
    ((xml.len() >> 10) as u64, after.saturating_sub(before))
}
