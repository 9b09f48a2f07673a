//! Memory an outsider controls (issue 16): refused calls anyone can cause, a record over the
//! size cap, a file of many records. The trail-file backstop (in-memory AWS) and `check` read
//! them one record at a time and still handle the real violation beside them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

#[path = "support/memory_guard.rs"]
mod memory_guard;

use memory_guard::{HOME, debug_settings, memory_guard, policies_of_f};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use invokeguard::guard::memory::MemoryAws;
use invokeguard::guard::{Guard, MemorySink};
use invokeguard::record::MAX_RECORD_BYTES;
use serde_json::{Value, json};

const ARN: &str = "arn:aws:lambda:us-east-1:111122223333:function:f";
const TRAIL_KEY: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/25/111122223333_CloudTrail_us-east-1_20261125T0305Z_x.json.gz";

fn guard(aws: MemoryAws) -> (Guard<MemoryAws>, MemorySink) {
    memory_guard(
        &policies_of_f(json!([]), Value::Null),
        aws,
        debug_settings(),
    )
}

fn invoke(event_id: &str, account: &str, error_code: Option<&str>) -> Value {
    let mut r = json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke", "eventID": event_id,
        "userIdentity": {"type": "AWSAccount", "accountId": account},
        "resources": [{"type": "AWS::Lambda::Function", "ARN": ARN}]});
    if let Some(code) = error_code {
        r["errorCode"] = json!(code);
    }
    r
}

/// A record of more than the cap made of many small strings: the reader can step over it.
fn oversized(event_id: &str) -> Value {
    let mut r = invoke(event_id, "999999999999", None);
    let pieces: Vec<String> = (0..MAX_RECORD_BYTES / 1000 + 10)
        .map(|_| "x".repeat(1000))
        .collect();
    r["requestParameters"] = json!({ "payload": pieces });
    r
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn object_created() -> Value {
    json!({"version": "0", "source": "aws.s3", "detail-type": "Object Created", "account": HOME, "region": "us-east-1",
        "detail": {"bucket": {"name": "trail-bucket"}, "object": {"key": TRAIL_KEY}}})
}

fn open_policy(aws: &MemoryAws) {
    aws.set_statements("f", None, json!([{"Sid": "open", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"}]));
}

fn decisions(sink: &MemorySink) -> Vec<Value> {
    sink.lines()
        .into_iter()
        .filter(|l| l["message"] == "decision")
        .collect()
}

#[tokio::test]
async fn refused_invokes_are_dropped_as_read_and_the_violation_among_them_is_fixed() {
    let aws = MemoryAws::with_functions(&["f"]);
    open_policy(&aws);
    let codes = ["AccessDenied", "AccessDeniedException", "Unauthorized"];
    let mut records: Vec<Value> = (0..30_000)
        .map(|i| invoke(&format!("refused-{i}"), "999999999999", Some(codes[i % 3])))
        .collect();
    records.insert(20_000, invoke("real", "999999999999", None));
    let file = gzip(json!({ "Records": records }).to_string().as_bytes());
    assert!(file.len() < 1024 * 1024, "under 1 MB gzipped");
    aws.put_object("trail-bucket", TRAIL_KEY, file);
    let (g, sink) = guard(aws);
    let report = g.handle_event(object_created(), "req").await.unwrap();
    assert_eq!((report.violations, report.removed), (1, 1));
    assert!(g.aws().policy("f", None).statements.is_empty());
    // The refused records never reach the handler: only the real one is judged.
    let judged = decisions(&sink);
    assert_eq!(judged.len(), 1, "{} decisions", judged.len());
    assert_eq!(judged[0]["eventId"], "real");
}

#[tokio::test]
async fn a_record_over_the_cap_is_named_and_the_violation_after_it_is_fixed() {
    let aws = MemoryAws::with_functions(&["f"]);
    open_policy(&aws);
    let file = json!({"Records": [oversized("huge"), invoke("after", "999999999999", None)]});
    aws.put_object("trail-bucket", TRAIL_KEY, gzip(file.to_string().as_bytes()));
    let (g, sink) = guard(aws);
    let err = g
        .handle_event(object_created(), "req")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("s3://trail-bucket/{TRAIL_KEY}: at Records[0]: the record is more than {MAX_RECORD_BYTES} bytes")),
        "{err}"
    );
    assert!(
        g.aws().policy("f", None).statements.is_empty(),
        "the record after the oversized one was handled"
    );
    assert_eq!(decisions(&sink)[0]["eventId"], "after");
}

#[tokio::test]
async fn a_single_value_over_the_cap_fails_the_file_visibly_after_handling_what_came_before() {
    let aws = MemoryAws::with_functions(&["f"]);
    open_policy(&aws);
    let mut huge = invoke("huge", "999999999999", None);
    huge["requestParameters"] = json!({ "payload": "x".repeat(3 * MAX_RECORD_BYTES as usize) });
    let file = json!({"Records": [invoke("before", "999999999999", None), huge]});
    aws.put_object("trail-bucket", TRAIL_KEY, gzip(file.to_string().as_bytes()));
    let (g, _) = guard(aws);
    let err = g
        .handle_event(object_created(), "req")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("at Records[1]: the record holds a value of more than"),
        "{err}"
    );
    assert!(g.aws().policy("f", None).statements.is_empty());
}

// ---------------------------------------------------------------------------------------------
// `check`

fn check(policies: &Path, files: &[&Path]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_invokeguard"));
    cmd.args(["check", "--json", "--policies"]).arg(policies);
    cmd.args(files)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run invokeguard")
}

fn policies_file(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("policies.json");
    std::fs::write(
        &p,
        json!({"version": 1, "functions": {"f": {"allow": [{"account": "222233334444"}]}}})
            .to_string(),
    )
    .unwrap();
    p
}

fn event_ids(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("a JSON verdict line");
            v["eventId"].as_str().unwrap_or("-").to_owned()
        })
        .collect()
}

#[test]
fn check_names_a_record_over_the_cap_and_judges_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let policies = policies_file(dir.path());
    let file = dir.path().join("t.json.gz");
    let records = json!({"Records": [invoke("a", "999999999999", None), oversized("huge"), invoke("b", "222233334444", None)]});
    std::fs::write(&file, gzip(records.to_string().as_bytes())).unwrap();
    let o = check(&policies, &[&file]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "error: {}: at Records[1]: the record is more than {MAX_RECORD_BYTES} bytes, not read",
            file.display()
        )),
        "{err}"
    );
    assert_eq!(event_ids(&o.stdout), ["a", "b"]);
}

#[test]
fn check_writes_verdicts_in_input_order_across_files_judged_in_parallel() {
    let dir = tempfile::tempdir().unwrap();
    let policies = policies_file(dir.path());
    // Files of very different sizes (each output far larger than one chunk for some), so the
    // workers finish out of order; the lines must still come in file order, then record order.
    let mut files = Vec::new();
    let mut expected = Vec::new();
    for (n, size) in [3000usize, 5, 12_000, 1, 700, 4000].iter().enumerate() {
        let ids: Vec<String> = (0..*size).map(|i| format!("f{n}-{i}")).collect();
        let records: Vec<Value> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let account = if i % 2 == 0 {
                    "999999999999"
                } else {
                    "222233334444"
                };
                invoke(id, account, None)
            })
            .collect();
        let path = dir.path().join(format!("{n}.json.gz"));
        std::fs::write(
            &path,
            gzip(json!({ "Records": records }).to_string().as_bytes()),
        )
        .unwrap();
        files.push(path);
        expected.extend(ids);
    }
    // One file the typed pass hands to the reference path halfway through (a record of the
    // wrong shape): its lines are written once.
    let mut odd: Vec<Value> = (0..2000)
        .map(|i| invoke(&format!("odd-{i}"), "999999999999", None))
        .collect();
    odd.insert(1500, json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke", "eventID": "bad", "userIdentity": 5}));
    let path = dir.path().join("odd.json.gz");
    std::fs::write(
        &path,
        gzip(json!({ "Records": odd }).to_string().as_bytes()),
    )
    .unwrap();
    files.push(path);
    expected.extend((0..2000).map(|i| format!("odd-{i}")));
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let o = check(&policies, &refs);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(event_ids(&o.stdout), expected);
}
