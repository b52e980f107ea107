//! Problems in the files operators write (policies, the approvers file), as they see them:
//! `file:line:col: message`, with 1-based lines and character columns.

use std::fmt;

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// One problem in a file an operator wrote (a policy, the approvers file), at its place.
///
/// `line` and `col` are 1-based (`col` counts characters, not bytes). A problem that belongs to
/// no position, such as a file that cannot be read, has `line == 0` and `col == 0` and displays
/// as `file: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl FileError {
    /// A problem with a whole file or directory rather than a place in it.
    pub(crate) fn whole_file(file: impl Into<String>, message: impl Into<String>) -> FileError {
        FileError {
            file: file.into(),
            line: 0,
            col: 0,
            message: message.into(),
        }
    }
}

impl std::error::Error for FileError {}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.col, self.message
            )
        }
    }
}

/// Every problem found, one per line, in the order the checker gives (file, then position).
#[derive(Debug)]
pub struct FileErrors(pub Vec<FileError>);

impl fmt::Display for FileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FileErrors {}
