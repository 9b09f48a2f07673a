//! Table-driven cases: each file in tests/cases/ holds a policies file, records or a current
//! resource policy from tests/fixtures/, and the verdicts or plan wanted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

mod common;

use common::{fixture, read_json, root, subset};
use invokeguard::allowlist::Allowlist;
use invokeguard::aws::home::Home;
use invokeguard::plan::plan;
use invokeguard::record::{invocation, parse_input};
use invokeguard::resource_policy::ResourcePolicy;
use invokeguard::verdict::decide;
use serde_json::Value;

fn run_case(path: &std::path::Path) -> Result<(), String> {
    let case = read_json(path);
    let policies_text = case["policies"].to_string();
    let policies = Allowlist::from_json(&policies_text, "case", None).map_err(|e| e.to_string())?;
    if let Some(home) = case.get("home") {
        let region = home["region"].as_str().ok_or("home.region")?;
        let account = home["account"].as_str().ok_or("home.account")?;
        let home = Home::new(Home::partition_of_region(region), region, account)
            .map_err(|e| e.to_string())?;
        policies.set_home(home).map_err(|e| e.to_string())?;
    }
    if let Some(records) = case.get("records").and_then(Value::as_array) {
        let mut got = Vec::new();
        for r in records {
            let name = r.as_str().ok_or("records are fixture names")?;
            let bytes = std::fs::read(fixture(name)).map_err(|e| format!("{name}: {e}"))?;
            for found in parse_input(&bytes, name).map_err(|e| e.to_string())? {
                let inv = invocation(&found.record).map_err(|e| e.to_string())?;
                got.push(serde_json::to_value(decide(&policies, &inv)).map_err(|e| e.to_string())?);
            }
        }
        return subset(&case["want"], &Value::Array(got), "want");
    }
    let function = case["function"]
        .as_str()
        .ok_or("a plan case needs \"function\"")?;
    let (name, qualifier) = match function.split_once(':') {
        Some((n, q)) => (n, Some(q)),
        None => (function, None),
    };
    let current_name = case["current"]
        .as_str()
        .ok_or("\"current\" is a fixture name")?;
    let text = std::fs::read_to_string(fixture(current_name)).map_err(|e| e.to_string())?;
    let current = ResourcePolicy::parse(&text).map_err(|e| e.to_string())?;
    let (key, guarded) = policies
        .lookup(name, None)
        .ok_or("function not in the case's policies")?;
    let apply = policies.apply_for(guarded);
    let planned = plan(key.as_str(), qualifier, &guarded.allow, &current, apply);
    subset(
        &case["wantPlan"],
        &serde_json::to_value(&planned).map_err(|e| e.to_string())?,
        "wantPlan",
    )?;
    let again = plan(
        key.as_str(),
        qualifier,
        &guarded.allow,
        &planned.applied_to(&current, None),
        apply,
    );
    if again.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "re-planning the applied plan is not empty: {again:?}"
        ))
    }
}

#[test]
fn every_case_holds() {
    let mut paths: Vec<_> = std::fs::read_dir(root().join("tests/cases"))
        .expect("tests/cases")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 15, "cases went missing: {}", paths.len());
    let failures: Vec<String> = paths
        .iter()
        .filter_map(|p| {
            run_case(p).err().map(|e| {
                format!(
                    "{}: {e}",
                    p.file_name()
                        .map(|n| n.to_string_lossy())
                        .unwrap_or_default()
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n")
    );
}
