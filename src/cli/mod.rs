//! The `invokeguard` command line: one file per command, the shared arguments ([`args`]) and the
//! front door ([`main`]) that runs them.

pub mod args;
mod athena;
#[cfg(feature = "aws")]
mod audit;
pub mod check;
pub mod error;
pub mod exit;
pub mod format;
pub mod guardrails;
#[cfg(feature = "aws")]
mod init;
#[cfg(feature = "aws")]
mod inputs;
pub mod lines;
mod lint;
mod plan;
pub mod read;
#[cfg(feature = "aws")]
mod reconcile;
#[cfg(feature = "aws")]
mod remediate;
#[cfg(feature = "aws")]
mod run;
#[cfg(feature = "aws")]
pub mod runtime;
mod schema;
mod validate;

pub use args::GuardrailsFormat;
pub use args::{Cli, Command, HomeArgs, PoliciesArgs};
pub use athena::athena_sql;
pub use check::check;
pub use error::CliError;
pub use exit::Exit;
pub use guardrails::{GuardrailsArgs, guardrails};
pub use lint::lint;
pub use plan::plan_command;
pub use read::read_limited;
#[cfg(feature = "aws")]
pub use run::main;
pub use schema::schema;
pub use validate::validate;
