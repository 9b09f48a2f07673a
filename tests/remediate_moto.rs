//! The remediation path with the real aws-sdk clients against moto, through the recording
//! proxy (tests/support/proxy.rs) that counts calls and checks what each request carried.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

mod support;

use std::sync::Arc;

use invokeguard::allowlist::{Allowlist, Apply};
use invokeguard::guard::{EventReport, Guard, Level, MemorySink, Settings};
use invokeguard::plan::plan;
use invokeguard::resource_policy::ResourcePolicy;
use invokeguard::sdk::LazyAws;
use serde_json::{Value, json};
use support::moto::{self, ACCOUNT, Moto};
use support::proxy::{Fault, Hit, Proxy};

const FOREIGN: &str = "444455556666";

struct Env {
    name: String,
    proxy: Proxy,
    lambda: aws_sdk_lambda::Client,
    sink: MemorySink,
    guard: Guard<LazyAws>,
}

fn arn(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}")
}

/// A function guarded by `allow`, the guard talking to moto through a fresh proxy.
async fn setup(name: &str, guarded: Value, bus: Option<&str>) -> Env {
    let moto = Moto::shared();
    let lambda = moto::lambda_client(&moto.endpoint).await;
    let role = moto::create_role(&moto.endpoint).await;
    moto::create_function(&lambda, name, &role).await;
    let policies = json!({"version": 1, "functions": { name: guarded }}).to_string();
    let policies =
        Allowlist::from_json(&policies, "test", Some("invokeguard")).expect("valid policies");
    let proxy = Proxy::start(&moto.endpoint).await;
    let aws = LazyAws::with_config(
        moto::sdk_config(&proxy.endpoint).await,
        bus.map(str::to_owned),
    );
    let sink = MemorySink::default();
    let settings = Settings {
        log_level: Level::Debug,
        conflict_backoff: std::time::Duration::from_millis(10),
        ..Settings::default()
    };
    let guard = Guard::new(policies, aws, Arc::new(sink.clone()), settings);
    Env {
        name: name.to_owned(),
        proxy,
        lambda,
        sink,
        guard,
    }
}

async fn add(
    env: &Env,
    sid: &str,
    principal: &str,
    source_arn: Option<&str>,
    source_account: Option<&str>,
) {
    moto::grant(
        &env.lambda,
        &env.name,
        sid,
        principal,
        source_arn,
        source_account,
    )
    .await;
}

/// An Invoke record of `name` by a role of `account`, qualified when `qualifier` is set.
fn record_by_account(name: &str, account: &str, qualifier: Option<&str>) -> Value {
    let function_name = match qualifier {
        Some(q) => format!("{}:{q}", arn(name)),
        None => arn(name),
    };
    json!({
        "version": "0", "id": "x", "detail-type": "AWS API Call via CloudTrail", "source": "aws.lambda",
        "detail": {
            "eventVersion": "1.09", "eventSource": "lambda.amazonaws.com", "eventName": "Invoke",
            "eventID": format!("ev-{name}-{account}"), "awsRegion": "us-east-1", "recipientAccountId": ACCOUNT,
            "userIdentity": {"type": "AssumedRole", "accountId": account, "arn": format!("arn:aws:sts::{account}:assumed-role/r/s")},
            "requestParameters": {"functionName": function_name},
            "resources": [{"type": "AWS::Lambda::Function", "ARN": arn(name)}]
        }
    })
}

fn sids(policy: &Option<Value>) -> Vec<String> {
    let mut out: Vec<String> = policy
        .as_ref()
        .and_then(|p| p["Statement"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s["Sid"].as_str().map(str::to_owned))
        .collect();
    out.sort();
    out
}

async fn run(env: &Env, event: Value) -> Result<EventReport, String> {
    env.guard
        .handle_event(event, "req-1")
        .await
        .map_err(|e| e.to_string())
}

fn lines(env: &Env, message: &str) -> Vec<Value> {
    env.sink
        .lines()
        .into_iter()
        .filter(|l| l["message"] == message)
        .collect()
}

fn drifted_allowlist() -> Value {
    json!({"allow": [
        {"service": "events.amazonaws.com", "sourceArn": "arn:aws:events:us-east-1:123456789012:rule/nightly"},
        {"service": "s3.amazonaws.com", "sourceArn": "arn:aws:s3:::uploads", "sourceAccount": ACCOUNT},
        {"account": "111122223333"}
    ]})
}

async fn drift(env: &Env) {
    add(
        env,
        "keep-me",
        "events.amazonaws.com",
        Some("arn:aws:events:us-east-1:123456789012:rule/nightly"),
        None,
    )
    .await;
    add(env, "public", "*", None, None).await;
    add(env, "foreign", "999999999999", None, None).await;
    add(
        env,
        "s3-no-account",
        "s3.amazonaws.com",
        Some("arn:aws:s3:::uploads"),
        None,
    )
    .await;
}

#[tokio::test]
async fn a_violation_leaves_exactly_the_allowed_grants_in_the_minimum_calls() {
    let env = setup("drifted", drifted_allowlist(), None).await;
    drift(&env).await;
    let report = run(&env, record_by_account("drifted", FOREIGN, None)).await;
    for l in env.sink.lines() {
        eprintln!("LINE {l}");
    }
    eprintln!("OPS {:?}", env.proxy.calls());
    let report = report.expect("remediated");
    assert_eq!(
        (
            report.violations,
            report.removed,
            report.added,
            report.failed,
            report.unfixed
        ),
        (1, 3, 2, 0, 0)
    );

    // One GetPolicy plus one call per statement changed; additions first, so an allowed
    // caller never goes without its grant; RevisionId on the first only.
    let calls = env.proxy.calls();
    let ops: Vec<&str> = calls.iter().map(|c| c.operation.as_str()).collect();
    assert_eq!(
        ops,
        [
            "GetPolicy",
            "AddPermission",
            "AddPermission",
            "RemovePermission",
            "RemovePermission",
            "RemovePermission"
        ]
    );
    assert_eq!(report.api_calls, 6);
    assert!(
        calls[1].revision_id.is_some(),
        "the first mutation carries GetPolicy's RevisionId"
    );
    assert!(calls[2..].iter().all(|c| c.revision_id.is_none()));

    let stored = moto::stored_policy(&env.lambda, "drifted", None).await;
    let kept = sids(&stored);
    assert!(kept.contains(&"keep-me".to_owned()), "{kept:?}");
    assert_eq!(kept.len(), 3, "{stored:?}");
    // What is stored now plans to nothing: exactly the allowed grants.
    let policies = Allowlist::from_json(
        &json!({"version": 1, "functions": {"drifted": drifted_allowlist()}}).to_string(),
        "t",
        None,
    )
    .unwrap();
    let allow = &policies.lookup("drifted", None).unwrap().1.allow;
    let current = ResourcePolicy::from_value(&stored.clone().unwrap()).unwrap();
    assert!(plan("drifted", None, allow, &current, Apply::Permissions).is_empty());

    let remediations = lines(&env, "remediation");
    assert_eq!(remediations.len(), 5);
    assert!(remediations.iter().all(|l| l["outcome"] == "applied"
        && l["eventId"] == "ev-drifted-444455556666"
        && l["requestId"] == "req-1"));
    let removed: Vec<&str> = remediations
        .iter()
        .filter(|l| l["action"] == "remove")
        .filter_map(|l| l["sid"].as_str())
        .collect();
    assert_eq!(removed.len(), 3);
    assert!(
        removed.contains(&"public")
            && removed.contains(&"foreign")
            && removed.contains(&"s3-no-account")
    );
    let decision = &lines(&env, "decision")[0];
    assert_eq!(
        (
            decision["verdict"].as_str(),
            decision["caller"]["account"].as_str()
        ),
        (Some("violation"), Some(FOREIGN))
    );
    assert_eq!(lines(&env, "summary")[0]["removed"], 3);

    // The same violation again finds nothing to change: reconciling is idempotent.
    // The same violation again, right away: the policy was just verified, so no call at all.
    env.proxy.clear();
    let again = run(&env, record_by_account("drifted", FOREIGN, None))
        .await
        .expect("second run");
    assert_eq!((again.coalesced, again.api_calls), (1, 0));
    assert!(env.proxy.calls().is_empty());
}

#[tokio::test]
async fn reconciling_again_finds_nothing_to_change() {
    let mut env = setup("idempotent", drifted_allowlist(), None).await;
    drift(&env).await;
    let policies = Allowlist::from_json(
        &json!({"version": 1, "functions": {"idempotent": drifted_allowlist()}}).to_string(),
        "t",
        None,
    )
    .unwrap();
    let settings = Settings {
        verified_ttl: std::time::Duration::ZERO,
        ..Settings::default()
    };
    env.guard = Guard::new(
        policies,
        LazyAws::with_config(moto::sdk_config(&env.proxy.endpoint).await, None),
        Arc::new(env.sink.clone()),
        settings,
    );
    run(&env, record_by_account("idempotent", FOREIGN, None))
        .await
        .expect("first run");
    env.proxy.clear();
    let again = run(&env, record_by_account("idempotent", FOREIGN, None))
        .await
        .expect("second run");
    assert_eq!((again.removed, again.added, again.coalesced), (0, 0, 0));
    assert_eq!(env.proxy.operations(), ["GetPolicy"]);
}

#[tokio::test]
async fn report_mode_logs_the_same_plan_and_changes_nothing() {
    let mut guarded = drifted_allowlist();
    guarded["mode"] = json!("report");
    let env = setup("reported", guarded, None).await;
    drift(&env).await;
    let before = sids(&moto::stored_policy(&env.lambda, "reported", None).await);
    let report = run(&env, record_by_account("reported", FOREIGN, None))
        .await
        .expect("reported");
    assert_eq!(
        (
            report.violations,
            report.unfixed,
            report.removed,
            report.added
        ),
        (1, 1, 0, 0)
    );
    assert_eq!(env.proxy.operations(), ["GetPolicy"]);
    assert_eq!(
        sids(&moto::stored_policy(&env.lambda, "reported", None).await),
        before
    );
    let remediations = lines(&env, "remediation");
    assert_eq!(remediations.len(), 5);
    assert!(
        remediations
            .iter()
            .all(|l| l["outcome"] == "skipped-report-mode" && l["mode"] == "report")
    );
}

#[tokio::test]
async fn allowed_and_ignored_records_make_no_call_at_all() {
    let env = setup(
        "quiet",
        json!({"allow": [{"account": FOREIGN}]}),
        Some("invokeguard"),
    )
    .await;
    let report = run(&env, record_by_account("quiet", FOREIGN, None))
        .await
        .expect("allowed");
    assert_eq!(report.allowed, 1);
    let report = run(&env, record_by_account("not-guarded", "999999999999", None))
        .await
        .expect("ignored");
    assert_eq!(report.ignored, 1);
    assert!(env.proxy.calls().is_empty(), "{:?}", env.proxy.operations());
    assert_eq!(lines(&env, "decision").len(), 2);
}

#[tokio::test]
async fn a_same_account_caller_is_reported_and_no_policy_is_touched() {
    let env = setup("iamcaller", json!({"allow": []}), None).await;
    add(&env, "public", "*", None, None).await;
    let report = run(&env, record_by_account("iamcaller", ACCOUNT, None))
        .await
        .expect("reported");
    assert_eq!((report.violations, report.unfixed), (1, 1));
    assert!(
        env.proxy.calls().is_empty(),
        "not fixable: no GetPolicy either"
    );
    assert_eq!(lines(&env, "decision")[0]["reason"], "same-account-iam");
    assert_eq!(
        sids(&moto::stored_policy(&env.lambda, "iamcaller", None).await),
        ["public"]
    );
}

#[tokio::test]
async fn an_alias_record_reconciles_the_alias_policy_only() {
    let env = setup(
        "aliased",
        json!({"qualifiers": ["live"], "allow": [{"account": "111122223333"}]}),
        None,
    )
    .await;
    moto::publish_version_and_alias(&env.lambda, "aliased", "live").await;
    let report = run(&env, record_by_account("aliased", FOREIGN, Some("live")))
        .await
        .expect("remediated");
    assert_eq!(report.added, 1);
    // moto keeps one policy per function whatever the qualifier, so what reaches AWS is checked
    // on the requests: every call names the alias, none the unqualified function.
    let calls = env.proxy.calls();
    assert_eq!(
        calls
            .iter()
            .map(|c| c.operation.as_str())
            .collect::<Vec<_>>(),
        ["GetPolicy", "AddPermission"]
    );
    assert!(
        calls.iter().all(|c| c.qualifier.as_deref() == Some("live")),
        "{calls:?}"
    );
    assert_eq!(lines(&env, "remediation")[0]["qualifier"], "live");
}

#[tokio::test]
async fn an_unqualified_record_reconciles_the_function_and_its_listed_qualifiers() {
    let env = setup("listed", json!({"qualifiers": ["live"], "allow": []}), None).await;
    moto::publish_version_and_alias(&env.lambda, "listed", "live").await;
    run(&env, record_by_account("listed", FOREIGN, None))
        .await
        .expect("remediated");
    let qualifiers: Vec<Option<String>> = env
        .proxy
        .calls_of("GetPolicy")
        .into_iter()
        .map(|c| c.qualifier)
        .collect();
    assert_eq!(qualifiers, [None, Some("live".to_owned())]);
}

#[tokio::test]
async fn a_function_without_a_policy_gets_every_allowed_grant() {
    let env = setup("bare", json!({"allow": [{"account": "111122223333"}, {"service": "sns.amazonaws.com", "sourceArn": "arn:aws:sns:us-east-1:123456789012:t"}]}), None).await;
    let report = run(&env, record_by_account("bare", FOREIGN, None))
        .await
        .expect("remediated");
    assert_eq!(report.added, 2);
    assert_eq!(
        env.proxy.operations(),
        ["GetPolicy", "AddPermission", "AddPermission"]
    );
    let stored = moto::stored_policy(&env.lambda, "bare", None).await;
    assert_eq!(sids(&stored).len(), 2);
    assert!(sids(&stored).iter().all(|s| s.starts_with("invokeguard-")));
}

#[tokio::test]
async fn a_missing_function_is_logged_and_the_event_is_done() {
    let env = setup("present", json!({"allow": []}), None).await;
    let policies = Allowlist::from_json(
        &json!({"version": 1, "functions": {"vanished": {"allow": []}}}).to_string(),
        "t",
        None,
    )
    .unwrap();
    let guard = Guard::new(
        policies,
        LazyAws::with_config(moto::sdk_config(&env.proxy.endpoint).await, None),
        Arc::new(env.sink.clone()),
        Settings::default(),
    );
    let report = guard
        .handle_event(record_by_account("vanished", FOREIGN, None), "req-2")
        .await
        .expect("done, not retried");
    assert_eq!((report.violations, report.api_calls), (1, 1));
    let errors = lines(&env, "error");
    assert!(
        errors.iter().any(|l| l["error"]
            .as_str()
            .unwrap_or_default()
            .contains("function not found")),
        "{errors:?}"
    );
}

#[tokio::test]
async fn a_stale_revision_restarts_from_a_fresh_getpolicy() {
    let env = setup(
        "stale",
        json!({"allow": [{"account": "111122223333"}, {"account": "222233334444"}]}),
        None,
    )
    .await;
    add(&env, "partner", "222233334444", None, None).await;
    add(&env, "public", "*", None, None).await;
    env.proxy
        .inject(Fault::precondition_failed("RemovePermission", Hit::Nth(1)));
    let report = run(&env, record_by_account("stale", FOREIGN, None))
        .await
        .expect("converged");
    assert_eq!((report.removed, report.added), (1, 1));
    // The addition lands; the removal meets a changed policy and is planned again.
    assert_eq!(
        env.proxy.operations(),
        [
            "GetPolicy",
            "AddPermission",
            "RemovePermission",
            "GetPolicy",
            "RemovePermission"
        ]
    );
    let outcomes: Vec<String> = lines(&env, "remediation")
        .iter()
        .map(|l| l["outcome"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(outcomes, ["applied", "conflict-retried", "applied"]);
    assert_eq!(
        sids(&moto::stored_policy(&env.lambda, "stale", None).await).len(),
        2
    );
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk_with_backoff() {
    let env = setup(
        "throttled",
        json!({"allow": [{"account": "111122223333"}]}),
        None,
    )
    .await;
    env.proxy
        .inject(Fault::throttle("AddPermission", Hit::Next(2)));
    let report = run(&env, record_by_account("throttled", FOREIGN, None))
        .await
        .expect("succeeded after retries");
    assert_eq!(report.added, 1);
    assert_eq!(
        env.proxy.operations(),
        [
            "GetPolicy",
            "AddPermission",
            "AddPermission",
            "AddPermission"
        ]
    );
    assert_eq!(lines(&env, "remediation")[0]["outcome"], "applied");
}

#[tokio::test]
async fn throttling_past_the_retry_budget_fails_the_event_so_lambda_retries() {
    let env = setup(
        "choked",
        json!({"allow": [{"account": "111122223333"}]}),
        None,
    )
    .await;
    env.proxy
        .inject(Fault::throttle("AddPermission", Hit::Always));
    let err = run(&env, record_by_account("choked", FOREIGN, None))
        .await
        .expect_err("gave up");
    assert!(err.contains("incomplete"), "{err}");
    let failed = lines(&env, "remediation");
    assert_eq!(failed[0]["outcome"], "failed");
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("TooManyRequestsException")
    );
    assert_eq!(
        env.proxy.calls_of("AddPermission").len(),
        4,
        "the SDK's attempt budget, no more"
    );
}

#[tokio::test]
async fn a_policy_with_no_allowed_grant_left_is_reconciled_to_the_allowlist() {
    // Today's main refused this plan ("would remove every grant") and left the public grant open.
    let env = setup(
        "swapped",
        json!({"allow": [{"account": "111122223333"}]}),
        None,
    )
    .await;
    add(&env, "partner-swapped", "111122224444", None, None).await;
    add(&env, "public", "*", None, None).await;
    let report = run(&env, record_by_account("swapped", FOREIGN, None))
        .await
        .expect("reconciled");
    assert_eq!((report.unfixed, report.removed, report.added), (0, 2, 1));
    assert_eq!(
        env.proxy.operations(),
        [
            "GetPolicy",
            "AddPermission",
            "RemovePermission",
            "RemovePermission"
        ]
    );
    let stored = sids(&moto::stored_policy(&env.lambda, "swapped", None).await);
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(stored[0].starts_with("invokeguard-account-"), "{stored:?}");
}

#[tokio::test]
async fn the_guard_never_edits_its_own_policy_nor_an_unlisted_function() {
    let env = setup("bystander", json!({"allow": []}), None).await;
    add(&env, "public", "*", None, None).await;
    let policies = Allowlist::from_json(
        &json!({"version": 1, "functions": {"invokeguard": {"allow": []}}}).to_string(),
        "t",
        None,
    )
    .unwrap();
    let settings = Settings {
        guard_function: Some("invokeguard".to_owned()),
        ..Settings::default()
    };
    let guard = Guard::new(
        policies,
        LazyAws::with_config(moto::sdk_config(&env.proxy.endpoint).await, None),
        Arc::new(env.sink.clone()),
        settings,
    );
    let own = guard
        .handle_event(record_by_account("invokeguard", FOREIGN, None), "req-own")
        .await
        .expect("reported");
    assert_eq!((own.violations, own.unfixed), (1, 1));
    let other = guard
        .handle_event(record_by_account("bystander", FOREIGN, None), "req-other")
        .await
        .expect("ignored");
    assert_eq!(other.ignored, 1);
    assert!(env.proxy.calls().is_empty(), "{:?}", env.proxy.operations());
    assert!(
        lines(&env, "error")
            .iter()
            .any(|l| l["error"] == "refusing to edit the guard's own resource policy")
    );
    assert_eq!(
        sids(&moto::stored_policy(&env.lambda, "bystander", None).await),
        ["public"]
    );
}
