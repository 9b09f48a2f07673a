//! One SCP document from the guarded functions it covers.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::model::Target;

pub const ADD_PERMISSION: &str = "lambda:AddPermission";
pub const URL_ACTIONS: [&str; 2] = [
    "lambda:CreateFunctionUrlConfig",
    "lambda:UpdateFunctionUrlConfig",
];
pub const PUT_RESOURCE_POLICY: &str = "lambda:PutResourcePolicy";

/// The document denying, on `targets`, what their allowlists do not allow, to all but `exempt`.
pub fn document(targets: &[&Target], exempt: &[String]) -> Value {
    let mut statements = Vec::new();
    // Functions allowing the same principals share one statement: the size limit is tight.
    let mut by_principals: BTreeMap<&BTreeSet<String>, Vec<&str>> = BTreeMap::new();
    for t in targets {
        by_principals
            .entry(&t.principals)
            .or_default()
            .extend(t.resources.iter().map(String::as_str));
    }
    for (principals, resources) in by_principals {
        let mut condition = Map::new();
        if !principals.is_empty() {
            condition.insert(
                "StringNotEquals".into(),
                json!({ "lambda:Principal": one_or_many(principals.iter().map(String::as_str)) }),
            );
        }
        // No Sid: one per function would cost a function's room in every few.
        statements.push(statement(
            None,
            Value::from(ADD_PERMISSION),
            &resources,
            condition,
            exempt,
        ));
    }
    let no_public_url: Vec<&str> = targets
        .iter()
        .filter(|t| !t.public_url)
        .flat_map(|t| t.resources.iter().map(String::as_str))
        .collect();
    if !no_public_url.is_empty() {
        let mut condition = Map::new();
        condition.insert(
            "StringEquals".into(),
            json!({ "lambda:FunctionUrlAuthType": "NONE" }),
        );
        statements.push(statement(
            Some("DenyPublicFunctionUrl"),
            json!(URL_ACTIONS),
            &no_public_url,
            condition,
            exempt,
        ));
    }
    let all: Vec<&str> = targets
        .iter()
        .flat_map(|t| t.resources.iter().map(String::as_str))
        .collect();
    if !all.is_empty() {
        statements.push(statement(
            Some("DenyWholeDocumentWrite"),
            Value::from(PUT_RESOURCE_POLICY),
            &all,
            Map::new(),
            exempt,
        ));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

fn statement(
    sid: Option<&str>,
    action: Value,
    resources: &[&str],
    mut condition: Map<String, Value>,
    exempt: &[String],
) -> Value {
    if !exempt.is_empty() {
        condition.insert(
            "ArnNotLike".into(),
            json!({ "aws:PrincipalArn": one_or_many(exempt.iter().map(String::as_str)) }),
        );
    }
    let mut s = Map::new();
    if let Some(sid) = sid {
        s.insert("Sid".into(), Value::from(sid));
    }
    s.insert("Effect".into(), Value::from("Deny"));
    s.insert("Action".into(), action);
    s.insert("Resource".into(), one_or_many(resources.iter().copied()));
    if !condition.is_empty() {
        s.insert("Condition".into(), Value::Object(condition));
    }
    Value::Object(s)
}

/// A lone value as a string, several as a list: the shorter of IAM's two spellings.
fn one_or_many<'a>(values: impl Iterator<Item = &'a str>) -> Value {
    let mut values: Vec<Value> = values.map(Value::from).collect();
    if values.len() == 1 {
        values.remove(0)
    } else {
        Value::Array(values)
    }
}
