//! [`Config`]: how a [`Client`](super::Client) behaves.

use std::time::Duration;

use feedwire_core::{BackoffConfig, Limits, Secret, UnixAnchor};

use crate::codec::Settings;

/// The seed document's server.
pub const DEFAULT_URL: &str = "ws://ws.igratech.webspark.dev/wspublic";

/// How a [`Client`](super::Client) behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The WebSocket URL (default [`DEFAULT_URL`]).
    pub url: String,
    /// A bearer token sent as `Authorization: Bearer <token>` when set (how the real service authenticates
    /// is not documented; the mock hub takes the user from it).
    pub token: Option<Secret<String>>,
    /// Settings sent on every connection.
    pub settings: Option<Settings>,
    /// Time between pings (default 25 s).
    pub ping_interval: Duration,
    /// How long to wait for a pong (default 10 s).
    pub pong_timeout: Duration,
    /// Reconnect backoff (default: core's, 1 s doubling to 60 s, 20 % jitter).
    pub backoff: BackoffConfig,
    /// Seed for the backoff jitter.
    pub seed: u64,
    /// The Unix time at one instant, from which pings and [`Event::Gap`](super::Event::Gap) derive Unix
    /// time. Without it, the first instant the client sees counts as Unix time 0.
    pub unix_anchor: Option<UnixAnchor>,
    /// Frame and queue bounds.
    pub limits: Limits,
    /// Parse every typed payload on arrival and report misfits as
    /// [`Event::Mismatch`](super::Event::Mismatch) (default off: payloads are parsed on demand, which keeps
    /// the receive path as cheap as skipping the JSON).
    pub checked_payloads: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            url: DEFAULT_URL.to_owned(),
            token: None,
            settings: None,
            ping_interval: Duration::from_secs(25),
            pong_timeout: Duration::from_secs(10),
            backoff: BackoffConfig::default(),
            seed: 0,
            unix_anchor: None,
            limits: Limits::default(),
            checked_payloads: false,
        }
    }
}

impl Config {
    /// Sets the URL.
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }
    /// Sets the bearer token.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Secret::new(token.into()));
        self
    }
    /// Sets the settings sent on every connection.
    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = Some(settings);
        self
    }
    /// Sets the ping interval.
    pub fn with_ping_interval(mut self, d: Duration) -> Self {
        self.ping_interval = d;
        self
    }
    /// Sets the pong timeout.
    pub fn with_pong_timeout(mut self, d: Duration) -> Self {
        self.pong_timeout = d;
        self
    }
    /// Sets the reconnect backoff.
    pub fn with_backoff(mut self, backoff: BackoffConfig) -> Self {
        self.backoff = backoff;
        self
    }
    /// Sets the jitter seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Sets the Unix time anchor (see [`Config::unix_anchor`]).
    pub fn with_unix_anchor(mut self, anchor: UnixAnchor) -> Self {
        self.unix_anchor = Some(anchor);
        self
    }
    /// Sets the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
    /// Parses payloads on arrival (see [`Config::checked_payloads`]).
    pub fn with_checked_payloads(mut self, yes: bool) -> Self {
        self.checked_payloads = yes;
        self
    }
}
