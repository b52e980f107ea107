//! The configuration as written: serde structs that mirror the file, with the built-in
//! defaults, and the layering of defaults < file < environment. They serialize only for
//! `vcd-blockd config`, after `show::redact` has removed the secrets.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{ConfigError, ENV_PREFIX};

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSettings {
    pub vcd: RawVcd,
    pub amqp: RawAmqp,
    pub policy: RawPolicy,
    pub holds: RawHolds,
    pub reconcile: RawReconcile,
    pub http: RawHttp,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<RawNotify>,
    pub slack: RawSlack,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ask: Vec<RawAsk>,
    pub state: RawState,
    pub log: RawLog,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawVcd {
    pub url: String,
    pub api_version: String,
    pub auth: String,
    pub user: String,
    pub password: Option<String>,
    pub password_file: Option<String>,
    pub api_token: Option<String>,
    pub api_token_file: Option<String>,
    pub ca_file: String,
    pub request_timeout: String,
    pub max_in_flight: usize,
}

impl Default for RawVcd {
    fn default() -> Self {
        RawVcd {
            url: String::new(),
            api_version: "auto".into(),
            auth: "password".into(),
            user: "administrator@System".into(),
            password: None,
            password_file: None,
            api_token: None,
            api_token_file: None,
            ca_file: String::new(),
            request_timeout: "30s".into(),
            max_in_flight: 64,
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAmqp {
    pub url: Option<String>,
    pub url_file: Option<String>,
    pub ca_file: String,
    /// Unset: vCD's usual exchange for `format`.
    pub exchange: Option<String>,
    pub format: String,
    pub queue: String,
    pub binding_keys: Vec<String>,
    pub queue_type: String,
    /// Unset: the prefetch follows `vcd.max_in_flight`; set, it caps that.
    pub prefetch: Option<u16>,
    pub heartbeat: String,
    pub max_message_bytes: usize,
}

impl Default for RawAmqp {
    fn default() -> Self {
        RawAmqp {
            url: None,
            url_file: None,
            ca_file: String::new(),
            exchange: None,
            format: "xml".into(),
            queue: "vcd-blockd".into(),
            binding_keys: vec!["#.blockingtask.create.#".into()],
            queue_type: "quorum".into(),
            prefetch: None,
            heartbeat: "30s".into(),
            max_message_bytes: 262_144,
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawPolicy {
    pub path: String,
    pub mode: String,
}

impl Default for RawPolicy {
    fn default() -> Self {
        RawPolicy {
            path: "/etc/vcd-blockd/policies".into(),
            mode: "enforce".into(),
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawHolds {
    pub keepalive: String,
    pub extend_by: String,
    pub allow_self_approval: bool,
}

impl Default for RawHolds {
    fn default() -> Self {
        RawHolds {
            keepalive: "5m".into(),
            extend_by: "15m".into(),
            allow_self_approval: false,
        }
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawReconcile {
    /// Unset: 5 min, or 15 s in poll mode.
    pub interval: Option<String>,
}

impl RawSettings {
    /// No AMQP URL is configured: the daemon polls vCD instead of consuming notifications.
    pub(super) fn poll_mode(&self) -> bool {
        let unset = |value: &Option<String>| value.as_deref().is_none_or(str::is_empty);
        unset(&self.amqp.url) && unset(&self.amqp.url_file)
    }

    /// `reconcile.interval` as the daemon uses it.
    pub(super) fn reconcile_interval(&self) -> &str {
        match &self.reconcile.interval {
            Some(interval) => interval,
            None if self.poll_mode() => "15s",
            None => "5m",
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawHttp {
    pub listen: String,
    pub admin_listen: String,
    pub tls_cert_file: String,
    pub tls_key_file: String,
    pub admin_token_file: String,
    pub approvers_file: String,
    pub public_url: String,
    pub max_connections: usize,
    pub cluster_secret_file: String,
}

impl Default for RawHttp {
    fn default() -> Self {
        RawHttp {
            listen: "127.0.0.1:9180".into(),
            admin_listen: String::new(),
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
            admin_token_file: String::new(),
            approvers_file: String::new(),
            public_url: String::new(),
            max_connections: 256,
            cluster_secret_file: String::new(),
        }
    }
}

/// One `[[notify]]` entry.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawNotify {
    pub url: Option<String>,
    pub url_file: Option<String>,
    pub format: String,
    /// Unset: every event.
    pub events: Option<Vec<String>>,
    /// `format = "email"`: the SMTP server, with the account's credentials (a secret).
    pub smtp_url: Option<String>,
    pub smtp_url_file: Option<String>,
    /// `format = "email"`: an extra CA bundle (PEM) for the SMTP server's certificate.
    pub ca_file: Option<String>,
    /// `format = "email"`: the sender's address.
    pub from: Option<String>,
    /// `format = "email"`: a list of addresses, or `"approvers"`.
    pub to: Option<RawRecipients>,
}

impl Default for RawNotify {
    fn default() -> Self {
        RawNotify {
            url: None,
            url_file: None,
            format: "json".into(),
            events: None,
            smtp_url: None,
            smtp_url_file: None,
            ca_file: None,
            from: None,
            to: None,
        }
    }
}

/// A mail receiver's `to`: `"approvers"` (or, leniently, one address), or a list of addresses.
#[derive(Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub(super) enum RawRecipients {
    One(String),
    List(Vec<String>),
}

/// `[slack]`: the Slack app; off while `bot_token_file` is empty.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSlack {
    pub bot_token_file: String,
    pub app_token_file: String,
    pub channel: String,
    pub api_url: String,
    pub signing_secret_file: String,
}

impl Default for RawSlack {
    fn default() -> Self {
        RawSlack {
            bot_token_file: String::new(),
            app_token_file: String::new(),
            channel: String::new(),
            api_url: "https://slack.com/api".into(),
            signing_secret_file: String::new(),
        }
    }
}

/// One `[[ask]]` decision service.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAsk {
    pub name: String,
    pub url: Option<String>,
    pub url_file: Option<String>,
    pub format: String,
    pub timeout: String,
    pub hmac_secret_file: String,
    pub ca_file: String,
}

impl Default for RawAsk {
    fn default() -> Self {
        RawAsk {
            name: String::new(),
            url: None,
            url_file: None,
            format: "vcd-blockd".into(),
            timeout: "5s".into(),
            hmac_secret_file: String::new(),
            ca_file: String::new(),
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawState {
    /// Where poll mode keeps its journal; unused with a broker (the journal is a stream).
    pub dir: String,
}

impl Default for RawState {
    fn default() -> Self {
        RawState {
            dir: "/var/lib/vcd-blockd".into(),
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawLog {
    pub format: String,
    pub filter: String,
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog {
            format: "text".into(),
            filter: "info".into(),
        }
    }
}

/// Parses the file alone first, so that syntax errors, unknown keys and wrong types are
/// reported with the file's line and column (the layered loader below has no positions).
pub(super) fn check_file(path: &Path, text: &str) -> Result<(), ConfigError> {
    toml::from_str::<RawSettings>(text).map(drop).map_err(|e| {
        let location = match e.span() {
            Some(span) => {
                let (line, col) = crate::located::line_col(text, span.start);
                format!("{}:{line}:{col}", path.display())
            }
            None => path.display().to_string(),
        };
        ConfigError::Syntax {
            location,
            message: e.message().to_owned(),
        }
    })
}

/// Built-in defaults < the file's text < `VCD_BLOCKD__SECTION__KEY` environment variables.
pub(super) fn load_layered(
    file_text: Option<&str>,
    env: &super::EnvVars,
) -> Result<RawSettings, String> {
    let mut builder = config::Config::builder();
    if let Some(text) = file_text {
        builder = builder.add_source(config::File::from_str(text, config::FileFormat::Toml));
    }
    let environment = config::Environment::with_prefix(ENV_PREFIX)
        .prefix_separator("__")
        .separator("__")
        .list_separator(",")
        .with_list_parse_key("amqp.binding_keys")
        .try_parsing(true)
        .source(Some(env.clone()));
    builder
        .add_source(environment)
        .build()
        .and_then(|c| c.try_deserialize::<RawSettings>())
        .map_err(|e| e.to_string())
}

/// Every key the environment can set, dotted as in the file (`vcd.url`, `amqp.url_file`): each
/// setting of each section. `[[notify]]` entries are a list of tables, which only the file can
/// write.
pub(super) fn environment_keys() -> Vec<String> {
    let mut keys = Vec::new();
    // serde_json keeps `None` as `null` (TOML would drop it), so every field shows.
    if let Ok(serde_json::Value::Object(sections)) = serde_json::to_value(RawSettings::default()) {
        for (section, fields) in sections {
            if let serde_json::Value::Object(fields) = fields {
                keys.extend(fields.keys().map(|field| format!("{section}.{field}")));
            }
        }
    }
    keys
}

/// Refuses a `VCD_BLOCKD__…` variable that names no setting (a misspelt key, a missing `__`,
/// a `[[notify]]` entry), naming the variable and the nearest one that exists, and a
/// `VCD_BLOCKD_SECTION__KEY` with one underscore too few after the prefix, which the loader
/// would otherwise ignore. Variables named `VCD_BLOCKD_…` without `__` (`VCD_BLOCKD_CONFIG`,
/// `VCD_BLOCKD_TOKEN`) are the commands' own and not looked at.
pub(super) fn check_environment(env: &super::EnvVars) -> Result<(), ConfigError> {
    let known: Vec<String> = environment_keys()
        .iter()
        .map(|key| super::env_var_name(key))
        .collect();
    let prefix = format!("{ENV_PREFIX}__");
    let mut names: Vec<&String> = env.keys().collect();
    names.sort();
    for name in names {
        let upper = name.to_ascii_uppercase();
        let message = if let Some(rest) = upper.strip_prefix(&prefix) {
            if known.contains(&upper) {
                continue;
            }
            if rest.starts_with("NOTIFY") {
                "names no setting: [[notify]] entries are set in the config file only (their \
                 url_file can be a path the environment's deployment provides)"
                    .to_owned()
            } else {
                match nearest(&upper, &known) {
                    Some(near) => format!("names no setting; did you mean {near}?"),
                    None => format!(
                        "names no setting; variables are {prefix}SECTION__KEY for a key of the \
                         config file, e.g. {prefix}VCD__URL"
                    ),
                }
            }
        } else if upper.starts_with(ENV_PREFIX) && upper[ENV_PREFIX.len()..].contains("__") {
            let fixed = format!(
                "{prefix}{}",
                upper[ENV_PREFIX.len()..].trim_start_matches('_')
            );
            if !known.contains(&fixed) {
                continue;
            }
            format!(
                "is not read (one underscore too few after {ENV_PREFIX}); did you mean {fixed}?"
            )
        } else {
            continue;
        };
        return Err(ConfigError::Syntax {
            location: format!("environment {name}"),
            message,
        });
    }
    Ok(())
}

/// The known variable nearest to `name`, if it is close enough to be a misspelling.
fn nearest<'a>(name: &str, known: &'a [String]) -> Option<&'a str> {
    let (distance, best) = known
        .iter()
        .map(|candidate| (strsim::levenshtein(name, candidate), candidate))
        .min_by_key(|(distance, _)| *distance)?;
    let suffix = name.len().saturating_sub(ENV_PREFIX.len() + 2);
    (distance <= suffix.div_ceil(3).max(1)).then_some(best.as_str())
}
