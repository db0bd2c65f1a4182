//! Server -> client frames.

use std::borrow::Cow;

use feedwire_core::Frame;
use feedwire_core::json::{JsonStr, Scanner, key_is};
use serde_json::value::RawValue;

use super::error::DecodeError;
use super::fields::{ObjectWriter, is_null, opt_bool, opt_ident, opt_string, raw_of, req_ident};
use super::ident::IdentifierStr;

/// How deep a frame may nest arrays and objects, the envelope included (serde_json's own limit).
const MAX_DEPTH: usize = 128;

/// A server frame, decoded (borrowing from the frame) or to encode.
///
/// ```
/// use feedwire_actioncable::codec::{IdentifierStr, ServerMessage};
///
/// let confirm = ServerMessage::Confirm { identifier: IdentifierStr::new(r#"{"channel":"ChatChannel"}"#) };
/// let frame = confirm.encode();
/// assert_eq!(frame.as_str(), r#"{"identifier":"{\"channel\":\"ChatChannel\"}","type":"confirm_subscription"}"#);
/// assert!(matches!(ServerMessage::decode(&frame).unwrap(), ServerMessage::Confirm { identifier }
///     if identifier.eq_str(r#"{"channel":"ChatChannel"}"#)));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ServerMessage<'a> {
    /// `{"type":"welcome"}`; AnyCable adds `sid`, and on a resumed session `restored` and `restored_ids`.
    Welcome {
        /// AnyCable session id.
        sid: Option<Cow<'a, str>>,
        /// Whether AnyCable restored the previous session.
        restored: bool,
        /// The identifiers whose subscriptions AnyCable restored (encoded when `restored` or not empty).
        restored_ids: Vec<IdentifierStr<'a>>,
    },
    /// `{"type":"ping","message":1795342530}`: Unix time (seconds for Rails; AnyCable may send ms or ns).
    Ping {
        /// The timestamp, when it is an integer (`None` is encoded without `message`).
        message: Option<i64>,
    },
    /// AnyCable's answer to a client ping.
    Pong,
    /// `confirm_subscription`.
    Confirm {
        /// The identifier, echoed as the client sent it.
        identifier: IdentifierStr<'a>,
    },
    /// `reject_subscription`.
    Reject {
        /// The identifier.
        identifier: IdentifierStr<'a>,
    },
    /// `{"type":"disconnect","reason":..,"reconnect":..}` (Rails 6.0+); both fields may be null or absent.
    Disconnect {
        /// Why (`unauthorized`, `invalid_request`, `server_restart`, `remote`, AnyCable's `idle_timeout`, ...);
        /// `None` is encoded as `null`.
        reason: Option<Cow<'a, str>>,
        /// Whether the client may reconnect; `None` when absent or null (and left out when encoding).
        reconnect: Option<bool>,
    },
    /// A broadcast: no `type`, an `identifier` and a `message` of any JSON type.
    Message {
        /// The subscription.
        identifier: IdentifierStr<'a>,
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
        identifier: IdentifierStr<'a>,
    },
    /// AnyCable: the history could not be served (evicted or epoch changed): the application must catch up.
    RejectHistory {
        /// The subscription.
        identifier: IdentifierStr<'a>,
    },
    /// AnyCable presence (`message.type` is `join`, `leave`, `info` or `error`).
    Presence {
        /// The subscription.
        identifier: IdentifierStr<'a>,
        /// The presence payload, raw.
        message: &'a RawValue,
    },
    /// A frame of a type this codec does not know (kept, as @rails/actioncable passes it on). Encoded with the
    /// members that are `Some`.
    Unknown {
        /// The `type`, if any.
        kind: Option<Cow<'a, str>>,
        /// The identifier, if it is a string.
        identifier: Option<IdentifierStr<'a>>,
        /// The message, if any.
        message: Option<&'a RawValue>,
    },
}

/// The raw texts of the envelope members the decoder knows.
#[derive(Default)]
struct Envelope<'a> {
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

impl<'a> Envelope<'a> {
    #[inline]
    fn scan(text: &'a str) -> Result<Self, DecodeError> {
        let mut env = Envelope::default();
        let mut sc = Scanner::new(text, MAX_DEPTH);
        sc.members::<DecodeError>(0, |k, v| {
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
        Ok(env)
    }
}

impl<'a> ServerMessage<'a> {
    /// Decodes one server frame. Allocation-free for data frames, pings and confirmations (only escaped
    /// `type`, `reason`, `sid`, stream fields and `restored_ids` lists allocate).
    pub fn decode(frame: &'a Frame) -> Result<ServerMessage<'a>, DecodeError> {
        Self::decode_str(frame.as_str())
    }

    /// [`decode`](ServerMessage::decode) from text: the payloads borrow from `text` (the client path decodes
    /// the frame it keeps, then slices payloads out of it without copying).
    pub fn decode_str(text: &'a str) -> Result<ServerMessage<'a>, DecodeError> {
        let env = Envelope::scan(text)?;
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
        let Some(kind) = kind else {
            return if env.identifier.is_some() && env.message.is_some() {
                let offset = match env.offset {
                    None | Some("null") => None,
                    Some(o) => Some(o.parse::<u64>().map_err(|_| DecodeError::WrongType {
                        field: "offset",
                        expected: "an unsigned integer",
                    })?),
                };
                Ok(ServerMessage::Message {
                    identifier: req_ident(env.identifier)?,
                    message: raw_of(env.message, "message")?,
                    stream_id: opt_string(env.stream_id, "stream_id")?,
                    epoch: opt_string(env.epoch, "epoch")?,
                    offset,
                })
            } else {
                Ok(ServerMessage::Unknown {
                    kind: None,
                    identifier: opt_ident(env.identifier),
                    message: env.message.map(|m| raw_of(Some(m), "message")).transpose()?,
                })
            };
        };
        let is = |name: &str| kind.eq_str(name);
        Ok(if is("ping") {
            ServerMessage::Ping {
                message: env.message.and_then(|m| m.parse::<i64>().ok()),
            }
        } else if is("confirm_subscription") {
            ServerMessage::Confirm {
                identifier: req_ident(env.identifier)?,
            }
        } else if is("welcome") {
            ServerMessage::Welcome {
                sid: opt_string(env.sid, "sid")?,
                restored: opt_bool(env.restored, "restored")?.unwrap_or(false),
                restored_ids: restored_ids(env.restored_ids)?,
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
                kind: Some(kind.to_cow()),
                identifier: opt_ident(env.identifier),
                message: env.message.map(|m| raw_of(Some(m), "message")).transpose()?,
            }
        })
    }

    /// Encodes the frame as Rails (and AnyCable) lay it out.
    pub fn encode(&self) -> Frame {
        let mut out = String::with_capacity(64);
        match self {
            ServerMessage::Welcome {
                sid,
                restored,
                restored_ids,
            } => {
                let mut o = ObjectWriter::new(&mut out);
                o.raw("type", "\"welcome\"");
                if let Some(sid) = sid {
                    o.string("sid", sid);
                }
                if *restored {
                    o.raw("restored", "true");
                }
                if *restored || !restored_ids.is_empty() {
                    let list = o.key("restored_ids");
                    list.push('[');
                    for (i, id) in restored_ids.iter().enumerate() {
                        if i > 0 {
                            list.push(',');
                        }
                        id.write(list);
                    }
                    list.push(']');
                }
                o.finish();
            }
            ServerMessage::Ping { message } => {
                let mut o = ObjectWriter::new(&mut out);
                o.raw("type", "\"ping\"");
                if let Some(m) = message {
                    o.raw("message", &m.to_string());
                }
                o.finish();
            }
            ServerMessage::Pong => out.push_str("{\"type\":\"pong\"}"),
            ServerMessage::Confirm { identifier } => {
                typed_ident(&mut out, identifier, "confirm_subscription")
            }
            ServerMessage::Reject { identifier } => typed_ident(&mut out, identifier, "reject_subscription"),
            ServerMessage::ConfirmHistory { identifier } => {
                typed_ident(&mut out, identifier, "confirm_history")
            }
            ServerMessage::RejectHistory { identifier } => {
                typed_ident(&mut out, identifier, "reject_history")
            }
            ServerMessage::Disconnect { reason, reconnect } => {
                let mut o = ObjectWriter::new(&mut out);
                o.raw("type", "\"disconnect\"");
                match reason {
                    Some(r) => o.string("reason", r),
                    None => o.raw("reason", "null"),
                }
                if let Some(r) = reconnect {
                    o.raw("reconnect", if *r { "true" } else { "false" });
                }
                o.finish();
            }
            ServerMessage::Message {
                identifier,
                message,
                stream_id,
                epoch,
                offset,
            } => {
                out.reserve(identifier.len_hint() + message.get().len() + 32);
                let mut o = ObjectWriter::new(&mut out);
                o.ident("identifier", identifier);
                o.raw("message", message.get());
                if let Some(s) = stream_id {
                    o.string("stream_id", s);
                }
                if let Some(e) = epoch {
                    o.string("epoch", e);
                }
                if let Some(n) = offset {
                    o.raw("offset", &n.to_string());
                }
                o.finish();
            }
            ServerMessage::Presence { identifier, message } => {
                let mut o = ObjectWriter::new(&mut out);
                o.raw("type", "\"presence\"");
                o.ident("identifier", identifier);
                o.raw("message", message.get());
                o.finish();
            }
            ServerMessage::Unknown {
                kind,
                identifier,
                message,
            } => {
                let mut o = ObjectWriter::new(&mut out);
                if let Some(k) = kind {
                    o.string("type", k);
                }
                if let Some(id) = identifier {
                    o.ident("identifier", id);
                }
                if let Some(m) = message {
                    o.raw("message", m.get());
                }
                o.finish();
            }
        }
        Frame::from(out)
    }
}

/// `{"identifier":..,"type":".."}`, in Rails' member order.
fn typed_ident(out: &mut String, identifier: &IdentifierStr<'_>, kind: &str) {
    out.reserve(identifier.len_hint() + kind.len() + 24);
    let mut o = ObjectWriter::new(out);
    o.ident("identifier", identifier);
    let t = o.key("type");
    t.push('"');
    t.push_str(kind);
    t.push('"');
    o.finish();
}

/// A welcome's `restored_ids`: an array of identifier strings (absent or `null`: empty).
fn restored_ids(v: Option<&str>) -> Result<Vec<IdentifierStr<'_>>, DecodeError> {
    let mut ids = Vec::new();
    if let Some(list) = v.filter(|v| *v != "null") {
        // the envelope's scan validated the list within the nesting bound: no bound needed here
        Scanner::new(list, usize::MAX).elements::<DecodeError>(0, |v| {
            let s = JsonStr::from_literal(v).ok_or(DecodeError::WrongType {
                field: "restored_ids",
                expected: "an array of strings",
            })?;
            ids.push(IdentifierStr::from_literal(s));
            Ok(())
        })?;
    }
    Ok(ids)
}
