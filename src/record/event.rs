//! What arrived: the Lambda event's kind, told apart before anything is read from it.

use serde_json::Value;

/// The shapes of event the guard is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// EventBridge's scheduled event: sweep.
    Scheduled,
    /// S3 objects were created (through EventBridge or an S3 notification): trail log files.
    ObjectsCreated(Vec<CreatedObject>),
    /// Messages of the sweep queue (`Records[].eventSource: aws:sqs`): one account and region
    /// each.
    QueueMessages(Vec<super::sweep_pair::QueueMessage>),
    /// Anything else: CloudTrail records, one (EventBridge) or many (`{"Records":[...]}`).
    Records,
}

/// Tells the event's kind; never fails (a malformed record is found when it is read).
pub fn classify(event: &Value) -> EventKind {
    if is_scheduled(event) {
        EventKind::Scheduled
    } else if let Some(objects) = created_objects(event) {
        EventKind::ObjectsCreated(objects)
    } else if let Some(messages) = super::sweep_pair::queue_messages(event) {
        EventKind::QueueMessages(messages)
    } else {
        EventKind::Records
    }
}

/// True for EventBridge's scheduled event (`source: aws.events`, `detail-type: Scheduled Event`).
pub fn is_scheduled(event: &Value) -> bool {
    event.get("source").and_then(Value::as_str) == Some("aws.events")
        && event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
}

/// One object an event says was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedObject {
    pub bucket: String,
    pub key: String,
}

/// The objects of an S3 `Object Created` event through EventBridge (`source: aws.s3`), or of an
/// S3 event notification (`Records[].eventSource: aws:s3`); `None` for any other event.
pub fn created_objects(event: &Value) -> Option<Vec<CreatedObject>> {
    if event.get("source").and_then(Value::as_str) == Some("aws.s3") {
        let detail = event.get("detail")?;
        let bucket = detail.pointer("/bucket/name")?.as_str()?;
        let key = detail.pointer("/object/key")?.as_str()?;
        return Some(vec![CreatedObject {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        }]);
    }
    let records = event.get("Records")?.as_array()?;
    let s3: Vec<CreatedObject> = records
        .iter()
        .filter(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:s3"))
        .filter_map(|r| {
            let bucket = r.pointer("/s3/bucket/name")?.as_str()?;
            // Notification keys are URL-encoded (a space as `+`).
            let key = decode_key(r.pointer("/s3/object/key")?.as_str()?);
            Some(CreatedObject {
                bucket: bucket.to_owned(),
                key,
            })
        })
        .collect();
    (!s3.is_empty()).then_some(s3)
}

fn decode_key(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a file found in a trail's bucket or on disk is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A trail log file, `*.json.gz`.
    Trail,
    /// A digest file (`CloudTrail-Digest/`): hashes and signatures, no records.
    Digest,
    /// Anything else.
    Other,
}

/// The one rule for what a path or key holds, by its name alone.
pub fn file_kind(path: &str) -> FileKind {
    if path.split(['/', '\\']).any(|c| c == "CloudTrail-Digest") {
        FileKind::Digest
    } else if path.ends_with(".json.gz") {
        FileKind::Trail
    } else {
        FileKind::Other
    }
}

/// A CloudTrail log file where a trail writes it in S3: `AWSLogs/[ORG/]ACCOUNT/CloudTrail/REGION/…`
/// and a [`FileKind::Trail`]; digest files and anything else are not.
pub fn is_trail_log_file(key: &str) -> bool {
    key.starts_with("AWSLogs/") && key.contains("/CloudTrail/") && file_kind(key) == FileKind::Trail
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_shapes_of_an_s3_event_name_their_objects() {
        let eb = json!({"source": "aws.s3", "detail-type": "Object Created",
            "detail": {"bucket": {"name": "trail"}, "object": {"key": "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/25/f.json.gz"}}});
        assert_eq!(created_objects(&eb).map(|o| o.len()), Some(1));
        let n = json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "trail"}, "object": {"key": "AWSLogs/a+b%3Ac.json.gz"}}}]});
        assert_eq!(
            created_objects(&n).map(|o| o[0].key.clone()).as_deref(),
            Some("AWSLogs/a b:c.json.gz")
        );
        let trail = json!({"Records": [{"eventSource": "lambda.amazonaws.com"}]});
        assert_eq!(created_objects(&trail), None);
    }

    #[test]
    fn one_rule_names_trail_files_on_disk_and_in_s3() {
        assert_eq!(file_kind("logs/a.json.gz"), FileKind::Trail);
        assert_eq!(
            file_kind("x\\CloudTrail-Digest\\a.json.gz"),
            FileKind::Digest
        );
        assert_eq!(file_kind("notes.txt"), FileKind::Other);
        let scheduled = json!({"source": "aws.events", "detail-type": "Scheduled Event"});
        assert_eq!(classify(&scheduled), EventKind::Scheduled);
        assert_eq!(classify(&json!({"detail": {}})), EventKind::Records);
        let sqs = json!({"Records": [{"eventSource": "aws:sqs", "messageId": "m", "body": "b"}]});
        assert!(matches!(classify(&sqs), EventKind::QueueMessages(m) if m.len() == 1));
    }

    #[test]
    fn only_trail_log_files_are_read() {
        assert!(is_trail_log_file(
            "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/25/x.json.gz"
        ));
        assert!(is_trail_log_file(
            "AWSLogs/o-a1b2c3d4e5/111122223333/CloudTrail/us-east-1/2026/11/25/x.json.gz"
        ));
        assert!(!is_trail_log_file(
            "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/25/x.json.gz"
        ));
        assert!(!is_trail_log_file("athena-results/x.csv"));
    }
}
