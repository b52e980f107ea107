//! Settling a message: the loop every source with messages to answer for runs (AMQP
//! deliveries today; a chat click or a journal entry alike). A [`Message`] is decoded into the
//! task it announces, the engine handles the task, and the message is then acknowledged,
//! dead-lettered, or, while vCD is in trouble, kept and retried with backoff
//! ([`Backoff::DELIVERY`], well inside RabbitMQ's 30-minute consumer timeout) and finally given
//! back. Exactly one of these happens, unless the daemon stops first.

use std::future::Future;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::engine::{Disposition, Engine, Origin};
use crate::outcome::{DeadLetterReason, TaskOutcome};
use crate::task::TaskId;

/// Why a message can never be handled; the same message would fail the same way again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Undecodable {
    pub reason: DeadLetterReason,
    /// For the operator (a dead letter's header, the log).
    pub detail: String,
}

/// A received message its source must settle once.
pub(crate) trait Message: Send {
    /// The blocking task it announces; `None` for a message about anything else.
    fn decode(&self) -> Result<Option<TaskId>, Undecodable>;

    /// Done with it: its task was handled, or it announced none.
    fn ack(self) -> impl Future<Output = ()> + Send;

    /// Puts it aside for good, with why, and logs it with what identifies it to the operator.
    fn dead_letter(self, why: &Undecodable) -> impl Future<Output = ()> + Send;

    /// Hands it back to be received again later (vCD stayed in trouble).
    fn give_back(self) -> impl Future<Output = ()> + Send;
}

/// How a message was settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Acknowledged after the engine handled its task with this outcome.
    Task(TaskOutcome),
    /// Acknowledged: it announced no blocking task.
    NoTask,
    /// Dead-lettered.
    DeadLettered(DeadLetterReason),
    /// Given back after the retry window.
    GivenBack,
    /// Left unsettled because the daemon stops; it returns to its source (an unacknowledged
    /// delivery returns to the queue with the channel).
    Stopping,
}

/// Decodes `message`, hands its task to the engine as from `origin`, and settles it as the
/// engine's [`Disposition`] says, retrying transient trouble until `shutdown`.
pub(crate) async fn settle(
    message: impl Message,
    engine: &Engine,
    origin: Origin,
    shutdown: &CancellationToken,
) -> Settled {
    let received = Instant::now();
    let id = match message.decode() {
        Ok(Some(id)) => id,
        Ok(None) => {
            message.ack().await;
            return Settled::NoTask;
        }
        Err(why) => return dead_letter(message, &why).await,
    };
    let mut schedule = Backoff::DELIVERY.schedule();
    loop {
        match engine.handle_task(id, received, origin).await {
            Disposition::Ack(outcome) => {
                message.ack().await;
                return Settled::Task(outcome);
            }
            Disposition::DeadLetter { reason, detail } => {
                return dead_letter(message, &Undecodable { reason, detail }).await;
            }
            Disposition::Retry(error) => {
                tracing::warn!(%error, task_id = %id, attempt = schedule.attempts(), "vCD trouble; will retry");
                if schedule.wait(shutdown).await {
                    continue;
                }
                if shutdown.is_cancelled() {
                    return Settled::Stopping;
                }
                tracing::warn!(%error, task_id = %id, "still failing; giving the message back");
                message.give_back().await;
                return Settled::GivenBack;
            }
        }
    }
}

async fn dead_letter(message: impl Message, why: &Undecodable) -> Settled {
    message.dead_letter(why).await;
    Settled::DeadLettered(why.reason)
}
