//! A function's resource-based policy as GetPolicy returns it, read the way IAM reads it: every
//! principal form, `NotPrincipal`/`NotAction`, condition values as strings, numbers or booleans.
//! Each statement keeps its JSON verbatim, so a whole-document write keeps what it does not
//! change byte for byte. Pure: no I/O.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::aws::arn::IamArn;
use crate::aws::ids::is_account_id;

#[derive(Debug, thiserror::Error)]
pub enum PolicyDocError {
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("at {path}: {message}")]
    Shape { path: String, message: String },
}

/// The current resource policy of one function or qualifier.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourcePolicy {
    pub revision_id: Option<String>,
    /// The document's `Id` and `Version`, kept on a whole-document write.
    pub id: Option<String>,
    pub version: Option<String>,
    pub statements: Vec<Statement>,
}

/// One statement, normalized: condition operators and keys lower-cased, values as strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub index: usize,
    pub sid: Option<String>,
    pub effect: String,
    /// The principals of `Principal`, or of `NotPrincipal` when `not_principal` is set.
    pub principals: Vec<Principal>,
    pub not_principal: bool,
    /// The actions of `Action`, or of `NotAction` when `not_action` is set.
    pub actions: Vec<String>,
    pub not_action: bool,
    /// The patterns of `Resource`, or of `NotResource` when `not_resource` is set; empty when
    /// the statement has neither.
    pub resources: Vec<String>,
    pub not_resource: bool,
    pub conditions: Vec<Condition>,
    /// The statement as it was written.
    pub raw: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase", tag = "type", content = "value")]
pub enum Principal {
    /// `"*"` or `{"AWS": "*"}`: anyone.
    Any,
    Service(String),
    /// A whole account: a bare id, or `arn:<partition>:iam::<id>:root`.
    Account(String),
    /// Any other IAM ARN (a role, a user).
    Aws(String),
    /// `Federated`, `CanonicalUser` and other principal kinds, as `KIND:value`.
    Other(String),
}

impl Principal {
    /// How a log line shows it; also the `Principal` parameter AddPermission takes.
    pub fn as_parameter(&self) -> String {
        match self {
            Principal::Any => "*".to_owned(),
            Principal::Service(s) | Principal::Account(s) | Principal::Aws(s) => s.clone(),
            Principal::Other(s) => s.clone(),
        }
    }

    /// An `AWS` principal value as IAM reads it.
    pub fn from_aws(value: &str) -> Principal {
        if value == "*" {
            return Principal::Any;
        }
        if is_account_id(value) {
            return Principal::Account(value.to_owned());
        }
        match IamArn::principal(value) {
            Some(arn) if arn.resource == "root" => Principal::Account(arn.account.to_owned()),
            _ => Principal::Aws(value.to_owned()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Condition {
    /// Lower-cased operator with its qualifiers, e.g. `arnlike` or `forallvalues:stringequals`.
    pub operator: String,
    /// Lower-cased key, e.g. `aws:sourcearn`.
    pub key: String,
    pub values: Vec<String>,
}

impl ResourcePolicy {
    /// Reads a GetPolicy response (`{"Policy": "<json string>", "RevisionId": …}`), a bare
    /// policy document, a ResourceNotFoundException body (no policy), or a recorded boto3
    /// response (`{"status_code", "data"}`).
    pub fn parse(text: &str) -> Result<Self, PolicyDocError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| PolicyDocError::Json(e.to_string()))?;
        Self::from_value(&value)
    }

    /// Reads the `Policy` string of a GetPolicy or GetResourcePolicy response.
    pub fn from_document(
        document: &str,
        revision_id: Option<String>,
    ) -> Result<Self, PolicyDocError> {
        let doc: Value = serde_json::from_str(document).map_err(|e| {
            shape(
                "Policy",
                &format!("the policy string is not valid JSON: {e}"),
            )
        })?;
        let mut policy = document_of(&doc, "Policy")?;
        policy.revision_id = revision_id;
        Ok(policy)
    }

    pub fn from_value(value: &Value) -> Result<Self, PolicyDocError> {
        let Value::Object(obj) = value else {
            return Err(shape(
                "(root)",
                "expected a GetPolicy response or a policy document object",
            ));
        };
        if let (Some(data), Some(_)) = (obj.get("data"), obj.get("status_code")) {
            return Self::from_value(data);
        }
        if obj
            .get("Error")
            .and_then(|e| e.get("Code"))
            .and_then(Value::as_str)
            == Some("ResourceNotFoundException")
        {
            return Ok(ResourcePolicy::default());
        }
        let revision_id = match obj.get("RevisionId") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(shape("RevisionId", "expected a string")),
        };
        if let Some(policy) = obj.get("Policy") {
            let Value::String(doc) = policy else {
                return Err(shape(
                    "Policy",
                    "expected the policy document as a JSON string",
                ));
            };
            return Self::from_document(doc, revision_id);
        }
        if obj.contains_key("Statement") {
            let mut policy = document_of(value, "")?;
            policy.revision_id = revision_id;
            return Ok(policy);
        }
        Err(shape(
            "(root)",
            "expected \"Policy\" (a GetPolicy response) or \"Statement\" (a policy document)",
        ))
    }

    /// The document as PutResourcePolicy takes it: `Version`, `Id`, and the statements verbatim.
    pub fn document(&self) -> Value {
        let mut doc = Map::new();
        doc.insert(
            "Version".into(),
            Value::String(self.version.clone().unwrap_or_else(|| "2012-10-17".into())),
        );
        if let Some(id) = &self.id {
            doc.insert("Id".into(), Value::String(id.clone()));
        }
        doc.insert(
            "Statement".into(),
            Value::Array(self.statements.iter().map(|s| s.raw.clone()).collect()),
        );
        Value::Object(doc)
    }
}

impl Statement {
    /// One statement written as JSON, at `index` of its document.
    pub fn from_raw(index: usize, value: &Value) -> Result<Self, PolicyDocError> {
        statement(index, value, &format!("Statement[{index}]"))
    }
}

fn shape(path: &str, message: &str) -> PolicyDocError {
    PolicyDocError::Shape {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_owned()
    } else {
        format!("{base}.{key}")
    }
}

/// `obj[key]`: absent or null is none, a string is itself, anything else an error at `path.key`.
fn optional_string(
    obj: &Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<Option<String>, PolicyDocError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(shape(&join(path, key), "expected a string")),
    }
}

fn document_of(doc: &Value, base: &str) -> Result<ResourcePolicy, PolicyDocError> {
    let Some(obj) = doc.as_object() else {
        return Err(shape(base, "expected a policy document object"));
    };
    let text = |key: &str| optional_string(obj, base, key);
    let path = join(base, "Statement");
    let items: Vec<&Value> = match obj.get("Statement") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        Some(_) => {
            return Err(shape(
                &path,
                "expected a statement object or a list of them",
            ));
        }
    };
    let statements = items
        .into_iter()
        .enumerate()
        .map(|(index, s)| statement(index, s, &format!("{path}[{index}]")))
        .collect::<Result<_, _>>()?;
    Ok(ResourcePolicy {
        revision_id: None,
        id: text("Id")?,
        version: text("Version")?,
        statements,
    })
}

fn statement(index: usize, value: &Value, path: &str) -> Result<Statement, PolicyDocError> {
    let Some(obj) = value.as_object() else {
        return Err(shape(path, "expected a statement object"));
    };
    let string = |key: &str| optional_string(obj, path, key);
    let sid = string("Sid")?.filter(|s| !s.is_empty());
    let effect = string("Effect")?.ok_or_else(|| shape(&join(path, "Effect"), "missing"))?;
    // `X` or `NotX`, never both: the key the statement uses, and whether it is the negated one.
    let element = |key: &'static str, not_key: &'static str| match (obj.get(key), obj.get(not_key))
    {
        (Some(_), Some(_)) => Err(shape(path, &format!("has both {key} and {not_key}"))),
        (_, Some(_)) => Ok((not_key, true)),
        _ => Ok((key, false)),
    };
    let (principal_key, not_principal) = element("Principal", "NotPrincipal")?;
    let principals = match obj.get(principal_key) {
        None => Vec::new(),
        Some(p) => principals(p, &join(path, principal_key))?,
    };
    let (action_key, not_action) = element("Action", "NotAction")?;
    let actions = match obj.get(action_key) {
        None => Vec::new(),
        Some(a) => string_list(a, &join(path, action_key))?,
    };
    let (resource_key, not_resource) = element("Resource", "NotResource")?;
    let resources = match obj.get(resource_key) {
        None | Some(Value::Null) => Vec::new(),
        Some(r) => string_list(r, &join(path, resource_key))?,
    };
    let conditions = match obj.get("Condition") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(ops)) => conditions(ops, &join(path, "Condition"))?,
        Some(_) => {
            return Err(shape(
                &join(path, "Condition"),
                "expected an object of operators",
            ));
        }
    };
    Ok(Statement {
        index,
        sid,
        effect,
        principals,
        not_principal,
        actions,
        not_action,
        resources,
        not_resource,
        conditions,
        raw: value.clone(),
    })
}

fn string_list(value: &Value, path: &str) -> Result<Vec<String>, PolicyDocError> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| shape(&format!("{path}[{i}]"), "expected a string"))
            })
            .collect(),
        _ => Err(shape(path, "expected a string or a list of strings")),
    }
}

fn principals(value: &Value, path: &str) -> Result<Vec<Principal>, PolicyDocError> {
    match value {
        Value::String(s) if s == "*" => Ok(vec![Principal::Any]),
        Value::String(s) => Ok(vec![Principal::from_aws(s)]),
        Value::Object(map) => {
            let mut out = Vec::new();
            for (kind, v) in map {
                for p in string_list(v, &join(path, kind))? {
                    out.push(match kind.as_str() {
                        "AWS" => Principal::from_aws(&p),
                        "Service" => Principal::Service(p.to_ascii_lowercase()),
                        other => Principal::Other(format!("{other}:{p}")),
                    });
                }
            }
            Ok(out)
        }
        _ => Err(shape(
            path,
            "expected \"*\" or an object such as {\"Service\": …} or {\"AWS\": …}",
        )),
    }
}

/// A condition value as IAM reads it: a string, a number or a boolean ("quotation marks are
/// optional for numeric and Boolean values").
fn condition_value(value: &Value, path: &str) -> Result<String, PolicyDocError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(shape(path, "expected a string, a number or a boolean")),
    }
}

fn conditions(ops: &Map<String, Value>, path: &str) -> Result<Vec<Condition>, PolicyDocError> {
    let mut out = Vec::new();
    for (op, keys) in ops {
        let op_path = join(path, op);
        let Value::Object(keys) = keys else {
            return Err(shape(&op_path, "expected an object of condition keys"));
        };
        for (key, values) in keys {
            let key_path = join(&op_path, key);
            let values = match values {
                Value::Array(items) => items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| condition_value(v, &format!("{key_path}[{i}]")))
                    .collect::<Result<_, _>>()?,
                one => vec![condition_value(one, &key_path)?],
            };
            out.push(Condition {
                operator: op.to_ascii_lowercase(),
                key: key.to_ascii_lowercase(),
                values,
            });
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_getpolicy_response_carries_its_document_as_a_string() {
        let text = r#"{"Policy": "{\"Id\":\"default\",\"Statement\":[{\"Sid\":\"a\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"111122223333\"},\"Action\":[\"lambda:InvokeFunction\"],\"Condition\":{\"ArnLike\":{\"AWS:SourceArn\":\"arn:aws:s3:::b\"}}}]}", "RevisionId": "r1"}"#;
        let p = ResourcePolicy::parse(text).expect("parses");
        assert_eq!(p.revision_id.as_deref(), Some("r1"));
        assert_eq!(p.id.as_deref(), Some("default"));
        let s = &p.statements[0];
        assert_eq!(
            s.principals,
            vec![Principal::Account("111122223333".into())]
        );
        assert_eq!(s.conditions[0].operator, "arnlike");
        assert_eq!(s.conditions[0].key, "aws:sourcearn");
        assert_eq!(p.document()["Statement"][0], s.raw);
    }

    #[test]
    fn accounts_read_the_same_in_every_partition_and_form() {
        for form in [
            r#""111122223333""#,
            r#"{"AWS": "111122223333"}"#,
            r#"{"AWS": "arn:aws:iam::111122223333:root"}"#,
            r#"{"AWS": ["arn:aws-cn:iam::111122223333:root"]}"#,
            r#"{"AWS": "arn:aws-us-gov:iam::111122223333:root"}"#,
        ] {
            let p = ResourcePolicy::parse(&format!(
                r#"{{"Statement": {{"Effect": "Allow", "Principal": {form}, "Action": "lambda:InvokeFunction"}}}}"#
            ))
            .expect("parses");
            assert_eq!(
                p.statements[0].principals,
                vec![Principal::Account("111122223333".into())],
                "{form}"
            );
        }
    }

    #[test]
    fn condition_values_are_read_as_iam_reads_them() {
        let p = ResourcePolicy::parse(
            r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction",
            "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": 3600}, "Bool": {"aws:SecureTransport": [true, "false"]},
            "StringEquals": {"aws:SourceAccount": 111122223333}}}]}"#,
        )
        .expect("parses");
        let c = &p.statements[0].conditions;
        assert_eq!(c[0].values, vec!["true", "false"]);
        assert_eq!(c[1].values, vec!["3600"]);
        assert_eq!(c[2].values, vec!["111122223333"]);
    }

    #[test]
    fn negated_elements_are_read_not_refused() {
        let p = ResourcePolicy::parse(
            r#"{"Statement": [{"Effect": "Allow", "NotPrincipal": {"AWS": "111122223333"}, "NotAction": "lambda:GetPolicy"}]}"#,
        )
        .expect("parses");
        let s = &p.statements[0];
        assert!(s.not_principal && s.not_action);
        assert_eq!(s.actions, vec!["lambda:GetPolicy"]);
    }

    #[test]
    fn bad_documents_say_where() {
        let e = |t: &str| ResourcePolicy::parse(t).expect_err("bad").to_string();
        assert_eq!(
            e(r#"{"Policy": 3}"#),
            "at Policy: expected the policy document as a JSON string"
        );
        assert!(
            e(r#"{"Statement": [{"Effect": "Allow", "Action": 5}]}"#)
                .starts_with("at Statement[0].Action:")
        );
        assert!(
            e(r#"{"Statement": [{"Effect": "Allow", "Principal": 5}]}"#)
                .starts_with("at Statement[0].Principal:")
        );
        assert_eq!(
            e(
                r#"{"Statement": [{"Effect": "Allow", "Condition": {"StringEquals": {"k": [{"x": 1}]}}}]}"#
            ),
            "at Statement[0].Condition.StringEquals.k[0]: expected a string, a number or a boolean"
        );
        assert!(e(r#"{"Policy": "{not json"}"#).contains("not valid JSON"));
        assert!(e("[]").contains("expected a GetPolicy response"));
    }

    #[test]
    fn no_policy_is_an_empty_policy() {
        let p = ResourcePolicy::parse(r#"{"Error": {"Code": "ResourceNotFoundException"}}"#)
            .expect("parses");
        assert!(p.statements.is_empty());
    }
}
