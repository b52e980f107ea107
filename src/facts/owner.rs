//! Owner facts: what a blocking task's operation is about (the owner vApp and its VMs, the
//! owner VM, the owner Media, the owner's metadata), read from vCD only when a policy needs
//! them. [`OwnerKey`] is the one table of owner-fact keys; [`OwnerFacts`] holds what was read
//! and, for what could not be had, why ([`Unknown`]).

use std::collections::BTreeMap;
use std::fmt;

/// Owner facts that come together: one group is one read from vCD (`vapp` and `vm` share the
/// read of the owner vApp or VM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FactGroup {
    Vapp,
    Vm,
    Media,
    Metadata,
}

impl FactGroup {
    pub const ALL: [FactGroup; 4] = [
        FactGroup::Vapp,
        FactGroup::Vm,
        FactGroup::Media,
        FactGroup::Metadata,
    ];

    /// The group's table name in a policy: `vapp`, `vm`, `media`, `metadata`.
    pub fn name(self) -> &'static str {
        match self {
            FactGroup::Vapp => "vapp",
            FactGroup::Vm => "vm",
            FactGroup::Media => "media",
            FactGroup::Metadata => "metadata",
        }
    }

    pub fn parse(name: &str) -> Option<FactGroup> {
        FactGroup::ALL
            .into_iter()
            .find(|group| group.name() == name)
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of [`FactGroup`]s: what a rule or a policy needs read before it can decide.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs(u8);

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

    /// The groups in the set, in [`FactGroup::ALL`] order.
    pub fn groups(self) -> impl Iterator<Item = FactGroup> {
        FactGroup::ALL
            .into_iter()
            .filter(move |group| self.contains(*group))
    }
}

/// Operations whose owner vCD documents, with that owner's type: a `vdc*Media` operation is
/// about a Media, a vApp operation about the vApp (vCD's task `operationName`s; the owner is
/// the task's `TaskOwner`). Used to warn about rules that can never see the facts they ask for.
const DOCUMENTED_OWNERS: &[(&str, &str)] = &[
    ("vdcUploadMedia", "media"),
    ("vdcCopyMedia", "media"),
    ("vdcDeleteMedia", "media"),
    ("vdcUpdateMedia", "media"),
    ("vdcInstantiateVapp", "vApp"),
    ("vdcComposeVapp", "vApp"),
    ("vdcRecomposeVapp", "vApp"),
    ("vdcDeleteVapp", "vApp"),
    ("vdcCopyVapp", "vApp"),
    ("vdcUploadOvfContents", "vAppTemplate"),
    ("vdcCaptureTemplate", "vAppTemplate"),
    ("vdcCopyTemplate", "vAppTemplate"),
    ("vdcDeleteTemplate", "vAppTemplate"),
];

/// The owner type of `operation` when vCD documents it (case-insensitive).
pub(crate) fn documented_owner(operation: &str) -> Option<&'static str> {
    DOCUMENTED_OWNERS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(operation))
        .map(|(_, owner)| *owner)
}

/// Whether an owner of type `owner` (`vApp`, `vm`, `media`, …) has the facts of `group`.
pub(crate) fn owner_has(owner: &str, group: FactGroup) -> bool {
    matches!(
        (owner.to_ascii_lowercase().as_str(), group),
        (
            "vapp",
            FactGroup::Vapp | FactGroup::Vm | FactGroup::Metadata
        ) | ("vm", FactGroup::Vm | FactGroup::Metadata)
            | ("media", FactGroup::Media | FactGroup::Metadata)
    )
}

/// Whether a fact is compared as a number (`{ gt, ge, lt, le, eq }`) or matched as text (globs,
/// regexes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactKind {
    Number,
    Text,
}

/// Declares [`OwnerKey`] from one list of `Variant => Group "group.field" Kind` entries.
macro_rules! owner_keys {
    ($($(#[doc = $doc:literal])+ $variant:ident => $group:ident $name:literal $kind:ident,)+) => {
        /// An owner fact with a fixed name (`metadata.<key>` entries are open-ended and have
        /// none), in the order `explain` shows them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum OwnerKey {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl OwnerKey {
            pub const ALL: &'static [OwnerKey] = &[$(OwnerKey::$variant,)+];

            /// The key as written in a policy, e.g. `vm.memory_mb`.
            pub fn name(self) -> &'static str {
                match self {
                    $(OwnerKey::$variant => $name,)+
                }
            }

            pub fn group(self) -> FactGroup {
                match self {
                    $(OwnerKey::$variant => FactGroup::$group,)+
                }
            }

            pub fn kind(self) -> FactKind {
                match self {
                    $(OwnerKey::$variant => FactKind::$kind,)+
                }
            }
        }
    };
}

owner_keys! {
    /// How many VMs the owner vApp has (its `Children/Vm`).
    VappVmCount => Vapp "vapp.vm_count" Number,
    /// Virtual CPUs of a VM.
    VmCpu => Vm "vm.cpu" Number,
    /// Memory of a VM in MiB.
    VmMemoryMb => Vm "vm.memory_mb" Number,
    /// The sum of a VM's disks in GiB.
    VmDiskGb => Vm "vm.disk_gb" Number,
    /// The name of a VM's storage policy.
    VmStorageProfile => Vm "vm.storage_profile" Text,
    /// The networks a VM's NICs connect to (matches when any NIC's does).
    VmNetwork => Vm "vm.network" Text,
    /// The owner Media's size in GiB, as a fraction (bytes / 2^30).
    MediaSizeGb => Media "media.size_gb" Number,
    /// The owner Media's image type, e.g. `iso`, `floppy`.
    MediaImageType => Media "media.image_type" Text,
}

impl OwnerKey {
    /// The part after the group, e.g. `memory_mb`.
    pub fn field(self) -> &'static str {
        let name = self.name();
        name.split_once('.').map_or(name, |(_, field)| field)
    }

    /// The key of `group` named `field`.
    pub fn parse(group: FactGroup, field: &str) -> Option<OwnerKey> {
        OwnerKey::ALL
            .iter()
            .copied()
            .find(|key| key.group() == group && key.field() == field)
    }

    /// The field names of `group`, in declaration order.
    pub fn fields(group: FactGroup) -> impl Iterator<Item = &'static str> {
        OwnerKey::ALL
            .iter()
            .filter(move |key| key.group() == group)
            .map(|key| key.field())
    }
}

/// Why an owner fact could not be had.
#[derive(Debug, Clone, PartialEq)]
pub enum Unknown {
    /// Nobody gave it: a `[[test]]` case or `explain` without it.
    NotGiven,
    /// The task's owner is of a type that has no such fact (e.g. `vm.*` of a Media); holds
    /// the owner type as vCD named it, empty when the task names no owner.
    OwnerType(String),
    /// vCD's document leaves it out; says what is missing.
    Missing(String),
    /// Reading the owner from vCD failed after retries; the error.
    ReadFailed(String),
}

impl fmt::Display for Unknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unknown::NotGiven => f.write_str("not given"),
            Unknown::OwnerType(kind) if kind.is_empty() => {
                f.write_str("the task names no owner of a known type")
            }
            Unknown::OwnerType(kind) => write!(f, "the task's owner is a {kind}"),
            Unknown::Missing(what) => write!(f, "vCD's answer has no {what}"),
            Unknown::ReadFailed(error) => write!(f, "reading the owner failed: {error}"),
        }
    }
}

/// A fact a rule needed that was unknown, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct UnknownFact {
    /// The key as written in a policy, e.g. `vm.memory_mb` or `metadata.env`.
    pub key: String,
    pub reason: Unknown,
}

impl fmt::Display for UnknownFact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.key, self.reason)
    }
}

/// One VM: the owner VM, or one of the owner vApp's. A field is `None` when vCD's document
/// says nothing about it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VmFacts {
    pub name: String,
    pub cpu: Option<u64>,
    pub memory_mb: Option<u64>,
    pub disk_gb: Option<f64>,
    pub storage_profile: Option<String>,
    /// The network of each NIC, in document order (empty: the VM has no NIC).
    pub networks: Option<Vec<String>>,
}

/// The owner Media.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaFacts {
    /// `size` / 2^30: the size the uploading client declared, in GiB.
    pub size_gb: Option<f64>,
    pub image_type: Option<String>,
}

/// A fact's value as a rule sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FactValue<'a> {
    Number(f64),
    Text(&'a str),
    /// Several values, of which any may match (a VM's NIC networks).
    Texts(&'a [String]),
}

/// Everything read about a task's owner, each group known or unknown with its reason.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnerFacts {
    /// `vapp.vm_count`.
    pub vm_count: Result<u64, Unknown>,
    /// The owner vApp's VMs, or the owner VM alone.
    pub vms: Result<Vec<VmFacts>, Unknown>,
    pub media: Result<MediaFacts, Unknown>,
    /// The owner's metadata entries, key to value as text.
    pub metadata: Result<BTreeMap<String, String>, Unknown>,
}

impl Default for OwnerFacts {
    fn default() -> OwnerFacts {
        OwnerFacts {
            vm_count: Err(Unknown::NotGiven),
            vms: Err(Unknown::NotGiven),
            media: Err(Unknown::NotGiven),
            metadata: Err(Unknown::NotGiven),
        }
    }
}

impl VmFacts {
    /// The VM's value for a `vm.*` key; `Err` says what the document lacked.
    pub fn value(&self, key: OwnerKey) -> Result<FactValue<'_>, Unknown> {
        let missing = |what: &str| Unknown::Missing(format!("{what} for VM {:?}", self.name));
        let number = |value: Option<u64>, what| {
            value
                .map(|v| FactValue::Number(v as f64))
                .ok_or_else(|| missing(what))
        };
        match key {
            OwnerKey::VmCpu => number(self.cpu, "CPU count"),
            OwnerKey::VmMemoryMb => number(self.memory_mb, "memory size"),
            OwnerKey::VmDiskGb => self
                .disk_gb
                .map(FactValue::Number)
                .ok_or_else(|| missing("disk sizes")),
            OwnerKey::VmStorageProfile => self
                .storage_profile
                .as_deref()
                .map(FactValue::Text)
                .ok_or_else(|| missing("StorageProfile")),
            OwnerKey::VmNetwork => self
                .networks
                .as_deref()
                .map(FactValue::Texts)
                .ok_or_else(|| missing("NetworkConnectionSection")),
            other => Err(Unknown::Missing(format!("{} on a VM", other.name()))),
        }
    }
}

impl OwnerFacts {
    /// The value of a `vapp.*` or `media.*` key (`vm.*` keys are per VM: [`VmFacts::value`]).
    pub fn value(&self, key: OwnerKey) -> Result<FactValue<'_>, Unknown> {
        match key {
            OwnerKey::VappVmCount => self
                .vm_count
                .clone()
                .map(|count| FactValue::Number(count as f64)),
            OwnerKey::MediaSizeGb => {
                let media = self.media.as_ref().map_err(Clone::clone)?;
                media
                    .size_gb
                    .map(FactValue::Number)
                    .ok_or_else(|| Unknown::Missing("Media size".to_owned()))
            }
            OwnerKey::MediaImageType => {
                let media = self.media.as_ref().map_err(Clone::clone)?;
                media
                    .image_type
                    .as_deref()
                    .map(FactValue::Text)
                    .ok_or_else(|| Unknown::Missing("Media imageType".to_owned()))
            }
            vm_key => Err(Unknown::Missing(format!("{} outside a VM", vm_key.name()))),
        }
    }

    /// The owner's metadata entry `key`.
    pub fn metadata_value(&self, key: &str) -> Result<FactValue<'_>, Unknown> {
        let entries = self.metadata.as_ref().map_err(Clone::clone)?;
        entries
            .get(key)
            .map(|value| FactValue::Text(value))
            .ok_or_else(|| Unknown::Missing(format!("metadata entry {key:?}")))
    }

    /// Sets one fact written `group.field` (`vm.memory_mb`, `metadata.env`), as `explain
    /// --fact` takes them: `vm.*` facts describe one VM named `vm`. `Ok(false)` when `name` is
    /// no owner fact; `Err` when the value is not of the fact's kind.
    pub fn set(&mut self, name: &str, value: &str) -> Result<bool, String> {
        let Some((group, field)) = name.split_once('.') else {
            return Ok(false);
        };
        let Some(group) = FactGroup::parse(group) else {
            return Ok(false);
        };
        if group == FactGroup::Metadata {
            known_or_default(&mut self.metadata).insert(field.to_owned(), value.to_owned());
            return Ok(true);
        }
        let Some(key) = OwnerKey::parse(group, field) else {
            let known: Vec<&str> = OwnerKey::fields(group).collect();
            return Err(format!(
                "{name:?}: {} has no fact {field:?}; use {}",
                group.name(),
                known.join(", ")
            ));
        };
        let number = || {
            value
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("{name:?} is a number, not {value:?}"))
        };
        match key {
            OwnerKey::VappVmCount => self.vm_count = Ok(number()? as u64),
            OwnerKey::MediaSizeGb => self.media_mut().size_gb = Some(number()?),
            OwnerKey::MediaImageType => self.media_mut().image_type = Some(value.to_owned()),
            OwnerKey::VmCpu => self.vm_mut().cpu = Some(number()? as u64),
            OwnerKey::VmMemoryMb => self.vm_mut().memory_mb = Some(number()? as u64),
            OwnerKey::VmDiskGb => self.vm_mut().disk_gb = Some(number()?),
            OwnerKey::VmStorageProfile => self.vm_mut().storage_profile = Some(value.to_owned()),
            OwnerKey::VmNetwork => self
                .vm_mut()
                .networks
                .get_or_insert_with(Vec::new)
                .push(value.to_owned()),
        }
        Ok(true)
    }

    fn media_mut(&mut self) -> &mut MediaFacts {
        known_or_default(&mut self.media)
    }

    /// The one VM `explain --fact vm.…` describes.
    fn vm_mut(&mut self) -> &mut VmFacts {
        let vms = known_or_default(&mut self.vms);
        if vms.is_empty() {
            vms.push(VmFacts {
                name: "vm".to_owned(),
                ..VmFacts::default()
            });
        }
        &mut vms[0]
    }

    /// Whether anything is known or was tried: false for facts nobody gave or read.
    fn any_given(&self) -> bool {
        let given = |unknown: Option<&Unknown>| unknown != Some(&Unknown::NotGiven);
        given(self.vm_count.as_ref().err())
            || given(self.vms.as_ref().err())
            || given(self.media.as_ref().err())
            || given(self.metadata.as_ref().err())
    }
}

/// The known value, made known (empty) first if it was not.
fn known_or_default<T: Default>(slot: &mut Result<T, Unknown>) -> &mut T {
    if slot.is_err() {
        *slot = Ok(T::default());
    }
    match slot {
        Ok(value) => value,
        Err(_) => unreachable!("made Ok above"),
    }
}

/// Lines of `group  value` for `explain`, or nothing when no owner fact was given or read.
impl fmt::Display for OwnerFacts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.any_given() {
            return Ok(());
        }
        writeln!(f, "owner facts:")?;
        match &self.vm_count {
            Ok(count) => writeln!(f, "  vapp.vm_count  {count}")?,
            Err(reason) => writeln!(f, "  vapp           unknown: {reason}")?,
        }
        match &self.vms {
            Ok(vms) if vms.is_empty() => writeln!(f, "  vm             none")?,
            Ok(vms) => {
                for vm in vms {
                    writeln!(f, "  vm {:?}: {}", vm.name, VmLine(vm))?;
                }
            }
            Err(reason) => writeln!(f, "  vm             unknown: {reason}")?,
        }
        match &self.media {
            Ok(media) => {
                let size = media
                    .size_gb
                    .map_or("unknown".to_owned(), |gb| format!("{gb}"));
                let kind = media.image_type.as_deref().unwrap_or("unknown");
                writeln!(f, "  media          size_gb {size}, image_type {kind:?}")?;
            }
            Err(reason) => writeln!(f, "  media          unknown: {reason}")?,
        }
        match &self.metadata {
            Ok(entries) if entries.is_empty() => writeln!(f, "  metadata       none")?,
            Ok(entries) => {
                for (key, value) in entries {
                    writeln!(f, "  metadata.{key} = {value:?}")?;
                }
            }
            Err(reason) => writeln!(f, "  metadata       unknown: {reason}")?,
        }
        Ok(())
    }
}

/// `cpu 2, memory_mb 4096, disk_gb 16, storage_profile "Gold", network ["net1"]`, with
/// `unknown` for what the document left out.
struct VmLine<'a>(&'a VmFacts);

impl fmt::Display for VmLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, key) in OwnerKey::ALL
            .iter()
            .filter(|key| key.group() == FactGroup::Vm)
            .enumerate()
        {
            let separator = if i == 0 { "" } else { ", " };
            write!(f, "{separator}{} ", key.field())?;
            match self.0.value(*key) {
                Ok(value) => write!(f, "{value}")?,
                Err(_) => f.write_str("unknown")?,
            }
        }
        Ok(())
    }
}

/// Numbers as written in a policy (`16`, `0.5`), text quoted, lists in brackets.
impl fmt::Display for FactValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FactValue::Number(n) => write!(f, "{n}"),
            FactValue::Text(text) => write!(f, "{text:?}"),
            FactValue::Texts(texts) => write!(f, "{texts:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_owner_key_parses_back_from_its_group_and_field() {
        for key in OwnerKey::ALL {
            assert_eq!(OwnerKey::parse(key.group(), key.field()), Some(*key));
            assert_eq!(
                key.name(),
                format!("{}.{}", key.group().name(), key.field())
            );
        }
        assert_eq!(OwnerKey::parse(FactGroup::Vm, "size_gb"), None);
        assert_eq!(
            OwnerKey::fields(FactGroup::Media).collect::<Vec<_>>(),
            ["size_gb", "image_type"]
        );
    }

    #[test]
    fn needs_is_a_set_of_groups() {
        let needs = Needs::default()
            .with(FactGroup::Vm)
            .union(Needs::default().with(FactGroup::Metadata));
        assert!(needs.contains(FactGroup::Vm) && !needs.contains(FactGroup::Media));
        assert_eq!(
            needs.groups().collect::<Vec<_>>(),
            [FactGroup::Vm, FactGroup::Metadata]
        );
        assert!(Needs::default().is_empty());
    }

    #[test]
    fn facts_are_set_by_name_as_explain_takes_them() {
        let mut facts = OwnerFacts::default();
        for (name, value) in [
            ("vm.memory_mb", "131072"),
            ("vm.network", "a"),
            ("vm.network", "b"),
            ("media.size_gb", "0.5"),
            ("metadata.env", "prod"),
        ] {
            assert_eq!(facts.set(name, value), Ok(true), "{name}");
        }
        let vms = facts.vms.as_ref().unwrap();
        assert_eq!(vms.len(), 1);
        assert_eq!(vms[0].memory_mb, Some(131072));
        assert_eq!(vms[0].networks, Some(vec!["a".into(), "b".into()]));
        assert_eq!(
            facts.value(OwnerKey::MediaSizeGb),
            Ok(FactValue::Number(0.5))
        );
        assert_eq!(facts.set("org", "x"), Ok(false));
        assert!(
            facts
                .set("vm.memory", "1")
                .unwrap_err()
                .contains("memory_mb")
        );
        assert!(
            facts
                .set("vm.cpu", "many")
                .unwrap_err()
                .contains("a number")
        );
    }

    #[test]
    fn values_say_why_they_are_unknown() {
        let facts = OwnerFacts {
            media: Err(Unknown::OwnerType("vApp".into())),
            metadata: Ok(BTreeMap::from([("env".into(), "prod".into())])),
            ..OwnerFacts::default()
        };
        assert_eq!(
            facts.value(OwnerKey::MediaSizeGb).unwrap_err().to_string(),
            "the task's owner is a vApp"
        );
        assert_eq!(facts.metadata_value("env"), Ok(FactValue::Text("prod")));
        assert_eq!(
            facts.metadata_value("team").unwrap_err().to_string(),
            "vCD's answer has no metadata entry \"team\""
        );
        let vm = VmFacts {
            name: "db".into(),
            cpu: Some(4),
            ..VmFacts::default()
        };
        assert_eq!(vm.value(OwnerKey::VmCpu), Ok(FactValue::Number(4.0)));
        assert_eq!(
            vm.value(OwnerKey::VmMemoryMb).unwrap_err().to_string(),
            "vCD's answer has no memory size for VM \"db\""
        );
    }
}
