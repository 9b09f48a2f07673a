//! SARIF 2.1.0 validation for the tests of every command that writes it (audit, check, lint).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::{fixture, root};

/// The venv's Python, made by scripts/bootstrap.sh as the moto tests do when it is missing.
pub fn python() -> PathBuf {
    let bin = root().join(".venv/bin/python");
    if !bin.exists() {
        let status = Command::new(root().join("scripts/bootstrap.sh"))
            .arg("python")
            .status()
            .unwrap();
        assert!(status.success(), "scripts/bootstrap.sh python: {status}");
    }
    bin
}

/// Validates `log` against the vendored SARIF 2.1.0 schema (tests/fixtures/PROVENANCE.md) with
/// the validator the schema's `$schema` names (draft-04), every error listed on failure.
pub fn assert_valid_sarif(log: &Value) {
    let schema = fixture("sarif/sarif-schema-2.1.0.json");
    let script = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
v = cls(schema, format_checker=cls.FORMAT_CHECKER)
errors = sorted(v.iter_errors(json.load(sys.stdin)), key=lambda e: list(e.path))
for e in errors:
    print("/".join(map(str, e.path)) + ": " + e.message)
sys.exit(1 if errors else 0)
"#;
    let mut child = Command::new(python())
        .args(["-c", script])
        .arg(&schema)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(log.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "not valid SARIF 2.1.0:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
