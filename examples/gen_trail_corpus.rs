//! Writes a corpus of CloudTrail trail log files for `scripts/bench-check.sh`:
//! `OUT/AWSLogs/111122223333/CloudTrail/REGION/2026/11/DD/..._CloudTrail_REGION_202611DDTHHMMZ_X.json.gz`
//! (gzip, `{"Records":[...]}`), plus digest files beside them, and `OUT/policies.json`.
//!
//! Records are shaped like CloudTrail's: Lambda `Invoke` data events of several functions by
//! allowed and other callers (services with and without sourceArn, cross-account roles,
//! same-account users, refused calls), Lambda `InvokeExecution`, management events of other
//! services (EC2, STS, IAM, Lambda) and S3 data events. Deterministic for a given size.
//!
//! cargo run --release --example gen_trail_corpus -- OUT [UNCOMPRESSED_BYTES (default 1.1e9)]

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_arguments
)] // a benchmark tool

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

const ACCOUNT: &str = "111122223333";
const RECORDS_PER_FILE: usize = 2500;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b"0123456789abcdef"[self.below(16) as usize]))
            .collect()
    }
    fn uuid(&mut self) -> String {
        format!(
            "{}-{}-4{}-8{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(3),
            self.hex(3),
            self.hex(12)
        )
    }
}

const FUNCTIONS: [&str; 6] = [
    "orders-api",
    "billing-worker",
    "thumbnailer",
    "nightly-report",
    "auth-hook",
    "legacy-unguarded",
];

/// The policies file the corpus is judged against.
fn policies() -> Value {
    json!({"version": 1, "functions": {
        "orders-api": {"allow": [
            {"service": "apigateway.amazonaws.com", "sourceArn": format!("arn:aws:execute-api:*:{ACCOUNT}:abc123/*")},
            {"account": "222233334444"}]},
        "billing-worker": {"allow": [
            {"service": "sqs.amazonaws.com"},
            {"principal": format!("arn:aws:iam::{ACCOUNT}:role/deployer")}]},
        "thumbnailer": {"allow": [
            {"service": "s3.amazonaws.com", "sourceArn": "arn:aws:s3:::uploads", "sourceAccount": ACCOUNT}]},
        "nightly-report": {"allow": [
            {"service": "events.amazonaws.com", "sourceArn": format!("arn:aws:events:*:{ACCOUNT}:rule/nightly")}]},
        "auth-hook": {"allow": [{"organization": "o-a1b2c3d4e5"}]}
    }})
}

fn time(day: u32, second: u64) -> String {
    format!(
        "2026-11-{day:02}T{:02}:{:02}:{:02}Z",
        second / 3600 % 24,
        second / 60 % 60,
        second % 60
    )
}

fn assumed_role(rng: &mut Rng, account: &str, role: &str) -> Value {
    json!({
        "type": "AssumedRole",
        "principalId": format!("AROA{}:{}", rng.hex(16).to_uppercase(), role),
        "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/session-{}", rng.hex(6)),
        "accountId": account,
        "accessKeyId": format!("ASIA{}", rng.hex(16).to_uppercase()),
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": format!("AROA{}", rng.hex(16).to_uppercase()),
                "arn": format!("arn:aws:iam::{account}:role/{role}"), "accountId": account, "userName": role},
            "attributes": {"creationDate": "2026-11-01T00:00:00Z", "mfaAuthenticated": "false"}
        }
    })
}

fn iam_user(rng: &mut Rng, account: &str, user: &str) -> Value {
    json!({"type": "IAMUser", "principalId": format!("AIDA{}", rng.hex(16).to_uppercase()),
        "arn": format!("arn:aws:iam::{account}:user/{user}"), "accountId": account,
        "accessKeyId": format!("AKIA{}", rng.hex(16).to_uppercase()), "userName": user})
}

fn base(
    rng: &mut Rng,
    day: u32,
    second: u64,
    region: &str,
    identity: Value,
    source: &str,
    name: &str,
    category: &str,
) -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": time(day, second),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": format!("203.0.113.{}", rng.below(250)),
        "userAgent": "aws-sdk-java/2.25.10 Linux/5.10.217-205.860.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.11+9-LTS Java/17.0.11 vendor/Amazon.com_Inc. exec-env/AWS_Lambda_java17 io/sync http/Apache cfg/retry-mode/standard",
        "requestParameters": null,
        "responseElements": null,
        "requestID": rng.uuid(),
        "eventID": rng.uuid(),
        "readOnly": name.starts_with("Get") || name.starts_with("Describe") || name.starts_with("List"),
        "eventType": "AwsApiCall",
        "managementEvent": category == "Management",
        "recipientAccountId": ACCOUNT,
        "eventCategory": category,
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": format!("{}.{region}.amazonaws.com", source.trim_end_matches(".amazonaws.com"))}
    })
}

fn invoke(rng: &mut Rng, day: u32, second: u64, region: &str) -> Value {
    let function = *rng.pick(&FUNCTIONS);
    let arn = format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{function}");
    let service = |by: &str| json!({"type": "AWSService", "invokedBy": by});
    let (identity, request_extra): (Value, Value) = match rng.below(12) {
        0 | 1 => (
            service("apigateway.amazonaws.com"),
            json!({"sourceArn": format!("arn:aws:execute-api:{region}:{ACCOUNT}:abc123/prod/GET/orders")}),
        ),
        2 => (service("sqs.amazonaws.com"), json!({})),
        3 => (
            service("s3.amazonaws.com"),
            json!({"sourceArn": "arn:aws:s3:::uploads", "sourceAccount": ACCOUNT}),
        ),
        4 => (
            service("events.amazonaws.com"),
            json!({"sourceArn": format!("arn:aws:events:{region}:{ACCOUNT}:rule/nightly")}),
        ),
        5 => (
            service("sns.amazonaws.com"),
            json!({"sourceArn": format!("arn:aws:sns:{region}:999999999999:spam"), "sourceAccount": "999999999999"}),
        ),
        6 | 7 => (assumed_role(rng, "222233334444", "partner"), json!({})),
        8 => (assumed_role(rng, "999999999999", "intruder"), json!({})),
        9 => (assumed_role(rng, ACCOUNT, "deployer"), json!({})),
        10 => (iam_user(rng, ACCOUNT, "duc"), json!({})),
        _ => (assumed_role(rng, "444455556666", "batch"), json!({})),
    };
    let mut r = base(
        rng,
        day,
        second,
        region,
        identity,
        "lambda.amazonaws.com",
        "Invoke",
        "Data",
    );
    let mut request = json!({"functionName": arn, "invocationType": if rng.below(3) == 0 { "Event" } else { "RequestResponse" }, "logType": "None"});
    if let (Some(req), Some(extra)) = (request.as_object_mut(), request_extra.as_object()) {
        req.extend(extra.clone());
    }
    if rng.below(10) == 0 {
        request["qualifier"] = json!("live");
    }
    r["requestParameters"] = request;
    r["additionalEventData"] = json!({"functionVersion": format!("{arn}:$LATEST")});
    r["resources"] = json!([{"accountId": ACCOUNT, "type": "AWS::Lambda::Function", "ARN": arn}]);
    r["readOnly"] = json!(false);
    if rng.below(100) == 0 {
        r["errorCode"] = json!("AccessDenied");
        r["errorMessage"] = json!("User is not authorized to perform: lambda:InvokeFunction");
    }
    r
}

fn other(rng: &mut Rng, day: u32, second: u64, region: &str) -> Value {
    let who = assumed_role(rng, ACCOUNT, "ops");
    match rng.below(6) {
        0 => {
            let mut r = base(
                rng,
                day,
                second,
                region,
                who,
                "ec2.amazonaws.com",
                "DescribeInstances",
                "Management",
            );
            r["requestParameters"] = json!({"instancesSet": {}, "filterSet": {"items": [{"name": "tag:team", "valueSet": {"items": [{"value": "payments"}]}}]}});
            r
        }
        1 => {
            let mut r = base(
                rng,
                day,
                second,
                region,
                json!({"type": "AWSService", "invokedBy": "lambda.amazonaws.com"}),
                "sts.amazonaws.com",
                "AssumeRole",
                "Management",
            );
            r["requestParameters"] = json!({"roleArn": format!("arn:aws:iam::{ACCOUNT}:role/service-role/orders-api-role"), "roleSessionName": "orders-api"});
            r["responseElements"] = json!({"credentials": {"accessKeyId": format!("ASIA{}", rng.hex(16).to_uppercase()), "sessionToken": rng.hex(300), "expiration": "Nov 1, 2026, 12:00:00 PM"},
                "assumedRoleUser": {"assumedRoleId": format!("AROA{}:orders-api", rng.hex(16).to_uppercase()), "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/orders-api-role/orders-api")}});
            r["resources"] = json!([{"accountId": ACCOUNT, "type": "AWS::IAM::Role", "ARN": format!("arn:aws:iam::{ACCOUNT}:role/service-role/orders-api-role")}]);
            r
        }
        2 => {
            let mut r = base(
                rng,
                day,
                second,
                "us-east-1",
                who,
                "iam.amazonaws.com",
                "ListRoles",
                "Management",
            );
            r["requestParameters"] = json!({"maxItems": 100});
            r
        }
        3 => {
            let f = *rng.pick(&FUNCTIONS);
            let mut r = base(
                rng,
                day,
                second,
                region,
                who,
                "lambda.amazonaws.com",
                "GetFunction20150331v2",
                "Management",
            );
            r["requestParameters"] = json!({"functionName": f});
            r
        }
        4 => {
            let f = *rng.pick(&FUNCTIONS);
            let mut r = base(
                rng,
                day,
                second,
                region,
                json!({"type": "AWSService", "invokedBy": "lambda.amazonaws.com"}),
                "lambda.amazonaws.com",
                "InvokeExecution",
                "Data",
            );
            r["resources"] = json!([{"accountId": ACCOUNT, "type": "AWS::Lambda::Function", "ARN": format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{f}")}]);
            r
        }
        _ => {
            let key = format!("incoming/{}/{}.jpg", rng.hex(8), rng.hex(12));
            let name = if rng.below(2) == 0 {
                "GetObject"
            } else {
                "PutObject"
            };
            let mut r = base(
                rng,
                day,
                second,
                region,
                who,
                "s3.amazonaws.com",
                name,
                "Data",
            );
            r["requestParameters"] =
                json!({"bucketName": "uploads", "Host": "uploads.s3.amazonaws.com", "key": key});
            r["additionalEventData"] = json!({"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader", "x-amz-id-2": rng.hex(60), "bytesTransferredOut": rng.below(5_000_000)});
            r["resources"] = json!([{"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::uploads/{key}")}, {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::uploads"}]);
            r
        }
    }
}

/// One trail file's JSON text.
fn trail_file(seed: u64, day: u32, start: u64, region: &str) -> Vec<u8> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut out = Vec::with_capacity(RECORDS_PER_FILE * 1700);
    out.extend_from_slice(b"{\"Records\":[");
    for i in 0..RECORDS_PER_FILE {
        if i > 0 {
            out.push(b',');
        }
        let second = start + i as u64 / 8;
        let r = if rng.below(100) < 55 {
            invoke(&mut rng, day, second, region)
        } else {
            other(&mut rng, day, second, region)
        };
        serde_json::to_writer(&mut out, &r).unwrap();
    }
    out.extend_from_slice(b"]}");
    out
}

fn write_gz(path: &Path, text: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut enc = flate2::write::GzEncoder::new(
        std::io::BufWriter::new(file),
        flate2::Compression::default(),
    );
    enc.write_all(text).unwrap();
    enc.finish().unwrap().flush().unwrap();
}

fn main() {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(
        args.next()
            .expect("usage: gen_trail_corpus OUT [UNCOMPRESSED_BYTES]"),
    );
    let target: u64 = args
        .next()
        .map_or(1_100_000_000, |s| s.parse::<f64>().expect("a size") as u64);
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join("policies.json"),
        serde_json::to_vec_pretty(&policies()).unwrap(),
    )
    .unwrap();
    let regions = ["us-east-1", "eu-west-1"];
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let written = std::sync::atomic::AtomicU64::new(0);
    let next = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                use std::sync::atomic::Ordering::SeqCst;
                if written.load(SeqCst) >= target {
                    return;
                }
                let n = next.fetch_add(1, SeqCst);
                let region = regions[(n % 2) as usize];
                let day = 1 + (n / 2 % 28) as u32;
                let slot = n / 56;
                let start = slot * 300;
                let stamp = format!("202611{day:02}T{:02}{:02}Z", start / 3600 % 24, start / 60 % 60);
                let dir = format!("AWSLogs/{ACCOUNT}/CloudTrail/{region}/2026/11/{day:02}");
                let text = trail_file(n + 1, day, start, region);
                write_gz(
                    &out.join(&dir).join(format!("{ACCOUNT}_CloudTrail_{region}_{stamp}_{n:08x}.json.gz")),
                    &text,
                );
                if slot == 0 {
                    let digest = json!({"awsAccountId": ACCOUNT, "digestStartTime": time(day, 0), "logFiles": []});
                    write_gz(
                        &out.join(format!("AWSLogs/{ACCOUNT}/CloudTrail-Digest/{region}/2026/11/{day:02}"))
                            .join(format!("{ACCOUNT}_CloudTrail-Digest_{region}_trail_{region}_{stamp}.json.gz")),
                        &serde_json::to_vec(&digest).unwrap(),
                    );
                }
                written.fetch_add(text.len() as u64, SeqCst);
            });
        }
    });
    println!(
        "{}: {} trail files, {} bytes of JSON",
        out.display(),
        next.load(std::sync::atomic::Ordering::SeqCst),
        written.load(std::sync::atomic::Ordering::SeqCst)
    );
}
