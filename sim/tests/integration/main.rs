//! vcd-sim's integration tests, one test binary: each module drives a running sim over HTTP
//! (and, for notifications, reads what it published to RabbitMQ on 127.0.0.1:5672) through the
//! shared [`helpers`].

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking; helpers panic with the broken expectation"
)]

mod helpers;

mod auth;
mod control;
mod history;
mod notifications;
mod tasks;
