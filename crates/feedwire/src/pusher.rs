//! Pusher Channels: the [`feedwire_pusher`] crate (re-exported whole) plus [`connect`], the one call that
//! gives a running connection, and (feature `http-auth`) [`HttpAuthorizer`] for private and presence
//! channels.
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use feedwire::pusher::{self, Config, Event};
//!
//! let mut feed = pusher::connect(Config::new("app-key").with_cluster("eu"))
//!     .channels(["orders", "prices"])
//!     .start()?;
//! while let Some(event) = feed.next_event().await {
//!     if let Event::Message { channel, event, data, .. } = event {
//!         println!("{channel:?} {event}: {data:?}");
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Private and presence channels need an authorizer: `HttpAuthorizer` (feature `http-auth`) or
//! [`custom_authorizer`].
//!
//! The sans-IO path, for another runtime or full control: drive a [`Client`] yourself, as the
//! [`feedwire_pusher`] docs show; the authorization requests are in [`authorizer`] without any IO.

use feedwire_tungstenite::{ClientConfig, Connection, Hook};

pub use feedwire_pusher::*;

use crate::ConnectError;

mod custom;
#[cfg(feature = "http-auth")]
mod http;
mod jobs;

pub use custom::{CustomAuthorizer, custom_authorizer};
#[cfg(feature = "http-auth")]
pub use http::{HttpAuthorizer, HttpAuthorizerBuilder, HttpAuthorizerError};

/// Starts describing a connection to a Pusher app: add channels, an authorizer, then
/// [`start`](Connect::start) it.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), feedwire::ConnectError> {
/// use feedwire::pusher::{self, Config, Event};
///
/// let mut feed = pusher::connect(Config::bitskins()).channel("inventory_changes").start()?;
/// while let Some(event) = feed.next_event().await {
///     if let Event::Message { event, data, .. } = event {
///         println!("{event}: {data:?}");
///     }
/// }
/// # Ok(())
/// # }
/// ```
pub fn connect(config: Config) -> Connect {
    Connect {
        config,
        channels: Vec::new(),
        hook: None,
        client_config: ClientConfig::default(),
        signin: false,
    }
}

/// A Pusher connection to start ([`connect`]).
#[must_use = "nothing happens until `start` is called"]
pub struct Connect {
    config: Config,
    channels: Vec<String>,
    hook: Option<Box<dyn Hook<Client>>>,
    client_config: ClientConfig,
    signin: bool,
}

impl std::fmt::Debug for Connect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connect")
            .field("config", &self.config)
            .field("channels", &self.channels)
            .field("authorizer", &self.hook.is_some())
            .field("signin", &self.signin)
            .finish_non_exhaustive()
    }
}

impl Connect {
    /// Subscribes to `channel` (public, `private-*`, `presence-*`; the latter need an
    /// [`authorizer`](Self::authorizer)).
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        self.channels.push(channel.into());
        self
    }
    /// Subscribes to each of `channels`.
    pub fn channels<I: IntoIterator<Item = S>, S: Into<String>>(mut self, channels: I) -> Self {
        self.channels.extend(channels.into_iter().map(Into::into));
        self
    }
    /// Answers the session's authorization requests (`AuthRequired`, `UserAuthRequired`) with `hook`: an
    /// `HttpAuthorizer` (feature `http-auth`), a [`custom_authorizer`], or a [`Hook`] of your own.
    pub fn authorizer(mut self, hook: impl Hook<Client> + 'static) -> Self {
        self.hook = Some(Box::new(hook));
        self
    }
    /// Signs the user in (`pusher:signin`) after every connection; the authorizer answers.
    pub fn signin(mut self) -> Self {
        self.signin = true;
        self
    }
    /// The driver's settings (timeouts, TLS configuration, buffer sizes).
    pub fn client_config(mut self, config: ClientConfig) -> Self {
        self.client_config = config;
        self
    }

    fn session(&self) -> Result<Client, ConnectError> {
        self.config
            .check()
            .map_err(|e| ConnectError::Config(e.to_string()))?;
        if self.hook.is_none()
            && let Some(c) = self
                .channels
                .iter()
                .find(|c| c.starts_with("private-") || c.starts_with("presence-"))
        {
            return Err(ConnectError::Subscribe {
                name: c.clone(),
                reason: "private and presence channels need an authorizer (`.authorizer(HttpAuthorizer::new(url)?)`)"
                    .into(),
            });
        }
        let mut client = Client::new(self.config.clone());
        for c in &self.channels {
            client.subscribe(c).map_err(|e| ConnectError::Subscribe {
                name: c.clone(),
                reason: e.to_string(),
            })?;
        }
        if self.signin {
            client.signin();
        }
        Ok(client)
    }

    /// Starts the connection on tokio: it dials when first polled and reconnects by itself; read its events
    /// with [`Connection::next_event`] (or [`next_update`](Connection::next_update) to also see transport
    /// errors). Must be polled inside a tokio runtime.
    pub fn start(self) -> Result<Connection<Client>, ConnectError> {
        let client = self.session()?;
        let conn = Connection::with_config(client, self.client_config);
        Ok(match self.hook {
            Some(h) => conn.with_hook(BoxedHook(h)),
            None => conn,
        })
    }

    /// Starts the connection on the blocking driver (feature `blocking`): no async runtime needed; read its
    /// events with `next_event()` on this thread.
    #[cfg(feature = "blocking")]
    pub fn start_blocking(self) -> Result<feedwire_tungstenite::BlockingConnection<Client>, ConnectError> {
        let client = self.session()?;
        let conn = feedwire_tungstenite::BlockingConnection::with_config(client, self.client_config);
        Ok(match self.hook {
            Some(h) => conn.with_hook(BoxedHook(h)),
            None => conn,
        })
    }
}

struct BoxedHook(Box<dyn Hook<Client>>);

impl Hook<Client> for BoxedHook {
    fn on_event(
        &mut self,
        session: &mut Client,
        event: Event,
        jobs: &mut feedwire_tungstenite::Jobs<Client>,
    ) -> Option<Event> {
        self.0.on_event(session, event, jobs)
    }
}
