//! vcd-blockd: consumes VMware Cloud Director blocking-task notifications from RabbitMQ,
//! decides each task with an operator-written policy and acts on it through the vCloud API.
//!
//! Flow: [`amqp`] receives a delivery → [`notification`] parses it → [`engine`] reads the
//! task through [`vcd`], asks [`policy`] for a decision and carries it out → [`amqp`] acks.

pub mod amqp;
pub mod backoff;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod duration;
pub mod engine;
pub mod health;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod notification;
pub mod policy;
pub mod reload;
pub mod task;
pub mod timestamp;
pub mod vcd;
pub mod xml;

#[cfg(test)]
mod tests;
