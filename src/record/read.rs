//! The one streaming record reader: reads input bytes (gzip or not) and hands each record to
//! a visitor as soon as it is read, whatever the wrapping: an EventBridge event, a detail-only
//! record, a trail log file `{"Records":[...]}`, a bare array.

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Read};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::capped::Capped;
use super::input::{FoundRecord, InputError, ReadOptions, collect, join, strip_position};
use super::invocation::is_refusal;
use super::stream::{
    Counting, Position, READ_BUFFER_BYTES, Shared, Skip, decompressed, seed_by_visitor, skip_map,
    visit_scalars,
};

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
    let decoded = RefCell::new(
        decompressed(input, origin).map_err(|source| InputError::Read {
            origin: origin.to_owned(),
            source,
        })?,
    );
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
                .is_some_and(is_refusal)
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
        if self.position.broke() {
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

seed_by_visitor!([] Node<'_, '_>);

impl<'de> Visitor<'de> for Node<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    visit_scalars!(self, kind => self.scalar(kind), [bool, i64, u64, i128, u128, f64, str, unit]);

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
                position.guard();
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

#[cfg(test)]
mod tests;
