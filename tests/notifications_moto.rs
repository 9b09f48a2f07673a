//! Notifications reach a subscriber: the `invokeguard` bus in moto routes them to an SQS queue,
//! which the test reads back (SQS spoken directly over its JSON protocol: no SQS SDK dependency).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

mod support;

use std::sync::Arc;

use aws_sdk_eventbridge::types::Target;
use invokeguard::allowlist::Allowlist;
use invokeguard::guard::{Guard, MemorySink, Settings};
use invokeguard::sdk::LazyAws;
use serde_json::{Value, json};
use support::http;
use support::moto::{self, ACCOUNT, Moto, REGION};
use support::proxy::{Action, Fault, Hit, Proxy};

async fn sqs(endpoint: &str, action: &str, body: Value) -> Value {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20250101/{REGION}/sqs/aws4_request, SignedHeaders=host, Signature=0000"
    );
    let target = format!("AmazonSQS.{action}");
    let headers = [
        ("Content-Type", "application/x-amz-json-1.0"),
        ("X-Amz-Target", target.as_str()),
        ("Authorization", auth.as_str()),
    ];
    let resp = http::request(endpoint, "POST", "/", &headers, body.to_string().as_bytes())
        .await
        .expect("SQS request");
    assert_eq!(resp.status, 200, "SQS {action}: {}", resp.text());
    serde_json::from_slice(&resp.body).unwrap_or(Value::Null)
}

/// A bus whose every `invokeguard` event lands in a fresh queue; returns the queue URL.
async fn bus_to_queue(endpoint: &str, bus: &str) -> String {
    let queue_url = sqs(
        endpoint,
        "CreateQueue",
        json!({"QueueName": format!("{bus}-q")}),
    )
    .await["QueueUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let queue_arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{bus}-q");
    let events = aws_sdk_eventbridge::Client::new(&moto::sdk_config(endpoint).await);
    events.create_event_bus().name(bus).send().await.unwrap();
    events
        .put_rule()
        .name(format!("{bus}-all"))
        .event_bus_name(bus)
        .event_pattern(json!({"source": ["invokeguard"]}).to_string())
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule(format!("{bus}-all"))
        .event_bus_name(bus)
        .targets(Target::builder().id("q").arn(queue_arn).build().unwrap())
        .send()
        .await
        .unwrap();
    queue_url
}

async fn received(endpoint: &str, queue_url: &str) -> Vec<Value> {
    let out = sqs(
        endpoint,
        "ReceiveMessage",
        json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10}),
    )
    .await;
    out["Messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|m| {
            m["Body"]
                .as_str()
                .and_then(|b| serde_json::from_str(b).ok())
        })
        .collect()
}

async fn guard(name: &str, bus: &str, proxy: &Proxy, sink: &MemorySink) -> Guard<LazyAws> {
    let moto = Moto::shared();
    moto::function_with_grants(
        &moto.endpoint,
        name,
        &[("partner", "222233334444"), ("public", "*")],
    )
    .await;
    let policies = Allowlist::from_json(
        &json!({"version": 1, "functions": {name: {"allow": [{"account": "111122223333"}, {"account": "222233334444"}]}}})
            .to_string(),
        "t",
        None,
    )
    .unwrap();
    Guard::new(
        policies,
        LazyAws::with_config(
            moto::sdk_config(&proxy.endpoint).await,
            Some(bus.to_owned()),
        ),
        Arc::new(sink.clone()),
        Settings::default(),
    )
}

fn violation(name: &str) -> Value {
    json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke", "eventID": format!("ev-{name}"), "recipientAccountId": ACCOUNT,
        "userIdentity": {"type": "AWSAccount", "accountId": "444455556666"},
        "resources": [{"ARN": format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}")}]})
}

#[tokio::test]
async fn the_violation_and_each_applied_remediation_arrive_on_the_bus() {
    let moto = Moto::shared();
    let queue = bus_to_queue(&moto.endpoint, "ig-notify").await;
    let proxy = Proxy::start(&moto.endpoint).await;
    let sink = MemorySink::default();
    let guard = guard("notified", "ig-notify", &proxy, &sink).await;
    guard
        .handle_event(violation("notified"), "req-n")
        .await
        .expect("remediated");
    assert_eq!(
        proxy.calls_of("PutEvents").len(),
        1,
        "one batched PutEvents per event"
    );

    let mut messages = received(&moto.endpoint, &queue).await;
    messages.sort_by_key(|m| m["detail-type"].as_str().map(str::to_owned));
    let types: Vec<&str> = messages
        .iter()
        .filter_map(|m| m["detail-type"].as_str())
        .collect();
    assert_eq!(
        types,
        [
            "Invokeguard Remediation",
            "Invokeguard Remediation",
            "Invokeguard Violation"
        ]
    );
    assert!(
        messages
            .iter()
            .all(|m| m["source"] == "invokeguard" && m["detail"]["eventId"] == "ev-notified")
    );
    let violation = &messages[2]["detail"];
    assert_eq!(
        (violation["message"].as_str(), violation["verdict"].as_str()),
        (Some("decision"), Some("violation"))
    );
    let actions: Vec<&str> = messages[..2]
        .iter()
        .filter_map(|m| m["detail"]["action"].as_str())
        .collect();
    assert!(actions.contains(&"remove") && actions.contains(&"add"));
}

#[tokio::test]
async fn a_failed_notification_is_logged_and_does_not_undo_or_repeat_the_remediation() {
    let moto = Moto::shared();
    let proxy = Proxy::start(&moto.endpoint).await;
    proxy.inject(Fault::error(
        "PutEvents",
        Hit::Always,
        400,
        "ResourceNotFoundException",
    ));
    let sink = MemorySink::default();
    let guard = guard("unheard", "no-such-bus", &proxy, &sink).await;
    let report = guard
        .handle_event(violation("unheard"), "req-u")
        .await
        .expect("remediation stands");
    assert_eq!((report.removed, report.added), (1, 1));
    assert_eq!(proxy.calls_of("AddPermission").len(), 1);
    let errors: Vec<Value> = sink
        .lines()
        .into_iter()
        .filter(|l| l["message"] == "error")
        .collect();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("notification failed"),
        "{errors:?}"
    );
}

#[tokio::test]
async fn a_partly_failed_putevents_is_logged_with_the_failed_entries() {
    let moto = Moto::shared();
    let proxy = Proxy::start(&moto.endpoint).await;
    let partial = json!({"FailedEntryCount": 1, "Entries": [
        {"EventId": "a"}, {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}, {"EventId": "c"}]});
    proxy.inject(Fault::new(
        "PutEvents",
        Hit::Always,
        Action::Respond(partial),
    ));
    let sink = MemorySink::default();
    let guard = guard("half-heard", "ig-partial", &proxy, &sink).await;
    let report = guard
        .handle_event(violation("half-heard"), "req-p")
        .await
        .expect("remediation stands");
    assert_eq!((report.removed, report.added), (1, 1));
    assert_eq!(
        proxy.calls_of("PutEvents").len(),
        1,
        "a failed notification is not repeated"
    );
    let errors: Vec<Value> = sink
        .lines()
        .into_iter()
        .filter(|l| l["message"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let error = errors[0]["error"].as_str().unwrap();
    assert!(
        error.contains("1 of 3 entries failed") && error.contains("InternalFailure: try again"),
        "{error}"
    );
}
