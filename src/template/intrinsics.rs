//! Resolving a template's values: literals, the pseudo parameters the home gives, and `Ref`,
//! `Fn::GetAtt`, `Fn::Sub` and `Fn::Join` to the template's own functions. Anything else
//! (`Fn::ImportValue`, `Fn::If`, a parameter, another resource's attribute) is said, never
//! guessed.

use std::collections::HashMap;

use super::parse::{Node, Value};

/// A function the template defines, as `Ref` and `Fn::GetAtt ... Arn` reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    /// The logical id of the `AWS::Lambda::Function` or `AWS::Serverless::Function`.
    pub logical_id: String,
    /// The version or alias when the reference is to one.
    pub qualifier: Option<String>,
}

/// What a value is once resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    Text(String),
    Function(FunctionRef),
    /// Why it cannot be resolved, naming the intrinsic and where it is.
    Unresolved(String),
}

/// What a template's values can be resolved against.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Logical id → the function (and qualifier) a `Ref` to it names: functions, and aliases of
    /// them whose name is literal.
    pub functions: HashMap<String, FunctionRef>,
    /// `AWS::AccountId`, `AWS::Region`, `AWS::Partition`, `AWS::URLSuffix`, when known.
    pub pseudo: HashMap<String, String>,
}

impl Scope {
    /// Resolves `node`, found at `path` (e.g. `Resources.P.Properties.SourceArn`).
    pub fn resolve(&self, node: &Node, path: &str) -> Resolved {
        match &node.value {
            Value::Scalar(s) => Resolved::Text(s.clone()),
            Value::Null => Resolved::Unresolved(format!("{path} is empty")),
            Value::Seq(_) => Resolved::Unresolved(format!("{path} is a list, expected a string")),
            Value::Map(entries) => match entries.as_slice() {
                [one] => self.intrinsic(&one.key, &one.node, path),
                _ => Resolved::Unresolved(format!("{path} is a mapping, expected a string")),
            },
        }
    }

    /// The text of `node` when it resolves to text; otherwise why not (a function is not text).
    pub fn text(&self, node: &Node, path: &str) -> Result<String, String> {
        match self.resolve(node, path) {
            Resolved::Text(t) => Ok(t),
            Resolved::Function(f) => Err(format!(
                "{path} names function {}, where text is expected",
                f.logical_id
            )),
            Resolved::Unresolved(why) => Err(why),
        }
    }

    fn intrinsic(&self, key: &str, arg: &Node, path: &str) -> Resolved {
        let cannot = || Resolved::Unresolved(format!("cannot resolve {key} at {path}"));
        match key {
            "Ref" => match arg.as_str() {
                Some(name) => self.reference(name, path),
                None => cannot(),
            },
            "Fn::GetAtt" => match getatt_parts(arg) {
                Some((resource, attribute)) => self.attribute(&resource, &attribute, path),
                None => cannot(),
            },
            "Fn::Sub" => self.sub(arg, path),
            "Fn::Join" => self.join(arg, path),
            _ => cannot(),
        }
    }

    fn reference(&self, name: &str, path: &str) -> Resolved {
        if let Some(f) = self.functions.get(name) {
            return Resolved::Function(f.clone());
        }
        if let Some(v) = self.pseudo.get(name) {
            return Resolved::Text(v.clone());
        }
        let hint = match name {
            "AWS::AccountId" => " (give --account)",
            "AWS::Region" | "AWS::Partition" | "AWS::URLSuffix" => " (give --region)",
            _ => "",
        };
        Resolved::Unresolved(format!("cannot resolve Ref {name} at {path}{hint}"))
    }

    fn attribute(&self, resource: &str, attribute: &str, path: &str) -> Resolved {
        match self.functions.get(resource) {
            Some(f) if attribute == "Arn" => Resolved::Function(f.clone()),
            _ => Resolved::Unresolved(format!(
                "cannot resolve Fn::GetAtt {resource}.{attribute} at {path}"
            )),
        }
    }

    /// `Fn::Sub` with a string, or `[string, {variables}]`; `${!x}` is the literal `${x}`.
    fn sub(&self, arg: &Node, path: &str) -> Resolved {
        let (template, vars) = match &arg.value {
            Value::Scalar(s) => (s.as_str(), None),
            Value::Seq(items) => match items.as_slice() {
                [t, vars] => match t.as_str() {
                    Some(s) => (s, Some(vars)),
                    None => return unresolved_sub(path),
                },
                _ => return unresolved_sub(path),
            },
            _ => return unresolved_sub(path),
        };
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            parts.push(Resolved::Text(rest[..start].to_owned()));
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return unresolved_sub(path);
            };
            let name = &after[..end];
            let part = if let Some(literal) = name.strip_prefix('!') {
                Resolved::Text(format!("${{{literal}}}"))
            } else if let Some(value) = vars.and_then(|v| v.get(name)) {
                self.resolve(value, &format!("{path}.Fn::Sub.{name}"))
            } else if let Some((resource, attribute)) = name.split_once('.') {
                self.attribute(resource, attribute, path)
            } else {
                self.reference(name, path)
            };
            parts.push(part);
            rest = &after[end + 1..];
        }
        parts.push(Resolved::Text(rest.to_owned()));
        concat(parts, "Fn::Sub", path)
    }

    fn join(&self, arg: &Node, path: &str) -> Resolved {
        let Value::Seq(items) = &arg.value else {
            return Resolved::Unresolved(format!("cannot resolve Fn::Join at {path}"));
        };
        let [delimiter, list] = items.as_slice() else {
            return Resolved::Unresolved(format!("cannot resolve Fn::Join at {path}"));
        };
        let (Some(delimiter), Value::Seq(list)) = (delimiter.as_str(), &list.value) else {
            return Resolved::Unresolved(format!("cannot resolve Fn::Join at {path}"));
        };
        let mut parts = Vec::new();
        for (i, item) in list.iter().enumerate() {
            if i > 0 {
                parts.push(Resolved::Text(delimiter.to_owned()));
            }
            parts.push(self.resolve(item, path));
        }
        concat(parts, "Fn::Join", path)
    }
}

fn unresolved_sub(path: &str) -> Resolved {
    Resolved::Unresolved(format!("cannot resolve Fn::Sub at {path}"))
}

/// `[resource, attribute]` or `"resource.attribute"`.
fn getatt_parts(arg: &Node) -> Option<(String, String)> {
    match &arg.value {
        Value::Seq(items) => match items.as_slice() {
            [r, a] => Some((r.as_str()?.to_owned(), a.as_str()?.to_owned())),
            _ => None,
        },
        Value::Scalar(s) => s.split_once('.').map(|(r, a)| (r.to_owned(), a.to_owned())),
        _ => None,
    }
}

/// Joins resolved parts: all text is text; one function with only empty text around it is
/// that function; `...:function:` + a function's name (its `Ref`) + an optional `:QUALIFIER`,
/// or a function's ARN + `:QUALIFIER`, is that function (qualified). Anything else that mixes a
/// function into text is not guessed at.
fn concat(parts: Vec<Resolved>, what: &str, path: &str) -> Resolved {
    let mut text = String::new();
    let mut function: Option<(FunctionRef, String)> = None;
    for part in parts {
        match part {
            Resolved::Unresolved(why) => return Resolved::Unresolved(why),
            Resolved::Text(t) => text.push_str(&t),
            Resolved::Function(f) => {
                if function.is_some() {
                    return Resolved::Unresolved(format!(
                        "cannot resolve {what} at {path}: it names two functions"
                    ));
                }
                function = Some((f, std::mem::take(&mut text)));
            }
        }
    }
    let Some((f, before)) = function else {
        return Resolved::Text(text);
    };
    let prefix_ok = before.is_empty() || before.ends_with(":function:");
    let qualifier = match text.as_str() {
        "" => None,
        t => t
            .strip_prefix(':')
            .filter(|q| !q.is_empty() && !q.contains(':')),
    };
    if !prefix_ok
        || (!text.is_empty() && qualifier.is_none())
        || f.qualifier.is_some() && qualifier.is_some()
    {
        return Resolved::Unresolved(format!(
            "cannot resolve {what} at {path}: function {} inside other text",
            f.logical_id
        ));
    }
    Resolved::Function(FunctionRef {
        logical_id: f.logical_id,
        qualifier: qualifier.map(str::to_owned).or(f.qualifier),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::parse::parse;
    use super::*;

    fn scope() -> Scope {
        let mut s = Scope::default();
        s.functions.insert(
            "Orders".into(),
            FunctionRef {
                logical_id: "Orders".into(),
                qualifier: None,
            },
        );
        s.pseudo.insert("AWS::Partition".into(), "aws".into());
        s
    }

    fn resolve(yaml: &str) -> Resolved {
        let doc = parse(&format!("v: {yaml}\n")).unwrap();
        scope().resolve(doc.get("v").unwrap(), "v")
    }

    fn orders(qualifier: Option<&str>) -> Resolved {
        Resolved::Function(FunctionRef {
            logical_id: "Orders".into(),
            qualifier: qualifier.map(str::to_owned),
        })
    }

    #[test]
    fn references_to_the_templates_function_resolve_to_it() {
        assert_eq!(resolve("!Ref Orders"), orders(None));
        assert_eq!(resolve("!GetAtt Orders.Arn"), orders(None));
        assert_eq!(resolve("{'Fn::GetAtt': [Orders, Arn]}"), orders(None));
        assert_eq!(resolve("!Sub '${Orders.Arn}:live'"), orders(Some("live")));
        assert_eq!(
            resolve(
                "!Join ['', ['arn:', !Ref 'AWS::Partition', ':lambda:r:1:function:', !Ref Orders]]"
            ),
            orders(None)
        );
        assert_eq!(
            resolve("!Sub 'arn:${AWS::Partition}:s3:::b'"),
            Resolved::Text("arn:aws:s3:::b".into())
        );
        assert_eq!(
            resolve("!Sub '${!Literal}'"),
            Resolved::Text("${Literal}".into())
        );
    }

    #[test]
    fn what_cannot_be_resolved_is_said() {
        assert_eq!(
            resolve("!ImportValue shared-fn"),
            Resolved::Unresolved("cannot resolve Fn::ImportValue at v".into())
        );
        assert_eq!(
            resolve("!Ref AWS::AccountId"),
            Resolved::Unresolved("cannot resolve Ref AWS::AccountId at v (give --account)".into())
        );
        assert!(matches!(
            resolve("!GetAtt Bucket.Arn"),
            Resolved::Unresolved(_)
        ));
        assert!(matches!(
            resolve("!Sub 'x-${Orders}'"),
            Resolved::Unresolved(_)
        ));
        assert!(matches!(resolve("!If [c, a, b]"), Resolved::Unresolved(_)));
    }
}
