//! What the engine needs to know about each `[[ask]]` decision service: its name (what rules
//! write in `ask.service`), its URL (a secret), the body format it speaks, how long it may take,
//! the key its requests are signed with and an extra CA bundle. Built by `config`.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use crate::outcome::label_enum;

/// One `[[ask]]` entry.
#[derive(Debug, Clone)]
pub struct AskSettings {
    /// What rules name in `ask.service`; unique among the entries.
    pub name: String,
    /// The URL requests are POSTed to, exactly as given. It may carry a credential (a token
    /// in its query, a webhook path), so it is kept secret, and never logged, counted or put
    /// in an error: services are named by `name`.
    pub url: SecretString,
    pub format: AskFormat,
    /// Longest wait for the whole answer, body included.
    pub timeout: Duration,
    /// `hmac_secret_file`'s key: each body is signed with HMAC-SHA256 in
    /// `X-Vcd-Blockd-Signature: sha256=<hex>`.
    pub hmac_secret: Option<SecretString>,
    /// PEM bundle trusted besides the system's roots.
    pub ca_file: Option<PathBuf>,
}

label_enum! {
    /// The request and answer shapes a service speaks; its label is the config's `format`.
    pub enum AskFormat {
        /// vcd-blockd's own: the request object as the body, `{"decision", "message"}` back.
        VcdBlockd => "vcd-blockd",
        /// Open Policy Agent's data API: `{"input": <request>}`, `{"result": …}` back.
        Opa => "opa",
    }
}
