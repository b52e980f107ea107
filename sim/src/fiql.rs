//! The query service's filters (protocol notes §8), FIQL as vCD takes it: `attr==value`,
//! `!=`, `=gt=`, `=ge=`, `=lt=`, `=le=`; `;` is AND, `,` is OR (AND binds tighter),
//! parentheses group. Values end at `;`, `,` or `)` and are URL-decoded once more, so a
//! value holding one of those is written encoded (`orgName==a%2Cb`); `*` in an `==` or `!=`
//! value matches any run of characters. Text compares without regard to case; `startDate`
//! and `endDate` compare as instants.

use chrono::{DateTime, Utc};

use crate::history::{Attribute, PastTask, attribute_is_time};

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Filter {
    /// Any of them holds.
    Or(Vec<Filter>),
    /// All of them hold.
    And(Vec<Filter>),
    Compare {
        attribute: String,
        op: Op,
        value: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// Parses `text`; the error says what is wrong, for a 400.
pub(crate) fn parse(text: &str) -> Result<Filter, String> {
    let mut parser = Parser { text, at: 0 };
    let filter = parser.or()?;
    if parser.at < text.len() {
        return Err(format!(
            "filter {text:?}: unexpected {:?} at {}",
            &text[parser.at..],
            parser.at
        ));
    }
    Ok(filter)
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn eat(&mut self, token: &str) -> bool {
        let found = self.rest().starts_with(token);
        if found {
            self.at += token.len();
        }
        found
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut terms = vec![self.and()?];
        while self.eat(",") {
            terms.push(self.and()?);
        }
        Ok(one_or(terms, Filter::Or))
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut terms = vec![self.term()?];
        while self.eat(";") {
            terms.push(self.term()?);
        }
        Ok(one_or(terms, Filter::And))
    }

    fn term(&mut self) -> Result<Filter, String> {
        if self.eat("(") {
            let inner = self.or()?;
            if !self.eat(")") {
                return Err(format!("filter {:?}: a `(` is not closed", self.text));
            }
            return Ok(inner);
        }
        let name_len = self
            .rest()
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(self.rest().len());
        let attribute = self.rest()[..name_len].to_owned();
        self.at += name_len;
        let op = [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("=gt=", Op::Gt),
            ("=ge=", Op::Ge),
            ("=lt=", Op::Lt),
            ("=le=", Op::Le),
        ]
        .into_iter()
        .find_map(|(token, op)| self.eat(token).then_some(op));
        let Some(op) = op.filter(|_| !attribute.is_empty()) else {
            return Err(format!(
                "filter {:?}: expected attr==value, attr!=value or attr=ge=value at {}",
                self.text, self.at
            ));
        };
        let value_len = self
            .rest()
            .find([';', ',', ')'])
            .unwrap_or(self.rest().len());
        let encoded = format!("v={}", self.rest()[..value_len].replace('&', "%26"));
        self.at += value_len;
        let value: String = form_urlencoded::parse(encoded.as_bytes())
            .map(|(_, value)| value.into_owned())
            .collect();
        Ok(Filter::Compare {
            attribute,
            op,
            value,
        })
    }
}

fn one_or(mut terms: Vec<Filter>, many: fn(Vec<Filter>) -> Filter) -> Filter {
    if terms.len() == 1 {
        terms.remove(0)
    } else {
        many(terms)
    }
}

impl Filter {
    /// Refuses attributes the sim does not keep and instants it cannot read.
    pub(crate) fn check(&self) -> Result<(), String> {
        match self {
            Filter::Or(terms) | Filter::And(terms) => terms.iter().try_for_each(Filter::check),
            Filter::Compare {
                attribute, value, ..
            } => match attribute_is_time(attribute) {
                None => Err(format!(
                    "the sim's query service does not filter adminTask on {attribute:?}"
                )),
                Some(true) if value.parse::<DateTime<Utc>>().is_err() => Err(format!(
                    "{attribute}: {value:?} is not a timestamp like 2026-12-07T10:00:00.000Z"
                )),
                Some(_) => Ok(()),
            },
        }
    }

    /// Whether `record` passes the filter (checked with [`Filter::check`] first).
    pub(crate) fn matches(&self, record: &PastTask) -> bool {
        match self {
            Filter::Or(terms) => terms.iter().any(|term| term.matches(record)),
            Filter::And(terms) => terms.iter().all(|term| term.matches(record)),
            Filter::Compare {
                attribute,
                op,
                value,
            } => match record.attribute(attribute) {
                Some(Attribute::Text(text)) => compare_text(text, *op, value),
                Some(Attribute::Time(Some(time))) => value
                    .parse::<DateTime<Utc>>()
                    .is_ok_and(|bound| compare(time.cmp(&bound), *op)),
                Some(Attribute::Time(None)) => *op == Op::Ne,
                None => false,
            },
        }
    }
}

fn compare_text(text: &str, op: Op, value: &str) -> bool {
    match op {
        Op::Eq => wildcard(text, value),
        Op::Ne => !wildcard(text, value),
        op => compare(text.to_lowercase().cmp(&value.to_lowercase()), op),
    }
}

fn compare(order: std::cmp::Ordering, op: Op) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    match op {
        Op::Eq => order == Equal,
        Op::Ne => order != Equal,
        Op::Gt => order == Greater,
        Op::Ge => order != Less,
        Op::Lt => order == Less,
        Op::Le => order != Greater,
    }
}

/// `text` against `pattern` with `*` matching any run, case-insensitively: linear in the
/// text for each `*`-separated part.
fn wildcard(text: &str, pattern: &str) -> bool {
    let text = text.to_lowercase();
    let pattern = pattern.to_lowercase();
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return text == pattern;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    if !text.ends_with(last) {
        return false;
    }
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::HistoryStatus;

    fn task(operation: &str, org: &str, status: HistoryStatus, started: &str) -> PastTask {
        PastTask {
            id: uuid::Uuid::new_v4(),
            operation: operation.into(),
            org: org.into(),
            user: "alice".into(),
            object: String::new(),
            status,
            started: started.parse().unwrap(),
            ended: None,
        }
    }

    #[test]
    fn filters_combine_or_and_and_groups_and_compare_times() {
        let filter = parse(
            "(name==vdcInstantiateVapp,name==vdcComposeVapp);startDate=ge=2026-12-07T10:00:00.000Z;\
             orgName==a%2Cb;status!=error;status!=aborted;status!=canceled",
        )
        .unwrap();
        let fits = task(
            "vdcComposeVapp",
            "a,b",
            HistoryStatus::Running,
            "2026-12-07T10:00:00Z",
        );
        filter.check().unwrap();
        assert!(filter.matches(&fits));
        let early = task(
            "vdcComposeVapp",
            "a,b",
            HistoryStatus::Success,
            "2026-12-07T09:59:59Z",
        );
        assert!(!filter.matches(&early));
        let failed = task(
            "vdcComposeVapp",
            "a,b",
            HistoryStatus::Error,
            "2026-12-07T11:00:00Z",
        );
        assert!(!filter.matches(&failed));
        let other_org = task(
            "vdcComposeVapp",
            "a",
            HistoryStatus::Success,
            "2026-12-07T11:00:00Z",
        );
        assert!(!filter.matches(&other_org));
        let other_op = task(
            "vdcDeleteVapp",
            "a,b",
            HistoryStatus::Success,
            "2026-12-07T11:00:00Z",
        );
        assert!(!filter.matches(&other_op));
    }

    #[test]
    fn wildcards_match_runs_without_regard_to_case() {
        assert!(wildcard("vdcDeleteVapp", "vdcdelete*"));
        assert!(wildcard("vdcDeleteVapp", "*Vapp"));
        assert!(wildcard("vdcDeleteVapp", "vdc*te*pp"));
        assert!(!wildcard("vdcDeleteVapp", "vdc*Media"));
        assert!(!wildcard("ab", "a*b*b"));
        assert!(wildcard("acme", "ACME"));
    }

    #[test]
    fn bad_filters_and_unknown_attributes_are_refused() {
        for bad in ["name", "(name==a", "name==a;", "==a", "name=~a"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse("colour==red").unwrap().check().is_err());
        assert!(parse("startDate=ge=yesterday").unwrap().check().is_err());
    }
}
