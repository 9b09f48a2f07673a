//! What a management event says about a change to who may invoke a function: which policy it
//! touched (function and qualifier), who made it, and for AddPermission the statement added.

use serde::Deserialize;
use serde_json::Value;

use super::invocation::{FunctionRef, RecordError, complete_arn, from_value, parse_function_name};
use crate::aws::arn::IamArn;
use crate::aws::ids::is_account_id;

/// The base names of the management events that change who may invoke. Real names carry
/// version suffixes (`AddPermission20150331v2`), so they are matched by prefix.
pub const ADD_PERMISSION: &str = "AddPermission";
pub const REMOVE_PERMISSION: &str = "RemovePermission";
pub const PUT_RESOURCE_POLICY: &str = "PutResourcePolicy";
pub const DELETE_RESOURCE_POLICY: &str = "DeleteResourcePolicy";
pub const CREATE_FUNCTION_URL_CONFIG: &str = "CreateFunctionUrlConfig";
pub const UPDATE_FUNCTION_URL_CONFIG: &str = "UpdateFunctionUrlConfig";
pub const CREATE_ALIAS: &str = "CreateAlias";
pub const UPDATE_ALIAS: &str = "UpdateAlias";

/// The events that change who may invoke through the resource policy or a function URL.
pub const POLICY_CHANGE_EVENTS: [&str; 6] = [
    ADD_PERMISSION,
    REMOVE_PERMISSION,
    PUT_RESOURCE_POLICY,
    DELETE_RESOURCE_POLICY,
    CREATE_FUNCTION_URL_CONFIG,
    UPDATE_FUNCTION_URL_CONFIG,
];

/// The events that change which version's policy an alias reaches.
pub const ALIAS_EVENTS: [&str; 2] = [CREATE_ALIAS, UPDATE_ALIAS];

/// Every event that changes who may invoke a function.
pub fn change_events() -> impl Iterator<Item = &'static str> {
    POLICY_CHANGE_EVENTS.into_iter().chain(ALIAS_EVENTS)
}

/// A change to a function's resource policy (or to what reaches it: a URL, an alias).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyChange {
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
    /// `eventTime`, in seconds since the epoch (`None` when absent or not CloudTrail's format).
    pub event_time: Option<u64>,
    /// `userIdentity.arn` (an assumed role's session ARN).
    pub identity_arn: Option<String>,
    /// `userIdentity.sessionContext.sessionIssuer.arn` (the role's ARN).
    pub issuer_arn: Option<String>,
}

/// The session name the hub guard uses in a member account's role.
pub const HUB_SESSION_NAME: &str = "invokeguard-hub";

/// Who the guard is, as a CloudTrail record names it: its execution role, and in a member
/// account the member role assumed with [`HUB_SESSION_NAME`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardIdentity {
    /// `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`.
    pub role_arn: String,
    /// The member role's name (`INVOKEGUARD_MEMBER_ROLE`).
    pub member_role: String,
}

impl GuardIdentity {
    /// Whether the guard made this change: a session of its own role, or the hub's session of
    /// the member role. Decided by identity alone, never by timing.
    pub fn made(&self, change: &PolicyChange) -> bool {
        let Some(role) = IamArn::parse(&self.role_arn) else {
            return false;
        };
        let Some(role_name) = role.role_name().filter(|n| !n.is_empty()) else {
            return false;
        };
        if change.issuer_arn.as_deref() == Some(self.role_arn.as_str()) {
            return true;
        }
        let Some((session, (session_role, session_name))) = change
            .identity_arn
            .as_deref()
            .and_then(IamArn::parse)
            .filter(|s| s.partition == role.partition)
            .and_then(|s| Some((s, s.assumed_role()?)))
        else {
            return false;
        };
        (session.account == role.account && session_role == role_name)
            || (Some(session_role) == self.member_role.rsplit('/').next()
                && session_name == HUB_SESSION_NAME)
    }
}

/// A record's `eventTime` (`2026-12-06T07:42:53Z`, as CloudTrail writes it; a fraction is
/// dropped) in seconds since the epoch; `None` for any other form.
pub fn event_time(record: &Value) -> Option<u64> {
    parse_event_time(record.get("eventTime")?.as_str()?)
}

fn parse_event_time(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let digits = |from: usize, to: usize| -> Option<u64> {
        let s = text.get(from..to)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())
            .flatten()
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let rest = &text[19..];
    let rest = match rest.strip_prefix('.') {
        Some(fraction) => fraction.trim_start_matches(|c: char| c.is_ascii_digit()),
        None => rest,
    };
    if rest != "Z" {
        return None;
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 7)?, digits(8, 10)?);
    let (hour, minute, second) = (digits(11, 13)?, digits(14, 16)?, digits(17, 19)?);
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), for years from 1970.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
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
    change_events().find(|k| {
        event_name
            .strip_prefix(k)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_digit()))
    })
}

/// Reads a Lambda management event that changes who may invoke. `Ok(None)` for every other
/// record, and for a change that failed (an `errorCode`: nothing was changed).
pub fn change(record: &Value) -> Result<Option<PolicyChange>, RecordError> {
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
    let raw: Raw = from_value(record)?;
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
    let alias = ALIAS_EVENTS
        .contains(&kind)
        .then(|| request.and_then(|r| r.name.clone()))
        .flatten();
    let qualifier = alias
        .or(named.qualifier)
        .or_else(|| request.and_then(|r| r.qualifier.clone()))
        .filter(|q| !q.is_empty() && q != "$LATEST");
    let identity = raw.user_identity.as_ref();
    let identity_arn = identity.and_then(|i| i.arn.clone());
    let issuer_arn = identity
        .and_then(|i| i.session_context.as_ref())
        .and_then(|s| s.session_issuer.as_ref())
        .and_then(|i| i.arn.clone());
    let actor = issuer_arn.clone().or_else(|| identity_arn.clone());
    let statement = raw
        .response_elements
        .and_then(|r| r.statement)
        .map(|s| serde_json::from_str(&s).unwrap_or(Value::String(s)));
    Ok(Some(PolicyChange {
        event_id: raw.event_id,
        event_name,
        kind,
        function,
        qualifier,
        actor,
        statement,
        event_time: event_time(record),
        identity_arn,
        issuer_arn,
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
    fn event_times_are_read_as_cloudtrail_writes_them() {
        assert_eq!(parse_event_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_event_time("2026-12-06T07:42:53Z"),
            Some(1_796_542_973)
        );
        assert_eq!(
            parse_event_time("2024-02-29T23:59:59.123Z"),
            Some(1_709_251_199)
        );
        assert_eq!(parse_event_time("2026-12-06T07:42:53+01:00"), None);
        assert_eq!(parse_event_time("2026-13-06T07:42:53Z"), None);
        assert_eq!(parse_event_time("yesterday"), None);
        assert_eq!(event_time(&json!({"eventTime": 5})), None);
    }

    fn by(identity: Value) -> PolicyChange {
        let rec = json!({"eventSource": "lambda.amazonaws.com", "eventName": "RemovePermission20150331v2",
            "eventCategory": "Management", "eventTime": "2026-12-06T07:42:53Z",
            "requestParameters": {"functionName": "Blog", "statementId": "x"}, "userIdentity": identity});
        change(&rec).expect("reads").expect("a change")
    }

    #[test]
    fn the_guards_own_changes_are_known_by_its_role_only() {
        let me = GuardIdentity {
            role_arn: "arn:aws:iam::111122223333:role/service/Stack-GuardRole-ABC".into(),
            member_role: "invokeguard-member".into(),
        };
        let issuer = |arn: &str, session: &str| {
            json!({"type": "AssumedRole", "arn": session,
                "sessionContext": {"sessionIssuer": {"type": "Role", "arn": arn}}})
        };
        let own = by(issuer(
            "arn:aws:iam::111122223333:role/service/Stack-GuardRole-ABC",
            "arn:aws:sts::111122223333:assumed-role/Stack-GuardRole-ABC/guard",
        ));
        assert_eq!(own.event_time, Some(1_796_542_973));
        assert!(me.made(&own));
        let session_only = by(
            json!({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/Stack-GuardRole-ABC/x"}),
        );
        assert!(me.made(&session_only));
        let hub_in_member = by(issuer(
            "arn:aws:iam::444455556666:role/invokeguard-member",
            "arn:aws:sts::444455556666:assumed-role/invokeguard-member/invokeguard-hub",
        ));
        assert!(me.made(&hub_in_member));
        for other in [
            issuer(
                "arn:aws:iam::111122223333:role/admin",
                "arn:aws:sts::111122223333:assumed-role/admin/Stack-GuardRole-ABC",
            ),
            json!({"type": "AssumedRole", "arn": "arn:aws:sts::999999999999:assumed-role/Stack-GuardRole-ABC/x"}),
            json!({"type": "AssumedRole", "arn": "arn:aws-cn:sts::111122223333:assumed-role/Stack-GuardRole-ABC/x"}),
            issuer(
                "arn:aws:iam::444455556666:role/invokeguard-member",
                "arn:aws:sts::444455556666:assumed-role/invokeguard-member/someone",
            ),
            json!({"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/Stack-GuardRole-ABC"}),
            Value::Null,
        ] {
            assert!(!me.made(&by(other.clone())), "{other}");
        }
        let unset = GuardIdentity {
            role_arn: String::new(),
            member_role: "invokeguard-member".into(),
        };
        assert!(
            !unset.made(&hub_in_member),
            "no role, nothing is the guard's own"
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
