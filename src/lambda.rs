//! Configuration of the `invokeguard-lambda` binary, read once at init.

use std::path::PathBuf;
use std::sync::Arc;

use crate::allowlist::{Allowlist, AllowlistError, Mode};
use crate::aws::home::Home;
use crate::guard::{Guard, Level, Settings, StdoutSink};
use crate::sdk::LazyAws;

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
    #[error("INVOKEGUARD_HOME_ACCOUNT and AWS_REGION: {0}")]
    Home(String),
}

/// The home the stack gives the guard: `INVOKEGUARD_HOME_ACCOUNT` and `AWS_REGION`, with the
/// partition the region belongs to. None without the account (an older stack): the home is then
/// learnt from the first invocation's ARN.
fn home_from_env(
    account: Option<String>,
    region: Option<String>,
) -> Result<Option<Home>, InitError> {
    let Some(account) = account else {
        return Ok(None);
    };
    let region = region.ok_or_else(|| InitError::Home("AWS_REGION is not set".to_owned()))?;
    Home::new(Home::partition_of_region(&region), &region, &account)
        .map(Some)
        .map_err(|e| InitError::Home(e.to_string()))
}

/// Reads `INVOKEGUARD_POLICIES`, `INVOKEGUARD_MODE`, `INVOKEGUARD_EVENT_BUS`,
/// `INVOKEGUARD_DEDUP_TABLE`, `INVOKEGUARD_MEMBER_ROLE`, `INVOKEGUARD_ROLE_ARN`,
/// `INVOKEGUARD_HOME_ACCOUNT`, `AWS_REGION`, `AWS_LAMBDA_FUNCTION_NAME` and
/// `AWS_LAMBDA_LOG_LEVEL`, and loads the policies file, validated against the home when the
/// stack gives it (so its own ARN and name+ARN duplicates fail here).
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
    let home = home_from_env(var("INVOKEGUARD_HOME_ACCOUNT"), var("AWS_REGION"))?;
    let guard_function = var("AWS_LAMBDA_FUNCTION_NAME");
    let member_role =
        var("INVOKEGUARD_MEMBER_ROLE").unwrap_or_else(|| DEFAULT_MEMBER_ROLE.to_owned());
    let identity = var("INVOKEGUARD_ROLE_ARN").map(|role_arn| crate::record::GuardIdentity {
        role_arn,
        member_role: member_role.clone(),
    });
    let policies = Allowlist::load(&path, guard_function.as_deref())?.with_mode_override(mode);
    if let Some(home) = home {
        policies.set_home(home)?;
    }
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

impl From<crate::guard::GuardError> for lambda_runtime::Diagnostic {
    fn from(e: crate::guard::GuardError) -> Self {
        let error_type = match e {
            crate::guard::GuardError::BadEvent(_) => "InvokeguardBadEvent",
            crate::guard::GuardError::Config(_) => "InvokeguardConfig",
            crate::guard::GuardError::Incomplete { .. } => "InvokeguardRemediationIncomplete",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_home_comes_from_the_account_and_the_region_with_its_partition() {
        let some = |s: &str| Some(s.to_owned());
        let home = home_from_env(some("111122223333"), some("cn-north-1")).expect("valid");
        assert_eq!(
            home,
            Some(Home::new("aws-cn", "cn-north-1", "111122223333").expect("home"))
        );
        assert!(
            home_from_env(None, some("eu-west-1"))
                .expect("no account")
                .is_none()
        );
        let e = home_from_env(some("1111"), some("eu-west-1")).expect_err("short account");
        assert!(e.to_string().contains("12-digit"), "{e}");
        assert!(home_from_env(some("111122223333"), None).is_err());
    }
}
