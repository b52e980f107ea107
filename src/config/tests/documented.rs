//! `docs/configuration.md` against the code: every key the config accepts is documented there
//! with its built-in default and its environment variable, and nothing else is.
//!
//! The keys come from the `Raw*` structs themselves (serde names the fields it expects when it
//! refuses an unknown one), the defaults from their `Default`s, so a new key or a changed
//! default fails here until the page says so.

use std::collections::{BTreeMap, BTreeSet};

use super::super::env_var_name;
use super::super::raw::{RawAsk, RawNotify, RawSettings};

const PAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");
/// A field no struct has, to make serde list the ones it has.
const PROBE: &str = "zz_no_such_key";
/// Sections that are arrays of tables; their keys are written `notify[].url`.
const ARRAYS: &[&str] = &["notify", "ask"];

/// The field names serde lists when it refuses `PROBE` in `text`.
fn expected_fields(text: &str) -> Vec<String> {
    let message = match toml::from_str::<RawSettings>(text) {
        Ok(_) => panic!("{PROBE} was accepted in {text:?}"),
        Err(error) => error.message().to_owned(),
    };
    // "unknown field `x`, expected `a`", "… expected `a` or `b`", "… expected one of `a`, `b`, …"
    let list = message
        .split_once(", expected ")
        .unwrap_or_else(|| panic!("serde's message changed: {message}"))
        .1;
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// Every key the config accepts, as the page writes it (`vcd.url`, `notify[].url`).
fn accepted_keys() -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for section in expected_fields(&format!("{PROBE} = 0\n")) {
        let array = ARRAYS.contains(&section.as_str());
        let text = if array {
            format!("[[{section}]]\n{PROBE} = 0\n")
        } else {
            format!("[{section}]\n{PROBE} = 0\n")
        };
        let prefix = if array {
            format!("{section}[]")
        } else {
            section.clone()
        };
        for field in expected_fields(&text) {
            keys.insert(format!("{prefix}.{field}"));
        }
    }
    keys
}

/// The built-in defaults by key, as TOML values; keys without one (unset) are absent.
fn defaults() -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    let mut add = |prefix: &str, table: toml::Table| {
        for (key, value) in table {
            let shown = match &value {
                toml::Value::String(s) if s.is_empty() => continue,
                toml::Value::String(s) => format!("{s:?}"),
                other => other.to_string(),
            };
            values.insert(format!("{prefix}.{key}"), shown);
        }
    };
    let settings = toml::Table::try_from(RawSettings::default()).unwrap();
    for (section, value) in settings {
        if let toml::Value::Table(table) = value {
            add(&section, table);
        }
    }
    add(
        "notify[]",
        toml::Table::try_from(RawNotify::default()).unwrap(),
    );
    add("ask[]", toml::Table::try_from(RawAsk::default()).unwrap());
    values
}

/// One row of the page's key tables: `| `key` | default | `VARIABLE` | what it does |`.
struct Row {
    line: usize,
    default: String,
    env: String,
}

/// The rows of every table on the page whose first cell is a backticked key of `sections`.
fn documented(page: &str, sections: &BTreeSet<String>) -> BTreeMap<String, Row> {
    let mut rows = BTreeMap::new();
    for (index, line) in page.lines().enumerate() {
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
        let Some(key) = cells
            .first()
            .and_then(|c| c.trim().strip_prefix('`'))
            .and_then(|c| c.strip_suffix('`'))
        else {
            continue;
        };
        let section = key.split(['.', '[']).next().unwrap_or_default();
        if !sections.contains(section) || cells.len() < 4 {
            continue;
        }
        let row = Row {
            line: index + 1,
            default: cells[1].trim().to_owned(),
            env: cells[2].trim().to_owned(),
        };
        assert!(
            rows.insert(key.to_owned(), row).is_none(),
            "{PAGE}:{}: `{key}` is documented twice",
            index + 1
        );
    }
    rows
}

#[test]
fn the_configuration_page_documents_every_key_with_its_default_and_variable() {
    let page = std::fs::read_to_string(PAGE).unwrap();
    let accepted = accepted_keys();
    assert!(accepted.contains("vcd.url") && accepted.contains("notify[].url_file"));
    let sections = accepted
        .iter()
        .map(|key| key.split(['.', '[']).next().unwrap_or_default().to_owned())
        .collect();
    let rows = documented(&page, &sections);

    let missing: Vec<_> = accepted.iter().filter(|k| !rows.contains_key(*k)).collect();
    let extra: Vec<_> = rows.keys().filter(|k| !accepted.contains(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{PAGE} and the config disagree:\n  accepted but not documented: {missing:?}\n  \
         documented but not accepted: {extra:?}"
    );

    let defaults = defaults();
    let mut wrong = Vec::new();
    for (key, row) in &rows {
        let env = if key.contains("[]") {
            "—".to_owned()
        } else {
            format!("`{}`", env_var_name(key))
        };
        if row.env != env {
            wrong.push(format!(
                "{PAGE}:{}: `{key}`: variable {:?}, should be {env:?}",
                row.line, row.env
            ));
        }
        let default_ok = match defaults.get(key) {
            Some(value) => row.default.starts_with(&format!("`{value}`")),
            None => row.default.starts_with("unset"),
        };
        if !default_ok {
            let should = defaults
                .get(key)
                .map_or("unset…".to_owned(), |v| format!("`{v}`"));
            wrong.push(format!(
                "{PAGE}:{}: `{key}`: default {:?}, should start with {should}",
                row.line, row.default
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
