//! `invokeguard guardrails`: the service control policy that denies grants outside the
//! allowlist before they exist, generated from the policies file (no AWS).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::args::{GuardrailsFormat, PoliciesArgs};
use super::error::CliError;
use super::exit::Exit;
use crate::guardrails::{Guardrails, MAX_SCP_CHARS, Options, check_exempt, generate};

/// The command's flags beyond the policies file.
#[derive(Debug, Clone, Default)]
pub struct GuardrailsArgs {
    pub exempt_roles: Vec<String>,
    pub guard_role: Option<String>,
    pub max_policies: usize,
    pub output: Option<PathBuf>,
    pub format: GuardrailsFormat,
}

/// Exit 0; 1 when a guarded function fits in no policy (it is named on stderr); 2 on bad input.
pub fn guardrails(
    policies: &PoliciesArgs,
    args: &GuardrailsArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Exit, CliError> {
    let allowlist = policies.load_offline()?;
    let bad = |e: crate::guardrails::GuardrailsError| CliError::Guardrails(e.to_string());
    let mut exempt = Vec::new();
    if let Some(guard) = &args.guard_role {
        exempt.push(check_exempt("--guard-role", guard).map_err(bad)?);
    }
    for role in &args.exempt_roles {
        exempt.push(check_exempt("--exempt-role", role).map_err(bad)?);
    }
    let options = Options {
        exempt,
        max_policies: args.max_policies,
    };
    let result = generate(&allowlist, &options).map_err(bad)?;
    let mut warnings = result.warnings.clone();
    if args.guard_role.is_none() {
        warnings.insert(
            0,
            "no --guard-role: the guard's own document writes and re-added allowlisted grants are denied too".to_owned(),
        );
    }
    report(&result, &warnings, err);
    if let Some(path) = &args.output {
        for (i, scp) in result.policies.iter().enumerate() {
            let file = numbered(path, i);
            std::fs::write(&file, scp.minified() + "\n").map_err(CliError::Output)?;
            let _ = writeln!(err, "invokeguard: wrote {}", file.display());
        }
    }
    match args.format {
        GuardrailsFormat::Document if args.output.is_none() => {
            for scp in &result.policies {
                writeln!(out, "{}", scp.minified()).map_err(CliError::Output)?;
            }
        }
        GuardrailsFormat::Document => {}
        GuardrailsFormat::Json => {
            let mut json = serde_json::to_value(&result).map_err(|e| CliError::Output(e.into()))?;
            json["warnings"] = serde_json::json!(warnings);
            writeln!(out, "{json}").map_err(CliError::Output)?;
        }
    }
    Ok(Exit::of(false, !result.left_out.is_empty()))
}

/// Sizes, warnings, notes and what was left out, on stderr.
fn report(result: &Guardrails, warnings: &[String], err: &mut dyn Write) {
    let total = result.policies.len();
    for (i, scp) in result.policies.iter().enumerate() {
        let _ = writeln!(
            err,
            "invokeguard: SCP {} of {total}: {} of {MAX_SCP_CHARS} characters (minified), {} guarded function(s)",
            i + 1,
            scp.size,
            scp.functions.len()
        );
    }
    for warning in warnings {
        let _ = writeln!(err, "invokeguard: warning: {warning}");
    }
    for note in &result.notes {
        let _ = writeln!(err, "invokeguard: note: {note}");
    }
    for left in &result.left_out {
        let _ = writeln!(
            err,
            "invokeguard: left out: {}: {} (the guard still reconciles it after the fact)",
            left.function, left.reason
        );
    }
}

/// `scp.json`, then `scp-2.json`, `scp-3.json`, ...
fn numbered(path: &Path, i: usize) -> PathBuf {
    if i == 0 {
        return path.to_path_buf();
    }
    let stem = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{}.{}", i + 1, ext.to_string_lossy()),
        None => format!("{stem}-{}", i + 1),
    };
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn further_documents_are_numbered_beside_the_first() {
        assert_eq!(
            numbered(Path::new("out/scp.json"), 0),
            Path::new("out/scp.json")
        );
        assert_eq!(
            numbered(Path::new("out/scp.json"), 1),
            Path::new("out/scp-2.json")
        );
        assert_eq!(numbered(Path::new("scp"), 2), Path::new("scp-3"));
    }
}
