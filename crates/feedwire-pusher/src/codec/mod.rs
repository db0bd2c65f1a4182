//! Pusher protocol 7 messages, both directions: decode and encode, no state.
//!
//! - [`ServerMessage`]: what a server sends ([`ServerMessage::decode`], [`ServerMessage::encode`]);
//! - [`ClientMessage`]: what a client sends ([`ClientMessage::decode`], [`ClientMessage::encode`]);
//! - [`DecodeError`]: why a frame is not a Pusher message; [`NameError`]: why a channel or event name is refused.
//!
//! # Decoding in two phases
//!
//! [`Envelope::parse`] borrows the frame: `event`, `channel` as [`Cow<str>`](std::borrow::Cow) (borrowed
//! unless they hold JSON escapes), `data` and `user_id` as `&RawValue`. Ordinary frames are validated and split
//! by one pass of core's envelope scanner ([`feedwire_core::json::Scanner`], cheaper than serde_json merely
//! skipping the frame); anything else goes through serde_json's derived decoder, and the two are tested to
//! agree exactly. [`ServerMessage::decode`] / [`ClientMessage::decode`] then build a message whose text fields
//! and payloads are zero-copy slices of the [`Frame`](feedwire_core::Frame) ([`ByteString`],
//! [`RawJson`](feedwire_core::RawJson)), parsing a payload's inside only for the `pusher:` /
//! `pusher_internal:` events that need it. A channel event (the hot path) never looks inside `data`: it is
//! handed out as a [`StringOrJson`](feedwire_core::StringOrJson) slice, decoded later on demand.
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
//! it decodes client messages with [`ClientMessage::decode`] and encodes a broadcast once
//! ([`ServerMessage::encode_channel_event`]) into a frame that every connection shares. Encoding never fails:
//! string fields are escaped as serde_json escapes them ([`feedwire_core::json::write_string`]), and payload
//! fields ([`RawJson`](feedwire_core::RawJson), [`StringOrJson`](feedwire_core::StringOrJson)) hold JSON that
//! was validated when they were made.

mod client;
mod envelope;
mod error;
pub mod events;
mod names;
mod server;

pub use bytestring::ByteString;
pub use client::ClientMessage;
pub use envelope::{Envelope, UserId};
pub use error::DecodeError;
pub use names::{
    MAX_CHANNEL_NAME_LEN, MAX_EVENT_NAME_LEN, NameError, is_socket_id, validate_channel_name,
    validate_client_event_name, validate_event_name,
};
pub use server::{
    ChannelEvent, ConnectionEstablished, ErrorMessage, ServerMessage, SubscriptionErrorMessage,
    SubscriptionErrorShape, WatchlistEvent,
};

pub(crate) use envelope::parse_data;
