//! Scale feedwire's server hubs out over Redis pub/sub.
//!
//! The protocol crates stay sans-IO: a hub reports what other nodes must learn through its events and learns
//! what they did through plain method calls. This crate is the IO between them and Redis, on tokio and
//! [redis-rs](https://docs.rs/redis):
//!
//! - [`Link`]: one pub/sub connection that follows a set of Redis channels and one connection that publishes,
//!   both reconnecting by themselves with capped backoff; a Redis that stops answering is noticed by pings.
//!   While Redis is away the local hub keeps serving its own clients; what other nodes publish meanwhile is
//!   lost (Redis pub/sub keeps nothing), and the link calls its owner back when it is up again so that it can
//!   resynchronize.
//! - [`pusher`] (feature `pusher`): several Pusher nodes on one Redis channel.
//! - [`actioncable`] (feature `actioncable`): the wire format of Rails' `redis` subscription adapter, so that a
//!   Rails application with `adapter: redis` and feedwire share broadcasts both ways.
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The README's example, compiled as a doctest.
#[cfg(all(doctest, feature = "pusher"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(feature = "actioncable")]
pub mod actioncable;
mod link;
#[cfg(feature = "pusher")]
pub mod pusher;

pub use link::{Link, LinkConfig, LinkState, LinkStats};

/// Why a link could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not one Redis can use.
    #[error("invalid Redis URL {url}: {reason}")]
    Url {
        /// The URL, its password hidden.
        url: String,
        /// What redis-rs said.
        reason: String,
    },
    /// The link's thread (or its runtime) could not start.
    #[error("cannot start the Redis link's thread: {0}")]
    Thread(#[source] std::io::Error),
}
