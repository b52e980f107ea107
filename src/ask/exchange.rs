//! The exchange with a decision service, without I/O: the request body a task becomes
//! ([`request_body`]), its signature ([`signature`]), and what an answer's bytes mean
//! ([`read_answer`]) in each [`AskFormat`].
//!
//! Request (`vcd-blockd`; `opa` wraps it as `{"input": …}`):
//! `{"task_id", "operation", "org", "user", "owner": {"type", "name", "id"}, "facts": {…},
//! "rule", "created", "deadline", "attempt"}`. Answer: `{"decision": "resume" | "abort" |
//! "fail" | "hold", "message": "…"}`; `opa`: `{"result": <that object, or a bare decision
//! string>}`.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::Sha256;

use super::AskFormat;
use super::error::AskError;
use crate::facts::{FactGroup, FactValue, MatchKey, Record, TaskFacts};
use crate::policy::Answer;
use crate::task::TaskId;

/// The header carrying the body's HMAC-SHA256 when the service has `hmac_secret_file`.
pub(crate) const SIGNATURE_HEADER: &str = "X-Vcd-Blockd-Signature";
/// The longest message taken from an answer; longer ones are cut (vCD shows it to tenants).
const MAX_MESSAGE_CHARS: usize = 1000;

/// What a service is asked about one task; the same for every ask of the task but `attempt`.
#[derive(Debug, Clone)]
pub(crate) struct Question {
    pub(crate) task_id: TaskId,
    /// Everything the daemon knows of the task, its owner's facts included.
    pub(crate) facts: TaskFacts,
    /// The asking rule.
    pub(crate) rule: Arc<str>,
    /// The task's `createdTime`, when vCD gave one.
    pub(crate) created: Option<DateTime<Utc>>,
    /// When the hold's fallback applies if nobody decides before.
    pub(crate) deadline: DateTime<Utc>,
}

/// A service's answer: the decision, and the message for vCD if it gave one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) answer: Answer,
    pub(crate) message: Option<String>,
}

/// The JSON body of ask number `attempt` (1 first) of `question`, in `format`.
pub(crate) fn request_body(format: AskFormat, question: &Question, attempt: u32) -> Value {
    let facts = &question.facts;
    let request = json!({
        "task_id": question.task_id.to_string(),
        "operation": facts.operation,
        "org": facts.org,
        "user": facts.user,
        "owner": {
            "type": facts.owner_type,
            "name": facts.owner_name,
            "id": facts.owner_id,
        },
        "facts": facts_object(facts),
        "rule": &*question.rule,
        "created": question.created.map(rfc3339),
        "deadline": rfc3339(question.deadline),
        "attempt": attempt,
    });
    match format {
        AskFormat::VcdBlockd => request,
        AskFormat::Opa => json!({ "input": request }),
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Every fact: the match keys by name, then each owner-fact group that could be read (a
/// group of several records as a list of objects with their `name`, others as one object).
fn facts_object(facts: &TaskFacts) -> Map<String, Value> {
    let mut object: Map<String, Value> = MatchKey::ALL
        .iter()
        .map(|key| (key.name().to_owned(), Value::from(facts.get(*key))))
        .collect();
    for group in FactGroup::all() {
        let Ok(records) = facts.owner.records(group) else {
            continue;
        };
        let value = if group.spec().each.is_some() {
            Value::Array(
                records
                    .iter()
                    .map(|record| {
                        let mut fields = record_object(record);
                        fields.insert("name".to_owned(), Value::from(record.name.as_str()));
                        Value::Object(fields)
                    })
                    .collect(),
            )
        } else {
            match records.first() {
                Some(record) => Value::Object(record_object(record)),
                None => continue,
            }
        };
        object.insert(group.name().to_owned(), value);
    }
    object
}

fn record_object(record: &Record) -> Map<String, Value> {
    record
        .entries()
        .map(|(field, value)| {
            let value = match value {
                FactValue::Number(number) => Value::from(number),
                FactValue::Text(text) => Value::from(text),
                FactValue::Texts(texts) => Value::from(texts.to_vec()),
            };
            (field.to_owned(), value)
        })
        .collect()
}

/// `sha256=<hex HMAC-SHA256 of body under key>`.
pub(crate) fn signature(key: &[u8], body: &[u8]) -> String {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// `{"decision", "message"}` as a service writes it.
#[derive(Deserialize)]
struct WireAnswer {
    decision: String,
    #[serde(default)]
    message: Option<String>,
}

/// OPA's `{"result": …}`; `result` is absent when the rule is undefined for the input.
#[derive(Deserialize)]
struct WireResult {
    #[serde(default)]
    result: Option<Value>,
}

/// What an answer's body says, in `format`.
pub(crate) fn read_answer(format: AskFormat, body: &[u8]) -> Result<Reply, AskError> {
    let answer = match format {
        AskFormat::VcdBlockd => serde_json::from_slice::<Value>(body)
            .map_err(|e| AskError::Invalid(format!("not JSON: {e}")))?,
        AskFormat::Opa => {
            let wrapped: WireResult = serde_json::from_slice(body)
                .map_err(|e| AskError::Invalid(format!("not an OPA answer: {e}")))?;
            wrapped.result.ok_or_else(|| {
                AskError::Invalid(
                    "no \"result\": the OPA rule is undefined for this input".to_owned(),
                )
            })?
        }
    };
    if let (AskFormat::Opa, Value::String(bare)) = (format, &answer) {
        return Ok(Reply {
            answer: decision(bare)?,
            message: None,
        });
    }
    let wire: WireAnswer = serde_json::from_value(answer)
        .map_err(|e| AskError::Invalid(format!("not {{\"decision\", \"message\"}}: {e}")))?;
    Ok(Reply {
        answer: decision(&wire.decision)?,
        message: wire.message.as_deref().and_then(message),
    })
}

fn decision(written: &str) -> Result<Answer, AskError> {
    Answer::parse(written).ok_or_else(|| {
        AskError::Invalid(format!(
            "decision {:?} is not one of {}",
            written.chars().take(40).collect::<String>(),
            Answer::NAMES.join(", ")
        ))
    })
}

/// The message trimmed and cut to [`MAX_MESSAGE_CHARS`]; `None` when empty.
fn message(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.chars().take(MAX_MESSAGE_CHARS).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::FinalAction;

    fn question() -> Question {
        let facts = TaskFacts {
            task_id: "6f1c5a6e-0000-4000-8000-000000000001".into(),
            operation: "vdcInstantiateVapp".into(),
            org: "prod".into(),
            user: "dave".into(),
            owner_type: "vApp".into(),
            owner_name: "billing".into(),
            ..TaskFacts::default()
        };
        Question {
            task_id: TaskId::parse("6f1c5a6e-0000-4000-8000-000000000001").unwrap(),
            facts,
            rule: "cmdb".into(),
            created: DateTime::from_timestamp(1_800_000_000, 0),
            deadline: DateTime::from_timestamp(1_800_003_600, 0).unwrap(),
        }
    }

    #[test]
    fn the_request_carries_the_task_its_facts_the_rule_and_the_attempt() {
        let body = request_body(AskFormat::VcdBlockd, &question(), 2);
        assert_eq!(body["task_id"], "6f1c5a6e-0000-4000-8000-000000000001");
        assert_eq!(body["operation"], "vdcInstantiateVapp");
        assert_eq!(
            body["owner"],
            json!({"type": "vApp", "name": "billing", "id": ""})
        );
        assert_eq!(body["facts"]["org"], "prod");
        assert_eq!(body["rule"], "cmdb");
        assert_eq!(body["created"], "2027-01-15T08:00:00Z");
        assert_eq!(body["deadline"], "2027-01-15T09:00:00Z");
        assert_eq!(body["attempt"], 2);
        let opa = request_body(AskFormat::Opa, &question(), 2);
        assert_eq!(opa, json!({ "input": body }));
    }

    #[test]
    fn owner_facts_read_are_in_the_request() {
        let mut question = question();
        question.facts.owner = question.facts.owner.clone().with(
            "vm",
            Ok(vec![Record::new("web-1").with(
                "memory_mb",
                Some(crate::facts::Value::Number(4096.0)),
            )]),
        );
        let body = request_body(AskFormat::VcdBlockd, &question, 1);
        assert_eq!(
            body["facts"]["vm"],
            json!([{"name": "web-1", "memory_mb": 4096.0}])
        );
        assert!(
            body["facts"].get("media").is_none(),
            "groups not read are left out"
        );
    }

    #[test]
    fn answers_are_read_in_both_formats_and_anything_else_is_an_error() {
        let vcd = AskFormat::VcdBlockd;
        let opa = AskFormat::Opa;
        let resume = Answer::Decide(FinalAction::Resume);
        // (format, body, the answer and message it means; None: an invalid answer)
        type Case<'a> = (AskFormat, &'a str, Option<(Answer, Option<&'a str>)>);
        let cases: [Case<'_>; 11] = [
            (
                vcd,
                r#"{"decision":"resume","message":"CI-4711 approved"}"#,
                Some((resume, Some("CI-4711 approved"))),
            ),
            (vcd, r#"{"decision":"hold"}"#, Some((Answer::Hold, None))),
            (
                vcd,
                r#"{"decision":"fail","message":"  "}"#,
                Some((Answer::Decide(FinalAction::Fail), None)),
            ),
            (vcd, r#"{"decision":"maybe"}"#, None),
            (vcd, r#"{"message":"no decision"}"#, None),
            (vcd, "<html>proxy error</html>", None),
            (vcd, r#""resume""#, None),
            (
                opa,
                r#"{"result":"abort"}"#,
                Some((Answer::Decide(FinalAction::Abort), None)),
            ),
            (
                opa,
                r#"{"result":{"decision":"resume","message":"ok"}}"#,
                Some((resume, Some("ok"))),
            ),
            (opa, "{}", None),
            (opa, r#"{"result":42}"#, None),
        ];
        for (format, body, expected) in cases {
            let got = read_answer(format, body.as_bytes());
            match expected {
                Some((answer, message)) => {
                    let reply = got.unwrap_or_else(|e| panic!("{body}: {e}"));
                    assert_eq!(reply.answer, answer, "{body}");
                    assert_eq!(reply.message.as_deref(), message, "{body}");
                }
                None => assert!(matches!(got, Err(AskError::Invalid(_))), "{body}: {got:?}"),
            }
        }
    }

    #[test]
    fn the_signature_is_the_hex_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        let got = signature(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            got,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
