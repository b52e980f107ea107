//! AMQP header tables to and from the broker-independent [`Headers`] the notification parser
//! reads. vCD sends its `notification.*` headers as strings or AMQP booleans (unsettled), so
//! both are kept as they came.

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

use super::notification::{HeaderValue, Headers};

pub(crate) fn from_table(table: Option<&FieldTable>) -> Headers {
    let Some(table) = table else {
        return Headers::new();
    };
    table
        .inner()
        .iter()
        .map(|(key, value)| (key.as_str().to_owned(), convert(value)))
        .collect()
}

fn convert(value: &AMQPValue) -> HeaderValue {
    match value {
        AMQPValue::Boolean(b) => HeaderValue::Bool(*b),
        AMQPValue::LongString(s) => {
            HeaderValue::Text(String::from_utf8_lossy(s.as_bytes()).into_owned())
        }
        AMQPValue::ShortString(s) => HeaderValue::Text(s.as_str().to_owned()),
        AMQPValue::ShortShortInt(i) => HeaderValue::Int((*i).into()),
        AMQPValue::ShortShortUInt(i) => HeaderValue::Int((*i).into()),
        AMQPValue::ShortInt(i) => HeaderValue::Int((*i).into()),
        AMQPValue::ShortUInt(i) => HeaderValue::Int((*i).into()),
        AMQPValue::LongInt(i) => HeaderValue::Int((*i).into()),
        AMQPValue::LongUInt(i) => HeaderValue::Int((*i).into()),
        AMQPValue::LongLongInt(i) => HeaderValue::Int(*i),
        _ => HeaderValue::Other,
    }
}

/// A long-string header value.
pub(crate) fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

/// A short-string table key.
pub(crate) fn key(name: &str) -> ShortString {
    ShortString::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_strings_booleans_and_integers() {
        let mut table = FieldTable::default();
        table.insert(
            key("notification.type"),
            text("com/vmware/vcloud/event/blockingtask/create"),
        );
        table.insert(
            key("notification.operationSuccess"),
            AMQPValue::Boolean(true),
        );
        table.insert(key("short"), AMQPValue::ShortString("x".into()));
        table.insert(key("count"), AMQPValue::LongInt(7));
        table.insert(key("float"), AMQPValue::Double(1.5));
        let headers = from_table(Some(&table));
        assert_eq!(
            headers["notification.type"],
            HeaderValue::Text("com/vmware/vcloud/event/blockingtask/create".into())
        );
        assert_eq!(
            headers["notification.operationSuccess"],
            HeaderValue::Bool(true)
        );
        assert_eq!(headers["short"], HeaderValue::Text("x".into()));
        assert_eq!(headers["count"], HeaderValue::Int(7));
        assert_eq!(headers["float"], HeaderValue::Other);
        assert!(from_table(None).is_empty());
    }
}
