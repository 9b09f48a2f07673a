//! `invokeguard check s3://bucket/AWSLogs/` against S3 in moto (through AWS_ENDPOINT_URL):
//! ListObjectsV2 under the prefix, digest and other keys skipped, `--since` by the key's day,
//! GetObject of the rest (several at once), verdicts in key order as a local check prints them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

mod support;

use std::io::Write;

use aws_sdk_s3::primitives::ByteStream;
use serde_json::{Value, json};
use support::moto::{self, Moto};

const PREFIX: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11";

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn record(id: &str, day: u32, caller_account: &str) -> Value {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "AssumedRole", "principalId": "AROAEXAMPLE:s",
            "arn": format!("arn:aws:sts::{caller_account}:assumed-role/caller/s"),
            "accountId": caller_account,
            "sessionContext": {"sessionIssuer": {"type": "Role",
                "arn": format!("arn:aws:iam::{caller_account}:role/caller"), "accountId": caller_account}}},
        "eventTime": format!("2026-11-{day:02}T10:00:00Z"),
        "eventSource": "lambda.amazonaws.com",
        "eventName": "Invoke",
        "awsRegion": "us-east-1",
        "requestParameters": {"functionName": "arn:aws:lambda:us-east-1:123456789012:function:hunted"},
        "eventID": id,
        "resources": [{"accountId": "123456789012", "type": "AWS::Lambda::Function",
            "ARN": "arn:aws:lambda:us-east-1:123456789012:function:hunted"}],
        "eventCategory": "Data",
        "recipientAccountId": "123456789012"
    })
}

async fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let config = moto::sdk_config(endpoint).await;
    let s3 = aws_sdk_s3::config::Builder::from(&config)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(s3)
}

async fn new_bucket(endpoint: &str, bucket: &str) -> aws_sdk_s3::Client {
    let s3 = s3_client(endpoint).await;
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    s3
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap();
}

/// A policies file allowing the partner 222233334444 to invoke `hunted`, and its path.
fn hunted_policies() -> (tempfile::NamedTempFile, String) {
    let mut policies = tempfile::NamedTempFile::new().unwrap();
    policies
        .write_all(
            br#"{"version": 1, "functions": {"hunted": {"allow": [{"account": "222233334444"}]}}}"#,
        )
        .unwrap();
    let path = policies.path().to_string_lossy().into_owned();
    (policies, path)
}

async fn check(args: &[&str], endpoint: &str) -> (Option<i32>, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_invokeguard"))
        .arg("check")
        .args(args)
        .env_clear()
        .envs(moto::env_for_child(endpoint))
        .output()
        .await
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn an_s3_prefix_is_listed_filtered_by_day_and_judged_in_key_order() {
    let moto = Moto::shared();
    let bucket = "invokeguard-hunt-trails";
    let s3 = new_bucket(&moto.endpoint, bucket).await;
    // Days 20..=23, three files a day (more files than GetObject calls in flight).
    let mut files = Vec::new();
    for day in 20..=23u32 {
        for n in 0..3u32 {
            let records: Vec<Value> = (0..4u32)
                .map(|i| {
                    let caller = if i % 2 == 0 {
                        "222233334444"
                    } else {
                        "999999999999"
                    };
                    record(&format!("d{day}-f{n}-r{i}"), day, caller)
                })
                .collect();
            let key = format!(
                "{PREFIX}/{day}/123456789012_CloudTrail_us-east-1_202611{day}T0{n}05Z_x{n}.json.gz"
            );
            let body = json!({"Records": records}).to_string();
            put(&s3, bucket, &key, gzip(body.as_bytes())).await;
            files.push((day, key, body));
        }
    }
    for (key, body) in [
        (
            "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/11/22/123456789012_CloudTrail-Digest_us-east-1_t_us-east-1_20261122T000000Z.json.gz".to_owned(),
            gzip(b"{\"logFiles\": []}"),
        ),
        (format!("{PREFIX}/22/notes.txt"), b"not a trail file".to_vec()),
    ] {
        put(&s3, bucket, &key, body).await;
    }
    let (_policies, p) = hunted_policies();

    let (code, out, err) = check(
        &[
            "--policies",
            &p,
            "--account",
            "123456789012",
            "--region",
            "us-east-1",
            "--since",
            "2026-11-21",
            &format!("s3://{bucket}/AWSLogs/"),
        ],
        &moto.endpoint,
    )
    .await;
    assert_eq!(code, Some(1), "violations found: {err}");
    assert!(err.contains("skipped 1 digest files"), "{err}");
    assert!(err.contains("notes.txt"), "{err}");
    assert!(
        err.contains("3 trail files outside --since/--until"),
        "{err}"
    );
    assert!(!err.contains("error"), "{err}");

    // The same lines as a local check of each file in key order, days 21 to 23 only.
    files.sort_by(|a, b| a.1.cmp(&b.1));
    let mut expected = String::new();
    for (day, _, body) in files.iter().filter(|f| f.0 >= 21) {
        let mut local = tempfile::NamedTempFile::new().unwrap();
        local.write_all(body.as_bytes()).unwrap();
        let (code, lines, err) = check(
            &[
                "--policies",
                &p,
                "--account",
                "123456789012",
                "--region",
                "us-east-1",
                &local.path().to_string_lossy(),
            ],
            &moto.endpoint,
        )
        .await;
        assert_eq!(code, Some(1), "day {day}: {err}");
        expected.push_str(&lines);
    }
    assert_eq!(out, expected);
    let verdicts: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(verdicts.len(), 3 * 3 * 4);
    assert!(
        verdicts
            .iter()
            .all(|v| v["eventId"].as_str().unwrap() >= "d21")
    );
    for v in &verdicts {
        let foreign = v["caller"]["account"] == "999999999999";
        assert_eq!(
            v["verdict"],
            if foreign { "violation" } else { "allowed" },
            "{v}"
        );
    }

    // A missing bucket is bad input, named.
    let (code, _, err) = check(
        &["--policies", &p, "s3://invokeguard-no-such-bucket/AWSLogs/"],
        &moto.endpoint,
    )
    .await;
    assert_eq!(code, Some(2));
    assert!(
        err.contains("s3://invokeguard-no-such-bucket/AWSLogs/: cannot list: NoSuchBucket"),
        "{err}"
    );
}

#[tokio::test]
async fn an_s3_object_too_large_to_hold_is_judged_from_a_temporary_file_like_a_small_one() {
    let moto = Moto::shared();
    let bucket = "invokeguard-hunt-large";
    let s3 = new_bucket(&moto.endpoint, bucket).await;
    // Not compressed, over 8 MiB: more than check holds in memory for a fetched object.
    let records: Vec<Value> = (0..15_000u32)
        .map(|i| {
            let caller = if i % 3 == 0 {
                "999999999999"
            } else {
                "222233334444"
            };
            record(&format!("big-{i}"), 22, caller)
        })
        .collect();
    let body = json!({ "Records": records }).to_string();
    assert!(body.len() > 9 * 1024 * 1024, "{} bytes", body.len());
    let key = format!("{PREFIX}/22/123456789012_CloudTrail_us-east-1_20261122T0005Z_big.json.gz");
    put(&s3, bucket, &key, body.clone().into_bytes()).await;
    let (_policies, p) = hunted_policies();
    let local = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(local.path(), &body).unwrap();
    let args = [
        "--json",
        "--policies",
        &p,
        "--account",
        "123456789012",
        "--region",
        "us-east-1",
    ];
    let url = format!("s3://{bucket}/AWSLogs/");
    let from_s3 = [&args[..], &[url.as_str()]].concat();
    let (code, out, err) = check(&from_s3, &moto.endpoint).await;
    assert_eq!(code, Some(1), "violations found: {err}");
    let local_path = local.path().to_string_lossy().into_owned();
    let from_file = [&args[..], &[local_path.as_str()]].concat();
    let (_, expected, _) = check(&from_file, &moto.endpoint).await;
    assert_eq!(out.lines().count(), 15_000);
    assert!(
        out == expected,
        "the same verdict lines as from a local file"
    );
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("invokeguard-check-")
        })
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}
