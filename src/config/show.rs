//! The effective configuration as `vcd-blockd config` prints it: the layered raw settings
//! (defaults < file < environment) as TOML, with every secret replaced by [`REDACTED`].
//! Secrets given through a `*_file` key show as that path, which is not itself a secret.

use url::Url;

use super::raw::RawSettings;

/// What a secret value is printed as.
pub(super) const REDACTED: &str = "<redacted>";

/// The configuration as TOML, secrets redacted.
pub(super) fn render(mut raw: RawSettings) -> Result<String, String> {
    redact(&mut raw);
    raw.reconcile.interval = Some(raw.reconcile_interval().to_owned());
    toml::to_string(&raw).map_err(|e| e.to_string())
}

/// Removes every value that is a secret or may hold one. A new secret key belongs here.
fn redact(raw: &mut RawSettings) {
    redact_always(&mut raw.vcd.password);
    redact_always(&mut raw.vcd.api_token);
    redact_credentials(&mut raw.vcd.url);
    // An AMQP URL normally carries the broker password, and lapin falls back to guest:guest
    // when it does not: it is redacted whole rather than judged.
    redact_always(&mut raw.amqp.url);
    redact_credentials(&mut raw.http.public_url);
    for receiver in &mut raw.notify {
        // Whoever knows a chat webhook's URL can post to the channel.
        redact_always(&mut receiver.url);
        // An SMTP URL carries the mail account's password.
        redact_always(&mut receiver.smtp_url);
    }
    for service in &mut raw.ask {
        // A decision service's URL may carry a credential (a token, a signed path).
        redact_always(&mut service.url);
    }
}

fn redact_always(value: &mut Option<String>) {
    if value.is_some() {
        *value = Some(REDACTED.to_owned());
    }
}

/// A URL that names a user or password (or cannot be read, so might) is redacted whole.
fn redact_credentials(value: &mut String) {
    if value.is_empty() {
        return;
    }
    let plain =
        Url::parse(value).is_ok_and(|url| url.username().is_empty() && url.password().is_none());
    if !plain {
        *value = REDACTED.to_owned();
    }
}
