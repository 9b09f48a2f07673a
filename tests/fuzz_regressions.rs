#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

//! Replays every input under `tests/fixtures/fuzz/<target>/` through the exact code the
//! cargo-fuzz target of that name runs (`fuzz/src/harness.rs`, included below), on stable
//! Rust. A crash found by `scripts/fuzz.sh` becomes a regression test by copying its artifact
//! into the target's directory. The real fixtures under `tests/fixtures/` are replayed too.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

#[path = "../fuzz/src/harness.rs"]
mod harness;

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_none_or(|e| e != "md") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn fixtures(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(sub)
}

/// Runs `run` on every file, then fails once, naming every file that panicked.
fn replay(files: &[PathBuf], run: impl Fn(&[u8])) {
    assert!(!files.is_empty(), "no input to replay");
    let mut failures = Vec::new();
    for path in files {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| run(&data))) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failures.push(format!("{}: {message}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} inputs panicked:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

fn real_fixtures() -> Vec<PathBuf> {
    files_in(&fixtures(""))
        .into_iter()
        .filter(|p| !p.starts_with(fixtures("fuzz")) && p.extension().is_some_and(|e| e == "json"))
        .collect()
}

#[test]
fn record_parser_regressions() {
    let policies = harness::fixed_policies();
    replay(&files_in(&fixtures("fuzz/record_parser")), |data| {
        harness::record_parser(&policies, data);
    });
}

#[test]
fn policies_loader_regressions() {
    replay(
        &files_in(&fixtures("fuzz/policies_loader")),
        harness::policies_loader,
    );
}

#[test]
fn policy_planner_regressions() {
    replay(
        &files_in(&fixtures("fuzz/policy_planner")),
        harness::policy_planner,
    );
}

#[test]
fn real_fixtures_through_every_target() {
    let policies = harness::fixed_policies();
    let files = real_fixtures();
    replay(&files, |data| harness::record_parser(&policies, data));
    replay(&files, harness::policies_loader);
}

/// The planner seeds `scripts/fuzz.sh` builds: the shipped policies file against every real
/// resource policy. Also pins the input format (`split_input` undoes `join_input`).
#[test]
fn planner_properties_hold_on_real_resource_policies() {
    let files: Vec<PathBuf> = real_fixtures()
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("getpolicy_") || name.starts_with("policy_")
        })
        .collect();
    assert!(files.len() >= 5, "{files:?}");
    let mut planned = 0;
    for path in &files {
        let policy = std::fs::read_to_string(path).unwrap();
        let joined = harness::join_input(harness::POLICIES_JSON, &policy);
        assert_eq!(
            harness::split_input(&joined),
            Some((harness::POLICIES_JSON, policy.as_str()))
        );
        if invokeguard::resource_policy::ResourcePolicy::parse(&policy).is_ok() {
            planned += 1;
        }
        harness::policy_planner(&joined);
    }
    assert!(planned >= 5, "only {planned} real resource policies parsed");
}
