//! `make demo`: invokeguard end to end with no AWS account. Starts moto on loopback, creates
//! functions with drifted resource policies, replays Invoke records through the real
//! `invokeguard-lambda` binary under a local Lambda Runtime API, and prints each policy before
//! and after with the guard's log lines. Everything it starts stops when it ends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a demo: any failure is fatal

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;

use serde_json::{Value, json};
use support::moto::{self, ACCOUNT, Moto};
use support::proxy::Proxy;
use support::runtime_api::{RuntimeApi, spawn_lambda};

const PARTNER: &str = "111122223333";
const STRANGER: &str = "444455556666";

fn record(
    function: &str,
    qualifier: Option<&str>,
    identity: Value,
    request: Value,
    id: &str,
) -> Value {
    let arn = format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{function}");
    let mut request = request;
    if request.is_object() {
        request["functionName"] = json!(qualifier.map_or(arn.clone(), |q| format!("{arn}:{q}")));
    }
    json!({"version": "0", "id": id, "detail-type": "AWS API Call via CloudTrail", "source": "aws.lambda",
        "account": ACCOUNT, "region": "us-east-1",
        "detail": {"eventVersion": "1.09", "eventSource": "lambda.amazonaws.com", "eventName": "Invoke",
            "eventID": id, "awsRegion": "us-east-1", "recipientAccountId": ACCOUNT, "userIdentity": identity,
            "requestParameters": request, "resources": [{"type": "AWS::Lambda::Function", "ARN": arn}]}})
}

fn role(account: &str) -> Value {
    json!({"type": "AssumedRole", "accountId": account, "arn": format!("arn:aws:sts::{account}:assumed-role/batch/job")})
}

async fn show(lambda: &aws_sdk_lambda::Client, function: &str) {
    let policy = moto::stored_policy(lambda, function, None).await;
    let statements = policy
        .as_ref()
        .and_then(|p| p["Statement"].as_array().cloned())
        .unwrap_or_default();
    if statements.is_empty() {
        println!("    (no resource policy)");
    }
    for s in statements {
        let mut conditions = Vec::new();
        for (_, keys) in s["Condition"].as_object().cloned().unwrap_or_default() {
            for (k, v) in keys.as_object().cloned().unwrap_or_default() {
                conditions.push(format!("{k}={}", v.as_str().unwrap_or_default()));
            }
        }
        let principal = match &s["Principal"] {
            Value::String(p) => p.clone(),
            Value::Object(m) => m
                .values()
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        };
        println!(
            "    {:<44} {:<26} {}",
            s["Sid"].as_str().unwrap_or("(no sid)"),
            principal,
            conditions.join(" ")
        );
    }
}

#[tokio::main]
async fn main() {
    let binary = PathBuf::from(
        std::env::var("INVOKEGUARD_LAMBDA_BIN")
            .unwrap_or_else(|_| "target/debug/invokeguard-lambda".into()),
    );
    let policies = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies/invokers.json");
    println!("== starting moto (local AWS API emulator) on 127.0.0.1");
    let moto = Moto::start();
    let lambda = moto::lambda_client(&moto.endpoint).await;
    let role_arn = moto::create_role(&moto.endpoint).await;
    for f in ["BlogFunction", "OrdersHandler", "InternalOnly"] {
        moto::create_function(&lambda, f, &role_arn).await;
    }
    moto::publish_version_and_alias(&lambda, "BlogFunction", "prod").await;
    println!("== drifting the resource policies");
    moto::grant(
        &lambda,
        "OrdersHandler",
        "nightly",
        "events.amazonaws.com",
        Some("arn:aws:events:us-east-1:999999999999:rule/orders-nightly"),
        None,
    )
    .await;
    moto::grant(&lambda, "OrdersHandler", "debug-public", "*", None, None).await;
    moto::grant(
        &lambda,
        "OrdersHandler",
        "old-partner",
        STRANGER,
        None,
        None,
    )
    .await;
    moto::grant(
        &lambda,
        "OrdersHandler",
        "sns-any-account",
        "sns.amazonaws.com",
        Some("arn:aws:sns:us-east-1:999999999999:orders"),
        None,
    )
    .await;
    moto::grant(&lambda, "InternalOnly", "temp-access", PARTNER, None, None).await;
    moto::grant(
        &lambda,
        "BlogFunction",
        "s3-no-account",
        "s3.amazonaws.com",
        Some("arn:aws:s3:::uploads"),
        None,
    )
    .await;
    let names = ["OrdersHandler", "InternalOnly", "BlogFunction"];
    println!(
        "\n== BEFORE (policies/invokers.json says: OrdersHandler enforce, InternalOnly enforce with no callers, BlogFunction report)"
    );
    for f in names {
        println!("  {f}");
        show(&lambda, f).await;
    }

    // moto 5.2.5 refuses every RemovePermission that carries a RevisionId; the proxy checks the
    // RevisionId as AWS does and forwards without it (tests/support/proxy.rs).
    let proxy = Proxy::start(&moto.endpoint).await;
    let api = RuntimeApi::start().await;
    let mut env = moto::env_for_child(&proxy.endpoint);
    env.push((
        "INVOKEGUARD_POLICIES".into(),
        policies.display().to_string(),
    ));
    let process = spawn_lambda(&binary, &api, &env);
    let events = [
        (
            "the nightly EventBridge rule invokes OrdersHandler (allowed)",
            record(
                "OrdersHandler",
                None,
                json!({"type": "AWSService", "invokedBy": "events.amazonaws.com"}),
                json!({"sourceArn": "arn:aws:events:us-east-1:999999999999:rule/orders-nightly"}),
                "demo-1",
            ),
        ),
        (
            "a stranger's account invokes OrdersHandler (violation: enforce)",
            record("OrdersHandler", None, role(STRANGER), json!({}), "demo-2"),
        ),
        (
            "the partner account invokes InternalOnly (violation: enforce)",
            record("InternalOnly", None, role(PARTNER), json!({}), "demo-3"),
        ),
        (
            "S3 from another bucket invokes BlogFunction:prod (violation: report mode)",
            record(
                "BlogFunction",
                Some("prod"),
                json!({"type": "AWSService", "invokedBy": "s3.amazonaws.com"}),
                json!({"sourceArn": "arn:aws:s3:::someone-elses-bucket", "sourceAccount": STRANGER}),
                "demo-4",
            ),
        ),
        (
            "an IAM user of this account invokes InternalOnly (not fixable by a resource policy)",
            record(
                "InternalOnly",
                None,
                json!({"type": "IAMUser", "accountId": ACCOUNT, "arn": format!("arn:aws:iam::{ACCOUNT}:user/dev")}),
                json!({}),
                "demo-5",
            ),
        ),
    ];
    println!(
        "\n== replaying {} Invoke records through the invokeguard-lambda binary",
        events.len()
    );
    for (what, event) in events {
        let out = api.invoke(event).await;
        let result = match out.outcome {
            Ok(v) => v.to_string(),
            Err(e) => format!("ERROR {e}"),
        };
        println!("  - {what}\n      -> {result}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    println!("\n== the guard's log lines (CloudWatch Logs in AWS), decisions and actions");
    for line in process.stdout_lines() {
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        match v["message"].as_str() {
            Some("decision") => println!(
                "  decision    {:<14} {:<10} {:<24} caller={}",
                v["function"].as_str().unwrap_or("-"),
                v["verdict"].as_str().unwrap_or("-"),
                v["reason"].as_str().unwrap_or("-"),
                v["caller"]["principal"].as_str().unwrap_or("-")
            ),
            Some("remediation") => println!(
                "  remediation {:<14} {:<6} {:<44} {}",
                v["function"].as_str().unwrap_or("-"),
                v["action"].as_str().unwrap_or("-"),
                v["sid"].as_str().unwrap_or("-"),
                v["outcome"].as_str().unwrap_or("-")
            ),
            Some(_) | None => {}
        }
    }
    println!("\n== AFTER");
    for f in names {
        println!("  {f}");
        show(&lambda, f).await;
    }
    println!(
        "\n(one JSON line per decision and action is what the Lambda writes; rerun with INVOKEGUARD_DEMO_RAW=1 to see them)"
    );
    if std::env::var_os("INVOKEGUARD_DEMO_RAW").is_some() {
        for line in process.stdout_lines() {
            println!("{line}");
        }
    }
    println!("\n== AWS calls the guard made: {:?}", proxy.operations());
    drop(process);
    drop(moto);
    println!("== stopped the guard and moto");
}
