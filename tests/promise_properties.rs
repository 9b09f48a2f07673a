//! The promise, as a property with an oracle of its own: over generated allowlists and
//! policies (narrower statements, `Resource` on other resources, wildcard and enumerated
//! condition values, negations, `Null`, `IfExists`, mixed-action statements), after the plan
//! is applied the policy's Allow statements grant invoke to exactly the requests the allowlist
//! allows, and every non-invoke grant is what it was. The IAM semantics below are written
//! here from the IAM User Guide, independently of `invokeguard::evaluator`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

#[path = "support/generators.rs"]
mod generators;

use generators::{ACCOUNTS, allow, policy, principal_entry, principal_matches, service_entry, sid};
use invokeguard::allowlist::{AllowEntry, Apply, Grant, InvokeAction, ServiceGrant};
use invokeguard::plan::plan;
use invokeguard::resource_policy::{ResourcePolicy, Statement};
use proptest::prelude::*;
use serde_json::{Value, json};

const FN: &str = "arn:aws:lambda:us-east-1:111122223333:function:f";
const SERVICES: [&str; 2] = ["s3.amazonaws.com", "sns.amazonaws.com"];
const ORG: &str = "o-a1b2c3d4e5";
/// Entry and statement values of `aws:SourceArn`: literals, an S3 wildcard (its `*` in the last
/// part, where ArnLike and StringLike agree) and an SNS one (its `*` in the region, where
/// StringLike also crosses `:`).
const SOURCE_ARNS: [&str; 4] = [
    "arn:aws:s3:::uploads",
    "arn:aws:s3:::logs-*",
    "arn:aws:sns:*:111122223333:topic",
    "arn:aws:s3:::logs-1",
];
/// Request values of `aws:SourceArn`.
const REQUEST_ARNS: [&str; 5] = [
    "arn:aws:s3:::uploads",
    "arn:aws:s3:::logs-1",
    "arn:aws:s3:::logs-*",
    "arn:aws:sns:us-east-1:111122223333:topic",
    "arn:aws:sns:us-east-1:x:111122223333:topic",
];
const ACTIONS: [&str; 4] = [
    "lambda:InvokeFunction",
    "lambda:InvokeFunctionUrl",
    "lambda:InvokeAsync",
    "lambda:GetFunction",
];

fn entry() -> impl Strategy<Value = Value> {
    prop_oneof![
        service_entry(&SERVICES, &SOURCE_ARNS),
        (0..3usize, any::<bool>()).prop_map(|(a, url)| {
            let mut e = json!({"account": ACCOUNTS[a]});
            if url {
                e["action"] = json!("lambda:InvokeFunctionUrl");
            }
            e
        }),
        principal_entry(),
        Just(json!({"organization": ORG})),
        Just(json!({"functionUrl": "public"})),
    ]
}

fn condition() -> impl Strategy<Value = (String, String, Value)> {
    let op = prop_oneof![
        Just("StringEquals"),
        Just("StringLike"),
        Just("ArnLike"),
        Just("StringNotEquals"),
        Just("ArnLikeIfExists"),
        Just("StringEqualsIfExists"),
        Just("Null"),
        Just("Bool"),
    ];
    let key_value = prop_oneof![
        (0..4usize).prop_map(|i| ("aws:SourceArn", json!(SOURCE_ARNS[i]))),
        Just((
            "aws:SourceArn",
            json!(["arn:aws:s3:::uploads", "arn:aws:s3:::other"])
        )),
        (0..3usize).prop_map(|i| ("AWS:SourceAccount", json!(ACCOUNTS[i]))),
        Just(("aws:PrincipalOrgID", json!(ORG))),
        Just(("aws:PrincipalOrgID", json!("o-other00000"))),
        Just(("aws:SecureTransport", json!("true"))),
        Just(("aws:SecureTransport", json!(false))),
        Just(("aws:SourceVpce", json!("vpce-1"))),
        Just(("lambda:FunctionUrlAuthType", json!("NONE"))),
        Just(("lambda:FunctionUrlAuthType", json!("none"))),
        Just(("lambda:FunctionUrlAuthType", json!("AWS_IAM"))),
        Just(("lambda:InvokedViaFunctionUrl", json!("true"))),
        Just(("lambda:InvokedViaFunctionUrl", json!("TRUE"))),
    ];
    (op, key_value).prop_map(|(op, (k, v))| {
        let v = if op == "Null" { json!("false") } else { v };
        (op.to_owned(), k.to_owned(), v)
    })
}

fn statement() -> impl Strategy<Value = Value> {
    let principal = prop_oneof![
        Just(json!("*")),
        (0..2usize).prop_map(|s| json!({"Service": SERVICES[s]})),
        (0..3usize).prop_map(|a| json!({"AWS": ACCOUNTS[a]})),
        (0..3usize).prop_map(|a| json!({"AWS": format!("arn:aws:iam::{}:root", ACCOUNTS[a])})),
        (0..3usize).prop_map(|a| json!({"AWS": format!("arn:aws:iam::{}:role/ops", ACCOUNTS[a])})),
        Just(json!({"AWS": [format!("arn:aws:iam::{}:root", ACCOUNTS[0]), ACCOUNTS[2]]})),
    ];
    let action = prop_oneof![
        3 => Just(json!("lambda:InvokeFunction")),
        1 => Just(json!("lambda:InvokeFunctionUrl")),
        1 => Just(json!("lambda:*")),
        1 => Just(json!(["lambda:GetFunction", "lambda:InvokeFunction"])),
        1 => Just(json!("lambda:Invoke*")),
        1 => Just(json!("lambda:InvokeAsync")),
        1 => Just(json!("lambda:GetFunction")),
    ];
    let resource = prop_oneof![
        3 => Just(None),
        1 => Just(Some(json!(FN))),
        1 => Just(Some(json!(format!("{FN}:live")))),
        1 => Just(Some(json!("arn:aws:lambda:us-east-1:111122223333:function:*"))),
        1 => Just(Some(json!("arn:aws:lambda:us-east-1:111122223333:function:other"))),
        1 => Just(Some(json!("*"))),
    ];
    let effect = prop_oneof![5 => Just("Allow"), 1 => Just("Deny")];
    (
        sid(),
        effect,
        principal,
        action,
        resource,
        proptest::collection::vec(condition(), 0..3),
        0..10u8,
    )
        .prop_map(|(sid, effect, p, a, r, conditions, negate)| {
            let mut s = json!({"Effect": effect, "Principal": p, "Action": a});
            if negate == 0 {
                let p = s["Principal"].take();
                if let Some(o) = s.as_object_mut() {
                    o.remove("Principal");
                    o.insert("NotPrincipal".into(), p);
                }
            }
            if negate == 1
                && let Some(o) = s.as_object_mut()
            {
                o.remove("Action");
                o.insert("NotAction".into(), json!("lambda:GetPolicy"));
            }
            if let Some(r) = r {
                s["Resource"] = r;
            }
            if let Some(sid) = sid {
                s["Sid"] = json!(sid);
            }
            let mut c = serde_json::Map::new();
            for (op, k, v) in conditions {
                let ops = c.entry(op).or_insert_with(|| json!({}));
                ops[k] = v;
            }
            if !c.is_empty() {
                s["Condition"] = Value::Object(c);
            }
            s
        })
}

/// A request: who, what, and the request context's values.
#[derive(Debug, Clone)]
struct Probe {
    /// `anonymous`, `service:NAME`, `root:ACCOUNT` or `role:ACCOUNT` (the role `ops`).
    who: String,
    action: &'static str,
    context: Vec<(&'static str, &'static str)>,
}

impl Probe {
    fn get(&self, key: &str) -> Option<&'static str> {
        self.context
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
    }
}

fn probes() -> Vec<Probe> {
    let mut who: Vec<String> = vec!["anonymous".into(), "service:s3.amazonaws.com".into()];
    who.push("service:sns.amazonaws.com".into());
    for a in ACCOUNTS {
        who.push(format!("root:{a}"));
        who.push(format!("role:{a}"));
    }
    let arns: Vec<Option<&'static str>> = std::iter::once(None)
        .chain(REQUEST_ARNS.iter().copied().map(Some))
        .collect();
    let accounts = [None, Some(ACCOUNTS[0]), Some(ACCOUNTS[2])];
    let orgs = [None, Some(ORG)];
    let extras: [&[(&str, &str)]; 5] = [
        &[],
        &[
            ("aws:securetransport", "true"),
            ("aws:sourcevpce", "vpce-1"),
        ],
        &[
            ("lambda:functionurlauthtype", "NONE"),
            ("aws:securetransport", "false"),
        ],
        &[("lambda:invokedviafunctionurl", "true")],
        &[
            ("lambda:functionurlauthtype", "AWS_IAM"),
            ("aws:securetransport", "true"),
        ],
    ];
    let mut out = Vec::new();
    for w in &who {
        for action in ACTIONS {
            for arn in &arns {
                for account in accounts {
                    for org in orgs {
                        for extra in extras {
                            let mut context: Vec<(&str, &str)> = extra.to_vec();
                            if let Some(a) = arn {
                                context.push(("aws:sourcearn", a));
                            }
                            if let Some(a) = account {
                                context.push(("aws:sourceaccount", a));
                            }
                            if let Some(o) = org {
                                context.push(("aws:principalorgid", o));
                            }
                            out.push(Probe {
                                who: w.clone(),
                                action,
                                context,
                            });
                        }
                    }
                }
            }
        }
    }
    out
}

/// `*` any run, `?` any one character.
fn glob(pattern: &str, value: &str) -> bool {
    fn go(p: &[u8], v: &[u8]) -> bool {
        match (p.first(), v.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], v) || (!v.is_empty() && go(p, &v[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &v[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &v[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), value.as_bytes())
}

fn arn_glob(pattern: &str, value: &str) -> bool {
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let v: Vec<&str> = value.splitn(6, ':').collect();
    p.len() == 6 && v.len() == 6 && p.iter().zip(&v).all(|(p, v)| glob(p, v))
}

fn condition_holds(op: &str, key: &str, values: &[String], p: &Probe) -> bool {
    let value = p.get(key);
    let (op, if_exists) = match op.strip_suffix("ifexists") {
        Some(o) => (o, true),
        None => (op, false),
    };
    if op == "null" {
        return values.iter().any(|v| (v == "true") == value.is_none());
    }
    let Some(value) = value else {
        return if_exists || op == "stringnotequals";
    };
    match op {
        "stringequals" | "bool" => values.iter().any(|v| v == value),
        "stringlike" => values.iter().any(|v| glob(v, value)),
        "arnlike" => values.iter().any(|v| arn_glob(v, value)),
        "stringnotequals" => values.iter().all(|v| v != value),
        other => panic!("the generator makes no {other}"),
    }
}

fn statement_grants(s: &Statement, p: &Probe) -> bool {
    let principal = s.principals.iter().any(|x| principal_matches(x, &p.who)) != s.not_principal;
    let action = s
        .actions
        .iter()
        .any(|a| glob(&a.to_ascii_lowercase(), &p.action.to_ascii_lowercase()))
        != s.not_action;
    let resource =
        s.resources.is_empty() || s.resources.iter().any(|r| r == "*" || arn_glob(r, FN));
    let conditions = s
        .conditions
        .iter()
        .all(|c| condition_holds(&c.operator, &c.key, &c.values, p));
    s.effect == "Allow" && principal && action && resource && conditions
}

/// What the Allow statements grant (Deny statements are the owner's and stay as they are).
fn grants(policy: &ResourcePolicy, p: &Probe) -> bool {
    policy.statements.iter().any(|s| statement_grants(s, p))
}

fn allowlisted(allow: &[AllowEntry], p: &Probe) -> bool {
    let (kind, id) = p.who.split_once(':').unwrap_or((p.who.as_str(), ""));
    let url_ok = |e: &AllowEntry| {
        e.action != InvokeAction::InvokeFunctionUrl
            || p.get("lambda:functionurlauthtype") == Some("AWS_IAM")
    };
    allow.iter().any(|e| {
        let action = e.action.as_str() == p.action;
        match &e.grant {
            Grant::Service(ServiceGrant {
                service,
                source_arn,
                source_account,
                ..
            }) => {
                p.action == "lambda:InvokeFunction"
                    && kind == "service"
                    && service.as_str() == id
                    && source_arn.as_ref().is_none_or(|a| {
                        p.get("aws:sourcearn")
                            .is_some_and(|v| arn_glob(a.as_str(), v))
                    })
                    && source_account
                        .as_ref()
                        .is_none_or(|a| p.get("aws:sourceaccount") == Some(a.as_str()))
            }
            Grant::Account(a) => {
                action && url_ok(e) && (kind == "root" || kind == "role") && a.as_str() == id
            }
            Grant::Principal(arn) => {
                action
                    && url_ok(e)
                    && kind == "role"
                    && arn.as_str() == format!("arn:aws:iam::{id}:role/ops")
            }
            Grant::Organization(o) => {
                action && url_ok(e) && p.get("aws:principalorgid") == Some(o.as_str())
            }
            Grant::PublicUrl => {
                (p.action == "lambda:InvokeFunctionUrl"
                    && p.get("lambda:functionurlauthtype") == Some("NONE"))
                    || (p.action == "lambda:InvokeFunction"
                        && p.get("lambda:invokedviafunctionurl") == Some("true"))
            }
        }
    })
}

fn check(allow: &[AllowEntry], current: &ResourcePolicy, probes: &[Probe]) -> Result<(), String> {
    let planned = plan(FN, None, allow, current, Apply::Permissions);
    let after = planned.applied_to(current, Some(FN));
    for p in probes {
        let now = grants(&after, p);
        let ok = match p.action {
            "lambda:GetFunction" => now == grants(current, p),
            "lambda:InvokeAsync" => {
                let as_invoke = Probe {
                    action: "lambda:InvokeFunction",
                    ..p.clone()
                };
                !now || allowlisted(allow, &as_invoke)
            }
            _ => now == allowlisted(allow, p),
        };
        if !ok {
            return Err(format!(
                "{p:?}: granted after the plan {now}, allowlisted {}\nplan {planned:#?}\nafter {:#?}",
                allowlisted(allow, p),
                after.document()
            ));
        }
    }
    let again = plan(FN, None, allow, &after, Apply::Permissions);
    if !again.is_empty() {
        return Err(format!("a second plan is not empty: {again:#?}"));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn after_the_plan_exactly_the_allowlist_may_invoke(
        entries in proptest::collection::vec(entry(), 0..4),
        statements in proptest::collection::vec(statement(), 0..6),
    ) {
        let allow = allow(&entries);
        let current = policy(&statements);
        let probes = probes();
        if let Err(e) = check(&allow, &current, &probes) {
            prop_assert!(false, "{e}");
        }
    }
}

/// The situations the external evaluator found, each as a case of the same check.
#[test]
fn the_situations_found_by_the_evaluator_hold() {
    let probes = probes();
    let cases: [(&str, &str); 7] = [
        (
            r#"[{"account": "111122223333"}]"#,
            r#"[{"Sid": "narrow", "Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "lambda:InvokeFunction", "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}}]"#,
        ),
        (
            r#"[{"account": "111122223333"}]"#,
            r#"[{"Sid": "tls", "Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "lambda:InvokeFunction", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]"#,
        ),
        (
            r#"[{"account": "111122223333"}]"#,
            r#"[{"Sid": "other", "Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "lambda:InvokeFunction", "Resource": "arn:aws:lambda:us-east-1:111122223333:function:f:live"}]"#,
        ),
        (
            r#"[{"functionUrl": "public"}]"#,
            r#"[{"Sid": "u", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunctionUrl", "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "none"}}},
                {"Sid": "v", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction", "Condition": {"Bool": {"lambda:InvokedViaFunctionUrl": "TRUE"}}}]"#,
        ),
        (
            r#"[{"service": "s3.amazonaws.com", "sourceArn": "arn:aws:s3:::logs-*"}]"#,
            r#"[{"Sid": "lit", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction", "Condition": {"StringEquals": {"aws:SourceArn": "arn:aws:s3:::logs-*"}}}]"#,
        ),
        (
            r#"[{"service": "sns.amazonaws.com", "sourceArn": "arn:aws:sns:*:111122223333:topic"}]"#,
            r#"[{"Sid": "wide", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "lambda:InvokeFunction", "Condition": {"StringLike": {"aws:SourceArn": "arn:aws:sns:*:111122223333:topic"}}}]"#,
        ),
        (
            r#"[]"#,
            r#"[{"Sid": "mixed", "Effect": "Allow", "Principal": "*", "Action": ["lambda:GetFunction", "lambda:InvokeFunction"]},
                {"Sid": "all", "Effect": "Allow", "Principal": {"AWS": "999999999999"}, "Action": "lambda:*"}]"#,
        ),
    ];
    for (entries, statements) in cases {
        let entries: Vec<Value> = serde_json::from_str(entries).unwrap();
        let statements: Vec<Value> = serde_json::from_str(statements).unwrap();
        let allow = allow(&entries);
        if let Err(e) = check(&allow, &policy(&statements), &probes) {
            panic!("{statements:?}: {e}");
        }
    }
}
