//! `invokeguard remediate` takes the Lambda's one dispatch: a management event given to it is
//! handled as the change it is (the Lambda's `change` input), not judged as an Invoke and
//! ignored. Against moto through AWS_ENDPOINT_URL, as `cli_remediate_moto.rs`.

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

/// `invokeguard remediate` of `event`, against `function` (granted to a partner and to
/// everyone, allowlisted to the partner): the Lambda client, exit code, stdout and stderr.
async fn remediate(
    function: &str,
    event: Value,
) -> (aws_sdk_lambda::Client, Option<i32>, String, String) {
    let moto = Moto::shared();
    let lambda = moto::function_with_grants(
        &moto.endpoint,
        function,
        &[("partner", "222233334444"), ("public", "*")],
    )
    .await;
    let proxy = Proxy::start(&moto.endpoint).await;
    let policies = temp(
        &json!({"version": 1, "functions": {function: {"allow": [{"account": "222233334444"}]}}})
            .to_string(),
    );
    let event = temp(&event.to_string());
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_invokeguard"))
        .arg("remediate")
        .arg("--policies")
        .arg(policies.path())
        .args(["--account", ACCOUNT, "--region", "us-east-1"])
        .arg(event.path())
        .env_clear()
        .envs(moto::env_for_child(&proxy.endpoint))
        .output()
        .await
        .unwrap();
    (
        lambda,
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_public_grant_added_is_removed_from_its_management_event() {
    let event = json!({"source": "aws.lambda", "detail-type": "AWS API Call via CloudTrail", "detail": {
        "eventSource": "lambda.amazonaws.com", "eventName": "AddPermission20150331v2", "eventCategory": "Management",
        "eventID": "change-1", "eventTime": "2026-12-06T08:00:00Z", "awsRegion": "us-east-1", "recipientAccountId": ACCOUNT,
        "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{ACCOUNT}:user/mallory"), "accountId": ACCOUNT},
        "requestParameters": {"functionName": "changed-from-shell", "statementId": "public", "principal": "*",
            "action": "lambda:InvokeFunction"},
        "responseElements": {"statement": "{\"Sid\":\"public\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"lambda:InvokeFunction\"}"}}});
    let (lambda, code, stdout, stderr) = remediate("changed-from-shell", event).await;
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let decision = lines.iter().find(|l| l["message"] == "decision").unwrap();
    assert_eq!(
        (&decision["input"], &decision["changeEvent"]),
        (&json!("change"), &json!("AddPermission20150331v2"))
    );
    assert!(lines.iter().any(|l| l["message"] == "remediation"
        && l["outcome"] == "applied"
        && l["sid"] == "public"));
    let report: Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    assert_eq!(
        (report["records"].clone(), report["removed"].clone()),
        (json!(1), json!(1))
    );
    let stored = moto::stored_policy(&lambda, "changed-from-shell", None)
        .await
        .unwrap();
    let sids: Vec<&Value> = stored["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["Sid"])
        .collect();
    assert_eq!(sids, [&json!("partner")]);
}

#[tokio::test]
async fn a_scheduled_event_given_to_remediate_sweeps() {
    let event = json!({"version": "0", "id": "s1", "source": "aws.events", "detail-type": "Scheduled Event",
        "account": ACCOUNT, "region": "us-east-1", "detail": {}});
    let (lambda, code, stdout, stderr) = remediate("swept-from-shell", event).await;
    assert_eq!(code, Some(0), "{stderr}");
    let sweep = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "sweep")
        .expect("a sweep line");
    assert_eq!(
        (sweep["drift"].clone(), sweep["fixed"].clone()),
        (json!(1), json!(1))
    );
    let stored = moto::stored_policy(&lambda, "swept-from-shell", None)
        .await
        .unwrap();
    assert_eq!(stored["Statement"].as_array().unwrap().len(), 1);
}
