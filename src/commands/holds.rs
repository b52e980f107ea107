//! `vcd-blockd holds list | approve ID | reject ID`: talks to the running daemon's admin API
//! (address and token from the config) and prints what happened.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;

use super::{EXIT_FAILED, EXIT_USAGE, config_path};
use crate::config::Settings;
use crate::http::admin::{DecisionRequest, HoldView};

/// What to do with held tasks.
#[derive(Debug, Clone)]
pub enum HoldsRequest {
    List,
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

pub fn holds(config: Option<PathBuf>, url: Option<String>, request: HoldsRequest) -> ExitCode {
    let path = config_path(config);
    let settings = match Settings::load(Some(&path)) {
        Ok(settings) => settings,
        Err(error) => return usage(&error.to_string()),
    };
    let Some(token) = settings.http.admin_token.clone() else {
        return usage(&format!(
            "the admin API is off in {}: set [http] admin_token_file",
            path.display()
        ));
    };
    let base = url
        .unwrap_or_else(|| admin_url(&settings))
        .trim_end_matches('/')
        .to_owned();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return usage(&error.to_string()),
    };
    crate::tls::install_crypto_provider();
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(error) => return usage(&error.to_string()),
    };
    let bearer = format!("Bearer {}", token.expose_secret());
    runtime.block_on(async {
        let result = match request {
            HoldsRequest::List => list(&client, &base, &bearer).await,
            HoldsRequest::Approve { id, message } => {
                let request = DecisionRequest {
                    message,
                    action: None,
                };
                post_decision(
                    &client,
                    &format!("{base}/v1/holds/{id}/approve"),
                    &bearer,
                    &request,
                )
                .await
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
                post_decision(
                    &client,
                    &format!("{base}/v1/holds/{id}/reject"),
                    &bearer,
                    &request,
                )
                .await
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

/// The daemon's listen address, with a wildcard address replaced by loopback.
fn admin_url(settings: &Settings) -> String {
    let mut address = settings.http.listen;
    if address.ip().is_unspecified() {
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    format!("http://{address}")
}

async fn list(client: &reqwest::Client, base: &str, bearer: &str) -> Result<(), String> {
    let response = send(
        client
            .get(format!("{base}/v1/holds"))
            .header("Authorization", bearer),
    )
    .await?;
    let holds: Vec<HoldView> = response
        .json()
        .await
        .map_err(|e| format!("unreadable answer: {e}"))?;
    print!("{}", table(&holds, Utc::now()));
    Ok(())
}

async fn post_decision(
    client: &reqwest::Client,
    url: &str,
    bearer: &str,
    request: &DecisionRequest,
) -> Result<(), String> {
    let response = send(
        client
            .post(url)
            .header("Authorization", bearer)
            .json(request),
    )
    .await?;
    let answer: serde_json::Value = response
        .json()
        .await
        .map_err(|e| format!("unreadable answer: {e}"))?;
    println!(
        "{} {}",
        answer["id"].as_str().unwrap_or("?"),
        past_tense(answer["action"].as_str().unwrap_or("?"))
    );
    Ok(())
}

async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, String> {
    let response = request
        .send()
        .await
        .map_err(|e| format!("cannot reach the daemon's admin API: {e}"))?;
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    Err(format!(
        "{status}: {}",
        body["error"].as_str().unwrap_or("no explanation")
    ))
}

fn past_tense(action: &str) -> &'static str {
    match action {
        "resume" => "resumed",
        "abort" => "aborted",
        "fail" => "failed",
        _ => "decided",
    }
}

/// The holds as an aligned table, oldest first, with times relative to `now`.
pub(super) fn table(holds: &[HoldView], now: DateTime<Utc>) -> String {
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
    ];
    let rows: Vec<[String; 8]> = holds
        .iter()
        .map(|h| {
            [
                h.id.clone(),
                h.operation.clone(),
                h.org.clone(),
                h.user.clone(),
                h.rule.clone(),
                span(now - h.since),
                span(h.deadline - now),
                h.fallback.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
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
    line(&header);
    for row in &rows {
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
    if seconds >= 3600 {
        seconds -= seconds % 60;
    }
    crate::duration::format_duration(std::time::Duration::from_secs(seconds))
}

fn usage(message: &str) -> ExitCode {
    eprintln!("vcd-blockd: {message}");
    ExitCode::from(EXIT_USAGE)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_table_aligns_columns_and_shows_relative_times() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        let hold = HoldView {
            id: "8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94".into(),
            operation: "vdcInstantiateVapp".into(),
            org: "prod-eu".into(),
            user: "dave".into(),
            owner_name: "billing".into(),
            rule: "production deployments need an approver".into(),
            since: now - chrono::TimeDelta::minutes(90),
            deadline: now + chrono::TimeDelta::hours(46) + chrono::TimeDelta::minutes(30),
            fallback: "abort".into(),
            next_keepalive: now,
        };
        let text = table(&[hold], now);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with(
            "TASK                                  OPERATION           ORG      USER  RULE"
        ));
        assert!(lines[1].contains("1h30m"), "{text}");
        assert!(lines[1].contains("1d22h30m"), "{text}");
        assert!(lines[1].ends_with("abort"), "{text}");
        assert_eq!(table(&[], now), "no held tasks\n");
    }
}
