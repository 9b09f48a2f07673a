//! The test harnesses themselves: moto, the fault proxy and the Runtime API behave as the
//! integration tests assume.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

mod support;

use std::time::{Duration, Instant};

use aws_sdk_lambda::operation::add_permission::AddPermissionError;
use serde_json::json;
use support::http;
use support::moto::{self, Moto};
use support::proxy::{Fault, Hit, Proxy};
use support::runtime_api::RuntimeApi;

async fn function_behind_proxy(name: &str) -> (Proxy, aws_sdk_lambda::Client) {
    let moto = Moto::shared();
    let role = moto::create_role(&moto.endpoint).await;
    let direct = moto::lambda_client(&moto.endpoint).await;
    moto::create_function(&direct, name, &role).await;
    let proxy = Proxy::start(&moto.endpoint).await;
    let client = moto::lambda_client(&proxy.endpoint).await;
    (proxy, client)
}

fn add_permission(
    client: &aws_sdk_lambda::Client,
    name: &str,
    sid: &str,
) -> aws_sdk_lambda::operation::add_permission::builders::AddPermissionFluentBuilder {
    client
        .add_permission()
        .function_name(name)
        .statement_id(sid)
        .action("lambda:InvokeFunction")
        .principal("events.amazonaws.com")
}

#[tokio::test]
async fn moto_lambda_round_trip_is_recorded_by_the_proxy() {
    let name = "selftest-roundtrip";
    let (proxy, client) = function_behind_proxy(name).await;
    let (version, alias_arn) = moto::publish_version_and_alias(&client, name, "live").await;
    assert_eq!(version, "1");
    assert!(
        alias_arn.ends_with(":function:selftest-roundtrip:live"),
        "{alias_arn}"
    );

    assert_eq!(moto::stored_policy(&client, name, None).await, None);
    add_permission(&client, name, "s1").send().await.unwrap();
    add_permission(&client, name, "s2")
        .qualifier("live")
        .send()
        .await
        .unwrap();
    client
        .add_permission()
        .function_name(name)
        .statement_id("s3")
        .action("lambda:InvokeFunction")
        .principal("111122223333")
        .source_arn("arn:aws:events:us-east-1:111122223333:rule/r")
        .send()
        .await
        .unwrap();

    // moto keeps one policy per function, shared by $LATEST, versions and aliases; a
    // qualified statement only differs by its Resource.
    let policy = moto::stored_policy(&client, name, None).await.unwrap();
    assert_eq!(
        moto::stored_policy(&client, name, Some("live"))
            .await
            .as_ref(),
        Some(&policy)
    );
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 3, "{policy}");
    let arn = "arn:aws:lambda:us-east-1:123456789012:function:selftest-roundtrip";
    assert_eq!(statements[0]["Resource"], arn);
    assert_eq!(statements[1]["Resource"], format!("{arn}:live"));
    assert_eq!(
        statements[0]["Principal"],
        json!({"Service": "events.amazonaws.com"})
    );
    // Unlike Lambda, moto keeps a bare account id as given rather than an :root ARN.
    assert_eq!(statements[2]["Principal"], json!("111122223333"));
    assert_eq!(
        statements[2]["Condition"],
        json!({"ArnLike": {"AWS:SourceArn": "arn:aws:events:us-east-1:111122223333:rule/r"}})
    );

    let revision = client
        .get_policy()
        .function_name(name)
        .send()
        .await
        .unwrap()
        .revision_id
        .unwrap();
    client
        .remove_permission()
        .function_name(name)
        .statement_id("s1")
        .revision_id(&revision)
        .send()
        .await
        .unwrap();
    let stale = client
        .remove_permission()
        .function_name(name)
        .statement_id("s2")
        .revision_id(&revision)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(stale.is_precondition_failed_exception(), "{stale:?}");
    let sids: Vec<String> = moto::stored_policy(&client, name, None).await.unwrap()["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Sid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sids, ["s2", "s3"]);

    let ops = proxy.operations();
    assert_eq!(
        ops,
        [
            "PublishVersion",
            "CreateAlias",
            "GetPolicy",
            "AddPermission",
            "AddPermission",
            "AddPermission",
            "GetPolicy",
            "GetPolicy",
            "GetPolicy",
            "RemovePermission",
            "RemovePermission",
            "GetPolicy",
        ]
    );
    let calls = proxy.calls();
    assert_eq!(calls[4].qualifier.as_deref(), Some("live"));
    assert_eq!(calls[4].statement_id.as_deref(), Some("s2"));
    assert_eq!(calls[7].qualifier.as_deref(), Some("live"));
    assert_eq!(calls[9].statement_id.as_deref(), Some("s1"));
    assert_eq!(calls[9].revision_id.as_deref(), Some(revision.as_str()));
    assert_eq!(calls[9].function.as_deref(), Some(name));
    assert_eq!(calls[9].status, Some(204));
    assert_eq!(calls[10].status, Some(412));
    assert!(calls.iter().all(|c| c.fault.is_none()));
}

#[tokio::test]
async fn add_permission_carries_revision_id_from_the_body() {
    let (proxy, client) = function_behind_proxy("selftest-revision").await;
    add_permission(&client, "selftest-revision", "first")
        .send()
        .await
        .unwrap();
    let revision = client
        .get_policy()
        .function_name("selftest-revision")
        .send()
        .await
        .unwrap()
        .revision_id
        .unwrap();
    add_permission(&client, "selftest-revision", "second")
        .revision_id(&revision)
        .send()
        .await
        .unwrap();
    let adds = proxy.calls_of("AddPermission");
    assert_eq!(adds.len(), 2);
    assert_eq!(adds[0].revision_id, None);
    assert_eq!(adds[1].revision_id.as_deref(), Some(revision.as_str()));

    // A stale revision is refused by moto itself with the typed error.
    let err = add_permission(&client, "selftest-revision", "third")
        .revision_id(&revision)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_precondition_failed_exception());
}

#[tokio::test]
async fn injected_412_is_a_typed_precondition_failure() {
    let (proxy, client) = function_behind_proxy("selftest-412").await;
    proxy.inject(Fault::precondition_failed("AddPermission", Hit::Nth(1)));
    let err = add_permission(&client, "selftest-412", "s")
        .send()
        .await
        .unwrap_err();
    let service_error = err.into_service_error();
    assert!(
        matches!(
            service_error,
            AddPermissionError::PreconditionFailedException(_)
        ),
        "{service_error:?}"
    );
    let calls = proxy.calls();
    assert_eq!(calls.len(), 1, "a 412 is not retried");
    assert!(calls[0].fault.is_some());
    assert_eq!(calls[0].status, Some(412));
    assert_eq!(
        moto::stored_policy(&client, "selftest-412", None).await,
        None
    );

    // Rule spent: the next call goes through.
    add_permission(&client, "selftest-412", "s")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn injected_429_is_retried_by_the_sdk() {
    let (proxy, client) = function_behind_proxy("selftest-429").await;
    proxy.inject(Fault::throttle("AddPermission", Hit::Next(1)));
    add_permission(&client, "selftest-429", "s")
        .send()
        .await
        .unwrap();
    let calls = proxy.calls_of("AddPermission");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].status, Some(429));
    assert_eq!(calls[1].status, Some(200)); // moto answers 200 where Lambda sends 201
}

#[tokio::test]
async fn dropped_connection_and_delay_reach_the_sdk() {
    let (proxy, client) = function_behind_proxy("selftest-drop").await;
    proxy.inject(Fault::drop_connection("GetPolicy", Hit::Nth(1)));
    proxy.inject(Fault::delay("GetPolicy", Hit::Nth(2), 300));
    let started = Instant::now();
    // The SDK retries the dropped attempt; the retry is delayed, then forwarded.
    let err = client
        .get_policy()
        .function_name("selftest-drop")
        .send()
        .await
        .unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(err.into_service_error().is_resource_not_found_exception());
    let calls = proxy.calls_of("GetPolicy");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].status, None);
    assert_eq!(calls[1].status, Some(404));
}

#[tokio::test]
async fn hook_lands_a_third_party_change_before_our_call() {
    let (proxy, client) = function_behind_proxy("selftest-hook").await;
    let endpoint = Moto::shared().endpoint.clone();
    proxy.before_forward("AddPermission", 1, move || async move {
        let direct = moto::lambda_client(&endpoint).await;
        add_permission(&direct, "selftest-hook", "third-party")
            .send()
            .await
            .unwrap();
    });
    let before = client
        .get_policy()
        .function_name("selftest-hook")
        .send()
        .await;
    assert!(before.is_err(), "no policy yet");
    add_permission(&client, "selftest-hook", "ours")
        .send()
        .await
        .unwrap();
    let policy = moto::stored_policy(&client, "selftest-hook", None)
        .await
        .unwrap();
    let sids: Vec<&str> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Sid"].as_str().unwrap())
        .collect();
    assert_eq!(sids, ["third-party", "ours"]);
    // The third party went straight to moto, so only our calls are recorded.
    assert_eq!(
        proxy.operations(),
        ["GetPolicy", "AddPermission", "GetPolicy"]
    );
}

#[tokio::test]
async fn runtime_api_serves_a_fake_runtime() {
    let api = RuntimeApi::start().await;
    let addr = api.addr.clone();
    let runtime = tokio::spawn(async move {
        for _ in 0..2 {
            let next = http::request(
                &addr,
                "GET",
                "/2018-06-01/runtime/invocation/next",
                &[],
                b"",
            )
            .await
            .unwrap();
            assert_eq!(next.status, 200);
            let id = next
                .header("Lambda-Runtime-Aws-Request-Id")
                .unwrap()
                .to_string();
            assert!(
                next.header("Lambda-Runtime-Deadline-Ms")
                    .unwrap()
                    .parse::<u128>()
                    .is_ok()
            );
            let event: serde_json::Value = serde_json::from_slice(&next.body).unwrap();
            let (kind, body) = if event["fail"] == true {
                (
                    "error",
                    json!({"errorType": "Boom", "errorMessage": "asked to fail"}),
                )
            } else {
                ("response", json!({"echo": event}))
            };
            let path = format!("/2018-06-01/runtime/invocation/{id}/{kind}");
            let posted = http::request(&addr, "POST", &path, &[], body.to_string().as_bytes())
                .await
                .unwrap();
            assert_eq!(posted.status, 202);
        }
    });
    let first_next = api.wait_first_next(Duration::from_secs(5)).await;
    assert!(first_next.is_some());

    let ok = api.invoke(json!({"n": 1})).await;
    assert_eq!(ok.outcome, Ok(json!({"echo": {"n": 1}})));
    let failed = api.invoke(json!({"fail": true})).await;
    assert_eq!(failed.outcome.unwrap_err()["errorType"], "Boom");
    assert_ne!(ok.request_id, failed.request_id);
    runtime.await.unwrap();
    assert_eq!(api.next_requests_seen(), 2);
    assert_eq!(api.init_error(), None);

    let init = http::request(
        &api.addr,
        "POST",
        "/2018-06-01/runtime/init/error",
        &[],
        b"{\"x\":1}",
    )
    .await
    .unwrap();
    assert_eq!(init.status, 202);
    assert_eq!(api.init_error(), Some(json!({"x": 1})));
}

#[test]
fn bootstrap_zip_is_a_valid_archive() {
    let zip = moto::bootstrap_zip();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.zip");
    std::fs::write(&path, &zip).unwrap();
    let listed = std::process::Command::new("python3")
        .args(["-c", "import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); print(z.testzip(), z.read('bootstrap'))"])
        .arg(&path)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&listed.stdout);
    assert!(
        out.starts_with("None b'#!/bin/sh"),
        "{out} {}",
        String::from_utf8_lossy(&listed.stderr)
    );
}

#[test]
fn a_private_moto_stops_on_drop() {
    let started = Instant::now();
    let moto = Moto::start();
    let up = started.elapsed();
    let addr = http::host_port(&moto.endpoint).to_string();
    let stopping = Instant::now();
    drop(moto);
    eprintln!("moto up in {up:?}, down in {:?}", stopping.elapsed());
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "moto still listening"
    );
}
