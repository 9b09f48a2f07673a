//! What an Invoke record says: which function (and qualifier) was invoked, and by whom.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::aws::arn::{FunctionName, IamArn};
use crate::aws::home::Home;
use crate::aws::ids::{is_account_id, is_function_name};

/// A record that claims to be a Lambda Invoke but whose fields have the wrong types.
#[derive(Debug, thiserror::Error)]
#[error("at {path}: {message}")]
pub struct RecordError {
    pub path: String,
    pub message: String,
}

/// The parts of a CloudTrail record the engine needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub event_id: Option<String>,
    pub event_source: Option<String>,
    pub event_name: Option<String>,
    /// `errorCode`: set when the call failed; an access denial means it was refused.
    pub error_code: Option<String>,
    /// The invoked function; `None` when the record names none (or is not a Lambda record).
    pub function: Option<FunctionRef>,
    /// The alias or version invoked, `None` for the unqualified function.
    pub qualifier: Option<String>,
    pub caller: Caller,
    /// Where the record's fields disagreed and which one was used.
    pub notes: Vec<String>,
}

/// The data events that invoke a function: `Invoke` and `InvokeFunctionUrl`.
pub const INVOKE_EVENTS: [&str; 2] = ["Invoke", "InvokeFunctionUrl"];

impl Invocation {
    pub fn is_lambda_invoke(&self) -> bool {
        self.event_source.as_deref() == Some("lambda.amazonaws.com")
            && self
                .event_name
                .as_deref()
                .is_some_and(|n| INVOKE_EVENTS.contains(&n))
    }

    pub fn is_url_invoke(&self) -> bool {
        self.event_name.as_deref() == Some("InvokeFunctionUrl")
    }

    /// CloudTrail logs refused calls with an access-denied `errorCode`; any other error code
    /// is a call that was authorized and then failed.
    pub fn was_refused(&self) -> bool {
        self.error_code.as_deref().is_some_and(is_refusal)
    }
}

/// Whether a record's `errorCode` says the call was refused (an access denial), not authorized
/// and then failed.
pub fn is_refusal(error_code: &str) -> bool {
    let c = error_code.to_ascii_lowercase();
    c.contains("accessdenied") || c.contains("unauthorized") || c == "forbidden"
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    pub name: String,
    /// The unqualified ARN, when the record gives region and account.
    pub arn: Option<String>,
    pub account: Option<String>,
}

/// Who invoked the function, as far as the record tells.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Caller {
    pub kind: CallerKind,
    /// The principal to match: a service name, an IAM ARN (a session's role ARN), or an account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_account: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CallerKind {
    /// An AWS service principal invoking through the resource policy.
    Service,
    /// A principal of another account.
    Account,
    /// An IAM principal of the function's own account.
    Iam,
    #[default]
    Unknown,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    event_source: Option<Value>,
    event_name: Option<Value>,
    #[serde(rename = "eventID")]
    event_id: Option<Value>,
    error_code: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawInvoke {
    user_identity: Option<RawIdentity>,
    request_parameters: Option<RawRequest>,
    additional_event_data: Option<RawAdditional>,
    resources: Option<Vec<RawResource>>,
    recipient_account_id: Option<String>,
    aws_region: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawIdentity {
    #[serde(rename = "type")]
    kind: Option<String>,
    arn: Option<String>,
    account_id: Option<String>,
    invoked_by: Option<String>,
    session_context: Option<RawSessionContext>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSessionContext {
    session_issuer: Option<RawIssuer>,
}

#[derive(Deserialize)]
struct RawIssuer {
    arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRequest {
    function_name: Option<String>,
    qualifier: Option<String>,
    source_arn: Option<String>,
    source_account: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAdditional {
    function_version: Option<String>,
}

#[derive(Deserialize)]
struct RawResource {
    #[serde(rename = "ARN")]
    arn: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// Reads a record. Records of other services or events are returned without a function and
/// never fail on their other fields; a Lambda Invoke record with mistyped fields is an error.
pub fn invocation(record: &Value) -> Result<Invocation, RecordError> {
    let header: Header = from_value(record)?;
    let text = |v: Option<Value>, field: &str| -> Result<Option<String>, RecordError> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(RecordError {
                path: field.to_owned(),
                message: format!("expected a string, found {}", json_kind(&other)),
            }),
        }
    };
    let mut inv = Invocation {
        event_id: text(header.event_id, "eventID")?,
        event_source: text(header.event_source, "eventSource")?,
        event_name: text(header.event_name, "eventName")?,
        error_code: None,
        function: None,
        qualifier: None,
        caller: Caller::default(),
        notes: Vec::new(),
    };
    if !inv.is_lambda_invoke() {
        return Ok(inv);
    }
    inv.error_code = text(header.error_code, "errorCode")?;
    let raw: RawInvoke = from_value(record)?;
    let request = raw.request_parameters.as_ref();
    let named = request
        .and_then(|r| r.function_name.as_deref())
        .and_then(parse_function_name);
    let from_resources = raw
        .resources
        .iter()
        .flatten()
        .filter(|r| {
            r.kind
                .as_deref()
                .is_none_or(|k| k == "AWS::Lambda::Function")
        })
        .find_map(|r| r.arn.as_deref().and_then(parse_function_name));
    let from_version = raw
        .additional_event_data
        .as_ref()
        .and_then(|a| a.function_version.as_deref())
        .and_then(parse_function_name);

    // resources[] wins: it is the resource CloudTrail authorized the call against.
    let chosen = from_resources
        .clone()
        .or_else(|| named.clone())
        .or_else(|| from_version.clone());
    if let Some(chosen) = &chosen {
        for (field, other) in [
            ("requestParameters.functionName", &named),
            ("additionalEventData.functionVersion", &from_version),
        ] {
            if let Some(other) = other
                && other.function.name != chosen.function.name
            {
                inv.notes.push(format!(
                    "{field} names {:?} but the record's function is {:?}; using the latter",
                    other.function.name, chosen.function.name
                ));
            }
        }
    }
    // The qualifier comes from what was asked for: a qualified functionName naming the same
    // function, else requestParameters.qualifier. functionVersion is what ran, never an alias.
    let qualifier = match (&chosen, &named) {
        (Some(c), Some(n)) if n.function.name == c.function.name && n.qualifier.is_some() => {
            n.qualifier.clone()
        }
        _ => request.and_then(|r| r.qualifier.clone()),
    }
    .filter(|q| q != "$LATEST" && !q.is_empty());
    let mut function = chosen.map(|c| c.function);
    if let Some(f) = &mut function
        && f.account.is_none()
    {
        f.account = raw
            .recipient_account_id
            .clone()
            .filter(|a| is_account_id(a));
    }
    if let Some(f) = &mut function {
        complete_arn(f, raw.aws_region.as_deref());
    }
    inv.caller = caller(
        raw.user_identity.as_ref(),
        request,
        function.as_ref().and_then(|f| f.account.as_deref()),
    );
    inv.qualifier = qualifier;
    inv.function = function;
    Ok(inv)
}

/// The published version that ran, for a record that names no qualifier: its
/// `additionalEventData.functionVersion` (an ARN qualified with the version, or the bare
/// version), when it is a version number of the record's own function. `$LATEST` has no policy
/// of its own, so it is none. A synchronous service invoke has `requestParameters: null`; then
/// this is the only evidence of what ran, and that version's policy, or an alias routing to it,
/// may be what let the caller in (DESIGN.md facts 5 and 22).
pub fn ran_version(record: &Value, inv: &Invocation) -> Option<String> {
    if inv.qualifier.is_some() || !inv.is_lambda_invoke() {
        return None;
    }
    let function = inv.function.as_ref()?;
    let text = record
        .get("additionalEventData")?
        .get("functionVersion")?
        .as_str()?;
    let version = if text.bytes().all(|b| b.is_ascii_digit()) {
        text.to_owned()
    } else {
        let named = parse_function_name(text)?;
        if named.function.name != function.name
            || named.function.arn.is_some()
                && function.arn.is_some()
                && named.function.arn != function.arn
        {
            return None;
        }
        named.qualifier?
    };
    (!version.is_empty() && version.bytes().all(|b| b.is_ascii_digit())).then_some(version)
}

/// A JSON value's type, as error messages name it ("expected a string, found a number").
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads a record into `T`; a mistyped field is an error naming its JSON path.
pub(crate) fn from_value<'a, T: Deserialize<'a>>(record: &'a Value) -> Result<T, RecordError> {
    serde_path_to_error::deserialize(record).map_err(|e| RecordError {
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NamedFunction {
    pub(crate) function: FunctionRef,
    pub(crate) qualifier: Option<String>,
}

/// A name, partial ARN (`ACCOUNT:function:NAME`) or ARN, each optionally qualified.
pub(crate) fn parse_function_name(s: &str) -> Option<NamedFunction> {
    let named = FunctionName::parse(s)?;
    is_function_name(named.name).then(|| NamedFunction {
        function: FunctionRef {
            name: named.name.to_owned(),
            arn: named.arn.map(|arn| arn.unqualified().to_string()),
            account: named.account.map(str::to_owned),
        },
        qualifier: named.qualifier.map(str::to_owned),
    })
}

fn caller(
    identity: Option<&RawIdentity>,
    request: Option<&RawRequest>,
    function_account: Option<&str>,
) -> Caller {
    let Some(id) = identity else {
        return Caller::default();
    };
    let mut c = Caller {
        invoked_by: id.invoked_by.clone(),
        arn: id.arn.clone(),
        ..Caller::default()
    };
    if id.kind.as_deref() == Some("AWSService") {
        c.kind = CallerKind::Service;
        c.principal = id.invoked_by.clone();
        c.source_arn = request.and_then(|r| r.source_arn.clone());
        c.source_account = request.and_then(|r| r.source_account.clone());
        return c;
    }
    c.account = id
        .account_id
        .clone()
        .or_else(|| id.arn.as_deref().and_then(arn_account).map(str::to_owned))
        .filter(|a| is_account_id(a));
    let role_arn = id
        .session_context
        .as_ref()
        .and_then(|s| s.session_issuer.as_ref())
        .and_then(|i| i.arn.clone());
    c.principal = role_arn
        .or_else(|| id.arn.clone())
        .or_else(|| c.account.clone());
    c.kind = match (&c.account, function_account) {
        (None, _) => CallerKind::Unknown,
        (Some(a), Some(f)) if a != f => CallerKind::Account,
        (Some(_), Some(_)) => CallerKind::Iam,
        // Without the function's account we cannot tell a foreign caller from a local one.
        (Some(_), None) => CallerKind::Unknown,
    };
    c
}

/// Gives a function named without an ARN the ARN its account and the record's region make, so
/// that a record about a same-named function of another account or region is told apart.
pub(crate) fn complete_arn(f: &mut FunctionRef, region: Option<&str>) {
    if f.arn.is_some() {
        return;
    }
    if let (Some(account), Some(region)) = (&f.account, region)
        && let Ok(home) = Home::new(Home::partition_of_region(region), region, account)
    {
        f.arn = Some(home.function_arn(&f.name));
    }
}

/// The account of an IAM or STS ARN.
fn arn_account(arn: &str) -> Option<&str> {
    IamArn::parse(arn).map(|a| a.account)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn function_names_parse_in_every_form() {
        let f = parse_function_name("arn:aws:lambda:us-east-1:111122223333:function:Blog:prod")
            .expect("arn");
        assert_eq!(
            f.function.arn.as_deref(),
            Some("arn:aws:lambda:us-east-1:111122223333:function:Blog")
        );
        assert_eq!(f.qualifier.as_deref(), Some("prod"));
        let f = parse_function_name("111122223333:function:Blog").expect("partial");
        assert_eq!(
            (f.function.account.as_deref(), f.function.arn),
            (Some("111122223333"), None)
        );
        let f = parse_function_name("Blog:7").expect("name");
        assert_eq!(
            (f.function.name.as_str(), f.qualifier.as_deref()),
            ("Blog", Some("7"))
        );
        assert_eq!(parse_function_name("arn:aws:s3:::bucket"), None);
        assert_eq!(parse_function_name("a:b:c:d"), None);
    }

    #[test]
    fn the_version_that_ran_is_read_only_when_no_qualifier_was_named() {
        let rec = |request: Value, version: &str| {
            json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke",
                "requestParameters": request, "additionalEventData": {"functionVersion": version},
                "resources": [{"type": "AWS::Lambda::Function", "ARN": "arn:aws:lambda:us-east-1:111122223333:function:orders"}]})
        };
        let ran = |r: Value| ran_version(&r, &invocation(&r).expect("parses"));
        let arn2 = "arn:aws:lambda:us-east-1:111122223333:function:orders:2";
        assert_eq!(ran(rec(Value::Null, arn2)).as_deref(), Some("2"));
        assert_eq!(ran(rec(Value::Null, "7")).as_deref(), Some("7"));
        for (request, version) in [
            (
                Value::Null,
                "arn:aws:lambda:us-east-1:111122223333:function:orders:$LATEST",
            ),
            (
                Value::Null,
                "arn:aws:lambda:us-east-1:111122223333:function:other:2",
            ),
            (
                Value::Null,
                "arn:aws:lambda:eu-west-1:111122223333:function:orders:2",
            ),
            (Value::Null, "live"),
            (json!({"functionName": "orders", "qualifier": "live"}), arn2),
        ] {
            assert_eq!(ran(rec(request, version)), None, "{version}");
        }
    }

    #[test]
    fn a_mistyped_invoke_record_is_an_error_with_its_path() {
        let rec = json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke", "userIdentity": {"type": 5}});
        let e = invocation(&rec).expect_err("mistyped");
        assert_eq!(e.path, "userIdentity.type");
        let rec = json!({"eventSource": "ec2.amazonaws.com", "eventName": "RunInstances", "userIdentity": {"type": 5}});
        assert!(
            invocation(&rec).is_ok(),
            "other services' shapes are not our business"
        );
        assert_eq!(
            invocation(&json!({"eventName": 3}))
                .expect_err("typed")
                .path,
            "eventName"
        );
    }

    #[test]
    fn an_assumed_role_is_matched_by_its_role_arn() {
        let rec = json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke",
            "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::999999999999:assumed-role/ops/alice", "accountId": "999999999999",
              "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::999999999999:role/team/ops"}}},
            "resources": [{"type": "AWS::Lambda::Function", "ARN": "arn:aws:lambda:us-east-1:111122223333:function:Blog"}]});
        let inv = invocation(&rec).expect("parses");
        assert_eq!(inv.caller.kind, CallerKind::Account);
        assert_eq!(
            inv.caller.principal.as_deref(),
            Some("arn:aws:iam::999999999999:role/team/ops")
        );
    }
}
