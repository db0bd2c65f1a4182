//! The Pusher client session: a [`Session`] with pusher-js's connection policy.
//!
//! # What it does
//! - dials `ws[s]://HOST:PORT[/PATH]/app/KEY?protocol=7&client=..&version=..&flash=false` ([`Config::url`]);
//! - states `initialized`, `connecting`, `connected`, `unavailable` (no connection within
//!   [`Config::unavailable_timeout`]), `disconnected` ([`Client::disconnect`]) and `failed` (a terminal close),
//!   each change an [`Event::StateChanged`];
//! - activity timeout = min([`Config::activity_timeout`], the server's `activity_timeout`): every received frame
//!   re-arms it; on expiry it sends `pusher:ping`; no frame within [`Config::pong_timeout`] closes and reconnects
//!   at once; a server `pusher:ping` is answered with `pusher:pong`;
//! - closes are classified strictly by code ([`CloseAction::classify`]): 4000 retry now with TLS, 4001-4099 stop,
//!   4100-4199 backoff, 4200-4299 reconnect now, 4300+ stop, below 4000 (or no code) backoff. A `pusher:error`
//!   on an open socket is only an event;
//! - subscriptions to public, private, presence, encrypted and cache channels; private, presence and encrypted
//!   channels raise [`Event::AuthRequired`], answered by [`Client::provide_auth`] or [`Client::fail_auth`]; all
//!   requests pending at once are listed by [`Client::pending_auth`] so a caller can batch them;
//! - after every reconnect, every wanted channel is subscribed again with fresh auth, and
//!   [`Event::Resubscribed`] says how long it was down (catch up over REST for that window);
//! - presence members, client events (rate limited), encrypted channels, user signin, watchlist events.
//!
//! # Client events
//! [`Client::trigger`] accepts events only on subscribed `private-*` / `presence-*` channels (never
//! `private-encrypted-*`) and at most [`Config::client_event_rate`] per second per connection, counted over a
//! sliding one-second window. An event over the limit is **rejected** with [`TriggerError::RateLimited`] (which
//! says when the next one is allowed), not queued: a queue would deliver stale events late and hide back
//! pressure, and the server would close the connection with 4301 if the limit were exceeded.
//!
//! # Commands and time
//! Commands that need time take `now` ([`Client::connect`], [`Client::trigger`]); the others use the latest
//! instant the session has seen.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytestring::ByteString;
use feedwire_core::{
    Backoff, BackoffConfig, Close, ConnectRequest, Frame, Limits, RawJson, Secret, Session, StringOrJson,
    Transmit,
};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::codec::{
    self, ChannelEvent, ClientMessage, DecodeError, ErrorMessage, NameError, ServerMessage,
    SubscriptionErrorMessage, SubscriptionErrorShape, UserId, WatchlistEvent,
};
use crate::encrypted::{DecryptError, SharedSecret};

/// The connection state, as pusher-js names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Made, not asked to connect yet.
    Initialized,
    /// Dialing, handshaking, or waiting to retry.
    Connecting,
    /// `pusher:connection_established` received.
    Connected,
    /// Not connected for longer than the unavailable timeout; retrying goes on.
    Unavailable,
    /// Closed by the application.
    Disconnected,
    /// Stopped after a terminal close (4001-4099, 4300+).
    Failed,
}

/// What the session does after a close ([`CloseAction::classify`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseAction {
    /// 4000: the app is TLS-only: reconnect now with TLS (when TLS is already on, back off instead, so a
    /// misbehaving server cannot make the client spin).
    RetryWithTls,
    /// 4001-4099 and 4300+: do not reconnect; report and stop.
    Stop,
    /// Below 4000, no close frame, or 4100-4199: reconnect after backoff.
    Backoff,
    /// 4200-4299: reconnect now (after backoff when the connection never reached `connected`).
    Immediate,
}

impl CloseAction {
    /// Classifies a close strictly by code class, as the protocol table says.
    ///
    /// ```
    /// use feedwire_pusher::client::CloseAction;
    /// assert_eq!(CloseAction::classify(Some(4000)), CloseAction::RetryWithTls);
    /// assert_eq!(CloseAction::classify(Some(4009)), CloseAction::Stop);
    /// assert_eq!(CloseAction::classify(Some(4100)), CloseAction::Backoff);
    /// assert_eq!(CloseAction::classify(Some(4201)), CloseAction::Immediate);
    /// assert_eq!(CloseAction::classify(Some(4301)), CloseAction::Stop);
    /// assert_eq!(CloseAction::classify(Some(1006)), CloseAction::Backoff);
    /// assert_eq!(CloseAction::classify(None), CloseAction::Backoff);
    /// ```
    pub fn classify(code: Option<u16>) -> CloseAction {
        match code {
            None => CloseAction::Backoff,
            Some(c) if c < 4000 => CloseAction::Backoff,
            Some(4000) => CloseAction::RetryWithTls,
            Some(4001..=4099) => CloseAction::Stop,
            Some(4100..=4199) => CloseAction::Backoff,
            Some(4200..=4299) => CloseAction::Immediate,
            Some(_) => CloseAction::Stop,
        }
    }
}

/// A deadline the session enforces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// No `pusher:connection_established` within [`Config::handshake_timeout`] of dialing.
    Handshake,
    /// No frame within [`Config::pong_timeout`] of our ping.
    Pong,
}

/// The kind of a channel, from its name's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChannelKind {
    /// No prefix (or `cache-`).
    Public,
    /// `private-` (or `private-cache-`).
    Private,
    /// `presence-` (or `presence-cache-`).
    Presence,
    /// `private-encrypted-` (or `private-encrypted-cache-`).
    Encrypted,
    /// `#server-to-user-{id}`, subscribed by the session after signin.
    ServerToUser,
}

impl ChannelKind {
    /// The kind of `name`.
    pub fn of(name: &str) -> ChannelKind {
        if name.starts_with("private-encrypted-") {
            ChannelKind::Encrypted
        } else if name.starts_with("private-") {
            ChannelKind::Private
        } else if name.starts_with("presence-") {
            ChannelKind::Presence
        } else if name.starts_with("#server-to-user-") {
            ChannelKind::ServerToUser
        } else {
            ChannelKind::Public
        }
    }

    /// Whether `name` is a cache channel (`cache-`, `private-cache-`, `private-encrypted-cache-`, `presence-cache-`).
    pub fn is_cache(name: &str) -> bool {
        [
            "cache-",
            "private-cache-",
            "private-encrypted-cache-",
            "presence-cache-",
        ]
        .iter()
        .any(|p| name.starts_with(p))
    }

    /// Whether subscribing needs a signature.
    pub fn needs_auth(self) -> bool {
        matches!(
            self,
            ChannelKind::Private | ChannelKind::Presence | ChannelKind::Encrypted
        )
    }
}

/// How the session connects and behaves.
///
/// ```
/// use std::time::Duration;
/// use feedwire_pusher::client::Config;
/// let c = Config::new("app-key").with_cluster("eu").with_activity_timeout(Duration::from_secs(60));
/// assert_eq!(c.url(true), "wss://ws-eu.pusher.com:443/app/app-key?protocol=7&client=feedwire&version=0.1.0&flash=false");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// The app key.
    pub key: String,
    /// The hosted cluster (`mt1`, `eu`, ...), used when `host` is `None`.
    pub cluster: String,
    /// A custom host (`notifier.bitskins.com`, `127.0.0.1`); overrides the cluster.
    pub host: Option<String>,
    /// Port without TLS (default 80).
    pub ws_port: u16,
    /// Port with TLS (default 443).
    pub wss_port: u16,
    /// Whether to use TLS (default `true`). A 4000 close switches it on.
    pub tls: bool,
    /// An optional path before `/app` (for example `/pusher`).
    pub path: String,
    /// The `client` query parameter (default `feedwire`).
    pub client_name: String,
    /// The `version` query parameter (default this crate's version).
    pub client_version: String,
    /// The activity timeout (default 120 s); the effective one is the minimum of this and the server's.
    pub activity_timeout: Duration,
    /// How long to wait for any frame after a ping (default 30 s).
    pub pong_timeout: Duration,
    /// How long without a connection before the state becomes `unavailable` (default 10 s).
    pub unavailable_timeout: Duration,
    /// How long a connect attempt may take to reach `connection_established` (default 15 s, as pusher-js).
    pub handshake_timeout: Duration,
    /// Reconnect backoff (default 1 s doubling to 60 s, 20 % jitter).
    pub backoff: BackoffConfig,
    /// Frame size and queue bounds.
    pub limits: Limits,
    /// The jitter seed.
    pub seed: u64,
    /// Client events allowed per second (default 10, the protocol's limit).
    pub client_event_rate: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            key: String::new(),
            cluster: "mt1".into(),
            host: None,
            ws_port: 80,
            wss_port: 443,
            tls: true,
            path: String::new(),
            client_name: "feedwire".into(),
            client_version: env!("CARGO_PKG_VERSION").into(),
            activity_timeout: Duration::from_secs(120),
            pong_timeout: Duration::from_secs(30),
            unavailable_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(15),
            backoff: BackoffConfig::default(),
            limits: Limits::default(),
            seed: 0,
            client_event_rate: 10,
        }
    }
}

impl Config {
    /// The BitSkins public feed key.
    pub const BITSKINS_KEY: &'static str = "c0eef4118084f8164bec65e6253bf195";

    /// Defaults with `key`.
    pub fn new(key: impl Into<String>) -> Self {
        Config {
            key: key.into(),
            ..Config::default()
        }
    }

    /// The BitSkins public feed: key `c0eef4118084f8164bec65e6253bf195`, host `notifier.bitskins.com`, wss on 443.
    pub fn bitskins() -> Self {
        Config::new(Self::BITSKINS_KEY).with_host("notifier.bitskins.com")
    }

    /// Sets the hosted cluster.
    pub fn with_cluster(mut self, cluster: impl Into<String>) -> Self {
        self.cluster = cluster.into();
        self
    }
    /// Sets a custom host.
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }
    /// Sets the port used without TLS.
    pub fn with_ws_port(mut self, port: u16) -> Self {
        self.ws_port = port;
        self
    }
    /// Sets the port used with TLS.
    pub fn with_wss_port(mut self, port: u16) -> Self {
        self.wss_port = port;
        self
    }
    /// Sets the port for both schemes.
    pub fn with_port(mut self, port: u16) -> Self {
        self.ws_port = port;
        self.wss_port = port;
        self
    }
    /// Turns TLS on or off.
    pub fn with_tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }
    /// Sets a path before `/app` (a leading `/` is added when missing).
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        let p: String = path.into();
        let p = p.trim_end_matches('/');
        self.path = if p.is_empty() || p.starts_with('/') {
            p.to_owned()
        } else {
            format!("/{p}")
        };
        self
    }
    /// Sets the `client` and `version` query parameters.
    pub fn with_client(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.client_name = name.into();
        self.client_version = version.into();
        self
    }
    /// Sets the activity timeout.
    pub fn with_activity_timeout(mut self, d: Duration) -> Self {
        self.activity_timeout = d;
        self
    }
    /// Sets the pong timeout.
    pub fn with_pong_timeout(mut self, d: Duration) -> Self {
        self.pong_timeout = d;
        self
    }
    /// Sets the unavailable timeout.
    pub fn with_unavailable_timeout(mut self, d: Duration) -> Self {
        self.unavailable_timeout = d;
        self
    }
    /// Sets the handshake timeout.
    pub fn with_handshake_timeout(mut self, d: Duration) -> Self {
        self.handshake_timeout = d;
        self
    }
    /// Sets the backoff.
    pub fn with_backoff(mut self, b: BackoffConfig) -> Self {
        self.backoff = b;
        self
    }
    /// Sets the limits.
    pub fn with_limits(mut self, l: Limits) -> Self {
        self.limits = l;
        self
    }
    /// Sets the jitter seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Sets the client event rate (per second).
    pub fn with_client_event_rate(mut self, per_second: u32) -> Self {
        self.client_event_rate = per_second;
        self
    }

    /// The connection URL.
    pub fn url(&self, tls: bool) -> String {
        let host = match &self.host {
            Some(h) => h.clone(),
            None => format!("ws-{}.pusher.com", self.cluster),
        };
        let (scheme, port) = if tls {
            ("wss", self.wss_port)
        } else {
            ("ws", self.ws_port)
        };
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        format!(
            "{scheme}://{host}:{port}{}/app/{}?protocol=7&client={}&version={}&flash=false",
            self.path,
            enc(&self.key),
            enc(&self.client_name),
            enc(&self.client_version)
        )
    }
}

/// A channel authorization, as an auth endpoint returns it (`{"auth":..,"channel_data":..,"shared_secret":..}`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ChannelAuth {
    /// `key:signature`.
    pub auth: Secret<String>,
    /// Presence: the signed JSON string with `user_id` and `user_info`.
    pub channel_data: Option<String>,
    /// Encrypted channels: base64 of the 32-byte key.
    pub shared_secret: Option<Secret<String>>,
}

#[derive(Deserialize)]
struct ChannelAuthJson {
    auth: String,
    #[serde(default)]
    channel_data: Option<String>,
    #[serde(default)]
    shared_secret: Option<String>,
}

impl ChannelAuth {
    /// An authorization with only `auth`.
    pub fn new(auth: impl Into<String>) -> Self {
        ChannelAuth {
            auth: Secret::new(auth.into()),
            channel_data: None,
            shared_secret: None,
        }
    }
    /// Adds presence channel data.
    pub fn with_channel_data(mut self, channel_data: impl Into<String>) -> Self {
        self.channel_data = Some(channel_data.into());
        self
    }
    /// Adds the encrypted channel key.
    pub fn with_shared_secret(mut self, b64: impl Into<String>) -> Self {
        self.shared_secret = Some(Secret::new(b64.into()));
        self
    }
    /// Parses an auth endpoint's JSON response.
    pub fn from_json(text: &str) -> Result<Self, AuthError> {
        let j: ChannelAuthJson = serde_json::from_str(text).map_err(|e| AuthError::BadResponse {
            reason: e.to_string(),
        })?;
        Ok(ChannelAuth {
            auth: Secret::new(j.auth),
            channel_data: j.channel_data,
            shared_secret: j.shared_secret.map(Secret::new),
        })
    }
}

/// A user authentication for `pusher:signin` (`{"auth":..,"user_data":..}` from a user-auth endpoint).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UserAuth {
    /// `key:signature`.
    pub auth: Secret<String>,
    /// The signed JSON string; must hold a non-empty string `id`.
    pub user_data: String,
}

impl UserAuth {
    /// A user authentication.
    pub fn new(auth: impl Into<String>, user_data: impl Into<String>) -> Self {
        UserAuth {
            auth: Secret::new(auth.into()),
            user_data: user_data.into(),
        }
    }
}

/// An authorization the session waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthRequest {
    /// The socket id to sign.
    pub socket_id: ByteString,
    /// The channel.
    pub channel: String,
    /// Whether this is a re-authorization of a subscribed encrypted channel (after a decryption failure).
    pub rekey: bool,
}

/// Why `subscribe` refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The name is invalid.
    #[error(transparent)]
    Name(#[from] NameError),
    /// Too many channels (more than `limits.max_queued`).
    #[error("too many channels (limit {max})")]
    TooMany {
        /// The limit.
        max: usize,
    },
}

/// What `subscribe` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscribeOutcome {
    /// The subscription started (or will start once connected).
    Started,
    /// The channel was already wanted: nothing was sent.
    AlreadySubscribed,
}

/// What `unsubscribe` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnsubscribeOutcome {
    /// `pusher:unsubscribe` was sent, or nothing needed sending (not subscribed on the wire yet).
    Done,
    /// A subscribe is in flight: `pusher:unsubscribe` is sent when its success arrives.
    Deferred,
    /// The channel was not subscribed.
    NotSubscribed,
}

/// Why `provide_auth` / `fail_auth` / `provide_user_auth` refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No authorization is pending for this channel.
    #[error("no authorization is pending for channel {channel:?}")]
    NotPending {
        /// The channel.
        channel: String,
    },
    /// A presence channel needs `channel_data` with a `user_id`.
    #[error("presence channel {channel:?} needs channel_data with a user_id: {reason}")]
    BadChannelData {
        /// The channel.
        channel: String,
        /// What is wrong.
        reason: String,
    },
    /// An encrypted channel needs a `shared_secret` (base64 of 32 bytes).
    #[error("encrypted channel {channel:?} needs a shared_secret (base64 of 32 bytes)")]
    BadSharedSecret {
        /// The channel.
        channel: String,
    },
    /// `user_data` must be JSON with a non-empty string `id`.
    #[error("user_data must be JSON with a non-empty string id: {reason}")]
    BadUserData {
        /// What is wrong.
        reason: String,
    },
    /// An auth endpoint response could not be parsed.
    #[error("invalid auth response: {reason}")]
    BadResponse {
        /// What serde_json said.
        reason: String,
    },
}

/// Why `trigger` refused a client event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TriggerError {
    /// The event name or data is invalid.
    #[error(transparent)]
    Name(#[from] NameError),
    /// Not connected.
    #[error("not connected")]
    NotConnected,
    /// The channel is not subscribed (yet).
    #[error("channel {channel:?} is not subscribed")]
    NotSubscribed {
        /// The channel.
        channel: String,
    },
    /// Client events are only allowed on private and presence channels, never on encrypted ones.
    #[error(
        "client events are not allowed on channel {channel:?} (only private-* and presence-*, not private-encrypted-*)"
    )]
    NotAllowed {
        /// The channel.
        channel: String,
    },
    /// Over the client event rate.
    #[error("client event rate limit ({limit}/s) reached; retry after {retry_after:?}")]
    RateLimited {
        /// The limit per second.
        limit: u32,
        /// When the next event is allowed.
        retry_after: Duration,
    },
    /// The outgoing queue is full.
    #[error("outgoing queue is full")]
    QueueFull,
}

/// Why `signin` refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigninError {
    /// No signin is pending.
    #[error("no signin is pending")]
    NotPending,
    /// The user data is invalid.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// A frame the session could not use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Not a valid Pusher message.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Larger than `limits.max_frame_size`.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The frame's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Presence data in `subscription_succeeded` could not be read.
    #[error("invalid presence data on {channel}: {reason}")]
    Presence {
        /// The channel.
        channel: String,
        /// What is wrong.
        reason: String,
    },
}

/// What the session tells the application.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The connection state changed.
    StateChanged {
        /// Before.
        previous: ConnectionState,
        /// Now.
        current: ConnectionState,
    },
    /// `pusher:connection_established`.
    Connected {
        /// The new socket id.
        socket_id: ByteString,
        /// The effective activity timeout.
        activity_timeout: Duration,
    },
    /// Sign `{socket_id}:{channel}` (and channel data) and answer with [`Client::provide_auth`] or
    /// [`Client::fail_auth`].
    AuthRequired {
        /// The socket id.
        socket_id: ByteString,
        /// The channel.
        channel: String,
    },
    /// Sign the user in: answer with [`Client::provide_user_auth`] or [`Client::fail_user_auth`].
    UserAuthRequired {
        /// The socket id.
        socket_id: ByteString,
    },
    /// The first `subscription_succeeded` of a channel.
    Subscribed {
        /// The channel.
        channel: String,
        /// The data of the success frame.
        data: Option<StringOrJson>,
    },
    /// A channel is subscribed again after a reconnect; events published during `after` may have been missed.
    Resubscribed {
        /// The channel.
        channel: String,
        /// How long it was down (from the loss of the connection to the new success).
        after: Duration,
    },
    /// A subscription failed, in any server shape (or `fail_auth`); the channel is dropped.
    SubscriptionFailed {
        /// The channel (`None` when the server did not say and it could not be inferred).
        channel: Option<String>,
        /// The error as received.
        error: SubscriptionErrorMessage,
    },
    /// A channel event (or a client event relayed by the server).
    Message {
        /// The channel (`None` for events without one).
        channel: Option<ByteString>,
        /// The event name.
        event: ByteString,
        /// The payload, raw (decrypted on encrypted channels).
        data: Option<StringOrJson>,
        /// The sender of a client event on a presence channel.
        user_id: Option<ByteString>,
    },
    /// An event on `#server-to-user-{id}` after signin.
    UserEvent {
        /// The event name.
        event: ByteString,
        /// The payload.
        data: Option<StringOrJson>,
    },
    /// A presence member joined (never twice for the same id).
    MemberAdded {
        /// The channel.
        channel: String,
        /// The member.
        user_id: String,
        /// Their info.
        user_info: Option<RawJson>,
    },
    /// A presence member left.
    MemberRemoved {
        /// The channel.
        channel: String,
        /// The member.
        user_id: String,
    },
    /// `pusher_internal:subscription_count`.
    SubscriptionCount {
        /// The channel.
        channel: ByteString,
        /// Subscribers.
        count: u64,
    },
    /// `pusher:cache_miss`: nothing cached on this cache channel.
    CacheMiss {
        /// The channel.
        channel: ByteString,
    },
    /// `pusher:signin_success`.
    SignedIn {
        /// The user id.
        user_id: ByteString,
        /// The user data JSON.
        user_data: ByteString,
    },
    /// `pusher_internal:watchlist_events`.
    Watchlist {
        /// The entries.
        events: Vec<WatchlistEvent>,
    },
    /// An encrypted event could not be decrypted and was dropped (after one re-authorization when the key was
    /// wrong).
    DecryptionFailed {
        /// The channel.
        channel: String,
        /// The event name.
        event: ByteString,
        /// Why.
        error: DecryptError,
    },
    /// `pusher:error` on an open socket (informational: only a close decides reconnection).
    ServerError {
        /// The code, if any.
        code: Option<i64>,
        /// The message.
        message: ByteString,
        /// The channel, if any.
        channel: Option<ByteString>,
    },
    /// An unknown `pusher:` / `pusher_internal:` event, or a protocol event for a channel we do not track.
    Unknown {
        /// The frame.
        raw: Frame,
    },
    /// A malformed or oversize frame; the session goes on.
    ProtocolError {
        /// Why.
        error: ProtocolError,
        /// The frame.
        raw: Frame,
    },
    /// The connection closed (or could not be opened).
    Closed {
        /// The close frame, if any.
        close: Option<Close>,
        /// What the session does next.
        action: CloseAction,
    },
    /// The session gave a connection up on its own.
    TimedOut {
        /// Which deadline.
        kind: TimeoutKind,
    },
    /// A reconnect is scheduled.
    Reconnecting {
        /// In how long (zero: now).
        after: Duration,
        /// Reconnect attempts since the last successful connection.
        attempt: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Idle,
    AwaitingAuth,
    Pending,
    Subscribed,
}

#[derive(Debug)]
struct Chan {
    kind: ChannelKind,
    status: Status,
    unsubscribe_on_success: bool,
    ever_subscribed: bool,
    down_since: Option<Instant>,
    me: Option<String>,
    members: BTreeMap<String, Option<RawJson>>,
    secret: Option<SharedSecret>,
    /// Events waiting for a new key while an encrypted channel re-authorizes.
    rekey: Option<Vec<(ByteString, Option<StringOrJson>)>>,
}

impl Chan {
    fn new(kind: ChannelKind) -> Self {
        Chan {
            kind,
            status: Status::Idle,
            unsubscribe_on_success: false,
            ever_subscribed: false,
            down_since: None,
            me: None,
            members: BTreeMap::new(),
            secret: None,
            rekey: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Idle,
    Dialing,
    Open,
    Connected { socket_id: ByteString },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signin {
    Off,
    Wanted,
    AwaitingAuth,
    Sent,
    Done,
}

const MAX_REKEY_QUEUE: usize = 64;

/// The Pusher client session. See the [module docs](self).
///
/// ```
/// use std::time::Instant;
/// use feedwire_core::{Frame, Session, Transmit};
/// use feedwire_pusher::client::{ChannelAuth, Client, Config, Event};
///
/// let now = Instant::now();
/// let mut c = Client::new(Config::new("278d425bdf160c739803").with_host("127.0.0.1").with_tls(false).with_port(6001));
/// c.connect(now);
/// c.subscribe("private-foobar").unwrap();
/// assert!(matches!(c.poll_transmit(), Some(Transmit::Connect(_))));
/// c.handle_open(now, None);
/// c.handle_frame(now, Frame::from(r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"1234.1234\",\"activity_timeout\":30}"}"#));
/// let requests = c.pending_auth();
/// assert_eq!(requests[0].channel, "private-foobar");
/// c.provide_auth("private-foobar", ChannelAuth::new("278d425bdf160c739803:58df8b0c")).unwrap();
/// let Some(Transmit::Send(f)) = c.poll_transmit() else { panic!() };
/// assert_eq!(f.as_str(), r#"{"event":"pusher:subscribe","data":{"auth":"278d425bdf160c739803:58df8b0c","channel":"private-foobar"}}"#);
/// ```
#[derive(Debug)]
pub struct Client {
    config: Config,
    tls: bool,
    state: ConnectionState,
    phase: Phase,
    backoff: Backoff,
    channels: BTreeMap<String, Chan>,
    out: VecDeque<Transmit>,
    events: VecDeque<Event>,
    dropped_events: u64,
    last_now: Option<Instant>,
    activity: Duration,
    reconnect_at: Option<Instant>,
    handshake_deadline: Option<Instant>,
    unavailable_deadline: Option<Instant>,
    activity_deadline: Option<Instant>,
    pong_deadline: Option<Instant>,
    client_events: VecDeque<Instant>,
    signin: Signin,
    user_channel: Option<String>,
}

impl Client {
    /// A session in state `initialized`; call [`Client::connect`] to dial.
    pub fn new(config: Config) -> Self {
        Client {
            tls: config.tls,
            state: ConnectionState::Initialized,
            phase: Phase::Idle,
            backoff: Backoff::new(config.backoff, config.seed),
            channels: BTreeMap::new(),
            out: VecDeque::new(),
            events: VecDeque::with_capacity(64),
            dropped_events: 0,
            last_now: None,
            activity: config.activity_timeout,
            reconnect_at: None,
            handshake_deadline: None,
            unavailable_deadline: None,
            activity_deadline: None,
            pong_deadline: None,
            client_events: VecDeque::new(),
            signin: Signin::Off,
            user_channel: None,
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The connection state.
    pub fn state(&self) -> ConnectionState {
        self.state
    }

    /// The socket id while connected.
    pub fn socket_id(&self) -> Option<&str> {
        match &self.phase {
            Phase::Connected { socket_id } => Some(socket_id),
            _ => None,
        }
    }

    /// Whether the next connection uses TLS.
    pub fn uses_tls(&self) -> bool {
        self.tls
    }

    /// The effective activity timeout.
    pub fn activity_timeout(&self) -> Duration {
        self.activity
    }

    /// Events dropped because the event queue was full (`limits.max_queued`).
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// Outgoing transmits not yet polled.
    pub fn queued_transmits(&self) -> usize {
        self.out.len()
    }

    /// Events not yet polled.
    pub fn queued_events(&self) -> usize {
        self.events.len()
    }

    /// The backoff (for inspection).
    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    /// The channels the application wants, in name order.
    pub fn channels(&self) -> impl Iterator<Item = &str> {
        self.channels
            .iter()
            .filter(|(n, c)| !c.unsubscribe_on_success && Some(n.as_str()) != self.user_channel.as_deref())
            .map(|(n, _)| n.as_str())
    }

    /// Whether `channel` is subscribed on the wire right now.
    pub fn is_subscribed(&self, channel: &str) -> bool {
        self.channels
            .get(channel)
            .is_some_and(|c| c.status == Status::Subscribed)
    }

    /// The members of a subscribed presence channel (user id -> info).
    pub fn members(&self, channel: &str) -> Option<&BTreeMap<String, Option<RawJson>>> {
        self.channels
            .get(channel)
            .filter(|c| c.kind == ChannelKind::Presence && c.status == Status::Subscribed)
            .map(|c| &c.members)
    }

    /// Our own user id on a presence channel (from the `channel_data` we were authorized with).
    pub fn me(&self, channel: &str) -> Option<&str> {
        self.channels.get(channel).and_then(|c| c.me.as_deref())
    }

    /// Every authorization the session waits for, all at once (batch them).
    pub fn pending_auth(&self) -> Vec<AuthRequest> {
        let Phase::Connected { socket_id } = &self.phase else {
            return Vec::new();
        };
        self.channels
            .iter()
            .filter_map(|(name, c)| {
                let rekey = c.status == Status::Subscribed && c.rekey.is_some();
                (c.status == Status::AwaitingAuth || rekey).then(|| AuthRequest {
                    socket_id: socket_id.clone(),
                    channel: name.clone(),
                    rekey,
                })
            })
            .collect()
    }

    /// Starts connecting (from `initialized`, `disconnected` or `failed`); a no-op otherwise.
    pub fn connect(&mut self, now: Instant) {
        self.touch(now);
        if matches!(
            self.state,
            ConnectionState::Initialized | ConnectionState::Disconnected | ConnectionState::Failed
        ) && self.phase == Phase::Idle
        {
            self.backoff.reset();
            self.tls = self.config.tls;
            self.unavailable_deadline = Some(later(now, self.config.unavailable_timeout));
            self.dial(now);
        }
    }

    /// Closes the connection (1000) and stops reconnecting; the state becomes `disconnected`. Wanted channels
    /// are kept and subscribed again by a later [`Client::connect`].
    pub fn disconnect(&mut self) {
        if self.state == ConnectionState::Disconnected {
            return;
        }
        if matches!(self.phase, Phase::Open | Phase::Connected { .. } | Phase::Dialing) {
            self.out.push_back(Transmit::Close(Close::normal()));
        }
        self.lose();
        self.reconnect_at = None;
        self.unavailable_deadline = None;
        self.set_state(ConnectionState::Disconnected);
    }

    /// Subscribes to a channel (now if connected, else once connected). Subscribing to a channel already
    /// wanted is a no-op that returns [`SubscribeOutcome::AlreadySubscribed`].
    pub fn subscribe(&mut self, channel: &str) -> Result<SubscribeOutcome, SubscribeError> {
        codec::validate_channel_name(channel)?;
        if let Some(c) = self.channels.get_mut(channel) {
            if c.unsubscribe_on_success {
                // unsubscribe was deferred while the subscribe is in flight: simply keep it.
                c.unsubscribe_on_success = false;
                return Ok(SubscribeOutcome::Started);
            }
            return Ok(SubscribeOutcome::AlreadySubscribed);
        }
        if self.channels.len() >= self.config.limits.max_queued {
            return Err(SubscribeError::TooMany {
                max: self.config.limits.max_queued,
            });
        }
        self.channels
            .insert(channel.to_owned(), Chan::new(ChannelKind::of(channel)));
        if matches!(self.phase, Phase::Connected { .. }) {
            self.start_subscription(channel);
        }
        Ok(SubscribeOutcome::Started)
    }

    /// Unsubscribes. When a subscribe is in flight, `pusher:unsubscribe` is sent when its success arrives.
    pub fn unsubscribe(&mut self, channel: &str) -> UnsubscribeOutcome {
        let Some(c) = self.channels.get_mut(channel) else {
            return UnsubscribeOutcome::NotSubscribed;
        };
        if c.unsubscribe_on_success {
            return UnsubscribeOutcome::Deferred;
        }
        match c.status {
            Status::Pending => {
                c.unsubscribe_on_success = true;
                UnsubscribeOutcome::Deferred
            }
            Status::Subscribed => {
                self.channels.remove(channel);
                self.send(ClientMessage::Unsubscribe {
                    channel: ByteString::from(channel.to_owned()),
                });
                UnsubscribeOutcome::Done
            }
            Status::Idle | Status::AwaitingAuth => {
                self.channels.remove(channel);
                UnsubscribeOutcome::Done
            }
        }
    }

    /// Answers an [`Event::AuthRequired`]: sends the subscription (or, for a re-authorization of an encrypted
    /// channel, installs the new key and retries the events that failed).
    pub fn provide_auth(&mut self, channel: &str, auth: ChannelAuth) -> Result<(), AuthError> {
        let not_pending = || AuthError::NotPending {
            channel: channel.to_owned(),
        };
        let Some(c) = self.channels.get_mut(channel) else {
            return Err(not_pending());
        };
        let rekey = c.status == Status::Subscribed && c.rekey.is_some();
        if c.status != Status::AwaitingAuth && !rekey {
            return Err(not_pending());
        }
        let mut me = None;
        if c.kind == ChannelKind::Presence {
            me = Some(presence_user_id(channel, auth.channel_data.as_deref())?);
        }
        let mut secret = None;
        if c.kind == ChannelKind::Encrypted {
            secret = Some(
                auth.shared_secret
                    .as_ref()
                    .and_then(|s| SharedSecret::from_base64(s.expose()).ok())
                    .ok_or_else(|| AuthError::BadSharedSecret {
                        channel: channel.to_owned(),
                    })?,
            );
        }
        if rekey {
            c.secret = secret;
            let queued = c.rekey.take().unwrap_or_default();
            for (event, data) in queued {
                self.decrypt_and_emit(channel, event, data, false);
            }
            return Ok(());
        }
        c.me = me;
        c.secret = secret;
        c.status = Status::Pending;
        self.send(ClientMessage::Subscribe {
            channel: ByteString::from(channel.to_owned()),
            auth: auth.auth,
            channel_data: auth.channel_data,
        });
        Ok(())
    }

    /// Refuses an [`Event::AuthRequired`]: the subscription fails with [`Event::SubscriptionFailed`]
    /// (shape [`SubscriptionErrorShape::AuthFailed`]); for a re-authorization, the waiting events are dropped.
    pub fn fail_auth(&mut self, channel: &str, reason: &str) -> Result<(), AuthError> {
        let Some(c) = self.channels.get_mut(channel) else {
            return Err(AuthError::NotPending {
                channel: channel.to_owned(),
            });
        };
        if c.status == Status::Subscribed && c.rekey.is_some() {
            let queued = c.rekey.take().unwrap_or_default();
            for (event, _) in queued {
                self.emit(Event::DecryptionFailed {
                    channel: channel.to_owned(),
                    event,
                    error: DecryptError::Failed,
                });
            }
            return Ok(());
        }
        if c.status != Status::AwaitingAuth {
            return Err(AuthError::NotPending {
                channel: channel.to_owned(),
            });
        }
        self.channels.remove(channel);
        self.emit(Event::SubscriptionFailed {
            channel: Some(channel.to_owned()),
            error: SubscriptionErrorMessage {
                shape: SubscriptionErrorShape::AuthFailed,
                channel: Some(ByteString::from(channel.to_owned())),
                kind: Some(ByteString::from_static("AuthError")),
                error: Some(ByteString::from(reason.to_owned())),
                status: None,
                data: None,
            },
        });
        Ok(())
    }

    /// Asks to sign the user in: raises [`Event::UserAuthRequired`] now if connected (else once connected),
    /// and again after every reconnect.
    pub fn signin(&mut self) {
        if self.signin == Signin::Off {
            self.signin = Signin::Wanted;
        }
        if self.signin == Signin::Wanted {
            self.request_signin();
        }
    }

    /// Answers [`Event::UserAuthRequired`]: sends `pusher:signin`.
    pub fn provide_user_auth(&mut self, auth: UserAuth) -> Result<(), SigninError> {
        if self.signin != Signin::AwaitingAuth || !matches!(self.phase, Phase::Connected { .. }) {
            return Err(SigninError::NotPending);
        }
        #[derive(Deserialize)]
        struct Id {
            id: String,
        }
        match serde_json::from_str::<Id>(&auth.user_data) {
            Ok(Id { id }) if !id.is_empty() => {}
            Ok(_) => {
                return Err(AuthError::BadUserData {
                    reason: "id is empty".into(),
                }
                .into());
            }
            Err(e) => {
                return Err(AuthError::BadUserData {
                    reason: e.to_string(),
                }
                .into());
            }
        }
        self.signin = Signin::Sent;
        self.send(ClientMessage::Signin {
            auth: auth.auth,
            user_data: auth.user_data,
        });
        Ok(())
    }

    /// Refuses [`Event::UserAuthRequired`]: signin is abandoned until [`Client::signin`] is called again.
    pub fn fail_user_auth(&mut self) -> Result<(), SigninError> {
        if self.signin != Signin::AwaitingAuth {
            return Err(SigninError::NotPending);
        }
        self.signin = Signin::Off;
        Ok(())
    }

    /// Sends a client event (`client-*`) with JSON `data` on a subscribed private or presence channel. See the
    /// module docs for the rate limit (rejects, does not queue).
    pub fn trigger(
        &mut self,
        now: Instant,
        channel: &str,
        event: &str,
        data: &str,
    ) -> Result<(), TriggerError> {
        self.touch(now);
        let msg = ClientMessage::client_event(event, channel, data)?;
        if !matches!(self.phase, Phase::Connected { .. }) {
            return Err(TriggerError::NotConnected);
        }
        let Some(c) = self.channels.get(channel) else {
            return Err(TriggerError::NotSubscribed {
                channel: channel.to_owned(),
            });
        };
        if !matches!(c.kind, ChannelKind::Private | ChannelKind::Presence) {
            return Err(TriggerError::NotAllowed {
                channel: channel.to_owned(),
            });
        }
        if c.status != Status::Subscribed {
            return Err(TriggerError::NotSubscribed {
                channel: channel.to_owned(),
            });
        }
        let window = Duration::from_secs(1);
        while self
            .client_events
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            self.client_events.pop_front();
        }
        let limit = self.config.client_event_rate;
        if self.client_events.len() >= limit as usize {
            let retry_after = match self.client_events.front() {
                Some(t) => later(*t, window).saturating_duration_since(now),
                None => window,
            };
            return Err(TriggerError::RateLimited { limit, retry_after });
        }
        if self.out.len() >= self.config.limits.max_queued {
            return Err(TriggerError::QueueFull);
        }
        self.client_events.push_back(now);
        self.send(msg);
        Ok(())
    }

    // ---- internals ----

    fn touch(&mut self, now: Instant) {
        if self.last_now.is_none_or(|t| now > t) {
            self.last_now = Some(now);
        }
    }

    fn emit(&mut self, ev: Event) {
        if self.events.len() >= self.config.limits.max_queued {
            self.dropped_events += 1;
        } else {
            self.events.push_back(ev);
        }
    }

    fn send(&mut self, msg: ClientMessage) {
        if self.out.len() < self.config.limits.max_queued {
            self.out.push_back(Transmit::Send(msg.encode()));
        }
    }

    fn set_state(&mut self, current: ConnectionState) {
        if self.state != current {
            let previous = self.state;
            #[cfg(feature = "tracing")]
            tracing::debug!(?previous, ?current, "pusher: state");
            self.state = current;
            self.emit(Event::StateChanged { previous, current });
        }
    }

    fn dial(&mut self, now: Instant) {
        self.reconnect_at = None;
        self.phase = Phase::Dialing;
        self.handshake_deadline = Some(later(now, self.config.handshake_timeout));
        self.out
            .push_back(Transmit::Connect(ConnectRequest::new(self.config.url(self.tls))));
        if self.state != ConnectionState::Unavailable {
            self.set_state(ConnectionState::Connecting);
        }
    }

    /// The connection is gone: channels down, members reset, timers off.
    fn lose(&mut self) {
        let now = self.last_now;
        self.phase = Phase::Idle;
        self.activity_deadline = None;
        self.pong_deadline = None;
        self.handshake_deadline = None;
        self.client_events.clear();
        if let Some(uc) = self.user_channel.take() {
            self.channels.remove(&uc);
        }
        self.channels.retain(|_, c| !c.unsubscribe_on_success);
        for c in self.channels.values_mut() {
            if c.status == Status::Subscribed && c.down_since.is_none() {
                c.down_since = now;
            }
            c.status = Status::Idle;
            c.members.clear();
            c.rekey = None;
        }
        if matches!(self.signin, Signin::AwaitingAuth | Signin::Sent | Signin::Done) {
            self.signin = Signin::Wanted;
        }
    }

    fn after_loss(&mut self, now: Instant, action: CloseAction, was_connected: bool) {
        if self.unavailable_deadline.is_none() && self.state != ConnectionState::Unavailable {
            self.unavailable_deadline = Some(later(now, self.config.unavailable_timeout));
        }
        match action {
            CloseAction::Stop => {
                self.reconnect_at = None;
                self.unavailable_deadline = None;
                self.set_state(ConnectionState::Failed);
            }
            CloseAction::RetryWithTls if !self.tls => {
                self.tls = true;
                self.emit(Event::Reconnecting {
                    after: Duration::ZERO,
                    attempt: self.backoff.attempt(),
                });
                self.dial(now);
            }
            CloseAction::Immediate if was_connected => {
                self.emit(Event::Reconnecting {
                    after: Duration::ZERO,
                    attempt: self.backoff.attempt(),
                });
                self.dial(now);
            }
            _ => {
                let attempt = self.backoff.attempt() + 1;
                let after = self.backoff.next_delay();
                self.reconnect_at = Some(later(now, after));
                self.emit(Event::Reconnecting { after, attempt });
                if self.state == ConnectionState::Connected {
                    self.set_state(ConnectionState::Connecting);
                }
            }
        }
        if action != CloseAction::Stop && self.state == ConnectionState::Connected {
            self.set_state(ConnectionState::Connecting);
        }
    }

    fn start_subscription(&mut self, name: &str) {
        let Phase::Connected { socket_id } = &self.phase else {
            return;
        };
        let socket_id = socket_id.clone();
        let Some(c) = self.channels.get_mut(name) else {
            return;
        };
        if c.kind.needs_auth() {
            c.status = Status::AwaitingAuth;
            self.emit(Event::AuthRequired {
                socket_id,
                channel: name.to_owned(),
            });
        } else {
            c.status = Status::Pending;
            self.send(ClientMessage::subscribe(name, "", None));
        }
    }

    fn request_signin(&mut self) {
        if let Phase::Connected { socket_id } = &self.phase {
            let socket_id = socket_id.clone();
            self.signin = Signin::AwaitingAuth;
            self.emit(Event::UserAuthRequired { socket_id });
        }
    }

    fn on_established(&mut self, now: Instant, socket_id: ByteString, server_timeout: u64) {
        self.activity = self
            .config
            .activity_timeout
            .min(Duration::from_secs(server_timeout));
        self.phase = Phase::Connected {
            socket_id: socket_id.clone(),
        };
        self.handshake_deadline = None;
        self.unavailable_deadline = None;
        self.reconnect_at = None;
        self.backoff.reset();
        self.activity_deadline = Some(later(now, self.activity));
        self.set_state(ConnectionState::Connected);
        self.emit(Event::Connected {
            socket_id,
            activity_timeout: self.activity,
        });
        let names: Vec<String> = self.channels.keys().cloned().collect();
        for n in names {
            self.start_subscription(&n);
        }
        if self.signin == Signin::Wanted {
            self.request_signin();
        }
    }

    fn on_subscription_error(&mut self, msg: SubscriptionErrorMessage) {
        // A named channel is taken at its word: ours, or nobody's (then nothing is dropped). Only an error that
        // names no channel at all (poxa's shape) is pinned on the one pending subscription.
        let channel = match msg.channel.as_deref() {
            Some(c) if self.channels.contains_key(c) => Some(c.to_owned()),
            Some(_) => None,
            None => self.single_pending(),
        };
        if let Some(ch) = &channel {
            self.channels.remove(ch);
        }
        self.emit(Event::SubscriptionFailed { channel, error: msg });
    }

    fn single_pending(&self) -> Option<String> {
        let mut it = self.channels.iter().filter(|(_, c)| c.status == Status::Pending);
        match (it.next(), it.next()) {
            (Some((n, _)), None) => Some(n.clone()),
            _ => None,
        }
    }

    fn on_error(&mut self, e: ErrorMessage) {
        // Hosted Pusher and Reverb refuse a subscription with pusher:error (4009 or code null, "Invalid
        // signature" ...): map it to the pending subscription it names or, failing that, the only one pending.
        let named = e
            .channel
            .as_deref()
            .filter(|c| {
                self.channels
                    .get(*c)
                    .is_some_and(|ch| ch.status == Status::Pending)
            })
            .map(str::to_owned);
        // ... unless it names a channel that is not pending ("Existing subscription to channel X").
        let mentions_other = self
            .channels
            .iter()
            .any(|(n, c)| c.status != Status::Pending && e.message.contains(n.as_str()));
        let inferred = if named.is_none() && !mentions_other && (e.code.is_none() || e.code == Some(4009)) {
            let by_message = self
                .channels
                .iter()
                .filter(|(n, c)| c.status == Status::Pending && e.message.contains(n.as_str()))
                .map(|(n, _)| n.clone())
                .next();
            by_message.or_else(|| self.single_pending())
        } else {
            None
        };
        match named.or(inferred) {
            Some(ch) => {
                self.channels.remove(&ch);
                self.emit(Event::SubscriptionFailed {
                    channel: Some(ch.clone()),
                    error: SubscriptionErrorMessage {
                        shape: SubscriptionErrorShape::ErrorEvent,
                        channel: Some(ByteString::from(ch)),
                        kind: None,
                        error: Some(e.message),
                        status: e.code.and_then(|c| u16::try_from(c).ok()),
                        data: e.data,
                    },
                });
            }
            None => self.emit(Event::ServerError {
                code: e.code,
                message: e.message,
                channel: e.channel,
            }),
        }
    }

    fn on_succeeded(&mut self, now: Instant, channel: ByteString, data: Option<StringOrJson>, raw: &Frame) {
        let Some(c) = self.channels.get_mut(&*channel) else {
            self.emit(Event::Unknown { raw: raw.clone() });
            return;
        };
        if c.status != Status::Pending {
            // a duplicate or unsolicited success: surface it, change nothing
            self.emit(Event::Unknown { raw: raw.clone() });
            return;
        }
        if c.unsubscribe_on_success {
            self.channels.remove(&*channel);
            self.send(ClientMessage::Unsubscribe { channel });
            return;
        }
        c.status = Status::Subscribed;
        let mut presence_err = None;
        if c.kind == ChannelKind::Presence {
            match parse_presence(data.as_ref()) {
                Ok(m) => c.members = m,
                Err(reason) => presence_err = Some(reason),
            }
        }
        let first = !c.ever_subscribed;
        c.ever_subscribed = true;
        let down = c.down_since.take();
        let name = channel.to_string();
        if let Some(reason) = presence_err {
            self.emit(Event::ProtocolError {
                error: ProtocolError::Presence {
                    channel: name.clone(),
                    reason,
                },
                raw: raw.clone(),
            });
        }
        match (first, down) {
            (false, Some(since)) => self.emit(Event::Resubscribed {
                channel: name,
                after: now.saturating_duration_since(since),
            }),
            _ => self.emit(Event::Subscribed { channel: name, data }),
        }
    }

    fn on_event(&mut self, e: ChannelEvent, raw: &Frame) {
        let Some(channel) = e.channel else {
            if e.event.starts_with("pusher:") || e.event.starts_with("pusher_internal:") {
                self.emit(Event::Unknown { raw: raw.clone() });
            } else {
                self.emit(Event::Message {
                    channel: None,
                    event: e.event,
                    data: e.data,
                    user_id: e.user_id,
                });
            }
            return;
        };
        if self.user_channel.as_deref() == Some(&*channel) {
            self.emit(Event::UserEvent {
                event: e.event,
                data: e.data,
            });
            return;
        }
        let encrypted = self
            .channels
            .get(&*channel)
            .is_some_and(|c| c.kind == ChannelKind::Encrypted)
            && !e.event.starts_with("pusher:")
            && !e.event.starts_with("pusher_internal:");
        if encrypted {
            let name = channel.to_string();
            self.decrypt_and_emit(&name, e.event, e.data, true);
            return;
        }
        self.emit(Event::Message {
            channel: Some(channel),
            event: e.event,
            data: e.data,
            user_id: e.user_id,
        });
    }

    fn decrypt_and_emit(
        &mut self,
        channel: &str,
        event: ByteString,
        data: Option<StringOrJson>,
        may_rekey: bool,
    ) {
        let Some(c) = self.channels.get_mut(channel) else {
            return;
        };
        if let Some(q) = &mut c.rekey {
            if q.len() < MAX_REKEY_QUEUE {
                q.push((event, data));
            } else {
                self.emit(Event::DecryptionFailed {
                    channel: channel.to_owned(),
                    event,
                    error: DecryptError::Failed,
                });
            }
            return;
        }
        let result = match (&c.secret, &data) {
            (Some(k), Some(d)) => k.decrypt(d.raw().as_str()),
            (None, _) => Err(DecryptError::BadSecret),
            (_, None) => Err(DecryptError::Shape("data is missing".into())),
        };
        match result {
            Ok(plain) => {
                let text = String::from_utf8_lossy(&plain);
                let json = RawJson::from_json_str(&text)
                    .or_else(|_| RawJson::from_value(&*text))
                    .unwrap_or_else(|_| RawJson::null());
                self.emit(Event::Message {
                    channel: Some(ByteString::from(channel.to_owned())),
                    event,
                    data: Some(StringOrJson::new(json)),
                    user_id: None,
                });
            }
            Err(DecryptError::Failed) if may_rekey && c.status == Status::Subscribed => {
                // One re-authorization for a new key, as pusher-js does; the event waits for it.
                c.rekey = Some(vec![(event, data)]);
                if let Phase::Connected { socket_id } = &self.phase {
                    let socket_id = socket_id.clone();
                    self.emit(Event::AuthRequired {
                        socket_id,
                        channel: channel.to_owned(),
                    });
                }
            }
            Err(error) => self.emit(Event::DecryptionFailed {
                channel: channel.to_owned(),
                event,
                error,
            }),
        }
    }

    fn on_message(&mut self, now: Instant, msg: ServerMessage, raw: &Frame) {
        match msg {
            ServerMessage::ConnectionEstablished(c) => {
                if self.phase == Phase::Open || self.phase == Phase::Dialing {
                    self.on_established(now, c.socket_id, c.activity_timeout);
                } else {
                    self.emit(Event::Unknown { raw: raw.clone() });
                }
            }
            ServerMessage::Error(e) => self.on_error(e),
            ServerMessage::Ping { .. } => self.send(ClientMessage::Pong),
            ServerMessage::Pong { .. } => {}
            ServerMessage::SubscriptionSucceeded { channel, data } => {
                self.on_succeeded(now, channel, data, raw)
            }
            ServerMessage::SubscriptionError(e) => self.on_subscription_error(e),
            ServerMessage::MemberAdded {
                channel,
                user_id,
                user_info,
            } => {
                if let Some(c) = self.channels.get_mut(&*channel)
                    && c.kind == ChannelKind::Presence
                    && c.status == Status::Subscribed
                {
                    let id = user_id.to_string();
                    if !c.members.contains_key(&id) {
                        c.members.insert(id.clone(), user_info.clone());
                        self.emit(Event::MemberAdded {
                            channel: channel.to_string(),
                            user_id: id,
                            user_info,
                        });
                    }
                }
            }
            ServerMessage::MemberRemoved { channel, user_id } => {
                if let Some(c) = self.channels.get_mut(&*channel)
                    && c.members.remove(&*user_id).is_some()
                {
                    self.emit(Event::MemberRemoved {
                        channel: channel.to_string(),
                        user_id: user_id.to_string(),
                    });
                }
            }
            ServerMessage::SubscriptionCount { channel, count } => {
                self.emit(Event::SubscriptionCount { channel, count })
            }
            ServerMessage::CacheMiss { channel } => self.emit(Event::CacheMiss { channel }),
            ServerMessage::SigninSuccess { user_data, user_id } => {
                if !matches!(self.phase, Phase::Connected { .. }) {
                    // Signin is only sent once connected: a success before connection_established answers
                    // nothing of ours. Acting on it would subscribe the user channel twice (once now, once
                    // when the connection is established).
                    self.emit(Event::Unknown { raw: raw.clone() });
                    return;
                }
                self.signin = Signin::Done;
                let name = format!("#server-to-user-{user_id}");
                if let Some(old) = self.user_channel.take()
                    && old != name
                {
                    self.channels.remove(&old);
                    self.send(ClientMessage::Unsubscribe {
                        channel: ByteString::from(old),
                    });
                }
                self.emit(Event::SignedIn { user_id, user_data });
                if !self.channels.contains_key(&name) {
                    let mut c = Chan::new(ChannelKind::ServerToUser);
                    c.status = Status::Pending;
                    self.send(ClientMessage::subscribe(&name, "", None));
                    self.channels.insert(name.clone(), c);
                }
                self.user_channel = Some(name);
            }
            ServerMessage::WatchlistEvents(events) => self.emit(Event::Watchlist { events }),
            ServerMessage::Event(e) => self.on_event(e, raw),
        }
    }
}

/// `now + d`, saturating far in the future instead of overflowing (a huge configured timeout never panics).
fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(1 << 30)))
        .unwrap_or(now)
}

fn presence_user_id(channel: &str, channel_data: Option<&str>) -> Result<String, AuthError> {
    #[derive(Deserialize)]
    struct Cd {
        user_id: UserId,
    }
    let bad = |reason: String| AuthError::BadChannelData {
        channel: channel.to_owned(),
        reason,
    };
    let cd = channel_data.ok_or_else(|| bad("channel_data is missing".into()))?;
    let parsed: Cd = serde_json::from_str(cd).map_err(|e| bad(e.to_string()))?;
    Ok(parsed.user_id.0)
}

fn parse_presence(data: Option<&StringOrJson>) -> Result<BTreeMap<String, Option<RawJson>>, String> {
    #[derive(Deserialize)]
    struct Outer {
        presence: Inner,
    }
    #[derive(Deserialize)]
    struct Inner {
        #[serde(default)]
        ids: Vec<UserId>,
        #[serde(default)]
        hash: BTreeMap<String, Box<RawValue>>,
    }
    let data = data.ok_or_else(|| "presence data is missing".to_owned())?;
    let outer: Outer = codec::parse_data(data.raw().as_str()).map_err(|e| e.to_string())?;
    let mut members = BTreeMap::new();
    for id in outer.presence.ids {
        members.insert(id.0, None);
    }
    for (id, info) in outer.presence.hash {
        let info = RawJson::from_json_str(info.get()).ok();
        members.insert(id, info);
    }
    Ok(members)
}

impl Session for Client {
    type Event = Event;

    fn handle_open(&mut self, now: Instant, _subprotocol: Option<&str>) {
        self.touch(now);
        if self.phase == Phase::Dialing {
            self.phase = Phase::Open;
        }
    }

    fn handle_frame(&mut self, now: Instant, frame: Frame) {
        self.touch(now);
        if matches!(self.phase, Phase::Idle | Phase::Dialing) {
            return; // a late frame of a connection we already gave up
        }
        if let Phase::Connected { .. } = self.phase {
            self.activity_deadline = Some(later(now, self.activity));
            self.pong_deadline = None;
        }
        let max = self.config.limits.max_frame_size;
        if frame.len() > max {
            let len = frame.len();
            self.emit(Event::ProtocolError {
                error: ProtocolError::TooLarge { len, max },
                raw: frame,
            });
            return;
        }
        match codec::decode_server(&frame) {
            Ok(msg) => self.on_message(now, msg, &frame),
            Err(e) => {
                #[cfg(feature = "tracing")]
                tracing::debug!(error = %e, len = frame.len(), "pusher: undecodable frame");
                self.emit(Event::ProtocolError {
                    error: ProtocolError::Decode(e),
                    raw: frame,
                })
            }
        }
    }

    fn handle_close(&mut self, now: Instant, close: Option<Close>) {
        self.touch(now);
        if self.phase == Phase::Idle {
            return; // we closed it ourselves, or it is already accounted for
        }
        let was_connected = matches!(self.phase, Phase::Connected { .. });
        self.lose();
        let action = CloseAction::classify(close.as_ref().map(|c| c.code.0));
        #[cfg(feature = "tracing")]
        tracing::debug!(close = ?close, ?action, "pusher: connection closed");
        self.emit(Event::Closed {
            close: close.clone(),
            action,
        });
        self.after_loss(now, action, was_connected);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.touch(now);
        if self.unavailable_deadline.is_some_and(|t| t <= now) {
            self.unavailable_deadline = None;
            if !matches!(self.phase, Phase::Connected { .. }) {
                self.set_state(ConnectionState::Unavailable);
            }
        }
        if self.reconnect_at.is_some_and(|t| t <= now) && self.phase == Phase::Idle {
            self.dial(now);
        }
        if self.handshake_deadline.is_some_and(|t| t <= now)
            && matches!(self.phase, Phase::Dialing | Phase::Open)
        {
            self.out
                .push_back(Transmit::Close(Close::new(1000, "handshake timeout")));
            self.lose();
            self.emit(Event::TimedOut {
                kind: TimeoutKind::Handshake,
            });
            self.after_loss(now, CloseAction::Backoff, false);
        }
        if self.pong_deadline.is_some_and(|t| t <= now) && matches!(self.phase, Phase::Connected { .. }) {
            self.out
                .push_back(Transmit::Close(Close::new(1000, "Pong reply not received")));
            self.lose();
            self.emit(Event::TimedOut {
                kind: TimeoutKind::Pong,
            });
            self.after_loss(now, CloseAction::Immediate, true);
        } else if self.activity_deadline.is_some_and(|t| t <= now)
            && matches!(self.phase, Phase::Connected { .. })
        {
            self.activity_deadline = None;
            self.pong_deadline = Some(later(now, self.config.pong_timeout));
            self.send(ClientMessage::Ping);
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [
            self.reconnect_at,
            self.handshake_deadline,
            self.unavailable_deadline,
            self.activity_deadline,
            self.pong_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
