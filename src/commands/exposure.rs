//! Who besides the owner may change, or read, the files the daemon trusts, for `check`: a
//! secret file every user can read, and a secret, approvers or policy file (or a directory
//! holding one) that other users can write, are worth a warning. Whoever can write the
//! approvers file or a policy decides who approves and what is allowed.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::config::Settings;

/// Every user may read.
const OTHERS_READ: u32 = 0o004;
/// The group or every user may write.
const OTHERS_WRITE: u32 = 0o022;
/// Every user may write.
const EVERYONE_WRITE: u32 = 0o002;
/// Only a file's owner may remove or rename it in such a directory (`/tmp`).
const STICKY: u32 = 0o1000;

/// The warnings for `settings`' files, one sentence each.
pub(super) fn warnings(settings: &Settings) -> Vec<String> {
    let mut warnings = Vec::new();
    let secrets = settings
        .secret_files
        .iter()
        .map(|(key, path)| (key.as_str(), path.as_path()))
        .chain(
            settings
                .http
                .tls
                .iter()
                .map(|tls| ("http.tls_key_file", tls.key.as_path())),
        );
    for (key, path) in secrets {
        readable(key, path, &mut warnings);
        writable(key, path, &mut warnings);
    }
    if let Some(path) = &settings.http.approvers_file {
        writable("http.approvers_file", path, &mut warnings);
    }
    let policy = &settings.policy.path;
    writable("policy.path", policy, &mut warnings);
    if policy.is_dir()
        && let Ok(entries) = std::fs::read_dir(policy)
    {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|ext| ext == "toml") {
                writable("policy.path", &path, &mut warnings);
            }
        }
    }
    warnings
}

/// Warns when every user can read the secret file `path`.
fn readable(key: &str, path: &Path, warnings: &mut Vec<String>) {
    if mode(path).is_some_and(|mode| mode & OTHERS_READ != 0) {
        warnings.push(format!(
            "{key} {} can be read by every user; make it readable by the daemon only \
             (chmod o-r)",
            path.display()
        ));
    }
}

/// Warns when other users can write `path`, or replace it in its directory.
fn writable(key: &str, path: &Path, warnings: &mut Vec<String>) {
    if let Some(mode) = mode(path)
        && mode & OTHERS_WRITE != 0
    {
        warnings.push(format!(
            "{key} {} can be written by other users (mode {:04o}); chmod go-w",
            path.display(),
            mode & 0o7777
        ));
    }
    let directory = path.parent().filter(|dir| !dir.as_os_str().is_empty());
    if let Some(directory) = directory
        && let Some(mode) = mode(directory)
        && mode & EVERYONE_WRITE != 0
        && mode & STICKY == 0
    {
        warnings.push(format!(
            "{key} {}: its directory {} can be written by every user, who could replace it; \
             chmod o-w",
            path.display(),
            directory.display()
        ));
    }
}

fn mode(path: &Path) -> Option<u32> {
    std::fs::metadata(path)
        .ok()
        .map(|metadata| metadata.permissions().mode())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn readable_secrets_and_writable_approvers_policies_and_directories_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, mode: u32| -> PathBuf {
            let path = dir.path().join(name);
            std::fs::write(&path, "x").unwrap();
            chmod(&path, mode);
            path
        };
        let mut warnings = Vec::new();
        readable("vcd.password_file", &file("password", 0o440), &mut warnings);
        assert!(
            warnings.is_empty(),
            "group-readable, as Kubernetes mounts it: {warnings:?}"
        );
        readable("vcd.password_file", &file("password", 0o644), &mut warnings);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("password can be read by every user"));

        let mut warnings = Vec::new();
        writable(
            "http.approvers_file",
            &file("kept.toml", 0o644),
            &mut warnings,
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        writable(
            "http.approvers_file",
            &file("open.toml", 0o666),
            &mut warnings,
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("open.toml can be written by other users (mode 0666)"));

        chmod(dir.path(), 0o777);
        let mut warnings = Vec::new();
        writable("policy.path", &file("policy.toml", 0o600), &mut warnings);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("can be written by every user"),
            "{warnings:?}"
        );
        chmod(dir.path(), 0o1777);
        let mut warnings = Vec::new();
        writable("policy.path", &file("policy.toml", 0o600), &mut warnings);
        assert!(warnings.is_empty(), "a sticky directory: {warnings:?}");
        chmod(dir.path(), 0o700);
    }
}
