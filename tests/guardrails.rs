//! `invokeguard guardrails`: the generated service control policies, judged offline by the
//! evaluator as IAM would (an SCP's Deny statements against the request context), against
//! decisions written by hand from what issue 19 asks: every grant outside the allowlist denied,
//! every allowed one and the guard's own calls let through. Plus the size and what was left out.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

use std::process::{Command, Output};

use invokeguard::allowlist::Allowlist;
use invokeguard::aws::home::Home;
use invokeguard::evaluator::{Caller, Request, Resource, Tri, identity_denies};
use invokeguard::guardrails::{Guardrails, MAX_SCP_CHARS, Options, generate};
use invokeguard::resource_policy::ResourcePolicy;
use serde_json::Value;

const HOME: &str = "999999999999";
const GUARD: &str = "arn:aws:iam::999999999999:role/invokeguard-guard";
const DEPLOYERS: &str = "arn:aws:iam::999999999999:role/cdk-*-cfn-exec-role-*";
const DEPLOYER: &str =
    "arn:aws:iam::999999999999:role/cdk-hnb659fds-cfn-exec-role-999999999999-us-east-1";
const DEVELOPER: &str = "arn:aws:iam::999999999999:role/developer";
const READER: &str = "arn:aws:iam::444455556666:role/reader";

const POLICIES: &str = r#"{
  "version": 1,
  "functions": {
    "Api": { "allow": [
      { "service": "apigateway.amazonaws.com", "sourceArn": "arn:aws:execute-api:us-east-1:999999999999:abc/*" },
      { "account": "111122223333" },
      { "principal": "arn:aws:iam::444455556666:role/reader" } ] },
    "Web": { "allow": [ { "functionUrl": "public" } ] },
    "Org": { "allow": [ { "organization": "o-a1b2c3d4e5" } ] },
    "Closed": { "allow": [] }
  }
}"#;

fn allowlist(text: &str) -> Allowlist {
    let allowlist = Allowlist::from_json(text, "test.json", None).expect("a valid policies file");
    allowlist
        .set_home(Home::new("aws", "us-east-1", HOME).expect("a home"))
        .expect("the home");
    allowlist
}

fn guardrails(text: &str, max_policies: usize) -> Guardrails {
    let options = Options {
        exempt: vec![GUARD.to_owned(), DEPLOYERS.to_owned()],
        max_policies,
    };
    generate(&allowlist(text), &options).expect("generated")
}

fn arn(function: &str) -> String {
    if function.starts_with("arn:") {
        function.to_owned()
    } else {
        format!("arn:aws:lambda:us-east-1:{HOME}:function:{function}")
    }
}

/// One call: who makes it, the action, on what, with `lambda:Principal` and the URL auth type.
fn request(
    caller: &str,
    action: &str,
    function: &str,
    principal: Option<&str>,
    auth: Option<&str>,
) -> Request {
    let mut context = vec![("aws:principalarn".to_owned(), vec![caller.to_owned()])];
    if let Some(p) = principal {
        context.push(("lambda:principal".to_owned(), vec![p.to_owned()]));
    }
    if let Some(a) = auth {
        context.push(("lambda:functionurlauthtype".to_owned(), vec![a.to_owned()]));
    }
    let account = caller.split(':').nth(4).expect("an account").to_owned();
    Request {
        caller: Caller::Iam {
            account,
            arn: caller.to_owned(),
        },
        action: action.to_owned(),
        resource: Resource::Arn(arn(function)),
        context,
    }
}

/// (caller, action, function, lambda:Principal, lambda:FunctionUrlAuthType, decision)
type Row<'a> = (
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Want,
);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    Allowed,
    Denied,
}
use Want::{Allowed, Denied};

fn decision(policies: &[ResourcePolicy], r: &Request) -> Want {
    let denied = policies
        .iter()
        .map(|p| identity_denies(p, r))
        .fold(Tri::No, |acc, t| match (acc, t) {
            (Tri::Yes, _) | (_, Tri::Yes) => Tri::Yes,
            (Tri::No, Tri::No) => Tri::No,
            _ => Tri::Unknown,
        });
    match denied {
        Tri::Yes => Denied,
        Tri::No => Allowed,
        Tri::Unknown => panic!("the evaluator cannot decide {r:?}"),
    }
}

fn parsed(g: &Guardrails) -> Vec<ResourcePolicy> {
    g.policies
        .iter()
        .map(|p| ResourcePolicy::parse(&p.minified()).expect("the SCP parses"))
        .collect()
}

const ADD: &str = "lambda:AddPermission";
const CREATE_URL: &str = "lambda:CreateFunctionUrlConfig";
const UPDATE_URL: &str = "lambda:UpdateFunctionUrlConfig";
const PUT_DOC: &str = "lambda:PutResourcePolicy";

#[test]
fn the_scp_denies_grants_outside_the_allowlist_and_lets_the_allowed_and_the_guard_through() {
    #[rustfmt::skip]
    let table: &[Row] = &[
        // (caller, action, function, lambda:Principal, lambda:FunctionUrlAuthType, decision)
        // AddPermission with a principal the allowlist names: anyone may.
        (DEVELOPER, ADD, "Api", Some("apigateway.amazonaws.com"), None, Allowed),
        (DEVELOPER, ADD, "Api", Some("111122223333"), None, Allowed),
        (DEVELOPER, ADD, "Api", Some("arn:aws:iam::111122223333:root"), None, Allowed),
        (DEVELOPER, ADD, "Api", Some(READER), None, Allowed),
        (DEVELOPER, ADD, "Api:live", Some("111122223333"), None, Allowed),
        // A foreign principal, another service, or `*`: denied to anyone else...
        (DEVELOPER, ADD, "Api", Some("222233334444"), None, Denied),
        (DEVELOPER, ADD, "Api", Some("arn:aws:iam::222233334444:root"), None, Denied),
        (DEVELOPER, ADD, "Api", Some("sns.amazonaws.com"), None, Denied),
        (DEVELOPER, ADD, "Api", Some("*"), None, Denied),
        (DEVELOPER, ADD, "Api", Some("*"), Some("NONE"), Denied),
        (DEVELOPER, ADD, "Api:live", Some("222233334444"), None, Denied),
        (DEVELOPER, ADD, "Api:7", Some("*"), None, Denied),
        (DEVELOPER, ADD, "Closed", Some("apigateway.amazonaws.com"), None, Denied),
        // ...but not to the guard nor to a listed deployer (exempt on purpose).
        (GUARD, ADD, "Api", Some("*"), None, Allowed),
        (GUARD, ADD, "Closed", Some("222233334444"), None, Allowed),
        (DEPLOYER, ADD, "Api", Some("222233334444"), None, Allowed),
        (DEPLOYER, ADD, "Api:live", Some("*"), None, Allowed),
        // An organization's grant is `*` + PrincipalOrgID, and no key sees PrincipalOrgID: the
        // safe side, only the exempt roles may add it.
        (DEVELOPER, ADD, "Org", Some("*"), None, Denied),
        (DEPLOYER, ADD, "Org", Some("*"), None, Allowed),
        // A public URL's `*` grant likewise; the URL itself may be made public.
        (DEVELOPER, ADD, "Web", Some("*"), Some("NONE"), Denied),
        (GUARD, ADD, "Web", Some("*"), Some("NONE"), Allowed),
        // Function URLs: NONE only where the allowlist has `functionUrl: public`.
        (DEVELOPER, CREATE_URL, "Api", None, Some("NONE"), Denied),
        (DEVELOPER, UPDATE_URL, "Api:live", None, Some("NONE"), Denied),
        (DEVELOPER, CREATE_URL, "Closed", None, Some("NONE"), Denied),
        (DEVELOPER, CREATE_URL, "Api", None, Some("AWS_IAM"), Allowed),
        (DEVELOPER, UPDATE_URL, "Api", None, Some("AWS_IAM"), Allowed),
        (DEVELOPER, CREATE_URL, "Web", None, Some("NONE"), Allowed),
        (GUARD, UPDATE_URL, "Api", None, Some("NONE"), Allowed),
        (DEPLOYER, CREATE_URL, "Api", None, Some("NONE"), Allowed),
        // A whole document: no key judges it, so only the guard and the deployers.
        (DEVELOPER, PUT_DOC, "Api", None, None, Denied),
        (DEVELOPER, PUT_DOC, "Web:prod", None, None, Denied),
        (GUARD, PUT_DOC, "Api", None, None, Allowed),
        (DEPLOYER, PUT_DOC, "Closed", None, None, Allowed),
        // Taking grants away and invoking are never denied.
        (DEVELOPER, "lambda:RemovePermission", "Api", Some("*"), None, Allowed),
        (DEVELOPER, "lambda:DeleteResourcePolicy", "Api", None, None, Allowed),
        (DEVELOPER, "lambda:InvokeFunction", "Api", None, None, Allowed),
        // Functions the allowlist does not guard, or a same-named one in another account.
        (DEVELOPER, ADD, "Unguarded", Some("*"), None, Allowed),
        (DEVELOPER, ADD, "arn:aws:lambda:us-east-1:222233334444:function:Api", Some("*"), None, Allowed),
        (DEVELOPER, PUT_DOC, "Unguarded", None, None, Allowed),
    ];
    let g = guardrails(POLICIES, 1);
    assert_eq!(g.policies.len(), 1);
    assert!(g.left_out.is_empty());
    let policies = parsed(&g);
    let mut wrong = Vec::new();
    for (caller, action, function, principal, auth, want) in table {
        let got = decision(
            &policies,
            &request(caller, action, function, *principal, *auth),
        );
        if got != *want {
            wrong.push(format!(
                "{caller} {action} {function} {principal:?} {auth:?}: want {want:?}, got {got:?}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{}\n{}",
        wrong.join("\n"),
        g.policies[0].minified()
    );
}

/// Many guarded functions, each allowing its own partner account.
fn many(n: usize) -> String {
    let functions: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#""Function{i:03}": {{ "allow": [ {{ "account": "{:012}" }} ] }}"#,
                100_000_000_000u64 + i as u64
            )
        })
        .collect();
    format!(
        r#"{{ "version": 1, "functions": {{ {} }} }}"#,
        functions.join(", ")
    )
}

#[test]
fn every_generated_policy_fits_and_the_policies_together_cover_what_they_name() {
    let g = guardrails(&many(30), 5);
    assert!(g.policies.len() > 1, "30 functions do not fit in one SCP");
    assert!(g.left_out.is_empty(), "{:?}", g.left_out);
    let policies = parsed(&g);
    for (i, scp) in g.policies.iter().enumerate() {
        assert_eq!(scp.size, scp.minified().chars().count());
        assert!(scp.size <= MAX_SCP_CHARS, "policy {i}: {}", scp.size);
        for function in &scp.functions {
            let n: u64 = function
                .trim_start_matches("Function")
                .parse()
                .expect("a number");
            let partner = format!("{:012}", 100_000_000_000u64 + n);
            // This policy alone denies the foreign grant and lets the allowed one through.
            let own = std::slice::from_ref(&policies[i]);
            let table = [
                (DEVELOPER, Some("222233334444"), Denied),
                (DEVELOPER, Some("*"), Denied),
                (DEVELOPER, Some(partner.as_str()), Allowed),
                (GUARD, Some("*"), Allowed),
            ];
            for (caller, principal, want) in table {
                let r = request(caller, ADD, function, principal, None);
                assert_eq!(
                    decision(own, &r),
                    want,
                    "policy {i}, {function}, {principal:?}"
                );
                assert_eq!(
                    decision(&policies, &r),
                    want,
                    "all policies, {function}, {principal:?}"
                );
            }
        }
    }
    let covered: usize = g.policies.iter().map(|p| p.functions.len()).sum();
    assert_eq!(covered, 30);
}

#[test]
fn an_allowlist_too_large_for_the_policies_says_what_was_left_out() {
    let g = guardrails(&many(60), 1);
    assert_eq!(g.policies.len(), 1);
    assert!(g.policies[0].size <= MAX_SCP_CHARS);
    assert!(!g.left_out.is_empty());
    let covered = &g.policies[0].functions;
    assert_eq!(covered.len() + g.left_out.len(), 60);
    let policies = parsed(&g);
    for left in &g.left_out {
        assert!(!covered.contains(&left.function));
        assert!(left.reason.contains("--max-policies"), "{}", left.reason);
        // Honest: the left-out function is indeed not protected by the SCP.
        let r = request(DEVELOPER, ADD, &left.function, Some("*"), None);
        assert_eq!(decision(&policies, &r), Allowed, "{}", left.function);
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_invokeguard"))
        .args(args)
        .output()
        .expect("run invokeguard")
}

#[test]
fn the_command_reports_the_size_and_what_was_left_out() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let small = dir.path().join("small.json");
    std::fs::write(&small, POLICIES).expect("written");
    let small = small.to_str().expect("UTF-8");
    let home = ["--account", HOME, "--region", "us-east-1"];
    let mut args = vec![
        "guardrails",
        "--policies",
        small,
        "--guard-role",
        GUARD,
        "--exempt-role",
        DEPLOYERS,
    ];
    args.extend(home);

    let o = run(&args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let document = String::from_utf8(o.stdout).expect("UTF-8");
    let document = document.trim_end();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains(&format!(
            "SCP 1 of 1: {} of 5120 characters (minified)",
            document.chars().count()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("Org: organization o-a1b2c3d4e5"),
        "{stderr}"
    );
    let parsed: Value = serde_json::from_str(document).expect("the document is JSON");
    assert_eq!(parsed["Version"], "2012-10-17");

    let mut json = args.clone();
    json.extend(["--format", "json"]);
    let o = run(&json);
    let report: Value = serde_json::from_slice(&o.stdout).expect("a JSON report");
    assert_eq!(report["limit"], 5120);
    assert_eq!(report["policies"][0]["size"], document.chars().count());
    assert_eq!(report["policies"][0]["content"].to_string(), document);
    assert_eq!(report["leftOut"], Value::Array(vec![]));

    let out = dir.path().join("scp.json");
    let mut to_file = args.clone();
    to_file.extend(["--output", out.to_str().expect("UTF-8")]);
    let o = run(&to_file);
    assert!(o.stdout.is_empty());
    assert_eq!(
        std::fs::read_to_string(&out).expect("written").trim_end(),
        document
    );

    let large = dir.path().join("large.json");
    std::fs::write(&large, many(60)).expect("written");
    let mut args = vec![
        "guardrails",
        "--policies",
        large.to_str().expect("UTF-8"),
        "--guard-role",
        GUARD,
    ];
    args.extend(home);
    let o = run(&args);
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("invokeguard: left out: Function059: does not fit in 1 SCP(s)"),
        "{stderr}"
    );
    let thirty = dir.path().join("thirty.json");
    std::fs::write(&thirty, many(30)).expect("written");
    args[2] = thirty.to_str().expect("UTF-8");
    args.extend(["--max-policies", "5", "--format", "json"]);
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&o.stdout).expect("a JSON report");
    assert!(report["policies"].as_array().expect("policies").len() > 1);
}

#[test]
fn without_a_home_or_a_guard_role_the_command_says_what_that_means() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("p.json");
    std::fs::write(&file, POLICIES).expect("written");
    let o = run(&["guardrails", "--policies", file.to_str().expect("UTF-8")]);
    assert_eq!(o.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("warning: no --account/--region: a function named without its ARN is matched by name in every account and region"), "{stderr}");
    assert!(stderr.contains("warning: no --guard-role"), "{stderr}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("arn:*:lambda:*:*:function:Api"));

    let o = run(&[
        "guardrails",
        "--policies",
        file.to_str().expect("UTF-8"),
        "--exempt-role",
        "deployer",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("--exempt-role \"deployer\": expected an IAM role or user ARN")
    );
}
