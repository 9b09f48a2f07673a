//! The log-line contract: `schemas/log-line.schema.json` is the schema generated from the Rust
//! types, and every line the guard writes in real scenarios (against the in-memory Lambda store)
//! validates against it, with no field the schema does not declare.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

#[path = "support/memory_guard.rs"]
mod memory_guard;

use memory_guard::{HOME, debug_settings, memory_guard, policies_of_f};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use invokeguard::guard::memory::MemoryAws;
use invokeguard::guard::{ApiError, Guard, MemorySink};
use serde_json::{Map, Value, json};

const ARN: &str = "arn:aws:lambda:us-east-1:111122223333:function:f";

fn checked_in() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas/log-line.schema.json");
    let text = std::fs::read_to_string(&path).expect("schemas/log-line.schema.json");
    serde_json::from_str(&text).expect("schema JSON")
}

#[test]
fn the_checked_in_log_line_schema_is_the_generated_one() {
    let generated = serde_json::to_value(invokeguard::log::line::json_schema()).unwrap();
    assert!(
        generated == checked_in(),
        "schemas/log-line.schema.json is stale: run `cargo run -q -- schema --log-line > schemas/log-line.schema.json`"
    );
}

#[test]
fn the_cli_prints_the_log_line_schema_with_a_flag_and_the_policies_schema_without() {
    let run = |args: &[&str]| -> Value {
        let o = Command::new(env!("CARGO_BIN_EXE_invokeguard"))
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {o:?}");
        serde_json::from_slice(&o.stdout).unwrap()
    };
    assert_eq!(run(&["schema", "--log-line"]), checked_in());
    assert_eq!(
        run(&["schema"])["title"],
        "invokeguard policies file",
        "`schema` without the flag stays the policies file's"
    );
}

#[test]
fn the_schema_names_every_kind_of_line() {
    let schema = checked_in();
    let kinds: BTreeSet<&str> = schema["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["properties"]["message"]["const"].as_str())
        .collect();
    let expected = [
        "coalesced",
        "decision",
        "error",
        "remediation",
        "summary",
        "sweep",
        "sweep-plan",
        "unmanaged",
    ];
    assert_eq!(kinds, expected.into_iter().collect());
}

/// A validator for the part of JSON Schema 2020-12 the generator writes: `$ref` into `$defs`,
/// `type` (one or a list, `null` for nullable), `properties`, `required`, `enum`, `const`,
/// `oneOf`, `anyOf`, `allOf`, `items` and `minimum`. Like `unevaluatedProperties: false` at
/// every object, it also refuses a property no applicable subschema declares.
struct Validator<'a> {
    root: &'a Value,
}

impl Validator<'_> {
    fn validate(&self, value: &Value) -> Result<(), String> {
        let declared = self.check(self.root, value, "$")?;
        undeclared(value, &declared, "$")
    }

    /// Checks `value` against `schema`; returns the property names the schema (and the
    /// subschemas that applied) declares for it.
    fn check(&self, schema: &Value, value: &Value, at: &str) -> Result<BTreeSet<String>, String> {
        let Some(s) = schema.as_object() else {
            return match schema {
                Value::Bool(true) => Ok(BTreeSet::new()),
                _ => Err(format!("{at}: unsupported schema {schema}")),
            };
        };
        let known = [
            "$schema",
            "$ref",
            "$defs",
            "title",
            "description",
            "format",
            "type",
            "properties",
            "required",
            "enum",
            "const",
            "oneOf",
            "anyOf",
            "allOf",
            "items",
            "minimum",
        ];
        if let Some(k) = s.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(format!(
                "{at}: the test's validator does not know `{k}`: teach it"
            ));
        }
        let mut declared = BTreeSet::new();
        if let Some(r) = s.get("$ref") {
            declared.extend(self.check(self.resolve(r)?, value, at)?);
        }
        if let Some(t) = s.get("type") {
            let types: Vec<&str> = match t {
                Value::String(one) => vec![one.as_str()],
                Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                _ => return Err(format!("{at}: bad type {t}")),
            };
            if !types.iter().any(|t| has_type(value, t)) {
                return Err(format!("{at}: {value} is not of type {types:?}"));
            }
        }
        if let Some(c) = s.get("const")
            && value != c
        {
            return Err(format!("{at}: {value} is not {c}"));
        }
        if let Some(Value::Array(options)) = s.get("enum")
            && !options.contains(value)
        {
            return Err(format!("{at}: {value} is not one of {options:?}"));
        }
        if let (Some(min), Some(n)) = (s.get("minimum").and_then(Value::as_f64), value.as_f64())
            && n < min
        {
            return Err(format!("{at}: {n} < {min}"));
        }
        if let (Some(Value::Array(required)), Some(obj)) = (s.get("required"), value.as_object()) {
            for r in required.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    return Err(format!("{at}: `{r}` is required"));
                }
            }
        }
        if let (Some(Value::Object(props)), Some(obj)) = (s.get("properties"), value.as_object()) {
            for (name, sub) in props {
                declared.insert(name.clone());
                if let Some(v) = obj.get(name) {
                    let at = format!("{at}.{name}");
                    let inner = self.check(sub, v, &at)?;
                    if names_its_keys(sub) {
                        undeclared(v, &inner, &at)?;
                    }
                }
            }
        }
        if let (Some(items), Some(array)) = (s.get("items"), value.as_array()) {
            for (i, v) in array.iter().enumerate() {
                let at = format!("{at}[{i}]");
                let inner = self.check(items, v, &at)?;
                undeclared(v, &inner, &at)?;
            }
        }
        if let Some(Value::Array(all)) = s.get("allOf") {
            for sub in all {
                declared.extend(self.check(sub, value, at)?);
            }
        }
        if let Some(Value::Array(any)) = s.get("anyOf") {
            let passed: Vec<_> = any
                .iter()
                .filter_map(|sub| self.check(sub, value, at).ok())
                .collect();
            if passed.is_empty() {
                return Err(format!("{at}: {value} matches no anyOf subschema"));
            }
            declared.extend(passed.into_iter().flatten());
        }
        if let Some(Value::Array(one)) = s.get("oneOf") {
            let results: Vec<_> = one.iter().map(|sub| self.check(sub, value, at)).collect();
            let passed: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
            match passed.as_slice() {
                [only] => declared.extend(only.iter().cloned()),
                [] => {
                    let why: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
                    return Err(format!("{at}: matches no oneOf subschema: {why:?}"));
                }
                _ => return Err(format!("{at}: matches {} oneOf subschemas", passed.len())),
            }
        }
        Ok(declared)
    }

    fn resolve(&self, reference: &Value) -> Result<&Value, String> {
        let name = reference
            .as_str()
            .and_then(|r| r.strip_prefix("#/$defs/"))
            .ok_or_else(|| format!("unsupported $ref {reference}"))?;
        self.root["$defs"]
            .get(name)
            .ok_or_else(|| format!("no $defs/{name}"))
    }
}

fn has_type(value: &Value, t: &str) -> bool {
    match t {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    }
}

/// A schema with no `type`, `properties`, `$ref` or combinator allows any value (a policy
/// statement, say): its keys are not checked.
fn names_its_keys(schema: &Value) -> bool {
    ["type", "properties", "$ref", "oneOf", "anyOf", "allOf"]
        .iter()
        .any(|k| schema.get(*k).is_some())
}

fn undeclared(value: &Value, declared: &BTreeSet<String>, at: &str) -> Result<(), String> {
    match value
        .as_object()
        .and_then(|o| o.keys().find(|k| !declared.contains(*k)))
    {
        Some(k) => Err(format!("{at}: `{k}` is not in the schema")),
        None => Ok(()),
    }
}

#[test]
fn the_validator_refuses_what_the_schema_does_not_allow() {
    let schema = checked_in();
    let v = Validator { root: &schema };
    let good = json!({"timestamp": "t", "level": "ERROR", "message": "error", "requestId": "r", "error": "x"});
    v.validate(&good).unwrap();
    let mutate = |f: &dyn Fn(&mut Map<String, Value>)| {
        let mut line = good.as_object().unwrap().clone();
        f(&mut line);
        v.validate(&Value::Object(line))
    };
    assert!(
        mutate(&|l| {
            l.insert("surprise".into(), json!(1));
        })
        .is_err()
    );
    assert!(
        mutate(&|l| {
            l.insert("level".into(), json!("NOTICE"));
        })
        .is_err()
    );
    assert!(
        mutate(&|l| {
            l.remove("error");
        })
        .is_err()
    );
    assert!(
        mutate(&|l| {
            l.insert("message".into(), json!("summary"));
        })
        .is_err()
    );
    // A line about a record carries all of the subject's fields.
    assert!(
        mutate(&|l| {
            l.insert("message".into(), json!("coalesced"));
            l.insert("why".into(), json!("in-flight"));
        })
        .is_err()
    );
}

fn guard(allow: Value, extra: Value, aws: MemoryAws) -> (Guard<MemoryAws>, MemorySink) {
    let mut with_live = json!({"qualifiers": ["live"]});
    if let (Some(w), Some(e)) = (with_live.as_object_mut(), extra.as_object()) {
        w.extend(e.clone());
    }
    memory_guard(&policies_of_f(allow, with_live), aws, debug_settings())
}

fn record(identity: Value, function_arn: &str) -> Value {
    json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke", "eventID": "e1",
        "userIdentity": identity, "requestParameters": null,
        "resources": [{"type": "AWS::Lambda::Function", "ARN": function_arn}]})
}

fn foreign() -> Value {
    record(
        json!({"type": "AWSAccount", "accountId": "999999999999"}),
        ARN,
    )
}

fn open_and_kept() -> Value {
    json!([
        {"Sid": "open", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"},
        {"Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"},
        {"Sid": "deny-http", "Effect": "Deny", "Principal": "*", "Action": "lambda:*", "Condition": {"Bool": {"aws:SecureTransport": false}}},
        {"Sid": "get", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "lambda:GetFunction"}
    ])
}

/// Runs `events` through a guard and returns every line it wrote.
async fn lines_of(allow: Value, extra: Value, aws: MemoryAws, events: Vec<Value>) -> Vec<Value> {
    let (g, sink) = guard(allow, extra, aws);
    for event in events {
        // Failures are scenarios too: only the lines matter here.
        let _ = g.handle_event(event, "req-1").await;
    }
    sink.lines()
}

async fn scenarios() -> Vec<(&'static str, Vec<Value>)> {
    let mut out = Vec::new();

    let aws = MemoryAws::with_functions(&["f"]);
    aws.set_aliases("f", &["live"]);
    aws.set_statements("f", None, open_and_kept());
    aws.set_statements("f", Some("live"), open_and_kept());
    let allow = json!([{"account": "444455556666"}, {"service": "s3.amazonaws.com", "sourceArn": "arn:aws:s3:::uploads", "sourceAccount": HOME}]);
    out.push((
        "enforce: add, remove, whole document for a statement without a Sid, unmanaged, coalesced",
        lines_of(
            allow.clone(),
            json!({}),
            aws,
            vec![json!({"Records": [foreign(), foreign()]})],
        )
        .await,
    ));

    let aws = MemoryAws::with_functions(&["f"]);
    aws.set_statements("f", None, open_and_kept());
    out.push((
        "report mode",
        lines_of(
            allow.clone(),
            json!({"mode": "report"}),
            aws,
            vec![foreign()],
        )
        .await,
    ));

    let aws = MemoryAws::with_functions(&["f"]);
    aws.set_statements("f", None, open_and_kept());
    aws.fail_next(
        "AddPermission",
        vec![ApiError::Throttled("slow down".into())],
    );
    out.push((
        "a failed addition: nothing removed",
        lines_of(allow.clone(), json!({}), aws, vec![foreign()]).await,
    ));

    let aws = MemoryAws::with_functions(&["f"]);
    aws.set_statements("f", None, open_and_kept());
    aws.fail_next("AddPermission", vec![ApiError::Conflict("busy".into())]);
    aws.fail_next(
        "PutResourcePolicy",
        vec![ApiError::PreconditionFailed("stale".into())],
    );
    out.push((
        "conflicts retried",
        lines_of(allow.clone(), json!({}), aws, vec![foreign()]).await,
    ));

    let aws = MemoryAws::with_functions(&["f"]);
    aws.set_statements("f", None, open_and_kept());
    aws.fail_next("PutEvents", vec![ApiError::Other("bus gone".into())]);
    out.push((
        "a lost notification",
        lines_of(allow.clone(), json!({}), aws, vec![foreign()]).await,
    ));

    let aws = MemoryAws::with_functions(&[]);
    out.push((
        "function not found",
        lines_of(allow.clone(), json!({}), aws, vec![foreign()]).await,
    ));

    let aws = MemoryAws::with_functions(&["f"]);
    aws.set_aliases("f", &["live"]);
    aws.set_statements("f", Some("live"), open_and_kept());
    let change = json!({"eventSource": "lambda.amazonaws.com", "eventName": "AddPermission20150331v2",
        "eventCategory": "Management", "eventID": "c1", "awsRegion": "us-east-1", "recipientAccountId": HOME,
        "requestParameters": {"functionName": "f", "statementId": "open", "principal": "*", "action": "lambda:InvokeFunction"},
        "responseElements": {"statement": "{\"Sid\":\"open\",\"Effect\":\"Allow\",\"Principal\":\"*\"}"},
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/x", "accountId": HOME}});
    let sweep = json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
    out.push((
        "a change event, then a sweep of the function and its alias",
        lines_of(allow.clone(), json!({}), aws, vec![change, sweep]).await,
    ));

    let aws = MemoryAws::with_functions(&["f"]);
    let allowed = record(
        json!({"type": "AWSAccount", "accountId": "444455556666"}),
        ARN,
    );
    let unproven = record(
        json!({"type": "AWSService", "invokedBy": "s3.amazonaws.com"}),
        ARN,
    );
    let iam = record(
        json!({"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/x", "accountId": HOME}),
        ARN,
    );
    let elsewhere = record(
        json!({"type": "AWSAccount", "accountId": "999999999999"}),
        "arn:aws:lambda:eu-west-1:111122223333:function:f",
    );
    let not_lambda =
        json!({"eventSource": "s3.amazonaws.com", "eventName": "GetObject", "eventID": "e2"});
    let not_a_record =
        json!({"Records": [{"eventSource": "lambda.amazonaws.com", "eventName": 7}]});
    out.push((
        "allowed, unproven, same-account IAM, not guarded, not Lambda, bad records",
        lines_of(
            allow,
            json!({}),
            aws,
            vec![
                allowed,
                unproven,
                iam,
                elsewhere,
                not_lambda,
                not_a_record,
                json!("nothing"),
            ],
        )
        .await,
    ));
    out
}

#[tokio::test]
async fn every_line_the_guard_writes_validates_against_the_schema() {
    let schema = checked_in();
    let v = Validator { root: &schema };
    let mut seen = BTreeSet::new();
    let mut values = BTreeSet::new();
    for (scenario, lines) in scenarios().await {
        assert!(!lines.is_empty(), "{scenario}: no lines");
        for line in &lines {
            if let Err(e) = v.validate(line) {
                panic!("{scenario}: {line}\n  does not validate: {e}");
            }
            let message = line["message"].as_str().unwrap_or_default();
            seen.insert(message.to_owned());
            for field in ["outcome", "action", "apply", "level"] {
                if let Some(value) = line.get(field).and_then(Value::as_str) {
                    values.insert(format!("{message}.{field}={value}"));
                }
            }
        }
    }
    // The scenarios reach every kind of line and the values the queries and alarms look for.
    let kinds = [
        "coalesced",
        "decision",
        "error",
        "remediation",
        "summary",
        "sweep",
        "unmanaged",
    ];
    assert_eq!(seen, kinds.iter().map(|k| k.to_string()).collect());
    for expected in [
        "remediation.outcome=applied",
        "remediation.outcome=skipped-report-mode",
        "remediation.outcome=conflict-retried",
        "remediation.outcome=failed",
        "remediation.action=add",
        "remediation.action=remove",
        "remediation.apply=permissions",
        "remediation.apply=document",
        "decision.level=DEBUG",
        "decision.level=INFO",
        "decision.level=WARN",
        "summary.level=ERROR",
    ] {
        assert!(
            values.contains(expected),
            "no line with {expected}: {values:?}"
        );
    }
}

#[tokio::test]
async fn the_lines_keep_their_field_names() {
    let aws = MemoryAws::with_functions(&["f"]);
    aws.set_statements("f", None, open_and_kept());
    let lines = lines_of(
        json!([{"account": "444455556666"}]),
        json!({"qualifiers": []}),
        aws,
        vec![foreign()],
    )
    .await;
    let keys = |message: &str, action: Option<&str>| -> Vec<String> {
        let line = lines
            .iter()
            .find(|l| l["message"] == message && action.is_none_or(|a| l["action"] == a))
            .unwrap_or_else(|| panic!("no {message} line"));
        line.as_object().unwrap().keys().cloned().collect()
    };
    let common = "account eventId function input level message mode qualifier requestId timestamp";
    let with = |extra: &str| -> Vec<String> {
        let mut k: Vec<String> = common
            .split(' ')
            .chain(extra.split(' '))
            .map(str::to_owned)
            .collect();
        k.sort();
        k
    };
    assert_eq!(
        keys("decision", None),
        with("caller fixable functionArn reason verdict")
    );
    assert_eq!(
        keys("remediation", Some("remove")),
        with("action apply outcome principal revisionId sid statementIndex why")
    );
    assert_eq!(
        keys("remediation", Some("add")),
        with(
            "action allowEntry apply eventSourceToken functionUrlAuthType invokeAction outcome principal principalOrgId revisionId sid sourceAccount sourceArn"
        )
    );
    assert_eq!(
        keys("summary", None),
        with("added apiCalls coalesced elapsedMs failed planned removed unfixed verdict")
    );
    assert_eq!(keys("unmanaged", None), with("sid statementIndex why"));
    let removed_sidless = lines
        .iter()
        .find(|l| {
            l["message"] == "remediation" && l["action"] == "remove" && l["statementIndex"] == 1
        })
        .unwrap();
    assert_eq!(
        removed_sidless["sid"],
        Value::Null,
        "a removed statement without a Sid has a null sid"
    );
}
