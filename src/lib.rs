//! vcd-blockd: decides VMware Cloud Director blocking tasks. Sources (vCD's notifications on
//! RabbitMQ, reconciliation against vCD's list of active tasks) hand task ids to the engine,
//! which reads each task through the vCloud API, asks the operator's policy for a decision and
//! carries it out, holding tasks that wait for a person. `ARCHITECTURE.md` maps the layers.
//!
//! # Layout
//!
//! - `source/`: where task ids come from (`amqp/`, `reconcile`); decode at the edge.
//! - `engine/`: one task's life (read, decide, act, hold), holds and their scheduler.
//! - `policy/`: the policy language, parsed, checked and evaluated by the pure `decide`.
//! - `vcd/`: the only code that talks to vCD; wire types stay in `vcd/model`.
//! - `http`, `metrics`, `health`, `engine/audit`: what operators see.
//! - `journal/`: what must outlive the process (recorded approvals, the decision history),
//!   in the broker's stream or poll mode's file.
//! - `approvers/`: who may decide which held task (the approvers file, tokens, scope).
//! - `notify/`: webhooks telling people about held tasks; the engine only queues.
//! - `ask/`: decision services (`[[ask]]`) that rules hand a decision to; the engine asks.
//! - `task`, `facts`, `outcome`: the shared words at the bottom.
//! - `commands/`: what `main.rs` runs, one function per command.
//! - `fuzzing`: the parsers' entry points for the fuzz targets in `fuzz/` and the corpus replay.
//!
//! Everything is private; what the binary, the tests and the benchmarks use is re-exported
//! here.

mod admin;
mod approvers;
mod ask;
mod backoff;
pub mod commands;
mod config;
mod daemon;
mod duration;
mod engine;
mod facts;
pub mod fuzzing;
mod glob;
mod health;
mod http;
mod journal;
mod leadership;
mod liveness;
mod located;
mod logging;
mod metrics;
mod notify;
mod operations;
mod outcome;
mod policy;
mod reload;
mod slack;
mod source;
mod systemd;
mod task;
mod timestamp;
mod tls;
mod token_file;
mod vcd;
mod xml;

pub use approvers::{ApproversError, ApproversErrors};
pub use config::{ApiVersionChoice, Settings, VcdAuth, VcdSettings};
pub use daemon::Daemon;
pub use engine::{HeldTask, HoldRegistry, Origin};
pub use facts::{
    CountSource, FactGroup, FactKind, FactValue, MatchKey, Needs, OwnerFact, OwnerFacts,
    QuotaCount, QuotaCounts, Record, TaskFacts, Unknown, UnknownFact, Value,
};
pub use health::Health;
pub use journal::{DecisionRecord, Journal};
pub use metrics::Metrics;
pub use policy::{
    Action, Answer, ApprovalRule, Ask, Decision, OnError, Policy, PolicyErrors, decide,
};
pub use task::{Approval, FinalAction, HoldView, TaskId};
pub use tls::install_crypto_provider;
pub use vcd::{ActiveTasks, ApiVersion, ErrorClass, VcdClient, VcdError};

/// vCD's wire formats, for benchmarks and fuzzing: the notification, BlockingTask and task-list
/// parsers the daemon runs on everything vCD and the broker send it.
pub mod wire {
    pub use crate::source::amqp::notification::{
        BLOCKING_TASK_CREATE, Delivery, HeaderValue, Headers, Notification, NotificationError,
        parse as parse_notification,
    };
    pub use crate::vcd::model::{
        TaskPage, TaskReferences, parse_blocking_task, parse_task_page, parse_task_references,
    };
}

#[cfg(test)]
mod tests;
