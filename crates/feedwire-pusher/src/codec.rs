//! Pusher protocol 7 messages, both directions: decode and encode, no state.
//!
//! # Decoding in two phases
//!
//! [`Envelope::parse`] borrows the frame: `event`, `channel` as [`Cow<str>`] (borrowed unless they hold JSON
//! escapes), `data` and `user_id` as `&RawValue`. Ordinary frames are validated and split by one pass of a
//! scanner specialised for the envelope (cheaper than serde_json merely skipping the frame); anything else goes
//! through serde_json's derived decoder, and the two are tested to agree exactly. [`decode_server`] /
//! [`decode_client`] then build a message whose text fields and payloads are zero-copy slices of the [`Frame`]
//! ([`ByteString`], [`RawJson`]), parsing a payload's inside only for the `pusher:` / `pusher_internal:` events
//! that need it. A channel event (the hot path) never looks inside `data`: it is handed out as a
//! [`StringOrJson`] slice, decoded later on demand.
//!
//! `data` may be a JSON-encoded string, an object, anything else or absent (hosted Pusher, soketi, Reverb, poxa
//! and pusher-fake all differ, see the crate docs); `code` in `pusher:error` may be `null`; `user_id` may be a
//! number or a string and is normalised to a string.
//!
//! # Encoding
//!
//! [`ClientMessage::encode`] writes exactly what pusher-js 8 writes: `send_event(name, data, channel)` builds
//! `{event, data}` and appends `channel` when there is one, and `Channel.subscribe` builds its data object as
//! `{auth, channel_data, channel}` (`JSON.stringify` drops an undefined `channel_data`). So:
//!
//! ```
//! use feedwire_pusher::codec::ClientMessage;
//! let f = ClientMessage::subscribe("inventory_changes", "", None).encode();
//! assert_eq!(f.as_str(), r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"inventory_changes"}}"#);
//! let f = ClientMessage::client_event("client-typing", "private-chat", r#"{"who":"ann"}"#).unwrap().encode();
//! assert_eq!(f.as_str(), r#"{"event":"client-typing","data":{"who":"ann"},"channel":"private-chat"}"#);
//! ```
//!
//! [`ServerMessage::encode`] writes what hosted Pusher writes (`data` as a JSON-encoded string for the
//! `pusher:` events, payloads as they were given for channel events), so a server hub can reuse this module:
//! it decodes client messages with [`decode_client`] and encodes a broadcast once into a [`Frame`] that every
//! connection shares.

use std::borrow::Cow;
use std::fmt;

use bytestring::ByteString;
use feedwire_core::{Frame, RawJson, Secret, StringOrJson};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::value::RawValue;

/// The longest channel name accepted (hosted Pusher's limit).
pub const MAX_CHANNEL_NAME_LEN: usize = 164;
/// The longest event name accepted.
pub const MAX_EVENT_NAME_LEN: usize = 200;

/// Event names of the protocol.
pub mod events {
    /// Server: handshake done.
    pub const CONNECTION_ESTABLISHED: &str = "pusher:connection_established";
    /// Server: an error on an open socket.
    pub const ERROR: &str = "pusher:error";
    /// Either side: ping.
    pub const PING: &str = "pusher:ping";
    /// Either side: pong.
    pub const PONG: &str = "pusher:pong";
    /// Client: subscribe.
    pub const SUBSCRIBE: &str = "pusher:subscribe";
    /// Client: unsubscribe.
    pub const UNSUBSCRIBE: &str = "pusher:unsubscribe";
    /// Client: user signin.
    pub const SIGNIN: &str = "pusher:signin";
    /// Server: signin accepted.
    pub const SIGNIN_SUCCESS: &str = "pusher:signin_success";
    /// Server: subscription accepted.
    pub const SUBSCRIPTION_SUCCEEDED: &str = "pusher_internal:subscription_succeeded";
    /// Server (soketi, poxa): subscription refused.
    pub const SUBSCRIPTION_ERROR: &str = "pusher:subscription_error";
    /// Server (pusher-fake): subscription refused.
    pub const INTERNAL_SUBSCRIPTION_ERROR: &str = "pusher_internal:subscription_error";
    /// Server: a presence member joined.
    pub const MEMBER_ADDED: &str = "pusher_internal:member_added";
    /// Server: a presence member left.
    pub const MEMBER_REMOVED: &str = "pusher_internal:member_removed";
    /// Server: subscriber count of a channel.
    pub const SUBSCRIPTION_COUNT: &str = "pusher_internal:subscription_count";
    /// Server: nothing cached on a cache channel.
    pub const CACHE_MISS: &str = "pusher:cache_miss";
    /// Server: watchlist online/offline events.
    pub const WATCHLIST_EVENTS: &str = "pusher_internal:watchlist_events";
}

/// Why a frame is not a valid Pusher message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame is not a JSON object with a string `event`.
    #[error("not a Pusher envelope: {reason}")]
    Envelope {
        /// What serde_json said.
        reason: String,
    },
    /// The `data` of a protocol event does not have the shape the protocol gives it.
    #[error("invalid data for {event}: {reason}")]
    Data {
        /// The event.
        event: String,
        /// What is wrong.
        reason: String,
    },
    /// A protocol event that needs a `channel` has none.
    #[error("{event} has no channel")]
    MissingChannel {
        /// The event.
        event: String,
    },
}

/// Why a channel or event name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    #[error("{what} name is empty")]
    Empty {
        /// "channel" or "event".
        what: &'static str,
    },
    /// The name is too long.
    #[error("{what} name is {len} bytes long; the limit is {max}")]
    TooLong {
        /// "channel" or "event".
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A character outside `[A-Za-z0-9_\-=@,.;]`.
    #[error(
        "channel name {name:?} has the invalid character {ch:?} at byte {at} (allowed: A-Z a-z 0-9 _ - = @ , . ;)"
    )]
    InvalidChar {
        /// The name.
        name: String,
        /// The character.
        ch: char,
        /// Its byte offset.
        at: usize,
    },
    /// `#` names are reserved for `#server-to-user-*`, which the session subscribes itself after signin.
    #[error("channel name {name:?} is reserved (names starting with '#' belong to the server)")]
    Reserved {
        /// The name.
        name: String,
    },
    /// Client events must be named `client-*`.
    #[error("client event name {name:?} must start with \"client-\"")]
    NotClientEvent {
        /// The name.
        name: String,
    },
    /// The data of a client event is not valid JSON.
    #[error("client event data is not valid JSON: {reason}")]
    InvalidData {
        /// What serde_json said.
        reason: String,
    },
}

/// Checks a channel name an application wants to subscribe to: `[A-Za-z0-9_\-=@,.;]+`, at most
/// [`MAX_CHANNEL_NAME_LEN`] bytes, not starting with `#`.
///
/// ```
/// use feedwire_pusher::codec::validate_channel_name;
/// assert!(validate_channel_name("presence-room.1").is_ok());
/// assert!(validate_channel_name("bad name").unwrap_err().to_string().contains("' '"));
/// ```
pub fn validate_channel_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty { what: "channel" });
    }
    if name.len() > MAX_CHANNEL_NAME_LEN {
        return Err(NameError::TooLong {
            what: "channel",
            len: name.len(),
            max: MAX_CHANNEL_NAME_LEN,
        });
    }
    if name.starts_with('#') {
        return Err(NameError::Reserved { name: name.into() });
    }
    if let Some((at, ch)) = name
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || "_-=@,.;".contains(*c)))
    {
        return Err(NameError::InvalidChar {
            name: name.into(),
            ch,
            at,
        });
    }
    Ok(())
}

/// Checks an event name: non-empty, at most [`MAX_EVENT_NAME_LEN`] bytes.
pub fn validate_event_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty { what: "event" });
    }
    if name.len() > MAX_EVENT_NAME_LEN {
        return Err(NameError::TooLong {
            what: "event",
            len: name.len(),
            max: MAX_EVENT_NAME_LEN,
        });
    }
    Ok(())
}

/// Checks a client event name: a valid event name starting with `client-`.
pub fn validate_client_event_name(name: &str) -> Result<(), NameError> {
    validate_event_name(name)?;
    if !name.starts_with("client-") {
        return Err(NameError::NotClientEvent { name: name.into() });
    }
    Ok(())
}

/// The borrowed first phase of decoding: one envelope, nothing inside `data` looked at.
///
/// ```
/// use feedwire_pusher::codec::Envelope;
/// let env = Envelope::parse(r#"{"event":"listed","channel":"inventory_changes","data":"{\"id\":1}"}"#).unwrap();
/// assert_eq!(env.event, "listed");
/// assert_eq!(env.data.unwrap().get(), r#""{\"id\":1}""#);
/// ```
#[derive(Debug, Deserialize)]
#[non_exhaustive]
pub struct Envelope<'a> {
    /// The event name.
    #[serde(borrow)]
    pub event: Cow<'a, str>,
    /// The channel, when there is one (`null` counts as none).
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub channel: Option<Cow<'a, str>>,
    /// The raw payload, when there is one.
    #[serde(borrow, default)]
    pub data: Option<&'a RawValue>,
    /// The raw `user_id` (client events on presence channels), when there is one.
    #[serde(borrow, default)]
    pub user_id: Option<&'a RawValue>,
}

/// `Option<Cow<str>>` that borrows (serde borrows a `Cow` only when it is the field itself, not inside `Option`).
fn opt_cow<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'a, str>>, D::Error> {
    #[derive(Deserialize)]
    struct W<'a>(#[serde(borrow)] Cow<'a, str>);
    Option::<W<'a>>::deserialize(d).map(|o| o.map(|w| w.0))
}

impl<'a> Envelope<'a> {
    /// Parses the envelope of `text`; fails when it is not an object with a string `event`.
    ///
    /// Exactly as strict as serde_json deserializing the envelope: frames of the ordinary shape (plain keys
    /// and names, each field once) are validated and split in one pass of a scanner specialised for it; any
    /// other text, valid or not, goes to serde_json, so results and error messages are serde_json's own.
    ///
    /// ```
    /// use feedwire_pusher::codec::Envelope;
    /// let env = Envelope::parse(r#"{"event":"e","channel":null,"data":[1,{"a":"\u00e9"}]}"#).unwrap();
    /// assert_eq!((&*env.event, env.channel, env.data.unwrap().get()), ("e", None, r#"[1,{"a":"\u00e9"}]"#));
    /// let err = Envelope::parse(r#"{"event":"e","data":[1,]}"#).unwrap_err();
    /// assert_eq!(err.to_string(), "not a Pusher envelope: expected value at line 1 column 24");
    /// ```
    pub fn parse(text: &'a str) -> Result<Envelope<'a>, DecodeError> {
        if let Some(env) = fast::envelope(text) {
            return Ok(env);
        }
        Self::parse_serde(text)
    }

    /// The reference decoder: serde_json and the derived `Deserialize`.
    fn parse_serde(text: &'a str) -> Result<Envelope<'a>, DecodeError> {
        serde_json::from_str(text).map_err(|e| DecodeError::Envelope {
            reason: e.to_string(),
        })
    }
}

/// A single-pass validating scanner for the ordinary envelope shape: a JSON object whose keys hold no escapes,
/// `event` (and `channel`, unless `null`) plain strings without escapes, each field at most once, `event`
/// present. It accepts a frame only when serde_json would accept it and decode the very same [`Envelope`]; it
/// returns `None` for everything else (escapes in names, duplicates, arrays, deep nesting, any syntax error),
/// and [`Envelope::parse`] then runs serde_json, which produces the result or the exact error.
///
/// The grammar checked is serde_json's for values it skips (`ignore_value`): strings without control characters
/// and with valid escapes (`\uXXXX` needs four hex digits, surrogates are not checked when skipping),
/// numbers `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, `true`/`false`/`null`, no trailing commas,
/// whitespace ` \t\n\r`, nothing but whitespace after the object.
mod fast {
    use std::borrow::Cow;

    use serde_json::value::RawValue;

    use super::Envelope;

    /// Nesting deeper than this inside a value is left to serde_json (whose limit is 128 in all).
    const MAX_DEPTH: u32 = 64;

    /// Bytes that end a run of plain string content: `"`, `\` and control characters.
    static STOP: [bool; 256] = {
        let mut t = [false; 256];
        let mut i = 0;
        while i < 0x20 {
            t[i] = true;
            i += 1;
        }
        t[b'"' as usize] = true;
        t[b'\\' as usize] = true;
        t
    };

    /// `s`, already validated as one JSON value, as a borrowed `&RawValue` (see
    /// [`feedwire_core::borrowed_raw_value`]); `None` makes the caller fall back to serde_json's own parse.
    fn raw_value(s: &str) -> Option<&RawValue> {
        feedwire_core::borrowed_raw_value(s)
    }

    #[inline]
    fn ws(b: &[u8], mut i: usize) -> usize {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = b.get(i) {
            i += 1;
        }
        i
    }

    /// The index of the first `"`, `\` or control character at or after `i` (four bytes per step while none).
    #[inline]
    fn stop(b: &[u8], mut i: usize) -> Option<usize> {
        let hit = |c: u8| STOP[usize::from(c)];
        while let Some(&[c0, c1, c2, c3]) = b.get(i..i + 4) {
            if hit(c0) | hit(c1) | hit(c2) | hit(c3) {
                break;
            }
            i += 4;
        }
        Some(i + b.get(i..)?.iter().position(|&c| hit(c))?)
    }

    /// Scans a string whose opening quote is just before `i`; returns the index after the closing quote and
    /// whether it held an escape.
    #[inline]
    fn string(b: &[u8], mut i: usize) -> Option<(usize, bool)> {
        let mut escaped = false;
        loop {
            i = stop(b, i)?;
            match b.get(i)? {
                b'"' => return Some((i + 1, escaped)),
                b'\\' => {
                    escaped = true;
                    match b.get(i + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                        b'u' => {
                            if !b.get(i + 2..i + 6)?.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            i += 6;
                        }
                        _ => return None,
                    }
                }
                _ => return None, // a control character
            }
        }
    }

    #[inline]
    fn digits(b: &[u8], mut i: usize) -> usize {
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    }

    fn number(b: &[u8], mut i: usize) -> Option<usize> {
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i)? {
            b'0' => {
                i += 1;
                if b.get(i).is_some_and(u8::is_ascii_digit) {
                    return None;
                }
            }
            b'1'..=b'9' => i = digits(b, i + 1),
            _ => return None,
        }
        if b.get(i) == Some(&b'.') {
            if !b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                return None;
            }
            i = digits(b, i + 1);
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            if !b.get(i).is_some_and(u8::is_ascii_digit) {
                return None;
            }
            i = digits(b, i);
        }
        Some(i)
    }

    fn literal(b: &[u8], i: usize, lit: &[u8]) -> Option<usize> {
        (b.get(i..i + lit.len())? == lit).then_some(i + lit.len())
    }

    /// `"key"` + `:` at `i` (a quote expected there); returns the index of the value (whitespace skipped).
    fn member_key(b: &[u8], i: usize) -> Option<usize> {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let (i, _) = string(b, i + 1)?;
        let i = ws(b, i);
        if b.get(i) != Some(&b':') {
            return None;
        }
        Some(ws(b, i + 1))
    }

    /// Skips one value starting exactly at `i`; returns the index after it.
    fn value(b: &[u8], mut i: usize) -> Option<usize> {
        // one bit per open container, 1 = object
        let mut stack: u64 = 0;
        let mut depth: u32 = 0;
        loop {
            match b.get(i)? {
                b'"' => i = string(b, i + 1)?.0,
                b'{' | b'[' if depth == MAX_DEPTH => return None,
                b'{' => {
                    i = ws(b, i + 1);
                    if b.get(i) == Some(&b'}') {
                        i += 1;
                    } else {
                        stack = (stack << 1) | 1;
                        depth += 1;
                        i = member_key(b, i)?;
                        continue;
                    }
                }
                b'[' => {
                    i = ws(b, i + 1);
                    if b.get(i) == Some(&b']') {
                        i += 1;
                    } else {
                        stack <<= 1;
                        depth += 1;
                        continue;
                    }
                }
                b't' => i = literal(b, i, b"true")?,
                b'f' => i = literal(b, i, b"false")?,
                b'n' => i = literal(b, i, b"null")?,
                b'-' | b'0'..=b'9' => i = number(b, i)?,
                _ => return None,
            }
            // after a value: close containers until one continues
            loop {
                if depth == 0 {
                    return Some(i);
                }
                i = ws(b, i);
                let object = stack & 1 == 1;
                match (b.get(i)?, object) {
                    (b',', true) => {
                        i = member_key(b, ws(b, i + 1))?;
                        break;
                    }
                    (b',', false) => {
                        i = ws(b, i + 1);
                        break;
                    }
                    (b'}', true) | (b']', false) => {
                        i += 1;
                        stack >>= 1;
                        depth -= 1;
                    }
                    _ => return None,
                }
            }
        }
    }

    /// A plain string value (no escapes) at `i`: its content and the index after it.
    fn plain_str(text: &str, i: usize) -> Option<(&str, usize)> {
        let b = text.as_bytes();
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let (end, escaped) = string(b, i + 1)?;
        if escaped {
            return None;
        }
        Some((text.get(i + 1..end - 1)?, end))
    }

    /// The envelope, or `None` when serde_json must decide (see the module docs).
    pub(super) fn envelope(text: &str) -> Option<Envelope<'_>> {
        let b = text.as_bytes();
        let mut i = ws(b, 0);
        if b.get(i) != Some(&b'{') {
            return None;
        }
        i = ws(b, i + 1);
        let mut event: Option<&str> = None;
        let mut channel: Option<Option<&str>> = None;
        let mut data: Option<Option<&RawValue>> = None;
        let mut user_id: Option<Option<&RawValue>> = None;
        loop {
            // the key
            let (key, after) = plain_str(text, i)?;
            i = ws(b, after);
            if b.get(i) != Some(&b':') {
                return None;
            }
            i = ws(b, i + 1);
            match key {
                "event" => {
                    let (s, end) = plain_str(text, i)?;
                    if event.replace(s).is_some() {
                        return None;
                    }
                    i = end;
                }
                "channel" => {
                    let (c, end) = match b.get(i)? {
                        b'n' => (None, literal(b, i, b"null")?),
                        _ => {
                            let (s, end) = plain_str(text, i)?;
                            (Some(s), end)
                        }
                    };
                    if channel.replace(c).is_some() {
                        return None;
                    }
                    i = end;
                }
                "data" | "user_id" => {
                    let end = value(b, i)?;
                    let raw = text.get(i..end)?;
                    let v = if raw == "null" {
                        None
                    } else {
                        Some(raw_value(raw)?)
                    };
                    let slot = if key == "data" { &mut data } else { &mut user_id };
                    if slot.replace(v).is_some() {
                        return None;
                    }
                    i = end;
                }
                _ => i = value(b, i)?,
            }
            i = ws(b, i);
            match b.get(i)? {
                b',' => i = ws(b, i + 1),
                b'}' => break,
                _ => return None,
            }
        }
        if ws(b, i + 1) != b.len() {
            return None;
        }
        Some(Envelope {
            event: Cow::Borrowed(event?),
            channel: channel.flatten().map(Cow::Borrowed),
            data: data.flatten(),
            user_id: user_id.flatten(),
        })
    }
}

/// Shares `s` out of `frame` when it points into it, copies otherwise (a name that held escapes).
fn share(frame: &Frame, s: &str) -> ByteString {
    frame.slice_ref(s).into_byte_string()
}

/// A `user_id` that may be a JSON string or number, normalised to a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub String);

impl<'de> Deserialize<'de> for UserId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = UserId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a user id (string or number)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<UserId, E> {
                Ok(UserId(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<UserId, E> {
                Ok(UserId(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<UserId, E> {
                Ok(UserId(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<UserId, E> {
                Ok(UserId(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Deserializes a payload that may be string-encoded JSON or plain JSON.
pub(crate) fn parse_data<T: de::DeserializeOwned>(raw: &str) -> Result<T, serde_json::Error> {
    if raw.starts_with('"') {
        let inner: Cow<'_, str> = serde_json::from_str::<Cow<'_, str>>(raw)?;
        serde_json::from_str(&inner)
    } else {
        serde_json::from_str(raw)
    }
}

fn user_id_text(raw: &RawValue) -> Option<ByteString> {
    serde_json::from_str::<UserId>(raw.get())
        .ok()
        .map(|u| ByteString::from(u.0))
}

/// `pusher:connection_established`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionEstablished {
    /// The socket id (`^\d+\.\d+$`).
    pub socket_id: ByteString,
    /// The server's activity timeout in seconds (at least 1).
    pub activity_timeout: u64,
}

/// `pusher:error`: `{"message":..,"code":n|null}`, maybe with a `channel`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ErrorMessage {
    /// The code; `None` for `null` or absent.
    pub code: Option<i64>,
    /// The message (empty when absent).
    pub message: ByteString,
    /// The channel of the envelope or of the data, if any.
    pub channel: Option<ByteString>,
    /// The raw data.
    pub data: Option<StringOrJson>,
}

/// Which wire shape a subscription error came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SubscriptionErrorShape {
    /// `pusher:subscription_error` (soketi with `{type,error,status}` and a channel; poxa with `{}`, no channel).
    PusherEvent,
    /// `pusher_internal:subscription_error` (pusher-fake).
    InternalEvent,
    /// `pusher:error` naming a channel or refusing a signature (hosted Pusher, Reverb); produced by the client.
    ErrorEvent,
    /// The application refused to authorize (`fail_auth`); produced by the client.
    AuthFailed,
}

/// `pusher:subscription_error` / `pusher_internal:subscription_error`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SubscriptionErrorMessage {
    /// The wire shape.
    pub shape: SubscriptionErrorShape,
    /// The channel (envelope or data), absent on poxa.
    pub channel: Option<ByteString>,
    /// `type` (soketi: "AuthError").
    pub kind: Option<ByteString>,
    /// `error` or `message`.
    pub error: Option<ByteString>,
    /// `status` (soketi: 401).
    pub status: Option<u16>,
    /// The raw data.
    pub data: Option<StringOrJson>,
}

/// One entry of `pusher_internal:watchlist_events`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatchlistEvent {
    /// "online" or "offline".
    pub name: ByteString,
    /// The users concerned.
    pub user_ids: Vec<ByteString>,
}

/// Any event that is not one of the protocol's own: channel events, client events relayed by the server,
/// server-to-user events, and unknown `pusher:*` events (kept, never an error).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ChannelEvent {
    /// The event name.
    pub event: ByteString,
    /// The channel, if any.
    pub channel: Option<ByteString>,
    /// The payload, raw: a string-encoded JSON, an object, anything, or absent.
    pub data: Option<StringOrJson>,
    /// The sender of a client event on a presence channel.
    pub user_id: Option<ByteString>,
}

/// A message from the server to the client.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerMessage {
    /// `pusher:connection_established`.
    ConnectionEstablished(ConnectionEstablished),
    /// `pusher:error`.
    Error(ErrorMessage),
    /// `pusher:ping`.
    Ping {
        /// The payload, if any.
        data: Option<StringOrJson>,
    },
    /// `pusher:pong`.
    Pong {
        /// The payload, if any.
        data: Option<StringOrJson>,
    },
    /// `pusher_internal:subscription_succeeded`.
    SubscriptionSucceeded {
        /// The channel.
        channel: ByteString,
        /// `"{}"`, `{}`, absent, or presence data.
        data: Option<StringOrJson>,
    },
    /// A subscription error of any server shape.
    SubscriptionError(SubscriptionErrorMessage),
    /// `pusher_internal:member_added`.
    MemberAdded {
        /// The presence channel.
        channel: ByteString,
        /// The member, normalised to a string.
        user_id: ByteString,
        /// The member's info.
        user_info: Option<RawJson>,
    },
    /// `pusher_internal:member_removed`.
    MemberRemoved {
        /// The presence channel.
        channel: ByteString,
        /// The member, normalised to a string.
        user_id: ByteString,
    },
    /// `pusher_internal:subscription_count`.
    SubscriptionCount {
        /// The channel.
        channel: ByteString,
        /// Subscribers.
        count: u64,
    },
    /// `pusher:cache_miss`.
    CacheMiss {
        /// The cache channel.
        channel: ByteString,
    },
    /// `pusher:signin_success`.
    SigninSuccess {
        /// The `user_data` JSON string, as sent in `pusher:signin`.
        user_data: ByteString,
        /// The `id` inside it.
        user_id: ByteString,
    },
    /// `pusher_internal:watchlist_events`.
    WatchlistEvents(Vec<WatchlistEvent>),
    /// Anything else.
    Event(ChannelEvent),
}

#[derive(Deserialize)]
struct EstablishedData {
    socket_id: String,
    #[serde(default)]
    activity_timeout: Option<u64>,
}

#[derive(Deserialize, Default)]
struct ErrorData {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    channel: Option<String>,
}

#[derive(Deserialize, Default)]
struct SubErrData {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    channel: Option<String>,
}

#[derive(Deserialize)]
struct MemberData {
    user_id: UserId,
    #[serde(default)]
    user_info: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct CountData {
    subscription_count: u64,
}

#[derive(Deserialize)]
struct SigninData {
    user_data: String,
}

#[derive(Deserialize)]
struct UserDataId {
    id: UserId,
}

#[derive(Deserialize)]
struct WatchlistData {
    events: Vec<WatchlistEntry>,
}

#[derive(Deserialize)]
struct WatchlistEntry {
    name: String,
    #[serde(default)]
    user_ids: Vec<UserId>,
}

fn data_err(event: &str, reason: impl ToString) -> DecodeError {
    DecodeError::Data {
        event: event.to_owned(),
        reason: reason.to_string(),
    }
}

fn need<'e>(event: &str, data: Option<&'e RawValue>) -> Result<&'e str, DecodeError> {
    data.map(RawValue::get)
        .ok_or_else(|| data_err(event, "data is missing"))
}

/// Decodes one server -> client frame.
///
/// ```
/// use feedwire_core::Frame;
/// use feedwire_pusher::codec::{decode_server, ServerMessage};
/// let frame = Frame::from(r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"123.456\",\"activity_timeout\":120}"}"#);
/// match decode_server(&frame).unwrap() {
///     ServerMessage::ConnectionEstablished(c) => assert_eq!((&*c.socket_id, c.activity_timeout), ("123.456", 120)),
///     other => panic!("{other:?}"),
/// }
/// ```
pub fn decode_server(frame: &Frame) -> Result<ServerMessage, DecodeError> {
    let env = Envelope::parse(frame.as_str())?;
    let raw = |r: &RawValue| StringOrJson::new(RawJson::from_raw_in(frame, r));
    let data = env.data.map(raw);
    let channel = env.channel.as_ref().map(|c| share(frame, c));
    let ev: &str = &env.event;
    let need_channel =
        |ch: Option<ByteString>| ch.ok_or_else(|| DecodeError::MissingChannel { event: ev.to_owned() });
    Ok(match ev {
        events::CONNECTION_ESTABLISHED => {
            let d: EstablishedData = parse_data(need(ev, env.data)?).map_err(|e| data_err(ev, e))?;
            if !is_socket_id(&d.socket_id) {
                return Err(data_err(
                    ev,
                    format!("socket_id {:?} is not digits.digits", d.socket_id),
                ));
            }
            let activity_timeout = match d.activity_timeout {
                Some(t) if t > 0 => t,
                _ => return Err(data_err(ev, "activity_timeout is missing or 0")),
            };
            ServerMessage::ConnectionEstablished(ConnectionEstablished {
                socket_id: ByteString::from(d.socket_id),
                activity_timeout,
            })
        }
        events::ERROR => {
            let d: ErrorData = match env.data {
                Some(r) => parse_data(r.get()).unwrap_or_default(),
                _ => ErrorData::default(),
            };
            ServerMessage::Error(ErrorMessage {
                code: d.code,
                message: ByteString::from(d.message.unwrap_or_default()),
                channel: channel.or(d.channel.map(ByteString::from)),
                data,
            })
        }
        events::PING => ServerMessage::Ping { data },
        events::PONG => ServerMessage::Pong { data },
        events::SUBSCRIPTION_SUCCEEDED => ServerMessage::SubscriptionSucceeded {
            channel: need_channel(channel)?,
            data,
        },
        events::SUBSCRIPTION_ERROR | events::INTERNAL_SUBSCRIPTION_ERROR => {
            let d: SubErrData = match env.data {
                Some(r) => parse_data(r.get()).unwrap_or_default(),
                None => SubErrData::default(),
            };
            ServerMessage::SubscriptionError(SubscriptionErrorMessage {
                shape: if ev == events::SUBSCRIPTION_ERROR {
                    SubscriptionErrorShape::PusherEvent
                } else {
                    SubscriptionErrorShape::InternalEvent
                },
                channel: channel.or(d.channel.map(ByteString::from)),
                kind: d.kind.map(ByteString::from),
                error: d.error.or(d.message).map(ByteString::from),
                status: d.status,
                data,
            })
        }
        events::MEMBER_ADDED | events::MEMBER_REMOVED => {
            let d: MemberData = parse_data(need(ev, env.data)?).map_err(|e| data_err(ev, e))?;
            let channel = need_channel(channel)?;
            let user_id = ByteString::from(d.user_id.0);
            if ev == events::MEMBER_ADDED {
                ServerMessage::MemberAdded {
                    channel,
                    user_id,
                    user_info: d.user_info.map(|r| RawJson::from_raw_in(frame, &r)),
                }
            } else {
                ServerMessage::MemberRemoved { channel, user_id }
            }
        }
        events::SUBSCRIPTION_COUNT => {
            let d: CountData = parse_data(need(ev, env.data)?).map_err(|e| data_err(ev, e))?;
            ServerMessage::SubscriptionCount {
                channel: need_channel(channel)?,
                count: d.subscription_count,
            }
        }
        events::CACHE_MISS => ServerMessage::CacheMiss {
            channel: need_channel(channel)?,
        },
        events::SIGNIN_SUCCESS => {
            let d: SigninData = parse_data(need(ev, env.data)?).map_err(|e| data_err(ev, e))?;
            let id: UserDataId =
                serde_json::from_str(&d.user_data).map_err(|e| data_err(ev, format!("user_data: {e}")))?;
            ServerMessage::SigninSuccess {
                user_data: ByteString::from(d.user_data),
                user_id: ByteString::from(id.id.0),
            }
        }
        events::WATCHLIST_EVENTS => {
            let d: WatchlistData = parse_data(need(ev, env.data)?).map_err(|e| data_err(ev, e))?;
            ServerMessage::WatchlistEvents(
                d.events
                    .into_iter()
                    .map(|e| WatchlistEvent {
                        name: ByteString::from(e.name),
                        user_ids: e.user_ids.into_iter().map(|u| ByteString::from(u.0)).collect(),
                    })
                    .collect(),
            )
        }
        _ => ServerMessage::Event(ChannelEvent {
            event: share(frame, &env.event),
            channel,
            data,
            user_id: env.user_id.and_then(user_id_text),
        }),
    })
}

/// Whether `s` matches `^\d+\.\d+$`.
pub fn is_socket_id(s: &str) -> bool {
    match s.split_once('.') {
        Some((a, b)) => {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

/// A message from the client to the server.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientMessage {
    /// `pusher:subscribe`.
    Subscribe {
        /// The channel.
        channel: ByteString,
        /// `""` for public channels, `key:signature` otherwise.
        auth: Secret<String>,
        /// Presence only: the exact JSON string that was signed.
        channel_data: Option<String>,
    },
    /// `pusher:unsubscribe`.
    Unsubscribe {
        /// The channel.
        channel: ByteString,
    },
    /// `pusher:ping`.
    Ping,
    /// `pusher:pong`.
    Pong,
    /// `pusher:signin`.
    Signin {
        /// `key:signature`.
        auth: Secret<String>,
        /// The JSON string with the user's `id`.
        user_data: String,
    },
    /// A client event (`client-*`) on a private or presence channel.
    ClientEvent {
        /// The event name.
        event: ByteString,
        /// The channel.
        channel: ByteString,
        /// The payload as written by the sender.
        data: RawJson,
    },
    /// Anything else a client sent (kept for servers).
    Other {
        /// The event name.
        event: ByteString,
        /// The channel, if any.
        channel: Option<ByteString>,
        /// The payload, if any.
        data: Option<StringOrJson>,
    },
}

impl ClientMessage {
    /// `pusher:subscribe` (no validation; the client session validates names).
    pub fn subscribe(channel: &str, auth: &str, channel_data: Option<&str>) -> Self {
        ClientMessage::Subscribe {
            channel: ByteString::from(channel.to_owned()),
            auth: Secret::new(auth.to_owned()),
            channel_data: channel_data.map(str::to_owned),
        }
    }

    /// A client event; `data` must be valid JSON and `event` must start with `client-`.
    pub fn client_event(event: &str, channel: &str, data: &str) -> Result<Self, NameError> {
        validate_client_event_name(event)?;
        let data = RawJson::from_json_str(data).map_err(|e| NameError::InvalidData {
            reason: e.to_string(),
        })?;
        Ok(ClientMessage::ClientEvent {
            event: ByteString::from(event.to_owned()),
            channel: ByteString::from(channel.to_owned()),
            data,
        })
    }

    /// Encodes the message exactly as pusher-js writes it (see the module docs).
    pub fn encode(&self) -> Frame {
        let mut out = String::with_capacity(96);
        match self {
            ClientMessage::Subscribe {
                channel,
                auth,
                channel_data,
            } => {
                head(&mut out, events::SUBSCRIBE);
                out.push_str(",\"data\":{\"auth\":");
                push_str(&mut out, auth.expose());
                if let Some(cd) = channel_data {
                    out.push_str(",\"channel_data\":");
                    push_str(&mut out, cd);
                }
                out.push_str(",\"channel\":");
                push_str(&mut out, channel);
                out.push_str("}}");
            }
            ClientMessage::Unsubscribe { channel } => {
                head(&mut out, events::UNSUBSCRIBE);
                out.push_str(",\"data\":{\"channel\":");
                push_str(&mut out, channel);
                out.push_str("}}");
            }
            ClientMessage::Ping => return Frame::from(r#"{"event":"pusher:ping","data":{}}"#),
            ClientMessage::Pong => return Frame::from(r#"{"event":"pusher:pong","data":{}}"#),
            ClientMessage::Signin { auth, user_data } => {
                head(&mut out, events::SIGNIN);
                out.push_str(",\"data\":{\"auth\":");
                push_str(&mut out, auth.expose());
                out.push_str(",\"user_data\":");
                push_str(&mut out, user_data);
                out.push_str("}}");
            }
            ClientMessage::ClientEvent { event, channel, data } => {
                head(&mut out, event);
                out.push_str(",\"data\":");
                out.push_str(data.as_str());
                out.push_str(",\"channel\":");
                push_str(&mut out, channel);
                out.push('}');
            }
            ClientMessage::Other { event, channel, data } => {
                head(&mut out, event);
                if let Some(d) = data {
                    out.push_str(",\"data\":");
                    out.push_str(d.raw().as_str());
                }
                if let Some(c) = channel {
                    out.push_str(",\"channel\":");
                    push_str(&mut out, c);
                }
                out.push('}');
            }
        }
        Frame::from(out)
    }
}

fn head(out: &mut String, event: &str) {
    out.push_str("{\"event\":");
    push_str(out, event);
}

/// Appends `s` as a JSON string literal.
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[derive(Deserialize)]
struct SubscribeData<'a> {
    #[serde(borrow)]
    channel: Cow<'a, str>,
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    channel_data: Option<String>,
}

#[derive(Deserialize)]
struct ChannelOnly<'a> {
    #[serde(borrow)]
    channel: Cow<'a, str>,
}

#[derive(Deserialize)]
struct SigninIn {
    auth: String,
    user_data: String,
}

/// Decodes one client -> server frame (for server hubs).
pub fn decode_client(frame: &Frame) -> Result<ClientMessage, DecodeError> {
    let env = Envelope::parse(frame.as_str())?;
    let ev: &str = &env.event;
    let channel = env.channel.as_ref().map(|c| share(frame, c));
    Ok(match ev {
        events::SUBSCRIBE => {
            let d: SubscribeData<'_> =
                serde_json::from_str(need(ev, env.data)?).map_err(|e| data_err(ev, e))?;
            ClientMessage::Subscribe {
                channel: share(frame, &d.channel),
                auth: Secret::new(d.auth.unwrap_or_default()),
                channel_data: d.channel_data,
            }
        }
        events::UNSUBSCRIBE => {
            let d: ChannelOnly<'_> =
                serde_json::from_str(need(ev, env.data)?).map_err(|e| data_err(ev, e))?;
            ClientMessage::Unsubscribe {
                channel: share(frame, &d.channel),
            }
        }
        events::PING => ClientMessage::Ping,
        events::PONG => ClientMessage::Pong,
        events::SIGNIN => {
            let d: SigninIn = parse_data(need(ev, env.data)?).map_err(|e| data_err(ev, e))?;
            ClientMessage::Signin {
                auth: Secret::new(d.auth),
                user_data: d.user_data,
            }
        }
        e if e.starts_with("client-") => match (channel, env.data) {
            (Some(channel), Some(d)) => ClientMessage::ClientEvent {
                event: share(frame, &env.event),
                channel,
                data: RawJson::from_raw_in(frame, d),
            },
            (channel, data) => ClientMessage::Other {
                event: share(frame, &env.event),
                channel,
                data: data.map(|d| StringOrJson::new(RawJson::from_raw_in(frame, d))),
            },
        },
        _ => ClientMessage::Other {
            event: share(frame, &env.event),
            channel,
            data: env
                .data
                .map(|d| StringOrJson::new(RawJson::from_raw_in(frame, d))),
        },
    })
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_str(&mut out, s);
    out
}

impl ServerMessage {
    /// Encodes the message the way hosted Pusher writes it (`data` of protocol events as a JSON-encoded string).
    pub fn encode(&self) -> Frame {
        let mut out = String::with_capacity(128);
        let tail = |out: &mut String, channel: Option<&str>, data: Option<&str>| {
            if let Some(c) = channel {
                out.push_str(",\"channel\":");
                push_str(out, c);
            }
            if let Some(d) = data {
                out.push_str(",\"data\":");
                out.push_str(d);
            }
            out.push('}');
        };
        match self {
            ServerMessage::ConnectionEstablished(c) => {
                head(&mut out, events::CONNECTION_ESTABLISHED);
                let inner = format!(
                    "{{\"socket_id\":{},\"activity_timeout\":{}}}",
                    json_string(&c.socket_id),
                    c.activity_timeout
                );
                tail(&mut out, None, Some(&json_string(&inner)));
            }
            ServerMessage::Error(e) => {
                head(&mut out, events::ERROR);
                let data = match &e.data {
                    Some(d) => d.raw().as_str().to_owned(),
                    None => {
                        let code = e.code.map_or("null".to_owned(), |c| c.to_string());
                        format!("{{\"code\":{code},\"message\":{}}}", json_string(&e.message))
                    }
                };
                tail(&mut out, e.channel.as_deref(), Some(&data));
            }
            ServerMessage::Ping { data } | ServerMessage::Pong { data } => {
                let name = if matches!(self, ServerMessage::Ping { .. }) {
                    events::PING
                } else {
                    events::PONG
                };
                head(&mut out, name);
                tail(&mut out, None, data.as_ref().map(|d| d.raw().as_str()));
            }
            ServerMessage::SubscriptionSucceeded { channel, data } => {
                head(&mut out, events::SUBSCRIPTION_SUCCEEDED);
                tail(&mut out, Some(channel), data.as_ref().map(|d| d.raw().as_str()));
            }
            ServerMessage::SubscriptionError(s) => {
                head(
                    &mut out,
                    if s.shape == SubscriptionErrorShape::InternalEvent {
                        events::INTERNAL_SUBSCRIPTION_ERROR
                    } else {
                        events::SUBSCRIPTION_ERROR
                    },
                );
                let data = match &s.data {
                    Some(d) => d.raw().as_str().to_owned(),
                    None => {
                        let mut d = String::from("{");
                        let mut sep = "";
                        if let Some(k) = &s.kind {
                            d.push_str(&format!("\"type\":{}", json_string(k)));
                            sep = ",";
                        }
                        if let Some(e) = &s.error {
                            d.push_str(&format!("{sep}\"error\":{}", json_string(e)));
                            sep = ",";
                        }
                        if let Some(st) = s.status {
                            d.push_str(&format!("{sep}\"status\":{st}"));
                        }
                        d.push('}');
                        d
                    }
                };
                tail(&mut out, s.channel.as_deref(), Some(&data));
            }
            ServerMessage::MemberAdded {
                channel,
                user_id,
                user_info,
            } => {
                head(&mut out, events::MEMBER_ADDED);
                let mut inner = format!("{{\"user_id\":{}", json_string(user_id));
                if let Some(i) = user_info {
                    inner.push_str(",\"user_info\":");
                    inner.push_str(i.as_str());
                }
                inner.push('}');
                tail(&mut out, Some(channel), Some(&json_string(&inner)));
            }
            ServerMessage::MemberRemoved { channel, user_id } => {
                head(&mut out, events::MEMBER_REMOVED);
                let inner = format!("{{\"user_id\":{}}}", json_string(user_id));
                tail(&mut out, Some(channel), Some(&json_string(&inner)));
            }
            ServerMessage::SubscriptionCount { channel, count } => {
                head(&mut out, events::SUBSCRIPTION_COUNT);
                let inner = format!("{{\"subscription_count\":{count}}}");
                tail(&mut out, Some(channel), Some(&json_string(&inner)));
            }
            ServerMessage::CacheMiss { channel } => {
                head(&mut out, events::CACHE_MISS);
                tail(&mut out, Some(channel), None);
            }
            ServerMessage::SigninSuccess { user_data, .. } => {
                head(&mut out, events::SIGNIN_SUCCESS);
                let inner = format!("{{\"user_data\":{}}}", json_string(user_data));
                tail(&mut out, None, Some(&json_string(&inner)));
            }
            ServerMessage::WatchlistEvents(list) => {
                head(&mut out, events::WATCHLIST_EVENTS);
                let mut inner = String::from("{\"events\":[");
                for (i, e) in list.iter().enumerate() {
                    if i > 0 {
                        inner.push(',');
                    }
                    inner.push_str(&format!("{{\"name\":{},\"user_ids\":[", json_string(&e.name)));
                    for (j, u) in e.user_ids.iter().enumerate() {
                        if j > 0 {
                            inner.push(',');
                        }
                        push_str(&mut inner, u);
                    }
                    inner.push_str("]}");
                }
                inner.push_str("]}");
                tail(&mut out, None, Some(&json_string(&inner)));
            }
            ServerMessage::Event(e) => {
                head(&mut out, &e.event);
                tail(
                    &mut out,
                    e.channel.as_deref(),
                    e.data.as_ref().map(|d| d.raw().as_str()),
                );
                if let Some(u) = &e.user_id {
                    out.pop();
                    out.push_str(",\"user_id\":");
                    push_str(&mut out, u);
                    out.push('}');
                }
            }
        }
        Frame::from(out)
    }
}

/// A channel event to broadcast, encoded once (`{"event":..,"channel":..,"data":<data as given>}`): clone the
/// returned [`Frame`] for every subscriber, the buffer is shared. `data` must be valid JSON (a JSON string for
/// the hosted form); it is written as is.
pub fn encode_channel_event(event: &str, channel: &str, data: &RawJson) -> Frame {
    let mut out = String::with_capacity(32 + event.len() + channel.len() + data.as_str().len());
    head(&mut out, event);
    out.push_str(",\"channel\":");
    push_str(&mut out, channel);
    out.push_str(",\"data\":");
    out.push_str(data.as_str());
    out.push('}');
    Frame::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What an envelope decodes to, with whether each text is borrowed from (a pointer into) `text`.
    fn view<'a>(text: &'a str, e: &Envelope<'a>) -> impl PartialEq + fmt::Debug + use<'a> {
        let inside = |s: &str| {
            let (w, p) = (text.as_ptr() as usize, s.as_ptr() as usize);
            p >= w && p + s.len() <= w + text.len()
        };
        let cow = |c: &Cow<'a, str>| (c.to_string(), matches!(c, Cow::Borrowed(_)));
        let raw = |r: &&'a RawValue| (r.get().to_owned(), inside(r.get()), r.get().as_ptr() as usize);
        (
            cow(&e.event),
            e.channel.as_ref().map(cow),
            e.data.as_ref().map(raw),
            e.user_id.as_ref().map(raw),
        )
    }

    /// The fast scanner never accepts what serde_json refuses, and accepts with the very same result.
    fn agrees(text: &str) -> Result<bool, TestCaseError> {
        let serde = Envelope::parse_serde(text);
        match fast::envelope(text) {
            Some(env) => {
                let Ok(reference) = &serde else {
                    return Err(TestCaseError::fail(format!(
                        "fast path accepted {text:?}; serde: {serde:?}"
                    )));
                };
                prop_assert_eq!(view(text, &env), view(text, reference), "{:?}", text);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn frames() -> Vec<String> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/frames");
        let mut out: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        out.sort();
        assert!(out.len() > 40);
        out
    }

    #[test]
    fn the_fast_path_takes_ordinary_frames_and_agrees_on_every_testdata_frame() {
        let listed = include_str!("../testdata/frames/server_bitskins_listed.json");
        assert!(
            fast::envelope(listed).is_some(),
            "the hot frame must take the fast path"
        );
        let mut fast = 0;
        for f in frames() {
            fast += usize::from(agrees(&f).unwrap());
            // every prefix and every single-byte deletion of a real frame
            for cut in (0..f.len()).filter(|&i| f.is_char_boundary(i)) {
                agrees(&f[..cut]).unwrap();
                let next = f[cut..].chars().next().map_or(0, char::len_utf8);
                agrees(&format!("{}{}", &f[..cut], &f[cut + next..])).unwrap();
            }
        }
        assert!(fast > 40, "only {fast} frames took the fast path");
    }

    #[test]
    fn edge_cases_agree() {
        let cases = [
            r#"{"event":"e"}"#,
            r#" {"event":"e"} "#,
            "\t{\n\"event\"\r:\"e\" }\n",
            r#"{"event":"e"}x"#,
            r#"{"event":"e",}"#,
            r#"{"event":"e","event":"f"}"#,
            r#"{"event":"e","data":null,"data":1}"#,
            r#"{"event":"e","channel":null}"#,
            r#"{"event":"e","channel":nul}"#,
            r#"{"event":"e","channel":1}"#,
            r#"{"event":"e","data":null}"#,
            r#"{"event":"e","data":nullx}"#,
            r#"{"event":"e","data":-0.5e+10}"#,
            r#"{"event":"e","data":01}"#,
            r#"{"event":"e","data":-}"#,
            r#"{"event":"e","data":1.}"#,
            r#"{"event":"e","data":1e}"#,
            r#"{"event":"e","data":[1,]}"#,
            r#"{"event":"e","data":[1 , [ ] ,{ } ,{"a" : [true,false,null]}]}"#,
            r#"{"event":"e","data":{"a":1,}}"#,
            r#"{"event":"e","data":"\u12"}"#,
            r#"{"event":"e","data":"\ud800"}"#,
            r#"{"event":"e","data":"\q"}"#,
            "{\"event\":\"e\",\"data\":\"a\u{1}b\"}",
            "{\"event\":\"e\",\"data\":\"a\u{7f}é\"}",
            r#"{"event":"\u0065"}"#,
            r#"{"ev\u0065nt":"e"}"#,
            r#"{"event":"e","x\"y":1}"#,
            r#"{"event":"e","user_id":12,"user_id":null}"#,
            r#"["e"]"#,
            r#"{}"#,
            r#"{"channel":"c"}"#,
            "",
            "{",
        ];
        for c in cases {
            agrees(c).unwrap();
        }
        let deep = format!(
            r#"{{"event":"e","data":{}1{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        agrees(&deep).unwrap();
        let deep = format!(r#"{{"event":"e","data":{}1{}}}"#, "[".repeat(64), "]".repeat(64));
        assert!(agrees(&deep).unwrap());
    }

    /// JSON-ish text: mostly well-formed envelopes with random values, whitespace and small corruptions.
    fn json_value() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("false".to_owned()),
            "-?(0|[1-9][0-9]{0,3})(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?",
            r#""([a-z \u{e9}]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4}){0,8}""#,
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec(("[a-z_]{0,8}", inner), 0..4).prop_map(|v| {
                    let m: Vec<String> = v.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                    format!("{{{}}}", m.join(","))
                }),
            ]
        })
    }

    fn envelope_text() -> impl Strategy<Value = String> {
        let member = prop_oneof![
            "[a-z:_-]{0,12}".prop_map(|e| format!("\"event\":\"{e}\"")),
            "[a-z_-]{0,12}".prop_map(|c| format!("\"channel\":\"{c}\"")),
            Just("\"channel\":null".to_owned()),
            json_value().prop_map(|v| format!("\"data\":{v}")),
            json_value().prop_map(|v| format!("\"user_id\":{v}")),
            ("[a-z_]{1,8}", json_value()).prop_map(|(k, v)| format!("\"{k}\":{v}")),
        ];
        (
            prop::collection::vec(member, 1..6),
            prop::sample::select(vec!["", " ", "\n", "\t "]),
        )
            .prop_map(|(m, w)| format!("{w}{{{w}{}{w}}}{w}", m.join(&format!("{w},{w}"))))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn fast_path_agrees_with_serde(s in envelope_text()) {
            agrees(&s)?;
        }

        #[test]
        fn fast_path_agrees_on_corrupted_text(s in envelope_text(), at in any::<prop::sample::Index>(), with in r#"[\\"{}\[\],:0-9a-z \u{1}.eE+-]"#, delete in any::<bool>()) {
            let mut b: Vec<char> = s.chars().collect();
            let i = at.index(b.len() + 1);
            if delete && i < b.len() {
                b.remove(i);
            } else {
                b.splice(i..i, with.chars());
            }
            agrees(&b.into_iter().collect::<String>())?;
        }

        #[test]
        fn well_formed_envelopes_with_one_event_take_the_fast_path(
            e in "[a-z:_-]{0,12}", c in "[a-z_-]{1,12}", d in json_value(), u in json_value()
        ) {
            let s = format!(r#"{{"event":"{e}","channel":"{c}","data":{d},"user_id":{u},"x":{d}}}"#);
            prop_assert!(agrees(&s)?, "{}", s);
        }
    }
}
