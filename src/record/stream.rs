//! The bytes under both record readers (the streaming reader in `read.rs` and the typed pass in
//! `fast.rs`): gzip told by its magic number and capped at [`MAX_INPUT_BYTES`], a count of what
//! serde_json has read (the cap on one record), and the visitor that steps over a value.

use std::cell::{Cell, RefCell};
use std::io::Read;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::input::{InputError, MAX_INPUT_BYTES};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
pub(super) const READ_BUFFER_BYTES: usize = 64 * 1024;

/// The scalar methods of a [`Visitor`] whose answer depends only on the kind of value read:
/// `$kind` is bound to "a boolean", "a number", "a string" or "null" in `$body`.
macro_rules! visit_scalars {
    ($s:ident, $k:ident => $b:expr, [$($m:ident),* $(,)?]) => {
        $( visit_scalars!(@ $m, $s, $k, $b); )*
    };
    (@ bool, $($t:tt)*) => { visit_scalars!(@@ visit_bool(bool) "a boolean", $($t)*); };
    (@ i64, $($t:tt)*) => { visit_scalars!(@@ visit_i64(i64) "a number", $($t)*); };
    (@ u64, $($t:tt)*) => { visit_scalars!(@@ visit_u64(u64) "a number", $($t)*); };
    (@ i128, $($t:tt)*) => { visit_scalars!(@@ visit_i128(i128) "a number", $($t)*); };
    (@ u128, $($t:tt)*) => { visit_scalars!(@@ visit_u128(u128) "a number", $($t)*); };
    (@ f64, $($t:tt)*) => { visit_scalars!(@@ visit_f64(f64) "a number", $($t)*); };
    (@ str, $($t:tt)*) => { visit_scalars!(@@ visit_str(&str) "a string", $($t)*); };
    (@ unit, $($t:tt)*) => {
        visit_scalars!(@@ visit_unit() "null", $($t)*);
        visit_scalars!(@@ visit_none() "null", $($t)*);
    };
    (@@ $name:ident($($ty:ty)?) $kind:literal, $s:ident, $k:ident, $b:expr) => {
        fn $name<E: serde::de::Error>($s $(, _: $ty)?) -> Result<Self::Value, E> {
            let $k = $kind;
            let _ = $k;
            Ok($b)
        }
    };
}
pub(super) use visit_scalars;

/// A seed that reads whatever value comes, by its own [`Visitor`].
macro_rules! seed_by_visitor {
    ([$($g:tt)*] $ty:ty) => {
        impl<'de, $($g)*> DeserializeSeed<'de> for $ty {
            type Value = <Self as Visitor<'de>>::Value;

            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }
        }
    };
}
pub(super) use seed_by_visitor;

/// The input as JSON text: gzip (told by its magic number, which is read and put back) is
/// decompressed as a stream. Whether it was gzip, for the errors.
fn decode<'r, R: Read + 'r>(mut input: R) -> std::io::Result<(bool, Box<dyn Read + 'r>)> {
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

/// The JSON text of an input, decompressed and capped: what both readers read.
pub(super) fn decompressed<'a, R: Read + 'a>(
    input: R,
    origin: &'a str,
) -> std::io::Result<Decompressed<'a, std::io::Take<Box<dyn Read + 'a>>>> {
    let (gzip, inner) = decode(input)?;
    Ok(Decompressed {
        inner: inner.take(MAX_INPUT_BYTES + 1),
        read: 0,
        failure: None,
        origin,
        gzip,
    })
}

/// Decompressed bytes, refused past [`MAX_INPUT_BYTES`]; the failure is kept for the caller
/// (serde_json only passes an I/O error on).
pub(super) struct Decompressed<'a, R> {
    inner: R,
    read: u64,
    pub(super) failure: Option<InputError>,
    origin: &'a str,
    gzip: bool,
}

impl<R: Read> Decompressed<'_, R> {
    /// Reads on to the end (or the first failure) and returns the failure, if any.
    pub(super) fn drain(&mut self) -> Option<InputError> {
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
pub(super) struct Shared<'s, R>(pub(super) &'s RefCell<R>);

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

    /// Guards the record again after a value of it was stepped over.
    pub(super) fn guard(&self) {
        self.guarding.set(true);
    }

    /// Whether the reader refused to go on inside a record.
    pub(super) fn broke(&self) -> bool {
        self.broke.get()
    }

    pub(super) fn over(&self) -> bool {
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

pub(super) fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_key_seed(Skip)?.is_some() {
        map.next_value_seed(Skip)?;
    }
    Ok(())
}

/// Reads a value as [`Value`] would (same syntax, UTF-8 and escape checks, same recursion
/// limit) and keeps nothing.
pub(super) struct Skip;

seed_by_visitor!([] Skip);

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    visit_scalars!(self, _kind => (), [bool, i64, u64, i128, u128, f64, str, unit]);

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
