//! Reading the CLI's input files, with errors that name them.

use std::io::Read;
use std::path::Path;

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
    #[error("home account and region: {0}")]
    Home(String),
}

/// Reads a file (or stdin for `-`) of at most [`MAX_INPUT_BYTES`].
pub fn read_limited(path: &Path) -> Result<(String, Vec<u8>), CliError> {
    let name = path.display().to_string();
    let read_err = |source| CliError::Read {
        file: name.clone(),
        source,
    };
    let mut bytes = Vec::new();
    if name == "-" {
        std::io::stdin()
            .take(MAX_INPUT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
        return finish("(stdin)".to_owned(), bytes);
    }
    if std::fs::metadata(path).map_err(read_err)?.is_dir() {
        return Err(CliError::Directory { file: name });
    }
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes))
        .map_err(read_err)?;
    finish(name, bytes)
}

fn finish(name: String, bytes: Vec<u8>) -> Result<(String, Vec<u8>), CliError> {
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(CliError::TooLarge { file: name });
    }
    Ok((name, bytes))
}
