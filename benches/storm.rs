//! Event storm figures: records received versus AWS calls made, wall time, allowed-record
//! throughput and resident memory, for 10,000 records in one container against moto.
//! Run: cargo bench --bench storm   (prints a table; asserts nothing)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark: any failure is fatal

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use invokeguard::allowlist::Allowlist;
use invokeguard::guard::{Guard, LogSink, Settings};
use invokeguard::sdk::LazyAws;
use serde_json::{Value, json};
use support::moto::{self, ACCOUNT, Moto};
use support::proxy::Proxy;

/// Counts lines instead of keeping them, so the sink itself does not grow.
#[derive(Default)]
struct CountingSink(AtomicUsize);

impl LogSink for CountingSink {
    fn write_line(&self, _: &str) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn record(account: &str, n: usize) -> Value {
    json!({"version": "0", "id": n.to_string(), "detail-type": "AWS API Call via CloudTrail", "source": "aws.lambda",
        "detail": {"eventVersion": "1.09", "eventSource": "lambda.amazonaws.com", "eventName": "Invoke", "eventID": format!("storm-{n}"),
        "recipientAccountId": ACCOUNT, "userIdentity": {"type": "AssumedRole", "accountId": account, "arn": format!("arn:aws:sts::{account}:assumed-role/r/s")},
        "requestParameters": {"functionName": format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:storm"), "invocationType": "RequestResponse"},
        "resources": [{"type": "AWS::Lambda::Function", "ARN": format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:storm")}]}})
}

#[tokio::main]
async fn main() {
    let moto = Moto::start();
    moto::function_with_grants(
        &moto.endpoint,
        "storm",
        &[("partner", "222233334444"), ("stranger", "444455556666")],
    )
    .await;
    let proxy = Proxy::start(&moto.endpoint).await;
    let policies = Allowlist::from_json(
        &json!({"version": 1, "functions": {"storm": {"allow": [{"account": "222233334444"}]}}})
            .to_string(),
        "bench",
        None,
    )
    .unwrap();
    let sink = Arc::new(CountingSink::default());
    let guard = Guard::new(
        policies,
        LazyAws::with_config(moto::sdk_config(&proxy.endpoint).await, None),
        sink.clone(),
        Settings::default(),
    );

    // 1. The storm: one unexpected caller in a loop, between allowed calls (1 in 2).
    let records = 10_000;
    let rss_start = rss_kib();
    let started = Instant::now();
    let (mut violations, mut coalesced, mut calls, mut rss_1k) = (0, 0, 0, 0);
    for n in 0..records {
        let account = if n % 2 == 0 {
            "444455556666"
        } else {
            "222233334444"
        };
        let r = guard
            .handle_event(record(account, n), "bench")
            .await
            .expect("handled");
        violations += r.violations;
        coalesced += r.coalesced;
        calls += r.api_calls;
        if n == 999 {
            rss_1k = rss_kib();
        }
    }
    let storm = started.elapsed();
    let storm_lines = sink.0.load(Ordering::Relaxed);
    let rss_end = rss_kib();

    // 2. Allowed records only: the common case, no AWS call.
    let allowed_n = 10_000;
    let started = Instant::now();
    for n in 0..allowed_n {
        guard
            .handle_event(record("222233334444", n), "bench")
            .await
            .expect("handled");
    }
    let allowed = started.elapsed();

    println!(
        "storm: {records} records ({violations} violations by one caller, {} allowed), one container, moto behind the proxy",
        records - violations
    );
    println!(
        "  AWS calls made           {calls} (proxy saw {}: {:?})",
        proxy.calls().len(),
        proxy.operations()
    );
    println!(
        "  calls per record         {:.5}",
        calls as f64 / records as f64
    );
    println!("  coalesced reconciles     {coalesced}");
    println!(
        "  wall time                {:.1} ms ({:.1} µs/record)",
        storm.as_secs_f64() * 1e3,
        storm.as_secs_f64() * 1e6 / records as f64
    );
    println!("  log lines written        {}", storm_lines);
    println!("  RSS start / after 1k / after 10k   {rss_start} / {rss_1k} / {rss_end} KiB");
    println!(
        "allowed records: {allowed_n} in {:.1} ms = {:.0} records/s ({:.2} µs each, parse + decide + 2 log lines)",
        allowed.as_secs_f64() * 1e3,
        allowed_n as f64 / allowed.as_secs_f64(),
        allowed.as_secs_f64() * 1e6 / allowed_n as f64
    );
    println!("  RSS after allowed run    {} KiB", rss_kib());
}
