//! `invokeguard schema`: the JSON Schemas of the policies file and of a log line (no AWS).

use std::io::Write;

use super::error::CliError;
use super::exit::Exit;

/// The JSON Schema of the policies file, or with `log_line` of a log line the guard writes.
pub fn schema(log_line: bool, out: &mut dyn Write) -> Result<Exit, CliError> {
    let schema = if log_line {
        crate::log::line::json_schema()
    } else {
        crate::allowlist::json_schema()
    };
    let json = serde_json::to_string_pretty(&schema).map_err(|e| CliError::Output(e.into()))?;
    writeln!(out, "{json}").map_err(CliError::Output)?;
    Ok(Exit::Ok)
}
