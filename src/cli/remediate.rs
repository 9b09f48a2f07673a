//! `invokeguard remediate`: the Lambda's code path, run from a shell.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Exit;
use super::inputs::CliError;
use super::offline::inputs;
use crate::policies::{Mode, Policies};
use crate::record::parse_input;
use crate::remediate::{EventReport, Guard, LazyAws, Level, Settings, StdoutSink};

/// Judges every record and reconciles what it finds against AWS (or `AWS_ENDPOINT_URL`).
/// Audit lines go to stdout; a JSON report of the run goes to `err`'s stream last.
pub async fn remediate(
    policies: &Path,
    report_only: bool,
    events: &[PathBuf],
    err: &mut dyn Write,
) -> Result<Exit, CliError> {
    let policies =
        Policies::load(policies, None)?.with_mode_override(report_only.then_some(Mode::Report));
    let bus = std::env::var("INVOKEGUARD_EVENT_BUS")
        .ok()
        .filter(|b| !b.is_empty());
    let settings = Settings {
        log_level: Level::Info,
        ..Settings::default()
    };
    let guard = Guard::new(
        policies,
        LazyAws::from_env(bus),
        Arc::new(StdoutSink),
        settings,
    );
    let mut bad = false;
    let mut failed = false;
    let mut report = EventReport::default();
    for (origin, bytes) in inputs(events, err, &mut bad) {
        let found = match parse_input(&bytes, &origin) {
            Ok(found) => found,
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                bad = true;
                continue;
            }
        };
        for rec in found {
            if let Err(e) = guard.handle_record(&rec.record, "cli", &mut report).await {
                let _ = writeln!(
                    err,
                    "error: {origin}: at {}: {e}",
                    if rec.path.is_empty() {
                        "(root)"
                    } else {
                        &rec.path
                    }
                );
                failed = true;
            }
        }
    }
    let _ = writeln!(
        err,
        "{}",
        serde_json::to_string(&report).unwrap_or_default()
    );
    Ok(if bad || failed {
        Exit::BadInput
    } else if report.unfixed > 0 {
        Exit::Findings
    } else {
        Exit::Ok
    })
}
