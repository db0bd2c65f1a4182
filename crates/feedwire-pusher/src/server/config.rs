//! How the hub behaves, and the codes it closes with.

use std::time::Duration;

use feedwire_core::{Limits, Secret};

/// Close and error codes the hub uses (hosted Pusher's).
pub mod codes {
    /// The app key in the path is not this app's.
    pub const APP_NOT_FOUND: u16 = 4001;
    /// The path is not `/app/{key}`.
    pub const PATH_NOT_FOUND: u16 = 4005;
    /// `protocol` is not a number.
    pub const INVALID_VERSION: u16 = 4006;
    /// `protocol` is not 5, 6 or 7.
    pub const UNSUPPORTED_PROTOCOL: u16 = 4007;
    /// `protocol` is missing.
    pub const NO_PROTOCOL: u16 = 4008;
    /// Authentication failed (signin).
    pub const UNAUTHORIZED: u16 = 4009;
    /// The server is going away (a graceful shutdown): reconnect now, to another node or after the restart.
    pub const RECONNECT_NOW: u16 = 4200;
    /// A ping went unanswered.
    pub const PONG_NOT_RECEIVED: u16 = 4201;
    /// Too many client events.
    pub const CLIENT_EVENT_RATE_LIMIT: u16 = 4301;
}

/// How the hub behaves. `Default` is soketi's: app `app-id`, key `app-key`, secret `app-secret`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HubConfig {
    /// The app id (REST paths).
    pub app_id: String,
    /// The app key (WebSocket path, signatures).
    pub key: String,
    /// The app secret.
    pub secret: Secret<String>,
    /// The activity timeout advertised in `connection_established` and applied to silent connections (120 s).
    pub activity_timeout: Duration,
    /// How long a pinged connection has to answer before it is closed with 4201 (30 s).
    pub pong_grace: Duration,
    /// Whether clients may send `client-*` events (off, as on hosted Pusher until enabled).
    pub client_events: bool,
    /// Most client events per connection per second (10).
    pub client_events_per_second: u32,
    /// Whether `pusher_internal:subscription_count` is sent on non-presence channels (off).
    pub subscription_count: bool,
    /// Most members of one presence channel (100).
    pub max_presence_members: usize,
    /// Largest `user_info` in bytes (1024).
    pub max_user_info: usize,
    /// Longest presence `user_id` (128).
    pub max_user_id_len: usize,
    /// Longest channel name a client may subscribe to (164, the protocol's own and its ceiling); a longer
    /// one is refused with `pusher:subscription_error` (status 400), the connection goes on.
    pub max_channel_name_len: usize,
    /// Most subscriptions of one connection (unbounded); one more is refused with
    /// `pusher:subscription_error` (status 400, type `LimitReached`), the connection goes on.
    pub max_subscriptions: usize,
    /// Limits of the HTTP API (body size, event data, channels per trigger, batch size).
    #[cfg(feature = "rest")]
    pub rest_limits: crate::rest::RestLimits,
    /// Frame size limit.
    pub limits: Limits,
    /// Seed of the socket-id generator.
    pub seed: u64,
    /// Webhooks (none).
    pub webhooks: Option<super::WebhookConfig>,
    /// Membership of a cluster of hubs (none: the hub is alone and shares nothing).
    pub cluster: Option<super::ClusterConfig>,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig::new("app-id", "app-key", "app-secret")
    }
}

impl HubConfig {
    /// A configuration for one app.
    pub fn new(app_id: impl Into<String>, key: impl Into<String>, secret: impl Into<String>) -> Self {
        HubConfig {
            app_id: app_id.into(),
            key: key.into(),
            secret: Secret::new(secret.into()),
            activity_timeout: Duration::from_secs(120),
            pong_grace: Duration::from_secs(30),
            client_events: false,
            client_events_per_second: 10,
            subscription_count: false,
            max_presence_members: 100,
            max_user_info: 1024,
            max_user_id_len: 128,
            max_channel_name_len: crate::codec::MAX_CHANNEL_NAME_LEN,
            max_subscriptions: usize::MAX,
            #[cfg(feature = "rest")]
            rest_limits: crate::rest::RestLimits::default(),
            limits: Limits::default(),
            seed: 0,
            webhooks: None,
            cluster: None,
        }
    }
    /// Sets the advertised activity timeout (whole seconds on the wire, at least 1).
    pub fn with_activity_timeout(mut self, d: Duration) -> Self {
        self.activity_timeout = d.max(Duration::from_secs(1));
        self
    }
    /// Sets the pong grace period.
    pub fn with_pong_grace(mut self, d: Duration) -> Self {
        self.pong_grace = d;
        self
    }
    /// Enables or disables client events.
    pub fn with_client_events(mut self, on: bool) -> Self {
        self.client_events = on;
        self
    }
    /// Enables or disables `subscription_count` events.
    pub fn with_subscription_count(mut self, on: bool) -> Self {
        self.subscription_count = on;
        self
    }
    /// Sets the socket-id seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Sets the most client events per connection per second.
    pub fn with_client_events_per_second(mut self, n: u32) -> Self {
        self.client_events_per_second = n;
        self
    }

    /// Sets the most members of one presence channel and the largest `user_info` in bytes.
    pub fn with_presence_limits(mut self, members: usize, user_info: usize) -> Self {
        self.max_presence_members = members;
        self.max_user_info = user_info;
        self
    }

    /// Sets the longest channel name (at most the protocol's 164).
    pub fn with_max_channel_name_len(mut self, n: usize) -> Self {
        self.max_channel_name_len = n;
        self
    }

    /// Sets the most subscriptions of one connection.
    pub fn with_max_subscriptions(mut self, n: usize) -> Self {
        self.max_subscriptions = n;
        self
    }

    /// Sets the limits of the HTTP API.
    #[cfg(feature = "rest")]
    pub fn with_rest_limits(mut self, limits: crate::rest::RestLimits) -> Self {
        self.rest_limits = limits;
        self
    }

    /// Sends webhooks (see [`webhook`](super::webhook)).
    pub fn with_webhooks(mut self, webhooks: super::WebhookConfig) -> Self {
        self.webhooks = Some(webhooks);
        self
    }

    /// Makes the hub a node of a cluster (see [`ClusterConfig`](super::ClusterConfig)): it shares publishes,
    /// presence and heartbeats as [`HubEvent::Cluster`](super::HubEvent::Cluster) and takes in the other
    /// nodes' through [`Hub::handle_cluster`](super::Hub::handle_cluster).
    pub fn with_cluster(mut self, cluster: super::ClusterConfig) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// Sets the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}
