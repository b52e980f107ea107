//! One entry point per parser that reads what others send or write (notifications with their
//! headers and routing key, the BlockingTask and task-list documents, policy files), taking raw
//! bytes. The cargo-fuzz targets in `fuzz/` call these, and so does the test that replays the
//! saved corpus on stable (`fuzz/corpus/`), so both run exactly the same code. Each function
//! must return for any input without panicking; a parse error is a fine outcome.

use crate::facts::TaskFacts;
use crate::policy::{self, Policy};
use crate::source::amqp::notification::{self, Delivery, HeaderValue, Headers};
use crate::vcd::model;

/// The notification parser on one delivery, written as three parts separated by newlines:
/// the routing key, the headers (`name=value` separated by `;`, values `b:true`, `i:42` or
/// text), then the body (XML or JSON). A parsed notification is checked against what it claims.
pub fn notification(data: &[u8]) {
    let mut parts = data.splitn(3, |&b| b == b'\n');
    let routing_key = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let header_line = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let body = parts.next().unwrap_or_default();
    let headers = headers(&header_line);
    let delivery = Delivery {
        body,
        routing_key: &routing_key,
        headers: &headers,
    };
    for limit in [usize::MAX, 1024] {
        if let Ok(found) = notification::parse(&delivery, limit) {
            assert!(body.len() <= limit);
            if found.is_blocking_task_create() {
                assert!(found.task_id.is_some());
            }
        }
    }
}

fn headers(line: &str) -> Headers {
    line.split(';')
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| {
            let value = if let Some(flag) = value.strip_prefix("b:") {
                HeaderValue::Bool(flag == "true")
            } else if let Some(number) = value.strip_prefix("i:") {
                number.parse().map_or(HeaderValue::Other, HeaderValue::Int)
            } else {
                HeaderValue::Text(value.to_owned())
            };
            (name.to_owned(), value)
        })
        .collect()
}

/// The BlockingTask parser; a parsed task also gives its facts, as the engine takes them.
pub fn blocking_task(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(task) = model::parse_blocking_task(&text) {
        let facts = TaskFacts::from(&task);
        assert_eq!(facts.task_id, task.id.to_string());
    }
}

/// The task-list parser.
pub fn task_list(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = model::parse_task_references(&text);
    let _ = model::parse_task_page(&text);
}

/// The policy loader; a policy that loads is also run against a task and its own tests.
pub fn policy(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    if let Ok(policy) = Policy::from_sources(&[("fuzz.toml".to_owned(), text)]) {
        let now = chrono::DateTime::UNIX_EPOCH;
        let facts = TaskFacts {
            operation: "vdcInstantiateVapp".to_owned(),
            org: "prod-eu".to_owned(),
            user: "alice".to_owned(),
            ..TaskFacts::default()
        };
        let decision = policy::decide(&policy, &facts, now);
        assert_eq!(policy::explain(&policy, &facts, now).decision, decision);
        let _ = policy::run_tests(&policy, now);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    type Parser = fn(&[u8]);

    /// Every target, with the function its fuzz target calls.
    const TARGETS: [(&str, Parser); 4] = [
        ("notification", super::notification),
        ("blocking_task", super::blocking_task),
        ("task_list", super::task_list),
        ("policy", super::policy),
    ];

    /// The saved corpus (`fuzz/corpus/<target>/`, minimized after each long run) and every
    /// input that once crashed a target (`fuzz/regressions/<target>/`) run through the parsers
    /// again, in seconds, on stable.
    #[test]
    fn the_saved_fuzz_corpus_runs_through_every_parser() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        for (target, run) in TARGETS {
            let mut inputs = 0;
            for folder in ["corpus", "regressions"] {
                let Ok(entries) = std::fs::read_dir(root.join(folder).join(target)) else {
                    continue;
                };
                for entry in entries {
                    let path = entry.unwrap().path();
                    if path.is_file() {
                        run(&std::fs::read(&path).unwrap());
                        inputs += 1;
                    }
                }
            }
            assert!(inputs > 0, "no saved inputs for {target}");
        }
    }

    #[test]
    fn the_delivery_format_gives_key_headers_and_body() {
        let headers = super::headers("a=b:true;n=i:7;t=text;junk");
        assert_eq!(headers.len(), 3);
        assert_eq!(headers["a"], super::HeaderValue::Bool(true));
        assert_eq!(headers["n"], super::HeaderValue::Int(7));
        assert_eq!(headers["t"], super::HeaderValue::Text("text".into()));
    }
}
