//! Judging a template's grants with the guard's own plan: per guarded function (and
//! qualifier), the statements the templates would create make a policy, and `plan::plan`
//! against the allowlist says which of them a reconcile would remove (an error here) and which
//! allow entries no grant covers (a note).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::grants::{Target, Template, TemplateGrant};
use crate::allowlist::Allowlist;
use crate::aws::arn::FunctionName;
use crate::plan::plan;
use crate::resource_policy::{ResourcePolicy, Statement};

/// How much a finding weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The guard would remove this grant.
    Error,
    /// Not judged: part of it cannot be resolved before deploy.
    Warning,
    Note,
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A grant outside the allowlist.
    GrantOutside,
    /// A grant that would be outside the allowlist unless what could not be resolved matches it.
    NotJudged,
    /// An allow entry no grant of the templates covers.
    EntryWithoutGrant,
    /// Anything else worth saying (SAM event sources, nameless functions, URLs).
    Note,
}

impl Kind {
    pub fn severity(self) -> Severity {
        match self {
            Kind::GrantOutside => Severity::Error,
            Kind::NotJudged => Severity::Warning,
            Kind::EntryWithoutGrant | Kind::Note => Severity::Note,
        }
    }
}

/// One finding, at a resource of a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub kind: Kind,
    pub severity: Severity,
    /// Index of the template in the list judged.
    #[serde(skip)]
    pub template: usize,
    pub logical_id: String,
    pub line: usize,
    /// The guarded function's key in the policies file, when known.
    pub function: Option<String>,
    pub qualifier: Option<String>,
    pub principal: Option<String>,
    pub message: String,
}

/// (guarded key, qualifier) → the grants on that policy, with the index of their template.
type Policies<'a> = BTreeMap<(String, Option<String>), Vec<(usize, &'a TemplateGrant)>>;

/// Judges the templates' grants. `names` maps a logical id to the function name it will have
/// (`--function LOGICALID=NAME`), for functions without a literal `FunctionName`.
pub fn judge(
    allowlist: &Allowlist,
    templates: &[Template],
    names: &HashMap<String, String>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut policies: Policies = BTreeMap::new();
    // (guarded key) → where a template defines it, for notes about entries without a grant.
    let mut defined: BTreeMap<String, (usize, String, usize)> = BTreeMap::new();
    for (t, template) in templates.iter().enumerate() {
        let mut nameless: BTreeMap<&str, usize> = BTreeMap::new();
        for f in &template.functions {
            let name = names.get(&f.logical_id).cloned().or(f.name.clone().ok());
            if let Some((key, _)) = name.as_deref().and_then(|n| allowlist.lookup(n, None)) {
                defined
                    .entry(key.as_str().to_owned())
                    .or_insert((t, f.logical_id.clone(), f.line));
            }
        }
        for g in &template.grants {
            let at = |kind: Kind, message: String| Finding {
                kind,
                severity: kind.severity(),
                template: t,
                logical_id: g.logical_id.clone(),
                line: g.line,
                function: None,
                qualifier: None,
                principal: Some(g.principal.clone()),
                message,
            };
            let (name, arn, qualifier) = match &g.target {
                Target::Unresolved(why) => {
                    findings.push(at(
                        Kind::NotJudged,
                        format!("the function this grant is on is not known: {why}"),
                    ));
                    continue;
                }
                Target::Function(f) => {
                    let known = names.get(&f.logical_id).cloned().or_else(|| {
                        template
                            .functions
                            .iter()
                            .find(|d| d.logical_id == f.logical_id)
                            .and_then(|d| d.name.clone().ok())
                    });
                    match known {
                        Some(n) => (n, None, f.qualifier.clone()),
                        None => {
                            *nameless.entry(f.logical_id.as_str()).or_default() += 1;
                            continue;
                        }
                    }
                }
                Target::Literal(text) => match FunctionName::parse(text) {
                    Some(n) => (
                        n.name.to_owned(),
                        n.arn.map(|a| a.unqualified().to_string()),
                        n.qualifier.map(str::to_owned),
                    ),
                    None => {
                        findings.push(at(
                            Kind::NotJudged,
                            format!("{text:?} is not a function name or ARN"),
                        ));
                        continue;
                    }
                },
            };
            if let Some((key, _)) = allowlist.lookup(&name, arn.as_deref()) {
                policies
                    .entry((key.as_str().to_owned(), qualifier))
                    .or_default()
                    .push((t, g));
            }
        }
        for (logical_id, count) in nameless {
            let line = template
                .functions
                .iter()
                .find(|d| d.logical_id == logical_id)
                .map_or(0, |d| d.line);
            findings.push(Finding {
                kind: Kind::Note,
                severity: Severity::Note,
                template: t,
                logical_id: logical_id.to_owned(),
                line,
                function: None,
                qualifier: None,
                principal: None,
                message: format!(
                    "function {logical_id} has no literal FunctionName, so the policies file cannot \
                     name it: its {count} grant(s) are not judged; give --function {logical_id}=NAME \
                     to judge them"
                ),
            });
        }
        for n in &template.notes {
            findings.push(Finding {
                kind: Kind::Note,
                severity: Severity::Note,
                template: t,
                logical_id: n.logical_id.clone(),
                line: n.line,
                function: None,
                qualifier: None,
                principal: None,
                message: n.message.clone(),
            });
        }
    }
    // A guarded function the templates define without any grant: every entry lacks one.
    for key in defined.keys() {
        policies.entry((key.clone(), None)).or_default();
    }
    for ((key, qualifier), grants) in &policies {
        judge_policy(
            allowlist,
            key,
            qualifier.as_deref(),
            grants,
            &defined,
            &mut findings,
        );
    }
    findings
}

fn judge_policy(
    allowlist: &Allowlist,
    key: &str,
    qualifier: Option<&str>,
    grants: &[(usize, &TemplateGrant)],
    defined: &BTreeMap<String, (usize, String, usize)>,
    findings: &mut Vec<Finding>,
) {
    let Some((fkey, guarded)) = allowlist.functions().find(|(k, _)| k.as_str() == key) else {
        return;
    };
    let statements: Vec<Statement> = grants
        .iter()
        .enumerate()
        .filter_map(|(i, (_, g))| Statement::from_raw(i, &g.statement).ok())
        .collect();
    let current = ResourcePolicy {
        statements,
        ..ResourcePolicy::default()
    };
    let planned = plan(
        &allowlist.api_function(fkey),
        qualifier,
        &guarded.allow,
        &current,
        allowlist.apply_for(guarded),
    );
    let at = qualifier.map_or(key.to_owned(), |q| format!("{key}:{q}"));
    for r in &planned.remove {
        let Some((t, g)) = grants.get(r.index) else {
            continue;
        };
        let (kind, message) = if g.unresolved.is_empty() {
            (
                Kind::GrantOutside,
                format!(
                    "grants {at} to {}: {}; the guard would remove it{}{}",
                    r.principal,
                    r.why,
                    g.implied_by
                        .as_ref()
                        .map_or(String::new(), |by| format!(" (implied by {by})")),
                    g.condition.as_ref().map_or(String::new(), |c| format!(
                        " (created only when condition {c} is true)"
                    ))
                ),
            )
        } else {
            (
                Kind::NotJudged,
                format!(
                    "grants {at} to {}: the guard would remove it unless what cannot be resolved \
                     matches the allowlist: {}",
                    r.principal,
                    g.unresolved.join("; ")
                ),
            )
        };
        findings.push(Finding {
            kind,
            severity: kind.severity(),
            template: *t,
            logical_id: g.logical_id.clone(),
            line: g.line,
            function: Some(key.to_owned()),
            qualifier: qualifier.map(str::to_owned),
            principal: Some(r.principal.clone()),
            message,
        });
    }
    // Where an entry without a grant is reported: the function's definition, else its first grant.
    let place = defined.get(key).cloned().or_else(|| {
        grants
            .first()
            .map(|(t, g)| (*t, g.logical_id.clone(), g.line))
    });
    let Some((t, logical_id, line)) = place else {
        return;
    };
    for a in &planned.add {
        findings.push(Finding {
            kind: Kind::EntryWithoutGrant,
            severity: Severity::Note,
            template: t,
            logical_id: logical_id.clone(),
            line,
            function: Some(key.to_owned()),
            qualifier: qualifier.map(str::to_owned),
            principal: Some(a.principal.clone()),
            message: format!(
                "allow entry {} of {at} ({} {}) has no grant in the templates",
                a.allow_entry, a.principal, a.action
            ),
        });
    }
}
