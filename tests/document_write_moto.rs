//! Whole-document writes (`"apply": "document"` in a plan) with the real aws-sdk clients over
//! HTTP, through the project's proxy (tests/support/proxy.rs), in enforce mode.
//!
//! moto 5.2.5 has no PutResourcePolicy, GetResourcePolicy or DeleteResourcePolicy, and its
//! AddPermission cannot create Sid-less, Deny or `NotPrincipal` statements. So the proxy serves
//! those operations itself, following the Lambda API reference (PutResourcePolicy,
//! GetResourcePolicy, DeleteResourcePolicy, and GetPolicy/AddPermission/RemovePermission for a
//! policy written that way: RevisionIds, 412 on a stale one, 409 on a duplicate Sid), and holds
//! every policy one of them wrote; every other policy stays in moto. Every test here reads the
//! stored policy back through the proxy with GetPolicy, never from moto directly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

mod support;

use std::sync::Arc;
use std::time::Duration;

use invokeguard::allowlist::{Allowlist, Apply};
use invokeguard::aws::home::Home;
use invokeguard::guard::{EventReport, Guard, Level, MemorySink, Settings};
use invokeguard::plan::plan;
use invokeguard::resource_policy::ResourcePolicy;
use invokeguard::sdk::LazyAws;
use serde_json::{Value, json};
use support::moto::{self, ACCOUNT, Moto, REGION};
use support::proxy::{Fault, Hit, Proxy};

const FOREIGN: &str = "444455556666";
const PARTNER: &str = "111122223333";

fn arn(name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
}

struct Env {
    name: String,
    proxy: Proxy,
    /// A third party's client, pointed at the proxy like the guard's.
    client: aws_sdk_lambda::Client,
    /// Straight to moto, for seeding what moto can hold itself.
    direct: aws_sdk_lambda::Client,
    sink: MemorySink,
    policies: Allowlist,
    guard: Guard<LazyAws>,
}

fn allowlist(name: &str, guarded: &Value) -> Allowlist {
    let text = json!({"version": 1, "functions": { name: guarded }}).to_string();
    let policies = Allowlist::from_json(&text, "test", Some("invokeguard")).expect("valid");
    policies
        .set_home(Home::new("aws", REGION, ACCOUNT).expect("home"))
        .expect("home set");
    policies
}

/// A function in moto guarded by `guarded`, in enforce mode, the guard talking to moto through
/// a fresh proxy with the real SDK client.
async fn setup(name: &str, guarded: Value) -> Env {
    let moto = Moto::shared();
    let direct = moto::lambda_client(&moto.endpoint).await;
    let role = moto::create_role(&moto.endpoint).await;
    moto::create_function(&direct, name, &role).await;
    let proxy = Proxy::start(&moto.endpoint).await;
    let client = moto::lambda_client(&proxy.endpoint).await;
    let sink = MemorySink::default();
    let settings = Settings {
        log_level: Level::Debug,
        conflict_backoff: Duration::from_millis(10),
        verified_ttl: Duration::ZERO,
        ..Settings::default()
    };
    let aws = LazyAws::with_config(moto::sdk_config(&proxy.endpoint).await, None);
    let guard = Guard::new(
        allowlist(name, &guarded),
        aws,
        Arc::new(sink.clone()),
        settings,
    );
    Env {
        name: name.to_owned(),
        proxy,
        client,
        direct,
        sink,
        policies: allowlist(name, &guarded),
        guard,
    }
}

impl Env {
    /// A third party writes the whole policy with PutResourcePolicy (through the proxy, which
    /// serves it); returns the new RevisionId. The proxy's record of calls starts afresh.
    async fn seed_document(&self, statements: &[Value]) -> String {
        let doc = json!({"Version": "2012-10-17", "Id": "default", "Statement": statements});
        let out = self
            .client
            .put_resource_policy()
            .resource_arn(arn(&self.name))
            .policy(doc.to_string())
            .send()
            .await
            .expect("seed PutResourcePolicy");
        self.proxy.clear();
        out.revision_id().expect("a RevisionId").to_owned()
    }

    /// `lambda:InvokeFunction` for `principal`, added straight in moto.
    async fn seed_grant(
        &self,
        sid: &str,
        principal: &str,
        source_arn: Option<&str>,
        source_account: Option<&str>,
    ) {
        moto::grant(
            &self.direct,
            &self.name,
            sid,
            principal,
            source_arn,
            source_account,
        )
        .await;
    }

    async fn run(&self, record: Value) -> Result<EventReport, String> {
        self.guard
            .handle_event(record, "req-doc")
            .await
            .map_err(|e| e.to_string())
    }

    fn lines(&self, message: &str) -> Vec<Value> {
        self.sink
            .lines()
            .into_iter()
            .filter(|l| l["message"] == message)
            .collect()
    }

    /// The stored policy, read back through the proxy with GetPolicy (None: no policy).
    async fn stored(&self) -> Option<Value> {
        moto::stored_policy(&self.client, &self.name, None).await
    }

    async fn stored_statements(&self) -> Vec<Value> {
        self.stored()
            .await
            .and_then(|p| p["Statement"].as_array().cloned())
            .unwrap_or_default()
    }

    /// The stored policy grants exactly the allowlist: planning against it changes nothing.
    async fn assert_exactly_the_allowlist(&self) {
        let stored = self.stored().await.unwrap_or(json!({"Statement": []}));
        let current = ResourcePolicy::from_value(&stored).expect("readable policy");
        let allow = &self
            .policies
            .lookup(&self.name, None)
            .expect("guarded")
            .1
            .allow;
        let again = plan(&self.name, None, allow, &current, Apply::Permissions);
        assert!(
            again.is_empty(),
            "not exactly the allowlist: {stored}\nplan {again:?}"
        );
    }
}

/// A CloudTrail Invoke record of `name` by a role of another account.
fn violation(name: &str) -> Value {
    json!({"eventVersion": "1.09", "eventSource": "lambda.amazonaws.com", "eventName": "Invoke",
        "eventID": format!("ev-{name}"), "awsRegion": REGION, "recipientAccountId": ACCOUNT,
        "userIdentity": {"type": "AssumedRole", "accountId": FOREIGN,
                         "arn": format!("arn:aws:sts::{FOREIGN}:assumed-role/r/s")},
        "requestParameters": {"functionName": arn(name)},
        "resources": [{"type": "AWS::Lambda::Function", "ARN": arn(name)}]})
}

fn public_sidless(name: &str) -> Value {
    json!({"Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction",
           "Resource": arn(name)})
}

fn partner_grant(name: &str, sid: &str) -> Value {
    json!({"Sid": sid, "Effect": "Allow",
           "Principal": {"AWS": format!("arn:aws:iam::{PARTNER}:root")},
           "Action": "lambda:InvokeFunction", "Resource": arn(name)})
}

fn deny_plain_http(name: &str) -> Value {
    json!({"Sid": "deny-plain-http", "Effect": "Deny", "Principal": "*",
           "Action": "lambda:InvokeFunction", "Resource": arn(name),
           "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
}

fn partner_only() -> Value {
    json!({"allow": [{"account": PARTNER}]})
}

#[tokio::test]
async fn a_sidless_public_grant_is_removed_by_one_document_write_keeping_the_rest_verbatim() {
    // The emulation: moto lacks PutResourcePolicy, so the proxy serves it (module docs).
    let env = setup("doc-sidless", partner_only()).await;
    let (deny, partner) = (
        deny_plain_http("doc-sidless"),
        partner_grant("doc-sidless", "partner"),
    );
    let seeded = env
        .seed_document(&[public_sidless("doc-sidless"), deny.clone(), partner.clone()])
        .await;

    let report = env.run(violation("doc-sidless")).await.expect("remediated");
    assert_eq!(
        (
            report.violations,
            report.removed,
            report.added,
            report.failed
        ),
        (1, 1, 0, 0)
    );
    assert_eq!(env.proxy.operations(), ["GetPolicy", "PutResourcePolicy"]);
    let put = &env.proxy.calls_of("PutResourcePolicy")[0];
    assert_eq!(put.revision_id.as_deref(), Some(seeded.as_str()));
    assert_eq!(put.function.as_deref(), Some(arn("doc-sidless").as_str()));
    assert_eq!(put.status, Some(200));

    assert_eq!(env.stored_statements().await, [deny, partner]);
    env.assert_exactly_the_allowlist().await;
    let remediations = env.lines("remediation");
    assert_eq!(remediations.len(), 1, "{remediations:?}");
    let line = &remediations[0];
    assert_eq!(
        (
            &line["action"],
            &line["sid"],
            &line["apply"],
            &line["outcome"]
        ),
        (
            &json!("remove"),
            &Value::Null,
            &json!("document"),
            &json!("applied")
        )
    );
    assert_eq!(line["statementIndex"], 0);
    assert_eq!(line["revisionId"], seeded.as_str());
}

#[tokio::test]
async fn a_public_only_policy_gets_the_allowed_grant_before_the_public_one_goes() {
    let env = setup("doc-public-only", partner_only()).await;
    env.seed_grant("public", "*", None, None).await;

    let report = env
        .run(violation("doc-public-only"))
        .await
        .expect("remediated");
    assert_eq!(
        (
            report.violations,
            report.removed,
            report.added,
            report.unfixed
        ),
        (1, 1, 1, 0)
    );
    assert_eq!(
        env.proxy.operations(),
        ["GetPolicy", "AddPermission", "RemovePermission"]
    );
    let statements = env.stored_statements().await;
    assert_eq!(statements.len(), 1, "{statements:?}");
    assert!(
        statements[0]["Sid"]
            .as_str()
            .unwrap()
            .starts_with("invokeguard-account-"),
        "{statements:?}"
    );
    env.assert_exactly_the_allowlist().await;
    assert!(
        env.lines("remediation")
            .iter()
            .all(|l| l["apply"] == "permissions" && l["outcome"] == "applied")
    );
}

#[tokio::test]
async fn an_unproven_service_allow_replaces_an_unconstrained_service_grant() {
    let bucket = "arn:aws:s3:::doc-uploads";
    let env = setup(
        "doc-s3-open",
        json!({"allow": [{"service": "s3.amazonaws.com", "sourceArn": bucket, "sourceAccount": ACCOUNT}]}),
    )
    .await;
    env.seed_grant("s3-open", "s3.amazonaws.com", None, None)
        .await;
    // A synchronous S3 invocation: no requestParameters, so no sourceArn/sourceAccount to prove.
    let record = json!({"eventVersion": "1.05", "eventSource": "lambda.amazonaws.com",
        "eventName": "Invoke", "eventID": "ev-doc-s3-open", "awsRegion": REGION,
        "recipientAccountId": ACCOUNT,
        "userIdentity": {"type": "AWSService", "invokedBy": "s3.amazonaws.com"},
        "resources": [{"type": "AWS::Lambda::Function", "ARN": arn("doc-s3-open")}]});

    let report = env.run(record).await.expect("reconciled");
    let decision = &env.lines("decision")[0];
    assert_eq!(
        (&decision["verdict"], &decision["sourceVerified"]),
        (&json!("allowed"), &json!(false))
    );
    assert_eq!(
        (report.allowed, report.removed, report.added, report.unfixed),
        (1, 1, 1, 0)
    );
    assert_eq!(
        env.proxy.operations(),
        ["GetPolicy", "AddPermission", "RemovePermission"]
    );
    assert_eq!(
        env.proxy.calls_of("RemovePermission")[0]
            .statement_id
            .as_deref(),
        Some("s3-open")
    );
    let statements = env.stored_statements().await;
    assert_eq!(statements.len(), 1, "{statements:?}");
    assert_eq!(
        statements[0]["Principal"],
        json!({"Service": "s3.amazonaws.com"})
    );
    assert_eq!(
        statements[0]["Condition"],
        json!({"ArnLike": {"AWS:SourceArn": bucket}, "StringEquals": {"AWS:SourceAccount": ACCOUNT}})
    );
    env.assert_exactly_the_allowlist().await;
}

#[tokio::test]
async fn a_copied_sid_is_resolved_by_one_document_write_keeping_the_allowed_statement() {
    let env = setup("doc-copied-sid", partner_only()).await;
    let allowed = partner_grant("doc-copied-sid", "shared");
    let mut public = public_sidless("doc-copied-sid");
    public["Sid"] = json!("shared");
    let seeded = env.seed_document(&[allowed.clone(), public]).await;

    let report = env
        .run(violation("doc-copied-sid"))
        .await
        .expect("remediated");
    assert_eq!((report.removed, report.added, report.failed), (1, 0, 0));
    assert_eq!(env.proxy.operations(), ["GetPolicy", "PutResourcePolicy"]);
    assert_eq!(
        env.proxy.calls_of("PutResourcePolicy")[0]
            .revision_id
            .as_deref(),
        Some(seeded.as_str())
    );
    assert_eq!(env.stored_statements().await, [allowed]);
    env.assert_exactly_the_allowlist().await;
    let line = &env.lines("remediation")[0];
    assert_eq!(
        (&line["sid"], &line["statementIndex"], &line["apply"]),
        (&json!("shared"), &json!(1), &json!("document"))
    );
}

#[tokio::test]
async fn a_stale_revision_on_the_document_write_replans_from_a_fresh_getpolicy() {
    let env = setup("doc-stale", partner_only()).await;
    let partner = partner_grant("doc-stale", "partner");
    let seeded = env
        .seed_document(&[public_sidless("doc-stale"), partner.clone()])
        .await;
    env.proxy
        .inject(Fault::precondition_failed("PutResourcePolicy", Hit::Nth(1)));

    let report = env.run(violation("doc-stale")).await.expect("converged");
    assert_eq!((report.removed, report.failed, report.unfixed), (1, 0, 0));
    assert_eq!(
        env.proxy.operations(),
        [
            "GetPolicy",
            "PutResourcePolicy",
            "GetPolicy",
            "PutResourcePolicy"
        ]
    );
    let puts = env.proxy.calls_of("PutResourcePolicy");
    assert_eq!(
        (puts[0].status, puts[1].status),
        (Some(412), Some(200)),
        "{puts:?}"
    );
    assert!(puts[0].fault.is_some());
    assert!(
        puts.iter()
            .all(|c| c.revision_id.as_deref() == Some(seeded.as_str()))
    );
    let outcomes: Vec<Value> = env
        .lines("remediation")
        .iter()
        .map(|l| l["outcome"].clone())
        .collect();
    assert_eq!(outcomes, [json!("conflict-retried"), json!("applied")]);
    assert_eq!(env.stored_statements().await, [partner]);
    env.assert_exactly_the_allowlist().await;
}

#[tokio::test]
async fn a_third_party_write_between_getpolicy_and_the_document_write_is_caught() {
    // No injected fault: the proxy's own RevisionIds refuse the stale write.
    let env = setup("doc-race", partner_only()).await;
    let partner = partner_grant("doc-race", "partner");
    env.seed_document(&[public_sidless("doc-race"), partner.clone()])
        .await;
    let third_party = env.client.clone();
    env.proxy
        .before_forward("PutResourcePolicy", 1, move || async move {
            third_party
                .add_permission()
                .function_name("doc-race")
                .statement_id("intruder")
                .action("lambda:InvokeFunction")
                .principal("999999999999")
                .send()
                .await
                .expect("third party AddPermission");
        });

    let report = env.run(violation("doc-race")).await.expect("converged");
    assert_eq!((report.removed, report.failed), (2, 0));
    // Calls are recorded as they arrive: the third party's AddPermission lands after our
    // PutResourcePolicy arrived and before it is served.
    assert_eq!(
        env.proxy.operations(),
        [
            "GetPolicy",
            "PutResourcePolicy",
            "AddPermission",
            "GetPolicy",
            "PutResourcePolicy"
        ]
    );
    let puts = env.proxy.calls_of("PutResourcePolicy");
    assert_eq!((puts[0].status, puts[1].status), (Some(412), Some(200)));
    assert_ne!(puts[0].revision_id, puts[1].revision_id);
    let removed: Vec<Value> = env
        .lines("remediation")
        .into_iter()
        .filter(|l| l["outcome"] == "applied")
        .map(|l| l["sid"].clone())
        .collect();
    assert!(
        removed.contains(&json!("intruder")),
        "the re-plan saw the intruder: {removed:?}"
    );
    assert_eq!(env.stored_statements().await, [partner]);
    env.assert_exactly_the_allowlist().await;
}

#[tokio::test]
async fn a_document_policy_with_nothing_allowed_left_is_deleted() {
    let env = setup("doc-delete", json!({"apply": "document", "allow": []})).await;
    env.seed_grant("public", "*", None, None).await;
    env.seed_grant("stranger", "999999999999", None, None).await;
    let moto_revision = env
        .direct
        .get_policy()
        .function_name("doc-delete")
        .send()
        .await
        .expect("moto holds the policy")
        .revision_id
        .expect("a RevisionId");

    let report = env.run(violation("doc-delete")).await.expect("remediated");
    assert_eq!((report.removed, report.added, report.failed), (2, 0, 0));
    assert_eq!(
        env.proxy.operations(),
        ["GetPolicy", "DeleteResourcePolicy"]
    );
    let delete = &env.proxy.calls_of("DeleteResourcePolicy")[0];
    assert_eq!(
        (delete.revision_id.as_deref(), delete.status),
        (Some(moto_revision.as_str()), Some(204)),
        "guarded by the RevisionId GetPolicy returned"
    );
    assert_eq!(env.stored().await, None, "no policy left");
    env.assert_exactly_the_allowlist().await;
    let remediations = env.lines("remediation");
    assert_eq!(remediations.len(), 2);
    assert!(
        remediations
            .iter()
            .all(|l| l["apply"] == "document" && l["outcome"] == "applied")
    );
    assert!(
        remediations[0]["revisionId"] == moto_revision.as_str(),
        "{remediations:?}"
    );
}

/// The proxy's emulation itself, with the SDK as a client: the rules the tests above rely on.
#[tokio::test]
async fn the_proxy_serves_resource_policies_as_the_lambda_api_reference_describes() {
    let env = setup("doc-emulation", partner_only()).await;
    let name = "doc-emulation";
    let qualified = format!("{}:live", arn(name));
    moto::publish_version_and_alias(&env.direct, name, "live").await;

    // No policy yet: GetResourcePolicy answers what moto holds (nothing).
    let none = env
        .client
        .get_resource_policy()
        .resource_arn(arn(name))
        .send()
        .await;
    assert!(none.is_err(), "{none:?}");

    let rev1 = env
        .seed_document(&[public_sidless(name), deny_plain_http(name)])
        .await;
    // Stale RevisionId: 412, nothing changes.
    let stale = env
        .client
        .put_resource_policy()
        .resource_arn(arn(name))
        .policy(json!({"Statement": [deny_plain_http(name)]}).to_string())
        .revision_id("not-the-revision")
        .send()
        .await
        .expect_err("stale");
    assert_eq!(
        aws_sdk_lambda::error::ProvideErrorMetadata::code(&stale),
        Some("PreconditionFailedException")
    );
    let got = env
        .client
        .get_resource_policy()
        .resource_arn(arn(name))
        .send()
        .await
        .expect("held");
    assert_eq!(got.revision_id(), Some(rev1.as_str()));

    // AddPermission on a held policy: Lambda's statement form, a new revision, 409 on a
    // duplicate Sid, by name or ARN alike.
    let added = env
        .client
        .add_permission()
        .function_name(arn(name))
        .statement_id("s3")
        .action("lambda:InvokeFunction")
        .principal("s3.amazonaws.com")
        .source_arn("arn:aws:s3:::b")
        .source_account(ACCOUNT)
        .revision_id(&rev1)
        .send()
        .await
        .expect("added");
    let statement: Value = serde_json::from_str(added.statement().unwrap()).unwrap();
    assert_eq!(
        statement,
        json!({"Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
               "Action": "lambda:InvokeFunction", "Resource": arn(name),
               "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::b"},
                             "StringEquals": {"AWS:SourceAccount": ACCOUNT}}})
    );
    let duplicate = env
        .client
        .add_permission()
        .function_name(name)
        .statement_id("s3")
        .action("lambda:InvokeFunction")
        .principal(PARTNER)
        .send()
        .await
        .expect_err("duplicate Sid");
    assert_eq!(
        aws_sdk_lambda::error::ProvideErrorMetadata::code(&duplicate),
        Some("ResourceConflictException")
    );
    let policy = env
        .client
        .get_policy()
        .function_name(name)
        .send()
        .await
        .unwrap();
    let rev2 = policy.revision_id().unwrap().to_owned();
    assert_ne!(rev2, rev1);
    let doc: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    assert_eq!(
        doc["Statement"],
        json!([public_sidless(name), deny_plain_http(name), statement])
    );

    // RemovePermission: 412 on the old revision, 404 for an absent Sid, 204 otherwise.
    let remove = |sid: &str, rev: Option<&str>| {
        env.client
            .remove_permission()
            .function_name(name)
            .statement_id(sid)
            .set_revision_id(rev.map(str::to_owned))
            .send()
    };
    let code = |e: &dyn aws_sdk_lambda::error::ProvideErrorMetadata| e.code().map(str::to_owned);
    let err = remove("s3", Some(&rev1)).await.expect_err("stale");
    assert_eq!(code(&err).as_deref(), Some("PreconditionFailedException"));
    let err = remove("absent", None).await.expect_err("absent");
    assert_eq!(code(&err).as_deref(), Some("ResourceNotFoundException"));
    remove("s3", Some(&rev2)).await.expect("removed");

    // The alias's policy is its own: still moto's (empty), until written.
    assert_eq!(
        moto::stored_policy(&env.client, name, Some("live")).await,
        None
    );
    env.client
        .put_resource_policy()
        .resource_arn(&qualified)
        .policy(json!({"Statement": [partner_grant(name, "p")]}).to_string())
        .send()
        .await
        .expect("alias policy written");
    let live = moto::stored_policy(&env.client, name, Some("live"))
        .await
        .unwrap();
    assert_eq!(live["Statement"], json!([partner_grant(name, "p")]));

    // DeleteResourcePolicy: then GetPolicy has nothing, and a second delete 404s.
    env.client
        .delete_resource_policy()
        .resource_arn(arn(name))
        .send()
        .await
        .expect("deleted");
    assert_eq!(moto::stored_policy(&env.client, name, None).await, None);
    let err = env
        .client
        .delete_resource_policy()
        .resource_arn(arn(name))
        .send()
        .await
        .expect_err("nothing to delete");
    assert_eq!(code(&err).as_deref(), Some("ResourceNotFoundException"));

    // A function moto does not know: 404 "Function not found", nothing held.
    let err = env
        .client
        .put_resource_policy()
        .resource_arn(arn("doc-no-such-function"))
        .policy(json!({"Statement": [partner_grant(name, "p")]}).to_string())
        .send()
        .await
        .expect_err("no function");
    assert_eq!(code(&err).as_deref(), Some("ResourceNotFoundException"));

    let operations = env.proxy.operations();
    for op in [
        "PutResourcePolicy",
        "GetResourcePolicy",
        "DeleteResourcePolicy",
    ] {
        assert!(operations.iter().any(|o| o == op), "{operations:?}");
    }
    let qualifiers: Vec<Option<String>> = env
        .proxy
        .calls_of("PutResourcePolicy")
        .into_iter()
        .map(|c| c.qualifier)
        .collect();
    assert!(
        qualifiers.contains(&Some("live".to_owned())),
        "{qualifiers:?}"
    );
}

#[tokio::test]
async fn a_foreign_grant_of_several_actions_loses_only_invoke_and_a_narrower_partner_grant_stays() {
    // The emulation: moto lacks PutResourcePolicy, so the proxy serves it (module docs).
    let name = "doc-mixed";
    let env = setup(name, partner_only()).await;
    let mixed = json!({"Sid": "ops", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{FOREIGN}:root")},
        "Action": ["lambda:GetFunction", "lambda:InvokeFunction"], "Resource": arn(name)});
    let narrower = json!({"Sid": "partner-vpce", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{PARTNER}:root")},
        "Action": "lambda:InvokeFunction", "Resource": arn(name),
        "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}});
    env.seed_document(&[mixed, narrower.clone()]).await;

    let report = env.run(violation(name)).await.expect("remediated");
    assert_eq!((report.removed, report.added, report.failed), (1, 1, 0));
    assert_eq!(env.proxy.operations(), ["GetPolicy", "PutResourcePolicy"]);
    let stored = env.stored_statements().await;
    assert_eq!(stored.len(), 3, "{stored:?}");
    assert_eq!(
        stored[0],
        json!({"Sid": "ops", "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{FOREIGN}:root")},
            "Action": "lambda:GetFunction", "Resource": arn(name)}),
        "the foreign account keeps GetFunction, in place"
    );
    assert_eq!(
        stored[1], narrower,
        "narrower than the entry: kept verbatim"
    );
    assert_eq!(
        stored[2]["Principal"],
        json!({"AWS": PARTNER}),
        "the partner's own grant, since a VPC-endpoint-only grant does not cover the account"
    );
    env.assert_exactly_the_allowlist().await;
    let removal = env
        .lines("remediation")
        .into_iter()
        .find(|l| l["action"] == "remove")
        .expect("a remove line");
    assert_eq!(removal["replacement"]["Action"], "lambda:GetFunction");
}
