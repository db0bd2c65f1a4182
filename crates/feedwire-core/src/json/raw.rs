//! Validated JSON that is a zero-copy slice of a received frame.

use std::borrow::Cow;
use std::fmt;

use bytestring::ByteString;
use serde::de::{Deserialize, DeserializeOwned, Deserializer};
use serde::ser::{Serialize, Serializer};
use serde_json::value::RawValue;

use crate::frame::{Frame, is_subslice};

/// `text`, already validated as exactly one JSON value by the caller's own scanner, as a borrowed `&RawValue`
/// without parsing it again.
///
/// serde_json builds a borrowed `&RawValue` from a one-entry map keyed by its raw-value token; this presents
/// that map. The token is serde_json's internal, not a public API: should it ever change, this returns `None`
/// and the caller falls back to `serde_json::from_str` (correct, one more pass). A unit test here fails if
/// that happens, so the regression is seen, not silent. Passing text that is not valid JSON does not cause
/// memory unsafety, but yields a `RawValue` whose contents lie: only pass scanner-validated text.
///
/// ```
/// let text = r#"{"a":[1,2]}"#;
/// let raw = feedwire_core::json::borrowed_raw_value(text).unwrap();
/// assert_eq!(raw.get().as_ptr(), text.as_ptr()); // borrowed, not copied
/// ```
pub fn borrowed_raw_value(text: &str) -> Option<&RawValue> {
    use serde::de::value::{BorrowedStrDeserializer, Error, MapDeserializer};
    const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";
    let entry = (
        BorrowedStrDeserializer::<Error>::new(RAW_VALUE_TOKEN),
        BorrowedStrDeserializer::<Error>::new(text),
    );
    <&RawValue>::deserialize(MapDeserializer::new(std::iter::once(entry)))
        .ok()
        .filter(|r| r.get().len() == text.len() && r.get().as_ptr() == text.as_ptr())
}

/// Why text could not become [`RawJson`].
#[derive(Debug, thiserror::Error)]
#[error("invalid JSON: {0}")]
pub struct RawJsonError(#[from] serde_json::Error);

/// One validated JSON value, kept as its exact text.
///
/// Decoders build it from a `&RawValue` that points into a received [`Frame`]: the result shares the frame's
/// buffer, so handing payloads to the application costs no copy. Parse it on demand with [`RawJson::parse`].
///
/// ```
/// use feedwire_core::{Frame, RawJson};
/// use serde_json::value::RawValue;
///
/// let frame = Frame::from(String::from(r#"{"event":"listed","data":{"price":12.5}}"#));
/// #[derive(serde::Deserialize)]
/// struct Envelope<'a> { #[serde(borrow)] data: &'a RawValue }
/// let env: Envelope = serde_json::from_str(frame.as_str()).unwrap();
/// let data = RawJson::from_raw_in(&frame, env.data);
/// assert_eq!(data.as_str(), r#"{"price":12.5}"#);
/// assert_eq!(data.parse::<serde_json::Value>().unwrap()["price"], 12.5);
/// ```
#[derive(Clone)]
pub struct RawJson {
    /// The buffer the value lives in: the value alone, or (see [`RawJson::take_from_frame`]) a whole frame.
    buf: ByteString,
    /// The value is `buf[start..end]`; `end == 0` (no JSON value is empty) means all of `buf`.
    start: u32,
    end: u32,
}

impl PartialEq for RawJson {
    fn eq(&self, other: &RawJson) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RawJson {}

impl std::hash::Hash for RawJson {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl RawJson {
    /// The raw value `raw`, sharing `frame`'s buffer when `raw` points into it (as it does when `raw` was
    /// borrowed while decoding `frame`); copied otherwise.
    pub fn from_raw_in(frame: &Frame, raw: &RawValue) -> RawJson {
        let part = raw.get();
        if is_subslice(frame.as_str(), part) {
            RawJson::whole(frame.as_byte_string().slice_ref(part))
        } else {
            RawJson::whole(ByteString::from(part.to_owned()))
        }
    }

    /// [`RawJson::from_raw_in`] for a frame the caller owns and is done with: `pick` decodes what it needs
    /// from the frame into `T` (owned) and names the raw value to keep; the value then keeps the frame's
    /// buffer itself. Sharing the buffer instead costs an atomic reference-count increment, and dropping the
    /// frame a decrement, on every frame; this is the receive path's way around both. When `pick` returns
    /// `None` the frame comes back untouched, for the caller's general path.
    ///
    /// ```
    /// use feedwire_core::{Frame, RawJson};
    /// use serde_json::value::RawValue;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Envelope<'a> { event: String, #[serde(borrow)] data: &'a RawValue }
    /// fn pick(f: &Frame) -> Option<(String, &RawValue)> {
    ///     let env: Envelope = serde_json::from_str(f.as_str()).ok()?;
    ///     Some((env.event, env.data))
    /// }
    ///
    /// let frame = Frame::from(String::from(r#"{"event":"listed","data":{"price":12.5}}"#));
    /// let (event, data) = RawJson::take_from_frame(frame, pick).unwrap();
    /// assert_eq!((event.as_str(), data.as_str()), ("listed", r#"{"price":12.5}"#));
    ///
    /// let other = Frame::from("[1,2]");
    /// assert_eq!(RawJson::take_from_frame(other, pick).unwrap_err().as_str(), "[1,2]");
    /// ```
    #[inline]
    pub fn take_from_frame<T>(
        frame: Frame,
        pick: impl for<'a> FnOnce(&'a Frame) -> Option<(T, &'a RawValue)>,
    ) -> Result<(T, RawJson), Frame> {
        let Some((decoded, raw)) = pick(&frame) else {
            return Err(frame);
        };
        let (whole, part) = (frame.as_str(), raw.get());
        if !is_subslice(whole, part) {
            // a value from elsewhere (a constant, say): copy it, as from_raw_in does
            return Ok((decoded, RawJson::whole(ByteString::from(part.to_owned()))));
        }
        let start = part.as_ptr() as usize - whole.as_ptr() as usize;
        let end = start + part.len();
        let json = match (u32::try_from(start), u32::try_from(end)) {
            (Ok(start), Ok(end)) if end > 0 => RawJson {
                buf: frame.into_byte_string(),
                start,
                end,
            },
            // offsets past 4 GiB (or an empty value, which no JSON is): share a slice instead
            _ => RawJson::whole(frame.as_byte_string().slice_ref(part)),
        };
        Ok((decoded, json))
    }

    fn whole(buf: ByteString) -> RawJson {
        RawJson {
            buf,
            start: 0,
            end: 0,
        }
    }

    /// Validates a whole frame as one JSON value, without copying it.
    pub fn from_frame(frame: Frame) -> Result<RawJson, RawJsonError> {
        let raw: &RawValue = serde_json::from_str(frame.as_str())?;
        Ok(RawJson::from_raw_in(&frame, raw))
    }

    /// Validates `text` as one JSON value (surrounding whitespace is dropped) and copies it.
    pub fn from_json_str(text: &str) -> Result<RawJson, RawJsonError> {
        let raw: &RawValue = serde_json::from_str(text)?;
        Ok(RawJson::whole(ByteString::from(raw.get().to_owned())))
    }

    /// Serializes `value` to JSON.
    pub fn from_value<T: Serialize + ?Sized>(value: &T) -> Result<RawJson, RawJsonError> {
        Ok(RawJson::whole(ByteString::from(serde_json::to_string(value)?)))
    }

    /// `{}`.
    pub fn empty_object() -> RawJson {
        RawJson::whole(ByteString::from_static("{}"))
    }

    /// `null`.
    pub fn null() -> RawJson {
        RawJson::whole(ByteString::from_static("null"))
    }

    /// The exact JSON text.
    #[inline]
    pub fn as_str(&self) -> &str {
        if self.end == 0 {
            &self.buf
        } else {
            // start..end were taken from a `&str` subslice of `buf`: in bounds and on char boundaries
            self.buf
                .get(self.start as usize..self.end as usize)
                .unwrap_or_default()
        }
    }

    /// The exact JSON text as shared bytes (sharing the buffer: a reference-count increment, no copy).
    pub fn to_byte_string(&self) -> ByteString {
        if self.end == 0 {
            self.buf.clone()
        } else {
            self.buf.slice_ref(self.as_str())
        }
    }

    /// Deserializes the value; `T` may borrow from `self`.
    pub fn parse<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.as_str())
    }

    /// Whether the value is a JSON string.
    pub fn is_string(&self) -> bool {
        self.as_str().starts_with('"')
    }

    /// Whether the value is a JSON object.
    pub fn is_object(&self) -> bool {
        self.as_str().starts_with('{')
    }

    /// Whether the value is `null`.
    pub fn is_null(&self) -> bool {
        self.as_str() == "null"
    }

    /// If the value is a JSON string, its unescaped content (borrowed when it has no escapes).
    pub fn as_json_string(&self) -> Option<Cow<'_, str>> {
        if !self.is_string() {
            return None;
        }
        if let Ok(s) = serde_json::from_str::<&str>(self.as_str()) {
            return Some(Cow::Borrowed(s));
        }
        serde_json::from_str::<String>(self.as_str()).ok().map(Cow::Owned)
    }

    fn as_raw_value(&self) -> Result<&RawValue, serde_json::Error> {
        serde_json::from_str(self.as_str())
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawJson({})", self.as_str())
    }
}

impl fmt::Display for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RawJson {
    /// Writes the exact text.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.as_raw_value()
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw: Box<RawValue> = Deserialize::deserialize(deserializer)?;
        Ok(RawJson::whole(ByteString::from(String::from(Box::<str>::from(
            raw,
        )))))
    }
}

/// A payload that servers send either as a JSON-encoded string or as plain JSON (Pusher's `data`).
///
/// It is kept raw; [`StringOrJson::text`] and [`StringOrJson::parse`] look through one level of string
/// encoding, the way pusher-js does: a string is parsed as JSON when it holds JSON, and kept as a string when
/// it does not.
///
/// ```
/// use feedwire_core::{RawJson, StringOrJson};
/// #[derive(serde::Deserialize, Debug, PartialEq)]
/// struct Listed { id: u64 }
///
/// let as_string = StringOrJson::new(RawJson::from_json_str(r#""{\"id\":7}""#).unwrap());
/// let as_object = StringOrJson::new(RawJson::from_json_str(r#"{"id":7}"#).unwrap());
/// assert_eq!(as_string.parse::<Listed>().unwrap(), Listed { id: 7 });
/// assert_eq!(as_object.parse::<Listed>().unwrap(), Listed { id: 7 });
/// assert_eq!(as_string.text(), r#"{"id":7}"#);
///
/// let plain = StringOrJson::new(RawJson::from_json_str(r#""hello""#).unwrap());
/// assert_eq!(plain.text(), "hello");
/// assert_eq!(plain.parse::<String>().unwrap(), "hello");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StringOrJson(RawJson);

impl StringOrJson {
    /// Wraps a raw value.
    pub fn new(raw: RawJson) -> Self {
        StringOrJson(raw)
    }

    /// The raw value as received (a JSON string literal with its quotes and escapes, or other JSON).
    pub fn raw(&self) -> &RawJson {
        &self.0
    }

    /// Unwraps the raw value.
    pub fn into_raw(self) -> RawJson {
        self.0
    }

    /// Whether the value arrived string-encoded.
    pub fn is_string_encoded(&self) -> bool {
        self.0.is_string()
    }

    /// The payload as text: a string's unescaped content, or any other value's JSON text.
    pub fn text(&self) -> Cow<'_, str> {
        match self.0.as_json_string() {
            Some(s) => s,
            None => Cow::Borrowed(self.0.as_str()),
        }
    }

    /// Deserializes the payload. A string-encoded payload is parsed as the JSON it holds; if it does not hold
    /// JSON of type `T`, the string value itself is deserialized (so `parse::<String>()` always works on a string).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        if let Some(inner) = self.0.as_json_string() {
            match serde_json::from_str(&inner) {
                Ok(v) => return Ok(v),
                Err(e) => return self.0.parse().map_err(|_| e),
            }
        }
        self.0.parse()
    }
}

impl From<RawJson> for StringOrJson {
    fn from(raw: RawJson) -> Self {
        StringOrJson(raw)
    }
}

impl fmt::Debug for StringOrJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StringOrJson({})", self.0.as_str())
    }
}

impl Serialize for StringOrJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for StringOrJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        RawJson::deserialize(deserializer).map(StringOrJson)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Env<'a> {
        #[serde(borrow)]
        data: &'a RawValue,
    }

    #[test]
    fn keeps_exact_bytes_and_shares_the_buffer() {
        let text = String::from(r#"{"event":"e","data":{ "b" : [1, 2.50,"\u003c"] }}"#);
        let frame = Frame::from(text);
        let env: Env = serde_json::from_str(frame.as_str()).unwrap();
        let raw = RawJson::from_raw_in(&frame, env.data);
        assert_eq!(
            raw.as_str(),
            r#"{ "b" : [1, 2.50,"\u003c"] }"#,
            "exact text, whitespace and escapes kept"
        );
        let start = frame.as_str().find("{ \"b\"").unwrap();
        assert_eq!(raw.as_str().as_ptr(), frame.as_str()[start..].as_ptr(), "no copy");
        // the slice keeps the buffer alive after the frame is gone
        drop(frame);
        assert_eq!(raw.parse::<serde_json::Value>().unwrap()["b"][2], "<");
    }

    #[test]
    fn copies_when_not_inside_the_frame() {
        let frame = Frame::from("{}");
        let other: Box<RawValue> = serde_json::from_str("[1]").unwrap();
        let raw = RawJson::from_raw_in(&frame, &other);
        assert_eq!(raw.as_str(), "[1]");
    }

    #[test]
    fn validates() {
        assert!(RawJson::from_json_str("{\"a\":").is_err());
        assert!(RawJson::from_json_str("1 2").is_err());
        assert!(RawJson::from_frame(Frame::from("nope")).is_err());
        assert_eq!(RawJson::from_json_str("  [1] ").unwrap().as_str(), "[1]");
        let f = Frame::from(String::from("{\"x\":1}"));
        let p = f.as_str().as_ptr();
        assert_eq!(RawJson::from_frame(f).unwrap().as_str().as_ptr(), p);
    }

    #[test]
    fn kinds_and_strings() {
        let s = RawJson::from_json_str(r#""a\"b""#).unwrap();
        assert!(s.is_string() && !s.is_object() && !s.is_null());
        assert_eq!(s.as_json_string().unwrap(), "a\"b");
        let plain = RawJson::from_json_str(r#""ab""#).unwrap();
        assert!(matches!(plain.as_json_string(), Some(Cow::Borrowed("ab"))));
        assert!(RawJson::null().is_null());
        assert!(RawJson::empty_object().is_object());
        assert_eq!(RawJson::from_json_str("5").unwrap().as_json_string(), None);
    }

    #[test]
    fn serde_round_trip_is_exact() {
        let raw = RawJson::from_json_str(r#"{"z":1,"a":[true,null]}"#).unwrap();
        #[derive(serde::Serialize)]
        struct Out<'a> {
            data: &'a RawJson,
        }
        let out = serde_json::to_string(&Out { data: &raw }).unwrap();
        assert_eq!(out, r#"{"data":{"z":1,"a":[true,null]}}"#);
        let back: RawJson = serde_json::from_str(r#" {"z":1} "#).unwrap();
        assert_eq!(back.as_str(), r#"{"z":1}"#);
    }

    #[test]
    fn string_or_json() {
        let enc = StringOrJson::new(RawJson::from_json_str(r#""{\"n\":1}""#).unwrap());
        assert!(enc.is_string_encoded());
        assert_eq!(enc.text(), r#"{"n":1}"#);
        assert_eq!(enc.parse::<serde_json::Value>().unwrap()["n"], 1);
        let obj = StringOrJson::new(RawJson::from_json_str(r#"{"n":1}"#).unwrap());
        assert!(!obj.is_string_encoded());
        assert_eq!(obj.text(), r#"{"n":1}"#);
        // a string that is not JSON stays a string
        let s = StringOrJson::new(RawJson::from_json_str(r#""not json""#).unwrap());
        assert_eq!(s.parse::<String>().unwrap(), "not json");
        assert_eq!(s.parse::<serde_json::Value>().unwrap(), "not json");
        // a string holding JSON of the wrong type reports the inner error
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct N {
            n: u8,
        }
        let wrong = StringOrJson::new(RawJson::from_json_str(r#""{\"n\":\"x\"}""#).unwrap());
        assert!(wrong.parse::<N>().is_err());
    }

    #[test]
    fn take_from_frame_keeps_the_frame_and_behaves_like_a_slice() {
        use std::collections::hash_map::DefaultHasher;
        use std::hash::{Hash, Hasher};
        let hash = |r: &RawJson| {
            let mut h = DefaultHasher::new();
            r.hash(&mut h);
            h.finish()
        };
        let text = r#"{"event":"e","data":{"b":[1,2]}}"#;
        let frame = Frame::from(String::from(text));
        let base = frame.as_str().as_ptr() as usize;
        let sliced = {
            let env: Env = serde_json::from_str(frame.as_str()).unwrap();
            RawJson::from_raw_in(&frame, env.data)
        };
        fn pick(f: &Frame) -> Option<((), &RawValue)> {
            let env: Env = serde_json::from_str(f.as_str()).ok()?;
            Some(((), env.data))
        }
        let ((), taken) = RawJson::take_from_frame(frame, pick).unwrap();
        assert_eq!(taken.as_str(), r#"{"b":[1,2]}"#);
        assert_eq!(taken.as_str().as_ptr() as usize, base + 20, "no copy");
        // equal, hashed alike and shown alike whatever the representation
        let copied = RawJson::from_json_str(r#"{"b":[1,2]}"#).unwrap();
        for other in [&sliced, &copied] {
            assert_eq!(&taken, other);
            assert_eq!(hash(&taken), hash(other));
            assert_eq!(format!("{taken:?} {taken}"), format!("{other:?} {other}"));
        }
        assert_ne!(taken, RawJson::null());
        // the shared bytes are the value's only, still without a copy
        let bs = taken.to_byte_string();
        assert_eq!((&*bs, bs.as_ptr() as usize), (r#"{"b":[1,2]}"#, base + 20));
        assert_eq!(taken.parse::<serde_json::Value>().unwrap()["b"][1], 2);
        assert!(taken.is_object() && !taken.is_string() && !taken.is_null());
        assert_eq!(serde_json::to_string(&taken).unwrap(), r#"{"b":[1,2]}"#);
        // a value that fills the whole frame
        let whole = RawJson::take_from_frame(Frame::from(String::from("[true]")), |f| {
            Some(((), borrowed_raw_value(f.as_str())?))
        });
        assert_eq!(whole.unwrap().1.as_str(), "[true]");
    }

    #[test]
    fn take_from_frame_gives_the_frame_back_or_copies_foreign_values() {
        let frame = Frame::from(String::from("not json"));
        let back = RawJson::take_from_frame(frame, |f| {
            let raw: &RawValue = serde_json::from_str(f.as_str()).ok()?;
            Some(((), raw))
        });
        assert_eq!(back.unwrap_err().as_str(), "not json");
        // pick may name a value that is not in the frame (a constant): it is copied
        static NULL: &str = "null";
        let constant = borrowed_raw_value(NULL).unwrap();
        let ((), v) = RawJson::take_from_frame(Frame::from("{}"), |_| Some(((), constant))).unwrap();
        assert_eq!(v.as_str(), "null");
        assert_ne!(v.as_str().as_ptr(), NULL.as_ptr());
    }
}
