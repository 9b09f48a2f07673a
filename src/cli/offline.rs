//! `check`: judges CloudTrail records against the policies file (no AWS but `s3://` sources).

use std::io::Write;
use std::path::PathBuf;

use super::args::PoliciesArgs;
use super::error::CliError;
use super::exit::Exit;
use super::hunt::CheckOptions;

/// Judges every record of every source: files, `-` (stdin), directory trees of trail files and
/// `s3://bucket/prefix`, several files at a time. Verdict lines go to `out` in input order (when
/// `opts.json` or stdout is not a terminal); otherwise a summary table of the violations does.
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
    super::hunt::run(&allowlist, sources, &opts, out, err)
}
