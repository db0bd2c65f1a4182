//! The Doshii client session: connects, keeps the heartbeat, answers server pings, reconnects with backoff
//! and tells the application which window of events to fetch after a reconnect.
//!
//! # Behaviour
//!
//! - [`Client::new`] never dials: [`Client::connect`] starts the session (the [`Lifecycle`](feedwire_core::Lifecycle) of every feedwire
//!   client). [`Client::disconnect`] closes the connection and stops; `connect` starts it again.
//! - On open, a ping `{"doshii":{"ping":<unix ms>,"version":..}}` goes out at once (it completes Doshii's
//!   handshake), then one every [`Config::heartbeat_interval`] (30 s).
//! - A ping whose pong does not arrive within [`Config::pong_timeout`] means the connection is dead: the session
//!   closes it ([`Transmit::Close`]) and reconnects with backoff.
//! - Server pings (`{"doshii":{"ping":..}}`, `"primus::ping::<ms>"`) and POS `health_check` events are answered
//!   with a pong carrying the same timestamp.
//! - `"primus::server::close"` stops the session ([`StopReason::ServerClose`]): no reconnect. Every other
//!   close (with or without a close frame, refused dials included) reconnects after a backoff delay.
//! - After a reconnect (and after `connect` restarts a session that was open before), [`Event::CatchUp`] gives
//!   the window of events that may have been missed, in epoch seconds, with the ready-made
//!   `GET /partner/v3/orders` queries. Doshii itself replays up to 10 minutes of events on reconnect; the
//!   window covers whatever is older.
//! - The queues follow [`feedwire_core::Outbox`]: dials and closes are never dropped, the session's own pings
//!   and pongs are bounded, and [`Event`] says which events are kept when the application does not poll.
//!
//! Every timestamp is derived from the [`UnixAnchor`](feedwire_core::UnixAnchor) given in the [`Config`] and
//! the `Instant`s the driver passes in: the session never reads a clock.

mod config;
mod event;

pub use config::{Config, Environment, Role};
pub use event::{CatchUp, CommandError, DisconnectReason, Event, StopReason};

use std::fmt;
use std::time::Instant;

use feedwire_core::{
    Backoff, Close, CloseCode, ConnectRequest, Frame, Outbox, QueueStats, RawJson, Secret, Session, Transmit,
};

use crate::codec::{self, ClientMessage, DecodeError, EventKind, Heartbeat, PosStatus, ServerMessage, Stamp};

/// How much of an undecodable frame [`Event::Malformed`] keeps.
const KEPT_FRAME_BYTES: usize = Frame::MALFORMED_KEEP;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A Connect is queued or in flight.
    Connecting,
    /// The transport is up.
    Open,
    /// Waiting to dial again.
    Waiting { until: Instant },
    /// Not dialing: before the first connect, or stopped for good.
    Stopped,
}

/// The Doshii client session. See the [module docs](self) for what it does.
///
/// ```
/// use std::time::Instant;
/// use feedwire_core::{Frame, Session, Transmit, UnixAnchor};
/// use feedwire_doshii::client::{Client, Config, Event};
///
/// # #[allow(clippy::disallowed_methods)]
/// let t0 = Instant::now();
/// let mut client = Client::new(Config::app("client-id", UnixAnchor::new(t0, 1_700_000_000_000)));
/// assert_eq!(client.poll_transmit(), None); // `new` never dials
/// client.connect(t0);
/// let Some(Transmit::Connect(req)) = client.poll_transmit() else { panic!() };
/// assert_eq!(req.url, "wss://socket.sandbox.doshii.co/app/socket?auth=Y2xpZW50LWlk");
///
/// client.handle_open(t0, None);
/// let Some(Transmit::Send(ping)) = client.poll_transmit() else { panic!() };
/// assert!(ping.as_str().starts_with(r#"{"doshii":{"ping":1700000000000,"version":"#));
///
/// client.handle_frame(t0, Frame::from(r#"{"emit":["order_updated",{"id":"9","status":"accepted"}]}"#));
/// assert_eq!(client.poll_event(), Some(Event::Connected { reconnect: false }));
/// let Some(Event::Doshii(ev)) = client.poll_event() else { panic!() };
/// assert_eq!(ev.data.status().as_deref(), Some("accepted"));
/// ```
pub struct Client {
    config: Config,
    state: State,
    out: Outbox<Event>,
    backoff: Backoff,
    next_ping: Option<Instant>,
    pong_deadline: Option<Instant>,
    /// When the last event arrived.
    last_event_at: Option<Instant>,
    /// Unix ms when the last open connection ended; `Some` until the next open.
    lost_ms: Option<u64>,
    /// Whether the driver has taken the queued Connect (a close before that belongs to the old connection).
    dialing: bool,
    /// `config.app_version` as the JSON string every heartbeat carries, encoded once.
    version: RawJson,
    /// `config.pos_status` as the JSON object the pings carry, encoded once per change.
    status: Option<RawJson>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .field("state", &self.state)
            .field("next_ping", &self.next_ping)
            .field("pong_deadline", &self.pong_deadline)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A session that does not dial yet: [`Client::connect`] starts it.
    pub fn new(config: Config) -> Client {
        let backoff = Backoff::new(config.backoff, config.seed);
        let out = Outbox::new(&config.limits);
        let version = codec::version_json(&config.app_version);
        let status = config.pos_status.as_ref().map(PosStatus::to_json);
        Client {
            config,
            state: State::Stopped,
            out,
            backoff,
            next_ping: None,
            pong_deadline: None,
            last_event_at: None,
            lost_ms: None,
            dialing: false,
            version,
            status,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Starts connecting: queues a [`Transmit::Connect`] for the config's URL. A no-op while connecting, open
    /// or waiting to reconnect; a stopped session starts again with its backoff reset (and, if a connection was
    /// open before, reports the [`Event::CatchUp`] window once the new one opens). Doshii needs no deadline for
    /// a dial, so `now` is not used.
    pub fn connect(&mut self, now: Instant) {
        let _ = now;
        if self.state != State::Stopped {
            return;
        }
        self.backoff.reset();
        self.queue_connect();
    }

    /// Closes the connection (1000) and stops: [`Event::Disconnected`] (when a connection was up or being
    /// dialled) and [`Event::Stopped`] with [`StopReason::Requested`]; no reconnect until
    /// [`Client::connect`]. Doshii has nothing to say on leaving. A dial not yet taken by the driver is
    /// withdrawn. A no-op when already stopped.
    pub fn disconnect(&mut self, now: Instant) {
        let closed = match self.state {
            State::Stopped => return,
            State::Open => {
                self.lost_ms = Some(self.unix_ms(now));
                true
            }
            State::Connecting if self.dialing => true,
            State::Connecting => {
                self.out.retain_transmits(|t| !matches!(t, Transmit::Connect(_)));
                false
            }
            State::Waiting { .. } => false,
        };
        if closed {
            self.out.push_transmit(Transmit::Close(Close::normal()));
            self.out.push_event_kept(Event::Disconnected {
                reason: DisconnectReason::Requested,
            });
        }
        self.stop(StopReason::Requested);
    }

    /// Whether the connection is open (for Doshii the handshake is the open itself: the first ping goes out
    /// at once).
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Whether the session does not dial by itself: before the first [`Client::connect`], after
    /// [`Client::disconnect`], and after `"primus::server::close"`.
    pub fn is_stopped(&self) -> bool {
        self.state == State::Stopped
    }

    /// What the queues hold and have dropped.
    pub fn queue_stats(&self) -> QueueStats {
        self.out.stats()
    }

    /// Replaces the POS location token or the vendor JWT; used from the next connection on.
    pub fn set_token(&mut self, token: impl Into<String>) -> Result<(), CommandError> {
        match &mut self.config.role {
            Role::Pos { location_token } => *location_token = Secret::new(token.into()),
            Role::Vendor { jwt, .. } => *jwt = Secret::new(token.into()),
            _ => return Err(CommandError::NoToken),
        }
        Ok(())
    }

    /// Sets the POS status sent in the following pings.
    pub fn set_pos_status(&mut self, status: Option<PosStatus>) {
        self.status = status.as_ref().map(PosStatus::to_json);
        self.config.pos_status = status;
    }

    /// Fuzzing only (unstable): the session's invariants. Message events in the queue never exceed
    /// `max_queued`, the session's own frames never exceed twice that, at most one dial and one close wait,
    /// a queued dial means the session is connecting, and a session that is not open has no heartbeat
    /// deadline (a stopped one no deadline at all).
    #[cfg(feature = "fuzzing")]
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        let max = self.out.max_queued();
        let droppable = self
            .out
            .events()
            .filter(|e| {
                !matches!(
                    e,
                    Event::Connected { .. }
                        | Event::CatchUp(_)
                        | Event::Disconnected { .. }
                        | Event::Reconnecting { .. }
                        | Event::Stopped { .. }
                )
            })
            .count();
        if droppable > max {
            return Err(format!("{droppable} message events queued, max_queued {max}"));
        }
        let (mut connects, mut closes, mut sends) = (0, 0, 0);
        for t in self.out.transmits() {
            match t {
                Transmit::Connect(_) => connects += 1,
                Transmit::Close(_) => closes += 1,
                Transmit::Send(_) => sends += 1,
            }
        }
        if sends > 2 * max {
            return Err(format!("{sends} frames queued, max_queued {max}"));
        }
        if connects > 1 || closes > 1 {
            return Err(format!("{connects} dials and {closes} closes queued"));
        }
        if connects == 1 && (self.state != State::Connecting || self.dialing) {
            return Err(format!("a dial queued in state {:?}", self.state));
        }
        if self.dialing && self.state != State::Connecting {
            return Err(format!("dialing in state {:?}", self.state));
        }
        if self.state != State::Open && (self.next_ping.is_some() || self.pong_deadline.is_some()) {
            return Err(format!("a heartbeat deadline in state {:?}", self.state));
        }
        if self.state == State::Stopped && self.poll_timeout().is_some() {
            return Err("a stopped session has a deadline".into());
        }
        Ok(())
    }

    fn stop(&mut self, reason: StopReason) {
        self.state = State::Stopped;
        self.dialing = false;
        self.next_ping = None;
        self.pong_deadline = None;
        #[cfg(feature = "tracing")]
        tracing::debug!(reason = ?reason, "doshii: stopped");
        self.out.push_event_kept(Event::Stopped { reason });
    }

    fn queue_connect(&mut self) {
        self.state = State::Connecting;
        self.dialing = false;
        let req = ConnectRequest::new(self.config.url());
        #[cfg(feature = "tracing")]
        tracing::debug!(url = req.redacted_url(), "doshii: connecting");
        self.out.push_transmit(Transmit::Connect(req));
    }

    fn unix_ms(&self, now: Instant) -> u64 {
        self.config.unix_anchor.unix_ms(now)
    }

    fn send_ping(&mut self, now: Instant) {
        let ping = ClientMessage::Ping(Heartbeat {
            stamp: Stamp::from_millis(self.unix_ms(now)),
            version: Some(self.version.clone()),
            status: self.status.clone(),
        });
        self.out.push_reply(Transmit::Send(ping.encode()));
        // checked: an absurd interval means "never", not an overflow panic
        self.next_ping = now.checked_add(self.config.interval());
        if self.pong_deadline.is_none() {
            self.pong_deadline = now.checked_add(self.config.pong_wait());
        }
    }

    /// A pong with `stamp`, in the shape of the ping it answers.
    fn pong(&self, stamp: Stamp, legacy: bool) -> Frame {
        if legacy {
            ClientMessage::PrimusPong(stamp).encode()
        } else {
            ClientMessage::Pong(Heartbeat {
                stamp,
                version: Some(self.version.clone()),
                status: None,
            })
            .encode()
        }
    }

    fn answer(&mut self, stamp: Stamp, legacy: bool) {
        let frame = self.pong(stamp.clone(), legacy);
        self.out.push_reply(Transmit::Send(frame));
        self.out.push_event(Event::ServerPing { stamp });
    }

    /// The connection is gone (already closed on the transport): back off and dial again.
    fn lost(&mut self, now: Instant, reason: DisconnectReason) {
        if self.state == State::Open {
            self.lost_ms = Some(self.unix_ms(now));
        }
        self.next_ping = None;
        self.pong_deadline = None;
        #[cfg(feature = "tracing")]
        tracing::debug!(reason = ?reason, "doshii: connection lost");
        self.out.push_event_kept(Event::Disconnected { reason });
        let after = self.backoff.next_delay();
        #[cfg(feature = "tracing")]
        tracing::debug!(
            delay_ms = after.as_millis() as u64,
            "doshii: reconnecting after backoff"
        );
        let until = now.checked_add(after).unwrap_or(now);
        self.state = State::Waiting { until };
        self.out.push_event_kept(Event::Reconnecting {
            after,
            attempt: self.backoff.attempt(),
        });
    }

    fn on_message(&mut self, now: Instant, msg: ServerMessage) {
        match msg {
            ServerMessage::Pong(h) => self.on_pong(h.stamp.clone(), h.version().map(|v| v.into_owned())),
            ServerMessage::PrimusPong(stamp) => self.on_pong(stamp, None),
            ServerMessage::Ping(h) => self.answer(h.stamp, false),
            ServerMessage::PrimusPing(stamp) => self.answer(stamp, true),
            ServerMessage::PrimusServerClose => {
                self.lost_ms = Some(self.unix_ms(now));
                self.out.push_transmit(Transmit::Close(Close::normal()));
                self.out.push_event_kept(Event::Disconnected {
                    reason: DisconnectReason::ServerClose,
                });
                self.stop(StopReason::ServerClose);
            }
            ServerMessage::Event(ev) => self.on_event(now, ev),
            ServerMessage::Unknown(raw) => {
                self.out.push_event(Event::Unknown(raw));
            }
        }
    }

    #[inline]
    fn on_event(&mut self, now: Instant, ev: codec::Event) {
        if ev.kind == EventKind::HealthCheck
            && let Some(stamp) = ev.data.health_check_stamp()
        {
            let frame = self.pong(stamp, false);
            self.out.push_reply(Transmit::Send(frame));
        }
        // kept as an Instant: the Unix time is computed once, for the catch-up after a loss
        self.last_event_at = Some(now);
        self.out.push_event(Event::Doshii(ev));
    }

    fn on_pong(&mut self, stamp: Stamp, version: Option<String>) {
        self.pong_deadline = None;
        // A pong proves the connection works: the next loss starts the backoff over.
        self.backoff.reset();
        self.out.push_event(Event::Pong { stamp, version });
    }

    /// An undecodable frame: reported with (the start of) the frame; the session goes on.
    fn malformed(&mut self, error: DecodeError, frame: Frame) {
        let frame = frame.truncated(KEPT_FRAME_BYTES);
        self.out.push_event(Event::Malformed { error, frame });
    }
}

impl Session for Client {
    type Event = Event;

    fn handle_open(&mut self, now: Instant, _subprotocol: Option<&str>) {
        if self.state != State::Connecting || !self.dialing {
            return; // a stale open (after disconnect) is ignored
        }
        self.dialing = false;
        self.state = State::Open;
        self.pong_deadline = None;
        let reconnect = self.lost_ms.is_some();
        self.send_ping(now);
        self.out.push_event_kept(Event::Connected { reconnect });
        if let Some(lost) = self.lost_ms.take() {
            let to = self.unix_ms(now);
            let (from, from_last_event) = match self.last_event_at {
                Some(e) => (self.unix_ms(e), true),
                None => (lost, false),
            };
            self.out
                .push_event_kept(Event::CatchUp(CatchUp::new(from, to, from_last_event)));
        }
    }

    fn handle_frame(&mut self, now: Instant, frame: Frame) {
        if self.state != State::Open {
            return;
        }
        let max = self.config.limits.max_frame_size;
        if frame.len() > max {
            let error = DecodeError::TooLarge {
                len: frame.len(),
                max,
            };
            return self.malformed(error, frame);
        }
        // Doshii's own wire shape first, its data keeping the frame (see ServerMessage::take_event)
        let frame = match ServerMessage::take_event(frame) {
            Ok(ev) => return self.on_event(now, ev),
            Err(frame) => frame,
        };
        match ServerMessage::decode(&frame) {
            Ok(msg) => self.on_message(now, msg),
            Err(error) => self.malformed(error, frame),
        }
    }

    fn handle_close(&mut self, now: Instant, close: Option<Close>) {
        match self.state {
            State::Open => self.lost(now, DisconnectReason::Closed(close)),
            State::Connecting if self.dialing => {
                self.dialing = false;
                self.lost(now, DisconnectReason::Closed(close));
            }
            // The close of a connection already given up (its Close transmit raced the peer's), before the
            // new Connect was even taken: nothing to do.
            State::Connecting | State::Waiting { .. } | State::Stopped => {}
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Waiting { until } if until <= now => self.queue_connect(),
            State::Open => {
                if self.pong_deadline.is_some_and(|t| t <= now) {
                    let close = Close::new(CloseCode::NORMAL, "pong timeout");
                    self.out.push_transmit(Transmit::Close(close));
                    self.lost(now, DisconnectReason::PongTimeout);
                } else if self.next_ping.is_some_and(|t| t <= now) {
                    self.send_ping(now);
                }
            }
            _ => {}
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self.out.poll_transmit()?;
        if matches!(t, Transmit::Connect(_)) {
            self.dialing = true;
        }
        Some(t)
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.out.poll_event()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Waiting { until } => Some(until),
            State::Open => [self.next_ping, self.pong_deadline].into_iter().flatten().min(),
            State::Connecting | State::Stopped => None,
        }
    }
}

feedwire_core::forward_lifecycle!(Client);

#[cfg(all(test, feature = "fuzzing"))]
mod tests {
    use super::*;
    use feedwire_core::UnixAnchor;

    #[test]
    #[allow(clippy::disallowed_methods)] // a test's origin instant
    fn check_invariants_sees_a_broken_session() {
        let t0 = Instant::now();
        let mut c = Client::new(Config::app("id", UnixAnchor::epoch_at(t0)));
        c.connect(t0);
        c.check_invariants().unwrap();
        c.state = State::Open; // a dial queued while open
        assert!(c.check_invariants().is_err());
        c.state = State::Stopped;
        c.out.retain_transmits(|_| false);
        c.next_ping = Some(t0); // a heartbeat while stopped
        assert!(c.check_invariants().is_err());
        c.next_ping = None;
        c.check_invariants().unwrap();
        for _ in 0..=2 * c.out.max_queued() {
            c.out.push_transmit(Transmit::Send(Frame::from("{}"))); // more than the policy allows
        }
        assert!(c.check_invariants().is_err());
    }
}
