//! Invoke records against the in-memory store, written with nothing but the store's oldest
//! calls (so that they run unchanged against earlier versions of the guard): the version a
//! synchronous invoke ran is reconciled, and Invoke records draw from the account's budget
//! like the sweep does. Time is tokio's paused clock: nothing is timed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

#[path = "support/memory_guard.rs"]
mod memory_guard;

use memory_guard::{debug_settings, foreign_invoke, memory_guard};
use std::time::Duration;

use invokeguard::guard::memory::MemoryAws;
use invokeguard::guard::{Guard, MemorySink, Settings};
use serde_json::{Value, json};
use tokio::time::Instant;

const ARN: &str = "arn:aws:lambda:us-east-1:111122223333:function:orders";

fn guard(aws: MemoryAws) -> (Guard<MemoryAws>, MemorySink) {
    let text =
        json!({"version": 1, "functions": {"orders": {"allow": [{"account": "444455556666"}]}}})
            .to_string();
    let settings = Settings {
        verified_ttl: Duration::ZERO,
        ..debug_settings()
    };
    memory_guard(&text, aws, settings)
}

fn invoke(id: &str, request: Value, extra: Value) -> Value {
    foreign_invoke(ARN, id, request, extra)
}

#[tokio::test(start_paused = true)]
async fn a_grant_on_the_version_that_ran_is_removed_and_the_record_counts_it() {
    let aws = MemoryAws::with_functions(&["orders"]);
    let public = json!([{"Sid": "open", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"}]);
    aws.set_statements("orders", Some("2"), public);
    let (g, _) = guard(aws);
    // A synchronous invoke: only functionVersion says that version 2 ran.
    let record = invoke(
        "sync",
        Value::Null,
        json!({"additionalEventData": {"functionVersion": format!("{ARN}:2")}}),
    );
    let report = g.handle_event(record, "req").await.unwrap();
    let left = g.aws().policy("orders", Some("2"));
    assert!(
        left.statements
            .iter()
            .all(|s| s.sid.as_deref() != Some("open")),
        "version 2 still public: {left:?} (report {report:?})"
    );
}

#[tokio::test(start_paused = true)]
async fn invoke_records_of_distinct_qualifiers_stay_within_the_budget() {
    let (g, _) = guard(MemoryAws::with_functions(&["orders"]));
    let records: Vec<Value> = (0..300)
        .map(|i| {
            invoke(
                &format!("e{i}"),
                json!({"functionName": "orders", "qualifier": format!("q{i}")}),
                json!({}),
            )
        })
        .collect();
    let started = Instant::now();
    g.handle_event(json!(records), "req").await.unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let calls = g
        .aws()
        .calls()
        .iter()
        .filter(|c| !format!("{c:?}").starts_with("Put"))
        .count();
    // 7 a second, nothing saved up: n calls take at least (n - 1) / 7 s of the paused clock.
    assert!(calls >= 300, "{calls}");
    assert!(
        seconds >= (calls - 1) as f64 / 7.0 - 1e-6,
        "{calls} Lambda calls within {seconds} s"
    );
}
