//! `check` over history: many trail files (directory trees, S3 prefixes) judged in parallel,
//! verdict lines written in input order, a progress bar and a summary of the violations.
//!
//! Each file is judged on its own worker thread. A trail log file (`{"Records":[...]}`) is read
//! by a typed pass that keeps only the fields a verdict needs ([`fast`]); anything that pass does
//! not handle exactly as [`for_each_record`] + [`invocation`] would (another wrapping, a field of
//! an unexpected type, a duplicate `Records`, bad gzip or JSON, a record error) makes the whole
//! file go through that reference path instead, so the output is the same byte for byte.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::Exit;
use super::inputs::{CliError, read_limited};
use super::sources::{self, Day, FileKind, Range, Skipped};
use crate::allowlist::Allowlist;
use crate::record::{
    Caller, CallerKind, FoundRecord, InputError, Invocation, for_each_record, invocation,
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
    File(Receiver<FileResult>),
    Note(String),
    Error(String),
    /// More files to come (for the progress bar).
    Total(usize),
}

struct Job {
    body: Body,
    done: SyncSender<FileResult>,
}

enum Body {
    Path(PathBuf),
    Bytes { origin: String, bytes: Vec<u8> },
    Failed(String),
}

/// The writer went away (it failed to write): stop.
struct Stopped;

fn submit(body: Body, jobs: &SyncSender<Job>, slots: &SyncSender<Slot>) -> Result<(), Stopped> {
    let (done, rx) = sync_channel(1);
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
        match sources::classify(&relative) {
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
        Fetch(String, tokio::task::JoinHandle<Result<Vec<u8>, String>>),
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
                match sources::classify(&key) {
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
                    Ok(Ok(bytes)) => Body::Bytes { origin, bytes },
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
        let result = match job.body {
            Body::Path(path) => match read_limited(&path) {
                Ok((origin, bytes)) => judge_input(policies, &bytes, &origin),
                Err(e) => FileResult::failed(format!("error: {e}")),
            },
            Body::Bytes { origin, bytes } => judge_input(policies, &bytes, &origin),
            Body::Failed(message) => FileResult::failed(message),
        };
        let _ = job.done.send(result);
    }
}

// ---------------------------------------------------------------------------------------------
// Judging one input.

/// What judging one input produced.
#[derive(Debug, Default)]
pub(crate) struct FileResult {
    /// Verdict lines, as `check` prints them.
    pub out: Vec<u8>,
    /// Error lines for stderr.
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

    fn judged(&mut self, verdict: &Verdict, event_time: Option<&str>) {
        self.records += 1;
        match serde_json::to_writer(&mut self.out, verdict) {
            Ok(()) => self.out.push(b'\n'),
            Err(e) => {
                self.errors
                    .push(format!("error: cannot write a verdict: {e}"));
                self.bad = true;
            }
        }
        if verdict.verdict == Outcome::Violation {
            self.violating = true;
            self.summary.add(verdict, event_time);
        }
    }
}

/// Judges one input's bytes (gzip or not) as `check` always has.
pub(crate) fn judge_input(policies: &Allowlist, bytes: &[u8], origin: &str) -> FileResult {
    let mut res = FileResult::default();
    if fast(policies, bytes, &mut res).is_ok() {
        res.fast = true;
        return res;
    }
    let mut res = FileResult::default();
    reference(policies, bytes, origin, &mut res);
    res
}

/// The reference path: [`for_each_record`], [`invocation`] and [`decide`] on each record.
pub(crate) fn reference(policies: &Allowlist, bytes: &[u8], origin: &str, res: &mut FileResult) {
    let mut errors = Vec::new();
    let outcome = {
        let mut judge = |rec: FoundRecord| -> Result<(), InputError> {
            match invocation(&rec.record) {
                Ok(inv) => {
                    let verdict = decide(policies, &inv);
                    let time = rec.record.get("eventTime").and_then(Value::as_str);
                    res.judged(&verdict, time);
                }
                Err(e) => {
                    let at = if rec.path.is_empty() {
                        e.path.clone()
                    } else {
                        format!("{}.{}", rec.path, e.path)
                    };
                    errors.push(format!("error: {origin}: at {at}: {}", e.message));
                    res.records += 1;
                }
            }
            Ok(())
        };
        for_each_record(bytes, origin, &mut judge)
    };
    if let Err(e) = outcome {
        errors.push(format!("error: {e}"));
    }
    res.bad |= !errors.is_empty();
    res.errors.extend(errors);
}

/// Decompressed trail files up to this size are judged from memory by the typed pass; larger
/// ones are streamed by the reference path.
const FAST_LIMIT: u64 = 64 * 1024 * 1024;

/// The typed pass over a trail log file `{"Records":[...]}`. `Err` means "use the reference
/// path"; whatever was written to `res` is then thrown away.
fn fast(policies: &Allowlist, bytes: &[u8], res: &mut FileResult) -> Result<(), ()> {
    let text: Cow<'_, [u8]> = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut decoded =
            Vec::with_capacity(bytes.len().saturating_mul(10).min(FAST_LIMIT as usize));
        flate2::read::MultiGzDecoder::new(bytes)
            .take(FAST_LIMIT + 1)
            .read_to_end(&mut decoded)
            .map_err(drop)?;
        if decoded.len() as u64 > FAST_LIMIT {
            return Err(());
        }
        Cow::Owned(decoded)
    } else {
        Cow::Borrowed(bytes)
    };
    let mut de = serde_json::Deserializer::from_slice(&text);
    de.deserialize_any(TopVisitor { policies, res })
        .map_err(drop)?;
    de.end().map_err(drop)
}

/// The reason the typed pass hands a file to the reference path.
fn fall_back<E: de::Error>() -> E {
    E::custom("not for the typed pass")
}

struct TopVisitor<'p, 'r> {
    policies: &'p Allowlist,
    res: &'r mut FileResult,
}

impl<'de> Visitor<'de> for TopVisitor<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a trail log file")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = false;
        while let Some(key) = map.next_key_seed(Key(&["Records"]))? {
            match key {
                Some(_) if !seen => {
                    seen = true;
                    map.next_value_seed(RecordsSeed {
                        policies: self.policies,
                        res: &mut *self.res,
                    })?;
                }
                Some(_) => return Err(fall_back()),
                None => map.next_value_seed(Skip)?,
            }
        }
        if seen { Ok(()) } else { Err(fall_back()) }
    }
}

struct RecordsSeed<'p, 'r> {
    policies: &'p Allowlist,
    res: &'r mut FileResult,
}

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(record) = seq.next_element_seed(Lenient::<FastRecord<'de>>::seed())? {
            let Lenient::Some(record) = record else {
                return Err(fall_back());
            };
            let (inv, time) = record.invocation().ok_or_else(fall_back)?;
            let verdict = decide(self.policies, &inv);
            self.res.judged(&verdict, time);
        }
        Ok(())
    }
}

/// A string field: absent or null, a string, or something else (which a Lambda record's
/// reader would refuse).
#[derive(Debug, Default)]
enum Text<'de> {
    #[default]
    Null,
    Str(Cow<'de, str>),
    Other,
}

impl Text<'_> {
    /// `None` when the field is of another type.
    fn get(&self) -> Option<Option<&str>> {
        match self {
            Text::Null => Some(None),
            Text::Str(s) => Some(Some(s)),
            Text::Other => None,
        }
    }

    fn put(&self, map: &mut Map<String, Value>, key: &str) -> Option<()> {
        if let Some(s) = self.get()? {
            map.insert(key.to_owned(), Value::String(s.to_owned()));
        }
        Some(())
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
        Ok(Text::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
        Ok(Text::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'de>, E> {
        Ok(Text::Str(Cow::Owned(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Text<'de>, E> {
        Ok(Text::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Text<'de>, E> {
        Ok(Text::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Text<'de>, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Text<'de>, E> {
        Ok(Text::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Text<'de>, E> {
        Ok(Text::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Text<'de>, E> {
        Ok(Text::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Text<'de>, E> {
        Ok(Text::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Text<'de>, A::Error> {
        Skip.visit_seq(seq)?;
        Ok(Text::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Text<'de>, A::Error> {
        Skip.visit_map(map)?;
        Ok(Text::Other)
    }
}

impl<'de> de::Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

/// An object with the fields the engine reads, named in `NAMES`, the last occurrence of a key
/// winning as in a [`Value`].
trait Fields<'de>: Default {
    const NAMES: &'static [&'static str];
    fn field<A: MapAccess<'de>>(&mut self, index: usize, map: &mut A) -> Result<(), A::Error>;
}

/// An object field: absent or null, the object, or something else.
#[derive(Debug, Default)]
enum Lenient<T> {
    #[default]
    Null,
    Some(T),
    Other,
}

impl<T> Lenient<T> {
    fn seed() -> LenientSeed<T> {
        LenientSeed(PhantomData)
    }
}

struct LenientSeed<T>(PhantomData<T>);

impl<'de, T: Fields<'de>> DeserializeSeed<'de> for LenientSeed<T> {
    type Value = Lenient<T>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Lenient<T>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: Fields<'de>> de::Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Lenient::<T>::seed().deserialize(d)
    }
}

impl<'de, T: Fields<'de>> Visitor<'de> for LenientSeed<T> {
    type Value = Lenient<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Lenient<T>, A::Error> {
        let mut value = T::default();
        while let Some(key) = map.next_key_seed(Key(T::NAMES))? {
            match key {
                Some(i) => value.field(i, &mut map)?,
                None => map.next_value_seed(Skip)?,
            }
        }
        Ok(Lenient::Some(value))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Lenient<T>, E> {
        Ok(Lenient::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Lenient<T>, E> {
        Ok(Lenient::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Lenient<T>, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Lenient<T>, E> {
        Ok(Lenient::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Lenient<T>, E> {
        Ok(Lenient::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Lenient<T>, E> {
        Ok(Lenient::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Lenient<T>, E> {
        Ok(Lenient::Other)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Lenient<T>, E> {
        Ok(Lenient::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Lenient<T>, A::Error> {
        Skip.visit_seq(seq)?;
        Ok(Lenient::Other)
    }
}

/// An array field of objects (`resources`): absent or null, the elements, or something else.
#[derive(Debug, Default)]
enum List<T> {
    #[default]
    Null,
    Some(Vec<Lenient<T>>),
    Other,
}

struct ListVisitor<T>(PhantomData<T>);

impl<'de, T: Fields<'de>> de::Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ListVisitor(PhantomData))
    }
}

impl<'de, T: Fields<'de>> Visitor<'de> for ListVisitor<T> {
    type Value = List<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List<T>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Lenient::<T>::seed())? {
            items.push(item);
        }
        Ok(List::Some(items))
    }

    fn visit_unit<E: de::Error>(self) -> Result<List<T>, E> {
        Ok(List::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<List<T>, E> {
        Ok(List::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<List<T>, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<List<T>, E> {
        Ok(List::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<List<T>, E> {
        Ok(List::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<List<T>, E> {
        Ok(List::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<List<T>, E> {
        Ok(List::Other)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<List<T>, E> {
        Ok(List::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<List<T>, A::Error> {
        Skip.visit_map(map)?;
        Ok(List::Other)
    }
}

/// Objects as [`Value`]s of only the kept fields, or `None` when a field has another type.
trait ToValue {
    fn to_value(&self) -> Option<Value>;
}

fn put<T: ToValue>(map: &mut Map<String, Value>, key: &str, field: &Lenient<T>) -> Option<()> {
    match field {
        Lenient::Null => Some(()),
        Lenient::Some(v) => {
            map.insert(key.to_owned(), v.to_value()?);
            Some(())
        }
        Lenient::Other => None,
    }
}

/// Declares a struct of [`Text`]/[`Lenient`]/[`List`] fields with their JSON names.
macro_rules! fields {
    ($name:ident { $($field:ident : $ty:ty = $json:literal),* $(,)? }) => {
        #[derive(Debug, Default)]
        struct $name<'de> {
            $($field: $ty,)*
            _life: PhantomData<&'de ()>,
        }

        impl<'de> Fields<'de> for $name<'de> {
            const NAMES: &'static [&'static str] = &[$($json),*];

            fn field<A: MapAccess<'de>>(&mut self, index: usize, map: &mut A) -> Result<(), A::Error> {
                let mut i = 0usize;
                $(
                    if index == i {
                        self.$field = map.next_value()?;
                        return Ok(());
                    }
                    i += 1;
                )*
                let _ = i;
                map.next_value_seed(Skip)
            }
        }
    };
}

fields!(FastRecord {
    event_source: Text<'de> = "eventSource",
    event_name: Text<'de> = "eventName",
    event_id: Text<'de> = "eventID",
    error_code: Text<'de> = "errorCode",
    event_time: Text<'de> = "eventTime",
    user_identity: Lenient<Identity<'de>> = "userIdentity",
    request_parameters: Lenient<Request<'de>> = "requestParameters",
    additional_event_data: Lenient<Additional<'de>> = "additionalEventData",
    resources: List<Resource<'de>> = "resources",
    recipient_account_id: Text<'de> = "recipientAccountId",
    aws_region: Text<'de> = "awsRegion",
});

fields!(Identity {
    kind: Text<'de> = "type",
    arn: Text<'de> = "arn",
    account_id: Text<'de> = "accountId",
    invoked_by: Text<'de> = "invokedBy",
    session_context: Lenient<SessionContext<'de>> = "sessionContext",
});

fields!(SessionContext {
    session_issuer: Lenient<Issuer<'de>> = "sessionIssuer",
});

fields!(Issuer { arn: Text<'de> = "arn" });

fields!(Request {
    function_name: Text<'de> = "functionName",
    qualifier: Text<'de> = "qualifier",
    source_arn: Text<'de> = "sourceArn",
    source_account: Text<'de> = "sourceAccount",
});

fields!(Additional {
    function_version: Text<'de> = "functionVersion",
});

fields!(Resource {
    arn: Text<'de> = "ARN",
    kind: Text<'de> = "type",
});

impl ToValue for Identity<'_> {
    fn to_value(&self) -> Option<Value> {
        let mut m = Map::new();
        self.kind.put(&mut m, "type")?;
        self.arn.put(&mut m, "arn")?;
        self.account_id.put(&mut m, "accountId")?;
        self.invoked_by.put(&mut m, "invokedBy")?;
        put(&mut m, "sessionContext", &self.session_context)?;
        Some(Value::Object(m))
    }
}

impl ToValue for SessionContext<'_> {
    fn to_value(&self) -> Option<Value> {
        let mut m = Map::new();
        put(&mut m, "sessionIssuer", &self.session_issuer)?;
        Some(Value::Object(m))
    }
}

impl ToValue for Issuer<'_> {
    fn to_value(&self) -> Option<Value> {
        let mut m = Map::new();
        self.arn.put(&mut m, "arn")?;
        Some(Value::Object(m))
    }
}

impl ToValue for Request<'_> {
    fn to_value(&self) -> Option<Value> {
        let mut m = Map::new();
        self.function_name.put(&mut m, "functionName")?;
        self.qualifier.put(&mut m, "qualifier")?;
        self.source_arn.put(&mut m, "sourceArn")?;
        self.source_account.put(&mut m, "sourceAccount")?;
        Some(Value::Object(m))
    }
}

impl ToValue for Additional<'_> {
    fn to_value(&self) -> Option<Value> {
        let mut m = Map::new();
        self.function_version.put(&mut m, "functionVersion")?;
        Some(Value::Object(m))
    }
}

impl ToValue for Resource<'_> {
    fn to_value(&self) -> Option<Value> {
        let mut m = Map::new();
        self.arn.put(&mut m, "ARN")?;
        self.kind.put(&mut m, "type")?;
        Some(Value::Object(m))
    }
}

impl<'de> FastRecord<'de> {
    /// What [`invocation`] makes of the record, and its `eventTime`; `None` when only the
    /// reference path can tell (a field of an unexpected type, a record error).
    fn invocation(&self) -> Option<(Invocation, Option<&str>)> {
        let header = Invocation {
            event_id: self.event_id.get()?.map(str::to_owned),
            event_source: self.event_source.get()?.map(str::to_owned),
            event_name: self.event_name.get()?.map(str::to_owned),
            error_code: None,
            function: None,
            qualifier: None,
            caller: Caller::default(),
            notes: Vec::new(),
        };
        let time = match &self.event_time {
            Text::Str(s) => Some(s.as_ref()),
            _ => None,
        };
        if !header.is_lambda_invoke() {
            // All `invocation` reads of such a record: its three header fields.
            return Some((header, time));
        }
        // A Lambda invoke: the reference reader on a record of only the fields it reads.
        let inv = invocation(&self.reduced()?).ok()?;
        Some((inv, time))
    }

    fn reduced(&self) -> Option<Value> {
        let mut m = Map::new();
        self.event_source.put(&mut m, "eventSource")?;
        self.event_name.put(&mut m, "eventName")?;
        self.event_id.put(&mut m, "eventID")?;
        self.error_code.put(&mut m, "errorCode")?;
        self.recipient_account_id
            .put(&mut m, "recipientAccountId")?;
        self.aws_region.put(&mut m, "awsRegion")?;
        put(&mut m, "userIdentity", &self.user_identity)?;
        put(&mut m, "requestParameters", &self.request_parameters)?;
        put(&mut m, "additionalEventData", &self.additional_event_data)?;
        match &self.resources {
            List::Null => {}
            List::Other => return None,
            List::Some(items) => {
                let items = items
                    .iter()
                    .map(|item| match item {
                        Lenient::Some(r) => r.to_value(),
                        Lenient::Null | Lenient::Other => None,
                    })
                    .collect::<Option<Vec<Value>>>()?;
                m.insert("resources".to_owned(), Value::Array(items));
            }
        }
        Some(Value::Object(m))
    }
}

/// A map key: its index in a list of names, `None` for any other key.
struct Key(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|n| *n == v))
    }
}

/// Reads a value as [`Value`] would (same syntax, UTF-8 and escape checks, same recursion
/// limit) and keeps nothing.
struct Skip;

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(Skip)?.is_some() {
            map.next_value_seed(Skip)?;
        }
        Ok(())
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
                let res = rx.recv().unwrap_or_else(|_| {
                    FileResult::failed("error: a worker thread stopped".to_owned())
                });
                if json && !res.out.is_empty() {
                    out.write_all(&res.out).map_err(CliError::Output)?;
                }
                if !res.errors.is_empty() {
                    progress.clear(err);
                    for e in &res.errors {
                        let _ = writeln!(err, "{e}");
                    }
                }
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
            p.set_home(crate::home::Home::new("aws", "us-west-1", "111111111111").expect("home"))
                .expect("home set");
        }
        p
    }

    fn reference_only(p: &Allowlist, bytes: &[u8], origin: &str) -> FileResult {
        let mut r = FileResult::default();
        reference(p, bytes, origin, &mut r);
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
