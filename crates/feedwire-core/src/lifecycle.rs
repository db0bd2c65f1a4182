//! The one lifecycle every feedwire client follows.

use std::time::Instant;

use crate::session::Session;

/// Starting, stopping and observing a client [`Session`]: the same four calls on every protocol's client,
/// so that a driver (or a CLI on Ctrl-C) can run and close any of them without knowing the protocol.
///
/// # The lifecycle
///
/// ```text
///   new(config) ──connect(now)──▶ connecting ──handshake──▶ open
///        ▲                          ▲    │                   │
///        │                          │    └── close / error ──┤ (the session backs off and dials again)
///        │                          └────────────────────────┘
///        └── connect(now) ◀── stopped ◀── disconnect(now), or a close the protocol calls final
/// ```
///
/// - **Construction never dials.** `Client::new(config)` only prepares: the first deadline of a connection
///   attempt (the handshake timeout) needs `now`, which a sans-IO session never reads from a clock, and an
///   application may queue its subscriptions before the first dial so that they go out in the handshake's
///   wake. The drivers of `feedwire-tungstenite` call [`connect`](Lifecycle::connect) themselves when they
///   start, so `Connection::new(Client::new(config))` is all an application writes; sans-IO users (tests, the
///   in-memory `Pair`) call it.
/// - [`connect`](Lifecycle::connect) asks for a connection now. It is a no-op while the session is already
///   connecting or open, and starts a stopped session again (clearing its backoff).
/// - [`disconnect`](Lifecycle::disconnect) ends the session gracefully: what the protocol says on leaving is
///   sent, the connection is closed with 1000, no reconnect is scheduled, and the session reports that it
///   stopped through its own event. Afterwards [`is_stopped`](Lifecycle::is_stopped) is true.
/// - [`is_open`](Lifecycle::is_open) is true from the protocol's handshake (Pusher's
///   `connection_established`, ActionCable's `welcome`, Doshii's open, Igratech's open) until the connection
///   closes: commands sent now reach the server at once.
/// - [`is_stopped`](Lifecycle::is_stopped) is true when the session will not dial again by itself: before the
///   first `connect`, after `disconnect`, and after a close the protocol calls final (an unknown Pusher app
///   key, an ActionCable `unauthorized`, an Igratech logout). A driver ends its event stream once the session
///   is stopped and has nothing left to poll.
pub trait Lifecycle: Session {
    /// Starts connecting; a no-op while connecting or open. A stopped session starts again.
    fn connect(&mut self, now: Instant);

    /// Closes gracefully and stops: no reconnect until [`connect`](Lifecycle::connect) is called again.
    fn disconnect(&mut self, now: Instant);

    /// Whether the protocol's handshake completed on the current connection.
    #[must_use]
    fn is_open(&self) -> bool;

    /// Whether the session stopped and will not dial again by itself.
    #[must_use]
    fn is_stopped(&self) -> bool;
}

/// Implements [`Lifecycle`] for a client type by forwarding each call to the type's inherent method of the same
/// name (`connect`, `disconnect`, `is_open`, `is_stopped`), so that the inherent methods stay callable without
/// importing the trait and the trait impl cannot drift from them.
///
/// A generic type is named after `impl` and its parameters, as in an `impl` block:
///
/// ```
/// # use std::time::Instant;
/// # use feedwire_core::{Session, Transmit, Frame, Close};
/// # trait Flavour {}
/// struct Client<F: Flavour> {
///     open: bool,
///     # _f: std::marker::PhantomData<F>,
/// }
/// impl<F: Flavour> Client<F> {
///     pub fn connect(&mut self, _now: Instant) { self.open = true; }
///     pub fn disconnect(&mut self, _now: Instant) { self.open = false; }
///     pub fn is_open(&self) -> bool { self.open }
///     pub fn is_stopped(&self) -> bool { !self.open }
/// }
/// # impl<F: Flavour> Session for Client<F> {
/// #     type Event = ();
/// #     fn handle_open(&mut self, _: Instant, _: Option<&str>) {}
/// #     fn handle_frame(&mut self, _: Instant, _: Frame) {}
/// #     fn handle_close(&mut self, _: Instant, _: Option<Close>) {}
/// #     fn handle_timeout(&mut self, _: Instant) {}
/// #     fn poll_transmit(&mut self) -> Option<Transmit> { None }
/// #     fn poll_event(&mut self) -> Option<()> { None }
/// #     fn poll_timeout(&self) -> Option<Instant> { None }
/// # }
/// feedwire_core::forward_lifecycle!(impl<F: Flavour> Client<F>);
/// ```
///
/// A plain type is named alone: `feedwire_core::forward_lifecycle!(Client);`.
#[macro_export]
macro_rules! forward_lifecycle {
    (impl<$($param:ident: $bound:path),*> $client:ty) => {
        impl<$($param: $bound),*> $crate::Lifecycle for $client {
            fn connect(&mut self, now: ::std::time::Instant) {
                <$client>::connect(self, now);
            }

            fn disconnect(&mut self, now: ::std::time::Instant) {
                <$client>::disconnect(self, now);
            }

            fn is_open(&self) -> bool {
                <$client>::is_open(self)
            }

            fn is_stopped(&self) -> bool {
                <$client>::is_stopped(self)
            }
        }
    };
    ($client:ty) => {
        $crate::forward_lifecycle!(impl<> $client);
    };
}
