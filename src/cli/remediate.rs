//! `invokeguard remediate`: the Lambda's code path, run from a shell. Every input goes through
//! the Lambda's own entry: a scheduled event sweeps, an S3 event reads its trail files, and
//! each CloudTrail record (an Invoke, a management event) takes the Lambda's per-record dispatch.

use std::io::Write;
use std::path::PathBuf;

use super::args::PoliciesArgs;
use super::error::CliError;
use super::exit::Exit;
use super::inputs::{Input, inputs_of};
use super::lines::{LogFormat, Run, sink_for, write_report};
use crate::guard::EventReport;
use crate::sdk::env::cli_guard;

/// Judges every record and reconciles what it finds against AWS (or `AWS_ENDPOINT_URL`).
/// Log lines go to stdout; a report of the run goes to `err`'s stream last (JSON, or a recap
/// in words with [`LogFormat::Table`]).
pub async fn remediate(
    policies: &PoliciesArgs,
    report_only: bool,
    format: LogFormat,
    events: &[PathBuf],
    err: &mut dyn Write,
) -> Result<Exit, CliError> {
    let (allowlist, _) = policies.load_online(report_only).await?;
    let sink = sink_for(format, &allowlist, false);
    let guard = cli_guard(allowlist, sink);
    let mut bad = false;
    let mut failed = false;
    let mut report = EventReport::default();
    for (origin, input) in inputs_of(events, err, &mut bad) {
        let (path, result) = match input {
            Input::Event { path, event } => match guard.handle_event(event, "cli").await {
                Ok(r) => {
                    report.add(&r);
                    (path, Ok(()))
                }
                Err(e) => (path, Err(e)),
            },
            Input::Record(rec) => {
                let result = guard.handle_record(&rec.record, "cli", &mut report).await;
                (rec.path, result)
            }
        };
        if let Err(e) = result {
            let at = if path.is_empty() { "(root)" } else { &path };
            let _ = writeln!(err, "error: {origin}: at {at}: {e}");
            failed = true;
        }
    }
    write_report(format, Run::Records, &report, err);
    Ok(Exit::of(bad || failed, report.unfixed > 0))
}
