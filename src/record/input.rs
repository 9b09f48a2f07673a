//! Turning input bytes into CloudTrail records, whatever the wrapping: an EventBridge event,
//! a detail-only record, a trail log file `{"Records":[...]}`, a bare array, or gzip of any.

use std::io::Read;

use serde_json::Value;

/// Decompressed input larger than this is refused (a trail log file is a few megabytes).
pub const MAX_INPUT_BYTES: u64 = 256 * 1024 * 1024;

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
    #[error("{origin}: is more than {MAX_INPUT_BYTES} bytes once decompressed")]
    TooLarge { origin: String },
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

/// Parses input bytes (gzip is detected by its magic number, not by the file name).
pub fn parse_input(bytes: &[u8], origin: &str) -> Result<Vec<FoundRecord>, InputError> {
    let text = decompress(bytes, origin)?;
    if text.iter().all(u8::is_ascii_whitespace) {
        return Err(InputError::Empty {
            origin: origin.to_owned(),
        });
    }
    let value: Value = serde_json::from_slice(&text).map_err(|e| InputError::Json {
        origin: origin.to_owned(),
        line: e.line(),
        column: e.column(),
        message: strip_position(&e.to_string()),
    })?;
    records_in_value(value, origin)
}

/// The records inside an already-parsed JSON value (a Lambda event).
pub fn records_in_value(value: Value, origin: &str) -> Result<Vec<FoundRecord>, InputError> {
    let mut out = Vec::new();
    collect(value, String::new(), origin, &mut out)?;
    Ok(out)
}

fn decompress(bytes: &[u8], origin: &str) -> Result<Vec<u8>, InputError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|source| InputError::Gzip {
            origin: origin.to_owned(),
            source,
        })?;
    if out.len() as u64 > MAX_INPUT_BYTES {
        return Err(InputError::TooLarge {
            origin: origin.to_owned(),
        });
    }
    Ok(out)
}

fn collect(
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

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn paths(input: &str) -> Vec<String> {
        parse_input(input.as_bytes(), "in")
            .expect("parses")
            .into_iter()
            .map(|r| r.path)
            .collect()
    }

    #[test]
    fn every_wrapping_yields_its_records() {
        assert_eq!(paths(r#"{"eventName":"Invoke"}"#), vec![""]);
        assert_eq!(
            paths(
                r#"{"detail-type":"AWS API Call via CloudTrail","source":"aws.lambda","detail":{"eventName":"Invoke"},"debug":1}"#
            ),
            vec!["detail"]
        );
        assert_eq!(
            paths(r#"{"Records":[{"eventName":"a"},{"eventName":"b"}]}"#),
            vec!["Records[0]", "Records[1]"]
        );
        assert_eq!(
            paths(r#"[{"eventName":"a"},{"detail-type":"x","detail":{"eventName":"b"}}]"#),
            vec!["[0]", "[1].detail"]
        );
    }

    #[test]
    fn gzip_is_detected_by_magic_number() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(br#"{"Records":[{"eventName":"Invoke"}]}"#)
            .expect("write");
        let gz = enc.finish().expect("finish");
        assert_eq!(parse_input(&gz, "x.gz").expect("parses").len(), 1);
        let err = parse_input(&[0x1f, 0x8b, 0, 1, 2], "bad.gz").expect_err("bad gzip");
        assert!(err.to_string().starts_with("bad.gz: is not valid gzip"));
    }

    #[test]
    fn bad_input_says_what_and_where() {
        let e = |s: &str| {
            parse_input(s.as_bytes(), "in")
                .expect_err("rejected")
                .to_string()
        };
        assert!(e("").contains("is empty"));
        assert_eq!(
            e("{\n\"a\": tru"),
            "in:2:8: not valid JSON: EOF while parsing a value"
        );
        assert!(e("42").contains("at (root): expected an object or an array, found a number"));
        assert!(e(r#"{"Records": {}}"#).contains("at Records: expected an array"));
        assert!(
            e(r#"{"Records": [1]}"#).contains("at Records[0]: expected a CloudTrail record object")
        );
        assert!(e(r#"{"foo": 1}"#).contains("expected a CloudTrail record"));
        assert!(
            e(r#"{"detail-type":"x","detail":"y"}"#)
                .contains("at detail: expected the CloudTrail record object, found a string")
        );
        assert!(e("[[{}]]").contains("nested array"));
        assert!(e("\u{0}\u{1}binary").contains("not valid JSON"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = "[".repeat(100_000);
        assert!(parse_input(deep.as_bytes(), "in").is_err());
    }
}
