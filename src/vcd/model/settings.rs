//! The cloud's own settings (protocol notes §9): `BlockingTaskSettings` (which operations
//! block, vCD's timeout and what it does then), `AmqpSettings` (where vCD publishes) and
//! `NotificationsSettings` (whether it publishes at all), read into domain values, and the
//! `BlockingTaskSettings` document that `vcd apply` PUTs back.
//!
//! The guide's own answer to a PUT declares the v1.5 namespace as the default where the request
//! used the extension namespace (unsettled): elements are read by local name, so both read
//! alike. API 33+ may list operations as `TaskOperationType{Category,Operation}`; their
//! `Operation` names count like plain ones.

use std::time::Duration;

use serde::Deserialize;

use super::{EXTENSION_NAMESPACE, ModelError, document, invalid};
use crate::task::FinalAction;
use crate::xml;

/// `application/vnd.vmware.admin.blockingTaskSettings+xml`, the media type of a PUT.
pub(crate) const MEDIA_BLOCKING_TASK_SETTINGS: &str =
    "application/vnd.vmware.admin.blockingTaskSettings+xml";
const VCLOUD_NAMESPACE: &str = "http://www.vmware.com/vcloud/v1.5";

/// Which operations vCD suspends as blocking tasks, for how long, and what it does when
/// nobody decides in time. One value for the whole cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlockingSettings {
    /// What vCD does with a task nobody decided within `timeout`.
    pub(crate) timeout_action: FinalAction,
    /// Operation names as vCD spells them (e.g. `vdcInstantiateVapp`), in document order.
    pub(crate) operations: Vec<String>,
    /// How long a blocking task waits (from its creation, or the last `updateProgress`).
    pub(crate) timeout: Duration,
}

/// Where vCD publishes its notifications. `AmqpPassword` is always returned empty and is not
/// read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AmqpSettings {
    pub(crate) host: String,
    /// `None` when vCD left it out (its default is 5672).
    pub(crate) port: Option<u16>,
    pub(crate) user: String,
    pub(crate) exchange: String,
    pub(crate) vhost: String,
    pub(crate) use_ssl: bool,
    /// The prefix of the JSON (`…notifications20`) exchange.
    pub(crate) prefix: String,
}

impl BlockingSettings {
    /// Whether vCD blocks `operation` (names compare exactly, as vCD's do).
    pub(crate) fn blocks(&self, operation: &str) -> bool {
        self.operations.iter().any(|o| o == operation)
    }
}

/// `GET /api/admin/extension/settings/blockingTask`.
pub(crate) fn parse_blocking_settings(xml: &str) -> Result<BlockingSettings, ModelError> {
    let wire: BlockingTaskSettingsXml = document(xml, "BlockingTaskSettings")?;
    let action = wire
        .timeout_action
        .ok_or(ModelError::Missing("TimeoutAction"))?;
    let timeout_action =
        FinalAction::parse(action.trim()).ok_or_else(|| invalid("TimeoutAction", action.trim()))?;
    let millis = wire
        .timeout_in_milliseconds
        .ok_or(ModelError::Missing("TimeoutInMilliseconds"))?;
    let timeout = millis
        .trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| invalid("TimeoutInMilliseconds", millis.trim()))?;
    let list = wire.operations.unwrap_or_default();
    let typed = list.typed.into_iter().filter_map(|t| t.operation);
    let operations = list
        .operations
        .into_iter()
        .chain(typed)
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .collect();
    Ok(BlockingSettings {
        timeout_action,
        operations,
        timeout,
    })
}

/// `GET /api/admin/extension/settings/amqp`.
pub(crate) fn parse_amqp_settings(xml: &str) -> Result<AmqpSettings, ModelError> {
    let wire: AmqpSettingsXml = document(xml, "AmqpSettings")?;
    let text = |value: Option<String>| value.map(|v| v.trim().to_owned()).unwrap_or_default();
    let port = match wire.port.map(|p| p.trim().to_owned()) {
        None => None,
        Some(port) if port.is_empty() => None,
        Some(port) => Some(port.parse().map_err(|_| invalid("AmqpPort", &port))?),
    };
    Ok(AmqpSettings {
        host: text(wire.host),
        port,
        user: text(wire.user),
        exchange: text(wire.exchange),
        vhost: text(wire.vhost),
        use_ssl: text(wire.use_ssl).eq_ignore_ascii_case("true"),
        prefix: text(wire.prefix),
    })
}

/// `GET /api/admin/extension/settings/notifications`: whether vCD publishes notifications.
pub(crate) fn parse_notifications_enabled(xml: &str) -> Result<bool, ModelError> {
    let wire: NotificationsSettingsXml = document(xml, "NotificationsSettings")?;
    let enabled = wire
        .enable_notifications
        .ok_or(ModelError::Missing("EnableNotifications"))?;
    match enabled.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(invalid("EnableNotifications", other)),
    }
}

/// The whole `BlockingTaskSettings` element for a PUT ([`MEDIA_BLOCKING_TASK_SETTINGS`]).
pub(crate) fn blocking_settings_document(settings: &BlockingSettings) -> String {
    let millis = u64::try_from(settings.timeout.as_millis()).unwrap_or(u64::MAX);
    let operations: String = settings
        .operations
        .iter()
        .map(|name| {
            format!(
                "        <vcloud:Operation>{}</vcloud:Operation>\n",
                xml::escape_text(name)
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <BlockingTaskSettings xmlns=\"{EXTENSION_NAMESPACE}\" xmlns:vcloud=\"{VCLOUD_NAMESPACE}\" \
         type=\"{MEDIA_BLOCKING_TASK_SETTINGS}\">\n    \
         <TimeoutAction>{}</TimeoutAction>\n    \
         <BlockingTaskOperations>\n{operations}    </BlockingTaskOperations>\n    \
         <TimeoutInMilliseconds>{millis}</TimeoutInMilliseconds>\n\
         </BlockingTaskSettings>\n",
        settings.timeout_action.name()
    )
}

#[derive(Debug, Deserialize)]
struct BlockingTaskSettingsXml {
    #[serde(rename = "TimeoutAction")]
    timeout_action: Option<String>,
    #[serde(rename = "BlockingTaskOperations")]
    operations: Option<OperationListXml>,
    #[serde(rename = "TimeoutInMilliseconds")]
    timeout_in_milliseconds: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct OperationListXml {
    #[serde(rename = "Operation", default)]
    operations: Vec<String>,
    #[serde(rename = "TaskOperationType", default)]
    typed: Vec<TaskOperationTypeXml>,
}

#[derive(Debug, Deserialize)]
struct TaskOperationTypeXml {
    #[serde(rename = "Operation")]
    operation: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AmqpSettingsXml {
    #[serde(rename = "AmqpHost")]
    host: Option<String>,
    #[serde(rename = "AmqpPort")]
    port: Option<String>,
    #[serde(rename = "AmqpUsername")]
    user: Option<String>,
    #[serde(rename = "AmqpExchange")]
    exchange: Option<String>,
    #[serde(rename = "AmqpVHost")]
    vhost: Option<String>,
    #[serde(rename = "AmqpUseSSL")]
    use_ssl: Option<String>,
    #[serde(rename = "AmqpPrefix")]
    prefix: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NotificationsSettingsXml {
    #[serde(rename = "EnableNotifications")]
    enable_notifications: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str =
        include_str!("../../../tests/fixtures/protocol/blocking-task-settings.xml");

    #[test]
    fn the_documented_settings_read_whole() {
        let settings = parse_blocking_settings(FIXTURE).unwrap();
        assert_eq!(settings.timeout_action, FinalAction::Abort);
        assert_eq!(
            settings.operations,
            ["vdcInstantiateVapp", "vdcUploadMedia"]
        );
        assert_eq!(settings.timeout, Duration::from_secs(86_400));
        assert!(settings.blocks("vdcUploadMedia"));
        assert!(!settings.blocks("vdcuploadmedia"));
    }

    #[test]
    fn the_v1_5_default_namespace_and_typed_operations_read_alike() {
        let answer = "<BlockingTaskSettings xmlns=\"http://www.vmware.com/vcloud/v1.5\" \
            xmlns:ext=\"http://www.vmware.com/vcloud/extension/v1.5\">\
            <ext:TimeoutAction>resume</ext:TimeoutAction>\
            <ext:BlockingTaskOperations><Operation>vdcDeleteVapp</Operation>\
            <ext:TaskOperationType><ext:Category>vapp</ext:Category>\
            <ext:Operation>vdcComposeVapp</ext:Operation></ext:TaskOperationType>\
            </ext:BlockingTaskOperations>\
            <ext:TimeoutInMilliseconds>0</ext:TimeoutInMilliseconds></BlockingTaskSettings>";
        let settings = parse_blocking_settings(answer).unwrap();
        assert_eq!(settings.timeout_action, FinalAction::Resume);
        assert_eq!(settings.operations, ["vdcDeleteVapp", "vdcComposeVapp"]);
        assert_eq!(settings.timeout, Duration::ZERO);
    }

    #[test]
    fn what_is_put_reads_back_the_same() {
        let settings = BlockingSettings {
            timeout_action: FinalAction::Fail,
            operations: vec!["vdcInstantiateVapp".into(), "a<b".into()],
            timeout: Duration::from_millis(7_200_123),
        };
        let document = blocking_settings_document(&settings);
        assert_eq!(parse_blocking_settings(&document).unwrap(), settings);
    }

    #[test]
    fn missing_or_wrong_values_are_named() {
        let no_action = "<BlockingTaskSettings><TimeoutInMilliseconds>1</TimeoutInMilliseconds>\
            </BlockingTaskSettings>";
        assert_eq!(
            parse_blocking_settings(no_action),
            Err(ModelError::Missing("TimeoutAction"))
        );
        let bad_timeout = "<BlockingTaskSettings><TimeoutAction>abort</TimeoutAction>\
            <TimeoutInMilliseconds>-5</TimeoutInMilliseconds></BlockingTaskSettings>";
        assert!(matches!(
            parse_blocking_settings(bad_timeout),
            Err(ModelError::Invalid {
                field: "TimeoutInMilliseconds",
                ..
            })
        ));
        assert!(matches!(
            parse_blocking_settings("<Error message=\"no\"/>"),
            Err(ModelError::UnexpectedRoot { .. })
        ));
    }

    #[test]
    fn amqp_and_notification_settings_read() {
        let amqp = "<AmqpSettings xmlns=\"http://www.vmware.com/vcloud/extension/v1.5\">\
            <AmqpHost>rabbit.example.com</AmqpHost><AmqpPort>5671</AmqpPort>\
            <AmqpUsername>vcd</AmqpUsername><AmqpPassword/>\
            <AmqpExchange>systemExchange</AmqpExchange><AmqpVHost>/</AmqpVHost>\
            <AmqpUseSSL>true</AmqpUseSSL><AmqpSslAcceptAll>false</AmqpSslAcceptAll>\
            <AmqpPrefix>vcd</AmqpPrefix></AmqpSettings>";
        let amqp = parse_amqp_settings(amqp).unwrap();
        assert_eq!(amqp.host, "rabbit.example.com");
        assert_eq!(amqp.port, Some(5671));
        assert_eq!(amqp.exchange, "systemExchange");
        assert!(amqp.use_ssl);
        assert_eq!(amqp.prefix, "vcd");
        let on = "<NotificationsSettings><EnableNotifications>true</EnableNotifications>\
            </NotificationsSettings>";
        assert_eq!(parse_notifications_enabled(on), Ok(true));
        let odd = "<NotificationsSettings><EnableNotifications>yes</EnableNotifications>\
            </NotificationsSettings>";
        assert!(parse_notifications_enabled(odd).is_err());
    }
}
