//! Doshii frames: heartbeats, legacy Primus strings and events. No state.
//!
//! What travels on a Doshii socket (see the crate docs for the sources):
//!
//! | frame | from the server ([`ServerMessage`]) | from the client ([`ClientMessage`]) |
//! |---|---|---|
//! | `{"doshii":{"ping":1539144663417,"version":"1.2.3"}}` (POS may add `"status":{..}`) | `Ping` | `Ping` |
//! | `{"doshii":{"pong":1539144663417,"version":"3.2.123"}}` (`version` may be missing) | `Pong` | `Pong` |
//! | `"primus::ping::1539144663417"` (a JSON string, quotes included) | `PrimusPing` | `PrimusPing` |
//! | `"primus::pong::1539144663417"` | `PrimusPong` | `PrimusPong` |
//! | `"primus::server::close"` | `PrimusServerClose` | `Unknown` |
//! | `{"emit":["order_updated",{..}]}` (the wire shape, from primus-emit) | `Event` | `Unknown` |
//! | `{"type":"order_updated","data":{..}}` or `{"event":..,"data":..}` (the docs' shape; a fallback) | `Event` | `Unknown` |
//! | any other valid JSON | `Unknown` | `Unknown` |
//!
//! Both enums have the one codec shape of feedwire: `decode(&Frame) -> Result<_, DecodeError>` and
//! `encode(&self) -> Frame`. Decoding runs in two phases: a borrowed envelope first (payloads stay `&RawValue`
//! slices of the frame), then the owned message whose payloads are [`RawJson`](feedwire_core::RawJson)
//! slices of the same buffer: no copy. Payload fields are read on demand through [`EventData`]. The exact
//! shape Doshii sends, `{"emit":["<name>",<data>]}`, takes a fast path that validates only the data; the
//! client session uses its take-the-frame variant, [`ServerMessage::take_event`].
//!
//! ```
//! use feedwire_core::Frame;
//! use feedwire_doshii::codec::{EventKind, ServerMessage};
//!
//! let frame = Frame::from(r#"{"emit":["order_updated",{"id":"123","status":"accepted","uri":"https://sandbox.doshii.co/partner/v3/orders/123"}]}"#);
//! let ServerMessage::Event(event) = ServerMessage::decode(&frame).unwrap() else { panic!() };
//! assert_eq!(event.kind, EventKind::OrderUpdated);
//! assert_eq!(event.data.id().as_deref(), Some("123"));
//! assert_eq!(event.data.status().as_deref(), Some("accepted"));
//! // and back to the wire
//! assert_eq!(ServerMessage::Event(event).encode(), frame);
//! ```

mod client;
mod data;
mod envelope;
mod error;
mod event;
mod heartbeat;
mod server;

pub use client::ClientMessage;
pub use data::{CommonFields, EventData, OrderEvent, TransactionEvent};
pub use error::DecodeError;
pub use event::{Event, EventKind, EventShape};
pub(crate) use heartbeat::version_json;
pub use heartbeat::{Heartbeat, PRIMUS_SERVER_CLOSE, PosStatus, Stamp};
pub use server::ServerMessage;
