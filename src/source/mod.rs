//! Sources of task ids. A source turns its input into [`TaskId`](crate::task::TaskId)s and
//! hands each to [`Engine::handle_task`](crate::engine::Engine::handle_task), then does what
//! the returned [`Disposition`](crate::engine::Disposition) says with whatever announced it.
//!
//! - [`amqp`]: the fast source, vCD's notifications on RabbitMQ; acks after the side effect.
//! - [`reconcile`]: the safety net, vCD's list of active blocking tasks, at start and every
//!   `reconcile.interval`.

pub(crate) mod amqp;
pub(crate) mod reconcile;
