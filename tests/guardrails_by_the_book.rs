//! The generated service control policies checked a second way, sharing nothing with the
//! generator or with `evaluator::identity_denies`: generated allowlists, generated requests, and
//! two readings that must agree with each other.
//!
//! - **The contract** (`expected`), written from docs/guardrails.md: a caller that is not exempt
//!   may `AddPermission` on a guarded function (or any of its qualifiers) only for a principal
//!   the allowlist names (a service, an account as its id or root ARN, a principal ARN), never
//!   `*`; may make its URL's auth type `NONE` only under `functionUrl: public`; may never
//!   `PutResourcePolicy`. Exempt callers, other actions and unguarded functions: never denied.
//! - **IAM's reading of the SCP** (`denied_by_the_book`), over the JSON as uploaded: a request is
//!   denied when some Deny statement matches its action (case-insensitive, `*` and `?`), its
//!   resource (ARN glob, case-sensitive) and every condition, with IAM's rule that a negated
//!   operator (`StringNotEquals`, `ArnNotLike`) is true when the key is missing from the request
//!   and a positive one (`StringEquals`) false. Any other element or operator fails the test:
//!   this reading knows only what it was written for.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

use std::collections::BTreeMap;

use invokeguard::allowlist::Allowlist;
use invokeguard::aws::home::Home;
use invokeguard::evaluator::{Caller, Request, Resource, Tri, identity_denies};
use invokeguard::guardrails::{Options, generate};
use invokeguard::resource_policy::ResourcePolicy;
use proptest::prelude::*;
use serde_json::{Value, json};

const HOME: &str = "999999999999";
const GUARD: &str = "arn:aws:iam::999999999999:role/invokeguard-guard";
const DEPLOYERS: &str = "arn:aws:iam::999999999999:role/cdk-*-cfn-exec-role-*";
const CALLERS: [&str; 4] = [
    GUARD,
    "arn:aws:iam::999999999999:role/cdk-hnb659fds-cfn-exec-role-999999999999-us-east-1",
    "arn:aws:iam::999999999999:role/developer",
    "arn:aws:iam::999999999999:role/cdk-readonly",
];
const ACCOUNTS: [&str; 3] = ["111122223333", "222233334444", "333344445555"];
const SERVICES: [&str; 3] = [
    "s3.amazonaws.com",
    "sns.amazonaws.com",
    "apigateway.amazonaws.com",
];
const ROLES: [&str; 2] = [
    "arn:aws:iam::111122223333:role/reader",
    "arn:aws:iam::222233334444:role/writer",
];
const NAMES: [&str; 4] = ["Alpha", "Beta", "Gamma", "Delta"];
const ACTIONS: [&str; 7] = [
    "lambda:AddPermission",
    "lambda:CreateFunctionUrlConfig",
    "lambda:UpdateFunctionUrlConfig",
    "lambda:PutResourcePolicy",
    "lambda:RemovePermission",
    "lambda:DeleteResourcePolicy",
    "lambda:InvokeFunction",
];

/// One allow entry of the generated allowlist.
#[derive(Debug, Clone)]
enum Entry {
    Service(usize),
    Account(usize),
    Role(usize),
    Organization,
    PublicUrl,
}

impl Entry {
    fn json(&self) -> Value {
        match self {
            Entry::Service(i) => json!({"service": SERVICES[*i]}),
            Entry::Account(i) => json!({"account": ACCOUNTS[*i]}),
            Entry::Role(i) => json!({"principal": ROLES[*i]}),
            Entry::Organization => json!({"organization": "o-a1b2c3d4e5"}),
            Entry::PublicUrl => json!({"functionUrl": "public"}),
        }
    }
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        (0..SERVICES.len()).prop_map(Entry::Service),
        (0..ACCOUNTS.len()).prop_map(Entry::Account),
        (0..ROLES.len()).prop_map(Entry::Role),
        Just(Entry::Organization),
        Just(Entry::PublicUrl),
    ]
}

/// Up to four guarded functions (by name, in the home), each with up to four entries.
fn allowlists() -> impl Strategy<Value = BTreeMap<&'static str, Vec<Entry>>> {
    proptest::collection::btree_map(
        proptest::sample::select(NAMES.to_vec()),
        proptest::collection::vec(entry(), 0..4),
        1..=4,
    )
}

/// A request: (caller, action, function name, qualifier, lambda:Principal, auth type).
type Req = (
    &'static str,
    &'static str,
    String,
    Option<&'static str>,
    Option<String>,
    Option<&'static str>,
);

fn principal_spellings() -> Vec<String> {
    let mut out: Vec<String> = SERVICES.iter().map(|s| (*s).to_owned()).collect();
    for a in ACCOUNTS {
        out.push(a.to_owned());
        out.push(format!("arn:aws:iam::{a}:root"));
    }
    out.extend(ROLES.iter().map(|r| (*r).to_owned()));
    out.push("*".to_owned());
    out.push("S3.amazonaws.com".to_owned()); // another case: not the service the file names
    out
}

fn requests() -> impl Strategy<Value = Vec<Req>> {
    let one = (
        proptest::sample::select(CALLERS.to_vec()),
        proptest::sample::select(ACTIONS.to_vec()),
        proptest::sample::select(vec!["Alpha", "Beta", "Gamma", "Delta", "Unguarded"]),
        proptest::sample::select(vec![None, Some("live"), Some("7")]),
        proptest::option::of(proptest::sample::select(principal_spellings())),
        proptest::sample::select(vec![None, Some("NONE"), Some("AWS_IAM")]),
    )
        .prop_map(|(c, a, f, q, p, u)| (c, a, f.to_owned(), q, p, u));
    proptest::collection::vec(one, 20..60)
}

fn exempt(caller: &str) -> bool {
    caller == GUARD || glob(DEPLOYERS, caller)
}

/// The contract, from the allowlist entries alone.
fn expected(file: &BTreeMap<&'static str, Vec<Entry>>, r: &Req) -> bool {
    let (caller, action, function, _, principal, auth) = r;
    let Some(entries) = file.get(function.as_str()) else {
        return false;
    };
    if exempt(caller) {
        return false;
    }
    match *action {
        "lambda:AddPermission" => {
            let Some(p) = principal else {
                // AddPermission always carries its Principal; without one nothing is named.
                return true;
            };
            !entries.iter().any(|e| match e {
                Entry::Service(i) => p == SERVICES[*i],
                Entry::Account(i) => {
                    *p == ACCOUNTS[*i] || *p == format!("arn:aws:iam::{}:root", ACCOUNTS[*i])
                }
                Entry::Role(i) => p == ROLES[*i],
                Entry::Organization | Entry::PublicUrl => false,
            })
        }
        "lambda:CreateFunctionUrlConfig" | "lambda:UpdateFunctionUrlConfig" => {
            *auth == Some("NONE") && !entries.iter().any(|e| matches!(e, Entry::PublicUrl))
        }
        "lambda:PutResourcePolicy" => true,
        _ => false,
    }
}

/// IAM's wildcard match: `*` any run of characters (colons included), `?` one.
fn glob(pattern: &str, value: &str) -> bool {
    fn go(p: &[char], v: &[char]) -> bool {
        match p.split_first() {
            None => v.is_empty(),
            Some(('*', rest)) => (0..=v.len()).any(|i| go(rest, &v[i..])),
            Some(('?', rest)) => !v.is_empty() && go(rest, &v[1..]),
            Some((c, rest)) => v.first() == Some(c) && go(rest, &v[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    go(&p, &v)
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().expect("a string").to_owned())
            .collect(),
        other => panic!("not a string or a list: {other}"),
    }
}

/// The request context as IAM would see it.
fn context(r: &Req) -> BTreeMap<String, String> {
    let (caller, _, _, _, principal, auth) = r;
    let mut c = BTreeMap::from([("aws:principalarn".to_owned(), (*caller).to_owned())]);
    if let Some(p) = principal {
        c.insert("lambda:principal".to_owned(), p.clone());
    }
    if let Some(a) = auth {
        c.insert("lambda:functionurlauthtype".to_owned(), (*a).to_owned());
    }
    c
}

fn resource(r: &Req) -> String {
    let base = format!("arn:aws:lambda:us-east-1:{HOME}:function:{}", r.2);
    match r.3 {
        Some(q) => format!("{base}:{q}"),
        None => base,
    }
}

fn denied_by_the_book(doc: &Value, r: &Req) -> bool {
    let statements = match &doc["Statement"] {
        Value::Array(a) => a.clone(),
        one @ Value::Object(_) => vec![one.clone()],
        other => panic!("Statement: {other}"),
    };
    let ctx = context(r);
    statements.iter().any(|s| {
        for key in s.as_object().expect("a statement").keys() {
            assert!(
                ["Sid", "Effect", "Action", "Resource", "Condition"].contains(&key.as_str()),
                "this reading does not know {key}"
            );
        }
        s["Effect"] == "Deny"
            && strings(&s["Action"])
                .iter()
                .any(|a| glob(&a.to_ascii_lowercase(), &r.1.to_ascii_lowercase()))
            && strings(&s["Resource"])
                .iter()
                .any(|p| glob(p, &resource(r)))
            && s.get("Condition").is_none_or(|c| {
                c.as_object()
                    .expect("a condition")
                    .iter()
                    .all(|(op, keys)| {
                        keys.as_object().expect("keys").iter().all(|(key, values)| {
                            let values = strings(values);
                            let got = ctx.get(&key.to_ascii_lowercase());
                            match op.as_str() {
                                "StringEquals" => got.is_some_and(|g| values.contains(g)),
                                "StringNotEquals" => got.is_none_or(|g| !values.contains(g)),
                                "ArnNotLike" => {
                                    got.is_none_or(|g| !values.iter().any(|v| glob(v, g)))
                                }
                                other => panic!("this reading does not know {other}"),
                            }
                        })
                    })
            })
    })
}

/// `evaluator::identity_denies` on the same request, for the agreement of the two readings.
fn denied_by_the_evaluator(policies: &[ResourcePolicy], r: &Req) -> bool {
    let context = context(r).into_iter().map(|(k, v)| (k, vec![v])).collect();
    let request = Request {
        caller: Caller::Iam {
            account: HOME.to_owned(),
            arn: r.0.to_owned(),
        },
        action: r.1.to_owned(),
        resource: Resource::Arn(resource(r)),
        context,
    };
    policies
        .iter()
        .map(|p| identity_denies(p, &request))
        .inspect(|t| assert_ne!(*t, Tri::Unknown, "the evaluator cannot decide {r:?}"))
        .any(|t| t == Tri::Yes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn the_scp_denies_exactly_what_the_allowlist_does_not_allow(
        file in allowlists(),
        reqs in requests(),
    ) {
        let functions: serde_json::Map<String, Value> = file
            .iter()
            .map(|(name, entries)| {
                let allow: Vec<Value> = entries.iter().map(Entry::json).collect();
                ((*name).to_owned(), json!({"allow": allow}))
            })
            .collect();
        let text = json!({"version": 1, "functions": functions}).to_string();
        let Ok(allowlist) = Allowlist::from_json(&text, "generated.json", None) else {
            // An entry the file refuses twice over (e.g. the same one twice): not this test's.
            return Ok(());
        };
        allowlist.set_home(Home::new("aws", "us-east-1", HOME).unwrap()).unwrap();
        let options = Options { exempt: vec![GUARD.to_owned(), DEPLOYERS.to_owned()], max_policies: 5 };
        let g = generate(&allowlist, &options).unwrap();
        prop_assert!(g.left_out.is_empty(), "{:?}", g.left_out);
        let docs: Vec<Value> = g.policies.iter().map(|p| serde_json::from_str(&p.minified()).unwrap()).collect();
        let parsed: Vec<ResourcePolicy> = g.policies.iter().map(|p| ResourcePolicy::parse(&p.minified()).unwrap()).collect();
        for r in &reqs {
            let want = expected(&file, r);
            let book = docs.iter().any(|d| denied_by_the_book(d, r));
            prop_assert_eq!(book, want, "by the book, {:?}\n{}", r, g.policies[0].minified());
            prop_assert_eq!(denied_by_the_evaluator(&parsed, r), want, "the evaluator, {:?}", r);
        }
    }
}
