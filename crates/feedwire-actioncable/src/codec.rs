//! The ActionCable wire format (with AnyCable's extensions): every frame in both directions, no state.
//!
//! Decoding is two-phase: [`decode_server`] / [`decode_client`] read a borrowed envelope (identifiers as
//! [`JsonStr`], the raw string literal; payloads as `&RawValue`), and payloads are parsed on demand. Nothing is
//! copied. [`decode_server`] runs on every received frame, so it uses an allocation-free scanner instead of
//! serde_json (whose scratch buffer allocates when it skips a nested payload); it allocates only for escaped
//! `type`/`reason`/`sid`/stream strings and `restored_ids` lists. [`decode_client`] (the hub side) uses serde.
//!
//! ```
//! use feedwire_actioncable::codec::{decode_server, ServerMessage};
//!
//! let text = r#"{"identifier":"{\"channel\":\"ChatChannel\",\"id\":42}","message":{"text":"hi"}}"#;
//! match decode_server(text).unwrap() {
//!     ServerMessage::Message { identifier, message, .. } => {
//!         assert!(identifier.eq_str(r#"{"channel":"ChatChannel","id":42}"#));
//!         assert_eq!(message.get(), r#"{"text":"hi"}"#);
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde::de::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// The Rails subprotocol.
pub const PROTOCOL_V1_JSON: &str = "actioncable-v1-json";
/// AnyCable's extended JSON subprotocol.
pub const PROTOCOL_V1_EXT_JSON: &str = "actioncable-v1-ext-json";
/// The sentinel a client offers last: a server that picks it has nothing the client supports.
pub const PROTOCOL_UNSUPPORTED: &str = "actioncable-unsupported";

/// Why a frame could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not JSON, or a field of the wrong JSON type.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A field the frame's type requires is absent.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// A field that must be a JSON string is not.
    #[error("field `{0}` is not a JSON string")]
    NotAString(&'static str),
    /// Not JSON: the scanner stopped at byte `at`.
    #[error("invalid JSON at byte {at}: expected {expected}")]
    Syntax {
        /// Byte offset.
        at: usize,
        /// What was expected there.
        expected: &'static str,
    },
    /// A field has the wrong JSON type.
    #[error("field `{field}` must be {expected}")]
    WrongType {
        /// The field.
        field: &'static str,
        /// The type it must have.
        expected: &'static str,
    },
    /// The frame is larger than the limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Frame length.
        len: usize,
        /// Limit in force.
        max: usize,
    },
}

// ---------------------------------------------------------------------------------------------------------
// JSON string literals kept raw

/// A JSON string literal exactly as received (quotes and escapes included), compared after unescaping.
///
/// ActionCable identifiers always carry escapes (`\"`, and Rails' `\u003c` for `<`), so decoding them into a
/// `String` would allocate on every frame. `JsonStr` keeps the literal and compares it with
/// [`eq_str`](JsonStr::eq_str) by unescaping on the fly, byte for byte, without allocating; call
/// [`to_cow`](JsonStr::to_cow) for the decoded text.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct JsonStr<'a> {
    raw: &'a str,
}

impl<'a> JsonStr<'a> {
    /// Wraps a raw JSON value if it is a string literal.
    pub fn from_raw(raw: &'a RawValue) -> Option<Self> {
        let raw = raw.get();
        (raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"')).then_some(JsonStr { raw })
    }

    /// Wraps a string literal's text (with its quotes) that the caller validated as JSON.
    pub(crate) fn from_literal(raw: &'a str) -> Option<Self> {
        (raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"')).then_some(JsonStr { raw })
    }

    /// The literal as received, with its quotes.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// The literal without its quotes, escapes still in.
    fn inner(&self) -> &'a str {
        self.raw.get(1..self.raw.len().saturating_sub(1)).unwrap_or("")
    }

    /// The decoded text: borrowed when the literal has no escapes.
    pub fn to_cow(&self) -> Cow<'a, str> {
        let inner = self.inner();
        if !inner.contains('\\') {
            return Cow::Borrowed(inner);
        }
        // Invalid escapes and lone surrogates become U+FFFD, as `eq_str` reads them.
        Cow::Owned(Unescape::new(inner).collect())
    }

    /// Whether the decoded text equals `text`, byte for byte. Does not allocate.
    pub fn eq_str(&self, text: &str) -> bool {
        // Compare the runs between escapes as bytes; decode each escape on its own.
        let mut rest = self.inner();
        let mut want = text.as_bytes();
        loop {
            let Some(i) = rest.find('\\') else {
                return rest.as_bytes() == want;
            };
            let (run, esc) = rest.split_at(i);
            let Some(tail) = want.strip_prefix(run.as_bytes()) else {
                return false;
            };
            let mut un = Unescape::new(esc);
            let Some(c) = un.next() else { return false };
            let mut buf = [0u8; 4];
            let Some(tail) = tail.strip_prefix(c.encode_utf8(&mut buf).as_bytes()) else {
                return false;
            };
            want = tail;
            rest = un.rest.as_str();
        }
    }
}

impl fmt::Debug for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JsonStr(")?;
        crate::identifier::fmt_redacted(&self.to_cow(), f)?;
        f.write_str(")")
    }
}

impl From<feedwire_core::JsonSyntaxError> for DecodeError {
    fn from(e: feedwire_core::JsonSyntaxError) -> Self {
        DecodeError::Syntax {
            at: e.at,
            expected: e.expected,
        }
    }
}

/// Decodes the escapes of a JSON string body, one `char` at a time (invalid escapes yield U+FFFD).
struct Unescape<'a> {
    rest: std::str::Chars<'a>,
}

impl<'a> Unescape<'a> {
    fn new(s: &'a str) -> Self {
        Unescape { rest: s.chars() }
    }

    fn hex4(&mut self) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..4 {
            v = v * 16 + self.rest.next()?.to_digit(16)?;
        }
        Some(v)
    }
}

impl Iterator for Unescape<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        let c = self.rest.next()?;
        if c != '\\' {
            return Some(c);
        }
        Some(match self.rest.next() {
            Some('"') => '"',
            Some('\\') => '\\',
            Some('/') => '/',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('u') => match self.hex4() {
                Some(hi @ 0xD800..=0xDBFF) => {
                    let save = self.rest.clone();
                    if self.rest.next() == Some('\\')
                        && self.rest.next() == Some('u')
                        && let Some(lo @ 0xDC00..=0xDFFF) = self.hex4()
                    {
                        let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                        return Some(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                    }
                    self.rest = save;
                    '\u{FFFD}'
                }
                Some(cp) => char::from_u32(cp).unwrap_or('\u{FFFD}'),
                None => '\u{FFFD}',
            },
            _ => '\u{FFFD}',
        })
    }
}

/// Deserializes a present field (even `null`) as `Some(raw)`.
fn some_raw<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

fn json_str<'a>(raw: Option<&'a RawValue>, field: &'static str) -> Result<JsonStr<'a>, DecodeError> {
    let raw = raw.ok_or(DecodeError::MissingField(field))?;
    JsonStr::from_raw(raw).ok_or(DecodeError::NotAString(field))
}

// ---------------------------------------------------------------------------------------------------------
// Server -> client

/// A decoded server frame, borrowing from the text it was decoded from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ServerMessage<'a> {
    /// `{"type":"welcome"}`; AnyCable adds `sid`, and on a resumed session `restored` and `restored_ids`.
    Welcome {
        /// AnyCable session id.
        sid: Option<Cow<'a, str>>,
        /// Whether AnyCable restored the previous session.
        restored: bool,
        /// The identifiers whose subscriptions AnyCable restored.
        restored_ids: Vec<Cow<'a, str>>,
    },
    /// `{"type":"ping","message":1795342530}`: Unix time (seconds for Rails; AnyCable may send ms or ns).
    Ping {
        /// The timestamp, when it is an integer.
        message: Option<i64>,
    },
    /// AnyCable's answer to a client ping.
    Pong,
    /// `confirm_subscription`.
    Confirm {
        /// The identifier, echoed as the client sent it.
        identifier: JsonStr<'a>,
    },
    /// `reject_subscription`.
    Reject {
        /// The identifier.
        identifier: JsonStr<'a>,
    },
    /// `{"type":"disconnect","reason":..,"reconnect":..}` (Rails 6.0+); both fields may be null or absent.
    Disconnect {
        /// Why (`unauthorized`, `invalid_request`, `server_restart`, `remote`, AnyCable's `idle_timeout`, ...).
        reason: Option<Cow<'a, str>>,
        /// Whether the client may reconnect; `None` when absent or null.
        reconnect: Option<bool>,
    },
    /// A broadcast: no `type`, an `identifier` and a `message` of any JSON type.
    Message {
        /// The subscription.
        identifier: JsonStr<'a>,
        /// The payload, raw.
        message: &'a RawValue,
        /// AnyCable stream id.
        stream_id: Option<Cow<'a, str>>,
        /// AnyCable stream epoch.
        epoch: Option<Cow<'a, str>>,
        /// AnyCable stream offset.
        offset: Option<u64>,
    },
    /// AnyCable: the history request succeeded (replayed frames came before it).
    ConfirmHistory {
        /// The subscription.
        identifier: JsonStr<'a>,
    },
    /// AnyCable: the history could not be served (evicted or epoch changed): the application must catch up.
    RejectHistory {
        /// The subscription.
        identifier: JsonStr<'a>,
    },
    /// AnyCable presence (`message.type` is `join`, `leave`, `info` or `error`).
    Presence {
        /// The subscription.
        identifier: JsonStr<'a>,
        /// The presence payload, raw.
        message: &'a RawValue,
    },
    /// A frame of a type this codec does not know (kept, as @rails/actioncable passes it on).
    Unknown {
        /// The `type`, if any.
        kind: Option<Cow<'a, str>>,
        /// The identifier, if it is a string.
        identifier: Option<JsonStr<'a>>,
        /// The message, if any.
        message: Option<&'a RawValue>,
    },
}

#[derive(Default)]
struct ServerEnvelope<'a> {
    kind: Option<&'a str>,
    identifier: Option<&'a str>,
    message: Option<&'a str>,
    reason: Option<&'a str>,
    reconnect: Option<&'a str>,
    sid: Option<&'a str>,
    restored: Option<&'a str>,
    restored_ids: Option<&'a str>,
    stream_id: Option<&'a str>,
    epoch: Option<&'a str>,
    offset: Option<&'a str>,
}

fn is_null(v: Option<&str>) -> bool {
    matches!(v, None | Some("null"))
}

fn opt_string<'a>(v: Option<&'a str>, field: &'static str) -> Result<Option<Cow<'a, str>>, DecodeError> {
    if is_null(v) {
        return Ok(None);
    }
    v.and_then(JsonStr::from_literal)
        .map(|s| Some(s.to_cow()))
        .ok_or(DecodeError::WrongType {
            field,
            expected: "a string",
        })
}

fn opt_bool(v: Option<&str>, field: &'static str) -> Result<Option<bool>, DecodeError> {
    match v {
        None | Some("null") => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(DecodeError::WrongType {
            field,
            expected: "a boolean",
        }),
    }
}

fn req_ident<'a>(v: Option<&'a str>) -> Result<JsonStr<'a>, DecodeError> {
    let v = v.ok_or(DecodeError::MissingField("identifier"))?;
    JsonStr::from_literal(v).ok_or(DecodeError::NotAString("identifier"))
}

fn raw_of<'a>(v: Option<&'a str>, field: &'static str) -> Result<&'a RawValue, DecodeError> {
    crate::scan::raw_value(v.ok_or(DecodeError::MissingField(field))?)
}

/// Decodes one server frame. Allocation-free for data frames, pings and confirmations (only escaped `type`,
/// `reason`, `sid`, stream fields and `restored_ids` lists allocate).
pub fn decode_server(text: &str) -> Result<ServerMessage<'_>, DecodeError> {
    use crate::scan::{Scanner, key_is};
    let mut env = ServerEnvelope::default();
    let mut sc = Scanner::new(text);
    sc.members(1, |k, v| {
        let slot = if key_is(k, "identifier") {
            &mut env.identifier
        } else if key_is(k, "message") {
            &mut env.message
        } else if key_is(k, "type") {
            &mut env.kind
        } else if key_is(k, "reason") {
            &mut env.reason
        } else if key_is(k, "reconnect") {
            &mut env.reconnect
        } else if key_is(k, "sid") {
            &mut env.sid
        } else if key_is(k, "restored") {
            &mut env.restored
        } else if key_is(k, "restored_ids") {
            &mut env.restored_ids
        } else if key_is(k, "stream_id") {
            &mut env.stream_id
        } else if key_is(k, "epoch") {
            &mut env.epoch
        } else if key_is(k, "offset") {
            &mut env.offset
        } else {
            return Ok(()); // unknown fields are skipped
        };
        *slot = Some(v);
        Ok(())
    })?;
    sc.finish()?;
    let kind = if is_null(env.kind) {
        None
    } else {
        Some(
            env.kind
                .and_then(JsonStr::from_literal)
                .ok_or(DecodeError::WrongType {
                    field: "type",
                    expected: "a string",
                })?,
        )
    };
    let is = |name: &str| kind.is_some_and(|k| k.eq_str(name));
    Ok(if kind.is_none() {
        if env.identifier.is_some() && env.message.is_some() {
            let offset = match env.offset {
                None | Some("null") => None,
                Some(o) => Some(o.parse::<u64>().map_err(|_| DecodeError::WrongType {
                    field: "offset",
                    expected: "an unsigned integer",
                })?),
            };
            ServerMessage::Message {
                identifier: req_ident(env.identifier)?,
                message: raw_of(env.message, "message")?,
                stream_id: opt_string(env.stream_id, "stream_id")?,
                epoch: opt_string(env.epoch, "epoch")?,
                offset,
            }
        } else {
            ServerMessage::Unknown {
                kind: None,
                identifier: env.identifier.and_then(JsonStr::from_literal),
                message: env.message.map(crate::scan::raw_value).transpose()?,
            }
        }
    } else if is("ping") {
        ServerMessage::Ping {
            message: env.message.and_then(|m| m.parse::<i64>().ok()),
        }
    } else if is("confirm_subscription") {
        ServerMessage::Confirm {
            identifier: req_ident(env.identifier)?,
        }
    } else if is("welcome") {
        let mut restored_ids = Vec::new();
        if let Some(ids) = env.restored_ids.filter(|v| *v != "null") {
            Scanner::new(ids).elements(1, |v| {
                let s = JsonStr::from_literal(v).ok_or(DecodeError::WrongType {
                    field: "restored_ids",
                    expected: "an array of strings",
                })?;
                restored_ids.push(s.to_cow());
                Ok(())
            })?;
        }
        ServerMessage::Welcome {
            sid: opt_string(env.sid, "sid")?,
            restored: opt_bool(env.restored, "restored")?.unwrap_or(false),
            restored_ids,
        }
    } else if is("reject_subscription") {
        ServerMessage::Reject {
            identifier: req_ident(env.identifier)?,
        }
    } else if is("disconnect") {
        ServerMessage::Disconnect {
            reason: opt_string(env.reason, "reason")?,
            reconnect: opt_bool(env.reconnect, "reconnect")?,
        }
    } else if is("pong") {
        ServerMessage::Pong
    } else if is("confirm_history") {
        ServerMessage::ConfirmHistory {
            identifier: req_ident(env.identifier)?,
        }
    } else if is("reject_history") {
        ServerMessage::RejectHistory {
            identifier: req_ident(env.identifier)?,
        }
    } else if is("presence") {
        ServerMessage::Presence {
            identifier: req_ident(env.identifier)?,
            message: raw_of(env.message, "message")?,
        }
    } else {
        ServerMessage::Unknown {
            kind: kind.map(|k| k.to_cow()),
            identifier: env.identifier.and_then(JsonStr::from_literal),
            message: env.message.map(crate::scan::raw_value).transpose()?,
        }
    })
}

/// A server frame to encode (the counterpart of [`ServerMessage`], with unescaped identifiers).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum ServerFrame<'a> {
    /// `welcome`, with AnyCable's `sid` and restore fields when given.
    Welcome {
        /// AnyCable session id.
        sid: Option<&'a str>,
        /// AnyCable restored identifiers (`Some` adds `"restored":true`).
        restored_ids: Option<&'a [&'a str]>,
    },
    /// `ping` with a Unix timestamp.
    Ping {
        /// The timestamp.
        message: i64,
    },
    /// AnyCable `pong`.
    Pong,
    /// `confirm_subscription`.
    Confirm {
        /// The identifier.
        identifier: &'a str,
    },
    /// `reject_subscription`.
    Reject {
        /// The identifier.
        identifier: &'a str,
    },
    /// `disconnect`; `reason: None` is sent as null, `reconnect: None` is left out.
    Disconnect {
        /// Why.
        reason: Option<&'a str>,
        /// Whether the client may reconnect.
        reconnect: Option<bool>,
    },
    /// A broadcast.
    Message {
        /// The identifier.
        identifier: &'a str,
        /// The payload (raw JSON).
        message: &'a str,
        /// AnyCable stream position (stream id, epoch, offset).
        stream: Option<(&'a str, &'a str, u64)>,
    },
    /// AnyCable `confirm_history`.
    ConfirmHistory {
        /// The identifier.
        identifier: &'a str,
    },
    /// AnyCable `reject_history`.
    RejectHistory {
        /// The identifier.
        identifier: &'a str,
    },
    /// AnyCable `presence`.
    Presence {
        /// The identifier.
        identifier: &'a str,
        /// The presence payload (raw JSON).
        message: &'a str,
    },
}

/// Appends `s` as a JSON string literal.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        out.push_str(s.get(start..i).unwrap_or(""));
        match esc {
            Some(e) => out.push_str(e),
            None => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
        start = i + 1;
    }
    out.push_str(s.get(start..).unwrap_or(""));
    out.push('"');
}

fn typed_ident(out: &mut String, identifier: &str, kind: &str) {
    out.push_str("{\"identifier\":");
    push_json_str(out, identifier);
    out.push_str(",\"type\":\"");
    out.push_str(kind);
    out.push_str("\"}");
}

impl ServerFrame<'_> {
    /// Encodes the frame as Rails (and AnyCable) lay it out.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(64);
        match *self {
            ServerFrame::Welcome { sid, restored_ids } => {
                out.push_str("{\"type\":\"welcome\"");
                if let Some(sid) = sid {
                    out.push_str(",\"sid\":");
                    push_json_str(&mut out, sid);
                }
                if let Some(ids) = restored_ids {
                    out.push_str(",\"restored\":true,\"restored_ids\":[");
                    for (i, id) in ids.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        push_json_str(&mut out, id);
                    }
                    out.push(']');
                }
                out.push('}');
            }
            ServerFrame::Ping { message } => {
                out.push_str("{\"type\":\"ping\",\"message\":");
                out.push_str(&message.to_string());
                out.push('}');
            }
            ServerFrame::Pong => out.push_str("{\"type\":\"pong\"}"),
            ServerFrame::Confirm { identifier } => typed_ident(&mut out, identifier, "confirm_subscription"),
            ServerFrame::Reject { identifier } => typed_ident(&mut out, identifier, "reject_subscription"),
            ServerFrame::ConfirmHistory { identifier } => {
                typed_ident(&mut out, identifier, "confirm_history")
            }
            ServerFrame::RejectHistory { identifier } => typed_ident(&mut out, identifier, "reject_history"),
            ServerFrame::Disconnect { reason, reconnect } => {
                out.push_str("{\"type\":\"disconnect\",\"reason\":");
                match reason {
                    Some(r) => push_json_str(&mut out, r),
                    None => out.push_str("null"),
                }
                if let Some(r) = reconnect {
                    out.push_str(if r {
                        ",\"reconnect\":true"
                    } else {
                        ",\"reconnect\":false"
                    });
                }
                out.push('}');
            }
            ServerFrame::Message {
                identifier,
                message,
                stream,
            } => {
                out.reserve(identifier.len() + message.len() + 64);
                out.push_str("{\"identifier\":");
                push_json_str(&mut out, identifier);
                out.push_str(",\"message\":");
                out.push_str(message);
                if let Some((stream_id, epoch, offset)) = stream {
                    out.push_str(",\"stream_id\":");
                    push_json_str(&mut out, stream_id);
                    out.push_str(",\"epoch\":");
                    push_json_str(&mut out, epoch);
                    out.push_str(",\"offset\":");
                    out.push_str(&offset.to_string());
                }
                out.push('}');
            }
            ServerFrame::Presence { identifier, message } => {
                out.push_str("{\"type\":\"presence\",\"identifier\":");
                push_json_str(&mut out, identifier);
                out.push_str(",\"message\":");
                out.push_str(message);
                out.push('}');
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------------------
// Client -> server

/// One stream position in a history request: the epoch and the last offset seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StreamPosition {
    /// The stream epoch.
    pub epoch: String,
    /// The last offset received.
    pub offset: u64,
}

/// AnyCable's `history` request: messages since a Unix time and/or after known stream positions.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct HistoryRequest {
    /// Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
    /// Stream id -> last position seen.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub streams: BTreeMap<String, StreamPosition>,
}

/// A client command to encode.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Command<'a> {
    /// `subscribe` (AnyCable lets a `history` request ride along).
    Subscribe {
        /// The identifier.
        identifier: &'a str,
        /// AnyCable history to replay with the subscription.
        history: Option<&'a HistoryRequest>,
    },
    /// `unsubscribe` (never acknowledged).
    Unsubscribe {
        /// The identifier.
        identifier: &'a str,
    },
    /// `message`: `data` is the JSON text of an object holding `action`; it is sent string-encoded.
    Message {
        /// The identifier.
        identifier: &'a str,
        /// The JSON text, sent as a JSON string.
        data: &'a str,
    },
    /// AnyCable `history`.
    History {
        /// The identifier.
        identifier: &'a str,
        /// The request.
        history: &'a HistoryRequest,
    },
    /// AnyCable `whisper`: `data` is raw JSON (not string-encoded).
    Whisper {
        /// The identifier.
        identifier: &'a str,
        /// Raw JSON.
        data: &'a str,
    },
    /// AnyCable presence `join` (`presence` is raw JSON such as `{"id":"u1","info":{..}}`).
    Join {
        /// The identifier.
        identifier: &'a str,
        /// Raw JSON.
        presence: &'a str,
    },
    /// AnyCable presence `leave`.
    Leave {
        /// The identifier.
        identifier: &'a str,
    },
    /// AnyCable presence info request.
    Presence {
        /// The identifier.
        identifier: &'a str,
    },
    /// AnyCable `pong`.
    Pong,
    /// AnyCable client `ping`.
    Ping,
}

fn cmd_ident(out: &mut String, command: &str, identifier: &str) {
    out.push_str("{\"command\":\"");
    out.push_str(command);
    out.push_str("\",\"identifier\":");
    push_json_str(out, identifier);
}

fn push_history(out: &mut String, h: &HistoryRequest) {
    // HistoryRequest holds only strings and integers: serialization cannot fail.
    out.push_str(&serde_json::to_string(h).unwrap_or_else(|_| String::from("{}")));
}

impl Command<'_> {
    /// Encodes the command as @rails/actioncable and anycable-client do.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(96);
        match *self {
            Command::Subscribe { identifier, history } => {
                cmd_ident(&mut out, "subscribe", identifier);
                if let Some(h) = history {
                    out.push_str(",\"history\":");
                    push_history(&mut out, h);
                }
            }
            Command::Unsubscribe { identifier } => cmd_ident(&mut out, "unsubscribe", identifier),
            Command::Message { identifier, data } => {
                cmd_ident(&mut out, "message", identifier);
                out.push_str(",\"data\":");
                push_json_str(&mut out, data);
            }
            Command::History { identifier, history } => {
                cmd_ident(&mut out, "history", identifier);
                out.push_str(",\"history\":");
                push_history(&mut out, history);
            }
            Command::Whisper { identifier, data } => {
                cmd_ident(&mut out, "whisper", identifier);
                out.push_str(",\"data\":");
                out.push_str(data);
            }
            Command::Join { identifier, presence } => {
                cmd_ident(&mut out, "join", identifier);
                out.push_str(",\"presence\":");
                out.push_str(presence);
            }
            Command::Leave { identifier } => cmd_ident(&mut out, "leave", identifier),
            Command::Presence { identifier } => cmd_ident(&mut out, "presence", identifier),
            Command::Pong => out.push_str("{\"command\":\"pong\""),
            Command::Ping => out.push_str("{\"command\":\"ping\""),
        }
        out.push('}');
        out
    }
}

/// A decoded client command (what a server receives), borrowing from the frame text.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientMessage<'a> {
    /// `subscribe`, with an optional AnyCable `history` (raw).
    Subscribe {
        /// The identifier.
        identifier: JsonStr<'a>,
        /// AnyCable history request, raw.
        history: Option<&'a RawValue>,
    },
    /// `unsubscribe`.
    Unsubscribe {
        /// The identifier.
        identifier: JsonStr<'a>,
    },
    /// `message`: `data` is normally a JSON string holding a JSON object with `action` (see [`MessageData`]).
    Message {
        /// The identifier.
        identifier: JsonStr<'a>,
        /// The data, raw.
        data: &'a RawValue,
    },
    /// AnyCable `history`.
    History {
        /// The identifier.
        identifier: JsonStr<'a>,
        /// The request, raw (see [`HistoryRequest`]).
        history: &'a RawValue,
    },
    /// AnyCable `whisper`.
    Whisper {
        /// The identifier.
        identifier: JsonStr<'a>,
        /// The data, raw.
        data: &'a RawValue,
    },
    /// AnyCable presence `join`.
    Join {
        /// The identifier.
        identifier: JsonStr<'a>,
        /// The presence payload, raw.
        presence: Option<&'a RawValue>,
    },
    /// AnyCable presence `leave`.
    Leave {
        /// The identifier.
        identifier: JsonStr<'a>,
    },
    /// AnyCable presence info request.
    Presence {
        /// The identifier.
        identifier: JsonStr<'a>,
    },
    /// AnyCable `pong`.
    Pong,
    /// AnyCable client `ping`.
    Ping,
    /// Anything else (Rails logs "Received unrecognized command").
    Unknown {
        /// The `command`, if any.
        command: Option<Cow<'a, str>>,
    },
}

#[derive(serde::Deserialize)]
struct ClientEnvelope<'a> {
    #[serde(borrow, default)]
    command: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "some_raw")]
    identifier: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "some_raw")]
    data: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "some_raw")]
    history: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "some_raw")]
    presence: Option<&'a RawValue>,
}

/// Decodes one client command.
pub fn decode_client(text: &str) -> Result<ClientMessage<'_>, DecodeError> {
    let env: ClientEnvelope<'_> = serde_json::from_str(text)?;
    let ident_raw = env.identifier;
    let identifier = || json_str(ident_raw, "identifier");
    Ok(match env.command.as_deref() {
        Some("subscribe") => ClientMessage::Subscribe {
            identifier: identifier()?,
            history: env.history.filter(|h| h.get() != "null"),
        },
        Some("unsubscribe") => ClientMessage::Unsubscribe {
            identifier: identifier()?,
        },
        Some("message") => ClientMessage::Message {
            identifier: identifier()?,
            data: env.data.ok_or(DecodeError::MissingField("data"))?,
        },
        Some("history") => ClientMessage::History {
            identifier: identifier()?,
            history: env.history.ok_or(DecodeError::MissingField("history"))?,
        },
        Some("whisper") => ClientMessage::Whisper {
            identifier: identifier()?,
            data: env.data.ok_or(DecodeError::MissingField("data"))?,
        },
        Some("join") => ClientMessage::Join {
            identifier: identifier()?,
            presence: env.presence,
        },
        Some("leave") => ClientMessage::Leave {
            identifier: identifier()?,
        },
        Some("presence") => ClientMessage::Presence {
            identifier: identifier()?,
        },
        Some("pong") => ClientMessage::Pong,
        Some("ping") => ClientMessage::Ping,
        _ => ClientMessage::Unknown { command: env.command },
    })
}

/// The decoded `data` of a `message` command: the JSON object carried inside the string, and its `action`.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageData {
    /// The `action`, when the object has a string one (without it Rails calls `receive`).
    pub action: Option<String>,
    /// The object's JSON text (with `action` still in it).
    pub json: String,
}

impl MessageData {
    /// Decodes a `message` command's raw `data`: a JSON string holding a JSON object.
    pub fn from_raw(data: &RawValue) -> Result<MessageData, DecodeError> {
        let raw = JsonStr::from_raw(data).ok_or(DecodeError::NotAString("data"))?;
        let json = raw.to_cow().into_owned();
        #[derive(serde::Deserialize)]
        struct Action<'b> {
            #[serde(borrow, default)]
            action: Option<&'b RawValue>,
        }
        let a: Action<'_> = serde_json::from_str(&json)?;
        let action = a
            .action
            .and_then(JsonStr::from_raw)
            .map(|s| s.to_cow().into_owned());
        Ok(MessageData { action, json })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_str_compares_after_unescaping() {
        let raw: &RawValue =
            serde_json::from_str(r#""{\"channel\":\"A\u003cB\",\"x\":\"\ud83d\ude00\"}""#).unwrap();
        let s = JsonStr::from_raw(raw).unwrap();
        assert!(s.eq_str("{\"channel\":\"A<B\",\"x\":\"😀\"}"));
        assert!(!s.eq_str("{\"channel\":\"A<B\",\"x\":\"😀\"} "));
        assert!(!s.eq_str("{\"channel\":\"A<B\""));
        assert_eq!(s.to_cow(), "{\"channel\":\"A<B\",\"x\":\"😀\"}");
        let plain: &RawValue = serde_json::from_str(r#""abc""#).unwrap();
        assert!(matches!(
            JsonStr::from_raw(plain).unwrap().to_cow(),
            Cow::Borrowed("abc")
        ));
        let lone: &RawValue = serde_json::from_str(r#""a\ud800b\u00e9""#).unwrap();
        let lone = JsonStr::from_raw(lone).unwrap();
        assert_eq!(lone.to_cow(), "a\u{FFFD}bé");
        assert!(lone.eq_str(&lone.to_cow()));
        let num: &RawValue = serde_json::from_str("12").unwrap();
        assert!(JsonStr::from_raw(num).is_none());
    }

    #[test]
    fn escapes_control_characters() {
        let mut s = String::new();
        push_json_str(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é""#);
        assert_eq!(serde_json::from_str::<String>(&s).unwrap(), "a\"b\\c\nd\u{1}é");
    }

    #[test]
    fn message_data_reads_action() {
        let raw: &RawValue = serde_json::from_str(r#""{\"action\":\"speak\",\"text\":\"hi\"}""#).unwrap();
        let d = MessageData::from_raw(raw).unwrap();
        assert_eq!(d.action.as_deref(), Some("speak"));
        assert_eq!(d.json, r#"{"action":"speak","text":"hi"}"#);
        let obj: &RawValue = serde_json::from_str(r#"{"action":"speak"}"#).unwrap();
        assert!(matches!(
            MessageData::from_raw(obj),
            Err(DecodeError::NotAString("data"))
        ));
    }
}
