//! `invokeguard check` over a directory tree of trail files: nested `YYYY/MM/DD` directories,
//! digest and other files skipped, `--since`/`--until`, a bad file reported while the others are
//! judged, and verdict lines identical to those of a check of each file alone.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{fixture, root};
use serde_json::{Value, json};

const TRAIL: &str = "AWSLogs/111111111111/CloudTrail/us-west-1";

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_invokeguard"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run invokeguard")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn put(dir: &Path, rel: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, bytes).unwrap();
    p
}

fn event_ids(out: &str) -> Vec<String> {
    out.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("a JSON verdict line");
            v["eventId"].as_str().unwrap_or("-").to_owned()
        })
        .collect()
}

/// A trail tree: one fixture file per day (gzip), with a digest file and a README beside them.
struct Tree {
    dir: tempfile::TempDir,
    /// The trail files in path order, with their day.
    files: Vec<(u32, PathBuf)>,
    policies: tempfile::NamedTempFile,
}

fn tree() -> Tree {
    let dir = tempfile::tempdir().unwrap();
    let days = [
        (20, "made/records_sfn_role_and_sync_apigw.json"),
        (21, "made/records_url_denied_awsaccount_elsewhere.json"),
        (
            21,
            "invoke_iamuser_cli_eventversion106_fractional_time_sumologic.json",
        ),
        (
            22,
            "records_getfunction_accessdenied_deletefunction_awsdocs_lambda.json",
        ),
        (23, "made/eventbridge_invoke_s3_async_alias_arn.json"),
    ];
    let mut files = Vec::new();
    for (i, (day, name)) in days.iter().enumerate() {
        let raw = std::fs::read(fixture(name)).unwrap();
        let rel = format!(
            "{TRAIL}/2026/11/{day}/111111111111_CloudTrail_us-west-1_202611{day}T00{i}5Z_f{i}.json.gz"
        );
        files.push((*day, put(dir.path(), &rel, &gzip(&raw))));
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    // Would be an error if read: a digest is not a trail file.
    put(
        dir.path(),
        "AWSLogs/111111111111/CloudTrail-Digest/us-west-1/2026/11/21/111111111111_CloudTrail-Digest_us-west-1_x_20261121T0000Z.json.gz",
        &gzip(br#"{"awsAccountId":"111111111111","logFiles":[]}"#),
    );
    put(dir.path(), "AWSLogs/README.txt", b"not a trail file");
    let mut policies = tempfile::NamedTempFile::new().unwrap();
    policies
        .write_all(
            json!({"version": 1, "functions": {
                "function239": {"allow": [{"account": "222233334444"}]},
                "my-function": {"allow": [{"functionUrl": "public"}]}
            }})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
    Tree {
        dir,
        files,
        policies,
    }
}

impl Tree {
    fn policies(&self) -> String {
        self.policies.path().to_string_lossy().into_owned()
    }

    fn root(&self) -> String {
        self.dir.path().to_string_lossy().into_owned()
    }

    /// What `check FILE` prints for each file alone, concatenated in path order.
    fn single_file_lines(&self, days: std::ops::RangeInclusive<u32>) -> String {
        let mut all = String::new();
        for (day, f) in &self.files {
            if days.contains(day) {
                let o = run(&[
                    "check",
                    "--policies",
                    &self.policies(),
                    &f.to_string_lossy(),
                ]);
                assert!(o.status.code().unwrap() < 2, "{}", stderr(&o));
                all.push_str(&stdout(&o));
            }
        }
        all
    }
}

#[test]
fn a_directory_tree_is_judged_file_by_file_in_path_order() {
    let t = tree();
    let o = run(&["check", "--policies", &t.policies(), &t.root()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let expected = t.single_file_lines(0..=99);
    assert!(!expected.is_empty());
    assert_eq!(
        stdout(&o),
        expected,
        "the same lines as a check of each file alone"
    );
    let err = stderr(&o);
    assert!(err.contains("skipped 1 digest files"), "{err}");
    assert!(
        err.contains("1 files that are not trail files") && err.contains("README.txt"),
        "{err}"
    );
    assert!(!err.contains("error"), "{err}");
    // A directory of the tree works the same; --json changes nothing when piped.
    let day21 = format!("{}/{TRAIL}/2026/11/21", t.root());
    let o = run(&["check", "--json", "--policies", &t.policies(), &day21]);
    assert_eq!(stdout(&o), t.single_file_lines(21..=21));
}

#[test]
fn since_and_until_keep_the_days_of_the_path() {
    let t = tree();
    let policies = t.policies();
    let root = t.root();
    let o = run(&[
        "check",
        "--policies",
        &policies,
        "--since",
        "2026-11-21",
        "--until",
        "2026-11-22",
        &root,
    ]);
    assert!(o.status.code().unwrap() < 2, "{}", stderr(&o));
    assert_eq!(stdout(&o), t.single_file_lines(21..=22));
    assert!(
        stderr(&o).contains("2 trail files outside --since/--until"),
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "check",
        "--policies",
        &policies,
        "--since",
        "2026-11-23",
        &root,
    ]);
    assert_eq!(stdout(&o), t.single_file_lines(23..=23));
    let o = run(&[
        "check",
        "--policies",
        &policies,
        "--until",
        "2026-11-20",
        &root,
    ]);
    assert_eq!(stdout(&o), t.single_file_lines(20..=20));
    assert_eq!(
        event_ids(&stdout(&o)),
        [
            "made-sfn-assumedrole",
            "made-apigw-sync",
            "made-foreign-account"
        ]
    );
    // Nothing in range: nothing judged, nothing wrong.
    let o = run(&[
        "check",
        "--policies",
        &policies,
        "--since",
        "2027-01-01",
        &root,
    ]);
    assert_eq!((o.status.code(), stdout(&o)), (Some(0), String::new()));
    let o = run(&[
        "check",
        "--policies",
        &policies,
        "--since",
        "2026-11-32",
        &root,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("YYYY-MM-DD"), "{}", stderr(&o));
}

#[test]
fn a_bad_file_is_reported_with_its_path_and_the_others_are_judged() {
    let t = tree();
    let bad = put(
        t.dir.path(),
        &format!("{TRAIL}/2026/11/21/111111111111_CloudTrail_us-west-1_20261121T0105Z_bad.json.gz"),
        b"\x1f\x8b\x08garbage",
    );
    let truncated = {
        let mut gz =
            gzip(&std::fs::read(fixture("made/records_sfn_role_and_sync_apigw.json")).unwrap());
        gz.truncate(gz.len() / 2);
        put(
            t.dir.path(),
            &format!(
                "{TRAIL}/2026/11/22/111111111111_CloudTrail_us-west-1_20261122T0105Z_cut.json.gz"
            ),
            &gz,
        )
    };
    let o = run(&["check", "--policies", &t.policies(), &t.root()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("error: {}: is not valid gzip", bad.display())),
        "{err}"
    );
    assert!(err.contains(&truncated.display().to_string()), "{err}");
    // Every good file's verdicts are still there.
    let ids = event_ids(&stdout(&o));
    for id in event_ids(&t.single_file_lines(0..=99)) {
        assert!(ids.contains(&id), "{id} missing: {ids:?}");
    }
}

#[test]
fn many_files_keep_their_order_and_every_record() {
    // Enough files for every worker to have several, each a different size.
    let dir = tempfile::tempdir().unwrap();
    let base: Value = serde_json::from_slice(
        &std::fs::read(fixture("made/records_sfn_role_and_sync_apigw.json")).unwrap(),
    )
    .unwrap();
    let records = base["Records"].as_array().unwrap().clone();
    let mut want = Vec::new();
    for f in 0..40 {
        let mut recs = Vec::new();
        for i in 0..(f * 7 % 23 + 1) {
            let mut r = records[i % records.len()].clone();
            let id = format!("f{f:02}-r{i:03}");
            r["eventID"] = json!(id);
            want.push(id);
            recs.push(r);
        }
        put(
            dir.path(),
            &format!("{TRAIL}/2026/11/{:02}/f{f:02}.json.gz", 1 + f / 10),
            &gzip(json!({"Records": recs}).to_string().as_bytes()),
        );
    }
    let o = run(&[
        "check",
        "--policies",
        "policies/invokers.json",
        &dir.path().to_string_lossy(),
    ]);
    assert!(o.status.code().unwrap() < 2, "{}", stderr(&o));
    assert_eq!(event_ids(&stdout(&o)), want);
}
