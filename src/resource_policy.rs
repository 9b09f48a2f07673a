//! A function's resource-based policy as GetPolicy returns it, read into statements the planner
//! can compare with allow entries. Pure: no I/O.

use serde::Serialize;
use serde_json::{Map, Value};

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
    pub statements: Vec<Statement>,
}

/// One statement, normalized: condition operators and keys lower-cased, lists flattened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub index: usize,
    pub sid: Option<String>,
    pub effect: String,
    pub principals: Vec<Principal>,
    pub actions: Vec<String>,
    pub conditions: Vec<Condition>,
    /// `NotPrincipal`, `NotAction` or `NotResource`: never managed.
    pub negated_element: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase", tag = "type", content = "value")]
pub enum Principal {
    /// `"*"` or `{"AWS": "*"}`: anyone.
    Any,
    Service(String),
    /// An IAM ARN; a bare account id is stored as its root ARN.
    Aws(String),
    Other(String),
}

impl Principal {
    /// The `Principal` parameter of AddPermission that recreates this principal.
    pub fn as_parameter(&self) -> String {
        match self {
            Principal::Any => "*".to_owned(),
            Principal::Service(s) | Principal::Other(s) => s.clone(),
            Principal::Aws(arn) => arn.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Condition {
    /// Lower-cased operator, e.g. `arnlike`.
    pub operator: String,
    /// Lower-cased key, e.g. `aws:sourcearn`.
    pub key: String,
    pub values: Vec<String>,
}

/// The root ARN a bare account id stands for (emulators and old documents store it bare).
pub fn account_root(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
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
            let doc: Value = serde_json::from_str(doc).map_err(|e| {
                shape(
                    "Policy",
                    &format!("the policy string is not valid JSON: {e}"),
                )
            })?;
            let statements = statements(&doc, "Policy")?;
            return Ok(ResourcePolicy {
                revision_id,
                statements,
            });
        }
        if obj.contains_key("Statement") {
            return Ok(ResourcePolicy {
                revision_id,
                statements: statements(value, "")?,
            });
        }
        Err(shape(
            "(root)",
            "expected \"Policy\" (a GetPolicy response) or \"Statement\" (a policy document)",
        ))
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

fn statements(doc: &Value, base: &str) -> Result<Vec<Statement>, PolicyDocError> {
    let Some(doc) = doc.as_object() else {
        return Err(shape(base, "expected a policy document object"));
    };
    let path = join(base, "Statement");
    let items: Vec<&Value> = match doc.get("Statement") {
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
    items
        .into_iter()
        .enumerate()
        .map(|(index, s)| statement(index, s, &format!("{path}[{index}]")))
        .collect()
}

fn statement(index: usize, value: &Value, path: &str) -> Result<Statement, PolicyDocError> {
    let Some(obj) = value.as_object() else {
        return Err(shape(path, "expected a statement object"));
    };
    let string = |key: &str| -> Result<Option<String>, PolicyDocError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(shape(&join(path, key), "expected a string")),
        }
    };
    let sid = string("Sid")?.filter(|s| !s.is_empty());
    let effect = string("Effect")?.ok_or_else(|| shape(&join(path, "Effect"), "missing"))?;
    let principals = match obj.get("Principal") {
        None => Vec::new(),
        Some(p) => principals(p, &join(path, "Principal"))?,
    };
    let actions = match obj.get("Action") {
        None => Vec::new(),
        Some(a) => string_list(a, &join(path, "Action"))?,
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
    let negated_element = ["NotPrincipal", "NotAction", "NotResource"]
        .iter()
        .find(|k| obj.contains_key(**k))
        .map(|k| (*k).to_owned());
    Ok(Statement {
        index,
        sid,
        effect,
        principals,
        actions,
        conditions,
        negated_element,
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
        Value::String(s) => Ok(vec![aws_principal(s)]),
        Value::Object(map) => {
            let mut out = Vec::new();
            for (kind, v) in map {
                for p in string_list(v, &join(path, kind))? {
                    out.push(match kind.as_str() {
                        "AWS" if p == "*" => Principal::Any,
                        "AWS" => aws_principal(&p),
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

fn aws_principal(p: &str) -> Principal {
    if crate::policies::ids::is_account_id(p) {
        Principal::Aws(account_root(p))
    } else {
        Principal::Aws(p.to_owned())
    }
}

fn conditions(ops: &Map<String, Value>, path: &str) -> Result<Vec<Condition>, PolicyDocError> {
    let mut out = Vec::new();
    for (op, keys) in ops {
        let Value::Object(keys) = keys else {
            return Err(shape(
                &join(path, op),
                "expected an object of condition keys",
            ));
        };
        for (key, values) in keys {
            let values = match values {
                Value::Bool(b) => vec![b.to_string()],
                other => string_list(other, &join(&join(path, op), key))?,
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
        let text = r#"{"Policy": "{\"Statement\":[{\"Sid\":\"a\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"111122223333\"},\"Action\":[\"lambda:InvokeFunction\"],\"Condition\":{\"ArnLike\":{\"AWS:SourceArn\":\"arn:aws:s3:::b\"}}}]}", "RevisionId": "r1"}"#;
        let p = ResourcePolicy::parse(text).expect("parses");
        assert_eq!(p.revision_id.as_deref(), Some("r1"));
        let s = &p.statements[0];
        assert_eq!(
            s.principals,
            vec![Principal::Aws("arn:aws:iam::111122223333:root".into())]
        );
        assert_eq!(s.conditions[0].operator, "arnlike");
        assert_eq!(s.conditions[0].key, "aws:sourcearn");
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
