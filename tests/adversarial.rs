//! Inputs nobody should send: huge records, 10 MB bodies, policies with hundreds of statements,
//! odd Sids, principals in every form, oversized policies files. Each gets a clear error or a
//! correct plan.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

use invokeguard::allowlist::Apply;
use invokeguard::allowlist::{Allowlist, MAX_POLICIES_BYTES};
use invokeguard::plan::plan;
use invokeguard::record::{MAX_RECORD_BYTES, invocation, parse_input};
use invokeguard::resource_policy::ResourcePolicy;
use invokeguard::verdict::{Outcome, decide};
use serde_json::json;

fn policies() -> Allowlist {
    Allowlist::from_json(
        r#"{"version": 1, "functions": {"f": {"allow": [{"account": "111122223333"}]}}}"#,
        "p",
        None,
    )
    .unwrap()
}

#[test]
fn a_record_under_the_cap_is_judged_and_one_over_it_is_reported_by_position() {
    let rec = |filler: usize| {
        json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke", "eventID": "big",
        "recipientAccountId": "123456789012",
        "userIdentity": {"type": "AWSAccount", "accountId": "444455556666"},
        "requestParameters": {"clientContext": "x".repeat(filler), "functionName": "f"},
        "resources": [{"ARN": "arn:aws:lambda:us-east-1:123456789012:function:f"}]})
    };
    let near = rec(MAX_RECORD_BYTES as usize - 1024)
        .to_string()
        .into_bytes();
    let found = parse_input(&near, "big").unwrap();
    let v = decide(&policies(), &invocation(&found[0].record).unwrap());
    assert_eq!((v.outcome, v.fixable), (Outcome::Violation, Some(true)));
    let trail = json!({"Records": [rec(10 * 1024 * 1024)]})
        .to_string()
        .into_bytes();
    let err = parse_input(&trail, "big").unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "big: at Records[0]: the record holds a value of more than {MAX_RECORD_BYTES} bytes; the rest of the input is not read"
        )
    );
}

#[test]
fn many_records_in_one_trail_file_are_all_judged() {
    let records: Vec<_> = (0..20_000)
        .map(|n| json!({"eventSource": "lambda.amazonaws.com", "eventName": if n % 2 == 0 { "Invoke" } else { "InvokeExecution" }, "eventID": n.to_string(),
            "userIdentity": {"type": "AWSService", "invokedBy": "s3.amazonaws.com"}, "resources": [{"ARN": "arn:aws:lambda:us-east-1:123456789012:function:f"}]}))
        .collect();
    let text = json!({"Records": records}).to_string();
    let found = parse_input(text.as_bytes(), "trail").unwrap();
    let violations = found
        .iter()
        .map(|f| decide(&policies(), &invocation(&f.record).unwrap()))
        .filter(|v| v.outcome == Outcome::Violation)
        .count();
    assert_eq!((found.len(), violations), (20_000, 10_000));
}

#[test]
fn hundreds_of_statements_plan_correctly() {
    let mut statements: Vec<_> = (0..500)
        .map(|n| json!({"Sid": format!("s{n}"), "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "lambda:InvokeFunction",
            "Condition": {"ArnLike": {"AWS:SourceArn": format!("arn:aws:sns:us-east-1:111122223333:t{n}")}}}))
        .collect();
    statements.push(json!({"Sid": "keep", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "lambda:InvokeFunction"}));
    let current = ResourcePolicy::from_value(&json!({"Statement": statements})).unwrap();
    let p = policies();
    let allow = &p.lookup("f", None).unwrap().1.allow;
    let planned = plan("f", None, allow, &current, Apply::Permissions);
    assert_eq!(
        (
            planned.remove.len(),
            planned.add.len(),
            planned.keep.as_slice()
        ),
        (500, 0, &[Some("keep".to_owned())][..])
    );
    let after = planned.applied_to(&current, None);
    assert!(plan("f", None, allow, &after, Apply::Permissions).is_empty());
}

#[test]
fn odd_sids_and_every_principal_form_are_read_and_planned() {
    let current = ResourcePolicy::from_value(&json!({"Statement": [
        {"Sid": "ünïcode sid/with:odd*chars", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::999999999999:root", "111122223333"]}, "Action": ["lambda:InvokeFunction"]},
        {"Sid": "fed", "Effect": "Allow", "Principal": {"Federated": "cognito-identity.amazonaws.com"}, "Action": "lambda:InvokeFunction"},
        {"Sid": "canon", "Effect": "Allow", "Principal": {"CanonicalUser": "79a59df900b949e55d96a1e698fbaced"}, "Action": "lambda:*"},
        {"Sid": "star-aws", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "*"},
        {"Sid": "svc-list", "Effect": "Allow", "Principal": {"Service": ["S3.amazonaws.com", "sns.amazonaws.com"]}, "Action": "lambda:Invoke*"},
        {"Sid": "not-principal", "Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "lambda:InvokeFunction"},
        {"Sid": "ok", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "lambda:InvokeFunction"}
    ]}))
    .unwrap();
    let p = policies();
    let allow = &p.lookup("f", None).unwrap().1.allow;
    let planned = plan("f", None, allow, &current, Apply::Permissions);
    let removed: Vec<&str> = planned
        .remove
        .iter()
        .filter_map(|r| r.sid.as_deref())
        .collect();
    assert_eq!(
        removed,
        [
            "ünïcode sid/with:odd*chars",
            "fed",
            "canon",
            "star-aws",
            "svc-list",
            "not-principal"
        ]
    );
    assert!(planned.remove[5].why.contains("NotPrincipal"));
    assert_eq!(planned.keep, [Some("ok".to_owned())]);
    assert!(planned.unmanaged.is_empty());
    let after = planned.applied_to(&current, None);
    assert!(plan("f", None, allow, &after, Apply::Permissions).is_empty());
}

#[test]
fn an_oversized_policies_file_is_refused_before_it_is_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.json");
    let padding = " ".repeat(MAX_POLICIES_BYTES as usize + 1);
    std::fs::write(
        &path,
        format!(r#"{{"version": 1, "functions": {{}}}}{padding}"#),
    )
    .unwrap();
    let e = Allowlist::load(&path, None).unwrap_err().to_string();
    assert!(e.contains("more than the 1048576-byte limit"), "{e}");
}
