//! The message envelope: how a channel name and a payload share one WebSocket frame.
//!
//! This module is the only place that knows the frame shape. Everything else (codec, client, hub) goes
//! through the [`Envelope`] trait, so plugging in another shape is one `impl Envelope for MyShape` and
//! `Client::with_envelope(config, MyShape)` / `Hub::with_envelope(config, MyShape)`.
//!
//! The default, [`NestEnvelope`], is the NestJS `ws` adapter's `{"event":"<channel>","data":<payload>}`
//! (assumption 1 of the project's Igratech notes), used in both directions.
//!
//! ```
//! use feedwire_igratech::envelope::{Envelope, NestEnvelope};
//!
//! let env = NestEnvelope;
//! let msg = env.split(r#"{"event":"balance","data":{"balance":12.5}}"#).unwrap();
//! assert_eq!(msg.event, "balance");
//! assert_eq!(msg.data.get(), r#"{"balance":12.5}"#);
//!
//! let mut out = String::new();
//! env.join("balance", r#"{"balance":12.5}"#, &mut out);
//! assert_eq!(out, r#"{"event":"balance","data":{"balance":12.5}}"#);
//! ```

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// One frame split by an [`Envelope`]: the channel name and the payload, both borrowed from the frame text.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RawMessage<'a> {
    /// The channel (AsyncAPI channel name, such as `bet`); borrowed unless it contained escapes.
    pub event: Cow<'a, str>,
    /// The payload as raw JSON text, borrowed from the frame (or [`RawValue::NULL`] when absent).
    pub data: &'a RawValue,
}

impl<'a> RawMessage<'a> {
    /// A message from its parts.
    pub fn new(event: Cow<'a, str>, data: &'a RawValue) -> Self {
        RawMessage { event, data }
    }
}

/// Why a frame could not be split into channel and payload.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The frame is not JSON of the envelope's shape.
    #[error("malformed envelope: {0}")]
    Json(#[from] serde_json::Error),
    /// The frame is JSON but not of the envelope's shape.
    #[error("malformed envelope: {0}")]
    Shape(&'static str),
}

/// A frame shape: how to find channel and payload in a frame, and how to write them.
///
/// Implementations must not panic on any input and must borrow the payload from `text` (so the client hands
/// it to the application without a copy). A `join` writes string literals with
/// [`feedwire_core::json::write_string`], the one string writer of every feedwire encoder.
pub trait Envelope {
    /// Splits one frame's text into channel name and raw payload.
    fn split<'a>(&self, text: &'a str) -> Result<RawMessage<'a>, EnvelopeError>;

    /// Appends the frame for `event` carrying `data` (valid JSON text) to `out`.
    fn join(&self, event: &str, data: &str, out: &mut String);
}

/// The NestJS `ws` adapter envelope: `{"event":"<channel>","data":<payload>}`.
///
/// A frame without `data` carries `null`; other members are ignored; `event` must be a string.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NestEnvelope;

/// The borrowed NestJS frame: a JSON object (never an array) with a string `event` and any `data`.
struct NestWire<'a> {
    event: Cow<'a, str>,
    data: Option<&'a RawValue>,
}

/// A string that borrows from the input when it has no escapes.
struct CowStr<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<CowStr<'de>, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CowStr<'de>, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for NestWire<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NestWire<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"an object {"event":..,"data":..}"#)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NestWire<'de>, A::Error> {
                let mut event = None;
                let mut data = None;
                while let Some(CowStr(key)) = map.next_key::<CowStr<'de>>()? {
                    match key.as_ref() {
                        "event" => event = Some(map.next_value::<CowStr<'de>>()?.0),
                        "data" => data = Some(map.next_value::<&'de RawValue>()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                let event = event.ok_or_else(|| de::Error::missing_field("event"))?;
                Ok(NestWire { event, data })
            }
        }
        d.deserialize_map(V)
    }
}

impl Envelope for NestEnvelope {
    #[inline]
    fn split<'a>(&self, text: &'a str) -> Result<RawMessage<'a>, EnvelopeError> {
        match split_canonical(text) {
            Some(m) => Ok(m),
            None => split_general(text),
        }
    }

    fn join(&self, event: &str, data: &str, out: &mut String) {
        out.reserve(event.len() + data.len() + 20);
        out.push_str("{\"event\":");
        feedwire_core::json::write_string(out, event);
        out.push_str(",\"data\":");
        out.push_str(data);
        out.push('}');
    }
}

/// Any JSON object with a string `event` and an optional `data`.
fn split_general(text: &str) -> Result<RawMessage<'_>, EnvelopeError> {
    let wire: NestWire<'_> = serde_json::from_str(text)?;
    Ok(RawMessage {
        event: wire.event,
        data: wire.data.unwrap_or(RawValue::NULL),
    })
}

/// The fast path for the exact form NestJS writes, `{"event":"<name>","data":<value>}` (no whitespace
/// before `data`, a name without escapes): only the payload goes through the JSON parser. Anything else,
/// including every malformed frame, returns `None` and takes the general path, so both paths accept the
/// same frames with the same result.
#[inline]
fn split_canonical(text: &str) -> Option<RawMessage<'_>> {
    const HEAD: &str = "{\"event\":\"";
    const MID: &str = "\",\"data\":";
    let rest = text.strip_prefix(HEAD)?;
    let end = rest.find('"')?;
    let event = rest.get(..end)?;
    if event.bytes().any(|b| b == b'\\' || b < 0x20) {
        return None;
    }
    let data = rest.get(end..)?.strip_prefix(MID)?;
    let data = data.trim_end_matches([' ', '\t', '\n', '\r']).strip_suffix('}')?;
    // core's validator: serde_json's skip allocates a scratch buffer for nested payloads, this does not
    let data = feedwire_core::json::validate_raw_value(data).ok()?;
    Some(RawMessage {
        event: Cow::Borrowed(event),
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_borrows() {
        let text = r#"{"event":"bet","data":{"gameId":1},"extra":true}"#;
        let m = NestEnvelope.split(text).unwrap();
        assert!(matches!(m.event, Cow::Borrowed("bet")));
        assert_eq!(m.data.get(), r#"{"gameId":1}"#);
        let start = text.find("{\"gameId").unwrap();
        assert_eq!(m.data.get().as_ptr(), text[start..].as_ptr());
    }

    #[test]
    fn escaped_event_and_missing_data() {
        let m = NestEnvelope.split(r#"{"event":"b\u0065t"}"#).unwrap();
        assert_eq!(m.event, "bet");
        assert_eq!(m.data.get(), "null");
    }

    #[test]
    fn rejects_other_shapes() {
        for bad in [
            "",
            "[]",
            r#"["bet",{}]"#,
            r#"{"event":"a","event":}"#,
            "{\"data\":1}",
            "{\"event\":1,\"data\":1}",
            "{\"event\":\"a\",\"data\":}",
            "nope",
        ] {
            assert!(NestEnvelope.split(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Whenever the fast path accepts a frame, the general path accepts it with the same result.
        #[test]
        fn fast_and_general_paths_agree(
            text in r#"\{"event":"[a-z\\"\x01é-]{0,6}",( )?"data":( )?(\{"a":[0-9]\}|\[1,2\]|"x"|1e5|null|tru|\{\}\}|\{"b":1\},"event":"z")?( |\n)?\}?( )?"#
        ) {
            let fast = split_canonical(&text);
            let general = split_general(&text);
            if let Some(f) = fast {
                let g = general.expect("the general path accepts what the fast path accepts");
                proptest::prop_assert_eq!(&f.event, &g.event);
                proptest::prop_assert_eq!(f.data.get(), g.data.get());
            }
        }
    }

    #[test]
    fn both_paths_take_their_frames() {
        assert!(split_canonical(r#"{"event":"bet","data":{"a":1}}"#).is_some());
        assert!(split_canonical("{\"event\":\"bet\",\"data\":[1] \n").is_none());
        assert!(split_canonical("{\"event\":\"bet\",\"data\":[1]} \n").is_some());
        for other in [
            r#"{"event":"b\"t","data":1}"#,
            r#"{"event":"bet", "data":1}"#,
            r#" {"event":"bet","data":1}"#,
            r#"{"event":"bet","data":1,"x":2}"#,
            r#"{"data":1,"event":"bet"}"#,
            r#"{"event":"bet"}"#,
        ] {
            assert!(split_canonical(other).is_none(), "{other}");
            assert!(NestEnvelope.split(other).is_ok(), "{other}");
        }
        assert!(
            NestEnvelope.split("{\"event\":\"a\u{1}\",\"data\":1}").is_err(),
            "raw control characters"
        );
    }

    #[test]
    fn join_escapes_the_event() {
        let mut out = String::new();
        NestEnvelope.join("a\"b\\c\n\u{1}", "1", &mut out);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["event"], "a\"b\\c\n\u{1}");
        assert_eq!(v["data"], 1);
        let back = NestEnvelope.split(&out).unwrap();
        assert_eq!(back.event, "a\"b\\c\n\u{1}");
    }
}
