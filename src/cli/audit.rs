//! `invokeguard audit`: what a reconcile of every guarded policy (each function, each published
//! version, each alias, each listed qualifier) would remove and add, and why. Reads only, within
//! the clients' budget per account and region.

use std::io::Write;

use super::args::PoliciesArgs;
use super::error::CliError;
use super::exit::Exit;
use super::format::{Artifact, Finding, Format, Level, Rule, sarif, write_csv_row, write_sarif};
use crate::allowlist::Mode;
use crate::guard::discover::guarded_policies;
use crate::guard::{ApiError, PolicyApi};
use crate::plan::{Addition, Plan, plan};

pub async fn audit(
    policies: &PoliciesArgs,
    format: Format,
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
    let mut modes = Vec::new();
    for t in &discovered.policies {
        match aws
            .get_policy(&t.api_function, t.qualifier.as_deref())
            .await
        {
            Ok(current) => {
                plans.push(plan(
                    t.key.as_str(),
                    t.qualifier.as_deref(),
                    &t.function.allow,
                    &current,
                    allowlist.apply_for(t.function),
                ));
                modes.push(allowlist.mode_for(t.function));
            }
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
    match format {
        Format::Json => {
            for p in &plans {
                let line = serde_json::to_string(p).map_err(|e| CliError::Output(e.into()))?;
                writeln!(out, "{line}").map_err(CliError::Output)?;
            }
        }
        Format::Table => write_table(&plans, &modes, out).map_err(CliError::Output)?,
        Format::Csv => write_csv(&plans, out).map_err(CliError::Output)?,
        Format::Sarif => {
            let artifact = Artifact::of(&policies.policies);
            write_sarif(out, &sarif(&RULES, &findings(&plans), &artifact))
                .map_err(CliError::Output)?;
        }
    }
    Ok(Exit::of(failed, changes))
}

const GRANT_OUTSIDE: Rule = Rule {
    id: "IG0002",
    name: "GrantOutsideAllowlist",
    short: "A resource policy grants invoke outside the allowlist",
    help: "A statement of this function's resource policy lets in a caller none of its allow entries covers. A reconcile (the guard in enforce mode, or `invokeguard reconcile`) removes its invoke grant; add an allow entry instead if the caller is expected. See docs/policies-file.md, \"What a plan changes\".",
    level: Level::Error,
};

const GRANT_MISSING: Rule = Rule {
    id: "IG0003",
    name: "AllowlistedGrantMissing",
    short: "An allow entry has no covering statement in the resource policy",
    help: "The policies file allows this caller but the function's resource policy has no statement granting it, so its calls are refused. A reconcile adds the statement (AddPermission); remove the allow entry if the caller is no longer expected.",
    level: Level::Note,
};

const RULES: [Rule; 2] = [GRANT_OUTSIDE, GRANT_MISSING];

/// What each addition grants beyond its principal, as the table and CSV say it.
fn addition_why(a: &Addition) -> String {
    let mut detail = Vec::new();
    detail.extend(a.source_arn.as_ref().map(|v| format!("sourceArn {v}")));
    detail.extend(
        a.source_account
            .as_ref()
            .map(|v| format!("sourceAccount {v}")),
    );
    detail.extend(a.principal_org_id.as_ref().map(|v| format!("org {v}")));
    detail.extend(a.function_url_auth_type.map(|v| format!("url auth {v}")));
    format!(
        "allow entry {} has no covering statement{}",
        a.allow_entry,
        if detail.is_empty() {
            String::new()
        } else {
            format!(" ({})", detail.join(", "))
        }
    )
}

/// One finding per statement a reconcile would remove (an error) or add (a note).
fn findings(plans: &[Plan]) -> Vec<Finding> {
    let mut found = Vec::new();
    for p in plans {
        let at = match &p.qualifier {
            Some(q) => format!("{}:{q}", p.function),
            None => p.function.clone(),
        };
        for r in &p.remove {
            let sid = r
                .sid
                .clone()
                .unwrap_or_else(|| format!("(no Sid, #{})", r.index));
            found.push(Finding {
                rule: GRANT_OUTSIDE,
                message: format!(
                    "{at}: statement {sid} grants invoke to {}: {}. A reconcile ({} write) removes it.",
                    r.principal,
                    r.why,
                    p.apply.as_str()
                ),
                function: p.function.clone(),
                qualifier: p.qualifier.clone(),
                principal: r.principal.clone(),
                sid: Some(r.sid.clone().unwrap_or_else(|| format!("#{}", r.index))),
            });
        }
        for a in &p.add {
            found.push(Finding {
                rule: GRANT_MISSING,
                message: format!(
                    "{at}: {} for {}. A reconcile adds statement {}.",
                    addition_why(a),
                    a.principal,
                    a.sid
                ),
                function: p.function.clone(),
                qualifier: p.qualifier.clone(),
                principal: a.principal.clone(),
                sid: Some(a.sid.clone()),
            });
        }
    }
    found
}

/// One row per statement a reconcile would remove or add; a policy already in line has none.
pub(crate) fn write_csv(plans: &[Plan], out: &mut dyn Write) -> std::io::Result<()> {
    write_csv_row(
        out,
        &[
            "function",
            "qualifier",
            "action",
            "sid",
            "principal",
            "write",
            "why",
        ],
    )?;
    for p in plans {
        let qualifier = p.qualifier.as_deref().unwrap_or("");
        for r in &p.remove {
            write_csv_row(
                out,
                &[
                    p.function.as_str(),
                    qualifier,
                    "remove",
                    r.sid.as_deref().unwrap_or(""),
                    &r.principal,
                    p.apply.as_str(),
                    &r.why,
                ],
            )?;
        }
        for a in &p.add {
            write_csv_row(
                out,
                &[
                    p.function.as_str(),
                    qualifier,
                    "add",
                    &a.sid,
                    &a.principal,
                    p.apply.as_str(),
                    &addition_why(a),
                ],
            )?;
        }
    }
    Ok(())
}

/// One row per statement a reconcile would remove or add; one row per policy already in line.
/// `modes[i]` is the mode of `plans[i]`'s function: whether a reconcile would write it.
pub(crate) fn write_table(
    plans: &[Plan],
    modes: &[Mode],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut rows: Vec<[String; 7]> = Vec::new();
    for (i, p) in plans.iter().enumerate() {
        let mode = modes.get(i).map_or("-", |m| m.as_str()).to_owned();
        let qualifier = p.qualifier.clone().unwrap_or_else(|| "-".into());
        if p.is_empty() {
            rows.push([
                p.function.clone(),
                qualifier,
                mode,
                "ok".into(),
                String::new(),
                String::new(),
                "grants exactly the allowlist".into(),
            ]);
            continue;
        }
        for a in &p.add {
            let why = addition_why(a);
            rows.push([
                p.function.clone(),
                qualifier.clone(),
                mode.clone(),
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
                mode.clone(),
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
        "MODE",
        "CHANGE",
        "PRINCIPAL",
        "WRITE",
        "WHY",
    ]
    .map(String::from);
    let last = header.len() - 1;
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()).take(last) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(rows.iter()) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i < last {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            } else {
                line.push_str(cell);
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    let changing = plans.iter().filter(|p| !p.is_empty()).count();
    let reported = plans
        .iter()
        .zip(modes)
        .filter(|(p, m)| !p.is_empty() && **m == Mode::Report)
        .count();
    writeln!(
        out,
        "\n{} of {} policies would change ({} of them in report mode: a reconcile only logs those).",
        changing,
        plans.len(),
        reported
    )
}
