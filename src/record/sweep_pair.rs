//! The sweep queue's messages: one account and region to sweep. The planner writes them, the
//! guard reads them back from an SQS event; both sides are here so they cannot disagree.

use serde_json::{Value, json};

/// What a sweep-pair message says in its `invokeguard` field.
pub const SWEEP_PAIR: &str = "sweep-pair";

/// Entries per SendMessageBatch: SQS's limit.
pub const SEND_BATCH: usize = 10;

/// One account and region of the policies file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SweepPair {
    pub account: String,
    pub region: String,
}

impl SweepPair {
    /// `ACCOUNT/REGION`: the message group (one consumer at a time per pair) and the `pair` of
    /// the `sweep` line.
    pub fn name(&self) -> String {
        format!("{}/{}", self.account, self.region)
    }

    /// The message body.
    pub fn body(&self) -> String {
        json!({"invokeguard": SWEEP_PAIR, "account": self.account, "region": self.region})
            .to_string()
    }

    /// The deduplication id: a scheduled event redelivered (or its planner retried) sends the
    /// same ids, and the FIFO queue drops them within its five-minute window.
    pub fn dedup_id(&self, event_id: &str) -> String {
        format!("{}/{event_id}", self.name())
    }

    /// Reads a message body; anything but a sweep-pair message with a 12-digit account and a
    /// region name is an error saying what is wrong.
    pub fn from_body(body: &str) -> Result<SweepPair, String> {
        let value: Value =
            serde_json::from_str(body).map_err(|e| format!("body is not JSON: {e}"))?;
        let kind = value.get("invokeguard").and_then(Value::as_str);
        if kind != Some(SWEEP_PAIR) {
            return Err(format!(
                "body is not a sweep-pair message (its \"invokeguard\" is {})",
                value
                    .get("invokeguard")
                    .map_or("absent".into(), |v| v.to_string())
            ));
        }
        let field = |name: &str| value.get(name).and_then(Value::as_str);
        let account = field("account")
            .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
            .ok_or("body's \"account\" is not a 12-digit account id")?;
        let region = field("region")
            .filter(|r| is_region(r))
            .ok_or("body's \"region\" is not a region name")?;
        Ok(SweepPair {
            account: account.to_owned(),
            region: region.to_owned(),
        })
    }
}

fn is_region(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 32
        && r.contains('-')
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// One record of an SQS event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    /// The `itemIdentifier` of a batch item failure.
    pub message_id: String,
    pub body: String,
}

/// The messages of an SQS event (`Records[].eventSource: aws:sqs`); `None` for any other
/// event. A record without a messageId or body keeps an empty one: it fails on its own.
pub fn queue_messages(event: &Value) -> Option<Vec<QueueMessage>> {
    let records = event.get("Records")?.as_array()?;
    let messages: Vec<QueueMessage> = records
        .iter()
        .filter(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"))
        .map(|r| {
            let text = |name: &str| {
                r.get(name)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            QueueMessage {
                message_id: text("messageId"),
                body: text("body"),
            }
        })
        .collect();
    (!messages.is_empty()).then_some(messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_reads_back_as_the_pair_it_was_written_from() {
        let pair = SweepPair {
            account: "111122223333".into(),
            region: "eu-west-1".into(),
        };
        assert_eq!(SweepPair::from_body(&pair.body()), Ok(pair.clone()));
        assert_eq!(pair.name(), "111122223333/eu-west-1");
        assert_eq!(pair.dedup_id("ev-1"), "111122223333/eu-west-1/ev-1");
    }

    #[test]
    fn a_body_that_is_not_a_sweep_pair_says_why() {
        for (body, says) in [
            ("not json", "not JSON"),
            (
                r#"{"account":"111122223333","region":"eu-west-1"}"#,
                "absent",
            ),
            (
                r#"{"invokeguard":"sweep-pair","account":"1111","region":"eu-west-1"}"#,
                "12-digit",
            ),
            (
                r#"{"invokeguard":"sweep-pair","account":"111122223333","region":"EU"}"#,
                "region",
            ),
        ] {
            let e = SweepPair::from_body(body).err().unwrap_or_default();
            assert!(e.contains(says), "{body}: {e}");
        }
    }

    #[test]
    fn only_sqs_records_are_queue_messages() {
        let sqs = json!({"Records": [{"eventSource": "aws:sqs", "messageId": "m1", "body": "{}"}]});
        assert_eq!(
            queue_messages(&sqs),
            Some(vec![QueueMessage {
                message_id: "m1".into(),
                body: "{}".into()
            }])
        );
        let s3 = json!({"Records": [{"eventSource": "aws:s3"}]});
        assert_eq!(queue_messages(&s3), None);
        assert_eq!(queue_messages(&json!({"detail": {}})), None);
    }
}
