//! The policy file as written: serde structs that check shape (known keys, value types) and
//! keep every value's position. Meaning (actions, durations, regexes, uniqueness) is checked
//! when these are compiled.
//!
//! Each `[defaults]`, `[[rule]]` and `[[test]]` table is deserialized on its own, so a mistake
//! in one rule does not hide the mistakes in the next, nor in the same rule.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::error::{PolicyError, Source, did_you_mean};
use crate::facts::{FactGroup, MatchKey, OwnerFact};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDefaults {
    pub action: Option<Spanned<String>>,
    pub message: Option<Spanned<String>>,
}

/// A `[[rule]]` table. Its match keys are read through [`MatchKey`], so the policy language
/// gains a key when the facts do.
#[derive(Debug, Default)]
pub(crate) struct RawRule {
    pub name: Option<Spanned<String>>,
    /// The match keys given, in [`MatchKey`] order.
    pub matches: BTreeMap<MatchKey, Spanned<RawMatch>>,
    pub action: Option<Spanned<String>>,
    pub message: Option<Spanned<String>>,
    pub hold: Option<Spanned<RawHold>>,
    pub ask: Option<Spanned<RawAsk>>,
    pub dry_run: bool,
    /// Owner-fact conditions (`vapp`, `vm`, `metadata`, … tables), in the order written.
    pub owner: RawOwnerValues,
    pub on_unknown: Option<Spanned<String>>,
    /// Window names (a name or a list; other shapes are refused when compiled).
    pub during: Option<Spanned<RawMatch>>,
    pub outside: Option<Spanned<RawMatch>>,
    pub from: Option<Spanned<String>>,
    pub until: Option<Spanned<String>>,
    pub quota: Option<Spanned<RawQuota>>,
}

/// A rule's `quota = { max = 20, per = "24h", by = "org" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQuota {
    pub max: Option<Spanned<i64>>,
    pub per: Option<Spanned<String>>,
    pub by: Option<Spanned<String>>,
}

/// A `[[window]]` table: `schedule` and `duration`, or `from` and `until`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWindow {
    pub name: Option<Spanned<String>>,
    pub schedule: Option<Spanned<String>>,
    pub duration: Option<Spanned<String>>,
    pub timezone: Option<Spanned<String>>,
    pub from: Option<Spanned<String>>,
    pub until: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHold {
    pub max: Option<Spanned<String>>,
    pub fallback: Option<Spanned<String>>,
    pub keepalive: Option<Spanned<String>>,
    pub approvers: Option<Spanned<Vec<Spanned<String>>>>,
    pub approvals: Option<Spanned<i64>>,
    pub remind_every: Option<Spanned<String>>,
    pub escalate_after: Option<Spanned<String>>,
    pub escalate_to: Option<Spanned<Vec<Spanned<String>>>>,
}

/// A rule's `ask = { service, on_error, recheck }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAsk {
    pub service: Option<Spanned<String>>,
    pub on_error: Option<Spanned<String>>,
    pub recheck: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTest {
    pub name: Option<Spanned<String>>,
    #[serde(default)]
    pub task: RawTask,
    pub expect: Option<Spanned<String>>,
    pub rule: Option<Spanned<String>>,
    /// The moment the task is decided at (RFC 3339); the moment `test` runs when left out.
    pub at: Option<Spanned<String>>,
    /// The count every quota finds for the task; quotas are unknown when left out.
    pub recent: Option<Spanned<i64>>,
    /// The decision service's answer when a rule asks one (`resume`, `abort`, `fail`, `hold`).
    pub ask: Option<Spanned<String>>,
}

/// The facts of a test task: match keys in [`MatchKey`] order (keys left out are empty
/// strings) and owner facts as given. Owner values are read as [`RawMatch`]es and checked to
/// be plain values when the test is compiled.
#[derive(Debug, Default)]
pub(crate) struct RawTask {
    pub facts: BTreeMap<MatchKey, String>,
    /// Owner-fact groups as given, in the order written.
    pub owner: Vec<(FactGroup, RawRecords)>,
}

/// The records a test task gives a group.
#[derive(Debug)]
pub(crate) enum RawRecords {
    /// `vm = { … }`: one record.
    One(RawOwnerValues),
    /// `vms = [{ … }, …]`: several (or none), for a group of several records.
    List(Vec<RawOwnerValues>),
}

/// Owner facts of one group (or one record of it) as written, in the order written.
pub(crate) type RawOwnerValues = Vec<(OwnerFact, Spanned<RawMatch>)>;

/// A match value as written. The position of a glob is that of the enclosing `Spanned`.
#[derive(Debug)]
pub(crate) enum RawMatch {
    Glob(String),
    List(Vec<Spanned<String>>),
    Regex(Spanned<String>),
    /// A plain number: equal.
    Number(f64),
    /// `{ gt = …, le = … }`: all must hold.
    Compare(Vec<(Comparison, Spanned<f64>)>),
    Not(Box<Spanned<RawMatch>>),
}

/// A numeric comparison of a fact with a bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Comparison {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
}

impl Comparison {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Comparison::Gt => "gt",
            Comparison::Ge => "ge",
            Comparison::Lt => "lt",
            Comparison::Le => "le",
            Comparison::Eq => "eq",
        }
    }

    /// Whether `value <op> bound`.
    pub(crate) fn holds(self, value: f64, bound: f64) -> bool {
        match self {
            Comparison::Gt => value > bound,
            Comparison::Ge => value >= bound,
            Comparison::Lt => value < bound,
            Comparison::Le => value <= bound,
            Comparison::Eq => value == bound,
        }
    }
}

/// One policy file's tables, each with the position of its header (or inline table).
#[derive(Debug, Default)]
pub(crate) struct RawFile {
    pub defaults: Option<Spanned<RawDefaults>>,
    pub rules: Vec<Spanned<RawRule>>,
    pub windows: Vec<Spanned<RawWindow>>,
    pub tests: Vec<Spanned<RawTest>>,
    /// Whether every `[[rule]]` in the file could be read. When not, checks that need the
    /// full set of rule names (a test's expected rule) would report false errors.
    pub rules_complete: bool,
}

/// Reads one file. A TOML syntax error ends the file; any other error skips only the table
/// it is in.
pub(crate) fn parse_file(source: &Source<'_>) -> (RawFile, Vec<PolicyError>) {
    let mut file = RawFile {
        rules_complete: true,
        ..RawFile::default()
    };
    let document = match DeTable::parse(source.text) {
        Ok(document) => document,
        Err(error) => {
            file.rules_complete = false;
            return (file, vec![syntax_error(source, &error)]);
        }
    };
    let mut errors = Vec::new();
    for (key, value) in document.get_ref() {
        match key.get_ref().as_ref() {
            "defaults" if value.get_ref().is_table() => match table(source, value, "[defaults]") {
                Ok(defaults) => file.defaults = Some(defaults),
                Err(mut e) => errors.append(&mut e),
            },
            "rule" => {
                let before = errors.len();
                file.rules = tables(source, value, "rule", &mut errors);
                file.rules_complete = errors.len() == before;
            }
            "test" => file.tests = tables(source, value, "test", &mut errors),
            "window" => file.windows = tables(source, value, "window", &mut errors),
            "defaults" => errors.push(source.error(
                value.span(),
                "`defaults` must be a table: write [defaults] on its own line",
            )),
            other => errors.push(source.error(key.span(), unknown_top_level(other))),
        }
    }
    (file, errors)
}

fn unknown_top_level(key: &str) -> String {
    let known = ["defaults", "rule", "window", "test"];
    let hint = did_you_mean(key, known)
        .map(|k| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default();
    format!(
        "unknown key `{key}` at the top level{hint}; a policy file holds only [defaults], \
         [[rule]], [[window]] and [[test]] tables"
    )
}

/// Deserializes `[[name]]`, an array of tables, item by item.
fn tables<T: for<'de> Deserialize<'de>>(
    source: &Source<'_>,
    value: &Spanned<DeValue<'_>>,
    name: &str,
    errors: &mut Vec<PolicyError>,
) -> Vec<Spanned<T>> {
    let context = format!("[[{name}]]");
    let DeValue::Array(items) = value.get_ref() else {
        errors.push(source.error(
            value.span(),
            format!("`{name}` must be an array of tables: write {context} before each one"),
        ));
        return Vec::new();
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items.iter() {
        if !item.get_ref().is_table() {
            errors.push(source.error(item.span(), format!("each {context} must be a table")));
            continue;
        }
        match table(source, item, &context) {
            Ok(parsed) => out.push(parsed),
            Err(mut e) => errors.append(&mut e),
        }
    }
    out
}

/// Deserializes one table. Serde stops at the first mistake, so the entry at fault is taken
/// out and the table read again until it reads cleanly: every unknown key and wrong type in
/// the table is reported at once, though the table itself is then left out.
fn table<T: for<'de> Deserialize<'de>>(
    source: &Source<'_>,
    value: &Spanned<DeValue<'_>>,
    context: &str,
) -> Result<Spanned<T>, Vec<PolicyError>> {
    let mut value = value.clone();
    let mut errors = Vec::new();
    loop {
        let error = match T::deserialize(ValueDeserializer::from(value.clone())) {
            Ok(parsed) if errors.is_empty() => return Ok(Spanned::new(value.span(), parsed)),
            Ok(_) => break,
            Err(error) => error,
        };
        let span = error.span().unwrap_or_else(|| value.span());
        let path = path_to(&value, span.start).unwrap_or_default();
        errors.push(source.error(span.clone(), describe(error.message(), context, &path)));
        if !remove_entry_at(&mut value, span.start) {
            break;
        }
    }
    errors.sort_by_key(|e| (e.line, e.col));
    Err(errors)
}

/// Removes the entry of a table whose key or value holds byte offset `offset`; false when
/// there is none.
fn remove_entry_at(value: &mut Spanned<DeValue<'_>>, offset: usize) -> bool {
    let DeValue::Table(table) = value.get_mut() else {
        return false;
    };
    let at_fault = table
        .iter()
        .find(|(key, child)| key.span().contains(&offset) || path_to(child, offset).is_some())
        .map(|(key, _)| key.get_ref().to_string());
    at_fault.is_some_and(|key| table.remove(key.as_str()).is_some())
}

fn syntax_error(source: &Source<'_>, error: &toml::de::Error) -> PolicyError {
    let span = error.span().unwrap_or(0..0);
    let mut message = error.message().to_owned();
    if message == "duplicate key"
        && let Some(key) = source.text.get(span.clone())
    {
        message = format!("duplicate key `{key}`: each key may appear only once per table");
    }
    source.error(span, format!("TOML syntax error: {message}"))
}

/// Rewrites serde's message into the policy's terms: "unknown field `x`, expected one of `a`,
/// `b`" becomes "unknown key `x` in [[rule]]; allowed keys: a, b"; other messages get the key
/// they are about in front.
fn describe(message: &str, context: &str, path: &[String]) -> String {
    let place = match path {
        [] => context.to_owned(),
        path => format!("`{}`", path.join(".")),
    };
    let Some(rest) = message.strip_prefix("unknown field ") else {
        return format!("{place}: {message}");
    };
    // Serde quotes every name in backticks: the unknown key first, then the allowed ones.
    let names: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    let Some((key, allowed)) = names.split_first() else {
        return format!("{place}: {message}");
    };
    let hint = did_you_mean(key, allowed.iter().copied())
        .map(|k| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default();
    format!(
        "unknown key `{key}` in {place}{hint}; allowed keys: {}",
        allowed.join(", ")
    )
}

/// The keys leading from `value` to the innermost table entry at byte offset `offset`, or
/// `None` when `offset` is not inside `value`. An offset on a key names the table holding it.
fn path_to(value: &Spanned<DeValue<'_>>, offset: usize) -> Option<Vec<String>> {
    let inside = value.span().contains(&offset);
    match value.get_ref() {
        DeValue::Table(table) => {
            for (key, child) in table.iter() {
                if key.span().contains(&offset) {
                    return Some(Vec::new());
                }
                if let Some(mut path) = path_to(child, offset) {
                    path.insert(0, key.get_ref().to_string());
                    return Some(path);
                }
            }
        }
        DeValue::Array(items) => {
            if let Some(path) = items.iter().find_map(|item| path_to(item, offset)) {
                return Some(path);
            }
        }
        _ => {}
    }
    inside.then(Vec::new)
}

impl<'de> Deserialize<'de> for RawMatch {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<RawMatch, D::Error> {
        deserializer.deserialize_any(RawMatchVisitor)
    }
}

struct RawMatchVisitor;

impl<'de> Visitor<'de> for RawMatchVisitor {
    type Value = RawMatch;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a glob string, a list of globs, { regex = \"…\" }, a number, { gt, ge, lt, le, eq } \
             or { not = <one of these> }",
        )
    }

    fn visit_str<E: de::Error>(self, glob: &str) -> Result<RawMatch, E> {
        Ok(RawMatch::Glob(glob.to_owned()))
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<RawMatch, E> {
        Ok(RawMatch::Number(number as f64))
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<RawMatch, E> {
        Ok(RawMatch::Number(number as f64))
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<RawMatch, E> {
        Ok(RawMatch::Number(number))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawMatch, A::Error> {
        let mut globs = Vec::new();
        while let Some(glob) = seq.next_element()? {
            globs.push(glob);
        }
        Ok(RawMatch::List(globs))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawMatch, A::Error> {
        let Some(keyword) = map.next_key::<Keyword>()? else {
            return Err(de::Error::custom(
                "an empty table matches nothing; write { regex = \"…\" } or { not = … }",
            ));
        };
        let raw = match keyword.comparison() {
            Some(first) => {
                let mut comparisons = vec![(first, map.next_value()?)];
                while let Some(keyword) = map.next_key::<Keyword>()? {
                    let Some(comparison) = keyword.comparison() else {
                        return Err(de::Error::custom(
                            "a match table holds comparisons (gt, ge, lt, le, eq) or one of regex \
                             or not, not both; to negate comparisons, nest them: \
                             { not = { gt = 8 } }",
                        ));
                    };
                    comparisons.push((comparison, map.next_value()?));
                }
                return Ok(RawMatch::Compare(comparisons));
            }
            None if keyword == Keyword::Regex => RawMatch::Regex(map.next_value()?),
            None => RawMatch::Not(Box::new(map.next_value()?)),
        };
        if map.next_key::<Keyword>()?.is_some() {
            return Err(de::Error::custom(
                "a match table holds exactly one of regex or not; to combine them, nest them: \
                 { not = { regex = \"…\" } }",
            ));
        }
        Ok(raw)
    }
}

/// The keys of a `[[rule]]` table, as serde lists them in "unknown key" messages.
static RULE_KEYS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let head = ["name"].into_iter();
    let groups = FactGroup::all().map(FactGroup::name);
    let tail = [
        "during",
        "outside",
        "from",
        "until",
        "quota",
        "on_unknown",
        "action",
        "message",
        "hold",
        "ask",
        "dry_run",
    ];
    head.chain(MatchKey::names())
        .chain(groups)
        .chain(tail)
        .collect()
});

/// The keys of a test task: match keys, then each group's table (and its list form).
static TASK_KEYS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let owner = FactGroup::all().flat_map(|group| [Some(group.name()), group.spec().test.list]);
    MatchKey::names().chain(owner.flatten()).collect()
});

/// The fields of each owner-fact group, as "unknown key" messages list them.
static GROUP_FIELDS: LazyLock<Vec<Vec<&'static str>>> = LazyLock::new(|| {
    FactGroup::all()
        .map(|group| group.spec().field_names().collect())
        .collect()
});

/// One key of a `[[rule]]` table. Deserialized as an identifier so that an unknown key is
/// reported at its own position, with the allowed keys.
enum RuleKey {
    Name,
    Match(MatchKey),
    Group(FactGroup),
    OnUnknown,
    Action,
    Message,
    Hold,
    Ask,
    DryRun,
    During,
    Outside,
    From,
    Until,
    Quota,
}

impl RuleKey {
    fn parse(key: &str) -> Option<RuleKey> {
        match key {
            "name" => Some(RuleKey::Name),
            "on_unknown" => Some(RuleKey::OnUnknown),
            "action" => Some(RuleKey::Action),
            "message" => Some(RuleKey::Message),
            "hold" => Some(RuleKey::Hold),
            "ask" => Some(RuleKey::Ask),
            "dry_run" => Some(RuleKey::DryRun),
            "during" => Some(RuleKey::During),
            "outside" => Some(RuleKey::Outside),
            "from" => Some(RuleKey::From),
            "until" => Some(RuleKey::Until),
            "quota" => Some(RuleKey::Quota),
            other => MatchKey::parse(other)
                .map(RuleKey::Match)
                .or_else(|| FactGroup::parse(other).map(RuleKey::Group)),
        }
    }
}

/// Reads the table of one owner-fact group (`vm = { memory_mb = { gt = 65536 } }`): its keys
/// are the group's fields (any key for an open group such as `metadata`), its values
/// [`RawMatch`]es.
struct GroupSeed(FactGroup);

/// A field of an owner-fact group, read as an identifier so that an unknown one is reported
/// at its own position with the group's fields.
struct FieldSeed(FactGroup);

impl<'de> DeserializeSeed<'de> for FieldSeed {
    type Value = OwnerFact;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<OwnerFact, D::Error> {
        deserializer.deserialize_identifier(FieldVisitor(self.0))
    }
}

struct FieldVisitor(FactGroup);

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = OwnerFact;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a fact of {}", self.0.name())
    }

    fn visit_str<E: de::Error>(self, field: &str) -> Result<OwnerFact, E> {
        OwnerFact::new(self.0, field)
            .ok_or_else(|| E::unknown_field(field, &GROUP_FIELDS[self.0.index()]))
    }
}

impl<'de> DeserializeSeed<'de> for GroupSeed {
    type Value = RawOwnerValues;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<RawOwnerValues, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for GroupSeed {
    type Value = RawOwnerValues;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a table of {} facts, e.g. {{ {} = … }}",
            self.0.name(),
            self.0.spec().field_names().next().unwrap_or("…")
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawOwnerValues, A::Error> {
        let mut values = Vec::new();
        while let Some(fact) = map.next_key_seed(FieldSeed(self.0))? {
            values.push((fact, map.next_value()?));
        }
        Ok(values)
    }
}

/// `vms = [{ … }, { … }]` in a test task: several records of a group.
struct ListSeed(FactGroup);

impl<'de> DeserializeSeed<'de> for ListSeed {
    type Value = Vec<RawOwnerValues>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Vec<RawOwnerValues>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ListSeed {
    type Value = Vec<RawOwnerValues>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a list of {} tables, e.g. [{{ … }}, {{ … }}]",
            self.0.name()
        )
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<RawOwnerValues>, A::Error> {
        let mut records = Vec::new();
        while let Some(record) = seq.next_element_seed(GroupSeed(self.0))? {
            records.push(record);
        }
        Ok(records)
    }
}

impl<'de> Deserialize<'de> for RuleKey {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<RuleKey, D::Error> {
        deserializer.deserialize_identifier(KeyVisitor(RuleKey::parse, &RULE_KEYS))
    }
}

/// One key of a test task: a match key, an owner-fact table, or a group's list of tables.
enum TaskKey {
    Match(MatchKey),
    Group(FactGroup),
    List(FactGroup),
}

impl<'de> Deserialize<'de> for TaskKey {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<TaskKey, D::Error> {
        let parse = |key: &str| {
            let list = || FactGroup::all().find(|group| group.spec().test.list == Some(key));
            MatchKey::parse(key)
                .map(TaskKey::Match)
                .or_else(|| FactGroup::parse(key).map(TaskKey::Group))
                .or_else(|| list().map(TaskKey::List))
        };
        deserializer.deserialize_identifier(KeyVisitor(parse, &TASK_KEYS))
    }
}

/// Reads a table key with its parser, refusing others with serde's "unknown field" error,
/// which [`describe`] rewrites in the policy's terms.
struct KeyVisitor<K>(fn(&str) -> Option<K>, &'static [&'static str]);

impl<'de, K> Visitor<'de> for KeyVisitor<K> {
    type Value = K;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<K, E> {
        (self.0)(key).ok_or_else(|| E::unknown_field(key, self.1))
    }
}

impl<'de> Deserialize<'de> for RawRule {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<RawRule, D::Error> {
        struct RuleVisitor;
        impl<'de> Visitor<'de> for RuleVisitor {
            type Value = RawRule;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a [[rule]] table")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawRule, A::Error> {
                let mut rule = RawRule::default();
                while let Some(key) = map.next_key::<RuleKey>()? {
                    match key {
                        RuleKey::Name => rule.name = Some(map.next_value()?),
                        RuleKey::Match(key) => {
                            rule.matches.insert(key, map.next_value()?);
                        }
                        RuleKey::Group(group) => {
                            rule.owner.extend(map.next_value_seed(GroupSeed(group))?);
                        }
                        RuleKey::OnUnknown => rule.on_unknown = Some(map.next_value()?),
                        RuleKey::Action => rule.action = Some(map.next_value()?),
                        RuleKey::Message => rule.message = Some(map.next_value()?),
                        RuleKey::Hold => rule.hold = Some(map.next_value()?),
                        RuleKey::Ask => rule.ask = Some(map.next_value()?),
                        RuleKey::DryRun => rule.dry_run = map.next_value()?,
                        RuleKey::During => rule.during = Some(map.next_value()?),
                        RuleKey::Outside => rule.outside = Some(map.next_value()?),
                        RuleKey::From => rule.from = Some(map.next_value()?),
                        RuleKey::Until => rule.until = Some(map.next_value()?),
                        RuleKey::Quota => rule.quota = Some(map.next_value()?),
                    }
                }
                Ok(rule)
            }
        }
        deserializer.deserialize_map(RuleVisitor)
    }
}

impl<'de> Deserialize<'de> for RawTask {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<RawTask, D::Error> {
        struct TaskVisitor;
        impl<'de> Visitor<'de> for TaskVisitor {
            type Value = RawTask;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of task facts, e.g. { operation = \"vdcUploadMedia\" }")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawTask, A::Error> {
                let mut task = RawTask::default();
                while let Some(key) = map.next_key()? {
                    match key {
                        TaskKey::Match(key) => {
                            task.facts.insert(key, map.next_value()?);
                        }
                        TaskKey::Group(group) => {
                            let record = map.next_value_seed(GroupSeed(group))?;
                            task.owner.push((group, RawRecords::One(record)));
                        }
                        TaskKey::List(group) => {
                            let records = map.next_value_seed(ListSeed(group))?;
                            task.owner.push((group, RawRecords::List(records)));
                        }
                    }
                }
                Ok(task)
            }
        }
        deserializer.deserialize_map(TaskVisitor)
    }
}

/// The keys of a match table. Deserialized as an identifier so that an unknown key is
/// reported at its own position.
#[derive(Deserialize, PartialEq, Eq)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Keyword {
    Regex,
    Not,
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
}

impl Keyword {
    fn comparison(&self) -> Option<Comparison> {
        match self {
            Keyword::Regex | Keyword::Not => None,
            Keyword::Gt => Some(Comparison::Gt),
            Keyword::Ge => Some(Comparison::Ge),
            Keyword::Lt => Some(Comparison::Lt),
            Keyword::Le => Some(Comparison::Le),
            Keyword::Eq => Some(Comparison::Eq),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (RawFile, Vec<String>) {
        let source = Source {
            name: "p.toml",
            text,
        };
        let (file, errors) = parse_file(&source);
        (file, errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn reads_every_table_kind_with_positions() {
        let (file, errors) = parse(
            "[defaults]\naction = \"abort\"\n\n[[rule]]\nname = \"r\"\n\
             operation = [\"a\", \"b\"]\nuser = { not = { regex = \"^x\" } }\naction = \"resume\"\n\
             [rule.hold]\nmax = \"1h\"\n\n[[test]]\nname = \"t\"\ntask = { org = \"o\" }\n",
        );
        assert_eq!(errors, Vec::<String>::new());
        assert!(file.defaults.is_some() && file.rules_complete);
        let rule = file.rules[0].get_ref();
        assert!(
            matches!(rule.matches[&MatchKey::Operation].get_ref(), RawMatch::List(l) if l.len() == 2)
        );
        assert!(matches!(
            rule.matches[&MatchKey::User].get_ref(),
            RawMatch::Not(_)
        ));
        assert!(rule.hold.is_some());
        let task = &file.tests[0].get_ref().task.facts;
        assert_eq!(
            task.iter().collect::<Vec<_>>(),
            [(&MatchKey::Org, &"o".to_owned())]
        );
    }

    #[test]
    fn one_bad_table_does_not_hide_the_next() {
        let (file, errors) = parse(
            "[[rule]]\nnmae = \"a\"\n[[rule]]\nname = \"b\"\norg = true\n[[rule]]\nname = \"c\"\n",
        );
        assert_eq!(file.rules.len(), 1);
        assert!(!file.rules_complete);
        assert_eq!(errors.len(), 2, "{errors:?}");
    }

    #[test]
    fn every_shape_mistake_in_a_table_is_reported() {
        let (file, errors) = parse(
            "[[rule]]\nname = \"a\"\ncolour = \"red\"\noperation = true\n\
             hold = { maxx = \"1h\" }\nsize = 1\n",
        );
        assert!(file.rules.is_empty());
        let places: Vec<&str> = errors
            .iter()
            .map(|e| e.split(": ").next().unwrap())
            .collect();
        assert_eq!(
            places,
            ["p.toml:3:1", "p.toml:4:13", "p.toml:5:10", "p.toml:6:1"],
            "{errors:#?}"
        );
    }

    #[test]
    fn describes_the_key_an_error_is_about() {
        let cases = [
            (
                "unknown field `nmae`, expected one of `name`, `org`",
                "[[rule]]",
                vec![],
                "unknown key `nmae` in [[rule]] (did you mean `name`?); allowed keys: name, org",
            ),
            (
                "unknown field `maxx`, expected `max`",
                "[[rule]]",
                vec!["hold".to_owned()],
                "unknown key `maxx` in `hold` (did you mean `max`?); allowed keys: max",
            ),
            (
                "invalid type: integer `5`, expected a string",
                "[[rule]]",
                vec!["name".to_owned()],
                "`name`: invalid type: integer `5`, expected a string",
            ),
        ];
        for (message, context, path, expected) in cases {
            assert_eq!(describe(message, context, &path), expected);
        }
    }
}
