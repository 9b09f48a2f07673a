//! What a management event says about a change to who may invoke a function: which policy it
//! touched (function and qualifier), who made it, and for AddPermission the statement added.

use serde::Deserialize;
use serde_json::Value;

use super::invocation::{FunctionRef, RecordError, complete_arn, parse_function_name};
use crate::allowlist::ids::is_account_id;

/// Management events that change who may invoke. Real names carry version suffixes
/// (`AddPermission20150331v2`), so they are matched by prefix.
pub const CHANGE_EVENTS: [&str; 8] = [
    "AddPermission",
    "RemovePermission",
    "PutResourcePolicy",
    "DeleteResourcePolicy",
    "CreateFunctionUrlConfig",
    "UpdateFunctionUrlConfig",
    "CreateAlias",
    "UpdateAlias",
];

/// A change to a function's resource policy (or to what reaches it: a URL, an alias).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub event_id: Option<String>,
    /// The recorded name, e.g. `AddPermission20150331v2`.
    pub event_name: String,
    /// Its base name, e.g. `AddPermission`.
    pub kind: &'static str,
    pub function: FunctionRef,
    pub qualifier: Option<String>,
    /// Who made the change: the session's role ARN, else the identity's ARN.
    pub actor: Option<String>,
    /// AddPermission's `responseElements.statement`, parsed (the recorded string when not JSON).
    pub statement: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    event_name: Option<String>,
    event_category: Option<String>,
    #[serde(rename = "eventID")]
    event_id: Option<String>,
    error_code: Option<String>,
    aws_region: Option<String>,
    recipient_account_id: Option<String>,
    request_parameters: Option<RawRequest>,
    response_elements: Option<RawResponse>,
    user_identity: Option<RawIdentity>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRequest {
    function_name: Option<String>,
    resource_arn: Option<String>,
    qualifier: Option<String>,
    /// CreateAlias/UpdateAlias: the alias.
    name: Option<String>,
}

#[derive(Deserialize)]
struct RawResponse {
    statement: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawIdentity {
    arn: Option<String>,
    session_context: Option<RawSession>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSession {
    session_issuer: Option<RawIssuer>,
}

#[derive(Deserialize)]
struct RawIssuer {
    arn: Option<String>,
}

/// The base name of a change event, matched by prefix; `None` for any other event.
pub fn change_kind(event_name: &str) -> Option<&'static str> {
    CHANGE_EVENTS
        .iter()
        .find(|k| {
            event_name.strip_prefix(**k).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_digit())
            })
        })
        .copied()
}

/// Reads a Lambda management event that changes who may invoke. `Ok(None)` for every other
/// record, and for a change that failed (an `errorCode`: nothing was changed).
pub fn change(record: &Value) -> Result<Option<Change>, RecordError> {
    let is_candidate = record.get("eventSource").and_then(Value::as_str)
        == Some("lambda.amazonaws.com")
        && record
            .get("eventName")
            .and_then(Value::as_str)
            .and_then(change_kind)
            .is_some();
    if !is_candidate {
        return Ok(None);
    }
    let raw: Raw = serde_path_to_error::deserialize(record).map_err(|e| RecordError {
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })?;
    if raw
        .event_category
        .as_deref()
        .is_some_and(|c| c != "Management")
        || raw.error_code.is_some()
    {
        return Ok(None);
    }
    let event_name = raw.event_name.unwrap_or_default();
    let Some(kind) = change_kind(&event_name) else {
        return Ok(None);
    };
    let request = raw.request_parameters.as_ref();
    let named = request
        .and_then(|r| r.function_name.as_deref().or(r.resource_arn.as_deref()))
        .and_then(parse_function_name);
    let Some(named) = named else {
        return Err(RecordError {
            path: "requestParameters".into(),
            message: format!("{event_name} names no function (functionName or resourceArn)"),
        });
    };
    let mut function = named.function;
    if function.account.is_none() {
        function.account = raw
            .recipient_account_id
            .clone()
            .filter(|a| is_account_id(a));
    }
    complete_arn(&mut function, raw.aws_region.as_deref());
    let alias = matches!(kind, "CreateAlias" | "UpdateAlias")
        .then(|| request.and_then(|r| r.name.clone()))
        .flatten();
    let qualifier = alias
        .or(named.qualifier)
        .or_else(|| request.and_then(|r| r.qualifier.clone()))
        .filter(|q| !q.is_empty() && q != "$LATEST");
    let identity = raw.user_identity.as_ref();
    let actor = identity
        .and_then(|i| i.session_context.as_ref())
        .and_then(|s| s.session_issuer.as_ref())
        .and_then(|i| i.arn.clone())
        .or_else(|| identity.and_then(|i| i.arn.clone()));
    let statement = raw
        .response_elements
        .and_then(|r| r.statement)
        .map(|s| serde_json::from_str(&s).unwrap_or(Value::String(s)));
    Ok(Some(Change {
        event_id: raw.event_id,
        event_name,
        kind,
        function,
        qualifier,
        actor,
        statement,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_are_matched_by_prefix_and_version_suffix() {
        assert_eq!(
            change_kind("AddPermission20150331v2"),
            Some("AddPermission")
        );
        assert_eq!(change_kind("AddPermission20150331"), Some("AddPermission"));
        assert_eq!(change_kind("PutResourcePolicy"), Some("PutResourcePolicy"));
        assert_eq!(change_kind("UpdateAlias20150331"), Some("UpdateAlias"));
        assert_eq!(change_kind("AddPermissionX"), None);
        assert_eq!(change_kind("AddLayerVersionPermission20181031"), None);
        assert_eq!(change_kind("Invoke"), None);
    }

    #[test]
    fn an_alias_change_names_the_alias_policy() {
        let rec = json!({"eventSource": "lambda.amazonaws.com", "eventName": "CreateAlias20150331", "eventCategory": "Management",
            "awsRegion": "us-east-1", "recipientAccountId": "111122223333",
            "requestParameters": {"functionName": "Blog", "name": "live", "functionVersion": "3"}});
        let c = change(&rec).expect("reads").expect("a change");
        assert_eq!(c.qualifier.as_deref(), Some("live"));
        assert_eq!(
            c.function.arn.as_deref(),
            Some("arn:aws:lambda:us-east-1:111122223333:function:Blog")
        );
    }

    #[test]
    fn a_resource_policy_write_names_its_resource_arn() {
        let rec = json!({"eventSource": "lambda.amazonaws.com", "eventName": "PutResourcePolicy", "eventCategory": "Management",
            "requestParameters": {"resourceArn": "arn:aws:lambda:eu-west-1:111122223333:function:Blog:prod", "policy": "{}"},
            "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/admin/x",
              "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::111122223333:role/admin"}}}});
        let c = change(&rec).expect("reads").expect("a change");
        assert_eq!(c.qualifier.as_deref(), Some("prod"));
        assert_eq!(c.function.name, "Blog");
        assert_eq!(
            c.actor.as_deref(),
            Some("arn:aws:iam::111122223333:role/admin")
        );
    }

    #[test]
    fn failed_and_other_events_are_not_changes() {
        let failed = json!({"eventSource": "lambda.amazonaws.com", "eventName": "AddPermission20150331v2", "errorCode": "AccessDenied",
            "requestParameters": {"functionName": "Blog"}});
        assert_eq!(change(&failed).expect("reads"), None);
        let invoke = json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke"});
        assert_eq!(change(&invoke).expect("reads"), None);
        let nameless = json!({"eventSource": "lambda.amazonaws.com", "eventName": "RemovePermission20150331v2", "requestParameters": {}});
        assert_eq!(
            change(&nameless).expect_err("no function").path,
            "requestParameters"
        );
    }
}
