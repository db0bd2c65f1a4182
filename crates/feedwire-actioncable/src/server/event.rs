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
/// [`QueueStats::dropped_events`](feedwire_core::QueueStats), except [`Opened`](HubEvent::Opened) and
/// [`Closed`](HubEvent::Closed), which are always queued. A dropped
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
    /// A client asks to subscribe: answer with [`Hub::confirm`](super::Hub::confirm) or
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
    /// Bad input (malformed JSON, unknown command, missing subscription, oversize frame): logged, no reply,
    /// the connection stays open, as Rails does.
    BadInput {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: String,
        /// The frame (hidden from `Debug`).
        frame: Secret<Frame>,
    },
    /// A connection closed.
    Closed {
        /// The connection.
        conn: ConnId,
        /// The close frame, if any.
        close: Option<Close>,
    },
}
