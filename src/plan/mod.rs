//! The reconcile plan: which statements of a resource policy go, which allow entries must be
//! added, and how the change is written. Pure: no I/O.
//!
//! The invariant lives here, in request terms: after the plan, the policy's Allow statements
//! grant invoke to exactly the requests the allowlist allows. A statement inside the allowlist
//! (covering, narrower, or naming another resource) is kept verbatim; one that lets any other
//! request in loses its invoke grant (removed, or replaced by itself without the invoke
//! actions); Deny statements and statements granting no invoke stay verbatim; an entry no
//! kept statement covers gets its own. The plan is then proven against the evaluator, and
//! written as the canonical document when it cannot be.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::allowlist::{AllowEntry, Apply, Grant};
use crate::evaluator::Resource;
use crate::resource_policy::{Principal, ResourcePolicy, Statement};

mod actions;
mod coverage;
#[cfg(test)]
mod fixtures;
mod proof;

pub use actions::{
    INVOKE_ACTION, INVOKE_ACTIONS, INVOKE_ASYNC_ACTION, INVOKE_URL_ACTION, grants_invoke,
    without_invoke,
};
use coverage::{Want, covers, inside, may_reach, wants};
pub use proof::allowlisted;
use proof::prove;

/// The plan for one resource policy (a function, or one of its qualifiers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub function: String,
    pub qualifier: Option<String>,
    pub revision_id: Option<String>,
    /// Invoke grants outside the allowlist. With permission calls they go after every addition.
    pub remove: Vec<Removal>,
    /// Allow entries without a covering statement, in AddPermission's terms.
    pub add: Vec<Addition>,
    /// Sids of the covered statements (null for a statement without one).
    pub keep: Vec<Option<String>>,
    /// Statements left as they are because they grant no invoke, or deny.
    pub unmanaged: Vec<Unmanaged>,
    /// How the plan is written.
    pub apply: Apply,
    /// Why it is written that way.
    pub apply_reason: String,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.add.is_empty()
    }

    /// The policy as it will be once the plan is applied: kept statements verbatim, additions
    /// in the form Lambda stores for AddPermission. Also the document a PutResourcePolicy writes.
    pub fn applied_to(
        &self,
        current: &ResourcePolicy,
        resource_arn: Option<&str>,
    ) -> ResourcePolicy {
        let removed: HashMap<usize, &Removal> = self.remove.iter().map(|r| (r.index, r)).collect();
        let mut statements: Vec<Statement> = current
            .statements
            .iter()
            .filter_map(|s| match removed.get(&s.index) {
                None => Some(s.clone()),
                Some(r) => r
                    .replacement
                    .as_ref()
                    .and_then(|raw| Statement::from_raw(s.index, raw).ok()),
            })
            .collect();
        for add in &self.add {
            statements.push(add.statement(0, resource_arn));
        }
        for (i, s) in statements.iter_mut().enumerate() {
            s.index = i;
        }
        ResourcePolicy {
            revision_id: None,
            id: current.id.clone(),
            version: current.version.clone(),
            statements,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Removal {
    /// Null when the statement has none: only a whole-document write can remove it.
    pub sid: Option<String>,
    /// Its position in the current document.
    pub index: usize,
    pub principal: String,
    pub why: String,
    /// The statement without its invoke actions, written in its place, when it grants other
    /// actions too (the guard has no mandate over those).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<Value>,
}

/// Exactly the AddPermission parameters that express one grant of an allow entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Addition {
    pub sid: String,
    pub principal: String,
    pub action: &'static str,
    pub source_arn: Option<String>,
    pub source_account: Option<String>,
    pub principal_org_id: Option<String>,
    pub event_source_token: Option<String>,
    /// `NONE` or `AWS_IAM` for a function-URL grant.
    pub function_url_auth_type: Option<&'static str>,
    pub invoked_via_function_url: Option<bool>,
    pub allow_entry: usize,
}

impl Addition {
    /// The statement Lambda stores for this AddPermission call.
    pub fn statement(&self, index: usize, resource_arn: Option<&str>) -> Statement {
        let principal = match self.principal.as_str() {
            "*" => json!("*"),
            p if is_service(p) => json!({ "Service": p }),
            p => json!({ "AWS": p }),
        };
        let mut conditions: Map<String, Value> = Map::new();
        let mut put = |op: &str, key: &str, value: Value| {
            if let Value::Object(keys) = conditions.entry(op).or_insert_with(|| json!({})) {
                keys.insert(key.to_owned(), value);
            }
        };
        if let Some(v) = &self.source_arn {
            put("ArnLike", "AWS:SourceArn", json!(v));
        }
        if let Some(v) = &self.source_account {
            put("StringEquals", "AWS:SourceAccount", json!(v));
        }
        if let Some(v) = &self.principal_org_id {
            put("StringEquals", "aws:PrincipalOrgID", json!(v));
        }
        if let Some(v) = &self.event_source_token {
            put("StringEquals", "lambda:EventSourceToken", json!(v));
        }
        if let Some(v) = self.function_url_auth_type {
            put("StringEquals", "lambda:FunctionUrlAuthType", json!(v));
        }
        if let Some(v) = self.invoked_via_function_url {
            put("Bool", "lambda:InvokedViaFunctionUrl", json!(v.to_string()));
        }
        let mut raw = Map::new();
        raw.insert("Sid".into(), json!(self.sid));
        raw.insert("Effect".into(), json!("Allow"));
        raw.insert("Principal".into(), principal);
        raw.insert("Action".into(), json!(self.action));
        if let Some(arn) = resource_arn {
            raw.insert("Resource".into(), json!(arn));
        }
        if !conditions.is_empty() {
            raw.insert("Condition".into(), Value::Object(conditions));
        }
        let raw = Value::Object(raw);
        let mut doc = Statement::from_raw(index, &raw)
            .ok()
            .unwrap_or_else(|| Statement {
                index,
                sid: Some(self.sid.clone()),
                effect: "Allow".into(),
                principals: Vec::new(),
                not_principal: false,
                actions: Vec::new(),
                not_action: false,
                resources: Vec::new(),
                not_resource: false,
                conditions: Vec::new(),
                raw: Value::Null,
            });
        doc.index = index;
        doc
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unmanaged {
    pub sid: Option<String>,
    pub index: usize,
    pub why: String,
}

/// What the policy belongs to: the function's ARN (qualified for a version or alias) when
/// `function` is an ARN, else only its name and qualifier.
fn resource_of(function: &str, qualifier: Option<&str>) -> Resource {
    match (function.starts_with("arn:"), qualifier) {
        (true, Some(q)) => Resource::Arn(format!("{function}:{q}")),
        (true, None) => Resource::Arn(function.to_owned()),
        (false, q) => Resource::Named {
            name: function.to_owned(),
            qualifier: q.map(str::to_owned),
        },
    }
}

/// Plans the reconcile of `current` to exactly the grants of `allow`. `function` is the
/// function's name or unqualified ARN: with the ARN, each statement's `Resource` is judged
/// against this policy's own resource, without it against the name and qualifier only.
/// `apply` is the configured way; the plan falls back to a whole-document write when
/// permission calls cannot do it (no Sid, a shared Sid, a statement keeping other actions),
/// and to the canonical document when it cannot prove itself.
pub fn plan(
    function: &str,
    qualifier: Option<&str>,
    allow: &[AllowEntry],
    current: &ResourcePolicy,
    apply: Apply,
) -> Plan {
    let resource = resource_of(function, qualifier);
    let resource_arn = match &resource {
        Resource::Arn(a) => Some(a.as_str()),
        Resource::Named { .. } => None,
    };
    let wants: Vec<Want> = allow
        .iter()
        .enumerate()
        .flat_map(|(i, e)| wants(i, e))
        .collect();
    let planned = reconcile(
        function, qualifier, allow, &wants, current, &resource, apply, false,
    );
    let desired = planned.applied_to(current, resource_arn);
    match prove(allow, &wants, &[current, &desired], &desired, &resource) {
        Ok(()) => planned,
        Err(found) => {
            let mut canonical = reconcile(
                function, qualifier, allow, &wants, current, &resource, apply, true,
            );
            let desired = canonical.applied_to(current, resource_arn);
            let proven = prove(allow, &wants, &[current, &desired], &desired, &resource);
            canonical.apply_reason = match proven {
                Ok(()) => format!(
                    "the plan could not be proven ({found}), so the policy is written as the canonical document: Deny and non-invoke statements as they are, one statement per allow entry"
                ),
                Err(still) => format!(
                    "the plan could not be proven ({found}); the canonical document is written, though it cannot be proven either ({still}): check the statements kept as they are"
                ),
            };
            canonical
        }
    }
}

/// The plan: with `canonical`, every statement granting invoke goes (or loses its invoke
/// actions) and every entry gets its own statement.
#[allow(clippy::too_many_arguments)] // one private step of `plan`, called twice
fn reconcile(
    function: &str,
    qualifier: Option<&str>,
    allow: &[AllowEntry],
    wants: &[Want],
    current: &ResourcePolicy,
    resource: &Resource,
    apply: Apply,
    canonical: bool,
) -> Plan {
    let mut covered = vec![false; wants.len()];
    let mut out = Plan {
        function: function.to_owned(),
        qualifier: qualifier.map(str::to_owned),
        revision_id: current.revision_id.clone(),
        remove: Vec::new(),
        add: Vec::new(),
        keep: Vec::new(),
        unmanaged: Vec::new(),
        apply: Apply::Permissions,
        apply_reason: String::new(),
    };
    for s in &current.statements {
        if !grants_invoke(s) {
            let why = if s.effect.eq_ignore_ascii_case("allow") {
                "grants no invoke action".to_owned()
            } else {
                format!("a {} statement: kept as it is", s.effect)
            };
            out.unmanaged.push(Unmanaged {
                sid: s.sid.clone(),
                index: s.index,
                why,
            });
            continue;
        }
        let verdict = if canonical {
            Err("the plan could not be proven: every invoke grant is rewritten".to_owned())
        } else if !may_reach(s, resource) {
            // Its Resource names another function, version or alias: nothing granted here.
            Ok(())
        } else {
            inside(s, wants)
        };
        match verdict {
            Ok(()) => {
                for (i, w) in wants.iter().enumerate() {
                    if covers(w, s, resource) {
                        covered[i] = true;
                    }
                }
                out.keep.push(s.sid.clone());
            }
            Err(why) => out.remove.push(Removal {
                sid: s.sid.clone(),
                index: s.index,
                principal: describe(s),
                why: why_removed(s, why),
                replacement: without_invoke(s),
            }),
        }
    }
    let mut taken: HashSet<String> = current
        .statements
        .iter()
        .filter_map(|s| s.sid.clone())
        .collect();
    for (i, w) in wants.iter().enumerate() {
        if covered[i] {
            continue;
        }
        let a = addition(w, allow, &mut taken);
        out.add.push(a);
    }
    (out.apply, out.apply_reason) = if canonical {
        (Apply::Document, String::new())
    } else {
        how_to_apply(&out, current, apply)
    };
    out
}

fn how_to_apply(p: &Plan, current: &ResourcePolicy, apply: Apply) -> (Apply, String) {
    if apply == Apply::Document {
        return (
            Apply::Document,
            "the policies file asks for whole-document writes (\"apply\": \"document\")".into(),
        );
    }
    let mut sids: HashMap<&str, usize> = HashMap::new();
    for s in &current.statements {
        if let Some(sid) = &s.sid {
            *sids.entry(sid.as_str()).or_default() += 1;
        }
    }
    if let Some(r) = p.remove.iter().find(|r| r.replacement.is_some()) {
        return (
            Apply::Document,
            format!(
                "statement {} grants other actions too: only a whole-document write can take invoke out of it",
                r.index
            ),
        );
    }
    for r in &p.remove {
        match &r.sid {
            None => {
                return (
                    Apply::Document,
                    format!(
                        "statement {} has no Sid, so RemovePermission cannot name it",
                        r.index
                    ),
                );
            }
            Some(sid) if sids.get(sid.as_str()).copied().unwrap_or(0) > 1 => {
                return (
                    Apply::Document,
                    format!(
                        "statement {} shares its Sid {sid:?} with another statement, so RemovePermission cannot tell them apart",
                        r.index
                    ),
                );
            }
            Some(_) => {}
        }
    }
    (
        Apply::Permissions,
        "every statement to remove has a Sid of its own".into(),
    )
}

fn describe(s: &Statement) -> String {
    let principals = s
        .principals
        .iter()
        .map(Principal::as_parameter)
        .collect::<Vec<_>>()
        .join(",");
    if s.not_principal {
        format!("NotPrincipal {principals}")
    } else if s.principals.is_empty() {
        "(no principal)".to_owned()
    } else {
        principals
    }
}

fn why_removed(s: &Statement, why: String) -> String {
    if s.not_action {
        return format!("uses NotAction, so it grants invoke: {why}");
    }
    why
}

fn is_service(p: &str) -> bool {
    p.ends_with(".amazonaws.com") || p.ends_with(".amazonaws.com.cn") || p.ends_with(".amazon.com")
}

fn addition(w: &Want, allow: &[AllowEntry], taken: &mut HashSet<String>) -> Addition {
    let value = |key: &str| {
        w.conditions
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    };
    let principal = match (&w.principal, allow.get(w.entry).map(|e| &e.grant)) {
        (Principal::Any, _) => "*".to_owned(),
        (_, Some(Grant::Principal(p))) => p.as_str().to_owned(),
        (p, _) => p.as_parameter(),
    };
    let canonical = format!(
        "{}|{}|{}|{:?}",
        allow.get(w.entry).map_or("", |e| e.grant.kind()),
        principal,
        w.action,
        w.conditions
    );
    let kind = match allow.get(w.entry).map(|e| &e.grant) {
        Some(Grant::PublicUrl) if w.action == INVOKE_ACTION => "functionurl-invoke",
        Some(g) => g.kind(),
        None => "entry",
    };
    let base = format!("invokeguard-{kind}-{:016x}", fnv1a(canonical.as_bytes()));
    let mut sid = base.clone();
    let mut n = 1;
    while taken.contains(&sid) {
        sid = format!("{base}-{n}");
        n += 1;
    }
    taken.insert(sid.clone());
    Addition {
        sid,
        principal,
        action: w.action,
        source_arn: value("aws:sourcearn"),
        source_account: value("aws:sourceaccount"),
        principal_org_id: value("aws:principalorgid"),
        event_source_token: value("lambda:eventsourcetoken"),
        function_url_auth_type: value("lambda:functionurlauthtype")
            .map(|v| if v == "NONE" { "NONE" } else { "AWS_IAM" }),
        invoked_via_function_url: value("lambda:invokedviafunctionurl").map(|v| v == "true"),
        allow_entry: w.entry,
    }
}

/// FNV-1a: the same entry always gets the same Sid, so a retry finds its own work.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::fixtures::{allow, doc};
    use super::*;

    fn plan_of(allow: &[AllowEntry], current: &ResourcePolicy) -> Plan {
        plan("f", None, allow, current, Apply::Permissions)
    }

    fn settled(allow: &[AllowEntry], current: &ResourcePolicy) -> bool {
        let p = plan_of(allow, current);
        plan_of(allow, &p.applied_to(current, None)).is_empty()
    }

    #[test]
    fn a_public_only_policy_is_replaced_by_the_allowlist_not_refused() {
        let allow = allow(r#"[{"account": "111122223333"}]"#);
        let current = doc(
            r#"[{"Sid": "oops", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"}]"#,
        );
        let p = plan_of(&allow, &current);
        assert_eq!(p.remove.len(), 1);
        assert_eq!(p.remove[0].sid.as_deref(), Some("oops"));
        assert!(p.remove[0].why.contains("anyone"));
        assert_eq!(p.add.len(), 1);
        assert_eq!(p.add[0].principal, "111122223333");
        assert!(p.add[0].sid.starts_with("invokeguard-account-"));
        assert_eq!(p.apply, Apply::Permissions);
        assert!(settled(&allow, &current));
    }

    #[test]
    fn a_narrower_statement_is_kept_and_the_entry_still_gets_its_own() {
        let allow = allow(
            r#"[{"service": "s3.amazonaws.com", "sourceArn": "arn:aws:s3:::b", "sourceAccount": "111122223333"}]"#,
        );
        let current = doc(
            r#"[{"Sid": "mine", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction",
            "Condition": {"stringlike": {"aws:sourceaccount": "111122223333"}, "ARNEQUALS": {"AWS:SourceArn": "arn:aws:s3:::b"},
                          "Bool": {"aws:SecureTransport": true}}}]"#,
        );
        let p = plan_of(&allow, &current);
        assert_eq!(p.keep, vec![Some("mine".to_owned())]);
        assert!(p.remove.is_empty(), "{p:?}");
        assert_eq!(
            p.add.len(),
            1,
            "TLS-only is narrower than the entry, so it does not cover it"
        );
        assert!(settled(&allow, &current));
        let without_tls = doc(
            r#"[{"Sid": "mine", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction",
            "Condition": {"stringequals": {"aws:sourceaccount": "111122223333"}, "ARNEQUALS": {"AWS:SourceArn": "arn:aws:s3:::b"}}}]"#,
        );
        assert!(
            plan_of(&allow, &without_tls).is_empty(),
            "keys in any case cover"
        );
    }

    #[test]
    fn weaker_forms_of_an_allowed_grant_are_replaced() {
        let allow = allow(
            r#"[{"service": "s3.amazonaws.com", "sourceArn": "arn:aws:s3:::b", "sourceAccount": "111122223333"}]"#,
        );
        for weaker in [
            // no SourceAccount
            r#"{"Sid": "w", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction", "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::b"}}}"#,
            // lambda:* instead of lambda:InvokeFunction
            r#"{"Sid": "w", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:*", "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::b"}, "StringEquals": {"AWS:SourceAccount": "111122223333"}}}"#,
            // several values widen
            r#"{"Sid": "w", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction", "Condition": {"ArnLike": {"AWS:SourceArn": ["arn:aws:s3:::b", "arn:aws:s3:::x"]}, "StringEquals": {"AWS:SourceAccount": "111122223333"}}}"#,
            // IfExists widens
            r#"{"Sid": "w", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction", "Condition": {"ArnLikeIfExists": {"AWS:SourceArn": "arn:aws:s3:::b"}, "StringEquals": {"AWS:SourceAccount": "111122223333"}}}"#,
        ] {
            let current = doc(&format!("[{weaker}]"));
            let p = plan_of(&allow, &current);
            assert_eq!((p.remove.len(), p.add.len()), (1, 1), "{weaker}");
            assert!(!p.remove[0].why.is_empty(), "{weaker}");
            // lambda:* keeps its other actions in a replacement; the others go whole.
            assert_eq!(
                p.remove[0].replacement.is_some(),
                weaker.contains("lambda:*"),
                "{weaker}"
            );
            assert_eq!(p.add[0].source_account.as_deref(), Some("111122223333"));
            assert!(settled(&allow, &current));
        }
    }

    #[test]
    fn odd_forms_granting_invoke_are_removed_with_a_document_write_when_needed() {
        let allow = allow("[]");
        let current = doc(r#"[
            {"Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"},
            {"Sid": "d", "Effect": "Deny", "Principal": "*", "Action": ["lambda:InvokeFunction"]},
            {"Sid": "tls", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction", "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
            {"Sid": "np", "Effect": "Allow", "NotPrincipal": {"AWS": "111122223333"}, "Action": "lambda:Invoke*"},
            {"Sid": "na", "Effect": "Allow", "Principal": {"AWS": "999999999999"}, "NotAction": "lambda:GetPolicy"},
            {"Sid": "get", "Effect": "Allow", "Principal": "*", "Action": "lambda:GetFunction"}]"#);
        let p = plan_of(&allow, &current);
        let removed: Vec<usize> = p.remove.iter().map(|r| r.index).collect();
        assert_eq!(removed, vec![0, 2, 3, 4]);
        assert_eq!(p.remove[0].sid, None);
        assert_eq!(p.apply, Apply::Document);
        assert!(
            p.apply_reason.contains("grants other actions too"),
            "{}",
            p.apply_reason
        );
        assert_eq!(p.unmanaged.len(), 2);
        assert!(
            p.remove[2].replacement.is_none(),
            "lambda:Invoke* is only invoke"
        );
        let after = p.applied_to(&current, None);
        assert_eq!(
            after
                .statements
                .iter()
                .map(|s| s.sid.clone())
                .collect::<Vec<_>>(),
            vec![
                Some("d".to_owned()),
                Some("na".to_owned()),
                Some("get".to_owned())
            ]
        );
        assert_eq!(
            after.statements[0].raw, current.statements[1].raw,
            "kept verbatim"
        );
        assert!(
            !grants_invoke(&after.statements[1]),
            "NotAction now excludes invoke"
        );
        assert_eq!(after.statements[1].raw["NotAction"][0], "lambda:GetPolicy");
    }

    #[test]
    fn a_copied_sid_forces_a_document_write() {
        let allow = allow(r#"[{"account": "111122223333"}]"#);
        let current = doc(r#"[
            {"Sid": "dup", "Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "lambda:InvokeFunction"},
            {"Sid": "dup", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"}]"#);
        let p = plan_of(&allow, &current);
        assert_eq!(p.keep, vec![Some("dup".to_owned())]);
        assert_eq!(p.remove.len(), 1);
        assert_eq!(p.remove[0].index, 1);
        assert_eq!(p.apply, Apply::Document);
        assert!(p.apply_reason.contains("shares its Sid"));
        assert!(settled(&allow, &current));
    }

    #[test]
    fn accounts_organizations_and_partitions_are_recognised() {
        let allow = allow(
            r#"[{"organization": "o-a1b2c3d4e5"}, {"account": "999999999999"}, {"principal": "arn:aws-cn:iam::888888888888:root"}]"#,
        );
        let current = doc(r#"[
            {"Sid": "org", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}},
            {"Sid": "acct", "Effect": "Allow", "Principal": {"AWS": "arn:aws-us-gov:iam::999999999999:root"}, "Action": "lambda:InvokeFunction"},
            {"Sid": "cn", "Effect": "Allow", "Principal": {"AWS": "888888888888"}, "Action": "lambda:InvokeFunction"}]"#);
        let p = plan_of(&allow, &current);
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(p.keep.len(), 3);
    }

    #[test]
    fn a_public_function_url_needs_its_pair_of_statements() {
        let allow = allow(r#"[{"functionUrl": "public"}]"#);
        let p = plan_of(&allow, &ResourcePolicy::default());
        assert_eq!(p.add.len(), 2);
        assert_eq!(p.add[0].action, INVOKE_URL_ACTION);
        assert_eq!(p.add[0].function_url_auth_type, Some("NONE"));
        assert_eq!(p.add[1].invoked_via_function_url, Some(true));
        assert!(settled(&allow, &ResourcePolicy::default()));
        let url_without_entry = doc(
            r#"[{"Sid": "FunctionURLAllowPublicAccess", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunctionUrl", "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}}]"#,
        );
        let p = plan_of(&[], &url_without_entry);
        assert_eq!(p.remove.len(), 1);
    }

    #[test]
    fn an_alexa_skill_is_allowed_by_its_event_source_token() {
        let allow = allow(
            r#"[{"service": "alexa-appkit.amazon.com", "eventSourceToken": "amzn1.ask.skill.1"}]"#,
        );
        let current = doc(
            r#"[{"Sid": "alexa", "Effect": "Allow", "Principal": {"Service": "alexa-appkit.amazon.com"}, "Action": "lambda:InvokeFunction", "Condition": {"StringEquals": {"lambda:EventSourceToken": "amzn1.ask.skill.1"}}}]"#,
        );
        assert!(plan_of(&allow, &current).is_empty());
        let p = plan_of(&allow, &ResourcePolicy::default());
        assert_eq!(
            p.add[0].event_source_token.as_deref(),
            Some("amzn1.ask.skill.1")
        );
    }

    #[test]
    fn generated_sids_are_deterministic_and_do_not_collide() {
        let allow = allow(r#"[{"account": "111122223333"}]"#);
        let a = plan_of(&allow, &ResourcePolicy::default());
        let b = plan_of(&allow, &ResourcePolicy::default());
        assert_eq!(a.add[0].sid, b.add[0].sid);
        let taken = doc(&format!(
            r#"[{{"Sid": "{}", "Effect": "Deny", "Principal": "*", "Action": "lambda:InvokeFunction"}}]"#,
            a.add[0].sid
        ));
        let c = plan_of(&allow, &taken);
        assert_eq!(c.add[0].sid, format!("{}-1", a.add[0].sid));
    }

    #[test]
    fn the_document_setting_always_writes_the_whole_policy() {
        let allow = allow(r#"[{"account": "111122223333"}]"#);
        let p = plan(
            "f",
            None,
            &allow,
            &ResourcePolicy::default(),
            Apply::Document,
        );
        assert_eq!(p.apply, Apply::Document);
    }
}
