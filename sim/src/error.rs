//! `SimError`: what can go wrong when starting the sim or asking it to create a task. It
//! gathers the errors of the modules that raise them (`task`, `publish`) and sits above them.

use crate::publish::PublishError;
use crate::task::InvalidTask;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The `SimConfig` is unusable; the message names the field.
    #[error("invalid sim configuration: {0}")]
    Config(String),
    /// The HTTP listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// The `NewTask` is unusable; the message names the field.
    #[error("invalid task: {0}")]
    InvalidTask(#[from] InvalidTask),
    /// The cloud's BlockingTaskSettings do not list the operation: vCD runs it without a
    /// blocking task (and announces none).
    #[error("vCD does not block {0}: its blocking task settings do not list it")]
    NotBlocking(String),
    /// The broker could not be reached or did not confirm a notification. For `create_task`
    /// the task exists anyway, like a vCD whose notification got lost.
    #[error("AMQP: {0}")]
    Amqp(#[from] PublishError),
}
