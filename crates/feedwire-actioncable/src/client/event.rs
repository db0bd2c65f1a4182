//! What the client tells the application, and why its commands fail.

use std::time::Duration;

use feedwire_core::{Close, Frame, QueueFull, RawJson, Secret};

use crate::codec::DecodeError;
use crate::identifier::Identifier;

/// A local subscription handle. Several handles may share one identifier (and one server subscription).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(pub u64);

/// Why a command was refused. Nothing changed and nothing was queued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// No welcome on an open connection yet (or the session is stopped).
    #[error("not connected")]
    NotConnected,
    /// No local subscription has this identifier or handle.
    #[error("no such subscription")]
    NotSubscribed,
    /// `perform` data must serialize to a JSON object.
    #[error("data must be a JSON object")]
    DataNotAnObject,
    /// The data could not be serialized.
    #[error("data cannot be serialized: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The command needs the AnyCable extended protocol, which this connection does not speak.
    #[error("needs the AnyCable extended protocol")]
    NeedsExtProtocol,
    /// The driver has not sent the frames already queued: retry after draining `poll_transmit`.
    #[error(transparent)]
    QueueFull(#[from] QueueFull),
}

/// Why the connection went down.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// No frame for the stale threshold.
    Stale {
        /// How long the connection was silent.
        silent_for: Duration,
    },
    /// The transport closed (with the close frame, if any) or could not be opened.
    Closed(Option<Close>),
    /// The server sent `disconnect`.
    ServerDisconnect {
        /// Its reason.
        reason: Option<String>,
        /// Its `reconnect` flag as sent.
        reconnect: Option<bool>,
    },
}

/// Why the session stopped for good (no reconnect until [`connect`](super::Client::connect) is called).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The server picked `actioncable-unsupported`, a protocol that was not offered, or none when one is required.
    UnsupportedSubprotocol(Option<String>),
    /// The server sent `disconnect` without permission to reconnect.
    ServerDisconnect {
        /// Its reason.
        reason: Option<String>,
    },
    /// The application called [`disconnect`](super::Client::disconnect).
    Requested,
}

/// What the client tells the application.
///
/// Events are queued in a bounded queue ([`Limits::max_queued`](feedwire_core::Limits)). When the application
/// stops polling and the queue is full, new events are dropped and counted in
/// [`QueueStats::dropped_events`](feedwire_core::QueueStats), except the events it must not miss, which are
/// always queued: [`Connected`](Event::Connected) (the first welcome of a connection),
/// [`Disconnected`](Event::Disconnected), [`Reconnecting`](Event::Reconnecting), [`Stopped`](Event::Stopped),
/// [`Recovered`](Event::Recovered), [`Rejected`](Event::Rejected),
/// [`ConfirmationTimedOut`](Event::ConfirmationTimedOut) and [`HistoryGap`](Event::HistoryGap) (for a history
/// request the client made). Broadcasts, presence, confirmations and the reports of odd frames may be dropped.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// `welcome` arrived: the connection is open.
    Connected {
        /// Whether this follows an earlier connection.
        reconnected: bool,
        /// AnyCable session id.
        sid: Option<String>,
        /// Whether AnyCable restored the previous session.
        restored: bool,
    },
    /// The server confirmed (or AnyCable restored) a subscription.
    Confirmed {
        /// The subscription.
        identifier: Identifier,
        /// Whether it had been confirmed before (a resubscription after a reconnect).
        reconnected: bool,
        /// Whether AnyCable restored it without a new subscribe.
        restored: bool,
    },
    /// The server rejected a subscription; it is forgotten (no retry), with every local handle.
    Rejected {
        /// The subscription.
        identifier: Identifier,
        /// Whether it had been confirmed before (the server refused a resubscription after a reconnect).
        reconnected: bool,
    },
    /// Neither confirm nor reject came after every retry. The subscription stays wanted and is sent again after
    /// the next reconnect.
    ConfirmationTimedOut {
        /// The subscription.
        identifier: Identifier,
        /// How many subscribes were sent.
        attempts: u32,
    },
    /// A broadcast.
    Message {
        /// The subscription.
        identifier: Identifier,
        /// The payload, a zero-copy slice of the frame.
        message: RawJson,
        /// AnyCable stream offset.
        offset: Option<u64>,
    },
    /// AnyCable presence.
    Presence {
        /// The subscription.
        identifier: Identifier,
        /// The presence payload.
        message: RawJson,
    },
    /// AnyCable replayed the history asked for.
    HistoryConfirmed {
        /// The subscription.
        identifier: Identifier,
    },
    /// AnyCable could not replay the history: messages were lost; the application must catch up itself.
    HistoryGap {
        /// The subscription.
        identifier: Identifier,
    },
    /// The connection was lost or closed. [`Reconnecting`](Event::Reconnecting) or
    /// [`Stopped`](Event::Stopped) follows.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
    },
    /// The next dial is scheduled.
    Reconnecting {
        /// How long until it.
        after: Duration,
    },
    /// A reconnect finished: every wanted subscription is confirmed (or timed out).
    Recovered {
        /// From losing the connection to now.
        outage: Duration,
        /// Each subscription that was down, and for how long.
        subscriptions: Vec<(Identifier, Duration)>,
        /// Subscriptions still not confirmed (timed out).
        still_down: Vec<Identifier>,
    },
    /// The session stopped for good: it dials again only when [`connect`](super::Client::connect) is called.
    Stopped {
        /// Why.
        reason: StopReason,
    },
    /// A frame for an identifier the client has no subscription for.
    Unmatched {
        /// The whole frame (hidden from `Debug`: identifiers can hold API keys).
        frame: Secret<Frame>,
    },
    /// A frame of unknown `type` (kept, as @rails/actioncable passes it on).
    Unknown {
        /// The whole frame (hidden from `Debug`).
        frame: Secret<Frame>,
    },
    /// A malformed or oversize frame; the session goes on.
    Malformed {
        /// Why.
        error: DecodeError,
        /// The frame's first 256 bytes at most (hidden from `Debug`).
        frame: Secret<Frame>,
    },
}

/// The queues keep their bounds: events that are never kept within `max_queued`, frames within twice that
/// (commands up to the bound, the session's own frames up to twice it), and every queued frame a valid
/// command.
#[cfg(feature = "fuzzing")]
pub(super) fn check_queues(out: &feedwire_core::Outbox<Event>) -> Result<(), String> {
    use crate::codec::ClientMessage;
    use feedwire_core::Transmit;
    let max = out.max_queued();
    let droppable = out
        .events()
        .filter(|e| {
            matches!(
                e,
                Event::Message { .. }
                    | Event::Presence { .. }
                    | Event::Confirmed { .. }
                    | Event::HistoryConfirmed { .. }
                    | Event::Unmatched { .. }
                    | Event::Unknown { .. }
                    | Event::Malformed { .. }
            )
        })
        .count();
    if droppable > max {
        return Err(format!("{droppable} droppable events queued, bound {max}"));
    }
    let sends: Vec<&Frame> = out
        .transmits()
        .filter_map(|t| match t {
            Transmit::Send(f) => Some(f),
            _ => None,
        })
        .collect();
    if sends.len() > 2 * max {
        return Err(format!("{} frames queued, bound {}", sends.len(), 2 * max));
    }
    if let Some(f) = sends.iter().find(|f| ClientMessage::decode(f).is_err()) {
        return Err(format!("an invalid command is queued: {} bytes", f.len()));
    }
    Ok(())
}

/// How much of a malformed frame an [`Event::Malformed`] keeps.
pub(super) const MALFORMED_KEEP: usize = Frame::MALFORMED_KEEP;

/// `frame` cut to at most [`MALFORMED_KEEP`] bytes, on a character boundary (no copy).
pub(super) fn cut(frame: &Frame) -> Frame {
    frame.truncated(MALFORMED_KEEP)
}
