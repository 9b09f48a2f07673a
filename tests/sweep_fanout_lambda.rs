//! The built `invokeguard-lambda` binary consuming the sweep queue: under our Runtime API, with
//! moto behind the recording proxy as AWS, an SQS event of sweep-pair messages is answered with
//! the batch item failures only (ReportBatchItemFailures), never a failed invocation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

mod support;

use std::io::Write;
use std::path::Path;

use serde_json::json;
use support::moto::{self, ACCOUNT, Moto};
use support::proxy::Proxy;
use support::runtime_api::{RuntimeApi, spawn_lambda};

#[tokio::test]
async fn the_binary_answers_an_sqs_batch_with_the_items_to_redeliver() {
    let moto = Moto::shared();
    let lambda = moto::function_with_grants(&moto.endpoint, "fanout-bin", &[("public", "*")]).await;
    let proxy = Proxy::start(&moto.endpoint).await;
    let mut policies = tempfile::NamedTempFile::new().unwrap();
    policies
        .write_all(br#"{"version": 1, "functions": {"fanout-bin": {"allow": [{"account": "111122223333"}]}}}"#)
        .unwrap();
    let api = RuntimeApi::start().await;
    let env = moto::guard_env(&proxy.endpoint, policies.path());
    let _process = spawn_lambda(
        Path::new(env!("CARGO_BIN_EXE_invokeguard-lambda")),
        &api,
        &env,
    );
    let home_pair = json!({"invokeguard": "sweep-pair", "account": ACCOUNT, "region": "us-east-1"});
    let event = json!({"Records": [
        {"messageId": "home", "eventSource": "aws:sqs", "body": home_pair.to_string()},
        {"messageId": "junk", "eventSource": "aws:sqs", "body": "{\"invokeguard\": \"other\"}"}
    ]});
    let answer = api.invoke(event).await;
    let report = answer
        .outcome
        .expect("a partial failure is not a failed invocation");
    assert_eq!(
        report["batchItemFailures"],
        json!([{"itemIdentifier": "junk"}]),
        "{report}"
    );
    // The home pair was swept: its public grant is gone.
    let stored = moto::stored_policy(&lambda, "fanout-bin", None)
        .await
        .expect("a policy");
    assert!(
        !stored.to_string().contains("\"public\""),
        "public grant left: {stored}"
    );
    assert!(proxy.operations().iter().any(|o| o == "GetPolicy"));
}
