//! The typed pass judges every input as the reference path does, line for line.

use std::io::Write;
use std::path::PathBuf;

use serde_json::Value;

use super::judge::{FileResult, Lines, judge_input, reference};
use super::sources;
use super::totals::CheckTotals;
use crate::allowlist::Allowlist;
use crate::record::invocation;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every fixture file under tests/fixtures (records, events, trail files, fuzz seeds).
fn fixtures() -> Vec<PathBuf> {
    sources::walk(&root().join("tests/fixtures"))
        .expect("fixtures")
        .into_iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            (s.ends_with(".json") || s.ends_with(".gz")) && !s.contains("policies_loader")
        })
        .collect()
}

fn allowlist(home: bool) -> Allowlist {
    let p = Allowlist::from_json(
        r#"{"version": 1, "functions": {
            "function239": {"allow": [{"account": "222233334444"}, {"service": "apigateway.amazonaws.com"}]},
            "Blog": {"allow": [{"service": "s3.amazonaws.com", "sourceArn": "arn:aws:s3:::uploads", "sourceAccount": "111122223333"},
                               {"principal": "arn:aws:iam::111111111111:role/service-role/StepFunctionsRole"},
                               {"organization": "o-a1b2c3d4e5"}]},
            "my-function": {"allow": [{"functionUrl": "public"}, {"account": "123456789012"}]},
            "function-url-fn": {"allow": [{"account": "444455556666", "action": "lambda:InvokeFunctionUrl"}]}
        }}"#,
        "p",
        None,
    )
    .expect("valid policies");
    if home {
        p.set_home(crate::aws::home::Home::new("aws", "us-west-1", "111111111111").expect("home"))
            .expect("home set");
    }
    p
}

fn reference_only(p: &Allowlist, bytes: &[u8], origin: &str) -> FileResult {
    let mut r = FileResult::default();
    let mut lines = Lines::kept();
    reference(p, bytes, origin, &mut r, &mut lines);
    lines.into_kept(&mut r);
    r
}

fn same(p: &Allowlist, bytes: &[u8], origin: &str) -> bool {
    let fast = judge_input(p, bytes, origin);
    let slow = reference_only(p, bytes, origin);
    assert_eq!(
        String::from_utf8_lossy(&fast.out),
        String::from_utf8_lossy(&slow.out),
        "{origin}: verdict lines differ"
    );
    assert_eq!(fast.errors, slow.errors, "{origin}");
    assert_eq!(
        (fast.bad, fast.violating, fast.records),
        (slow.bad, slow.violating, slow.records),
        "{origin}"
    );
    let rows = |s: &CheckTotals| {
        let mut v: Vec<_> = s
            .rows
            .iter()
            .map(|(k, r)| (k.clone(), r.count, r.first.clone(), r.last.clone()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(rows(&fast.totals), rows(&slow.totals), "{origin}");
    fast.fast
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

/// Every record found in the fixtures, as written (the reference reader's values).
fn fixture_records() -> Vec<Value> {
    fixtures()
        .iter()
        .filter_map(|f| std::fs::read(f).ok())
        .filter_map(|b| crate::record::parse_input(&b, "f").ok())
        .flatten()
        .map(|r| r.record)
        .collect()
}

#[test]
fn the_typed_pass_judges_every_fixture_as_the_reference_path_does() {
    for home in [false, true] {
        let p = allowlist(home);
        // The fixture files as they are (most are not trail files: the reference path reads them).
        for f in fixtures() {
            let bytes = std::fs::read(&f).expect("read fixture");
            let origin = f.display().to_string();
            same(&p, &bytes, &origin);
            same(&p, &gzip(&bytes), &origin);
        }
        // Every record of every fixture in one trail file: the typed pass must read it.
        let records = fixture_records();
        assert!(records.len() > 20, "{} records", records.len());
        let trail = serde_json::to_vec(&serde_json::json!({"Records": records})).expect("json");
        same(&p, &trail, "all.json");
        same(&p, &gzip(&trail), "all.json.gz");
        // One record per trail file: the typed pass reads every record the reference reader
        // accepts (the others, fuzz seeds with mistyped fields, fall back).
        for (i, r) in records.iter().enumerate() {
            let one =
                serde_json::to_vec(&serde_json::json!({"Records": [r], "x": 1})).expect("json");
            let fast = same(&p, &one, &format!("record {i}"));
            let accepted = invocation(r).is_ok();
            assert_eq!(fast, accepted, "record {i}: {r}");
        }
        let good: Vec<&Value> = records.iter().filter(|r| invocation(r).is_ok()).collect();
        assert!(good.len() > 20, "{} records", good.len());
        let trail = serde_json::to_vec(&serde_json::json!({"Records": good})).expect("json");
        assert!(same(&p, &trail, "good.json"), "the typed pass read it");
        assert!(same(&p, &gzip(&trail), "good.json.gz"));
    }
}

#[test]
fn odd_fields_fall_back_to_the_reference_path_with_the_same_result() {
    let p = allowlist(true);
    let oddities = [
        serde_json::json!(5),
        serde_json::json!(null),
        serde_json::json!(true),
        serde_json::json!([]),
        serde_json::json!(["a", "b"]),
        serde_json::json!({}),
        serde_json::json!({"arn": 1}),
        serde_json::json!("s"),
        serde_json::json!([{"ARN": 1}]),
        serde_json::json!([null]),
    ];
    let paths: &[&[&str]] = &[
        &["eventSource"],
        &["eventName"],
        &["eventID"],
        &["errorCode"],
        &["eventTime"],
        &["recipientAccountId"],
        &["userIdentity"],
        &["userIdentity", "type"],
        &["userIdentity", "arn"],
        &["userIdentity", "accountId"],
        &["userIdentity", "invokedBy"],
        &["userIdentity", "sessionContext"],
        &["userIdentity", "sessionContext", "sessionIssuer"],
        &["userIdentity", "sessionContext", "sessionIssuer", "arn"],
        &["requestParameters"],
        &["requestParameters", "functionName"],
        &["requestParameters", "qualifier"],
        &["requestParameters", "sourceArn"],
        &["requestParameters", "sourceAccount"],
        &["additionalEventData"],
        &["additionalEventData", "functionVersion"],
        &["resources"],
    ];
    let mut count = 0;
    for base in fixture_records().into_iter().take(40) {
        for path in paths {
            for odd in &oddities {
                let mut r = base.clone();
                let mut at = &mut r;
                for (i, k) in path.iter().enumerate() {
                    if i + 1 == path.len() {
                        if let Some(o) = at.as_object_mut() {
                            o.insert((*k).to_owned(), odd.clone());
                        }
                        break;
                    }
                    if !at.get(*k).is_some_and(Value::is_object)
                        && let Some(o) = at.as_object_mut()
                    {
                        o.insert((*k).to_owned(), serde_json::json!({}));
                    }
                    let Some(next) = at.get_mut(*k) else { break };
                    at = next;
                }
                let trail =
                    serde_json::to_vec(&serde_json::json!({"Records": [base, r]})).expect("json");
                same(&p, &trail, &format!("{path:?}={odd}"));
                count += 1;
            }
        }
    }
    assert!(count > 1000);
}

#[test]
fn text_level_oddities_match_too() {
    let p = allowlist(true);
    let rec = r#"{"eventSource":"lambda.amazonaws.com","eventName":"Invoke","eventID":"e","userIdentity":{"type":"AWSAccount","accountId":"999999999999"},"resources":[{"ARN":"arn:aws:lambda:us-west-1:111111111111:function:Blog"}]}"#;
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let cases = [
        format!(r#"{{"Records":[{rec}]}}"#),
        format!(r#"  {{"Records":[{rec},{rec}]}}  "#),
        format!(r#"{{"Records":[{rec}],"Records":[{rec}]}}"#),
        format!(r#"{{"a":{deep},"Records":[{rec}]}}"#),
        format!(r#"{{"Records":[{rec}],"a":{deep}}}"#),
        format!(r#"{{"Records":[{{"x":{deep},"eventName":"Invoke"}}]}}"#),
        r#"{"Records":[{"eventSource":"lambda.amazonaws.com","eventSource":"ec2.amazonaws.com","eventName":"Invoke"}]}"#.to_owned(),
        r#"{"Records":[{"eventSource":"ec2.amazonaws.com","eventSource":"lambda.amazonaws.com","eventName":"Invoke","userIdentity":{"type":"AWSService","invokedBy":"s3.amazonaws.com","invokedBy":"sns.amazonaws.com"},"resources":[{"ARN":"arn:aws:lambda:us-west-1:111111111111:function:Blog"}]}]}"#.to_owned(),
        r#"{"Records":[{"event\u0053ource":"lambda.amazonaws.com","eventName":"Inv\u006fke","userIdentity":{"type":"AWSService","invokedBy":"s3.amazonaws.com"},"resources":[{"ARN":"arn:aws:lambda:us-west-1:111111111111:function:Blog"}]}]}"#.to_owned(),
        r#"{"Records":[{"eventName":"Invoke","x":"\ud800"}]}"#.to_owned(),
        r#"{"Records":[{"eventName":"Invoke","x":"\u00e9\ud83d\ude00"}]}"#.to_owned(),
        r#"{"Records":[{"eventName":"Invoke","x":1e999}]}"#.to_owned(),
        format!(r#"{{"Records":[{rec}]}} x"#),
        format!(r#"{{"Records":[{rec}, 5]}}"#),
        format!(r#"{{"Records":[{rec}, [] ]}}"#),
        r#"{"Records":{}}"#.to_owned(),
        r#"{"Records":[]}"#.to_owned(),
        r#"{"records":[]}"#.to_owned(),
        format!(r#"[{{"Records":[{rec}]}}]"#),
        format!(r#"{{"Records":[{rec}"#),
    ];
    for (i, c) in cases.iter().enumerate() {
        same(&p, c.as_bytes(), &format!("case {i}"));
        same(&p, &gzip(c.as_bytes()), &format!("gz case {i}"));
    }
    let mut invalid = format!(r#"{{"Records":[{rec}],"x":""#).into_bytes();
    invalid.extend_from_slice(b"\xff\xfe\"}");
    same(&p, &invalid, "invalid utf-8");
    let mut truncated = gzip(cases[0].as_bytes());
    truncated.truncate(truncated.len() - 6);
    same(&p, &truncated, "truncated gzip");
}
