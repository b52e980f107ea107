//! The facts a policy rule matches on: one [`MatchKey`] per key of the policy language, and
//! the [`TaskFacts`] of one blocking task holding a value for each.
//!
//! Both come from one table, the `match_keys!` invocation below: adding a match key is one
//! line there, one line in `From<&BlockingTask>` saying where vCD gives its value, and its
//! documentation (`docs/policy.md`, `policies/example.toml`).
//!
//! What the operation is about (the owner's VMs, its Media, its metadata, its VDC) comes in
//! owner-fact groups: each is one module here holding one [`Group`] descriptor, listed once in
//! [`GROUPS`]. Adding a group is a module and a line there.

mod group;
mod media;
mod metadata;
mod owner;
mod quota;
mod read;
mod value;
mod vapp;
mod vdc;
mod vm;
pub(crate) mod window;

pub(crate) use group::Group;
pub use group::{FactGroup, FactKind, Needs, OwnerFact};
pub use owner::OwnerFacts;
pub(crate) use owner::{documented_owner, owner_has};
pub use quota::{CountSource, QuotaCount, QuotaCounts};
pub(crate) use read::OwnerReader;
pub use value::{FactValue, Record, Unknown, UnknownFact, Value};

use crate::task::BlockingTask;

/// Every owner-fact group, in the order `explain` shows them.
pub(crate) static GROUPS: &[&Group] = &[
    &vapp::VAPP,
    &vm::VM,
    &media::MEDIA,
    &metadata::METADATA,
    &vdc::VDC,
];

/// Declares [`MatchKey`] and [`TaskFacts`] from one list of `Variant => field_name` pairs; the
/// field name is the key as written in a policy.
macro_rules! match_keys {
    ($($(#[doc = $doc:literal])+ $variant:ident => $field:ident,)+) => {
        /// A fact of a blocking task that a rule can match on, in the order `explain` shows
        /// conditions.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum MatchKey {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl MatchKey {
            /// Every key, in declaration order.
            pub const ALL: &'static [MatchKey] = &[$(MatchKey::$variant,)+];

            /// The key as written in a policy, e.g. `owner_name`.
            pub fn name(self) -> &'static str {
                match self {
                    $(MatchKey::$variant => stringify!($field),)+
                }
            }
        }

        /// A blocking task's match facts, one string per [`MatchKey`] (empty when vCD did not
        /// say), the task's id for messages, and the owner facts read for it.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct TaskFacts {
            /// The task's UUID; empty for policy test cases.
            pub task_id: String,
            $($(#[doc = $doc])+ pub $field: String,)+
            /// What the operation is about; every group unknown until read.
            pub owner: OwnerFacts,
            /// The quota counts: none until given or counted.
            pub quota: QuotaCounts,
        }

        impl TaskFacts {
            /// The value of `key`.
            pub fn get(&self, key: MatchKey) -> &str {
                match key {
                    $(MatchKey::$variant => &self.$field,)+
                }
            }

            /// The value of `key`, to set it.
            pub fn get_mut(&mut self, key: MatchKey) -> &mut String {
                match key {
                    $(MatchKey::$variant => &mut self.$field,)+
                }
            }
        }
    };
}

match_keys! {
    /// The suspended operation, the blocking task's `name`, e.g. `vdcInstantiateVapp`.
    Operation => operation,
    /// The organization's name.
    Org => org,
    /// The organization's UUID.
    OrgId => org_id,
    /// The requesting user's name.
    User => user,
    /// The requesting user's UUID.
    UserId => user_id,
    /// The kind of object the operation is about: `vApp`, `vm`, `vAppTemplate`, `media`…
    OwnerType => owner_type,
    /// The name of the object the operation is about.
    OwnerName => owner_name,
    /// The id of the object the operation is about (the last segment of its href).
    OwnerId => owner_id,
    /// The task's description.
    Description => description,
}

impl MatchKey {
    /// The key named `name` as written in a policy, if there is one.
    pub fn parse(name: &str) -> Option<MatchKey> {
        MatchKey::ALL.iter().copied().find(|key| key.name() == name)
    }

    /// Every key's name, in declaration order.
    pub fn names() -> impl Iterator<Item = &'static str> {
        MatchKey::ALL.iter().map(|key| key.name())
    }
}

impl From<&BlockingTask> for TaskFacts {
    fn from(task: &BlockingTask) -> TaskFacts {
        TaskFacts {
            task_id: task.id.to_string(),
            operation: task.operation.clone(),
            org: task.org.name.clone(),
            org_id: task.org.id.clone(),
            user: task.user.name.clone(),
            user_id: task.user.id.clone(),
            owner_type: task.owner.kind.clone(),
            owner_name: task.owner.name.clone(),
            owner_id: task.owner.id.clone(),
            description: task.description.clone(),
            owner: OwnerFacts::default(),
            quota: QuotaCounts::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_reads_and_writes_its_own_fact() {
        let mut facts = TaskFacts::default();
        for key in MatchKey::ALL {
            *facts.get_mut(*key) = format!("value of {}", key.name());
        }
        for key in MatchKey::ALL {
            assert_eq!(facts.get(*key), format!("value of {}", key.name()));
            assert_eq!(MatchKey::parse(key.name()), Some(*key));
        }
        assert_eq!(facts.owner_name, "value of owner_name");
        assert_eq!(MatchKey::parse("colour"), None);
        assert_eq!(MatchKey::ALL.len(), 9);
    }
}
