//! Settings: the daemon's configuration, loaded as built-in defaults < file < environment
//! (`VCD_BLOCKD__SECTION__KEY`), then validated into typed values before anything connects.
//! `Raw*` structs mirror the file; [`Settings`] is what the rest of the daemon sees.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::duration::parse_duration;
use crate::vcd::version::ApiVersion;

mod locate;
mod raw;

use raw::RawSettings;

/// Where the daemon looks for its config file when neither `-c` nor `$VCD_BLOCKD_CONFIG` names one.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/vcd-blockd/config.toml";
/// Prefix of environment overrides; sections and keys are separated by `__`.
pub const ENV_PREFIX: &str = "VCD_BLOCKD";

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub vcd: VcdSettings,
    pub amqp: AmqpSettings,
    pub policy: PolicySettings,
    pub holds: HoldSettings,
    pub reconcile: ReconcileSettings,
    pub http: HttpSettings,
    pub log: LogSettings,
    /// Things worth a warning at start-up (plain-text secrets, plain-HTTP vCD).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct VcdSettings {
    /// Base URL without a trailing slash; the only origin that ever receives credentials.
    pub url: Url,
    pub api_version: ApiVersionChoice,
    pub auth: VcdAuth,
    pub ca_file: Option<PathBuf>,
    pub request_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiVersionChoice {
    /// The highest version both vCD (per `/api/versions`) and vcd-blockd support.
    Auto,
    Fixed(ApiVersion),
}

/// How vcd-blockd logs in to vCD. Secrets never appear in `Debug` output.
#[derive(Debug, Clone)]
pub enum VcdAuth {
    Password {
        user: String,
        password: SecretString,
    },
    ApiToken {
        token: SecretString,
    },
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
    pub prefetch: u16,
    pub heartbeat: Duration,
    pub max_message_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationFormat {
    Xml,
    Json,
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
}

#[derive(Debug, Clone)]
pub struct ReconcileSettings {
    pub interval: Duration,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    /// Bearer token for `/v1/holds*`; `None` turns the admin API off.
    pub admin_token: Option<SecretString>,
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
pub type EnvVars = std::collections::HashMap<String, String>;

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
pub fn env_var_name(key: &str) -> String {
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
        let text = match path {
            Some(path) => {
                Some(
                    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                        path: path.to_owned(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        let file = path.zip(text.as_deref());
        if let Some((path, text)) = file {
            raw::check_file(path, text)?;
        }
        let raw =
            raw::load_layered(text.as_deref(), env).map_err(|message| ConfigError::Syntax {
                location: match path {
                    Some(path) => format!("{} or environment {ENV_PREFIX}__*", path.display()),
                    None => format!("environment {ENV_PREFIX}__*"),
                },
                message,
            })?;
        let base_dir = path.and_then(Path::parent).unwrap_or(Path::new("."));
        Validator {
            origin: Origin { file, env },
            base_dir,
            warnings: Vec::new(),
        }
        .validate(raw)
    }
}

/// Turns the raw layered values into [`Settings`], reporting the first problem with its origin.
struct Validator<'a> {
    origin: Origin<'a>,
    /// Relative `*_file` and `path` values are resolved against the config file's directory.
    base_dir: &'a Path,
    warnings: Vec<String>,
}

impl Validator<'_> {
    fn invalid(&self, key: &str, message: impl fmt::Display) -> ConfigError {
        ConfigError::Invalid {
            location: self.origin.describe(key),
            key: key.to_owned(),
            message: message.to_string(),
        }
    }

    fn validate(mut self, raw: RawSettings) -> Result<Settings, ConfigError> {
        let vcd = self.vcd(raw.vcd)?;
        let amqp = self.amqp(raw.amqp)?;
        let policy = PolicySettings {
            path: self.resolve(&raw.policy.path),
            mode: match raw.policy.mode.as_str() {
                "enforce" => PolicyMode::Enforce,
                "dry-run" => PolicyMode::DryRun,
                other => {
                    return Err(self.invalid("policy.mode", one_of(other, &["enforce", "dry-run"])));
                }
            },
        };
        let holds = HoldSettings {
            keepalive: self.positive_duration("holds.keepalive", &raw.holds.keepalive)?,
            extend_by: self.positive_duration("holds.extend_by", &raw.holds.extend_by)?,
        };
        let reconcile = ReconcileSettings {
            interval: self.positive_duration("reconcile.interval", &raw.reconcile.interval)?,
        };
        let http = self.http(raw.http)?;
        let log = LogSettings {
            format: match raw.log.format.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => return Err(self.invalid("log.format", one_of(other, &["text", "json"]))),
            },
            filter: raw.log.filter,
        };
        Ok(Settings {
            vcd,
            amqp,
            policy,
            holds,
            reconcile,
            http,
            log,
            warnings: self.warnings,
        })
    }

    fn vcd(&mut self, raw: raw::RawVcd) -> Result<VcdSettings, ConfigError> {
        let url = self.base_url(&raw.url)?;
        let api_version = match raw.api_version.as_str() {
            "auto" => ApiVersionChoice::Auto,
            text => ApiVersionChoice::Fixed(text.parse().map_err(|message| {
                self.invalid(
                    "vcd.api_version",
                    format!("{message}; use \"auto\" or e.g. \"37.2\""),
                )
            })?),
        };
        let auth = match raw.auth.as_str() {
            "password" => {
                if raw.user.trim().is_empty() {
                    return Err(self.invalid("vcd.user", "required with auth = \"password\""));
                }
                let password = self.secret("vcd.password", raw.password, raw.password_file)?;
                VcdAuth::Password {
                    user: raw.user,
                    password,
                }
            }
            "api-token" => VcdAuth::ApiToken {
                token: self.secret("vcd.api_token", raw.api_token, raw.api_token_file)?,
            },
            other => {
                return Err(self.invalid("vcd.auth", one_of(other, &["password", "api-token"])));
            }
        };
        Ok(VcdSettings {
            url,
            api_version,
            auth,
            ca_file: self.optional_path(&raw.ca_file),
            request_timeout: self.positive_duration("vcd.request_timeout", &raw.request_timeout)?,
        })
    }

    fn base_url(&mut self, text: &str) -> Result<Url, ConfigError> {
        if text.trim().is_empty() {
            return Err(self.invalid(
                "vcd.url",
                "required: the base URL of vCD, e.g. \"https://vcd.example.com\"",
            ));
        }
        let url = Url::parse(text.trim())
            .map_err(|e| self.invalid("vcd.url", format!("{e}: {text:?}")))?;
        match url.scheme() {
            "https" => {}
            "http" => self.warnings.push(format!(
                "vcd.url {url} is plain HTTP: credentials travel unencrypted (meant for local stand-ins only)"
            )),
            other => return Err(self.invalid("vcd.url", format!("scheme {other:?} is not http or https"))),
        }
        if url.host().is_none() || !url.username().is_empty() || url.password().is_some() {
            return Err(self.invalid("vcd.url", "needs a host and no user or password in it"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(self.invalid("vcd.url", "must not have a query or fragment"));
        }
        let mut url = url;
        let trimmed = url.path().trim_end_matches('/').to_owned();
        url.set_path(&trimmed);
        Ok(url)
    }

    fn amqp(&mut self, raw: raw::RawAmqp) -> Result<AmqpSettings, ConfigError> {
        let url = self.secret("amqp.url", raw.url, raw.url_file)?;
        {
            use secrecy::ExposeSecret;
            let parsed = Url::parse(url.expose_secret().trim())
                // The parse error never quotes the URL, which may carry a password.
                .map_err(|e| self.invalid("amqp.url", format!("not a URL ({e})")))?;
            if !matches!(parsed.scheme(), "amqp" | "amqps") {
                return Err(self.invalid("amqp.url", "scheme must be amqp:// or amqps://"));
            }
        }
        let format = match raw.format.as_str() {
            "xml" => NotificationFormat::Xml,
            "json" => NotificationFormat::Json,
            other => return Err(self.invalid("amqp.format", one_of(other, &["xml", "json"]))),
        };
        let queue_type = match raw.queue_type.as_str() {
            "quorum" => QueueType::Quorum,
            "classic" => QueueType::Classic,
            other => {
                return Err(self.invalid("amqp.queue_type", one_of(other, &["quorum", "classic"])));
            }
        };
        for (key, value) in [("amqp.exchange", &raw.exchange), ("amqp.queue", &raw.queue)] {
            if value.trim().is_empty() || value.len() > 200 {
                return Err(self.invalid(key, "must be a name of 1 to 200 characters"));
            }
        }
        if raw.binding_keys.is_empty() || raw.binding_keys.iter().any(|k| k.trim().is_empty()) {
            return Err(self.invalid(
                "amqp.binding_keys",
                "needs at least one non-empty routing key pattern",
            ));
        }
        if raw.prefetch == 0 {
            return Err(self.invalid(
                "amqp.prefetch",
                "must be at least 1 (0 would mean unlimited)",
            ));
        }
        if raw.max_message_bytes < 1024 {
            return Err(self.invalid("amqp.max_message_bytes", "must be at least 1024"));
        }
        Ok(AmqpSettings {
            url,
            ca_file: self.optional_path(&raw.ca_file),
            exchange: raw.exchange,
            format,
            queue: raw.queue,
            binding_keys: raw.binding_keys,
            queue_type,
            prefetch: raw.prefetch,
            heartbeat: self.positive_duration("amqp.heartbeat", &raw.heartbeat)?,
            max_message_bytes: raw.max_message_bytes,
        })
    }

    fn http(&mut self, raw: raw::RawHttp) -> Result<HttpSettings, ConfigError> {
        let listen: SocketAddr = raw.listen.parse().map_err(|_| {
            self.invalid(
                "http.listen",
                format!(
                    "{:?} is not an address:port such as \"127.0.0.1:9180\"",
                    raw.listen
                ),
            )
        })?;
        let admin_token = match self.optional_path(&raw.admin_token_file) {
            None => None,
            Some(path) => Some(self.read_secret_file("http.admin_token_file", &path)?),
        };
        if admin_token.is_some() && !listen.ip().is_loopback() {
            self.warnings.push(format!(
                "http.listen {listen} is not loopback: the admin API is reachable from the network"
            ));
        }
        Ok(HttpSettings {
            listen,
            admin_token,
        })
    }

    /// A secret given either inline (`key`, discouraged) or as `key_file`.
    fn secret(
        &mut self,
        key: &str,
        inline: Option<String>,
        file: Option<String>,
    ) -> Result<SecretString, ConfigError> {
        let file_key = format!("{key}_file");
        match (
            inline.filter(|v| !v.is_empty()),
            file.filter(|v| !v.is_empty()),
        ) {
            (Some(_), Some(_)) => {
                Err(self.invalid(key, format!("give either {key} or {file_key}, not both")))
            }
            (Some(value), None) => {
                self.warnings
                    .push(format!("{key} is given in plain text; prefer {file_key}"));
                Ok(SecretString::from(value))
            }
            (None, Some(path)) => {
                let path = self.resolve(&path);
                self.read_secret_file(&file_key, &path)
            }
            (None, None) => {
                Err(self.invalid(&file_key, format!("required (or {key}, discouraged)")))
            }
        }
    }

    fn read_secret_file(&self, key: &str, path: &Path) -> Result<SecretString, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| self.invalid(key, format!("cannot read {}: {e}", path.display())))?;
        let value = text.trim_end_matches(['\n', '\r']);
        if value.is_empty() {
            return Err(self.invalid(key, format!("{} is empty", path.display())));
        }
        Ok(SecretString::from(value.to_owned()))
    }

    fn positive_duration(&self, key: &str, text: &str) -> Result<Duration, ConfigError> {
        match parse_duration(text) {
            Ok(d) if !d.is_zero() => Ok(d),
            Ok(_) => Err(self.invalid(key, "must be greater than zero")),
            Err(message) => Err(self.invalid(key, message)),
        }
    }

    fn optional_path(&self, text: &str) -> Option<PathBuf> {
        (!text.trim().is_empty()).then(|| self.resolve(text.trim()))
    }

    fn resolve(&self, text: &str) -> PathBuf {
        let path = Path::new(text);
        if path.is_absolute() {
            path.to_owned()
        } else {
            self.base_dir.join(path)
        }
    }
}

fn one_of(value: &str, allowed: &[&str]) -> String {
    format!("{value:?} is not one of {}", allowed.join(", "))
}

#[cfg(test)]
mod tests;
