//! Poll mode's journal: an append-only file of JSON lines, `journal.jsonl` under `[state] dir`.
//! Each record is written with one `write` and `fdatasync`ed before it counts as written; the
//! file is opened for each record, so a file replaced or removed meanwhile is noticed at once.
//! At [`ROTATE_AT`] bytes it is renamed `journal.1.jsonl` (replacing the one before) and a new
//! file begins: the journal keeps between one and two files' worth of records, read back
//! oldest first. The directory is created when missing (systemd's `StateDirectory=` creates
//! it for the unit).

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::record::{Decoded, decode};

/// The size, in bytes, past which the file is rotated: about 250,000 records.
pub(crate) const ROTATE_AT: u64 = 64 * 1024 * 1024;

/// The journal file and the one rotated before it.
#[derive(Debug, Clone)]
pub(crate) struct FileJournal {
    current: PathBuf,
    previous: PathBuf,
    rotate_at: u64,
}

impl FileJournal {
    pub(crate) fn new(dir: &Path) -> FileJournal {
        FileJournal::with_bound(dir, ROTATE_AT)
    }

    /// With another rotation size, for tests.
    pub(crate) fn with_bound(dir: &Path, rotate_at: u64) -> FileJournal {
        FileJournal {
            current: dir.join("journal.jsonl"),
            previous: dir.join("journal.1.jsonl"),
            rotate_at,
        }
    }

    /// Where the records are written.
    pub(crate) fn path(&self) -> &Path {
        &self.current
    }

    /// Appends one encoded record as a line and syncs it to disk; blocking.
    pub(crate) fn append(&self, line: &[u8]) -> std::io::Result<()> {
        let mut file = self.open()?;
        if file.metadata()?.len() + line.len() as u64 + 1 > self.rotate_at {
            drop(file);
            self.rotate()?;
            file = self.open()?;
        }
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line);
        bytes.push(b'\n');
        file.write_all(&bytes)?;
        file.sync_data()
    }

    /// Whether a record could be written now (the directory exists and the file opens for
    /// appending); blocking.
    pub(crate) fn check(&self) -> std::io::Result<()> {
        self.open().map(drop)
    }

    /// Opens the file for appending, creating it (readable by the daemon's user alone) and
    /// its directory when missing.
    fn open(&self) -> std::io::Result<File> {
        if let Some(dir) = self.current.parent() {
            fs::create_dir_all(dir)?;
        }
        OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.current)
    }

    fn rotate(&self) -> std::io::Result<()> {
        fs::rename(&self.current, &self.previous)?;
        if let Some(dir) = self.current.parent() {
            File::open(dir)?.sync_all()?;
        }
        tracing::info!(path = %self.previous.display(), "journal file rotated");
        Ok(())
    }

    /// Reads every record back, the rotated file first, handing each to `each`; a file that
    /// does not exist holds nothing. A last line cut off by a crash is corrupt like any other.
    pub(crate) fn read(&self, mut each: impl FnMut(Decoded)) -> std::io::Result<()> {
        for path in [&self.previous, &self.current] {
            let file = match File::open(path) {
                Ok(file) => file,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(error) => return Err(error),
            };
            let mut reader = BufReader::with_capacity(1 << 16, file);
            let mut line = Vec::new();
            loop {
                line.clear();
                if reader.read_until(b'\n', &mut line)? == 0 {
                    break;
                }
                let record = line.strip_suffix(b"\n").unwrap_or(&line);
                if !record.iter().all(u8::is_ascii_whitespace) {
                    each(decode(record));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::record::{Record, encode};

    fn mark(n: usize) -> Record {
        Record::Mark {
            id: format!("m{n}"),
            at: "2026-11-20T09:15:00Z".parse().unwrap(),
        }
    }

    fn read_back(journal: &FileJournal) -> Vec<Decoded> {
        let mut all = Vec::new();
        journal.read(|decoded| all.push(decoded)).unwrap();
        all
    }

    #[test]
    fn records_read_back_in_order_with_corrupt_lines_counted_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let journal = FileJournal::new(dir.path());
        assert!(read_back(&journal).is_empty(), "no file yet: nothing");
        journal.append(&encode(&mark(1))).unwrap();
        let mut file = OpenOptions::new()
            .append(true)
            .open(journal.path())
            .unwrap();
        file.write_all(b"{\"v\":1,\"kind\":\"mark\",\"id\n")
            .unwrap();
        journal.append(&encode(&mark(2))).unwrap();
        assert_eq!(
            read_back(&journal),
            [
                Decoded::Record(mark(1)),
                Decoded::Corrupt,
                Decoded::Record(mark(2))
            ]
        );
    }

    #[test]
    fn the_file_rotates_at_its_bound_and_keeps_the_previous_generation() {
        let dir = tempfile::tempdir().unwrap();
        let line_length = encode(&mark(10)).len() as u64 + 1;
        let journal = FileJournal::with_bound(dir.path(), line_length * 3);
        for n in 10..17 {
            journal.append(&encode(&mark(n))).unwrap();
        }
        // 10 11 12 | 13 14 15 | 16: the first generation is gone.
        let kept: Vec<Decoded> = (13..17).map(|n| Decoded::Record(mark(n))).collect();
        assert_eq!(read_back(&journal), kept);
        assert!(fs::metadata(journal.path()).unwrap().len() <= line_length * 3);
    }

    #[test]
    fn a_journal_that_cannot_be_opened_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let journal = FileJournal::new(&dir.path().join("state"));
        journal.check().unwrap();
        fs::remove_file(journal.path()).unwrap();
        fs::create_dir(journal.path()).unwrap();
        assert!(journal.check().is_err());
        assert!(journal.append(&encode(&mark(1))).is_err());
    }
}
