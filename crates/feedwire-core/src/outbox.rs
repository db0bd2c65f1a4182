//! The bounded queues every session and hub keeps: what to send, and what to tell the application.

use std::collections::VecDeque;

use crate::limits::Limits;
use crate::session::ConnId;
use crate::transmit::{HubTransmit, Transmit};

/// A command was refused because the driver has not yet polled the frames already queued.
///
/// Nothing was queued and nothing changed: the command can be retried after the driver drained
/// `poll_transmit`. A driver that drains after every call, as the [`Session`](crate::Session) contract asks,
/// never sees it; an application that issues thousands of commands between two polls does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("outgoing queue full: {queued} frames are waiting for the driver to send them")]
pub struct QueueFull {
    /// How many items were queued when the command was refused.
    pub queued: usize,
}

/// What a session's or hub's queues hold and have dropped: `queue_stats()` on every client and hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct QueueStats {
    /// Transmits waiting for the driver.
    pub queued_transmits: usize,
    /// Events waiting for the application.
    pub queued_events: usize,
    /// Events dropped because the application did not poll them in time.
    pub dropped_events: u64,
    /// The session's own frames dropped because the driver did not drain the queue.
    pub dropped_transmits: u64,
}

/// The outgoing queue (transmits) and the event queue of one session or hub, bounded by
/// [`Limits::max_queued`], with one policy for every protocol:
///
/// - **Connects and closes are never dropped**, whatever the queue holds: the driver must always learn that
///   a connection is to be opened or closed.
/// - **Application commands are refused, not lost.** A command first asks [`check_room`](Outbox::check_room);
///   when `max_queued` items are already waiting it returns [`QueueFull`] and the command fails with nothing
///   changed. A command that passes queues all of its frames ([`push_transmit`](Outbox::push_transmit)), a hub's
///   broadcast one per subscriber, so one command may take the queue past the bound.
/// - **Frames the session sends on its own** (pongs, resubscribes, replies to a peer's frame) go through
///   [`push_reply`](Outbox::push_reply): they are queued while fewer than twice `max_queued` items wait. Past
///   that the driver is not draining at all, as the contract requires after every call; the frame is dropped
///   and counted in [`dropped_transmits`](Outbox::dropped_transmits), so memory stays bounded whatever a peer
///   sends.
/// - **Events**: [`push_event`](Outbox::push_event) drops the *new* event when `max_queued` events wait (the
///   application stopped polling) and counts it in [`dropped_events`](Outbox::dropped_events); events the
///   application must not miss (the session stopped, a reconnect and what to catch up on) go through
///   [`push_event_kept`](Outbox::push_event_kept) and are always queued. Each protocol's docs say which of its
///   events are kept.
///
/// `T` is [`Transmit`] for client sessions and `(ConnId, HubTransmit)` for hubs ([`HubOutbox`]).
///
/// ```
/// use feedwire_core::{Close, Frame, Limits, Outbox, Transmit};
///
/// let mut out: Outbox<&str> = Outbox::new(&Limits::default().with_max_queued(1));
/// out.check_room().unwrap();
/// out.push_transmit(Transmit::Send(Frame::from("subscribe")));
/// assert!(out.check_room().is_err()); // a second command waits for the driver
/// out.push_transmit(Transmit::Close(Close::normal())); // closes are never refused
/// assert!(out.push_event("first"));
/// assert!(!out.push_event("second")); // the application is not polling: dropped, counted
/// out.push_event_kept("stopped");
/// assert_eq!((out.queued_transmits(), out.queued_events(), out.dropped_events()), (2, 2, 1));
/// assert!(out.poll_transmit().is_some());
/// assert_eq!(out.poll_event(), Some("first"));
/// ```
#[derive(Debug, Clone)]
pub struct Outbox<E, T = Transmit> {
    transmits: VecDeque<T>,
    events: VecDeque<E>,
    max_queued: usize,
    dropped_events: u64,
    dropped_transmits: u64,
}

/// The outbox of a hub: transmits are addressed to one connection each.
pub type HubOutbox<E> = Outbox<E, (ConnId, HubTransmit)>;

impl<E, T> Outbox<E, T> {
    /// Empty queues bounded by `limits.max_queued` (at least 1).
    pub fn new(limits: &Limits) -> Self {
        Outbox {
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            max_queued: limits.max_queued.max(1),
            dropped_events: 0,
            dropped_transmits: 0,
        }
    }

    /// The bound in force.
    pub fn max_queued(&self) -> usize {
        self.max_queued
    }

    /// Changes the bound (at least 1); what is queued stays.
    pub fn set_max_queued(&mut self, max_queued: usize) {
        self.max_queued = max_queued.max(1);
    }

    /// Whether an application command may queue frames now.
    pub fn check_room(&self) -> Result<(), QueueFull> {
        if self.transmits.len() >= self.max_queued {
            Err(QueueFull {
                queued: self.transmits.len(),
            })
        } else {
            Ok(())
        }
    }

    /// Queues a connect, a close, or a frame of a command that passed [`check_room`](Outbox::check_room).
    /// Never drops.
    pub fn push_transmit(&mut self, t: T) {
        self.transmits.push_back(t);
    }

    /// Queues a frame the session sends on its own; `false` (and counted) when twice the bound is already
    /// waiting, which only a driver that does not drain can cause.
    pub fn push_reply(&mut self, t: T) -> bool {
        if self.transmits.len() >= self.max_queued.saturating_mul(2) {
            self.dropped_transmits = self.dropped_transmits.saturating_add(1);
            return false;
        }
        self.transmits.push_back(t);
        true
    }

    /// Queues an event; `false` (and counted) when the bound is reached.
    pub fn push_event(&mut self, e: E) -> bool {
        if self.events.len() >= self.max_queued {
            self.dropped_events = self.dropped_events.saturating_add(1);
            return false;
        }
        self.events.push_back(e);
        true
    }

    /// Queues an event the application must not miss. Never drops.
    pub fn push_event_kept(&mut self, e: E) {
        self.events.push_back(e);
    }

    /// The next transmit, for [`Session::poll_transmit`](crate::Session::poll_transmit).
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<T> {
        self.transmits.pop_front()
    }

    /// The next event, for [`Session::poll_event`](crate::Session::poll_event).
    #[must_use]
    pub fn poll_event(&mut self) -> Option<E> {
        self.events.pop_front()
    }

    /// Transmits waiting for the driver.
    pub fn queued_transmits(&self) -> usize {
        self.transmits.len()
    }

    /// Events waiting for the application.
    pub fn queued_events(&self) -> usize {
        self.events.len()
    }

    /// Events dropped because the application did not poll them in time.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// The session's own frames dropped because the driver did not drain the queue.
    pub fn dropped_transmits(&self) -> u64 {
        self.dropped_transmits
    }

    /// All the counters at once.
    pub fn stats(&self) -> QueueStats {
        QueueStats {
            queued_transmits: self.transmits.len(),
            queued_events: self.events.len(),
            dropped_events: self.dropped_events,
            dropped_transmits: self.dropped_transmits,
        }
    }

    /// Keeps only the transmits `keep` accepts (a session forgetting the frames of a connection it closed).
    pub fn retain_transmits(&mut self, keep: impl FnMut(&T) -> bool) {
        self.transmits.retain(keep);
    }

    /// The waiting transmits, oldest first.
    pub fn transmits(&self) -> impl ExactSizeIterator<Item = &T> {
        self.transmits.iter()
    }

    /// The waiting events, oldest first.
    pub fn events(&self) -> impl ExactSizeIterator<Item = &E> {
        self.events.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Close, Frame};

    fn frame(s: &'static str) -> Transmit {
        Transmit::Send(Frame::from(s))
    }

    #[test]
    fn commands_are_refused_at_the_bound_and_closes_never() {
        let mut out: Outbox<u32> = Outbox::new(&Limits::default().with_max_queued(2));
        for _ in 0..2 {
            out.check_room().unwrap();
            out.push_transmit(frame("cmd"));
        }
        assert_eq!(out.check_room(), Err(QueueFull { queued: 2 }));
        out.push_transmit(Transmit::Close(Close::normal()));
        assert_eq!(out.queued_transmits(), 3);
        assert_eq!(out.dropped_transmits(), 0);
    }

    #[test]
    fn replies_have_twice_the_room_then_are_counted() {
        let mut out: Outbox<u32> = Outbox::new(&Limits::default().with_max_queued(2));
        assert!((0..4).all(|_| out.push_reply(frame("pong"))));
        assert!(!out.push_reply(frame("pong")));
        assert_eq!((out.queued_transmits(), out.dropped_transmits()), (4, 1));
        let _ = out.poll_transmit();
        assert!(out.push_reply(frame("pong")));
    }

    #[test]
    fn events_drop_the_newest_unless_kept() {
        let mut out: Outbox<u32, Transmit> = Outbox::new(&Limits::default().with_max_queued(1));
        assert!(out.push_event(1));
        assert!(!out.push_event(2));
        out.push_event_kept(3);
        assert_eq!(out.dropped_events(), 1);
        assert_eq!(out.events().copied().collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(out.poll_event(), Some(1));
        assert_eq!(out.poll_event(), Some(3));
        assert_eq!(out.poll_event(), None);
    }

    #[test]
    fn zero_bound_means_one() {
        let mut out: HubOutbox<()> = Outbox::new(&Limits::default().with_max_queued(0));
        assert_eq!(out.max_queued(), 1);
        out.check_room().unwrap();
        out.push_transmit((ConnId(1), HubTransmit::Close(Close::normal())));
        assert!(out.check_room().is_err());
        out.retain_transmits(|(c, _)| *c != ConnId(1));
        assert!(out.check_room().is_ok());
    }
}
