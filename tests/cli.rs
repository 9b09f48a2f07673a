//! The built `invokeguard` binary: exit codes, stdout JSON and stderr messages.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::{fixture, root};
use serde_json::Value;

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_invokeguard"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn invokeguard");
    child.stdin.take().expect("stdin").write_all(stdin).ok();
    child.wait_with_output().expect("wait")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn temp(text: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(text).expect("write");
    f
}

#[test]
fn validate_accepts_the_shipped_example_and_warns_about_confused_deputies() {
    let o = run(&["validate"], b"");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "policies/invokers.json: valid (3 guarded functions)\n"
    );
    let f = temp(
        br#"{"version": 1, "functions": {"f": {"allow": [{"service": "sns.amazonaws.com"}]}}}"#,
    );
    let path = f.path().to_string_lossy().into_owned();
    let o = run(&["validate", &path], b"");
    assert_eq!(code(&o), 0);
    assert!(
        stderr(&o).contains(&format!(
            "warning: {path}: at functions.f.allow[0]: sns.amazonaws.com without sourceArn"
        )),
        "{}",
        stderr(&o)
    );
}

#[test]
fn validate_rejects_bad_files_with_file_line_and_path() {
    let f =
        temp(b"{\"version\": 1,\n\"functions\": {\"Blog\": {\"allow\": [{\"account\": \"12\"}]}}}");
    let path = f.path().to_string_lossy().into_owned();
    let o = run(&["validate", &path], b"");
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains(&format!("{path}:2:")), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "at functions.Blog.allow[0].account: expected a 12-digit AWS account id, got \"12\""
        ),
        "{}",
        stderr(&o)
    );
    let o = run(&["validate", "tests"], b"");
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("is a directory"));
    let o = run(&["validate", "no/such/file.json"], b"");
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("no/such/file.json: cannot read"));
    let o = run(
        &[
            "validate",
            "policies/invokers.json",
            "--guard-function",
            "BlogFunction",
        ],
        b"",
    );
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("guard function itself"));
}

#[test]
fn validate_with_the_home_rejects_a_function_keyed_by_name_and_by_its_arn() {
    let f = temp(
        b"{\"version\": 1, \"functions\": {\"Blog\": {\"allow\": []},\n  \"arn:aws:lambda:eu-west-1:111122223333:function:Blog\": {\"allow\": []}}}",
    );
    let path = f.path().to_string_lossy().into_owned();
    let home = ["--account", "111122223333", "--region", "eu-west-1"];
    let o = run(&[&["validate", &path][..], &home].concat(), b"");
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "{path}:2:3: at functions.arn:aws:lambda:eu-west-1:111122223333:function:Blog: the function is keyed both by its name \"Blog\""
        )),
        "{}",
        stderr(&o)
    );
    // Another home: two different functions. No home: nothing to compare with.
    let o = run(
        &[
            "validate",
            &path,
            "--account",
            "999999999999",
            "--region",
            "eu-west-1",
        ],
        b"",
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(code(&run(&["validate", &path], b"")), 0);
    // Half a home is refused rather than guessed.
    let o = run(&["validate", &path, "--account", "111122223333"], b"");
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("both --account and --region"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn validate_knows_the_guard_by_its_arn_in_the_home() {
    let f = temp(
        b"{\"version\": 1, \"functions\": {\"arn:aws:lambda:eu-west-1:999999999999:function:invokeguard\": {\"allow\": []}}}",
    );
    let path = f.path().to_string_lossy().into_owned();
    let guard = ["--guard-function", "invokeguard", "--region", "eu-west-1"];
    let member = run(
        &[
            &["validate", &path, "--account", "111122223333"][..],
            &guard,
        ]
        .concat(),
        b"",
    );
    assert_eq!(
        code(&member),
        0,
        "a member's function of that name: {}",
        stderr(&member)
    );
    let own = run(
        &[
            &["validate", &path, "--account", "999999999999"][..],
            &guard,
        ]
        .concat(),
        b"",
    );
    assert_eq!(code(&own), 2);
    assert!(
        stderr(&own).contains("is the guard function itself"),
        "{}",
        stderr(&own)
    );
}

#[test]
fn check_prints_one_verdict_per_record_and_exits_1_on_violations() {
    let policies = temp(br#"{"version": 1, "functions": {"function239": {"allow": []}}}"#);
    let p = policies.path().to_string_lossy().into_owned();
    let fx = fixture("made/records_sfn_role_and_sync_apigw.json");
    let o = run(&["check", "--policies", &p, &fx.to_string_lossy()], b"");
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l["verdict"] == "violation"));
    // Records on stdin, and ignored ones only: exit 0.
    let ie = std::fs::read(fixture("made/invokeexecution_lambda_async.json")).expect("fixture");
    let o = run(&["check", "--policies", &p, "-"], &ie);
    assert_eq!(code(&o), 0);
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"reason\":\"not-invoke\""));
}

#[test]
fn check_reads_gzip_trail_files() {
    let policies = temp(br#"{"version": 1, "functions": {"function239": {"allow": [{"account": "222233334444"}]}}}"#);
    let raw = std::fs::read(fixture("made/records_sfn_role_and_sync_apigw.json")).expect("fixture");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&raw).expect("gzip");
    let gz = temp(&enc.finish().expect("gzip"));
    let o = run(
        &[
            "check",
            "--policies",
            &policies.path().to_string_lossy(),
            &gz.path().to_string_lossy(),
        ],
        b"",
    );
    assert_eq!(code(&o), 1);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 3);
}

#[test]
fn garbage_to_every_command_exits_2_without_a_panic() {
    let good = "policies/invokers.json";
    let inputs: [&[u8]; 6] = [
        b"",
        b"{\"Records\": [",
        b"\x00\x01\x02\xff\xfe",
        b"[1, 2]",
        b"{\"eventSource\": \"lambda.amazonaws.com\", \"eventName\": \"Invoke\", \"resources\": 5}",
        b"\x1f\x8b\x08garbage",
    ];
    for input in inputs {
        let f = temp(input);
        let path = f.path().to_string_lossy().into_owned();
        for args in [
            vec!["validate", path.as_str()],
            vec!["check", "--policies", good, path.as_str()],
            vec![
                "check",
                "--policies",
                path.as_str(),
                "tests/fixtures/made/invokeexecution_lambda_async.json",
            ],
            vec![
                "plan",
                "--policies",
                good,
                "--function",
                "BlogFunction",
                "--current",
                path.as_str(),
            ],
        ] {
            let o = run(&args, b"");
            assert_eq!(code(&o), 2, "{args:?} on {input:?}: {}", stderr(&o));
            let err = stderr(&o);
            assert!(err.contains("error"), "{args:?}: {err}");
            assert!(!err.contains("panicked"), "{args:?}: {err}");
        }
    }
    // A directory is read as a tree of trail files; one without any is an error.
    let o = run(&["check", "--policies", good, "src"], b"");
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("src: is a directory"), "{}", stderr(&o));
}

#[test]
fn plan_removes_the_public_grant_and_replanning_its_result_is_empty() {
    let policies = temp(br#"{"version": 1, "functions": {"c7n-cross-check": {"allow": [{"account": "111122223333"}]}}}"#);
    let p = policies.path().to_string_lossy().into_owned();
    let current = fixture("getpolicy_public_star_principal_reordered_custodian.json");
    let o = run(
        &[
            "plan",
            "--policies",
            &p,
            "--function",
            "c7n-cross-check",
            "--current",
            &current.to_string_lossy(),
        ],
        b"",
    );
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let plan: Value = serde_json::from_slice(&o.stdout).expect("plan JSON");
    assert_eq!(plan["remove"][0]["sid"], "oops");
    let sid = plan["add"][0]["sid"].as_str().expect("sid").to_owned();
    // The same grant as AddPermission would store it (moto stores the account bare): nothing to do.
    let after = temp(format!(
        r#"{{"Policy": "{{\"Statement\":[{{\"Sid\":\"{sid}\",\"Effect\":\"Allow\",\"Principal\":{{\"AWS\":\"arn:aws:iam::111122223333:root\"}},\"Action\":\"lambda:InvokeFunction\"}}]}}", "RevisionId": "r2"}}"#
    ).as_bytes());
    let o = run(
        &[
            "plan",
            "--policies",
            &p,
            "--function",
            "c7n-cross-check",
            "--current",
            &after.path().to_string_lossy(),
        ],
        b"",
    );
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stdout));
    let o = run(
        &[
            "plan",
            "--policies",
            &p,
            "--function",
            "other",
            "--current",
            &after.path().to_string_lossy(),
        ],
        b"",
    );
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("\"other\" is not in the policies file"));
    let o = run(
        &[
            "plan",
            "--policies",
            &p,
            "--function",
            "a:b:c",
            "--current",
            &after.path().to_string_lossy(),
        ],
        b"",
    );
    assert_eq!(code(&o), 2);
}

#[test]
fn the_checked_in_schema_is_the_generated_one() {
    let o = run(&["schema"], b"");
    assert_eq!(code(&o), 0);
    let generated: Value = serde_json::from_slice(&o.stdout).expect("schema JSON");
    let checked_in = common::read_json(&root().join("policies/invokers.schema.json"));
    assert!(
        generated == checked_in,
        "policies/invokers.schema.json is stale: run `cargo run -q -- schema > policies/invokers.schema.json`"
    );
    let one_of = &generated["$defs"]["AllowEntry"]["oneOf"];
    assert_eq!(one_of.as_array().map(Vec::len), Some(5));
}

#[test]
fn without_policies_a_command_reads_policies_invokers_json_of_the_working_directory() {
    // run() works in the repository root.
    let o = run(&["athena-sql"], b"");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("BlogFunction"));
}

#[test]
fn a_reader_that_stops_early_ends_check_quietly_with_0() {
    use std::io::BufRead;
    let policies = temp(br#"{"version": 1, "functions": {"function239": {"allow": []}}}"#);
    let mut doc = common::read_json(&fixture("made/records_sfn_role_and_sync_apigw.json"));
    let records = doc["Records"].as_array().expect("Records").clone();
    // Far more verdicts than a pipe buffers, so the writer meets the closed pipe.
    doc["Records"] = Value::Array(records.iter().cycle().take(30_000).cloned().collect());
    let many = temp(&serde_json::to_vec(&doc).expect("JSON"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_invokeguard"))
        .args([
            "check",
            "--json",
            "--policies",
            &policies.path().to_string_lossy(),
            &many.path().to_string_lossy(),
        ])
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn invokeguard");
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first line");
    assert!(first.contains("\"verdict\""), "{first}");
    // The reader is dropped here, as `| head -1` exits.
    let o = child.wait_with_output().expect("wait");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!stderr(&o).contains("error"), "{}", stderr(&o));
}

#[test]
fn validate_names_every_independent_mistake_on_its_own_line() {
    let f = temp(
        br#"{
  "version": 1,
  "functions": {
    "A": { "allow": [ { "account": "12" } ] },
    "B": { "allow": [], "mode": "sometimes" },
    "C": {
      "allow": [ { "principal": "*" } ]
    }
  }
}"#,
    );
    let path = f.path().to_string_lossy().into_owned();
    let o = run(&["validate", &path], b"");
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let lines: Vec<String> = stderr(&o).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 3, "{}", stderr(&o));
    let want = [
        (
            4,
            "at functions.A.allow[0].account: expected a 12-digit AWS account id",
        ),
        (5, "at functions.B.mode: unknown variant `sometimes`"),
        (
            7,
            "at functions.C.allow[0].principal: expected an IAM principal ARN",
        ),
    ];
    for (line, (n, text)) in lines.iter().zip(want) {
        assert!(
            line.starts_with(&format!("invokeguard: error: {path}:{n}:")),
            "{line}"
        );
        assert!(line.contains(text), "{line}");
    }
}

#[test]
fn without_credentials_an_online_command_says_in_one_line_what_to_set() {
    let home = tempfile::tempdir().expect("temp dir");
    // Without --account the home comes from STS; with it, the first calls are Lambda's.
    for args in [
        &["audit"][..],
        &[
            "audit",
            "--account",
            "111122223333",
            "--region",
            "eu-west-1",
        ],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_invokeguard"))
            .args(args)
            .current_dir(root())
            .env_clear()
            // No shared config files, no instance metadata: the SDK finds nothing, at once.
            .env("HOME", home.path())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_REGION", "eu-west-1")
            .stdin(Stdio::null())
            .output()
            .expect("run invokeguard");
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.lines().count() >= 1, "{args:?}: {err}");
        for line in err.lines() {
            assert!(line.contains("AWS_PROFILE"), "{args:?}: {err}");
            assert!(line.contains("aws sso login"), "{args:?}: {err}");
        }
        assert!(!err.contains("DispatchFailure"), "{args:?}: {err}");
        assert!(!err.contains("dispatch failure"), "{args:?}: {err}");
        if args.len() == 1 {
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }
}
