//! TLS for the daemon's HTTP clients. reqwest is built without a crypto provider so that
//! neither aws-lc nor OpenSSL is linked; rustls's ring provider is installed for the whole
//! process instead, before any client is built. Certificates are checked against the system's
//! trust store (plus `vcd.ca_file` where configured).

/// Installs ring as rustls's process-wide crypto provider. Idempotent: later calls, and a
/// provider another component installed first, are fine.
pub fn install_crypto_provider() {
    // An Err only says a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
