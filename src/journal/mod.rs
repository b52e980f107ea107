//! The journal: what vCD cannot tell a new leader (recorded approvals, reminders and
//! escalations sent) and the decision history, written where the deployment already keeps
//! durable state. A [`Backend`] stores encoded records: with a broker the stream
//! `<queue>.journal` (`source/amqp/journal`), in poll mode a file under `[state] dir`
//! (`file`). [`Journal`] is the one handle the engine and the admin API use: it writes a
//! record before anything is acknowledged, reads the whole journal back on start or
//! takeover through the same decoding (`record`) into what the leader needs (`history`), and
//! keeps `/readyz` told whether it can be written.

mod file;
mod history;
pub(crate) mod record;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::outcome::JournalSkip;
use crate::task::TaskId;
pub(crate) use file::FileJournal;
use history::Replay;
pub(crate) use history::{DEFAULT_LIMIT, MAX_LIMIT, Pending};
pub use record::DecisionRecord;
use record::Decoded;
pub(crate) use record::Record;

/// A backend's future.
pub(crate) type BackendFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How often a journal that works is checked, so that `/readyz` notices one that stopped
/// working even while nothing is written.
const CHECK_EVERY: Duration = Duration::from_secs(10);

/// Why a backend could not write or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Trouble {
    /// The journal is not there any more (the stream was deleted): what it held is lost.
    #[error("{0}")]
    Gone(String),
    /// No broker session to write through; the AMQP source's readiness says why.
    #[error("no broker session")]
    Detached,
    /// Anything else: a directory or file that cannot be written, the broker refusing.
    #[error("{0}")]
    Unwritable(String),
}

/// Where records are kept: appended one at a time, durably, and read back oldest first.
pub(crate) trait Backend: Send + Sync {
    /// What and where it is, for logs and `/readyz`: `file /var/lib/vcd-blockd/journal.jsonl`.
    fn describe(&self) -> String;
    /// Appends one encoded record; `Ok` only once it is durable (fsynced, or confirmed by the
    /// broker).
    fn append(&self, record: Vec<u8>) -> BackendFuture<'_, Result<(), Trouble>>;
    /// Whether a record could be appended now, without appending one.
    fn check(&self) -> BackendFuture<'_, Result<(), Trouble>>;
    /// Makes a journal that is [`Trouble::Gone`] writable again (empty).
    fn repair(&self) -> BackendFuture<'_, Result<(), Trouble>>;
    /// Hands every record to `each`, oldest first.
    fn read<'a>(
        &'a self,
        each: &'a mut (dyn FnMut(Decoded) + Send),
    ) -> BackendFuture<'a, Result<(), Trouble>>;
}

/// Why the journal refused a write: the approval is refused with 503.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the journal ({journal}) cannot be written: {trouble}")]
pub struct JournalError {
    journal: String,
    trouble: Trouble,
}

/// The journal of this instance.
pub struct Journal {
    backend: Arc<dyn Backend>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    /// What the journal says, as read at the last replay and written since.
    state: Mutex<Replay>,
    /// Set while the journal cannot be written; cleared by the next write or check that works.
    broken: AtomicBool,
    /// Whether a read succeeded: what [`Journal::pending`] says is then the journal's word.
    read: AtomicBool,
    /// Told when the journal was found gone, so that what it held is forgotten everywhere.
    on_lost: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl Journal {
    /// Poll mode's journal, the file `journal.jsonl` in `dir`.
    pub fn file(dir: &std::path::Path, metrics: Arc<Metrics>, health: Arc<Health>) -> Journal {
        Journal::new(Arc::new(FileJournal::new(dir)), metrics, health)
    }

    pub(crate) fn new(
        backend: Arc<dyn Backend>,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
    ) -> Journal {
        Journal {
            backend,
            metrics,
            health,
            state: Mutex::default(),
            broken: AtomicBool::new(false),
            read: AtomicBool::new(false),
            on_lost: OnceLock::new(),
        }
    }

    /// What and where the journal is.
    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    /// Writes `record`; once it returns `Ok` the record survives this process. The record
    /// also counts at once for [`Journal::decisions`] and [`Journal::pending`].
    pub(crate) async fn write(&self, record: Record) -> Result<(), JournalError> {
        let bytes = record::encode(&record);
        let written = self.backend.append(bytes).await;
        self.metrics.journal_write(match written {
            Ok(()) => crate::outcome::RunOutcome::Ok,
            Err(_) => crate::outcome::RunOutcome::Error,
        });
        match written {
            Ok(()) => {
                self.works();
                self.lock().apply(record);
                Ok(())
            }
            Err(trouble) => Err(self.failed(trouble)),
        }
    }

    /// Writes a decision already carried out. The decision stands whatever happens here: a
    /// journal that cannot be written is logged (and `/readyz` says so), and the history
    /// misses it.
    pub(crate) async fn decided(&self, decided: DecisionRecord) {
        let task_id = decided.task_id;
        if let Err(error) = self.write(Record::Decision(decided)).await {
            tracing::error!(task_id = %task_id, %error, "decision not journaled; the history will not show it");
        }
    }

    /// Whether a record could be written now: asked before a decision that must be
    /// journaled is made.
    pub(crate) async fn check(&self) -> Result<(), JournalError> {
        match self.backend.check().await {
            Ok(()) => {
                self.works();
                Ok(())
            }
            Err(trouble) => Err(self.failed(trouble)),
        }
    }

    /// Reads the whole journal again and makes it what this instance knows: at start (the
    /// file) or before a new leader serves approvals (the stream). Corrupt and foreign
    /// records are skipped and counted. Returns how many records were read.
    pub async fn replay(&self) -> Result<usize, JournalError> {
        let started = Instant::now();
        let mut replay = Replay::default();
        let mut read = 0_usize;
        let mut skipped = (0_usize, 0_usize);
        let mut each = |decoded: Decoded| {
            read += 1;
            match decoded {
                Decoded::Record(record) => replay.apply(record),
                Decoded::Foreign => skipped.0 += 1,
                Decoded::Corrupt => skipped.1 += 1,
            }
        };
        let result = self.backend.read(&mut each).await;
        for _ in 0..skipped.0 {
            self.metrics.journal_skipped(JournalSkip::Foreign);
        }
        for _ in 0..skipped.1 {
            self.metrics.journal_skipped(JournalSkip::Corrupt);
        }
        if let Err(trouble) = result {
            return Err(self.failed(trouble));
        }
        if skipped != (0, 0) {
            tracing::warn!(journal = %self.describe(), foreign = skipped.0, corrupt = skipped.1, "journal records skipped");
        }
        tracing::info!(
            journal = %self.describe(),
            records = read,
            decisions = replay.decision_count(),
            took_ms = started.elapsed().as_millis() as u64,
            "journal read"
        );
        *self.lock() = replay;
        self.read.store(true, Ordering::Relaxed);
        self.works();
        Ok(read)
    }

    /// The latest decisions at or after `since`, newest first, at most `limit` (capped at
    /// [`MAX_LIMIT`]), of the orgs `visible` lets through.
    pub(crate) fn decisions(
        &self,
        since: Option<DateTime<Utc>>,
        limit: usize,
        visible: impl FnMut(&DecisionRecord) -> bool,
    ) -> Vec<DecisionRecord> {
        self.lock().decisions(since, limit.min(MAX_LIMIT), visible)
    }

    /// What the journal holds about the undecided task `id`: its recorded approvals and the
    /// announcements sent.
    pub(crate) fn pending(&self, id: TaskId) -> Option<Pending> {
        self.lock().pending(id).cloned()
    }

    /// Where task `id`'s chat message is (channel, `ts`), while it waits and for a while after
    /// it was decided or vCD stopped waiting for it.
    pub(crate) fn chat(&self, id: TaskId) -> Option<(String, String)> {
        self.lock().chat(id)
    }

    /// Forgets where task `id`'s chat message is (it was deleted), so that it is posted anew.
    pub(crate) fn forget_chat(&self, id: TaskId) {
        self.lock().forget_chat(id);
    }

    /// Whether the journal was read (at start, or by this leader on takeover).
    pub(crate) fn was_read(&self) -> bool {
        self.read.load(Ordering::Relaxed)
    }

    /// Calls `forget` whenever the journal is found gone (once per loss).
    pub(crate) fn when_lost(&self, forget: impl Fn() + Send + Sync + 'static) {
        let _ = self.on_lost.set(Box::new(forget));
    }

    /// Forgets what was journaled about undecided tasks for which `gone` holds (vCD no longer
    /// lists them: they were decided elsewhere or timed out), so that memory follows vCD.
    pub(crate) fn forget_undecided(&self, mut gone: impl FnMut(TaskId) -> bool) {
        self.lock().retain_pending(|id| !gone(id));
    }

    /// Keeps checking the journal until `shutdown`: every `CHECK_EVERY` (10 s) while it works, and
    /// while it does not, repairing it on `Backoff::JOURNAL`'s schedule (a deleted stream is
    /// declared again, empty).
    pub async fn watch(self: Arc<Self>, shutdown: CancellationToken) {
        let mut schedule = Backoff::JOURNAL.schedule();
        loop {
            if self.broken.load(Ordering::Relaxed) {
                if !schedule.wait(&shutdown).await {
                    return;
                }
                match self.backend.repair().await {
                    Ok(()) => {
                        let _ = self.check().await;
                    }
                    Err(trouble) => {
                        tracing::debug!(journal = %self.describe(), %trouble, "journal not repaired yet");
                    }
                }
                continue;
            }
            schedule.reset();
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(CHECK_EVERY) => {}
            }
            let _ = self.check().await;
        }
    }

    fn works(&self) {
        if self.broken.swap(false, Ordering::Relaxed) {
            tracing::info!(journal = %self.describe(), "journal can be written again");
        }
        self.health.set_journal_problem(None);
    }

    /// Notes `trouble`: `/readyz` names it (unless the broker session is down, which the AMQP
    /// source already says), and a journal found gone loses what it held.
    fn failed(&self, trouble: Trouble) -> JournalError {
        let error = JournalError {
            journal: self.describe(),
            trouble: trouble.clone(),
        };
        if trouble == Trouble::Detached {
            return error;
        }
        let first = !self.broken.swap(true, Ordering::Relaxed);
        self.health.set_journal_problem(Some(error.to_string()));
        if first {
            if let Trouble::Gone(_) = trouble {
                self.metrics.journal_lost();
                self.lock().retain_pending(|_| false);
                if let Some(forget) = self.on_lost.get() {
                    forget();
                }
                tracing::error!(
                    journal = %self.describe(),
                    "the journal is gone, and with it the approvals it recorded: held tasks \
                     that need several approvals start again at 0; it is created again empty"
                );
            } else {
                tracing::error!(%error, "approvals are refused until the journal can be written");
            }
        }
        error
    }

    fn lock(&self) -> MutexGuard<'_, Replay> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Poll mode's backend: [`FileJournal`], its blocking calls run off the async threads.
impl Backend for FileJournal {
    fn describe(&self) -> String {
        format!("file {}", self.path().display())
    }

    fn append(&self, record: Vec<u8>) -> BackendFuture<'_, Result<(), Trouble>> {
        let journal = self.clone();
        Box::pin(blocking(move || journal.append(&record)))
    }

    fn check(&self) -> BackendFuture<'_, Result<(), Trouble>> {
        let journal = self.clone();
        Box::pin(blocking(move || journal.check()))
    }

    /// A file is written again as soon as it can be opened; nothing to repair.
    fn repair(&self) -> BackendFuture<'_, Result<(), Trouble>> {
        Backend::check(self)
    }

    fn read<'a>(
        &'a self,
        each: &'a mut (dyn FnMut(Decoded) + Send),
    ) -> BackendFuture<'a, Result<(), Trouble>> {
        // Read on this thread: it happens once, at start, before anything else needs it.
        Box::pin(async move {
            FileJournal::read(self, each).map_err(|error| Trouble::Unwritable(error.to_string()))
        })
    }
}

async fn blocking(
    work: impl FnOnce() -> std::io::Result<()> + Send + 'static,
) -> Result<(), Trouble> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(Trouble::Unwritable(error.to_string())),
        Err(error) => Err(Trouble::Unwritable(error.to_string())),
    }
}
