//! Owner facts: what a blocking task's operation is about, read from vCD only when a policy
//! needs them. [`OwnerFacts`] holds, for each group of the registry, its [`Record`]s or why
//! they could not be had ([`Unknown`]).

use std::fmt;

use super::group::{FactGroup, FactKind, Group, OwnerFact};
use super::value::{FactValue, Record, Unknown, Value};

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
    group.spec().has_owner(owner)
}

/// Everything read about a task's owner: for each group of the registry its records, or why
/// they are unknown.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnerFacts {
    /// By [`FactGroup`] index.
    groups: Vec<Result<Vec<Record>, Unknown>>,
}

impl Default for OwnerFacts {
    fn default() -> OwnerFacts {
        OwnerFacts {
            groups: FactGroup::all().map(|_| Err(Unknown::NotGiven)).collect(),
        }
    }
}

impl OwnerFacts {
    /// The records of `group` (the VMs of a vApp; one record for other groups), or why they
    /// are unknown.
    pub fn records(&self, group: FactGroup) -> Result<&[Record], &Unknown> {
        self.groups[group.index()].as_deref()
    }

    /// Sets what is known of `group`.
    pub fn set_records(&mut self, group: FactGroup, records: Result<Vec<Record>, Unknown>) {
        self.groups[group.index()] = records;
    }

    /// The facts with `group` set, for building them in tests and benchmarks.
    pub fn with(mut self, group: &str, records: Result<Vec<Record>, Unknown>) -> OwnerFacts {
        if let Some(group) = FactGroup::parse(group) {
            self.set_records(group, records);
        }
        self
    }

    /// The value of a fact of a group of one record (a group of several is matched record by
    /// record: [`Record::get`]).
    pub fn value(&self, fact: &OwnerFact) -> Result<FactValue<'_>, Unknown> {
        let records = self.records(fact.group).map_err(Clone::clone)?;
        match records.first() {
            Some(record) => fact.value_in(record),
            None => Err(Unknown::Missing(fact.name())),
        }
    }

    /// Sets one fact written `group.field` (`vm.memory_mb`, `metadata.env`), as `explain
    /// --fact` takes them: a group of several records gets one, named after the group.
    /// `Ok(false)` when `name` is no owner fact; `Err` when the group has no such field or the
    /// value is not of the fact's kind.
    pub fn set(&mut self, name: &str, value: &str) -> Result<bool, String> {
        let Some((group, field)) = name.split_once('.') else {
            return Ok(false);
        };
        let Some(group) = FactGroup::parse(group) else {
            return Ok(false);
        };
        let spec = group.spec();
        let Some(fact) = OwnerFact::new(group, field) else {
            let known: Vec<&str> = spec.field_names().collect();
            return Err(format!(
                "{name:?}: {} has no fact {field:?}; use {}",
                spec.name,
                known.join(", ")
            ));
        };
        let parsed = match fact.kind() {
            FactKind::Number => Value::Number(
                value
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| format!("{name:?} is a number, not {value:?}"))?,
            ),
            FactKind::Text => Value::Text(value.to_owned()),
        };
        let slot = &mut self.groups[group.index()];
        if slot.is_err() {
            *slot = Ok(Vec::new());
        }
        let Ok(records) = slot else {
            unreachable!("made Ok above")
        };
        if records.is_empty() {
            let name = if spec.each.is_some() { spec.name } else { "" };
            records.push(Record::new(name));
        }
        let many = fact.spec().is_some_and(|field| field.many);
        records[0].set(field, many, parsed);
        Ok(true)
    }

    /// Whether anything is known or was tried: false for facts nobody gave or read.
    fn any_given(&self) -> bool {
        self.groups
            .iter()
            .any(|group| group.as_ref().err() != Some(&Unknown::NotGiven))
    }
}

/// Lines of `group  values` for `explain`, or nothing when no owner fact was given or read.
impl fmt::Display for OwnerFacts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.any_given() {
            return Ok(());
        }
        writeln!(f, "owner facts:")?;
        for group in FactGroup::all() {
            let spec = group.spec();
            let name = spec.name;
            match self.records(group) {
                Err(reason) => writeln!(f, "  {name:<14} unknown: {reason}")?,
                Ok(records)
                    if records.is_empty()
                        || (spec.open.is_some() && records.iter().all(Record::is_empty)) =>
                {
                    writeln!(f, "  {name:<14} none")?
                }
                Ok(records) if spec.open.is_some() => {
                    for (key, value) in records.iter().flat_map(Record::entries) {
                        writeln!(f, "  {name}.{key} = {value}")?;
                    }
                }
                Ok(records) if spec.each.is_some() => {
                    for record in records {
                        writeln!(f, "  {name} {:?}: {}", record.name, Line(spec, record))?;
                    }
                }
                Ok(records) => {
                    for record in records {
                        writeln!(f, "  {name:<14} {}", Line(spec, record))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// `cpu 2, memory_mb 4096, disk_gb 16, storage_profile "Gold", network ["net1"]`, with
/// `unknown` for what the document left out.
struct Line<'a>(&'a Group, &'a Record);

impl fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, field) in self.0.fields.iter().enumerate() {
            let separator = if i == 0 { "" } else { ", " };
            write!(f, "{separator}{} ", field.name)?;
            match self.1.get(field.name) {
                Some(value) => write!(f, "{value}")?,
                None => f.write_str("unknown")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Needs;

    fn fact(name: &str) -> OwnerFact {
        OwnerFact::parse(name).unwrap()
    }

    fn group(name: &str) -> FactGroup {
        FactGroup::parse(name).unwrap()
    }

    #[test]
    fn every_field_parses_back_from_its_name() {
        for group in FactGroup::all() {
            assert_eq!(FactGroup::parse(group.name()), Some(group));
            for field in group.spec().fields {
                let name = format!("{}.{}", group.name(), field.name);
                assert_eq!(fact(&name).name(), name);
                assert_eq!(fact(&name).kind(), field.kind);
            }
        }
        assert_eq!(OwnerFact::parse("vm.size_gb"), None);
        assert_eq!(
            fact("metadata.any-key").kind(),
            crate::facts::FactKind::Text
        );
        assert_eq!(
            group("media").spec().field_names().collect::<Vec<_>>(),
            ["size_gb", "image_type"]
        );
    }

    #[test]
    fn every_group_fits_in_a_set_of_needs_and_names_its_owners_in_lower_case() {
        assert!(crate::facts::GROUPS.len() <= 32, "Needs is a u32");
        for group in FactGroup::all() {
            let owners = group.spec().owners;
            assert!(
                owners.iter().all(|o| *o == o.to_ascii_lowercase()),
                "{group:?}"
            );
        }
        assert!(owner_has("vApp", group("vdc")) && owner_has("MEDIA", group("vdc")));
        assert!(!owner_has("vAppTemplate", group("vdc")) && !owner_has("media", group("vm")));
    }

    #[test]
    fn needs_is_a_set_of_groups() {
        let needs = Needs::default()
            .with(group("vm"))
            .union(Needs::default().with(group("metadata")));
        assert!(needs.contains(group("vm")) && !needs.contains(group("media")));
        assert_eq!(
            needs.groups().collect::<Vec<_>>(),
            [group("vm"), group("metadata")]
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
            ("vdc.name", "prod-vdc"),
        ] {
            assert_eq!(facts.set(name, value), Ok(true), "{name}");
        }
        let vms = facts.records(group("vm")).unwrap();
        assert_eq!(vms.len(), 1);
        assert_eq!(vms[0].name, "vm");
        assert_eq!(vms[0].get("memory_mb"), Some(FactValue::Number(131072.0)));
        let networks = ["a".to_owned(), "b".to_owned()];
        assert_eq!(vms[0].get("network"), Some(FactValue::Texts(&networks)));
        assert_eq!(
            facts.value(&fact("media.size_gb")),
            Ok(FactValue::Number(0.5))
        );
        assert_eq!(
            facts.value(&fact("vdc.name")),
            Ok(FactValue::Text("prod-vdc"))
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
        let facts = OwnerFacts::default()
            .with("media", Err(Unknown::OwnerType("vApp".into())))
            .with(
                "metadata",
                Ok(vec![
                    Record::new("").with("env", Some(Value::Text("prod".into()))),
                ]),
            );
        assert_eq!(
            facts.value(&fact("media.size_gb")).unwrap_err().to_string(),
            "the task's owner is a vApp"
        );
        assert_eq!(
            facts.value(&fact("metadata.env")),
            Ok(FactValue::Text("prod"))
        );
        assert_eq!(
            facts.value(&fact("metadata.team")).unwrap_err().to_string(),
            "vCD's answer has no metadata entry \"team\""
        );
        let vm = Record::new("db").with("cpu", Some(Value::Number(4.0)));
        assert_eq!(fact("vm.cpu").value_in(&vm), Ok(FactValue::Number(4.0)));
        assert_eq!(
            fact("vm.memory_mb").value_in(&vm).unwrap_err().to_string(),
            "vCD's answer has no memory size for VM \"db\""
        );
    }

    #[test]
    fn explain_shows_every_group_known_or_not() {
        let mut facts = OwnerFacts::default();
        facts.set("vm.cpu", "2").unwrap();
        facts.set("vdc.allocation_model", "Flex").unwrap();
        facts.set_records(group("metadata"), Ok(vec![Record::new("")]));
        assert_eq!(
            facts.to_string(),
            "owner facts:\n  vapp           unknown: not given\n  \
             vm \"vm\": cpu 2, memory_mb unknown, disk_gb unknown, storage_profile unknown, \
             network unknown\n  media          unknown: not given\n  metadata       none\n  \
             vdc            name unknown, allocation_model \"Flex\"\n"
        );
        assert_eq!(OwnerFacts::default().to_string(), "");
    }
}
