//! The pure engine's cost: a verdict on one record, the allowlist lookup among 5,000 guarded
//! functions, plans on policies of 20, 200 and 2,000 statements to remove, and plans with their
//! proof on 20 and 200 kept statements.
//! Run: cargo bench --bench engine

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

use criterion::{Criterion, criterion_group, criterion_main};
use invokeguard::allowlist::{Allowlist, Apply};
use invokeguard::plan::plan;
use invokeguard::record::{invocation, parse_input};
use invokeguard::resource_policy::ResourcePolicy;
use invokeguard::verdict::decide;
use serde_json::{Value, json};
use std::hint::black_box;

fn policies() -> Allowlist {
    let text = json!({"version": 1, "functions": {
        "function239": {"allow": [
            {"service": "s3.amazonaws.com", "sourceArn": "arn:aws:s3:::uploads", "sourceAccount": "111111111111"},
            {"account": "222233334444"},
            {"principal": "arn:aws:iam::999999999999:role/ops"}
        ]}
    }})
    .to_string();
    Allowlist::from_json(&text, "bench", None).unwrap_or_else(|e| panic!("{e}"))
}

fn bench(c: &mut Criterion) {
    let policies = policies();
    let record_bytes =
        std::fs::read("tests/fixtures/made/eventbridge_invoke_s3_async_alias_arn.json")
            .unwrap_or_else(|e| panic!("{e}"));
    c.bench_function("verdict: parse + decide one EventBridge record", |b| {
        b.iter(|| {
            let found = parse_input(black_box(&record_bytes), "bench").unwrap_or_default();
            found
                .iter()
                .filter_map(|f| invocation(&f.record).ok())
                .map(|i| decide(&policies, &i))
                .collect::<Vec<_>>()
        })
    });
    bench_lookup(c);
    for n in [20usize, 200, 2_000] {
        bench_plan(c, &policies, n);
    }
    for n in [20usize, 200] {
        bench_kept(c, &policies, n);
    }
}

/// The lookup every record makes (two or three times): by ARN key, then by name at home.
fn bench_lookup(c: &mut Criterion) {
    let mut functions = serde_json::Map::new();
    for i in 0..2_500 {
        functions.insert(format!("fn{i:04}"), json!({"allow": []}));
        functions.insert(
            format!("arn:aws:lambda:us-east-1:111122223333:function:arn{i:04}"),
            json!({"allow": []}),
        );
    }
    let text = json!({"version": 1, "functions": functions}).to_string();
    let many = Allowlist::from_json(&text, "bench", None).unwrap_or_else(|e| panic!("{e}"));
    c.bench_function("allowlist: lookup by name among 5,000 functions", |b| {
        b.iter(|| many.lookup(black_box("fn2499"), None).is_some())
    });
    c.bench_function("allowlist: lookup by ARN among 5,000 functions", |b| {
        b.iter(|| {
            many.lookup(
                "arn2499",
                Some(black_box(
                    "arn:aws:lambda:us-east-1:111122223333:function:arn2499",
                )),
            )
            .is_some()
        })
    });
}

fn bench_plan(c: &mut Criterion, policies: &Allowlist, n: usize) {
    let statements: Vec<_> = (0..n)
        .map(|i| {
            json!({"Sid": format!("s{i}"), "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                   "Action": "lambda:InvokeFunction",
                   "Condition": {"ArnLike": {"AWS:SourceArn": format!("arn:aws:sns:us-east-1:111111111111:t{i}")}}})
        })
        .collect();
    bench_plan_of(
        c,
        policies,
        &format!("plan: {n}-statement policy"),
        statements,
    );
}

/// Statements narrower than an entry are kept, so the proof evaluates requests against all of
/// them: the proof's cost grows with the square of the kept statements. (A Lambda policy holds
/// at most 20 KB, about a hundred such statements.)
fn bench_kept(c: &mut Criterion, policies: &Allowlist, n: usize) {
    let statements: Vec<_> = (0..n)
        .map(|i| {
            json!({"Sid": format!("k{i}"), "Effect": "Allow", "Principal": {"AWS": "222233334444"},
                   "Action": "lambda:InvokeFunction",
                   "Condition": {"StringEquals": {"aws:SourceVpce": format!("vpce-{i}")}}})
        })
        .collect();
    let label = format!("plan and proof: {n} kept narrower statements");
    bench_plan_of(c, policies, &label, statements);
}

fn bench_plan_of(c: &mut Criterion, policies: &Allowlist, label: &str, statements: Vec<Value>) {
    let current = ResourcePolicy::from_value(&json!({"Statement": statements}))
        .unwrap_or_else(|e| panic!("{e}"));
    let allow = policies
        .lookup("function239", None)
        .map(|(_, f)| f.allow.clone())
        .unwrap_or_default();
    c.bench_function(label, |b| {
        b.iter(|| {
            plan(
                "function239",
                None,
                black_box(&allow),
                black_box(&current),
                Apply::Permissions,
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
