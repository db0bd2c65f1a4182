//! What the hub tells its host ([`HubEvent`]), and why a hub command was refused ([`HubError`]).

use feedwire_core::{ConnId, Frame, QueueFull, RawJson};

use crate::codec::Settings;

/// What the hub tells its host.
///
/// Queueing (core's [`HubOutbox`](feedwire_core::HubOutbox) policy): `Opened`, `LoggedOut` and `Closed` are
/// **kept** (always queued); the others are dropped, and counted, while
/// [`Limits::max_queued`](feedwire_core::Limits::max_queued) events wait unpolled.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HubEvent {
    /// A connection opened and was logged in as `user`.
    Opened {
        /// The connection.
        conn: ConnId,
        /// The user.
        user: String,
    },
    /// A connection was logged out (`logout` sent, then closed).
    LoggedOut {
        /// The connection logged out.
        conn: ConnId,
        /// Its user.
        user: String,
        /// The connection that logged in as the same user, if that was the cause.
        by: Option<ConnId>,
    },
    /// A connection sent settings, now applied.
    Settings {
        /// The connection.
        conn: ConnId,
        /// The settings.
        settings: Settings,
    },
    /// A connection pinged.
    Ping {
        /// The connection.
        conn: ConnId,
        /// The ping value.
        unix_ms: u64,
    },
    /// A message on a channel the hub does not handle.
    Unknown {
        /// The connection.
        conn: ConnId,
        /// The channel.
        event: String,
        /// The payload.
        data: RawJson,
    },
    /// A frame that is not an envelope, too large, or with a payload that does not fit.
    Malformed {
        /// The connection.
        conn: ConnId,
        /// Why.
        error: String,
        /// The frame as received, cut to its first 256 bytes (on a character boundary).
        frame: Frame,
    },
    /// A connection closed.
    Closed {
        /// The connection.
        conn: ConnId,
        /// Its user.
        user: String,
    },
}

impl HubEvent {
    /// Whether the host must not miss the event (queued even when the event queue is full).
    pub(crate) fn is_kept(&self) -> bool {
        matches!(
            self,
            HubEvent::Opened { .. } | HubEvent::LoggedOut { .. } | HubEvent::Closed { .. }
        )
    }
}

/// Why a hub command was refused. Nothing changed: the command can be retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// Too many frames wait for the driver; drain `poll_transmit` first.
    #[error(transparent)]
    QueueFull(#[from] QueueFull),
}
