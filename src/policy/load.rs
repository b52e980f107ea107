//! Reading policy text from disk: one file, or every `*.toml` file of a directory in file-name
//! order (not recursive; hidden entries skipped, symlinks followed so that Kubernetes ConfigMap
//! mounts work).

use std::fs;
use std::path::{Path, PathBuf};

use super::error::{PolicyError, PolicyErrors, Source};

/// `(file name as shown in errors, text)` for every policy file at `path`.
pub(crate) fn read_sources(path: &Path) -> Result<Vec<(String, String)>, PolicyErrors> {
    let shown = path.display().to_string();
    let metadata = fs::metadata(path).map_err(|e| {
        one(PolicyError::whole_file(
            &shown,
            format!("cannot read policy: {e}"),
        ))
    })?;
    if !metadata.is_dir() {
        let text = read_text(path).map_err(one)?;
        return Ok(vec![(shown, text)]);
    }
    let files = policy_files(path).map_err(|e| {
        one(PolicyError::whole_file(
            &shown,
            format!("cannot read policy directory: {e}"),
        ))
    })?;
    if files.is_empty() {
        let message = "no policy files here: a policy directory holds *.toml files";
        return Err(one(PolicyError::whole_file(shown, message)));
    }
    let mut sources = Vec::with_capacity(files.len());
    let mut errors = Vec::new();
    for file in files {
        match read_text(&file) {
            Ok(text) => sources.push((file.display().to_string(), text)),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(sources)
    } else {
        Err(PolicyErrors(errors))
    }
}

/// The directory's `*.toml` entries that are (or link to) files, sorted by file name. Entries
/// whose target cannot be inspected are kept, so that reading them reports the problem.
fn policy_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let hidden = name.as_encoded_bytes().starts_with(b".");
        let toml = Path::new(&name)
            .extension()
            .is_some_and(|ext| ext == "toml");
        if hidden || !toml {
            continue;
        }
        let path = entry.path();
        if fs::metadata(&path).is_ok_and(|m| !m.is_file()) {
            continue;
        }
        files.push(path);
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

fn read_text(path: &Path) -> Result<String, PolicyError> {
    let shown = path.display().to_string();
    let bytes =
        fs::read(path).map_err(|e| PolicyError::whole_file(&shown, format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(&e.as_bytes()[..valid]);
        let source = Source {
            name: &shown,
            text: &text,
        };
        source.error(valid..valid, "not UTF-8 text: policy files must be UTF-8")
    })
}

fn one(error: PolicyError) -> PolicyErrors {
    PolicyErrors(vec![error])
}
