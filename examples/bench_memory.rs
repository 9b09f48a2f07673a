//! `scripts/bench-memory.sh`: peak RSS on hostile trail files (issue 16, "memory an outsider
//! controls"): the Lambda under a local Runtime API handling an S3 `Object Created` event for
//! each file (moto's S3, through the recording proxy), and `invokeguard check` on each. Each
//! file but the bomb holds one real violation of a guarded function with a public grant: the
//! figures say whether it was fixed. Prints figures; asserts nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark: any failure is fatal

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::moto::{self, ACCOUNT, Moto, REGION};
use support::proxy::Proxy;
use support::runtime_api::{RuntimeApi, peak_rss_kib, spawn_lambda};

const BUCKET: &str = "invokeguard-bench-memory";
const FUNCTION: &str = "bench-guarded";

fn invoke(event_id: &str, account: &str, error_code: Option<&str>) -> Value {
    let mut r = json!({"eventVersion": "1.08", "eventSource": "lambda.amazonaws.com", "eventName": "Invoke",
        "eventID": event_id, "eventTime": "2026-12-06T03:00:00Z", "eventCategory": "Data",
        "awsRegion": REGION, "recipientAccountId": ACCOUNT, "sourceIPAddress": "198.51.100.7",
        "userIdentity": {"type": "AWSAccount", "accountId": account, "principalId": "AIDAEXAMPLE"},
        "requestParameters": {"functionName": FUNCTION},
        "resources": [{"type": "AWS::Lambda::Function", "ARN": format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION}")}]});
    if let Some(code) = error_code {
        r["errorCode"] = json!(code);
        r["errorMessage"] = json!("User is not authorized to perform: lambda:InvokeFunction");
    }
    r
}

fn gzip_to(path: &Path, write: impl FnOnce(&mut dyn Write)) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut enc = flate2::write::GzEncoder::new(file, flate2::Compression::best());
    write(&mut enc);
    enc.finish().unwrap().flush().unwrap();
}

struct Hostile {
    name: &'static str,
    path: PathBuf,
    what: String,
}

fn generate(dir: &Path, only: Option<&str>) -> Vec<Hostile> {
    let wanted = |name: &str| only.is_none_or(|o| o.split(',').any(|n| n == name));
    let mut out = Vec::new();
    // Tens of thousands of refused Invokes (anyone can cause them), one real violation among them.
    if wanted("refused") {
        let path = dir.join("refused.json.gz");
        let n = 60_000;
        gzip_to(&path, |w| {
            w.write_all(b"{\"Records\":[").unwrap();
            for i in 0..n {
                if i > 0 {
                    w.write_all(b",").unwrap();
                }
                let r = if i == n / 2 {
                    invoke("real-violation", "999999999999", None)
                } else {
                    invoke(
                        &format!("refused-{i:08}"),
                        "999999999999",
                        Some("AccessDenied"),
                    )
                };
                serde_json::to_writer(&mut *w, &r).unwrap();
            }
            w.write_all(b"]}").unwrap();
        });
        out.push(Hostile {
            name: "refused",
            what: format!("{n} refused Invokes + 1 violation"),
            path,
        });
    }
    // One 160 MB record after the violation.
    if wanted("big-record") {
        let path = dir.join("big-record.json.gz");
        gzip_to(&path, |w| {
            w.write_all(b"{\"Records\":[").unwrap();
            serde_json::to_writer(&mut *w, &invoke("real-violation", "999999999999", None))
                .unwrap();
            w.write_all(b",{\"eventSource\":\"lambda.amazonaws.com\",\"eventName\":\"Invoke\",\"requestParameters\":{\"payload\":\"").unwrap();
            let chunk = vec![b'x'; 1 << 20];
            for _ in 0..160 {
                w.write_all(&chunk).unwrap();
            }
            w.write_all(b"\"}}]}").unwrap();
        });
        out.push(Hostile {
            name: "big-record",
            what: "1 violation, then one 160 MB record".into(),
            path,
        });
    }
    // A 125 MB object, not compressed (the key still ends in .json.gz).
    if wanted("plain-125mb") {
        let path = dir.join("plain-125mb.json.gz");
        {
            let mut w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
            w.write_all(b"{\"Records\":[").unwrap();
            let noise = json!({"eventVersion": "1.08", "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
            "awsRegion": REGION, "recipientAccountId": ACCOUNT, "requestParameters": {"bucketName": "data", "key": "x".repeat(200)},
            "userIdentity": {"type": "AWSAccount", "accountId": "999999999999"}})
        .to_string();
            let mut written = 0usize;
            while written < 125 * 1024 * 1024 - 2048 {
                w.write_all(noise.as_bytes()).unwrap();
                w.write_all(b",").unwrap();
                written += noise.len() + 1;
            }
            serde_json::to_writer(&mut w, &invoke("real-violation", "999999999999", None)).unwrap();
            w.write_all(b"]}").unwrap();
            w.flush().unwrap();
        }
        out.push(Hostile {
            name: "plain-125mb",
            what: "125 MB uncompressed: S3 noise, then 1 violation".into(),
            path,
        });
    }
    // A gzip bomb of tiny records: just under the 256 MiB decompressed cap.
    if wanted("bomb") {
        let path = dir.join("bomb.json.gz");
        let tiny = b"{\"eventName\":\"x\"},";
        let count = (250 * 1024 * 1024) / tiny.len();
        gzip_to(&path, |w| {
            w.write_all(b"{\"Records\":[").unwrap();
            let block: Vec<u8> = tiny.repeat(4096);
            for _ in 0..count / 4096 {
                w.write_all(&block).unwrap();
            }
            w.write_all(b"{}]}").unwrap();
        });
        out.push(Hostile {
            name: "bomb",
            what: format!("{} tiny records", count / 4096 * 4096 + 1),
            path,
        });
    }
    out
}

fn size(path: &Path) -> String {
    let n = std::fs::metadata(path).unwrap().len();
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / f64::from(1 << 20))
    } else {
        format!("{} KiB", n / 1024)
    }
}

fn key(name: &str) -> String {
    format!(
        "AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2026/12/06/{ACCOUNT}_CloudTrail_{REGION}_20261206T0300Z_{name}.json.gz"
    )
}

async fn s3(endpoint: &str) -> aws_sdk_s3::Client {
    let config = moto::sdk_config(endpoint).await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
}

fn outcome_text(outcome: &Result<Value, Value>) -> String {
    match outcome {
        Ok(r) => format!(
            "ok: violations {} removed {} unfixed {}",
            r["violations"], r["removed"], r["unfixed"]
        ),
        Err(e) => {
            // The message without the object's long s3:// name.
            let m = e["errorMessage"].as_str().unwrap_or("?");
            let m = m.split(".json.gz: ").last().unwrap_or(m);
            let m: String = m.chars().take(160).collect();
            format!("failed (retried): {m}")
        }
    }
}

/// Peak RSS of `invokeguard check` on one file, through /usr/bin/time.
fn check_peak(bin: &Path, policies: &Path, file: &Path) -> (u64, Option<i32>, Duration) {
    let t = Instant::now();
    let o = std::process::Command::new("/usr/bin/time")
        .args(["-f", "peak-rss-kib %M"])
        .arg(bin)
        .args(["check", "--json", "--policies"])
        .arg(policies)
        .arg(file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run /usr/bin/time");
    let took = t.elapsed();
    let err = String::from_utf8_lossy(&o.stderr);
    let kib = err
        .lines()
        .filter_map(|l| l.strip_prefix("peak-rss-kib "))
        .filter_map(|v| v.trim().parse().ok())
        .next_back()
        .unwrap_or(0);
    // The exit code of check, which /usr/bin/time passes on.
    (kib, o.status.code(), took)
}

#[tokio::main]
async fn main() {
    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "release".into());
    let lambda_bin = PathBuf::from(format!("target/{profile}/invokeguard-lambda"));
    let check_bin = PathBuf::from(format!("target/{profile}/invokeguard"));
    let dir = tempfile::tempdir().unwrap();
    // BENCH_ONLY=name[,name]: only those files (refused, big-record, plain-125mb, bomb).
    let only = std::env::var("BENCH_ONLY").ok();
    let files: Vec<Hostile> = generate(dir.path(), only.as_deref());
    let policies = dir.path().join("policies.json");
    std::fs::write(
        &policies,
        json!({"version": 1, "functions": {FUNCTION: {"allow": [{"account": "222233334444"}]}}})
            .to_string(),
    )
    .unwrap();

    println!("Hostile trail files ({profile} build):");
    for f in &files {
        println!("  {:<12} {:>10}  {}", f.name, size(&f.path), f.what);
    }

    let moto = Moto::start();
    let lambda = moto::function_with_grants(&moto.endpoint, FUNCTION, &[]).await;
    let s3 = s3(&moto.endpoint).await;
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    for f in &files {
        s3.put_object()
            .bucket(BUCKET)
            .key(key(f.name))
            .body(
                aws_sdk_s3::primitives::ByteStream::from_path(&f.path)
                    .await
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    let proxy = Proxy::start(&moto.endpoint).await;
    let mut env = moto::env_for_child(&proxy.endpoint);
    // S3 straight from moto: the recording proxy buffers whole bodies, which a 125 MB object
    // does not fit in the SDK's 5 s attempt timeout (S3 itself streams).
    env.push(("AWS_ENDPOINT_URL_S3".into(), moto.endpoint.clone()));
    env.push((
        "INVOKEGUARD_POLICIES".into(),
        policies.display().to_string(),
    ));

    println!(
        "invokeguard-lambda under a local Runtime API (AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128), one S3 Object Created event per file:"
    );
    for f in &files {
        // A public grant for the file's violation to remove.
        let _ = lambda
            .add_permission()
            .function_name(FUNCTION)
            .statement_id("public")
            .action("lambda:InvokeFunction")
            .principal("*")
            .send()
            .await;
        let api = RuntimeApi::start().await;
        let process = spawn_lambda(&lambda_bin, &api, &env);
        api.wait_first_next(Duration::from_secs(60))
            .await
            .expect("the runtime asked for an event");
        let event = json!({"version": "0", "source": "aws.s3", "detail-type": "Object Created",
            "account": ACCOUNT, "region": REGION,
            "detail": {"bucket": {"name": BUCKET}, "object": {"key": key(f.name)}}});
        let t = Instant::now();
        let out = api
            .invoke_with_deadline(event, Duration::from_secs(900), Duration::from_secs(900))
            .await;
        let took = t.elapsed();
        let peak = peak_rss_kib(process.pid().expect("running"));
        let text = out.map_or_else(|| "no answer".to_owned(), |o| outcome_text(&o.outcome));
        println!(
            "  {:<12} peak RSS {:>7} KiB ({:>5.1} MiB)  {:>6.1} s  {text}",
            f.name,
            peak,
            peak as f64 / 1024.0,
            took.as_secs_f64()
        );
    }

    println!("invokeguard check --json on each file (stdout to /dev/null):");
    for f in &files {
        let (peak, code, took) = check_peak(&check_bin, &policies, &f.path);
        println!(
            "  {:<12} peak RSS {:>7} KiB ({:>5.1} MiB)  {:>6.1} s  exit {}",
            f.name,
            peak,
            peak as f64 / 1024.0,
            took.as_secs_f64(),
            code.map_or("-".into(), |c| c.to_string())
        );
    }
}
