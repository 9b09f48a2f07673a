//! Lambda's SQS event source mapping, played against moto's SQS for the tests and the fan-out
//! benchmark: each consumer polls the queue, hands every batch it receives to its own Lambda
//! runtime (our Runtime API, one process per concurrent execution environment) as an SQS event,
//! and deletes the messages the function did not name in `batchItemFailures`
//! (`ReportBatchItemFailures`). A failed invocation deletes nothing. What is not deleted becomes
//! visible again after the queue's visibility timeout, and the queue's redrive policy moves a
//! message to the dead-letter queue past `maxReceiveCount` receives, as on AWS
//! (<https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html>).
//!
//! FIFO group ordering is the queue's: moto does not hand out a message of a group that has one
//! in flight, which is what keeps a pair from being swept twice at once.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use serde_json::{Value, json};

use super::runtime_api::RuntimeApi;

/// One message handed to one invocation.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Which consumer (index into the runtimes given to `drain`).
    pub consumer: usize,
    pub message_id: String,
    pub group: String,
    /// `ACCOUNT/REGION` from a sweep-pair body (empty for another body): what the test
    /// checks, whatever group the message was sent in.
    pub pair: String,
    pub body: String,
    pub receive_count: u32,
    pub received: Instant,
    /// When the invocation answered (or gave up).
    pub answered: Instant,
    /// Named in `batchItemFailures`, or the invocation failed.
    pub failed: bool,
}

pub struct Mapping<'a> {
    pub sqs: &'a aws_sdk_sqs::Client,
    pub queue_url: &'a str,
    /// Messages per invocation (the mapping's BatchSize).
    pub batch_size: i32,
    /// The invocation's deadline (the function's timeout).
    pub deadline: Duration,
    /// Stop when the queue is empty or after this long.
    pub give_up_after: Duration,
}

impl Mapping<'_> {
    /// Runs one consumer per runtime until the queue holds no message, visible or in flight.
    pub async fn drain(&self, runtimes: &[&RuntimeApi]) -> Vec<Delivery> {
        let started = Instant::now();
        let consumers = runtimes
            .iter()
            .enumerate()
            .map(|(i, api)| self.consume(i, api, started));
        futures_util::future::join_all(consumers)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    async fn consume(&self, consumer: usize, api: &RuntimeApi, started: Instant) -> Vec<Delivery> {
        let mut deliveries = Vec::new();
        while started.elapsed() < self.give_up_after {
            let out = self
                .sqs
                .receive_message()
                .queue_url(self.queue_url)
                .max_number_of_messages(self.batch_size)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .expect("ReceiveMessage");
            let messages = out.messages();
            if messages.is_empty() {
                if self.is_empty().await {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            let received = Instant::now();
            let records: Vec<Value> = messages.iter().map(|m| self.record(m)).collect();
            let answer = api
                .invoke_with_deadline(
                    json!({"Records": records}),
                    self.deadline,
                    self.deadline + Duration::from_secs(30),
                )
                .await;
            let answered = Instant::now();
            let failed_ids: Option<Vec<String>> =
                answer.and_then(|a| a.outcome.ok()).map(|report| {
                    report["batchItemFailures"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                        .collect()
                });
            let mut to_delete = Vec::new();
            for m in messages {
                let id = m.message_id().unwrap_or_default().to_owned();
                let failed = failed_ids.as_ref().is_none_or(|ids| ids.contains(&id));
                let attrs = m.attributes().cloned().unwrap_or_default();
                let attr = |name: MessageSystemAttributeName| {
                    attrs.get(&name).cloned().unwrap_or_default()
                };
                if !failed {
                    to_delete.push(
                        DeleteMessageBatchRequestEntry::builder()
                            .id(format!("m{}", to_delete.len()))
                            .receipt_handle(m.receipt_handle().unwrap_or_default())
                            .build()
                            .expect("an entry"),
                    );
                }
                deliveries.push(Delivery {
                    consumer,
                    message_id: id,
                    group: attr(MessageSystemAttributeName::MessageGroupId),
                    pair: pair_of(m.body().unwrap_or_default()),
                    body: m.body().unwrap_or_default().to_owned(),
                    receive_count: attr(MessageSystemAttributeName::ApproximateReceiveCount)
                        .parse()
                        .unwrap_or(0),
                    received,
                    answered,
                    failed,
                });
            }
            if !to_delete.is_empty() {
                self.sqs
                    .delete_message_batch()
                    .queue_url(self.queue_url)
                    .set_entries(Some(to_delete))
                    .send()
                    .await
                    .expect("DeleteMessageBatch");
            }
        }
        deliveries
    }

    /// The SQS event record Lambda builds for a message.
    fn record(&self, m: &aws_sdk_sqs::types::Message) -> Value {
        let attributes: BTreeMap<String, String> = m
            .attributes()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
            .collect();
        let queue_name = self.queue_url.rsplit('/').next().unwrap_or_default();
        json!({
            "messageId": m.message_id(),
            "receiptHandle": m.receipt_handle(),
            "body": m.body(),
            "attributes": attributes,
            "messageAttributes": {},
            "md5OfBody": m.md5_of_body(),
            "eventSource": "aws:sqs",
            "eventSourceARN": format!("arn:aws:sqs:us-east-1:123456789012:{queue_name}"),
            "awsRegion": "us-east-1",
        })
    }

    async fn is_empty(&self) -> bool {
        queue_depth(self.sqs, self.queue_url).await == 0
    }
}

/// Messages visible plus in flight.
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("GetQueueAttributes");
    let attrs = out.attributes().cloned().unwrap_or_default();
    [
        A::ApproximateNumberOfMessages,
        A::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .map(|a| {
        attrs
            .get(a)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    })
    .sum()
}

/// A FIFO sweep queue with a FIFO dead-letter queue after `max_receives` receives, as the CDK
/// construct makes it (content-based deduplication off: the planner sets the ids). Returns
/// (queue URL, dead-letter queue URL).
pub async fn fifo_queue_with_dlq(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    visibility_secs: u32,
    max_receives: u32,
) -> (String, String) {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let dlq = sqs
        .create_queue()
        .queue_name(format!("{name}-dead.fifo"))
        .attributes(A::FifoQueue, "true")
        .send()
        .await
        .expect("CreateQueue (dead letters)")
        .queue_url()
        .expect("a URL")
        .to_owned();
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(A::QueueArn)
        .send()
        .await
        .expect("GetQueueAttributes")
        .attributes()
        .and_then(|a| a.get(&A::QueueArn).cloned())
        .expect("an ARN");
    let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives});
    let queue = sqs
        .create_queue()
        .queue_name(format!("{name}.fifo"))
        .attributes(A::FifoQueue, "true")
        .attributes(A::VisibilityTimeout, visibility_secs.to_string())
        .attributes(A::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .expect("CreateQueue")
        .queue_url()
        .expect("a URL")
        .to_owned();
    (queue, dlq)
}

/// Every message in a queue (received and left in flight), bodies only.
pub async fn bodies(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("ReceiveMessage");
        if got.messages().is_empty() {
            return out;
        }
        out.extend(
            got.messages()
                .iter()
                .filter_map(|m| m.body().map(str::to_owned)),
        );
    }
}

fn pair_of(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    match (v["account"].as_str(), v["region"].as_str()) {
        (Some(account), Some(region)) => format!("{account}/{region}"),
        _ => String::new(),
    }
}

/// Two deliveries of one account and region whose [received, answered] intervals overlap:
/// that pair was swept by two invocations at once.
pub fn overlapping_per_pair(deliveries: &[Delivery]) -> Vec<(Delivery, Delivery)> {
    let mut found = Vec::new();
    for (i, a) in deliveries.iter().enumerate() {
        for b in &deliveries[i + 1..] {
            if a.pair == b.pair && a.received < b.answered && b.received < a.answered {
                found.push((a.clone(), b.clone()));
            }
        }
    }
    found
}
