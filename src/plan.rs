//! The reconcile plan: which statements of a resource policy go, which allow entries must be
//! added, and what is left alone. Pure: no I/O.

use serde::Serialize;

use crate::policies::{AllowEntry, Grant};
use crate::resource_policy::{Condition, Principal, ResourcePolicy, Statement, account_root};

pub const INVOKE_ACTION: &str = "lambda:InvokeFunction";

/// The plan for one resource policy (a function, or one of its qualifiers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub function: String,
    pub qualifier: Option<String>,
    pub revision_id: Option<String>,
    /// Applied first, in this order.
    pub remove: Vec<Removal>,
    /// Applied after every removal.
    pub add: Vec<Addition>,
    pub keep: Vec<String>,
    pub unmanaged: Vec<Unmanaged>,
    /// Set when the plan must not be applied, with why: the safety rail below.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.add.is_empty()
    }

    /// The policy as it will be once the plan is applied, as Lambda would store it.
    pub fn applied_to(&self, current: &ResourcePolicy) -> ResourcePolicy {
        let mut statements: Vec<Statement> = current
            .statements
            .iter()
            .filter(|s| !self.remove.iter().any(|r| Some(&r.sid) == s.sid.as_ref()))
            .cloned()
            .collect();
        for add in &self.add {
            statements.push(add.statement(statements.len()));
        }
        for (i, s) in statements.iter_mut().enumerate() {
            s.index = i;
        }
        ResourcePolicy {
            revision_id: None,
            statements,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Removal {
    pub sid: String,
    pub principal: String,
    pub why: String,
}

/// Exactly the AddPermission parameters that express one allow entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Addition {
    pub sid: String,
    pub principal: String,
    pub action: &'static str,
    pub source_arn: Option<String>,
    pub source_account: Option<String>,
    pub principal_org_id: Option<String>,
    pub allow_entry: usize,
}

impl Addition {
    /// The statement Lambda stores for this AddPermission call.
    pub fn statement(&self, index: usize) -> Statement {
        let principal = match self.principal.as_str() {
            "*" => Principal::Any,
            p if p.ends_with(".amazonaws.com") || p.ends_with(".amazonaws.com.cn") => {
                Principal::Service(p.to_owned())
            }
            p if crate::policies::ids::is_account_id(p) => Principal::Aws(account_root(p)),
            p => Principal::Aws(p.to_owned()),
        };
        let mut conditions = Vec::new();
        let mut cond = |operator: &str, key: &str, value: &Option<String>| {
            if let Some(v) = value {
                conditions.push(Condition {
                    operator: operator.to_owned(),
                    key: key.to_owned(),
                    values: vec![v.clone()],
                });
            }
        };
        cond("arnlike", "aws:sourcearn", &self.source_arn);
        cond("stringequals", "aws:sourceaccount", &self.source_account);
        cond("stringequals", "aws:principalorgid", &self.principal_org_id);
        conditions.sort();
        Statement {
            index,
            sid: Some(self.sid.clone()),
            effect: "Allow".to_owned(),
            principals: vec![principal],
            actions: vec![INVOKE_ACTION.to_owned()],
            conditions,
            negated_element: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unmanaged {
    pub sid: Option<String>,
    pub index: usize,
    /// True when the statement grants invocation: a reviewer should look at it.
    pub grants_invoke: bool,
    pub why: String,
}

/// Plans the reconcile of `current` to exactly the grants of `allow`.
pub fn plan(
    function: &str,
    qualifier: Option<&str>,
    allow: &[AllowEntry],
    current: &ResourcePolicy,
) -> Plan {
    let mut out = Plan {
        function: function.to_owned(),
        qualifier: qualifier.map(str::to_owned),
        revision_id: current.revision_id.clone(),
        remove: Vec::new(),
        add: Vec::new(),
        keep: Vec::new(),
        unmanaged: Vec::new(),
        refused: None,
    };
    let mut covered = vec![false; allow.len()];
    for s in &current.statements {
        let shared = s.sid.as_ref().is_some_and(|sid| {
            current
                .statements
                .iter()
                .filter(|o| o.sid.as_ref() == Some(sid))
                .count()
                > 1
        });
        let class = if shared {
            // RemovePermission names a Sid, not a statement: it could take the wrong one.
            Class::Unmanaged(
                "shares its Sid with another statement, so RemovePermission cannot tell them apart"
                    .to_owned(),
            )
        } else {
            classify(s)
        };
        let sid = match class {
            Class::Unmanaged(why) => {
                let grants = s.effect.eq_ignore_ascii_case("allow") && grants_invoke(s);
                out.unmanaged.push(Unmanaged {
                    sid: s.sid.clone(),
                    index: s.index,
                    grants_invoke: grants,
                    why,
                });
                continue;
            }
            Class::Managed(sid) => sid,
        };
        match allow.iter().position(|e| equivalent(s, &e.grant)) {
            Some(i) => {
                // Every statement equivalent to an entry stays, under its own Sid.
                covered[i] = true;
                for (j, e) in allow.iter().enumerate() {
                    covered[j] |= equivalent(s, &e.grant);
                }
                out.keep.push(sid);
            }
            None => out.remove.push(Removal {
                sid,
                principal: describe(&s.principals),
                why: why_removed(s, allow),
            }),
        }
    }
    let mut taken: Vec<String> = current
        .statements
        .iter()
        .filter_map(|s| s.sid.clone())
        .collect();
    taken.retain(|sid| !out.remove.iter().any(|r| &r.sid == sid));
    for (i, entry) in allow.iter().enumerate() {
        if covered[i]
            || out
                .add
                .iter()
                .any(|a| equivalent(&a.statement(0), &entry.grant))
        {
            continue;
        }
        let sid = unique_sid(&entry.grant, &taken);
        taken.push(sid.clone());
        out.add.push(addition(sid, i, &entry.grant));
    }
    out.refused = refusal(&out, allow.len());
    out
}

/// A plan that would take away every invoke grant a function has, while its allowlist names
/// callers, more likely means a wrong policies file than an attack: applying it could cut off
/// every legitimate caller at once. It is refused and reported for a person to look at.
fn refusal(p: &Plan, allow_entries: usize) -> Option<String> {
    let leaves_none = p.keep.is_empty() && !p.unmanaged.iter().any(|u| u.grants_invoke);
    (allow_entries > 0 && !p.remove.is_empty() && leaves_none).then(|| {
        format!(
            "refused: it would remove all {} invoke grant(s) while the allowlist names {allow_entries} caller(s) and none of them is granted now; check the policies file, then fix the policy by hand",
            p.remove.len()
        )
    })
}

enum Class {
    Managed(String),
    Unmanaged(String),
}

fn grants_invoke(s: &Statement) -> bool {
    s.actions.iter().any(|a| {
        ["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"]
            .iter()
            .any(|invoke| {
                crate::arn::wildcard_match(&a.to_ascii_lowercase(), &invoke.to_ascii_lowercase())
            })
    })
}

fn classify(s: &Statement) -> Class {
    if let Some(element) = &s.negated_element {
        return Class::Unmanaged(format!(
            "uses {element}, which AddPermission cannot express"
        ));
    }
    if !s.effect.eq_ignore_ascii_case("allow") {
        return Class::Unmanaged(format!(
            "a {} statement: only Allow grants are managed",
            s.effect
        ));
    }
    if !grants_invoke(s) {
        return Class::Unmanaged("grants no invoke action".to_owned());
    }
    let Some(sid) = &s.sid else {
        return Class::Unmanaged("has no Sid, and RemovePermission needs one".to_owned());
    };
    if s.principals.is_empty() {
        return Class::Unmanaged("has no Principal".to_owned());
    }
    if let Some(c) = s.conditions.iter().find(|c| !expressible(c)) {
        return Class::Unmanaged(format!(
            "has the condition {} {} ({} value(s)), which AddPermission cannot express",
            c.operator,
            c.key,
            c.values.len()
        ));
    }
    Class::Managed(sid.clone())
}

/// Conditions AddPermission can write: its SourceArn, SourceAccount, PrincipalOrgID,
/// FunctionUrlAuthType, EventSourceToken and InvokedViaFunctionUrl parameters.
fn expressible(c: &Condition) -> bool {
    let ops: &[&str] = match c.key.as_str() {
        "aws:sourcearn" => &["arnlike", "stringlike", "arnequals", "stringequals"],
        "aws:sourceaccount"
        | "aws:principalorgid"
        | "lambda:functionurlauthtype"
        | "lambda:eventsourcetoken" => &["stringequals"],
        "lambda:invokedviafunctionurl" => &["bool", "stringequals"],
        _ => &[],
    };
    c.values.len() == 1 && ops.contains(&c.operator.as_str())
}

fn condition_value<'a>(s: &'a Statement, key: &str) -> Option<&'a str> {
    s.conditions
        .iter()
        .find(|c| c.key == key)
        .and_then(|c| c.values.first())
        .map(String::as_str)
}

/// True when the statement grants exactly what the entry allows, no more and no less.
fn equivalent(s: &Statement, grant: &Grant) -> bool {
    let [principal] = s.principals.as_slice() else {
        return false;
    };
    let [action] = s.actions.as_slice() else {
        return false;
    };
    if !action.eq_ignore_ascii_case(INVOKE_ACTION) {
        return false;
    }
    let mut keys: Vec<&str> = s.conditions.iter().map(|c| c.key.as_str()).collect();
    keys.sort_unstable();
    let has = |want: &[&str]| {
        let mut want = want.to_vec();
        want.sort_unstable();
        keys == want
    };
    match grant {
        Grant::Service {
            service,
            source_arn,
            source_account,
        } => {
            let mut want = Vec::new();
            if source_arn.is_some() {
                want.push("aws:sourcearn");
            }
            if source_account.is_some() {
                want.push("aws:sourceaccount");
            }
            *principal == Principal::Service(service.as_str().to_owned())
                && has(&want)
                && source_arn
                    .as_ref()
                    .is_none_or(|a| condition_value(s, "aws:sourcearn") == Some(a.as_str()))
                && source_account
                    .as_ref()
                    .is_none_or(|a| condition_value(s, "aws:sourceaccount") == Some(a.as_str()))
        }
        Grant::Account(a) => *principal == Principal::Aws(account_root(a.as_str())) && has(&[]),
        Grant::Principal(p) => *principal == Principal::Aws(p.as_str().to_owned()) && has(&[]),
        Grant::Organization(o) => {
            *principal == Principal::Any
                && has(&["aws:principalorgid"])
                && condition_value(s, "aws:principalorgid") == Some(o.as_str())
        }
    }
}

fn describe(principals: &[Principal]) -> String {
    principals
        .iter()
        .map(Principal::as_parameter)
        .collect::<Vec<_>>()
        .join(",")
}

fn why_removed(s: &Statement, allow: &[AllowEntry]) -> String {
    if s.principals.contains(&Principal::Any) && s.conditions.is_empty() {
        return "grants invocation to anyone (\"*\") and no allow entry does".to_owned();
    }
    let same_principal = allow
        .iter()
        .any(|e| addition(String::new(), 0, &e.grant).statement(0).principals == s.principals);
    if same_principal {
        "grants an allowlisted principal with other conditions than its allow entry".to_owned()
    } else {
        "grants a principal that no allow entry names".to_owned()
    }
}

fn addition(sid: String, allow_entry: usize, grant: &Grant) -> Addition {
    let mut a = Addition {
        sid,
        principal: String::new(),
        action: INVOKE_ACTION,
        source_arn: None,
        source_account: None,
        principal_org_id: None,
        allow_entry,
    };
    match grant {
        Grant::Service {
            service,
            source_arn,
            source_account,
        } => {
            a.principal = service.as_str().to_owned();
            a.source_arn = source_arn.as_ref().map(|v| v.as_str().to_owned());
            a.source_account = source_account.as_ref().map(|v| v.as_str().to_owned());
        }
        Grant::Account(acct) => a.principal = acct.as_str().to_owned(),
        Grant::Principal(p) => a.principal = p.as_str().to_owned(),
        Grant::Organization(o) => {
            a.principal = "*".to_owned();
            a.principal_org_id = Some(o.as_str().to_owned());
        }
    }
    a
}

/// `invokeguard-KIND-HASH`: the same entry always gets the same Sid, so a retry finds its own work.
fn unique_sid(grant: &Grant, taken: &[String]) -> String {
    let canonical = match grant {
        Grant::Service {
            service,
            source_arn,
            source_account,
        } => format!(
            "service|{service}|{}|{}",
            source_arn.as_ref().map_or("", |v| v.as_str()),
            source_account.as_ref().map_or("", |v| v.as_str())
        ),
        Grant::Account(a) => format!("account|{a}"),
        Grant::Principal(p) => format!("principal|{p}"),
        Grant::Organization(o) => format!("organization|{o}"),
    };
    let base = format!(
        "invokeguard-{}-{:016x}",
        grant.kind(),
        fnv1a(canonical.as_bytes())
    );
    let mut sid = base.clone();
    let mut n = 1;
    while taken.contains(&sid) {
        sid = format!("{base}-{n}");
        n += 1;
    }
    sid
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policies::Policies;

    fn allow(entries: &str) -> Vec<AllowEntry> {
        let text = format!(r#"{{"version": 1, "functions": {{"f": {{"allow": {entries}}}}}}}"#);
        let p = Policies::from_json(&text, "p", None).expect("valid");
        p.lookup("f", None)
            .map(|(_, f)| f.allow.clone())
            .unwrap_or_default()
    }

    fn doc(statements: &str) -> ResourcePolicy {
        ResourcePolicy::parse(&format!(r#"{{"Statement": {statements}}}"#)).expect("parses")
    }

    #[test]
    fn public_grants_go_and_missing_entries_are_added() {
        let allow = allow(r#"[{"account": "111122223333"}]"#);
        let current = doc(
            r#"[{"Sid": "oops", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"}]"#,
        );
        let p = plan("f", None, &allow, &current);
        assert_eq!(p.remove.len(), 1);
        assert_eq!(p.remove[0].sid, "oops");
        assert!(p.remove[0].why.contains("anyone"));
        assert_eq!(p.add.len(), 1);
        assert_eq!(p.add[0].principal, "111122223333");
        assert!(p.add[0].sid.starts_with("invokeguard-account-"));
        let after = p.applied_to(&current);
        assert!(plan("f", None, &allow, &after).is_empty());
    }

    #[test]
    fn equivalent_statements_are_kept_whatever_the_case_of_condition_keys() {
        let allow = allow(
            r#"[{"service": "s3.amazonaws.com", "sourceArn": "arn:aws:s3:::b", "sourceAccount": "111122223333"}]"#,
        );
        let current = doc(
            r#"[{"Sid": "mine", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction",
            "Condition": {"stringequals": {"aws:sourceaccount": "111122223333"}, "ARNLIKE": {"AWS:SourceArn": "arn:aws:s3:::b"}}}]"#,
        );
        let p = plan("f", None, &allow, &current);
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(p.keep, vec!["mine"]);
    }

    #[test]
    fn a_service_grant_without_the_required_source_account_is_replaced() {
        let allow = allow(
            r#"[{"service": "s3.amazonaws.com", "sourceArn": "arn:aws:s3:::b", "sourceAccount": "111122223333"}]"#,
        );
        let current = doc(
            r#"[{"Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction",
            "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::b"}}}]"#,
        );
        let p = plan("f", None, &allow, &current);
        assert_eq!((p.remove.len(), p.add.len()), (1, 1));
        assert!(p.remove[0].why.contains("other conditions"));
        assert_eq!(p.add[0].source_account.as_deref(), Some("111122223333"));
    }

    #[test]
    fn unexpressible_denied_and_sidless_statements_are_left_alone() {
        let allow = allow("[]");
        let current = doc(r#"[
            {"Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"},
            {"Sid": "d", "Effect": "Deny", "Principal": "*", "Action": ["lambda:InvokeFunction"]},
            {"Sid": "ip", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}},
            {"Sid": "get", "Effect": "Allow", "Principal": "*", "Action": "lambda:GetFunction"}]"#);
        let p = plan("f", None, &allow, &current);
        assert!(p.is_empty());
        let whys: Vec<&str> = p.unmanaged.iter().map(|u| u.why.as_str()).collect();
        assert!(whys[0].contains("no Sid"));
        assert!(whys[1].contains("Deny"));
        assert!(whys[2].contains("ipaddress aws:sourceip"));
        assert!(whys[3].contains("no invoke action"));
        assert_eq!(
            p.unmanaged
                .iter()
                .map(|u| u.grants_invoke)
                .collect::<Vec<_>>(),
            vec![true, false, true, false]
        );
    }

    #[test]
    fn organization_entries_and_bare_account_principals_are_recognised() {
        let allow = allow(r#"[{"organization": "o-a1b2c3d4e5"}, {"account": "999999999999"}]"#);
        let current = doc(r#"[
            {"Sid": "org", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}},
            {"Sid": "acct", "Effect": "Allow", "Principal": {"AWS": "999999999999"}, "Action": "lambda:InvokeFunction"}]"#);
        assert_eq!(plan("f", None, &allow, &current).keep, vec!["org", "acct"]);
    }

    #[test]
    fn a_plan_removing_every_grant_of_an_allowlisted_function_is_refused() {
        let allow = allow(r#"[{"account": "111122223333"}]"#);
        let only_public = doc(
            r#"[{"Sid": "oops", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"}]"#,
        );
        let p = plan("f", None, &allow, &only_public);
        assert!(
            p.refused
                .as_deref()
                .is_some_and(|r| r.contains("remove all 1 invoke grant")),
            "{p:?}"
        );
        assert_eq!(
            plan("f", None, &[], &only_public).refused,
            None,
            "an empty allowlist means: remove everything"
        );
        assert_eq!(
            plan("f", None, &allow, &ResourcePolicy::default()).refused,
            None,
            "nothing to remove"
        );
        let partly = doc(
            r#"[{"Sid": "oops", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"},
            {"Sid": "ok", "Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "lambda:InvokeFunction"}]"#,
        );
        assert_eq!(
            plan("f", None, &allow, &partly).refused,
            None,
            "a kept grant remains"
        );
    }

    #[test]
    fn statements_sharing_a_sid_are_never_removed() {
        let allow = allow(r#"[{"account": "111122223333"}]"#);
        let current = doc(r#"[
            {"Sid": "dup", "Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "lambda:InvokeFunction"},
            {"Sid": "dup", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"}]"#);
        let p = plan("f", None, &allow, &current);
        assert!(p.remove.is_empty() && p.keep.is_empty(), "{p:?}");
        assert_eq!(p.unmanaged.len(), 2);
        assert!(p.unmanaged[0].why.contains("shares its Sid"));
    }

    #[test]
    fn generated_sids_are_deterministic_and_do_not_collide() {
        let allow = allow(r#"[{"account": "111122223333"}]"#);
        let a = plan("f", None, &allow, &ResourcePolicy::default());
        let b = plan("f", None, &allow, &ResourcePolicy::default());
        assert_eq!(a.add[0].sid, b.add[0].sid);
        let taken = doc(&format!(
            r#"[{{"Sid": "{}", "Effect": "Deny", "Principal": "*", "Action": "lambda:InvokeFunction"}}]"#,
            a.add[0].sid
        ));
        let c = plan("f", None, &allow, &taken);
        assert_eq!(c.add[0].sid, format!("{}-1", a.add[0].sid));
    }
}
