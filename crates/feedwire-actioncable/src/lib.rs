//! Rails ActionCable (and AnyCable extensions) for feedwire: sans-IO codec, client session and server hub.
//!
//! - [`codec`]: every frame in both directions (Rails v1 JSON and AnyCable's ext): [`ServerMessage`] and
//!   [`ClientMessage`], decoded in two phases and encoded as Rails lays them out;
//! - [`identifier`]: opaque channel identifiers and metasmoke's `ApiChannel` helper;
//! - [`client`]: [`Client`], a [`feedwire_core::Session`] and [`Lifecycle`] with Rails' stale detection and
//!   backoff, resubscription, confirmation timeouts, and AnyCable session restore and history;
//! - [`server`]: [`Hub`], a [`feedwire_core::Hub`] that welcomes, pings, confirms, streams and broadcasts
//!   (each frame encoded once), with optional AnyCable history.
//!
//! Modules depend one way only: `identifier` on core; `codec` on `identifier`; `client` and `server` on both.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod codec;
pub mod identifier;
pub mod server;

/// Fuzzing entry points: unstable, for cargo-fuzz and the chaos tests; not covered by semver.
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
