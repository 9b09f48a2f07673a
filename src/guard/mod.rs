//! The guard: the shell that fetches, applies, logs and notifies around the pure engine.
//!
//! One event's path: [`shell`] (the front door: which kind of event?) → `dispatch` (each
//! record: change or Invoke?) → `change` / `invoke` (which policies?) → `reconcile` (claim,
//! fetch, plan) → `apply` (write) → back in `reconcile`: notify and the `summary` line. The
//! sweep (`sweep`, over [`discover`]) and the trail files (`trail_file`, through `dispatch`)
//! enter the same way. All of them share the guard's `state`; none calls back into a file
//! that calls it.

pub mod api;
mod apply;
pub mod budget;
mod change;
pub mod coalesce;
pub mod discover;
mod dispatch;
mod invoke;
pub mod memory;
pub mod missing;
mod plan_sweep;
mod reconcile;
mod report;
pub mod shell;
mod state;
pub mod sweep;
pub mod trail_file;

pub use crate::log::{Level, LogSink, MemorySink, StdoutSink};
pub use api::{
    ApiError, Aws, Dedup, Discovery, Findings, Notifier, Objects, PolicyApi, QueueEntry, SweepQueue,
};
pub use shell::{BatchItemFailure, EventReport, Guard, GuardError, Progress, Settings};
