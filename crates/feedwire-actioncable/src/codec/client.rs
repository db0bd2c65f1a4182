//! Client -> server frames (commands).

use std::borrow::Cow;
use std::collections::BTreeMap;

use feedwire_core::Frame;
use feedwire_core::json::{JsonStr, write_string};
use serde::de::{Deserialize, Deserializer};
use serde::{Deserialize as DeriveDeserialize, Serialize};
use serde_json::value::RawValue;

use super::error::DecodeError;
use super::fields::ObjectWriter;
use super::ident::IdentifierStr;
use crate::identifier::parse_fields;

/// A client command, decoded (borrowing from the frame, what a server receives) or to encode (what a client
/// sends, as @rails/actioncable and anycable-client lay it out).
///
/// ```
/// use feedwire_actioncable::codec::{ClientMessage, IdentifierStr};
///
/// let sub = ClientMessage::Subscribe { identifier: IdentifierStr::new(r#"{"channel":"ChatChannel","id":42}"#), history: None };
/// let frame = sub.encode();
/// assert_eq!(frame.as_str(), r#"{"command":"subscribe","identifier":"{\"channel\":\"ChatChannel\",\"id\":42}"}"#);
/// assert!(matches!(ClientMessage::decode(&frame).unwrap(), ClientMessage::Subscribe { history: None, .. }));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientMessage<'a> {
    /// `subscribe`, with an optional AnyCable `history` (raw; see [`HistoryRequest`]).
    Subscribe {
        /// The identifier.
        identifier: IdentifierStr<'a>,
        /// AnyCable history request, raw.
        history: Option<&'a RawValue>,
    },
    /// `unsubscribe` (never acknowledged).
    Unsubscribe {
        /// The identifier.
        identifier: IdentifierStr<'a>,
    },
    /// `message`: `data` is normally a JSON *string* holding a JSON object with `action` (see
    /// [`MessageData`]).
    Message {
        /// The identifier.
        identifier: IdentifierStr<'a>,
        /// The data, raw: the string literal, quotes included.
        data: &'a RawValue,
    },
    /// AnyCable `history`.
    History {
        /// The identifier.
        identifier: IdentifierStr<'a>,
        /// The request, raw (see [`HistoryRequest`]).
        history: &'a RawValue,
    },
    /// AnyCable `whisper`: `data` is JSON, not string-encoded.
    Whisper {
        /// The identifier.
        identifier: IdentifierStr<'a>,
        /// The data, raw.
        data: &'a RawValue,
    },
    /// AnyCable presence `join` (`presence` such as `{"id":"u1","info":{..}}`).
    Join {
        /// The identifier.
        identifier: IdentifierStr<'a>,
        /// The presence payload, raw.
        presence: Option<&'a RawValue>,
    },
    /// AnyCable presence `leave`.
    Leave {
        /// The identifier.
        identifier: IdentifierStr<'a>,
    },
    /// AnyCable presence info request.
    Presence {
        /// The identifier.
        identifier: IdentifierStr<'a>,
    },
    /// AnyCable `pong`.
    Pong,
    /// AnyCable client `ping`.
    Ping,
    /// Anything else (Rails logs "Received unrecognized command"). Encoded as `{"command":..}` (or `{}`).
    Unknown {
        /// The `command`, if any.
        command: Option<Cow<'a, str>>,
    },
}

#[derive(DeriveDeserialize)]
struct Envelope<'a> {
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

/// Deserializes a present field (even `null`) as `Some(raw)`.
fn some_raw<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

impl<'a> ClientMessage<'a> {
    /// Decodes one client command.
    pub fn decode(frame: &'a Frame) -> Result<ClientMessage<'a>, DecodeError> {
        Self::decode_str(frame.as_str())
    }

    /// [`decode`](ClientMessage::decode) from text.
    pub fn decode_str(text: &'a str) -> Result<ClientMessage<'a>, DecodeError> {
        let env: Envelope<'a> = serde_json::from_str(text)?;
        let ident_raw = env.identifier;
        let identifier = || -> Result<IdentifierStr<'a>, DecodeError> {
            let raw = ident_raw.ok_or(DecodeError::MissingField("identifier"))?;
            JsonStr::from_raw(raw)
                .map(IdentifierStr::from_literal)
                .ok_or(DecodeError::NotAString("identifier"))
        };
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

    /// Encodes the command as @rails/actioncable and anycable-client do.
    pub fn encode(&self) -> Frame {
        let mut out = String::with_capacity(96);
        let mut o = ObjectWriter::new(&mut out);
        let command = |o: &mut ObjectWriter<'_>, name: &str, identifier: &IdentifierStr<'_>| {
            let c = o.key("command");
            c.push('"');
            c.push_str(name);
            c.push('"');
            o.ident("identifier", identifier);
        };
        match self {
            ClientMessage::Subscribe { identifier, history } => {
                command(&mut o, "subscribe", identifier);
                if let Some(h) = history {
                    o.raw("history", h.get());
                }
            }
            ClientMessage::Unsubscribe { identifier } => command(&mut o, "unsubscribe", identifier),
            ClientMessage::Message { identifier, data } => {
                command(&mut o, "message", identifier);
                o.raw("data", data.get());
            }
            ClientMessage::History { identifier, history } => {
                command(&mut o, "history", identifier);
                o.raw("history", history.get());
            }
            ClientMessage::Whisper { identifier, data } => {
                command(&mut o, "whisper", identifier);
                o.raw("data", data.get());
            }
            ClientMessage::Join { identifier, presence } => {
                command(&mut o, "join", identifier);
                if let Some(p) = presence {
                    o.raw("presence", p.get());
                }
            }
            ClientMessage::Leave { identifier } => command(&mut o, "leave", identifier),
            ClientMessage::Presence { identifier } => command(&mut o, "presence", identifier),
            ClientMessage::Pong => o.raw("command", "\"pong\""),
            ClientMessage::Ping => o.raw("command", "\"ping\""),
            ClientMessage::Unknown { command } => {
                if let Some(c) = command {
                    o.string("command", c);
                }
            }
        }
        o.finish();
        Frame::from(out)
    }
}

/// One stream position in a history request: the epoch and the last offset seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, DeriveDeserialize)]
pub struct StreamPosition {
    /// The stream epoch.
    pub epoch: String,
    /// The last offset received.
    pub offset: u64,
}

/// AnyCable's `history` request: messages since a Unix time and/or after known stream positions.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, DeriveDeserialize)]
#[non_exhaustive]
pub struct HistoryRequest {
    /// Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
    /// Stream id -> last position seen.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub streams: BTreeMap<String, StreamPosition>,
}

impl HistoryRequest {
    /// The request as JSON text, for a `history` member.
    pub fn to_json(&self) -> String {
        // only strings and integers: serialization cannot fail
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
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
        #[derive(DeriveDeserialize)]
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

    /// The `data` member of a `message` command, as a JSON string literal: the JSON object text `json` with
    /// `"action": action` set (in place when present, appended otherwise, as `data.action = action` does in
    /// JavaScript). `None` when `json` is not an object.
    pub fn encode(json: &str, action: &str) -> Option<String> {
        let object = with_action(json, action)?;
        let mut literal = String::with_capacity(object.len() + object.len() / 8 + 2);
        write_string(&mut literal, &object);
        Some(literal)
    }
}

/// Sets `action` in the JSON object text `json` (in place when present, appended otherwise).
fn with_action(json: &str, action: &str) -> Option<String> {
    let fields = parse_fields(json)?;
    let mut out = String::with_capacity(json.len() + action.len() + 16);
    let mut o = ObjectWriter::new(&mut out);
    let mut replaced = false;
    for (k, v) in &fields {
        if k == "action" {
            write_string(o.key_escaped(k), action);
            replaced = true;
        } else {
            o.key_escaped(k).push_str(v.get());
        }
    }
    if !replaced {
        o.string("action", action);
    }
    o.finish();
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_action_keeps_order() {
        assert_eq!(
            with_action(r#"{"text":"hi"}"#, "speak").unwrap(),
            r#"{"text":"hi","action":"speak"}"#
        );
        assert_eq!(
            with_action(r#"{"action":"x","n":1}"#, "speak").unwrap(),
            r#"{"action":"speak","n":1}"#
        );
        assert_eq!(with_action("{}", "a").unwrap(), r#"{"action":"a"}"#);
        assert_eq!(
            with_action(r#"{"a\"b":1}"#, "a").unwrap(),
            r#"{"a\"b":1,"action":"a"}"#
        );
        assert!(with_action("[1]", "a").is_none());
        assert_eq!(
            MessageData::encode(r#"{"text":"hi"}"#, "speak").unwrap(),
            r#""{\"text\":\"hi\",\"action\":\"speak\"}""#
        );
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
