//! Exact reads through the real SDK clients (moto behind the project's proxy): a GetPolicy 404
//! is "no policy" only when Lambda says the function is there without one ("The resource you
//! requested does not exist."); any other 404 (another region's ARN: "Functions from
//! 'eu-west-1' are not reachable in this region", another function) fails the event and counts
//! unfixed, never read as an empty policy. A function of the guard's own account in another
//! region is called in that region. Published versions are listed with ListVersionsByFunction.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

mod support;

use std::sync::Arc;
use std::time::Duration;

use invokeguard::allowlist::Allowlist;
use invokeguard::aws::home::Home;
use invokeguard::guard::{Guard, Level, MemorySink, Settings};
use invokeguard::sdk::LazyAws;
use serde_json::{Value, json};
use support::moto::{self, ACCOUNT, Moto, REGION};
use support::proxy::{Action, Fault, Hit, Proxy};

const OTHER_REGION: &str = "eu-west-1";

fn guard(functions: Value, config: aws_config::SdkConfig) -> (Guard<LazyAws>, MemorySink) {
    let text = json!({"version": 1, "functions": functions}).to_string();
    let policies = Allowlist::from_json(&text, "test", None).unwrap();
    policies
        .set_home(Home::new("aws", REGION, ACCOUNT).unwrap())
        .unwrap();
    let sink = MemorySink::default();
    let settings = Settings {
        log_level: Level::Debug,
        conflict_backoff: Duration::from_millis(10),
        verified_ttl: Duration::ZERO,
        ..Settings::default()
    };
    let aws = LazyAws::with_config(config, None);
    (
        Guard::new(policies, aws, Arc::new(sink.clone()), settings),
        sink,
    )
}

fn allow() -> Value {
    json!({"allow": [{"account": "222233334444"}]})
}

/// An Invoke by another account of `arn`: a violation to fix.
fn foreign_invoke(arn: &str) -> Value {
    json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke", "eventID": "e1",
        "userIdentity": {"type": "AWSAccount", "accountId": "999999999999"},
        "requestParameters": null,
        "resources": [{"type": "AWS::Lambda::Function", "ARN": arn}]})
}

fn sids(policy: Option<Value>) -> Vec<String> {
    policy
        .and_then(|p| p["Statement"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s["Sid"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn the_hubs_own_function_in_another_region_is_read_and_fixed_there() {
    let moto = Moto::shared();
    let name = "exact-other-region";
    let base = moto::sdk_config(&moto.endpoint).await;
    let regional = aws_sdk_lambda::config::Builder::from(&base)
        .region(aws_sdk_lambda::config::Region::new(OTHER_REGION))
        .build();
    let lambda = aws_sdk_lambda::Client::from_conf(regional);
    let role = moto::create_role(&moto.endpoint).await;
    let arn = moto::create_function(&lambda, name, &role).await;
    assert!(arn.contains(OTHER_REGION), "{arn}");
    moto::grant(&lambda, name, "public", "*", None, None).await;
    // The guard's clients are configured for its home region.
    let (g, _) = guard(json!({ arn.clone(): allow() }), base);
    let report = g.handle_event(foreign_invoke(&arn), "req").await.unwrap();
    assert_eq!((report.unfixed, report.removed), (0, 1), "{report:?}");
    let left = sids(moto::stored_policy(&lambda, name, None).await);
    assert!(!left.contains(&"public".to_owned()), "{left:?}");
}

/// A function with a public grant, behind a proxy answering its GetPolicy with this 404.
async fn answered_404(name: &str, message: &str) -> (Proxy, aws_sdk_lambda::Client) {
    let moto = Moto::shared();
    let lambda = moto::function_with_grants(&moto.endpoint, name, &[("public", "*")]).await;
    let proxy = Proxy::start(&moto.endpoint).await;
    proxy.inject(Fault::new(
        "GetPolicy",
        Hit::Always,
        Action::Error {
            status: 404,
            error_type: "ResourceNotFoundException".into(),
            message: message.into(),
        },
    ));
    (proxy, lambda)
}

#[tokio::test]
async fn a_404_that_does_not_say_no_policy_fails_the_event_and_counts_unfixed() {
    let cases = [
        (
            "exact-wrong-region",
            "Functions from 'eu-west-1' are not reachable in this region".to_owned(),
        ),
        (
            "exact-other-function",
            format!("Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:another"),
        ),
        ("exact-unexplained", String::new()),
    ];
    for (name, message) in cases {
        let (proxy, lambda) = answered_404(name, &message).await;
        let arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}");
        let (g, sink) = guard(
            json!({ name: allow() }),
            moto::sdk_config(&proxy.endpoint).await,
        );
        let err = g.handle_event(foreign_invoke(&arn), "req").await;
        assert!(err.is_err(), "{name}: {err:?}");
        let summary = sink.first("summary").unwrap();
        assert_eq!(summary["unfixed"], 1, "{name}");
        // Nothing was written on the strength of a policy never read.
        let writes: Vec<String> = proxy
            .operations()
            .into_iter()
            .filter(|o| o.ends_with("Permission"))
            .collect();
        assert!(writes.is_empty(), "{name}: {writes:?}");
        let left = sids(moto::stored_policy(&lambda, name, None).await);
        assert_eq!(left, ["public"], "{name}");
    }
}

#[tokio::test]
async fn no_policy_is_read_as_empty_when_lambda_says_so() {
    let name = "exact-no-policy";
    let (proxy, lambda) = answered_404(name, "The resource you requested does not exist.").await;
    proxy.clear_faults();
    // moto's own answer for a function without a policy.
    lambda
        .remove_permission()
        .function_name(name)
        .statement_id("public")
        .send()
        .await
        .unwrap();
    let arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}");
    let (g, _) = guard(
        json!({ name: allow() }),
        moto::sdk_config(&proxy.endpoint).await,
    );
    let report = g.handle_event(foreign_invoke(&arn), "req").await.unwrap();
    assert_eq!((report.added, report.unfixed), (1, 0), "{report:?}");
}

#[tokio::test]
async fn the_sweep_lists_published_versions_and_reads_their_policies() {
    let moto = Moto::shared();
    let name = "exact-versions";
    let lambda = moto::function_with_grants(&moto.endpoint, name, &[]).await;
    let (version, _) = moto::publish_version_and_alias(&lambda, name, "live").await;
    let proxy = Proxy::start(&moto.endpoint).await;
    let (g, sink) = guard(
        json!({ name: allow() }),
        moto::sdk_config(&proxy.endpoint).await,
    );
    g.handle_event(
        json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}),
        "req",
    )
    .await
    .unwrap();
    let listed = proxy.calls_of("ListVersionsByFunction");
    assert_eq!(listed.len(), 1);
    let read: Vec<Option<String>> = proxy
        .calls_of("GetPolicy")
        .into_iter()
        .map(|c| c.qualifier)
        .collect();
    assert!(read.contains(&Some(version.clone())), "{read:?}");
    assert!(!read.contains(&Some("$LATEST".to_owned())), "{read:?}");
    assert_eq!(sink.first("sweep").unwrap()["policiesRead"], 3);
}
