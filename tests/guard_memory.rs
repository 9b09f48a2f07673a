//! The shell against the in-memory Lambda policy store (`guard::memory`): ordering,
//! whole-document writes, report mode, unproven allows and home scoping, in milliseconds.
//! moto has no PutResourcePolicy, so the whole-document path is exercised here; the in-memory
//! store follows Lambda's rules (RevisionId checks, unique Sids, whole-document replace).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

#[path = "support/memory_guard.rs"]
mod memory_guard;

use memory_guard::{HOME, debug_settings, memory_guard, policies_of_f};
use std::sync::Arc;

use invokeguard::allowlist::Allowlist;
use invokeguard::aws::home::Home;
use invokeguard::guard::memory::{Call, MemoryAws};
use invokeguard::guard::{ApiError, EventReport, Guard, MemorySink, Settings};
use serde_json::{Value, json};

const ARN: &str = "arn:aws:lambda:us-east-1:111122223333:function:f";

fn guard(allow: Value, extra: Value, aws: MemoryAws) -> (Guard<MemoryAws>, MemorySink) {
    memory_guard(&policies_of_f(allow, extra), aws, debug_settings())
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
            Call::ListAliases(_) | Call::ListAliasesTo(..) => "ListAliases",
            Call::ListVersions(_) => "ListVersionsByFunction",
            Call::ListFunctions => "ListFunctions",
            Call::GetObject(..) => "GetObject",
            Call::PutItem(_) => "PutItem",
            Call::BatchImportFindings(_) => "BatchImportFindings",
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
    let summary = sink.first("summary").unwrap();
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

fn change_event(name: &str, request: Value, statement: Option<&str>) -> Value {
    let mut r = json!({"eventSource": "lambda.amazonaws.com", "eventName": name, "eventCategory": "Management",
        "eventID": "c1", "awsRegion": "us-east-1", "recipientAccountId": HOME, "requestParameters": request,
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/mallory", "accountId": HOME}});
    if let Some(s) = statement {
        r["responseElements"] = json!({ "statement": s });
    }
    json!({"source": "aws.lambda", "detail-type": "AWS API Call via CloudTrail", "detail": r})
}

#[tokio::test]
async fn a_backdoor_grant_is_removed_when_it_is_added_not_when_it_is_used() {
    let aws = MemoryAws::with_functions(&["f"]);
    aws.set_statements("f", None, json!([{"Sid": "backdoor", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"}]));
    let (g, sink) = guard(json!([]), json!({}), aws);
    let event = change_event(
        "AddPermission20150331v2",
        json!({"functionName": "f", "statementId": "backdoor", "principal": "*", "action": "lambda:InvokeFunction"}),
        Some(
            r#"{"Sid":"backdoor","Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunction"}"#,
        ),
    );
    let report = run(&g, event.clone()).await.unwrap();
    assert_eq!(report.removed, 1);
    assert!(g.aws().policy("f", None).statements.is_empty());
    let lines = sink.lines();
    let decision = lines.iter().find(|l| l["message"] == "decision").unwrap();
    assert_eq!(decision["input"], "change");
    assert_eq!(decision["changeEvent"], "AddPermission20150331v2");
    assert_eq!(decision["statement"]["Sid"], "backdoor");
    assert_eq!(decision["actor"], "arn:aws:iam::111122223333:user/mallory");
    assert!(lines.iter().all(|l| l["input"] == "change"));
    // A RemovePermission comes back as a change. Made by someone the guard does not know as
    // itself (no INVOKEGUARD_ROLE_ARN, here), it costs one GetPolicy and changes nothing; the
    // guard's own is free (tests/coalesce_timing.rs).
    let calls = g.aws().calls().len();
    let own = change_event(
        "RemovePermission20150331v2",
        json!({"functionName": "f", "statementId": "backdoor"}),
        None,
    );
    let report = run(&g, own).await.unwrap();
    assert_eq!(
        (report.api_calls, report.coalesced, report.removed),
        (1, 0, 0)
    );
    assert_eq!(g.aws().calls().len(), calls + 1);
}

#[tokio::test]
async fn an_allowlisted_grant_removed_by_someone_is_restored() {
    let aws = MemoryAws::with_functions(&["f"]);
    let (g, _) = guard(json!([{"account": "444455556666"}]), json!({}), aws);
    let event = change_event(
        "RemovePermission20150331v2",
        json!({"functionName": "arn:aws:lambda:us-east-1:111122223333:function:f", "statementId": "partner"}),
        None,
    );
    let report = run(&g, event).await.unwrap();
    assert_eq!(report.added, 1);
    assert_eq!(g.aws().policy("f", None).statements.len(), 1);
}

#[tokio::test]
async fn changes_to_other_functions_cost_nothing() {
    let aws = MemoryAws::with_functions(&["f", "other"]);
    let (g, _) = guard(json!([]), json!({}), aws);
    for function in ["other", "arn:aws:lambda:eu-west-1:111122223333:function:f"] {
        let event = change_event(
            "PutResourcePolicy",
            json!({"resourceArn": function, "functionName": function}),
            None,
        );
        let report = run(&g, event).await.unwrap();
        assert_eq!((report.ignored, report.api_calls), (1, 0), "{function}");
    }
    assert!(g.aws().calls().is_empty());
}

fn scheduled() -> Value {
    json!({"version": "0", "id": "s1", "source": "aws.events", "detail-type": "Scheduled Event",
        "account": HOME, "region": "us-east-1", "resources": ["arn:aws:events:us-east-1:111122223333:rule/sweep"], "detail": {}})
}

#[tokio::test]
async fn a_sweep_reconciles_every_function_and_every_alias() {
    let aws = MemoryAws::with_functions(&["f"]);
    aws.set_aliases("f", &["live", "beta"]);
    aws.set_statements("f", Some("live"), json!([{"Sid": "open", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"}]));
    let (g, sink) = guard(
        json!([{"account": "444455556666"}]),
        json!({"qualifiers": ["7"]}),
        aws,
    );
    let report = run(&g, scheduled()).await.unwrap();
    // Every policy lacked the partner's grant; the alias also had a public one.
    assert_eq!((report.added, report.removed), (4, 1));
    for q in [None, Some("live"), Some("beta"), Some("7")] {
        let p = g.aws().policy("f", q);
        assert_eq!(p.statements.len(), 1, "{q:?}: {p:?}");
    }
    let lines = sink.lines();
    let sweep = lines.iter().find(|l| l["message"] == "sweep").unwrap();
    assert_eq!(sweep["functions"], 1);
    assert_eq!(sweep["policiesRead"], 4);
    assert_eq!(sweep["drift"], 4);
    assert_eq!(sweep["fixed"], 4);
    assert_eq!(sweep["unfixed"], 0);
    assert_eq!(sweep["incomplete"], false);
    assert!(lines.iter().all(|l| l["input"] == "sweep"));
    // In sync now: a second sweep reads and changes nothing.
    let again = run(&g, scheduled()).await;
    assert!(again.is_ok());
}

#[tokio::test]
async fn a_sweep_near_the_deadline_stops_and_fails_visibly() {
    let aws = MemoryAws::with_functions(&["f"]);
    let (g, sink) = guard(json!([]), json!({}), aws);
    let soon = std::time::Instant::now() + std::time::Duration::from_secs(1);
    let err = g
        .handle_event_until(scheduled(), "req", Some(soon))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("before the Lambda timeout"), "{err}");
    let sweep = sink.first("sweep").unwrap();
    assert_eq!(
        (sweep["incomplete"].clone(), sweep["remaining"].clone()),
        (json!(true), json!(1))
    );
}

#[tokio::test]
async fn a_sweep_in_report_mode_counts_drift_as_unfixed() {
    let aws = MemoryAws::with_functions(&["f"]);
    aws.set_statements("f", None, json!([{"Sid": "open", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"}]));
    let (g, sink) = guard(json!([]), json!({"mode": "report"}), aws);
    run(&g, scheduled()).await.unwrap();
    let sweep = sink.first("sweep").unwrap();
    assert_eq!(
        (
            sweep["drift"].clone(),
            sweep["fixed"].clone(),
            sweep["unfixed"].clone()
        ),
        (json!(1), json!(0), json!(1))
    );
    assert_eq!(g.aws().policy("f", None).statements.len(), 1);
}

fn gzip(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap()
}

const TRAIL_KEY: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/25/111122223333_CloudTrail_us-east-1_20261125T0305Z_x.json.gz";

fn object_created(key: &str) -> Value {
    json!({"version": "0", "source": "aws.s3", "detail-type": "Object Created", "account": HOME, "region": "us-east-1",
        "detail": {"bucket": {"name": "trail-bucket"}, "object": {"key": key, "size": 1234}}})
}

fn violation_record(event_id: &str) -> Value {
    let mut r = foreign();
    r["eventID"] = json!(event_id);
    r
}

#[tokio::test]
async fn a_record_eventbridge_dropped_is_fixed_from_the_trail_file() {
    let aws = MemoryAws::with_functions(&["f"]);
    aws.set_statements("f", None, json!([{"Sid": "open", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"}]));
    let other =
        json!({"eventSource": "s3.amazonaws.com", "eventName": "GetObject", "eventID": "noise"});
    let unguarded = record(
        json!({"type": "AWSAccount", "accountId": "999999999999"}),
        Value::Null,
        "arn:aws:lambda:us-east-1:111122223333:function:other",
    );
    let file = json!({"Records": [other, unguarded, violation_record("dropped-1")]}).to_string();
    aws.put_object("trail-bucket", TRAIL_KEY, gzip(&file));
    let (g, sink) = guard(json!([]), json!({}), aws);
    let report = run(&g, object_created(TRAIL_KEY)).await.unwrap();
    assert_eq!((report.violations, report.removed), (1, 1));
    assert!(g.aws().policy("f", None).statements.is_empty());
    let lines = sink.lines();
    let decision = lines.iter().find(|l| l["message"] == "decision").unwrap();
    assert_eq!(
        (decision["input"].clone(), decision["eventId"].clone()),
        (json!("trail-file"), json!("dropped-1"))
    );
    assert_eq!(
        lines.iter().filter(|l| l["message"] == "decision").count(),
        1,
        "only the guarded record is judged"
    );
}

#[tokio::test]
async fn a_file_without_guarded_records_costs_one_getobject_and_digests_cost_nothing() {
    let aws = MemoryAws::with_functions(&["f"]);
    let other = json!({"eventSource": "ec2.amazonaws.com", "eventName": "RunInstances", "eventID": "noise"});
    aws.put_object(
        "trail-bucket",
        TRAIL_KEY,
        gzip(&json!({"Records": [other]}).to_string()),
    );
    let (g, _) = guard(json!([]), json!({}), aws);
    run(&g, object_created(TRAIL_KEY)).await.unwrap();
    assert_eq!(ops(g.aws()), ["GetObject"]);
    let digest = "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/25/x.json.gz";
    run(&g, object_created(digest)).await.unwrap();
    run(&g, object_created("athena-results/q.csv"))
        .await
        .unwrap();
    assert_eq!(ops(g.aws()), ["GetObject"]);
}

#[tokio::test]
async fn a_bad_record_in_a_trail_file_gets_the_error_line_eventbridge_writes() {
    // A policy change that names no function: unreadable, whichever way it arrives.
    let bad = json!({"eventSource": "lambda.amazonaws.com", "eventName": "AddPermission20150331v2",
        "eventID": "bad-1", "eventCategory": "Management", "awsRegion": "us-east-1",
        "recipientAccountId": HOME, "requestParameters": {"statementId": "s"}});
    let aws = MemoryAws::with_functions(&["f"]);
    aws.put_object(
        "trail-bucket",
        TRAIL_KEY,
        gzip(&json!({"Records": [bad.clone()]}).to_string()),
    );
    let (g, sink) = guard(json!([]), json!({}), aws);
    let via_eventbridge = run(&g, bad).await.unwrap_err();
    let via_file = run(&g, object_created(TRAIL_KEY)).await.unwrap_err();
    assert!(
        via_eventbridge.contains("record at requestParameters"),
        "{via_eventbridge}"
    );
    assert!(
        via_file.contains(&format!(
            "s3://trail-bucket/{TRAIL_KEY}: record at requestParameters"
        )),
        "{via_file}"
    );
    let errors: Vec<Value> = sink
        .lines()
        .into_iter()
        .filter(|l| l["message"] == "error")
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    let file_error = errors[1]["error"].as_str().unwrap();
    assert!(file_error.starts_with("s3://trail-bucket/"), "{file_error}");
    assert!(file_error.ends_with(errors[0]["error"].as_str().unwrap()));
    assert_eq!(errors[0]["level"], errors[1]["level"]);
    assert!(errors.iter().all(|l| l.get("input").is_none()));
}

#[tokio::test]
async fn a_violation_seen_by_both_inputs_is_notified_once() {
    let aws = MemoryAws::with_functions(&["f"]).with_dedup();
    aws.set_statements("f", None, json!([{"Sid": "open", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"}]));
    aws.put_object(
        "trail-bucket",
        TRAIL_KEY,
        gzip(&json!({"Records": [violation_record("both-1")]}).to_string()),
    );
    let (g, _) = guard(json!([]), json!({}), aws);
    run(&g, violation_record("both-1")).await.unwrap();
    run(&g, object_created(TRAIL_KEY)).await.unwrap();
    let violations = g
        .aws()
        .published()
        .iter()
        .filter(|(t, d)| t == "Invokeguard Violation" && d["eventId"] == "both-1")
        .count();
    assert_eq!(violations, 1);
    assert!(g.aws().policy("f", None).statements.is_empty());
}

#[tokio::test]
async fn an_unreadable_trail_file_fails_the_event_so_it_is_retried() {
    let aws = MemoryAws::with_functions(&["f"]);
    aws.put_object("trail-bucket", TRAIL_KEY, vec![0x1f, 0x8b, 0, 1, 2]);
    let (g, sink) = guard(json!([]), json!({}), aws);
    let err = run(&g, object_created(TRAIL_KEY)).await.unwrap_err();
    assert!(err.contains("not valid gzip"), "{err}");
    assert!(sink.lines().iter().any(|l| l["message"] == "error"));
    let missing =
        object_created("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/25/gone.json.gz");
    assert!(run(&g, missing).await.unwrap_err().contains("NoSuchKey"));
}

/// Ninety functions in three accounts, none with a policy and none allowing anyone (so none
/// drifted): each costs a ListAliases, a ListVersionsByFunction and a GetPolicy.
fn three_accounts_of_thirty() -> (Guard<MemoryAws>, MemorySink) {
    let accounts = ["210000000001", "210000000002", "210000000003"];
    let mut functions = serde_json::Map::new();
    let mut names = Vec::new();
    for (a, account) in accounts.iter().enumerate() {
        for i in 0..30 {
            // MemoryAws keys policies by name: each account's names are its own.
            let name = format!("f{a}-{i:02}");
            functions.insert(
                format!("arn:aws:lambda:us-east-1:{account}:function:{name}"),
                json!({"allow": []}),
            );
            names.push(name);
        }
    }
    let text = json!({"version": 1, "functions": functions}).to_string();
    let policies = Allowlist::from_json(&text, "test", None).unwrap();
    policies
        .set_home(Home::new("aws", "us-east-1", HOME).unwrap())
        .unwrap();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let sink = MemorySink::default();
    let guard = Guard::new(
        policies,
        MemoryAws::with_functions(&refs),
        Arc::new(sink.clone()),
        Settings::default(),
    );
    (guard, sink)
}

#[tokio::test(start_paused = true)]
async fn each_account_is_swept_within_its_own_budget_side_by_side() {
    let (g, sink) = three_accounts_of_thirty();
    let started = tokio::time::Instant::now();
    run(&g, scheduled()).await.unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    // 90 requests per account at 7 a second, the first at once: 89 / 7 = 12.7 s of the paused
    // clock. One budget for all (270 requests) or one account after another would take three
    // times as long.
    assert!((12.7..13.3).contains(&elapsed), "{elapsed} s");
    let calls = g.aws().calls();
    assert_eq!(calls.len(), 270);
    let sweep = sink.first("sweep").unwrap();
    assert_eq!(
        (sweep["policiesRead"].clone(), sweep["apiCalls"].clone()),
        (json!(90), json!(270))
    );
}

#[tokio::test(start_paused = true)]
async fn an_account_whose_role_cannot_be_assumed_fails_once_and_the_others_are_swept() {
    let (g, sink) = three_accounts_of_thirty();
    g.aws().unreachable_account("210000000002");
    let err = run(&g, scheduled()).await.unwrap_err();
    assert!(err.contains("30 policies could not be read"), "{err}");
    // The other two accounts are swept in full: a ListAliases, a ListVersionsByFunction and a
    // GetPolicy per function.
    let calls = g.aws().calls();
    assert_eq!(calls.len(), 180);
    assert!(
        calls.iter().all(|c| !format!("{c:?}").contains("f1-")),
        "no call on the unreachable account's functions"
    );
    // One error line names the account and its role, for all thirty functions; then the sweep line.
    let lines = sink.lines();
    let errors: Vec<&Value> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert_eq!(
        errors[0]["error"],
        "sweep: cannot assume arn:aws:iam::210000000002:role/invokeguard-member in member account \
         210000000002: AccessDenied: not authorized to perform sts:AssumeRole; 30 of its guarded \
         functions in us-east-1 not swept"
    );
    assert_eq!(errors[1]["message"], "sweep");
    let sweep = lines.iter().find(|l| l["message"] == "sweep").unwrap();
    assert_eq!(
        (
            sweep["policiesRead"].clone(),
            sweep["failed"].clone(),
            sweep["apiCalls"].clone()
        ),
        (json!(60), json!(30), json!(180))
    );
}

#[tokio::test]
async fn a_member_function_named_like_the_guard_is_guarded_not_refused() {
    // The guard is `invokeguard` in the home account; a member account has its own function of
    // that name, keyed by its ARN. The guard knows itself by its full ARN.
    let member = "arn:aws:lambda:us-east-1:210000000009:function:invokeguard";
    let text = json!({"version": 1, "functions": {member: {"allow": []}}}).to_string();
    let policies = Allowlist::from_json(&text, "test", Some("invokeguard")).unwrap();
    policies
        .set_home(Home::new("aws", "us-east-1", HOME).unwrap())
        .unwrap();
    // MemoryAws keys policies by name: the member's function is the only `invokeguard` in it.
    let aws = MemoryAws::with_functions(&["invokeguard"]);
    aws.set_statements("invokeguard", None, json!([{"Sid": "open", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"}]));
    let settings = Settings {
        guard_function: Some("invokeguard".to_owned()),
        ..Settings::default()
    };
    let sink = MemorySink::default();
    let g = Guard::new(policies, aws, Arc::new(sink.clone()), settings);
    let event = record(
        json!({"type": "AWSAccount", "accountId": "999999999999"}),
        Value::Null,
        member,
    );
    let report = run(&g, event).await.unwrap();
    assert_eq!(
        (report.removed, report.unfixed),
        (1, 0),
        "{:?}",
        sink.lines()
    );
    assert!(g.aws().policy("invokeguard", None).statements.is_empty());
}
