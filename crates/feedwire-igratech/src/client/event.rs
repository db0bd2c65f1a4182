//! What the client tells the application ([`Event`]), why a session ended ([`DisconnectReason`],
//! [`StopReason`]), and why a command was refused ([`CommandError`]).

use std::time::{Duration, Instant};

use feedwire_core::{Close, Frame, QueueFull, RawJson};

use crate::codec::{
    Balance, BetData, BetsResultData, IncidentData, Logout, Payload, Settings, StatsData, Status,
};

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The transport closed (`Some`: with a close frame) or could not be opened (`None`).
    Closed(Option<Close>),
    /// No pong came within the pong timeout; the client closed the connection.
    PongTimeout,
    /// [`Client::disconnect`](super::Client::disconnect) closed it.
    Requested,
    /// The server logged this client out (`logout`); the client closed the connection.
    LoggedOut,
}

/// Why the session stopped for good (until [`Client::connect`](super::Client::connect)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// [`Client::disconnect`](super::Client::disconnect).
    Requested,
    /// The server sent `logout`: this user logged in from another client. Reconnecting on our own would log
    /// that client out in turn, so the session stops.
    LoggedOut,
}

/// What the client tells the application.
///
/// Lifecycle: [`Event::Connected`] when the server greets a new connection, [`Event::Disconnected`] whenever
/// a connection that was up or being dialed ends (with the reason), then either [`Event::Reconnecting`] (the
/// next dial is scheduled, and [`Event::Gap`] follows when it opens) or [`Event::Stopped`] (no more dials
/// until [`Client::connect`](super::Client::connect)).
///
/// Queueing (core's [`Outbox`](feedwire_core::Outbox) policy): `Connected`, `Disconnected`, `Reconnecting`,
/// `Stopped`, `Gap` and `LoggedOut` are **kept** (always queued); the message events (`Settings`,
/// `Incident`, `Bet`, `BetsResult`, `Balance`, `Stats`, `Pong`, `Unknown`, `Mismatch`) and `Malformed` are
/// dropped, and counted in [`QueueStats::dropped_events`](feedwire_core::QueueStats::dropped_events), while
/// [`Limits::max_queued`](feedwire_core::Limits::max_queued) events wait unpolled.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// `publish-connected`: the server accepted the connection and says who we are. The transport opened
    /// just before ([`Client::is_open`](super::Client::is_open) is already true, the settings already sent).
    Connected {
        /// The `status` payload.
        status: Payload<Status>,
    },
    /// `publish-settings`: the settings the server applied.
    Settings(Payload<Settings>),
    /// `publish-incident`.
    Incident(Payload<IncidentData>),
    /// `publish-bet`.
    Bet(Payload<BetData>),
    /// `publish-bets-result`.
    BetsResult(Payload<BetsResultData>),
    /// `publish-balance`.
    Balance(Payload<Balance>),
    /// `publish-stats`.
    Stats(Payload<StatsData>),
    /// `publish-pong`: the connection is alive.
    Pong {
        /// The echoed ping value, when the payload fits `{"pong":<unix ms>}`.
        echoed_unix_ms: Option<u64>,
        /// Round trip time, when the echoed value is one of this client's pings.
        rtt: Option<Duration>,
    },
    /// `publish-logout`: this user logged in from another client. The client closes the connection and
    /// stops ([`Event::Disconnected`] and [`Event::Stopped`] follow); it does not reconnect until
    /// [`Client::connect`](super::Client::connect).
    LoggedOut(Payload<Logout>),
    /// A message on a channel this model does not know, kept raw.
    Unknown {
        /// The channel name.
        event: String,
        /// The payload (a slice of the frame).
        data: RawJson,
    },
    /// With [`Config::checked_payloads`](super::Config::checked_payloads): a known channel whose payload does
    /// not fit the typed model.
    Mismatch {
        /// The channel name.
        event: String,
        /// The payload (a slice of the frame).
        data: RawJson,
        /// Why it does not fit.
        reason: String,
    },
    /// A frame that is not an envelope, or is too large; the session goes on.
    Malformed {
        /// Why.
        error: String,
        /// The frame as received, cut to its first 256 bytes (on a character boundary).
        frame: Frame,
    },
    /// A connection that was up or being dialed ended.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
    },
    /// The client will dial again `after` this delay.
    Reconnecting {
        /// The backoff delay.
        after: Duration,
        /// Attempts since the last good connection, counting this one from 1.
        attempt: u32,
    },
    /// The session stopped for good: no dial until [`Client::connect`](super::Client::connect).
    Stopped {
        /// Why.
        reason: StopReason,
    },
    /// Reconnected: messages sent between `from` and `to` may have been missed.
    Gap {
        /// When the previous connection was lost.
        from: Instant,
        /// When the new connection opened.
        to: Instant,
        /// `from` as Unix time in milliseconds (from the config's anchor).
        from_unix_ms: u64,
        /// `to` as Unix time in milliseconds.
        to_unix_ms: u64,
    },
}

impl Event {
    /// Whether the event is one the application must not miss (queued even when the event queue is full).
    pub(crate) fn is_kept(&self) -> bool {
        matches!(
            self,
            Event::Connected { .. }
                | Event::Disconnected { .. }
                | Event::Reconnecting { .. }
                | Event::Stopped { .. }
                | Event::Gap { .. }
                | Event::LoggedOut(_)
        )
    }
}

/// Why a client command was refused. Nothing changed: the command can be retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// Too many frames wait for the driver; drain `poll_transmit` first.
    #[error(transparent)]
    QueueFull(#[from] QueueFull),
}
