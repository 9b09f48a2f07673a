//! Turning input bytes into CloudTrail records, whatever the wrapping: an EventBridge event,
//! a detail-only record, a trail log file `{"Records":[...]}`, a bare array, or gzip of any.

use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader, Read};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// Decompressed input larger than this is refused (a trail log file is a few megabytes): a
/// bound on the work one input can cause, not on memory, which the reader keeps to one record.
pub const MAX_INPUT_BYTES: u64 = 256 * 1024 * 1024;

/// A record whose JSON text is longer than this is reported, not read (a CloudTrail record is a
/// few kilobytes: CloudTrail truncates large request and response elements).
pub const MAX_RECORD_BYTES: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(
        "{origin}: is empty, expected a CloudTrail record, an EventBridge event, {{\"Records\":[...]}} or an array"
    )]
    Empty { origin: String },
    #[error("{origin}: is not valid gzip: {source}")]
    Gzip {
        origin: String,
        source: std::io::Error,
    },
    #[error("{origin}: cannot read: {source}")]
    Read {
        origin: String,
        source: std::io::Error,
    },
    #[error("{origin}: is more than {MAX_INPUT_BYTES} bytes once decompressed")]
    TooLarge { origin: String },
    /// One record over the cap: it is skipped and reading goes on with the next one.
    #[error("{origin}: at {path}: the record is more than {limit} bytes, not read")]
    RecordTooLarge {
        origin: String,
        path: String,
        limit: u64,
    },
    /// A single value (a string) of a record over the cap: the reader cannot step over it
    /// without holding it, so the rest of the input is not read.
    #[error(
        "{origin}: at {path}: the record holds a value of more than {limit} bytes; the rest of the input is not read"
    )]
    RecordUnreadable {
        origin: String,
        path: String,
        limit: u64,
    },
    #[error("{origin}:{line}:{column}: not valid JSON: {message}")]
    Json {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{origin}: at {path}: {message}")]
    Shape {
        origin: String,
        path: String,
        message: String,
    },
}

/// One CloudTrail record found in the input, with where it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundRecord {
    /// JSON path of the record inside the input, e.g. `Records[3]` or `detail`.
    pub path: String,
    pub record: Value,
}

/// How [`read_records`] reads.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    /// A record longer than this (its JSON text) is handed to the visitor as
    /// [`InputError::RecordTooLarge`] instead of being built.
    pub max_record_bytes: u64,
    /// Records whose `errorCode` is an access denial ([`super::is_refusal`]) are dropped as they
    /// are read: nothing was done, and anyone can cause them.
    pub drop_refused: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            max_record_bytes: MAX_RECORD_BYTES,
            drop_refused: false,
        }
    }
}

/// Parses input bytes (gzip is detected by its magic number, not by the file name) and returns
/// every record at once. [`for_each_record`] does the same without holding them all.
pub fn parse_input(bytes: &[u8], origin: &str) -> Result<Vec<FoundRecord>, InputError> {
    let mut out = Vec::new();
    for_each_record(bytes, origin, &mut |found| {
        out.push(found);
        Ok(())
    })?;
    Ok(out)
}

/// [`read_records`] on bytes with the default options, a record over the cap being an error
/// that stops the reading.
pub fn for_each_record(
    bytes: &[u8],
    origin: &str,
    visit: &mut dyn FnMut(FoundRecord) -> Result<(), InputError>,
) -> Result<usize, InputError> {
    read_records(bytes, origin, ReadOptions::default(), &mut |item| {
        visit(item?)
    })
}

/// The one record reader: reads `input` (gzip is detected by its magic number and decompressed
/// as a stream) and hands each record to `visit` as soon as it is read, then drops it: a trail
/// log file's `Records` (or a top-level array's elements) are deserialized one at a time, so
/// memory stays at one record (at most [`ReadOptions::max_record_bytes`] of JSON) plus buffers,
/// whatever the size of the input. A record over the cap reaches `visit` as
/// [`InputError::RecordTooLarge`] naming its path, and reading goes on; returning an error from
/// `visit` stops the reading and is returned as is. Returns how many records `visit` accepted.
///
/// Errors, in this precedence: gzip, read and size errors, then JSON syntax anywhere in the
/// input, then the first misplaced value (an object with two `"Records"` keys is one); `visit`
/// may already have seen the records before the one in error.
pub fn read_records<R: Read>(
    input: R,
    origin: &str,
    opts: ReadOptions,
    visit: &mut dyn FnMut(Result<FoundRecord, InputError>) -> Result<(), InputError>,
) -> Result<usize, InputError> {
    let (gzip, inner) = decode(input).map_err(|source| InputError::Read {
        origin: origin.to_owned(),
        source,
    })?;
    let decoded = RefCell::new(Decompressed {
        inner: inner.take(MAX_INPUT_BYTES + 1),
        read: 0,
        failure: None,
        origin,
        gzip,
    });
    let position = Position::new(opts.max_record_bytes);
    let mut sink = Sink {
        origin,
        visit,
        opts,
        position: &position,
        current: String::new(),
        visited: 0,
        failed: None,
        stopped: None,
    };
    let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, Shared(&decoded));
    // Leading whitespace is consumed here (counting lines and columns, so that JSON errors keep
    // their positions) to tell empty input apart without holding it.
    let offset =
        match skip_json_whitespace(&mut reader) {
            Ok(Lead::Json(offset)) => offset,
            Ok(Lead::Eof) => {
                if let Some(failure) = decoded.borrow_mut().drain() {
                    return Err(failure);
                }
                return Err(empty(origin));
            }
            Ok(Lead::FormFeed(offset)) => {
                // Not JSON whitespace, but blank all the same: input that is nothing else is empty.
                let blank = rest_is_blank(&mut reader);
                if let Some(failure) = decoded.borrow_mut().drain() {
                    return Err(failure);
                }
                return Err(match blank {
                    Ok(true) => empty(origin),
                    _ => match serde_json::from_slice::<Value>(b"\x0c") {
                        Err(e) => json_error(&e, origin, offset),
                        Ok(_) => InputError::Json {
                            origin: origin.to_owned(),
                            line: offset.lines + 1,
                            column: offset.columns + 1,
                            message: "expected value".to_owned(),
                        },
                    },
                });
            }
            Err(source) => {
                return Err(decoded.borrow_mut().failure.take().unwrap_or_else(|| {
                    InputError::Read {
                        origin: origin.to_owned(),
                        source,
                    }
                }));
            }
        };
    // The reader goes by value: serde_json reads a byte at a time, which an owned `BufReader`
    // serves from its buffer far faster than a borrowed one.
    let mut de = serde_json::Deserializer::from_reader(Counting::new(reader, &position));
    let parsed = read_top(&mut de, &mut sink);
    drop(de);
    if sink.stopped.is_none() {
        // Corrupt gzip or oversized input anywhere wins over what the JSON says, as when the
        // whole input was decompressed first.
        if let Some(failure) = decoded.borrow_mut().drain() {
            return Err(failure);
        }
    }
    sink.finish(parsed, offset)
}

/// The input as JSON text: gzip (told by its magic number, which is read and put back) is
/// decompressed as a stream. Whether it was gzip, for the errors.
pub(super) fn decode<'r, R: Read + 'r>(
    mut input: R,
) -> std::io::Result<(bool, Box<dyn Read + 'r>)> {
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < head.len() {
        match input.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let gzip = head[..got] == GZIP_MAGIC;
    let whole = std::io::Cursor::new(head).take(got as u64).chain(input);
    Ok(if gzip {
        (true, Box::new(flate2::read::MultiGzDecoder::new(whole)))
    } else {
        (false, Box::new(whole))
    })
}

/// The records inside an already-parsed JSON value (a Lambda event).
pub fn records_in_value(value: Value, origin: &str) -> Result<Vec<FoundRecord>, InputError> {
    let mut out = Vec::new();
    collect(value, String::new(), origin, &mut out)?;
    Ok(out)
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
pub(super) const READ_BUFFER_BYTES: usize = 64 * 1024;

fn empty(origin: &str) -> InputError {
    InputError::Empty {
        origin: origin.to_owned(),
    }
}

/// Where the JSON text starts after the leading whitespace consumed before parsing.
#[derive(Debug, Clone, Copy, Default)]
struct Offset {
    lines: usize,
    columns: usize,
}

fn json_error(e: &serde_json::Error, origin: &str, offset: Offset) -> InputError {
    InputError::Json {
        origin: origin.to_owned(),
        line: e.line() + offset.lines,
        column: if e.line() == 1 {
            e.column() + offset.columns
        } else {
            e.column()
        },
        message: strip_position(&e.to_string()),
    }
}

enum Lead {
    Json(Offset),
    FormFeed(Offset),
    Eof,
}

fn skip_json_whitespace(reader: &mut impl BufRead) -> std::io::Result<Lead> {
    let mut at = Offset::default();
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(Lead::Eof);
        }
        let n = buf
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
            .unwrap_or(buf.len());
        for &b in &buf[..n] {
            if b == b'\n' {
                at.lines += 1;
                at.columns = 0;
            } else {
                at.columns += 1;
            }
        }
        let next = buf.get(n).copied();
        reader.consume(n);
        match next {
            Some(0x0c) => return Ok(Lead::FormFeed(at)),
            Some(_) => return Ok(Lead::Json(at)),
            None => {}
        }
    }
}

fn rest_is_blank(reader: &mut impl BufRead) -> std::io::Result<bool> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(true);
        }
        if !buf.iter().all(u8::is_ascii_whitespace) {
            return Ok(false);
        }
        let n = buf.len();
        reader.consume(n);
    }
}

/// Decompressed bytes, refused past [`MAX_INPUT_BYTES`]; the failure is kept for the caller
/// (serde_json only passes an I/O error on).
struct Decompressed<'a, R> {
    inner: R,
    read: u64,
    failure: Option<InputError>,
    origin: &'a str,
    gzip: bool,
}

impl<R: Read> Decompressed<'_, R> {
    /// Reads on to the end (or the first failure) and returns the failure, if any.
    fn drain(&mut self) -> Option<InputError> {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(1..) = self.read(&mut buf) {}
        self.failure.take()
    }
}

impl<R: Read> Read for Decompressed<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let stopped = || std::io::Error::other("input refused");
        if self.failure.is_some() {
            return Err(stopped());
        }
        match self.inner.read(buf) {
            Ok(n) => {
                self.read += n as u64;
                if self.read > MAX_INPUT_BYTES {
                    self.failure = Some(InputError::TooLarge {
                        origin: self.origin.to_owned(),
                    });
                    return Err(stopped());
                }
                Ok(n)
            }
            Err(source) => {
                let origin = self.origin.to_owned();
                self.failure = Some(if self.gzip {
                    InputError::Gzip { origin, source }
                } else {
                    InputError::Read { origin, source }
                });
                Err(stopped())
            }
        }
    }
}

/// A reader shared with the caller, who drains it and takes its failure once serde_json is done.
struct Shared<'s, R>(&'s RefCell<R>);

impl<R: Read> Read for Shared<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0
            .try_borrow_mut()
            .map_err(std::io::Error::other)?
            .read(buf)
    }
}

/// How far serde_json has read, and where the record being built began: the cap on one record
/// is enforced on the JSON text read, not on what was built from it.
pub(super) struct Position {
    read: Cell<u64>,
    mark: Cell<u64>,
    /// Set while a record is being built (not while it is being stepped over).
    guarding: Cell<bool>,
    /// The reader refused to go on: one value of a record was past twice the cap.
    broke: Cell<bool>,
    limit: u64,
}

impl Position {
    pub(super) fn new(limit: u64) -> Position {
        Position {
            read: Cell::new(0),
            mark: Cell::new(0),
            guarding: Cell::new(false),
            broke: Cell::new(false),
            limit,
        }
    }

    pub(super) fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes read since the record began.
    pub(super) fn in_record(&self) -> u64 {
        self.read.get() - self.mark.get()
    }

    pub(super) fn start_record(&self) {
        self.mark.set(self.read.get());
        self.guarding.set(true);
    }

    pub(super) fn end_record(&self) {
        self.guarding.set(false);
    }

    fn over(&self) -> bool {
        self.in_record() > self.limit
    }
}

/// Counts what serde_json reads; while a record is built, a single value (which serde_json
/// holds whole before handing it on) may not run past twice the cap.
pub(super) struct Counting<'p, R> {
    inner: R,
    position: &'p Position,
}

impl<'p, R> Counting<'p, R> {
    pub(super) fn new(inner: R, position: &'p Position) -> Self {
        Counting { inner, position }
    }
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let p = self.position;
        p.read.set(p.read.get() + n as u64);
        if p.guarding.get() && p.read.get() - p.mark.get() > p.limit.saturating_mul(2) {
            p.broke.set(true);
            return Err(std::io::Error::other("record too large"));
        }
        Ok(n)
    }
}

/// Where the records go while the input is read, and the first error found.
struct Sink<'a> {
    origin: &'a str,
    visit: &'a mut dyn FnMut(Result<FoundRecord, InputError>) -> Result<(), InputError>,
    opts: ReadOptions,
    position: &'a Position,
    /// The path of the record being read, for an error that stops the reading inside it.
    current: String,
    visited: usize,
    /// The first misplaced value. Reading goes on (validating, building nothing), because a
    /// JSON syntax error anywhere takes precedence, as it did when the whole input was parsed.
    failed: Option<InputError>,
    /// The error `visit` returned, which stops the reading.
    stopped: Option<InputError>,
}

impl Sink<'_> {
    fn emit<E: de::Error>(&mut self, found: FoundRecord) -> Result<(), E> {
        if self.failed.is_some() {
            return Ok(());
        }
        if self.opts.drop_refused
            && found
                .record
                .get("errorCode")
                .and_then(Value::as_str)
                .is_some_and(super::is_refusal)
        {
            return Ok(());
        }
        self.pass(Ok(found))
    }

    fn too_large<E: de::Error>(&mut self, path: String) -> Result<(), E> {
        if self.failed.is_some() {
            return Ok(());
        }
        self.pass(Err(InputError::RecordTooLarge {
            origin: self.origin.to_owned(),
            path,
            limit: self.opts.max_record_bytes,
        }))
    }

    fn pass<E: de::Error>(&mut self, found: Result<FoundRecord, InputError>) -> Result<(), E> {
        let accepted = found.is_ok();
        match (self.visit)(found) {
            Ok(()) => {
                self.visited += usize::from(accepted);
                Ok(())
            }
            Err(e) => {
                self.stopped = Some(e);
                Err(E::custom("stopped by the record visitor"))
            }
        }
    }

    fn fail(&mut self, path: &str, message: String) {
        if self.failed.is_none() {
            self.failed = Some(InputError::Shape {
                origin: self.origin.to_owned(),
                path: if path.is_empty() {
                    "(root)".to_owned()
                } else {
                    path.to_owned()
                },
                message,
            });
        }
    }

    fn finish(
        self,
        parsed: Result<(), serde_json::Error>,
        offset: Offset,
    ) -> Result<usize, InputError> {
        if let Some(e) = self.stopped {
            return Err(e);
        }
        if self.position.broke.get() {
            return Err(InputError::RecordUnreadable {
                origin: self.origin.to_owned(),
                path: self.current,
                limit: self.opts.max_record_bytes,
            });
        }
        if let Err(e) = parsed {
            return Err(json_error(&e, self.origin, offset));
        }
        match self.failed {
            Some(e) => Err(e),
            None => Ok(self.visited),
        }
    }
}

fn read_top<'de, R: serde_json::de::Read<'de>>(
    de: &mut serde_json::Deserializer<R>,
    sink: &mut Sink<'_>,
) -> Result<(), serde_json::Error> {
    Node {
        sink,
        path: String::new(),
        role: Role::Top,
    }
    .deserialize(&mut *de)?;
    de.end()
}

/// What a value read by [`Node`] is expected to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The whole input.
    Top,
    /// An element of a top-level array: a record or an event, not an array.
    Element,
    /// The value of `"Records"`: an array of record objects.
    Records,
    /// An element of `"Records"`: a record object.
    Record,
}

/// Reads one value in its role, streaming arrays of records and building a [`Value`] for one
/// record (or one small object) at a time.
struct Node<'s, 'a> {
    sink: &'s mut Sink<'a>,
    path: String,
    role: Role,
}

impl Node<'_, '_> {
    fn scalar(self, kind: &str) {
        if self.sink.failed.is_some() {
            return;
        }
        let message = match self.role {
            Role::Top | Role::Element => format!("expected an object or an array, found {kind}"),
            Role::Records => "expected an array of CloudTrail records".to_owned(),
            Role::Record => format!("expected a CloudTrail record object, found {kind}"),
        };
        self.sink.fail(&self.path, message);
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar("a boolean");
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar("a number");
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar("a number");
        Ok(())
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        self.scalar("a number");
        Ok(())
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        self.scalar("a number");
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar("a number");
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar("a string");
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar("null");
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.scalar("null");
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let element_role = match self.role {
            _ if self.sink.failed.is_some() => None,
            Role::Top => Some(Role::Element),
            Role::Records => Some(Role::Record),
            Role::Element => {
                // Records nest at most one level below an array or `Records`.
                self.sink.fail(
                    &self.path,
                    "expected a record, found a nested array".to_owned(),
                );
                None
            }
            Role::Record => {
                self.sink.fail(
                    &self.path,
                    "expected a CloudTrail record object, found an array".to_owned(),
                );
                None
            }
        };
        if let Some(role) = element_role {
            let mut i = 0usize;
            while self.sink.failed.is_none() {
                let element = Node {
                    sink: &mut *self.sink,
                    path: format!("{}[{i}]", self.path),
                    role,
                };
                if seq.next_element_seed(element)?.is_none() {
                    return Ok(());
                }
                i += 1;
            }
        }
        while seq.next_element_seed(Skip)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        if self.sink.failed.is_some() {
            return skip_map(map);
        }
        match self.role {
            Role::Top | Role::Element => read_object(self.sink, self.path, map),
            Role::Records => {
                self.sink.fail(
                    &self.path,
                    "expected an array of CloudTrail records".to_owned(),
                );
                skip_map(map)
            }
            Role::Record => {
                // What `Value::deserialize` does with an object, one record at a time, up to the cap.
                let position = self.sink.position;
                self.sink.current.clone_from(&self.path);
                position.start_record();
                let record = Capped { position }.visit_map(map);
                position.end_record();
                match record? {
                    Some(record) => self.sink.emit(FoundRecord {
                        path: self.path,
                        record,
                    }),
                    None => self.sink.too_large(self.path),
                }
            }
        }
    }
}

/// An object at the top or in a top-level array: `{"Records":[...]}` is streamed; anything else
/// (a record, an EventBridge event) is small, so it is built whole and read by [`collect`].
fn read_object<'de, A: MapAccess<'de>>(
    sink: &mut Sink<'_>,
    path: String,
    mut map: A,
) -> Result<(), A::Error> {
    let records_path = join(&path, "Records");
    let mut others = serde_json::Map::new();
    let mut records_seen = false;
    while let Some(key) = map.next_key::<String>()? {
        if sink.failed.is_some() || (records_seen && key != "Records") {
            // Stepped over, but a value is still held whole while it is checked: it too may
            // not run past twice the cap.
            sink.current = join(&path, &key);
            sink.position.start_record();
            let skipped = map.next_value_seed(Skip);
            sink.position.end_record();
            skipped?;
        } else if key == "Records" {
            if records_seen {
                sink.fail(
                    &records_path,
                    "\"Records\" appears more than once".to_owned(),
                );
                map.next_value_seed(Skip)?;
            } else {
                records_seen = true;
                others = serde_json::Map::new();
                map.next_value_seed(Node {
                    sink: &mut *sink,
                    path: records_path.clone(),
                    role: Role::Records,
                })?;
            }
        } else {
            // A lone record or event is read whole, so it is held to the cap as a record is.
            let position = sink.position;
            if others.is_empty() {
                sink.current.clone_from(&path);
                position.start_record();
            } else {
                position.guarding.set(true);
            }
            let value = map.next_value_seed(Capped { position });
            position.end_record();
            match value? {
                Some(value) => {
                    others.insert(key, value);
                }
                None => {
                    sink.fail(
                        &path,
                        format!(
                            "the record is more than {} bytes, not read",
                            sink.opts.max_record_bytes
                        ),
                    );
                }
            }
        }
    }
    if !records_seen && sink.failed.is_none() {
        let mut found = Vec::new();
        match collect(Value::Object(others), path, sink.origin, &mut found) {
            Ok(()) => {
                for record in found {
                    sink.emit(record)?;
                }
            }
            Err(e) => {
                sink.failed.get_or_insert(e);
            }
        }
    }
    Ok(())
}

/// Builds a [`Value`] as `Value::deserialize` does, until the JSON text read since the record
/// began passes the cap: then it steps over the rest without holding it and yields `None`.
struct Capped<'p> {
    position: &'p Position,
}

impl Capped<'_> {
    fn give_up<'de, A: SeqAccess<'de>>(&self, mut seq: A) -> Result<Option<Value>, A::Error> {
        self.position.guarding.set(false);
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn give_up_map<'de, A: MapAccess<'de>>(
        &self,
        mut map: A,
        value_pending: bool,
    ) -> Result<Option<Value>, A::Error> {
        self.position.guarding.set(false);
        if value_pending {
            map.next_value::<de::IgnoredAny>()?;
        }
        while map.next_key::<de::IgnoredAny>()?.is_some() {
            map.next_value::<de::IgnoredAny>()?;
        }
        Ok(None)
    }
}

impl<'de> DeserializeSeed<'de> for Capped<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Capped<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Value::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Value::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(
            serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Value::String(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Value::String(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Some(Value::Null))
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Some(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        loop {
            if self.position.over() {
                return self.give_up(seq);
            }
            match seq.next_element_seed(Capped {
                position: self.position,
            })? {
                Some(Some(item)) => items.push(item),
                Some(None) => return self.give_up(seq),
                None => return Ok(Some(Value::Array(items))),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut object = serde_json::Map::new();
        loop {
            if self.position.over() {
                return self.give_up_map(map, false);
            }
            let Some(key) = map.next_key::<String>()? else {
                return Ok(Some(Value::Object(object)));
            };
            if self.position.over() {
                return self.give_up_map(map, true);
            }
            match map.next_value_seed(Capped {
                position: self.position,
            })? {
                Some(value) => {
                    object.insert(key, value);
                }
                None => return self.give_up_map(map, false),
            }
        }
    }
}

fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_key_seed(Skip)?.is_some() {
        map.next_value_seed(Skip)?;
    }
    Ok(())
}

/// Reads a value as [`Value`] would (same syntax, UTF-8 and escape checks, same recursion
/// limit) and keeps nothing.
pub(super) struct Skip;

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
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

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        Ok(())
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
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

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        skip_map(map)
    }
}

fn collect(
    value: Value,
    path: String,
    origin: &str,
    out: &mut Vec<FoundRecord>,
) -> Result<(), InputError> {
    let shape_error = |path: &str, message: String| InputError::Shape {
        origin: origin.to_owned(),
        path: if path.is_empty() {
            "(root)".to_owned()
        } else {
            path.to_owned()
        },
        message,
    };
    match value {
        Value::Array(items) => {
            for (i, item) in items.into_iter().enumerate() {
                // Records nest at most one level below an array or `Records`.
                if item.is_array() {
                    return Err(shape_error(
                        &format!("{path}[{i}]"),
                        "expected a record, found a nested array".to_owned(),
                    ));
                }
                collect(item, format!("{path}[{i}]"), origin, out)?;
            }
            Ok(())
        }
        Value::Object(mut map) => {
            if let Some(records) = map.remove("Records") {
                let Value::Array(items) = records else {
                    return Err(shape_error(
                        &join(&path, "Records"),
                        "expected an array of CloudTrail records".to_owned(),
                    ));
                };
                for (i, item) in items.into_iter().enumerate() {
                    if !item.is_object() {
                        return Err(shape_error(
                            &format!("{}[{i}]", join(&path, "Records")),
                            format!("expected a CloudTrail record object, found {}", kind(&item)),
                        ));
                    }
                    out.push(FoundRecord {
                        path: format!("{}[{i}]", join(&path, "Records")),
                        record: item,
                    });
                }
                return Ok(());
            }
            if map.contains_key("detail-type")
                || (map.contains_key("detail") && map.contains_key("source"))
            {
                return match map.remove("detail") {
                    Some(detail @ Value::Object(_)) => {
                        out.push(FoundRecord {
                            path: join(&path, "detail"),
                            record: detail,
                        });
                        Ok(())
                    }
                    Some(other) => Err(shape_error(
                        &join(&path, "detail"),
                        format!(
                            "expected the CloudTrail record object, found {}",
                            kind(&other)
                        ),
                    )),
                    None => Err(shape_error(
                        &path,
                        "an EventBridge event without \"detail\"".to_owned(),
                    )),
                };
            }
            if ["eventSource", "eventName", "eventVersion", "eventID"]
                .iter()
                .any(|k| map.contains_key(*k))
            {
                out.push(FoundRecord {
                    path,
                    record: Value::Object(map),
                });
                return Ok(());
            }
            Err(shape_error(&path, "expected a CloudTrail record (eventSource, eventName…), an EventBridge event (detail-type, detail) or {\"Records\":[...]}".to_owned()))
        }
        other => Err(shape_error(
            &path,
            format!("expected an object or an array, found {}", kind(&other)),
        )),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

// Lives with the Invoke reader, which needs it too, so that it does not import this module.
pub(crate) use super::invocation::json_kind as kind;

pub(crate) fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn paths(input: &str) -> Vec<String> {
        parse_input(input.as_bytes(), "in")
            .expect("parses")
            .into_iter()
            .map(|r| r.path)
            .collect()
    }

    #[test]
    fn every_wrapping_yields_its_records() {
        assert_eq!(paths(r#"{"eventName":"Invoke"}"#), vec![""]);
        assert_eq!(
            paths(
                r#"{"detail-type":"AWS API Call via CloudTrail","source":"aws.lambda","detail":{"eventName":"Invoke"},"debug":1}"#
            ),
            vec!["detail"]
        );
        assert_eq!(
            paths(r#"{"Records":[{"eventName":"a"},{"eventName":"b"}]}"#),
            vec!["Records[0]", "Records[1]"]
        );
        assert_eq!(
            paths(r#"[{"eventName":"a"},{"detail-type":"x","detail":{"eventName":"b"}}]"#),
            vec!["[0]", "[1].detail"]
        );
    }

    #[test]
    fn gzip_is_detected_by_magic_number() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(br#"{"Records":[{"eventName":"Invoke"}]}"#)
            .expect("write");
        let gz = enc.finish().expect("finish");
        assert_eq!(parse_input(&gz, "x.gz").expect("parses").len(), 1);
        let err = parse_input(&[0x1f, 0x8b, 0, 1, 2], "bad.gz").expect_err("bad gzip");
        assert!(err.to_string().starts_with("bad.gz: is not valid gzip"));
    }

    #[test]
    fn bad_input_says_what_and_where() {
        let e = |s: &str| {
            parse_input(s.as_bytes(), "in")
                .expect_err("rejected")
                .to_string()
        };
        assert!(e("").contains("is empty"));
        assert_eq!(
            e("{\n\"a\": tru"),
            "in:2:8: not valid JSON: EOF while parsing a value"
        );
        assert!(e("42").contains("at (root): expected an object or an array, found a number"));
        assert!(e(r#"{"Records": {}}"#).contains("at Records: expected an array"));
        assert!(
            e(r#"{"Records": [1]}"#).contains("at Records[0]: expected a CloudTrail record object")
        );
        assert!(e(r#"{"foo": 1}"#).contains("expected a CloudTrail record"));
        assert!(
            e(r#"{"detail-type":"x","detail":"y"}"#)
                .contains("at detail: expected the CloudTrail record object, found a string")
        );
        assert!(e("[[{}]]").contains("nested array"));
        assert!(e("\u{0}\u{1}binary").contains("not valid JSON"));
    }

    fn read_with(input: &str, opts: ReadOptions) -> (Vec<String>, Result<usize, InputError>) {
        let mut seen = Vec::new();
        let result = read_records(input.as_bytes(), "in", opts, &mut |item| {
            seen.push(match item {
                Ok(found) => found.path,
                Err(e) => format!("error: {e}"),
            });
            Ok(())
        });
        (seen, result)
    }

    #[test]
    fn a_record_over_the_cap_is_reported_by_path_and_reading_goes_on() {
        let opts = ReadOptions {
            max_record_bytes: 200,
            drop_refused: false,
        };
        let big = format!(
            r#"{{"eventName":"Invoke","a":[{}"x"]}}"#,
            r#""xxxxxxxxxx","#.repeat(40)
        );
        let input = format!(r#"{{"Records":[{{"eventName":"a"}},{big},{{"eventName":"b"}}]}}"#);
        let (seen, result) = read_with(&input, opts);
        assert_eq!(
            seen,
            [
                "Records[0]",
                "error: in: at Records[1]: the record is more than 200 bytes, not read",
                "Records[2]"
            ]
        );
        assert_eq!(result.expect("read"), 2);
    }

    #[test]
    fn a_single_value_past_twice_the_cap_ends_the_input_naming_its_record() {
        let opts = ReadOptions {
            max_record_bytes: 200,
            drop_refused: false,
        };
        let input = format!(
            r#"{{"Records":[{{"eventName":"a"}},{{"x":"{}"}},{{"eventName":"b"}}]}}"#,
            "y".repeat(1000)
        );
        let (seen, result) = read_with(&input, opts);
        assert_eq!(seen, ["Records[0]"]);
        assert_eq!(
            result.expect_err("stopped").to_string(),
            "in: at Records[1]: the record holds a value of more than 200 bytes; the rest of the input is not read"
        );
    }

    #[test]
    fn a_huge_value_beside_the_records_ends_the_input_too() {
        let opts = ReadOptions {
            max_record_bytes: 200,
            drop_refused: false,
        };
        let input = format!(
            r#"{{"Records":[{{"eventName":"a"}}],"x":"{}"}}"#,
            "y".repeat(1000)
        );
        let (seen, result) = read_with(&input, opts);
        assert_eq!(seen, ["Records[0]"]);
        assert_eq!(
            result.expect_err("stopped").to_string(),
            "in: at x: the record holds a value of more than 200 bytes; the rest of the input is not read"
        );
    }

    #[test]
    fn refused_records_are_dropped_when_asked() {
        let input = r#"{"Records":[{"eventName":"Invoke","errorCode":"AccessDenied"},{"eventName":"Invoke","errorCode":"ResourceNotFoundException"},{"eventName":"Invoke"}]}"#;
        let opts = ReadOptions {
            drop_refused: true,
            ..ReadOptions::default()
        };
        assert_eq!(read_with(input, opts).0, ["Records[1]", "Records[2]"]);
        assert_eq!(
            read_with(input, ReadOptions::default()).0,
            ["Records[0]", "Records[1]", "Records[2]"]
        );
    }

    #[test]
    fn records_are_built_exactly_as_serde_json_builds_values() {
        let record = r#"{"eventName":"Invoke","n":[1,-2,3.5,1e300,18446744073709551615,-9223372036854775808],"s":"\u00e9\ud83d\ude00\n","o":{"a":null,"b":true,"a":false},"e":[],"f":{}}"#;
        let found =
            parse_input(format!(r#"{{"Records":[{record}]}}"#).as_bytes(), "in").expect("parses");
        let expected: Value = serde_json::from_str(record).expect("valid");
        assert_eq!(found[0].record, expected);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = "[".repeat(100_000);
        assert!(parse_input(deep.as_bytes(), "in").is_err());
    }
}
