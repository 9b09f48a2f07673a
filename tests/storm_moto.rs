//! An event storm in one container: an unexpected caller invoking over and over, mixed with
//! allowed traffic. AWS calls stay bounded (coalescing per function and qualifier), every record
//! still gets its decision line, and nothing fails. Figures: `cargo bench --bench storm`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

mod support;

use std::sync::Arc;

use invokeguard::allowlist::Allowlist;
use invokeguard::guard::{EventReport, Guard, MemorySink, Settings};
use invokeguard::sdk::LazyAws;
use serde_json::{Value, json};
use support::moto::{self, ACCOUNT, Moto};
use support::proxy::Proxy;

fn record(name: &str, account: &str, n: usize) -> Value {
    json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke", "eventID": format!("storm-{n}"),
        "recipientAccountId": ACCOUNT, "userIdentity": {"type": "AWSAccount", "accountId": account},
        "resources": [{"ARN": format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}")}]})
}

async fn stormy(name: &str) -> (Proxy, MemorySink, Arc<Guard<LazyAws>>) {
    let moto = Moto::shared();
    moto::function_with_grants(
        &moto.endpoint,
        name,
        &[("partner", "222233334444"), ("stranger", "444455556666")],
    )
    .await;
    let proxy = Proxy::start(&moto.endpoint).await;
    let policies = Allowlist::from_json(
        &json!({"version": 1, "functions": {name: {"allow": [{"account": "222233334444"}]}}})
            .to_string(),
        "t",
        None,
    )
    .unwrap();
    let sink = MemorySink::default();
    let aws = LazyAws::with_config(moto::sdk_config(&proxy.endpoint).await, None);
    (
        proxy,
        sink.clone(),
        Arc::new(Guard::new(
            policies,
            aws,
            Arc::new(sink),
            // Longer than any run of this test, however loaded the machine (default: 10 s).
            Settings {
                verified_ttl: std::time::Duration::from_secs(600),
                ..Settings::default()
            },
        )),
    )
}

#[tokio::test]
async fn a_storm_of_records_costs_one_reconcile() {
    let (proxy, sink, guard) = stormy("storm-seq").await;
    let mut total = EventReport::default();
    for n in 0..2_000 {
        // The same stranger keeps invoking, between calls of the allowed partner.
        let account = if n % 2 == 0 {
            "444455556666"
        } else {
            "222233334444"
        };
        let r = guard
            .handle_event(record("storm-seq", account, n), "req")
            .await
            .expect("handled");
        total.violations += r.violations;
        total.allowed += r.allowed;
        total.coalesced += r.coalesced;
        total.api_calls += r.api_calls;
    }
    assert_eq!((total.violations, total.allowed), (1_000, 1_000));
    assert_eq!(
        total.coalesced, 999,
        "every violation after the first finds the policy just verified"
    );
    assert_eq!(
        proxy.operations(),
        ["GetPolicy", "RemovePermission"],
        "one GetPolicy and one change for 2,000 records"
    );
    assert_eq!(total.api_calls, 2);
    let decisions = sink
        .lines()
        .into_iter()
        .filter(|l| l["message"] == "decision")
        .count();
    assert_eq!(decisions, 2_000, "every record is still on record");
}

#[tokio::test]
async fn concurrent_records_wait_for_the_reconcile_in_flight() {
    let (proxy, _sink, guard) = stormy("storm-par").await;
    let tasks: Vec<_> = (0..200)
        .map(|n| {
            let guard = Arc::clone(&guard);
            tokio::spawn(async move {
                guard
                    .handle_event(record("storm-par", "444455556666", n), "req")
                    .await
            })
        })
        .collect();
    let mut coalesced = 0;
    for t in tasks {
        coalesced += t.await.expect("joined").expect("handled").coalesced;
    }
    assert_eq!(coalesced, 199);
    assert_eq!(proxy.operations(), ["GetPolicy", "RemovePermission"]);
}
