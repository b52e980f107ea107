//! [`VcdClient`]: the one client for vCD. It negotiates the API version, logs in (again on a
//! 401, once per request), retries transient failures with backoff and turns answers into
//! domain types. It only ever talks to the configured base URL and never follows redirects.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, LOCATION, RETRY_AFTER};
use tokio::sync::{Mutex, RwLock, Semaphore};

use super::auth::{self, LoginMethod, Session};
use super::count::TaskCount;
use super::error::{ErrorClass, VcdError, describe_transport_error};
use super::limit::{Limiter, Signal};
use super::model::{self, AmqpSettings, BlockingSettings};
use super::negotiate::choose_version;
use super::settings::{ApiVersionChoice, VcdAuth, VcdSettings};
use super::urls::{Endpoints, OwnerRef};
use super::version::{ApiVersion, VersionInfo};
use crate::backoff::Backoff;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::outcome::LoginOutcome;
use crate::task::FinalAction;
use crate::task::{BlockingTask, TaskId};
use crate::tls::Roots;

/// A request that can be sent again on retry.
struct Call {
    op: &'static str,
    method: Method,
    url: String,
    body: Option<(&'static str, String)>,
}

/// How long an idle connection to vCD is kept for the next request (reqwest's default: 90 s).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Records asked for per page of the query service: vCD's default cap (a cell configured
/// lower serves fewer; the pages stay consistent since the cell caps each alike).
const QUERY_PAGE_SIZE: u32 = 128;
/// The most pages one listing reads (8.4 million tasks): a vCD that names a next page for ever
/// must not hold reconciliation for ever.
const MAX_QUERY_PAGES: u32 = 65_536;

/// vCD's active blocking tasks, as one listing found them.
#[derive(Debug, Default)]
pub struct ActiveTasks {
    /// In vCD's order, oldest first (a task may appear twice when the list moved while it was
    /// paged through).
    pub ids: Vec<TaskId>,
    /// False when the list changed while it was paged through (some active tasks may be
    /// missing): the ids are all active, but a task not among them may be active too.
    pub complete: bool,
}

/// The wait after vCD first refuses a login; it doubles with each refusal in a row, up to
/// [`LOGIN_REFUSED_MAX_WAIT`]. Directories commonly lock an account after 3–10 failures
/// within minutes: one try a minute at most stays clear of that.
const LOGIN_REFUSED_WAIT: Duration = Duration::from_secs(60);
const LOGIN_REFUSED_MAX_WAIT: Duration = Duration::from_secs(300);

/// vCD refused the last login: when, how many times in a row, and what it said.
#[derive(Debug, Clone)]
struct Refusal {
    at: Instant,
    count: u32,
    message: String,
}

impl Refusal {
    /// How long the next login must still wait, if at all.
    fn remaining(&self, now: Instant) -> Option<Duration> {
        let wait = LOGIN_REFUSED_WAIT
            .saturating_mul(1 << self.count.saturating_sub(1).min(8))
            .min(LOGIN_REFUSED_MAX_WAIT);
        wait.checked_sub(now.duration_since(self.at))
            .filter(|left| !left.is_zero())
    }
}

/// Client for one vCD installation. Cheap to share behind an `Arc`.
pub struct VcdClient {
    http: reqwest::Client,
    /// Slots for concurrent requests (`vcd.max_in_flight`, adaptive within it).
    limiter: Limiter,
    endpoints: Endpoints,
    auth: VcdAuth,
    version_choice: ApiVersionChoice,
    /// Set by [`VcdClient::connect`]; requests before that negotiate first.
    version: RwLock<Option<ApiVersion>>,
    session: RwLock<Option<Arc<Session>>>,
    /// Serialises logins so that a burst of 401s leads to one new session.
    login_lock: Mutex<()>,
    /// Set while vCD refuses the credentials: every caller gets the same answer until the
    /// next try is due, so the daemon's loops together log in at most once a minute.
    refusal: std::sync::Mutex<Option<Refusal>>,
    generation: AtomicU64,
    /// vCD refused the query service once (warned about once; each listing still tries it).
    query_refused: AtomicBool,
    metrics: Arc<Metrics>,
    /// Told whether the last login succeeded, for `/readyz`.
    health: Arc<Health>,
    /// The tasks that may wait for vCD to show them at once ([`NOT_YET_VISIBLE_AT_ONCE`]).
    not_yet_visible: Semaphore,
}

/// How many announced tasks vCD does not show yet may be read again at once; the others are
/// given up after their first 404 (reconciliation finds them if they appear). vCD shows a new
/// task within a second or two, so four cover a burst of real announcements, while a flood of
/// notifications for ids vCD does not know (anyone who may publish to the exchange can send
/// them) costs one read each plus at most four tasks' retries ([`Backoff::NOT_YET_VISIBLE`]:
/// six reads within 8 s), about three reads a second, however large the flood.
const NOT_YET_VISIBLE_AT_ONCE: usize = 4;

impl VcdClient {
    pub fn new(
        settings: &VcdSettings,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
    ) -> Result<VcdClient, VcdError> {
        crate::tls::install_crypto_provider();
        let builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("vcd-blockd/", env!("CARGO_PKG_VERSION")))
            // After a backlog, the connections it opened (up to vcd.max_in_flight) close once
            // idle this long, and their buffers go back to the system.
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .https_only(settings.url.scheme() == "https");
        let builder = Roots::for_url(&settings.url, settings.ca_file.as_deref())
            .apply(builder)
            .map_err(|e| VcdError::Login(format!("vcd.ca_file: {e}")))?;
        let http = builder.build().map_err(|e| {
            VcdError::Login(format!("HTTP client: {}", crate::tls::with_sources(&e)))
        })?;
        Ok(VcdClient {
            http,
            limiter: Limiter::new(settings.max_in_flight, metrics.clone()),
            endpoints: Endpoints::new(&settings.url),
            auth: settings.auth.clone(),
            version_choice: settings.api_version.clone(),
            version: RwLock::new(None),
            session: RwLock::new(None),
            login_lock: Mutex::new(()),
            refusal: std::sync::Mutex::new(None),
            generation: AtomicU64::new(0),
            query_refused: AtomicBool::new(false),
            metrics,
            health,
            not_yet_visible: Semaphore::new(NOT_YET_VISIBLE_AT_ONCE),
        })
    }

    /// A client for a one-shot command (`explain --task-id`, `vcd`, `doctor`): its metrics
    /// and readiness are its own, and nobody reads them.
    pub fn standalone(settings: &VcdSettings) -> Result<VcdClient, VcdError> {
        VcdClient::new(
            settings,
            Arc::new(Metrics::new()),
            Arc::new(Health::default()),
        )
    }

    /// Negotiates the API version (once) and logs in. Returns the version in use.
    pub async fn connect(&self) -> Result<ApiVersion, VcdError> {
        let version = self.api_version().await?;
        self.session_at_least(0).await?;
        Ok(version)
    }

    /// True while a session is held (it may still turn out to be expired).
    pub async fn has_session(&self) -> bool {
        self.session.read().await.is_some()
    }

    /// Reads one blocking task. A 404 is retried briefly, because vCD can announce a task
    /// before it is readable, while one of `NOT_YET_VISIBLE_AT_ONCE` retry slots is free.
    pub async fn blocking_task(&self, id: TaskId) -> Result<BlockingTask, VcdError> {
        let error = match self.blocking_task_now(id).await {
            Err(error) if error.class() == ErrorClass::NotFound => error,
            other => return other,
        };
        let Ok(_slot) = self.not_yet_visible.try_acquire() else {
            tracing::debug!(task_id = %id, "blocking task not visible, and other tasks use every retry slot; given up");
            return Err(error);
        };
        let mut schedule = Backoff::NOT_YET_VISIBLE.schedule();
        if !schedule.sleep().await {
            return Err(error);
        }
        loop {
            match self.blocking_task_now(id).await {
                Err(error) if error.class() == ErrorClass::NotFound => {
                    tracing::debug!(task_id = %id, attempt = schedule.attempts(), "blocking task not visible yet");
                    if !schedule.sleep().await {
                        return Err(error);
                    }
                }
                other => return other,
            }
        }
    }

    /// Reads one blocking task once, for a task known to exist: a 404 means it is gone. An
    /// answer that cannot be read is read again a few times (`Backoff::UNREADABLE`).
    pub async fn blocking_task_now(&self, id: TaskId) -> Result<BlockingTask, VcdError> {
        let url = self.endpoints.blocking_task(id);
        self.read("get_task", &url, model::parse_blocking_task)
            .await
    }

    /// The ids of every active blocking task, oldest first, read page by page through the
    /// query service (`/api/query?type=blockingTask`, protocol notes §8), so that only one
    /// page of records is in memory at once however many tasks are active. Where vCD refuses the query (a 4xx
    /// other than 401: the account may not use it, or the cell does not serve it), the one
    /// `blockingTasks/` document instead. An entry that names no task is logged and skipped,
    /// so that one bad entry does not hide the others.
    pub async fn active_tasks(&self) -> Result<ActiveTasks, VcdError> {
        match self.query_active_tasks().await {
            Err(error) if matches!(error.class(), ErrorClass::Refused | ErrorClass::NotFound) => {
                if !self.query_refused.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%error, "vCD refuses the query service; listing blocking tasks with the blockingTasks document instead");
                }
                self.listed_active_tasks().await
            }
            other => other,
        }
    }

    async fn query_active_tasks(&self) -> Result<ActiveTasks, VcdError> {
        let mut active = ActiveTasks {
            ids: Vec::new(),
            complete: true,
        };
        let mut first_total = None;
        for page in 1..=MAX_QUERY_PAGES {
            let url = self.endpoints.blocking_task_query(page, QUERY_PAGE_SIZE);
            let answer = self
                .read("query_tasks", &url, model::parse_task_page)
                .await?;
            warn_skipped(&answer.tasks.skipped);
            let empty = answer.tasks.ids.is_empty();
            active.ids.extend(answer.tasks.ids);
            first_total.get_or_insert(answer.total);
            if !answer.more || empty {
                // Tasks that left the list while it was paged through moved later ones to
                // earlier pages, unseen: such a listing is not the whole truth.
                active.complete = first_total == Some(answer.total) && !answer.more;
                return Ok(active);
            }
        }
        tracing::warn!(
            pages = MAX_QUERY_PAGES,
            "vCD's query service still names a next page; the listing stops here"
        );
        active.complete = false;
        Ok(active)
    }

    async fn listed_active_tasks(&self) -> Result<ActiveTasks, VcdError> {
        let url = self.endpoints.blocking_tasks();
        let list = self
            .read("list_tasks", &url, model::parse_task_references)
            .await?;
        warn_skipped(&list.skipped);
        Ok(ActiveTasks {
            ids: list.ids,
            complete: true,
        })
    }

    /// GETs `url` and parses the answer; an answer `parse` refuses is fetched again within
    /// [`Backoff::UNREADABLE`], then given up as [`VcdError::Decode`] (wrapped in
    /// [`VcdError::Exhausted`] when it was tried more than once).
    async fn read<T>(
        &self,
        op: &'static str,
        url: &str,
        parse: impl Fn(&str) -> Result<T, model::ModelError>,
    ) -> Result<T, VcdError> {
        let mut schedule = Backoff::UNREADABLE.schedule();
        loop {
            let call = Call {
                op,
                method: Method::GET,
                url: url.to_owned(),
                body: None,
            };
            let answer = self.send(call).await?;
            let error = match decode(op, parse(&answer)) {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let attempts = schedule.attempts();
            tracing::debug!(op, attempt = attempts, %error, "unreadable answer from vCD; reading again");
            if !schedule.sleep().await {
                return Err(if attempts > 1 {
                    VcdError::Exhausted {
                        attempts,
                        elapsed: schedule.elapsed(),
                        last: Box::new(error),
                    }
                } else {
                    error
                });
            }
        }
    }

    /// How many tasks vCD's task history lists for `count` (protocol notes §8): one
    /// `GET /api/query?type=adminTask&format=records&pageSize=1&filter=…`, read for its
    /// `total`, through the same session, limit and retries as every read.
    pub async fn count_tasks(&self, count: &TaskCount) -> Result<u64, VcdError> {
        let url = self.endpoints.admin_task_count(&count.filter());
        self.read("count_tasks", &url, model::parse_record_total)
            .await
    }

    /// The document of an owner or of what it lives in (`GET /api/vApp/vapp-<uuid>`, `…/vm-<uuid>`,
    /// `/api/media/<uuid>`, `/api/vdc/<uuid>`), as vCD answered it; `facts` parses it with
    /// the `vcd::model` parser of that document.
    pub(crate) async fn owner_document(&self, owner: OwnerRef) -> Result<String, VcdError> {
        self.get(owner.op(), self.endpoints.owner(owner)).await
    }

    /// The owner's `<owner>/metadata` document, as vCD answered it.
    pub(crate) async fn owner_metadata(&self, owner: OwnerRef) -> Result<String, VcdError> {
        self.get("get_metadata", self.endpoints.owner_metadata(owner))
            .await
    }

    /// The cloud's BlockingTaskSettings: which operations block, vCD's timeout and its action.
    pub(crate) async fn blocking_settings(&self) -> Result<BlockingSettings, VcdError> {
        let url = self.endpoints.blocking_settings();
        self.read(
            "get_blocking_settings",
            &url,
            model::parse_blocking_settings,
        )
        .await
    }

    /// Replaces the cloud's BlockingTaskSettings with `settings` (the whole element, as vCD
    /// wants it) and returns what vCD stored.
    pub(crate) async fn put_blocking_settings(
        &self,
        settings: &BlockingSettings,
    ) -> Result<BlockingSettings, VcdError> {
        let call = Call {
            op: "put_blocking_settings",
            method: Method::PUT,
            url: self.endpoints.blocking_settings(),
            body: Some((
                model::MEDIA_BLOCKING_TASK_SETTINGS,
                model::blocking_settings_document(settings),
            )),
        };
        let answer = self.send(call).await?;
        decode(
            "put_blocking_settings",
            model::parse_blocking_settings(&answer),
        )
    }

    /// Where vCD publishes its notifications (its AMQP settings; the password is never
    /// returned).
    pub(crate) async fn amqp_settings(&self) -> Result<AmqpSettings, VcdError> {
        let url = self.endpoints.amqp_settings();
        self.read("get_amqp_settings", &url, model::parse_amqp_settings)
            .await
    }

    /// Whether vCD publishes notifications at all.
    pub(crate) async fn notifications_enabled(&self) -> Result<bool, VcdError> {
        let url = self.endpoints.notifications_settings();
        self.read(
            "get_notifications_settings",
            &url,
            model::parse_notifications_enabled,
        )
        .await
    }

    async fn get(&self, op: &'static str, url: String) -> Result<String, VcdError> {
        let call = Call {
            op,
            method: Method::GET,
            url,
            body: None,
        };
        self.send(call).await
    }

    /// POSTs `resume`, `abort` or `fail` with `message` (shown to the tenant).
    pub async fn act(
        &self,
        id: TaskId,
        action: FinalAction,
        message: &str,
    ) -> Result<(), VcdError> {
        let call = Call {
            op: action.name(),
            method: Method::POST,
            url: self.endpoints.action(id, action),
            body: Some((
                model::MEDIA_OPERATION_PARAMS,
                model::operation_params(message),
            )),
        };
        self.send(call).await.map(drop)
    }

    /// POSTs `updateProgress`, pushing the task's timeout to now + `timeout`.
    pub async fn update_progress(
        &self,
        id: TaskId,
        message: &str,
        timeout: Option<Duration>,
    ) -> Result<BlockingTask, VcdError> {
        let call = Call {
            op: "update_progress",
            method: Method::POST,
            url: self.endpoints.update_progress(id),
            body: Some((
                model::MEDIA_UPDATE_PROGRESS_PARAMS,
                model::update_progress_params(message, timeout),
            )),
        };
        let answer = self.send(call).await?;
        decode("update_progress", model::parse_blocking_task(&answer))
    }

    /// Ends the session, best effort (used at shutdown).
    pub async fn logout(&self) {
        let Some(session) = self.session.write().await.take() else {
            return;
        };
        let url = match session.method {
            LoginMethod::Legacy => self.endpoints.legacy_logout(),
            LoginMethod::Provider | LoginMethod::ApiToken => self.endpoints.current_session(),
        };
        let version = self.version.read().await.clone();
        let accept = version.map_or_else(String::new, |v| format!("application/*+xml;version={v}"));
        let result = self
            .http
            .delete(url)
            .header(session.header.clone(), session.value.clone())
            .header(ACCEPT, accept)
            .send()
            .await;
        if let Err(error) = result {
            tracing::debug!(error = %describe_transport_error(&error), "logout failed");
        }
    }

    /// Sends `call` with the session header, logging in again once on a 401 and retrying
    /// transient failures within [`Backoff::TRANSIENT`].
    async fn send(&self, call: Call) -> Result<String, VcdError> {
        let version = self.api_version().await?;
        let mut schedule = Backoff::TRANSIENT.schedule();
        let mut session = self.session_at_least(0).await?;
        let mut relogged = false;
        loop {
            let result = self.send_once(&call, &version, &session).await;
            match result {
                Err(error) if error.status() == Some(401) && !relogged => {
                    relogged = true;
                    session = self.session_at_least(session.generation + 1).await?;
                }
                Err(error) if error.class() == ErrorClass::Transient => {
                    let attempts = schedule.attempts();
                    tracing::debug!(op = call.op, attempt = attempts, %error, "retrying vCD request");
                    if !schedule.sleep().await {
                        return Err(VcdError::Exhausted {
                            attempts,
                            elapsed: schedule.elapsed(),
                            last: Box::new(error),
                        });
                    }
                }
                other => return other,
            }
        }
    }

    async fn send_once(
        &self,
        call: &Call,
        version: &ApiVersion,
        session: &Session,
    ) -> Result<String, VcdError> {
        let mut request = self
            .http
            .request(call.method.clone(), &call.url)
            .header(ACCEPT, format!("application/*+xml;version={version}"))
            .header(session.header.clone(), session.value.clone());
        if let Some((media_type, body)) = &call.body {
            request = request.header(CONTENT_TYPE, *media_type).body(body.clone());
        }
        let permit = self.limiter.acquire().await;
        let started = Instant::now();
        let response = request.send().await;
        let seconds = started.elapsed().as_secs_f64();
        let response = match response {
            Ok(response) => response,
            Err(error) => {
                permit.finish(Signal::Refused);
                self.metrics.vcd_request(call.op, "error", seconds);
                return Err(VcdError::Transport {
                    op: call.op,
                    message: describe_transport_error(&error),
                });
            }
        };
        let status = response.status();
        let throttled = matches!(status.as_u16(), 429 | 503)
            .then(|| retry_after(response.headers()))
            .flatten();
        if let Some(wait) = throttled {
            self.limiter.pause(wait);
        }
        let signal = Signal::of_status(status.as_u16(), throttled.is_some());
        self.metrics.vcd_request(call.op, status.as_str(), seconds);
        tracing::debug!(
            op = call.op,
            status = status.as_u16(),
            seconds,
            "vCD request"
        );
        if status.is_redirection() {
            permit.finish(signal);
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            return Err(VcdError::Redirect {
                op: call.op,
                location,
            });
        }
        let body = response.text().await;
        permit.finish(signal);
        let body = body.map_err(|error| VcdError::Transport {
            op: call.op,
            message: describe_transport_error(&error),
        })?;
        if !status.is_success() {
            return Err(VcdError::Status {
                op: call.op,
                status: status.as_u16(),
                document: model::parse_error(&body),
            });
        }
        Ok(body)
    }

    /// The current session if its generation is at least `generation`, else a new login.
    async fn session_at_least(&self, generation: u64) -> Result<Arc<Session>, VcdError> {
        if let Some(session) = self.session.read().await.as_ref()
            && session.generation >= generation
        {
            return Ok(session.clone());
        }
        let _login = self.login_lock.lock().await;
        if let Some(session) = self.session.read().await.as_ref()
            && session.generation >= generation
        {
            return Ok(session.clone());
        }
        if let Some(paused) = self.login_paused() {
            return Err(paused);
        }
        let version = self.api_version().await?;
        let method = LoginMethod::choose(&self.auth, &version);
        let next = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        // A slot like any request (vcd.max_in_flight holds), first in line: every other
        // request waits for this session. Its latency says nothing of vCD's load.
        let slot = super::urgent(self.limiter.acquire()).await;
        let started = Instant::now();
        let result = auth::login(
            &self.http,
            &self.endpoints,
            &self.auth,
            &version,
            method,
            next,
        )
        .await;
        drop(slot);
        let status = if result.is_ok() { "200" } else { "error" };
        self.metrics
            .vcd_request("login", status, started.elapsed().as_secs_f64());
        self.metrics.vcd_login(match &result {
            Ok(_) => LoginOutcome::Ok,
            Err(VcdError::Login(_)) => LoginOutcome::Refused,
            Err(_) => LoginOutcome::Error,
        });
        self.health.set_vcd_session(result.is_ok());
        self.note_login(&result);
        let session = Arc::new(result?);
        tracing::info!(method = ?session.method, api_version = %version, "logged in to vCD");
        *self.session.write().await = Some(session.clone());
        Ok(session)
    }

    /// The answer for every caller while a refused login's wait runs.
    fn login_paused(&self) -> Option<VcdError> {
        let refusal = self.lock_refusal().clone()?;
        let retry_in = refusal.remaining(Instant::now())?;
        Some(VcdError::LoginPaused {
            last: refusal.message,
            retry_in,
        })
    }

    /// Remembers a refused login (and tells `/readyz` why), or forgets it after a good one.
    fn note_login(&self, result: &Result<Session, VcdError>) {
        let mut refusal = self.lock_refusal();
        match result {
            Ok(_) => {
                if refusal.take().is_some() {
                    self.health.set_vcd_problem(None);
                }
            }
            Err(error @ VcdError::Login(_)) => {
                let count = refusal.as_ref().map_or(0, |r| r.count) + 1;
                let next = Refusal {
                    at: Instant::now(),
                    count,
                    message: error.to_string(),
                };
                let wait = next.remaining(next.at).unwrap_or_default();
                tracing::warn!(%error, refusals = count, retry_in_seconds = wait.as_secs(), "vCD refused the credentials; not logging in again before the wait");
                self.health.set_vcd_problem(Some(error.to_string()));
                *refusal = Some(next);
            }
            Err(_) => {}
        }
    }

    fn lock_refusal(&self) -> std::sync::MutexGuard<'_, Option<Refusal>> {
        self.refusal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The API version in use, negotiated on first need.
    async fn api_version(&self) -> Result<ApiVersion, VcdError> {
        if let Some(version) = self.version.read().await.as_ref() {
            return Ok(version.clone());
        }
        let mut slot = self.version.write().await;
        if let Some(version) = slot.as_ref() {
            return Ok(version.clone());
        }
        let offered = self.versions().await?;
        let version = choose_version(&self.version_choice, &offered)?;
        *slot = Some(version.clone());
        Ok(version)
    }

    async fn versions(&self) -> Result<Vec<VersionInfo>, VcdError> {
        let slot = super::urgent(self.limiter.acquire()).await;
        let started = Instant::now();
        let response = self
            .http
            .get(self.endpoints.versions())
            .header(ACCEPT, "application/*+xml")
            .send()
            .await;
        let seconds = started.elapsed().as_secs_f64();
        let response = response.map_err(|error| {
            self.metrics.vcd_request("versions", "error", seconds);
            VcdError::Transport {
                op: "versions",
                message: describe_transport_error(&error),
            }
        })?;
        let status = response.status();
        self.metrics
            .vcd_request("versions", status.as_str(), seconds);
        let body = response.text().await.map_err(|error| VcdError::Transport {
            op: "versions",
            message: describe_transport_error(&error),
        });
        drop(slot);
        let body = body?;
        if !status.is_success() {
            return Err(VcdError::Status {
                op: "versions",
                status: status.as_u16(),
                document: model::parse_error(&body),
            });
        }
        decode("versions", model::parse_versions(&body))
    }
}

/// `Retry-After` as delay-seconds or an HTTP date; `None` when absent or unreadable.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}

fn warn_skipped(skipped: &[model::ModelError]) {
    for problem in skipped {
        tracing::warn!(%problem, "skipping an entry of vCD's task list that names no task");
    }
}

fn decode<T>(op: &'static str, result: Result<T, model::ModelError>) -> Result<T, VcdError> {
    result.map_err(|source| VcdError::Decode { op, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn a_refused_login_waits_a_minute_then_longer_up_to_five() {
        let at = Instant::now();
        let refusal = |count| Refusal {
            at,
            count,
            message: String::new(),
        };
        let after = |seconds| at + Duration::from_secs(seconds);
        assert_eq!(refusal(1).remaining(at), Some(Duration::from_secs(60)));
        assert_eq!(
            refusal(1).remaining(after(59)),
            Some(Duration::from_secs(1))
        );
        assert_eq!(refusal(1).remaining(after(60)), None);
        assert_eq!(
            refusal(2).remaining(after(60)),
            Some(Duration::from_secs(60))
        );
        assert_eq!(refusal(3).remaining(at), Some(Duration::from_secs(240)));
        assert_eq!(refusal(9).remaining(at), Some(Duration::from_secs(300)));
        assert_eq!(refusal(40).remaining(at), Some(Duration::from_secs(300)));
    }

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(retry_after(&headers("7")), Some(Duration::from_secs(7)));
        let soon = chrono::Utc::now() + chrono::Duration::seconds(30);
        let wait = retry_after(&headers(
            &soon.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        ));
        assert!(wait.is_some_and(|w| w > Duration::from_secs(25) && w <= Duration::from_secs(30)));
        assert_eq!(retry_after(&headers("Sun, 06 Nov 1994 08:49:37 GMT")), None);
        assert_eq!(retry_after(&headers("soon")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }
}
