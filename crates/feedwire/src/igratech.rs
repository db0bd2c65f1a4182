//! The Igratech feed: the [`feedwire_igratech`] crate (re-exported whole) plus [`connect`], the one call that gives a running
//! connection (nothing to subscribe: the server pushes).
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use feedwire::igratech::{self, Event};
//!
//! let config = igratech::Config::default().with_token("my-token");
//! let mut feed = igratech::connect(config).start()?;
//! while let Some(event) = feed.next_event().await {
//!     println!("{event:?}");
//! }
//! # Ok(())
//! # }
//! ```
//!
//! The sans-IO path: drive a [`Client`] yourself, as the [`feedwire_igratech`] docs show.

use feedwire_tungstenite::ClientConfig;

pub use feedwire_igratech::*;

use crate::ConnectError;

/// Starts describing a connection: [`start`](Connect::start) it.
pub fn connect(config: Config) -> Connect {
    Connect {
        config,
        client_config: ClientConfig::default(),
    }
}

/// A connection to start ([`connect`]).
#[derive(Debug)]
#[must_use = "nothing happens until `start` is called"]
pub struct Connect {
    config: Config,
    client_config: ClientConfig,
}

impl Connect {
    /// The driver's settings (timeouts, TLS configuration, buffer sizes).
    pub fn client_config(mut self, config: ClientConfig) -> Self {
        self.client_config = config;
        self
    }

    /// Starts the connection on tokio (see [`crate::pusher::Connect::start`]).
    pub fn start(self) -> Result<crate::Connection<Client>, ConnectError> {
        Ok(crate::Connection::with_config(
            Client::new(self.config),
            self.client_config,
        ))
    }

    /// Starts the connection on the blocking driver (feature `blocking`).
    #[cfg(feature = "blocking")]
    pub fn start_blocking(self) -> Result<crate::BlockingConnection<Client>, ConnectError> {
        Ok(crate::BlockingConnection::with_config(
            Client::new(self.config),
            self.client_config,
        ))
    }
}
