//! One hub guards several accounts (moto's multi-account support: calls made with credentials
//! from `sts:AssumeRole` land in the assumed account's backend). The hub guard receives events
//! forwarded from member accounts and fixes each member's policy through that account's member
//! role; a role that cannot be assumed fails only that account's event, with an error line
//! naming the account and the role.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

mod support;

use std::sync::Arc;

use invokeguard::allowlist::Allowlist;
use invokeguard::home::Home;
use invokeguard::remediate::{Guard, LazyAws, Level, MemorySink, Settings};
use serde_json::{Value, json};
use support::http;
use support::moto::{self, ACCOUNT, Moto, REGION};
use support::proxy::{Fault, Hit, Proxy};

const MEMBER_A: &str = "210000000001";
const MEMBER_B: &str = "210000000002";
const MEMBER_C: &str = "210000000003";

/// A Lambda client acting in `account` (moto: assumed-role credentials select the backend).
async fn member_lambda(endpoint: &str, account: &str) -> aws_sdk_lambda::Client {
    let base = moto::sdk_config(endpoint).await;
    let creds = aws_sdk_sts::Client::new(&base)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/setup"))
        .role_session_name("test-setup")
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let config = base
        .to_builder()
        .credentials_provider(aws_sdk_lambda::config::SharedCredentialsProvider::new(
            aws_sdk_lambda::config::Credentials::new(
                creds.access_key_id(),
                creds.secret_access_key(),
                Some(creds.session_token().to_owned()),
                None,
                "moto-member",
            ),
        ))
        .build();
    aws_sdk_lambda::Client::new(&config)
}

/// Creates `name` in `account` with a partner grant and a public one.
async fn drifted_member_function(
    endpoint: &str,
    account: &str,
    name: &str,
) -> aws_sdk_lambda::Client {
    // Moto's CreateFunction wants the execution role in the account's IAM.
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let body = format!(
        "Action=CreateRole&Version=2010-05-08&RoleName=exec&AssumeRolePolicyDocument={}",
        http::url_encode(&trust.to_string())
    );
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20250101/{REGION}/iam/aws4_request, SignedHeaders=host, Signature=0000"
    );
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Authorization", auth.as_str()),
        ("x-moto-account-id", account),
    ];
    let _ = http::request(endpoint, "POST", "/", &headers, body.as_bytes()).await;
    let lambda = member_lambda(endpoint, account).await;
    moto::create_function(&lambda, name, &format!("arn:aws:iam::{account}:role/exec")).await;
    moto::grant(&lambda, name, "partner", "222233334444", None, None).await;
    moto::grant(&lambda, name, "public", "*", None, None).await;
    lambda
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
    assert!(
        assumed.iter().any(|b| b.contains(MEMBER_A))
            && assumed.iter().any(|b| b.contains(MEMBER_B))
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
