//! The contracts every protocol implements.

use std::fmt;
use std::time::Instant;

use crate::close::Close;
use crate::frame::Frame;
use crate::transmit::{HubTransmit, OpenRequest, Transmit};

/// A client protocol session: a pure state machine that a driver feeds with transport happenings and time,
/// and polls for what to send, what happened, and when to wake it next.
///
/// The session owns the connection policy: it asks to connect ([`Transmit::Connect`]), classifies closes,
/// backs off, re-authorizes and resubscribes. The driver decides nothing.
///
/// # Driving a session
///
/// After any `handle_*` call or application command, drain [`poll_transmit`](Session::poll_transmit) until
/// `None`, then [`poll_event`](Session::poll_event) until `None`, then wait for a frame, a close, or the instant
/// [`poll_timeout`](Session::poll_timeout) returns, whichever comes first, and call the matching `handle_*`.
///
/// Application commands (`subscribe`, `perform`, `disconnect`, ...) are plain methods of the concrete session.
pub trait Session {
    /// What the session tells the application.
    type Event;

    /// The transport is up; `subprotocol` is the one the server agreed to, if any.
    fn handle_open(&mut self, now: Instant, subprotocol: Option<&str>);

    /// One text frame arrived.
    fn handle_frame(&mut self, now: Instant, frame: Frame);

    /// The connection closed (`Some`: a close frame arrived) or failed or could not be opened (`None`).
    fn handle_close(&mut self, now: Instant, close: Option<Close>);

    /// A deadline may have passed. Calls before the deadline are harmless no-ops.
    fn handle_timeout(&mut self, now: Instant);

    /// The next thing to do on the transport.
    #[must_use]
    fn poll_transmit(&mut self) -> Option<Transmit>;

    /// The next event for the application.
    #[must_use]
    fn poll_event(&mut self) -> Option<Self::Event>;

    /// When [`handle_timeout`](Session::handle_timeout) should next be called; `None` when nothing is scheduled.
    #[must_use]
    fn poll_timeout(&self) -> Option<Instant>;
}

/// Identifies one connection of a [`Hub`]. The driver allocates them; a value is never reused while the
/// connection it names is open.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ConnId(pub u64);

impl fmt::Debug for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A server protocol hub: the same idea as [`Session`], for many connections keyed by [`ConnId`].
///
/// Broadcasts (`publish`, `broadcast`, ...) are plain methods of the concrete hub. A frame broadcast to N
/// connections is encoded once: every [`HubTransmit::Send`] shares one buffer.
pub trait Hub {
    /// What the hub tells its host.
    type Event;

    /// Chooses a subprotocol among those a client offered, during the WebSocket handshake. The default
    /// accepts none.
    fn select_subprotocol(&self, offered: &[String]) -> Option<String> {
        let _ = offered;
        None
    }

    /// A connection opened.
    fn handle_open(&mut self, now: Instant, conn: ConnId, request: &OpenRequest);

    /// A text frame arrived on `conn`.
    fn handle_frame(&mut self, now: Instant, conn: ConnId, frame: Frame);

    /// `conn` closed (`Some`: a close frame arrived) or failed (`None`).
    fn handle_close(&mut self, now: Instant, conn: ConnId, close: Option<Close>);

    /// A deadline may have passed. Calls before the deadline are harmless no-ops.
    fn handle_timeout(&mut self, now: Instant);

    /// The host is shutting down gracefully: queue what the protocol says to clients before a planned
    /// restart (Pusher's `pusher:error` 4200 "reconnect now", ActionCable's `disconnect` with `server_restart`
    /// and `reconnect: true`) and close every connection (a `HubTransmit::Close` each). The host then waits
    /// for the connections to close, up to a deadline of its own, and closes what is left with 1001. The
    /// default does nothing: the host's 1001 closes are all clients see.
    fn handle_shutdown(&mut self, now: Instant) {
        let _ = now;
    }

    /// The next thing to do on one connection.
    #[must_use]
    fn poll_transmit(&mut self) -> Option<(ConnId, HubTransmit)>;

    /// The next event for the host.
    #[must_use]
    fn poll_event(&mut self) -> Option<Self::Event>;

    /// When [`handle_timeout`](Hub::handle_timeout) should next be called.
    #[must_use]
    fn poll_timeout(&self) -> Option<Instant>;
}
