//! `athena-sql`: the Athena saved queries, generated from the policies file (no AWS).

use std::io::Write;
use std::path::Path;

use super::Exit;
use super::args::HomeArgs;
use super::inputs::CliError;
use crate::allowlist::Allowlist;
use crate::athena::{Query, Table, sql};
use crate::aws::home::Home;

/// Prints the SQL of `query` over `database.table`. Exit 0; 2 on a bad policies file, home or name.
pub fn athena_sql(
    policies: &Path,
    home: &HomeArgs,
    query: Query,
    database: &str,
    table: &str,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Exit, CliError> {
    let policies = Allowlist::load(policies, None)?;
    match (&home.account, &home.region) {
        (Some(account), Some(region)) => {
            let home = Home::new(Home::partition_of_region(region), region, account)
                .map_err(|e| CliError::Home(e.to_string()))?;
            policies.set_home(home)?;
        }
        (None, None) => {}
        _ => {
            return Err(CliError::Home(
                "give both --account and --region, or neither".into(),
            ));
        }
    }
    let table = match Table::new(database, table) {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "invokeguard: error: {e}");
            return Ok(Exit::BadInput);
        }
    };
    write!(out, "{}", sql(&policies, query, &table)).map_err(CliError::Output)?;
    Ok(Exit::Ok)
}
