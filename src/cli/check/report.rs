//! The results written in input order, with a progress line, then the table of violations.

use std::io::Write;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use super::judge::{FileResult, Piece};
use super::pool::Slot;
use super::totals::{CheckTotals, Counts};
use crate::aws::home::Home;
use crate::cli::error::CliError;
use crate::cli::exit::Exit;
use crate::cli::format::{Artifact, Format};

struct Progress {
    on: bool,
    shown: bool,
    last: Option<Instant>,
}

impl Progress {
    fn draw(&mut self, counts: &Counts, err: &mut dyn Write, force: bool) {
        if !self.on {
            return;
        }
        let now = Instant::now();
        if !force
            && self
                .last
                .is_some_and(|t| now.duration_since(t) < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(now);
        let width = 30;
        let filled = (counts.files * width)
            .checked_div(counts.expected)
            .unwrap_or(0)
            .min(width);
        let _ = write!(
            err,
            "\r\x1b[2K[{}{}] {}/{} files  {} records  {:.0} records/s",
            "#".repeat(filled),
            " ".repeat(width - filled),
            counts.files,
            counts.expected,
            counts.records,
            counts.rate()
        );
        let _ = err.flush();
        self.shown = true;
    }

    fn clear(&mut self, err: &mut dyn Write) {
        if self.shown {
            let _ = write!(err, "\r\x1b[2K");
            self.shown = false;
        }
    }
}

/// Where and how the results go.
pub(super) struct Output<'a> {
    pub(super) format: Format,
    pub(super) artifact: &'a Artifact,
    pub(super) stderr_terminal: bool,
    /// The home `--account`/`--region` gave, for the table's count of records about functions
    /// elsewhere.
    pub(super) home: Option<Home>,
}

/// Writes each file's lines as its slot comes up (verdict lines on `out` with JSON, else the
/// violations at the end in the format asked for), and returns the exit code of the run.
pub(super) fn write_results(
    slots: Receiver<Slot>,
    to: &Output<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Exit, CliError> {
    let json = to.format == Format::Json;
    let stderr_terminal = to.stderr_terminal;
    let start = Instant::now();
    let mut counts = Counts {
        files: 0,
        expected: 0,
        records: 0,
        foreign: 0,
        home: to.home.clone(),
        elapsed: Duration::ZERO,
    };
    let mut progress = Progress {
        on: stderr_terminal,
        shown: false,
        last: None,
    };
    let mut violations = CheckTotals::default();
    let (mut bad, mut violating) = (false, false);
    for slot in slots.iter() {
        match slot {
            Slot::Total(n) => counts.expected += n,
            Slot::Note(note) => {
                progress.clear(err);
                let _ = writeln!(err, "{note}");
            }
            Slot::Error(e) => {
                progress.clear(err);
                let _ = writeln!(err, "{e}");
                bad = true;
            }
            Slot::File(rx) => {
                let res = loop {
                    match rx.recv() {
                        Ok(Piece::Out(chunk)) => {
                            if json {
                                out.write_all(&chunk).map_err(CliError::Output)?;
                            }
                        }
                        Ok(Piece::Err(e)) => {
                            progress.clear(err);
                            let _ = writeln!(err, "{e}");
                        }
                        Ok(Piece::Done(res)) => break res,
                        Err(_) => {
                            progress.clear(err);
                            let _ = writeln!(err, "error: a worker thread stopped");
                            break FileResult::failed(String::new());
                        }
                    }
                };
                bad |= res.bad;
                violating |= res.violating;
                counts.files += 1;
                counts.records += res.records;
                counts.foreign += res.foreign;
                violations.merge(res.totals);
            }
        }
        counts.elapsed = start.elapsed();
        progress.draw(&counts, err, false);
    }
    counts.elapsed = start.elapsed();
    progress.draw(&counts, err, true);
    progress.clear(err);
    out.flush().map_err(CliError::Output)?;
    match to.format {
        Format::Json => {
            if stderr_terminal {
                let _ = violations.write_table(&counts, err);
            }
        }
        Format::Table => violations
            .write_table(&counts, out)
            .map_err(CliError::Output)?,
        Format::Csv => violations.write_csv(out).map_err(CliError::Output)?,
        Format::Sarif => violations
            .write_sarif(to.artifact, out)
            .map_err(CliError::Output)?,
    }
    out.flush().map_err(CliError::Output)?;
    Ok(if bad {
        Exit::BadInput
    } else if violating {
        Exit::Findings
    } else {
        Exit::Ok
    })
}
