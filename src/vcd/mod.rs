//! The vCloud Director REST API: wire documents ([`model`]) and API versions ([`version`]).

pub mod model;
pub mod version;
