//! `invokeguard remediate` from a shell: the Lambda's code path against any AWS endpoint
//! (here moto behind the recording proxy, through AWS_ENDPOINT_URL).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

mod support;

use std::io::Write;

use serde_json::{Value, json};
use support::moto::{self, ACCOUNT, Moto};
use support::proxy::Proxy;

fn temp(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[tokio::test]
async fn remediate_reports_then_enforces_with_the_contract_exit_codes() {
    let moto = Moto::shared();
    let lambda = moto::function_with_grants(
        &moto.endpoint,
        "from-shell",
        &[("partner", "222233334444"), ("public", "*")],
    )
    .await;
    let proxy = Proxy::start(&moto.endpoint).await;
    let policies = temp(&json!({"version": 1, "functions": {"from-shell": {"allow": [{"account": "222233334444"}]}}}).to_string());
    let records = temp(&json!({"Records": [{"eventSource": "lambda.amazonaws.com", "eventName": "Invoke", "eventID": "shell-1",
        "recipientAccountId": ACCOUNT, "userIdentity": {"type": "AWSAccount", "accountId": "444455556666"},
        "resources": [{"ARN": format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:from-shell")}]}]}).to_string());
    let run = async |report: bool| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_invokeguard"));
        // The home is given here; the test below asks STS for it.
        cmd.arg("remediate")
            .arg("--policies")
            .arg(policies.path())
            .args(["--account", ACCOUNT, "--region", "us-east-1"])
            .arg(records.path());
        if report {
            cmd.arg("--report");
        }
        cmd.env_clear().envs(moto::env_for_child(&proxy.endpoint));
        let out = cmd.output().await.unwrap();
        let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        (
            out.status.code(),
            lines,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (code, lines, stderr) = run(true).await;
    assert_eq!(
        code,
        Some(1),
        "violations left unfixed in report mode: {stderr}"
    );
    assert!(lines.iter().any(|l| l["message"] == "remediation"
        && l["outcome"] == "skipped-report-mode"
        && l["sid"] == "public"));
    assert_eq!(proxy.operations(), ["GetPolicy"]);

    let (code, lines, stderr) = run(false).await;
    assert_eq!(code, Some(0), "fixed: {stderr}");
    assert!(lines.iter().any(|l| l["message"] == "remediation"
        && l["outcome"] == "applied"
        && l["sid"] == "public"));
    let report: Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    assert_eq!(report["removed"], 1);
    let stored = moto::stored_policy(&lambda, "from-shell", None)
        .await
        .unwrap();
    assert_eq!(stored["Statement"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn two_processes_remediating_one_policy_at_once_converge() {
    let moto = Moto::shared();
    let lambda = moto::function_with_grants(
        &moto.endpoint,
        "two-procs",
        &[
            ("partner", "222233334444"),
            ("public", "*"),
            ("stranger", "999999999999"),
        ],
    )
    .await;
    let proxy = Proxy::start(&moto.endpoint).await;
    let policies = temp(&json!({"version": 1, "functions": {"two-procs": {"allow": [{"account": "222233334444"}, {"account": "111122223333"}]}}}).to_string());
    let records = temp(&json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke", "eventID": "procs-1",
        "recipientAccountId": ACCOUNT, "userIdentity": {"type": "AWSAccount", "accountId": "444455556666"},
        "resources": [{"ARN": format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:two-procs")}]}).to_string());
    let spawn = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_invokeguard"))
            .arg("remediate")
            .arg("--policies")
            .arg(policies.path())
            .arg(records.path())
            .env_clear()
            .envs(moto::env_for_child(&proxy.endpoint))
            .output()
    };
    let (a, b) = tokio::join!(spawn(), spawn());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        (a.status.code(), b.status.code()),
        (Some(0), Some(0)),
        "{}\n{}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    let stored = moto::stored_policy(&lambda, "two-procs", None)
        .await
        .unwrap();
    let mut sids: Vec<String> = stored["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["Sid"].as_str().map(str::to_owned))
        .collect();
    sids.sort();
    assert_eq!(sids.len(), 2, "{stored}");
    assert_eq!(sids[1], "partner");
    assert!(
        sids[0].starts_with("invokeguard-account-"),
        "one addition, whoever made it: {sids:?}"
    );
}
