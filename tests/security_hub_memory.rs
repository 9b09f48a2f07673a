//! Violations as Security Hub findings, against the in-memory store: opt-in (no call unless
//! turned on), one finding per function, qualifier and caller, its status following what the
//! guard did (RESOLVED, NOTIFIED, NEW), one import per event, and a failed import that neither
//! fails the event nor undoes the remediation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

#[path = "support/memory_guard.rs"]
mod memory_guard;

use memory_guard::{HOME, debug_settings, memory_guard, policies_of_f};

use invokeguard::finding::{Finding, Workflow};
use invokeguard::guard::memory::{Call, MemoryAws};
use std::time::Duration;

use invokeguard::guard::{ApiError, Guard, MemorySink, Settings};
use serde_json::{Value, json};

const ARN: &str = "arn:aws:lambda:us-east-1:111122223333:function:f";

fn store(callers: &[&str]) -> MemoryAws {
    let aws = MemoryAws::with_functions(&["f"]);
    let statements: Vec<Value> = callers
        .iter()
        .map(|a| {
            json!({"Sid": format!("rogue-{a}"), "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{a}:root")},
                "Action": "lambda:InvokeFunction", "Resource": ARN})
        })
        .collect();
    aws.set_statements("f", None, json!(statements));
    aws
}

fn guard(extra: Value, aws: MemoryAws) -> (Guard<MemoryAws>, MemorySink) {
    // Every record reaches AWS: no verification answers for a later one.
    let settings = Settings {
        verified_ttl: Duration::ZERO,
        ..debug_settings()
    };
    memory_guard(&policies_of_f(json!([]), extra), aws, settings)
}

fn invoke(id: &str, account: &str) -> Value {
    json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke", "eventID": id,
        "eventTime": "2026-12-06T10:00:00Z",
        "userIdentity": {"type": "AWSAccount", "accountId": account},
        "resources": [{"type": "AWS::Lambda::Function", "ARN": ARN}]})
}

fn imports(aws: &MemoryAws) -> Vec<usize> {
    aws.calls()
        .iter()
        .filter_map(|c| match c {
            Call::BatchImportFindings(n) => Some(*n),
            _ => None,
        })
        .collect()
}

fn field<'f>(f: &'f Finding, key: &str) -> Option<&'f str> {
    f.product_fields
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn without_security_hub_no_finding_is_built_or_sent() {
    let (g, _) = guard(json!({}), store(&["999999999999"]));
    let report = g
        .handle_event(invoke("e1", "999999999999"), "req")
        .await
        .unwrap();
    assert_eq!((report.violations, report.removed), (1, 1));
    assert!(imports(g.aws()).is_empty(), "{:?}", g.aws().calls());
    assert!(g.aws().findings().is_empty());
}

#[tokio::test]
async fn a_removed_grant_is_a_resolved_finding_naming_caller_and_statement() {
    let (g, _) = guard(json!({}), store(&["999999999999"]).with_security_hub());
    g.handle_event(invoke("e1", "999999999999"), "req")
        .await
        .unwrap();
    assert_eq!(imports(g.aws()), [1]);
    let found = g.aws().findings();
    let [f] = found.as_slice() else {
        panic!("{found:?}")
    };
    assert_eq!(f.id, format!("invokeguard/{ARN}/999999999999"));
    assert_eq!(f.workflow, Workflow::Resolved);
    assert_eq!(f.compliance_status, "PASSED");
    assert_eq!(f.aws_account_id, HOME);
    assert_eq!(
        f.product_arn,
        format!("arn:aws:securityhub:us-east-1:{HOME}:product/{HOME}/default")
    );
    assert_eq!(f.resource_id, ARN);
    assert_eq!(f.created_at, "2026-12-06T10:00:00Z");
    assert_eq!(
        field(f, "invokeguard/Statements"),
        Some("rogue-999999999999")
    );
    assert_eq!(field(f, "invokeguard/Caller"), Some("999999999999"));
    assert_eq!(
        field(f, "invokeguard/Reason"),
        Some("caller-not-allowlisted")
    );
}

#[tokio::test]
async fn report_mode_is_notified_and_the_grant_stays() {
    let (g, _) = guard(
        json!({"mode": "report"}),
        store(&["999999999999"]).with_security_hub(),
    );
    g.handle_event(invoke("e1", "999999999999"), "req")
        .await
        .unwrap();
    let found = g.aws().findings();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].workflow, Workflow::Notified);
    assert_eq!(found[0].compliance_status, "FAILED");
    assert_eq!(
        field(&found[0], "invokeguard/Statements"),
        Some("rogue-999999999999")
    );
    assert_eq!(g.aws().policy("f", None).statements.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_fix_is_new_never_resolved() {
    let aws = store(&["999999999999"]).with_security_hub();
    aws.fail_next(
        "RemovePermission",
        vec![ApiError::Other("AccessDenied".into()); 8],
    );
    let (g, _) = guard(json!({}), aws);
    let result = g.handle_event(invoke("e1", "999999999999"), "req").await;
    assert!(result.is_err(), "the event fails so that Lambda retries it");
    let found = g.aws().findings();
    assert_eq!(found.len(), 1, "a failed event still reports its finding");
    assert_eq!(found[0].workflow, Workflow::New);
    assert_eq!(found[0].compliance_status, "FAILED");
}

#[tokio::test]
async fn the_same_caller_twice_is_one_finding_and_one_call_per_event() {
    let (g, _) = guard(json!({}), store(&["999999999999"]).with_security_hub());
    let twice = json!([invoke("e1", "999999999999"), invoke("e2", "999999999999")]);
    g.handle_event(twice, "req").await.unwrap();
    assert_eq!(imports(g.aws()), [1], "one call, one finding");
    let first = g.aws().findings();
    g.handle_event(invoke("e3", "999999999999"), "req2")
        .await
        .unwrap();
    let again = g.aws().findings();
    assert_eq!(again.len(), 1, "the same Id is updated: {again:?}");
    assert_eq!(again[0].id, first[0].id);
    assert_eq!(field(&again[0], "invokeguard/EventId"), Some("e3"));
}

// Tokio's paused clock: 300 Lambda calls within the account's budget take no real time.
#[tokio::test(start_paused = true)]
async fn many_callers_in_one_event_are_imported_a_hundred_at_a_time() {
    let accounts: Vec<String> = (0..150)
        .map(|i| format!("{:012}", 200_000_000_000u64 + i))
        .collect();
    let refs: Vec<&str> = accounts.iter().map(String::as_str).collect();
    let (g, _) = guard(json!({}), store(&refs).with_security_hub());
    let records: Vec<Value> = refs
        .iter()
        .enumerate()
        .map(|(i, a)| invoke(&format!("e{i}"), a))
        .collect();
    g.handle_event(json!(records), "req").await.unwrap();
    assert_eq!(imports(g.aws()), [100, 50]);
    assert_eq!(g.aws().findings().len(), 150);
}

#[tokio::test]
async fn a_failed_import_is_an_error_line_and_the_remediation_stands() {
    let aws = store(&["999999999999"]).with_security_hub();
    aws.fail_next(
        "BatchImportFindings",
        vec![ApiError::Other("InvalidAccessException".into())],
    );
    let (g, sink) = guard(json!({}), aws);
    let report = g.handle_event(invoke("e1", "999999999999"), "req").await;
    let report = report.expect("a failed import does not fail the event");
    assert_eq!(report.removed, 1);
    assert!(g.aws().policy("f", None).statements.is_empty());
    let lines = sink.lines();
    let error = lines.iter().find(|l| {
        l["message"] == "error"
            && l["error"]
                .as_str()
                .is_some_and(|e| e.contains("BatchImportFindings"))
    });
    assert!(error.is_some(), "{lines:?}");
}
