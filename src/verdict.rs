//! Judging one Invoke record against the policies file. Pure: no I/O.

use schemars::JsonSchema;
use serde::Serialize;

use crate::allowlist::{AllowEntry, Allowlist, Grant, InvokeAction};
use crate::aws::arn::IamArn;
use crate::aws::arn::arn_like;
use crate::record::{Caller, CallerKind, Invocation};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Allowed,
    Violation,
    Ignored,
}

/// Why a record got its verdict: a stable kebab-case code for logs, queries and alarms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    NotLambda,
    NotInvoke,
    NoFunction,
    NotGuarded,
    /// The call was refused (an access-denied `errorCode`): nothing was invoked.
    AccessDenied,
    Allowlisted,
    CallerNotAllowlisted,
    SourceArnMismatch,
    SourceAccountMismatch,
    SameAccountIam,
    UnknownCaller,
}

/// The verdict on one record; serialized, it is the `decision` line of the contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub event_id: Option<String>,
    /// The function as the policies file keys it (the record's name when not guarded).
    pub function: Option<String>,
    pub function_arn: Option<String>,
    pub qualifier: Option<String>,
    pub caller: Caller,
    #[serde(rename = "verdict")]
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixable: Option<bool>,
    pub reason: Reason,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_entry: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_reason: Option<String>,
    /// False when the matching entry constrains the source but the record could not show it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_verified: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Judges `inv` against `policies`.
pub fn decide(allowlist: &Allowlist, inv: &Invocation) -> Verdict {
    let mut v = Verdict {
        event_id: inv.event_id.clone(),
        function: inv.function.as_ref().map(|f| f.name.clone()),
        function_arn: inv.function.as_ref().and_then(|f| f.arn.clone()),
        qualifier: inv.qualifier.clone(),
        caller: inv.caller.clone(),
        outcome: Outcome::Ignored,
        fixable: None,
        reason: Reason::NotLambda,
        allow_entry: None,
        allow_reason: None,
        source_verified: None,
        notes: inv.notes.clone(),
    };
    if inv.event_source.as_deref() != Some("lambda.amazonaws.com") {
        return v;
    }
    if !inv.is_lambda_invoke() {
        v.reason = Reason::NotInvoke;
        return v;
    }
    let Some(function) = &inv.function else {
        v.reason = Reason::NoFunction;
        return v;
    };
    let Some((key, guarded)) = allowlist.lookup(&function.name, function.arn.as_deref()) else {
        v.reason = Reason::NotGuarded;
        return v;
    };
    v.function = Some(key.as_str().to_owned());
    if inv.was_refused() {
        v.reason = Reason::AccessDenied;
        return v;
    }
    let action = if inv.is_url_invoke() {
        InvokeAction::InvokeFunctionUrl
    } else {
        InvokeAction::InvokeFunction
    };
    let public_url = (action == InvokeAction::InvokeFunctionUrl)
        .then(|| {
            guarded
                .allow
                .iter()
                .position(|e| e.grant == Grant::PublicUrl)
        })
        .flatten();
    let found = match (public_url, inv.caller.kind) {
        (Some(index), _) => Match::Entry {
            index,
            source_verified: None,
            note: None,
        },
        (None, CallerKind::Service) if action == InvokeAction::InvokeFunction => {
            match_service(&guarded.allow, &inv.caller)
        }
        (None, CallerKind::Service) => Match::None(Reason::CallerNotAllowlisted),
        (None, CallerKind::Account) => match_account(&guarded.allow, &inv.caller, action),
        (None, CallerKind::Iam) => match_iam(&guarded.allow, &inv.caller, action),
        (None, CallerKind::Unknown) => Match::None(Reason::UnknownCaller),
    };
    match found {
        Match::Entry {
            index,
            source_verified,
            note,
        } => {
            v.outcome = Outcome::Allowed;
            v.reason = Reason::Allowlisted;
            v.allow_entry = Some(index);
            v.allow_reason = guarded.allow.get(index).and_then(|e| e.reason.clone());
            v.source_verified = source_verified;
            v.notes.extend(note);
        }
        Match::None(reason) => {
            v.outcome = Outcome::Violation;
            // Only grants in the resource policy can be taken away: a same-account IAM caller
            // or one we cannot identify is reported, never "fixed".
            let fixable = matches!(inv.caller.kind, CallerKind::Service | CallerKind::Account);
            v.fixable = Some(fixable);
            v.reason = match inv.caller.kind {
                CallerKind::Iam => Reason::SameAccountIam,
                _ => reason,
            };
        }
    }
    v
}

enum Match {
    Entry {
        index: usize,
        source_verified: Option<bool>,
        note: Option<String>,
    },
    None(Reason),
}

fn match_service(allow: &[AllowEntry], caller: &Caller) -> Match {
    let Some(invoked_by) = caller.principal.as_deref() else {
        return Match::None(Reason::UnknownCaller);
    };
    let mut reason = Reason::CallerNotAllowlisted;
    for (index, entry) in allow.iter().enumerate() {
        let Grant::Service(grant) = &entry.grant else {
            continue;
        };
        if !grant.service.as_str().eq_ignore_ascii_case(invoked_by) {
            continue;
        }
        let mut verified = true;
        if let Some(pattern) = &grant.source_arn {
            match &caller.source_arn {
                Some(actual) if !arn_like(pattern.as_str(), actual) => {
                    reason = Reason::SourceArnMismatch;
                    continue;
                }
                Some(_) => {}
                None => verified = false,
            }
        }
        if let Some(expected) = &grant.source_account {
            match &caller.source_account {
                Some(actual) if actual != expected.as_str() => {
                    reason = Reason::SourceAccountMismatch;
                    continue;
                }
                Some(_) => {}
                None => verified = false,
            }
        }
        let note = (!verified).then(|| {
            "the record carries no sourceArn/sourceAccount: matched on the service alone".to_owned()
        });
        return Match::Entry {
            index,
            source_verified: Some(verified),
            note,
        };
    }
    Match::None(reason)
}

fn match_account(allow: &[AllowEntry], caller: &Caller, action: InvokeAction) -> Match {
    let account = caller.account.as_deref();
    let allow_action = |e: &&AllowEntry| e.action == action;
    if let Some(index) = allow.iter().position(|e| {
        allow_action(&e)
            && match &e.grant {
                Grant::Account(a) => Some(a.as_str()) == account,
                Grant::Principal(p) => principal_matches(p.as_str(), caller),
                _ => false,
            }
    }) {
        return Match::Entry {
            index,
            source_verified: None,
            note: None,
        };
    }
    if let Some(index) = allow
        .iter()
        .position(|e| e.action == action && matches!(e.grant, Grant::Organization(_)))
    {
        let note = "organization membership cannot be verified from the record; allowed by the organization entry".to_owned();
        return Match::Entry {
            index,
            source_verified: Some(false),
            note: Some(note),
        };
    }
    Match::None(Reason::CallerNotAllowlisted)
}

fn match_iam(allow: &[AllowEntry], caller: &Caller, action: InvokeAction) -> Match {
    let found = allow.iter().position(|e| match &e.grant {
        Grant::Principal(p) => e.action == action && principal_matches(p.as_str(), caller),
        Grant::Account(a) => e.action == action && caller.account.as_deref() == Some(a.as_str()),
        Grant::Service(grant) => caller
            .invoked_by
            .as_deref()
            .is_some_and(|by| grant.service.as_str().eq_ignore_ascii_case(by)),
        Grant::Organization(_) | Grant::PublicUrl => false,
    });
    match found {
        Some(index) => Match::Entry {
            index,
            source_verified: None,
            note: None,
        },
        None => Match::None(Reason::SameAccountIam),
    }
}

/// An entry's IAM ARN matches the caller's ARN, its session's role, or (for `:root`) its account.
fn principal_matches(entry: &str, caller: &Caller) -> bool {
    let Some(arn) = IamArn::principal(entry) else {
        return false;
    };
    if caller.account.as_deref() != Some(arn.account) {
        return false;
    }
    if arn.resource == "root"
        || caller.principal.as_deref() == Some(entry)
        || caller.arn.as_deref() == Some(entry)
    {
        return true;
    }
    // Without a session issuer, an assumed-role ARN carries the role name but not its path.
    let role_name = arn.role_name();
    let session_role = caller
        .arn
        .as_deref()
        .and_then(|a| a.split_once(":assumed-role/"))
        .and_then(|(_, rest)| rest.split('/').next());
    role_name.is_some() && role_name == session_role && caller.principal == caller.arn
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::invocation;
    use serde_json::json;

    fn allowlist() -> Allowlist {
        Allowlist::from_json(
            r#"{"version": 1, "functions": {"Blog": {"allow": [
                {"service": "s3.amazonaws.com", "sourceArn": "arn:aws:s3:::uploads", "sourceAccount": "111122223333", "reason": "thumbs"},
                {"account": "444455556666"},
                {"principal": "arn:aws:iam::777788889999:role/ops"},
                {"principal": "arn:aws:iam::111122223333:role/deployer"},
                {"service": "states.amazonaws.com"}
            ]}}}"#,
            "p",
            None,
        )
        .expect("valid")
    }

    fn judge(identity: serde_json::Value, request: serde_json::Value) -> Verdict {
        let rec = json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke", "eventID": "e1",
            "userIdentity": identity, "requestParameters": request,
            "resources": [{"type": "AWS::Lambda::Function", "ARN": "arn:aws:lambda:us-east-1:111122223333:function:Blog"}]});
        decide(&allowlist(), &invocation(&rec).expect("parses"))
    }

    fn s3(request: serde_json::Value) -> Verdict {
        judge(
            json!({"type": "AWSService", "invokedBy": "s3.amazonaws.com"}),
            request,
        )
    }

    #[test]
    fn a_service_matches_on_source_arn_and_account() {
        let v = s3(json!({"sourceArn": "arn:aws:s3:::uploads", "sourceAccount": "111122223333"}));
        assert_eq!(
            (v.outcome, v.allow_entry, v.source_verified),
            (Outcome::Allowed, Some(0), Some(true))
        );
        assert_eq!(v.allow_reason.as_deref(), Some("thumbs"));
        let v = s3(json!({"sourceArn": "arn:aws:s3:::other", "sourceAccount": "111122223333"}));
        assert_eq!(
            (v.outcome, v.reason, v.fixable),
            (Outcome::Violation, Reason::SourceArnMismatch, Some(true))
        );
        let v = s3(json!({"sourceArn": "arn:aws:s3:::uploads", "sourceAccount": "999999999999"}));
        assert_eq!(v.reason, Reason::SourceAccountMismatch);
    }

    #[test]
    fn a_service_record_without_source_matches_unverified() {
        let v = s3(serde_json::Value::Null);
        assert_eq!(
            (v.outcome, v.source_verified),
            (Outcome::Allowed, Some(false))
        );
        let v = judge(
            json!({"type": "AWSService", "invokedBy": "sns.amazonaws.com"}),
            json!(null),
        );
        assert_eq!(
            (v.outcome, v.reason, v.fixable),
            (Outcome::Violation, Reason::CallerNotAllowlisted, Some(true))
        );
    }

    #[test]
    fn foreign_accounts_match_account_and_principal_entries() {
        let foreign = |arn: &str, account: &str| {
            judge(
                json!({"type": "AssumedRole", "arn": arn, "accountId": account}),
                json!(null),
            )
        };
        assert_eq!(
            foreign("arn:aws:sts::444455556666:assumed-role/x/y", "444455556666").allow_entry,
            Some(1)
        );
        assert_eq!(
            foreign(
                "arn:aws:sts::777788889999:assumed-role/ops/s",
                "777788889999"
            )
            .allow_entry,
            Some(2)
        );
        let v = foreign(
            "arn:aws:sts::777788889999:assumed-role/dev/s",
            "777788889999",
        );
        assert_eq!(
            (v.outcome, v.reason, v.fixable),
            (Outcome::Violation, Reason::CallerNotAllowlisted, Some(true))
        );
    }

    #[test]
    fn same_account_iam_violations_are_not_fixable() {
        let v = judge(
            json!({"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/duc", "accountId": "111122223333"}),
            json!(null),
        );
        assert_eq!(
            (v.outcome, v.reason, v.fixable),
            (Outcome::Violation, Reason::SameAccountIam, Some(false))
        );
        let v = judge(
            json!({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/sfn/x", "accountId": "111122223333", "invokedBy": "states.amazonaws.com"}),
            json!(null),
        );
        assert_eq!((v.outcome, v.allow_entry), (Outcome::Allowed, Some(4)));
        let v = judge(
            json!({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/deployer/x", "accountId": "111122223333"}),
            json!(null),
        );
        assert_eq!(v.allow_entry, Some(3));
    }

    #[test]
    fn unknown_callers_are_violations_that_are_not_fixed() {
        let v = judge(json!(null), json!(null));
        assert_eq!(
            (v.outcome, v.reason, v.fixable),
            (Outcome::Violation, Reason::UnknownCaller, Some(false))
        );
    }

    #[test]
    fn refused_calls_are_not_violations_but_failed_ones_are() {
        let rec = |code: &str| {
            json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke", "errorCode": code,
                "userIdentity": {"type": "AWSAccount", "accountId": "999999999999", "principalId": "x"},
                "resources": [{"ARN": "arn:aws:lambda:us-east-1:111122223333:function:Blog"}]})
        };
        let v = decide(
            &allowlist(),
            &invocation(&rec("AccessDenied")).expect("parses"),
        );
        assert_eq!(
            (v.outcome, v.reason),
            (Outcome::Ignored, Reason::AccessDenied)
        );
        let v = decide(
            &allowlist(),
            &invocation(&rec("ResourceNotReadyException")).expect("parses"),
        );
        assert_eq!(
            (v.outcome, v.reason, v.fixable),
            (Outcome::Violation, Reason::CallerNotAllowlisted, Some(true))
        );
    }

    #[test]
    fn an_aws_account_caller_matches_account_entries() {
        let v = judge(
            json!({"type": "AWSAccount", "accountId": "444455556666", "principalId": "AIDAEXAMPLE"}),
            json!(null),
        );
        assert_eq!((v.outcome, v.allow_entry), (Outcome::Allowed, Some(1)));
    }

    #[test]
    fn function_url_records_are_judged_against_url_entries() {
        let url = |p: &Allowlist, identity: serde_json::Value| {
            let rec = json!({"eventSource": "lambda.amazonaws.com", "eventName": "InvokeFunctionUrl",
                "userIdentity": identity,
                "resources": [{"ARN": "arn:aws:lambda:us-east-1:111122223333:function:Blog"}]});
            decide(p, &invocation(&rec).expect("parses"))
        };
        let anonymous =
            json!({"type": "AWSAccount", "accountId": "ANONYMOUS_PRINCIPAL", "principalId": ""});
        let v = url(&allowlist(), anonymous.clone());
        assert_eq!(
            v.outcome,
            Outcome::Violation,
            "no URL entry: a public URL is a violation"
        );
        let public = Allowlist::from_json(
            r#"{"version": 1, "functions": {"Blog": {"allow": [{"functionUrl": "public"}]}}}"#,
            "p",
            None,
        )
        .expect("valid");
        assert_eq!(url(&public, anonymous).outcome, Outcome::Allowed);
        let iam_url = Allowlist::from_json(r#"{"version": 1, "functions": {"Blog": {"allow": [{"account": "444455556666", "action": "lambda:InvokeFunctionUrl"}]}}}"#, "p", None).expect("valid");
        let partner = json!({"type": "AssumedRole", "arn": "arn:aws:sts::444455556666:assumed-role/x/y", "accountId": "444455556666"});
        assert_eq!(url(&iam_url, partner.clone()).outcome, Outcome::Allowed);
        let v = judge(partner, json!(null));
        assert_eq!(
            v.outcome,
            Outcome::Allowed,
            "the main policies allow the account to Invoke"
        );
        let rec = json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke",
            "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::444455556666:assumed-role/x/y", "accountId": "444455556666"},
            "resources": [{"ARN": "arn:aws:lambda:us-east-1:111122223333:function:Blog"}]});
        assert_eq!(
            decide(&iam_url, &invocation(&rec).expect("parses")).outcome,
            Outcome::Violation,
            "a URL entry does not allow Invoke"
        );
    }

    #[test]
    fn a_name_key_means_the_home_account_and_region_only() {
        let p = allowlist();
        p.set_home(crate::aws::home::Home::new("aws", "us-east-1", "111122223333").expect("home"))
            .expect("home set");
        let rec = |arn: &str| {
            json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke",
                "userIdentity": {"type": "AWSService", "invokedBy": "sns.amazonaws.com"},
                "resources": [{"ARN": arn}]})
        };
        let home = decide(
            &p,
            &invocation(&rec("arn:aws:lambda:us-east-1:111122223333:function:Blog"))
                .expect("parses"),
        );
        assert_eq!(home.outcome, Outcome::Violation);
        for elsewhere in [
            "arn:aws:lambda:eu-west-1:111122223333:function:Blog",
            "arn:aws:lambda:us-east-1:999999999999:function:Blog",
        ] {
            let v = decide(&p, &invocation(&rec(elsewhere)).expect("parses"));
            assert_eq!(
                (v.outcome, v.reason),
                (Outcome::Ignored, Reason::NotGuarded),
                "{elsewhere}"
            );
        }
    }

    #[test]
    fn organization_entries_allow_foreign_accounts_unverified() {
        let p = Allowlist::from_json(r#"{"version": 1, "functions": {"Blog": {"allow": [{"organization": "o-a1b2c3d4e5"}]}}}"#, "p", None).expect("valid");
        let rec = json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke",
            "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::444455556666:assumed-role/x/y", "accountId": "444455556666"},
            "resources": [{"ARN": "arn:aws:lambda:us-east-1:111122223333:function:Blog"}]});
        let v = decide(&p, &invocation(&rec).expect("parses"));
        assert_eq!(
            (v.outcome, v.source_verified),
            (Outcome::Allowed, Some(false))
        );
    }
}
