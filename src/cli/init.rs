//! `invokeguard init`: a starting policies file from today's grants, in report mode, with a
//! warning for every grant it leaves out.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::args::HomeArgs;
use super::error::CliError;
use super::exit::Exit;
use crate::allowlist::Allowlist;
use crate::draft::draft;
use crate::guard::budget::Budget;
use crate::guard::{Discovery, PolicyApi};

pub async fn init(
    functions: &[String],
    home: &HomeArgs,
    output: Option<&Path>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Exit, CliError> {
    if let Some(path) = output
        && path.exists()
    {
        return Err(CliError::Remediation(format!(
            "{}: exists already; init never overwrites a policies file",
            path.display()
        )));
    }
    let home = home.resolve().await?;
    let aws = crate::sdk::env::aws(None);
    let budget = Budget::sweep();
    let names: Vec<String> = if functions.is_empty() {
        budget.take().await;
        aws.list_functions()
            .await
            .map_err(|e| CliError::Remediation(format!("ListFunctions failed: {e}")))?
    } else {
        functions.to_vec()
    };
    let mut guarded = Map::new();
    for name in &names {
        budget.take().await;
        let policy = aws
            .get_policy(&home.function_arn(name), None)
            .await
            .map_err(|e| CliError::Remediation(format!("{name}: GetPolicy failed: {e}")))?;
        let drafted = draft(name, &home.account, &policy);
        for w in &drafted.warnings {
            let _ = writeln!(err, "warning: {w}");
        }
        guarded.insert(name.clone(), json!({ "allow": drafted.entries }));
    }
    let file = json!({
        "$schema": "./invokers.schema.json",
        "version": 1,
        "defaults": { "mode": "report" },
        "functions": Value::Object(guarded),
    });
    let text = serde_json::to_string_pretty(&file).map_err(|e| CliError::Output(e.into()))?;
    // What init writes must be a valid policies file.
    Allowlist::from_json(&text, "(init)", None)?;
    match output {
        Some(path) => {
            std::fs::write(path, format!("{text}\n")).map_err(|source| CliError::Read {
                file: PathBuf::from(path).display().to_string(),
                source,
            })?
        }
        None => writeln!(out, "{text}").map_err(CliError::Output)?,
    }
    let _ = writeln!(
        err,
        "{} function(s) drafted in report mode: review the warnings, then run `invokeguard audit`",
        names.len()
    );
    Ok(Exit::Ok)
}
