//! Reading what a task is about: the owner facts a policy needs, through the same vCD client
//! (session, limits, retries) as the task itself. Only the groups asked for are read, one
//! request per owner document; whatever cannot be had is unknown with the reason, never an
//! error: a rule that needs it then does not match (unless it says `on_unknown = "match"`).

use crate::facts::{FactGroup, Needs, OwnerFacts, TaskFacts, Unknown};
use crate::policy::Policy;
use crate::task::BlockingTask;
use crate::vcd::{OwnerRef, VcdClient, VcdError};

/// The facts `policy` decides `task` with, exactly as the daemon gathers them: the task's own,
/// plus the owner facts the policy needs for it (read from vCD; none for a policy without
/// owner facts). `explain --task-id` uses this too, so that it explains what the daemon does.
pub(crate) async fn task_facts(vcd: &VcdClient, policy: &Policy, task: &BlockingTask) -> TaskFacts {
    let mut facts = TaskFacts::from(task);
    let needs = policy.owner_needs(&facts);
    facts.owner = read_owner_facts(vcd, task, needs).await;
    facts
}

/// Reads the owner facts of `task` that `needs` names (see [`crate::Policy::owner_needs`]):
/// the owner vApp (its VMs and their count) or VM for `vapp`/`vm`, the owner Media for
/// `media`, the owner's `/metadata` for `metadata`. Groups not needed stay unknown ("not
/// given"); a policy without owner facts needs none and this sends nothing.
async fn read_owner_facts(vcd: &VcdClient, task: &BlockingTask, needs: Needs) -> OwnerFacts {
    let mut facts = OwnerFacts::default();
    if needs.is_empty() {
        return facts;
    }
    let owner = OwnerRef::new(&task.owner.kind, &task.owner.id);
    let wrong_type = || Unknown::OwnerType(task.owner.kind.clone());
    if needs.contains(FactGroup::Vapp) || needs.contains(FactGroup::Vm) {
        match owner {
            Some(owner @ OwnerRef::Vapp(_)) => {
                let vms = vcd.owner_vms(owner).await.map_err(read_failed);
                facts.vm_count = vms
                    .as_ref()
                    .map(|vms| vms.len() as u64)
                    .map_err(Clone::clone);
                facts.vms = vms;
            }
            Some(owner @ OwnerRef::Vm(_)) => {
                facts.vm_count = Err(wrong_type());
                facts.vms = vcd.owner_vms(owner).await.map_err(read_failed);
            }
            Some(OwnerRef::Media(_)) | None => {
                facts.vm_count = Err(wrong_type());
                facts.vms = Err(wrong_type());
            }
        }
    }
    if needs.contains(FactGroup::Media) {
        facts.media = match owner {
            Some(owner @ OwnerRef::Media(_)) => vcd.owner_media(owner).await.map_err(read_failed),
            _ => Err(wrong_type()),
        };
    }
    if needs.contains(FactGroup::Metadata) {
        facts.metadata = match owner {
            Some(owner) => vcd.owner_metadata(owner).await.map_err(read_failed),
            None => Err(wrong_type()),
        };
    }
    facts
}

fn read_failed(error: VcdError) -> Unknown {
    Unknown::ReadFailed(error.to_string())
}
