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

/// A connection to start, for a protocol whose session needs nothing but its config (Doshii, Igratech):
/// what their `connect` returns. [`start`](Self::start) it.
#[cfg(any(feature = "doshii", feature = "igratech"))]
#[derive(Debug)]
#[must_use = "nothing happens until `start` is called"]
pub struct SessionConnect<S> {
    session: S,
    client_config: ClientConfig,
}

#[cfg(any(feature = "doshii", feature = "igratech"))]
impl<S: feedwire_core::Lifecycle + 'static> SessionConnect<S> {
    /// `session`, not dialed yet, with the driver's default settings.
    pub(crate) fn new(session: S) -> Self {
        SessionConnect {
            session,
            client_config: ClientConfig::default(),
        }
    }

    /// The driver's settings (timeouts, TLS configuration, buffer sizes).
    pub fn client_config(mut self, config: ClientConfig) -> Self {
        self.client_config = config;
        self
    }

    /// Starts the connection on tokio: the driver dials on its first poll and reconnects as the session says;
    /// read its events with `next_event().await` (it is also a `Stream`). Needs a tokio runtime.
    pub fn start(self) -> Result<Connection<S>, ConnectError> {
        Ok(Connection::with_config(self.session, self.client_config))
    }

    /// Starts the connection on the blocking driver (feature `blocking`).
    #[cfg(feature = "blocking")]
    pub fn start_blocking(self) -> Result<BlockingConnection<S>, ConnectError> {
        Ok(BlockingConnection::with_config(self.session, self.client_config))
    }
}

/// The Unix time now, as an anchor for sessions that put Unix time on the wire (Doshii, Igratech, AnyCable
/// history): the adapter layer reads the clock once, here, and the sessions derive later times from it.
#[allow(clippy::disallowed_methods)] // reading the clock is this function's job
pub fn unix_anchor_now() -> feedwire_core::UnixAnchor {
    let unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    feedwire_core::UnixAnchor::new(std::time::Instant::now(), unix_ms)
}
