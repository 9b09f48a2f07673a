//! `validate`, `check`, `plan` and `schema`: the commands that need no AWS.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::Exit;
use super::args::HomeArgs;
use super::inputs::{CliError, read_limited};
use crate::allowlist::Allowlist;
use crate::home::Home;
use crate::plan::plan;
use crate::record::{FoundRecord, InputError, for_each_record, invocation, parse_input};
use crate::resource_policy::ResourcePolicy;
use crate::verdict::{Outcome, decide};

pub fn validate(file: &Path, guard: Option<&str>, err: &mut dyn Write) -> Result<Exit, CliError> {
    let policies = Allowlist::load(file, guard)?;
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

/// Judges every record of every input. A bad input or record is reported on `err` and makes the
/// exit code 2, but the other records are still judged.
pub fn check(
    policies: &Path,
    home: &HomeArgs,
    events: &[PathBuf],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Exit, CliError> {
    let policies = Allowlist::load(policies, None)?;
    set_offline_home(&policies, home)?;
    let mut bad = false;
    let mut violating = false;
    let mut output: Result<(), CliError> = Ok(());
    // Records are judged as they are read: a trail file of any size holds one record at a time.
    for (origin, bytes) in inputs(events, err, &mut bad) {
        let mut judge = |rec: FoundRecord| -> Result<(), InputError> {
            match invocation(&rec.record) {
                Ok(inv) => {
                    let verdict = decide(&policies, &inv);
                    violating |= verdict.verdict == Outcome::Violation;
                    let written = serde_json::to_string(&verdict)
                        .map_err(|e| CliError::Output(e.into()))
                        .and_then(|line| writeln!(out, "{line}").map_err(CliError::Output));
                    if let Err(e) = written {
                        output = Err(e);
                        return Err(InputError::Empty {
                            origin: "(stdout)".into(),
                        });
                    }
                }
                Err(e) => {
                    let at = if rec.path.is_empty() {
                        e.path.clone()
                    } else {
                        format!("{}.{}", rec.path, e.path)
                    };
                    let _ = writeln!(err, "error: {origin}: at {at}: {}", e.message);
                    bad = true;
                }
            }
            Ok(())
        };
        if let Err(e) = for_each_record(&bytes, &origin, &mut judge) {
            std::mem::replace(&mut output, Ok(()))?;
            let _ = writeln!(err, "error: {e}");
            bad = true;
        }
    }
    Ok(if bad {
        Exit::BadInput
    } else if violating {
        Exit::Findings
    } else {
        Exit::Ok
    })
}

/// The inputs named on the command line, or stdin when there are none.
fn inputs(events: &[PathBuf], err: &mut dyn Write, bad: &mut bool) -> Vec<(String, Vec<u8>)> {
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

/// Every record of every input, with its input's name. An unreadable or malformed input is
/// reported on `err` and sets `bad`; the others are still read.
pub(crate) fn records(
    events: &[PathBuf],
    err: &mut dyn Write,
    bad: &mut bool,
) -> Vec<(String, FoundRecord)> {
    let mut out = Vec::new();
    for (origin, bytes) in inputs(events, err, bad) {
        match parse_input(&bytes, &origin) {
            Ok(found) => out.extend(found.into_iter().map(|r| (origin.clone(), r))),
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
    let plan = plan(
        key.as_str(),
        qualifier.as_deref(),
        &guarded.allow,
        &current,
        policies.apply_for(guarded),
    );
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
    if !crate::allowlist::ids::is_function_name(name)
        || qualifier.is_some_and(|q| q.is_empty() || q == "$LATEST")
    {
        return Err(bad());
    }
    Ok((name.to_owned(), arn, qualifier.map(str::to_owned)))
}

/// The JSON Schema of the policies file, or with `log_line` of a log line the guard writes.
pub fn schema(log_line: bool, out: &mut dyn Write) -> Result<Exit, CliError> {
    let schema = if log_line {
        crate::remediate::log::json_schema()
    } else {
        crate::allowlist::json_schema()
    };
    let json = serde_json::to_string_pretty(&schema).map_err(|e| CliError::Output(e.into()))?;
    writeln!(out, "{json}").map_err(CliError::Output)?;
    Ok(Exit::Ok)
}
