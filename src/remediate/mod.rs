//! Remediation: the shell that fetches, applies, logs and notifies around the pure engine.

pub mod api;
pub mod audit;
#[cfg(feature = "aws")]
pub mod aws;
pub mod budget;
pub mod coalesce;
pub mod discover;
pub mod guard;
pub mod log;
pub mod memory;
pub mod missing;
mod on_change;
pub mod sweep;
pub mod trail_file;

pub use api::{ApiError, Aws, Dedup, Discovery, Notifier, Objects, PolicyApi};
pub use audit::{Level, LogSink, MemorySink, StdoutSink};
#[cfg(feature = "aws")]
pub use aws::LazyAws;
pub use guard::{EventReport, Guard, GuardError, Settings};
