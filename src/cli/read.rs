//! Reading one input file of the command line, with errors that name it.

use std::io::Read;
use std::path::Path;

use super::error::CliError;
use crate::record::MAX_INPUT_BYTES;

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
