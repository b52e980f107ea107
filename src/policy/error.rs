//! Policy errors as operators see them: `file:line:col: message`, with positions turned from
//! the byte offsets the TOML parser reports into 1-based lines and character columns.

use std::ops::Range;

pub(crate) use crate::located::FileError as PolicyError;
pub use crate::located::FileErrors as PolicyErrors;

/// One policy file's name and text, able to place byte offsets into it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

impl Source<'_> {
    /// An error at the start of `span`.
    pub(super) fn error(&self, span: Range<usize>, message: impl Into<String>) -> PolicyError {
        let (line, col) = self.line_col(span.start);
        PolicyError {
            file: self.name.to_owned(),
            line,
            col,
            message: message.into(),
        }
    }

    /// 1-based line and character column of a byte offset (clamped into the text).
    pub(super) fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = before.matches('\n').count() + 1;
        (line, before[line_start..].chars().count() + 1)
    }

    /// The byte offset of `index` (a byte offset into the parsed `value`) in the file, when
    /// `span` holds `value` written as a plain one-line string without escapes; otherwise the
    /// start of the string, which is the best position we can give.
    pub(super) fn offset_in_string(&self, span: &Range<usize>, value: &str, index: usize) -> usize {
        let written = self.text.get(span.clone()).unwrap_or("");
        let quoted = written.len() == value.len() + 2
            && (written.starts_with('"') || written.starts_with('\''))
            && written.get(1..written.len() - 1) == Some(value);
        if quoted {
            span.start + 1 + index
        } else {
            span.start
        }
    }
}

/// Collects errors from several files and hands them back sorted by file, line and column.
#[derive(Debug, Default)]
pub(crate) struct Diagnostics {
    /// `(index of the file in load order, error)`
    errors: Vec<(usize, PolicyError)>,
}

impl Diagnostics {
    pub(super) fn push(&mut self, file_index: usize, error: PolicyError) {
        self.errors.push((file_index, error));
    }

    pub(super) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub(super) fn into_errors(mut self) -> PolicyErrors {
        self.errors
            .sort_by_key(|(file, error)| (*file, error.line, error.col));
        PolicyErrors(self.errors.into_iter().map(|(_, error)| error).collect())
    }
}

/// The candidate closest to `word` if it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word = word.to_lowercase();
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(&word, &candidate.to_lowercase()), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Edit distance in characters, counting a swap of two neighbours as one edit (typos such as
/// `nmae` are one slip of the fingers, not two).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between the first i characters of a and the first j of b.
    let mut d = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_one_based_lines_and_character_columns() {
        let source = Source {
            name: "p.toml",
            text: "a = 1\nname = \"é-x\"\n\nlast",
        };
        let cases = [
            (0, (1, 1)),
            (4, (1, 5)),
            (6, (2, 1)),
            (14, (2, 9)), // 'é' is two bytes but one column
            (15, (2, 9)), // inside 'é': back to its start
            (16, (2, 10)),
            (21, (4, 1)),
            (999, (4, 5)),
        ];
        for (offset, expected) in cases {
            assert_eq!(source.line_col(offset), expected, "offset {offset}");
        }
    }

    #[test]
    fn errors_display_as_file_line_col() {
        let source = Source {
            name: "p.toml",
            text: "x\ny = 1",
        };
        assert_eq!(source.error(4..5, "bad").to_string(), "p.toml:2:3: bad");
        assert_eq!(
            PolicyError::whole_file("/etc/p", "cannot read").to_string(),
            "/etc/p: cannot read"
        );
    }

    #[test]
    fn suggests_only_near_misses() {
        let keys = ["name", "operation", "owner_name", "org"];
        let cases = [
            ("oeration", Some("operation")),
            ("Operation", Some("operation")),
            ("nmae", Some("name")),
            ("owner-name", Some("owner_name")),
            ("colour", None),
        ];
        for (word, expected) in cases {
            assert_eq!(did_you_mean(word, keys), expected, "{word}");
        }
    }

    #[test]
    fn finds_the_column_inside_plain_strings_only() {
        let source = Source {
            name: "p.toml",
            text: r#"a = "x{y}" b = "x\t{y}""#,
        };
        assert_eq!(source.offset_in_string(&(4..10), "x{y}", 1), 6);
        assert_eq!(source.offset_in_string(&(15..23), "x\t{y}", 2), 15);
    }
}
