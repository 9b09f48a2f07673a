//! The sweep planner through the real aws-sdk-sqs client, against moto's SQS: a FIFO queue
//! receives one message per account and region of the policies file, each in its pair's group.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use invokeguard::allowlist::Allowlist;
use invokeguard::aws::home::Home;
use invokeguard::guard::{Guard, MemorySink, Settings};
use invokeguard::sdk::LazyAws;
use serde_json::{Value, json};
use support::moto::{self, ACCOUNT, Moto};

#[tokio::test]
async fn the_planner_queues_one_message_per_pair_in_its_own_group() {
    let moto = Moto::shared();
    let config = moto::sdk_config(&moto.endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let name = format!("sweep-{}.fifo", std::process::id());
    let url = sqs
        .create_queue()
        .queue_name(&name)
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    // Twelve pairs (two SendMessageBatch calls): eleven member accounts, and the home's pair for
    // the two names.
    let mut functions = serde_json::Map::new();
    functions.insert("by-name-a".into(), json!({"allow": []}));
    functions.insert("by-name-b".into(), json!({"allow": []}));
    let mut expected = BTreeSet::from([format!("{ACCOUNT}/us-east-1")]);
    for i in 0..11 {
        let account = format!("2100000000{i:02}");
        let region = if i % 2 == 0 { "eu-west-1" } else { "us-east-1" };
        for f in ["x", "y"] {
            functions.insert(
                format!("arn:aws:lambda:{region}:{account}:function:{f}"),
                json!({"allow": []}),
            );
        }
        expected.insert(format!("{account}/{region}"));
    }
    let text = json!({"version": 1, "functions": functions}).to_string();
    let policies = Allowlist::from_json(&text, "test", None).unwrap();
    policies
        .set_home(Home::new("aws", "us-east-1", ACCOUNT).unwrap())
        .unwrap();
    let aws = LazyAws::with_config(config.clone(), None).with_sweep_queue(Some(url.clone()));
    let sink = MemorySink::default();
    let guard = Guard::new(policies, aws, Arc::new(sink.clone()), Settings::default());
    let scheduled = json!({"version": "0", "id": "sched-moto", "source": "aws.events",
        "detail-type": "Scheduled Event", "account": ACCOUNT, "region": "us-east-1", "detail": {}});
    guard.handle_event(scheduled, "req").await.unwrap();
    let plan = sink.first("sweep-plan").unwrap();
    assert_eq!(
        (
            plan["pairs"].clone(),
            plan["sent"].clone(),
            plan["failed"].clone()
        ),
        (json!(12), json!(12), json!(0))
    );

    let mut groups = Vec::new();
    for _ in 0..5 {
        let out = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .message_system_attribute_names(MessageSystemAttributeName::MessageDeduplicationId)
            .send()
            .await
            .unwrap();
        if out.messages().is_empty() {
            break;
        }
        for m in out.messages() {
            let attrs = m.attributes().unwrap();
            let group = attrs[&MessageSystemAttributeName::MessageGroupId].clone();
            assert_eq!(
                attrs[&MessageSystemAttributeName::MessageDeduplicationId],
                format!("{group}/sched-moto")
            );
            let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            assert_eq!(body["invokeguard"], "sweep-pair");
            assert_eq!(
                format!(
                    "{}/{}",
                    body["account"].as_str().unwrap(),
                    body["region"].as_str().unwrap()
                ),
                group
            );
            groups.push(group);
        }
    }
    assert_eq!(groups.len(), 12, "one message per pair: {groups:?}");
    assert_eq!(groups.into_iter().collect::<BTreeSet<_>>(), expected);
}
