//! Finds where a key such as `vcd.url` or `notify[1].events` is written in a TOML config file,
//! so that validation errors can name `file:line:col` like syntax errors do.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::located::line_col;

/// Position of the value of `key` in `text`, if the file sets it. `key` is dotted names, each
/// optionally indexing an array of tables: `section.key`, `section[2].key`.
pub(super) fn key_position(text: &str, key: &str) -> Option<(usize, usize)> {
    let root = DeTable::parse(text).ok()?;
    let mut value: Option<&Spanned<DeValue>> = None;
    for segment in key.split('.') {
        let (name, index) = match segment.split_once('[') {
            Some((name, index)) => (name, Some(index.strip_suffix(']')?.parse::<usize>().ok()?)),
            None => (segment, None),
        };
        let named = match value {
            None => root.get_ref().get(name)?,
            Some(table) => table.get_ref().get(name)?,
        };
        value = Some(match index {
            Some(index) => named.get_ref().get(index)?,
            None => named,
        });
    }
    Some(line_col(text, value?.span().start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_value_of_a_key() {
        let text = "[vcd]\nurl = \"x\"\n\n[amqp]\n  queue = \"q\"\n";
        assert_eq!(key_position(text, "vcd.url"), Some((2, 7)));
        assert_eq!(key_position(text, "amqp.queue"), Some((5, 11)));
        assert_eq!(key_position(text, "amqp.exchange"), None);
    }

    #[test]
    fn finds_keys_in_arrays_of_tables() {
        let text =
            "[http]\nlisten = \"x\"\n\n[[notify]]\nurl = \"a\"\n\n[[notify]]\nformat = \"b\"\n";
        assert_eq!(key_position(text, "notify[0].url"), Some((5, 7)));
        assert_eq!(key_position(text, "notify[1].format"), Some((8, 10)));
        assert_eq!(key_position(text, "notify[1].url"), None);
        assert_eq!(key_position(text, "notify[2].url"), None);
        assert_eq!(key_position(text, "http.listen"), Some((2, 10)));
    }

    #[test]
    fn counts_columns_in_characters() {
        assert_eq!(line_col("a = \"é\"\nb", 9), (2, 1));
        assert_eq!(line_col("é = 1", 3), (1, 3));
    }
}
