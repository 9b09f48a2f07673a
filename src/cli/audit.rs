//! `invokeguard audit`: what a reconcile of every guarded policy (each function, each published
//! version, each alias, each listed qualifier) would remove and add, and why. Reads only, within
//! the clients' budget per account and region.

use std::io::{IsTerminal, Write};

use super::args::PoliciesArgs;
use super::error::CliError;
use super::exit::Exit;
use crate::guard::discover::guarded_policies;
use crate::guard::{ApiError, PolicyApi};
use crate::plan::{Plan, plan};

pub async fn audit(
    policies: &PoliciesArgs,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Exit, CliError> {
    let (allowlist, home) = policies.load_online(false).await?;
    let aws = crate::sdk::env::aws(None);
    aws.set_home(&home);
    let discovered = guarded_policies(&allowlist, &aws).await;
    let mut failed = !discovered.errors.is_empty();
    for e in &discovered.errors {
        let _ = writeln!(
            err,
            "error: {}: cannot list its versions and aliases: {}",
            e.function, e.error
        );
    }
    let mut plans = Vec::new();
    for t in &discovered.policies {
        match aws
            .get_policy(&t.api_function, t.qualifier.as_deref())
            .await
        {
            Ok(current) => plans.push(plan(
                t.key.as_str(),
                t.qualifier.as_deref(),
                &t.function.allow,
                &current,
                allowlist.apply_for(t.function),
            )),
            Err(e) => {
                failed = true;
                let what = match &e {
                    ApiError::FunctionNotFound(_) => "the function does not exist".to_owned(),
                    ApiError::QualifierNotFound(_) => "no such version or alias".to_owned(),
                    other => format!("GetPolicy failed: {other}"),
                };
                let q = t
                    .qualifier
                    .as_deref()
                    .map(|q| format!(":{q}"))
                    .unwrap_or_default();
                let _ = writeln!(err, "error: {}{q}: {what}", t.key);
            }
        }
    }
    let changes = plans.iter().any(|p| !p.is_empty());
    if json || !std::io::stdout().is_terminal() {
        for p in &plans {
            let line = serde_json::to_string(p).map_err(|e| CliError::Output(e.into()))?;
            writeln!(out, "{line}").map_err(CliError::Output)?;
        }
    } else {
        write_table(&plans, out).map_err(CliError::Output)?;
    }
    Ok(Exit::of(failed, changes))
}

/// One row per statement a reconcile would remove or add; one row per policy already in line.
pub(crate) fn write_table(plans: &[Plan], out: &mut dyn Write) -> std::io::Result<()> {
    let mut rows: Vec<[String; 6]> = Vec::new();
    for p in plans {
        let qualifier = p.qualifier.clone().unwrap_or_else(|| "-".into());
        if p.is_empty() {
            rows.push([
                p.function.clone(),
                qualifier,
                "ok".into(),
                String::new(),
                String::new(),
                "grants exactly the allowlist".into(),
            ]);
            continue;
        }
        for a in &p.add {
            let mut detail = Vec::new();
            detail.extend(a.source_arn.as_ref().map(|v| format!("sourceArn {v}")));
            detail.extend(
                a.source_account
                    .as_ref()
                    .map(|v| format!("sourceAccount {v}")),
            );
            detail.extend(a.principal_org_id.as_ref().map(|v| format!("org {v}")));
            detail.extend(a.function_url_auth_type.map(|v| format!("url auth {v}")));
            let why = format!(
                "allow entry {} has no covering statement{}",
                a.allow_entry,
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", detail.join(", "))
                }
            );
            rows.push([
                p.function.clone(),
                qualifier.clone(),
                "add".into(),
                a.principal.clone(),
                p.apply.as_str().into(),
                why,
            ]);
        }
        for r in &p.remove {
            let sid = r
                .sid
                .clone()
                .unwrap_or_else(|| format!("(no Sid, #{})", r.index));
            rows.push([
                p.function.clone(),
                qualifier.clone(),
                format!("remove {sid}"),
                r.principal.clone(),
                p.apply.as_str().into(),
                r.why.clone(),
            ]);
        }
    }
    let header = [
        "FUNCTION",
        "QUALIFIER",
        "CHANGE",
        "PRINCIPAL",
        "WRITE",
        "WHY",
    ]
    .map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()).take(5) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(rows.iter()) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i < 5 {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            } else {
                line.push_str(cell);
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    let changing = plans.iter().filter(|p| !p.is_empty()).count();
    writeln!(
        out,
        "\n{} of {} policies would change.",
        changing,
        plans.len()
    )
}
