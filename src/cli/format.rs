//! The output formats `audit` and `check` share: the choice of format, CSV rows (RFC 4180) and
//! a SARIF 2.1.0 log whose results sit in the policies file, so code scanning can show them.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use serde_json::{Map, Value, json};

/// How `audit` and `check` write their findings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for a person.
    Table,
    /// One JSON object per line (a plan per policy, a verdict per record).
    #[default]
    Json,
    /// One row per finding, with a header row (RFC 4180).
    Csv,
    /// SARIF 2.1.0, for code scanning.
    Sarif,
}

impl Format {
    /// The format asked for (`--json` is `--format json`); without one, a table on a terminal
    /// and JSON lines when piped, as before `--format` existed.
    pub fn chosen(asked: Option<Format>, json: bool, stdout_terminal: bool) -> Format {
        match asked {
            Some(f) => f,
            None if json || !stdout_terminal => Format::Json,
            None => Format::Table,
        }
    }
}

/// One CSV record: fields quoted when they hold a comma, a quote or a line break (quotes
/// doubled), ended by CRLF as RFC 4180 says.
pub fn write_csv_row<S: AsRef<str>>(out: &mut dyn Write, cells: &[S]) -> std::io::Result<()> {
    let mut line = String::new();
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        let cell = cell.as_ref();
        if cell.contains([',', '"', '\r', '\n']) {
            line.push('"');
            line.push_str(&cell.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(cell);
        }
    }
    line.push_str("\r\n");
    out.write_all(line.as_bytes())
}

/// The policies file as a SARIF artifact: its URI and the line of each function's entry.
#[derive(Debug, Clone, Default)]
pub struct Artifact {
    uri: String,
    lines: HashMap<String, usize>,
}

impl Artifact {
    /// Reads the file once more (it was just validated) for the lines of its function keys; a
    /// file that cannot be read again only loses the regions.
    pub fn of(path: &Path) -> Artifact {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        Artifact {
            uri: uri_of(path),
            lines: key_lines(&text),
        }
    }

    fn line(&self, function: &str) -> Option<usize> {
        self.lines.get(function).copied()
    }
}

/// The path relative to the working directory where it lies below it (code scanning resolves
/// a relative URI against the checkout), with `/` separators and spaces escaped.
pub fn uri_of(path: &Path) -> String {
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf());
    let text = relative.to_string_lossy().replace('\\', "/");
    let text = text.strip_prefix("./").unwrap_or(&text).to_owned();
    let text = text.replace('%', "%25").replace(' ', "%20");
    if relative.is_absolute() {
        format!("file://{text}")
    } else {
        text
    }
}

/// The 1-based line of each key written as `"KEY":` after the `"functions"` key: the entries of
/// the functions object. A key also used further down keeps its first line.
fn key_lines(text: &str) -> HashMap<String, usize> {
    let mut lines = HashMap::new();
    let mut inside = false;
    for (n, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(start) = rest.find('"') {
            let after = &rest[start + 1..];
            let Some(end) = after.find('"') else { break };
            let key = &after[..end];
            let tail = after[end + 1..].trim_start();
            if tail.starts_with(':') {
                if inside {
                    lines.entry(key.to_owned()).or_insert(n + 1);
                } else if key == "functions" {
                    inside = true;
                }
            }
            rest = &after[end + 1..];
        }
    }
    lines
}

/// A kind of finding: a SARIF rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub id: &'static str,
    pub name: &'static str,
    pub short: &'static str,
    pub help: &'static str,
    pub level: Level,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Note,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Note => "note",
        }
    }
}

/// One result: about a function (and qualifier) of the policies file and one principal.
#[derive(Debug, Clone)]
pub struct Finding {
    pub rule: Rule,
    pub message: String,
    pub function: String,
    pub qualifier: Option<String>,
    pub principal: String,
    pub sid: Option<String>,
}

const SARIF_SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The SARIF 2.1.0 log of `findings`, one run, one rule per kind in `rules`.
pub fn sarif(rules: &[Rule], findings: &[Finding], artifact: &Artifact) -> Value {
    let mut driver = Map::new();
    driver.insert("name".into(), json!("invokeguard"));
    driver.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
    // A URI is only written when the manifest names one: code scanning links it.
    let uri = [env!("CARGO_PKG_REPOSITORY"), env!("CARGO_PKG_HOMEPAGE")]
        .into_iter()
        .find(|u| !u.is_empty());
    if let Some(uri) = uri {
        driver.insert("informationUri".into(), json!(uri));
    }
    let rule_objects: Vec<Value> = rules
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.name,
                "shortDescription": {"text": r.short},
                "help": {"text": r.help},
                "defaultConfiguration": {"level": r.level.as_str()},
            })
        })
        .collect();
    driver.insert("rules".into(), Value::Array(rule_objects));
    let results: Vec<Value> = findings
        .iter()
        .map(|f| result(rules, f, artifact))
        .collect();
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": Value::Object(driver)},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    })
}

fn result(rules: &[Rule], f: &Finding, artifact: &Artifact) -> Value {
    let mut physical = Map::new();
    physical.insert("artifactLocation".into(), json!({"uri": artifact.uri}));
    if let Some(line) = artifact.line(&f.function) {
        physical.insert("region".into(), json!({"startLine": line}));
    }
    let qualified = match &f.qualifier {
        Some(q) => format!("{}:{q}", f.function),
        None => f.function.clone(),
    };
    let fingerprint = [
        f.function.as_str(),
        f.qualifier.as_deref().unwrap_or(""),
        f.principal.as_str(),
        f.sid.as_deref().unwrap_or(""),
    ]
    .join("|");
    let mut properties = Map::new();
    properties.insert("principal".into(), json!(f.principal));
    if let Some(sid) = &f.sid {
        properties.insert("sid".into(), json!(sid));
    }
    json!({
        "ruleId": f.rule.id,
        "ruleIndex": rules.iter().position(|r| r.id == f.rule.id).unwrap_or(0),
        "level": f.rule.level.as_str(),
        "message": {"text": f.message},
        "locations": [{
            "physicalLocation": Value::Object(physical),
            "logicalLocations": [{
                "name": f.function,
                "fullyQualifiedName": qualified,
                "kind": "function",
            }],
        }],
        "partialFingerprints": {"invokeguardFinding/v1": fingerprint},
        "properties": Value::Object(properties),
    })
}

/// Writes a SARIF log, pretty-printed, ending with a line break.
pub fn write_sarif(out: &mut dyn Write, log: &Value) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, log)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn csv_quotes_only_what_rfc_4180_asks_to() {
        let mut out = Vec::new();
        write_csv_row(&mut out, &["plain", "a,b", "say \"hi\"", "two\nlines", ""]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\r\n"
        );
    }

    #[test]
    fn function_entries_are_found_by_their_key_below_functions() {
        let text = "{\n  \"version\": 1,\n  \"functions\": {\n    \"orders\": {\n      \"allow\": [{\"account\": \"222233334444\"}]\n    },\n    \"arn:aws:lambda:us-east-1:111122223333:function:pay\": {\"allow\": []}\n  }\n}\n";
        let lines = key_lines(text);
        assert_eq!(lines.get("orders"), Some(&4));
        assert_eq!(
            lines.get("arn:aws:lambda:us-east-1:111122223333:function:pay"),
            Some(&7)
        );
        assert_eq!(lines.get("version"), None);
    }

    #[test]
    fn without_a_format_a_terminal_gets_a_table_and_a_pipe_json() {
        assert_eq!(Format::chosen(None, false, true), Format::Table);
        assert_eq!(Format::chosen(None, false, false), Format::Json);
        assert_eq!(Format::chosen(None, true, true), Format::Json);
        assert_eq!(Format::chosen(Some(Format::Csv), false, false), Format::Csv);
    }
}
