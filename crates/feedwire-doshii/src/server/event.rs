//! What the hub tells its host, and why a command was refused.

use feedwire_core::{ConnId, QueueFull};

use super::peer::Peer;
use crate::codec::{ClientMessage, DecodeError, Heartbeat, Stamp};

/// What the hub tells its host.
///
/// The queue is bounded by [`Limits::max_queued`](feedwire_core::Limits::max_queued): when the host stops
/// polling, new [`Ping`](HubEvent::Ping), [`Pong`](HubEvent::Pong), [`Message`](HubEvent::Message) and
/// [`Malformed`](HubEvent::Malformed) events are dropped and counted in
/// [`QueueStats::dropped_events`](feedwire_core::QueueStats::dropped_events); the connection events
/// ([`Opened`](HubEvent::Opened), [`Rejected`](HubEvent::Rejected), [`Closed`](HubEvent::Closed)) are always
/// kept.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HubEvent {
    /// A connection was accepted.
    Opened {
        /// The connection.
        conn: ConnId,
        /// Who it is.
        peer: Peer,
        /// How many backlogged events were replayed to it.
        replayed: usize,
    },
    /// A connection was refused (unknown path or bad credentials) and closed.
    Rejected {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: &'static str,
    },
    /// A client pinged (answered unless pongs are muted); a Primus ping comes as a heartbeat with its stamp
    /// only.
    Ping {
        /// The connection.
        conn: ConnId,
        /// The ping.
        heartbeat: Heartbeat,
    },
    /// A client answered a server ping or health check.
    Pong {
        /// The connection.
        conn: ConnId,
        /// The stamp.
        stamp: Stamp,
    },
    /// Any other message from a client.
    Message {
        /// The connection.
        conn: ConnId,
        /// The message.
        message: ClientMessage,
    },
    /// A frame from a client that could not be decoded.
    Malformed {
        /// The connection.
        conn: ConnId,
        /// Why.
        error: DecodeError,
    },
    /// A connection closed.
    Closed {
        /// The connection.
        conn: ConnId,
    },
}

/// Why a hub command was refused (nothing was queued and nothing changed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// The driver has not sent the frames already queued; retry after it drained
    /// [`poll_transmit`](feedwire_core::Hub::poll_transmit).
    #[error(transparent)]
    QueueFull(#[from] QueueFull),
}
