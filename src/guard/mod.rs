//! The guard: the shell that fetches, applies, logs and notifies around the pure engine.

pub mod api;
pub mod budget;
mod change;
pub mod coalesce;
pub mod discover;
pub mod memory;
pub mod missing;
pub mod shell;
pub mod sweep;
pub mod trail_file;

pub use crate::log::{Level, LogSink, MemorySink, StdoutSink};
pub use api::{ApiError, Aws, Dedup, Discovery, Notifier, Objects, PolicyApi};
pub use shell::{EventReport, Guard, GuardError, Settings};
