//! Doshii frames: heartbeats, legacy Primus strings and events. No state.
//!
//! What travels on a Doshii socket (see the crate docs for the sources):
//!
//! | frame | [`Message`] |
//! |---|---|
//! | `{"doshii":{"ping":1539144663417,"version":"1.2.3"}}` (POS may add `"status":{..}`) | [`Message::Ping`] |
//! | `{"doshii":{"pong":1539144663417,"version":"3.2.123"}}` (`version` may be missing) | [`Message::Pong`] |
//! | `"primus::ping::1539144663417"` (a JSON string, quotes included) | [`Message::PrimusPing`] |
//! | `"primus::pong::1539144663417"` | [`Message::PrimusPong`] |
//! | `"primus::server::close"` | [`Message::PrimusServerClose`] |
//! | `{"emit":["order_updated",{..}]}` (the wire shape, from primus-emit) | [`Message::Event`] |
//! | `{"type":"order_updated","data":{..}}` or `{"event":..,"data":..}` (the docs' shape; accepted as a fallback) | [`Message::Event`] |
//! | any other valid JSON | [`Message::Unknown`] |
//!
//! Decoding runs in two phases: a borrowed envelope first (payloads stay `&RawValue` slices of the frame, names
//! are `Cow<str>`), then the owned [`Message`] whose payloads are [`RawJson`] slices of the same buffer: no
//! copy. Payload fields are read on demand through [`EventData`]. The exact shape Doshii sends,
//! `{"emit":["<name>",<data>]}`, takes a fast path that parses only the data; every other frame goes through
//! the envelope (both give the same result, which the fuzz targets check).
//!
//! ```
//! use feedwire_core::Frame;
//! use feedwire_doshii::codec::{self, EventKind, Message};
//!
//! let frame = Frame::from(r#"{"emit":["order_updated",{"id":"123","status":"accepted","uri":"https://sandbox.doshii.co/partner/v3/orders/123"}]}"#);
//! let Message::Event(event) = codec::decode(&frame).unwrap() else { panic!() };
//! assert_eq!(event.kind, EventKind::OrderUpdated);
//! assert_eq!(event.data.id().as_deref(), Some("123"));
//! assert_eq!(event.data.status().as_deref(), Some("accepted"));
//! // and back to the wire
//! assert_eq!(Message::Event(event).to_frame(), frame);
//! ```

use std::borrow::Cow;
use std::fmt;

use bytestring::ByteString;
use feedwire_core::{Frame, RawJson};
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The JSON string the server sends before closing on purpose: do not reconnect.
pub const PRIMUS_SERVER_CLOSE: &str = "\"primus::server::close\"";

const PRIMUS_PING_PREFIX: &str = "primus::ping::";
const PRIMUS_PONG_PREFIX: &str = "primus::pong::";
const PRIMUS_SERVER_CLOSE_TEXT: &str = "primus::server::close";

/// Why a frame could not be decoded. The frame itself travels beside the error (see
/// [`client::Event::Error`](crate::client::Event::Error)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame is not valid JSON, or a known envelope has the wrong shape.
    #[error("invalid JSON: {reason}")]
    Json {
        /// serde_json's description (line and column included).
        reason: String,
    },
    /// An `emit` frame whose value is not an array starting with a string.
    #[error("invalid emit frame: {reason}")]
    Emit {
        /// What is wrong.
        reason: &'static str,
    },
    /// The frame is larger than the configured limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The frame's length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl From<serde_json::Error> for DecodeError {
    fn from(e: serde_json::Error) -> Self {
        DecodeError::Json {
            reason: e.to_string(),
        }
    }
}

/// A heartbeat timestamp, kept as received so an answer can carry exactly the same value.
///
/// For `{"doshii":{"ping":..}}` it is the JSON text of the value (normally Unix milliseconds such as
/// `1539144663417`); for the Primus strings it is the text after `primus::ping::`.
///
/// ```
/// use feedwire_doshii::codec::Stamp;
/// let s = Stamp::from_millis(1539144663417);
/// assert_eq!(s.as_str(), "1539144663417");
/// assert_eq!(s.millis(), Some(1539144663417));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Stamp(ByteString);

impl Stamp {
    /// A stamp with any text (a Primus stamp, or the JSON text of a heartbeat's value).
    pub fn new(text: impl Into<String>) -> Stamp {
        Stamp(ByteString::from(text.into()))
    }

    /// A stamp of `ms` Unix milliseconds.
    pub fn from_millis(ms: u64) -> Stamp {
        Stamp(ByteString::from(ms.to_string()))
    }

    /// The stamp's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The stamp as whole milliseconds, when it is a non-negative number (fractions are dropped).
    pub fn millis(&self) -> Option<u64> {
        let s = self.as_str().trim();
        if let Ok(v) = s.parse::<u64>() {
            return Some(v);
        }
        match s.parse::<f64>() {
            Ok(f) if (0.0..1.8e19).contains(&f) => Some(f as u64),
            _ => None,
        }
    }

    /// Whether the text is one valid JSON value (true for every stamp of a `{"doshii":..}` heartbeat).
    fn is_json(&self) -> bool {
        serde_json::from_str::<IgnoredAny>(self.as_str()).is_ok()
    }
}

impl fmt::Debug for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Stamp({})", self.as_str())
    }
}

/// A `{"doshii":{"ping"|"pong":..}}` heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Heartbeat {
    /// The timestamp (Unix milliseconds on the wire).
    pub stamp: Stamp,
    /// `version` as received (a JSON value, normally a string such as `"3.2.123"`).
    pub version: Option<RawJson>,
    /// A POS's `status` object (`{"database":"online","processor":"offline"}`), as received.
    pub status: Option<RawJson>,
}

impl Heartbeat {
    /// A heartbeat of `ms` Unix milliseconds with no version and no status.
    pub fn new(ms: u64) -> Heartbeat {
        Heartbeat {
            stamp: Stamp::from_millis(ms),
            version: None,
            status: None,
        }
    }

    /// Sets the version string.
    pub fn with_version(mut self, version: &str) -> Heartbeat {
        self.version = RawJson::from_value(version).ok();
        self
    }

    /// Sets the POS status.
    pub fn with_status(mut self, status: &PosStatus) -> Heartbeat {
        self.status = RawJson::from_value(status).ok();
        self
    }

    /// The version as text: a string's content, or any other value's JSON text.
    pub fn version(&self) -> Option<Cow<'_, str>> {
        self.version
            .as_ref()
            .map(|v| v.as_json_string().unwrap_or(Cow::Borrowed(v.as_str())))
    }

    /// The POS status, typed.
    pub fn pos_status(&self) -> Option<Result<PosStatus, serde_json::Error>> {
        self.status.as_ref().map(|s| s.parse())
    }
}

/// The health a POS reports in its pings: `{"database":"online","processor":"offline"}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PosStatus {
    /// The POS database, such as `"online"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// The payment processor, such as `"offline"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processor: Option<String>,
}

impl PosStatus {
    /// Sets the database state.
    pub fn with_database(mut self, s: impl Into<String>) -> Self {
        self.database = Some(s.into());
        self
    }
    /// Sets the processor state.
    pub fn with_processor(mut self, s: impl Into<String>) -> Self {
        self.processor = Some(s.into());
        self
    }
}

/// Which envelope an event arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum EventShape {
    /// `{"emit":[name, data, ...]}`: the wire shape (primus-emit).
    #[default]
    Emit,
    /// `{"type":name,"data":..}`: the shape the older docs print.
    Type,
    /// `{"event":name,"data":..}`: the shape the newer docs print.
    Event,
}

/// One Doshii event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Event {
    /// The event name, typed.
    pub kind: EventKind,
    /// The payload (`null` when the frame had none), a slice of the received frame.
    pub data: EventData,
    /// The envelope it came in.
    pub shape: EventShape,
    /// Items after the data in an `emit` array (Primus allows them; Doshii sends none). Empty, and not
    /// allocated, in the normal case.
    pub extra_args: Vec<RawJson>,
}

impl Event {
    /// An `emit`-shaped event.
    pub fn new(kind: EventKind, data: RawJson) -> Event {
        Event {
            kind,
            data: EventData(data),
            shape: EventShape::Emit,
            extra_args: Vec::new(),
        }
    }

    /// Sets the envelope shape used by [`Message::to_frame`].
    pub fn with_shape(mut self, shape: EventShape) -> Event {
        self.shape = shape;
        self
    }

    /// The event name as on the wire.
    pub fn name(&self) -> &str {
        self.kind.as_str()
    }
}

/// A decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// `{"doshii":{"ping":..}}`: the client's heartbeat (servers may send it too).
    Ping(Heartbeat),
    /// `{"doshii":{"pong":..}}`: the answer to a ping.
    Pong(Heartbeat),
    /// `"primus::ping::<ms>"`: a legacy Primus heartbeat; answer with [`Message::PrimusPong`].
    PrimusPing(Stamp),
    /// `"primus::pong::<ms>"`.
    PrimusPong(Stamp),
    /// `"primus::server::close"`: the server is closing on purpose; do not reconnect.
    PrimusServerClose,
    /// An event, in the `emit` shape or the docs' fallback shapes.
    Event(Event),
    /// Valid JSON that is none of the above (kept whole, never an error).
    Unknown(RawJson),
}

impl Message {
    /// Encodes the message. Every message decodes back to itself, except that an [`Message::Unknown`] whose
    /// JSON happens to be a known shape decodes as that shape.
    pub fn to_frame(&self) -> Frame {
        match self {
            Message::Ping(h) => encode_heartbeat("ping", h),
            Message::Pong(h) => encode_heartbeat("pong", h),
            Message::PrimusPing(s) => encode_json_string(PRIMUS_PING_PREFIX, s.as_str()),
            Message::PrimusPong(s) => encode_json_string(PRIMUS_PONG_PREFIX, s.as_str()),
            Message::PrimusServerClose => Frame::from(PRIMUS_SERVER_CLOSE),
            Message::Event(e) => encode_event(e),
            Message::Unknown(raw) => Frame::from(raw.to_byte_string()),
        }
    }
}

/// A ping frame: `{"doshii":{"ping":<ms>,"version":..,"status":..}}`.
///
/// ```
/// use feedwire_doshii::codec::{encode_ping, PosStatus};
/// assert_eq!(encode_ping(1539144663417, Some("1.2.3"), None).as_str(),
///            r#"{"doshii":{"ping":1539144663417,"version":"1.2.3"}}"#);
/// let st = PosStatus::default().with_database("online").with_processor("offline");
/// assert_eq!(encode_ping(5, None, Some(&st)).as_str(),
///            r#"{"doshii":{"ping":5,"status":{"database":"online","processor":"offline"}}}"#);
/// ```
pub fn encode_ping(ms: u64, version: Option<&str>, status: Option<&PosStatus>) -> Frame {
    let out = Out {
        doshii: OutHeartbeat {
            ping: Some(OutStamp::Millis(ms)),
            pong: None,
            version: version.map(OutVersion::Str),
            status: status.map(OutStatus::Typed),
        },
    };
    to_frame(&out)
}

/// A pong frame answering a ping with the same stamp: `{"doshii":{"pong":<stamp>,"version":..}}`.
///
/// ```
/// use feedwire_doshii::codec::{encode_pong, Stamp};
/// assert_eq!(encode_pong(&Stamp::from_millis(7), Some("3.2.123")).as_str(),
///            r#"{"doshii":{"pong":7,"version":"3.2.123"}}"#);
/// ```
pub fn encode_pong(stamp: &Stamp, version: Option<&str>) -> Frame {
    let h = Heartbeat {
        stamp: stamp.clone(),
        version: version.and_then(|v| RawJson::from_value(v).ok()),
        status: None,
    };
    encode_heartbeat("pong", &h)
}

/// An `emit` frame: `{"emit":[name,data]}`.
///
/// ```
/// use feedwire_core::RawJson;
/// use feedwire_doshii::codec::encode_emit;
/// let data = RawJson::from_json_str(r#"{"id":"1"}"#).unwrap();
/// assert_eq!(encode_emit("order_created", &data).as_str(), r#"{"emit":["order_created",{"id":"1"}]}"#);
/// ```
pub fn encode_emit(name: &str, data: &RawJson) -> Frame {
    let mut s = String::with_capacity(name.len() + data.as_str().len() + 16);
    s.push_str("{\"emit\":[");
    push_json_string(&mut s, name);
    s.push(',');
    s.push_str(data.as_str());
    s.push_str("]}");
    Frame::from(s)
}

fn encode_event(e: &Event) -> Frame {
    match e.shape {
        EventShape::Emit if e.extra_args.is_empty() => encode_emit(e.name(), &e.data.0),
        EventShape::Emit => {
            let mut s = String::from("{\"emit\":[");
            push_json_string(&mut s, e.name());
            s.push(',');
            s.push_str(e.data.0.as_str());
            for a in &e.extra_args {
                s.push(',');
                s.push_str(a.as_str());
            }
            s.push_str("]}");
            Frame::from(s)
        }
        EventShape::Type | EventShape::Event => {
            let key = if e.shape == EventShape::Type {
                "{\"type\":"
            } else {
                "{\"event\":"
            };
            let mut s = String::from(key);
            push_json_string(&mut s, e.name());
            s.push_str(",\"data\":");
            s.push_str(e.data.0.as_str());
            s.push('}');
            Frame::from(s)
        }
    }
}

fn push_json_string(out: &mut String, s: &str) {
    match serde_json::to_string(s) {
        Ok(q) => out.push_str(&q),
        Err(_) => out.push_str("\"\""), // serializing a &str cannot fail
    }
}

fn encode_json_string(prefix: &str, rest: &str) -> Frame {
    let mut s = String::with_capacity(prefix.len() + rest.len() + 2);
    let mut inner = String::with_capacity(prefix.len() + rest.len());
    inner.push_str(prefix);
    inner.push_str(rest);
    push_json_string(&mut s, &inner);
    Frame::from(s)
}

fn encode_heartbeat(which: &'static str, h: &Heartbeat) -> Frame {
    // A stamp that is not JSON (possible only for a stamp built from a Primus string) is sent as a string.
    let stamp = if h.stamp.is_json() {
        OutStamp::Raw(h.stamp.as_str())
    } else {
        OutStamp::Str(h.stamp.as_str())
    };
    let (ping, pong) = if which == "ping" {
        (Some(stamp), None)
    } else {
        (None, Some(stamp))
    };
    let out = Out {
        doshii: OutHeartbeat {
            ping,
            pong,
            version: h.version.as_ref().map(OutVersion::Raw),
            status: h.status.as_ref().map(OutStatus::Raw),
        },
    };
    to_frame(&out)
}

fn to_frame<T: Serialize>(v: &T) -> Frame {
    match serde_json::to_string(v) {
        Ok(s) => Frame::from(s),
        Err(_) => Frame::from("{}"), // RawJson and plain values always serialize
    }
}

#[derive(Serialize)]
struct Out<'a> {
    doshii: OutHeartbeat<'a>,
}

#[derive(Serialize)]
struct OutHeartbeat<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    ping: Option<OutStamp<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pong: Option<OutStamp<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<OutVersion<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<OutStatus<'a>>,
}

enum OutStamp<'a> {
    Millis(u64),
    Raw(&'a str),
    Str(&'a str),
}

impl Serialize for OutStamp<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OutStamp::Millis(ms) => s.serialize_u64(*ms),
            OutStamp::Str(t) => s.serialize_str(t),
            OutStamp::Raw(t) => {
                let raw: &RawValue = serde_json::from_str(t).map_err(serde::ser::Error::custom)?;
                raw.serialize(s)
            }
        }
    }
}

enum OutVersion<'a> {
    Str(&'a str),
    Raw(&'a RawJson),
}

impl Serialize for OutVersion<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OutVersion::Str(t) => s.serialize_str(t),
            OutVersion::Raw(r) => r.serialize(s),
        }
    }
}

enum OutStatus<'a> {
    Typed(&'a PosStatus),
    Raw(&'a RawJson),
}

impl Serialize for OutStatus<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OutStatus::Typed(t) => t.serialize(s),
            OutStatus::Raw(r) => r.serialize(s),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Decoding, phase one: the borrowed envelope.

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    doshii: Option<&'a RawValue>,
    #[serde(borrow, default)]
    emit: Option<EmitField<'a>>,
    #[serde(borrow, default, rename = "type")]
    type_: Option<&'a RawValue>,
    #[serde(borrow, default)]
    event: Option<&'a RawValue>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct DoshiiInner<'a> {
    #[serde(borrow, default)]
    ping: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pong: Option<&'a RawValue>,
    #[serde(borrow, default)]
    version: Option<&'a RawValue>,
    #[serde(borrow, default)]
    status: Option<&'a RawValue>,
}

/// `[name, data, extra...]`, borrowed; the extras are collected only when present.
struct EmitArgs<'a> {
    name: Cow<'a, str>,
    data: Option<&'a RawValue>,
    extra: Vec<&'a RawValue>,
}

/// The `emit` member, read in the envelope's own pass (skipping it as a raw value first would cost serde_json
/// a scratch allocation for the nested array). Any shape is accepted here; a wrong one becomes `Bad`.
enum EmitField<'a> {
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

/// A string that borrows when it has no escapes.
struct BorrowedStr<'a>(Cow<'a, str>);

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

/// The text of `s` as a [`ByteString`] sharing `frame` when `s` borrows from it.
fn share(frame: &Frame, s: &str) -> ByteString {
    frame.slice_ref(s).into_byte_string()
}

fn name_in(frame: &Frame, name: Cow<'_, str>) -> EventKind {
    match EventKind::known(&name) {
        Some(k) => k,
        None => EventKind::Other(match name {
            Cow::Borrowed(b) => share(frame, b),
            Cow::Owned(o) => ByteString::from(o),
        }),
    }
}

/// Decodes one frame. Never panics; unknown shapes are [`Message::Unknown`], not errors.
pub fn decode(frame: &Frame) -> Result<Message, DecodeError> {
    match decode_emit_fast(frame, frame.as_str()) {
        Some(m) => Ok(m),
        None => decode_general(frame),
    }
}

/// Every shape, through serde.
fn decode_general(frame: &Frame) -> Result<Message, DecodeError> {
    let text = frame.as_str();
    let first = text.trim_start().as_bytes().first().copied();
    match first {
        Some(b'{') => decode_object(frame, text),
        Some(b'"') => decode_string(frame, text),
        _ => {
            let raw: &RawValue = serde_json::from_str(text)?;
            Ok(Message::Unknown(RawJson::from_raw_in(frame, raw)))
        }
    }
}

/// Decodes one frame after checking its size against `max_len`.
pub fn decode_limited(frame: &Frame, max_len: usize) -> Result<Message, DecodeError> {
    if frame.len() > max_len {
        return Err(DecodeError::TooLarge {
            len: frame.len(),
            max: max_len,
        });
    }
    decode(frame)
}

/// [`decode_limited`] for a frame the caller is done with: an event in Doshii's exact wire shape keeps the
/// frame's buffer itself for its data ([`RawJson::take_from_frame`]), saving the reference-count traffic of
/// sharing it; every other frame decodes as [`decode`] does. On error the frame comes back with it.
pub fn decode_owned(frame: Frame, max_len: usize) -> Result<Message, (DecodeError, Frame)> {
    if frame.len() > max_len {
        let error = DecodeError::TooLarge {
            len: frame.len(),
            max: max_len,
        };
        return Err((error, frame));
    }
    match take_emit_event(frame, max_len) {
        Ok(event) => Ok(Message::Event(event)),
        Err(frame) => decode_general(&frame).map_err(|e| (e, frame)),
    }
}

/// The event of a frame in Doshii's exact wire shape, its data keeping the frame's buffer; any other frame
/// (or one over `max_len`) comes back untouched.
#[inline]
pub(crate) fn take_emit_event(frame: Frame, max_len: usize) -> Result<Event, Frame> {
    if frame.len() > max_len {
        return Err(frame);
    }
    RawJson::take_from_frame(frame, |f| emit_fast_parts(f, f.as_str()))
        .map(|(kind, data)| Event::new(kind, data))
}

/// The wire shape exactly as Doshii sends it, `{"emit":["<name>",<data>]}` with a plain name, without a
/// serde pass over the envelope: only the data is parsed (validated and sliced). Anything else (whitespace,
/// escapes in the name, extra items, other keys) returns `None` and takes the general path, which gives the
/// same result for the frames this one accepts.
pub(crate) fn decode_emit_fast(frame: &Frame, text: &str) -> Option<Message> {
    let (kind, raw) = emit_fast_parts(frame, text)?;
    Some(Message::Event(Event::new(kind, RawJson::from_raw_in(frame, raw))))
}

/// The name and the data of [`decode_emit_fast`]'s shape, the data still borrowed from `text`.
#[inline]
fn emit_fast_parts<'a>(frame: &Frame, text: &'a str) -> Option<(EventKind, &'a RawValue)> {
    const PREFIX: &str = "{\"emit\":[\"";
    let inner = text.strip_suffix("]}")?.strip_prefix(PREFIX)?;
    let end = inner.bytes().position(|b| b == b'"' || b == b'\\' || b < 0x20)?;
    let (name, rest) = (inner.get(..end)?, inner.get(end..)?);
    let data = rest.strip_prefix("\",")?;
    let raw = feedwire_core::validate_raw_value(data).ok()?;
    let kind = match EventKind::known(name) {
        Some(k) => k,
        None => EventKind::Other(share(frame, name)),
    };
    Some((kind, raw))
}

fn decode_string(frame: &Frame, text: &str) -> Result<Message, DecodeError> {
    let raw: &RawValue = serde_json::from_str(text)?;
    let s: BorrowedStr<'_> = serde_json::from_str(raw.get())?;
    let s = s.0;
    let stamp = |rest: &str| Stamp(share(frame, rest));
    if let Some(rest) = s.strip_prefix(PRIMUS_PING_PREFIX) {
        Ok(Message::PrimusPing(stamp(rest)))
    } else if let Some(rest) = s.strip_prefix(PRIMUS_PONG_PREFIX) {
        Ok(Message::PrimusPong(stamp(rest)))
    } else if s == PRIMUS_SERVER_CLOSE_TEXT {
        Ok(Message::PrimusServerClose)
    } else {
        Ok(Message::Unknown(RawJson::from_raw_in(frame, raw)))
    }
}

pub(crate) fn decode_object(frame: &Frame, text: &str) -> Result<Message, DecodeError> {
    let env: Envelope<'_> = serde_json::from_str(text)?;
    if let Some(d) = env.doshii
        && let Some(m) = decode_heartbeat(frame, d)?
    {
        return Ok(m);
    }
    if let Some(emit) = env.emit {
        let args = match emit {
            EmitField::Args(a) => a,
            EmitField::Bad(reason) => return Err(DecodeError::Emit { reason }),
        };
        let kind = name_in(frame, args.name);
        let data = match args.data {
            Some(d) => RawJson::from_raw_in(frame, d),
            None => RawJson::null(),
        };
        let extra_args = args
            .extra
            .into_iter()
            .map(|v| RawJson::from_raw_in(frame, v))
            .collect();
        return Ok(Message::Event(Event {
            kind,
            data: EventData(data),
            shape: EventShape::Emit,
            extra_args,
        }));
    }
    let named = match (env.event, env.type_) {
        (Some(n), _) => Some((n, EventShape::Event)),
        (None, Some(n)) => Some((n, EventShape::Type)),
        (None, None) => None,
    };
    if let Some((name, shape)) = named
        && let Ok(name) = serde_json::from_str::<BorrowedStr<'_>>(name.get())
    {
        // The browser MessageEvent the docs log wraps heartbeats too: {"type":"message","data":{"doshii":..}}.
        if name.0 == "message"
            && let Some(data) = env.data
            && let Some(m) = decode_wrapped_heartbeat(frame, data)
        {
            return Ok(m);
        }
        let data = match env.data {
            Some(d) => RawJson::from_raw_in(frame, d),
            None => RawJson::null(),
        };
        return Ok(Message::Event(Event {
            kind: name_in(frame, name.0),
            data: EventData(data),
            shape,
            extra_args: Vec::new(),
        }));
    }
    let raw: &RawValue = serde_json::from_str(text)?;
    Ok(Message::Unknown(RawJson::from_raw_in(frame, raw)))
}

fn decode_wrapped_heartbeat(frame: &Frame, data: &RawValue) -> Option<Message> {
    #[derive(Deserialize)]
    struct Wrapped<'a> {
        #[serde(borrow, default)]
        doshii: Option<&'a RawValue>,
    }
    let w: Wrapped<'_> = serde_json::from_str(data.get()).ok()?;
    decode_heartbeat(frame, w.doshii?).ok().flatten()
}

fn decode_heartbeat(frame: &Frame, d: &RawValue) -> Result<Option<Message>, DecodeError> {
    if !d.get().starts_with('{') {
        return Ok(None);
    }
    let inner: DoshiiInner<'_> = serde_json::from_str(d.get())?;
    let make = |stamp: &RawValue| Heartbeat {
        stamp: Stamp(share(frame, stamp.get())),
        version: inner.version.map(|v| RawJson::from_raw_in(frame, v)),
        status: inner.status.map(|v| RawJson::from_raw_in(frame, v)),
    };
    Ok(match (inner.ping, inner.pong) {
        (Some(p), _) => Some(Message::Ping(make(p))),
        (None, Some(p)) => Some(Message::Pong(make(p))),
        (None, None) => None,
    })
}

// ---------------------------------------------------------------------------------------------------------
// Phase two: payloads on demand.

/// An event's payload, kept raw (a zero-copy slice of the frame) with typed accessors for the common fields.
///
/// `uri` is the full link to the entity and is what Doshii recommends referencing, rather than `id`.
///
/// ```
/// use feedwire_core::RawJson;
/// use feedwire_doshii::codec::EventData;
/// let d = EventData::new(RawJson::from_json_str(
///     r#"{"id":"42","orderId":"7","status":"complete","posRef":"p-1","locationId":"loc","uri":"https://x/42"}"#).unwrap());
/// let c = d.common().unwrap();
/// assert_eq!((c.id.as_deref(), c.order_id.as_deref()), (Some("42"), Some("7")));
/// assert_eq!(d.location_id().as_deref(), Some("loc"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EventData(RawJson);

impl fmt::Debug for EventData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventData({})", self.0.as_str())
    }
}

/// The common fields of an event payload, borrowed from it. Ids may arrive as strings or numbers; both are
/// given as text.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[non_exhaustive]
pub struct CommonFields<'a> {
    /// `id`.
    #[serde(borrow, default, deserialize_with = "text_or_number")]
    pub id: Option<Cow<'a, str>>,
    /// `status`.
    #[serde(borrow, default, deserialize_with = "text_or_number")]
    pub status: Option<Cow<'a, str>>,
    /// `uri`: the full link to the entity.
    #[serde(borrow, default, deserialize_with = "text_or_number")]
    pub uri: Option<Cow<'a, str>>,
    /// `locationId`.
    #[serde(borrow, default, rename = "locationId", deserialize_with = "text_or_number")]
    pub location_id: Option<Cow<'a, str>>,
    /// `orderId`.
    #[serde(borrow, default, rename = "orderId", deserialize_with = "text_or_number")]
    pub order_id: Option<Cow<'a, str>>,
    /// `posRef`.
    #[serde(borrow, default, rename = "posRef", deserialize_with = "text_or_number")]
    pub pos_ref: Option<Cow<'a, str>>,
}

/// The payload of `order_created`, `order_updated` and `order_preprocess`, borrowed.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct OrderEvent<'a> {
    /// `id`.
    #[serde(borrow, default, deserialize_with = "text_or_number")]
    pub id: Option<Cow<'a, str>>,
    /// `status` (`pending`, `accepted`, `rejected`, `complete`, `cancelled`, ...).
    #[serde(borrow, default, deserialize_with = "text_or_number")]
    pub status: Option<Cow<'a, str>>,
    /// `posRef`.
    #[serde(borrow, default, rename = "posRef", deserialize_with = "text_or_number")]
    pub pos_ref: Option<Cow<'a, str>>,
    /// `locationId`.
    #[serde(borrow, default, rename = "locationId", deserialize_with = "text_or_number")]
    pub location_id: Option<Cow<'a, str>>,
    /// `uri`.
    #[serde(borrow, default, deserialize_with = "text_or_number")]
    pub uri: Option<Cow<'a, str>>,
    /// `appId` (`order_preprocess`).
    #[serde(borrow, default, rename = "appId", deserialize_with = "text_or_number")]
    pub app_id: Option<Cow<'a, str>>,
    /// `order` (`order_preprocess`): the whole order, raw.
    #[serde(borrow, default)]
    pub order: Option<&'a RawValue>,
}

/// The payload of `transaction_created` and `transaction_updated`, borrowed.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct TransactionEvent<'a> {
    /// `id`.
    #[serde(borrow, default, deserialize_with = "text_or_number")]
    pub id: Option<Cow<'a, str>>,
    /// `orderId`.
    #[serde(borrow, default, rename = "orderId", deserialize_with = "text_or_number")]
    pub order_id: Option<Cow<'a, str>>,
    /// `status`.
    #[serde(borrow, default, deserialize_with = "text_or_number")]
    pub status: Option<Cow<'a, str>>,
    /// `posRef`.
    #[serde(borrow, default, rename = "posRef", deserialize_with = "text_or_number")]
    pub pos_ref: Option<Cow<'a, str>>,
    /// `locationId`.
    #[serde(borrow, default, rename = "locationId", deserialize_with = "text_or_number")]
    pub location_id: Option<Cow<'a, str>>,
    /// `uri`.
    #[serde(borrow, default, deserialize_with = "text_or_number")]
    pub uri: Option<Cow<'a, str>>,
    /// `posTerminalId`.
    #[serde(
        borrow,
        default,
        rename = "posTerminalId",
        deserialize_with = "text_or_number"
    )]
    pub pos_terminal_id: Option<Cow<'a, str>>,
    /// `verifyData`, raw.
    #[serde(borrow, default, rename = "verifyData")]
    pub verify_data: Option<&'a RawValue>,
}

fn text_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string, a number or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(V)
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v)))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
    }
    d.deserialize_option(V)
}

impl EventData {
    /// Wraps a raw payload.
    pub fn new(raw: RawJson) -> EventData {
        EventData(raw)
    }

    /// The raw payload.
    pub fn raw(&self) -> &RawJson {
        &self.0
    }

    /// Unwraps the raw payload.
    pub fn into_raw(self) -> RawJson {
        self.0
    }

    /// The exact JSON text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Deserializes the payload into any type; `T` may borrow from it.
    pub fn parse<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        self.0.parse()
    }

    /// The common fields in one pass. A payload that is not an object gives all fields `None`.
    pub fn common(&self) -> Result<CommonFields<'_>, serde_json::Error> {
        if !self.0.is_object() {
            return Ok(CommonFields::default());
        }
        self.0.parse()
    }

    fn field(&self, pick: impl FnOnce(CommonFields<'_>) -> Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
        self.common().ok().and_then(pick)
    }

    /// `id`, when present and readable.
    pub fn id(&self) -> Option<Cow<'_, str>> {
        self.field(|c| c.id)
    }
    /// `status`.
    pub fn status(&self) -> Option<Cow<'_, str>> {
        self.field(|c| c.status)
    }
    /// `uri`: the full link to the entity, the recommended reference.
    pub fn uri(&self) -> Option<Cow<'_, str>> {
        self.field(|c| c.uri)
    }
    /// `locationId`.
    pub fn location_id(&self) -> Option<Cow<'_, str>> {
        self.field(|c| c.location_id)
    }
    /// `orderId`.
    pub fn order_id(&self) -> Option<Cow<'_, str>> {
        self.field(|c| c.order_id)
    }
    /// `posRef`.
    pub fn pos_ref(&self) -> Option<Cow<'_, str>> {
        self.field(|c| c.pos_ref)
    }

    /// The payload as an order event (`order_created`, `order_updated`, `order_preprocess`).
    pub fn order(&self) -> Result<OrderEvent<'_>, serde_json::Error> {
        self.0.parse()
    }

    /// The payload as a transaction event (`transaction_created`, `transaction_updated`).
    pub fn transaction(&self) -> Result<TransactionEvent<'_>, serde_json::Error> {
        self.0.parse()
    }

    /// `health_check`'s `ping` stamp.
    pub fn health_check_stamp(&self) -> Option<Stamp> {
        #[derive(Deserialize)]
        struct Hc<'a> {
            #[serde(borrow, default)]
            ping: Option<&'a RawValue>,
        }
        if !self.0.is_object() {
            return None;
        }
        let hc: Hc<'_> = self.0.parse().ok()?;
        let p = hc.ping?;
        Some(Stamp(
            Frame::from(self.0.to_byte_string())
                .slice_ref(p.get())
                .into_byte_string(),
        ))
    }
}

macro_rules! event_kinds {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, )*) => {
        /// Every event name doshii.md lists, typed; [`EventKind::Other`] keeps any other name.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum EventKind {
            $( $(#[$doc])* #[doc = concat!("`", $name, "`")] $variant, )*
            /// Any other name, kept as received.
            Other(ByteString),
        }

        impl EventKind {
            /// Every known kind, in the order of doshii.md.
            pub const ALL: &'static [EventKind] = &[ $( EventKind::$variant, )* ];

            /// The kind for a known name; `None` for any other.
            pub fn known(name: &str) -> Option<EventKind> {
                Some(match name {
                    $( $name => EventKind::$variant, )*
                    _ => return None,
                })
            }

            /// The name as on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $( EventKind::$variant => $name, )*
                    EventKind::Other(n) => n,
                }
            }
        }
    };
}

event_kinds! {
    OrderCreated = "order_created",
    OrderUpdated = "order_updated",
    OrderPreprocess = "order_preprocess",
    ItemCreated = "item_created",
    ItemUpdated = "item_updated",
    TransactionCreated = "transaction_created",
    TransactionUpdated = "transaction_updated",
    BookingCreated = "booking_created",
    BookingUpdated = "booking_updated",
    BookingDeleted = "booking_deleted",
    CheckinCreated = "checkin_created",
    CheckinUpdated = "checkin_updated",
    CheckinDeleted = "checkin_deleted",
    LoyaltyCheckinCreated = "loyalty_checkin_created",
    LoyaltyCheckinUpdated = "loyalty_checkin_updated",
    LoyaltyCheckinDeleted = "loyalty_checkin_deleted",
    MemberCreated = "member_created",
    MemberUpdated = "member_updated",
    MemberDeleted = "member_deleted",
    PointsRedemption = "points_redemption",
    RewardRedemption = "reward_redemption",
    MenuUpdated = "menu_updated",
    AppMenuUpdated = "app_menu_updated",
    AppMenuItemUpdated = "app_menu_item_updated",
    TableCreated = "table_created",
    TableUpdated = "table_updated",
    TableDeleted = "table_deleted",
    TableBulkUpdated = "table_bulk_updated",
    /// (the Node SDK's name for a deleted table)
    TableRemoved = "table_removed",
    CardActivate = "card_activate",
    CardEnquiry = "card_enquiry",
    LocationSubscription = "location_subscription",
    LocationHoursUpdated = "location_hours_updated",
    AppStoreStatusUpdated = "app_store_status_updated",
    AppSubscribed = "app_subscribed",
    /// (POS: answer with a pong carrying `data.ping`)
    HealthCheck = "health_check",
    EmployeeCreated = "employee_created",
    EmployeeUpdated = "employee_updated",
    EmployeeDeleted = "employee_deleted",
    ResourceCreated = "resource_created",
    ResourceUpdated = "resource_updated",
    ResourceDeleted = "resource_deleted",
    /// (legacy)
    OrderStatus = "order_status",
    /// (legacy)
    TransactionStatus = "transaction_status",
}

impl EventKind {
    /// The kind for any name: a known variant, or [`EventKind::Other`].
    pub fn from_name(name: &str) -> EventKind {
        EventKind::known(name).unwrap_or_else(|| EventKind::Other(ByteString::from(name.to_owned())))
    }

    /// Whether this is an order event (`order_*`, `item_*`, legacy `order_status`).
    pub fn is_order(&self) -> bool {
        matches!(
            self,
            EventKind::OrderCreated
                | EventKind::OrderUpdated
                | EventKind::OrderPreprocess
                | EventKind::ItemCreated
                | EventKind::ItemUpdated
                | EventKind::OrderStatus
        )
    }

    /// Whether this is a transaction event (`transaction_*`, legacy `transaction_status`).
    pub fn is_transaction(&self) -> bool {
        matches!(
            self,
            EventKind::TransactionCreated | EventKind::TransactionUpdated | EventKind::TransactionStatus
        )
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &'static str) -> Message {
        decode(&Frame::from(s)).unwrap()
    }

    #[test]
    fn heartbeats() {
        let Message::Pong(p) = dec(r#"{"doshii":{"pong":1539144663417,"version":"3.2.123"}}"#) else {
            panic!()
        };
        assert_eq!(p.stamp.millis(), Some(1539144663417));
        assert_eq!(p.version().as_deref(), Some("3.2.123"));
        let Message::Ping(p) =
            dec(r#"{"doshii":{"ping":5,"status":{"database":"online","processor":"offline"}}}"#)
        else {
            panic!()
        };
        let st = p.pos_status().unwrap().unwrap();
        assert_eq!(st.database.as_deref(), Some("online"));
        assert_eq!(
            dec(r#"{"doshii":{}}"#),
            Message::Unknown(RawJson::from_json_str(r#"{"doshii":{}}"#).unwrap())
        );
    }

    #[test]
    fn primus() {
        assert_eq!(dec(PRIMUS_SERVER_CLOSE), Message::PrimusServerClose);
        let Message::PrimusPing(s) = dec(r#""primus::ping::1539144663417""#) else {
            panic!()
        };
        assert_eq!(s.millis(), Some(1539144663417));
        assert_eq!(
            Message::PrimusPong(s).to_frame().as_str(),
            r#""primus::pong::1539144663417""#
        );
        assert!(matches!(dec(r#""hello""#), Message::Unknown(_)));
    }

    #[test]
    fn events_and_fallbacks() {
        let Message::Event(e) = dec(r#"{"emit":["x_y",{"a":1},2,3]}"#) else {
            panic!()
        };
        assert_eq!(e.kind, EventKind::Other(ByteString::from_static("x_y")));
        assert_eq!(e.extra_args.len(), 2);
        let Message::Event(e) = dec(r#"{"type":"order_created","data":{"id":1}}"#) else {
            panic!()
        };
        assert_eq!((e.kind, e.shape), (EventKind::OrderCreated, EventShape::Type));
        assert_eq!(e.data.id().as_deref(), Some("1"));
        let Message::Event(e) = dec(r#"{"event":"health_check","data":{"ping":99}}"#) else {
            panic!()
        };
        assert_eq!(e.data.health_check_stamp().unwrap().millis(), Some(99));
        assert!(matches!(
            dec(r#"{"type":"message","data":{"doshii":{"pong":1}}}"#),
            Message::Pong(_)
        ));
        assert!(decode(&Frame::from(r#"{"emit":[]}"#)).is_err());
        assert!(decode(&Frame::from(r#"{"emit":[1]}"#)).is_err());
        assert!(decode(&Frame::from(r#"{"emit":{}}"#)).is_err());
        assert!(decode(&Frame::from("{")).is_err());
        assert!(matches!(dec("[1]"), Message::Unknown(_)));
    }

    #[test]
    fn the_fast_path_agrees_with_the_general_one() {
        let accepted = [
            r#"{"emit":["order_updated",{"id":"1","a":[1,{"b":null}]}]}"#,
            r#"{"emit":["",null]}"#,
            r#"{"emit":["x y",  "s" ]}"#,
            r#"{"emit":["mystery",[]]}"#,
        ];
        for t in accepted {
            let f = Frame::from(t);
            let fast = decode_emit_fast(&f, t).expect(t);
            assert_eq!(Ok(fast), decode_object(&f, t), "{t}");
        }
        let declined = [
            r#"{"emit":["a",1,2]}"#,
            r#"{"emit":["a\u0062",1]}"#,
            r#"{"emit":["a"]}"#,
            r#"{"emit":["a",{}]} "#,
            r#" {"emit":["a",{}]}"#,
            r#"{"emit":["a",{}],"x":[1]}"#,
            r#"{"emit":["a",{]}"#,
            "{\"emit\":[\"a\tb\",1]}",
        ];
        for t in declined {
            assert!(decode_emit_fast(&Frame::from(t), t).is_none(), "{t}");
        }
    }

    #[test]
    fn every_known_name_round_trips() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::from_name(k.as_str()), *k);
        }
    }
}
