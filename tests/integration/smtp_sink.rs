//! An SMTP server on loopback that keeps what it is sent, as a mail server would take it: it
//! speaks enough ESMTP for a submission client (EHLO, STARTTLS with a certificate of its own
//! CA, AUTH PLAIN and LOGIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT) and records each message with
//! its envelope, and every AUTH with whether the connection was encrypted.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::helpers::eventually;

/// One message as the sink took it.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    /// `MAIL FROM:<…>`.
    pub from: String,
    /// Every `RCPT TO:<…>`, in order.
    pub to: Vec<String>,
    /// The message as sent after `DATA`: headers and body, dot-unstuffed, CRLF line ends.
    pub data: String,
    /// Whether the connection was encrypted (STARTTLS) when the message came.
    pub encrypted: bool,
    /// The user and password of the session's AUTH, if any.
    pub auth: Option<(String, String)>,
}

/// One `AUTH` the sink was sent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AuthSeen {
    pub user: String,
    pub password: String,
    pub encrypted: bool,
}

#[derive(Default)]
struct Recorded {
    messages: Vec<Received>,
    auths: Vec<AuthSeen>,
}

/// A running sink; it stops with the test's runtime.
pub(crate) struct SmtpSink {
    pub port: u16,
    recorded: Arc<Mutex<Recorded>>,
}

/// The sink's STARTTLS: a certificate for 127.0.0.1 signed by a CA of its own.
pub(crate) struct SinkTls {
    /// The CA's PEM, for the daemon's `ca_file`.
    pub ca_pem: String,
    acceptor: TlsAcceptor,
}

impl SinkTls {
    pub(crate) fn new() -> SinkTls {
        vcd_blockd::install_crypto_provider();
        let (ca_pem, acceptor) = tls_acceptor();
        SinkTls { ca_pem, acceptor }
    }

    /// Writes the CA's PEM into `dir` and returns its path.
    pub(crate) fn write_ca(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("smtp-ca.pem");
        std::fs::write(&path, &self.ca_pem).unwrap();
        path
    }
}

impl SmtpSink {
    /// A sink on a free port; it offers STARTTLS with `tls`, else none.
    pub(crate) async fn start(tls: Option<&SinkTls>) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        SmtpSink::serve(listener, tls)
    }

    /// A sink on `port`, e.g. one the daemon was configured with before the sink came up.
    pub(crate) async fn start_on(port: u16, tls: Option<&SinkTls>) -> SmtpSink {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        SmtpSink::serve(listener, tls)
    }

    fn serve(listener: TcpListener, tls: Option<&SinkTls>) -> SmtpSink {
        let port = listener.local_addr().unwrap().port();
        let acceptor = tls.map(|tls| tls.acceptor.clone());
        let recorded = Arc::new(Mutex::new(Recorded::default()));
        let shared = recorded.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (acceptor, recorded) = (acceptor.clone(), shared.clone());
                tokio::spawn(async move {
                    let _ = session(socket, acceptor, recorded).await;
                });
            }
        });
        SmtpSink { port, recorded }
    }

    /// Every message taken so far, in arrival order.
    pub(crate) fn messages(&self) -> Vec<Received> {
        self.recorded.lock().unwrap().messages.clone()
    }

    /// Every AUTH the sink was sent, in order.
    pub(crate) fn auths(&self) -> Vec<AuthSeen> {
        self.recorded.lock().unwrap().auths.clone()
    }

    /// Waits until `count` messages came for which `select` is true, and returns them.
    pub(crate) async fn wait_for(
        &self,
        count: usize,
        select: impl Fn(&Received) -> bool,
    ) -> Vec<Received> {
        eventually(&format!("{count} mails arrived"), || {
            let chosen: Vec<_> = self.messages().into_iter().filter(|m| select(m)).collect();
            std::future::ready((chosen.len() >= count).then_some(chosen))
        })
        .await
    }
}

/// A TLS acceptor with a certificate for 127.0.0.1 signed by a CA of its own, and that CA's PEM.
fn tls_acceptor() -> (String, TlsAcceptor) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let cert = params.signed_by(&key, &issuer).unwrap();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der());
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key.into())
        .unwrap();
    (ca.pem(), TlsAcceptor::from(Arc::new(config)))
}

/// What a conversation ended with.
enum Ended {
    Quit,
    /// The client asked for STARTTLS and was told to go ahead.
    StartTls,
}

/// One connection: greeting, then the conversation, upgraded once if the client asks.
async fn session(
    socket: TcpStream,
    acceptor: Option<TlsAcceptor>,
    recorded: Arc<Mutex<Recorded>>,
) -> std::io::Result<()> {
    let mut plain = BufReader::new(socket);
    plain.get_mut().write_all(b"220 sink ESMTP\r\n").await?;
    let mut auth = None;
    let ended = converse(&mut plain, false, acceptor.is_some(), &recorded, &mut auth).await?;
    if let (Ended::StartTls, Some(acceptor)) = (ended, acceptor) {
        let tls = acceptor.accept(plain.into_inner()).await?;
        let mut tls = BufReader::new(tls);
        converse(&mut tls, true, false, &recorded, &mut auth).await?;
    }
    Ok(())
}

async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
    encrypted: bool,
    offer_starttls: bool,
    recorded: &Mutex<Recorded>,
    auth: &mut Option<(String, String)>,
) -> std::io::Result<Ended> {
    let (mut from, mut to) = (String::new(), Vec::new());
    loop {
        let Some(line) = read_line(stream).await? else {
            return Ok(Ended::Quit);
        };
        let upper = line.to_ascii_uppercase();
        let reply = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            let starttls = if offer_starttls {
                "250-STARTTLS\r\n"
            } else {
                ""
            };
            format!(
                "250-sink\r\n{starttls}250-AUTH PLAIN LOGIN\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
            )
        } else if upper == "STARTTLS" && offer_starttls {
            write(stream, "220 go ahead\r\n").await?;
            return Ok(Ended::StartTls);
        } else if let Some(rest) = upper.strip_prefix("AUTH PLAIN") {
            let initial = line[line.len() - rest.len()..].trim().to_owned();
            let response = if initial.is_empty() {
                write(stream, "334 \r\n").await?;
                read_line(stream).await?.unwrap_or_default()
            } else {
                initial
            };
            let decoded = String::from_utf8(BASE64.decode(response.trim()).unwrap_or_default())
                .unwrap_or_default();
            let mut parts = decoded.split('\0').skip(1);
            let user = parts.next().unwrap_or_default().to_owned();
            let password = parts.next().unwrap_or_default().to_owned();
            record_auth(recorded, auth, user, password, encrypted);
            "235 accepted\r\n".to_owned()
        } else if upper.starts_with("AUTH LOGIN") {
            write(stream, "334 VXNlcm5hbWU6\r\n").await?;
            let user = decode_line(read_line(stream).await?);
            write(stream, "334 UGFzc3dvcmQ6\r\n").await?;
            let password = decode_line(read_line(stream).await?);
            record_auth(recorded, auth, user, password, encrypted);
            "235 accepted\r\n".to_owned()
        } else if upper.starts_with("MAIL FROM:") {
            from = address(&line);
            to.clear();
            "250 sender ok\r\n".to_owned()
        } else if upper.starts_with("RCPT TO:") {
            to.push(address(&line));
            "250 recipient ok\r\n".to_owned()
        } else if upper == "DATA" {
            write(stream, "354 go on\r\n").await?;
            let mut data = String::new();
            while let Some(line) = read_line(stream).await? {
                if line == "." {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
                data.push_str("\r\n");
            }
            recorded.lock().unwrap().messages.push(Received {
                from: std::mem::take(&mut from),
                to: std::mem::take(&mut to),
                data,
                encrypted,
                auth: auth.clone(),
            });
            "250 queued\r\n".to_owned()
        } else if upper == "RSET" || upper == "NOOP" {
            "250 ok\r\n".to_owned()
        } else if upper == "QUIT" {
            write(stream, "221 bye\r\n").await?;
            return Ok(Ended::Quit);
        } else {
            "502 not implemented\r\n".to_owned()
        };
        write(stream, &reply).await?;
    }
}

fn record_auth(
    recorded: &Mutex<Recorded>,
    auth: &mut Option<(String, String)>,
    user: String,
    password: String,
    encrypted: bool,
) {
    recorded.lock().unwrap().auths.push(AuthSeen {
        user: user.clone(),
        password: password.clone(),
        encrypted,
    });
    *auth = Some((user, password));
}

/// A line without its CRLF; `None` at the end of the stream.
async fn read_line<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
) -> std::io::Result<Option<String>> {
    let mut line = String::new();
    if stream.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned()))
}

async fn write<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
    text: &str,
) -> std::io::Result<()> {
    stream.get_mut().write_all(text.as_bytes()).await?;
    stream.get_mut().flush().await
}

fn decode_line(line: Option<String>) -> String {
    let bytes = BASE64
        .decode(line.unwrap_or_default().trim())
        .unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

/// The address between `<` and `>` of `MAIL FROM:<…>` or `RCPT TO:<…>`.
fn address(line: &str) -> String {
    line.split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map_or_else(String::new, |(address, _)| address.to_owned())
}

impl Received {
    /// The value of the message's first header `name` (case-insensitive), unfolded.
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        header(head(&self.data), name)
    }

    /// The parts of a multipart message, each as (`Content-Type`, decoded text), in order.
    pub(crate) fn parts(&self) -> Vec<(String, String)> {
        let content_type = self.header("Content-Type").unwrap_or_default();
        let Some(boundary) = content_type
            .split(';')
            .find_map(|p| p.trim().strip_prefix("boundary="))
            .map(|b| b.trim_matches('"').to_owned())
        else {
            return Vec::new();
        };
        let delimiter = format!("--{boundary}");
        body(&self.data)
            .split(delimiter.as_str())
            .skip(1)
            .filter(|part| !part.starts_with("--"))
            .map(|part| {
                let part = part.trim_start_matches("\r\n");
                let headers = head(part);
                let encoding = header(headers, "Content-Transfer-Encoding").unwrap_or_default();
                let text = body(part).trim_end_matches("\r\n");
                let decoded = match encoding.to_ascii_lowercase().as_str() {
                    "quoted-printable" => quoted_printable(text),
                    "base64" => {
                        let joined: String = text.split_whitespace().collect();
                        String::from_utf8(BASE64.decode(joined).unwrap()).unwrap()
                    }
                    _ => text.to_owned(),
                };
                (header(headers, "Content-Type").unwrap_or_default(), decoded)
            })
            .collect()
    }

    /// The decoded text of the part whose type starts with `content_type` (`text/plain`).
    pub(crate) fn part(&self, content_type: &str) -> String {
        self.parts()
            .into_iter()
            .find(|(kind, _)| kind.starts_with(content_type))
            .map(|(_, text)| text)
            .unwrap_or_else(|| panic!("no {content_type} part in {}", self.data))
    }
}

/// The headers of a message or part: up to the first empty line.
fn head(text: &str) -> &str {
    text.split_once("\r\n\r\n").map_or(text, |(head, _)| head)
}

/// What follows the headers.
fn body(text: &str) -> &str {
    text.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}

fn header(head: &str, name: &str) -> Option<String> {
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded.split("\r\n").find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

/// Quoted-printable (RFC 2045) as text: soft line breaks joined, `=XX` decoded.
fn quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && let Some(byte) = joined
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            decoded.push(byte);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).unwrap()
}
