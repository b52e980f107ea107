//! Talking to vCD: the [`VcdClient`] (auth, retries), wire documents (`model`), API versions
//! (`version`), counting recent tasks in vCD's task history (`count`), the only URLs the
//! daemon ever calls (`urls`), errors classified by what the caller must do (`error`) and the
//! adaptive limit on concurrent requests (`limit`).

mod auth;
mod client;
mod count;
mod error;
mod limit;
pub(crate) mod model;
mod negotiate;
pub(crate) mod settings;
mod urls;
pub(crate) mod version;

pub use client::{ActiveTasks, VcdClient};
pub(crate) use count::TaskCount;
pub(crate) use error::describe_transport_error;
pub use error::{ErrorClass, VcdError};
pub(crate) use limit::{background, same_line, takeover, urgent};
pub(crate) use model::{AmqpSettings, BlockingSettings};
pub(crate) use urls::OwnerRef;
pub use version::ApiVersion;
