//! What an owner-fact group is: a [`Group`] descriptor (one `static` per group module, listed
//! once in [`GROUPS`](super::GROUPS)) holding everything about the group, and the small
//! handles the policy passes around: [`FactGroup`] (a group), [`OwnerFact`] (one of its facts)
//! and [`Needs`] (a set of groups to read).

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use super::GROUPS;
use super::read::OwnerReader;
use super::value::{FactValue, Record, Unknown};

/// Whether a fact is compared as a number (`{ gt, ge, lt, le, eq }`) or matched as text (globs,
/// regexes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactKind {
    Number,
    Text,
}

/// One fact of a group: `memory_mb` of `vm`.
#[derive(Debug)]
pub(crate) struct Field {
    /// The key after the group's name, e.g. `memory_mb`.
    pub(crate) name: &'static str,
    pub(crate) kind: FactKind,
    /// Several texts of which any may match (a VM's NIC networks); a `[[test]]` gives one or a
    /// list, `--fact` given twice adds one.
    pub(crate) many: bool,
    /// What vCD's document lacks when the fact is unknown, for "vCD's answer has no …".
    pub(crate) missing: &'static str,
}

impl Field {
    pub(crate) const fn number(name: &'static str, missing: &'static str) -> Field {
        Field {
            name,
            kind: FactKind::Number,
            many: false,
            missing,
        }
    }

    pub(crate) const fn text(name: &'static str, missing: &'static str) -> Field {
        Field {
            name,
            kind: FactKind::Text,
            many: false,
            missing,
        }
    }

    pub(crate) const fn texts(name: &'static str, missing: &'static str) -> Field {
        Field {
            name,
            kind: FactKind::Text,
            many: true,
            missing,
        }
    }
}

/// What a group's read hands back: its records, or why they could not be had.
pub(crate) type ReadFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<Record>, Unknown>> + Send + 'a>>;

/// Everything about one owner-fact group. The policy language (rule tables, `[[test]]` tasks,
/// `explain --fact`, "unknown key" messages), the warning about facts an owner never has, what
/// the engine reads and what `explain` prints all follow from this value.
pub(crate) struct Group {
    /// The group's table in a policy and the part before the dot: `vm` in `vm.memory_mb`.
    pub(crate) name: &'static str,
    /// Its facts, in the order `explain` shows them; empty for an `open` group.
    pub(crate) fields: &'static [Field],
    /// Any key names a text fact (metadata entries); for "vCD's answer has no {entry} \"key\"".
    pub(crate) open: Option<&'static str>,
    /// The owner types that have these facts, lower-case, as a TaskOwner's type names them
    /// (`vapp`, `vm`, `media`); for any other owner the facts are unknown. Empty: every task
    /// has them, whatever its owner (facts not about the owner).
    pub(crate) owners: &'static [&'static str],
    /// `Some`: the group has one record per object (the VMs of a vApp) and one record must
    /// meet every condition of a rule on the group. `None`: the group is one record.
    pub(crate) each: Option<Each>,
    /// How a `[[test]]` task gives it.
    pub(crate) test: TestForm,
    /// Reads the group's records for the task's owner through the vCD client; documents
    /// another group also reads are fetched once per task.
    pub(crate) read: for<'a> fn(&'a OwnerReader<'a>) -> ReadFuture<'a>,
}

/// What messages call the records of a group of several.
pub(crate) struct Each {
    /// One record: `VM` in `memory size for VM "db"`, `any VM: …`.
    pub(crate) word: &'static str,
    /// When there is none: `the vApp has no VMs`.
    pub(crate) none: &'static str,
}

/// How a `[[test]]` task gives a group: `vm = { … }` always; for a group of several records
/// also a list (`vms = [{ … }, { … }]`).
pub(crate) struct TestForm {
    /// The task key of the list form, e.g. `vms`.
    pub(crate) list: Option<&'static str>,
    /// A fact the list gives when the task does not: `("vapp", "vm_count")`, the list's
    /// length.
    pub(crate) counts: Option<(&'static str, &'static str)>,
}

impl TestForm {
    pub(crate) const ONE: TestForm = TestForm {
        list: None,
        counts: None,
    };
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group").field("name", &self.name).finish()
    }
}

impl Group {
    /// The field named `name`.
    pub(crate) fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|field| field.name == name)
    }

    /// Whether an owner of type `owner` (`vApp`, `vm`, `media`, any case) has these facts.
    pub(crate) fn has_owner(&self, owner: &str) -> bool {
        let owner = owner.to_ascii_lowercase();
        self.owners.is_empty() || self.owners.contains(&owner.as_str())
    }

    /// The fields' names, in declaration order.
    pub(crate) fn field_names(&self) -> impl Iterator<Item = &'static str> + use<> {
        let fields = self.fields;
        fields.iter().map(|field| field.name)
    }
}

/// A group of `GROUPS`, by its place there.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FactGroup(u8);

impl FactGroup {
    /// Every group, in registry order.
    pub fn all() -> impl Iterator<Item = FactGroup> {
        (0..GROUPS.len()).map(|index| FactGroup(index as u8))
    }

    /// The group named `name` in a policy.
    pub fn parse(name: &str) -> Option<FactGroup> {
        FactGroup::all().find(|group| group.name() == name)
    }

    /// The group's descriptor.
    pub(crate) fn spec(self) -> &'static Group {
        GROUPS[self.index()]
    }

    /// The group's table name in a policy: `vapp`, `vm`, `media`, `metadata`, `vdc`.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    pub(crate) fn index(self) -> usize {
        usize::from(self.0)
    }

    fn bit(self) -> u32 {
        1 << self.0
    }
}

impl fmt::Debug for FactGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One owner fact as a policy names it: a field of a group, or an entry of an open group
/// (`metadata.env`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerFact {
    pub group: FactGroup,
    pub field: Box<str>,
}

impl OwnerFact {
    /// The fact `group.field`, if the group has that field (an open group has any).
    pub fn new(group: FactGroup, field: &str) -> Option<OwnerFact> {
        let spec = group.spec();
        (spec.open.is_some() || spec.field(field).is_some()).then(|| OwnerFact {
            group,
            field: field.into(),
        })
    }

    /// The fact named `group.field` (`vm.memory_mb`), if there is one.
    pub fn parse(name: &str) -> Option<OwnerFact> {
        let (group, field) = name.split_once('.')?;
        OwnerFact::new(FactGroup::parse(group)?, field)
    }

    /// The key as written in a policy, e.g. `vm.memory_mb` or `metadata.env`.
    pub fn name(&self) -> String {
        format!("{}.{}", self.group.name(), self.field)
    }

    /// Whether the fact is compared as a number or matched as text.
    pub fn kind(&self) -> FactKind {
        self.spec().map_or(FactKind::Text, |field| field.kind)
    }

    /// The fact's value in `record`, one of its group's; `Err` says what the document lacked.
    pub fn value_in<'r>(&self, record: &'r Record) -> Result<FactValue<'r>, Unknown> {
        record
            .get(&self.field)
            .ok_or_else(|| Unknown::Missing(self.missing(record)))
    }

    /// "memory size for VM \"db\"", "Media size", "metadata entry \"team\"".
    fn missing(&self, record: &Record) -> String {
        let (group, field) = (self.group.spec(), &*self.field);
        let what = match (group.field(field), group.open) {
            (Some(spec), _) => spec.missing.to_owned(),
            (None, Some(entry)) => format!("{entry} {field:?}"),
            (None, None) => format!("{}.{field}", group.name),
        };
        match &group.each {
            Some(each) => format!("{what} for {} {:?}", each.word, record.name),
            None => what,
        }
    }

    /// The field's descriptor; `None` for an entry of an open group.
    pub(crate) fn spec(&self) -> Option<&'static Field> {
        self.group.spec().field(&self.field)
    }
}

/// A set of [`FactGroup`]s: what a rule or a policy needs read before it can decide.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs(u32);

impl Needs {
    pub fn with(self, group: FactGroup) -> Needs {
        Needs(self.0 | group.bit())
    }

    pub fn union(self, other: Needs) -> Needs {
        Needs(self.0 | other.0)
    }

    pub fn contains(self, group: FactGroup) -> bool {
        self.0 & group.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The groups in the set, in registry order.
    pub fn groups(self) -> impl Iterator<Item = FactGroup> {
        FactGroup::all().filter(move |group| self.contains(*group))
    }
}
