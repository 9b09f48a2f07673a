//! The demo's view of the guard's log lines: tables with headers (what was decided, what was
//! changed and why) and a closing recap. Kept apart from the demo's driver so that
//! `tests/demo_view.rs` can check what a newcomer reads.

use serde_json::Value;

pub fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or("-").to_owned()
}

/// The function a log line is about, with its qualifier.
pub fn qualified(v: &Value) -> String {
    match v["qualifier"].as_str() {
        Some(q) => format!("{}:{q}", text(v, "function")),
        None => text(v, "function"),
    }
}

/// The `reason` the policies file gives allow entry `index` of the line's function.
fn entry_reason(v: &Value, index: u64, allowlist: &Value) -> String {
    let entry = &allowlist["functions"][text(v, "function")]["allow"][index as usize];
    entry["reason"].as_str().map_or_else(
        || format!("allow entry {index}"),
        |r| format!("allow entry {index} ({r})"),
    )
}

/// What a verdict leads to.
fn consequence(v: &Value, allowlist: &Value) -> String {
    match (
        text(v, "verdict").as_str(),
        v["fixable"].as_bool(),
        text(v, "mode").as_str(),
    ) {
        ("allowed", _, _) => entry_reason(v, v["allowEntry"].as_u64().unwrap_or(0), allowlist),
        (_, Some(false), _) => {
            "not fixable: an identity policy of this account lets it in, not the resource policy"
                .into()
        }
        (_, _, "report") => "report mode: the plan is logged, nothing is written".into(),
        _ => "enforce: the policy is brought to the allowlist now".into(),
    }
}

/// Why a statement goes (the plan's `why`) or comes (the allow entry it expresses).
fn why(v: &Value, allowlist: &Value) -> String {
    match v["action"].as_str() {
        Some("remove") => text(v, "why"),
        _ => format!(
            "{} has no covering statement",
            entry_reason(v, v["allowEntry"].as_u64().unwrap_or(0), allowlist)
        ),
    }
}

/// The Lambda's answer for one record (its report), in words.
pub fn response(v: &Value) -> String {
    let n = |key: &str| v[key].as_u64().unwrap_or(0);
    if n("violations") == 0 {
        return format!("{} allowed, {} ignored", n("allowed"), n("ignored"));
    }
    format!(
        "violation: {} grants removed, {} added, {} left ({} AWS calls)",
        n("removed"),
        n("added"),
        n("unfixed"),
        n("apiCalls")
    )
}

/// Rows under a header, each column as wide as its widest cell (the last one left free).
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> Vec<String> {
    if rows.is_empty() {
        return vec!["  (none)".to_owned()];
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let last = header.len() - 1;
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let mut out = Vec::new();
    for row in std::iter::once(&header).chain(rows.iter()) {
        let mut line = String::from(" ");
        for (i, cell) in row.iter().enumerate() {
            if i < last {
                line.push_str(&format!(" {cell:<width$} ", width = widths[i]));
            } else {
                line.push_str(&format!(" {cell}"));
            }
        }
        out.push(line.trim_end().to_owned());
    }
    out
}

/// One row per `decision` line: the record, the caller, the verdict and what it leads to.
pub fn decisions(lines: &[Value], allowlist: &Value) -> Vec<String> {
    table(
        &["RECORD", "FUNCTION", "CALLER", "VERDICT", "REASON", "SO"],
        lines
            .iter()
            .filter(|v| v["message"] == "decision")
            .map(|v| {
                vec![
                    text(v, "eventId"),
                    qualified(v),
                    text(&v["caller"], "principal"),
                    text(v, "verdict"),
                    text(v, "reason"),
                    consequence(v, allowlist),
                ]
            })
            .collect(),
    )
}

/// One row per `remediation` line: the statement, what came of it and why.
pub fn actions(lines: &[Value], allowlist: &Value) -> Vec<String> {
    table(
        &[
            "FUNCTION",
            "ACTION",
            "STATEMENT",
            "PRINCIPAL",
            "OUTCOME",
            "WHY",
        ],
        lines
            .iter()
            .filter(|v| v["message"] == "remediation")
            .map(|v| {
                vec![
                    qualified(v),
                    text(v, "action"),
                    text(v, "sid"),
                    text(v, "principal"),
                    text(v, "outcome"),
                    why(v, allowlist),
                ]
            })
            .collect(),
    )
}

/// How many grants went and stayed, and which callers lost access and which kept it.
pub fn recap(lines: &[Value], after: &[(&str, Vec<(String, String)>)]) -> Vec<String> {
    let mut out = Vec::new();
    let applied = |action: &str| -> Vec<&Value> {
        lines
            .iter()
            .filter(|v| {
                v["message"] == "remediation" && v["action"] == action && v["outcome"] == "applied"
            })
            .collect()
    };
    let (removed, added) = (applied("remove"), applied("add"));
    let kept: usize = after
        .iter()
        .map(|(_, g)| g.len())
        .sum::<usize>()
        .saturating_sub(added.len());
    let would: Vec<&Value> = lines
        .iter()
        .filter(|v| v["message"] == "remediation" && v["outcome"] == "skipped-report-mode")
        .collect();
    out.push(format!(
        "  grants removed: {}; added: {} (an allow entry's statement, exactly as the file says); kept: {}; report mode, not written: {}",
        removed.len(),
        added.len(),
        kept,
        would.len()
    ));
    out.push("  lost access:".to_owned());
    for r in &removed {
        let principal = text(r, "principal");
        let function = qualified(r);
        let again = added
            .iter()
            .any(|a| a["principal"] == r["principal"] && qualified(a) == function);
        let note = if again {
            " (let in again only as its allow entry says, by a new statement)"
        } else {
            ""
        };
        out.push(format!("    {principal:<26} to {function}{note}"));
    }
    out.push("  kept access:".to_owned());
    for (function, grants) in after {
        for (sid, principal) in grants {
            out.push(format!(
                "    {principal:<26} to {function} (statement {sid})"
            ));
        }
    }
    for v in lines
        .iter()
        .filter(|v| v["message"] == "decision" && v["verdict"] == "violation")
    {
        let still = match (v["fixable"].as_bool(), v["mode"].as_str()) {
            (Some(false), _) => {
                "not fixable by a resource policy: only its identity policy can stop it"
            }
            (_, Some("report")) => "report mode: the guard only reported it",
            _ => continue,
        };
        out.push(format!(
            "    {:<26} to {} ({still})",
            text(&v["caller"], "principal"),
            qualified(v)
        ));
    }
    out
}
