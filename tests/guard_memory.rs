//! The shell against the in-memory Lambda policy store (`remediate::memory`): ordering,
//! whole-document writes, report mode, unproven allows and home scoping, in milliseconds.
//! moto has no PutResourcePolicy, so the whole-document path is exercised here; the in-memory
//! store follows Lambda's rules (RevisionId checks, unique Sids, whole-document replace).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

use std::sync::Arc;

use invokeguard::allowlist::Allowlist;
use invokeguard::home::Home;
use invokeguard::remediate::memory::{Call, MemoryAws};
use invokeguard::remediate::{ApiError, EventReport, Guard, Level, MemorySink, Settings};
use serde_json::{Value, json};

const HOME: &str = "111122223333";
const ARN: &str = "arn:aws:lambda:us-east-1:111122223333:function:f";

fn guard(allow: Value, extra: Value, aws: MemoryAws) -> (Guard<MemoryAws>, MemorySink) {
    let mut function = json!({ "allow": allow });
    if let (Some(f), Some(e)) = (function.as_object_mut(), extra.as_object()) {
        f.extend(e.clone());
    }
    let text = json!({"version": 1, "functions": {"f": function}}).to_string();
    let policies = Allowlist::from_json(&text, "test", None).unwrap();
    policies
        .set_home(Home::new("aws", "us-east-1", HOME).unwrap())
        .unwrap();
    let sink = MemorySink::default();
    let settings = Settings {
        log_level: Level::Debug,
        ..Settings::default()
    };
    (
        Guard::new(policies, aws, Arc::new(sink.clone()), settings),
        sink,
    )
}

fn record(identity: Value, request: Value, function_arn: &str) -> Value {
    json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke", "eventID": "e1",
        "userIdentity": identity, "requestParameters": request,
        "resources": [{"type": "AWS::Lambda::Function", "ARN": function_arn}]})
}

fn foreign() -> Value {
    record(
        json!({"type": "AWSAccount", "accountId": "999999999999"}),
        Value::Null,
        ARN,
    )
}

async fn run(g: &Guard<MemoryAws>, event: Value) -> Result<EventReport, String> {
    g.handle_event(event, "req")
        .await
        .map_err(|e| e.to_string())
}

fn sids(aws: &MemoryAws) -> Vec<Option<String>> {
    aws.policy("f", None)
        .statements
        .iter()
        .map(|s| s.sid.clone())
        .collect()
}

fn ops(aws: &MemoryAws) -> Vec<&'static str> {
    aws.calls()
        .iter()
        .map(|c| match c {
            Call::GetPolicy(_) => "GetPolicy",
            Call::AddPermission(..) => "AddPermission",
            Call::RemovePermission(..) => "RemovePermission",
            Call::PutResourcePolicy(_) => "PutResourcePolicy",
            Call::DeleteResourcePolicy(_) => "DeleteResourcePolicy",
            Call::PutEvents(_) => "PutEvents",
            Call::ListAliases(_) => "ListAliases",
            Call::ListFunctions => "ListFunctions",
        })
        .collect()
}

#[tokio::test]
async fn a_public_only_policy_is_reconciled_adding_before_removing() {
    let aws = MemoryAws::with_functions(&["f"]);
    aws.set_statements("f", None, json!([{"Sid": "open", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"}]));
    let (g, _) = guard(json!([{"account": "444455556666"}]), json!({}), aws);
    let report = run(&g, foreign()).await.unwrap();
    assert_eq!((report.removed, report.added, report.unfixed), (1, 1, 0));
    let aws = g.aws();
    assert_eq!(
        ops(aws),
        [
            "GetPolicy",
            "AddPermission",
            "RemovePermission",
            "PutEvents"
        ]
    );
    let after = sids(aws);
    assert_eq!(after.len(), 1);
    assert!(
        after[0]
            .as_deref()
            .unwrap()
            .starts_with("invokeguard-account-")
    );
}

#[tokio::test]
async fn a_sidless_public_statement_is_removed_with_one_document_write() {
    let aws = MemoryAws::with_functions(&["f"]);
    aws.set_statements("f", None, json!([
        {"Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction", "Condition": {"Bool": {"aws:SecureTransport": [true]}}},
        {"Sid": "deny-http", "Effect": "Deny", "Principal": "*", "Action": "lambda:*", "Condition": {"Bool": {"aws:SecureTransport": false}}},
        {"Sid": "partner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "lambda:InvokeFunction"}
    ]));
    let (g, sink) = guard(json!([{"account": "444455556666"}]), json!({}), aws);
    let report = run(&g, foreign()).await.unwrap();
    assert_eq!((report.removed, report.added, report.unfixed), (1, 0, 0));
    let aws = g.aws();
    assert_eq!(ops(aws), ["GetPolicy", "PutResourcePolicy", "PutEvents"]);
    assert_eq!(
        sids(aws),
        [Some("deny-http".to_owned()), Some("partner".to_owned())]
    );
    let lines = sink.lines();
    let remediation: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "remediation")
        .collect();
    assert_eq!(remediation.len(), 1);
    assert_eq!(remediation[0]["apply"], "document");
    assert_eq!(remediation[0]["sid"], Value::Null);
    assert_eq!(remediation[0]["statementIndex"], 0);
    assert_eq!(
        lines.iter().filter(|l| l["input"] == "invoke").count(),
        lines.len()
    );
}

#[tokio::test]
async fn an_unconstrained_service_grant_is_replaced_by_the_constrained_one() {
    let aws = MemoryAws::with_functions(&["f"]);
    aws.set_statements("f", None, json!([{"Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction"}]));
    let (g, _) = guard(
        json!([{"service": "s3.amazonaws.com", "sourceArn": "arn:aws:s3:::uploads", "sourceAccount": HOME}]),
        json!({}),
        aws,
    );
    // A synchronous S3 record carries no source: allowed, but unproven, so the grant is looked at.
    let unproven = record(
        json!({"type": "AWSService", "invokedBy": "s3.amazonaws.com"}),
        Value::Null,
        ARN,
    );
    let report = run(&g, unproven).await.unwrap();
    assert_eq!((report.allowed, report.violations), (1, 0));
    assert_eq!((report.removed, report.added), (1, 1));
    let p = g.aws().policy("f", None);
    assert_eq!(p.statements.len(), 1);
    assert_eq!(p.statements[0].conditions.len(), 2);
}

#[tokio::test]
async fn a_proven_allow_makes_no_call() {
    let aws = MemoryAws::with_functions(&["f"]);
    let (g, _) = guard(json!([{"account": "999999999999"}]), json!({}), aws);
    let report = run(&g, foreign()).await.unwrap();
    assert_eq!((report.allowed, report.api_calls), (1, 0));
    assert!(g.aws().calls().is_empty());
}

#[tokio::test]
async fn report_mode_changes_nothing_and_counts_what_is_left_unfixed() {
    let aws = MemoryAws::with_functions(&["f"]);
    aws.set_statements("f", None, json!([{"Sid": "open", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"}]));
    let (g, sink) = guard(json!([]), json!({"mode": "report"}), aws);
    let report = run(&g, foreign()).await.unwrap();
    assert_eq!((report.removed, report.unfixed), (0, 1));
    assert_eq!(ops(g.aws()), ["GetPolicy", "PutEvents"]);
    let summary = sink
        .lines()
        .into_iter()
        .find(|l| l["message"] == "summary")
        .unwrap();
    assert_eq!(summary["unfixed"], 1);
    assert_eq!(summary["level"], "WARN");
}

#[tokio::test]
async fn a_full_policy_falls_back_to_the_document_write() {
    let aws = MemoryAws::with_functions(&["f"]);
    aws.set_statements("f", None, json!([{"Sid": "open", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"}]));
    aws.fail_next(
        "AddPermission",
        vec![ApiError::PolicyLengthExceeded("too long".into())],
    );
    let (g, _) = guard(json!([{"account": "444455556666"}]), json!({}), aws);
    let report = run(&g, foreign()).await.unwrap();
    assert_eq!((report.removed, report.added, report.failed), (1, 1, 0));
    assert_eq!(
        ops(g.aws()),
        [
            "GetPolicy",
            "AddPermission",
            "GetPolicy",
            "PutResourcePolicy",
            "PutEvents"
        ]
    );
}

#[tokio::test]
async fn the_document_setting_writes_once_and_a_stale_revision_replans() {
    let aws = MemoryAws::with_functions(&["f"]);
    aws.set_statements("f", None, json!([{"Sid": "open", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"}]));
    aws.fail_next(
        "DeleteResourcePolicy",
        vec![ApiError::PreconditionFailed("stale".into())],
    );
    let (g, _) = guard(json!([]), json!({"apply": "document"}), aws);
    let report = run(&g, foreign()).await.unwrap();
    assert_eq!(report.removed, 1);
    // Nothing is left: the policy is deleted rather than written empty.
    assert_eq!(
        ops(g.aws()),
        [
            "GetPolicy",
            "DeleteResourcePolicy",
            "GetPolicy",
            "DeleteResourcePolicy",
            "PutEvents"
        ]
    );
    assert!(g.aws().policy("f", None).statements.is_empty());
}

#[tokio::test]
async fn a_same_named_function_elsewhere_is_not_guarded_and_costs_no_call() {
    let aws = MemoryAws::with_functions(&["f"]);
    let (g, _) = guard(json!([]), json!({}), aws);
    for elsewhere in [
        "arn:aws:lambda:eu-west-1:111122223333:function:f",
        "arn:aws:lambda:us-east-1:555555555555:function:f",
    ] {
        let r = record(
            json!({"type": "AWSAccount", "accountId": "999999999999"}),
            Value::Null,
            elsewhere,
        );
        let report = run(&g, r).await.unwrap();
        assert_eq!((report.ignored, report.api_calls), (1, 0), "{elsewhere}");
    }
    assert!(g.aws().calls().is_empty());
}

#[tokio::test]
async fn a_same_account_iam_violation_is_unfixed() {
    let aws = MemoryAws::with_functions(&["f"]);
    let (g, _) = guard(json!([]), json!({}), aws);
    let r = record(
        json!({"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/x", "accountId": HOME}),
        Value::Null,
        ARN,
    );
    let report = run(&g, r).await.unwrap();
    assert_eq!(
        (report.violations, report.unfixed, report.api_calls),
        (1, 1, 0)
    );
}
