//! Talking to vCD: the [`client::VcdClient`] (auth, retries), wire documents ([`model`]), API
//! versions ([`version`]) and the only URLs the daemon ever calls ([`urls`]).

pub mod auth;
pub mod client;
pub mod error;
pub mod model;
pub mod negotiate;
pub mod settings;
pub mod urls;
pub mod version;
