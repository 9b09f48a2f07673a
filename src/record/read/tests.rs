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

/// Records held to 200 bytes of JSON.
const CAPPED_AT_200: ReadOptions = ReadOptions {
    max_record_bytes: 200,
    drop_refused: false,
};

/// The paths of the records `read_records` yields (errors as their message), and its result.
fn read_with(input: &str, opts: ReadOptions) -> (Vec<String>, Result<usize, InputError>) {
    let mut seen = Vec::new();
    let result = read_records(input.as_bytes(), "in", opts, &mut |item| {
        seen.push(match item {
            Ok(found) => found.path,
            Err(e) => format!("error: {e}"),
        });
        Ok(())
    });
    (seen, result)
}

#[test]
fn a_record_over_the_cap_is_reported_by_path_and_reading_goes_on() {
    let big = format!(
        r#"{{"eventName":"Invoke","a":[{}"x"]}}"#,
        r#""xxxxxxxxxx","#.repeat(40)
    );
    let input = format!(r#"{{"Records":[{{"eventName":"a"}},{big},{{"eventName":"b"}}]}}"#);
    let (seen, result) = read_with(&input, CAPPED_AT_200);
    assert_eq!(
        seen,
        [
            "Records[0]",
            "error: in: at Records[1]: the record is more than 200 bytes, not read",
            "Records[2]"
        ]
    );
    assert_eq!(result.expect("read"), 2);
}

#[test]
fn a_single_value_past_twice_the_cap_ends_the_input_naming_its_record() {
    let input = format!(
        r#"{{"Records":[{{"eventName":"a"}},{{"x":"{}"}},{{"eventName":"b"}}]}}"#,
        "y".repeat(1000)
    );
    assert_stops_at(&input, "Records[1]");
}

#[test]
fn a_huge_value_beside_the_records_ends_the_input_too() {
    let input = format!(
        r#"{{"Records":[{{"eventName":"a"}}],"x":"{}"}}"#,
        "y".repeat(1000)
    );
    assert_stops_at(&input, "x");
}

/// Reading yields the first record, then stops at `path`, a value past twice the cap.
fn assert_stops_at(input: &str, path: &str) {
    let (seen, result) = read_with(input, CAPPED_AT_200);
    assert_eq!(seen, ["Records[0]"]);
    assert_eq!(
        result.expect_err("stopped").to_string(),
        format!(
            "in: at {path}: the record holds a value of more than 200 bytes; the rest of the input is not read"
        )
    );
}

#[test]
fn refused_records_are_dropped_when_asked() {
    let input = r#"{"Records":[{"eventName":"Invoke","errorCode":"AccessDenied"},{"eventName":"Invoke","errorCode":"ResourceNotFoundException"},{"eventName":"Invoke"}]}"#;
    let opts = ReadOptions {
        drop_refused: true,
        ..ReadOptions::default()
    };
    assert_eq!(read_with(input, opts).0, ["Records[1]", "Records[2]"]);
    assert_eq!(
        read_with(input, ReadOptions::default()).0,
        ["Records[0]", "Records[1]", "Records[2]"]
    );
}

#[test]
fn records_are_built_exactly_as_serde_json_builds_values() {
    let record = r#"{"eventName":"Invoke","n":[1,-2,3.5,1e300,18446744073709551615,-9223372036854775808],"s":"\u00e9\ud83d\ude00\n","o":{"a":null,"b":true,"a":false},"e":[],"f":{}}"#;
    let found =
        parse_input(format!(r#"{{"Records":[{record}]}}"#).as_bytes(), "in").expect("parses");
    let expected: Value = serde_json::from_str(record).expect("valid");
    assert_eq!(found[0].record, expected);
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = "[".repeat(100_000);
    assert!(parse_input(deep.as_bytes(), "in").is_err());
}
