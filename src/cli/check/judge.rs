//! One input judged: the typed pass of the record reader first, the reference path where that
//! pass cannot say, its lines streamed to the writer as they come.

use std::io::Read;
use std::path::Path;
use std::sync::mpsc::SyncSender;

use serde_json::Value;

use super::totals::CheckTotals;
use crate::allowlist::Allowlist;
use crate::aws::home::Home;
use crate::cli::error::CliError;
use crate::record::{
    FoundRecord, InputError, MAX_INPUT_BYTES, NotTyped, ReadOptions, invocation, read_records,
    read_typed,
};
use crate::verdict::{Outcome, Verdict, decide};

/// What judging one input produced, besides its lines.
#[derive(Debug, Default)]
pub(super) struct FileResult {
    /// Verdict lines, when they are kept ([`judge_input`]) rather than streamed to the writer.
    #[cfg(test)]
    pub(super) out: Vec<u8>,
    /// Error lines, when they are kept rather than streamed.
    pub(super) errors: Vec<String>,
    pub(super) bad: bool,
    pub(super) violating: bool,
    pub(super) records: u64,
    /// Records about a function outside the home account and region.
    pub(super) foreign: u64,
    /// The violations among them.
    pub(super) totals: CheckTotals,
    /// Whether the typed pass read it (else the reference path did).
    pub(super) fast: bool,
}

impl FileResult {
    pub(super) fn failed(message: String) -> Self {
        FileResult {
            errors: vec![message],
            bad: true,
            ..FileResult::default()
        }
    }

    fn judged(
        &mut self,
        lines: &mut Lines,
        verdict: &Verdict,
        event_time: Option<&str>,
        home: Option<&Home>,
    ) {
        self.records += 1;
        if let (Some(home), Some(arn)) = (home, verdict.function_arn.as_deref())
            && !home.holds(arn)
        {
            self.foreign += 1;
        }
        if let Err(e) = lines.verdict(verdict) {
            lines.error(self, format!("error: cannot write a verdict: {e}"));
        }
        if verdict.outcome == Outcome::Violation {
            self.violating = true;
            self.totals.add(verdict, event_time);
        }
    }
}

/// What a worker hands the writer for one input, in order: lines as they are judged, then the
/// counts. The channel's bound is what a file's output may hold in memory.
pub(super) enum Piece {
    Out(Vec<u8>),
    Err(String),
    Done(FileResult),
}

/// Pieces of one file's output waiting for the writer: a file ahead of it may still be judged.
pub(super) const PIECES_IN_FLIGHT: usize = 4;
/// Verdict lines are sent in chunks of about this size.
const CHUNK_BYTES: usize = 64 * 1024;

/// Where a file's verdict and error lines go: to the writer through a bounded channel (so no
/// file's output is held whole), or kept (tests).
pub(super) struct Lines {
    buf: Vec<u8>,
    to: Option<SyncSender<Piece>>,
    /// Lines go to the writer (and are dropped once it has stopped), else they are kept.
    streaming: bool,
    kept_errors: Vec<String>,
    /// Verdict lines not to write again: the typed pass wrote them before it handed the input
    /// to the reference path, which yields the same lines first.
    skip: u64,
    written: u64,
}

impl Lines {
    pub(super) fn to(tx: SyncSender<Piece>) -> Lines {
        Lines {
            buf: Vec::new(),
            to: Some(tx),
            streaming: true,
            kept_errors: Vec::new(),
            skip: 0,
            written: 0,
        }
    }

    #[cfg(test)]
    pub(super) fn kept() -> Lines {
        Lines {
            buf: Vec::new(),
            to: None,
            streaming: false,
            kept_errors: Vec::new(),
            skip: 0,
            written: 0,
        }
    }

    fn verdict(&mut self, verdict: &Verdict) -> serde_json::Result<()> {
        if self.skip > 0 {
            self.skip -= 1;
            return Ok(());
        }
        serde_json::to_writer(&mut self.buf, verdict)?;
        self.buf.push(b'\n');
        self.written += 1;
        if self.buf.len() >= CHUNK_BYTES {
            self.flush();
        }
        Ok(())
    }

    fn error(&mut self, res: &mut FileResult, line: String) {
        res.bad = true;
        if self.streaming {
            self.flush();
            self.send(Piece::Err(line));
        } else {
            self.kept_errors.push(line);
        }
    }

    /// The reference path takes over: the lines written so far are its first ones.
    fn restart(&mut self) {
        self.skip = self.written;
        self.written = 0;
    }

    fn flush(&mut self) {
        if self.streaming && !self.buf.is_empty() {
            let chunk = std::mem::take(&mut self.buf);
            self.send(Piece::Out(chunk));
        }
    }

    fn send(&mut self, piece: Piece) {
        if let Some(tx) = &self.to
            && tx.send(piece).is_err()
        {
            // The writer stopped: nothing more is read by anyone.
            self.to = None;
        }
    }

    pub(super) fn finish(mut self, mut res: FileResult) {
        self.flush();
        let errors = std::mem::take(&mut res.errors);
        for e in errors {
            self.send(Piece::Err(e));
        }
        self.send(Piece::Done(res));
    }

    #[cfg(test)]
    pub(super) fn into_kept(self, res: &mut FileResult) {
        res.out = self.buf;
        res.errors.extend(self.kept_errors);
    }
}

/// An input a worker judges: a file or an S3 body can be read twice (the typed pass, then the
/// reference path when it hands over); stdin is read once, by the reference path.
pub(super) enum Source<'a> {
    File(&'a Path),
    #[cfg(any(feature = "aws", test))]
    Bytes(&'a [u8]),
    Stdin,
}

impl Source<'_> {
    fn open(&self) -> std::io::Result<Box<dyn Read + '_>> {
        Ok(match self {
            Source::File(path) => Box::new(std::fs::File::open(path)?),
            #[cfg(any(feature = "aws", test))]
            Source::Bytes(bytes) => Box::new(*bytes),
            Source::Stdin => Box::new(std::io::stdin().lock()),
        })
    }
}

pub(super) fn judge_path(allowlist: &Allowlist, path: &Path, lines: &mut Lines) -> FileResult {
    let name = path.display().to_string();
    if name == "-" {
        return judge(allowlist, &Source::Stdin, "(stdin)", lines);
    }
    let failed = |e: CliError| FileResult::failed(format!("error: {e}"));
    match std::fs::metadata(path) {
        Err(source) => failed(CliError::Read { file: name, source }),
        Ok(m) if m.is_dir() => failed(CliError::Directory { file: name }),
        Ok(m) if m.len() > MAX_INPUT_BYTES => failed(CliError::TooLarge { file: name }),
        Ok(_) => judge(allowlist, &Source::File(path), &name, lines),
    }
}

/// Judges one input (gzip or not) as `check` always has, its lines streamed as they come.
pub(super) fn judge(
    allowlist: &Allowlist,
    source: &Source<'_>,
    origin: &str,
    lines: &mut Lines,
) -> FileResult {
    let mut res = FileResult::default();
    if !matches!(source, Source::Stdin) {
        let typed = match source.open() {
            Ok(input) => read_typed(input, ReadOptions::default(), &mut |inv, time| {
                let verdict = decide(allowlist, inv);
                res.judged(lines, &verdict, time, allowlist.home());
            }),
            Err(_) => Err(NotTyped),
        };
        if typed.is_ok() {
            res.fast = true;
            return res;
        }
        lines.restart();
        res = FileResult::default();
    }
    match source.open() {
        Ok(input) => reference(allowlist, input, origin, &mut res, lines),
        Err(source) => {
            let e = CliError::Read {
                file: origin.to_owned(),
                source,
            };
            lines.error(&mut res, format!("error: {e}"));
        }
    }
    res
}

/// Judges one input's bytes, keeping its lines (for tests and comparisons).
#[cfg(test)]
pub(super) fn judge_input(allowlist: &Allowlist, bytes: &[u8], origin: &str) -> FileResult {
    let mut lines = Lines::kept();
    let mut res = judge(allowlist, &Source::Bytes(bytes), origin, &mut lines);
    lines.into_kept(&mut res);
    res
}

/// The reference path: [`read_records`], [`invocation`] and [`decide`] on each record; a record
/// over the size cap is an error line naming it, and the records after it are judged.
pub(super) fn reference(
    allowlist: &Allowlist,
    input: impl Read,
    origin: &str,
    res: &mut FileResult,
    lines: &mut Lines,
) {
    let outcome = {
        let mut judge = |rec: Result<FoundRecord, InputError>| -> Result<(), InputError> {
            let rec = match rec {
                Ok(rec) => rec,
                Err(e) => {
                    lines.error(res, format!("error: {e}"));
                    res.records += 1;
                    return Ok(());
                }
            };
            match invocation(&rec.record) {
                Ok(inv) => {
                    let verdict = decide(allowlist, &inv);
                    let time = rec.record.get("eventTime").and_then(Value::as_str);
                    res.judged(lines, &verdict, time, allowlist.home());
                }
                Err(e) => {
                    let at = if rec.path.is_empty() {
                        e.path.clone()
                    } else {
                        format!("{}.{}", rec.path, e.path)
                    };
                    lines.error(res, format!("error: {origin}: at {at}: {}", e.message));
                    res.records += 1;
                }
            }
            Ok(())
        };
        read_records(input, origin, ReadOptions::default(), &mut judge)
    };
    if let Err(e) = outcome {
        lines.error(res, format!("error: {e}"));
    }
}
