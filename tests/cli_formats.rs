//! `check` and `audit` with `--format`: CSV rows a spreadsheet reads, and SARIF 2.1.0 that the
//! OASIS JSON Schema accepts (validated offline with the venv's `jsonschema`) and that points at
//! the function's entry in the policies file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

mod common;
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::sarif::assert_valid_sarif;
use common::{fixture, root};
use serde_json::{Value, json};
use support::moto::{self, ACCOUNT, Moto};

fn temp(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_invokeguard"))
        .arg("check")
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The 1-based line of `needle` in the file.
fn line_of(path: &Path, needle: &str) -> u64 {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap() as u64 + 1
}

const CHECK_POLICIES: &str = "{\n  \"version\": 1,\n  \"functions\": {\n    \"other\": {\"allow\": []},\n    \"function239\": {\n      \"allow\": []\n    }\n  }\n}\n";

/// Records of which three are violations under `CHECK_POLICIES`.
const CHECK_FIXTURE: &str = "made/records_sfn_role_and_sync_apigw.json";

/// `check --format FORMAT` of the fixture's records against `CHECK_POLICIES`, and that file.
fn check_fixture(format: &str) -> (Output, tempfile::NamedTempFile) {
    let policies = temp(CHECK_POLICIES);
    let fx = fixture(CHECK_FIXTURE);
    let o = check(&[
        "--format",
        format,
        "--policies",
        &policies.path().to_string_lossy(),
        &fx.to_string_lossy(),
    ]);
    (o, policies)
}

#[test]
fn check_sarif_validates_and_points_at_the_functions_entry() {
    let (o, policies) = check_fixture("sarif");
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let log: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_valid_sarif(&log);
    let run = &log["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "invokeguard");
    assert_eq!(run["tool"]["driver"]["version"], env!("CARGO_PKG_VERSION"));
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    let line = line_of(policies.path(), "\"function239\"");
    for r in results {
        assert!(rules.iter().any(|rule| rule["id"] == r["ruleId"]));
        assert_eq!(r["level"], "error");
        let loc = &r["locations"][0];
        assert_eq!(loc["physicalLocation"]["region"]["startLine"], line);
        assert_eq!(loc["logicalLocations"][0]["name"], "function239");
        let fp = r["partialFingerprints"]["invokeguardFinding/v1"]
            .as_str()
            .unwrap();
        assert!(fp.starts_with("function239|"), "{fp}");
    }
    // Same input, same fingerprints: code scanning keeps one alert across runs.
    let again: Value = serde_json::from_slice(
        &check(&[
            "--format",
            "sarif",
            "--policies",
            &policies.path().to_string_lossy(),
            &fixture(CHECK_FIXTURE).to_string_lossy(),
        ])
        .stdout,
    )
    .unwrap();
    assert_eq!(again["runs"][0]["results"], run["results"]);
}

#[test]
fn check_sarif_names_the_policies_file_relatively_inside_the_working_directory() {
    let fx = fixture(CHECK_FIXTURE);
    let uri_for = |policies: &Path| -> String {
        let o = check(&[
            "--format",
            "sarif",
            "--policies",
            &policies.to_string_lossy(),
            &fx.to_string_lossy(),
        ]);
        let log: Value = serde_json::from_slice(&o.stdout).unwrap();
        log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // check runs in the checkout: a file below it is named relative to it, as code scanning
    // resolves URIs against the checkout, given absolute or not.
    let mut inside = tempfile::NamedTempFile::new_in(root().join("target")).unwrap();
    inside.write_all(CHECK_POLICIES.as_bytes()).unwrap();
    let name = inside
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(uri_for(inside.path()), format!("target/{name}"));
    assert_eq!(
        uri_for(&PathBuf::from("target").join(&name)),
        format!("target/{name}")
    );
    let outside = temp(CHECK_POLICIES);
    assert!(uri_for(outside.path()).starts_with("file:///"));
}

#[test]
fn check_csv_has_a_header_and_one_row_per_function_and_caller() {
    let (o, _policies) = check_fixture("csv");
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8(o.stdout).unwrap();
    let rows: Vec<&str> = text.split_terminator("\r\n").collect();
    assert_eq!(rows[0], "function,caller,kind,count,first_seen,last_seen");
    assert!(rows.len() > 1, "{text}");
    assert!(rows[1..].iter().all(|r| r.starts_with("function239,")));
    let counted: u64 = rows[1..]
        .iter()
        .map(|r| r.split(',').nth(3).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(counted, 3, "the three violating records of the fixture");
}

#[test]
fn json_is_an_alias_of_format_json_and_not_given_with_format() {
    let policies = temp(CHECK_POLICIES);
    let p = policies.path().to_string_lossy().into_owned();
    let fx = fixture(CHECK_FIXTURE);
    let fx = fx.to_string_lossy();
    let alias = check(&["--json", "--policies", &p, &fx]);
    let long = check(&["--format", "json", "--policies", &p, &fx]);
    assert_eq!(alias.stdout, long.stdout);
    assert_eq!(String::from_utf8_lossy(&long.stdout).lines().count(), 3);
    let both = check(&["--json", "--format", "csv", "--policies", &p, &fx]);
    assert_eq!(both.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&both.stderr).contains("cannot be used with"),
        "{}",
        String::from_utf8_lossy(&both.stderr)
    );
}

async fn audit(policies: &Path, endpoint: &str, format: &str) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_invokeguard"))
        .args([
            "audit",
            "--format",
            format,
            "--account",
            ACCOUNT,
            "--region",
            "us-east-1",
            "--policies",
        ])
        .arg(policies)
        .env_clear()
        .envs(moto::env_for_child(endpoint))
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn audit_sarif_validates_with_an_error_per_grant_to_remove_and_a_note_per_grant_to_add() {
    let moto = Moto::shared();
    moto::function_with_grants(
        &moto.endpoint,
        "formats-drifted",
        &[("public", "*"), ("old-partner", "333344445555")],
    )
    .await;
    let policies = temp(
        &serde_json::to_string_pretty(&json!({"version": 1, "functions": {
            "formats-drifted": {"allow": [{"account": "222233334444"}]}
        }}))
        .unwrap(),
    );
    let o = audit(policies.path(), &moto.endpoint, "sarif").await;
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let log: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_valid_sarif(&log);
    let run = &log["runs"][0];
    let results = run["results"].as_array().unwrap();
    let levels: Vec<(&str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["level"].as_str().unwrap(),
                r["properties"]["sid"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(levels.contains(&("error", "public")), "{levels:?}");
    assert!(levels.contains(&("error", "old-partner")), "{levels:?}");
    assert!(levels.iter().any(|(l, _)| *l == "note"), "{levels:?}");
    let line = line_of(policies.path(), "\"formats-drifted\"");
    for r in results {
        assert_eq!(
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
            line
        );
        assert_eq!(
            r["locations"][0]["logicalLocations"][0]["name"],
            "formats-drifted"
        );
        let rule = &run["tool"]["driver"]["rules"][r["ruleIndex"].as_u64().unwrap() as usize];
        assert_eq!(rule["id"], r["ruleId"]);
        assert!(rule["help"]["text"].as_str().unwrap().len() > 20);
    }
    let public = results
        .iter()
        .find(|r| r["properties"]["sid"] == "public")
        .unwrap();
    assert_eq!(
        public["partialFingerprints"]["invokeguardFinding/v1"],
        "formats-drifted||*|public"
    );

    let o = audit(policies.path(), &moto.endpoint, "csv").await;
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8(o.stdout).unwrap();
    let rows: Vec<&str> = text.split_terminator("\r\n").collect();
    assert_eq!(rows[0], "function,qualifier,action,sid,principal,write,why");
    assert!(
        rows.iter()
            .any(|r| r.starts_with("formats-drifted,,remove,public,*,")),
        "{text}"
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with("formats-drifted,,remove,old-partner,333344445555,")),
        "{text}"
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with("formats-drifted,,add,") && r.contains(",222233334444,")),
        "{text}"
    );
}
