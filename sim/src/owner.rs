//! The objects blocking tasks are about: a task's owner vApp (with its VMs), VM or Media, what
//! reading it shows, and the VDC it lives in (a VM through a vApp of its own). Each task
//! registers its owner when created (unless `NewTask::owner_gone`); `owner_api` serves them.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::model::{Named, OwnerType, SimMedia, SimVdc, SimVm};

/// What a task's owner looks like when read.
#[derive(Clone, Debug)]
pub(crate) struct OwnerDetails {
    pub vms: Vec<SimVm>,
    pub media: SimMedia,
    pub metadata: BTreeMap<String, String>,
    pub vdc: SimVdc,
}

/// A registered owner: its kind, name and id, and what reading it shows. A vApp's VMs get ids
/// of their own.
#[derive(Clone, Debug)]
pub(crate) struct Owner {
    pub kind: OwnerType,
    pub named: Named,
    pub details: OwnerDetails,
    pub vm_ids: Vec<Uuid>,
    /// The id of the VDC in `details.vdc`.
    pub vdc_id: Uuid,
    /// The object its `Link rel="up"` names: the vApp of a VM, the VDC of anything else.
    pub up: (OwnerType, Uuid),
}

impl Owner {
    /// An owner in the VDC `vdc_id`; a VM's `up` is a vApp of its own ([`Owner::vapp_of`]).
    pub(crate) fn new(kind: OwnerType, named: Named, details: OwnerDetails, vdc_id: Uuid) -> Owner {
        let vm_ids = details.vms.iter().map(|_| Uuid::new_v4()).collect();
        let up = match kind {
            OwnerType::Vm => (OwnerType::VApp, Uuid::new_v4()),
            _ => (OwnerType::Vdc, vdc_id),
        };
        Owner {
            kind,
            named,
            details,
            vm_ids,
            vdc_id,
            up,
        }
    }

    /// The vApp a VM owner lives in, holding that VM; `None` for other owners.
    pub(crate) fn vapp_of(&self) -> Option<Owner> {
        let (OwnerType::Vm, (_, id)) = (self.kind, self.up) else {
            return None;
        };
        let named = Named {
            name: format!("{}-vapp", self.named.name),
            id,
        };
        let mut vapp = Owner::new(OwnerType::VApp, named, self.details.clone(), self.vdc_id);
        vapp.vm_ids = vec![self.named.id];
        Some(vapp)
    }
}
