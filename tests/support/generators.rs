//! Generators and helpers shared by the property tests (tests/properties.rs and
//! tests/promise_properties.rs): allow entries, Sids, and the readers of what they generate.

#![allow(dead_code)] // each property test uses a different subset

use invokeguard::allowlist::{AllowEntry, Allowlist};
use invokeguard::resource_policy::{Principal, ResourcePolicy};
use proptest::prelude::*;
use serde_json::{Value, json};

pub const ACCOUNTS: [&str; 3] = ["111122223333", "444455556666", "999999999999"];

/// A service entry of one of `services`, with or without one of `source_arns` and an account.
pub fn service_entry(
    services: &'static [&'static str],
    source_arns: &'static [&'static str],
) -> impl Strategy<Value = Value> {
    (
        0..services.len(),
        proptest::option::of(0..source_arns.len()),
        proptest::option::of(0..ACCOUNTS.len()),
    )
        .prop_map(move |(s, a, c)| {
            let mut e = json!({"service": services[s]});
            if let Some(a) = a {
                e["sourceArn"] = json!(source_arns[a]);
            }
            if let Some(c) = c {
                e["sourceAccount"] = json!(ACCOUNTS[c]);
            }
            e
        })
}

/// A principal entry naming the role `ops` of one of the accounts.
pub fn principal_entry() -> impl Strategy<Value = Value> {
    (0..ACCOUNTS.len())
        .prop_map(|a| json!({"principal": format!("arn:aws:iam::{}:role/ops", ACCOUNTS[a])}))
}

/// No Sid, a shared one (copied Sids), or a unique-ish one.
pub fn sid() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("dup".to_owned())),
        proptest::option::of("[a-z]{1,8}")
    ]
}

/// The generated entries, read as the policies file reads them.
pub fn allow(entries: &[Value]) -> Vec<AllowEntry> {
    let text = json!({"version": 1, "functions": {"f": {"allow": entries}}}).to_string();
    let p = Allowlist::from_json(&text, "generated", None).expect("generated entries are valid");
    p.lookup("f", None)
        .map(|(_, f)| f.allow.clone())
        .unwrap_or_default()
}

pub fn policy(statements: &[Value]) -> ResourcePolicy {
    ResourcePolicy::from_value(&json!({"Statement": statements})).expect("generated policies parse")
}

/// Whether a statement's principal names a probe's caller: `anonymous`, `service:NAME`,
/// `root:ACCOUNT` or `role:ACCOUNT` (the role `ops`).
pub fn principal_matches(p: &Principal, who: &str) -> bool {
    let (kind, id) = who.split_once(':').unwrap_or((who, ""));
    match p {
        Principal::Any => true,
        Principal::Service(s) => kind == "service" && s == id,
        Principal::Account(a) => (kind == "root" || kind == "role") && a == id,
        Principal::Aws(arn) => kind == "role" && *arn == format!("arn:aws:iam::{id}:role/ops"),
        Principal::Other(_) => false,
    }
}
