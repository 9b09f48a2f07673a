//! Hostile trail files: a few hundred kilobytes of gzip that decompress to 100+ MB of tiny
//! records are read in memory bounded by one record, not by the record count.
//!
//! Peak memory is the growth of this process's peak RSS (Linux `VmHWM`, reset through
//! `/proc/self/clear_refs`) across one call. A counting `#[global_allocator]` would be more
//! precise, but it needs `unsafe impl GlobalAlloc`, which the crate's `unsafe_code = "forbid"`
//! rules out in tests too. Every test here holds `SERIAL`, so no other test of this binary
//! allocates during a measurement.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

use std::io::Write;
use std::sync::Mutex;

use invokeguard::record::{FoundRecord, InputError, MAX_INPUT_BYTES, for_each_record, parse_input};

static SERIAL: Mutex<()> = Mutex::new(());

/// Peak memory a hostile input may cost: generous, and still far below what holding the
/// decompressed text (100+ MB), let alone a `Value` per record (30+ bytes each), would take.
const PEAK_LIMIT: u64 = 64 * 1024 * 1024;

/// Gzip of `head`, `element` `count` times separated by commas, and `tail`, written as a stream
/// so that the test itself never holds the decompressed text.
fn gzip_of_repeats(head: &str, element: &str, count: usize, tail: &str) -> (Vec<u8>, u64) {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut decompressed = 0u64;
    let mut write = |bytes: &[u8]| {
        enc.write_all(bytes).unwrap();
        decompressed += bytes.len() as u64;
    };
    write(head.as_bytes());
    let chunk_elements = 64 * 1024;
    let chunk = format!("{element},").repeat(chunk_elements);
    let mut written = 0;
    while written + chunk_elements < count {
        write(chunk.as_bytes());
        written += chunk_elements;
    }
    while written < count {
        write(element.as_bytes());
        written += 1;
        if written < count {
            write(b",");
        }
    }
    write(tail.as_bytes());
    (enc.finish().unwrap(), decompressed)
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap()
}

/// Runs `f` and returns its result and how far the process's peak RSS rose above the RSS it
/// started with.
fn peak_growth<T>(f: impl FnOnce() -> T) -> (T, u64) {
    // 5: reset the peak RSS ("high water mark") to the current RSS.
    std::fs::write("/proc/self/clear_refs", "5")
        .expect("resetting VmHWM through /proc/self/clear_refs");
    let before = status_kib("VmRSS:");
    let out = f();
    let peak = status_kib("VmHWM:");
    (out, peak.saturating_sub(before) * 1024)
}

/// Counts the records and checks their paths, keeping none of them.
fn count_records(bytes: &[u8], expect_path: impl Fn(usize) -> String) -> usize {
    let mut seen = 0usize;
    let visited = for_each_record(bytes, "hostile.json.gz", &mut |found: FoundRecord| {
        if seen.is_multiple_of(100_000) {
            assert_eq!(found.path, expect_path(seen));
        }
        seen += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(visited, seen);
    visited
}

#[test]
#[cfg(target_os = "linux")]
fn tiny_records_in_a_trail_file_take_bounded_memory() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let count = 34_000_000;
    let (gz, decompressed) = gzip_of_repeats(r#"{"Records":["#, "{}", count, "]}");
    assert!(decompressed > 100_000_000, "{decompressed}");
    assert!(gz.len() < 1024 * 1024, "{}", gz.len());
    let (visited, peak) = peak_growth(|| count_records(&gz, |i| format!("Records[{i}]")));
    assert_eq!(visited, count);
    assert!(
        peak < PEAK_LIMIT,
        "{decompressed} bytes of records ({} bytes of gzip) raised the peak RSS by {peak} bytes",
        gz.len()
    );
}

#[test]
#[cfg(target_os = "linux")]
fn tiny_records_in_a_bare_array_take_bounded_memory() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let count = 6_000_000;
    let (gz, decompressed) = gzip_of_repeats("[", r#"{"eventName":"x"}"#, count, "]");
    assert!(decompressed > 100_000_000, "{decompressed}");
    assert!(gz.len() < 1024 * 1024, "{}", gz.len());
    let (visited, peak) = peak_growth(|| count_records(&gz, |i| format!("[{i}]")));
    assert_eq!(visited, count);
    assert!(
        peak < PEAK_LIMIT,
        "{decompressed} bytes of records ({} bytes of gzip) raised the peak RSS by {peak} bytes",
        gz.len()
    );
}

#[test]
#[cfg(target_os = "linux")]
fn more_than_the_limit_decompressed_is_refused_without_holding_it() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // A JSON error right after the first record, then whitespace past the limit: the size
    // error wins (as when the whole input was decompressed first), found by decompressing the
    // rest as a stream. (Valid JSON up to the limit takes the same path, only slower to parse.)
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(br#"{"Records":[{} x"#).unwrap();
    let spaces = vec![b' '; 1024 * 1024];
    let mut decompressed = 0;
    while decompressed <= MAX_INPUT_BYTES {
        enc.write_all(&spaces).unwrap();
        decompressed += spaces.len() as u64;
    }
    enc.write_all(b"]}").unwrap();
    let gz = enc.finish().unwrap();
    let mut seen = 0;
    let (err, peak) = peak_growth(|| {
        for_each_record(&gz, "bomb.gz", &mut |_| {
            seen += 1;
            Ok(())
        })
        .unwrap_err()
    });
    assert_eq!(
        err.to_string(),
        format!("bomb.gz: is more than {MAX_INPUT_BYTES} bytes once decompressed")
    );
    assert_eq!(seen, 1, "the record before the error was visited");
    assert!(peak < PEAK_LIMIT, "peak RSS rose by {peak} bytes");
}

#[test]
fn an_error_from_the_visitor_stops_the_reading() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (gz, _) = gzip_of_repeats(r#"{"Records":["#, r#"{"eventName":"x"}"#, 1000, "]}");
    let mut seen = 0;
    let err = for_each_record(&gz, "t.gz", &mut |found| {
        seen += 1;
        if seen == 3 {
            return Err(InputError::Shape {
                origin: "visitor".to_owned(),
                path: found.path,
                message: "enough".to_owned(),
            });
        }
        Ok(())
    })
    .unwrap_err();
    assert_eq!(err.to_string(), "visitor: at Records[2]: enough");
    assert_eq!(seen, 3);
}

#[test]
fn streaming_and_collecting_agree() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let inputs: [&[u8]; 6] = [
        br#"{"eventName":"Invoke"}"#,
        br#"{"detail-type":"x","source":"aws.lambda","detail":{"eventName":"Invoke"}}"#,
        br#"{"other":[1,2],"Records":[{"eventName":"a"},{"eventName":"b","n":[{"x":null}]}]}"#,
        br#"[{"eventName":"a"},{"detail-type":"x","detail":{"eventName":"b"}},{"Records":[{"c":1}]}]"#,
        b"\n\n  [{\"eventName\":\"a\"}]  \n",
        b"[]",
    ];
    for input in inputs {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(input).unwrap();
        let gz = gz.finish().unwrap();
        for bytes in [input, &gz[..]] {
            let collected = parse_input(bytes, "in").unwrap();
            let mut streamed = Vec::new();
            let n = for_each_record(bytes, "in", &mut |found| {
                streamed.push(found);
                Ok(())
            })
            .unwrap();
            assert_eq!(n, collected.len());
            assert_eq!(streamed, collected);
        }
    }
    let paths: Vec<_> = parse_input(
        br#"[{"eventName":"a"},{"detail-type":"x","detail":{"eventName":"b"}},{"Records":[{"c":1}]}]"#,
        "in",
    )
    .unwrap()
    .into_iter()
    .map(|f| f.path)
    .collect();
    assert_eq!(paths, ["[0]", "[1].detail", "[2].Records[0]"]);
}

#[test]
fn errors_in_gzip_keep_their_place_and_wording() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let e = |text: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text).unwrap();
        let gz = gz.finish().unwrap();
        let plain = parse_input(text, "in").unwrap_err().to_string();
        let streamed = for_each_record(&gz, "in", &mut |_| Ok(()))
            .unwrap_err()
            .to_string();
        assert_eq!(plain, streamed);
        streamed
    };
    assert_eq!(
        e(b"{\n\"a\": tru"),
        "in:2:8: not valid JSON: EOF while parsing a value"
    );
    assert_eq!(
        e(b"\n\n   {\"Records\":[{}]} x"),
        "in:3:21: not valid JSON: trailing characters"
    );
    assert!(e(b" \n \x0c ").contains("is empty"));
    assert!(e(b"\n\x0c{}").starts_with("in:2:1: not valid JSON"));
    // A JSON error after a misplaced record wins, as when the whole input was parsed first.
    assert!(e(br#"{"Records":[1, {} x]}"#).contains("not valid JSON"));
    assert!(
        e(br#"{"Records":[{}, 1, {}]}"#)
            .contains("at Records[1]: expected a CloudTrail record object, found a number")
    );
    assert!(
        e(br#"[{"eventName":"a"}, [], {"eventName":"b"}]"#)
            .contains("at [1]: expected a record, found a nested array")
    );
    assert!(
        e(br#"{"Records":[{}],"Records":[{}]}"#)
            .contains("at Records: \"Records\" appears more than once")
    );
    assert!(e("[".repeat(100_000).as_bytes()).contains("recursion limit exceeded"));
    assert!(
        e(format!(r#"{{"Records":[{{"a":{}"#, "[".repeat(100_000)).as_bytes())
            .contains("recursion limit exceeded")
    );
}
