//! `vcd-blockd holds list | approve ID | reject ID | history`: talks to a running daemon's admin API and
//! prints what happened. It needs only the API's address and a token (flags, the environment,
//! or the `[http]` section of a config), never the daemon's vCD or AMQP secrets.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::{EXIT_FAILED, EXIT_USAGE, Threads, block_on};
use crate::admin::ListedHold;
use crate::config::Settings;
use crate::http::admin::DecisionRequest;
use crate::journal::DecisionRecord;
use crate::task::HoldView;

/// Where the admin API is when neither `--url` nor a config says.
const DEFAULT_URL: &str = "http://127.0.0.1:9180";
/// The environment variable holding a token, when `--token-file` is not given.
const TOKEN_VARIABLE: &str = "VCD_BLOCKD_TOKEN";

/// What to do with held tasks.
#[derive(Debug, Clone)]
pub enum HoldsRequest {
    List,
    /// The latest decisions (`since`: RFC 3339).
    History {
        since: Option<String>,
        limit: Option<usize>,
    },
    Approve {
        id: String,
        message: Option<String>,
    },
    Reject {
        id: String,
        action: String,
        message: Option<String>,
    },
}

/// How to reach the admin API, and how to print answers.
#[derive(Debug, Clone, Default)]
pub struct HoldsOptions {
    /// A config file whose `[http]` section gives the address and the admin token.
    pub config: Option<PathBuf>,
    /// The admin API's base URL; wins over the config.
    pub url: Option<String>,
    /// A file holding the bearer token (whitespace around it is ignored).
    pub token_file: Option<PathBuf>,
    /// Extra CA certificates (PEM) for an admin API served over HTTPS with a private CA.
    pub ca_file: Option<PathBuf>,
    /// Print the API's JSON instead of a table or a sentence.
    pub json: bool,
}

/// Runs one request against the admin API: exit 0 when it was done, 1 when the daemon or the
/// connection refused it, 2 for usage errors (no token, an unreadable config or file).
pub fn holds(options: HoldsOptions, request: HoldsRequest) -> ExitCode {
    let http = match options
        .config
        .as_deref()
        .map(Settings::load_http)
        .transpose()
    {
        Ok(http) => http,
        Err(error) => return usage(&error.to_string()),
    };
    let base = options
        .url
        .clone()
        .or_else(|| http.as_ref().map(|http| http.admin_url()))
        .unwrap_or_else(|| DEFAULT_URL.to_owned())
        .trim_end_matches('/')
        .to_owned();
    let base_url = match url::Url::parse(&base) {
        Ok(url) if url.scheme() == "http" && !is_loopback(&url) => {
            eprintln!(
                "vcd-blockd: warning: {base} is plain HTTP to another host: the bearer token \
                 travels unencrypted (use https:// with the admin listener's TLS)"
            );
            url
        }
        Ok(url) if matches!(url.scheme(), "http" | "https") => url,
        _ => {
            return usage(&format!(
                "{base:?} is not the admin API's URL: write e.g. http://127.0.0.1:9180 or \
                 https://blockd.example.com:9443"
            ));
        }
    };
    let (token, token_source) = match token(&options, http.and_then(|http| http.admin_token)) {
        Ok(token) => token,
        Err(message) => return usage(&message),
    };
    let client = match client(&base_url, options.ca_file.as_deref()) {
        Ok(client) => client,
        Err(message) => return usage(&message),
    };
    let api = Api {
        client,
        base,
        bearer: format!("Bearer {}", token.expose_secret()),
        token_source,
        json: options.json,
    };
    block_on(Threads::This, async {
        let result = match request {
            HoldsRequest::List => api.list().await,
            HoldsRequest::History { since, limit } => api.history(since, limit).await,
            HoldsRequest::Approve { id, message } => {
                let request = DecisionRequest {
                    message,
                    action: None,
                };
                api.post_decision(&id, "approve", &request).await
            }
            HoldsRequest::Reject {
                id,
                action,
                message,
            } => {
                let request = DecisionRequest {
                    message,
                    action: Some(action),
                };
                api.post_decision(&id, "reject", &request).await
            }
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("vcd-blockd: {message}");
                ExitCode::from(EXIT_FAILED)
            }
        }
    })
}

/// `--token-file`, else `$VCD_BLOCKD_TOKEN`, else the config's `admin_token_file`; with where
/// it came from, for messages.
fn token(
    options: &HoldsOptions,
    from_config: Option<SecretString>,
) -> Result<(SecretString, &'static str), String> {
    if let Some(path) = &options.token_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--token-file {}: {e}", path.display()))?;
        return match crate::token_file::one_line(&text) {
            Ok(token) => Ok((SecretString::from(token.to_owned()), "--token-file")),
            Err(why) => Err(format!("--token-file {} {why}", path.display())),
        };
    }
    let from_environment = std::env::var(TOKEN_VARIABLE)
        .ok()
        .map(|token| token.trim().to_owned())
        .filter(|token| !token.is_empty());
    if let Some(token) = from_environment {
        return Ok((SecretString::from(token), "$VCD_BLOCKD_TOKEN"));
    }
    match from_config {
        Some(token) => Ok((token, "the admin_token_file of -c")),
        None => Err(format!(
            "no token: give --token-file FILE, set {TOKEN_VARIABLE}, or -c a config with \
             [http] admin_token_file"
        )),
    }
}

fn client(base: &url::Url, ca_file: Option<&Path>) -> Result<reqwest::Client, String> {
    crate::tls::install_crypto_provider();
    let builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    crate::tls::Roots::for_url(base, ca_file)
        .apply(builder)
        .map_err(|e| format!("--ca-file: {e}"))?
        .build()
        .map_err(|e| crate::tls::with_sources(&e))
}

/// The admin API of one daemon.
struct Api {
    client: reqwest::Client,
    base: String,
    bearer: String,
    /// Where the token came from, named when the daemon refuses it.
    token_source: &'static str,
    json: bool,
}

impl Api {
    async fn list(&self) -> Result<(), String> {
        let url = format!("{}/v1/holds", self.base);
        let response = self.send(self.client.get(&url)).await?;
        let holds: Vec<ListedHold> = response
            .json()
            .await
            .map_err(|e| format!("unreadable answer from {url}: {e}"))?;
        if self.json {
            println!("{}", to_json(&holds)?);
        } else {
            print!("{}", table(&holds, Utc::now()));
        }
        Ok(())
    }

    async fn history(&self, since: Option<String>, limit: Option<usize>) -> Result<(), String> {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if let Some(since) = since {
            query.append_pair("since", &since);
        }
        if let Some(limit) = limit {
            query.append_pair("limit", &limit.to_string());
        }
        let url = format!("{}/v1/decisions?{}", self.base, query.finish());
        let response = self.send(self.client.get(&url)).await?;
        let decisions: Vec<DecisionRecord> = response
            .json()
            .await
            .map_err(|e| format!("unreadable answer from {url}: {e}"))?;
        if self.json {
            println!("{}", to_json(&decisions)?);
        } else {
            print!("{}", history_table(&decisions));
        }
        Ok(())
    }

    async fn post_decision(
        &self,
        id: &str,
        verb: &str,
        request: &DecisionRequest,
    ) -> Result<(), String> {
        let url = format!("{}/v1/holds/{id}/{verb}", self.base);
        let response = self.send(self.client.post(&url).json(request)).await?;
        let answer: serde_json::Value = response
            .json()
            .await
            .map_err(|e| format!("unreadable answer from {url}: {e}"))?;
        if self.json {
            println!("{}", to_json(&answer)?);
        } else if answer["recorded"] == true {
            // The rule needs more approvals than this one (202).
            let names: Vec<&str> = answer["approvals"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|approval| approval["approver"].as_str())
                .collect();
            println!(
                "{} approval recorded ({} of {}: {}); it waits for another approver",
                answer["id"].as_str().unwrap_or("?"),
                names.len(),
                answer["needed"],
                names.join(", ")
            );
        } else {
            println!(
                "{} {}",
                answer["id"].as_str().unwrap_or("?"),
                past_tense(answer["action"].as_str().unwrap_or("?"))
            );
        }
        Ok(())
    }

    /// Sends with the token; an error says what failed (refused, TLS, 401, …) and where.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, String> {
        let response = request
            .header("Authorization", &self.bearer)
            .send()
            .await
            .map_err(|error| describe_failure(&self.base, &error))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(format!(
                "{}: the daemon refused the token from {} (401)",
                self.base, self.token_source
            ));
        }
        if status == reqwest::StatusCode::NOT_FOUND && !from_the_api(&response) {
            return Err(format!(
                "{}: no admin API here (404); with [http] admin_listen it answers on that \
                 address instead",
                self.base
            ));
        }
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        Err(format!(
            "{status}: {}",
            body["error"].as_str().unwrap_or("no explanation")
        ))
    }
}

/// Whether an answer came from the admin API (JSON, e.g. a 404 for an unknown task) rather
/// than from a listener that has no admin API.
fn from_the_api(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

fn to_json(value: &impl serde::Serialize) -> Result<String, String> {
    serde_json::to_string_pretty(value).map_err(|e| e.to_string())
}

/// Why the admin API at `base` could not be reached, in words that say what to check.
fn describe_failure(base: &str, error: &reqwest::Error) -> String {
    let detail = crate::vcd::describe_transport_error(error);
    let text = detail.to_lowercase();
    if text.contains("connection refused") {
        format!("{base}: connection refused; is the daemon running, and is this its admin address?")
    } else if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
        format!("{base}: TLS failed ({detail}); for a private CA give --ca-file PEM")
    } else if error.is_timeout() {
        format!("{base}: no answer in time")
    } else {
        format!("{base}: cannot reach the admin API ({detail})")
    }
}

fn past_tense(action: &str) -> &'static str {
    match action {
        "resume" => "resumed",
        "abort" => "aborted",
        "fail" => "failed",
        _ => "decided",
    }
}

/// The holds as an aligned table, oldest first, with times relative to `now`; APPROVALS is
/// how many of the approvals needed were given, and by whom (`1/2 carol`).
pub(super) fn table(holds: &[ListedHold], now: DateTime<Utc>) -> String {
    if holds.is_empty() {
        return "no held tasks\n".to_owned();
    }
    let header = [
        "TASK",
        "OPERATION",
        "ORG",
        "USER",
        "RULE",
        "HELD FOR",
        "DEADLINE IN",
        "FALLBACK",
        "APPROVALS",
    ];
    let rows: Vec<[String; 9]> = holds
        .iter()
        .map(|ListedHold { hold, .. }| {
            [
                hold.id.to_string(),
                hold.operation.to_string(),
                hold.org.to_string(),
                hold.user.to_string(),
                hold.rule.to_string(),
                span(now - hold.since),
                span(hold.deadline - now),
                hold.fallback.name().to_owned(),
                approvals(hold),
            ]
        })
        .collect();
    aligned(&header, &rows)
}

/// `0/1`, `1/2 carol`, `2/3 carol, dave`: approvals given of those needed, and by whom.
fn approvals(hold: &HoldView) -> String {
    let count = format!("{}/{}", hold.approvals.len(), hold.needed);
    if hold.approvals.is_empty() {
        count
    } else {
        format!("{count} {}", hold.approver_names())
    }
}

/// The decisions as an aligned table, newest first; `by` names the approvers, or says the
/// rule (or its fallback) decided.
pub(super) fn history_table(decisions: &[DecisionRecord]) -> String {
    if decisions.is_empty() {
        return "no decisions\n".to_owned();
    }
    let header = [
        "AT",
        "TASK",
        "OPERATION",
        "ORG",
        "USER",
        "ACTION",
        "BY",
        "RULE",
    ];
    let rows: Vec<[String; 8]> = decisions
        .iter()
        .map(|decided| {
            [
                decided
                    .at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                decided.task_id.to_string(),
                decided.operation.clone(),
                decided.org.clone(),
                decided.user.clone(),
                decided.action.clone(),
                if decided.approvers.is_empty() {
                    "(rule)".to_owned()
                } else {
                    decided.approvers.join(", ")
                },
                decided.rule.clone(),
            ]
        })
        .collect();
    aligned(&header, &rows)
}

/// Rows under a header, each column as wide as its widest cell, two spaces apart.
fn aligned<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|cell| cell.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    line(header);
    for row in rows {
        line(&row.each_ref().map(String::as_str));
    }
    out
}

/// A span for people: seconds only under an hour.
fn span(delta: chrono::TimeDelta) -> String {
    let Ok(duration) = delta.to_std() else {
        return "passed".to_owned();
    };
    let mut seconds = duration.as_secs();
    if seconds == 0 {
        return "0s".to_owned();
    }
    if seconds >= 3600 {
        seconds -= seconds % 60;
    }
    crate::duration::format_duration(std::time::Duration::from_secs(seconds))
}

/// Whether `url` names this machine: `localhost` or a loopback address.
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("vcd-blockd: {message}");
    ExitCode::from(EXIT_USAGE)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::task::{Approval, FinalAction, TaskId};

    #[test]
    fn only_loopback_urls_are_loopback() {
        let loopback = |text: &str| is_loopback(&url::Url::parse(text).unwrap());
        assert!(loopback("http://127.0.0.1:9180"));
        assert!(loopback("http://127.9.0.1:9180"));
        assert!(loopback("http://[::1]:9180"));
        assert!(loopback("http://LOCALHOST:9180"));
        assert!(!loopback("http://10.0.0.5:9180"));
        assert!(!loopback("http://blockd.example.com"));
        assert!(!loopback("http://localhost.example.com"));
    }

    #[test]
    fn the_table_aligns_columns_and_shows_relative_times() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        let hold = ListedHold {
            hold: HoldView {
                id: TaskId::parse("8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94").unwrap(),
                operation: "vdcInstantiateVapp".into(),
                org: "prod-eu".into(),
                user: "dave".into(),
                owner_name: "billing".into(),
                rule: "production deployments need an approver".into(),
                since: now - chrono::TimeDelta::minutes(90),
                deadline: now + chrono::TimeDelta::hours(46) + chrono::TimeDelta::minutes(30),
                fallback: FinalAction::Abort,
                approvals: Vec::new(),
                needed: 1,
                reason: None,
            },
            next_keepalive: now,
            may_decide: true,
            why_not: None,
        };
        let halfway = ListedHold {
            hold: HoldView {
                needed: 2,
                approvals: vec![Approval {
                    approver: "carol".into(),
                    at: now,
                }],
                ..hold.hold.clone()
            },
            next_keepalive: now,
            may_decide: true,
            why_not: None,
        };
        let text = table(&[hold, halfway], now);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with(
            "TASK                                  OPERATION           ORG      USER  RULE"
        ));
        assert!(lines[0].ends_with("FALLBACK  APPROVALS"), "{text}");
        assert!(lines[1].contains("1h30m"), "{text}");
        assert!(lines[1].contains("1d22h30m"), "{text}");
        assert!(lines[1].ends_with("abort     0/1"), "{text}");
        assert!(lines[2].ends_with("abort     1/2 carol"), "{text}");
        assert_eq!(table(&[], now), "no held tasks\n");
        // A task held this very second has been held for 0s, not "0ms".
        assert_eq!(span(chrono::TimeDelta::milliseconds(400)), "0s");
        assert_eq!(span(chrono::TimeDelta::seconds(75)), "1m15s");
    }

    #[test]
    fn the_history_names_who_decided() {
        let decided = |approvers: Vec<String>, action: &str| DecisionRecord {
            task_id: TaskId::parse("8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94").unwrap(),
            operation: "vdcDeleteVapp".into(),
            org: "prod-eu".into(),
            user: "erin".into(),
            rule: "two people".into(),
            action: action.into(),
            approvers,
            at: Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap(),
        };
        let text = history_table(&[
            decided(vec!["carol".into(), "dave".into()], "resume"),
            decided(vec![], "abort"),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("AT    "), "{text}");
        assert!(
            lines[1].starts_with("2026-11-22T12:00:00Z  8c1d6e2a"),
            "{text}"
        );
        assert!(
            lines[1].contains("resume  carol, dave  two people"),
            "{text}"
        );
        assert!(lines[2].contains("abort   (rule)"), "{text}");
        assert_eq!(history_table(&[]), "no decisions\n");
    }
}
