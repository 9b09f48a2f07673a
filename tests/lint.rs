//! `invokeguard lint` on templates shaped as SAM, the Serverless Framework and plain
//! CloudFormation write them (tests/fixtures/templates/PROVENANCE.md): each grant outside the
//! allowlist named with its logical id and line, a template within it passing, SARIF the OASIS
//! schema accepts, and input it cannot read refused with where and what.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::sarif::assert_valid_sarif;
use common::{fixture, root};
use serde_json::Value;

const HOME: [&str; 4] = ["--account", "111122223333", "--region", "eu-west-1"];

fn template(name: &str) -> PathBuf {
    fixture(&format!("templates/{name}"))
}

fn lint(args: &[&str], stdin: Option<&str>) -> Output {
    lint_against(&template("policies.json"), args, stdin)
}

/// `lint` with the home, in `format`, of the fixture template `name`: (its path, the run).
fn lint_fixture(name: &str, format: &str) -> (PathBuf, Output) {
    let path = template(name);
    let p = path.to_string_lossy().into_owned();
    let mut args = HOME.to_vec();
    args.extend(["--format", format, &p]);
    let o = lint(&args, None);
    (path, o)
}

fn lint_against(policies: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_invokeguard"))
        .arg("lint")
        .arg("--policies")
        .arg(policies)
        .args(args)
        .current_dir(root())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn json_findings(o: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The 1-based line of the first line of `path` that is `needle` once trimmed.
fn line_of(path: &Path, needle: &str) -> u64 {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().position(|l| l.trim() == needle).unwrap() as u64 + 1
}

/// (severity, logical id, line) of each finding.
fn located(findings: &[Value]) -> Vec<(String, String, u64)> {
    findings
        .iter()
        .map(|f| {
            (
                f["severity"].as_str().unwrap().to_owned(),
                f["logicalId"].as_str().unwrap().to_owned(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_sam_template_with_public_foreign_and_sourceless_grants_fails_naming_each() {
    let (path, o) = lint_fixture("sam_grants_outside.yaml", "json");
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let findings = json_findings(&o);
    let errors: Vec<_> = located(&findings)
        .into_iter()
        .filter(|(s, _, _)| s == "error")
        .collect();
    let at = |needle| line_of(&path, needle);
    assert_eq!(
        errors,
        vec![
            // Public: the function URL permission SAM's transform adds for AuthType NONE.
            (
                "error".into(),
                "OrdersFunction".into(),
                at("FunctionUrlConfig:")
            ),
            (
                "error".into(),
                "ForeignAccountInvoke".into(),
                at("ForeignAccountInvoke:")
            ),
            ("error".into(), "TopicInvoke".into(), at("TopicInvoke:")),
        ]
    );
    let principal = |id: &str| {
        findings
            .iter()
            .find(|f| f["logicalId"] == id && f["severity"] == "error")
            .unwrap()["principal"]
            .clone()
    };
    assert_eq!(principal("OrdersFunction"), "*");
    assert_eq!(principal("ForeignAccountInvoke"), "999988887777");
    assert_eq!(principal("TopicInvoke"), "sns.amazonaws.com");
    let foreign = findings
        .iter()
        .find(|f| f["logicalId"] == "ForeignAccountInvoke")
        .unwrap();
    assert!(
        foreign["message"]
            .as_str()
            .unwrap()
            .ends_with("(created only when condition IsProd is true)"),
        "{foreign}"
    );
    // The partner's grant is in the allowlist: not a finding.
    assert!(!findings.iter().any(|f| f["logicalId"] == "PartnerInvoke"));
    // An imported function is said, not guessed.
    let shared = findings
        .iter()
        .find(|f| f["logicalId"] == "SharedInvoke")
        .unwrap();
    assert_eq!(shared["severity"], "warning");
    assert!(
        shared["message"].as_str().unwrap().contains(
            "cannot resolve Fn::ImportValue at Resources.SharedInvoke.Properties.FunctionName"
        ),
        "{shared}"
    );
    // SAM's event sources are notes, at the event's line.
    let nightly = findings
        .iter()
        .find(|f| f["message"].as_str().unwrap().contains("event Nightly"))
        .unwrap();
    assert_eq!(nightly["line"], at("Nightly:"));
    assert!(
        nightly["message"]
            .as_str()
            .unwrap()
            .contains("events.amazonaws.com")
    );
}

#[test]
fn a_template_whose_grants_match_the_allowlist_passes() {
    let (_, o) = lint_fixture("sam_grants_allowed.yaml", "json");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(
        json_findings(&o).is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn without_the_home_a_pseudo_parameter_is_said_and_the_grant_not_judged() {
    let p = template("sam_grants_allowed.yaml");
    let o = lint(&["--format", "json", &p.to_string_lossy()], None);
    assert_eq!(o.status.code(), Some(0));
    let findings = json_findings(&o);
    let topic = findings
        .iter()
        .find(|f| f["logicalId"] == "TopicInvoke")
        .unwrap();
    assert_eq!(topic["severity"], "warning");
    assert!(
        topic["message"].as_str().unwrap().contains("give --region"),
        "{topic}"
    );
}

#[test]
fn a_serverless_framework_template_in_json_names_its_public_grant_and_what_it_cannot_resolve() {
    let (path, o) = lint_fixture("serverless_framework.json", "json");
    assert_eq!(o.status.code(), Some(1));
    let findings = json_findings(&o);
    let got = located(&findings);
    assert!(got.contains(&(
        "error".into(),
        "HelloLambdaPermissionEverybody".into(),
        line_of(&path, "\"HelloLambdaPermissionEverybody\": {")
    )));
    let api = findings
        .iter()
        .find(|f| f["logicalId"] == "HelloLambdaPermissionApiGateway")
        .unwrap();
    assert_eq!(api["severity"], "warning");
    assert!(
        api["message"]
            .as_str()
            .unwrap()
            .contains("cannot resolve Ref ApiGatewayRestApi")
    );
    // The SNS grant with its literal topic is in the allowlist.
    assert!(
        !findings
            .iter()
            .any(|f| f["logicalId"] == "HelloLambdaPermissionHellotopicSNS")
    );
}

#[test]
fn a_whole_document_resource_policy_is_judged_statement_by_statement() {
    let (path, o) = lint_fixture("cfn_resource_policy.yaml", "json");
    assert_eq!(o.status.code(), Some(1));
    let findings = json_findings(&o);
    let errors: Vec<_> = findings
        .iter()
        .filter(|f| f["severity"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{findings:?}");
    assert_eq!(errors[0]["logicalId"], "ThumbnailsPolicy");
    assert_eq!(errors[0]["principal"], "999988887777");
    assert_eq!(errors[0]["line"], line_of(&path, "ThumbnailsPolicy:"));
    // A function without a literal name is said; --function names it, and its public URL
    // grant is then judged.
    assert!(findings.iter().any(|f| {
        f["logicalId"] == "Site"
            && f["message"]
                .as_str()
                .unwrap()
                .contains("--function Site=NAME")
    }));
    let p = path.to_string_lossy();
    let mut args = HOME.to_vec();
    args.extend(["--format", "json", "--function", "Site=orders-api", &p]);
    let o = lint(&args, None);
    let findings = json_findings(&o);
    assert!(findings.iter().any(|f| f["logicalId"] == "SitePublic"
        && f["severity"] == "error"
        && f["principal"] == "*"));
}

#[test]
fn sarif_validates_and_points_at_the_templates_lines() {
    let (path, o) = lint_fixture("sam_grants_outside.yaml", "sarif");
    assert_eq!(o.status.code(), Some(1));
    let log: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_valid_sarif(&log);
    let results = log["runs"][0]["results"].as_array().unwrap();
    let foreign = results
        .iter()
        .find(|r| r["locations"][0]["logicalLocations"][0]["name"] == "ForeignAccountInvoke")
        .unwrap();
    assert_eq!(foreign["level"], "error");
    assert_eq!(foreign["ruleId"], "IG0101");
    let physical = &foreign["locations"][0]["physicalLocation"];
    assert_eq!(
        physical["artifactLocation"]["uri"],
        "tests/fixtures/templates/sam_grants_outside.yaml"
    );
    assert_eq!(
        physical["region"]["startLine"],
        line_of(&path, "ForeignAccountInvoke:")
    );
    assert!(results.iter().any(|r| r["level"] == "warning"));
}

#[test]
fn stdin_is_read_for_dash_and_bad_input_says_where_with_exit_2() {
    let text = std::fs::read_to_string(template("serverless_framework.json")).unwrap();
    let mut args = HOME.to_vec();
    args.extend(["--format", "json", "-"]);
    let o = lint(&args, Some(&text));
    assert_eq!(o.status.code(), Some(1));
    assert!(json_findings(&o).iter().all(|f| f["file"] == "(stdin)"));

    let o = lint(
        &["-"],
        Some("{\n  \"Resources\": {\n    \"A\": {,}\n  }\n}\n"),
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("(stdin): line 3"), "{err}");
    assert!(err.contains("not valid JSON"), "{err}");

    let o = lint(&["-"], Some("Description: no resources\n"));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no Resources"));

    let o = lint(&["no/such/template.yaml"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no/such/template.yaml"));
}

#[test]
fn cdks_public_function_url_pair_is_inside_a_public_url_entry_and_outside_any_other() {
    let path = template("cdk_function_url.template.json");
    let p = path.to_string_lossy();
    let mut args = HOME.to_vec();
    args.extend(["--format", "json", &p]);
    let o = lint_against(&template("policies_public_url.json"), &args, None);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let findings = json_findings(&o);
    assert!(
        findings.iter().all(|f| f["severity"] == "note"),
        "{findings:?}"
    );

    let o = lint(&args, None);
    assert_eq!(o.status.code(), Some(1));
    let mut errors: Vec<String> = json_findings(&o)
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["logicalId"].as_str().unwrap().to_owned())
        .collect();
    errors.sort();
    assert_eq!(
        errors,
        [
            "Ordersinvokefunction69A08120",
            "OrdersinvokefunctionurlE26809DD"
        ]
    );
}
