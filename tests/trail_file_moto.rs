//! The trail-file backstop against moto (S3, DynamoDB, Lambda, EventBridge) through the
//! recording proxy: an `Object Created` event for a trail log file makes the guard read it and
//! reconcile what EventBridge never delivered; a violation seen by both inputs is notified once
//! (a conditional PutItem on the dedup table).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

mod support;

use std::io::Write;
use std::sync::Arc;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use invokeguard::allowlist::Allowlist;
use invokeguard::aws::home::Home;
use invokeguard::guard::{Guard, Level, MemorySink, Settings};
use invokeguard::sdk::LazyAws;
use serde_json::{Value, json};
use support::moto::{self, ACCOUNT, Moto, REGION};
use support::proxy::Proxy;

const BUCKET: &str = "invokeguard-trail-test";
const TABLE: &str = "invokeguard-dedup-test";

fn gzip(text: &str) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap()
}

fn arn(function: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}")
}

fn violation(function: &str, event_id: &str) -> Value {
    json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke", "eventID": event_id,
        "eventCategory": "Data", "awsRegion": REGION, "recipientAccountId": ACCOUNT,
        "eventTime": "2026-11-25T03:00:00Z",
        "userIdentity": {"type": "AWSAccount", "accountId": "444455556666", "principalId": "AIDAEXAMPLE"},
        "requestParameters": {"functionName": function},
        "resources": [{"type": "AWS::Lambda::Function", "ARN": arn(function)}]})
}

fn key(file: &str) -> String {
    format!(
        "AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2026/11/25/{ACCOUNT}_CloudTrail_{REGION}_{file}.json.gz"
    )
}

fn object_created(key: &str) -> Value {
    json!({"version": "0", "source": "aws.s3", "detail-type": "Object Created", "account": ACCOUNT,
        "region": REGION, "detail": {"bucket": {"name": BUCKET}, "object": {"key": key}}})
}

/// The bucket and the dedup table, once per test process (moto is shared).
async fn storage(endpoint: &str) {
    let config = moto::sdk_config(endpoint).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let _ = s3.create_bucket().bucket(BUCKET).send().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let _ = dynamodb
        .create_table()
        .table_name(TABLE)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("eventId")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("eventId")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
}

async fn put_trail_file(endpoint: &str, key: &str, records: Vec<Value>) {
    let config = moto::sdk_config(endpoint).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    s3.put_object()
        .bucket(BUCKET)
        .key(key)
        .body(gzip(&json!({ "Records": records }).to_string()).into())
        .send()
        .await
        .unwrap();
}

async fn guard(function: &str, proxy: &Proxy, sink: &MemorySink) -> Guard<LazyAws> {
    let allowlist = Allowlist::from_json(
        &json!({"version": 1, "functions": {function: {"allow": [{"account": "222233334444"}]}}})
            .to_string(),
        "t",
        None,
    )
    .unwrap();
    allowlist
        .set_home(Home::new("aws", REGION, ACCOUNT).unwrap())
        .unwrap();
    let aws = LazyAws::with_config(
        moto::sdk_config(&proxy.endpoint).await,
        Some("default".to_owned()),
    )
    .with_dedup_table(Some(TABLE.to_owned()));
    // The trail file arrives minutes after EventBridge's delivery, long after the storm TTL.
    let settings = Settings {
        log_level: Level::Debug,
        verified_ttl: std::time::Duration::ZERO,
        ..Settings::default()
    };
    Guard::new(allowlist, aws, Arc::new(sink.clone()), settings)
}

/// The shared moto with the bucket and table, and `function` granted to the partner and to
/// everyone.
async fn granted_to_partner_and_public(function: &str) -> (&'static Moto, aws_sdk_lambda::Client) {
    let moto = Moto::shared();
    storage(&moto.endpoint).await;
    let lambda = moto::function_with_grants(
        &moto.endpoint,
        function,
        &[("partner", "222233334444"), ("public", "*")],
    )
    .await;
    (moto, lambda)
}

/// The guard, told the trail file `key` arrived, fixes its one violation of `function`: the
/// public grant goes, the partner's stays. The proxy it went through and its lines.
async fn fixed_from_trail_file(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    key: &str,
    request_id: &str,
) -> (Proxy, MemorySink) {
    let proxy = Proxy::start(&Moto::shared().endpoint).await;
    let sink = MemorySink::default();
    let g = guard(function, &proxy, &sink).await;

    let report = g
        .handle_event(object_created(key), request_id)
        .await
        .unwrap();
    assert_eq!(
        (report.violations, report.removed, report.unfixed),
        (1, 1, 0)
    );
    let stored = moto::stored_policy(lambda, function, None).await.unwrap();
    let sids: Vec<&str> = stored["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["Sid"].as_str())
        .collect();
    assert_eq!(sids, ["partner"]);
    (proxy, sink)
}

#[tokio::test]
async fn a_record_eventbridge_dropped_is_fixed_from_its_trail_file() {
    let (moto, lambda) = granted_to_partner_and_public("trail-dropped").await;
    let noise =
        json!({"eventSource": "s3.amazonaws.com", "eventName": "GetObject", "eventID": "n1"});
    let k = key("dropped");
    put_trail_file(
        &moto.endpoint,
        &k,
        vec![noise, violation("trail-dropped", "tf-dropped")],
    )
    .await;
    let (proxy, sink) = fixed_from_trail_file(&lambda, "trail-dropped", &k, "req-tf").await;
    let lines = sink.lines();
    let decision = lines.iter().find(|l| l["message"] == "decision").unwrap();
    assert_eq!(decision["input"], "trail-file");
    assert_eq!(decision["eventId"], "tf-dropped");
    let reads = proxy
        .operations()
        .iter()
        .filter(|o| o.starts_with("GET /invokeguard-trail-test/"))
        .count();
    assert_eq!(reads, 1, "{:?}", proxy.operations());
}

#[tokio::test]
async fn a_violation_seen_by_both_inputs_is_notified_once() {
    let (moto, _lambda) = granted_to_partner_and_public("trail-both").await;
    let k = key("both");
    put_trail_file(&moto.endpoint, &k, vec![violation("trail-both", "tf-both")]).await;
    let proxy = Proxy::start(&moto.endpoint).await;
    let sink = MemorySink::default();
    let g = guard("trail-both", &proxy, &sink).await;

    // EventBridge delivers the record first; the trail file minutes later.
    let by_eventbridge = json!({"source": "aws.lambda", "detail-type": "AWS API Call via CloudTrail",
        "detail": violation("trail-both", "tf-both")});
    g.handle_event(by_eventbridge, "req-eb").await.unwrap();
    let after_first = proxy.calls_of("PutEvents").len();
    assert_eq!(
        after_first, 1,
        "the violation and its remediations, in one PutEvents"
    );
    let report = g.handle_event(object_created(&k), "req-tf").await.unwrap();
    assert_eq!((report.violations, report.removed), (1, 0), "already fixed");
    assert_eq!(proxy.calls_of("PutEvents").len(), 1, "not notified again");
    assert_eq!(
        proxy.calls_of("PutItem").len(),
        2,
        "one claim by each input"
    );
}

#[tokio::test]
async fn the_violation_among_thousands_of_refused_invokes_is_fixed_from_a_streamed_s3_body() {
    let (moto, lambda) = granted_to_partner_and_public("trail-flooded").await;
    let mut records: Vec<Value> = (0..20_000)
        .map(|i| {
            let mut r = violation("trail-flooded", &format!("refused-{i}"));
            r["errorCode"] = json!("AccessDenied");
            r
        })
        .collect();
    records.insert(15_000, violation("trail-flooded", "tf-flooded"));
    let k = key("flooded");
    put_trail_file(&moto.endpoint, &k, records).await;
    let (_proxy, sink) = fixed_from_trail_file(&lambda, "trail-flooded", &k, "req-fl").await;
    let decisions: Vec<Value> = sink
        .lines()
        .into_iter()
        .filter(|l| l["message"] == "decision")
        .collect();
    assert_eq!(decisions.len(), 1, "refused records are never judged");
    assert_eq!(decisions[0]["eventId"], "tf-flooded");
}
