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

#[cfg(test)]
mod tests {
    use std::fs;

    use crate::policy::Policy;

    fn write(dir: &std::path::Path, name: &str, text: &str) {
        fs::write(dir.join(name), text).unwrap();
    }

    fn rule(name: &str) -> String {
        format!("[[rule]]\nname = \"{name}\"\naction = \"resume\"\n")
    }

    #[test]
    fn a_directory_is_read_in_file_name_order_skipping_others() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "20-b.toml", &rule("b"));
        write(dir.path(), "10-a.toml", &rule("a"));
        write(dir.path(), ".hidden.toml", "not toml at all");
        write(dir.path(), "notes.md", "not toml at all");
        fs::create_dir(dir.path().join("sub.toml")).unwrap();
        let sources = super::read_sources(dir.path()).unwrap();
        let names: Vec<String> = sources
            .iter()
            .map(|(name, _)| name.rsplit('/').next().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["10-a.toml", "20-b.toml"]);
        assert_eq!(Policy::load(dir.path()).unwrap().rule_count(), 2);
    }

    #[test]
    fn a_duplicate_rule_across_files_names_both_files() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "10-a.toml", &rule("media"));
        write(
            dir.path(),
            "20-b.toml",
            &format!("# second file\n{}", rule("media")),
        );
        let errors = Policy::load(dir.path()).unwrap_err().to_string();
        let first = dir.path().join("10-a.toml").display().to_string();
        let second = dir.path().join("20-b.toml").display().to_string();
        assert_eq!(
            errors,
            format!(
                "{second}:3:8: duplicate rule name \"media\": already used at {first}:1; rule \
                 names must be unique"
            )
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_followed_like_a_configmap_mount() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("..2024_01_01");
        fs::create_dir(&data).unwrap();
        write(&data, "policy.toml", &rule("a"));
        symlink("..2024_01_01", dir.path().join("..data")).unwrap();
        symlink("..data/policy.toml", dir.path().join("policy.toml")).unwrap();
        assert_eq!(Policy::load(dir.path()).unwrap().rule_count(), 1);
    }

    #[test]
    fn unreadable_paths_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.toml");
        let error = Policy::load(&missing).unwrap_err().to_string();
        assert!(error.starts_with(&format!("{}: cannot read policy: ", missing.display())));

        let error = Policy::load(dir.path()).unwrap_err().to_string();
        assert!(error.ends_with(": no policy files here: a policy directory holds *.toml files"));

        let bad = dir.path().join("bad.toml");
        fs::write(&bad, b"# ok\nname = \"\xff\"\n").unwrap();
        let error = Policy::load(&bad).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "{}:2:9: not UTF-8 text: policy files must be UTF-8",
                bad.display()
            )
        );
    }

    #[test]
    fn errors_in_several_files_each_name_their_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.toml", "[[rule]\n");
        write(
            dir.path(),
            "b.toml",
            "[[rule]]\nname = \"x\"\naction = \"nope\"\n",
        );
        let errors = Policy::load(dir.path()).unwrap_err();
        let files: Vec<&str> = errors
            .0
            .iter()
            .map(|e| e.file.rsplit('/').next().unwrap())
            .collect();
        assert_eq!(files, ["a.toml", "b.toml"]);
    }
}
