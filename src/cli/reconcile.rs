//! `invokeguard reconcile`: the sweep, from a shell: every guarded policy brought to the
//! allowlist (in each function's mode; `--report` changes nothing), with a progress bar on a
//! terminal. Log lines go to stdout, as the Lambda writes them, or one readable line each.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use super::args::PoliciesArgs;
use super::error::CliError;
use super::exit::Exit;
use super::lines::{LogFormat, Run, sink_for, write_report};
use crate::guard::GuardError;
use crate::sdk::env::cli_guard;

pub async fn reconcile(
    policies: &PoliciesArgs,
    report_only: bool,
    format: LogFormat,
    err: &mut dyn Write,
) -> Result<Exit, CliError> {
    let (allowlist, _) = policies.load_online(report_only).await?;
    let bar = std::io::stderr().is_terminal();
    let sink = sink_for(format, &allowlist, bar);
    let mut guard = cli_guard(allowlist, Arc::clone(&sink));
    if bar {
        guard = guard.with_progress(Box::new(|done, total| {
            let width = 30;
            let filled = (done * width).checked_div(total).unwrap_or(width);
            eprint!(
                "\r[{}{}] {done}/{total} functions",
                "#".repeat(filled),
                " ".repeat(width - filled)
            );
            if done == total {
                eprintln!();
            }
        }));
    }
    let result = guard.sweep("cli", None).await;
    match result {
        Ok(report) => {
            write_report(format, Run::Sweep, &report, err);
            Ok(Exit::of(false, report.unfixed > 0))
        }
        Err(e @ GuardError::Incomplete { .. }) => {
            let _ = writeln!(err, "error: {e}");
            Ok(Exit::BadInput)
        }
        Err(e) => Err(CliError::Remediation(e.to_string())),
    }
}
