//! Findings through the real Security Hub client against moto (which serves BatchImportFindings
//! and GetFindings): a violation is imported once per event, GetFindings shows it, a later
//! violation of the same caller updates the same finding, and a refused import (an error, or
//! `FailedFindings` in the answer) is an error line that leaves the remediation standing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

mod support;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_securityhub::types::AwsSecurityFinding;
use invokeguard::allowlist::Allowlist;
use invokeguard::aws::home::Home;
use invokeguard::guard::{Guard, MemorySink, Settings};
use invokeguard::sdk::LazyAws;
use serde_json::{Value, json};
use support::moto::{self, ACCOUNT, Moto, REGION};
use support::proxy::{Action, Fault, Hit, Proxy};

const IMPORT: &str = "POST /findings/import";

async fn guard(name: &str, proxy: &Proxy, sink: &MemorySink) -> Guard<LazyAws> {
    let moto = Moto::shared();
    moto::function_with_grants(&moto.endpoint, name, &[("rogue", "444455556666")]).await;
    let policies = Allowlist::from_json(
        &json!({"version": 1, "functions": {name: {"allow": [{"account": "222233334444"}]}}})
            .to_string(),
        "t",
        None,
    )
    .unwrap();
    policies
        .set_home(Home::new("aws", REGION, ACCOUNT).unwrap())
        .unwrap();
    let aws =
        LazyAws::with_config(moto::sdk_config(&proxy.endpoint).await, None).with_security_hub(true);
    // Every record reaches AWS: no verification answers for a later one.
    let settings = Settings {
        verified_ttl: Duration::ZERO,
        ..Settings::default()
    };
    Guard::new(policies, aws, Arc::new(sink.clone()), settings)
}

fn violation(name: &str, id: &str) -> Value {
    json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke", "eventID": id,
        "eventTime": "2026-12-06T10:00:00Z", "recipientAccountId": ACCOUNT,
        "userIdentity": {"type": "AWSAccount", "accountId": "444455556666"},
        "resources": [{"ARN": format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")}]})
}

fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
}

/// The findings moto holds with this Id (moto's GetFindings ignores filters). The SDK's
/// unoptimized deserializer of a finding list needs more stack than a test thread's 2 MiB, so
/// the call runs on a thread of its own (the guard's import path runs on the test thread).
async fn findings(id: &str) -> Vec<AwsSecurityFinding> {
    let endpoint = Moto::shared().endpoint.clone();
    let id = id.to_owned();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .stack_size(16 * 1024 * 1024)
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let found = rt.block_on(async {
                let config = moto::sdk_config(&endpoint).await;
                let out = aws_sdk_securityhub::Client::new(&config)
                    .get_findings()
                    .max_results(100)
                    .send()
                    .await
                    .unwrap();
                out.findings()
                    .iter()
                    .filter(|f| f.id() == Some(id.as_str()))
                    .cloned()
                    .collect::<Vec<_>>()
            });
            let _ = tx.send(found);
        })
        .unwrap();
    rx.await.unwrap()
}

fn field<'f>(f: &'f AwsSecurityFinding, key: &str) -> Option<&'f str> {
    f.product_fields()
        .and_then(|m| m.get(key))
        .map(String::as_str)
}

#[tokio::test]
async fn a_violation_is_imported_and_a_second_one_updates_the_same_finding() {
    let moto = Moto::shared();
    let proxy = Proxy::start(&moto.endpoint).await;
    let sink = MemorySink::default();
    let g = guard("hub-found", &proxy, &sink).await;
    g.handle_event(violation("hub-found", "ev-1"), "req-1")
        .await
        .expect("remediated");
    assert_eq!(proxy.calls_of(IMPORT).len(), 1, "{:?}", proxy.operations());

    let id = format!("invokeguard/{}/444455556666", function_arn("hub-found"));
    let first = findings(&id).await;
    let [f] = first.as_slice() else {
        panic!("{first:?}")
    };
    assert_eq!(f.schema_version(), Some("2018-10-08"));
    assert_eq!(
        f.product_arn(),
        Some(format!("arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default").as_str())
    );
    assert_eq!(f.aws_account_id(), Some(ACCOUNT));
    assert!(f.types()[0].starts_with("Software and Configuration Checks/"));
    let resource = &f.resources()[0];
    assert_eq!(resource.r#type(), Some("AwsLambdaFunction"));
    assert_eq!(resource.id(), Some(function_arn("hub-found").as_str()));
    let workflow = f.workflow().and_then(|w| w.status()).map(|s| s.as_str());
    assert_eq!(workflow, Some("RESOLVED"));
    let compliance = f.compliance().and_then(|c| c.status()).map(|s| s.as_str());
    assert_eq!(compliance, Some("PASSED"));
    assert_eq!(field(f, "invokeguard/Statements"), Some("rogue"));
    assert_eq!(field(f, "invokeguard/EventId"), Some("ev-1"));

    // The grant is back (a drift), and the same caller invokes again.
    let lambda = moto::lambda_client(&moto.endpoint).await;
    moto::grant(
        &lambda,
        "hub-found",
        "rogue-again",
        "444455556666",
        None,
        None,
    )
    .await;
    g.handle_event(violation("hub-found", "ev-2"), "req-2")
        .await
        .expect("remediated");
    let again = findings(&id).await;
    assert_eq!(
        again.len(),
        1,
        "the same Id is updated, not added: {again:?}"
    );
    assert_eq!(field(&again[0], "invokeguard/EventId"), Some("ev-2"));
    assert_eq!(
        field(&again[0], "invokeguard/Statements"),
        Some("rogue-again")
    );
}

#[tokio::test]
async fn a_refused_import_is_an_error_line_and_the_remediation_stands() {
    let moto = Moto::shared();
    let proxy = Proxy::start(&moto.endpoint).await;
    proxy.inject(Fault::error(
        IMPORT,
        Hit::Nth(1),
        401,
        "InvalidAccessException",
    ));
    let failed = json!({"FailedCount": 1, "SuccessCount": 0, "FailedFindings": [
        {"Id": "x", "ErrorCode": "InvalidAccess", "ErrorMessage": "Security Hub is not enabled"}]});
    proxy.inject(Fault::new(IMPORT, Hit::Nth(2), Action::Respond(failed)));
    let sink = MemorySink::default();
    let g = guard("hub-refused", &proxy, &sink).await;
    for (i, expect) in [
        (1, "InvalidAccessException"),
        (2, "Security Hub is not enabled"),
    ] {
        let report = g
            .handle_event(violation("hub-refused", &format!("ev-r{i}")), "req")
            .await
            .expect("a refused import does not fail the event");
        if i == 1 {
            assert_eq!(report.removed, 1);
        }
        let errors: Vec<String> = sink
            .lines()
            .into_iter()
            .filter(|l| l["message"] == "error")
            .filter_map(|l| l["error"].as_str().map(str::to_owned))
            .collect();
        assert!(
            errors
                .iter()
                .any(|e| e.contains("BatchImportFindings") && e.contains(expect)),
            "{errors:?}"
        );
    }
    let policy = moto::stored_policy(
        &moto::lambda_client(&moto.endpoint).await,
        "hub-refused",
        None,
    )
    .await;
    assert!(
        !format!("{policy:?}").contains("444455556666"),
        "{policy:?}"
    );
}
