//! Validation: turns the raw layered values into [`Settings`], resolving `*_file` secrets and
//! relative paths, and reports the first problem with where its value came from.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::raw::{self, RawSettings};
use super::routing;
use super::*;
use crate::duration::parse_duration;
use crate::outcome::WebhookEvent;

/// The largest `vcd.max_in_flight` accepted: far beyond what one vCD cell serves at once.
const MAX_IN_FLIGHT: usize = 1024;
/// The largest `http.max_connections` accepted per listener.
const MAX_CONNECTIONS: usize = 65_536;

/// The AMQP prefetch: `vcd.max_in_flight` and a quarter more, capped by `amqp.prefetch` when
/// set. RabbitMQ fixes a consumer's prefetch when it starts consuming (`basic.qos` applies to
/// new consumers only, and quorum queues refuse the channel-wide kind), so it cannot follow the
/// adaptive limit as it moves: it follows the limit's ceiling instead, and the limit decides
/// how many of those deliveries reach vCD at once. The quarter more is for deliveries whose
/// task waits out a retry after a 503 and makes no call meanwhile: with as many deliveries as
/// slots, each of those leaves a slot idle. Not twice as many: that drained no faster at 50 ms
/// per call and cost 1.8 MB of peak memory (BENCHMARKS.md §3).
pub(super) fn prefetch(cap: Option<u16>, max_in_flight: usize) -> u16 {
    let follow = u16::try_from(max_in_flight + max_in_flight / 4).unwrap_or(u16::MAX);
    cap.map_or(follow, |cap| cap.min(follow))
}

/// Turns the raw layered values into [`Settings`], reporting the first problem with its origin.
pub(super) struct Validator<'a> {
    origin: Origin<'a>,
    /// Relative `*_file` and `path` values are resolved against the config file's directory.
    base_dir: &'a Path,
    warnings: Vec<String>,
    /// Every secret file read, with its key, for `check`'s look at who may read it.
    secret_files: Vec<(String, PathBuf)>,
    /// The secrets whose value a `*_file` gave: `amqp.url` → the file `amqp.url_file` named.
    /// A problem with such a value is that file's, not the key's.
    read_from: Vec<(String, PathBuf)>,
}

impl<'a> Validator<'a> {
    pub(super) fn new(origin: Origin<'a>, base_dir: &'a Path) -> Validator<'a> {
        Validator {
            origin,
            base_dir,
            warnings: Vec::new(),
            secret_files: Vec::new(),
            read_from: Vec::new(),
        }
    }

    /// A problem with the value of `key`, at the place its value came from: the config file's
    /// `file:line:col`, the `VCD_BLOCKD__…` variable, or the file a `*_file` key named (with
    /// where that key was set).
    fn invalid(&self, key: &str, message: impl fmt::Display) -> ConfigError {
        let location = match self.read_from.iter().find(|(secret, _)| secret == key) {
            Some((_, path)) => {
                let file_key = format!("{key}_file");
                format!(
                    "{} (read through {file_key}, set at {})",
                    path.display(),
                    self.origin.describe(&file_key)
                )
            }
            None => self.origin.describe(key),
        };
        ConfigError::Invalid {
            location,
            key: key.to_owned(),
            message: message.to_string(),
        }
    }

    pub(super) fn validate(mut self, raw: RawSettings) -> Result<Settings, ConfigError> {
        let reconcile = ReconcileSettings {
            interval: self.positive_duration("reconcile.interval", raw.reconcile_interval())?,
        };
        let poll_mode = raw.poll_mode();
        let vcd = self.vcd(raw.vcd)?;
        let amqp = if poll_mode {
            None
        } else {
            Some(self.amqp(raw.amqp, vcd.max_in_flight)?)
        };
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
            allow_self_approval: raw.holds.allow_self_approval,
        };
        let http = self.http(raw.http)?;
        if amqp.is_some() && http.admin_api() && http.cluster_secret.is_none() {
            self.warnings.push(
                "http.cluster_secret_file is not set: with a broker, an instance that stands by \
                 cannot forward admin calls to the leader (it answers them 503 \"no cluster \
                 secret\" and is not ready), and the leader answers no forwarded call; set the \
                 same file on every instance, e.g. the 64 hex characters of `openssl rand -hex 32`"
                    .to_owned(),
            );
        }
        let notify = raw
            .notify
            .into_iter()
            .enumerate()
            .map(|(index, raw)| self.webhook(index, raw, http.approvers_file.is_some()))
            .collect::<Result<_, _>>()?;
        let slack = self.slack(raw.slack)?;
        if slack.is_some() && http.approvers_file.is_none() {
            self.warnings.push(
                "[slack] is set but http.approvers_file is not: nobody can decide from Slack \
                 (a click is taken as the approver whose slack_user clicked)"
                    .to_owned(),
            );
        }
        let mut ask: Vec<AskSettings> = Vec::new();
        for (index, raw) in raw.ask.into_iter().enumerate() {
            let service = self.ask(index, raw)?;
            if ask.iter().any(|other| other.name == service.name) {
                return Err(self.invalid(
                    &format!("ask[{index}].name"),
                    format!(
                        "{:?} names another [[ask]] too; names must be unique",
                        service.name
                    ),
                ));
            }
            ask.push(service);
        }
        if raw.state.dir.trim().is_empty() {
            return Err(self.invalid(
                "state.dir",
                "must name a directory (default /var/lib/vcd-blockd)".to_owned(),
            ));
        }
        let state = StateSettings {
            dir: PathBuf::from(raw.state.dir),
        };
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
            notify,
            slack,
            ask,
            state,
            log,
            warnings: self.warnings,
            secret_files: self.secret_files,
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
            max_in_flight: match raw.max_in_flight {
                1..=MAX_IN_FLIGHT => raw.max_in_flight,
                _ => {
                    return Err(self.invalid(
                        "vcd.max_in_flight",
                        format!("must be between 1 and {MAX_IN_FLIGHT}"),
                    ));
                }
            },
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

    fn amqp(
        &mut self,
        raw: raw::RawAmqp,
        max_in_flight: usize,
    ) -> Result<AmqpSettings, ConfigError> {
        let url = self.secret("amqp.url", raw.url, raw.url_file)?;
        {
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
        let exchange = raw
            .exchange
            .unwrap_or_else(|| format.usual_exchange().to_owned());
        for (key, value) in [("amqp.exchange", &exchange), ("amqp.queue", &raw.queue)] {
            if value.trim().is_empty() || value.len() > 200 {
                return Err(self.invalid(key, "must be a name of 1 to 200 characters"));
            }
        }
        if let Some(why) = routing::refuse_exchange(&exchange) {
            return Err(self.invalid("amqp.exchange", why));
        }
        if raw.binding_keys.is_empty() || raw.binding_keys.iter().any(|k| k.trim().is_empty()) {
            return Err(self.invalid(
                "amqp.binding_keys",
                "needs at least one non-empty routing key pattern",
            ));
        }
        for (index, binding) in raw.binding_keys.iter().enumerate() {
            if !routing::can_match_blocking_task(binding) {
                return Err(self.invalid(
                    &format!("amqp.binding_keys[{index}]"),
                    format!(
                        "{binding:?} can never match the routing key of a new blocking task \
                         (true.<task>.<org>.<user>.com.vmware.vcloud.event.blockingtask.create.<task name>); \
                         e.g. \"#.blockingtask.create.#\""
                    ),
                ));
            }
        }
        if raw.prefetch == Some(0) {
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
            exchange,
            format,
            queue: raw.queue,
            binding_keys: raw.binding_keys,
            queue_type,
            prefetch: prefetch(raw.prefetch, max_in_flight),
            heartbeat: self.positive_duration("amqp.heartbeat", &raw.heartbeat)?,
            max_message_bytes: raw.max_message_bytes,
        })
    }

    /// Validates `[http]` alone (for `vcd-blockd holds`).
    pub(super) fn http_only(mut self, raw: raw::RawHttp) -> Result<HttpSettings, ConfigError> {
        self.http(raw)
    }

    fn http(&mut self, raw: raw::RawHttp) -> Result<HttpSettings, ConfigError> {
        let listen = self.address("http.listen", &raw.listen)?;
        let admin_listen = match raw.admin_listen.trim() {
            "" => None,
            text => Some(self.address("http.admin_listen", text)?),
        };
        let tls = self.tls(&raw, admin_listen.is_some())?;
        let admin_token_file = self.optional_path(&raw.admin_token_file);
        let admin_token = match &admin_token_file {
            None => None,
            Some(path) => Some(self.read_token_file("http.admin_token_file", path)?),
        };
        let http = HttpSettings {
            listen,
            admin_listen,
            tls,
            admin_token,
            admin_token_file,
            approvers_file: self.optional_path(&raw.approvers_file),
            public_url: self.public_url(&raw.public_url)?,
            max_connections: self.max_connections(raw.max_connections)?,
            cluster_secret: match self.optional_path(&raw.cluster_secret_file) {
                None => None,
                Some(path) => Some(self.cluster_secret(&path)?),
            },
        };
        let admin = admin_listen.unwrap_or(listen);
        if http.admin_api() && !admin.ip().is_loopback() && http.tls.is_none() {
            let key = if admin_listen.is_some() {
                "http.admin_listen"
            } else {
                "http.listen"
            };
            self.warnings.push(format!(
                "{key} {admin} is not loopback and has no TLS: the admin API is reachable from \
                 the network in plain HTTP (set http.tls_cert_file and http.tls_key_file)"
            ));
        }
        Ok(http)
    }

    /// `http.max_connections`: at least one, and no more than a process could hold open.
    fn max_connections(&self, value: usize) -> Result<usize, ConfigError> {
        if (1..=MAX_CONNECTIONS).contains(&value) {
            Ok(value)
        } else {
            Err(self.invalid(
                "http.max_connections",
                format!("{value} is not between 1 and {MAX_CONNECTIONS}"),
            ))
        }
    }

    /// `http.cluster_secret_file`: one line whose bytes, trimmed, are the key; at least
    /// [`CLUSTER_SECRET_MIN_BYTES`] of them, e.g. 64 hex characters from `openssl rand -hex 32`.
    fn cluster_secret(&mut self, path: &Path) -> Result<SecretString, ConfigError> {
        let key = "http.cluster_secret_file";
        let secret = self.read_token_file(key, path)?;
        let length = secret.expose_secret().len();
        if length < CLUSTER_SECRET_MIN_BYTES {
            return Err(self.invalid(
                key,
                format!(
                    "{} holds {length} bytes; at least {CLUSTER_SECRET_MIN_BYTES} are needed \
                     (e.g. the 64 hex characters of `openssl rand -hex 32`)",
                    path.display()
                ),
            ));
        }
        Ok(secret)
    }

    /// `http.public_url`: where people open `/ui/`, so it must be an absolute http(s) URL to
    /// which `/ui/#<task id>` can be appended.
    fn public_url(&self, text: &str) -> Result<Option<Url>, ConfigError> {
        let key = "http.public_url";
        if text.trim().is_empty() {
            return Ok(None);
        }
        let mut url = Url::parse(text.trim()).map_err(|e| {
            self.invalid(
                key,
                format!("{e}: {text:?}; e.g. \"https://blockd.example.com\""),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(self.invalid(
                key,
                format!("{text:?} is not an http:// or https:// URL with a host"),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(self.invalid(key, "must not have a query or fragment"));
        }
        let trimmed = url.path().trim_end_matches('/').to_owned();
        url.set_path(&trimmed);
        Ok(Some(url))
    }

    /// One `[[notify]]` entry, `notify[index]` in messages. The URL is a credential: messages
    /// about it never quote it. `approvers_file`: whether `[http] approvers_file` is set, which
    /// `to = "approvers"` needs.
    fn webhook(
        &mut self,
        index: usize,
        mut raw: raw::RawNotify,
        approvers_file: bool,
    ) -> Result<WebhookSettings, ConfigError> {
        let key = |name: &str| format!("notify[{index}].{name}");
        let formats = WebhookFormat::ALL.map(WebhookFormat::label);
        let format = WebhookFormat::from_label(&raw.format)
            .ok_or_else(|| self.invalid(&key("format"), one_of(&raw.format, &formats)))?;
        let events = self.events(&key("events"), raw.events.take())?;
        if format == WebhookFormat::Email {
            let (url, mail) = self.mail(index, raw, approvers_file)?;
            return Ok(WebhookSettings {
                url,
                format,
                events,
                mail: Some(mail),
            });
        }
        let mail_only = [
            ("smtp_url", raw.smtp_url.is_some()),
            ("smtp_url_file", raw.smtp_url_file.is_some()),
            ("ca_file", raw.ca_file.is_some()),
            ("from", raw.from.is_some()),
            ("to", raw.to.is_some()),
        ];
        if let Some((name, _)) = mail_only.iter().find(|(_, given)| *given) {
            return Err(self.invalid(
                &key(name),
                format!(
                    "is for format = \"email\" only; this receiver's format is \"{}\"",
                    format.label()
                ),
            ));
        }
        let url = self.secret(&key("url"), raw.url, raw.url_file)?;
        let url = SecretString::from(url.expose_secret().trim().to_owned());
        let parsed = Url::parse(url.expose_secret())
            .map_err(|e| self.invalid(&key("url"), format!("not a URL ({e})")))?;
        match parsed.scheme() {
            "https" => {}
            "http" => self.warnings.push(format!(
                "{} is plain HTTP: the URL, a credential, and the events travel unencrypted",
                key("url")
            )),
            _ => return Err(self.invalid(&key("url"), "scheme must be https:// or http://")),
        }
        if parsed.host().is_none() {
            return Err(self.invalid(&key("url"), "needs a host"));
        }
        Ok(WebhookSettings {
            url,
            format,
            events,
            mail: None,
        })
    }

    /// A receiver's `events`: every event when unset.
    fn events(
        &self,
        key: &str,
        names: Option<Vec<String>>,
    ) -> Result<Vec<WebhookEvent>, ConfigError> {
        let Some(names) = names else {
            return Ok(WebhookEvent::ALL.to_vec());
        };
        if names.is_empty() {
            return Err(self.invalid(
                key,
                "names no event; leave it out for every event, or remove the [[notify]] entry",
            ));
        }
        let mut events = Vec::new();
        for name in &names {
            let event = WebhookEvent::from_label(name).ok_or_else(|| {
                self.invalid(
                    key,
                    one_of(name, &WebhookEvent::ALL.map(WebhookEvent::label)),
                )
            })?;
            if !events.contains(&event) {
                events.push(event);
            }
        }
        Ok(events)
    }

    /// A `format = "email"` receiver: its SMTP URL (a secret, never quoted), `from`, `to` and
    /// `ca_file`.
    fn mail(
        &mut self,
        index: usize,
        raw: raw::RawNotify,
        approvers_file: bool,
    ) -> Result<(SecretString, MailSettings), ConfigError> {
        let key = |name: &str| format!("notify[{index}].{name}");
        if raw.url.is_some() || raw.url_file.is_some() {
            let name = if raw.url.is_some() { "url" } else { "url_file" };
            return Err(self.invalid(
                &key(name),
                "a format = \"email\" receiver is given its server as smtp_url_file, not url",
            ));
        }
        let url = self.secret(&key("smtp_url"), raw.smtp_url, raw.smtp_url_file)?;
        let url = SecretString::from(url.expose_secret().trim().to_owned());
        let example =
            "e.g. smtps://user:password@mail.example.com:465, or smtp://…:587 with STARTTLS";
        let parsed = Url::parse(url.expose_secret())
            .map_err(|e| self.invalid(&key("smtp_url"), format!("not a URL ({e}); {example}")))?;
        if !matches!(parsed.scheme(), "smtps" | "smtp") {
            return Err(self.invalid(
                &key("smtp_url"),
                format!("scheme must be smtps:// or smtp://; {example}"),
            ));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(self.invalid(&key("smtp_url"), format!("needs a host; {example}")));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(self.invalid(
                &key("smtp_url"),
                "takes no query or fragment: smtps:// is TLS from the start, smtp:// is upgraded \
                 with STARTTLS",
            ));
        }
        if !parsed.username().is_empty() && parsed.password().is_none() {
            return Err(self.invalid(
                &key("smtp_url"),
                "names a user but no password (smtps://user:password@host)",
            ));
        }
        let from_text = raw
            .from
            .ok_or_else(|| self.invalid(&key("from"), "required: the sender's address"))?;
        let from = self.mailbox(&key("from"), &from_text)?;
        let to = match raw.to {
            None => {
                return Err(self.invalid(
                    &key("to"),
                    "required: a list of addresses, or \"approvers\"",
                ));
            }
            Some(raw::RawRecipients::One(text)) if text.trim() == "approvers" => {
                if !approvers_file {
                    return Err(self.invalid(
                        &key("to"),
                        "\"approvers\" needs http.approvers_file, which names the approvers and \
                         their email",
                    ));
                }
                Recipients::Approvers
            }
            Some(raw::RawRecipients::One(text)) => {
                Recipients::Listed(vec![self.mailbox(&key("to"), &text)?])
            }
            Some(raw::RawRecipients::List(list)) if list.is_empty() => {
                return Err(
                    self.invalid(&key("to"), "names nobody: give addresses, or \"approvers\"")
                );
            }
            Some(raw::RawRecipients::List(list)) => Recipients::Listed(
                list.iter()
                    .map(|text| self.mailbox(&key("to"), text))
                    .collect::<Result<_, _>>()?,
            ),
        };
        let ca_file = raw
            .ca_file
            .as_deref()
            .and_then(|path| self.optional_path(path));
        Ok((url, MailSettings { from, to, ca_file }))
    }

    /// A mail address, `carol@example.com` or `Carol <carol@example.com>`.
    fn mailbox(&self, key: &str, text: &str) -> Result<lettre::message::Mailbox, ConfigError> {
        text.trim().parse().map_err(|e| {
            self.invalid(
                key,
                format!("{text:?} is not a mail address ({e}); e.g. \"blockd@example.com\""),
            )
        })
    }

    /// `[slack]`: off without `bot_token_file`; on, it needs a `channel` and a way for clicks
    /// to arrive (`app_token_file` for Socket Mode, `signing_secret_file` for HTTP, or both).
    fn slack(&mut self, raw: raw::RawSlack) -> Result<Option<SlackSettings>, ConfigError> {
        let Some(bot_path) = self.optional_path(&raw.bot_token_file) else {
            let stray = [
                ("slack.app_token_file", &raw.app_token_file),
                ("slack.channel", &raw.channel),
                ("slack.signing_secret_file", &raw.signing_secret_file),
            ]
            .into_iter()
            .find(|(_, value)| !value.trim().is_empty());
            return match stray {
                Some((key, _)) => Err(self.invalid(
                    key,
                    "needs slack.bot_token_file (the xoxb- token): the Slack app is off without it",
                )),
                None => Ok(None),
            };
        };
        let bot_token = self.read_token_file("slack.bot_token_file", &bot_path)?;
        let app_token = match self.optional_path(&raw.app_token_file) {
            None => None,
            Some(path) => Some(self.read_token_file("slack.app_token_file", &path)?),
        };
        let signing_secret = match self.optional_path(&raw.signing_secret_file) {
            None => None,
            Some(path) => Some(self.read_token_file("slack.signing_secret_file", &path)?),
        };
        for (key, token, prefix) in [
            ("slack.bot_token_file", Some(&bot_token), "xoxb-"),
            ("slack.app_token_file", app_token.as_ref(), "xapp-"),
        ] {
            if let Some(token) = token
                && !token.expose_secret().starts_with(prefix)
            {
                return Err(self.invalid(
                    key,
                    format!("does not hold a {prefix} token (Slack's app settings show it)"),
                ));
            }
        }
        if app_token.is_none() && signing_secret.is_none() {
            return Err(self.invalid(
                "slack.app_token_file",
                "required, or slack.signing_secret_file: the buttons need Socket Mode (the \
                 xapp- token) or Slack's signed requests to /v1/slack/interactions",
            ));
        }
        let channel = raw.channel.trim().to_owned();
        if channel.is_empty() || channel.chars().any(char::is_whitespace) {
            return Err(self.invalid(
                "slack.channel",
                "must name the channel to post to, e.g. \"C0123ABCD\" or \"#approvals\"",
            ));
        }
        let key = "slack.api_url";
        let api_url = Url::parse(raw.api_url.trim())
            .map_err(|e| self.invalid(key, format!("not a URL ({e})")))?;
        match api_url.scheme() {
            "https" => {}
            "http" => self.warnings.push(format!(
                "{key} is plain HTTP: the tokens travel unencrypted, and a ws:// socket URL is \
                 accepted (for a local Slack stand-in only)"
            )),
            _ => return Err(self.invalid(key, "scheme must be https:// (or http:// for tests)")),
        }
        if api_url.host().is_none()
            || !api_url.username().is_empty()
            || api_url.password().is_some()
        {
            return Err(self.invalid(key, "needs a host and no user or password"));
        }
        Ok(Some(SlackSettings {
            bot_token,
            app_token,
            channel,
            api_url,
            signing_secret,
        }))
    }

    /// One `[[ask]]` entry, `ask[index]` in messages. Its URL may carry a credential:
    /// messages about it never quote it.
    fn ask(&mut self, index: usize, raw: raw::RawAsk) -> Result<AskSettings, ConfigError> {
        let key = |name: &str| format!("ask[{index}].{name}");
        let name = raw.name.trim().to_owned();
        if name.is_empty() {
            return Err(self.invalid(
                &key("name"),
                "required: the name rules give in ask = { service = \"…\" }",
            ));
        }
        let url = self.secret(&key("url"), raw.url, raw.url_file)?;
        let url = SecretString::from(url.expose_secret().trim().to_owned());
        let parsed = Url::parse(url.expose_secret())
            .map_err(|e| self.invalid(&key("url"), format!("not a URL ({e})")))?;
        match parsed.scheme() {
            "https" => {}
            "http" => self.warnings.push(format!(
                "{} ([[ask]] {name:?}) is plain HTTP: requests, answers and the URL travel \
                 unencrypted and the service is not authenticated",
                key("url")
            )),
            _ => return Err(self.invalid(&key("url"), "scheme must be https:// or http://")),
        }
        if parsed.host().is_none() {
            return Err(self.invalid(&key("url"), "needs a host"));
        }
        let formats = AskFormat::ALL.map(AskFormat::label);
        let format = AskFormat::from_label(&raw.format)
            .ok_or_else(|| self.invalid(&key("format"), one_of(&raw.format, &formats)))?;
        let timeout = self.positive_duration(&key("timeout"), &raw.timeout)?;
        let hmac_secret = match self.optional_path(&raw.hmac_secret_file) {
            None => None,
            Some(path) => Some(self.read_token_file(&key("hmac_secret_file"), &path)?),
        };
        Ok(AskSettings {
            name,
            url,
            format,
            timeout,
            hmac_secret,
            ca_file: self.optional_path(&raw.ca_file),
        })
    }

    fn address(&self, key: &str, text: &str) -> Result<SocketAddr, ConfigError> {
        text.trim().parse().map_err(|_| {
            self.invalid(
                key,
                format!("{text:?} is not an address:port such as \"127.0.0.1:9180\""),
            )
        })
    }

    /// Both TLS files or neither, only with `admin_listen`, and each readable as PEM.
    fn tls(
        &self,
        raw: &raw::RawHttp,
        has_admin_listen: bool,
    ) -> Result<Option<TlsFiles>, ConfigError> {
        let cert = self.optional_path(&raw.tls_cert_file);
        let key = self.optional_path(&raw.tls_key_file);
        let (cert, key) = match (cert, key) {
            (None, None) => return Ok(None),
            (Some(cert), Some(key)) => (cert, key),
            (Some(_), None) => {
                return Err(self.invalid("http.tls_key_file", "required with http.tls_cert_file"));
            }
            (None, Some(_)) => {
                return Err(self.invalid("http.tls_cert_file", "required with http.tls_key_file"));
            }
        };
        if !has_admin_listen {
            return Err(self.invalid(
                "http.tls_cert_file",
                "TLS is served on the admin listener only: set http.admin_listen too (probes and \
                 metrics stay in plain HTTP on http.listen)",
            ));
        }
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain: Result<Vec<_>, _> = CertificateDer::pem_file_iter(&cert)
            .map_err(|e| self.invalid("http.tls_cert_file", format!("{}: {e}", cert.display())))?
            .collect();
        match chain {
            Ok(chain) if !chain.is_empty() => {}
            Ok(_) => {
                return Err(self.invalid(
                    "http.tls_cert_file",
                    format!("{}: no PEM certificate in it", cert.display()),
                ));
            }
            Err(e) => {
                return Err(self.invalid("http.tls_cert_file", format!("{}: {e}", cert.display())));
            }
        }
        PrivateKeyDer::from_pem_file(&key)
            .map_err(|e| self.invalid("http.tls_key_file", format!("{}: {e}", key.display())))?;
        Ok(Some(TlsFiles { cert, key }))
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
                let value = self.read_secret_file(&file_key, &path)?;
                self.read_from.push((key.to_owned(), path));
                Ok(value)
            }
            (None, None) => {
                Err(self.invalid(&file_key, format!("required (or {key}, discouraged)")))
            }
        }
    }

    fn read_secret_file(&mut self, key: &str, path: &Path) -> Result<SecretString, ConfigError> {
        self.secret_files.push((key.to_owned(), path.to_owned()));
        let text = std::fs::read_to_string(path)
            .map_err(|e| self.invalid(key, format!("cannot read {}: {e}", path.display())))?;
        let value = text.trim_end_matches(['\n', '\r']);
        if value.is_empty() {
            return Err(self.invalid(key, format!("{} is empty", path.display())));
        }
        Ok(SecretString::from(value.to_owned()))
    }

    /// A bearer token: the file's one line with surrounding white space trimmed, as the admin
    /// API compares it byte for byte (`token_file`).
    fn read_token_file(&mut self, key: &str, path: &Path) -> Result<SecretString, ConfigError> {
        self.secret_files.push((key.to_owned(), path.to_owned()));
        let text = std::fs::read_to_string(path)
            .map_err(|e| self.invalid(key, format!("cannot read {}: {e}", path.display())))?;
        let token = crate::token_file::one_line(&text)
            .map_err(|why| self.invalid(key, format!("{} {why}", path.display())))?;
        Ok(SecretString::from(token.to_owned()))
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
