//! One record built as a [`Value`] until its JSON text passes the cap.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::stream::{Position, seed_by_visitor};

/// Builds a [`Value`] as `Value::deserialize` does, until the JSON text read since the record
/// began passes the cap: then it steps over the rest without holding it and yields `None`.
pub(super) struct Capped<'p> {
    pub(super) position: &'p Position,
}

impl Capped<'_> {
    fn give_up<'de, A: SeqAccess<'de>>(&self, mut seq: A) -> Result<Option<Value>, A::Error> {
        self.position.end_record();
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn give_up_map<'de, A: MapAccess<'de>>(
        &self,
        mut map: A,
        value_pending: bool,
    ) -> Result<Option<Value>, A::Error> {
        self.position.end_record();
        if value_pending {
            map.next_value::<de::IgnoredAny>()?;
        }
        while map.next_key::<de::IgnoredAny>()?.is_some() {
            map.next_value::<de::IgnoredAny>()?;
        }
        Ok(None)
    }
}

seed_by_visitor!([] Capped<'_>);

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
