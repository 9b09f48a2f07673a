//! A starting allowlist from today's grants (`invokeguard init`): one entry per grant, with a
//! reason saying where it came from, never wider than the grant. Public, foreign and
//! unconstrained service grants, and grants with conditions an entry cannot say (a negated
//! test, a second key), are left out, each with a warning, for a person to decide; an
//! organization or wildcard source ARN init cannot vouch for is drafted with a warning in its
//! `reason`. Pure: no I/O.

use crate::allowlist::{AllowEntry, Grant, InvokeAction, ServiceGrant};
use crate::aws::arn::IamArn;
use crate::plan::{INVOKE_ACTION, INVOKE_URL_ACTION, grants_invoke};
use crate::resource_policy::{Principal, ResourcePolicy, Statement};

/// The entries for one function's policy, and the grants left out with why.
#[derive(Debug, Default, PartialEq)]
pub struct Drafted {
    pub entries: Vec<AllowEntry>,
    pub warnings: Vec<String>,
}

/// A policy's value as the allowlist's validated type; the error says what it expected.
fn typed<T: TryFrom<String, Error = String>>(value: &str) -> Result<T, String> {
    T::try_from(value.to_owned())
}

/// The one condition on `key` (lower-cased) with one of `operators`, and its single value;
/// `None` when there is none. Whether the statement has conditions an entry cannot say is
/// checked before, by [`unexpressible`].
fn value<'a>(s: &'a Statement, key: &str, operators: &[&str]) -> Option<&'a str> {
    s.conditions
        .iter()
        .find(|c| c.key == key && operators.contains(&c.operator.as_str()) && c.values.len() == 1)
        .and_then(|c| c.values.first())
        .map(String::as_str)
}

const EQUALS: &[&str] = &["stringequals"];
/// A source ARN an entry says is matched as `ArnLike` (wildcards) or exactly (a literal).
const SOURCE_ARN: &[&str] = &["arnlike", "arnequals", "stringequals", "stringlike"];

fn has_wildcard(v: &str) -> bool {
    v.contains(['*', '?'])
}

/// The first condition of `s` an entry for `principal` cannot say, described; `None` when every
/// condition is one the entry has (same key, an operator that matches no more than the entry
/// does, one value). Drafting past such a condition would make an entry wider than the grant.
fn unexpressible(s: &Statement, principal: &Principal, url: bool) -> Option<String> {
    let mut seen: Vec<&str> = Vec::new();
    for c in &s.conditions {
        let describe = || format!("condition {} {} {:?}", c.operator, c.key, c.values);
        if seen.contains(&c.key.as_str()) {
            return Some(format!("{} (a second test of the same key)", describe()));
        }
        seen.push(&c.key);
        if c.values.len() != 1 {
            return Some(format!("{} (several values)", describe()));
        }
        let value = c.values.first().map_or("", String::as_str);
        let op = c.operator.as_str();
        let ok = match (principal, c.key.as_str()) {
            // NONE is left out below with its own warning.
            (_, "lambda:functionurlauthtype") if url => {
                op == "stringequals"
                    && (value == "AWS_IAM" || (value == "NONE" && *principal == Principal::Any))
            }
            (Principal::Any, "aws:principalorgid") => op == "stringequals" && !has_wildcard(value),
            (Principal::Service(_), "aws:sourcearn") => {
                SOURCE_ARN.contains(&op)
                    && (!has_wildcard(value) || matches!(op, "arnlike" | "stringlike"))
            }
            (Principal::Service(_), "aws:sourceaccount" | "lambda:eventsourcetoken") => {
                op == "stringequals" && !has_wildcard(value)
            }
            _ => false,
        };
        if !ok {
            let negated = op.contains("not") || op.starts_with("null");
            return Some(if negated {
                format!(
                    "{} is negated: it grants everyone it does not name",
                    describe()
                )
            } else {
                format!(
                    "{} is not one its entry can say, which would be wider",
                    describe()
                )
            });
        }
    }
    None
}

/// Drafts entries from `policy` of `function` in `home_account`.
pub fn draft(function: &str, home_account: &str, policy: &ResourcePolicy) -> Drafted {
    let mut out = Drafted::default();
    for s in &policy.statements {
        if !grants_invoke(s) {
            continue;
        }
        let name = s.sid.as_deref().map_or_else(
            || format!("statement {}", s.index),
            |sid| format!("statement {sid:?}"),
        );
        let left_out = |why: &str| format!("{function}: {name} left out: {why}");
        if s.not_principal || s.not_action || s.not_resource {
            out.warnings.push(left_out(
                "it uses NotPrincipal/NotAction/NotResource and grants more than any entry can say",
            ));
            continue;
        }
        let url = s
            .actions
            .iter()
            .all(|a| a.eq_ignore_ascii_case(INVOKE_URL_ACTION));
        if !url
            && !s
                .actions
                .iter()
                .all(|a| a.eq_ignore_ascii_case(INVOKE_ACTION))
        {
            out.warnings.push(left_out(&format!(
                "its action {:?} is wider than lambda:InvokeFunction",
                s.actions
            )));
            continue;
        }
        let [p] = s.principals.as_slice() else {
            out.warnings.push(left_out(&format!(
                "it names {} principals; write one entry for each you vouch for",
                s.principals.len()
            )));
            continue;
        };
        if let Some(why) = unexpressible(s, p, url) {
            out.warnings.push(left_out(&why));
            continue;
        }
        let reason = format!("from {name} of {function}'s policy (invokeguard init)");
        // What init cannot vouch for: named in a warning and in the entry's reason.
        let mut unvouched: Vec<String> = Vec::new();
        let grant: Result<Grant, String> = match p {
            Principal::Any => match (
                value(s, "aws:principalorgid", EQUALS),
                value(s, "lambda:functionurlauthtype", EQUALS),
            ) {
                (Some(org), _) => {
                    unvouched.push(format!(
                        "organization {org}: init cannot tell whether it is yours; keep it only if every account in it may invoke"
                    ));
                    typed(org).map(Grant::Organization)
                }
                (None, Some("NONE")) => {
                    out.warnings.push(left_out("a public function URL (auth type NONE): add {\"functionUrl\": \"public\"} if it is meant to be public"));
                    continue;
                }
                _ => {
                    out.warnings
                        .push(left_out("it grants invocation to anyone (\"*\")"));
                    continue;
                }
            },
            Principal::Service(service) => {
                let arn = value(s, "aws:sourcearn", SOURCE_ARN);
                let account = value(s, "aws:sourceaccount", EQUALS);
                let token = value(s, "lambda:eventsourcetoken", EQUALS);
                if arn.is_none() && account.is_none() && token.is_none() {
                    out.warnings.push(left_out(&format!(
                        "{service} without SourceArn or SourceAccount lets any account's resources invoke (confused deputy)"
                    )));
                    continue;
                }
                if let Some(pattern) = arn.filter(|a| has_wildcard(a)) {
                    if account.is_none() {
                        out.warnings.push(left_out(&format!(
                            "{service} from any resource matching {pattern:?} without SourceAccount: any account can own one (confused deputy)"
                        )));
                        continue;
                    }
                    unvouched.push(format!(
                        "source ARN {pattern:?} is a wildcard: every resource it matches in account {} may invoke",
                        account.unwrap_or_default()
                    ));
                }
                service_grant(service, arn, account, token).map(Grant::Service)
            }
            Principal::Account(a) if a == home_account => typed(a).map(Grant::Account),
            Principal::Account(a) => {
                out.warnings.push(left_out(&format!(
                    "it grants another account ({a}); add {{\"account\": \"{a}\"}} if that account is a partner"
                )));
                continue;
            }
            Principal::Aws(arn)
                if IamArn::parse(arn).is_some_and(|a| a.account == home_account) =>
            {
                typed(arn).map(Grant::Principal)
            }
            Principal::Aws(arn) => {
                out.warnings.push(left_out(&format!(
                    "it grants a principal of another account ({arn})"
                )));
                continue;
            }
            Principal::Other(p) => {
                out.warnings.push(left_out(&format!(
                    "principal {p} is not one an entry can name"
                )));
                continue;
            }
        };
        // A value the policies file would refuse is left out: the drafted file must load.
        let grant = match grant {
            Ok(grant) => grant,
            Err(why) => {
                out.warnings.push(left_out(&why));
                continue;
            }
        };
        let action = if url && !matches!(grant, Grant::Service(_)) {
            InvokeAction::InvokeFunctionUrl
        } else {
            InvokeAction::InvokeFunction
        };
        let reason = if unvouched.is_empty() {
            reason
        } else {
            for w in &unvouched {
                out.warnings
                    .push(format!("{function}: {name} drafted for review: {w}"));
            }
            format!("{reason}; WARNING: {}", unvouched.join("; "))
        };
        let entry = AllowEntry {
            grant,
            action,
            reason: Some(reason),
        };
        if !out.entries.contains(&entry) {
            out.entries.push(entry);
        }
    }
    out
}

fn service_grant(
    service: &str,
    source_arn: Option<&str>,
    source_account: Option<&str>,
    event_source_token: Option<&str>,
) -> Result<ServiceGrant, String> {
    Ok(ServiceGrant {
        service: typed(service)?,
        source_arn: source_arn.map(typed).transpose()?,
        source_account: source_account.map(typed).transpose()?,
        event_source_token: event_source_token.map(typed).transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The entries as the policies file holds them.
    fn written(d: &Drafted) -> Vec<Value> {
        d.entries
            .iter()
            .map(|e| serde_json::to_value(e).expect("serializes"))
            .collect()
    }

    #[test]
    fn grants_become_entries_and_risky_ones_are_left_out_with_a_warning() {
        let policy = ResourcePolicy::parse(r#"{"Statement": [
            {"Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction",
             "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::b"}, "StringEquals": {"AWS:SourceAccount": "111122223333"}}},
            {"Sid": "sns", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "lambda:InvokeFunction"},
            {"Sid": "open", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"},
            {"Sid": "org", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}},
            {"Sid": "partner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "lambda:InvokeFunction"},
            {"Sid": "ops", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/ops"}, "Action": "lambda:InvokeFunction"},
            {"Sid": "deny", "Effect": "Deny", "Principal": "*", "Action": "lambda:InvokeFunction"}]}"#).expect("parses");
        let d = draft("f", "111122223333", &policy);
        let entries = written(&d);
        let kinds: Vec<&str> = entries
            .iter()
            .map(|e| {
                ["service", "organization", "principal", "account"]
                    .into_iter()
                    .find(|k| e.get(*k).is_some())
                    .unwrap_or("?")
            })
            .collect();
        assert_eq!(kinds, ["service", "organization", "principal"]);
        assert_eq!(written(&d)[0]["sourceAccount"], "111122223333");
        assert!(
            written(&d)[0]["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("\"s3\"")
        );
        assert_eq!(d.warnings.len(), 4, "{:?}", d.warnings);
        assert!(d.warnings[0].contains("confused deputy"));
        assert!(d.warnings[1].contains("anyone"));
        assert!(d.warnings[2].contains("o-a1b2c3d4e5"));
        assert!(d.warnings[3].contains("another account"));
    }

    fn one(statement: &str) -> Drafted {
        let policy =
            ResourcePolicy::parse(&format!(r#"{{"Statement": [{statement}]}}"#)).expect("parses");
        draft("f", "111122223333", &policy)
    }

    #[test]
    fn a_value_the_policies_file_would_refuse_is_left_out_with_what_was_expected() {
        let d = one(
            r#"{"Sid": "org", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction",
               "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-short"}}}"#,
        );
        assert!(d.entries.is_empty(), "{:?}", d.entries);
        assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
        assert!(
            d.warnings[0].starts_with("f: statement \"org\" left out: expected an organization id"),
            "{:?}",
            d.warnings
        );
    }

    #[test]
    fn a_negated_organization_test_is_not_an_organization_entry() {
        let d = one(
            r#"{"Sid": "not-org", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction",
               "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}}"#,
        );
        assert!(d.entries.is_empty(), "{:?}", d.entries);
        assert_eq!(d.warnings.len(), 1);
        assert!(d.warnings[0].contains("negated"), "{:?}", d.warnings);
        assert!(d.warnings[0].contains("o-a1b2c3d4e5"));
    }

    #[test]
    fn every_organization_is_named_in_a_warning_and_in_its_reason() {
        let d = one(
            r#"{"Sid": "org", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction",
               "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-zzzzzzzzzz"}}}"#,
        );
        assert_eq!(d.entries.len(), 1);
        assert_eq!(written(&d)[0]["organization"], "o-zzzzzzzzzz");
        let entries = written(&d);
        let reason = entries[0]["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("WARNING") && reason.contains("o-zzzzzzzzzz"),
            "{reason}"
        );
        assert_eq!(d.warnings.len(), 1);
        assert!(d.warnings[0].contains("o-zzzzzzzzzz"));
    }

    #[test]
    fn a_wildcard_source_arn_without_source_account_is_left_out() {
        for (op, arn) in [
            ("ArnLike", "arn:aws:s3:::*"),
            ("ArnLike", "arn:aws:s3:::logs-*"),
            ("StringLike", "arn:aws:sns:*:*:t"),
        ] {
            let d = one(&format!(
                r#"{{"Sid": "s3", "Effect": "Allow", "Principal": {{"Service": "s3.amazonaws.com"}}, "Action": "lambda:InvokeFunction",
                   "Condition": {{"{op}": {{"AWS:SourceArn": "{arn}"}}}}}}"#
            ));
            assert!(d.entries.is_empty(), "{arn}: {:?}", d.entries);
            assert!(
                d.warnings[0].contains("without SourceAccount"),
                "{:?}",
                d.warnings
            );
        }
        // With the account, it is drafted, as wide as the grant, and named for review.
        let d = one(
            r#"{"Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction",
               "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::logs-*"}, "StringEquals": {"AWS:SourceAccount": "111122223333"}}}"#,
        );
        assert_eq!(d.entries.len(), 1);
        assert_eq!(written(&d)[0]["sourceArn"], "arn:aws:s3:::logs-*");
        assert!(
            written(&d)[0]["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("wildcard")
        );
        assert_eq!(d.warnings.len(), 1);
    }

    #[test]
    fn conditions_an_entry_cannot_say_are_never_drafted_as_a_wider_entry() {
        for condition in [
            // Narrowing keys an entry has no field for.
            r#"{"StringEquals": {"AWS:SourceAccount": "111122223333", "aws:SourceVpce": "vpce-1"}}"#,
            r#"{"StringEquals": {"AWS:SourceAccount": "111122223333"}, "Bool": {"aws:SecureTransport": "true"}}"#,
            // A literal with a wildcard under an exact operator matches only that text.
            r#"{"StringEquals": {"AWS:SourceArn": "arn:aws:s3:::logs-*", "AWS:SourceAccount": "111122223333"}}"#,
            // Several values, a negation, an IfExists.
            r#"{"ArnLike": {"AWS:SourceArn": ["arn:aws:s3:::a", "arn:aws:s3:::b"]}}"#,
            r#"{"StringNotEquals": {"AWS:SourceAccount": "999999999999"}}"#,
            r#"{"StringEqualsIfExists": {"AWS:SourceAccount": "111122223333"}}"#,
            r#"{"Null": {"AWS:SourceArn": "false"}, "StringEquals": {"AWS:SourceAccount": "111122223333"}}"#,
        ] {
            let d = one(&format!(
                r#"{{"Sid": "svc", "Effect": "Allow", "Principal": {{"Service": "s3.amazonaws.com"}}, "Action": "lambda:InvokeFunction",
                   "Condition": {condition}}}"#
            ));
            assert!(d.entries.is_empty(), "{condition}: {:?}", d.entries);
            assert_eq!(d.warnings.len(), 1, "{condition}");
            assert!(d.warnings[0].contains("condition"), "{:?}", d.warnings);
        }
        // An account or principal entry has no conditions at all.
        let d = one(
            r#"{"Sid": "ops", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/ops"}, "Action": "lambda:InvokeFunction",
               "Condition": {"StringEquals": {"aws:PrincipalTag/team": "ops"}}}"#,
        );
        assert!(d.entries.is_empty());
        assert!(
            d.warnings[0].contains("aws:principaltag/team"),
            "{:?}",
            d.warnings
        );
    }
}
