//! What each fuzz target does with one input. Shared by the libFuzzer targets (`fuzz/`) and the
//! stable regression test (`tests/fuzz_regressions.rs`, which includes this file by path).
//!
//! Rule: nothing here panics on bad input; a panic means either a library panic or a real
//! violation of a planner property (the `assert!`s below).

use invokeguard::allowlist::Allowlist;
use invokeguard::plan::{grants_invoke as plan_grants_invoke, plan};
use invokeguard::record::{invocation, parse_input};
use invokeguard::resource_policy::ResourcePolicy;
use invokeguard::verdict::decide;

/// The fixed policies file every record is judged against.
pub const POLICIES_JSON: &str = include_str!("../../policies/invokers.json");

/// The fixed policies, parsed once per call site (cheap: a few hundred bytes).
pub fn fixed_policies() -> Allowlist {
    match Allowlist::from_json(POLICIES_JSON, "policies/invokers.json", Some("invokeguard")) {
        Ok(p) => p,
        Err(e) => panic!("policies/invokers.json no longer loads: {e}"),
    }
}

/// `record_parser`: bytes -> records -> invocation -> verdict. Must never panic.
pub fn record_parser(policies: &Allowlist, data: &[u8]) {
    let Ok(records) = parse_input(data, "fuzz") else {
        return;
    };
    for found in &records {
        if let Ok(inv) = invocation(&found.record) {
            let verdict = decide(policies, &inv);
            // Formatting walks every field: catches panicking Display/Debug impls too.
            let _ = format!("{verdict:?}");
        }
    }
}

/// `policies_loader`: bytes -> (UTF-8) policies file. Must never panic.
pub fn policies_loader(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(policies) = Allowlist::from_json(text, "fuzz", Some("invokeguard")) {
        for (key, function) in policies.functions() {
            let _ = policies.lookup(key.name(), key.arn());
            let _ = policies.mode_for(function);
        }
        let _ = policies.warnings();
    }
}

/// Splits one input into (policies text, resource-policy text): the first two bytes give the
/// split point (big-endian, modulo the remaining length), the rest is the two texts.
pub fn split_input(data: &[u8]) -> Option<(&str, &str)> {
    let (head, rest) = data.split_first_chunk::<2>()?;
    let at = usize::from(u16::from_be_bytes(*head)) % (rest.len() + 1);
    let (a, b) = rest.split_at(at);
    Some((std::str::from_utf8(a).ok()?, std::str::from_utf8(b).ok()?))
}

/// Joins two texts into one `policy_planner` input (for building seeds).
pub fn join_input(policies: &str, resource_policy: &str) -> Vec<u8> {
    let at = u16::try_from(policies.len()).unwrap_or(u16::MAX);
    let mut out = at.to_be_bytes().to_vec();
    out.extend_from_slice(policies.as_bytes());
    out.extend_from_slice(resource_policy.as_bytes());
    out
}

/// `policy_planner`: when both texts parse, plan every guarded function (and each of its
/// qualifiers) and check the planner's properties. Panics only on a property violation.
pub fn policy_planner(data: &[u8]) {
    let Some((policies_text, policy_text)) = split_input(data) else {
        return;
    };
    let Ok(policies) = Allowlist::from_json(policies_text, "fuzz", Some("invokeguard")) else {
        return;
    };
    let Ok(current) = ResourcePolicy::parse(policy_text) else {
        return;
    };
    check_planner(&policies, &current);
}

/// The planner's properties for every guarded function of `policies` against `current`.
pub fn check_planner(policies: &Allowlist, current: &ResourcePolicy) {
    for (key, function) in policies.functions() {
        let qualifiers =
            std::iter::once(None).chain(function.qualifiers.iter().map(|q| Some(q.as_str())));
        for qualifier in qualifiers {
            let apply = policies.apply_for(function);
            let planned = plan(key.as_str(), qualifier, &function.allow, current, apply);
            for r in &planned.remove {
                assert!(
                    current
                        .statements
                        .get(r.index)
                        .is_some_and(plan_grants_invoke),
                    "removal {r:?} does not name an invoke-granting statement: {planned:?}"
                );
            }
            let after = planned.applied_to(current, None);
            // A removal with a replacement keeps its place (without its invoke actions).
            let gone = planned
                .remove
                .iter()
                .filter(|r| r.replacement.is_none())
                .count();
            assert!(
                after.statements.len() + gone == current.statements.len() + planned.add.len(),
                "statements went missing or appeared: {planned:?}"
            );
            let replanned = plan(key.as_str(), qualifier, &function.allow, &after, apply);
            assert!(
                replanned.is_empty(),
                "plan is not idempotent for {key:?}/{qualifier:?}:\ncurrent: {current:?}\nfirst: {planned:?}\nafter: {after:?}\nsecond: {replanned:?}"
            );
        }
    }
}
