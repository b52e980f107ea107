//! What the vCD client needs to know: the base URL, how to log in and which API version to
//! speak. Built by `config` from the operator's file and environment.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use super::version::ApiVersion;

#[derive(Debug, Clone)]
pub struct VcdSettings {
    /// Base URL without a trailing slash; the only origin that ever receives credentials.
    pub url: Url,
    pub api_version: ApiVersionChoice,
    pub auth: VcdAuth,
    pub ca_file: Option<PathBuf>,
    pub request_timeout: Duration,
    /// Most requests to vCD under way at once; an adaptive limit stays at or below it.
    pub max_in_flight: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiVersionChoice {
    /// The highest version both vCD (per `/api/versions`) and vcd-blockd support.
    Auto,
    Fixed(ApiVersion),
}

/// How vcd-blockd logs in to vCD. Secrets never appear in `Debug` output.
#[derive(Debug, Clone)]
pub enum VcdAuth {
    Password {
        user: String,
        password: SecretString,
    },
    ApiToken {
        token: SecretString,
    },
}
