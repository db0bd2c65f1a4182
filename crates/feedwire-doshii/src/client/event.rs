//! What the session tells the application: [`Event`], why a connection ended or the session stopped, the
//! catch-up window, and the commands' errors.

use std::time::Duration;

use feedwire_core::{Close, Frame, RawJson};

use crate::codec::{self, DecodeError, Stamp};

/// The window of events a reconnected application may have missed, in epoch seconds, with the queries to
/// fetch them.
///
/// `from` is when the application last saw an event (or, if it never saw one, when the connection was lost);
/// `to` is when the new connection opened. Seconds are rounded outwards (`from` down, `to` up) so the window
/// covers the milliseconds. Doshii replays up to 10 minutes of events on its own after a reconnect; the
/// window is what to ask `GET /partner/v3/orders` (and `GET /checkins`) for when the gap may be longer, or to
/// be sure.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CatchUp {
    /// Start of the window, Unix seconds (rounded down).
    pub from: u64,
    /// End of the window, Unix seconds (rounded up).
    pub to: u64,
    /// Start of the window, Unix milliseconds.
    pub from_ms: u64,
    /// End of the window, Unix milliseconds.
    pub to_ms: u64,
    /// Whether `from` is the last event seen (`true`) or the time the connection was lost (`false`).
    pub from_last_event: bool,
    /// `/partner/v3/orders?from=<from>&to=<to>`: orders created in the window.
    pub orders_query: String,
    /// `/partner/v3/orders?updatedFrom=<from>&updatedTo=<to>`: orders updated in the window.
    pub orders_updated_query: String,
    /// `/partner/v3/checkins?from=<from>&to=<to>`.
    pub checkins_query: String,
}

impl CatchUp {
    /// The window from `from_ms` to `to_ms` (Unix milliseconds; `to_ms` is raised to `from_ms` if earlier).
    ///
    /// ```
    /// use feedwire_doshii::client::CatchUp;
    /// let c = CatchUp::new(1_700_000_005_250, 1_700_000_023_500, true);
    /// assert_eq!((c.from, c.to), (1_700_000_005, 1_700_000_024));
    /// assert_eq!(c.orders_query, "/partner/v3/orders?from=1700000005&to=1700000024");
    /// assert_eq!(c.orders_updated_query, "/partner/v3/orders?updatedFrom=1700000005&updatedTo=1700000024");
    /// ```
    pub fn new(from_ms: u64, to_ms: u64, from_last_event: bool) -> CatchUp {
        let to_ms = to_ms.max(from_ms);
        let from = from_ms / 1000;
        let to = to_ms.div_ceil(1000);
        CatchUp {
            from,
            to,
            from_ms,
            to_ms,
            from_last_event,
            orders_query: format!("/partner/v3/orders?from={from}&to={to}"),
            orders_updated_query: format!("/partner/v3/orders?updatedFrom={from}&updatedTo={to}"),
            checkins_query: format!("/partner/v3/checkins?from={from}&to={to}"),
        }
    }

    /// Whether part of the window is older than the 10 minutes Doshii replays on its own.
    pub fn exceeds_replay(&self) -> bool {
        self.to_ms.saturating_sub(self.from_ms) > 10 * 60 * 1000
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The transport closed (`Some`: with a close frame) or the dial failed.
    Closed(Option<Close>),
    /// No pong within the pong timeout: the session closed the connection.
    PongTimeout,
    /// The server sent `"primus::server::close"`.
    ServerClose,
    /// The application called [`Client::disconnect`](super::Client::disconnect).
    Requested,
}

/// Why the session stopped for good: it dials again only when the application calls
/// [`Client::connect`](super::Client::connect).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The application called [`Client::disconnect`](super::Client::disconnect).
    Requested,
    /// The server sent `"primus::server::close"`: it closed on purpose and wants no reconnect.
    ServerClose,
}

/// What the session tells the application.
///
/// The queue of events is bounded by [`Limits::max_queued`](feedwire_core::Limits::max_queued): when the
/// application stops polling, new message events ([`Doshii`](Event::Doshii), [`Pong`](Event::Pong),
/// [`ServerPing`](Event::ServerPing), [`Unknown`](Event::Unknown), [`Malformed`](Event::Malformed)) are
/// dropped and counted in [`QueueStats::dropped_events`](feedwire_core::QueueStats::dropped_events). The
/// lifecycle events and the catch-up window are always kept: [`Connected`](Event::Connected),
/// [`CatchUp`](Event::CatchUp), [`Disconnected`](Event::Disconnected), [`Reconnecting`](Event::Reconnecting)
/// and [`Stopped`](Event::Stopped).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The connection is open and the handshake ping went out (Doshii's handshake is the open itself).
    Connected {
        /// Whether an earlier connection of this session was open before (then [`Event::CatchUp`] follows).
        reconnect: bool,
    },
    /// After a reconnect: the window of events to fetch with GET requests.
    CatchUp(CatchUp),
    /// A Doshii event (`order_updated`, ...), payload unparsed.
    Doshii(codec::Event),
    /// A pong arrived for our ping.
    Pong {
        /// The stamp it carries.
        stamp: Stamp,
        /// The server's version, when it sent one.
        version: Option<String>,
    },
    /// The server pinged (`{"doshii":{"ping":..}}`, `"primus::ping::.."` or a `health_check` event); the pong
    /// is already queued.
    ServerPing {
        /// The stamp, echoed in the pong.
        stamp: Stamp,
    },
    /// Valid JSON the codec does not know, kept whole.
    Unknown(RawJson),
    /// A frame that could not be decoded; the session goes on.
    Malformed {
        /// Why.
        error: DecodeError,
        /// The frame as received, cut to its first 256 bytes (at a character boundary) when longer.
        frame: Frame,
    },
    /// The connection ended (lost, refused, timed out, or closed by the session).
    Disconnected {
        /// Why.
        reason: DisconnectReason,
    },
    /// A new connection will be dialled after `after`.
    Reconnecting {
        /// The backoff delay.
        after: Duration,
        /// Reconnect attempts since the last working connection (1 for the first).
        attempt: u32,
    },
    /// The session stopped for good: no reconnect until [`Client::connect`](super::Client::connect).
    Stopped {
        /// Why.
        reason: StopReason,
    },
}

/// Errors of the application commands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The role has no token to replace.
    #[error("this role has no token (only POS and vendor roles do)")]
    NoToken,
}
