//! One hub guards several accounts (moto's multi-account support: calls made with credentials
//! from `sts:AssumeRole` land in the assumed account's backend). The hub guard receives events
//! forwarded from member accounts and fixes each member's policy through that account's member
//! role; a role that cannot be assumed fails only that account's event, with an error line
//! naming the account and the role.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

mod support;

use std::sync::Arc;

use invokeguard::allowlist::Allowlist;
use invokeguard::aws::home::Home;
use invokeguard::guard::{Guard, Level, MemorySink, Settings};
use invokeguard::sdk::LazyAws;
use serde_json::{Value, json};
use support::moto::{self, ACCOUNT, Moto, REGION};
use support::org::{self, OrgSpec};
use support::proxy::{Call, Fault, Hit, Proxy};

const MEMBER_A: &str = "210000000001";
const MEMBER_B: &str = "210000000002";
const MEMBER_C: &str = "210000000003";

/// Creates `name` in `account` with a partner grant and a public one; returns a client acting
/// in that account.
async fn drifted_member_function(
    endpoint: &str,
    account: &str,
    name: &str,
) -> aws_sdk_lambda::Client {
    let member = org::member_account(endpoint, account).await;
    org::guarded_function(&member, name, "222233334444", true).await;
    member.lambda
}

/// A hub guard over an organization of `accounts` member accounts created in moto (ids after
/// `base`), and the scheduled event that makes it sweep.
async fn swept_org(
    moto: &Moto,
    base: u64,
    accounts: usize,
    functions_per_account: usize,
    drift_every: usize,
) -> (org::Org, Proxy, Guard<LazyAws>, MemorySink, Value) {
    let spec = OrgSpec {
        accounts: org::account_ids(base, accounts),
        functions_per_account,
        drift_every,
        allowed_account: "222233334444".to_owned(),
        name_prefix: format!("org{base}-"),
        concurrency: 8,
    };
    let organization = org::create_org(&moto.endpoint, &spec).await;
    let proxy = Proxy::start(&moto.endpoint).await;
    let sink = MemorySink::default();
    let functions: Vec<(&str, &str)> = organization
        .functions
        .iter()
        .map(|f| (f.account.as_str(), f.name.as_str()))
        .collect();
    let g = hub(&proxy, &functions, &sink).await;
    let scheduled = json!({"version": "0", "id": "s", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": ACCOUNT, "region": REGION, "resources": [], "detail": {}});
    (organization, proxy, g, sink, scheduled)
}

fn arn(account: &str, name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{account}:function:{name}")
}

/// An Invoke record forwarded from a member account's default bus to the hub bus.
fn forwarded_invoke(account: &str, name: &str, event_id: &str) -> Value {
    json!({"version": "0", "id": event_id, "detail-type": "AWS API Call via CloudTrail", "source": "aws.lambda",
        "account": account, "region": REGION,
        "detail": {"eventSource": "lambda.amazonaws.com", "eventName": "Invoke", "eventID": event_id,
            "recipientAccountId": account, "awsRegion": REGION,
            "userIdentity": {"type": "AWSAccount", "accountId": "999999999999"},
            "resources": [{"type": "AWS::Lambda::Function", "ARN": arn(account, name)}]}})
}

fn forwarded_change(account: &str, name: &str, event_id: &str) -> Value {
    json!({"version": "0", "id": event_id, "detail-type": "AWS API Call via CloudTrail", "source": "aws.lambda",
        "account": account, "region": REGION,
        "detail": {"eventSource": "lambda.amazonaws.com", "eventName": "AddPermission20150331v2", "eventID": event_id,
            "eventCategory": "Management", "recipientAccountId": account, "awsRegion": REGION,
            "requestParameters": {"functionName": name, "statementId": "public", "principal": "*"},
            "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{account}:user/dev"), "accountId": account}}})
}

async fn hub(proxy: &Proxy, functions: &[(&str, &str)], sink: &MemorySink) -> Guard<LazyAws> {
    let mut guarded = serde_json::Map::new();
    for (account, name) in functions {
        guarded.insert(
            arn(account, name),
            json!({"allow": [{"account": "222233334444"}]}),
        );
    }
    let allowlist = Allowlist::from_json(
        &json!({"version": 1, "functions": guarded}).to_string(),
        "hub",
        None,
    )
    .unwrap();
    allowlist
        .set_home(Home::new("aws", REGION, ACCOUNT).unwrap())
        .unwrap();
    let aws = LazyAws::with_config(moto::sdk_config(&proxy.endpoint).await, None)
        .with_member_role(Some("invokeguard-member".to_owned()));
    let settings = Settings {
        log_level: Level::Debug,
        ..Settings::default()
    };
    Guard::new(allowlist, aws, Arc::new(sink.clone()), settings)
}

fn sids(policy: Option<Value>) -> Vec<String> {
    policy
        .map(|p| p["Statement"].as_array().cloned().unwrap_or_default())
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s["Sid"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn forwarded_events_fix_each_member_policy_through_its_role_and_nothing_else() {
    let moto = Moto::shared();
    let a = drifted_member_function(&moto.endpoint, MEMBER_A, "hub-orders").await;
    let b = drifted_member_function(&moto.endpoint, MEMBER_B, "hub-billing").await;
    // A third account's function of the same name stays as it is: it is not in the file.
    let c = drifted_member_function(&moto.endpoint, MEMBER_C, "hub-orders").await;
    let proxy = Proxy::start(&moto.endpoint).await;
    let sink = MemorySink::default();
    let g = hub(
        &proxy,
        &[(MEMBER_A, "hub-orders"), (MEMBER_B, "hub-billing")],
        &sink,
    )
    .await;

    let ra = g
        .handle_event(forwarded_invoke(MEMBER_A, "hub-orders", "hub-a"), "req-a")
        .await
        .unwrap();
    let rb = g
        .handle_event(forwarded_change(MEMBER_B, "hub-billing", "hub-b"), "req-b")
        .await
        .unwrap();
    let rc = g
        .handle_event(forwarded_invoke(MEMBER_C, "hub-orders", "hub-c"), "req-c")
        .await
        .unwrap();
    assert_eq!(
        (ra.removed, rb.removed, rc.removed, rc.ignored),
        (1, 1, 0, 1)
    );
    assert_eq!(
        sids(moto::stored_policy(&a, "hub-orders", None).await),
        ["partner"]
    );
    assert_eq!(
        sids(moto::stored_policy(&b, "hub-billing", None).await),
        ["partner"]
    );
    assert_eq!(
        sids(moto::stored_policy(&c, "hub-orders", None).await),
        ["partner", "public"]
    );
    // Each member role was assumed once (and its credentials reused), under invokeguard's session name.
    let assumed: Vec<String> = proxy
        .calls_of("POST /")
        .iter()
        .map(|c| c.body.clone())
        .filter(|b| b.contains("Action=AssumeRole"))
        .collect();
    assert!(
        assumed.iter().all(|b| b.contains("invokeguard-hub")),
        "{assumed:?}"
    );
    // Once each: the credentials that proved the role are the ones the client then uses.
    assert_eq!(
        (
            assumed.iter().filter(|b| b.contains(MEMBER_A)).count(),
            assumed.iter().filter(|b| b.contains(MEMBER_B)).count()
        ),
        (1, 1),
        "{assumed:?}"
    );
    assert!(
        !assumed.iter().any(|b| b.contains(MEMBER_C)),
        "the third account is never touched"
    );
}

#[tokio::test]
async fn a_member_role_that_cannot_be_assumed_fails_only_that_accounts_event() {
    let moto = Moto::shared();
    let a = drifted_member_function(&moto.endpoint, MEMBER_A, "hub-denied").await;
    let b = drifted_member_function(&moto.endpoint, MEMBER_B, "hub-fine").await;
    let proxy = Proxy::start(&moto.endpoint).await;
    let sink = MemorySink::default();
    let g = hub(
        &proxy,
        &[(MEMBER_A, "hub-denied"), (MEMBER_B, "hub-fine")],
        &sink,
    )
    .await;
    proxy.inject(Fault::error("POST /", Hit::Nth(1), 403, "AccessDenied"));

    let err = g
        .handle_event(
            forwarded_invoke(MEMBER_A, "hub-denied", "hub-denied-1"),
            "req-a",
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(MEMBER_A), "{err}");
    let ok = g
        .handle_event(
            forwarded_invoke(MEMBER_B, "hub-fine", "hub-fine-1"),
            "req-b",
        )
        .await
        .unwrap();
    assert_eq!(ok.removed, 1);
    let error_line = sink
        .lines()
        .into_iter()
        .find(|l| l["message"] == "error" && l["eventId"] == "hub-denied-1")
        .unwrap();
    let text = error_line["error"].as_str().unwrap();
    assert!(
        text.contains(&format!("arn:aws:iam::{MEMBER_A}:role/invokeguard-member"))
            && text.contains(MEMBER_A),
        "{text}"
    );
    assert_eq!(
        sids(moto::stored_policy(&a, "hub-denied", None).await),
        ["partner", "public"]
    );
    assert_eq!(
        sids(moto::stored_policy(&b, "hub-fine", None).await),
        ["partner"]
    );
}

/// The largest number of `times` (sorted) inside any window of `window`.
fn peak_in_window(times: &[std::time::Instant], window: std::time::Duration) -> usize {
    let mut peak = 0;
    let mut first = 0;
    for (last, t) in times.iter().enumerate() {
        while t.duration_since(times[first]) > window {
            first += 1;
        }
        peak = peak.max(last - first + 1);
    }
    peak
}

#[tokio::test]
async fn a_sweep_over_three_accounts_keeps_each_within_its_own_budget() {
    let moto = Moto::shared();
    let (organization, proxy, g, sink, scheduled) =
        swept_org(moto, 220_000_000_000, 3, 30, 6).await;
    let accounts: Vec<String> = organization
        .members
        .iter()
        .map(|m| m.account.clone())
        .collect();

    let report = g.handle_event(scheduled, "req-sweep").await;
    let report = report.unwrap_or_else(|e| {
        panic!(
            "{e}: {:?}",
            sink.lines()
                .iter()
                .filter(|l| l["level"] == "ERROR")
                .take(3)
                .collect::<Vec<_>>()
        )
    });

    // Every drifted policy is fixed through its account's role, and nothing else changed.
    assert_eq!(report.removed, organization.drifted().count());
    for f in &organization.functions {
        let member = organization.member(&f.account).unwrap();
        assert_eq!(
            org::sids(&member.lambda, &f.name).await,
            ["partner"],
            "{}",
            f.arn
        );
    }
    let sweep = sink.first("sweep").unwrap();
    assert_eq!(
        (
            sweep["policiesRead"].clone(),
            sweep["drift"].clone(),
            sweep["fixed"].clone()
        ),
        (json!(90), json!(15), json!(15))
    );

    // Each account's Lambda calls stay within its budget: 7 a second, nothing saved up, so at
    // most 8 in any second (one more for the jitter between the budget's clock and the proxy's).
    let calls = proxy.calls();
    let mut spans = Vec::new();
    for account in &accounts {
        let times: Vec<std::time::Instant> = calls
            .iter()
            .filter(|c| {
                c.function.as_deref().and_then(org::account_of_arn) == Some(account.as_str())
            })
            .map(|c| c.at)
            .collect();
        // ListAliases, ListVersionsByFunction and GetPolicy for each function, and one write
        // per drifted policy.
        assert_eq!(times.len(), 30 * 3 + 5, "{account}");
        let peak = peak_in_window(&times, std::time::Duration::from_secs(1));
        assert!(peak <= 9, "{account}: {peak} calls within one second");
        spans.push((times[0], times[times.len() - 1]));
    }
    // The accounts were swept side by side, not one after the other: each started before any
    // finished.
    let last_start = spans.iter().map(|s| s.0).max().unwrap();
    let first_end = spans.iter().map(|s| s.1).min().unwrap();
    assert!(
        last_start < first_end,
        "accounts were swept one after another"
    );
    // One role assumption per account.
    let assumed = calls
        .iter()
        .filter(|c| c.body.contains("Action=AssumeRole"))
        .count();
    assert_eq!(assumed, 3);
}

#[tokio::test]
async fn the_hub_binary_fixes_forwarded_events_through_the_member_roles_under_a_runtime_api() {
    use support::runtime_api::{RuntimeApi, spawn_lambda};
    let moto = Moto::shared();
    let a = drifted_member_function(&moto.endpoint, MEMBER_A, "bin-orders").await;
    let b = drifted_member_function(&moto.endpoint, MEMBER_B, "bin-billing").await;
    let c = drifted_member_function(&moto.endpoint, MEMBER_C, "bin-orders").await;
    let proxy = Proxy::start(&moto.endpoint).await;
    let policies = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        policies.path(),
        json!({"version": 1, "functions": {
            arn(MEMBER_A, "bin-orders"): {"allow": [{"account": "222233334444"}]},
            arn(MEMBER_B, "bin-billing"): {"allow": [{"account": "222233334444"}]}}})
        .to_string(),
    )
    .unwrap();
    let api = RuntimeApi::start().await;
    let mut env = moto::guard_env(&proxy.endpoint, policies.path());
    env.push(("INVOKEGUARD_MEMBER_ROLE".into(), "org-guard-member".into()));
    let process = spawn_lambda(
        std::path::Path::new(env!("CARGO_BIN_EXE_invokeguard-lambda")),
        &api,
        &env,
    );

    let ra = api
        .invoke(forwarded_invoke(MEMBER_A, "bin-orders", "bin-a"))
        .await;
    let rb = api
        .invoke(forwarded_change(MEMBER_B, "bin-billing", "bin-b"))
        .await;
    let rc = api
        .invoke(forwarded_invoke(MEMBER_C, "bin-orders", "bin-c"))
        .await;
    let field = |r: &support::runtime_api::Invocation, k: &str| {
        r.outcome.as_ref().ok().map(|o| o[k].clone())
    };
    assert_eq!(field(&ra, "removed"), Some(json!(1)), "{:?}", ra.outcome);
    assert_eq!(field(&rb, "removed"), Some(json!(1)), "{:?}", rb.outcome);
    assert_eq!(field(&rc, "ignored"), Some(json!(1)), "{:?}", rc.outcome);
    assert_eq!(
        sids(moto::stored_policy(&a, "bin-orders", None).await),
        ["partner"]
    );
    assert_eq!(
        sids(moto::stored_policy(&b, "bin-billing", None).await),
        ["partner"]
    );
    assert_eq!(
        sids(moto::stored_policy(&c, "bin-orders", None).await),
        ["partner", "public"]
    );
    let assumed: Vec<String> = proxy
        .calls()
        .into_iter()
        .map(|c| c.body)
        .filter(|b| b.contains("Action=AssumeRole"))
        .collect();
    assert_eq!(assumed.len(), 2, "{assumed:?}");
    for account in [MEMBER_A, MEMBER_B] {
        let role = format!("arn%3Aaws%3Aiam%3A%3A{account}%3Arole%2Forg-guard-member");
        assert!(
            assumed.iter().any(|b| b.contains(&role)),
            "{role}: {assumed:?}"
        );
    }
    // The remediation lines name the member account they acted in.
    let mut lines = Vec::new();
    for _ in 0..200 {
        lines = process
            .stdout_lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["message"] == "remediation")
            .collect();
        if lines.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let accounts: Vec<&str> = lines.iter().filter_map(|l| l["account"].as_str()).collect();
    assert_eq!(accounts, [MEMBER_A, MEMBER_B], "{lines:?}");
}

#[tokio::test]
async fn audit_from_the_hub_reads_member_policies_through_their_roles_and_changes_nothing() {
    let moto = Moto::shared();
    let a = drifted_member_function(&moto.endpoint, MEMBER_A, "cli-audited").await;
    let proxy = Proxy::start(&moto.endpoint).await;
    let policies = tempfile::NamedTempFile::new().unwrap();
    let function = arn(MEMBER_A, "cli-audited");
    std::fs::write(
        policies.path(),
        json!({"version": 1, "functions": {&function: {"allow": [{"account": "222233334444"}]}}})
            .to_string(),
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_invokeguard"))
        .args([
            "audit",
            "--json",
            "--account",
            ACCOUNT,
            "--region",
            REGION,
            "--policies",
        ])
        .arg(policies.path())
        .env_clear()
        .envs(moto::env_for_child(&proxy.endpoint))
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "a grant would go: {stderr}");
    let plans: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(plans.len(), 1, "{plans:?}");
    assert_eq!(plans[0]["function"], function.as_str());
    assert_eq!(plans[0]["remove"][0]["sid"], "public");
    let assumed: Vec<Call> = proxy
        .calls()
        .into_iter()
        .filter(|c| c.body.contains("Action=AssumeRole"))
        .collect();
    assert_eq!(assumed.len(), 1);
    assert!(
        assumed[0]
            .body
            .contains(&format!("{MEMBER_A}%3Arole%2Finvokeguard-member"))
    );
    assert_eq!(
        sids(moto::stored_policy(&a, "cli-audited", None).await),
        ["partner", "public"],
        "audit reads only"
    );
}

#[tokio::test]
async fn each_member_role_is_assumed_once_however_many_accounts() {
    let moto = Moto::shared();
    // More accounts than the SDK's shared identity cache holds (64).
    let (_organization, proxy, g, _sink, scheduled) =
        swept_org(moto, 230_000_000_000, 70, 1, 0).await;

    for sweep in ["req-1", "req-2"] {
        let report = g.handle_event(scheduled.clone(), sweep).await.unwrap();
        assert_eq!(report.removed, 0);
    }
    let calls = proxy.calls();
    let assumed = calls
        .iter()
        .filter(|c| c.body.contains("Action=AssumeRole"))
        .count();
    assert_eq!(assumed, 70, "two sweeps, one role assumption per account");
    let listed = calls
        .iter()
        .filter(|c| c.operation == "ListAliases")
        .count();
    assert_eq!(listed, 2 * 70, "both sweeps reached every account");
}
