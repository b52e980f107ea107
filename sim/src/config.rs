//! `SimConfig`, the caller's description of the cloud to simulate, and `Settings`, the same
//! after validation (parsed API version, checked timeout action, derived exchange names).

use std::net::SocketAddr;
use std::time::Duration;

use crate::error::SimError;
use crate::model::Decision;
use crate::versions::ApiVersion;

/// How the simulated vCD behaves and where it publishes.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// HTTP listen address; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The RabbitMQ notifications are published to (the default is the local broker). `None`
    /// runs the sim without a broker: it serves the API and publishes nothing.
    pub amqp_url: Option<String>,
    /// vCD's `AmqpExchange`: receives the XML notifications.
    pub xml_exchange: String,
    /// vCD's `AmqpPrefix`: JSON notifications go to `<prefix>.notifications20`.
    pub json_prefix: String,
    /// Highest API version served; 38.0 and later have no `/api/sessions`.
    pub api_version: String,
    /// The system administrator accepted by the login endpoints, `name@System`.
    pub user: String,
    pub password: String,
    /// The refresh token accepted by `/oauth/provider/token`.
    pub api_token: String,
    /// Cloud-wide blocking task timeout: a new task's `timeoutDate` is created + this.
    pub task_timeout: Duration,
    /// Cloud-wide `timeoutAction`: `abort`, `fail` or `resume`.
    pub timeout_action: String,
    /// Write JSON `timestamp`s as `2012-10-08 16:23:08.842` (no zone) instead of RFC 3339.
    pub json_legacy_timestamps: bool,
    /// Keep only the first this many API calls in the call log (`calls`); `None` keeps every
    /// call. Long benchmarks set a limit so the log does not grow without bound.
    pub call_log_limit: Option<usize>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            amqp_url: Some("amqp://guest:guest@127.0.0.1:5672/%2f".into()),
            xml_exchange: "systemExchange".into(),
            json_prefix: "vcd".into(),
            api_version: "37.2".into(),
            user: "administrator@System".into(),
            password: "vmware".into(),
            api_token: "sim-api-token".into(),
            task_timeout: Duration::from_secs(600),
            timeout_action: "abort".into(),
            json_legacy_timestamps: false,
            call_log_limit: None,
        }
    }
}

/// A validated `SimConfig`.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// `None`: notifications are off.
    pub amqp_url: Option<String>,
    pub xml_exchange: String,
    pub json_exchange: String,
    pub api_version: ApiVersion,
    pub user: String,
    pub password: String,
    pub api_token: String,
    pub task_timeout: chrono::Duration,
    pub timeout_action: Decision,
    pub json_legacy_timestamps: bool,
    pub call_log_limit: Option<usize>,
}

impl Settings {
    pub(crate) fn validate(config: &SimConfig) -> Result<Self, SimError> {
        let invalid = |msg: String| SimError::Config(msg);
        let api_version = ApiVersion::parse(&config.api_version).ok_or_else(|| {
            invalid(format!(
                "api_version {:?} is not a version like \"37.2\"",
                config.api_version
            ))
        })?;
        let timeout_action = Decision::parse(&config.timeout_action).ok_or_else(|| {
            invalid(format!(
                "timeout_action {:?} must be abort, fail or resume",
                config.timeout_action
            ))
        })?;
        let task_timeout = chrono::Duration::from_std(config.task_timeout)
            .map_err(|_| invalid("task_timeout is too large".into()))?;
        if config.xml_exchange.is_empty() || config.json_prefix.is_empty() {
            return Err(invalid(
                "xml_exchange and json_prefix must not be empty".into(),
            ));
        }
        if config.amqp_url.as_deref().is_some_and(str::is_empty) {
            return Err(invalid(
                "amqp_url is empty; leave it out to run without a broker".into(),
            ));
        }
        if config.user.is_empty() || config.user.contains(':') {
            return Err(invalid(format!(
                "user {:?} must be non-empty and without ':'",
                config.user
            )));
        }
        Ok(Self {
            amqp_url: config.amqp_url.clone(),
            xml_exchange: config.xml_exchange.clone(),
            json_exchange: format!("{}.notifications20", config.json_prefix),
            api_version,
            user: config.user.clone(),
            password: config.password.clone(),
            api_token: config.api_token.clone(),
            task_timeout,
            timeout_action,
            json_legacy_timestamps: config.json_legacy_timestamps,
            call_log_limit: config.call_log_limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_derive_the_json_exchange() {
        let settings = Settings::validate(&SimConfig::default()).unwrap();
        assert_eq!(settings.json_exchange, "vcd.notifications20");
        assert_eq!(settings.timeout_action, Decision::Abort);
    }

    #[test]
    fn rejects_unknown_timeout_action_and_bad_version() {
        let bad_action = SimConfig {
            timeout_action: "ignore".into(),
            ..SimConfig::default()
        };
        assert!(Settings::validate(&bad_action).is_err());
        let bad_version = SimConfig {
            api_version: "latest".into(),
            ..SimConfig::default()
        };
        assert!(Settings::validate(&bad_version).is_err());
    }

    #[test]
    fn an_amqp_url_is_optional_but_never_empty() {
        let without = SimConfig {
            amqp_url: None,
            ..SimConfig::default()
        };
        assert_eq!(Settings::validate(&without).unwrap().amqp_url, None);
        let empty = SimConfig {
            amqp_url: Some(String::new()),
            ..SimConfig::default()
        };
        assert!(Settings::validate(&empty).is_err());
    }
}
