//! Test fixtures of the plan's modules: an allowlist, a policy document and one statement
//! from JSON text.

use crate::allowlist::{AllowEntry, Allowlist};
use crate::resource_policy::{ResourcePolicy, Statement};

/// The allow entries of a function `f` whose `allow` is `entries` (a JSON array).
pub fn allow(entries: &str) -> Vec<AllowEntry> {
    let text = format!(r#"{{"version": 1, "functions": {{"f": {{"allow": {entries}}}}}}}"#);
    let p = Allowlist::from_json(&text, "p", None).expect("valid");
    p.lookup("f", None)
        .map(|(_, f)| f.allow.clone())
        .unwrap_or_default()
}

/// A policy whose `Statement` is `statements` (a JSON array).
pub fn doc(statements: &str) -> ResourcePolicy {
    ResourcePolicy::parse(&format!(r#"{{"Statement": {statements}}}"#)).expect("parses")
}

/// The one statement of `text` (a JSON object).
pub fn statement(text: &str) -> Statement {
    let raw: serde_json::Value = serde_json::from_str(text).expect("JSON");
    Statement::from_raw(0, &raw).expect("one statement")
}
