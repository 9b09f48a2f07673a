//! `scripts/bench-lambda.sh`: init time (process start to the first Runtime API `next`) and
//! peak RSS of the release `invokeguard-lambda`, side by side with an empty `lambda_runtime`
//! function built the same way; handler time for an allowed record; AWS calls per remediation
//! against the minimum. Prints figures; asserts nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark: any failure is fatal

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::moto::{self, ACCOUNT, Moto};
use support::proxy::Proxy;
use support::runtime_api::{RuntimeApi, peak_rss_kib, spawn_lambda};

const RUNS: usize = 10;

fn record(name: &str, account: &str) -> Value {
    json!({"version": "0", "id": "b", "detail-type": "AWS API Call via CloudTrail", "source": "aws.lambda",
        "detail": {"eventSource": "lambda.amazonaws.com", "eventName": "Invoke", "eventID": "bench", "recipientAccountId": ACCOUNT,
        "userIdentity": {"type": "AWSAccount", "accountId": account},
        "resources": [{"type": "AWS::Lambda::Function", "ARN": format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}")}]}})
}

struct Figures {
    init: Vec<Duration>,
    handler: Vec<Duration>,
    peak_rss: Vec<u64>,
}

fn median<T: Copy + Ord>(v: &[T]) -> T {
    let mut v = v.to_vec();
    v.sort();
    v[v.len() / 2]
}

async fn measure(binary: &Path, env: &[(String, String)], event: &Value) -> Figures {
    let mut f = Figures {
        init: Vec::new(),
        handler: Vec::new(),
        peak_rss: Vec::new(),
    };
    for _ in 0..RUNS {
        let api = RuntimeApi::start().await;
        let started = Instant::now();
        let process = spawn_lambda(binary, &api, env);
        let first_next = api
            .wait_first_next(Duration::from_secs(30))
            .await
            .expect("the runtime asked for an event");
        f.init.push(first_next - started);
        // The first invocation pays one-time costs; the second is the steady state.
        api.invoke(event.clone()).await;
        let t = Instant::now();
        let out = api.invoke(event.clone()).await;
        f.handler.push(t.elapsed());
        assert!(out.outcome.is_ok(), "{:?}", out.outcome);
        f.peak_rss
            .push(peak_rss_kib(process.pid().expect("running")));
    }
    f
}

fn row(name: &str, f: &Figures) {
    println!(
        "  {name:<28} init median {:>6.2} ms (min {:>6.2})   peak RSS median {:>6} KiB   round trip of an invoke median {:>6.3} ms",
        median(&f.init).as_secs_f64() * 1e3,
        f.init
            .iter()
            .min()
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1e3,
        median(&f.peak_rss),
        median(&f.handler).as_secs_f64() * 1e3,
    );
}

#[tokio::main]
async fn main() {
    let guard_bin = PathBuf::from(
        std::env::var("INVOKEGUARD_BIN")
            .unwrap_or_else(|_| "target/release/invokeguard-lambda".into()),
    );
    let empty_bin = PathBuf::from(
        std::env::var("BASELINE_BIN")
            .unwrap_or_else(|_| "target/release/examples/empty_lambda".into()),
    );
    let moto = Moto::start();
    let lambda = moto::lambda_client(&moto.endpoint).await;
    let role = moto::create_role(&moto.endpoint).await;
    moto::create_function(&lambda, "benched", &role).await;
    let proxy = Proxy::start(&moto.endpoint).await;
    let policies = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        policies.path(),
        json!({"version": 1, "functions": {"benched": {"allow": [{"account": "111122223333"}, {"account": "222233334444"}]}}}).to_string(),
    )
    .unwrap();
    let env = moto::guard_env(&proxy.endpoint, policies.path());

    println!(
        "Lambda binaries under a local Runtime API, {RUNS} cold starts each (host build, release profile):"
    );
    let empty = measure(&empty_bin, &env, &json!({"ping": 1})).await;
    row("empty lambda_runtime fn", &empty);
    let guard = measure(&guard_bin, &env, &record("benched", "111122223333")).await;
    row("invokeguard-lambda (allowed)", &guard);
    assert!(
        proxy.calls().is_empty(),
        "allowed records made AWS calls: {:?}",
        proxy.operations()
    );
    println!("  AWS calls for {} allowed records: 0", RUNS * 2);

    // A remediation: two grants to remove, one allowed grant kept, one to add.
    for (sid, principal) in [
        ("partner", "222233334444"),
        ("public", "*"),
        ("stranger", "999999999999"),
    ] {
        lambda
            .add_permission()
            .function_name("benched")
            .statement_id(sid)
            .action("lambda:InvokeFunction")
            .principal(principal)
            .send()
            .await
            .unwrap();
    }
    let api = RuntimeApi::start().await;
    let _process = spawn_lambda(&guard_bin, &api, &env);
    let t = Instant::now();
    let out = api.invoke(record("benched", "444455556666")).await;
    let took = t.elapsed();
    let report = out.outcome.expect("remediated");
    let changes = report["removed"].as_u64().unwrap_or(0) + report["added"].as_u64().unwrap_or(0);
    println!(
        "remediation: {} AWS calls ({:?}) for {changes} changes; minimum is 1 GetPolicy + {changes} = {}; {:.1} ms including the lazy SDK client setup",
        proxy.calls().len(),
        proxy.operations(),
        1 + changes,
        took.as_secs_f64() * 1e3
    );
}
