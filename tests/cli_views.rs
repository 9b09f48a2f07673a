//! What a person reads on a terminal: `check`'s table (reason, fixable, records about functions
//! elsewhere), `audit`'s table (each function's mode), and `reconcile`/`remediate` as one
//! readable line per decision and action (forced with `--format table`, as a pipe gets JSON).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

mod common;
mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::{fixture, root};
use serde_json::{Value, json};
use support::moto::{self, ACCOUNT, Moto};
use support::proxy::Proxy;

fn temp(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Three violations of `function239` (us-west-1, 111111111111): an API Gateway call, a
/// same-account Step Functions role, a partner account's role.
const CHECK_FIXTURE: &str = "made/records_sfn_role_and_sync_apigw.json";

fn check_table(home: &[&str]) -> Output {
    let policies = temp(r#"{"version": 1, "functions": {"function239": {"allow": []}}}"#);
    Command::new(env!("CARGO_BIN_EXE_invokeguard"))
        .args(["check", "--format", "table", "--policies"])
        .arg(policies.path())
        .args(home)
        .arg(fixture(CHECK_FIXTURE))
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The table's row for `caller`, split on runs of two or more spaces.
fn row<'a>(table: &'a str, caller: &str) -> Vec<&'a str> {
    let line = table
        .lines()
        .find(|l| l.contains(caller))
        .unwrap_or_else(|| panic!("no row for {caller}:\n{table}"));
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

#[test]
fn check_table_says_why_each_record_is_a_violation_and_whether_enforce_fixes_it() {
    let o = check_table(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let table = text(&o.stdout);
    assert_eq!(
        row(&table, "FUNCTION"),
        [
            "FUNCTION",
            "CALLER",
            "KIND",
            "REASON",
            "FIXABLE",
            "COUNT",
            "FIRST SEEN",
            "LAST SEEN"
        ]
    );
    let iam = row(&table, "StepFunctionsRole");
    assert_eq!(iam[2..5], ["iam", "same-account-iam", "no"], "{table}");
    let partner = row(&table, "role/partner");
    assert_eq!(
        partner[2..5],
        ["account", "caller-not-allowlisted", "yes"],
        "{table}"
    );
    let apigw = row(&table, "apigateway.amazonaws.com");
    assert_eq!(
        apigw[2..5],
        ["service", "caller-not-allowlisted", "yes"],
        "{table}"
    );
    assert!(table.contains("FIXABLE no: "), "{table}");
}

#[test]
fn check_table_counts_the_records_about_functions_outside_the_home() {
    let at_home =
        text(&check_table(&["--account", "111111111111", "--region", "us-west-1"]).stdout);
    assert!(
        at_home.contains(
            "0 of 3 records were about functions outside the home account and region (111111111111 us-west-1)"
        ),
        "{at_home}"
    );
    let o = check_table(&["--account", "123456789012", "--region", "us-west-1"]);
    // None of them is about a guarded function there: nothing is a violation.
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let away = text(&o.stdout);
    assert!(
        away.contains(
            "3 of 3 records were about functions outside the home account and region (123456789012 us-west-1): not guarded there."
        ),
        "{away}"
    );
    let anywhere = text(&check_table(&[]).stdout);
    assert!(
        anywhere.contains("No home account and region given (--account and --region)"),
        "{anywhere}"
    );
}

/// Runs a command against `endpoint` without blocking the runtime the proxy serves on.
async fn run_command(args: &[&str], policies: &tempfile::NamedTempFile, endpoint: &str) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_invokeguard"))
        .args(args)
        .args(["--account", ACCOUNT, "--region", "us-east-1", "--policies"])
        .arg(policies.path())
        .env_clear()
        .envs(moto::env_for_child(endpoint))
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn audit_table_shows_each_functions_mode() {
    let moto = Moto::shared();
    for f in ["views-enforced", "views-reported"] {
        moto::function_with_grants(&moto.endpoint, f, &[("stranger", "999999999999")]).await;
    }
    let policies = temp(
        &json!({"version": 1, "functions": {
            "views-enforced": {"allow": []},
            "views-reported": {"mode": "report", "allow": []}}})
        .to_string(),
    );
    let o = run_command(&["audit", "--format", "table"], &policies, &moto.endpoint).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let table = text(&o.stdout);
    assert_eq!(
        row(&table, "FUNCTION"),
        [
            "FUNCTION",
            "QUALIFIER",
            "MODE",
            "CHANGE",
            "PRINCIPAL",
            "WRITE",
            "WHY"
        ]
    );
    assert_eq!(row(&table, "views-enforced")[2], "enforce", "{table}");
    assert_eq!(row(&table, "views-reported")[2], "report", "{table}");
    assert!(
        table.contains("2 of 2 policies would change (1 of them in report mode"),
        "{table}"
    );
}

#[tokio::test]
async fn reconcile_on_a_terminal_writes_a_line_per_action_and_json_when_piped() {
    let moto = Moto::shared();
    let lambda = moto::function_with_grants(
        &moto.endpoint,
        "views-reconciled",
        &[("partner", "222233334444"), ("stranger", "999999999999")],
    )
    .await;
    let policies = temp(
        &json!({"version": 1, "functions": {
            "views-reconciled": {"allow": [{"account": "222233334444"}]}}})
        .to_string(),
    );
    let proxy = Proxy::start(&moto.endpoint).await;

    let o = run_command(
        &["reconcile", "--report", "--format", "table"],
        &policies,
        &proxy.endpoint,
    )
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let lines = text(&o.stdout);
    let would = lines
        .lines()
        .find(|l| l.starts_with("would remove "))
        .unwrap_or_else(|| panic!("{lines}"));
    assert!(would.contains("views-reconciled"), "{would}");
    assert!(
        would.contains("statement \"stranger\" for 999999999999: "),
        "{would}"
    );
    assert!(would.ends_with("(report mode)"), "{would}");
    assert!(
        lines
            .lines()
            .any(|l| l.starts_with("sweep ") && l.contains("1 drifted, 0 fixed")),
        "{lines}"
    );
    assert!(
        lines.lines().all(|l| !l.starts_with('{')),
        "no JSON: {lines}"
    );
    let recap = text(&o.stderr);
    assert!(
        recap.contains(
            "0 grants removed, 0 added, 0 failed; 1 policies still grant invoke outside the allowlist"
        ),
        "{recap}"
    );

    // Piped without --format: the JSON lines and report as before.
    let o = run_command(&["reconcile", "--report"], &policies, &proxy.endpoint).await;
    let json_lines: Vec<Value> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(json_lines.iter().any(|l| l["message"] == "remediation"));
    let report: Value = serde_json::from_str(text(&o.stderr).trim()).unwrap();
    assert_eq!(report["unfixed"], 1);

    let o = run_command(
        &["reconcile", "--format", "table"],
        &policies,
        &proxy.endpoint,
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let lines = text(&o.stdout);
    let removed = lines
        .lines()
        .find(|l| l.starts_with("removed "))
        .unwrap_or_else(|| panic!("{lines}"));
    assert!(
        removed.contains("statement \"stranger\" for 999999999999"),
        "{removed}"
    );
    assert!(
        text(&o.stderr).contains("1 grants removed"),
        "{}",
        text(&o.stderr)
    );
    let stored = moto::stored_policy(&lambda, "views-reconciled", None)
        .await
        .unwrap();
    assert_eq!(stored["Statement"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn remediate_on_a_terminal_says_each_decision_and_why() {
    let moto = Moto::shared();
    moto::function_with_grants(
        &moto.endpoint,
        "views-remediated",
        &[("stranger", "444455556666")],
    )
    .await;
    let policies = temp(
        &json!({"version": 1, "functions": {"views-remediated": {"mode": "report", "allow": []}}})
            .to_string(),
    );
    let records = temp(&json!({"Records": [{"eventSource": "lambda.amazonaws.com", "eventName": "Invoke", "eventID": "views-1",
        "recipientAccountId": ACCOUNT, "userIdentity": {"type": "AWSAccount", "accountId": "444455556666"},
        "resources": [{"ARN": format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:views-remediated")}]}]}).to_string());
    let proxy = Proxy::start(&moto.endpoint).await;
    let o = run_command(
        &[
            "remediate",
            "--format",
            "table",
            &records.path().to_string_lossy(),
        ],
        &policies,
        &proxy.endpoint,
    )
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let lines = text(&o.stdout);
    let decision = lines
        .lines()
        .find(|l| l.starts_with("violation "))
        .unwrap_or_else(|| panic!("{lines}"));
    assert!(
        decision.contains(
            "444455556666 (account): caller-not-allowlisted; report mode: logged, its grant stays"
        ),
        "{decision}"
    );
    assert!(
        lines.lines().any(|l| l.starts_with("would remove ")),
        "{lines}"
    );
    let recap = text(&o.stderr);
    assert!(
        recap.contains("1 records: 0 allowed, 1 violations, 0 ignored"),
        "{recap}"
    );
}
