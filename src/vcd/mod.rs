//! Talking to vCD: the [`VcdClient`] (auth, retries), wire documents (`model`), API versions
//! (`version`), the only URLs the daemon ever calls (`urls`) and errors classified by what the
//! caller must do (`error`).

mod auth;
mod client;
mod error;
pub(crate) mod model;
mod negotiate;
pub(crate) mod settings;
mod urls;
pub(crate) mod version;

pub use client::VcdClient;
pub(crate) use error::describe_transport_error;
pub use error::{ErrorClass, VcdError};
pub(crate) use urls::OwnerRef;
pub use version::ApiVersion;
