//! What `reconcile` and `remediate` show a person: one aligned line per decision and action,
//! rendered from the guard's own JSON log lines (so the view can never say more than the log),
//! and a closing recap instead of the report's JSON.

use std::io::Write;
use std::sync::Arc;

use serde_json::Value;

use crate::allowlist::Allowlist;
use crate::guard::{EventReport, LogSink, StdoutSink};

/// How `reconcile` and `remediate` write what the guard decided and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable, aligned line per decision and action (a terminal's default).
    Table,
    /// The guard's JSON log lines on stdout and the run's JSON report on stderr, as the Lambda
    /// writes them (the default when piped).
    Json,
}

impl LogFormat {
    /// The format asked for; without one, readable lines on a terminal and JSON when piped.
    pub fn chosen(asked: Option<LogFormat>, stdout_terminal: bool) -> LogFormat {
        match asked {
            Some(f) => f,
            None if stdout_terminal => LogFormat::Table,
            None => LogFormat::Json,
        }
    }
}

/// The width of the first column (what happened).
const WHAT: usize = 13;

/// Writes each log line the guard emits as one readable line on stdout.
pub struct ReadableSink {
    /// The width of the function column: the longest key of the policies file and room for a
    /// qualifier, so lines stay aligned though they are written one at a time.
    width: usize,
    /// Erase the progress bar (on stderr, the same terminal) before writing a line.
    clear_first: bool,
}

impl ReadableSink {
    pub fn new(allowlist: &Allowlist, clear_first: bool) -> ReadableSink {
        let longest = allowlist
            .functions()
            .map(|(key, f)| {
                let q = f.qualifiers.iter().map(|q| q.as_str().len() + 1).max();
                key.as_str().len() + q.unwrap_or(0)
            })
            .max()
            .unwrap_or(0);
        ReadableSink {
            width: longest.clamp(16, 64),
            clear_first,
        }
    }
}

impl LogSink for ReadableSink {
    fn write_line(&self, line: &str) {
        let Some(text) = serde_json::from_str::<Value>(line)
            .ok()
            .and_then(|v| render(&v, self.width))
        else {
            return;
        };
        let mut out = std::io::stdout().lock();
        let clear = if self.clear_first { "\r\x1b[2K" } else { "" };
        // A closed stdout leaves nothing better to report the failure to.
        let _ = writeln!(out, "{clear}{text}");
    }
}

fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn n(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// The caller of a `decision` line as a person reads it: who, and of which kind.
fn caller(v: &Value) -> String {
    let c = &v["caller"];
    let who = s(c, "principal")
        .or_else(|| s(c, "arn"))
        .or_else(|| s(c, "account"))
        .or_else(|| s(c, "invokedBy"))
        .unwrap_or("(unknown caller)");
    match s(c, "kind") {
        Some(kind) => format!("{who} ({kind})"),
        None => who.to_owned(),
    }
}

/// One line for one log line; none for the kinds a person does not need (a record's summary:
/// the closing recap adds them up).
pub fn render(v: &Value, width: usize) -> Option<String> {
    let function = match (s(v, "function"), s(v, "qualifier")) {
        (Some(f), Some(q)) => format!("{f}:{q}"),
        (Some(f), None) => f.to_owned(),
        (None, _) => "-".to_owned(),
    };
    let report = s(v, "mode") == Some("report");
    let (what, detail) = match s(v, "message")? {
        "decision" if v.get("changeEvent").is_some() => (
            "change".to_owned(),
            format!(
                "{} by {}: {}",
                s(v, "changeEvent").unwrap_or("-"),
                s(v, "actor").unwrap_or("(unknown actor)"),
                match s(v, "reason") {
                    Some("policy-changed") => "reconciling its policy now",
                    Some("guard-itself") => "the guard's own policy, never edited",
                    Some("not-guarded") => "not a guarded function",
                    _ => "-",
                }
            ),
        ),
        "decision" => {
            let verdict = s(v, "verdict").unwrap_or("-");
            let reason = s(v, "reason").unwrap_or("-");
            let detail = match verdict {
                "allowed" => {
                    let entry = v.get("allowEntry").and_then(Value::as_u64);
                    let why = s(v, "allowReason")
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default();
                    match entry {
                        Some(i) => format!("{}: allow entry {i}{why}", caller(v)),
                        None => format!("{}: {reason}", caller(v)),
                    }
                }
                "violation" => {
                    let then = match (v.get("fixable").and_then(Value::as_bool), report) {
                        (Some(false), _) => "no resource policy change can stop it",
                        (_, true) => "report mode: logged, its grant stays",
                        (_, false) => "enforce: its grant is removed",
                    };
                    format!("{}: {reason}; {then}", caller(v))
                }
                _ => format!("{}: {reason}", caller(v)),
            };
            (verdict.to_owned(), detail)
        }
        "remediation" => {
            let action = s(v, "action").unwrap_or("-");
            let outcome = s(v, "outcome").unwrap_or("-");
            let what = match (action, outcome) {
                ("remove", "applied") => "removed",
                ("add", "applied") => "added",
                ("remove", "skipped-report-mode") => "would remove",
                ("add", "skipped-report-mode") => "would add",
                ("remove", "conflict-retried") | ("add", "conflict-retried") => "retrying",
                ("remove", _) => "REMOVE FAILED",
                _ => "ADD FAILED",
            };
            let sid = s(v, "sid").map_or_else(
                || format!("(no Sid, #{})", n(v, "statementIndex")),
                |sid| format!("{sid:?}"),
            );
            let principal = s(v, "principal").unwrap_or("-");
            let why = match action {
                "remove" => s(v, "why").unwrap_or("-").to_owned(),
                _ => format!(
                    "allow entry {} had no covering statement",
                    n(v, "allowEntry")
                ),
            };
            let mut detail = format!("statement {sid} for {principal}: {why}");
            if outcome == "skipped-report-mode" {
                detail.push_str(" (report mode)");
            }
            if let Some(e) = s(v, "error") {
                detail.push_str(&format!(" [{e}]"));
            }
            (what.to_owned(), detail)
        }
        "sweep" => (
            "sweep".to_owned(),
            format!(
                "{}{} functions, {} policies read: {} drifted, {} fixed, {} grants left, {} failed ({} API calls, {} ms){}",
                s(v, "pair").map_or(String::new(), |p| format!("{p}: ")),
                n(v, "functions"),
                n(v, "policiesRead"),
                n(v, "drift"),
                n(v, "fixed"),
                n(v, "unfixed"),
                n(v, "failed"),
                n(v, "apiCalls"),
                n(v, "elapsedMs"),
                if v.get("incomplete").and_then(Value::as_bool) == Some(true) {
                    format!("; stopped early, {} not looked at", n(v, "remaining"))
                } else {
                    String::new()
                }
            ),
        ),
        "sweep-plan" => (
            "sweep".to_owned(),
            format!(
                "{} account and region pairs queued, {} not{}",
                n(v, "sent"),
                n(v, "failed"),
                if n(v, "failed") > 0 {
                    " (not swept this round)"
                } else {
                    ""
                }
            ),
        ),
        "unmanaged" => (
            "kept".to_owned(),
            format!(
                "statement {}: {}",
                s(v, "sid").unwrap_or("(no Sid)"),
                s(v, "why").unwrap_or("-")
            ),
        ),
        "coalesced" => (
            "skipped".to_owned(),
            match s(v, "why") {
                Some("in-flight") => "a reconcile of this policy is in flight".to_owned(),
                _ => "this policy was just verified".to_owned(),
            },
        ),
        "error" => ("ERROR".to_owned(), s(v, "error").unwrap_or("-").to_owned()),
        _ => return None,
    };
    Some(format!("{what:<WHAT$} {function:<width$}  {detail}"))
}

/// Where the guard's log lines go: stdout as JSON, or readable lines (`clear_first`: a progress
/// bar on the same terminal is erased before each).
pub fn sink_for(format: LogFormat, allowlist: &Allowlist, clear_first: bool) -> Arc<dyn LogSink> {
    match format {
        LogFormat::Json => Arc::new(StdoutSink),
        LogFormat::Table => Arc::new(ReadableSink::new(allowlist, clear_first)),
    }
}

/// What a run's report counts in `unfixed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    /// `remediate`: records whose caller can still invoke.
    Records,
    /// `reconcile`: policies still granting invoke outside the allowlist.
    Sweep,
}

/// The run's report, last: the JSON scripts read, or the recap in words.
pub fn write_report(format: LogFormat, run: Run, report: &EventReport, err: &mut dyn Write) {
    let text = match format {
        LogFormat::Json => serde_json::to_string(report).unwrap_or_default(),
        LogFormat::Table => recap(run, report),
    };
    let _ = writeln!(err, "{text}");
}

/// The closing recap of a run, in words.
pub fn recap(run: Run, r: &EventReport) -> String {
    let mut parts = Vec::new();
    if run == Run::Records {
        parts.push(format!(
            "{} records: {} allowed, {} violations, {} ignored",
            r.records, r.allowed, r.violations, r.ignored
        ));
    }
    parts.push(format!(
        "{} grants removed, {} added, {} failed",
        r.removed, r.added, r.failed
    ));
    parts.push(match (r.unfixed, run) {
        (0, _) => "nothing left outside the allowlist".to_owned(),
        (u, Run::Records) => format!(
            "{u} records whose caller can still invoke (report mode, a failure, or not fixable by a resource policy)"
        ),
        (u, Run::Sweep) => format!(
            "{u} policies still grant invoke outside the allowlist (report mode or a failure)"
        ),
    });
    format!("{}.", parts.join("; "))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn a_removal_says_what_went_and_why() {
        let line = json!({"message": "remediation", "function": "orders", "qualifier": "live",
            "mode": "enforce", "action": "remove", "sid": "stranger", "statementIndex": 1,
            "principal": "999999999999", "why": "no allow entry covers account 999999999999",
            "apply": "permissions", "outcome": "applied", "revisionId": "r1"});
        assert_eq!(
            render(&line, 16).unwrap(),
            "removed       orders:live       statement \"stranger\" for 999999999999: no allow entry covers account 999999999999"
        );
    }

    #[test]
    fn a_violation_says_whether_enforce_takes_it_away() {
        let mut line = json!({"message": "decision", "function": "orders", "qualifier": null,
            "mode": "report", "verdict": "violation", "fixable": true,
            "reason": "caller-not-allowlisted",
            "caller": {"kind": "account", "principal": "999999999999", "account": "999999999999"}});
        let text = render(&line, 16).unwrap();
        assert!(text.starts_with("violation     orders  "), "{text}");
        assert!(text.ends_with("999999999999 (account): caller-not-allowlisted; report mode: logged, its grant stays"), "{text}");
        line["fixable"] = json!(false);
        assert!(
            render(&line, 16)
                .unwrap()
                .ends_with("no resource policy change can stop it")
        );
    }

    #[test]
    fn a_fanned_out_sweep_names_its_pair_and_the_plan_its_messages() {
        let line = json!({"message": "sweep", "pair": "111122223333/eu-west-1", "functions": 3,
            "policiesRead": 3, "drift": 1, "fixed": 1, "unfixed": 0, "failed": 0, "apiCalls": 10,
            "elapsedMs": 1300, "incomplete": false, "remaining": 0});
        let text = render(&line, 4).unwrap();
        assert!(
            text.ends_with("111122223333/eu-west-1: 3 functions, 3 policies read: 1 drifted, 1 fixed, 0 grants left, 0 failed (10 API calls, 1300 ms)"),
            "{text}"
        );
        let plan = json!({"message": "sweep-plan", "pairs": 12, "sent": 10, "failed": 2});
        assert!(
            render(&plan, 4)
                .unwrap()
                .ends_with("10 account and region pairs queued, 2 not (not swept this round)")
        );
    }

    #[test]
    fn a_summary_is_left_to_the_recap() {
        assert_eq!(
            render(&json!({"message": "summary", "function": "f"}), 16),
            None
        );
    }

    #[test]
    fn without_a_format_a_terminal_gets_lines_and_a_pipe_json() {
        assert_eq!(LogFormat::chosen(None, true), LogFormat::Table);
        assert_eq!(LogFormat::chosen(None, false), LogFormat::Json);
        assert_eq!(
            LogFormat::chosen(Some(LogFormat::Table), false),
            LogFormat::Table
        );
    }
}
