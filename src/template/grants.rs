//! The grants a template would make: every `AWS::Lambda::Permission`, every statement of an
//! `AWS::Lambda::ResourcePolicy`, and the public function-URL permission SAM's transform adds
//! for `FunctionUrlConfig: {AuthType: NONE}`; each as the statement Lambda would store. What the
//! template leaves to a transform or cannot say is a note.

use serde_json::{Map, Value as Json, json};

use super::intrinsics::{FunctionRef, Resolved, Scope};
use super::parse::{Node, Value};
use crate::plan::{Addition, INVOKE_ACTION, INVOKE_ASYNC_ACTION, INVOKE_URL_ACTION};

/// What an unresolved value is written as in the statement: it matches no allow entry, so a
/// grant kept with it is kept whatever the value is, and one removed with it is not judged.
pub const UNRESOLVED: &str = "UNRESOLVED";

/// A function the template defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinedFunction {
    pub logical_id: String,
    pub line: usize,
    /// Its `FunctionName` when literal; else why it is not known before deploy.
    pub name: Result<String, String>,
}

/// The policy a grant goes into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A function of this template (and a qualifier).
    Function(FunctionRef),
    /// A name, partial ARN or ARN, as written.
    Literal(String),
    Unresolved(String),
}

/// One grant the template would make.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateGrant {
    pub logical_id: String,
    /// The line of the resource's key (or of the SAM property that implies the grant).
    pub line: usize,
    pub target: Target,
    /// The statement as Lambda would store it.
    pub statement: Json,
    /// The principal as written, for the report.
    pub principal: String,
    /// What in the statement could not be resolved (written as [`UNRESOLVED`]).
    pub unresolved: Vec<String>,
    /// Set when the grant is implied, not written: what implies it.
    pub implied_by: Option<String>,
    /// The template condition the resource is created under, if any.
    pub condition: Option<String>,
}

/// Something the report says about a resource that is not a judged grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub logical_id: String,
    pub line: usize,
    pub message: String,
}

/// Everything read from one template.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Template {
    pub functions: Vec<DefinedFunction>,
    pub grants: Vec<TemplateGrant>,
    pub notes: Vec<Note>,
}

/// Why a document is not a template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ShapeError {
    pub line: usize,
    pub message: String,
}

const FUNCTION: &str = "AWS::Lambda::Function";
const SAM_FUNCTION: &str = "AWS::Serverless::Function";

fn type_of(node: &Node) -> &str {
    node.get("Type").and_then(Node::as_str).unwrap_or("")
}

/// Reads the grants of a parsed template; `pseudo` holds the pseudo parameters the home gives.
pub fn scan(
    doc: &Node,
    pseudo: &std::collections::HashMap<String, String>,
) -> Result<Template, ShapeError> {
    let resources = doc.get("Resources").ok_or_else(|| ShapeError {
        line: doc.line,
        message: "no Resources: not a CloudFormation template".into(),
    })?;
    let Value::Map(entries) = &resources.value else {
        return Err(ShapeError {
            line: resources.line,
            message: "Resources is not a mapping".into(),
        });
    };
    let mut scope = Scope {
        pseudo: pseudo.clone(),
        ..Scope::default()
    };
    let mut out = Template::default();
    for e in entries {
        if matches!(type_of(&e.node), FUNCTION | SAM_FUNCTION) {
            scope.functions.insert(
                e.key.clone(),
                FunctionRef {
                    logical_id: e.key.clone(),
                    qualifier: None,
                },
            );
        }
    }
    // An alias is a function with a qualifier, when both its function and its name resolve.
    for e in entries
        .iter()
        .filter(|e| type_of(&e.node) == "AWS::Lambda::Alias")
    {
        let props = e.node.get("Properties");
        let path = format!("Resources.{}.Properties", e.key);
        let function = props
            .and_then(|p| p.get("FunctionName"))
            .map(|n| scope.resolve(n, &format!("{path}.FunctionName")));
        let name = props
            .and_then(|p| p.get("Name"))
            .and_then(|n| scope.text(n, &format!("{path}.Name")).ok());
        if let (Some(Resolved::Function(f)), Some(name)) = (function, name) {
            scope.functions.insert(
                e.key.clone(),
                FunctionRef {
                    logical_id: f.logical_id,
                    qualifier: Some(name),
                },
            );
        }
    }
    for e in entries {
        let first = out.grants.len();
        scan_resource(&scope, e, &mut out);
        let condition = e.node.get("Condition").and_then(Node::as_str);
        for g in &mut out.grants[first..] {
            g.condition = condition.map(str::to_owned);
        }
    }
    Ok(out)
}

/// The function, grants and notes of one resource.
fn scan_resource(scope: &Scope, e: &super::parse::Entry, out: &mut Template) {
    let path = format!("Resources.{}.Properties", e.key);
    let props = e.node.get("Properties");
    let kind = type_of(&e.node);
    match kind {
        FUNCTION | SAM_FUNCTION => {
            let name = match props.and_then(|p| p.get("FunctionName")) {
                None => Err("it has no FunctionName: CloudFormation makes one up".into()),
                Some(n) => scope.text(n, &format!("{path}.FunctionName")),
            };
            out.functions.push(DefinedFunction {
                logical_id: e.key.clone(),
                line: e.line,
                name,
            });
            if kind == SAM_FUNCTION {
                sam_function(&e.key, props, out);
            }
        }
        "AWS::Lambda::Permission" => {
            out.grants
                .push(permission(scope, &e.key, e.line, props, &path));
        }
        "AWS::Lambda::ResourcePolicy" => resource_policy(scope, &e.key, e.line, props, &path, out),
        "AWS::Lambda::Url" => {
            let auth = props.and_then(|p| p.get("AuthType")).and_then(Node::as_str);
            if auth == Some("NONE") {
                out.notes.push(Note {
                    logical_id: e.key.clone(),
                    line: e.line,
                    message: "function URL with AuthType NONE: the URL itself grants nothing; \
                              the public grant is a permission (CDK's addFunctionUrl adds one), \
                              judged on its own"
                        .into(),
                });
            }
        }
        t if t.starts_with("AWS::Lambda::")
            && props.is_some_and(|p| p.entries().iter().any(|x| x.key.contains("Policy"))) =>
        {
            out.notes.push(Note {
                logical_id: e.key.clone(),
                line: e.line,
                message: format!("{t} holds a policy invokeguard does not know: not judged"),
            });
        }
        _ => {}
    }
}

/// The statement `AddPermission` would store for an `AWS::Lambda::Permission`.
fn permission(
    scope: &Scope,
    logical_id: &str,
    line: usize,
    props: Option<&Node>,
    path: &str,
) -> TemplateGrant {
    let mut unresolved = Vec::new();
    let mut field = |key: &str| -> Option<String> {
        let node = props?.get(key)?;
        match scope.text(node, &format!("{path}.{key}")) {
            Ok(t) => Some(t),
            Err(why) => {
                unresolved.push(why);
                Some(UNRESOLVED.to_owned())
            }
        }
    };
    let principal = field("Principal").unwrap_or_else(|| UNRESOLVED.to_owned());
    let action = field("Action").unwrap_or_else(|| INVOKE_ACTION.to_owned());
    let source_arn = field("SourceArn");
    let source_account = field("SourceAccount");
    let principal_org_id = field("PrincipalOrgID");
    let event_source_token = field("EventSourceToken");
    let url_auth = field("FunctionUrlAuthType");
    let via_url = field("InvokedViaFunctionUrl");
    let function_url_auth_type = match url_auth.as_deref() {
        None => None,
        Some("NONE") => Some("NONE"),
        Some("AWS_IAM") => Some("AWS_IAM"),
        Some(other) => {
            unresolved.push(format!(
                "{path}.FunctionUrlAuthType is {other:?}, expected NONE or AWS_IAM"
            ));
            Some("NONE")
        }
    };
    let addition = Addition {
        sid: logical_id.to_owned(),
        principal: principal.clone(),
        action: match action.as_str() {
            a if a == INVOKE_URL_ACTION => INVOKE_URL_ACTION,
            a if a == INVOKE_ASYNC_ACTION => INVOKE_ASYNC_ACTION,
            _ => INVOKE_ACTION,
        },
        source_arn,
        source_account,
        principal_org_id,
        event_source_token,
        function_url_auth_type,
        invoked_via_function_url: via_url.map(|v| v.eq_ignore_ascii_case("true")),
        allow_entry: 0,
    };
    let mut statement = addition.statement(0, None).raw;
    // Any other action is stored as written (e.g. `lambda:*`); the plan judges what it grants.
    if let Json::Object(s) = &mut statement {
        s.insert("Action".into(), json!(action));
    }
    let target = match props.and_then(|p| p.get("FunctionName")) {
        None => Target::Unresolved(format!("{path}.FunctionName is missing")),
        Some(n) => target_of(scope.resolve(n, &format!("{path}.FunctionName"))),
    };
    TemplateGrant {
        logical_id: logical_id.to_owned(),
        line,
        target,
        statement,
        principal,
        unresolved,
        implied_by: None,
        condition: None,
    }
}

fn target_of(resolved: Resolved) -> Target {
    match resolved {
        Resolved::Function(f) => Target::Function(f),
        Resolved::Text(t) => Target::Literal(t),
        Resolved::Unresolved(why) => Target::Unresolved(why),
    }
}

/// Each statement of an `AWS::Lambda::ResourcePolicy`'s document (an object, or JSON text).
fn resource_policy(
    scope: &Scope,
    logical_id: &str,
    line: usize,
    props: Option<&Node>,
    path: &str,
    out: &mut Template,
) {
    let target = match props.and_then(|p| p.get("ResourceArn")) {
        None => Target::Unresolved(format!("{path}.ResourceArn is missing")),
        Some(n) => target_of(scope.resolve(n, &format!("{path}.ResourceArn"))),
    };
    let doc_path = format!("{path}.PolicyDocument");
    let mut unresolved = Vec::new();
    let document = match props.and_then(|p| p.get("PolicyDocument")) {
        Some(n) => match scope.resolve(n, &doc_path) {
            // A document given as JSON text.
            Resolved::Text(t) => serde_json::from_str(&t).unwrap_or_else(|e| {
                unresolved.push(format!("{doc_path} is not a JSON document: {e}"));
                Json::Null
            }),
            _ => to_json(scope, n, &doc_path, &target, &mut unresolved),
        },
        None => Json::Null,
    };
    let statements = match document.get("Statement") {
        Some(Json::Array(items)) => items.clone(),
        Some(one @ Json::Object(_)) => vec![one.clone()],
        _ => {
            out.notes.push(Note {
                logical_id: logical_id.to_owned(),
                line,
                message: format!("{doc_path} has no Statement: not judged"),
            });
            return;
        }
    };
    for statement in statements {
        let principal = match statement.get("Principal") {
            Some(Json::String(s)) => s.clone(),
            Some(p) => p.to_string(),
            None => String::new(),
        };
        out.grants.push(TemplateGrant {
            logical_id: logical_id.to_owned(),
            line,
            target: target.clone(),
            statement,
            principal,
            unresolved: unresolved.clone(),
            implied_by: None,
            condition: None,
        });
    }
}

/// A node as JSON, every string resolved: a value that does not resolve is written as
/// [`UNRESOLVED`] and said; a `Resource` naming the policy's own function is left out (a
/// statement without one applies to the policy's resource).
fn to_json(
    scope: &Scope,
    node: &Node,
    path: &str,
    target: &Target,
    unresolved: &mut Vec<String>,
) -> Json {
    match &node.value {
        Value::Null => Json::Null,
        Value::Scalar(s) => Json::String(s.clone()),
        Value::Seq(items) => Json::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, n)| to_json(scope, n, &format!("{path}[{i}]"), target, unresolved))
                .collect(),
        ),
        Value::Map(entries) => {
            let intrinsic = entries.len() == 1
                && entries
                    .first()
                    .is_some_and(|e| e.key == "Ref" || e.key.starts_with("Fn::"));
            if intrinsic {
                return match scope.resolve(node, path) {
                    Resolved::Text(t) => Json::String(t),
                    Resolved::Function(f) if Target::Function(f.clone()) == *target => Json::Null,
                    Resolved::Function(f) => {
                        unresolved.push(format!(
                            "{path} names function {}, not the policy's own",
                            f.logical_id
                        ));
                        json!(UNRESOLVED)
                    }
                    Resolved::Unresolved(why) => {
                        unresolved.push(why);
                        json!(UNRESOLVED)
                    }
                };
            }
            let mut map = Map::new();
            for e in entries {
                let v = to_json(
                    scope,
                    &e.node,
                    &format!("{path}.{}", e.key),
                    target,
                    unresolved,
                );
                // The policy's own function as Resource: the same as no Resource.
                if !(v.is_null() && matches!(e.key.as_str(), "Resource")) {
                    map.insert(e.key.clone(), v);
                }
            }
            Json::Object(map)
        }
    }
}

/// SAM: a public function URL is a grant the transform adds; an event source's permission is
/// a note (its source ARN is a resource the transform makes, unknown here).
fn sam_function(logical_id: &str, props: Option<&Node>, out: &mut Template) {
    let Some(props) = props else { return };
    if let Some(url) = props.entry("FunctionUrlConfig")
        && url.node.get("AuthType").and_then(Node::as_str) == Some("NONE")
    {
        let addition = Addition {
            sid: format!("{logical_id}UrlPublicPermissions"),
            principal: "*".into(),
            action: INVOKE_URL_ACTION,
            source_arn: None,
            source_account: None,
            principal_org_id: None,
            event_source_token: None,
            function_url_auth_type: Some("NONE"),
            invoked_via_function_url: None,
            allow_entry: 0,
        };
        out.grants.push(TemplateGrant {
            logical_id: logical_id.to_owned(),
            line: url.line,
            target: Target::Function(FunctionRef {
                logical_id: logical_id.to_owned(),
                qualifier: None,
            }),
            statement: addition.statement(0, None).raw,
            principal: "*".into(),
            unresolved: Vec::new(),
            implied_by: Some(
                "SAM's FunctionUrlConfig AuthType NONE: the transform adds this permission".into(),
            ),
            condition: None,
        });
    }
    for event in props.get("Events").map(Node::entries).unwrap_or_default() {
        let kind = event.node.get("Type").and_then(Node::as_str).unwrap_or("?");
        let message = match sam_event_service(kind) {
            Some(service) => format!(
                "SAM event source {kind} (event {}): the transform adds a permission for {service}, \
                 with a source ARN of a resource it makes, so it is not judged here; lint the \
                 transformed template (CloudFormation's Processed stage, or aws-sam-translator \
                 offline) to judge it",
                event.key
            ),
            None => format!(
                "SAM event source {kind} (event {}): read through an event source mapping or a \
                 role, not a resource-policy grant",
                event.key
            ),
        };
        out.notes.push(Note {
            logical_id: logical_id.to_owned(),
            line: event.line,
            message,
        });
    }
}

/// The service principal of the permission SAM's transform adds for an event source type, or
/// none when the source reads through an event source mapping or a role.
fn sam_event_service(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "Api" | "HttpApi" => "apigateway.amazonaws.com",
        "S3" => "s3.amazonaws.com",
        "SNS" => "sns.amazonaws.com",
        "Schedule" | "CloudWatchEvent" | "EventBridgeRule" => "events.amazonaws.com",
        "CloudWatchLogs" => "logs.amazonaws.com",
        "IoTRule" => "iot.amazonaws.com",
        "AlexaSkill" => "alexa-appkit.amazon.com",
        "Cognito" => "cognito-idp.amazonaws.com",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::parse::parse;
    use super::*;

    fn read(yaml: &str) -> Template {
        scan(&parse(yaml).unwrap(), &std::collections::HashMap::new()).unwrap()
    }

    const FUNCTION_AND_ALIAS: &str = "Resources:\n  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n      FunctionName: orders-api\n  Live:\n    Type: AWS::Lambda::Alias\n    Properties:\n      FunctionName: !Ref Fn\n      Name: live\n";

    #[test]
    fn a_permission_on_an_alias_is_on_the_functions_qualifier() {
        let t = read(&format!(
            "{FUNCTION_AND_ALIAS}  P:\n    Type: AWS::Lambda::Permission\n    Properties:\n      FunctionName: !Ref Live\n      Action: lambda:InvokeFunction\n      Principal: '999988887777'\n"
        ));
        assert_eq!(
            t.grants[0].target,
            Target::Function(FunctionRef {
                logical_id: "Fn".into(),
                qualifier: Some("live".into()),
            })
        );
        assert_eq!(t.grants[0].line, 11);
        assert_eq!(t.functions[0].name, Ok("orders-api".into()));
    }

    #[test]
    fn a_permission_is_the_statement_add_permission_stores() {
        let t = read(&format!(
            "{FUNCTION_AND_ALIAS}  P:\n    Type: AWS::Lambda::Permission\n    Properties:\n      FunctionName: orders-api\n      Action: lambda:*\n      Principal: s3.amazonaws.com\n      SourceAccount: !Ref AWS::AccountId\n"
        ));
        let g = &t.grants[0];
        assert_eq!(g.target, Target::Literal("orders-api".into()));
        assert_eq!(
            g.statement,
            json!({
                "Sid": "P", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "lambda:*",
                "Condition": {"StringEquals": {"AWS:SourceAccount": UNRESOLVED}},
            })
        );
        assert_eq!(
            g.unresolved,
            [
                "cannot resolve Ref AWS::AccountId at Resources.P.Properties.SourceAccount (give --account)"
            ]
        );
    }

    #[test]
    fn a_resource_policy_given_as_json_text_is_read_and_an_unknown_policy_resource_is_said() {
        let t = read(&format!(
            "{FUNCTION_AND_ALIAS}  RP:\n    Type: AWS::Lambda::ResourcePolicy\n    Properties:\n      ResourceArn: !GetAtt Fn.Arn\n      PolicyDocument: '{{\"Statement\": {{\"Effect\": \"Allow\", \"Principal\": \"*\", \"Action\": \"lambda:InvokeFunction\"}}}}'\n  Odd:\n    Type: AWS::Lambda::SomethingNew\n    Properties:\n      Policy: {{}}\n"
        ));
        assert_eq!(t.grants.len(), 1);
        assert_eq!(t.grants[0].principal, "*");
        assert!(t.grants[0].unresolved.is_empty());
        assert_eq!(t.notes.len(), 1);
        assert!(t.notes[0].message.contains("AWS::Lambda::SomethingNew"));
    }

    #[test]
    fn a_document_without_resources_is_not_a_template() {
        let doc = parse("Description: x\n").unwrap();
        assert!(scan(&doc, &std::collections::HashMap::new()).is_err());
    }
}
