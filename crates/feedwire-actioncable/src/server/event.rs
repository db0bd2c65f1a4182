//! What the hub tells its host, and why its commands fail.

use feedwire_core::{Close, ConnId, Frame, OpenRequest, QueueFull, RawJson, Secret};

use crate::identifier::Identifier;

/// Why a hub command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// No such open connection.
    #[error("no such connection")]
    UnknownConnection,
    /// The connection has no subscription with this identifier.
    #[error("no such subscription")]
    UnknownSubscription,
    /// The message is not valid JSON.
    #[error("message is not valid JSON")]
    InvalidJson,
    /// The driver has not sent the frames already queued: retry after draining `poll_transmit`.
    #[error(transparent)]
    QueueFull(#[from] QueueFull),
}

/// What the hub tells its host.
///
/// Events are queued in a bounded queue ([`Limits::max_queued`](feedwire_core::Limits)). When the host stops
/// polling and the queue is full, new events are dropped and counted in
/// [`QueueStats::dropped_events`](feedwire_core::QueueStats), except [`Opened`](HubEvent::Opened),
/// [`Closed`](HubEvent::Closed), [`StreamStarted`](HubEvent::StreamStarted) and
/// [`StreamStopped`](HubEvent::StreamStopped), which are always queued (kept events may take the queue past
/// the bound: a stream event comes at most once per stream of each subscription change, so a close of a
/// connection with `n` confirmed (subscription, stream) pairs queues at most `n`). A dropped
/// [`SubscribeRequested`](HubEvent::SubscribeRequested) leaves no trace: the hub forgets the request, as if it
/// never came, so no subscription waits for an answer the host never heard of (the client's confirmation
/// timeout sends it again).
#[derive(Debug)]
#[non_exhaustive]
pub enum HubEvent {
    /// A connection opened (and was welcomed, unless `auto_welcome` is off).
    Opened {
        /// The connection.
        conn: ConnId,
        /// The request (its `Debug` hides the query and header values).
        request: OpenRequest,
        /// Whether it speaks AnyCable ext.
        ext: bool,
        /// The identifiers AnyCable restored from an earlier session (`?sid=`).
        restored: Vec<Identifier>,
    },
    /// A client asks to subscribe with an identifier that is a JSON object with a string `channel` (the last
    /// `channel` when the key repeats, as Ruby's JSON reads it); any other identifier is
    /// [`BadInput`](HubEvent::BadInput) with no reply, as Rails 6.1's `Subscriptions#add` fails on it. Answer with [`Hub::confirm`](super::Hub::confirm) or
    /// [`Hub::reject`](super::Hub::reject) (and [`Hub::stream_from`](super::Hub::stream_from)).
    SubscribeRequested {
        /// The connection.
        conn: ConnId,
        /// The identifier, unescaped (redacted in `Debug`).
        identifier: Identifier,
    },
    /// A subscribe for an identifier the connection already has: ignored (no second confirm), as Rails does.
    DuplicateSubscribe {
        /// The connection.
        conn: ConnId,
        /// The identifier (redacted in `Debug`).
        identifier: Identifier,
    },
    /// A client unsubscribed (never acknowledged on the wire).
    Unsubscribed {
        /// The connection.
        conn: ConnId,
        /// The identifier (redacted in `Debug`).
        identifier: Identifier,
    },
    /// A client performed an action (`message` command).
    Perform {
        /// The connection.
        conn: ConnId,
        /// The identifier (redacted in `Debug`).
        identifier: Identifier,
        /// The action; `None` means Rails' `receive`.
        action: Option<String>,
        /// The data object's JSON text (with `action` in it).
        data: String,
    },
    /// AnyCable whisper (relayed by the host if it wants to).
    Whisper {
        /// The connection.
        conn: ConnId,
        /// The identifier (redacted in `Debug`).
        identifier: Identifier,
        /// The data.
        data: RawJson,
    },
    /// AnyCable presence command (`join`, `leave` or `presence`), for the host to act on.
    Presence {
        /// The connection.
        conn: ConnId,
        /// The identifier (redacted in `Debug`).
        identifier: Identifier,
        /// `join`, `leave` or `presence` (an info request).
        command: &'static str,
        /// The `presence` payload of a `join`.
        presence: Option<RawJson>,
    },
    /// AnyCable history request (answered by the hub from its buffers).
    HistoryRequested {
        /// The connection.
        conn: ConnId,
        /// The identifier (redacted in `Debug`).
        identifier: Identifier,
        /// Whether it was served (false: `reject_history` was sent).
        served: bool,
    },
    /// Bad input (malformed JSON, unknown command, missing subscription, a subscribe identifier that is not a
    /// JSON object with a string `channel`, oversize frame): logged, no reply, the connection stays open, as
    /// Rails does.
    BadInput {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: String,
        /// The frame (hidden from `Debug`).
        frame: Secret<Frame>,
    },
    /// A stream got its first confirmed local subscriber: a broadcast to it now reaches someone (only with
    /// [`HubConfig::with_stream_events`](super::HubConfig::with_stream_events)). A host with a broker subscribes
    /// to it there. Kept (never dropped); each is followed by exactly one [`StreamStopped`](HubEvent::StreamStopped)
    /// for the stream before the next `StreamStarted` for it.
    ///
    /// It comes when a subscription that streams from it is confirmed ([`Hub::confirm`](super::Hub::confirm)),
    /// when a confirmed one starts streaming from it ([`Hub::stream_from`](super::Hub::stream_from)), or when an
    /// AnyCable session is restored (on the welcome).
    StreamStarted {
        /// The stream.
        stream: String,
    },
    /// The last confirmed local subscriber of a stream went (unsubscribe, reject, stop of the stream, close,
    /// disconnect): a host with a broker unsubscribes from it there. Kept (never dropped); only with
    /// [`HubConfig::with_stream_events`](super::HubConfig::with_stream_events). On a connection's close it comes
    /// before [`Closed`](HubEvent::Closed).
    StreamStopped {
        /// The stream.
        stream: String,
    },
    /// A connection closed.
    Closed {
        /// The connection.
        conn: ConnId,
        /// The close frame, if any.
        close: Option<Close>,
    },
}
