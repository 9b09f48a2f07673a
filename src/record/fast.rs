//! The typed pass of the record reader: a trail log file's records read into only the fields
//! a verdict needs, several times faster than building each record whole. It reads nothing
//! the reference reader ([`super::read_records`]) would read otherwise: anything else is
//! handed back ([`NotTyped`]) for the reference reader to read from the start.

use std::borrow::Cow;
use std::io::{BufReader, Read};
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::input::ReadOptions;
use super::invocation::{Caller, Invocation, invocation};
use super::stream::{
    Counting, Position, READ_BUFFER_BYTES, Skip, decompressed, seed_by_visitor, visit_scalars,
};

/// The typed pass over a trail log file `{"Records":[...]}`, streamed as [`super::read_records`]
/// reads (gzip, the size and record caps), keeping only the fields a verdict needs. Each record
/// goes to `visit` with what [`invocation`] makes of it and its `eventTime`. `Err` means "only
/// the reference reader can say": another wrapping, a field of an unexpected type, a record
/// error, a duplicate `Records`, a record near the cap, bad gzip or JSON. The records `visit`
/// saw before are the first ones the reference reader yields, in the same order, and
/// [`invocation`] reads them the same.
pub fn read_typed<R: Read>(
    input: R,
    opts: ReadOptions,
    visit: &mut dyn FnMut(&Invocation, Option<&str>),
) -> Result<(), NotTyped> {
    // Any failure of the capped gunzip (bad gzip, too large) hands the input over: the
    // reference reader reports it.
    let decoded = decompressed(input, "").map_err(|_| NotTyped)?;
    let position = Position::new(opts.max_record_bytes);
    // Counted below the buffer, so that serde_json reads its bytes straight from a `BufReader`
    // (far faster than through a wrapper); the count then runs ahead of the parse by at most
    // the buffer, which `CAP_MARGIN` allows for.
    let counted = Counting::new(decoded, &position);
    let reader = BufReader::with_capacity(READ_BUFFER_BYTES, counted);
    let mut de = serde_json::Deserializer::from_reader(reader);
    de.deserialize_any(TopVisitor {
        visit,
        position: &position,
    })
    .map_err(|_| NotTyped)?;
    de.end().map_err(|_| NotTyped)
}

/// The typed pass cannot read this input as the reference reader would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotTyped;

/// A record within this many bytes of the cap is left to the reference reader, which counts
/// exactly (from its opening brace, checking between values): the typed pass's count may be
/// off by a buffer either way.
const CAP_MARGIN: u64 = 2 * READ_BUFFER_BYTES as u64 + 64;

/// The reason the typed pass hands a file to the reference path.
fn fall_back<E: de::Error>() -> E {
    E::custom("not for the typed pass")
}

struct TopVisitor<'v, 'p> {
    visit: &'v mut dyn FnMut(&Invocation, Option<&str>),
    position: &'p Position,
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
                        visit: &mut *self.visit,
                        position: self.position,
                    })?;
                }
                Some(_) => return Err(fall_back()),
                // The reference reader holds other top-level values to the record cap.
                None if seen => {
                    self.position.start_record();
                    let skipped = map.next_value_seed(Skip);
                    self.position.end_record();
                    skipped?;
                }
                None => return Err(fall_back()),
            }
        }
        if seen { Ok(()) } else { Err(fall_back()) }
    }
}

struct RecordsSeed<'v, 'p> {
    visit: &'v mut dyn FnMut(&Invocation, Option<&str>),
    position: &'p Position,
}

seed_by_visitor!([] RecordsSeed<'_, '_>);

impl<'de> Visitor<'de> for RecordsSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let limit = self.position.limit().saturating_sub(CAP_MARGIN);
        loop {
            self.position.start_record();
            let record = seq.next_element_seed(Lenient::<FastRecord<'de>>::seed());
            self.position.end_record();
            let Some(record) = record? else {
                return Ok(());
            };
            let Lenient::Some(record) = record else {
                return Err(fall_back());
            };
            if self.position.in_record() > limit {
                return Err(fall_back());
            }
            let (inv, time) = record.invocation().ok_or_else(fall_back)?;
            (self.visit)(&inv, time);
        }
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
}

impl Put for Text<'_> {
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

    visit_scalars!(self, _kind => Text::Null, [unit]);

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Text<'de>, D::Error> {
        d.deserialize_any(self)
    }

    visit_scalars!(self, _kind => Text::Other, [bool, i64, u64, f64]);

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

/// What a [`Lenient`] field holds when it has the expected type: an object's kept fields (the
/// last occurrence of a key winning, as in a [`Value`]) or an array's elements. A container of
/// the other kind is stepped over.
trait Shape<'de>: Sized {
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        Skip.visit_map(map)?;
        Ok(None)
    }

    fn from_seq<A: SeqAccess<'de>>(seq: A) -> Result<Option<Self>, A::Error> {
        Skip.visit_seq(seq)?;
        Ok(None)
    }
}

/// An array field of objects (`resources`).
impl<'de, T: Shape<'de>> Shape<'de> for Vec<Lenient<T>> {
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Lenient::<T>::seed())? {
            items.push(item);
        }
        Ok(Some(items))
    }
}

/// An object or array field: absent or null, of the expected type, or something else.
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

seed_by_visitor!([T: Shape<'de>] LenientSeed<T>);

impl<'de, T: Shape<'de>> de::Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Lenient::<T>::seed().deserialize(d)
    }
}

impl<'de, T: Shape<'de>> Visitor<'de> for LenientSeed<T> {
    type Value = Lenient<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Lenient<T>, A::Error> {
        Ok(T::from_map(map)?.map_or(Lenient::Other, Lenient::Some))
    }

    visit_scalars!(self, _kind => Lenient::Null, [unit]);

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Lenient<T>, D::Error> {
        d.deserialize_any(self)
    }

    visit_scalars!(self, _kind => Lenient::Other, [bool, i64, u64, f64, str]);

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Lenient<T>, A::Error> {
        Ok(T::from_seq(seq)?.map_or(Lenient::Other, Lenient::Some))
    }
}

/// An array field of objects.
type List<T> = Lenient<Vec<Lenient<T>>>;

/// Objects as [`Value`]s of only the kept fields, or `None` when a field has another type.
trait ToValue {
    fn to_value(&self) -> Option<Value>;
}

/// A kept field put into the reduced record under its JSON name; `None` when it has another
/// type (only the reference path can say what that means).
trait Put {
    fn put(&self, map: &mut Map<String, Value>, key: &str) -> Option<()>;
}

impl<T: ToValue> Put for Lenient<T> {
    fn put(&self, map: &mut Map<String, Value>, key: &str) -> Option<()> {
        match self {
            Lenient::Null => Some(()),
            Lenient::Some(v) => {
                map.insert(key.to_owned(), v.to_value()?);
                Some(())
            }
            Lenient::Other => None,
        }
    }
}

impl<T: ToValue> ToValue for Vec<Lenient<T>> {
    fn to_value(&self) -> Option<Value> {
        self.iter()
            .map(|item| match item {
                Lenient::Some(r) => r.to_value(),
                Lenient::Null | Lenient::Other => None,
            })
            .collect::<Option<Vec<Value>>>()
            .map(Value::Array)
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

        impl<'de> Shape<'de> for $name<'de> {
            fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
                const NAMES: &[&str] = &[$($json),*];
                let mut value = Self::default();
                while let Some(key) = map.next_key_seed(Key(NAMES))? {
                    let mut i = 0usize;
                    $(
                        if key == Some(i) {
                            value.$field = map.next_value()?;
                            continue;
                        }
                        i += 1;
                    )*
                    let _ = i;
                    map.next_value_seed(Skip)?;
                }
                Ok(Some(value))
            }
        }

        impl ToValue for $name<'_> {
            fn to_value(&self) -> Option<Value> {
                let mut m = Map::new();
                $( self.$field.put(&mut m, $json)?; )*
                Some(Value::Object(m))
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

    /// The record as [`invocation`] reads it: every kept field but `eventTime`, which it does
    /// not read (a mistyped one is no reason to hand the file over).
    fn reduced(&self) -> Option<Value> {
        let mut m = Map::new();
        self.event_source.put(&mut m, "eventSource")?;
        self.event_name.put(&mut m, "eventName")?;
        self.event_id.put(&mut m, "eventID")?;
        self.error_code.put(&mut m, "errorCode")?;
        self.recipient_account_id
            .put(&mut m, "recipientAccountId")?;
        self.aws_region.put(&mut m, "awsRegion")?;
        self.user_identity.put(&mut m, "userIdentity")?;
        self.request_parameters.put(&mut m, "requestParameters")?;
        self.additional_event_data
            .put(&mut m, "additionalEventData")?;
        self.resources.put(&mut m, "resources")?;
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
