//! The plan: which statements of a resource policy go, which allow entries must be
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

/// Plans the change of `current` to exactly the grants of `allow`. `function` is the
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
    let planned = plan_statements(
        function, qualifier, allow, &wants, current, &resource, apply, false,
    );
    let desired = planned.applied_to(current, resource_arn);
    match prove(allow, &wants, &[current, &desired], &desired, &resource) {
        Ok(()) => planned,
        Err(found) => {
            let mut canonical = plan_statements(
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

/// Which statements stay, which go (or lose their invoke actions) and which entries get a
/// statement of their own: with `canonical`, every invoke grant goes and every entry gets one.
#[allow(clippy::too_many_arguments)] // one private step of `plan`, called twice
fn plan_statements(
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
mod tests;
