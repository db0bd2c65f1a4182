//! The hub's configuration.

use std::time::Duration;

use feedwire_core::{Limits, UnixAnchor};

/// Hub configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HubConfig {
    /// Accept AnyCable's `actioncable-v1-ext-json` (default false: a plain Rails server).
    pub anycable: bool,
    /// Keep a history buffer per stream and serve `history` requests (ext only; default true).
    pub history: bool,
    /// Messages kept per stream (default 100, as AnyCable).
    pub history_limit: usize,
    /// How long messages are kept (default 300 s, as AnyCable).
    pub history_ttl: Duration,
    /// Ping interval (default 3 s).
    pub ping_interval: Duration,
    /// Where Unix time is read from `Instant`s, for ping timestamps and history `since` requests; without
    /// it the hub counts seconds from the first instant it saw.
    pub unix_anchor: Option<UnixAnchor>,
    /// Send `welcome` on open (default true); when false the host calls [`Hub::welcome`](super::Hub::welcome) or
    /// [`Hub::reject_connection`](super::Hub::reject_connection) after [`HubEvent::Opened`](super::HubEvent::Opened).
    pub auto_welcome: bool,
    /// Seed for AnyCable session ids and stream epochs.
    pub seed: u64,
    /// Frame and queue bounds.
    pub limits: Limits,
    /// Queue [`HubEvent::StreamStarted`](super::HubEvent::StreamStarted) and
    /// [`HubEvent::StreamStopped`](super::HubEvent::StreamStopped) (default false: no such events), for a host
    /// that subscribes a broker (Rails' Redis adapter) to the streams with local subscribers.
    pub stream_events: bool,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            anycable: false,
            history: true,
            history_limit: 100,
            history_ttl: Duration::from_secs(300),
            ping_interval: Duration::from_secs(3),
            unix_anchor: None,
            auto_welcome: true,
            seed: 0,
            limits: Limits::default(),
            stream_events: false,
        }
    }
}

impl HubConfig {
    /// Enables or disables the AnyCable ext protocol.
    pub fn with_anycable(mut self, on: bool) -> Self {
        self.anycable = on;
        self
    }
    /// Enables or disables history buffers.
    pub fn with_history(mut self, on: bool) -> Self {
        self.history = on;
        self
    }
    /// Sets the history bounds.
    pub fn with_history_limits(mut self, messages: usize, ttl: Duration) -> Self {
        self.history_limit = messages;
        self.history_ttl = ttl;
        self
    }
    /// Sets the ping interval.
    pub fn with_ping_interval(mut self, d: Duration) -> Self {
        self.ping_interval = d;
        self
    }
    /// Sets the Unix-time anchor.
    pub fn with_unix_anchor(mut self, anchor: UnixAnchor) -> Self {
        self.unix_anchor = Some(anchor);
        self
    }
    /// Sets whether `welcome` is automatic.
    pub fn with_auto_welcome(mut self, on: bool) -> Self {
        self.auto_welcome = on;
        self
    }
    /// Sets the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Sets the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
    /// Turns stream events on or off: with `on`, the hub queues [`HubEvent::StreamStarted`](super::HubEvent::StreamStarted)
    /// when a stream gets its first confirmed subscriber and [`HubEvent::StreamStopped`](super::HubEvent::StreamStopped)
    /// when its last one goes (see [`Hub::streams`](super::Hub::streams)). Default off.
    pub fn with_stream_events(mut self, on: bool) -> Self {
        self.stream_events = on;
        self
    }
}
