//! `vcd-blockd test` (run a policy's `[[test]]` cases) and `vcd-blockd explain` (show, rule by
//! rule, how the policy decides one task). Both work on a policy alone, so they run in a CI
//! pipeline that only has the policy repository; `explain --task-id` reads the live task from
//! vCD and takes its facts from the same function the engine does.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{EXIT_FAILED, EXIT_USAGE, Threads, block_on, config_path, standalone_vcd};
use crate::ask::{Question, Services};
use crate::config::Settings;
use crate::engine::task_facts;
use crate::facts::{MatchKey, QuotaCounts, TaskFacts};
use crate::metrics::Metrics;
use crate::policy::{self, Action, Answer, Ask, OnError, Policy};
use crate::source::amqp::notification::{self, BodyFormat, Delivery, Headers, Notification};
use crate::task::{BlockingTask, TaskId, TaskStatus};
use crate::vcd::ErrorClass;
use crate::vcd::model::{self, ModelError};
use crate::xml;

/// `vcd-blockd test [POLICY]`: exit 0 when every case passes, 1 otherwise.
pub fn test(config: Option<PathBuf>, policy: Option<PathBuf>) -> ExitCode {
    let policy = match load(config, policy) {
        Ok(policy) => policy,
        Err(code) => return code,
    };
    let outcomes = policy::run_tests(&policy, Utc::now());
    if outcomes.is_empty() {
        println!("the policy has no [[test]] cases");
        return ExitCode::SUCCESS;
    }
    for outcome in &outcomes {
        println!("{outcome}");
    }
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    println!("\n{} passed, {failed} failed", outcomes.len() - failed);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

/// `vcd-blockd explain [POLICY] (--task FILE | --fact key=value …)`: exit 0 when a decision,
/// "no action" or "already decided" was printed, 1 for a file that cannot be read or parsed,
/// 2 for usage errors.
pub fn explain(
    config: Option<PathBuf>,
    policy: Option<PathBuf>,
    task: Option<PathBuf>,
    facts: &[String],
    at: Option<DateTime<Utc>>,
) -> ExitCode {
    if task.is_none() && facts.is_empty() {
        eprintln!(
            "vcd-blockd: explain needs --task FILE, --task-id ID or at least one --fact key=value"
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let policy = match load(config, policy) {
        Ok(policy) => policy,
        Err(code) => return code,
    };
    let found = match task.as_deref().map(read_task_file).transpose() {
        Ok(found) => found,
        Err(message) => {
            eprintln!("vcd-blockd: {message}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let mut known = match found {
        None => Known::given(TaskFacts::default()),
        Some(FromFile::Task(task)) if !task.status.is_active() => {
            print_already_decided(&task);
            return ExitCode::SUCCESS;
        }
        Some(FromFile::Task(task)) => Known {
            source: "a BlockingTask document".to_owned(),
            ..Known::given(TaskFacts::from(&task))
        },
        Some(FromFile::Notification(found)) if !found.is_blocking_task_create() => {
            println!("type:     {}", found.event_type);
            println!(
                "no action: the daemon acts only on {} notifications",
                notification::BLOCKING_TASK_CREATE
            );
            return ExitCode::SUCCESS;
        }
        Some(FromFile::Notification(found)) => Known::from_notification(found),
    };
    for fact in facts {
        if let Err(message) = known.set(fact) {
            eprintln!("vcd-blockd: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    }
    print!("{known}");
    let explanation = policy::explain(&policy, &known.facts, at.unwrap_or_else(Utc::now));
    let how = known
        .ask
        .map(|answer| format!("given with --fact ask={}", answer.name()))
        .unwrap_or_default();
    print!("{}", explanation.answered(known.ask, &how));
    ExitCode::SUCCESS
}

/// `vcd-blockd explain -c CONFIG [POLICY] --task-id ID`: reads the live task from vCD (GET
/// only: never an action, no broker) and explains it with the facts the daemon would use.
/// With `ask`, a rule that asks a decision service has it asked once (the request the daemon
/// would send, as attempt 1) and its answer shown; without, no service is called.
/// Exit 0 when a decision or "already decided" was printed, 1 when vCD does not know the task
/// or cannot be asked, 2 for usage and configuration errors.
pub fn explain_live(
    config: Option<PathBuf>,
    policy: Option<PathBuf>,
    task_id: &str,
    at: Option<DateTime<Utc>>,
    ask: bool,
) -> ExitCode {
    let Ok(id) = TaskId::parse(task_id) else {
        eprintln!(
            "vcd-blockd: --task-id {task_id:?}: not a blocking task id (a UUID, or urn:vcloud:blockingTask:<UUID>)"
        );
        return ExitCode::from(EXIT_USAGE);
    };
    let path = config_path(config);
    let settings = match Settings::load(path.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("vcd-blockd: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let policy = match Policy::load(policy.as_deref().unwrap_or(&settings.policy.path)) {
        Ok(policy) => policy,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    block_on(Threads::This, async {
        let vcd = match standalone_vcd(&settings.vcd) {
            Ok(vcd) => vcd,
            Err(code) => return code,
        };
        let read = vcd.blocking_task_now(id).await;
        let code = match read {
            Err(error) if error.class() == ErrorClass::NotFound => {
                eprintln!("vcd-blockd: vCD does not know blocking task {id}");
                ExitCode::from(EXIT_FAILED)
            }
            Err(error) => {
                eprintln!("vcd-blockd: cannot read blocking task {id}: {error}");
                ExitCode::from(EXIT_FAILED)
            }
            Ok(task) if !task.status.is_active() => {
                print_already_decided(&task);
                ExitCode::SUCCESS
            }
            Ok(task) => {
                let now = at.unwrap_or_else(Utc::now);
                let facts = task_facts(&vcd, &policy, &task, now).await;
                let known = Known {
                    source: format!("vCD at {}", settings.vcd.url),
                    ..Known::given(facts)
                };
                print!("{known}");
                let explanation = policy::explain(&policy, &known.facts, now);
                let explanation = match (&explanation.decision.action, ask) {
                    (Action::Ask(asked), true) => {
                        let question = Question {
                            task_id: task.id,
                            facts: known.facts.clone(),
                            rule: explanation.decision.rule.clone(),
                            created: task.created,
                            deadline: task.created.unwrap_or(now) + asked.hold.max,
                        };
                        let (answer, how) = ask_once(&settings, asked, &question).await;
                        explanation.answered(Some(answer), &how)
                    }
                    _ => explanation.answered(None, "explain --ask asks it"),
                };
                print!("{explanation}");
                ExitCode::SUCCESS
            }
        };
        vcd.logout().await;
        code
    })
}

/// `explain --ask`: asks the rule's service once, as the daemon would (attempt 1); an error is
/// shown and the rule's `on_error` taken as the answer.
async fn ask_once(settings: &Settings, ask: &Ask, question: &Question) -> (Answer, String) {
    let services = match Services::new(&settings.ask, Arc::new(Metrics::new())) {
        Ok(services) => services,
        Err(error) => {
            return (
                on_error(ask),
                format!("not asked: {error}; on_error decides"),
            );
        }
    };
    let service = &ask.service;
    match services.ask(service, question, 1).await {
        Ok(reply) => {
            let message = reply
                .message
                .map(|m| format!(", message {m:?}"))
                .unwrap_or_default();
            (reply.answer, format!("asked with --ask{message}"))
        }
        Err(error) => (
            on_error(ask),
            format!("asked with --ask: {error}; on_error decides"),
        ),
    }
}

/// The answer a failed ask stands for.
fn on_error(ask: &Ask) -> Answer {
    match ask.on_error {
        OnError::Hold => Answer::Hold,
        OnError::Decide(action) => Answer::Decide(action),
    }
}

fn print_already_decided(task: &BlockingTask) {
    println!("task:     {} ({})", task.id, task.operation);
    let status = match &task.status {
        TaskStatus::Active => "active",
        TaskStatus::Other(status) => status,
    };
    println!(
        "already decided: its status is {status:?}, not \"active\"; the daemon takes no action"
    );
}

/// The facts a task is explained with, where they came from, and which of them the source
/// could not supply (matched as empty strings, as a rule would see them).
struct Known {
    source: String,
    facts: TaskFacts,
    unknown: BTreeSet<MatchKey>,
    /// `--fact ask=resume`: the decision service's answer, when a rule asks one.
    ask: Option<Answer>,
}

impl Known {
    fn given(facts: TaskFacts) -> Known {
        Known {
            source: String::new(),
            facts,
            unknown: BTreeSet::new(),
            ask: None,
        }
    }

    /// What a notification carries: ids always, names in XML only, never the description.
    fn from_notification(found: Notification) -> Known {
        let org = found.org.unwrap_or_default();
        let user = found.user.unwrap_or_default();
        let owner = found.owner.unwrap_or_default();
        let facts = TaskFacts {
            task_id: found.task_id.map(|id| id.to_string()).unwrap_or_default(),
            operation: found.operation.unwrap_or_default(),
            org: org.name,
            org_id: org.id,
            user: user.name,
            user_id: user.id,
            owner_type: owner.kind,
            owner_name: owner.name,
            owner_id: owner.id,
            ..TaskFacts::default()
        };
        let unknown = MatchKey::ALL
            .iter()
            .copied()
            .filter(|key| facts.get(*key).is_empty())
            .collect();
        let format = match found.format {
            BodyFormat::Xml => "XML",
            BodyFormat::Json => "JSON",
        };
        Known {
            source: format!("a notification ({format})"),
            facts,
            unknown,
            ask: None,
        }
    }

    /// `--fact key=value`: the value replaces what the source said, or supplies what it could not.
    fn set(&mut self, assignment: &str) -> Result<(), String> {
        let Some((key, value)) = assignment.split_once('=') else {
            return Err(format!("--fact {assignment:?}: write key=value"));
        };
        let slot = match key.trim() {
            "task_id" => &mut self.facts.task_id,
            "recent" => {
                let count = value.trim().parse().map_err(|_| {
                    format!("--fact recent={value:?}: give the quota count, a whole number, e.g. recent=21")
                })?;
                self.facts.quota = QuotaCounts::given(count);
                return Ok(());
            }
            "ask" => {
                let answer = Answer::parse(value.trim()).ok_or_else(|| {
                    format!(
                        "--fact ask={value:?}: the decision service's answer is one of {}",
                        Answer::NAMES.join(", ")
                    )
                })?;
                self.ask = Some(answer);
                return Ok(());
            }
            name => match MatchKey::parse(name) {
                Some(key) => {
                    self.unknown.remove(&key);
                    self.facts.get_mut(key)
                }
                None => {
                    if self
                        .facts
                        .owner
                        .set(name, value)
                        .map_err(|e| format!("--fact {e}"))?
                    {
                        return Ok(());
                    }
                    let known: Vec<&str> = MatchKey::names()
                        .chain([
                            "task_id",
                            "recent",
                            "ask",
                            "vapp.*",
                            "vm.*",
                            "media.*",
                            "metadata.*",
                        ])
                        .collect();
                    return Err(format!(
                        "--fact {name:?}: unknown key; use {}",
                        known.join(", ")
                    ));
                }
            },
        };
        *slot = value.to_owned();
        Ok(())
    }
}

/// `task:` and `facts:` lines; nothing for facts given on the command line alone.
impl fmt::Display for Known {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.source.is_empty() {
            return Ok(());
        }
        writeln!(f, "task:     {}, from {}", self.facts.task_id, self.source)?;
        writeln!(f, "facts:")?;
        for key in MatchKey::ALL {
            if self.unknown.contains(key) {
                writeln!(f, "  {:<12} unknown: not in the notification", key.name())?;
            } else {
                writeln!(f, "  {:<12} {:?}", key.name(), self.facts.get(*key))?;
            }
        }
        if !self.unknown.is_empty() {
            writeln!(
                f,
                "unknown facts are matched as empty here; the daemon reads them from vCD \
                 (explain -c CONFIG --task-id {}, or give them with --fact)",
                self.facts.task_id
            )?;
        }
        Ok(())
    }
}

/// The policy named on the command line, else the one the config names.
fn load(config: Option<PathBuf>, policy: Option<PathBuf>) -> Result<Policy, ExitCode> {
    let path = match policy {
        Some(path) => path,
        None => {
            let config = config_path(config);
            Settings::load(config.as_deref())
                .map_err(|error| {
                    eprintln!("vcd-blockd: {error}");
                    ExitCode::from(EXIT_USAGE)
                })?
                .policy
                .path
        }
    };
    Policy::load(&path).map_err(|errors| {
        eprintln!("{errors}");
        ExitCode::from(EXIT_FAILED)
    })
}

/// What a `--task` file holds.
enum FromFile {
    Task(BlockingTask),
    Notification(Notification),
}

/// A BlockingTask document (told by its root element, whose parser's error is reported), else
/// a notification (XML or JSON).
fn read_task_file(path: &Path) -> Result<FromFile, String> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
    let text = String::from_utf8_lossy(&bytes);
    let body = xml::trim_preamble(&text);
    if body.starts_with('<') {
        let root = xml::check(body)
            .map_err(|e| format!("{shown}: not well-formed XML: {e}"))?
            .root()
            .to_owned();
        match root.as_str() {
            "BlockingTask" => {
                return model::parse_blocking_task(&text)
                    .map(FromFile::Task)
                    .map_err(|e| {
                        format!("{shown}: not a usable BlockingTask: {}", task_problem(&e))
                    });
            }
            "Notification" => {}
            other => {
                return Err(format!(
                    "{shown}: <{other}> is neither a BlockingTask nor a Notification"
                ));
            }
        }
    }
    let headers = Headers::new();
    let delivery = Delivery {
        body: &bytes,
        routing_key: "",
        headers: &headers,
    };
    notification::parse(&delivery, usize::MAX)
        .map(FromFile::Notification)
        .map_err(|e| format!("{shown}: not a usable notification: {e}"))
}

/// The BlockingTask parser's error in a file's words.
fn task_problem(error: &ModelError) -> String {
    match error {
        ModelError::Invalid { field: "id", value } => {
            format!("its id {value:?} is not a blocking task id (urn:vcloud:blockingTask:<UUID>)")
        }
        ModelError::Invalid { field, value } => format!("its {field} {value:?} is invalid"),
        ModelError::Missing(what) => format!("it lacks {what}"),
        other => other.to_string(),
    }
}
