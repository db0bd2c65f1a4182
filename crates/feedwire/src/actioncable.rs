//! Rails ActionCable: the [`feedwire_actioncable`] crate (re-exported whole) plus [`connect`], the one call
//! that gives a running connection subscribed to your channels.
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use feedwire::actioncable::{self, Config, Event, identifier::{ApiChannel, ModelEvent}};
//!
//! let key = std::env::var("METASMOKE_KEY")?;
//! let mut feed = actioncable::connect(Config::new("wss://metasmoke.erwaysoftware.com/cable"))
//!     .channel(ApiChannel::new(key).with_events("posts", &[ModelEvent::Create])?.identifier()?)
//!     .start()?;
//! while let Some(event) = feed.next_event().await {
//!     if let Event::Message { message, .. } = event {
//!         println!("{message}");
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! The sans-IO path: drive a [`Client`] yourself, as the [`feedwire_actioncable`] docs show.

use feedwire_tungstenite::ClientConfig;

pub use feedwire_actioncable::*;

use crate::ConnectError;
use identifier::Identifier;

/// Starts describing a connection to a cable: add channel identifiers, then [`start`](Connect::start) it.
pub fn connect(config: Config) -> Connect {
    Connect {
        config,
        identifiers: Vec::new(),
        client_config: ClientConfig::default(),
    }
}

/// An ActionCable connection to start ([`connect`]).
#[derive(Debug)]
#[must_use = "nothing happens until `start` is called"]
pub struct Connect {
    config: Config,
    identifiers: Vec<Identifier>,
    client_config: ClientConfig,
}

impl Connect {
    /// Subscribes to `identifier` (`Identifier::channel_only("ChatChannel")`, `Identifier::builder(..)`,
    /// `ApiChannel::new(key).identifier()`).
    pub fn channel(mut self, identifier: Identifier) -> Self {
        self.identifiers.push(identifier);
        self
    }
    /// The driver's settings (timeouts, TLS configuration, buffer sizes).
    pub fn client_config(mut self, config: ClientConfig) -> Self {
        self.client_config = config;
        self
    }

    #[allow(clippy::disallowed_methods)] // the adapter layer owns the clock: the subscriptions' start time
    fn session(&self) -> Result<Client, ConnectError> {
        self.config
            .check()
            .map_err(|e| ConnectError::Config(e.to_string()))?;
        let mut client = Client::new(self.config.clone());
        let now = std::time::Instant::now();
        for id in &self.identifiers {
            client
                .subscribe(now, id.clone())
                .map_err(|e| ConnectError::Subscribe {
                    name: id.as_str().to_owned(),
                    reason: e.to_string(),
                })?;
        }
        Ok(client)
    }

    /// Starts the connection on tokio (see [`crate::pusher::Connect::start`]).
    pub fn start(self) -> Result<crate::Connection<Client>, ConnectError> {
        Ok(crate::Connection::with_config(
            self.session()?,
            self.client_config,
        ))
    }

    /// Starts the connection on the blocking driver (feature `blocking`).
    #[cfg(feature = "blocking")]
    pub fn start_blocking(self) -> Result<crate::BlockingConnection<Client>, ConnectError> {
        Ok(crate::BlockingConnection::with_config(
            self.session()?,
            self.client_config,
        ))
    }
}
