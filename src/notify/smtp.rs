//! The SMTP client of a `format = "email"` receiver: one connection per mail to the server of
//! `smtp_url`, TLS from the start for `smtps://` (default port 465), upgraded with STARTTLS for
//! `smtp://` (default port 587) when the server offers it. Credentials (the URL's user and
//! password) are only ever sent over TLS: a server that offers no STARTTLS gets none, and the
//! mail is refused with a clear error instead. The server's certificate is verified against the
//! system's roots and `ca_file`. Neither the URL nor the password is ever logged.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use lettre::Message;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::send::Attempt;

/// Longest wait for the connection and for each answer of the server.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest time one mail may take, from connecting to the server's last answer.
const MAIL_TIMEOUT: Duration = Duration::from_secs(60);
const SMTPS_PORT: u16 = 465;
const SUBMISSION_PORT: u16 = 587;
/// The mechanisms offered, in order of preference; both need TLS here.
const MECHANISMS: [Mechanism; 2] = [Mechanism::Plain, Mechanism::Login];

/// The port an SMTP URL of `scheme` means when it names none: 465 for `smtps`, 587 (submission)
/// for `smtp`.
pub(crate) fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "smtps" => Some(SMTPS_PORT),
        "smtp" => Some(SUBMISSION_PORT),
        _ => None,
    }
}

/// How a mail receiver reaches its SMTP server.
pub(super) struct Mailer {
    host: String,
    port: u16,
    /// `smtps://`: TLS from the first byte; else STARTTLS when offered.
    implicit_tls: bool,
    /// The URL's user and password; `None` when it names no user.
    credentials: Option<Credentials>,
    tls: TlsParameters,
}

/// Why a mail receiver cannot be set up (at start: its `ca_file`, its TLS settings).
#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    #[error("cannot read ca_file {path}: {source}")]
    CaFile {
        path: String,
        source: std::io::Error,
    },
    #[error("ca_file {path} holds no PEM certificate: {why}")]
    CaPem { path: String, why: String },
    #[error("the SMTP URL is not usable: {0}")]
    Url(&'static str),
    #[error("cannot set up TLS for the SMTP server: {0}")]
    Tls(String),
}

impl fmt::Debug for Mailer {
    /// Names the kind of connection only: the host and the credentials come from a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("implicit_tls", &self.implicit_tls)
            .field("credentials", &self.credentials.is_some())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// The client for `url` (checked by `config`: `smtps://` or `smtp://` with a host, a
    /// password with any user), trusting `ca_file` besides the system's roots.
    pub(super) fn new(url: &SecretString, ca_file: Option<&Path>) -> Result<Mailer, MailerError> {
        crate::tls::install_crypto_provider();
        let url = Url::parse(url.expose_secret()).map_err(|_| MailerError::Url("not a URL"))?;
        let implicit_tls = match url.scheme() {
            "smtps" => true,
            "smtp" => false,
            _ => return Err(MailerError::Url("the scheme is not smtps:// or smtp://")),
        };
        let host = url
            .host_str()
            .filter(|host| !host.is_empty())
            .ok_or(MailerError::Url("it names no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url.port().unwrap_or(if implicit_tls {
            SMTPS_PORT
        } else {
            SUBMISSION_PORT
        });
        let credentials = match url.password() {
            Some(password) => Some(Credentials::new(decode(url.username())?, decode(password)?)),
            None => None,
        };
        let mut tls = TlsParameters::builder(host.clone());
        if let Some(path) = ca_file {
            let shown = path.display().to_string();
            let pem = std::fs::read(path).map_err(|source| MailerError::CaFile {
                path: shown.clone(),
                source,
            })?;
            let certificates = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| MailerError::CaPem {
                    path: shown.clone(),
                    why: e.to_string(),
                })?;
            if certificates.is_empty() {
                return Err(MailerError::CaPem {
                    path: shown,
                    why: "no -----BEGIN CERTIFICATE----- block".to_owned(),
                });
            }
            let certificate = Certificate::from_pem(&pem).map_err(|e| MailerError::CaPem {
                path: shown.clone(),
                why: e.to_string(),
            })?;
            tls = tls.add_root_certificate(certificate);
        }
        let tls = tls
            .build_rustls()
            .map_err(|e| MailerError::Tls(crate::tls::with_sources(&e)))?;
        Ok(Mailer {
            host,
            port,
            implicit_tls,
            credentials,
            tls,
        })
    }

    /// Sends `message` to its envelope's recipients: [`Attempt::Sent`] once the server took
    /// it, [`Attempt::Refused`] when it answered with a permanent error or cannot be given
    /// the credentials safely, [`Attempt::Failed`] otherwise (worth another try).
    pub(super) async fn send(&self, message: &Message) -> Attempt {
        match tokio::time::timeout(MAIL_TIMEOUT, self.transfer(message)).await {
            Ok(Ok(())) => Attempt::Sent,
            Ok(Err(Problem::Refused(why))) => Attempt::Refused(why),
            Ok(Err(Problem::Smtp(error))) => {
                let why = format!("SMTP: {}", crate::tls::with_sources(&error));
                if error.is_permanent() {
                    Attempt::Refused(why)
                } else {
                    Attempt::Failed {
                        why,
                        retry_after: None,
                    }
                }
            }
            Err(_) => Attempt::Failed {
                why: format!("the SMTP server took more than {MAIL_TIMEOUT:?}"),
                retry_after: None,
            },
        }
    }

    async fn transfer(&self, message: &Message) -> Result<(), Problem> {
        let hello = ClientId::default();
        let implicit = self.implicit_tls.then(|| self.tls.clone());
        let mut connection = AsyncSmtpConnection::connect_tokio1(
            (self.host.as_str(), self.port),
            Some(COMMAND_TIMEOUT),
            &hello,
            implicit,
            None,
        )
        .await?;
        if !connection.is_encrypted() {
            if connection.can_starttls() {
                connection.starttls(self.tls.clone(), &hello).await?;
            } else if self.credentials.is_some() {
                connection.abort().await;
                return Err(Problem::Refused(
                    "the SMTP server offers no STARTTLS, so the credentials of smtp_url were not \
                     sent over the unencrypted connection; use smtps:// or a server that offers \
                     STARTTLS"
                        .to_owned(),
                ));
            } else {
                tracing::debug!("the SMTP server offers no STARTTLS: mail sent unencrypted");
            }
        }
        if let Some(credentials) = &self.credentials {
            // Only over TLS: the checks above leave no other way here.
            if let Err(error) = connection.auth(&MECHANISMS, credentials).await {
                connection.abort().await;
                return Err(error.into());
            }
        }
        let sent = connection
            .send(message.envelope(), &message.formatted())
            .await;
        match sent {
            Ok(_) => {
                let _ = connection.quit().await;
                Ok(())
            }
            Err(error) => {
                connection.abort().await;
                Err(error.into())
            }
        }
    }
}

/// What went wrong with one mail.
enum Problem {
    /// Not sent, and sending again would not help.
    Refused(String),
    Smtp(lettre::transport::smtp::Error),
}

impl From<lettre::transport::smtp::Error> for Problem {
    fn from(error: lettre::transport::smtp::Error) -> Problem {
        Problem::Smtp(error)
    }
}

/// A user or password as the URL percent-encodes it.
fn decode(text: &str) -> Result<String, MailerError> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| MailerError::Url("its user or password is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailer(url: &str, ca_file: Option<&Path>) -> Result<Mailer, MailerError> {
        Mailer::new(&SecretString::from(url.to_owned()), ca_file)
    }

    #[test]
    fn the_url_gives_the_kind_of_tls_the_port_and_the_decoded_credentials() {
        let smtps = mailer(
            "smtps://blockd%40example.com:p%3As%40ss@mail.example.com",
            None,
        )
        .unwrap();
        assert!(smtps.implicit_tls);
        assert_eq!(smtps.port, SMTPS_PORT);
        assert_eq!(smtps.host, "mail.example.com");
        assert_eq!(
            smtps.credentials,
            Some(Credentials::new(
                "blockd@example.com".to_owned(),
                "p:s@ss".to_owned()
            ))
        );
        let debug = format!("{smtps:?}");
        assert!(
            !debug.contains("p:s@ss") && !debug.contains("mail.example.com"),
            "{debug}"
        );

        let starttls = mailer("smtp://[::1]:2525", None).unwrap();
        assert!(!starttls.implicit_tls);
        assert_eq!((starttls.host.as_str(), starttls.port), ("::1", 2525));
        assert!(starttls.credentials.is_none());
        assert_eq!(
            mailer("smtp://mail.example.com", None).unwrap().port,
            SUBMISSION_PORT
        );
    }

    #[test]
    fn a_ca_file_must_be_readable_and_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let error = mailer("smtps://mail.example.com", Some(&missing)).unwrap_err();
        assert!(
            error.to_string().starts_with("cannot read ca_file"),
            "{error}"
        );
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate\n").unwrap();
        let error = mailer("smtps://mail.example.com", Some(&garbage)).unwrap_err();
        assert!(
            error.to_string().contains("holds no PEM certificate"),
            "{error}"
        );
    }
}
