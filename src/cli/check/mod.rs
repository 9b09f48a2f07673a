//! `check` over history: many trail files (directory trees, S3 prefixes) judged in parallel,
//! verdict lines written in input order, a progress bar and a table of the violations.
//!
//! The data flows through the files in this order: `sources` (which files a source names),
//! `pool` (one thread enumerating them, a pool of threads judging them), `judge` (one input
//! through the record reader), `totals` (violations per function and caller) and `report`
//! (lines in input order, the progress line, the table).

mod judge;
mod pool;
mod report;
pub mod sources;
#[cfg(test)]
mod tests;
mod totals;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::mpsc::sync_channel;

use crate::allowlist::Allowlist;
use crate::cli::args::PoliciesArgs;
use crate::cli::error::CliError;
use crate::cli::exit::Exit;
use crate::cli::format::{Artifact, Format};
use pool::{Job, Slot};
use sources::{Day, Range};

/// How `check` reads and reports, besides its sources.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Files whose path carries a day (`YYYY/MM/DD`) before this one are not read.
    pub since: Option<Day>,
    /// Files whose path carries a day after this one are not read.
    pub until: Option<Day>,
    /// What goes to stdout: verdict lines (json), or the violations as a table, CSV or SARIF.
    pub format: Format,
    pub stderr_terminal: bool,
    /// The home region, for an S3 client when no region is configured.
    pub region: Option<String>,
}

/// Judges every record of every source: files, `-` (stdin), directory trees of trail files and
/// `s3://bucket/prefix`, several files at a time. Verdict lines go to `out` in input order with
/// [`Format::Json`]; otherwise the violations do, as a table, CSV rows or a SARIF log.
/// A bad input or record is reported on `err` and makes the exit code 2, but the other records
/// are still judged.
pub fn check(
    policies: &PoliciesArgs,
    sources: &[PathBuf],
    opts: &CheckOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Exit, CliError> {
    let allowlist = policies.load_offline()?;
    let opts = CheckOptions {
        region: opts.region.clone().or_else(|| policies.home.region.clone()),
        ..opts.clone()
    };
    let artifact = Artifact::of(&policies.policies);
    run(&allowlist, sources, &opts, &artifact, out, err)
}

/// Judges every record of every source against an allowlist already loaded (`artifact`: the
/// policies file, where SARIF results point).
pub fn run(
    allowlist: &Allowlist,
    sources: &[PathBuf],
    opts: &CheckOptions,
    artifact: &Artifact,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Exit, CliError> {
    let range = Range {
        since: opts.since,
        until: opts.until,
    };
    let stdin = [PathBuf::from("-")];
    let sources = if sources.is_empty() {
        &stdin[..]
    } else {
        sources
    };
    let workers = std::thread::available_parallelism()
        .map_or(2, std::num::NonZeroUsize::get)
        .clamp(1, 16);
    let (job_tx, job_rx) = sync_channel::<Job>(workers);
    let (slot_tx, slot_rx) = sync_channel::<Slot>(workers * 2 + 2);
    let job_rx = Mutex::new(job_rx);
    std::thread::scope(|s| {
        let region = opts.region.clone();
        s.spawn(move || pool::dispatch(sources, range, region.as_deref(), &job_tx, &slot_tx));
        for _ in 0..workers {
            let job_rx = &job_rx;
            s.spawn(move || pool::work(allowlist, job_rx));
        }
        let to = report::Output {
            format: opts.format,
            artifact,
            stderr_terminal: opts.stderr_terminal,
            home: allowlist.home().cloned(),
        };
        report::write_results(slot_rx, &to, out, err)
    })
}
