//! `invokeguard validate`: checks a policies file (no AWS).

use std::io::Write;
use std::path::Path;

use super::args::HomeArgs;
use super::error::CliError;
use super::exit::Exit;
use crate::allowlist::{Allowlist, AllowlistError};

pub fn validate(
    file: &Path,
    guard: Option<&str>,
    home: &HomeArgs,
    err: &mut dyn Write,
) -> Result<Exit, CliError> {
    let allowlist = match Allowlist::load(file, guard) {
        Ok(allowlist) => allowlist,
        Err(e) => return several(e.into(), err),
    };
    if let Err(e) = home.set_offline(&allowlist) {
        return several(e, err);
    }
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

/// Several mistakes, each on its own line as the front door prints one; one is returned as is,
/// so that its message stays the one error line of every command.
fn several(e: CliError, err: &mut dyn Write) -> Result<Exit, CliError> {
    match e {
        CliError::Allowlist(AllowlistError::Several(list)) => {
            for one in &list {
                let _ = writeln!(err, "invokeguard: error: {one}");
            }
            Ok(Exit::BadInput)
        }
        one => Err(one),
    }
}
