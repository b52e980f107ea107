//! The daemon's integration tests, one test binary: each module tests one capability against a
//! real RabbitMQ on 127.0.0.1:5672 and an in-process vcd-sim, through the shared [`helpers`].
//! Exchange and queue names are unique to each test, so tests run in parallel on one broker.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking; helpers panic with the broken expectation"
)]

mod browser;
mod decision_service;
mod helpers;
mod smtp_sink;

mod approval_rules;
mod approvers;
mod ask;
mod broker;
mod cli;
mod container;
mod delivery;
mod doctor;
mod e2e;
mod explain;
mod ha;
mod holds;
mod hostile;
mod journal;
mod listeners;
mod mail;
mod owner_facts;
mod poll;
mod quotas;
mod slack;
mod slack_standin;
mod systemd;
mod ui;
mod unreadable;
mod vcd_client;
mod vcd_load;
mod vcd_sessions;
mod vcd_settings;
mod webhooks;
mod windows;
