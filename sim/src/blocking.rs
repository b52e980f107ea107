//! The cloud's BlockingTaskSettings (protocol notes §9): which operations block, the timeout
//! and its action. Until they are PUT, every operation blocks (so tests need no set-up) and
//! the document lists every documented operation; once PUT, a task of an operation they do not
//! list is not blocked. Also the body of a PUT, read as vCD reads it.

use chrono::Duration;
use quick_xml::Reader;
use quick_xml::events::Event;

use crate::model::Decision;
use crate::params::{ParamsError, malformed, text_of};
use crate::xml::{DECLARATION, NS_VCLOUD, NS_VMEXT, e};

pub(crate) const BLOCKING_SETTINGS_TYPE: &str =
    "application/vnd.vmware.admin.blockingTaskSettings+xml";
const OPERATION_LIST_TYPE: &str = "application/vnd.vmware.admin.taskOperationList+xml";
/// Longest `TimeoutInMilliseconds` accepted: 100 years.
const MAX_TIMEOUT_MS: i64 = 100 * 365 * 24 * 3600 * 1000;

/// The cloud-wide blocking settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BlockingSettings {
    pub timeout: Duration,
    pub timeout_action: Decision,
    /// `None` until a PUT: every operation blocks.
    pub operations: Option<Vec<String>>,
}

impl Default for BlockingSettings {
    /// vCD's own defaults would block nothing; the sim blocks everything until told otherwise.
    fn default() -> Self {
        Self::new(Duration::minutes(10), Decision::Abort)
    }
}

impl BlockingSettings {
    pub(crate) fn new(timeout: Duration, timeout_action: Decision) -> Self {
        Self {
            timeout,
            timeout_action,
            operations: None,
        }
    }

    /// Whether a new task of `operation` is suspended as a blocking task.
    pub(crate) fn blocks(&self, operation: &str) -> bool {
        self.operations
            .as_ref()
            .is_none_or(|ops| ops.iter().any(|op| op == operation))
    }

    /// The `BlockingTaskSettings` document, with hrefs under `base`.
    pub(crate) fn document(&self, base: &str) -> String {
        let href = format!("{base}/api/admin/extension/settings/blockingTask");
        let listed: Vec<&str> = match &self.operations {
            Some(ops) => ops.iter().map(String::as_str).collect(),
            None => vcd_operations::DOCUMENTED.to_vec(),
        };
        let operations: String = listed
            .iter()
            .map(|op| format!("    <vcloud:Operation>{}</vcloud:Operation>\n", e(op)))
            .collect();
        format!(
            "{DECLARATION}<BlockingTaskSettings xmlns=\"{NS_VMEXT}\" xmlns:vcloud=\"{NS_VCLOUD}\" \
             type=\"{BLOCKING_SETTINGS_TYPE}\" href=\"{href}\">\n  \
             <vcloud:Link rel=\"edit\" type=\"{BLOCKING_SETTINGS_TYPE}\" href=\"{href}\"/>\n  \
             <vcloud:Link rel=\"down\" type=\"{OPERATION_LIST_TYPE}\" href=\"{href}/operations\"/>\n  \
             <TimeoutAction>{}</TimeoutAction>\n  \
             <BlockingTaskOperations type=\"{OPERATION_LIST_TYPE}\" href=\"{href}/operations\">\n\
             {operations}  </BlockingTaskOperations>\n  \
             <TimeoutInMilliseconds>{}</TimeoutInMilliseconds>\n\
             </BlockingTaskSettings>\n",
            self.timeout_action.as_str(),
            self.timeout.num_milliseconds()
        )
    }

    /// Reads the body of a PUT: the whole element, every value required.
    pub(crate) fn parse(body: &str) -> Result<Self, ParamsError> {
        let mut reader = Reader::from_str(body);
        let mut path: Vec<String> = Vec::new();
        let mut text = String::new();
        let (mut action, mut timeout, mut operations) = (None, None, None::<Vec<String>>);
        loop {
            let event = reader.read_event().map_err(malformed)?;
            match &event {
                Event::Start(el) => {
                    let name = el.local_name().as_ref().to_owned();
                    if path.is_empty() && name != "BlockingTaskSettings" {
                        return Err(ParamsError::WrongRoot {
                            expected: "BlockingTaskSettings",
                        });
                    }
                    if path.len() == 1 && name == "BlockingTaskOperations" {
                        operations.get_or_insert_with(Vec::new);
                    }
                    path.push(name);
                    text.clear();
                }
                Event::Empty(el) => {
                    if path.is_empty() {
                        // An empty root carries none of the required values.
                        return Err(ParamsError::WrongRoot {
                            expected: "BlockingTaskSettings",
                        });
                    }
                    if path.len() == 1 && el.local_name().as_ref() == "BlockingTaskOperations" {
                        operations.get_or_insert_with(Vec::new);
                    }
                }
                Event::End(_) => {
                    let value = text.trim().to_owned();
                    match path
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .as_slice()
                    {
                        [_, "TimeoutAction"] => action = Some(value),
                        [_, "TimeoutInMilliseconds"] => timeout = Some(value),
                        [_, "BlockingTaskOperations", "Operation"]
                        | [
                            _,
                            "BlockingTaskOperations",
                            "TaskOperationType",
                            "Operation",
                        ] => {
                            operations.get_or_insert_with(Vec::new).push(value);
                        }
                        _ => {}
                    }
                    path.pop();
                    text.clear();
                }
                Event::Eof => break,
                _ => {
                    if let Some(chunk) = text_of(&event)? {
                        text.push_str(&chunk);
                    }
                }
            }
        }
        let action = action.ok_or(ParamsError::Missing("TimeoutAction"))?;
        let timeout_action = Decision::parse(&action).ok_or_else(|| {
            ParamsError::Invalid(format!(
                "TimeoutAction {action:?} must be abort, fail or resume"
            ))
        })?;
        let raw = timeout.ok_or(ParamsError::Missing("TimeoutInMilliseconds"))?;
        let millis = raw
            .parse::<i64>()
            .ok()
            .filter(|ms| (0..=MAX_TIMEOUT_MS).contains(ms))
            .ok_or_else(|| {
                ParamsError::Invalid(format!(
                    "TimeoutInMilliseconds {raw:?} must be a whole number of milliseconds, 0 or more"
                ))
            })?;
        Ok(Self {
            timeout: Duration::milliseconds(millis),
            timeout_action,
            operations: Some(operations.ok_or(ParamsError::Missing("BlockingTaskOperations"))?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_put_everything_blocks_and_is_listed() {
        let settings = BlockingSettings::new(Duration::minutes(10), Decision::Abort);
        assert!(settings.blocks("vdcSomethingNew"));
        let document = settings.document("http://127.0.0.1:1");
        assert!(document.contains("<vcloud:Operation>vdcDeleteVapp</vcloud:Operation>"));
        assert!(document.contains("<TimeoutInMilliseconds>600000</TimeoutInMilliseconds>"));
    }

    #[test]
    fn a_put_document_reads_back_and_decides_what_blocks() {
        let mut settings = BlockingSettings::new(Duration::minutes(10), Decision::Abort);
        settings.operations = Some(vec!["vdcUploadMedia".into()]);
        settings.timeout_action = Decision::Fail;
        let parsed = BlockingSettings::parse(&settings.document("http://x")).unwrap();
        assert_eq!(parsed, settings);
        assert!(parsed.blocks("vdcUploadMedia"));
        assert!(!parsed.blocks("vdcInstantiateVapp"));
    }

    #[test]
    fn an_empty_list_blocks_nothing_and_bad_values_are_refused() {
        let empty = "<BlockingTaskSettings><TimeoutAction>abort</TimeoutAction>\
            <BlockingTaskOperations/><TimeoutInMilliseconds>5</TimeoutInMilliseconds>\
            </BlockingTaskSettings>";
        assert!(
            !BlockingSettings::parse(empty)
                .unwrap()
                .blocks("vdcUploadMedia")
        );
        let bad_action = empty.replace("abort", "ignore");
        assert!(matches!(
            BlockingSettings::parse(&bad_action),
            Err(ParamsError::Invalid(_))
        ));
        let negative = empty.replace(">5<", ">-5<");
        assert!(matches!(
            BlockingSettings::parse(&negative),
            Err(ParamsError::Invalid(_))
        ));
        assert!(matches!(
            BlockingSettings::parse("<Other/>"),
            Err(ParamsError::WrongRoot { .. })
        ));
    }
}
