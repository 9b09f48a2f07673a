//! `validate`, `check`, `plan` and `schema`: the commands that need no AWS.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::Exit;
use super::args::HomeArgs;
use super::check::CheckOptions;
use super::inputs::{CliError, read_limited};
use crate::allowlist::Allowlist;
use crate::aws::home::Home;
use crate::plan::plan;
use crate::resource_policy::ResourcePolicy;

pub fn validate(
    file: &Path,
    guard: Option<&str>,
    home: &HomeArgs,
    err: &mut dyn Write,
) -> Result<Exit, CliError> {
    let policies = Allowlist::load(file, guard)?;
    set_offline_home(&policies, home)?;
    for w in policies.warnings() {
        let _ = writeln!(
            err,
            "warning: {}: at {}: {}",
            policies.origin(),
            w.path,
            w.message
        );
    }
    let _ = writeln!(
        err,
        "{}: valid ({} guarded functions)",
        policies.origin(),
        policies.functions().count()
    );
    Ok(Exit::Ok)
}

/// Judges every record of every source: files, `-` (stdin), directory trees of trail files and
/// `s3://bucket/prefix`, several files at a time. Verdict lines go to `out` in input order (when
/// `opts.json` or stdout is not a terminal); otherwise a summary table of the violations does.
/// A bad input or record is reported on `err` and makes the exit code 2, but the other records
/// are still judged.
pub fn check(
    policies: &Path,
    home: &HomeArgs,
    sources: &[PathBuf],
    opts: &CheckOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Exit, CliError> {
    let policies = Allowlist::load(policies, None)?;
    set_offline_home(&policies, home)?;
    let opts = CheckOptions {
        region: opts.region.clone().or_else(|| home.region.clone()),
        ..opts.clone()
    };
    super::check::run(&policies, sources, &opts, out, err)
}

/// The inputs named on the command line, or stdin when there are none.
pub(super) fn inputs(
    events: &[PathBuf],
    err: &mut dyn Write,
    bad: &mut bool,
) -> Vec<(String, Vec<u8>)> {
    let stdin = [PathBuf::from("-")];
    let paths = if events.is_empty() {
        &stdin[..]
    } else {
        events
    };
    let mut out = Vec::new();
    for p in paths {
        match read_limited(p) {
            Ok(input) => out.push(input),
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                *bad = true;
            }
        }
    }
    out
}

pub fn plan_command(
    policies: &Path,
    home: &HomeArgs,
    function: &str,
    current: &Path,
    out: &mut dyn Write,
) -> Result<Exit, CliError> {
    let policies = Allowlist::load(policies, None)?;
    set_offline_home(&policies, home)?;
    let (name, arn, qualifier) = split_function_arg(function)?;
    let (key, guarded) =
        policies
            .lookup(&name, arn.as_deref())
            .ok_or_else(|| CliError::NotGuarded {
                function: function.to_owned(),
                policies: policies.origin().to_owned(),
            })?;
    let (file, bytes) = read_limited(current)?;
    let text = String::from_utf8(bytes).map_err(|_| CliError::Current {
        file: file.clone(),
        source: crate::resource_policy::PolicyDocError::Json("not UTF-8 text".to_owned()),
    })?;
    let current =
        ResourcePolicy::parse(&text).map_err(|source| CliError::Current { file, source })?;
    // With the home known, each statement's Resource is judged against the function's ARN.
    let mut plan = plan(
        &policies.api_function(key),
        qualifier.as_deref(),
        &guarded.allow,
        &current,
        policies.apply_for(guarded),
    );
    plan.function = key.as_str().to_owned();
    let json = serde_json::to_string_pretty(&plan).map_err(|e| CliError::Output(e.into()))?;
    writeln!(out, "{json}").map_err(CliError::Output)?;
    Ok(if plan.is_empty() {
        Exit::Ok
    } else {
        Exit::Findings
    })
}

/// Offline, a name matches anywhere unless both `--account` and `--region` are given.
fn set_offline_home(policies: &Allowlist, home: &HomeArgs) -> Result<(), CliError> {
    match (&home.account, &home.region) {
        (Some(account), Some(region)) => {
            let home = Home::new(Home::partition_of_region(region), region, account)
                .map_err(|e| CliError::Home(e.to_string()))?;
            policies.set_home(home)?;
            Ok(())
        }
        (None, None) => Ok(()),
        _ => Err(CliError::Home(
            "give both --account and --region, or neither".into(),
        )),
    }
}

/// `NAME`, `NAME:QUALIFIER`, `arn:…:function:NAME[:QUALIFIER]` → (name, unqualified ARN, qualifier).
fn split_function_arg(arg: &str) -> Result<(String, Option<String>, Option<String>), CliError> {
    let bad = || CliError::FunctionArg(arg.to_owned());
    let parts: Vec<&str> = arg.split(':').collect();
    let (name, arn, qualifier) = match parts.as_slice() {
        ["arn", p, "lambda", r, a, "function", name, rest @ ..] if rest.len() <= 1 => (
            *name,
            Some(format!("arn:{p}:lambda:{r}:{a}:function:{name}")),
            rest.first().copied(),
        ),
        [name] => (*name, None, None),
        [name, q] => (*name, None, Some(*q)),
        _ => return Err(bad()),
    };
    if !crate::aws::ids::is_function_name(name)
        || qualifier.is_some_and(|q| q.is_empty() || q == "$LATEST")
    {
        return Err(bad());
    }
    Ok((name.to_owned(), arn, qualifier.map(str::to_owned)))
}

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
