//! `check` over history: many trail files (directory trees, S3 prefixes) judged in parallel,
//! verdict lines written in input order, a progress bar and a summary of the violations.
//!
//! Each file is judged on its own worker thread by the one record reader: its typed pass
//! ([`read_typed`]) first, and where that pass cannot say ([`NotTyped`]: another wrapping, a
//! field of an unexpected type, a record error, bad gzip or JSON) the reference path
//! ([`read_records`] + [`invocation`]) from the start, its first lines (those the typed pass
//! wrote) not written again, so the output is the same byte for byte. Lines go to the writer as
//! they are judged through a bounded channel per file, so memory does not grow with a file.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::error::CliError;
use super::exit::Exit;
use super::sources::{self, Day, Range, Skipped};
use crate::allowlist::Allowlist;
use crate::record::event::{FileKind, file_kind};
use crate::record::{
    Caller, CallerKind, FoundRecord, InputError, MAX_INPUT_BYTES, NotTyped, ReadOptions,
    invocation, read_records, read_typed,
};
use crate::verdict::{Outcome, Verdict, decide};

/// How `check` reads and reports, besides its sources.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Files whose path carries a day (`YYYY/MM/DD`) before this one are not read.
    pub since: Option<Day>,
    /// Files whose path carries a day after this one are not read.
    pub until: Option<Day>,
    /// Verdict lines on stdout even when it is a terminal.
    pub json: bool,
    pub stdout_terminal: bool,
    pub stderr_terminal: bool,
    /// The home region, for an S3 client when no region is configured.
    pub region: Option<String>,
}

/// Judges every record of every source; see [`super::check`].
pub fn run(
    policies: &Allowlist,
    sources: &[PathBuf],
    opts: &CheckOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Exit, CliError> {
    let range = Range {
        since: opts.since,
        until: opts.until,
    };
    let stdin = [PathBuf::from("-")];
    let sources = if sources.is_empty() {
        &stdin[..]
    } else {
        sources
    };
    let workers = std::thread::available_parallelism()
        .map_or(2, std::num::NonZeroUsize::get)
        .clamp(1, 16);
    let (job_tx, job_rx) = sync_channel::<Job>(workers);
    let (slot_tx, slot_rx) = sync_channel::<Slot>(workers * 2 + 2);
    let job_rx = Mutex::new(job_rx);
    std::thread::scope(|s| {
        let region = opts.region.clone();
        s.spawn(move || dispatch(sources, range, region.as_deref(), &job_tx, &slot_tx));
        for _ in 0..workers {
            let job_rx = &job_rx;
            s.spawn(move || work(policies, job_rx));
        }
        write_results(slot_rx, opts, out, err)
    })
}

// ---------------------------------------------------------------------------------------------
// Enumerating the sources (one thread) and judging files (a pool of threads).

/// What the dispatcher hands the writer, in input order.
enum Slot {
    File(Receiver<Piece>),
    Note(String),
    Error(String),
    /// More files to come (for the progress bar).
    Total(usize),
}

struct Job {
    body: Body,
    done: SyncSender<Piece>,
}

enum Body {
    Path(PathBuf),
    Bytes {
        origin: String,
        bytes: Vec<u8>,
    },
    /// An S3 object too large to hold, in a temporary file.
    #[cfg(feature = "aws")]
    Spilled {
        origin: String,
        file: sources::s3::Spill,
    },
    Failed(String),
}

/// The writer went away (it failed to write): stop.
struct Stopped;

fn submit(body: Body, jobs: &SyncSender<Job>, slots: &SyncSender<Slot>) -> Result<(), Stopped> {
    let (done, rx) = sync_channel(PIECES_IN_FLIGHT);
    slots.send(Slot::File(rx)).map_err(|_| Stopped)?;
    jobs.send(Job { body, done }).map_err(|_| Stopped)
}

fn dispatch(
    sources: &[PathBuf],
    range: Range,
    region: Option<&str>,
    jobs: &SyncSender<Job>,
    slots: &SyncSender<Slot>,
) -> Result<(), Stopped> {
    let send = |slot: Slot| slots.send(slot).map_err(|_| Stopped);
    #[cfg(feature = "aws")]
    let mut runtime: Option<tokio::runtime::Runtime> = None;
    for source in sources {
        let name = source.display().to_string();
        if let Some(url) = source.to_str().and_then(sources::parse_s3_url) {
            match url {
                Err(e) => send(Slot::Error(format!("error: {e}")))?,
                #[cfg(feature = "aws")]
                Ok((bucket, prefix)) => {
                    if runtime.is_none() {
                        match tokio::runtime::Builder::new_multi_thread()
                            .worker_threads(2)
                            .enable_all()
                            .build()
                        {
                            Ok(rt) => runtime = Some(rt),
                            Err(e) => {
                                send(Slot::Error(format!(
                                    "error: {name}: cannot start the async runtime: {e}"
                                )))?;
                                continue;
                            }
                        }
                    }
                    if let Some(rt) = &runtime {
                        rt.block_on(dispatch_s3(
                            &name, bucket, prefix, range, region, jobs, slots,
                        ))?;
                    }
                }
                #[cfg(not(feature = "aws"))]
                Ok(_) => send(Slot::Error(format!(
                    "error: {name}: reading S3 needs invokeguard built with the `aws` feature"
                )))?,
            }
            continue;
        }
        if name != "-" && std::fs::metadata(source).is_ok_and(|m| m.is_dir()) {
            dispatch_dir(source, &name, range, jobs, slots)?;
            continue;
        }
        if name != "-" && !range.admits(sources::day_in_path(&name)) {
            send(Slot::Note(format!(
                "note: {name}: outside --since/--until, not read"
            )))?;
            continue;
        }
        send(Slot::Total(1))?;
        submit(Body::Path(source.clone()), jobs, slots)?;
    }
    Ok(())
}

fn dispatch_dir(
    dir: &Path,
    name: &str,
    range: Range,
    jobs: &SyncSender<Job>,
    slots: &SyncSender<Slot>,
) -> Result<(), Stopped> {
    let send = |slot: Slot| slots.send(slot).map_err(|_| Stopped);
    let files = match sources::walk(dir) {
        Ok(files) => files,
        Err(e) => return send(Slot::Error(format!("error: {name}: cannot read: {e}"))),
    };
    let mut skipped = Skipped::default();
    let mut trails = 0usize;
    let mut admitted = Vec::new();
    for f in files {
        let path = f.display().to_string();
        let relative = f.strip_prefix(dir).unwrap_or(&f).display().to_string();
        match file_kind(&relative) {
            FileKind::Digest => skipped.digests += 1,
            FileKind::Other => {
                skipped.others += 1;
                skipped.example.get_or_insert(path);
            }
            FileKind::Trail => {
                trails += 1;
                if range.admits(sources::day_in_path(&path)) {
                    admitted.push(f);
                } else {
                    skipped.out_of_range += 1;
                }
            }
        }
    }
    if trails == 0 {
        return send(Slot::Error(format!(
            "error: {name}: is a directory with no trail files (*.json.gz) in it"
        )));
    }
    if let Some(note) = skipped.note(name) {
        send(Slot::Note(note))?;
    }
    send(Slot::Total(admitted.len()))?;
    for f in admitted {
        submit(Body::Path(f), jobs, slots)?;
    }
    Ok(())
}

#[cfg(feature = "aws")]
async fn dispatch_s3(
    name: &str,
    bucket: String,
    prefix: String,
    range: Range,
    region: Option<&str>,
    jobs: &SyncSender<Job>,
    slots: &SyncSender<Slot>,
) -> Result<(), Stopped> {
    use sources::s3;

    enum Item {
        Total(usize),
        Fetch(String, tokio::task::JoinHandle<Result<s3::Fetched, String>>),
        Failed(String),
        Done(usize, Skipped),
    }
    let client = s3::client(region).await;
    // Fetches start as keys are listed; the channel's bound keeps at most IN_FLIGHT of them
    // (and their bodies) ahead of the judges.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Item>(s3::IN_FLIGHT);
    let url = name.to_owned();
    let lister = tokio::spawn(async move {
        let mut token = None;
        let mut skipped = Skipped::default();
        let mut trails = 0usize;
        loop {
            let (keys, next) = match s3::list_page(&client, &bucket, &prefix, token).await {
                Ok(page) => page,
                Err(e) => {
                    let _ = tx
                        .send(Item::Failed(format!("error: {url}: cannot list: {e}")))
                        .await;
                    return;
                }
            };
            let mut admitted = Vec::new();
            for key in keys {
                match file_kind(&key) {
                    FileKind::Digest => skipped.digests += 1,
                    FileKind::Other => {
                        skipped.others += 1;
                        skipped
                            .example
                            .get_or_insert_with(|| format!("s3://{bucket}/{key}"));
                    }
                    FileKind::Trail if range.admits(sources::day_in_path(&key)) => {
                        trails += 1;
                        admitted.push(key);
                    }
                    FileKind::Trail => {
                        trails += 1;
                        skipped.out_of_range += 1;
                    }
                }
            }
            if tx.send(Item::Total(admitted.len())).await.is_err() {
                return;
            }
            for key in admitted {
                let origin = format!("s3://{bucket}/{key}");
                let fetch = tokio::spawn(s3::get(client.clone(), bucket.clone(), key));
                if tx.send(Item::Fetch(origin, fetch)).await.is_err() {
                    return;
                }
            }
            match next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        let _ = tx.send(Item::Done(trails, skipped)).await;
    });
    let send = |slot: Slot| slots.send(slot).map_err(|_| Stopped);
    let mut result = Ok(());
    while let Some(item) = rx.recv().await {
        result = match item {
            Item::Total(n) => send(Slot::Total(n)),
            Item::Failed(e) => send(Slot::Error(e)),
            Item::Fetch(origin, fetch) => {
                let body = match fetch.await {
                    Ok(Ok(s3::Fetched::Bytes(bytes))) => Body::Bytes { origin, bytes },
                    Ok(Ok(s3::Fetched::Spilled(file))) => Body::Spilled { origin, file },
                    Ok(Err(e)) => Body::Failed(format!("error: {origin}: {e}")),
                    Err(e) => Body::Failed(format!("error: {origin}: cannot read: {e}")),
                };
                submit(body, jobs, slots)
            }
            Item::Done(0, _) => send(Slot::Error(format!(
                "error: {name}: no trail files (*.json.gz) under it"
            ))),
            Item::Done(_, skipped) => match skipped.note(name) {
                Some(note) => send(Slot::Note(note)),
                None => Ok(()),
            },
        };
        if result.is_err() {
            lister.abort();
            break;
        }
    }
    result
}

fn work(policies: &Allowlist, jobs: &Mutex<Receiver<Job>>) {
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let mut lines = Lines::to(job.done.clone());
        let result = match job.body {
            Body::Path(path) => judge_path(policies, &path, &mut lines),
            Body::Bytes { origin, bytes } => {
                judge(policies, &Source::Bytes(&bytes), &origin, &mut lines)
            }
            #[cfg(feature = "aws")]
            Body::Spilled { origin, file } => {
                judge(policies, &Source::File(file.path()), &origin, &mut lines)
            }
            Body::Failed(message) => FileResult::failed(message),
        };
        lines.finish(result);
    }
}

// ---------------------------------------------------------------------------------------------
// Judging one input.

/// What judging one input produced, besides its lines.
#[derive(Debug, Default)]
pub(crate) struct FileResult {
    /// Verdict lines, when they are kept ([`judge_input`]) rather than streamed to the writer.
    #[cfg(test)]
    pub out: Vec<u8>,
    /// Error lines, when they are kept rather than streamed.
    pub errors: Vec<String>,
    pub bad: bool,
    pub violating: bool,
    pub records: u64,
    pub summary: Summary,
    /// Whether the typed pass read it (else the reference path did).
    pub fast: bool,
}

impl FileResult {
    fn failed(message: String) -> Self {
        FileResult {
            errors: vec![message],
            bad: true,
            ..FileResult::default()
        }
    }

    fn judged(&mut self, lines: &mut Lines, verdict: &Verdict, event_time: Option<&str>) {
        self.records += 1;
        if let Err(e) = lines.verdict(verdict) {
            lines.error(self, format!("error: cannot write a verdict: {e}"));
        }
        if verdict.outcome == Outcome::Violation {
            self.violating = true;
            self.summary.add(verdict, event_time);
        }
    }
}

/// What a worker hands the writer for one input, in order: lines as they are judged, then the
/// counts. The channel's bound is what a file's output may hold in memory.
pub(crate) enum Piece {
    Out(Vec<u8>),
    Err(String),
    Done(FileResult),
}

/// Pieces of one file's output waiting for the writer: a file ahead of it may still be judged.
const PIECES_IN_FLIGHT: usize = 4;
/// Verdict lines are sent in chunks of about this size.
const CHUNK_BYTES: usize = 64 * 1024;

/// Where a file's verdict and error lines go: to the writer through a bounded channel (so no
/// file's output is held whole), or kept (tests).
pub(crate) struct Lines {
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
    fn to(tx: SyncSender<Piece>) -> Lines {
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
    fn kept() -> Lines {
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

    fn finish(mut self, mut res: FileResult) {
        self.flush();
        let errors = std::mem::take(&mut res.errors);
        for e in errors {
            self.send(Piece::Err(e));
        }
        self.send(Piece::Done(res));
    }

    #[cfg(test)]
    fn into_kept(self, res: &mut FileResult) {
        res.out = self.buf;
        res.errors.extend(self.kept_errors);
    }
}

/// An input a worker judges: a file or an S3 body can be read twice (the typed pass, then the
/// reference path when it hands over); stdin is read once, by the reference path.
enum Source<'a> {
    File(&'a Path),
    Bytes(&'a [u8]),
    Stdin,
}

impl Source<'_> {
    fn open(&self) -> std::io::Result<Box<dyn Read + '_>> {
        Ok(match self {
            Source::File(path) => Box::new(std::fs::File::open(path)?),
            Source::Bytes(bytes) => Box::new(*bytes),
            Source::Stdin => Box::new(std::io::stdin().lock()),
        })
    }
}

fn judge_path(policies: &Allowlist, path: &Path, lines: &mut Lines) -> FileResult {
    let name = path.display().to_string();
    if name == "-" {
        return judge(policies, &Source::Stdin, "(stdin)", lines);
    }
    let failed = |e: CliError| FileResult::failed(format!("error: {e}"));
    match std::fs::metadata(path) {
        Err(source) => failed(CliError::Read { file: name, source }),
        Ok(m) if m.is_dir() => failed(CliError::Directory { file: name }),
        Ok(m) if m.len() > MAX_INPUT_BYTES => failed(CliError::TooLarge { file: name }),
        Ok(_) => judge(policies, &Source::File(path), &name, lines),
    }
}

/// Judges one input (gzip or not) as `check` always has, its lines streamed as they come.
fn judge(policies: &Allowlist, source: &Source<'_>, origin: &str, lines: &mut Lines) -> FileResult {
    let mut res = FileResult::default();
    if !matches!(source, Source::Stdin) {
        let typed = match source.open() {
            Ok(input) => read_typed(input, ReadOptions::default(), &mut |inv, time| {
                let verdict = decide(policies, inv);
                res.judged(lines, &verdict, time);
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
        Ok(input) => reference(policies, input, origin, &mut res, lines),
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
pub(crate) fn judge_input(policies: &Allowlist, bytes: &[u8], origin: &str) -> FileResult {
    let mut lines = Lines::kept();
    let mut res = judge(policies, &Source::Bytes(bytes), origin, &mut lines);
    lines.into_kept(&mut res);
    res
}

/// The reference path: [`read_records`], [`invocation`] and [`decide`] on each record; a record
/// over the size cap is an error line naming it, and the records after it are judged.
fn reference(
    policies: &Allowlist,
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
                    let verdict = decide(policies, &inv);
                    let time = rec.record.get("eventTime").and_then(Value::as_str);
                    res.judged(lines, &verdict, time);
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

// ---------------------------------------------------------------------------------------------
// The summary of violations.

/// Violations per function and caller.
#[derive(Debug, Default)]
pub(crate) struct Summary {
    rows: HashMap<(String, String), Row>,
}

#[derive(Debug, Clone)]
struct Row {
    kind: CallerKind,
    count: u64,
    first: Option<String>,
    last: Option<String>,
}

/// The caller as the summary names it: the verdict's principal, else its account, else the
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

impl Summary {
    fn add(&mut self, v: &Verdict, time: Option<&str>) {
        let key = (
            v.function.clone().unwrap_or_else(|| "-".to_owned()),
            caller_name(&v.caller),
        );
        let time = time.map(str::to_owned);
        let row = self.rows.entry(key).or_insert_with(|| Row {
            kind: v.caller.kind,
            count: 0,
            first: None,
            last: None,
        });
        row.count += 1;
        row.first = earlier(row.first.take(), time.clone());
        row.last = later(row.last.take(), time);
    }

    fn merge(&mut self, other: Summary) {
        for (key, r) in other.rows {
            match self.rows.get_mut(&key) {
                Some(row) => {
                    row.count += r.count;
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

    fn write_table(&self, totals: &Totals, out: &mut dyn Write) -> std::io::Result<()> {
        let mut rows: Vec<(&(String, String), &Row)> = self.rows.iter().collect();
        rows.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(b.0)));
        let kind = |k: CallerKind| match k {
            CallerKind::Service => "service",
            CallerKind::Account => "account",
            CallerKind::Iam => "iam",
            CallerKind::Unknown => "unknown",
        };
        let header = [
            "FUNCTION",
            "CALLER",
            "KIND",
            "COUNT",
            "FIRST SEEN",
            "LAST SEEN",
        ]
        .map(String::from);
        let cells: Vec<[String; 6]> = rows
            .iter()
            .map(|((function, caller), r)| {
                [
                    function.clone(),
                    caller.clone(),
                    kind(r.kind).to_owned(),
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
                    if i == 3 {
                        line.push_str(&format!("{cell:>width$}  ", width = widths[i]));
                    } else {
                        line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
                    }
                }
                writeln!(out, "{}", line.trim_end())?;
            }
            writeln!(out)?;
        }
        writeln!(
            out,
            "{} violations by {} function/caller pairs in {} records from {} files ({:.1} s, {:.0} records/s).",
            self.violations(),
            self.rows.len(),
            totals.records,
            totals.files,
            totals.elapsed.as_secs_f64(),
            totals.rate(),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Writing the results in order, with a progress bar.

struct Totals {
    files: usize,
    expected: usize,
    records: u64,
    elapsed: Duration,
}

impl Totals {
    fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.records as f64 / secs
        } else {
            0.0
        }
    }
}

struct Progress {
    on: bool,
    shown: bool,
    last: Option<Instant>,
}

impl Progress {
    fn draw(&mut self, totals: &Totals, err: &mut dyn Write, force: bool) {
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
        let filled = (totals.files * width)
            .checked_div(totals.expected)
            .unwrap_or(0)
            .min(width);
        let _ = write!(
            err,
            "\r\x1b[2K[{}{}] {}/{} files  {} records  {:.0} records/s",
            "#".repeat(filled),
            " ".repeat(width - filled),
            totals.files,
            totals.expected,
            totals.records,
            totals.rate()
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

fn write_results(
    slots: Receiver<Slot>,
    opts: &CheckOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Exit, CliError> {
    let json = opts.json || !opts.stdout_terminal;
    let start = Instant::now();
    let mut totals = Totals {
        files: 0,
        expected: 0,
        records: 0,
        elapsed: Duration::ZERO,
    };
    let mut progress = Progress {
        on: opts.stderr_terminal,
        shown: false,
        last: None,
    };
    let mut summary = Summary::default();
    let (mut bad, mut violating) = (false, false);
    for slot in slots.iter() {
        match slot {
            Slot::Total(n) => totals.expected += n,
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
                totals.files += 1;
                totals.records += res.records;
                summary.merge(res.summary);
            }
        }
        totals.elapsed = start.elapsed();
        progress.draw(&totals, err, false);
    }
    totals.elapsed = start.elapsed();
    progress.draw(&totals, err, true);
    progress.clear(err);
    out.flush().map_err(CliError::Output)?;
    if !json {
        summary
            .write_table(&totals, out)
            .map_err(CliError::Output)?;
        out.flush().map_err(CliError::Output)?;
    } else if opts.stderr_terminal {
        let _ = summary.write_table(&totals, err);
    }
    Ok(if bad {
        Exit::BadInput
    } else if violating {
        Exit::Findings
    } else {
        Exit::Ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    /// Every fixture file under tests/fixtures (records, events, trail files, fuzz seeds).
    fn fixtures() -> Vec<PathBuf> {
        sources::walk(&root().join("tests/fixtures"))
            .expect("fixtures")
            .into_iter()
            .filter(|p| {
                let s = p.to_string_lossy();
                (s.ends_with(".json") || s.ends_with(".gz")) && !s.contains("policies_loader")
            })
            .collect()
    }

    fn policies(home: bool) -> Allowlist {
        let p = Allowlist::from_json(
            r#"{"version": 1, "functions": {
                "function239": {"allow": [{"account": "222233334444"}, {"service": "apigateway.amazonaws.com"}]},
                "Blog": {"allow": [{"service": "s3.amazonaws.com", "sourceArn": "arn:aws:s3:::uploads", "sourceAccount": "111122223333"},
                                   {"principal": "arn:aws:iam::111111111111:role/service-role/StepFunctionsRole"},
                                   {"organization": "o-a1b2c3d4e5"}]},
                "my-function": {"allow": [{"functionUrl": "public"}, {"account": "123456789012"}]},
                "function-url-fn": {"allow": [{"account": "444455556666", "action": "lambda:InvokeFunctionUrl"}]}
            }}"#,
            "p",
            None,
        )
        .expect("valid policies");
        if home {
            p.set_home(
                crate::aws::home::Home::new("aws", "us-west-1", "111111111111").expect("home"),
            )
            .expect("home set");
        }
        p
    }

    fn reference_only(p: &Allowlist, bytes: &[u8], origin: &str) -> FileResult {
        let mut r = FileResult::default();
        let mut lines = Lines::kept();
        reference(p, bytes, origin, &mut r, &mut lines);
        lines.into_kept(&mut r);
        r
    }

    fn same(p: &Allowlist, bytes: &[u8], origin: &str) -> bool {
        let fast = judge_input(p, bytes, origin);
        let slow = reference_only(p, bytes, origin);
        assert_eq!(
            String::from_utf8_lossy(&fast.out),
            String::from_utf8_lossy(&slow.out),
            "{origin}: verdict lines differ"
        );
        assert_eq!(fast.errors, slow.errors, "{origin}");
        assert_eq!(
            (fast.bad, fast.violating, fast.records),
            (slow.bad, slow.violating, slow.records),
            "{origin}"
        );
        let rows = |s: &Summary| {
            let mut v: Vec<_> = s
                .rows
                .iter()
                .map(|(k, r)| (k.clone(), r.count, r.first.clone(), r.last.clone()))
                .collect();
            v.sort();
            v
        };
        assert_eq!(rows(&fast.summary), rows(&slow.summary), "{origin}");
        fast.fast
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).expect("gzip");
        enc.finish().expect("gzip")
    }

    /// Every record found in the fixtures, as written (the reference reader's values).
    fn fixture_records() -> Vec<Value> {
        fixtures()
            .iter()
            .filter_map(|f| std::fs::read(f).ok())
            .filter_map(|b| crate::record::parse_input(&b, "f").ok())
            .flatten()
            .map(|r| r.record)
            .collect()
    }

    #[test]
    fn the_typed_pass_judges_every_fixture_as_the_reference_path_does() {
        for home in [false, true] {
            let p = policies(home);
            // The fixture files as they are (most are not trail files: the reference path reads them).
            for f in fixtures() {
                let bytes = std::fs::read(&f).expect("read fixture");
                let origin = f.display().to_string();
                same(&p, &bytes, &origin);
                same(&p, &gzip(&bytes), &origin);
            }
            // Every record of every fixture in one trail file: the typed pass must read it.
            let records = fixture_records();
            assert!(records.len() > 20, "{} records", records.len());
            let trail = serde_json::to_vec(&serde_json::json!({"Records": records})).expect("json");
            same(&p, &trail, "all.json");
            same(&p, &gzip(&trail), "all.json.gz");
            // One record per trail file: the typed pass reads every record the reference reader
            // accepts (the others, fuzz seeds with mistyped fields, fall back).
            for (i, r) in records.iter().enumerate() {
                let one =
                    serde_json::to_vec(&serde_json::json!({"Records": [r], "x": 1})).expect("json");
                let fast = same(&p, &one, &format!("record {i}"));
                let accepted = invocation(r).is_ok();
                assert_eq!(fast, accepted, "record {i}: {r}");
            }
            let good: Vec<&Value> = records.iter().filter(|r| invocation(r).is_ok()).collect();
            assert!(good.len() > 20, "{} records", good.len());
            let trail = serde_json::to_vec(&serde_json::json!({"Records": good})).expect("json");
            assert!(same(&p, &trail, "good.json"), "the typed pass read it");
            assert!(same(&p, &gzip(&trail), "good.json.gz"));
        }
    }

    #[test]
    fn odd_fields_fall_back_to_the_reference_path_with_the_same_result() {
        let p = policies(true);
        let oddities = [
            serde_json::json!(5),
            serde_json::json!(null),
            serde_json::json!(true),
            serde_json::json!([]),
            serde_json::json!(["a", "b"]),
            serde_json::json!({}),
            serde_json::json!({"arn": 1}),
            serde_json::json!("s"),
            serde_json::json!([{"ARN": 1}]),
            serde_json::json!([null]),
        ];
        let paths: &[&[&str]] = &[
            &["eventSource"],
            &["eventName"],
            &["eventID"],
            &["errorCode"],
            &["eventTime"],
            &["recipientAccountId"],
            &["userIdentity"],
            &["userIdentity", "type"],
            &["userIdentity", "arn"],
            &["userIdentity", "accountId"],
            &["userIdentity", "invokedBy"],
            &["userIdentity", "sessionContext"],
            &["userIdentity", "sessionContext", "sessionIssuer"],
            &["userIdentity", "sessionContext", "sessionIssuer", "arn"],
            &["requestParameters"],
            &["requestParameters", "functionName"],
            &["requestParameters", "qualifier"],
            &["requestParameters", "sourceArn"],
            &["requestParameters", "sourceAccount"],
            &["additionalEventData"],
            &["additionalEventData", "functionVersion"],
            &["resources"],
        ];
        let mut count = 0;
        for base in fixture_records().into_iter().take(40) {
            for path in paths {
                for odd in &oddities {
                    let mut r = base.clone();
                    let mut at = &mut r;
                    for (i, k) in path.iter().enumerate() {
                        if i + 1 == path.len() {
                            if let Some(o) = at.as_object_mut() {
                                o.insert((*k).to_owned(), odd.clone());
                            }
                            break;
                        }
                        if !at.get(*k).is_some_and(Value::is_object)
                            && let Some(o) = at.as_object_mut()
                        {
                            o.insert((*k).to_owned(), serde_json::json!({}));
                        }
                        let Some(next) = at.get_mut(*k) else { break };
                        at = next;
                    }
                    let trail = serde_json::to_vec(&serde_json::json!({"Records": [base, r]}))
                        .expect("json");
                    same(&p, &trail, &format!("{path:?}={odd}"));
                    count += 1;
                }
            }
        }
        assert!(count > 1000);
    }

    #[test]
    fn text_level_oddities_match_too() {
        let p = policies(true);
        let rec = r#"{"eventSource":"lambda.amazonaws.com","eventName":"Invoke","eventID":"e","userIdentity":{"type":"AWSAccount","accountId":"999999999999"},"resources":[{"ARN":"arn:aws:lambda:us-west-1:111111111111:function:Blog"}]}"#;
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let cases = [
            format!(r#"{{"Records":[{rec}]}}"#),
            format!(r#"  {{"Records":[{rec},{rec}]}}  "#),
            format!(r#"{{"Records":[{rec}],"Records":[{rec}]}}"#),
            format!(r#"{{"a":{deep},"Records":[{rec}]}}"#),
            format!(r#"{{"Records":[{rec}],"a":{deep}}}"#),
            format!(r#"{{"Records":[{{"x":{deep},"eventName":"Invoke"}}]}}"#),
            r#"{"Records":[{"eventSource":"lambda.amazonaws.com","eventSource":"ec2.amazonaws.com","eventName":"Invoke"}]}"#.to_owned(),
            r#"{"Records":[{"eventSource":"ec2.amazonaws.com","eventSource":"lambda.amazonaws.com","eventName":"Invoke","userIdentity":{"type":"AWSService","invokedBy":"s3.amazonaws.com","invokedBy":"sns.amazonaws.com"},"resources":[{"ARN":"arn:aws:lambda:us-west-1:111111111111:function:Blog"}]}]}"#.to_owned(),
            r#"{"Records":[{"event\u0053ource":"lambda.amazonaws.com","eventName":"Inv\u006fke","userIdentity":{"type":"AWSService","invokedBy":"s3.amazonaws.com"},"resources":[{"ARN":"arn:aws:lambda:us-west-1:111111111111:function:Blog"}]}]}"#.to_owned(),
            r#"{"Records":[{"eventName":"Invoke","x":"\ud800"}]}"#.to_owned(),
            r#"{"Records":[{"eventName":"Invoke","x":"\u00e9\ud83d\ude00"}]}"#.to_owned(),
            r#"{"Records":[{"eventName":"Invoke","x":1e999}]}"#.to_owned(),
            format!(r#"{{"Records":[{rec}]}} x"#),
            format!(r#"{{"Records":[{rec}, 5]}}"#),
            format!(r#"{{"Records":[{rec}, [] ]}}"#),
            r#"{"Records":{}}"#.to_owned(),
            r#"{"Records":[]}"#.to_owned(),
            r#"{"records":[]}"#.to_owned(),
            format!(r#"[{{"Records":[{rec}]}}]"#),
            format!(r#"{{"Records":[{rec}"#),
        ];
        for (i, c) in cases.iter().enumerate() {
            same(&p, c.as_bytes(), &format!("case {i}"));
            same(&p, &gzip(c.as_bytes()), &format!("gz case {i}"));
        }
        let mut invalid = format!(r#"{{"Records":[{rec}],"x":""#).into_bytes();
        invalid.extend_from_slice(b"\xff\xfe\"}");
        same(&p, &invalid, "invalid utf-8");
        let mut truncated = gzip(cases[0].as_bytes());
        truncated.truncate(truncated.len() - 6);
        same(&p, &truncated, "truncated gzip");
    }
}
