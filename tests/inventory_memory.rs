//! Every policy that can let someone in, within one budget, against the in-memory store (which,
//! unlike moto, keeps a policy per function *and* qualifier): published versions and aliases
//! are swept; an Invoke record whose only evidence of what ran is `functionVersion` reconciles
//! that version and the aliases routing to it; every Lambda call, each page of a listing
//! included, draws from one budget per account and region whatever path makes it; a made-up
//! qualifier costs one call once. Time is tokio's paused clock: calls are counted per second of
//! it, nothing is timed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

#[path = "support/memory_guard.rs"]
mod memory_guard;

use memory_guard::{HOME, debug_settings, foreign_invoke, memory_guard};
use std::time::Duration;

use invokeguard::guard::memory::{Call, MemoryAws};
use invokeguard::guard::{ApiError, Guard, MemorySink, Settings};
use serde_json::{Value, json};
use tokio::time::Instant;

const ARN: &str = "arn:aws:lambda:us-east-1:111122223333:function:orders";

fn guard(aws: MemoryAws, verified_ttl: Duration) -> (Guard<MemoryAws>, MemorySink) {
    let text =
        json!({"version": 1, "functions": {"orders": {"allow": [{"account": "444455556666"}]}}})
            .to_string();
    let settings = Settings {
        verified_ttl,
        ..debug_settings()
    };
    memory_guard(&text, aws, settings)
}

fn public() -> Value {
    json!([{"Sid": "open", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"}])
}

fn partner() -> Value {
    json!([{"Sid": "partner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "lambda:InvokeFunction"}])
}

fn invoke(id: &str, request: Value, extra: Value) -> Value {
    foreign_invoke(ARN, id, request, extra)
}

/// A synchronous invoke: `requestParameters` null, only `functionVersion` says what ran.
fn ran_version(version: &str) -> Value {
    invoke(
        "sync-1",
        Value::Null,
        json!({"additionalEventData": {"functionVersion": format!("{ARN}:{version}")}}),
    )
}

fn scheduled() -> Value {
    json!({"version": "0", "id": "s1", "source": "aws.events", "detail-type": "Scheduled Event",
        "account": HOME, "region": "us-east-1", "resources": [], "detail": {}})
}

/// A function with versions 1 and 2, `live` routing to 2 and `old` to 1, each policy public.
fn versioned() -> MemoryAws {
    let aws = MemoryAws::with_functions(&["orders"]);
    aws.set_versions("orders", &["1", "2"]);
    aws.set_alias("orders", "live", "2");
    aws.set_alias("orders", "old", "1");
    for q in [None, Some("1"), Some("2"), Some("live"), Some("old")] {
        aws.set_statements("orders", q, public());
    }
    aws
}

fn is_public(aws: &MemoryAws, q: Option<&str>) -> bool {
    aws.policy("orders", q)
        .statements
        .iter()
        .any(|s| s.sid.as_deref() == Some("open"))
}

fn is_lambda(call: &Call) -> bool {
    !matches!(
        call,
        Call::PutEvents(_) | Call::PutItem(_) | Call::GetObject(..)
    )
}

/// The most Lambda calls made within any one second of tokio's clock.
fn busiest_second(aws: &MemoryAws) -> usize {
    let at: Vec<Instant> = aws
        .calls_at()
        .into_iter()
        .filter(|(_, c)| is_lambda(c))
        .map(|(t, _)| t)
        .collect();
    at.iter()
        .map(|start| {
            at.iter()
                .filter(|t| **t >= *start && t.duration_since(*start) < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0)
}

fn count(aws: &MemoryAws, f: impl Fn(&Call) -> bool) -> usize {
    aws.calls().iter().filter(|c| f(c)).count()
}

#[tokio::test(start_paused = true)]
async fn the_sweep_reconciles_every_published_version_and_alias() {
    let (g, sink) = guard(versioned(), Duration::from_secs(10));
    g.handle_event(scheduled(), "req").await.unwrap();
    for q in [None, Some("1"), Some("2"), Some("live"), Some("old")] {
        assert!(!is_public(g.aws(), q), "{q:?} still public");
    }
    let sweep = sink.first("sweep").unwrap();
    assert_eq!(sweep["policiesRead"], 5);
    assert_eq!(sweep["fixed"], 5);
}

#[tokio::test(start_paused = true)]
async fn an_invoke_known_only_by_its_version_reconciles_that_version_and_the_aliases_routing_to_it()
{
    let (g, sink) = guard(versioned(), Duration::from_secs(10));
    let report = g.handle_event(ran_version("2"), "req").await.unwrap();
    assert_eq!(report.unfixed, 0);
    for q in [None, Some("2"), Some("live")] {
        assert!(!is_public(g.aws(), q), "{q:?} still public");
    }
    // What did not run is left to the sweep.
    assert!(is_public(g.aws(), Some("1")) && is_public(g.aws(), Some("old")));
    let routed = count(g.aws(), |c| {
        *c == Call::ListAliasesTo("orders".into(), "2".into())
    });
    assert_eq!(routed, 1);
    let summary = sink.first("summary").unwrap();
    assert_eq!(summary["unfixed"], 0);
}

#[tokio::test(start_paused = true)]
async fn when_the_aliases_routing_to_the_version_cannot_be_listed_the_record_is_unfixed() {
    let aws = versioned();
    aws.fail_next(
        "ListAliases",
        vec![ApiError::Throttled("Rate exceeded".into())],
    );
    let (g, sink) = guard(aws, Duration::from_secs(10));
    let err = g.handle_event(ran_version("2"), "req").await.unwrap_err();
    assert!(err.to_string().contains("version 2"), "{err}");
    // The version's own policy is still reconciled; the alias may still let the caller in.
    assert!(!is_public(g.aws(), Some("2")));
    assert!(is_public(g.aws(), Some("live")));
    let summary = sink.first("summary").unwrap();
    assert_eq!(summary["unfixed"], 1);
}

#[tokio::test(start_paused = true)]
async fn made_up_qualifiers_cost_one_call_each_within_the_budget_then_nothing() {
    let aws = MemoryAws::with_functions(&["orders"]);
    aws.set_versions("orders", &["1"]);
    // No coalescing: only the memory of missing qualifiers can spare the calls.
    let (g, _) = guard(aws, Duration::ZERO);
    // Calls naming a qualifier that does not exist fail, yet they are logged: a violation each.
    let records: Vec<Value> = (0..300)
        .map(|i| {
            invoke(
                &format!("e{i}"),
                json!({"functionName": "orders", "qualifier": format!("made-up-{i}")}),
                json!({"errorCode": "ResourceNotFoundException"}),
            )
        })
        .collect();
    let report = g.handle_event(json!(records), "req").await.unwrap();
    assert_eq!(report.unfixed, 0, "nothing there to let anyone in");
    let gets = count(g.aws(), |c| matches!(c, Call::GetPolicy(_)));
    assert_eq!(gets, 300, "one GetPolicy per made-up qualifier");
    let busiest = busiest_second(g.aws());
    assert!(busiest <= 8, "{busiest} Lambda calls in one second");
    // The same records again: not one call.
    let before = count(g.aws(), is_lambda);
    let again = g.handle_event(json!(records), "req").await.unwrap();
    assert_eq!((again.api_calls, count(g.aws(), is_lambda)), (0, before));
    // A call that succeeded proves its qualifier exists (now an alias, say): it is reconciled.
    g.aws().set_alias("orders", "made-up-7", "1");
    g.aws()
        .set_statements("orders", Some("made-up-7"), public());
    let ok = invoke(
        "ok",
        json!({"functionName": "orders", "qualifier": "made-up-7"}),
        json!({}),
    );
    let report = g.handle_event(ok, "req").await.unwrap();
    assert_eq!(report.removed, 1);
    assert!(!is_public(g.aws(), Some("made-up-7")));
}

#[tokio::test(start_paused = true)]
async fn every_page_of_a_listing_is_a_call_within_the_budget() {
    let aws = MemoryAws::with_functions(&["orders"]);
    let versions: Vec<String> = (1..=60).map(|v| v.to_string()).collect();
    let refs: Vec<&str> = versions.iter().map(String::as_str).collect();
    aws.set_versions("orders", &refs);
    for a in 0..120 {
        aws.set_alias("orders", &format!("a{a}"), "1");
    }
    let (g, sink) = guard(aws, Duration::from_secs(10));
    // Each policy lacks the partner's grant: 181 policies, each read and written.
    g.handle_event(scheduled(), "req").await.unwrap();
    let lists = count(g.aws(), |c| matches!(c, Call::ListAliases(_)));
    let versions = count(g.aws(), |c| matches!(c, Call::ListVersions(_)));
    assert_eq!((lists, versions), (3, 2), "50 a page");
    assert!(busiest_second(g.aws()) <= 8);
    let sweep = sink.first("sweep").unwrap();
    assert_eq!(sweep["policiesRead"], 181);
    assert_eq!(sweep["apiCalls"], json!(count(g.aws(), is_lambda)));
}

#[tokio::test(start_paused = true)]
async fn the_sweep_and_invoke_records_share_one_budget() {
    let aws = versioned();
    aws.set_statements("orders", None, partner());
    let (g, _) = guard(aws, Duration::ZERO);
    let records: Vec<Value> = (0..40)
        .map(|i| {
            invoke(
                &format!("e{i}"),
                json!({"functionName": "orders", "qualifier": format!("x{i}")}),
                json!({}),
            )
        })
        .collect();
    let (swept, handled) = tokio::join!(
        g.handle_event(scheduled(), "sweep"),
        g.handle_event(json!(records), "records")
    );
    swept.unwrap();
    handled.unwrap();
    let busiest = busiest_second(g.aws());
    assert!(busiest <= 8, "{busiest} Lambda calls in one second");
}
