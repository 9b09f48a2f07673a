//! `make demo`: invokeguard end to end with no AWS account. Starts moto on loopback, creates
//! functions with drifted resource policies, replays Invoke records through the real
//! `invokeguard-lambda` binary under a local Lambda Runtime API, and prints each policy before
//! and after with the guard's log lines. Everything it starts stops when it ends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a demo: any failure is fatal

#[path = "../tests/support/mod.rs"]
mod support;
#[path = "demo/view.rs"]
mod view;

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

/// Prints a function's policy, one statement a line, and returns each statement's (sid, principal).
async fn show(lambda: &aws_sdk_lambda::Client, function: &str) -> Vec<(String, String)> {
    let policy = moto::stored_policy(lambda, function, None).await;
    let statements = policy
        .as_ref()
        .and_then(|p| p["Statement"].as_array().cloned())
        .unwrap_or_default();
    if statements.is_empty() {
        println!("    (no resource policy)");
    }
    let mut grants = Vec::new();
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
        let sid = s["Sid"].as_str().unwrap_or("(no sid)").to_owned();
        println!("    {sid:<44} {principal:<26} {}", conditions.join(" "));
        grants.push((sid, principal));
    }
    grants
}

fn print_lines(lines: Vec<String>) {
    for line in lines {
        println!("{line}");
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
            Ok(v) => view::response(&v),
            Err(e) => format!("ERROR {e}"),
        };
        println!("  - {what}\n      -> {result}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let lines: Vec<Value> = process
        .stdout_lines()
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let allowlist: Value =
        serde_json::from_str(&std::fs::read_to_string(&policies).unwrap()).unwrap();
    println!("\n== what the guard decided, per Invoke record (its `decision` log lines)");
    print_lines(view::decisions(&lines, &allowlist));
    println!("\n== what the guard changed, and why (its `remediation` log lines: the plan's why)");
    print_lines(view::actions(&lines, &allowlist));
    println!("\n== AFTER");
    let mut after = Vec::new();
    for f in names {
        println!("  {f}");
        after.push((f, show(&lambda, f).await));
    }
    println!("\n== recap");
    print_lines(view::recap(&lines, &after));
    // What moto answers for the alias: its one policy per function, or nothing, never the
    // alias's own as AWS keeps it.
    let prod = moto::stored_policy(&lambda, "BlogFunction", Some("prod")).await;
    let prod_sids: Vec<String> = prod
        .as_ref()
        .and_then(|p| p["Statement"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|s| s["Sid"].as_str().unwrap_or("(no sid)").to_owned())
        .collect();
    println!("\n== a word on aliases");
    println!(
        "   In AWS, BlogFunction:prod has a resource policy of its own (so does each version). S3 invoked"
    );
    println!(
        "   through the alias, so the guard judged and planned prod's policy, not the function's."
    );
    println!(
        "   moto (the emulator) keeps one policy per function whatever the qualifier and cannot keep the"
    );
    println!(
        "   alias's grants apart: asked for BlogFunction:prod it answered the function's statements ({}),",
        prod_sids.join(", ")
    );
    println!(
        "   whose Resource is the function, not the alias. The guard keeps such a statement as granting"
    );
    println!(
        "   nothing on prod, so its plan for prod adds every allow entry (report mode: not written). In AWS"
    );
    println!(
        "   the alias's own grants are listed and judged; the tests check that against the in-memory AWS"
    );
    println!("   and a proxy that keeps a policy per function and qualifier.");
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
