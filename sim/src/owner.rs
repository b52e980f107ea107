//! The objects blocking tasks are about: a task's owner vApp (with its VMs), VM or Media, and
//! what reading it shows. Each task registers its owner when created (unless
//! `NewTask::owner_gone`); `owner_api` serves them.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::model::{Named, OwnerType, SimMedia, SimVm};

/// What a task's owner looks like when read.
#[derive(Clone, Debug)]
pub(crate) struct OwnerDetails {
    pub vms: Vec<SimVm>,
    pub media: SimMedia,
    pub metadata: BTreeMap<String, String>,
}

/// A registered owner: its kind, name and id, and what reading it shows. A vApp's VMs get ids
/// of their own.
#[derive(Clone, Debug)]
pub(crate) struct Owner {
    pub kind: OwnerType,
    pub named: Named,
    pub details: OwnerDetails,
    pub vm_ids: Vec<Uuid>,
}

impl Owner {
    pub(crate) fn new(kind: OwnerType, named: Named, details: OwnerDetails) -> Owner {
        let vm_ids = details.vms.iter().map(|_| Uuid::new_v4()).collect();
        Owner {
            kind,
            named,
            details,
            vm_ids,
        }
    }
}
