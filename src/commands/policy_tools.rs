//! `vcd-blockd test` (run a policy's `[[test]]` cases) and `vcd-blockd explain` (show, rule by
//! rule, how the policy decides one task). Both work on a policy alone, so they run in a CI
//! pipeline that only has the policy repository.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::Utc;

use super::{EXIT_FAILED, EXIT_USAGE, config_path};
use crate::config::Settings;
use crate::facts::{MatchKey, TaskFacts};
use crate::policy::{self, Policy};
use crate::source::amqp::notification::{self, Delivery, Headers};
use crate::vcd::model;

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

/// `vcd-blockd explain [POLICY] (--task FILE | --fact key=value …)`.
pub fn explain(
    config: Option<PathBuf>,
    policy: Option<PathBuf>,
    task: Option<PathBuf>,
    facts: &[String],
) -> ExitCode {
    if task.is_none() && facts.is_empty() {
        eprintln!("vcd-blockd: explain needs --task FILE or at least one --fact key=value");
        return ExitCode::from(EXIT_USAGE);
    }
    let policy = match load(config, policy) {
        Ok(policy) => policy,
        Err(code) => return code,
    };
    let mut task_facts = match task.as_deref().map(facts_from_file).transpose() {
        Ok(found) => found.unwrap_or_default(),
        Err(message) => {
            eprintln!("vcd-blockd: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    for fact in facts {
        if let Err(message) = set_fact(&mut task_facts, fact) {
            eprintln!("vcd-blockd: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    }
    print!("{}", policy::explain(&policy, &task_facts, Utc::now()));
    ExitCode::SUCCESS
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

/// Facts from a BlockingTask document, or else from a notification (XML or JSON).
fn facts_from_file(path: &Path) -> Result<TaskFacts, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    if let Ok(task) = model::parse_blocking_task(&text) {
        return Ok(TaskFacts::from(&task));
    }
    let headers = Headers::new();
    let delivery = Delivery {
        body: &bytes,
        routing_key: "",
        headers: &headers,
    };
    let found = notification::parse(&delivery, usize::MAX).map_err(|e| {
        format!(
            "{}: neither a BlockingTask nor a notification ({e})",
            path.display()
        )
    })?;
    let org = found.org.unwrap_or_default();
    let user = found.user.unwrap_or_default();
    Ok(TaskFacts {
        task_id: found.task_id.map(|id| id.to_string()).unwrap_or_default(),
        operation: found.operation.unwrap_or_default(),
        org: org.name,
        org_id: org.id,
        user: user.name,
        user_id: user.id,
        ..TaskFacts::default()
    })
}

fn set_fact(facts: &mut TaskFacts, assignment: &str) -> Result<(), String> {
    let Some((key, value)) = assignment.split_once('=') else {
        return Err(format!("--fact {assignment:?}: write key=value"));
    };
    let slot = match key.trim() {
        "task_id" => &mut facts.task_id,
        name => match MatchKey::parse(name) {
            Some(key) => facts.get_mut(key),
            None => {
                if facts
                    .owner
                    .set(name, value)
                    .map_err(|e| format!("--fact {e}"))?
                {
                    return Ok(());
                }
                let known: Vec<&str> = MatchKey::names()
                    .chain(["task_id", "vapp.*", "vm.*", "media.*", "metadata.*"])
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
