//! `invokeguard athena-sql`: exit codes and output of the real binary. The SQL itself is run
//! (translated to DuckDB) by scripts/athena-sql-test.py.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

use std::path::PathBuf;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_invokeguard"))
        .arg("athena-sql")
        .args(args)
        .output()
        .expect("runs")
}

fn fixture() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/athena/policies.json")
        .display()
        .to_string()
}

#[test]
fn prints_each_query_and_exits_0() {
    let policies = fixture();
    for (query, marker) in [
        ("outside-allowlist", "WHERE NOT refused AND NOT allowlisted"),
        ("by-caller", "AS access_denied"),
        ("policy-changes", "AddPermission|RemovePermission"),
    ] {
        let o = run(&[
            "--policies",
            &policies,
            "--query",
            query,
            "--account",
            "111122223333",
            "--region",
            "eu-west-1",
            "--database",
            "db",
            "--table",
            "t",
        ]);
        assert_eq!(o.status.code(), Some(0), "{query}");
        let sql = String::from_utf8(o.stdout).expect("utf8");
        assert!(sql.contains(marker), "{query}: {sql}");
        assert!(sql.contains("FROM \"db\".\"t\""), "{query}");
        assert!(sql.contains("arn:aws:lambda:eu-west-1:111122223333:function:Blog"));
    }
    // The default query and table.
    let o = run(&["--policies", &policies]);
    assert_eq!(o.status.code(), Some(0));
    let sql = String::from_utf8(o.stdout).expect("utf8");
    assert!(sql.contains("outside the allowlist"));
    assert!(sql.contains("FROM \"invokeguard\".\"cloudtrail_logs\""));
}

#[test]
fn bad_input_exits_2_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("invokers.json");
    std::fs::write(
        &bad,
        r#"{"version": 1, "functions": {"A": {"allow": [{"servce": "x"}]}}}"#,
    )
    .expect("write");
    let o = run(&["--policies", &bad.display().to_string()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("invokers.json:1:"));
    assert!(o.stdout.is_empty(), "no SQL from a bad file");

    let policies = fixture();
    let o = run(&["--policies", &policies, "--table", "t; DROP"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("table \"t; DROP\""));
    let o = run(&["--policies", &policies, "--account", "111122223333"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("give both --account and --region"));
}
