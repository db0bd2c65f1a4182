//! The shared sans-IO vocabulary of feedwire.
//!
//! Every feedwire protocol crate (Pusher, ActionCable, Doshii, Igratech) is a pure state machine: frames and
//! time go in, frames, events and deadlines come out. This crate holds the pieces they share and nothing that
//! knows a protocol:
//!
//! - [`Session`] (client side) and [`Hub`] (server side, keyed by [`ConnId`]): the contracts a driver runs;
//! - [`Frame`] (one UTF-8 text frame backed by [`bytes::Bytes`]), [`Close`], [`Transmit`], [`HubTransmit`],
//!   [`ConnectRequest`] and [`OpenRequest`];
//! - [`Lifecycle`]: the one lifecycle of every client (`connect`, `disconnect`, `is_open`, `is_stopped`);
//! - [`Outbox`] (and [`HubOutbox`]): the bounded event and transmit queues of every session and hub, with one
//!   policy for what is refused, kept or dropped;
//! - [`json`]: the JSON toolbox of every codec: [`RawJson`] and [`StringOrJson`] (validated JSON that is a
//!   zero-copy slice of a received frame), a validator, an envelope scanner, string literals and one writer;
//! - [`transcript`]: the record-and-replay format (`testing::replay` replays one into a session or a hub);
//! - [`UnixAnchor`]: the one way to turn an `Instant` into Unix time;
//! - [`Backoff`]: capped exponential backoff with seeded jitter;
//! - [`Limits`]: frame-size and queue bounds;
//! - [`Secret`]: a wrapper that never prints its content;
//! - `testing::Pair` (feature `testing`): wires any session to any hub in memory on a virtual clock.
//!
//! There is no runtime, socket, clock or ambient randomness in here: time always comes in as an
//! [`Instant`](std::time::Instant) argument and randomness from a seed the caller gives.
//!
//! # The driver loop
//!
//! After any `handle_*` call or application command, a driver drains [`Session::poll_transmit`] until `None`,
//! then [`Session::poll_event`] until `None`, then waits for a frame, a close, or [`Session::poll_timeout`],
//! whichever comes first:
//!
//! ```
//! use std::time::Instant;
//! use feedwire_core::{Session, Transmit};
//!
//! fn drive<S: Session>(session: &mut S, now: Instant, mut on_event: impl FnMut(S::Event)) -> Vec<Transmit> {
//!     session.handle_timeout(now); // harmless when no deadline has passed
//!     let mut out = Vec::new();
//!     while let Some(t) = session.poll_transmit() {
//!         out.push(t); // a real driver dials, writes or closes here
//!     }
//!     while let Some(ev) = session.poll_event() {
//!         on_event(ev);
//!     }
//!     out
//! }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backoff;
mod close;
mod frame;
pub mod json;
mod lifecycle;
mod limits;
mod outbox;
mod secret;
mod session;
pub mod transcript;
mod transmit;
mod unix;

#[cfg(feature = "testing")]
pub mod testing;

pub use backoff::{Backoff, BackoffConfig};
pub use close::{Close, CloseCode};
pub use frame::{Frame, FrameError};
pub use json::{JsonSyntaxError, RawJson, RawJsonError, StringOrJson};
pub use lifecycle::Lifecycle;
pub use limits::Limits;
pub use outbox::{HubOutbox, Outbox, QueueFull, QueueStats};
pub use secret::Secret;
pub use session::{ConnId, Hub, Session};
pub use transmit::{ConnectRequest, HubTransmit, OpenRequest, Transmit};
pub use unix::UnixAnchor;

pub use bytes::Bytes;

/// The crate README's examples, compiled and run as doctests so the README cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
