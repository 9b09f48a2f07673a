//! What the record readers yield and refuse: the records found in an input, its errors and
//! caps, and the records inside an already-parsed value (an EventBridge event, a detail-only
//! record, a trail log file `{"Records":[...]}`, a bare array).

use serde_json::Value;

/// Decompressed input larger than this is refused (a trail log file is a few megabytes): a
/// bound on the work one input can cause, not on memory, which the reader keeps to one record.
pub const MAX_INPUT_BYTES: u64 = 256 * 1024 * 1024;

/// A record whose JSON text is longer than this is reported, not read (a CloudTrail record is a
/// few kilobytes: CloudTrail truncates large request and response elements).
pub const MAX_RECORD_BYTES: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(
        "{origin}: is empty, expected a CloudTrail record, an EventBridge event, {{\"Records\":[...]}} or an array"
    )]
    Empty { origin: String },
    #[error("{origin}: is not valid gzip: {source}")]
    Gzip {
        origin: String,
        source: std::io::Error,
    },
    #[error("{origin}: cannot read: {source}")]
    Read {
        origin: String,
        source: std::io::Error,
    },
    #[error("{origin}: is more than {MAX_INPUT_BYTES} bytes once decompressed")]
    TooLarge { origin: String },
    /// One record over the cap: it is skipped and reading goes on with the next one.
    #[error("{origin}: at {path}: the record is more than {limit} bytes, not read")]
    RecordTooLarge {
        origin: String,
        path: String,
        limit: u64,
    },
    /// A single value (a string) of a record over the cap: the reader cannot step over it
    /// without holding it, so the rest of the input is not read.
    #[error(
        "{origin}: at {path}: the record holds a value of more than {limit} bytes; the rest of the input is not read"
    )]
    RecordUnreadable {
        origin: String,
        path: String,
        limit: u64,
    },
    #[error("{origin}:{line}:{column}: not valid JSON: {message}")]
    Json {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{origin}: at {path}: {message}")]
    Shape {
        origin: String,
        path: String,
        message: String,
    },
}

/// One CloudTrail record found in the input, with where it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundRecord {
    /// JSON path of the record inside the input, e.g. `Records[3]` or `detail`.
    pub path: String,
    pub record: Value,
}

/// How [`super::read_records`] reads.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    /// A record longer than this (its JSON text) is handed to the visitor as
    /// [`InputError::RecordTooLarge`] instead of being built.
    pub max_record_bytes: u64,
    /// Records whose `errorCode` is an access denial ([`super::is_refusal`]) are dropped as they
    /// are read: nothing was done, and anyone can cause them.
    pub drop_refused: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            max_record_bytes: MAX_RECORD_BYTES,
            drop_refused: false,
        }
    }
}

/// The records inside an already-parsed JSON value (a Lambda event).
pub fn records_in_value(value: Value, origin: &str) -> Result<Vec<FoundRecord>, InputError> {
    let mut out = Vec::new();
    collect(value, String::new(), origin, &mut out)?;
    Ok(out)
}

/// The records of a value in any wrapping, with their paths below `path`.
pub(super) fn collect(
    value: Value,
    path: String,
    origin: &str,
    out: &mut Vec<FoundRecord>,
) -> Result<(), InputError> {
    let shape_error = |path: &str, message: String| InputError::Shape {
        origin: origin.to_owned(),
        path: if path.is_empty() {
            "(root)".to_owned()
        } else {
            path.to_owned()
        },
        message,
    };
    match value {
        Value::Array(items) => {
            for (i, item) in items.into_iter().enumerate() {
                // Records nest at most one level below an array or `Records`.
                if item.is_array() {
                    return Err(shape_error(
                        &format!("{path}[{i}]"),
                        "expected a record, found a nested array".to_owned(),
                    ));
                }
                collect(item, format!("{path}[{i}]"), origin, out)?;
            }
            Ok(())
        }
        Value::Object(mut map) => {
            if let Some(records) = map.remove("Records") {
                let Value::Array(items) = records else {
                    return Err(shape_error(
                        &join(&path, "Records"),
                        "expected an array of CloudTrail records".to_owned(),
                    ));
                };
                for (i, item) in items.into_iter().enumerate() {
                    if !item.is_object() {
                        return Err(shape_error(
                            &format!("{}[{i}]", join(&path, "Records")),
                            format!("expected a CloudTrail record object, found {}", kind(&item)),
                        ));
                    }
                    out.push(FoundRecord {
                        path: format!("{}[{i}]", join(&path, "Records")),
                        record: item,
                    });
                }
                return Ok(());
            }
            if map.contains_key("detail-type")
                || (map.contains_key("detail") && map.contains_key("source"))
            {
                return match map.remove("detail") {
                    Some(detail @ Value::Object(_)) => {
                        out.push(FoundRecord {
                            path: join(&path, "detail"),
                            record: detail,
                        });
                        Ok(())
                    }
                    Some(other) => Err(shape_error(
                        &join(&path, "detail"),
                        format!(
                            "expected the CloudTrail record object, found {}",
                            kind(&other)
                        ),
                    )),
                    None => Err(shape_error(
                        &path,
                        "an EventBridge event without \"detail\"".to_owned(),
                    )),
                };
            }
            if ["eventSource", "eventName", "eventVersion", "eventID"]
                .iter()
                .any(|k| map.contains_key(*k))
            {
                out.push(FoundRecord {
                    path,
                    record: Value::Object(map),
                });
                return Ok(());
            }
            Err(shape_error(&path, "expected a CloudTrail record (eventSource, eventName…), an EventBridge event (detail-type, detail) or {\"Records\":[...]}".to_owned()))
        }
        other => Err(shape_error(
            &path,
            format!("expected an object or an array, found {}", kind(&other)),
        )),
    }
}

pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

// Lives with the Invoke reader, which needs it too, so that it does not import this module.
pub(crate) use super::invocation::json_kind as kind;

pub(crate) fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}
