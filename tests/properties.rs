//! Properties of the pure engine, over generated allowlists, policies and JSON.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

use invokeguard::plan::plan;
use invokeguard::policies::{AllowEntry, Policies};
use invokeguard::record::{invocation, parse_input};
use invokeguard::resource_policy::ResourcePolicy;
use proptest::prelude::*;
use serde_json::{Value, json};

const SERVICES: [&str; 3] = [
    "s3.amazonaws.com",
    "sns.amazonaws.com",
    "events.amazonaws.com",
];
const ACCOUNTS: [&str; 3] = ["111122223333", "444455556666", "999999999999"];
const ARNS: [&str; 2] = [
    "arn:aws:s3:::uploads",
    "arn:aws:sns:us-east-1:111122223333:topic",
];

fn entry() -> impl Strategy<Value = Value> {
    prop_oneof![
        (
            0..3usize,
            proptest::option::of(0..2usize),
            proptest::option::of(0..3usize)
        )
            .prop_map(|(s, a, c)| {
                let mut e = json!({"service": SERVICES[s]});
                if let Some(a) = a {
                    e["sourceArn"] = json!(ARNS[a]);
                }
                if let Some(c) = c {
                    e["sourceAccount"] = json!(ACCOUNTS[c]);
                }
                e
            }),
        (0..3usize).prop_map(|a| json!({"account": ACCOUNTS[a]})),
        (0..3usize)
            .prop_map(|a| json!({"principal": format!("arn:aws:iam::{}:role/ops", ACCOUNTS[a])})),
        Just(json!({"organization": "o-a1b2c3d4e5"})),
    ]
}

fn allow(entries: &[Value]) -> Vec<AllowEntry> {
    let text = json!({"version": 1, "functions": {"f": {"allow": entries}}}).to_string();
    let p = Policies::from_json(&text, "generated", None).expect("generated entries are valid");
    p.lookup("f", None)
        .map(|(_, f)| f.allow.clone())
        .unwrap_or_default()
}

/// A condition key in a random case: AWS treats keys case-insensitively.
fn cased(key: &str, upper: bool) -> String {
    if upper {
        key.replacen("aws:", "AWS:", 1)
    } else {
        key.to_owned()
    }
}

fn statement() -> impl Strategy<Value = Value> {
    let principal = prop_oneof![
        Just(json!("*")),
        (0..3usize).prop_map(|s| json!({"Service": SERVICES[s]})),
        (0..3usize).prop_map(|a| json!({"AWS": ACCOUNTS[a]})),
        (0..3usize).prop_map(|a| json!({"AWS": format!("arn:aws:iam::{}:root", ACCOUNTS[a])})),
        (0..3usize).prop_map(|a| json!({"AWS": format!("arn:aws:iam::{}:role/ops", ACCOUNTS[a])})),
    ];
    let action = prop_oneof![
        Just(json!("lambda:InvokeFunction")),
        Just(json!(["lambda:InvokeFunction"])),
        Just(json!("lambda:*")),
        Just(json!("lambda:GetFunction"))
    ];
    let condition = prop_oneof![
        Just(Value::Null),
        (0..2usize, any::<bool>())
            .prop_map(|(a, u)| json!({"ArnLike": {cased("aws:SourceArn", u): ARNS[a]}})),
        (0..3usize, any::<bool>()).prop_map(
            |(a, u)| json!({"StringEquals": {cased("aws:SourceAccount", u): ACCOUNTS[a]}})
        ),
        Just(json!({"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}})),
        Just(json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})),
    ];
    let effect = prop_oneof![4 => Just("Allow"), 1 => Just("Deny")];
    (proptest::option::of("[a-zA-Z0-9_-]{1,12}"), effect, principal, action, condition).prop_map(|(sid, effect, p, a, c)| {
        let mut s = json!({"Effect": effect, "Principal": p, "Action": a, "Resource": "arn:aws:lambda:us-east-1:111122223333:function:f"});
        if let Some(sid) = sid { s["Sid"] = json!(sid); }
        if !c.is_null() { s["Condition"] = c; }
        s
    })
}

fn policy(statements: &[Value]) -> ResourcePolicy {
    ResourcePolicy::from_value(&json!({"Statement": statements})).expect("generated policies parse")
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        prop_oneof![
            Just("Invoke".to_owned()),
            Just("lambda.amazonaws.com".to_owned()),
            Just("AWSService".to_owned()),
            ".{0,12}"
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        let keys = prop_oneof![
            Just("eventSource".to_owned()),
            Just("eventName".to_owned()),
            Just("userIdentity".to_owned()),
            Just("type".to_owned()),
            Just("requestParameters".to_owned()),
            Just("functionName".to_owned()),
            Just("resources".to_owned()),
            Just("ARN".to_owned()),
            Just("Records".to_owned()),
            Just("detail".to_owned()),
            Just("detail-type".to_owned()),
            Just("Statement".to_owned()),
            Just("Principal".to_owned()),
            Just("Action".to_owned()),
            Just("Condition".to_owned()),
            Just("Policy".to_owned()),
            Just("Sid".to_owned()),
            Just("Effect".to_owned()),
            Just("functions".to_owned()),
            Just("allow".to_owned()),
            "[a-z]{1,6}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(keys, inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn applying_a_plan_then_planning_again_is_empty(
        entries in proptest::collection::vec(entry(), 0..5),
        statements in proptest::collection::vec(statement(), 0..8),
    ) {
        let allow = allow(&entries);
        let current = policy(&statements);
        let first = plan("f", None, &allow, &current);
        let second = plan("f", None, &allow, &first.applied_to(&current));
        prop_assert!(second.is_empty(), "first {first:?}\nsecond {second:?}");
    }

    #[test]
    fn a_statement_equivalent_to_an_allow_entry_is_never_removed(
        entries in proptest::collection::vec(entry(), 1..5),
        statements in proptest::collection::vec(statement(), 0..6),
        pick in any::<proptest::sample::Index>(),
        upper in any::<bool>(),
    ) {
        let allow = allow(&entries);
        let chosen = pick.get(&allow);
        // The statement AddPermission stores for the chosen entry, under a user's own Sid.
        let added = &plan("f", None, std::slice::from_ref(chosen), &ResourcePolicy::default()).add[0];
        let mut condition = serde_json::Map::new();
        if let Some(a) = &added.source_arn { condition.insert("ArnLike".into(), json!({cased("aws:SourceArn", upper): a})); }
        let mut equals = serde_json::Map::new();
        if let Some(a) = &added.source_account { equals.insert(cased("aws:SourceAccount", upper), json!(a)); }
        if let Some(o) = &added.principal_org_id { equals.insert("aws:PrincipalOrgID".into(), json!(o)); }
        if !equals.is_empty() { condition.insert("StringEquals".into(), Value::Object(equals)); }
        let principal = match added.principal.as_str() {
            "*" => json!("*"),
            p if p.ends_with(".amazonaws.com") => json!({"Service": p}),
            p => json!({"AWS": p}),
        };
        let mut mine = json!({"Sid": "users-own-sid", "Effect": "Allow", "Principal": principal, "Action": "lambda:InvokeFunction"});
        if !condition.is_empty() { mine["Condition"] = Value::Object(condition); }
        let mut all: Vec<Value> = statements.into_iter().filter(|s| s["Sid"] != "users-own-sid").collect();
        all.push(mine);
        let planned = plan("f", None, &allow, &policy(&all));
        prop_assert!(planned.keep.contains(&"users-own-sid".to_owned()), "{planned:?}");
        prop_assert!(!planned.remove.iter().any(|r| r.sid == "users-own-sid"));
    }

    #[test]
    fn the_parsers_never_panic_on_arbitrary_json(value in arbitrary_json()) {
        let text = value.to_string();
        if let Ok(found) = parse_input(text.as_bytes(), "generated") {
            for f in found {
                let _ = invocation(&f.record);
            }
        }
        let _ = ResourcePolicy::from_value(&value);
        let _ = ResourcePolicy::parse(&json!({"Policy": text}).to_string());
        let _ = Policies::from_json(&text, "generated", Some("guard"));
    }

    #[test]
    fn the_parsers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_input(&bytes, "generated");
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = ResourcePolicy::parse(text);
            let _ = Policies::from_json(text, "generated", None);
        }
    }
}
