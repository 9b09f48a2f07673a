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
    let policies = Allowlist::load(file, guard)?;
    home.set_offline(&policies)?;
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
