//! What stops a command, naming the file, flag or call at fault.

use crate::allowlist::AllowlistError;
use crate::record::{InputError, MAX_INPUT_BYTES};
use crate::resource_policy::PolicyDocError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: is a directory, expected a file")]
    Directory { file: String },
    #[error("{file}: is larger than {MAX_INPUT_BYTES} bytes")]
    TooLarge { file: String },
    #[error(transparent)]
    Allowlist(#[from] AllowlistError),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{file}: {source}")]
    Current {
        file: String,
        source: PolicyDocError,
    },
    #[error("--function {0:?}: expected NAME, NAME:QUALIFIER or a function ARN")]
    FunctionArg(String),
    #[error("{function:?} is not in the policies file {policies}")]
    NotGuarded { function: String, policies: String },
    #[error("cannot write the output: {0}")]
    Output(std::io::Error),
    #[error("{0}")]
    Remediation(String),
    #[error("{file}: {message}")]
    Template { file: String, message: String },
    #[error("home account and region: {0}")]
    Home(String),
    #[error("{0}")]
    Guardrails(String),
}
