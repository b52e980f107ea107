//! Reading action request bodies: `BlockingTaskOperationParams` (resume/abort/fail) and
//! `BlockingTaskUpdateProgressParams`. Elements are matched by local name, whatever their
//! namespace prefix, as the protocol notes ask of clients and of this stand-in alike.

use std::collections::HashMap;

use quick_xml::Reader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;

/// Longest `TimeoutValueInMilliseconds` accepted: 100 years, far beyond any real setting.
const MAX_TIMEOUT_MS: u64 = 100 * 365 * 24 * 3600 * 1000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ParamsError {
    #[error("the request body is not well-formed XML: {0}")]
    Malformed(String),
    #[error("expected a {expected} document")]
    WrongRoot { expected: &'static str },
    #[error("the required element {0} is missing")]
    Missing(&'static str),
    #[error("TimeoutValueInMilliseconds {0:?} is not a valid number of milliseconds")]
    BadTimeout(String),
    /// A value vCD would refuse; the message names it.
    #[error("{0}")]
    Invalid(String),
}

/// The body of a resume, abort or fail.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct OperationParams {
    pub message: String,
}

/// The body of an updateProgress.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ProgressParams {
    pub message: String,
    pub timeout_ms: Option<u64>,
}

pub(crate) fn operation_params(body: &str) -> Result<OperationParams, ParamsError> {
    let mut fields = read_fields(body, "BlockingTaskOperationParams", &["Message"])?;
    let message = fields
        .remove("Message")
        .ok_or(ParamsError::Missing("Message"))?;
    Ok(OperationParams { message })
}

pub(crate) fn progress_params(body: &str) -> Result<ProgressParams, ParamsError> {
    let mut fields = read_fields(
        body,
        "BlockingTaskUpdateProgressParams",
        &["Message", "TimeoutValueInMilliseconds"],
    )?;
    let message = fields
        .remove("Message")
        .ok_or(ParamsError::Missing("Message"))?;
    let timeout_ms = fields
        .remove("TimeoutValueInMilliseconds")
        .map(|raw| match raw.parse::<u64>() {
            Ok(ms) if ms <= MAX_TIMEOUT_MS => Ok(ms),
            _ => Err(ParamsError::BadTimeout(raw)),
        })
        .transpose()?;
    Ok(ProgressParams {
        message,
        timeout_ms,
    })
}

/// The trimmed text of each child of the root element named in `wanted`.
fn read_fields(
    body: &str,
    root: &'static str,
    wanted: &[&'static str],
) -> Result<HashMap<&'static str, String>, ParamsError> {
    let mut reader = Reader::from_str(body);
    let mut depth = 0usize;
    let mut current: Option<&'static str> = None;
    let mut seen_root = false;
    let mut fields: HashMap<&'static str, String> = HashMap::new();
    loop {
        let event = reader.read_event().map_err(malformed)?;
        match &event {
            Event::Start(el) | Event::Empty(el) => {
                let name = el.local_name();
                if depth == 0 {
                    if name.as_ref() != root {
                        return Err(ParamsError::WrongRoot { expected: root });
                    }
                    seen_root = true;
                } else if depth == 1 {
                    current = wanted.iter().find(|w| name.as_ref() == **w).copied();
                    if let Some(field) = current {
                        fields.entry(field).or_default();
                    }
                }
                // An empty element opens and closes at once.
                if matches!(event, Event::Start(_)) {
                    depth += 1;
                } else if depth == 1 {
                    current = None;
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth < 2 {
                    current = None;
                }
            }
            Event::Eof => break,
            _ => {
                if let (Some(field), Some(text)) = (current, text_of(&event)?) {
                    fields.entry(field).or_default().push_str(&text);
                }
            }
        }
    }
    if !seen_root {
        return Err(ParamsError::WrongRoot { expected: root });
    }
    for value in fields.values_mut() {
        *value = value.trim().to_owned();
    }
    Ok(fields)
}

/// The character data an event stands for: text, CDATA, or a resolved entity reference.
pub(crate) fn text_of(event: &Event<'_>) -> Result<Option<String>, ParamsError> {
    Ok(Some(match event {
        Event::Text(text) => text.xml10_content().into_owned(),
        Event::CData(data) => data.xml10_content().into_owned(),
        Event::GeneralRef(reference) => match reference.resolve_char_ref().map_err(malformed)? {
            Some(ch) => ch.to_string(),
            None => {
                let name: &str = reference.as_ref();
                resolve_predefined_entity(name)
                    .ok_or_else(|| ParamsError::Malformed(format!("unknown entity &{name};")))?
                    .to_owned()
            }
        },
        _ => return Ok(None),
    }))
}

pub(crate) fn malformed(error: impl std::fmt::Display) -> ParamsError {
    ParamsError::Malformed(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPERATION_FIXTURE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<BlockingTaskOperationParams xmlns="http://www.vmware.com/vcloud/extension/v1.5">
    <Message>Approved by vcd-blockd rule "small media uploads"</Message>
</BlockingTaskOperationParams>"#;

    #[test]
    fn reads_the_fixture_message() {
        let params = operation_params(OPERATION_FIXTURE).unwrap();
        assert_eq!(
            params.message,
            r#"Approved by vcd-blockd rule "small media uploads""#
        );
    }

    #[test]
    fn matches_by_local_name_and_resolves_entities() {
        let body = r#"<vmext:BlockingTaskOperationParams xmlns:vmext="urn:x"><vmext:Message>a &amp; b &#x41;<![CDATA[<c>]]></vmext:Message></vmext:BlockingTaskOperationParams>"#;
        assert_eq!(operation_params(body).unwrap().message, "a & b A<c>");
    }

    #[test]
    fn message_is_required() {
        let body = "<BlockingTaskOperationParams/>";
        assert_eq!(operation_params(body), Err(ParamsError::Missing("Message")));
        let nested = "<BlockingTaskOperationParams><Other><Message>x</Message></Other></BlockingTaskOperationParams>";
        assert_eq!(
            operation_params(nested),
            Err(ParamsError::Missing("Message"))
        );
    }

    #[test]
    fn empty_message_element_counts_as_present() {
        let body = "<BlockingTaskOperationParams><Message/></BlockingTaskOperationParams>";
        assert_eq!(operation_params(body).unwrap().message, "");
    }

    #[test]
    fn wrong_root_and_garbage_are_rejected() {
        let wrong = "<BlockingTaskUpdateProgressParams><Message>x</Message></BlockingTaskUpdateProgressParams>";
        assert!(matches!(
            operation_params(wrong),
            Err(ParamsError::WrongRoot { .. })
        ));
        assert!(operation_params("").is_err());
        assert!(operation_params("<a><b></a>").is_err());
    }

    #[test]
    fn progress_reads_optional_timeout() {
        let body = r#"<BlockingTaskUpdateProgressParams xmlns="http://www.vmware.com/vcloud/extension/v1.5">
    <Message>Waiting</Message>
    <TimeoutValueInMilliseconds>600000</TimeoutValueInMilliseconds>
</BlockingTaskUpdateProgressParams>"#;
        let params = progress_params(body).unwrap();
        assert_eq!(params.timeout_ms, Some(600_000));
        let without = "<BlockingTaskUpdateProgressParams><Message>w</Message></BlockingTaskUpdateProgressParams>";
        assert_eq!(progress_params(without).unwrap().timeout_ms, None);
        let bad = "<BlockingTaskUpdateProgressParams><Message>w</Message><TimeoutValueInMilliseconds>-5</TimeoutValueInMilliseconds></BlockingTaskUpdateProgressParams>";
        assert!(matches!(
            progress_params(bad),
            Err(ParamsError::BadTimeout(_))
        ));
    }
}
