//! What the client session tells the application, and why its commands refuse.

use std::time::Duration;

use bytestring::ByteString;
use feedwire_core::{Close, Frame, QueueFull, RawJson, StringOrJson};

use crate::codec::{DecodeError, NameError, SubscriptionErrorMessage, WatchlistEvent};
#[cfg(feature = "encrypted")]
use crate::encrypted::DecryptError;

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
    /// No `pusher:connection_established` within [`Config::handshake_timeout`](super::Config) of dialing.
    Handshake,
    /// No frame within [`Config::pong_timeout`](super::Config) of our ping.
    Pong,
}

/// Why a connection ended ([`Event::Disconnected`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The server or the transport closed it (or it could not be opened).
    Closed {
        /// The close frame, if any.
        close: Option<Close>,
        /// What the session does next.
        action: CloseAction,
    },
    /// The session gave it up itself (and closed it): a deadline passed.
    TimedOut {
        /// Which deadline.
        kind: TimeoutKind,
    },
    /// The application called `disconnect`.
    Requested,
}

/// Why the session stopped for good ([`Event::Stopped`]); `connect` starts it again.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The application called `disconnect`.
    Requested,
    /// The server closed with a code that says not to reconnect unchanged (4001-4099: app missing, disabled,
    /// over quota, unauthorized; 4300-4399: client event rate limit).
    Closed {
        /// The close frame.
        close: Close,
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

/// Why a command of the [`Client`](super::Client) refused. Nothing changed when it did.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The driver has not sent the frames already queued; retry after draining `poll_transmit`.
    #[error(transparent)]
    QueueFull(#[from] QueueFull),
    /// A channel name, event name or client event payload is invalid.
    #[error(transparent)]
    Name(#[from] NameError),
    /// Too many channels (more than `limits.max_queued`).
    #[error("too many channels (limit {max})")]
    TooManyChannels {
        /// The limit.
        max: usize,
    },
    /// `private-encrypted-*` channels need this crate's `encrypted` feature.
    #[error("channel {channel:?} is encrypted: enable feedwire-pusher's `encrypted` feature")]
    EncryptionDisabled {
        /// The channel.
        channel: String,
    },
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
    /// No authorization is pending for this channel.
    #[error("no authorization is pending for channel {channel:?}")]
    NotPending {
        /// The channel.
        channel: String,
    },
    /// No signin is pending.
    #[error("no signin is pending")]
    SigninNotPending,
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
}

/// What the session tells the application.
///
/// **Kept** events are always queued, whatever the queue holds (the application must not miss them, and
/// each is bounded by the session's own state): [`Connected`](Event::Connected),
/// [`Disconnected`](Event::Disconnected), [`Reconnecting`](Event::Reconnecting), [`Stopped`](Event::Stopped),
/// [`Unavailable`](Event::Unavailable), [`Resubscribed`](Event::Resubscribed) (the catch-up signal),
/// [`Subscribed`](Event::Subscribed), [`AuthRequired`](Event::AuthRequired),
/// [`UserAuthRequired`](Event::UserAuthRequired), and [`SubscriptionFailed`](Event::SubscriptionFailed) for a
/// channel of the session's. Every other event (messages, members, counts, server errors, unknown and
/// malformed frames) is dropped, and counted in [`QueueStats::dropped_events`](feedwire_core::QueueStats),
/// when `limits.max_queued` events already wait.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// `pusher:connection_established`: the handshake is done.
    Connected {
        /// The new socket id.
        socket_id: ByteString,
        /// The effective activity timeout.
        activity_timeout: Duration,
    },
    /// The connection was lost or closed (or could not be opened).
    Disconnected {
        /// Why.
        reason: DisconnectReason,
    },
    /// A reconnect is scheduled.
    Reconnecting {
        /// In how long (zero: now).
        after: Duration,
        /// Reconnect attempts since the last successful connection.
        attempt: u32,
    },
    /// The session stopped for good: no reconnect until `connect` is called again.
    Stopped {
        /// Why.
        reason: StopReason,
    },
    /// Not connected for [`Config::unavailable_timeout`](super::Config) (pusher-js's `unavailable` state);
    /// retrying goes on, and the next [`Connected`](Event::Connected) ends it.
    Unavailable,
    /// Sign `{socket_id}:{channel}` (and channel data) and answer with
    /// [`Client::provide_auth`](super::Client::provide_auth) or [`Client::fail_auth`](super::Client::fail_auth).
    AuthRequired {
        /// The socket id.
        socket_id: ByteString,
        /// The channel.
        channel: String,
    },
    /// Sign the user in: answer with [`Client::provide_user_auth`](super::Client::provide_user_auth) or
    /// [`Client::fail_user_auth`](super::Client::fail_user_auth).
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
    /// A channel is subscribed again after a reconnect; events published during `after` may have been missed
    /// (catch up over REST for that window).
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
    #[cfg(feature = "encrypted")]
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
    /// An unknown `pusher:` / `pusher_internal:` event, or a protocol event for a channel the session does not
    /// track (the whole frame).
    Unknown {
        /// The frame.
        frame: Frame,
    },
    /// A frame that could not be used: not a Pusher message, larger than `limits.max_frame_size`, or presence
    /// data that could not be read. The session goes on.
    Malformed {
        /// Why.
        error: DecodeError,
        /// The frame, cut to its first 256 bytes (at a character boundary).
        frame: Frame,
    },
}

/// The first 256 bytes of `frame` (fewer, to end on a character boundary), sharing its buffer.
pub(crate) fn cut(frame: Frame) -> Frame {
    const KEEP: usize = 256;
    if frame.len() <= KEEP {
        return frame;
    }
    let s = frame.as_str();
    let end = (0..=KEEP).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
    frame.slice_ref(s.get(..end).unwrap_or(""))
}
