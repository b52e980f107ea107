//! Log output for the daemon: `tracing` events as text or JSON lines on stderr, filtered with
//! RUST_LOG syntax (`[log] filter`, overridden by the `RUST_LOG` environment variable).
//!
//! In the text format one event is one line whatever vCD or a person sent ([`TextFields`]):
//! values are quoted and escaped, so a newline in a vApp name or an approver's message cannot
//! start a line that looks like another event. JSON lines are escaped by JSON itself.

use std::fmt;
use std::io::IsTerminal;

use tracing::field::{Field, Visit};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

use crate::config::{LogFormat, LogSettings};

/// lapin's own log lines: each failure it logs (the connection loop's "backoff attempts
/// exhausted", a refused login or vhost closing channel 0, a closed channel) comes back to the
/// daemon as an error, which the daemon logs once, in its own words.
const LAPIN_RECOVERY: &str = "lapin=off";

pub(crate) fn init(settings: &LogSettings) -> Result<(), String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(text) if !text.is_empty() => text,
        _ => settings.filter.clone(),
    };
    let mut filter =
        EnvFilter::try_new(&filter).map_err(|e| format!("log.filter {filter:?}: {e}"))?;
    // lapin logs each failed connection as errors of its own ("Exponential backoff attempts
    // exhausted, aborting recovery", "Connection closed" with the broker's ACCESS_REFUSED),
    // though the daemon reconnects by itself and logs why: silenced unless the filter names
    // lapin.
    if !settings.filter.contains("lapin")
        && !std::env::var("RUST_LOG").is_ok_and(|f| f.contains("lapin"))
    {
        filter = filter.add_directive(LAPIN_RECOVERY.parse().map_err(|e| format!("{e}"))?);
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = match settings.format {
        LogFormat::Text => builder.fmt_fields(TextFields).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| e.to_string())
}

/// The text format's fields: the event's message first, bare when it is plain text (else
/// quoted like a value), then `name=value` for every other field, where numbers and booleans
/// are bare and everything else is a quoted string with `\`, `"` and control characters
/// escaped (`\n`, `\r`, `\t`, else `\u{XX}`; also the C1 controls and the Unicode line and
/// paragraph separators). A field named `message` given by the caller (not the event's own
/// message) is a quoted value like any other.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TextFields;

impl<'writer> FormatFields<'writer> for TextFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut collected = Collected::default();
        fields.record(&mut collected);
        let mut fields = collected.fields;
        // The macros record the event's own message first, before the named fields.
        let message = match fields.first() {
            Some((name, Value::Text(_))) if *name == "message" => Some(fields.remove(0)),
            _ => None,
        };
        let mut first = true;
        if let Some((_, Value::Text(text))) = &message {
            if is_plain(text) {
                writer.write_str(text)?;
            } else {
                write_quoted(&mut writer, text)?;
            }
            first = false;
        }
        for (name, value) in &fields {
            if !first {
                writer.write_char(' ')?;
            }
            first = false;
            write!(writer, "{name}=")?;
            match value {
                Value::Bare(text) => writer.write_str(text)?,
                Value::Text(text) => write_quoted(&mut writer, text)?,
            }
        }
        Ok(())
    }
}

/// A field's value as written.
enum Value {
    /// A number or a boolean.
    Bare(String),
    /// Anything else, quoted and escaped when written.
    Text(String),
}

/// The fields of one event or span, in the order recorded.
#[derive(Default)]
struct Collected {
    fields: Vec<(&'static str, Value)>,
}

impl Visit for Collected {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.fields
            .push((field.name(), Value::Text(format!("{value:?}"))));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields
            .push((field.name(), Value::Text(value.to_owned())));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields
            .push((field.name(), Value::Bare(value.to_string())));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields
            .push((field.name(), Value::Bare(value.to_string())));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fields
            .push((field.name(), Value::Bare(value.to_string())));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields
            .push((field.name(), Value::Bare(value.to_string())));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.fields
            .push((field.name(), Value::Text(value.to_string())));
    }
}

/// Text that needs neither quotes nor escapes as an event's message.
fn is_plain(text: &str) -> bool {
    !text.is_empty()
        && !text
            .chars()
            .any(|c| matches!(c, '"' | '=' | '\\') || escaped(c))
}

/// Characters written as an escape: every control character (C0, DEL, C1) and the Unicode
/// line and paragraph separators, which some viewers break lines at.
fn escaped(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

fn write_quoted(writer: &mut impl fmt::Write, text: &str) -> fmt::Result {
    writer.write_char('"')?;
    for c in text.chars() {
        match c {
            '"' => writer.write_str("\\\"")?,
            '\\' => writer.write_str("\\\\")?,
            '\n' => writer.write_str("\\n")?,
            '\r' => writer.write_str("\\r")?,
            '\t' => writer.write_str("\\t")?,
            c if escaped(c) => write!(writer, "\\u{{{:02X}}}", u32::from(c))?,
            c => writer.write_char(c)?,
        }
    }
    writer.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// What a text-format subscriber wrote while `log` ran.
    fn text_log(log: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .fmt_fields(TextFields)
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    /// Undoes [`write_quoted`] for the value of `name` in `line`.
    fn value_of(line: &str, name: &str) -> String {
        let start = line
            .find(&format!(" {name}=\""))
            .unwrap_or_else(|| panic!("{name} in {line}"))
            + name.len()
            + 3;
        let mut chars = line[start..].chars();
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => return value,
                '\\' => match chars.next().unwrap() {
                    'n' => value.push('\n'),
                    'r' => value.push('\r'),
                    't' => value.push('\t'),
                    'u' => {
                        let hex: String =
                            chars.by_ref().skip(1).take_while(|c| *c != '}').collect();
                        value.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
                    }
                    other => value.push(other),
                },
                c => value.push(c),
            }
        }
        panic!("unterminated value of {name} in {line}")
    }

    #[test]
    fn every_control_character_in_every_audit_field_stays_inside_its_quoted_value() {
        let hostile: String = (0u32..0x20)
            .chain(0x7f..0xa0)
            .chain([0x2028, 0x2029])
            .filter_map(char::from_u32)
            .chain("\" approver=\"carol\" outcome=\"done\\".chars())
            .collect();
        let text = hostile.as_str();
        let log = text_log(|| {
            tracing::info!(
                target: "audit",
                task_id = %text,
                operation = %text,
                org = %text,
                user = %text,
                rule = %text,
                event = text,
                action = text,
                dry_run = false,
                outcome = text,
                deadline = %text,
                approver = text,
                message = text,
                vm = Some(text),
                unknown = Some(text),
                "hold"
            );
        });
        assert_eq!(log.matches('\n').count(), 1, "one line: {log:?}");
        assert!(
            !log.trim_end().chars().any(escaped),
            "no control character is written as it is: {log:?}"
        );
        let line = log.trim_end();
        assert!(line.contains(" audit: hold "), "{line}");
        for name in [
            "task_id",
            "operation",
            "org",
            "user",
            "rule",
            "event",
            "action",
            "outcome",
            "deadline",
            "approver",
            "message",
            "vm",
            "unknown",
        ] {
            assert_eq!(value_of(line, name), hostile, "{name}");
        }
        assert!(line.contains(" dry_run=false "), "{line}");
    }

    #[test]
    fn a_message_is_bare_when_plain_and_quoted_when_not() {
        let log = text_log(|| tracing::warn!(attempt = 3, "AMQP session ended; reconnecting"));
        assert!(
            log.trim_end()
                .ends_with("AMQP session ended; reconnecting attempt=3"),
            "{log}"
        );
        let name = "x\ny";
        let log = text_log(|| tracing::warn!("cannot read {name} = broken"));
        assert!(
            log.trim_end().ends_with(r#""cannot read x\ny = broken""#),
            "{log}"
        );
    }
}
