//! The guard's traits ([`crate::guard::api`]) over the real AWS SDK clients: one configuration
//! ([`config`]), clients built lazily per account and region ([`clients`]), and the one guard
//! construction from the environment ([`env`]).

mod clients;
pub mod config;
mod discovery;
pub mod env;
mod errors;
mod notifications;
mod policies;
pub mod s3;
mod security_hub;
mod sqs;

pub use clients::{LazyAws, s3_client};
pub use errors::get_policy_not_found;
