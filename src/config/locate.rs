//! Finds where a `section.key` is written in a TOML config file, so that validation errors
//! can name `file:line:col` like syntax errors do.

use std::collections::BTreeMap;

use toml::Spanned;

type SpannedDoc = BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, Spanned<toml::Value>>>;

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Position of the value of `section.key` in `text`, if the file sets it.
pub(super) fn key_position(text: &str, dotted_key: &str) -> Option<(usize, usize)> {
    let (section, key) = dotted_key.split_once('.')?;
    let doc: SpannedDoc = toml::from_str(text).ok()?;
    let (_, table) = doc.iter().find(|(name, _)| name.get_ref() == section)?;
    let (_, value) = table.iter().find(|(name, _)| name.get_ref() == key)?;
    Some(line_col(text, value.span().start))
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
    fn counts_columns_in_characters() {
        assert_eq!(line_col("a = \"é\"\nb", 9), (2, 1));
        assert_eq!(line_col("é = 1", 3), (1, 3));
    }
}
