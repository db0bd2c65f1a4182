//! Decoding, phase one: the borrowed envelope of an object frame, and the fast path for Doshii's exact wire
//! shape. Everything here borrows from the frame's text; nothing knows the message types.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// The members of an object frame the decoder looks at.
#[derive(Deserialize)]
pub(super) struct Envelope<'a> {
    #[serde(borrow, default)]
    pub doshii: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub emit: Option<EmitField<'a>>,
    #[serde(borrow, default, rename = "type")]
    pub type_: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub event: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub data: Option<&'a RawValue>,
}

/// `[name, data, extra...]`, borrowed; the extras are collected only when present.
pub(super) struct EmitArgs<'a> {
    pub name: Cow<'a, str>,
    pub data: Option<&'a RawValue>,
    pub extra: Vec<&'a RawValue>,
}

/// The `emit` member, read in the envelope's own pass (skipping it as a raw value first would cost serde_json
/// a scratch allocation for the nested array). Any shape is accepted here; a wrong one becomes `Bad`.
pub(super) enum EmitField<'a> {
    Args(EmitArgs<'a>),
    Bad(&'static str),
}

const EMIT_SHAPE: &str = "emit must be an array whose first item is the event name (a string)";

impl<'de: 'a, 'a> Deserialize<'de> for EmitField<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(EmitVisitor(std::marker::PhantomData))
    }
}

struct EmitVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for EmitVisitor<'a> {
    type Value = EmitField<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array [name, data, ...]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let Some(first) = seq.next_element::<&'de RawValue>()? else {
            return Ok(EmitField::Bad("emit array is empty"));
        };
        let data = seq.next_element::<&'de RawValue>()?;
        let mut extra = Vec::new();
        while let Some(v) = seq.next_element::<&'de RawValue>()? {
            extra.push(v);
        }
        let Ok(name) = serde_json::from_str::<BorrowedStr<'de>>(first.get()) else {
            return Ok(EmitField::Bad(EMIT_SHAPE));
        };
        Ok(EmitField::Args(EmitArgs {
            name: name.0,
            data,
            extra,
        }))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(EmitField::Bad(EMIT_SHAPE))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(EmitField::Bad(EMIT_SHAPE))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(EmitField::Bad(EMIT_SHAPE))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(EmitField::Bad(EMIT_SHAPE))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(EmitField::Bad(EMIT_SHAPE))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(EmitField::Bad(EMIT_SHAPE))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(EmitField::Bad(EMIT_SHAPE))
    }
}

/// A JSON string that borrows when it has no escapes; serde_json rejects what it rejects (invalid escapes,
/// lone surrogates).
pub(super) struct BorrowedStr<'a>(pub Cow<'a, str>);

impl<'de> Deserialize<'de> for BorrowedStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BorrowedStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The name and the data of a frame in the wire shape exactly as Doshii sends it, `{"emit":["<name>",<data>]}`
/// with a plain name (no escape, no control character), without a serde pass over the envelope: only the data
/// is validated. Anything else (whitespace, escapes in the name, extra items, other keys) returns `None` and
/// takes the general path, which gives the same result for the frames this one accepts.
#[inline]
pub(super) fn emit_fast_parts(text: &str) -> Option<(&str, &RawValue)> {
    const PREFIX: &str = "{\"emit\":[\"";
    let inner = text.strip_suffix("]}")?.strip_prefix(PREFIX)?;
    let end = inner.bytes().position(|b| b == b'"' || b == b'\\' || b < 0x20)?;
    let (name, rest) = (inner.get(..end)?, inner.get(end..)?);
    let data = rest.strip_prefix("\",")?;
    let raw = feedwire_core::json::validate_raw_value(data).ok()?;
    Some((name, raw))
}
