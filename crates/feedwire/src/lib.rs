#![cfg_attr(all(feature = "pusher", feature = "http-auth"), doc = include_str!("../README.md"))]
#![cfg_attr(
    not(all(feature = "pusher", feature = "http-auth")),
    doc = "Realtime feeds over WebSocket: one-call connect per protocol (see the README, built with the default features)."
)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;

#[cfg(feature = "actioncable")]
pub mod actioncable;
#[cfg(feature = "doshii")]
pub mod doshii;
#[cfg(feature = "igratech")]
pub mod igratech;
#[cfg(feature = "pusher")]
pub mod pusher;

pub use error::ConnectError;
pub use feedwire_core as core;
pub use feedwire_tungstenite as tungstenite;
#[cfg(feature = "blocking")]
pub use feedwire_tungstenite::BlockingConnection;
pub use feedwire_tungstenite::{ClientConfig, Connection, Hook, Jobs, TransportError, Update};

/// The Unix time now, as an anchor for sessions that put Unix time on the wire (Doshii, Igratech, AnyCable
/// history): the adapter layer reads the clock once, here, and the sessions derive later times from it.
#[allow(clippy::disallowed_methods)] // reading the clock is this function's job
pub fn unix_anchor_now() -> feedwire_core::UnixAnchor {
    let unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    feedwire_core::UnixAnchor::new(std::time::Instant::now(), unix_ms)
}
