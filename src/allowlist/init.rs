//! A starting allowlist from today's grants (`invokeguard init`): one entry per grant, with a
//! reason saying where it came from. Public, foreign and unconstrained service grants are left
//! out, each with a warning, for a person to decide. Pure: no I/O.

use serde_json::{Map, Value, json};

use crate::plan::{INVOKE_ACTION, INVOKE_URL_ACTION, grants_invoke};
use crate::resource_policy::{Principal, ResourcePolicy, Statement};

/// The entries for one function's policy, and the grants left out with why.
#[derive(Debug, Default, PartialEq)]
pub struct Drafted {
    pub entries: Vec<Value>,
    pub warnings: Vec<String>,
}

fn value<'a>(s: &'a Statement, key: &str) -> Option<&'a str> {
    s.conditions
        .iter()
        .find(|c| c.key == key && c.values.len() == 1)
        .and_then(|c| c.values.first())
        .map(String::as_str)
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
        let reason = format!("from {name} of {function}'s policy (invokeguard init)");
        let mut entry = Map::new();
        for p in &s.principals {
            match p {
                Principal::Any => match (value(s, "aws:principalorgid"), value(s, "lambda:functionurlauthtype")) {
                    (Some(org), _) => {
                        entry.insert("organization".into(), json!(org));
                    }
                    (None, Some("NONE")) => {
                        out.warnings.push(left_out("a public function URL (auth type NONE): add {\"functionUrl\": \"public\"} if it is meant to be public"));
                    }
                    _ => out.warnings.push(left_out("it grants invocation to anyone (\"*\")")),
                },
                Principal::Service(service) => {
                    let (arn, account) = (value(s, "aws:sourcearn"), value(s, "aws:sourceaccount"));
                    let token = value(s, "lambda:eventsourcetoken");
                    if arn.is_none() && account.is_none() && token.is_none() {
                        out.warnings.push(left_out(&format!(
                            "{service} without SourceArn or SourceAccount lets any account's resources invoke (confused deputy)"
                        )));
                        continue;
                    }
                    entry.insert("service".into(), json!(service));
                    for (k, v) in [("sourceArn", arn), ("sourceAccount", account), ("eventSourceToken", token)] {
                        if let Some(v) = v {
                            entry.insert(k.into(), json!(v));
                        }
                    }
                }
                Principal::Account(a) if a == home_account => {
                    entry.insert("account".into(), json!(a));
                }
                Principal::Account(a) => out.warnings.push(left_out(&format!(
                    "it grants another account ({a}); add {{\"account\": \"{a}\"}} if that account is a partner"
                ))),
                Principal::Aws(arn) if arn.split(':').nth(4) == Some(home_account) => {
                    entry.insert("principal".into(), json!(arn));
                }
                Principal::Aws(arn) => out.warnings.push(left_out(&format!(
                    "it grants a principal of another account ({arn})"
                ))),
                Principal::Other(p) => out.warnings.push(left_out(&format!("principal {p} is not one an entry can name"))),
            }
        }
        if entry.is_empty() || s.principals.len() != 1 {
            continue;
        }
        if url && !entry.contains_key("service") {
            entry.insert("action".into(), json!(INVOKE_URL_ACTION));
        }
        entry.insert("reason".into(), json!(reason));
        let entry = Value::Object(entry);
        if !out.entries.contains(&entry) {
            out.entries.push(entry);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let kinds: Vec<&str> = d
            .entries
            .iter()
            .map(|e| {
                ["service", "organization", "principal", "account"]
                    .into_iter()
                    .find(|k| e.get(*k).is_some())
                    .unwrap_or("?")
            })
            .collect();
        assert_eq!(kinds, ["service", "organization", "principal"]);
        assert_eq!(d.entries[0]["sourceAccount"], "111122223333");
        assert!(
            d.entries[0]["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("\"s3\"")
        );
        assert_eq!(d.warnings.len(), 3, "{:?}", d.warnings);
        assert!(d.warnings[0].contains("confused deputy"));
        assert!(d.warnings[1].contains("anyone"));
        assert!(d.warnings[2].contains("another account"));
    }
}
