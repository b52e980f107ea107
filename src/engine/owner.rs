//! Reading what a task is about: the owner facts a policy needs, through the same vCD client
//! (session, limits, retries) as the task itself. Only the groups asked for are read, one
//! request per owner document; whatever cannot be had is unknown with the reason, never an
//! error: a rule that needs it then does not match (unless it says `on_unknown = "match"`).

use crate::facts::{Needs, OwnerFacts, OwnerReader, TaskFacts, Unknown, owner_has};
use crate::policy::Policy;
use crate::task::BlockingTask;
use crate::vcd::VcdClient;

/// The facts `policy` decides `task` with, exactly as the daemon gathers them: the task's own,
/// plus the owner facts the policy needs for it (read from vCD; none for a policy without
/// owner facts). `explain --task-id` uses this too, so that it explains what the daemon does.
pub(crate) async fn task_facts(vcd: &VcdClient, policy: &Policy, task: &BlockingTask) -> TaskFacts {
    let mut facts = TaskFacts::from(task);
    let needs = policy.owner_needs(&facts);
    facts.owner = read_owner_facts(vcd, task, needs).await;
    facts
}

/// Reads the groups of owner facts `needs` names (see [`crate::Policy::owner_needs`]), each
/// through its descriptor's `read`, for an owner of a type that has them; a document two
/// groups read is fetched once. Groups not needed stay unknown ("not given"); a policy
/// without owner facts needs none and this sends nothing.
async fn read_owner_facts(vcd: &VcdClient, task: &BlockingTask, needs: Needs) -> OwnerFacts {
    let mut facts = OwnerFacts::default();
    if needs.is_empty() {
        return facts;
    }
    let reader = OwnerReader::new(vcd, task);
    for group in needs.groups() {
        let records = if owner_has(&task.owner.kind, group) {
            (group.spec().read)(&reader).await
        } else {
            Err(Unknown::OwnerType(task.owner.kind.clone()))
        };
        facts.set_records(group, records);
    }
    facts
}
