//! Properties of the pure engine, over generated allowlists, policies and JSON.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

#[path = "support/generators.rs"]
mod generators;

use generators::{ACCOUNTS, allow, policy, principal_entry, principal_matches, service_entry, sid};
use invokeguard::allowlist::{AllowEntry, Allowlist, Apply, Grant, ServiceGrant};
use invokeguard::plan::plan;
use invokeguard::record::{invocation, parse_input};
use invokeguard::resource_policy::{ResourcePolicy, Statement};
use proptest::prelude::*;
use serde_json::{Value, json};

const SERVICES: [&str; 3] = [
    "s3.amazonaws.com",
    "sns.amazonaws.com",
    "events.amazonaws.com",
];
const ARNS: [&str; 2] = [
    "arn:aws:s3:::uploads",
    "arn:aws:sns:us-east-1:111122223333:topic",
];

fn entry() -> impl Strategy<Value = Value> {
    prop_oneof![
        service_entry(&SERVICES, &ARNS),
        (0..3usize).prop_map(|a| json!({"account": ACCOUNTS[a]})),
        principal_entry(),
        Just(json!({"organization": "o-a1b2c3d4e5"})),
    ]
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
        (0..3usize).prop_map(|a| json!({"AWS": format!("arn:aws-cn:iam::{}:root", ACCOUNTS[a])})),
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
        Just(json!({"Bool": {"aws:SecureTransport": true}})),
        (0..3usize).prop_map(|a| json!({"StringEquals": {"aws:SourceAccount": ACCOUNTS[a].parse::<u64>().unwrap_or(0)}})),
        Just(json!({"ArnLike": {"aws:SourceArn": ARNS}})),
    ];
    let effect = prop_oneof![4 => Just("Allow"), 1 => Just("Deny")];
    (sid(), effect, principal, action, condition, 0..8u8).prop_map(|(sid, effect, p, a, c, negate)| {
        let mut s = json!({"Effect": effect, "Principal": p, "Action": a, "Resource": "arn:aws:lambda:us-east-1:111122223333:function:f"});
        if negate == 0 {
            let p = s["Principal"].take();
            s.as_object_mut().map(|o| { o.remove("Principal"); o.insert("NotPrincipal".into(), p) });
        }
        if negate == 1 {
            s.as_object_mut().map(|o| { o.remove("Action"); o.insert("NotAction".into(), json!("lambda:GetFunction")) });
        }
        if let Some(sid) = sid { s["Sid"] = json!(sid); }
        if !c.is_null() { s["Condition"] = c; }
        s
    })
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
        let first = plan("f", None, &allow, &current, Apply::Permissions);
        let second = plan("f", None, &allow, &first.applied_to(&current, None), Apply::Permissions);
        prop_assert!(second.is_empty(), "first {first:?}\nsecond {second:?}");
    }

    /// The invariant, against an evaluator of its own: after the plan, no request outside the
    /// allowlist is allowed, and every Deny survives verbatim. (That no covered statement is
    /// removed is the property below.)
    #[test]
    fn the_applied_plan_grants_invoke_to_the_allowlist_only(
        entries in proptest::collection::vec(entry(), 0..5),
        statements in proptest::collection::vec(statement(), 0..8),
    ) {
        let allow = allow(&entries);
        let current = policy(&statements);
        let planned = plan("f", None, &allow, &current, Apply::Permissions);
        let after = planned.applied_to(&current, None);
        for probe in probes() {
            prop_assert!(
                !allows(&after, &probe) || allowlisted(&allow, &probe),
                "after the plan {probe:?} is allowed outside the allowlist\nplan {planned:?}\nafter {after:?}"
            );
        }
        let denies = |p: &ResourcePolicy| p.statements.iter().filter(|s| s.effect == "Deny").map(|s| s.raw.clone()).collect::<Vec<_>>();
        prop_assert_eq!(denies(&current), denies(&after));
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
        let added = &plan("f", None, std::slice::from_ref(chosen), &ResourcePolicy::default(), Apply::Permissions).add[0];
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
        let planned = plan("f", None, &allow, &policy(&all), Apply::Permissions);
        prop_assert!(planned.keep.contains(&Some("users-own-sid".to_owned())), "{planned:?}");
        prop_assert!(!planned.remove.iter().any(|r| r.sid.as_deref() == Some("users-own-sid")));
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
        let _ = Allowlist::from_json(&text, "generated", Some("guard"));
    }

    #[test]
    fn the_parsers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_input(&bytes, "generated");
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = ResourcePolicy::parse(text);
            let _ = Allowlist::from_json(text, "generated", None);
        }
    }
}

/// A request to invoke the function, as far as the generated policies can tell requests apart.
#[derive(Debug, Clone)]
struct Probe {
    /// `service:NAME`, `root:ACCOUNT` or `role:ACCOUNT` (the role `ops` of that account).
    who: String,
    action: &'static str,
    source_arn: Option<&'static str>,
    source_account: Option<&'static str>,
    in_org: bool,
    ip_in: bool,
    tls: bool,
}

fn probes() -> Vec<Probe> {
    let mut who: Vec<String> = SERVICES.iter().map(|s| format!("service:{s}")).collect();
    for a in ACCOUNTS {
        who.push(format!("root:{a}"));
        who.push(format!("role:{a}"));
    }
    let mut out = Vec::new();
    for w in &who {
        for action in ["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"] {
            for source_arn in [None, Some(ARNS[0]), Some(ARNS[1])] {
                for source_account in [None, Some(ACCOUNTS[0]), Some(ACCOUNTS[2])] {
                    for (in_org, ip_in, tls) in [
                        (false, false, false),
                        (true, true, true),
                        (true, false, true),
                        (false, true, false),
                    ] {
                        out.push(Probe {
                            who: w.clone(),
                            action,
                            source_arn,
                            source_account,
                            in_org,
                            ip_in,
                            tls,
                        });
                    }
                }
            }
        }
    }
    out
}

fn statement_matches(s: &Statement, p: &Probe) -> bool {
    let principal = s.principals.iter().any(|x| principal_matches(x, &p.who)) != s.not_principal;
    let action = s.actions.iter().any(|a| {
        let a = a.to_ascii_lowercase();
        a == "*" || a == "lambda:*" || a == p.action.to_ascii_lowercase()
    }) != s.not_action;
    let conditions = s.conditions.iter().all(|c| {
        let [v] = c.values.as_slice() else {
            // Several values: any of them (the generator lists the ARNs).
            return c.key == "aws:sourcearn"
                && p.source_arn
                    .is_some_and(|a| c.values.iter().any(|v| v == a));
        };
        match c.key.as_str() {
            "aws:sourcearn" => p.source_arn == Some(v.as_str()),
            "aws:sourceaccount" => p.source_account == Some(v.as_str()),
            "aws:principalorgid" => p.in_org,
            "aws:sourceip" => p.ip_in,
            "aws:securetransport" => p.tls,
            _ => false,
        }
    });
    principal && action && conditions
}

fn allows(policy: &ResourcePolicy, p: &Probe) -> bool {
    let matching = |effect: &str| {
        policy
            .statements
            .iter()
            .any(|s| s.effect == effect && statement_matches(s, p))
    };
    matching("Allow") && !matching("Deny")
}

fn allowlisted(allow: &[AllowEntry], p: &Probe) -> bool {
    let (kind, id) = p.who.split_once(':').unwrap_or(("", ""));
    allow.iter().any(|e| {
        if e.action.as_str() != p.action {
            return false;
        }
        match &e.grant {
            Grant::Service(ServiceGrant {
                service,
                source_arn,
                source_account,
                event_source_token,
            }) => {
                kind == "service"
                    && service.as_str() == id
                    && event_source_token.is_none()
                    && source_arn
                        .as_ref()
                        .is_none_or(|a| p.source_arn == Some(a.as_str()))
                    && source_account
                        .as_ref()
                        .is_none_or(|a| p.source_account == Some(a.as_str()))
            }
            Grant::Account(a) => (kind == "root" || kind == "role") && a.as_str() == id,
            Grant::Principal(arn) => {
                kind == "role" && arn.as_str() == format!("arn:aws:iam::{id}:role/ops")
            }
            Grant::Organization(_) => p.in_org,
            Grant::PublicUrl => false,
        }
    })
}
