//! The one construction of a guard over AWS, from the environment: the Lambda's (everything the
//! stack sets, read once at init) and the CLI's (`remediate`, `reconcile`), and the CLI's home
//! account when the command line does not give it.

use std::path::PathBuf;
use std::sync::Arc;

use super::clients::LazyAws;
use super::config;
use crate::allowlist::{Allowlist, AllowlistError, Mode};
use crate::aws::home::Home;
use crate::guard::{Guard, Level, LogSink, Settings, StdoutSink};
use crate::record::GuardIdentity;

/// The role name the guard assumes in another account of the organization.
pub const DEFAULT_MEMBER_ROLE: &str = "invokeguard-member";

/// The policies file's name beside the `bootstrap` binary in the deployment package.
pub const PACKAGED_POLICIES: &str = "invokers.json";

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("INVOKEGUARD_MODE={0:?}: expected \"enforce\" or \"report\"")]
    Mode(String),
    #[error("INVOKEGUARD_SECURITY_HUB={0:?}: expected \"on\" or \"off\"")]
    SecurityHub(String),
    #[error("cannot find the packaged policies file beside the binary: {0}")]
    Exe(std::io::Error),
    #[error("invalid policies file, no event will be judged: {0}")]
    Allowlist(#[from] AllowlistError),
    #[error("INVOKEGUARD_HOME_ACCOUNT and AWS_REGION: {0}")]
    Home(String),
}

/// A variable of the environment; an empty one counts as unset.
fn var(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

/// `INVOKEGUARD_SECURITY_HUB`: `on` imports violations as findings; `off` or unset makes no
/// Security Hub call; anything else is a configuration error, not a silent off.
fn security_hub(value: Option<&str>) -> Result<bool, InitError> {
    match value {
        None | Some("off") => Ok(false),
        Some("on") => Ok(true),
        Some(other) => Err(InitError::SecurityHub(other.to_owned())),
    }
}

/// `INVOKEGUARD_MEMBER_ROLE`, or [`DEFAULT_MEMBER_ROLE`].
fn member_role() -> String {
    var("INVOKEGUARD_MEMBER_ROLE").unwrap_or_else(|| DEFAULT_MEMBER_ROLE.to_owned())
}

/// The clients from the environment: a function ARN in another account is reached through its
/// member role, notifications go to `event_bus` when given.
pub fn aws(event_bus: Option<String>) -> LazyAws {
    LazyAws::from_env(event_bus).with_member_role(Some(member_role()))
}

/// A guard writing its log lines on stdout.
fn guard(allowlist: Allowlist, aws: LazyAws, settings: Settings) -> Guard<LazyAws> {
    Guard::new(allowlist, aws, Arc::new(StdoutSink), settings)
}

/// The guard as the CLI runs it: AWS from the environment (`AWS_ENDPOINT_URL` included),
/// notifications to `INVOKEGUARD_EVENT_BUS` when set, log lines from INFO up to `sink` (the
/// JSON lines on stdout, or a terminal's readable view of them).
pub fn cli_guard(allowlist: Allowlist, sink: Arc<dyn LogSink>) -> Guard<LazyAws> {
    let settings = Settings {
        log_level: Level::Info,
        ..Settings::default()
    };
    Guard::new(allowlist, aws(var("INVOKEGUARD_EVENT_BUS")), sink, settings)
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

/// The Lambda's guard. Reads `INVOKEGUARD_POLICIES`, `INVOKEGUARD_MODE`,
/// `INVOKEGUARD_EVENT_BUS`, `INVOKEGUARD_DEDUP_TABLE`, `INVOKEGUARD_MEMBER_ROLE`,
/// `INVOKEGUARD_ROLE_ARN`, `INVOKEGUARD_HOME_ACCOUNT`, `INVOKEGUARD_SECURITY_HUB`,
/// `INVOKEGUARD_SWEEP_QUEUE_URL`, `AWS_REGION`, `AWS_LAMBDA_FUNCTION_NAME`
/// and `AWS_LAMBDA_LOG_LEVEL`, and loads the policies file, validated against the home when the
/// stack gives it (so its own ARN and name+ARN duplicates fail here).
pub fn lambda_guard() -> Result<Guard<LazyAws>, InitError> {
    let mode = match var("INVOKEGUARD_MODE").as_deref() {
        None => None,
        Some("enforce") => Some(Mode::Enforce),
        Some("report") => Some(Mode::Report),
        Some(other) => return Err(InitError::Mode(other.to_owned())),
    };
    let security_hub = security_hub(var("INVOKEGUARD_SECURITY_HUB").as_deref())?;
    let path = match var("INVOKEGUARD_POLICIES") {
        Some(p) => PathBuf::from(p),
        None => std::env::current_exe()
            .map_err(InitError::Exe)?
            .with_file_name(PACKAGED_POLICIES),
    };
    let home = home_from_env(var("INVOKEGUARD_HOME_ACCOUNT"), var("AWS_REGION"))?;
    let guard_function = var("AWS_LAMBDA_FUNCTION_NAME");
    let identity = var("INVOKEGUARD_ROLE_ARN").map(|role_arn| GuardIdentity {
        role_arn,
        member_role: member_role(),
    });
    let allowlist = Allowlist::load(&path, guard_function.as_deref())?.with_mode_override(mode);
    if let Some(home) = home {
        allowlist.set_home(home)?;
    }
    let settings = Settings {
        guard_function,
        identity,
        log_level: Level::from_lambda_env(var("AWS_LAMBDA_LOG_LEVEL").as_deref()),
        ..Settings::default()
    };
    let aws = aws(var("INVOKEGUARD_EVENT_BUS"))
        .with_dedup_table(var("INVOKEGUARD_DEDUP_TABLE"))
        .with_security_hub(security_hub)
        .with_sweep_queue(var("INVOKEGUARD_SWEEP_QUEUE_URL"));
    Ok(guard(allowlist, aws, settings))
}

/// `account`/`region` when given, else the AWS configuration's region and STS's account: a
/// function name in the policies file means that account and region, and only there is it
/// touched. The error says what to give instead.
pub async fn resolve_home(account: Option<&str>, region: Option<&str>) -> Result<Home, String> {
    let config = config::load(None).await;
    let region = match (region, config.region()) {
        (Some(r), _) => r.to_owned(),
        (None, Some(r)) => r.to_string(),
        (None, None) => return Err("no region: give --region or set AWS_REGION".into()),
    };
    let account = match account {
        Some(a) => a.to_owned(),
        None => aws_sdk_sts::Client::new(&config)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| {
                config::credentials_hint(&e).unwrap_or_else(|| {
                    format!(
                        "cannot ask STS for the account ({}); give --account",
                        aws_sdk_sts::error::DisplayErrorContext(&e)
                    )
                })
            })?
            .account()
            .map(str::to_owned)
            .ok_or_else(|| "STS named no account; give --account".to_owned())?,
    };
    Home::new(Home::partition_of_region(&region), &region, &account).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_hub_is_on_only_when_asked_and_anything_else_is_an_error() {
        assert!(!security_hub(None).expect("unset"));
        assert!(!security_hub(Some("off")).expect("off"));
        assert!(security_hub(Some("on")).expect("on"));
        let e = security_hub(Some("true")).expect_err("not on/off");
        assert!(
            e.to_string().contains("INVOKEGUARD_SECURITY_HUB=\"true\""),
            "{e}"
        );
    }

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
