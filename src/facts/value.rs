//! The values of owner facts: a [`Record`] of one object (a VM, the Media, the VDC) holding a
//! [`Value`] per fact vCD's document gave, [`FactValue`] as a rule sees one, and [`Unknown`]:
//! why a fact could not be had.

use std::collections::BTreeMap;
use std::fmt;

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
    /// Counting a quota's recent tasks in vCD failed; the error.
    CountFailed(String),
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
            Unknown::CountFailed(error) => write!(f, "counting in vCD failed: {error}"),
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

/// One value of a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Text(String),
    /// Several texts, of which any may match (a VM's NIC networks).
    Texts(Vec<String>),
}

/// One record of a group: the owner vApp's count, one VM, the Media, the metadata entries, the
/// VDC. A fact the document said nothing about is absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    /// What the record is about, for messages: a VM's name; empty for a group of one record.
    pub name: String,
    values: BTreeMap<Box<str>, Value>,
}

impl Record {
    pub fn new(name: impl Into<String>) -> Record {
        Record {
            name: name.into(),
            values: BTreeMap::new(),
        }
    }

    /// The record with `field` set to `value`; a `None` leaves it unknown.
    pub fn with(mut self, field: &str, value: Option<Value>) -> Record {
        if let Some(value) = value {
            self.values.insert(field.into(), value);
        }
        self
    }

    /// The value of `field`, if the record has it.
    pub fn get(&self, field: &str) -> Option<FactValue<'_>> {
        self.values.get(field).map(|value| match value {
            Value::Number(n) => FactValue::Number(*n),
            Value::Text(text) => FactValue::Text(text),
            Value::Texts(texts) => FactValue::Texts(texts),
        })
    }

    /// The entries, in key order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, FactValue<'_>)> {
        self.values
            .keys()
            .filter_map(|key| Some((&**key, self.get(key)?)))
    }

    /// Sets `field` as `explain --fact` gives it: for a fact of several texts (`many`), one
    /// more text.
    pub(crate) fn set(&mut self, field: &str, many: bool, value: Value) {
        match (many, value) {
            (true, Value::Text(text)) => match self.values.get_mut(field) {
                Some(Value::Texts(texts)) => texts.push(text),
                _ => {
                    self.values.insert(field.into(), Value::Texts(vec![text]));
                }
            },
            (_, value) => {
                self.values.insert(field.into(), value);
            }
        }
    }
}

/// A fact's value as a rule sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FactValue<'a> {
    Number(f64),
    Text(&'a str),
    /// Several values, of which any may match (a VM's NIC networks).
    Texts(&'a [String]),
}

impl Record {
    /// Whether the record holds no value at all (metadata without entries).
    pub(crate) fn is_empty(&self) -> bool {
        self.values.is_empty()
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
