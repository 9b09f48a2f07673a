//! `athena-sql`: the Athena saved queries, generated from the policies file (no AWS).

use std::io::Write;

use super::args::PoliciesArgs;
use super::error::CliError;
use super::exit::Exit;
use crate::athena::{Query, Table, sql};

/// Prints the SQL of `query` over `database.table`. Exit 0; 2 on a bad policies file, home or name.
pub fn athena_sql(
    policies: &PoliciesArgs,
    query: Query,
    database: &str,
    table: &str,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Exit, CliError> {
    let allowlist = policies.load_offline()?;
    let table = match Table::new(database, table) {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "invokeguard: error: {e}");
            return Ok(Exit::BadInput);
        }
    };
    write!(out, "{}", sql(&allowlist, query, &table)).map_err(CliError::Output)?;
    Ok(Exit::Ok)
}
