//! Message types, decode and encode (no state).
//!
//! One shape, as in every feedwire codec: [`ServerMessage::decode`] and [`ClientMessage::decode`] take a
//! [`Frame`](feedwire_core::Frame), `encode(&self)` gives one back (infallible). The frame shape is the
//! [`Envelope`](crate::envelope::Envelope) of the project's assumption 1 by default; the `_with` variants
//! ([`ServerMessage::decode_with`], [`ServerMessage::encode_with`], and the same on [`ClientMessage`]) take
//! another one, the documented non-default path.
//!
//! Decoding happens in two phases: the envelope splits a frame into channel name and a borrowed raw payload
//! (phase 1, no payload parsing), then the payload is parsed into its typed model (phase 2): at once by
//! `decode`, or on demand by [`Payload::parse`] for the payloads the client hands out.
//!
//! Every payload object keeps the fields this model does not know in its `extra` map, and re-emits them when
//! encoded. A channel this model does not know decodes to the `Other` variant with its raw payload.
//!
//! Directions follow the AsyncAPI document (`testdata/asyncapi.yaml` in this crate): `publish-*` messages go
//! server -> client ([`ServerMessage`], in `server.rs`), `subscribe-*` messages client -> server
//! ([`ClientMessage`], in `client.rs`); the payload schemas are in `schema.rs`.
//!
//! ```
//! use feedwire_core::Frame;
//! use feedwire_igratech::codec::{BetStatus, ServerMessage};
//!
//! let frame = Frame::from(r#"{"event":"bet","data":{"gameId":"g-1","bets":[{"betId":"b-1","market":"1x2",
//!     "outcome":"home","odds":1.85,"stake":10.0,"status":"open","boost":true}]}}"#);
//! let ServerMessage::Bet(bet) = ServerMessage::decode(&frame).unwrap() else { panic!() };
//! assert_eq!(bet.game_id.to_string(), "g-1");
//! assert_eq!(bet.bets[0].odds, 1.85);
//! assert_eq!(bet.bets[0].status, Some(BetStatus::Open));
//! assert_eq!(bet.bets[0].extra["boost"], true); // unknown fields are kept
//!
//! let again = ServerMessage::Bet(bet).encode();
//! assert!(again.as_str().starts_with(r#"{"event":"bet","data":{"gameId":"g-1","bets":[{"betId":"b-1","#));
//! ```

pub mod channel;
mod client;
mod error;
mod payload;
mod schema;
mod server;
mod wire;

pub use client::ClientMessage;
pub use error::DecodeError;
pub use payload::Payload;
pub use schema::{
    Balance, Bet, BetData, BetResult, BetStatus, BetsResultData, Extra, Id, Incident, IncidentData,
    IncidentType, Logout, OddsFormat, Ping, Pong, Settings, StatsData, Status, Team,
};
pub use server::ServerMessage;
