//! Settings: the daemon's configuration, loaded as built-in defaults < file < environment
//! (`VCD_BLOCKD__SECTION__KEY`), then validated into typed values before anything connects.
//! `Raw*` structs mirror the file; [`Settings`] is what the rest of the daemon sees.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

pub(crate) use crate::ask::settings::{AskFormat, AskSettings};
pub(crate) use crate::notify::settings::{
    MailSettings, Recipients, SlackSettings, WebhookFormat, WebhookSettings,
};
pub use crate::vcd::settings::{ApiVersionChoice, VcdAuth, VcdSettings};

mod locate;
mod raw;
mod routing;
mod show;
mod validate;

/// Where the daemon looks for its config file when neither `-c` nor `$VCD_BLOCKD_CONFIG` names one.
pub(crate) const DEFAULT_CONFIG_PATH: &str = "/etc/vcd-blockd/config.toml";
/// Prefix of environment overrides; sections and keys are separated by `__`.
pub(crate) const ENV_PREFIX: &str = "VCD_BLOCKD";

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub vcd: VcdSettings,
    /// `None` without an AMQP URL (no `[amqp]`, or neither `url` nor `url_file`): poll mode,
    /// where reconciliation alone finds the blocking tasks.
    pub amqp: Option<AmqpSettings>,
    pub policy: PolicySettings,
    pub holds: HoldSettings,
    pub reconcile: ReconcileSettings,
    pub http: HttpSettings,
    /// `[[notify]]`: the webhooks told about held tasks; empty = none.
    pub notify: Vec<WebhookSettings>,
    /// `[slack]`: the Slack app that posts held tasks with Approve and Reject buttons; `None`:
    /// off.
    pub slack: Option<SlackSettings>,
    /// `[[ask]]`: the decision services rules may ask; empty = none.
    pub ask: Vec<AskSettings>,
    /// `[state]`: where poll mode keeps its journal.
    pub state: StateSettings,
    pub log: LogSettings,
    /// Things worth a warning at start-up (plain-text secrets, plain-HTTP vCD).
    pub warnings: Vec<String>,
    /// The secret files read, each with its key (`vcd.password_file`, …).
    pub secret_files: Vec<(String, PathBuf)>,
}

#[derive(Debug, Clone)]
pub struct AmqpSettings {
    /// Holds the broker password, hence secret.
    pub url: SecretString,
    pub ca_file: Option<PathBuf>,
    pub exchange: String,
    pub format: NotificationFormat,
    pub queue: String,
    pub binding_keys: Vec<String>,
    pub queue_type: QueueType,
    /// The consumer's QoS: `vcd.max_in_flight`, capped by `amqp.prefetch` when set
    /// (`validate::prefetch`).
    pub prefetch: u16,
    pub heartbeat: Duration,
    pub max_message_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationFormat {
    Xml,
    Json,
}

impl NotificationFormat {
    /// The exchange vCD publishes this format to when the operator kept vCD's defaults
    /// (`AmqpExchange` "systemExchange" for XML, `<AmqpPrefix>.notifications20` with prefix
    /// "vcd" for JSON; protocol notes §1): `amqp.exchange` when it is not set.
    pub fn usual_exchange(self) -> &'static str {
        match self {
            NotificationFormat::Xml => "systemExchange",
            NotificationFormat::Json => "vcd.notifications20",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueType {
    Quorum,
    Classic,
}

impl QueueType {
    pub fn name(self) -> &'static str {
        match self {
            QueueType::Quorum => "quorum",
            QueueType::Classic => "classic",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PolicySettings {
    pub path: PathBuf,
    pub mode: PolicyMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyMode {
    Enforce,
    /// Decide and log, never act.
    DryRun,
}

#[derive(Debug, Clone)]
pub struct HoldSettings {
    pub keepalive: Duration,
    pub extend_by: Duration,
    /// Lets an approver decide a task their own vCD user requested (off: separation of duties).
    pub allow_self_approval: bool,
}

/// `[state]`.
#[derive(Debug, Clone)]
pub struct StateSettings {
    /// The directory of poll mode's journal file (`journal.jsonl`); with a broker the journal
    /// is the stream `<queue>.journal` and this is not used.
    pub dir: PathBuf,
}

#[derive(Debug, Clone)]
pub struct ReconcileSettings {
    /// How often vCD's list of active blocking tasks is read: 5 min by default, 15 s in poll
    /// mode.
    pub interval: Duration,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Probes and metrics; the admin API too unless `admin_listen` is set.
    pub listen: SocketAddr,
    /// A separate address for the admin API, e.g. reachable from the network with TLS.
    pub admin_listen: Option<SocketAddr>,
    /// HTTPS on the admin listener (only there: probes and metrics stay plain on `listen`).
    pub tls: Option<TlsFiles>,
    /// Bearer token of the approver `admin`, who has every org.
    pub admin_token: Option<SecretString>,
    /// Where `admin_token` was read from (re-read when it changes).
    pub admin_token_file: Option<PathBuf>,
    /// The named approvers' file (re-read when it changes).
    pub approvers_file: Option<PathBuf>,
    /// How people reach the approvals page (no trailing slash); links in webhooks.
    pub public_url: Option<Url>,
    /// The most connections each listener serves at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// The key instances sign forwarded admin calls, their answers and leadership batons with
    /// (`cluster_secret_file`, trimmed, at least [`CLUSTER_SECRET_MIN_BYTES`]); `None`: this
    /// instance neither forwards nor answers forwarded calls.
    pub cluster_secret: Option<SecretString>,
}

/// The shortest cluster secret accepted, in bytes after trimming (256 bits).
pub(crate) const CLUSTER_SECRET_MIN_BYTES: usize = 32;

impl HttpSettings {
    /// The admin API is on when anyone could use it: the admin token or named approvers.
    pub fn admin_api(&self) -> bool {
        self.admin_token.is_some() || self.approvers_file.is_some()
    }
}

/// A PEM certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl HttpSettings {
    /// How the admin API is reached from this machine: `https://` with TLS, and loopback for a
    /// wildcard address.
    pub fn admin_url(&self) -> String {
        let mut address = self.admin_listen.unwrap_or(self.listen);
        if address.ip().is_unspecified() {
            let loopback: std::net::IpAddr = match address {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            };
            address.set_ip(loopback);
        }
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{address}")
    }
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Why the configuration could not be loaded. Every variant says where the problem is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read the config file: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{location}: {message}")]
    Syntax { location: String, message: String },
    #[error("{location}: {key}: {message}")]
    Invalid {
        location: String,
        key: String,
        message: String,
    },
}

/// Environment variables as the loader sees them (the process environment, or a test's).
pub(crate) type EnvVars = std::collections::HashMap<String, String>;

/// Where a key's value came from, for error messages.
struct Origin<'a> {
    file: Option<(&'a Path, &'a str)>,
    env: &'a EnvVars,
}

impl Origin<'_> {
    fn describe(&self, key: &str) -> String {
        let env_name = env_var_name(key);
        if self.env.contains_key(&env_name) {
            return format!("environment {env_name}");
        }
        match self.file {
            Some((path, text)) => match locate::key_position(text, key) {
                Some((line, col)) => format!("{}:{line}:{col}", path.display()),
                None => format!("{} (built-in default)", path.display()),
            },
            None => "built-in default".to_owned(),
        }
    }
}

/// `vcd.url` → `VCD_BLOCKD__VCD__URL`
pub(crate) fn env_var_name(key: &str) -> String {
    // An item of a list (`amqp.binding_keys[1]`) comes from the list's variable.
    let key = key
        .strip_suffix(']')
        .and_then(|k| k.rsplit_once('['))
        .map_or(key, |(list, _)| list);
    format!(
        "{ENV_PREFIX}__{}",
        key.replace('.', "__").to_ascii_uppercase()
    )
}

impl Settings {
    /// Loads `path` (when given) plus environment overrides and validates the result.
    pub fn load(path: Option<&Path>) -> Result<Settings, ConfigError> {
        Settings::load_with_env(path, &std::env::vars().collect())
    }

    /// [`Settings::load`] with the environment given explicitly.
    pub fn load_with_env(path: Option<&Path>, env: &EnvVars) -> Result<Settings, ConfigError> {
        layered(path, env, |validator, raw| validator.validate(raw))
    }

    /// Only the `[http]` settings of the file at `path` (plus environment), for commands that
    /// talk to a running daemon: no vCD or AMQP setting is read or checked, so no secret of the
    /// daemon's is needed.
    pub fn load_http(path: &Path) -> Result<HttpSettings, ConfigError> {
        let env = std::env::vars().collect();
        layered(Some(path), &env, |validator, raw| {
            validator.http_only(raw.http)
        })
    }
}

/// The effective configuration (built-in defaults < the file at `path`, if any < environment)
/// as TOML, secrets redacted. It is not validated: `vcd-blockd check` does that.
pub(crate) fn effective_toml(path: Option<&Path>) -> Result<String, ConfigError> {
    effective_toml_with_env(path, &std::env::vars().collect())
}

/// [`effective_toml`] with the environment given explicitly.
pub(crate) fn effective_toml_with_env(
    path: Option<&Path>,
    env: &EnvVars,
) -> Result<String, ConfigError> {
    layered(path, env, |_, raw| {
        show::render(raw).map_err(|message| ConfigError::Syntax {
            location: "effective configuration".to_owned(),
            message,
        })
    })
}

/// Reads the file at `path`, checks its shape with positions, layers it between the built-in
/// defaults and the environment, and hands the result to `finish` to validate.
fn layered<T>(
    path: Option<&Path>,
    env: &EnvVars,
    finish: impl FnOnce(validate::Validator<'_>, raw::RawSettings) -> Result<T, ConfigError>,
) -> Result<T, ConfigError> {
    let text = match path {
        Some(path) => Some(
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?,
        ),
        None => None,
    };
    let file = path.zip(text.as_deref());
    if let Some((path, text)) = file {
        raw::check_file(path, text)?;
    }
    raw::check_environment(env)?;
    let raw = raw::load_layered(text.as_deref(), env)
        .map_err(|message| layering_error(path, env, message))?;
    let base_dir = path.and_then(Path::parent).unwrap_or(Path::new("."));
    finish(
        validate::Validator::new(Origin { file, env }, base_dir),
        raw,
    )
}

/// A problem found only once the layers are put together: the file alone was fine, so it is
/// the environment's. The loader says which key (``… for key `vcd.max_in_flight` in the
/// environment``); its variable is named when the environment sets it.
fn layering_error(path: Option<&Path>, env: &EnvVars, message: String) -> ConfigError {
    let key = message
        .split_once("for key `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(key, _)| key.to_owned());
    if let Some(key) = key {
        let variable = env_var_name(&key);
        if env.contains_key(&variable) {
            let message = match message.split_once(" for key `") {
                Some((what, _)) => what.to_owned(),
                None => message,
            };
            return ConfigError::Invalid {
                location: format!("environment {variable}"),
                key,
                message,
            };
        }
    }
    ConfigError::Syntax {
        location: match path {
            Some(path) => format!("{} or environment {ENV_PREFIX}__*", path.display()),
            None => format!("environment {ENV_PREFIX}__*"),
        },
        message,
    }
}

#[cfg(test)]
mod tests;
