//! Remediation: the shell that fetches, applies, logs and notifies around the pure engine.

pub mod api;
pub mod audit;
#[cfg(feature = "aws")]
pub mod aws;
pub mod coalesce;
pub mod guard;
pub mod memory;

pub use api::{ApiError, Notifier, PolicyApi};
pub use audit::{Level, LogSink, MemorySink, StdoutSink};
#[cfg(feature = "aws")]
pub use aws::LazyAws;
pub use guard::{EventReport, Guard, GuardError, Settings};
