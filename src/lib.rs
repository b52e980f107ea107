//! vcd-blockd: consumes VMware Cloud Director blocking-task notifications from RabbitMQ,
//! decides each task with an operator-written policy and acts on it through the vCloud API.

pub mod duration;
pub mod policy;
pub mod task;
