//! TLS for the daemon's HTTP clients. reqwest is built without a crypto provider so that
//! neither aws-lc nor OpenSSL is linked; rustls's ring provider is installed for the whole
//! process instead, before any client is built. Certificates are checked against the system's
//! trust store plus an extra CA bundle where one is configured; a client for a plain `http://`
//! URL trusts no roots at all, so it needs no system certificates (it never follows a redirect
//! to `https://`).

use std::path::Path;

/// Installs ring as rustls's process-wide crypto provider. Idempotent: later calls, and a
/// provider another component installed first, are fine.
pub fn install_crypto_provider() {
    // An Err only says a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Which roots a client trusts.
pub(crate) enum Roots<'a> {
    /// The system's trust store plus the PEM bundle at the path, if any. Without a bundle, a
    /// system without CA certificates (no `ca-certificates` package) makes building the client
    /// fail with "No CA certificates were loaded from the system".
    System { extra: Option<&'a Path> },
    /// None: for a client that only speaks plain HTTP.
    None,
}

impl<'a> Roots<'a> {
    /// The roots for a client of `url`: none for `http://`, else the system's plus `extra`.
    pub(crate) fn for_url(url: &url::Url, extra: Option<&'a Path>) -> Roots<'a> {
        if url.scheme() == "http" {
            Roots::None
        } else {
            Roots::System { extra }
        }
    }

    /// Sets these roots on `builder`. Errors: the bundle cannot be read (`cannot read PATH:
    /// …`), is not PEM (`PATH is not PEM: …`) or holds no certificate.
    pub(crate) fn apply(
        self,
        builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder, String> {
        match self {
            Roots::None => Ok(builder.tls_certs_only([])),
            Roots::System { extra: None } => Ok(builder),
            Roots::System { extra: Some(path) } => {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let certificates = reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|e| format!("{} is not PEM: {e}", path.display()))?;
                if certificates.is_empty() {
                    return Err(format!("{} holds no PEM certificate", path.display()));
                }
                Ok(builder.tls_certs_merge(certificates))
            }
        }
    }
}

/// An error's message followed by those of its sources, `outer: inner: innermost`. reqwest's
/// own messages ("builder error") name only the kind; the cause is in the chain.
pub(crate) fn with_sources(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = inner.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_http_client_needs_no_system_certificates() {
        install_crypto_provider();
        let url = url::Url::parse("http://vcd.example.com").unwrap();
        let builder = Roots::for_url(&url, None)
            .apply(reqwest::Client::builder())
            .unwrap();
        assert!(builder.build().is_ok());
    }

    #[test]
    fn a_bundle_that_is_not_pem_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let url = url::Url::parse("https://vcd.example.com").unwrap();
        let Err(message) = Roots::for_url(&url, Some(&path)).apply(reqwest::Client::builder())
        else {
            panic!("a bundle without certificates was taken");
        };
        assert!(message.contains("ca.pem"), "{message}");
    }
}
