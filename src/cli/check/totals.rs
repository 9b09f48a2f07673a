//! The violations of a `check` run per function and caller, and the table that shows them.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::time::Duration;

use crate::aws::home::Home;
use crate::cli::format::{Artifact, Finding, Level, Rule, sarif, write_csv_row, write_sarif};
use crate::record::{Caller, CallerKind};
use crate::verdict::{Reason, Verdict};

/// The one kind of finding `check` reports: a record of an invocation no allow entry covers.
const INVOKED_OUTSIDE: Rule = Rule {
    id: "IG0001",
    name: "InvokedOutsideAllowlist",
    short: "A guarded function was invoked by a caller outside its allow list",
    help: "CloudTrail recorded an Invoke of this function by a caller none of its allow entries lets in. Either add an allow entry for the caller (if the call is expected) or let the guard remove the grant that let it in: see docs/policies-file.md (allow entries, and \"What a plan changes\").",
    level: Level::Error,
};

fn kind(k: CallerKind) -> &'static str {
    match k {
        CallerKind::Service => "service",
        CallerKind::Account => "account",
        CallerKind::Iam => "iam",
        CallerKind::Unknown => "unknown",
    }
}

/// Violations per function and caller.
#[derive(Debug, Default)]
pub(super) struct CheckTotals {
    pub(super) rows: HashMap<(String, String), Row>,
}

#[derive(Debug, Clone)]
pub(super) struct Row {
    kind: CallerKind,
    /// The verdicts' reasons (a pair may be refused for more than one: another source ARN, then
    /// another source account).
    reasons: BTreeSet<String>,
    /// Whether enforce mode takes the caller's access away (a grant to remove), false when no
    /// resource policy change can (a same-account IAM caller, an unknown one).
    fixable: bool,
    pub(super) count: u64,
    pub(super) first: Option<String>,
    pub(super) last: Option<String>,
}

/// The caller as the table names it: the verdict's principal, else its account, else the
/// service that invoked.
fn caller_name(c: &Caller) -> String {
    c.principal
        .clone()
        .or_else(|| c.account.clone())
        .or_else(|| c.invoked_by.clone())
        .unwrap_or_else(|| "(unknown)".to_owned())
}

fn earlier(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b < a { b } else { a }),
        (a, b) => a.or(b),
    }
}

fn later(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b > a { b } else { a }),
        (a, b) => a.or(b),
    }
}

impl CheckTotals {
    pub(super) fn add(&mut self, v: &Verdict, time: Option<&str>) {
        let key = (
            v.function.clone().unwrap_or_else(|| "-".to_owned()),
            caller_name(&v.caller),
        );
        let time = time.map(str::to_owned);
        let row = self.rows.entry(key).or_insert_with(|| Row {
            kind: v.caller.kind,
            reasons: BTreeSet::new(),
            fixable: true,
            count: 0,
            first: None,
            last: None,
        });
        row.count += 1;
        row.reasons.insert(reason_code(v.reason));
        row.fixable &= v.fixable.unwrap_or(false);
        row.first = earlier(row.first.take(), time.clone());
        row.last = later(row.last.take(), time);
    }

    pub(super) fn merge(&mut self, other: CheckTotals) {
        for (key, r) in other.rows {
            match self.rows.get_mut(&key) {
                Some(row) => {
                    row.count += r.count;
                    row.reasons.extend(r.reasons);
                    row.fixable &= r.fixable;
                    row.first = earlier(row.first.take(), r.first);
                    row.last = later(row.last.take(), r.last);
                }
                None => {
                    self.rows.insert(key, r);
                }
            }
        }
    }

    fn violations(&self) -> u64 {
        self.rows.values().map(|r| r.count).sum()
    }

    /// The rows, most violations first.
    fn sorted(&self) -> Vec<(&(String, String), &Row)> {
        let mut rows: Vec<(&(String, String), &Row)> = self.rows.iter().collect();
        rows.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(b.0)));
        rows
    }

    /// The table's rows as CSV: one row per function and caller rather than per record, so a
    /// history of millions of records still fits a spreadsheet and pivots by function, caller
    /// or kind (the records themselves are the JSON lines).
    pub(super) fn write_csv(&self, out: &mut dyn Write) -> std::io::Result<()> {
        write_csv_row(
            out,
            &[
                "function",
                "caller",
                "kind",
                "count",
                "first_seen",
                "last_seen",
            ],
        )?;
        for ((function, caller), r) in self.sorted() {
            write_csv_row(
                out,
                &[
                    function.as_str(),
                    caller.as_str(),
                    kind(r.kind),
                    &r.count.to_string(),
                    r.first.as_deref().unwrap_or(""),
                    r.last.as_deref().unwrap_or(""),
                ],
            )?;
        }
        Ok(())
    }

    /// One SARIF result per function and caller, at the function's entry in the policies file.
    pub(super) fn write_sarif(
        &self,
        artifact: &Artifact,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        let findings: Vec<Finding> = self
            .sorted()
            .into_iter()
            .map(|((function, caller), r)| Finding {
                rule: INVOKED_OUTSIDE,
                message: format!(
                    "{function} was invoked {} time(s) by {caller} ({}), which no allow entry lets in (first {}, last {}).",
                    r.count,
                    kind(r.kind),
                    r.first.as_deref().unwrap_or("-"),
                    r.last.as_deref().unwrap_or("-"),
                ),
                function: function.clone(),
                qualifier: None,
                principal: caller.clone(),
                sid: None,
            })
            .collect();
        write_sarif(out, &sarif(&[INVOKED_OUTSIDE], &findings, artifact))
    }

    pub(super) fn write_table(&self, counts: &Counts, out: &mut dyn Write) -> std::io::Result<()> {
        let rows = self.sorted();
        let header = [
            "FUNCTION",
            "CALLER",
            "KIND",
            "REASON",
            "FIXABLE",
            "COUNT",
            "FIRST SEEN",
            "LAST SEEN",
        ]
        .map(String::from);
        let cells: Vec<[String; 8]> = rows
            .iter()
            .map(|((function, caller), r)| {
                [
                    function.clone(),
                    caller.clone(),
                    kind(r.kind).to_owned(),
                    r.reason(),
                    fixable(r.fixable).to_owned(),
                    r.count.to_string(),
                    r.first.clone().unwrap_or_else(|| "-".into()),
                    r.last.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        if !cells.is_empty() {
            let mut widths = header.clone().map(|h| h.chars().count());
            for row in &cells {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            for row in std::iter::once(&header).chain(cells.iter()) {
                let mut line = String::new();
                for (i, cell) in row.iter().enumerate() {
                    if i == COUNT_COLUMN {
                        line.push_str(&format!("{cell:>width$}  ", width = widths[i]));
                    } else {
                        line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
                    }
                }
                writeln!(out, "{}", line.trim_end())?;
            }
            writeln!(out)?;
            if self.rows.values().any(|r| !r.fixable) {
                writeln!(
                    out,
                    "FIXABLE no: the caller is let in by an identity policy of the function's own account (or cannot be told), not by a grant of the resource policy; enforce mode reports it and cannot take it away.\n"
                )?;
            }
        }
        writeln!(
            out,
            "{} violations by {} function/caller pairs in {} records from {} files ({:.1} s, {:.0} records/s).",
            self.violations(),
            self.rows.len(),
            counts.records,
            counts.files,
            counts.elapsed.as_secs_f64(),
            counts.rate(),
        )?;
        writeln!(out, "{}", counts.foreign_line())
    }
}

/// The right-aligned column of the table.
const COUNT_COLUMN: usize = 5;

/// What the FIXABLE column says: whether enforce mode would take the caller's access away.
fn fixable(yes: bool) -> &'static str {
    if yes { "yes" } else { "no" }
}

/// A reason's code as the verdict line spells it.
fn reason_code(reason: Reason) -> String {
    serde_json::to_value(reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{reason:?}"))
}

impl Row {
    fn reason(&self) -> String {
        self.reasons.iter().cloned().collect::<Vec<_>>().join(",")
    }
}

/// Files and records read so far, for the progress line and the table's last line.
pub(super) struct Counts {
    pub(super) files: usize,
    pub(super) expected: usize,
    pub(super) records: u64,
    /// Records about a function outside the home account and region (so never guarded here).
    pub(super) foreign: u64,
    /// The home `--account`/`--region` gave, if any.
    pub(super) home: Option<Home>,
    pub(super) elapsed: Duration,
}

impl Counts {
    /// How many records were about functions elsewhere; without a home, that a name matched in
    /// any account and region.
    pub(super) fn foreign_line(&self) -> String {
        match &self.home {
            Some(home) => format!(
                "{} of {} records were about functions outside the home account and region ({} {}): not guarded there.",
                self.foreign, self.records, home.account, home.region
            ),
            None => "No home account and region given (--account and --region): a function name in the policies file matched in any account and region.".to_owned(),
        }
    }

    pub(super) fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.records as f64 / secs
        } else {
            0.0
        }
    }
}
