//! Igratech AsyncAPI betting feed for feedwire: sans-IO codec, client session and mock hub.
//!
//! The Igratech Websocket API 1.0.0 is only known as a rendered AsyncAPI page: a server, nine channels and
//! eleven message names. This crate reconstructs it (`testdata/asyncapi.yaml` in this crate, checked by the
//! tests) and keeps its assumptions easy to change:
//!
//! - [`envelope`]: the frame shape, `{"event":"<channel>","data":<payload>}` by default, behind the
//!   [`envelope::Envelope`] trait: swapping it is one module;
//! - [`codec`]: typed payloads of every message, unknown fields and channels kept;
//! - [`client`]: [`Client`], a [`feedwire_core::Session`] following core's [`Lifecycle`] that pings,
//!   reconnects, re-applies settings and stops on logout;
//! - [`server`]: [`Hub`], a mock Igratech for tests and demos.
//!
//! # Assumptions, and where to change them
//!
//! | assumption | where |
//! |---|---|
//! | frames are `{"event":"<channel>","data":<payload>}` both ways | [`envelope::NestEnvelope`]; plug another [`envelope::Envelope`] into [`Client::with_envelope`] and [`Hub::with_envelope`] |
//! | payload fields and types | [`codec`] (and the schemas in `asyncapi.yaml`, which the tests hold the codec to) |
//! | ping every 25 s, pong within 10 s, backoff | [`Config`] |
//! | `logout` means "logged in elsewhere": never reconnect on our own | [`client`] ([`Event::LoggedOut`], then [`Event::Stopped`]) |
//!
//! A wrong guess about a payload never loses data: events carry the payload as the raw JSON slice of the
//! frame ([`codec::Payload`]), typed on demand with `parse()`, which reports why it does not fit; with
//! [`Config::with_checked_payloads`] the client parses on arrival and reports misfits as
//! [`Event::Mismatch`] with the raw JSON and the reason. Channels the model does not know arrive as
//! [`Event::Unknown`], fields it does not know stay in each payload's `extra`.
//!
//! # Example: a client against the mock hub, on a virtual clock
//!
//! ```
//! # #[allow(clippy::disallowed_methods)] {
//! use std::time::{Duration, Instant};
//! use feedwire_core::UnixAnchor;
//! use feedwire_core::testing::Pair;
//! use feedwire_igratech::codec::{BetData, Bet, Id, Settings};
//! use feedwire_igratech::{Client, Config, Event, Hub, Lifecycle, ServerMessage};
//!
//! let start = Instant::now();
//! let settings = Settings { lang: Some("en".into()), odds_format: None, game_ids: Some(vec![Id::Int(7)]),
//!     extra: Default::default() };
//! let config = Config::default().with_token("alice").with_settings(settings)
//!     .with_unix_anchor(UnixAnchor::new(start, 1_700_000_000_000));
//! let mut client = Client::new(config);
//! client.connect(start); // `new` never dials
//! let mut pair = Pair::new(client, Hub::default(), start);
//! pair.run_until_quiet(); // connect, `connected`, settings applied and echoed
//!
//! let bet = BetData { game_id: Id::Int(7), bets: vec![Bet { bet_id: Id::Int(1), odds: 1.85, market: None,
//!     outcome: None, stake: None, status: None, extra: Default::default() }], extra: Default::default() };
//! assert_eq!(pair.hub_mut().publish(&ServerMessage::Bet(bet.clone())).unwrap(), 1);
//! pair.run_until_quiet();
//! let events = pair.take_client_events();
//! let Some(Event::Bet(got)) = events.last() else { panic!("{events:?}") };
//! assert_eq!(got.parse().unwrap(), bet);
//!
//! pair.advance(Duration::from_secs(25)); // a ping, answered
//! assert_eq!(pair.frames_to_hub().last(), Some(&r#"{"event":"ping-pong","data":{"ping":1700000025000}}"#));
//!
//! let now = pair.now();
//! pair.client_mut().disconnect(now);
//! pair.run_until_quiet();
//! assert!(pair.client().is_stopped());
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod codec;
pub mod envelope;
pub mod server;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

pub use client::{Client, CommandError, Config, Event};
pub use codec::{ClientMessage, DecodeError, ServerMessage};
pub use feedwire_core::Lifecycle;
pub use server::{Hub, HubConfig, HubError, HubEvent};

/// The crate README's examples, compiled and run as doctests so the README cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
