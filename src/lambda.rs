//! Configuration of the `invokeguard-lambda` binary, read once at init.

use std::path::PathBuf;
use std::sync::Arc;

use crate::allowlist::{Allowlist, AllowlistError, Mode};
use crate::remediate::{Guard, LazyAws, Level, Settings, StdoutSink};

/// The role name the guard assumes in another account of the organization.
pub const DEFAULT_MEMBER_ROLE: &str = "invokeguard-member";

/// The policies file's name beside the `bootstrap` binary in the deployment package.
pub const PACKAGED_POLICIES: &str = "invokers.json";

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("INVOKEGUARD_MODE={0:?}: expected \"enforce\" or \"report\"")]
    Mode(String),
    #[error("cannot find the packaged policies file beside the binary: {0}")]
    Exe(std::io::Error),
    #[error("invalid policies file, no event will be judged: {0}")]
    Allowlist(#[from] AllowlistError),
}

/// Reads `INVOKEGUARD_POLICIES`, `INVOKEGUARD_MODE`, `INVOKEGUARD_EVENT_BUS`,
/// `INVOKEGUARD_DEDUP_TABLE`, `INVOKEGUARD_MEMBER_ROLE`, `INVOKEGUARD_ROLE_ARN`,
/// `AWS_LAMBDA_FUNCTION_NAME` and `AWS_LAMBDA_LOG_LEVEL`, and loads the policies file.
pub fn guard_from_env() -> Result<Guard<LazyAws>, InitError> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mode = match var("INVOKEGUARD_MODE").as_deref() {
        None => None,
        Some("enforce") => Some(Mode::Enforce),
        Some("report") => Some(Mode::Report),
        Some(other) => return Err(InitError::Mode(other.to_owned())),
    };
    let path = match var("INVOKEGUARD_POLICIES") {
        Some(p) => PathBuf::from(p),
        None => std::env::current_exe()
            .map_err(InitError::Exe)?
            .with_file_name(PACKAGED_POLICIES),
    };
    let guard_function = var("AWS_LAMBDA_FUNCTION_NAME");
    let member_role =
        var("INVOKEGUARD_MEMBER_ROLE").unwrap_or_else(|| DEFAULT_MEMBER_ROLE.to_owned());
    let identity = var("INVOKEGUARD_ROLE_ARN").map(|role_arn| crate::record::GuardIdentity {
        role_arn,
        member_role: member_role.clone(),
    });
    let policies = Allowlist::load(&path, guard_function.as_deref())?.with_mode_override(mode);
    let settings = Settings {
        guard_function,
        identity,
        log_level: Level::from_lambda_env(var("AWS_LAMBDA_LOG_LEVEL").as_deref()),
        ..Settings::default()
    };
    Ok(Guard::new(
        policies,
        LazyAws::from_env(var("INVOKEGUARD_EVENT_BUS"))
            .with_dedup_table(var("INVOKEGUARD_DEDUP_TABLE"))
            .with_member_role(Some(member_role)),
        Arc::new(StdoutSink),
        settings,
    ))
}

impl From<crate::remediate::GuardError> for lambda_runtime::Diagnostic {
    fn from(e: crate::remediate::GuardError) -> Self {
        let error_type = match e {
            crate::remediate::GuardError::BadEvent(_) => "InvokeguardBadEvent",
            crate::remediate::GuardError::Config(_) => "InvokeguardConfig",
            crate::remediate::GuardError::Incomplete { .. } => "InvokeguardRemediationIncomplete",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// The invocation's deadline (milliseconds since the epoch, as the Runtime API gives it) as an
/// `Instant` on this machine's clock.
pub fn deadline(deadline_ms: u64) -> std::time::Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    std::time::Instant::now() + std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}
