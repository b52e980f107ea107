//! Webhooks (`[[notify]]`, DESIGN §5a): people are told when a task is held, decided by a
//! person, expires or stops being kept alive.

pub(crate) mod settings;
