//! [`ClientMessage`]: what the client sends, the document's `subscribe-*` messages.

use feedwire_core::{Frame, RawJson};

use super::channel;
use super::error::DecodeError;
use super::schema::{Ping, Settings};
use super::wire::{encode_parts, encode_raw, typed};
use crate::envelope::{Envelope, NestEnvelope, RawMessage};

/// A message the client sends (the document's `subscribe-*` messages).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientMessage {
    /// `subscribe-ping` on `ping-pong`.
    Ping(Ping),
    /// `subscribe-settings` on `settings`.
    Settings(Settings),
    /// A channel this model does not know, kept raw.
    Other {
        /// The channel name.
        event: String,
        /// The payload (sharing the frame's buffer when decoded).
        data: RawJson,
    },
}

impl ClientMessage {
    /// Decodes a frame in the default envelope, `{"event":"<channel>","data":<payload>}`.
    pub fn decode(frame: &Frame) -> Result<Self, DecodeError> {
        Self::decode_with(frame, &NestEnvelope)
    }

    /// Decodes a frame in another envelope (the non-default path; see [`crate::envelope`]).
    pub fn decode_with<E: Envelope + ?Sized>(frame: &Frame, envelope: &E) -> Result<Self, DecodeError> {
        let m = envelope.split(frame.as_str())?;
        Self::from_parts(&m, frame)
    }

    /// Phase 2: the typed message of a frame already split by an envelope (`raw` borrows from `frame`).
    pub(crate) fn from_parts(raw: &RawMessage<'_>, frame: &Frame) -> Result<Self, DecodeError> {
        let (event, data) = (raw.event.as_ref(), raw.data);
        Ok(match event {
            channel::PING_PONG => ClientMessage::Ping(typed(event, data)?),
            channel::SETTINGS => ClientMessage::Settings(typed(event, data)?),
            other => ClientMessage::Other {
                event: other.to_owned(),
                data: RawJson::from_raw_in(frame, data),
            },
        })
    }

    /// The channel name.
    pub fn event(&self) -> &str {
        match self {
            ClientMessage::Ping(_) => channel::PING_PONG,
            ClientMessage::Settings(_) => channel::SETTINGS,
            ClientMessage::Other { event, .. } => event,
        }
    }

    /// The AsyncAPI message name (`subscribe-ping`, `subscribe-settings`); `None` for `Other`.
    pub fn message_name(&self) -> Option<&'static str> {
        match self {
            ClientMessage::Ping(_) => Some("subscribe-ping"),
            ClientMessage::Settings(_) => Some("subscribe-settings"),
            ClientMessage::Other { .. } => None,
        }
    }

    /// Encodes in the default envelope. Infallible: a number JSON cannot express (NaN, an infinity) is
    /// written as `null`, as serde_json writes it.
    pub fn encode(&self) -> Frame {
        self.encode_with(&NestEnvelope)
    }

    /// Encodes in another envelope (the non-default path; see [`crate::envelope`]).
    pub fn encode_with<E: Envelope + ?Sized>(&self, envelope: &E) -> Frame {
        let event = self.event();
        match self {
            ClientMessage::Ping(d) => encode_parts(envelope, event, d),
            ClientMessage::Settings(d) => encode_parts(envelope, event, d),
            ClientMessage::Other { data, .. } => encode_raw(envelope, event, data.as_str()),
        }
    }
}
