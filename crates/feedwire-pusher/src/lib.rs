//! Pusher Channels protocol 7 for feedwire: sans-IO codec, client session, server hub, auth signatures and
//! encrypted channels.
//!
//! - [`codec`]: every message in both directions ([`ServerMessage`], [`ClientMessage`]), two-phase borrowed
//!   decoding, pusher-js-exact encoding;
//! - [`client`]: [`Client`], a [`feedwire_core::Session`] with the full pusher-js connection policy, following
//!   feedwire's one [`Lifecycle`];
//! - [`auth`]: channel and user signatures (`key:hex(HMAC-SHA256)`);
//! - [`authorizer`]: the HTTP requests that ask an application's auth endpoint for them and the verdicts on
//!   the answers, sans-IO, in pusher-js's formats (one channel, batched, user sign-in);
//! - `encrypted` (feature `encrypted`): `private-encrypted-*` payload decryption;
//! - `server` (feature `server`): `Hub`, a protocol-faithful Pusher server hub (a [`feedwire_core::Hub`])
//!   that pusher-js and this crate's client work against unchanged;
//! - `rest` (feature `rest`): the Channels HTTP API, sans-IO, with full request-signature verification.
//!
//! It accepts the frames of hosted Pusher, soketi, Laravel Reverb, poxa and pusher-fake alike: `data` as a
//! JSON-encoded string, an object or absent; `code: null`; `user_id` as a number or a string; every shape of
//! subscription error.
//!
//! # Features
//!
//! None is on by default: the common user is an application that listens to a Pusher feed (public, private
//! and presence channels), and that needs only the codec and the client, so it compiles no server, no HTTP
//! API verifier and no cryptography.
//!
//! - `encrypted`: `private-encrypted-*` channels (NaCl secretbox, as pusher-js's separate
//!   `pusher-with-encryption` build); without it, subscribing to one is refused with
//!   [`CommandError::EncryptionDisabled`];
//! - `server`: the hub (`server::Hub`), for tests, demos and small deployments;
//! - `rest`: the HTTP API verifier and responses (`rest`); with `server`, `Hub::handle_rest` serves it;
//! - `tracing`: debug events at the session's decisions (never secrets);
//! - `fuzzing`: unstable entry points for cargo-fuzz and the chaos tests.
//!
//! ```
//! use std::time::Instant;
//! use feedwire_core::{Frame, Session, Transmit};
//! use feedwire_pusher::{Client, Config, Event};
//!
//! let mut client = Client::new(Config::bitskins());
//! let now = Instant::now();
//! client.subscribe("inventory_changes").unwrap();
//! client.connect(now);
//! let Some(Transmit::Connect(req)) = client.poll_transmit() else { panic!() };
//! assert!(req.url.starts_with("wss://notifier.bitskins.com:443/app/c0eef4118084f8164bec65e6253bf195?protocol=7"));
//! client.handle_open(now, None);
//! client.handle_frame(now, Frame::from(
//!     r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"1.2\",\"activity_timeout\":120}"}"#));
//! assert!(client.is_open());
//! let Some(Transmit::Send(sub)) = client.poll_transmit() else { panic!() };
//! assert_eq!(sub.as_str(), r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"inventory_changes"}}"#);
//! assert!(matches!(client.poll_event(), Some(Event::Connected { .. })));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod auth;
pub mod authorizer;
pub mod client;
pub mod codec;
#[cfg(feature = "encrypted")]
pub mod encrypted;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "rest")]
pub mod rest;
#[cfg(feature = "server")]
pub mod server;

pub use client::{Client, CommandError, Config, Event};
pub use codec::{ClientMessage, DecodeError, ServerMessage};
pub use feedwire_core::Lifecycle;
#[cfg(feature = "server")]
pub use server::{Hub, HubConfig, HubError, HubEvent};

/// The crate README's examples, compiled and run as doctests so the README cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
