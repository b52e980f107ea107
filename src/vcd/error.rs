//! Errors from talking to vCD, classified by what the caller must do about them.

use std::time::Duration;

use super::model::{ErrorDocument, ModelError};

/// Something went wrong talking to vCD.
#[derive(Debug, thiserror::Error)]
pub enum VcdError {
    /// No usable response: connection refused, reset, TLS failure, timeout.
    #[error("{op}: vCD did not answer: {message}")]
    Transport { op: &'static str, message: String },
    /// vCD answered with an error status.
    #[error("{op}: vCD answered {status}{}", describe(.document))]
    Status {
        op: &'static str,
        status: u16,
        document: Option<ErrorDocument>,
    },
    /// Logging in failed: wrong credentials, or no login method this vCD accepts.
    #[error("login to vCD failed: {0}")]
    Login(String),
    /// vCD refused a login a moment ago, and the next try waits so that the daemon never
    /// locks the account ([`VcdClient`](super::VcdClient) sends no request meanwhile).
    #[error("{last}; the next login is in {}s, so as not to lock the account", .retry_in.as_secs())]
    LoginPaused { last: String, retry_in: Duration },
    /// vCD answered with something we cannot read.
    #[error("{op}: unreadable answer from vCD: {source}")]
    Decode {
        op: &'static str,
        source: ModelError,
    },
    /// vCD redirected; redirects are never followed because they could carry credentials
    /// to another host.
    #[error("{op}: vCD answered with a redirect to {location:?}, which is not followed")]
    Redirect { op: &'static str, location: String },
    /// Retries ran out before vCD answered usefully.
    #[error("{last} (gave up after {attempts} attempts in {elapsed:?})")]
    Exhausted {
        attempts: u32,
        elapsed: Duration,
        last: Box<VcdError>,
    },
}

fn describe(document: &Option<ErrorDocument>) -> String {
    match document {
        Some(doc) if !doc.minor_code.is_empty() => {
            format!(" ({}): {}", doc.minor_code, doc.message)
        }
        Some(doc) => format!(": {}", doc.message),
        None => String::new(),
    }
}

/// What a caller should do with a [`VcdError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Worth retrying later: vCD is down, slow or overloaded.
    Transient,
    /// The task is not there (unknown id, or no longer visible).
    NotFound,
    /// vCD refused this request (4xx): re-read the task before deciding what it means.
    Refused,
    /// The login, credentials or vCD's answer to them are wrong (failed login, redirect, 401
    /// after a fresh login): only a fix by the operator (password, URL, vCD's own setup) ends
    /// it. Callers keep retrying with backoff so that such a fix is picked up without a restart.
    Misconfigured,
    /// vCD answered, but with something that cannot be read (a proxy's HTML page with status
    /// 200, a cut-off document). The client has already tried again a few times; callers give
    /// up on the request (a delivery is dead-lettered) instead of retrying it for ever.
    Unreadable,
}

impl VcdError {
    pub fn class(&self) -> ErrorClass {
        match self {
            VcdError::Transport { .. } => ErrorClass::Transient,
            VcdError::Status { status, .. } => classify_status(*status),
            VcdError::Login(_) | VcdError::LoginPaused { .. } | VcdError::Redirect { .. } => {
                ErrorClass::Misconfigured
            }
            VcdError::Decode { .. } => ErrorClass::Unreadable,
            VcdError::Exhausted { last, .. } => last.class(),
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            VcdError::Status { status, .. } => Some(*status),
            VcdError::Exhausted { last, .. } => last.status(),
            _ => None,
        }
    }
}

/// A transport error without the URL (which is ours, but keeps messages short) and without
/// anything that could carry a credential.
pub(crate) fn describe_transport_error(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "broken response body"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(error);
    let mut detail = String::new();
    while let Some(inner) = source {
        detail = inner.to_string();
        source = inner.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {detail}")
    }
}

fn classify_status(status: u16) -> ErrorClass {
    match status {
        404 => ErrorClass::NotFound,
        401 => ErrorClass::Misconfigured,
        408 | 429 => ErrorClass::Transient,
        400..=499 => ErrorClass::Refused,
        _ => ErrorClass::Transient,
    }
}
