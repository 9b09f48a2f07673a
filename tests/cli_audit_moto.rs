//! `invokeguard audit` against moto (through AWS_ENDPOINT_URL): every guarded policy, aliases
//! found with ListAliases, what a reconcile would change, and the contract's exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

mod support;

use std::io::Write;

use serde_json::{Value, json};
use support::moto::{self, ACCOUNT, Moto};
use support::proxy::Proxy;

fn temp(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

async fn audit(
    policies: &tempfile::NamedTempFile,
    endpoint: &str,
) -> (Option<i32>, Vec<Value>, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_invokeguard"))
        .args([
            "audit",
            "--json",
            "--account",
            ACCOUNT,
            "--region",
            "us-east-1",
            "--policies",
        ])
        .arg(policies.path())
        .env_clear()
        .envs(moto::env_for_child(endpoint))
        .output()
        .await
        .unwrap();
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (
        out.status.code(),
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn audit_lists_every_guarded_policy_and_what_would_change() {
    let moto = Moto::shared();
    let lambda = moto::function_with_grants(
        &moto.endpoint,
        "audit-drifted",
        &[("partner", "222233334444"), ("public", "*")],
    )
    .await;
    moto::publish_version_and_alias(&lambda, "audit-drifted", "live").await;
    moto::function_with_grants(
        &moto.endpoint,
        "audit-clean",
        &[("partner", "222233334444")],
    )
    .await;
    let allow = json!({"allow": [{"account": "222233334444"}]});
    let policies = temp(
        &json!({"version": 1, "functions": {"audit-drifted": allow, "audit-clean": allow}})
            .to_string(),
    );

    let (code, plans, stderr) = audit(&policies, &moto.endpoint).await;
    assert_eq!(code, Some(1), "something would change: {stderr}");
    let keys: Vec<(String, Value)> = plans
        .iter()
        .map(|p| {
            (
                p["function"].as_str().unwrap().to_owned(),
                p["qualifier"].clone(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            ("audit-clean".to_owned(), Value::Null),
            ("audit-drifted".to_owned(), Value::Null),
            ("audit-drifted".to_owned(), json!("live")),
            ("audit-drifted".to_owned(), json!("1")),
        ],
        "the alias was found with ListAliases, the version with ListVersionsByFunction"
    );
    assert!(plans[0]["remove"].as_array().unwrap().is_empty());
    assert_eq!(plans[1]["remove"][0]["sid"], "public");
    assert!(
        plans[1]["remove"][0]["why"]
            .as_str()
            .unwrap()
            .contains("anyone")
    );
    // Nothing was changed.
    let stored = moto::stored_policy(&lambda, "audit-drifted", None)
        .await
        .unwrap();
    assert_eq!(stored["Statement"].as_array().unwrap().len(), 2);

    let clean = temp(&json!({"version": 1, "functions": {"audit-clean": allow}}).to_string());
    let (code, plans, _) = audit(&clean, &moto.endpoint).await;
    assert_eq!((code, plans.len()), (Some(0), 1));

    let missing = temp(&json!({"version": 1, "functions": {"audit-nowhere": allow}}).to_string());
    let (code, _, stderr) = audit(&missing, &moto.endpoint).await;
    assert_eq!(code, Some(2));
    assert!(stderr.contains("audit-nowhere"), "{stderr}");
}

#[tokio::test]
async fn init_drafts_a_report_mode_file_from_todays_grants_and_warns_about_risky_ones() {
    let moto = Moto::shared();
    let lambda = moto::function_with_grants(
        &moto.endpoint,
        "init-source",
        &[("partner", "222233334444"), ("public", "*")],
    )
    .await;
    moto::grant(
        &lambda,
        "init-source",
        "uploads",
        "s3.amazonaws.com",
        Some("arn:aws:s3:::uploads"),
        Some(ACCOUNT),
    )
    .await;
    moto::grant(
        &lambda,
        "init-source",
        "loose-sns",
        "sns.amazonaws.com",
        None,
        None,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("invokers.json");
    let run = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_invokeguard"))
            .args([
                "init",
                "--functions",
                "init-source",
                "--account",
                ACCOUNT,
                "--region",
                "us-east-1",
                "--output",
            ])
            .arg(&path)
            .env_clear()
            .envs(moto::env_for_child(&moto.endpoint))
            .output()
    };
    let out = run().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(file["defaults"]["mode"], "report");
    let allow = file["functions"]["init-source"]["allow"]
        .as_array()
        .unwrap();
    assert_eq!(allow.len(), 1, "{allow:?}");
    assert_eq!(allow[0]["service"], "s3.amazonaws.com");
    assert_eq!(allow[0]["sourceArn"], "arn:aws:s3:::uploads");
    for risky in ["\"partner\"", "\"public\"", "\"loose-sns\""] {
        assert!(stderr.contains(risky), "no warning for {risky}: {stderr}");
    }
    // The draft is a valid policies file, and an existing file is never overwritten.
    let validate = std::process::Command::new(env!("CARGO_BIN_EXE_invokeguard"))
        .arg("validate")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(validate.status.code(), Some(0));
    let again = run().await.unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwrites"));
}

#[tokio::test]
async fn reconcile_reports_then_fixes_every_guarded_policy_and_audit_agrees() {
    let moto = Moto::shared();
    let lambda = moto::function_with_grants(
        &moto.endpoint,
        "reconcile-me",
        &[
            ("partner", "222233334444"),
            ("public", "*"),
            ("stranger", "999999999999"),
        ],
    )
    .await;
    let allow = json!({"allow": [{"account": "222233334444"}]});
    let policies = temp(&json!({"version": 1, "functions": {"reconcile-me": allow}}).to_string());
    // Through the proxy: moto 5.2.5 refuses every RemovePermission carrying a RevisionId.
    let proxy = Proxy::start(&moto.endpoint).await;
    let run = |report: bool| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_invokeguard"));
        cmd.args([
            "reconcile",
            "--account",
            ACCOUNT,
            "--region",
            "us-east-1",
            "--policies",
        ])
        .arg(policies.path());
        if report {
            cmd.arg("--report");
        }
        cmd.env_clear()
            .envs(moto::env_for_child(&proxy.endpoint))
            .output()
    };
    let out = run(true).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "left unfixed in report mode: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("skipped-report-mode"), "{stdout}");
    let stored = moto::stored_policy(&lambda, "reconcile-me", None)
        .await
        .unwrap();
    assert_eq!(
        stored["Statement"].as_array().unwrap().len(),
        3,
        "report mode changed nothing"
    );

    let out = run(false).await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let sweep = lines.iter().find(|l| l["message"] == "sweep").unwrap();
    assert_eq!(
        (sweep["drift"].clone(), sweep["fixed"].clone()),
        (json!(1), json!(1))
    );
    let stored = moto::stored_policy(&lambda, "reconcile-me", None)
        .await
        .unwrap();
    let sids: Vec<&str> = stored["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["Sid"].as_str())
        .collect();
    assert_eq!(sids, ["partner"]);

    let (code, _, _) = audit(&policies, &moto.endpoint).await;
    assert_eq!(code, Some(0), "nothing left to change");
}
