//! Decision services (`[[ask]]`): systems an operator runs that decide a blocking task when a
//! rule says `action = "ask"` (a CMDB or billing check, a ServiceNow adapter, an Open Policy
//! Agent), in the manner of Kubernetes admission webhooks. [`Services`] holds one client per
//! service and bounds how many requests each has under way; [`Services::ask`] sends one
//! request and reads its answer. The engine decides what an answer or an error does.
//!
//! Requests go only to the configured URL (POSTed exactly as given, redirects never followed),
//! carry no vCD credential, and the URL never appears in a log, error or metric.

mod error;
mod exchange;
pub(crate) mod settings;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::CONTENT_TYPE;
use secrecy::ExposeSecret;
use tokio::sync::Semaphore;

pub(crate) use error::AskError;
pub(crate) use exchange::{
    Question, Reply, SIGNATURE_HEADER, read_answer, request_body, signature,
};
pub(crate) use settings::{AskFormat, AskSettings};

use crate::metrics::Metrics;
use crate::outcome::AskOutcome;
use crate::policy::Answer;
use crate::task::FinalAction;
use crate::tls::Roots;
use crate::vcd::describe_transport_error;

/// The largest answer read; a longer body is an error, and reading stops at the limit.
pub(crate) const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// At most this many requests under way to one service at once; more wait their turn, and
/// only tasks that ask that service wait.
pub(crate) const CONCURRENCY_PER_SERVICE: usize = 16;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One decision service: its settings, its HTTP client and its concurrency bound.
struct Service {
    settings: AskSettings,
    client: reqwest::Client,
    permits: Semaphore,
}

/// Every `[[ask]]` of the config, by name.
pub(crate) struct Services {
    services: HashMap<String, Service>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.services.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Services").field("names", &names).finish()
    }
}

impl Services {
    /// A client for each service. Errors: a `ca_file` that cannot be read or holds no
    /// certificate, or a client that cannot be built (named by the service's name).
    pub(crate) fn new(settings: &[AskSettings], metrics: Arc<Metrics>) -> Result<Services, String> {
        crate::tls::install_crypto_provider();
        let mut services = HashMap::new();
        for service in settings {
            let client = client(service).map_err(|e| format!("ask {:?}: {e}", service.name))?;
            services.insert(
                service.name.clone(),
                Service {
                    settings: service.clone(),
                    client,
                    permits: Semaphore::new(CONCURRENCY_PER_SERVICE),
                },
            );
        }
        Ok(Services { services, metrics })
    }

    /// Whether `name` is a configured service.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.services.contains_key(name)
    }

    /// Asks service `name` about `question` (ask number `attempt`, 1 first), waiting for one
    /// of its permits first; counts the outcome and the time the request took.
    pub(crate) async fn ask(
        &self,
        name: &str,
        question: &Question,
        attempt: u32,
    ) -> Result<Reply, AskError> {
        let Some(service) = self.services.get(name) else {
            return Err(AskError::Invalid(format!("no [[ask]] is named {name:?}")));
        };
        // The semaphore is never closed.
        let _permit = service.permits.acquire().await;
        let started = Instant::now();
        let result = service.send(question, attempt).await;
        let outcome = match &result {
            Ok(reply) => match reply.answer {
                Answer::Hold => AskOutcome::Hold,
                Answer::Decide(FinalAction::Resume) => AskOutcome::Resume,
                Answer::Decide(FinalAction::Abort) => AskOutcome::Abort,
                Answer::Decide(FinalAction::Fail) => AskOutcome::Fail,
            },
            Err(_) => AskOutcome::Error,
        };
        self.metrics
            .ask_request(name, outcome, started.elapsed().as_secs_f64());
        result
    }
}

impl Service {
    async fn send(&self, question: &Question, attempt: u32) -> Result<Reply, AskError> {
        let timeout = self.settings.timeout;
        let exchange = async {
            let body = request_body(self.settings.format, question, attempt);
            // Serializing a JSON value cannot fail.
            let body = serde_json::to_vec(&body).unwrap_or_default();
            let mut request = self
                .client
                .post(self.settings.url.expose_secret())
                .header(CONTENT_TYPE, "application/json");
            if let Some(key) = &self.settings.hmac_secret {
                let signed = signature(key.expose_secret().as_bytes(), &body);
                request = request.header(SIGNATURE_HEADER, signed);
            }
            let response = request.body(body).send().await.map_err(transport)?;
            let status = response.status();
            if status.is_redirection() {
                return Err(AskError::Redirect(status.as_u16()));
            }
            if !status.is_success() {
                return Err(AskError::Status(status.as_u16()));
            }
            let body = read_limited(response).await?;
            read_answer(self.settings.format, &body)
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(AskError::Timeout(timeout)),
        }
    }
}

/// The answer's body, up to [`MAX_ANSWER_BYTES`]: reading stops as soon as it goes past.
async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, AskError> {
    if response
        .content_length()
        .is_some_and(|length| length > MAX_ANSWER_BYTES as u64)
    {
        return Err(AskError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(AskError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Described without the URL, which reqwest would otherwise quote.
fn transport(error: reqwest::Error) -> AskError {
    AskError::Transport(describe_transport_error(&error.without_url()))
}

/// No redirects, TLS verified against the system's roots and `ca_file`; the timeout is the
/// whole exchange's, applied around it.
fn client(settings: &AskSettings) -> Result<reqwest::Client, String> {
    let url = url::Url::parse(settings.url.expose_secret())
        .map_err(|_| "the URL cannot be read".to_owned())?;
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT.min(settings.timeout))
        .user_agent(concat!("vcd-blockd/", env!("CARGO_PKG_VERSION")));
    let builder = Roots::for_url(&url, settings.ca_file.as_deref()).apply(builder)?;
    builder
        .build()
        .map_err(|e| crate::tls::with_sources(&e.without_url()))
}
