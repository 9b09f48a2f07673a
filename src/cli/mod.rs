//! The `invokeguard` command line: argument parsing and the offline commands.

mod args;
mod athena;
#[cfg(feature = "aws")]
mod audit;
pub mod check;
#[cfg(feature = "aws")]
mod init;
mod inputs;
mod offline;
#[cfg(feature = "aws")]
mod reconcile;
#[cfg(feature = "aws")]
mod remediate;
mod sources;

pub use args::{Cli, Command, HomeArgs};
pub use athena::athena_sql;
#[cfg(feature = "aws")]
pub use audit::audit;
#[cfg(feature = "aws")]
pub use init::init;
pub use inputs::{CliError, read_limited};
pub use offline::{check, plan_command, schema, validate};
#[cfg(feature = "aws")]
pub use reconcile::reconcile;
#[cfg(feature = "aws")]
pub use remediate::remediate;

/// Exit codes of the contract: 0 nothing to report, 1 violations or changes, 2 bad input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Findings = 1,
    BadInput = 2,
}
