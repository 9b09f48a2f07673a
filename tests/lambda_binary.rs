//! The built `invokeguard-lambda` binary run as a Lambda: under a Runtime API of our own
//! (tests/support/runtime_api.rs), with moto behind the recording proxy as AWS.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

mod support;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::moto::{self, ACCOUNT, Moto};
use support::proxy::Proxy;
use support::runtime_api::{FUNCTION_ARN, RuntimeApi, spawn_lambda};

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_invokeguard-lambda"))
}

fn policies_file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn invoke_record(function: &str, account: &str, event_id: &str) -> Value {
    let arn = format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{function}");
    json!({
        "version": "0", "id": "e", "detail-type": "AWS API Call via CloudTrail", "source": "aws.lambda",
        "detail": {
            "eventSource": "lambda.amazonaws.com", "eventName": "Invoke", "eventID": event_id,
            "recipientAccountId": ACCOUNT,
            "userIdentity": {"type": "AssumedRole", "accountId": account, "arn": format!("arn:aws:sts::{account}:assumed-role/r/s")},
            "resources": [{"type": "AWS::Lambda::Function", "ARN": arn}]
        }
    })
}

fn json_lines(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::test]
async fn the_binary_judges_and_remediates_under_a_runtime_api() {
    let moto = Moto::shared();
    let lambda = moto::function_with_grants(
        &moto.endpoint,
        "guarded-bin",
        &[("partner", "222233334444"), ("public", "*")],
    )
    .await;
    let proxy = Proxy::start(&moto.endpoint).await;
    let policies = policies_file(
        r#"{"version": 1, "functions": {"guarded-bin": {"allow": [{"account": "111122223333"}, {"account": "222233334444"}]}}}"#,
    );
    let api = RuntimeApi::start().await;
    let mut env = moto::guard_env(&proxy.endpoint, policies.path());
    env.push(("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()));
    let process = spawn_lambda(binary(), &api, &env);

    // An allowed record: answered without a single AWS call.
    let allowed = api
        .invoke(invoke_record("guarded-bin", "111122223333", "ev-allowed"))
        .await;
    let report = allowed.outcome.clone().expect("allowed record succeeds");
    assert_eq!(
        (report["allowed"].as_u64(), report["apiCalls"].as_u64()),
        (Some(1), Some(0))
    );
    assert!(proxy.calls().is_empty(), "{:?}", proxy.operations());

    // A violating record: the policy is rewritten within the invocation.
    let violating = api
        .invoke(invoke_record("guarded-bin", "444455556666", "ev-violation"))
        .await;
    let report = violating.outcome.clone().expect("remediation succeeds");
    assert_eq!(
        (report["removed"].as_u64(), report["added"].as_u64()),
        (Some(1), Some(1))
    );
    // The allowed grant is added before the wrong one goes: no allowed caller loses access.
    assert_eq!(
        proxy.operations(),
        ["GetPolicy", "AddPermission", "RemovePermission"]
    );
    let stored = moto::stored_policy(&lambda, "guarded-bin", None)
        .await
        .expect("a policy");
    let sids: Vec<&str> = stored["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["Sid"].as_str())
        .collect();
    assert_eq!(sids.len(), 2, "{stored}");
    assert!(
        sids.contains(&"partner") && sids.iter().any(|s| s.starts_with("invokeguard-account-"))
    );

    // A bad event fails the invocation (Lambda retries it), with an error line.
    let bad = api
        .invoke(json!({"detail-type": "AWS API Call via CloudTrail", "detail": 5}))
        .await;
    let error = bad.outcome.expect_err("bad event is an error");
    assert_eq!(error["errorType"], "InvokeguardBadEvent");

    // The lines were written before each response; wait until the pipe reader has them all.
    let mut lines = Vec::new();
    for _ in 0..200 {
        lines = json_lines(&process.stdout_lines());
        if lines.iter().filter(|l| l["message"] == "summary").count() >= 2
            && lines.iter().any(|l| l["message"] == "error")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let decisions: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "decision")
        .collect();
    assert_eq!(decisions.len(), 2, "{lines:?}");
    assert_eq!(
        decisions[0]["requestId"].as_str(),
        Some(allowed.request_id.as_str())
    );
    assert_eq!(decisions[1]["eventId"], "ev-violation");
    let remediations: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "remediation")
        .collect();
    assert_eq!(remediations.len(), 2);
    assert!(remediations.iter().all(|l| l["requestId"].as_str()
        == Some(violating.request_id.as_str())
        && l["outcome"] == "applied"));
    assert!(lines.iter().any(
        |l| l["message"] == "error" && l["requestId"].as_str() == Some(bad.request_id.as_str())
    ));
}

#[tokio::test]
async fn a_bad_policies_file_fails_the_init_and_judges_nothing() {
    let policies = policies_file(
        "{\"version\": 1,\n \"functions\": {\"f\": {\"allow\": [{\"account\": \"123\"}]}}}",
    );
    let api = RuntimeApi::start().await;
    let env = vec![(
        "INVOKEGUARD_POLICIES".to_owned(),
        policies.path().display().to_string(),
    )];
    let mut process = spawn_lambda(binary(), &api, &env);
    let status = process
        .wait_exit(Duration::from_secs(20))
        .await
        .expect("the init ends the process");
    assert!(!status.success());
    assert_eq!(
        api.next_requests_seen(),
        0,
        "no event may be fetched, so none is lost"
    );
    let out = process.stdout_lines().join("\n");
    assert!(out.contains("invalid policies file"), "{out}");
    assert!(
        out.contains(&format!("{}:3:", policies.path().display()))
            || out.contains(&format!("{}:2:", policies.path().display())),
        "{out}"
    );
    assert!(out.contains("functions.f.allow[0].account"), "{out}");

    let api = RuntimeApi::start().await;
    let env = vec![
        (
            "INVOKEGUARD_POLICIES".to_owned(),
            "policies/invokers.json".to_owned(),
        ),
        ("INVOKEGUARD_MODE".to_owned(), "enforcing".to_owned()),
    ];
    let mut process = spawn_lambda(binary(), &api, &env);
    assert!(
        !process
            .wait_exit(Duration::from_secs(20))
            .await
            .expect("exits")
            .success()
    );
    assert!(
        process
            .stdout_lines()
            .join("\n")
            .contains("INVOKEGUARD_MODE=\\\"enforcing\\\"")
    );
}

/// The guard's own home and ARN (`FUNCTION_ARN`, the Runtime API's) as the stack gives them.
fn home_env(policies: &tempfile::NamedTempFile, account: &str) -> Vec<(String, String)> {
    vec![
        (
            "INVOKEGUARD_POLICIES".to_owned(),
            policies.path().display().to_string(),
        ),
        ("INVOKEGUARD_HOME_ACCOUNT".to_owned(), account.to_owned()),
        ("AWS_REGION".to_owned(), "us-east-1".to_owned()),
    ]
}

#[tokio::test]
async fn with_the_home_from_the_stack_the_file_is_judged_against_it_at_init() {
    let account = FUNCTION_ARN.split(':').nth(4).unwrap();
    for (key, why) in [
        (
            format!("arn:aws:lambda:us-east-1:{account}:function:Blog"),
            "keyed both by its name",
        ),
        (FUNCTION_ARN.to_owned(), "is the guard function itself"),
    ] {
        let policies = policies_file(&format!(
            "{{\"version\": 1, \"functions\": {{\"Blog\": {{\"allow\": []}},\n \"{key}\": {{\"allow\": []}}}}}}"
        ));
        let api = RuntimeApi::start().await;
        let mut process = spawn_lambda(binary(), &api, &home_env(&policies, account));
        let status = process.wait_exit(Duration::from_secs(20)).await;
        assert!(
            !status.expect("the init ends the process").success(),
            "{key}"
        );
        assert_eq!(api.next_requests_seen(), 0, "{key}");
        let out = process.stdout_lines().join("\n");
        let place = format!("{}:2:2: at functions.{key}", policies.path().display());
        assert!(out.contains(&place) && out.contains(why), "{key}: {out}");
    }
}

#[tokio::test]
async fn a_same_named_function_elsewhere_is_not_the_guard_and_the_invocation_must_agree_with_the_home()
 {
    let policies = policies_file(
        r#"{"version": 1, "functions": {"arn:aws:lambda:us-east-1:999999999999:function:invokeguard": {"allow": []}}}"#,
    );
    let unguarded = invoke_record("other", "444455556666", "ev-unguarded");
    let account = FUNCTION_ARN.split(':').nth(4).unwrap();
    let api = RuntimeApi::start().await;
    let _process = spawn_lambda(binary(), &api, &home_env(&policies, account));
    let ok = api.invoke(unguarded.clone()).await;
    assert!(ok.outcome.is_ok(), "{:?}", ok.outcome);

    // The stack says another account than the one the function runs in: every event fails.
    let api = RuntimeApi::start().await;
    let process = spawn_lambda(binary(), &api, &home_env(&policies, "111111111111"));
    let failed = api.invoke(unguarded).await;
    let error = failed
        .outcome
        .expect_err("a home that disagrees fails the event");
    assert_eq!(error["errorType"], "InvokeguardConfig");
    let mut lines = Vec::new();
    for _ in 0..200 {
        lines = json_lines(&process.stdout_lines());
        if lines.iter().any(|l| l["message"] == "error") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let line = lines
        .iter()
        .find(|l| l["message"] == "error")
        .expect("an error line");
    let text = line["error"].as_str().unwrap_or_default();
    assert!(
        text.contains("111111111111") && text.contains(FUNCTION_ARN),
        "{line}"
    );
}

#[tokio::test]
async fn the_binary_sweeps_on_a_scheduled_event_within_its_deadline() {
    let moto = Moto::shared();
    let lambda = moto::function_with_grants(
        &moto.endpoint,
        "swept-bin",
        &[("partner", "222233334444"), ("public", "*")],
    )
    .await;
    let proxy = Proxy::start(&moto.endpoint).await;
    let policies = policies_file(
        r#"{"version": 1, "functions": {"swept-bin": {"allow": [{"account": "222233334444"}]}}}"#,
    );
    let api = RuntimeApi::start().await;
    let env = moto::guard_env(&proxy.endpoint, policies.path());
    let process = spawn_lambda(binary(), &api, &env);
    // The standard scheduled event; the Runtime API gives the invocation a 30 s deadline.
    let scheduled = json!({"version": "0", "id": "s", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": ACCOUNT, "region": "us-east-1", "resources": ["arn:aws:events:us-east-1:123456789012:rule/sweep"], "detail": {}});
    let swept = api.invoke(scheduled).await;
    let report = swept.outcome.clone().expect("the sweep succeeds");
    assert_eq!(report["removed"].as_u64(), Some(1), "{report}");
    assert_eq!(
        proxy.operations()[..3],
        [
            "ListAliases".to_owned(),
            "ListVersionsByFunction".to_owned(),
            "GetPolicy".to_owned()
        ]
    );
    let stored = moto::stored_policy(&lambda, "swept-bin", None)
        .await
        .expect("a policy");
    assert_eq!(
        stored["Statement"].as_array().map(Vec::len),
        Some(1),
        "{stored}"
    );
    let mut sweep = None;
    for _ in 0..200 {
        sweep = json_lines(&process.stdout_lines())
            .into_iter()
            .find(|l| l["message"] == "sweep");
        if sweep.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sweep = sweep.expect("a sweep line");
    assert_eq!(
        (
            sweep["drift"].clone(),
            sweep["fixed"].clone(),
            sweep["incomplete"].clone()
        ),
        (json!(1), json!(1), json!(false))
    );
}
