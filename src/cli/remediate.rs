//! `invokeguard remediate`: the Lambda's code path, run from a shell. Every input goes through
//! the Lambda's own entry: a scheduled event sweeps, an S3 event reads its trail files, and
//! each CloudTrail record (an Invoke, a management event) takes the Lambda's per-record dispatch.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Exit;
use super::args::HomeArgs;
use super::inputs::{CliError, Input, inputs_of};
use crate::allowlist::{Allowlist, Mode};
use crate::aws::home::Home;
use crate::guard::{EventReport, Guard, Level, Settings, StdoutSink};
use crate::sdk::LazyAws;

/// Judges every record and reconciles what it finds against AWS (or `AWS_ENDPOINT_URL`).
/// Log lines go to stdout; a JSON report of the run goes to `err`'s stream last.
pub async fn remediate(
    policies: &Path,
    report_only: bool,
    home: &HomeArgs,
    events: &[PathBuf],
    err: &mut dyn Write,
) -> Result<Exit, CliError> {
    let policies =
        Allowlist::load(policies, None)?.with_mode_override(report_only.then_some(Mode::Report));
    policies.set_home(resolve_home(home).await?)?;
    let guard = shell_guard(policies);
    let mut bad = false;
    let mut failed = false;
    let mut report = EventReport::default();
    for (origin, input) in inputs_of(events, err, &mut bad) {
        let (path, result) = match input {
            Input::Event { path, event } => match guard.handle_event(event, "cli").await {
                Ok(r) => {
                    add(&mut report, &r);
                    (path, Ok(()))
                }
                Err(e) => (path, Err(e)),
            },
            Input::Record(rec) => {
                let result = guard.handle_record(&rec.record, "cli", &mut report).await;
                (rec.path, result)
            }
        };
        if let Err(e) = result {
            let at = if path.is_empty() { "(root)" } else { &path };
            let _ = writeln!(err, "error: {origin}: at {at}: {e}");
            failed = true;
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

/// Adds a whole event's report (a sweep's, a trail file's) to the run's.
fn add(into: &mut EventReport, r: &EventReport) {
    into.records += r.records;
    into.allowed += r.allowed;
    into.ignored += r.ignored;
    into.violations += r.violations;
    into.unfixed += r.unfixed;
    into.coalesced += r.coalesced;
    into.removed += r.removed;
    into.added += r.added;
    into.failed += r.failed;
    into.api_calls += r.api_calls;
}

/// The guard as the CLI runs it: AWS from the environment (`AWS_ENDPOINT_URL` included),
/// notifications to `INVOKEGUARD_EVENT_BUS` when set, log lines on stdout.
pub(crate) fn shell_guard(allowlist: Allowlist) -> Guard<LazyAws> {
    let bus = std::env::var("INVOKEGUARD_EVENT_BUS")
        .ok()
        .filter(|b| !b.is_empty());
    let settings = Settings {
        log_level: Level::Info,
        ..Settings::default()
    };
    Guard::new(allowlist, cli_aws(bus), Arc::new(StdoutSink), settings)
}

/// The CLI's AWS clients: a function ARN in another account is reached through its member role
/// (`INVOKEGUARD_MEMBER_ROLE`, default `invokeguard-member`), as the hub guard reaches it.
pub(crate) fn cli_aws(event_bus: Option<String>) -> LazyAws {
    let member_role = std::env::var("INVOKEGUARD_MEMBER_ROLE")
        .ok()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| crate::lambda::DEFAULT_MEMBER_ROLE.to_owned());
    LazyAws::from_env(event_bus).with_member_role(Some(member_role))
}

/// `--account`/`--region`, else the AWS configuration's region and STS's account: a function
/// name in the policies file means that account and region, and only there is it touched.
pub(crate) async fn resolve_home(args: &HomeArgs) -> Result<Home, CliError> {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let region = match (&args.region, config.region()) {
        (Some(r), _) => r.clone(),
        (None, Some(r)) => r.to_string(),
        (None, None) => {
            return Err(CliError::Home(
                "no region: give --region or set AWS_REGION".into(),
            ));
        }
    };
    let account = match &args.account {
        Some(a) => a.clone(),
        None => aws_sdk_sts::Client::new(&config)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| {
                CliError::Home(format!(
                    "cannot ask STS for the account ({}); give --account",
                    aws_sdk_sts::error::DisplayErrorContext(&e)
                ))
            })?
            .account()
            .map(str::to_owned)
            .ok_or_else(|| CliError::Home("STS named no account; give --account".into()))?,
    };
    Home::new(Home::partition_of_region(&region), &region, &account)
        .map_err(|e| CliError::Home(e.to_string()))
}
