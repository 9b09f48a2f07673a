//! `invokeguard lint`: the grants CloudFormation templates would make, judged against the
//! allowlist before anything is deployed (the judging is `template`'s; this reads the files and
//! writes the report).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::args::PoliciesArgs;
use super::error::CliError;
use super::exit::Exit;
use super::format::{self, Format, Level, Rule};
use super::read::read_limited;
use crate::template::{self, Finding, Kind, Severity, Template};

const GRANT_OUTSIDE: Rule = Rule {
    id: "IG0101",
    name: "TemplateGrantOutsideAllowlist",
    short: "A template grants invoke outside the allowlist",
    help: "Deploying this template creates a grant none of the function's allow entries covers: the guard would remove it, after it existed and could be used. Remove the grant, or add an allow entry to the policies file if the caller is expected.",
    level: Level::Error,
};

const NOT_JUDGED: Rule = Rule {
    id: "IG0102",
    name: "TemplateGrantNotJudged",
    short: "A template grant cannot be judged before deploy",
    help: "Part of this grant (its function, principal or a condition) is an intrinsic function invokeguard does not resolve, or a pseudo parameter without --account/--region; with a stand-in value it falls outside the allowlist. Give --account/--region, --function LOGICALID=NAME, or write the value literally.",
    level: Level::Warning,
};

const ENTRY_WITHOUT_GRANT: Rule = Rule {
    id: "IG0103",
    name: "AllowEntryWithoutTemplateGrant",
    short: "An allow entry has no grant in the templates",
    help: "The policies file allows this caller, but the templates make no grant covering it: its calls are refused until something else grants it (in enforce mode the guard adds it).",
    level: Level::Note,
};

const NOTE: Rule = Rule {
    id: "IG0104",
    name: "TemplateNote",
    short: "Something about a template's grants worth knowing",
    help: "A grant a transform adds (SAM event sources), a function the policies file cannot name, a function URL, or a resource holding a policy invokeguard does not know.",
    level: Level::Note,
};

const RULES: [Rule; 4] = [GRANT_OUTSIDE, NOT_JUDGED, ENTRY_WITHOUT_GRANT, NOTE];

pub fn lint(
    policies: &PoliciesArgs,
    functions: &[(String, String)],
    files: &[PathBuf],
    format: Format,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Exit, CliError> {
    let allowlist = policies.load_offline()?;
    let pseudo = template::pseudo_parameters(
        policies.home.account.as_deref(),
        policies.home.region.as_deref(),
    );
    let mut names = Vec::new();
    let mut templates = Vec::new();
    let mut bad = false;
    for path in files {
        match read_template(path, &pseudo) {
            Ok((name, t)) => {
                names.push(name);
                templates.push(t);
            }
            Err(e) => {
                bad = true;
                writeln!(err, "invokeguard: error: {e}").map_err(CliError::Output)?;
            }
        }
    }
    let map: HashMap<String, String> = functions.iter().cloned().collect();
    let mut findings = template::judge(&allowlist, &templates, &map);
    findings.sort_by(|a, b| {
        (a.severity, a.template, a.line, &a.logical_id).cmp(&(
            b.severity,
            b.template,
            b.line,
            &b.logical_id,
        ))
    });
    write_report(format, &findings, &names, out).map_err(CliError::Output)?;
    let errors = findings.iter().any(|f| f.severity == Severity::Error);
    Ok(Exit::of(bad, errors))
}

fn read_template(
    path: &Path,
    pseudo: &HashMap<String, String>,
) -> Result<(String, Template), CliError> {
    let (file, bytes) = read_limited(path)?;
    let text = String::from_utf8(bytes).map_err(|_| CliError::Template {
        file: file.clone(),
        message: "not UTF-8 text".into(),
    })?;
    let t = template::read(&text, pseudo).map_err(|e| CliError::Template {
        file: file.clone(),
        message: e.to_string(),
    })?;
    Ok((file, t))
}

fn write_report(
    format: Format,
    findings: &[Finding],
    files: &[String],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let file = |f: &Finding| files.get(f.template).map_or("", String::as_str);
    match format {
        Format::Table => {
            let place = |f: &Finding| format!("{}:{}", file(f), f.line);
            let w_place = findings.iter().map(|f| place(f).len()).max().unwrap_or(0);
            let w_id = findings
                .iter()
                .map(|f| f.logical_id.len())
                .max()
                .unwrap_or(0);
            for f in findings {
                writeln!(
                    out,
                    "{:<7}  {:<w_place$}  {:<w_id$}  {}",
                    severity_word(f.severity),
                    place(f),
                    f.logical_id,
                    f.message
                )?;
            }
            let count = |s| findings.iter().filter(|f| f.severity == s).count();
            writeln!(
                out,
                "{} error(s), {} warning(s), {} note(s) in {} template(s)",
                count(Severity::Error),
                count(Severity::Warning),
                count(Severity::Note),
                files.len()
            )
        }
        Format::Json => {
            for f in findings {
                let mut v = serde_json::to_value(f)?;
                if let Value::Object(m) = &mut v {
                    m.insert("file".into(), json!(file(f)));
                }
                writeln!(out, "{v}")?;
            }
            Ok(())
        }
        Format::Csv => {
            format::write_csv_row(
                out,
                &[
                    "severity",
                    "file",
                    "line",
                    "logicalId",
                    "function",
                    "principal",
                    "message",
                ],
            )?;
            for f in findings {
                format::write_csv_row(
                    out,
                    &[
                        severity_word(f.severity),
                        file(f),
                        &f.line.to_string(),
                        &f.logical_id,
                        f.function.as_deref().unwrap_or(""),
                        f.principal.as_deref().unwrap_or(""),
                        &f.message,
                    ],
                )?;
            }
            Ok(())
        }
        Format::Sarif => format::write_sarif(out, &sarif(findings, files)),
    }
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

/// The shared SARIF log, each result placed at its template's file and line and named by the
/// resource's logical id.
fn sarif(findings: &[Finding], files: &[String]) -> Value {
    let as_format: Vec<format::Finding> = findings
        .iter()
        .map(|f| format::Finding {
            rule: match f.kind {
                Kind::GrantOutside => GRANT_OUTSIDE,
                Kind::NotJudged => NOT_JUDGED,
                Kind::EntryWithoutGrant => ENTRY_WITHOUT_GRANT,
                Kind::Note => NOTE,
            },
            message: f.message.clone(),
            function: f.function.clone().unwrap_or_else(|| f.logical_id.clone()),
            qualifier: f.qualifier.clone(),
            principal: f.principal.clone().unwrap_or_default(),
            sid: Some(f.logical_id.clone()),
        })
        .collect();
    let mut log = format::sarif(&RULES, &as_format, &format::Artifact::default());
    if let Some(Value::Array(results)) = log.pointer_mut("/runs/0/results") {
        for (result, f) in results.iter_mut().zip(findings) {
            let file = files.get(f.template).map_or("", String::as_str);
            let mut physical =
                json!({"artifactLocation": {"uri": format::uri_of(Path::new(file))}});
            if f.line > 0 {
                physical["region"] = json!({"startLine": f.line});
            }
            result["locations"] = json!([{
                "physicalLocation": physical,
                "logicalLocations": [{"name": f.logical_id, "kind": "resource"}],
            }]);
        }
    }
    log
}
