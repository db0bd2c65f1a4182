//! Rails ActionCable (and AnyCable extensions) for feedwire: sans-IO codec, client session and server hub.
//!
//! - [`codec`]: every frame in both directions (Rails v1 JSON and AnyCable's ext), decoded in two phases;
//! - [`identifier`]: opaque channel identifiers and metasmoke's `ApiChannel` helper;
//! - [`client`]: [`Client`], a [`feedwire_core::Session`] with Rails' stale detection and
//!   backoff, resubscription, confirmation timeouts, and AnyCable session restore and history;
//! - [`server`]: [`Hub`], a [`feedwire_core::Hub`] that welcomes, pings, confirms, streams and
//!   broadcasts (each frame encoded once), with optional AnyCable history.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod codec;
pub mod identifier;
mod scan;
pub mod server;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

pub use client::{Client, Config, Event};
pub use identifier::{ApiChannel, Identifier};
pub use server::Hub;
