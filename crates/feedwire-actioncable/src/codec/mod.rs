//! The ActionCable wire format (with AnyCable's extensions): every frame in both directions, no state.
//!
//! [`ServerMessage`] is what a server sends, [`ClientMessage`] what a client sends; each has `decode(&Frame)`
//! and `encode(&self) -> Frame`. Decoding is two-phase: the envelope is read borrowed from the frame
//! (identifiers as [`IdentifierStr`], the string literal as received; payloads as `&RawValue`) and payloads are
//! parsed on demand, so nothing is copied. [`ServerMessage::decode`] runs on every received frame: it scans the
//! envelope with core's allocation-free [`Scanner`](feedwire_core::json::Scanner) instead of serde_json (whose
//! scratch buffer allocates when it skips a nested payload), and allocates only for escaped `type`, `reason`,
//! `sid` and stream strings and for `restored_ids` lists. [`ClientMessage::decode`] (the hub side) uses serde.
//!
//! Nesting: a frame may nest arrays and objects 128 deep, the envelope included (serde_json's own limit for
//! typed values); deeper frames are a [`DecodeError::Syntax`] ("less nesting").
//!
//! ```
//! use feedwire_actioncable::codec::ServerMessage;
//! use feedwire_core::Frame;
//!
//! let frame = Frame::from(r#"{"identifier":"{\"channel\":\"ChatChannel\",\"id\":42}","message":{"text":"hi"}}"#);
//! match ServerMessage::decode(&frame).unwrap() {
//!     ServerMessage::Message { identifier, message, .. } => {
//!         assert!(identifier.eq_str(r#"{"channel":"ChatChannel","id":42}"#));
//!         assert_eq!(message.get(), r#"{"text":"hi"}"#);
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

mod client;
mod error;
mod fields;
mod ident;
mod server;

pub use client::{ClientMessage, HistoryRequest, MessageData, StreamPosition};
pub use error::DecodeError;
pub use ident::IdentifierStr;
pub use server::ServerMessage;

/// The Rails subprotocol.
pub const PROTOCOL_V1_JSON: &str = "actioncable-v1-json";
/// AnyCable's extended JSON subprotocol.
pub const PROTOCOL_V1_EXT_JSON: &str = "actioncable-v1-ext-json";
/// The sentinel a client offers last: a server that picks it has nothing the client supports.
pub const PROTOCOL_UNSUPPORTED: &str = "actioncable-unsupported";
