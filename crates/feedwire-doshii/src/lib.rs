//! Doshii WebSocket for feedwire: sans-IO codec, client session and mock hub.
//!
//! [Doshii](https://doshii.com) connects point-of-sale systems with ordering, booking and loyalty apps. Its
//! WebSocket pushes events (`order_created`, `transaction_updated`, ...) to app partners, POS venues and cloud
//! POS vendors. This crate speaks it without any I/O, clock or randomness of its own:
//!
//! - [`codec`]: the frames. Heartbeats `{"doshii":{"ping"|"pong":<unix ms>,..}}`, the legacy Primus strings
//!   (`"primus::ping::<ms>"`, `"primus::server::close"`, ...), and events in the wire shape
//!   `{"emit":[name,data]}` (what the server's primus-emit plugin sends and both official SDKs parse), with the
//!   docs' `{"type"|"event":name,"data":..}` as a fallback. Payloads stay zero-copy slices of the frame, with
//!   typed accessors ([`codec::EventData`]).
//! - [`client`]: [`Client`], a [`feedwire_core::Session`] with the [`Lifecycle`] of every feedwire client
//!   (`new` never dials; `connect`, `disconnect`, `is_open`, `is_stopped`): dials the socket for its
//!   [`client::Role`], pings on open and every 30 s, treats a missing pong as a dead connection, answers server
//!   pings and `health_check`s, reconnects with backoff after every close except `"primus::server::close"`,
//!   and after a reconnect reports the window of possibly missed events ([`client::CatchUp`], in epoch
//!   seconds, with the `GET /partner/v3/orders` queries). Doshii replays up to 10 minutes of events on
//!   reconnect by itself; the window is for anything older.
//! - [`server`]: [`Hub`], a mock Doshii for tests and demos: pongs, `emit` events, device filters, a
//!   10-minute replay backlog per app, `"primus::server::close"`.
//!
//! # Driving the session by hand
//!
//! A driver feeds the session transport happenings and time, and does what it asks. Here the "transport" is
//! this example:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use feedwire_core::{Frame, Session, Transmit, UnixAnchor};
//! use feedwire_doshii::client::{DisconnectReason, StopReason};
//! use feedwire_doshii::{Client, Config, Event};
//!
//! # #[allow(clippy::disallowed_methods)]
//! let t0 = Instant::now(); // the driver's clock, read by the driver, never by the session
//! let anchor = UnixAnchor::new(t0, 1_700_000_000_000); // Unix ms at t0
//! let mut client = Client::new(Config::app("my-client-id", anchor).with_app_version("1.2.3"));
//!
//! // 1. `new` never dials; `connect` asks for the socket. The URL carries base64(client id) as `auth`.
//! assert!(client.is_stopped());
//! client.connect(t0);
//! let Some(Transmit::Connect(req)) = client.poll_transmit() else { unreachable!() };
//! assert_eq!(req.url, "wss://socket.sandbox.doshii.co/app/socket?auth=bXktY2xpZW50LWlk");
//!
//! // 2. The socket is open: the handshake ping goes out at once.
//! client.handle_open(t0, None);
//! assert!(client.is_open());
//! assert_eq!(
//!     client.poll_transmit(),
//!     Some(Transmit::Send(Frame::from(r#"{"doshii":{"ping":1700000000000,"version":"1.2.3"}}"#)))
//! );
//! assert_eq!(client.poll_event(), Some(Event::Connected { reconnect: false }));
//!
//! // 3. Frames arrive: the pong, then an event.
//! client.handle_frame(t0, Frame::from(r#"{"doshii":{"pong":1700000000000,"version":"3.2.123"}}"#));
//! client.handle_frame(t0, Frame::from(
//!     r#"{"emit":["order_updated",{"id":"1234","status":"accepted","uri":"https://sandbox.doshii.co/partner/v3/orders/1234"}]}"#,
//! ));
//! assert!(matches!(client.poll_event(), Some(Event::Pong { .. })));
//! let Some(Event::Doshii(ev)) = client.poll_event() else { unreachable!() };
//! assert_eq!(ev.name(), "order_updated");
//! let order = ev.data.order().unwrap(); // typed on demand, borrowed from the frame
//! assert_eq!((order.id.as_deref(), order.status.as_deref()), (Some("1234"), Some("accepted")));
//!
//! // 4. Time passes: the next ping is due 30 s later.
//! let next = client.poll_timeout().unwrap();
//! assert_eq!(next, t0 + Duration::from_secs(30));
//! client.handle_timeout(next);
//! assert!(matches!(client.poll_transmit(), Some(Transmit::Send(_))));
//!
//! // 5. The connection drops: back off, then dial again.
//! client.handle_close(next, None);
//! assert_eq!(client.poll_event(), Some(Event::Disconnected { reason: DisconnectReason::Closed(None) }));
//! let Some(Event::Reconnecting { after, .. }) = client.poll_event() else { unreachable!() };
//! client.handle_timeout(next + after);
//! assert!(matches!(client.poll_transmit(), Some(Transmit::Connect(_))));
//!
//! // 6. Reconnected: the window to fetch with GET requests comes with the Connected event.
//! let back = next + after;
//! client.handle_open(back, None);
//! let _ping = client.poll_transmit();
//! assert_eq!(client.poll_event(), Some(Event::Connected { reconnect: true }));
//! let Some(Event::CatchUp(window)) = client.poll_event() else { unreachable!() };
//! assert_eq!(window.from, 1_700_000_000); // the last event seen, in epoch seconds
//! assert!(window.orders_query.starts_with("/partner/v3/orders?from=1700000000&to="));
//!
//! // 7. Done: close and stop.
//! client.disconnect(back);
//! assert_eq!(client.poll_transmit(), Some(Transmit::Close(feedwire_core::Close::normal())));
//! assert_eq!(client.poll_event(), Some(Event::Disconnected { reason: DisconnectReason::Requested }));
//! assert_eq!(client.poll_event(), Some(Event::Stopped { reason: StopReason::Requested }));
//! assert!(client.is_stopped());
//! ```
//!
//! The session never reads a clock: every Unix time (the pings' stamps, the catch-up window) comes from the
//! [`feedwire_core::UnixAnchor`] the [`Config`] requires and the `Instant`s the driver passes in.
//!
//! With the `testing` feature of `feedwire-core`, `feedwire_core::testing::Pair` wires a [`Client`] to the mock
//! [`Hub`] in memory on a virtual clock; this crate's `tests/scenarios.rs` shows how.
//!
//! # Features
//!
//! - `tracing`: `debug` events for connects (URL without its query), losses, backoff delays and stops; never
//!   secrets.
//! - `fuzzing`: the hidden `fuzzing` module, whose entry points `fuzz/fuzz_targets/doshii_*.rs` and the chaos
//!   tests call (unstable, not covered by semver).
//!
//! # Secrets
//!
//! The client id, the POS location token and the vendor JWT are kept in [`feedwire_core::Secret`]: they never
//! appear in `Debug` output, and [`feedwire_core::ConnectRequest`]'s `Debug` hides the URL's query.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod codec;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod server;

pub use client::{Client, CommandError, Config, Event};
pub use codec::{ClientMessage, DecodeError, ServerMessage};
pub use feedwire_core::Lifecycle;
pub use server::{Hub, HubConfig, HubError, HubEvent};

/// The crate README's examples, compiled and run as doctests so the README cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
