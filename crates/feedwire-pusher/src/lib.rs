//! Pusher Channels protocol 7 for feedwire: sans-IO codec, client session, auth signatures and encrypted
//! channels.
//!
//! - [`codec`]: every message in both directions, two-phase borrowed decoding, pusher-js-exact encoding;
//! - [`client`]: [`client::Client`], a [`feedwire_core::Session`] with the full pusher-js connection policy;
//! - [`auth`]: channel and user signatures (`key:hex(HMAC-SHA256)`);
//! - [`encrypted`]: `private-encrypted-*` payload decryption;
//! - [`server`]: [`server::Hub`], a protocol-faithful Pusher server hub (a [`feedwire_core::Hub`]) that pusher-js
//!   and this crate's client work against unchanged;
//! - [`rest`]: the Channels HTTP API, sans-IO, with full request-signature verification.
//!
//! It accepts the frames of hosted Pusher, soketi, Laravel Reverb, poxa and pusher-fake alike: `data` as a
//! JSON-encoded string, an object or absent; `code: null`; `user_id` as a number or a string; every shape of
//! subscription error.
//!
//! ```
//! use std::time::Instant;
//! use feedwire_core::{Frame, Session, Transmit};
//! use feedwire_pusher::client::{Client, Config, Event};
//!
//! let mut client = Client::new(Config::bitskins());
//! let now = Instant::now();
//! client.connect(now);
//! client.subscribe("inventory_changes").unwrap();
//! let Some(Transmit::Connect(req)) = client.poll_transmit() else { panic!() };
//! assert!(req.url.starts_with("wss://notifier.bitskins.com:443/app/c0eef4118084f8164bec65e6253bf195?protocol=7"));
//! client.handle_open(now, None);
//! client.handle_frame(now, Frame::from(
//!     r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"1.2\",\"activity_timeout\":120}"}"#));
//! let Some(Transmit::Send(sub)) = client.poll_transmit() else { panic!() };
//! assert_eq!(sub.as_str(), r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"inventory_changes"}}"#);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod auth;
pub mod client;
pub mod codec;
pub mod encrypted;
#[cfg(any(feature = "fuzzing", fuzzing))]
pub mod fuzzing;
pub mod rest;
pub mod server;

pub use bytestring::ByteString;
