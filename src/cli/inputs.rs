//! What `remediate` hands to the guard, read from its input files as the Lambda would be handed
//! them.

use std::io::Write;
use std::path::PathBuf;

use serde_json::Value;

use super::error::CliError;
use super::read::read_limited;
use crate::record::event::{EventKind, classify};
use crate::record::{FoundRecord, parse_input, records_in_value};

/// One thing `remediate` hands to the guard.
#[derive(Debug)]
pub enum Input {
    /// An event that is not a CloudTrail record (the schedule's, an S3 object's), at `path`.
    Event {
        path: String,
        event: Value,
    },
    Record(FoundRecord),
}

/// What each input file (or stdin, when none is given) holds, as the Lambda would be handed
/// it: scheduled and S3 events whole, everything else as its CloudTrail records. An unreadable
/// or malformed input is reported on `err` and sets `bad`; the others are still read.
pub fn inputs_of(events: &[PathBuf], err: &mut dyn Write, bad: &mut bool) -> Vec<(String, Input)> {
    let mut out = Vec::new();
    for (origin, bytes) in read_all(events, err, bad) {
        match split(&origin, &bytes) {
            Ok(inputs) => out.extend(inputs.into_iter().map(|i| (origin.clone(), i))),
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                *bad = true;
            }
        }
    }
    out
}

/// The inputs named on the command line, or stdin when there are none.
fn read_all(events: &[PathBuf], err: &mut dyn Write, bad: &mut bool) -> Vec<(String, Vec<u8>)> {
    let stdin = [PathBuf::from("-")];
    let paths = if events.is_empty() {
        &stdin[..]
    } else {
        events
    };
    let mut out = Vec::new();
    for p in paths {
        match read_limited(p) {
            Ok(input) => out.push(input),
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                *bad = true;
            }
        }
    }
    out
}

fn is_whole_event(v: &Value) -> bool {
    classify(v) != EventKind::Records
}

fn split(origin: &str, bytes: &[u8]) -> Result<Vec<Input>, CliError> {
    let whole: Option<Value> = serde_json::from_slice(bytes).ok();
    let has_whole = match &whole {
        Some(Value::Array(items)) => items.iter().any(is_whole_event),
        Some(v) => is_whole_event(v),
        None => false,
    };
    let Some(value) = whole.filter(|_| has_whole) else {
        // Records only (gzip and NDJSON included): the reader every command shares.
        let found = parse_input(bytes, origin)?;
        return Ok(found.into_iter().map(Input::Record).collect());
    };
    let items = match value {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (format!("[{i}]"), v))
            .collect(),
        one => vec![(String::new(), one)],
    };
    let mut out = Vec::new();
    for (at, item) in items {
        if is_whole_event(&item) {
            out.push(Input::Event {
                path: at,
                event: item,
            });
            continue;
        }
        for mut rec in records_in_value(item, origin)? {
            rec.path = match rec.path.as_str() {
                "" => at.clone(),
                p if p.starts_with('[') => format!("{at}{p}"),
                p => format!("{at}.{p}"),
            };
            out.push(Input::Record(rec));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduled_and_s3_events_stay_whole_and_records_are_unwrapped() {
        let text = serde_json::json!([
            {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}},
            {"source": "aws.lambda", "detail-type": "AWS API Call via CloudTrail",
             "detail": {"eventSource": "lambda.amazonaws.com", "eventName": "AddPermission20150331v2"}},
            {"source": "aws.s3", "detail-type": "Object Created",
             "detail": {"bucket": {"name": "trail"}, "object": {"key": "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/25/f.json.gz"}}}
        ])
        .to_string();
        let got: Vec<String> = split("in.json", text.as_bytes())
            .expect("reads")
            .iter()
            .map(|i| match i {
                Input::Event { path, .. } => format!("event {path}"),
                Input::Record(r) => format!("record {}", r.path),
            })
            .collect();
        assert_eq!(got, ["event [0]", "record [1].detail", "event [2]"]);
        let records = serde_json::json!({"Records": [{"eventSource": "lambda.amazonaws.com", "eventName": "Invoke"}]})
            .to_string();
        let got = split("r.json", records.as_bytes()).expect("reads");
        assert!(matches!(&got[..], [Input::Record(r)] if r.path == "Records[0]"));
    }
}
