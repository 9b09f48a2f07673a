//! `invokeguard validate`: checks a policies file (no AWS).

use std::io::Write;
use std::path::Path;

use super::args::HomeArgs;
use super::error::CliError;
use super::exit::Exit;
use crate::allowlist::Allowlist;

pub fn validate(
    file: &Path,
    guard: Option<&str>,
    home: &HomeArgs,
    err: &mut dyn Write,
) -> Result<Exit, CliError> {
    let allowlist = Allowlist::load(file, guard)?;
    home.set_offline(&allowlist)?;
    for w in allowlist.warnings() {
        let _ = writeln!(
            err,
            "warning: {}: at {}: {}",
            allowlist.origin(),
            w.path,
            w.message
        );
    }
    let _ = writeln!(
        err,
        "{}: valid ({} guarded functions)",
        allowlist.origin(),
        allowlist.functions().count()
    );
    Ok(Exit::Ok)
}
