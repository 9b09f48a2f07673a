//! What `make demo` shows a newcomer (examples/demo/view.rs), on log lines as the guard writes
//! them: tables with column headers, why each grant goes, and a recap of who lost access and
//! who kept it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

mod common;
#[path = "../examples/demo/view.rs"]
mod view;

use serde_json::{Value, json};

fn allowlist() -> Value {
    common::read_json(&common::root().join("policies/invokers.json"))
}

fn lines() -> Vec<Value> {
    let base = |extra: Value| {
        let mut v = json!({"account": "123456789012", "input": "invoke", "level": "WARN",
            "qualifier": null, "mode": "enforce", "requestId": "r", "timestamp": "t"});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    vec![
        base(
            json!({"message": "decision", "eventId": "demo-2", "function": "OrdersHandler",
            "verdict": "violation", "fixable": true, "reason": "caller-not-allowlisted",
            "caller": {"kind": "account", "principal": "arn:aws:sts::444455556666:assumed-role/batch/job"}}),
        ),
        base(
            json!({"message": "remediation", "eventId": "demo-2", "function": "OrdersHandler",
            "action": "add", "sid": "invokeguard-service-fd3e", "principal": "sns.amazonaws.com",
            "allowEntry": 1, "apply": "permissions", "outcome": "applied"}),
        ),
        base(
            json!({"message": "remediation", "eventId": "demo-2", "function": "OrdersHandler",
            "action": "remove", "sid": "old-partner", "statementIndex": 2, "principal": "444455556666",
            "why": "grants 444455556666 and no allow entry names it", "apply": "permissions",
            "outcome": "applied"}),
        ),
        base(
            json!({"message": "remediation", "eventId": "demo-2", "function": "OrdersHandler",
            "action": "remove", "sid": "sns-any-account", "statementIndex": 3,
            "principal": "sns.amazonaws.com", "why": "grants sns.amazonaws.com more than its allow entry",
            "apply": "permissions", "outcome": "applied"}),
        ),
        base(json!({"message": "summary", "eventId": "demo-2", "function": "OrdersHandler"})),
        base(
            json!({"message": "decision", "eventId": "demo-4", "function": "BlogFunction",
            "qualifier": "prod", "mode": "report", "verdict": "violation", "fixable": true,
            "reason": "source-arn-mismatch", "caller": {"kind": "service", "principal": "s3.amazonaws.com"}}),
        ),
        base(
            json!({"message": "remediation", "eventId": "demo-4", "function": "BlogFunction",
            "qualifier": "prod", "mode": "report", "action": "add", "sid": "invokeguard-account-7918",
            "principal": "111122223333", "allowEntry": 1, "apply": "permissions",
            "outcome": "skipped-report-mode"}),
        ),
        base(
            json!({"message": "decision", "eventId": "demo-5", "function": "InternalOnly",
            "verdict": "violation", "fixable": false, "reason": "same-account-iam",
            "caller": {"kind": "iam", "principal": "arn:aws:iam::123456789012:user/dev"}}),
        ),
    ]
}

/// The cells of a table line, split on runs of two or more spaces.
fn cells(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

#[test]
fn decisions_have_headers_and_say_what_each_verdict_leads_to() {
    let table = view::decisions(&lines(), &allowlist());
    assert_eq!(
        cells(&table[0]),
        ["RECORD", "FUNCTION", "CALLER", "VERDICT", "REASON", "SO"]
    );
    assert_eq!(table.len(), 4, "{table:#?}");
    assert_eq!(
        cells(&table[2]),
        [
            "demo-4",
            "BlogFunction:prod",
            "s3.amazonaws.com",
            "violation",
            "source-arn-mismatch",
            "report mode: the plan is logged, nothing is written"
        ]
    );
    assert!(
        table[3].ends_with(
            "not fixable: an identity policy of this account lets it in, not the resource policy"
        ),
        "{}",
        table[3]
    );
}

#[test]
fn actions_say_why_each_grant_goes_or_comes() {
    let table = view::actions(&lines(), &allowlist());
    assert_eq!(
        cells(&table[0]),
        [
            "FUNCTION",
            "ACTION",
            "STATEMENT",
            "PRINCIPAL",
            "OUTCOME",
            "WHY"
        ]
    );
    let row = table.iter().find(|l| l.contains("old-partner")).unwrap();
    assert_eq!(
        cells(row)[4..],
        ["applied", "grants 444455556666 and no allow entry names it"],
        "{row}"
    );
    // An addition names the allow entry it expresses, with the reason the policies file gives.
    let row = table
        .iter()
        .find(|l| l.contains("invokeguard-service-fd3e"))
        .unwrap();
    assert!(
        row.ends_with("allow entry 1 (order events topic) has no covering statement"),
        "{row}"
    );
}

#[test]
fn the_recap_counts_grants_and_names_who_lost_and_who_kept_access() {
    let after = vec![
        (
            "OrdersHandler",
            vec![
                ("nightly".to_owned(), "events.amazonaws.com".to_owned()),
                (
                    "invokeguard-service-fd3e".to_owned(),
                    "sns.amazonaws.com".to_owned(),
                ),
            ],
        ),
        ("InternalOnly", vec![]),
    ];
    let recap = view::recap(&lines(), &after);
    assert_eq!(
        recap[0],
        "  grants removed: 2; added: 1 (an allow entry's statement, exactly as the file says); kept: 1; report mode, not written: 1"
    );
    let lost = recap.iter().position(|l| l == "  lost access:").unwrap();
    let kept = recap.iter().position(|l| l == "  kept access:").unwrap();
    let lost_lines = &recap[lost + 1..kept];
    let kept_lines = &recap[kept + 1..];
    assert!(
        lost_lines
            .iter()
            .any(|l| l.trim_start().starts_with("444455556666") && l.ends_with("to OrdersHandler")),
        "{lost_lines:#?}"
    );
    assert!(
        lost_lines.iter().any(|l| l.contains("sns.amazonaws.com")
            && l.contains("let in again only as its allow entry says")),
        "{lost_lines:#?}"
    );
    assert!(
        kept_lines
            .iter()
            .any(|l| l.contains("events.amazonaws.com") && l.ends_with("(statement nightly)")),
        "{kept_lines:#?}"
    );
    assert!(
        kept_lines.iter().any(|l| l.contains("s3.amazonaws.com")
            && l.ends_with("to BlogFunction:prod (report mode: the guard only reported it)")),
        "{kept_lines:#?}"
    );
    assert!(
        kept_lines
            .iter()
            .any(|l| l.contains("user/dev") && l.contains("not fixable by a resource policy")),
        "{kept_lines:#?}"
    );
}

#[test]
fn the_lambdas_answer_reads_as_words() {
    assert_eq!(
        view::response(
            &json!({"records": 1, "allowed": 0, "ignored": 0, "violations": 1,
            "removed": 3, "added": 1, "unfixed": 0, "apiCalls": 5})
        ),
        "violation: 3 grants removed, 1 added, 0 left (5 AWS calls)"
    );
    assert_eq!(
        view::response(&json!({"records": 1, "allowed": 1, "ignored": 0, "violations": 0})),
        "1 allowed, 0 ignored"
    );
}
