//! Faults between the SDK and moto, injected by the project's own proxy (tests/support/proxy.rs):
//! throttling, 5xx, stale revisions, conflicts, slow answers, dropped connections, a full
//! policy; races with a second guard and with a third party. Through all of them the final
//! policy is the allowed set, every action's outcome is logged, and giving up fails the event.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

mod support;

use std::sync::Arc;
use std::time::Duration;

use invokeguard::allowlist::{Allowlist, Apply};
use invokeguard::guard::{EventReport, Guard, Level, MemorySink, Settings};
use invokeguard::plan::plan;
use invokeguard::resource_policy::ResourcePolicy;
use invokeguard::sdk::LazyAws;
use serde_json::{Value, json};
use support::moto::{self, ACCOUNT, Moto};
use support::proxy::{Fault, Hit, Proxy};

const FOREIGN: &str = "444455556666";

fn allowlist() -> Value {
    json!({"allow": [{"account": "111122223333"}, {"account": "222233334444"}]})
}

fn policies(name: &str) -> Allowlist {
    Allowlist::from_json(
        &json!({"version": 1, "functions": {name: allowlist()}}).to_string(),
        "t",
        None,
    )
    .unwrap()
}

struct Env {
    name: String,
    proxy: Proxy,
    lambda: aws_sdk_lambda::Client,
    sink: MemorySink,
}

impl Env {
    async fn guard(&self) -> Guard<LazyAws> {
        let settings = Settings {
            log_level: Level::Debug,
            conflict_backoff: Duration::from_millis(10),
            verified_ttl: Duration::ZERO,
            ..Settings::default()
        };
        let aws = LazyAws::with_config(moto::sdk_config(&self.proxy.endpoint).await, None);
        Guard::new(
            policies(&self.name),
            aws,
            Arc::new(self.sink.clone()),
            settings,
        )
    }

    async fn run(&self) -> Result<EventReport, String> {
        self.guard()
            .await
            .handle_event(violation(&self.name), "req")
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

    fn outcomes(&self) -> Vec<String> {
        self.lines("remediation")
            .iter()
            .map(|l| l["outcome"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    async fn statements(&self) -> ResourcePolicy {
        let stored = moto::stored_policy(&self.lambda, &self.name, None)
            .await
            .unwrap_or(json!({"Statement": []}));
        ResourcePolicy::from_value(&stored).unwrap()
    }

    /// The stored policy grants exactly the allowlist: planning against it changes nothing.
    async fn assert_allowed_set(&self) {
        let current = self.statements().await;
        let p = policies(&self.name);
        let allow = &p.lookup(&self.name, None).unwrap().1.allow;
        let again = plan(&self.name, None, allow, &current, Apply::Permissions);
        assert!(
            again.is_empty(),
            "not the allowed set: {current:?}\nplan {again:?}"
        );
        assert_eq!(current.statements.len(), 2, "{current:?}");
    }
}

/// A function with one allowed grant ("partner") and two that must go.
async fn drifted(name: &str) -> Env {
    let moto = Moto::shared();
    let lambda = moto::function_with_grants(
        &moto.endpoint,
        name,
        &[
            ("partner", "222233334444"),
            ("public", "*"),
            ("stranger", "999999999999"),
        ],
    )
    .await;
    let proxy = Proxy::start(&moto.endpoint).await;
    Env {
        name: name.to_owned(),
        proxy,
        lambda,
        sink: MemorySink::default(),
    }
}

fn violation(name: &str) -> Value {
    json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke", "eventID": format!("ev-{name}"),
        "recipientAccountId": ACCOUNT, "userIdentity": {"type": "AWSAccount", "accountId": FOREIGN},
        "resources": [{"ARN": format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}")}]})
}

#[tokio::test]
async fn server_errors_on_getpolicy_are_retried_by_the_sdk() {
    let env = drifted("fault-500").await;
    env.proxy
        .inject(Fault::service_error("GetPolicy", Hit::Next(2)));
    let report = env.run().await.expect("converged");
    assert_eq!((report.removed, report.added, report.failed), (2, 1, 0));
    assert_eq!(env.proxy.calls_of("GetPolicy").len(), 3);
    assert_eq!(env.outcomes(), ["applied", "applied", "applied"]);
    env.assert_allowed_set().await;
}

#[tokio::test]
async fn a_conflict_on_add_replans_from_a_fresh_getpolicy() {
    let env = drifted("fault-409").await;
    env.proxy
        .inject(Fault::conflict("AddPermission", Hit::Nth(1)));
    let report = env.run().await.expect("converged");
    assert_eq!((report.removed, report.added), (2, 1));
    assert_eq!(
        env.proxy.operations(),
        [
            "GetPolicy",
            "AddPermission",
            "GetPolicy",
            "AddPermission",
            "RemovePermission",
            "RemovePermission"
        ]
    );
    assert_eq!(
        env.outcomes(),
        ["conflict-retried", "applied", "applied", "applied"]
    );
    env.assert_allowed_set().await;
}

#[tokio::test]
async fn slow_answers_are_waited_for() {
    let env = drifted("fault-slow").await;
    env.proxy
        .inject(Fault::delay("RemovePermission", Hit::Always, 400));
    let report = env.run().await.expect("converged");
    assert_eq!(report.failed, 0);
    env.assert_allowed_set().await;
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    let env = drifted("fault-drop").await;
    env.proxy
        .inject(Fault::drop_connection("RemovePermission", Hit::Nth(1)));
    let report = env.run().await.expect("converged");
    assert_eq!(report.failed, 0);
    assert_eq!(
        env.proxy.calls_of("RemovePermission").len(),
        3,
        "the dropped one, its retry, the second removal"
    );
    env.assert_allowed_set().await;
}

#[tokio::test]
async fn a_full_policy_falls_back_to_a_document_write_that_leaves_exactly_the_allowlist() {
    let env = drifted("fault-length").await;
    env.proxy
        .inject(Fault::policy_too_long("AddPermission", Hit::Always));
    // moto has no PutResourcePolicy: the proxy serves it (tests/support/proxy.rs, after the
    // Lambda API reference) and from then on holds the policy it wrote, so the policy is read
    // back through the proxy, not from moto.
    let report = env.run().await.expect("converged");
    assert_eq!(
        (report.removed, report.added, report.failed, report.unfixed),
        (2, 1, 0, 0)
    );
    // The addition does not fit, nothing is removed with RemovePermission, and the whole
    // policy is written once, guarded by a fresh GetPolicy's RevisionId.
    assert_eq!(
        env.proxy.operations(),
        [
            "GetPolicy",
            "AddPermission",
            "GetPolicy",
            "PutResourcePolicy"
        ]
    );
    let calls = env.proxy.calls();
    assert_eq!(calls[1].status, Some(400));
    assert!(calls[1].fault.is_some());
    assert_eq!(calls[3].status, Some(200));
    assert!(
        calls[3].revision_id.is_some(),
        "the document write carries GetPolicy's RevisionId"
    );
    assert_eq!(
        env.outcomes(),
        ["conflict-retried", "applied", "applied", "applied"]
    );
    let first = &env.lines("remediation")[0];
    assert!(
        first["error"]
            .as_str()
            .unwrap()
            .contains("PolicyLengthExceededException")
    );
    assert!(
        env.lines("remediation")[1..]
            .iter()
            .all(|l| l["apply"] == "document")
    );

    let via_proxy = moto::lambda_client(&env.proxy.endpoint).await;
    let stored = moto::stored_policy(&via_proxy, &env.name, None)
        .await
        .expect("a policy");
    let current = ResourcePolicy::from_value(&stored).unwrap();
    let p = policies(&env.name);
    let allow = &p.lookup(&env.name, None).unwrap().1.allow;
    let again = plan(&env.name, None, allow, &current, Apply::Permissions);
    assert!(
        again.is_empty(),
        "not the allowed set: {stored}\nplan {again:?}"
    );
    let sids: Vec<Option<&str>> = stored["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Sid"].as_str())
        .collect();
    assert_eq!(sids.len(), 2, "{stored}");
    assert_eq!(sids[0], Some("partner"), "the allowed grant kept verbatim");
    assert!(
        sids[1].unwrap().starts_with("invokeguard-account-"),
        "{sids:?}"
    );
}

#[tokio::test]
async fn endless_stale_revisions_end_in_a_bounded_failure() {
    let env = drifted("fault-stale").await;
    env.proxy
        .inject(Fault::precondition_failed("RemovePermission", Hit::Always));
    let err = env.run().await.expect_err("gave up");
    assert!(err.contains("gave up after 4 attempts"), "{err}");
    assert_eq!(env.proxy.calls_of("GetPolicy").len(), 4);
    assert_eq!(env.proxy.calls_of("RemovePermission").len(), 4);
    assert_eq!(
        env.outcomes(),
        [
            "applied",
            "conflict-retried",
            "conflict-retried",
            "conflict-retried",
            "conflict-retried"
        ]
    );
    assert_eq!(
        env.statements().await.statements.len(),
        4,
        "the allowed grant was added; nothing was removed"
    );
}

#[tokio::test]
async fn two_guards_racing_on_one_policy_converge() {
    let env = drifted("race-two").await;
    let (a, b) = (env.guard().await, env.guard().await);
    let (ra, rb) = tokio::join!(
        a.handle_event(violation("race-two"), "req-a"),
        b.handle_event(violation("race-two"), "req-b")
    );
    let (ra, rb) = (ra.expect("guard a"), rb.expect("guard b"));
    assert_eq!(ra.failed + rb.failed, 0);
    env.assert_allowed_set().await;
    // Whatever interleaving happened, each removal or addition landed once.
    let stored = env.statements().await;
    assert_eq!(
        stored
            .statements
            .iter()
            .filter(|s| s
                .sid
                .as_deref()
                .is_some_and(|x| x.starts_with("invokeguard-")))
            .count(),
        1
    );
}

#[tokio::test]
async fn a_third_party_change_between_getpolicy_and_our_first_mutation_is_caught() {
    let env = drifted("race-third").await;
    let direct = env.lambda.clone();
    env.proxy
        .before_forward("AddPermission", 1, move || async move {
            direct
                .add_permission()
                .function_name("race-third")
                .statement_id("intruder")
                .action("lambda:InvokeFunction")
                .principal("*")
                .send()
                .await
                .unwrap();
        });
    let report = env.run().await.expect("converged");
    assert_eq!(report.failed, 0);
    let first_mutation = &env.proxy.calls_of("AddPermission")[0];
    assert!(
        first_mutation.revision_id.is_some(),
        "the first mutation carried GetPolicy's RevisionId"
    );
    assert_eq!(
        env.outcomes()[0],
        "conflict-retried",
        "the stale RevisionId was refused"
    );
    let removed: Vec<String> = env
        .lines("remediation")
        .iter()
        .filter(|l| l["outcome"] == "applied" && l["action"] == "remove")
        .filter_map(|l| l["sid"].as_str().map(str::to_owned))
        .collect();
    assert!(
        removed.contains(&"intruder".to_owned()),
        "the re-plan saw the intruder: {removed:?}"
    );
    env.assert_allowed_set().await;
}
