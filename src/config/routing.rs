//! What `[amqp]` can be checked for before any broker is reached: exchanges that cannot route
//! vCD's keys by pattern, and binding keys that no blocking-task routing key can ever match.
//!
//! vCD's routing key for a new blocking task is eleven words (protocol notes §2):
//! `<true|false>.<task uuid>.<org uuid>.<user uuid>.com.vmware.vcloud.event.blockingtask.create.<task name>`.
//! A binding key is an AMQP topic pattern over such words: `*` is one word, `#` zero or more.

use uuid::Uuid;

/// RabbitMQ's predeclared exchanges that route by something other than topic patterns.
const NOT_TOPIC: [(&str, &str); 3] = [
    ("amq.direct", "a direct exchange routes on the whole key"),
    ("amq.fanout", "a fanout exchange ignores keys"),
    ("amq.headers", "a headers exchange ignores keys"),
];

/// Why `exchange` cannot carry vCD's notifications to a topic binding, if it cannot.
pub(super) fn refuse_exchange(exchange: &str) -> Option<String> {
    NOT_TOPIC
        .iter()
        .find(|(name, _)| *name == exchange)
        .map(|(name, why)| {
            format!(
                "{name} cannot route vCD's routing keys by pattern ({why}); use vCD's own topic \
                 exchange or amq.topic"
            )
        })
}

/// One word of a blocking task's routing key.
#[derive(Clone, Copy)]
enum Slot {
    /// `true` or `false`.
    Success,
    Uuid,
    Fixed(&'static str),
    /// The task's name: any word.
    TaskName,
}

const BLOCKING_TASK_KEY: [Slot; 11] = [
    Slot::Success,
    Slot::Uuid,
    Slot::Uuid,
    Slot::Uuid,
    Slot::Fixed("com"),
    Slot::Fixed("vmware"),
    Slot::Fixed("vcloud"),
    Slot::Fixed("event"),
    Slot::Fixed("blockingtask"),
    Slot::Fixed("create"),
    Slot::TaskName,
];

impl Slot {
    fn admits(self, word: &str) -> bool {
        match self {
            Slot::Success => word == "true" || word == "false",
            Slot::Uuid => Uuid::try_parse(word).is_ok(),
            Slot::Fixed(fixed) => word == fixed,
            Slot::TaskName => !word.is_empty(),
        }
    }
}

/// Whether some routing key of a new blocking task matches the topic pattern `binding`.
pub(super) fn can_match_blocking_task(binding: &str) -> bool {
    let words: Vec<&str> = binding.trim().split('.').collect();
    let key = &BLOCKING_TASK_KEY;
    // matches[i][j]: words[i..] can match key[j..].
    let mut matches = vec![vec![false; key.len() + 1]; words.len() + 1];
    matches[words.len()][key.len()] = true;
    for i in (0..words.len()).rev() {
        for j in (0..=key.len()).rev() {
            matches[i][j] = match words[i] {
                "#" => matches[i + 1][j] || (j < key.len() && matches[i][j + 1]),
                "*" => j < key.len() && matches[i + 1][j + 1],
                word => j < key.len() && key[j].admits(word) && matches[i + 1][j + 1],
            };
        }
    }
    matches[0][0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_that_some_blocking_task_key_matches() {
        for binding in [
            "#",
            "#.blockingtask.create.#",
            "#.blockingtask.create.vdcInstantiateVapp",
            "true.#",
            "*.*.*.*.com.vmware.vcloud.event.blockingtask.create.*",
            "true.*.*.*.com.vmware.vcloud.event.*.*.*",
            "#.create.*",
            "true.8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94.#",
        ] {
            assert!(can_match_blocking_task(binding), "{binding}");
        }
    }

    #[test]
    fn bindings_that_no_blocking_task_key_matches() {
        for binding in [
            // Misses the task-name segment.
            "true.*.*.*.com.vmware.vcloud.event.*.*",
            "#.blockingtask.create",
            "#.blockingtask.resume.#",
            "#.task.create.#",
            "com.vmware.vcloud.event.blockingtask.create.#",
            "yes.#",
            "true.not-a-uuid.#",
            "*.*.*.*.*.*.*.*.*.*.*.*",
            "#.BlockingTask.create.#",
        ] {
            assert!(!can_match_blocking_task(binding), "{binding}");
        }
    }

    #[test]
    fn only_exchanges_that_cannot_route_by_pattern_are_refused() {
        for exchange in ["amq.direct", "amq.fanout", "amq.headers"] {
            let why = refuse_exchange(exchange).unwrap();
            assert!(why.starts_with(exchange), "{why}");
        }
        for exchange in ["amq.topic", "systemExchange", "vcd.notifications20", "VCD"] {
            assert_eq!(refuse_exchange(exchange), None, "{exchange}");
        }
    }
}
