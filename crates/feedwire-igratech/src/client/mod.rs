//! The client session: connects, pings, re-applies settings after reconnects, stops on logout.
//!
//! [`Client`] implements [`feedwire_core::Session`] and follows core's [`Lifecycle`](feedwire_core::Lifecycle): [`Client::new`] only
//! prepares, [`Client::connect`] dials, [`Client::disconnect`] closes and stops. Once connecting, it
//! - asks to connect to [`Config::url`] (default [`DEFAULT_URL`], the seed document's server);
//! - sends its [`Settings`] (if any) on every connection, so a reconnect restores them;
//! - pings every [`Config::ping_interval`] (25 s) with `{"ping":<unix ms>}`, the Unix time derived from the
//!   config's [`UnixAnchor`], never from a clock; no pong within [`Config::pong_timeout`] (10 s) means the
//!   connection is dead: it closes it and reconnects with backoff;
//! - reports a [`Event::Gap`] after every reconnect (the time without a connection, when messages may have
//!   been missed);
//! - on `logout` (a login from another client) reports [`Event::LoggedOut`] and stops for good: reconnecting
//!   on its own would log the other client out in turn. [`Client::connect`] starts it again on purpose.
//!
//! Payloads reach the application as [`Payload`]s: the raw JSON slice of the frame,
//! parsed on demand. With [`Config::with_checked_payloads`] the client parses each typed payload as it arrives
//! and reports one that does not fit the model as [`Event::Mismatch`] (raw JSON and reason) instead.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use feedwire_core::{Session, Transmit, UnixAnchor};
//! use feedwire_igratech::client::{Client, Config, Event};
//! use feedwire_igratech::codec::{Id, Settings};
//!
//! # #[allow(clippy::disallowed_methods)] let start = Instant::now();
//! let settings = Settings { lang: Some("en".into()), odds_format: None, game_ids: Some(vec![Id::Int(7)]),
//!     extra: Default::default() };
//! let config = Config::default()
//!     .with_unix_anchor(UnixAnchor::new(start, 1_700_000_000_000))
//!     .with_settings(settings);
//! let mut client = Client::new(config);
//! assert_eq!(client.poll_transmit(), None); // `new` never dials
//! client.connect(start);
//! assert!(matches!(client.poll_transmit(), Some(Transmit::Connect(r)) if r.url == "ws://ws.igratech.webspark.dev/wspublic"));
//!
//! client.handle_open(start, None);
//! let Some(Transmit::Send(f)) = client.poll_transmit() else { panic!() };
//! assert_eq!(f.as_str(), r#"{"event":"settings","data":{"lang":"en","gameIds":[7]}}"#);
//!
//! client.handle_frame(start, r#"{"event":"bet","data":{"gameId":7,"bets":[{"betId":1,"odds":2.5}]}}"#.into());
//! let Some(Event::Bet(bet)) = client.poll_event() else { panic!() };
//! assert_eq!(bet.parse().unwrap().bets[0].odds, 2.5);
//!
//! client.handle_timeout(start + Duration::from_secs(25));
//! let Some(Transmit::Send(ping)) = client.poll_transmit() else { panic!() };
//! assert_eq!(ping.as_str(), r#"{"event":"ping-pong","data":{"ping":1700000025000}}"#);
//! ```

mod config;
mod event;

use std::time::{Duration, Instant};

use feedwire_core::{
    Backoff, Close, CloseCode, ConnectRequest, Frame, Outbox, QueueStats, RawJson, Session, Transmit,
    UnixAnchor,
};

pub use config::{Config, DEFAULT_URL};
pub use event::{CommandError, DisconnectReason, Event, StopReason};

use crate::codec::channel::Channel;
use crate::codec::{
    Balance, BetData, BetsResultData, ClientMessage, IncidentData, Logout, Payload, Ping, Pong, Settings,
    StatsData, Status,
};
use crate::envelope::{Envelope, EnvelopeError, NestEnvelope};

/// The close the client sends when no pong came in time.
pub const PONG_TIMEOUT_CLOSE: u16 = 4000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not dialing: before the first `connect`, or after `disconnect`. Terminal until `connect`.
    Stopped,
    /// A `Connect` is queued or in flight.
    Connecting,
    /// The transport is up.
    Open,
    /// Waiting for the backoff deadline.
    Waiting(Instant),
    /// Logged out by the server: terminal until `connect`.
    LoggedOut,
}

/// The Igratech client session (see the [module docs](self)). `E` is the frame shape, [`NestEnvelope`] by
/// default.
#[derive(Debug)]
pub struct Client<E: Envelope = NestEnvelope> {
    config: Config,
    envelope: E,
    state: State,
    backoff: Backoff,
    out: Outbox<Event>,
    settings_frame: Option<Frame>,
    next_ping: Option<Instant>,
    pong_deadline: Option<Instant>,
    last_ping_ms: Option<u64>,
    lost_at: Option<Instant>,
    /// The config's anchor, or Unix time 0 at the first instant seen.
    anchor: Option<UnixAnchor>,
}

impl Client<NestEnvelope> {
    /// A client with the default envelope. It does not dial: call [`Client::connect`].
    pub fn new(config: Config) -> Self {
        Client::with_envelope(config, NestEnvelope)
    }
}

impl<E: Envelope> Client<E> {
    /// A client that frames messages with `envelope`. It does not dial: call [`Client::connect`].
    pub fn with_envelope(config: Config, envelope: E) -> Self {
        let settings_frame = config
            .settings
            .as_ref()
            .map(|s| ClientMessage::Settings(s.clone()).encode_with(&envelope));
        Client {
            envelope,
            state: State::Stopped,
            backoff: Backoff::new(config.backoff, config.seed),
            out: Outbox::new(&config.limits),
            settings_frame,
            next_ping: None,
            pong_deadline: None,
            last_ping_ms: None,
            lost_at: None,
            anchor: config.unix_anchor,
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The envelope in use.
    pub fn envelope(&self) -> &E {
        &self.envelope
    }

    /// Asks for a connection now. A no-op while connecting or open; while waiting out a backoff delay, dials
    /// at once (the backoff keeps counting); a stopped session (before the first call, after
    /// [`Client::disconnect`] or a logout) starts again with its backoff reset. After a logout this logs the
    /// other client out: call it on purpose only.
    pub fn connect(&mut self, now: Instant) {
        self.note_time(now);
        match self.state {
            State::Connecting | State::Open => {}
            State::Waiting(_) => self.dial(),
            State::Stopped | State::LoggedOut => {
                self.backoff.reset();
                self.dial();
            }
        }
    }

    /// Closes gracefully and stops: a connection that is up or being dialed is closed with 1000 (a dial the
    /// driver has not taken yet is withdrawn instead), no reconnect is scheduled, and [`Event::Stopped`] is
    /// reported (after [`Event::Disconnected`] when a connection ended). A no-op when already stopped.
    pub fn disconnect(&mut self, now: Instant) {
        self.note_time(now);
        let ended = match self.state {
            State::Stopped | State::LoggedOut => return,
            State::Open => {
                self.lost_at = Some(now);
                self.out.push_transmit(Transmit::Close(Close::normal()));
                true
            }
            State::Connecting => {
                let queued = self.out.queued_transmits();
                self.out.retain_transmits(|t| !matches!(t, Transmit::Connect(_)));
                let in_flight = self.out.queued_transmits() == queued;
                if in_flight {
                    self.out.push_transmit(Transmit::Close(Close::normal()));
                }
                in_flight
            }
            State::Waiting(_) => false,
        };
        self.clear_timers();
        self.state = State::Stopped;
        #[cfg(feature = "tracing")]
        tracing::debug!(ended, "igratech: disconnect requested; stopped");
        if ended {
            self.emit(Event::Disconnected {
                reason: DisconnectReason::Requested,
            });
        }
        self.emit(Event::Stopped {
            reason: StopReason::Requested,
        });
    }

    /// Whether the transport is up (Igratech has no handshake of its own beyond the WebSocket open):
    /// settings and pings go out at once.
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Whether the session stopped and will not dial by itself: before the first [`Client::connect`], after
    /// [`Client::disconnect`], and after a logout.
    pub fn is_stopped(&self) -> bool {
        matches!(self.state, State::Stopped | State::LoggedOut)
    }

    /// Whether the server logged this client out (terminal until [`Client::connect`]).
    pub fn is_logged_out(&self) -> bool {
        self.state == State::LoggedOut
    }

    /// What the queues hold and have dropped.
    pub fn queue_stats(&self) -> QueueStats {
        self.out.stats()
    }

    /// The settings sent on every connection.
    pub fn settings(&self) -> Option<&Settings> {
        self.config.settings.as_ref()
    }

    /// Replaces the settings: sent now when connected, and after every reconnect. Refused, with nothing
    /// changed, when it would send and the driver has not drained the frames already queued.
    pub fn set_settings(&mut self, settings: Settings) -> Result<(), CommandError> {
        let open = self.state == State::Open;
        if open {
            self.out.check_room()?;
        }
        let frame = ClientMessage::Settings(settings.clone()).encode_with(&self.envelope);
        if open {
            self.out.push_transmit(Transmit::Send(frame.clone()));
        }
        self.settings_frame = Some(frame);
        self.config.settings = Some(settings);
        Ok(())
    }

    /// The Unix time in milliseconds at `now`, from the config's anchor (or Unix time 0 at the first instant
    /// the client saw).
    pub fn unix_ms(&self, now: Instant) -> u64 {
        self.anchor.map_or(0, |a| a.unix_ms(now))
    }

    /// The fuzzers' invariants: event and transmit queues within the outbox policy's bounds, timers only
    /// while open, nothing scheduled once stopped, at most one dial queued.
    #[cfg(feature = "fuzzing")]
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        let max = self.out.max_queued();
        let droppable = self.out.events().filter(|e| !e.is_kept()).count();
        if droppable > max {
            return Err(format!("{droppable} droppable events queued, bound {max}"));
        }
        let sends = self
            .out
            .transmits()
            .filter(|t| matches!(t, Transmit::Send(_)))
            .count();
        if sends > 2 * max {
            return Err(format!("{sends} frames queued, bound {}", 2 * max));
        }
        let dials = self
            .out
            .transmits()
            .filter(|t| matches!(t, Transmit::Connect(_)))
            .count();
        if dials > 1 {
            return Err(format!("{dials} dials queued"));
        }
        if self.state != State::Open && (self.next_ping.is_some() || self.pong_deadline.is_some()) {
            return Err(format!("ping timers set while {:?}", self.state));
        }
        if self.state == State::Open && self.next_ping.is_none() {
            return Err("open without a ping scheduled".to_owned());
        }
        if self.pong_deadline.is_some() && self.last_ping_ms.is_none() {
            return Err("waiting for the pong of no ping".to_owned());
        }
        if self.is_stopped() && self.poll_timeout().is_some() {
            return Err("a deadline while stopped".to_owned());
        }
        if self.config.settings.is_some() != self.settings_frame.is_some() {
            return Err("settings and their frame disagree".to_owned());
        }
        Ok(())
    }

    fn dial(&mut self) {
        self.state = State::Connecting;
        let request = self.connect_request();
        self.out.push_transmit(Transmit::Connect(request));
    }

    fn note_time(&mut self, now: Instant) {
        if self.anchor.is_none() {
            self.anchor = Some(UnixAnchor::epoch_at(now));
        }
    }

    fn connect_request(&self) -> ConnectRequest {
        let req = ConnectRequest::new(self.config.url.clone());
        match &self.config.token {
            Some(t) => req.with_header("Authorization", format!("Bearer {}", t.expose())),
            None => req,
        }
    }

    /// Queues an event under the outbox policy ([`Event`] says which are kept).
    fn emit(&mut self, ev: Event) {
        if ev.is_kept() {
            self.out.push_event_kept(ev);
        } else {
            self.out.push_event(ev);
        }
    }

    fn clear_timers(&mut self) {
        self.next_ping = None;
        self.pong_deadline = None;
        self.last_ping_ms = None;
    }

    /// The connection is gone (closed by either side): report, then back off.
    fn connection_lost(&mut self, now: Instant, reason: DisconnectReason) {
        if self.state == State::Open && self.lost_at.is_none() {
            self.lost_at = Some(now);
        }
        self.clear_timers();
        #[cfg(feature = "tracing")]
        tracing::debug!(?reason, "igratech: connection lost");
        self.emit(Event::Disconnected { reason });
        let after = self.backoff.next_delay();
        let attempt = self.backoff.attempt();
        #[cfg(feature = "tracing")]
        tracing::debug!(?after, attempt, "igratech: reconnecting");
        self.state = State::Waiting(now + after);
        self.emit(Event::Reconnecting { after, attempt });
    }

    fn on_message(&mut self, now: Instant, frame: Frame) {
        // The payload keeps the frame's own buffer (no reference-count traffic on the receive path).
        let envelope = &self.envelope;
        let mut split_error: Option<EnvelopeError> = None;
        let taken = RawJson::take_from_frame(frame, |f| match envelope.split(f.as_str()) {
            Ok(m) => Some((Channel::of(&m.event), m.data)),
            Err(e) => {
                split_error = Some(e);
                None
            }
        });
        let (channel, data) = match taken {
            Ok(parts) => parts,
            Err(frame) => {
                let error = split_error.map_or_else(|| "malformed envelope".to_owned(), |e| e.to_string());
                self.emit(Event::Malformed {
                    error,
                    frame: frame.truncated(Frame::MALFORMED_KEEP),
                });
                return;
            }
        };
        if self.config.checked_payloads
            && let Err(reason) = check(&channel, &data)
        {
            let event = match channel {
                Channel::Other(name) => name,
                known => known.name().to_owned(),
            };
            self.emit(Event::Mismatch { event, data, reason });
            return;
        }
        let ev = match channel {
            Channel::Bet => Event::Bet(Payload::new(data)),
            Channel::Stats => Event::Stats(Payload::new(data)),
            Channel::Incident => Event::Incident(Payload::new(data)),
            Channel::BetsResult => Event::BetsResult(Payload::new(data)),
            Channel::Balance => Event::Balance(Payload::new(data)),
            Channel::Settings => Event::Settings(Payload::new(data)),
            Channel::Connected => {
                self.backoff.reset();
                Event::Connected {
                    status: Payload::new(data),
                }
            }
            Channel::PingPong => self.on_pong(now, &data),
            Channel::Logout => {
                self.on_logout(now, data);
                return;
            }
            Channel::Other(event) => Event::Unknown { event, data },
        };
        self.emit(ev);
    }

    fn on_pong(&mut self, now: Instant, data: &RawJson) -> Event {
        let echoed = data.parse::<Pong>().ok().map(|p| p.pong);
        let mut rtt = None;
        if echoed.is_some() && echoed == self.last_ping_ms {
            self.pong_deadline = None;
            let sent = self.last_ping_ms.unwrap_or(0);
            rtt = Some(Duration::from_millis(self.unix_ms(now).saturating_sub(sent)));
        } else if self.pong_deadline.is_some() {
            // Any pong proves the connection is alive.
            self.pong_deadline = None;
        }
        Event::Pong {
            echoed_unix_ms: echoed,
            rtt,
        }
    }

    /// `logout`: close, and stop for good (reconnecting would log the other client out in turn).
    fn on_logout(&mut self, now: Instant, data: RawJson) {
        self.lost_at = Some(now);
        self.out
            .push_transmit(Transmit::Close(Close::new(CloseCode::NORMAL, "logged out")));
        self.clear_timers();
        self.state = State::LoggedOut;
        #[cfg(feature = "tracing")]
        tracing::debug!("igratech: logged out by the server; not reconnecting");
        self.emit(Event::LoggedOut(Payload::new(data)));
        self.emit(Event::Disconnected {
            reason: DisconnectReason::LoggedOut,
        });
        self.emit(Event::Stopped {
            reason: StopReason::LoggedOut,
        });
    }
}

/// The typed check of [`Config::checked_payloads`].
fn check(channel: &Channel, data: &RawJson) -> Result<(), String> {
    fn fits<'a, T: serde::Deserialize<'a>>(data: &'a RawJson) -> Result<(), String> {
        data.parse::<T>().map(drop).map_err(|e| e.to_string())
    }
    match channel {
        Channel::Connected => fits::<Status>(data),
        Channel::Logout => fits::<Logout>(data),
        Channel::PingPong => fits::<Pong>(data),
        Channel::Settings => fits::<Settings>(data),
        Channel::Incident => fits::<IncidentData>(data),
        Channel::Bet => fits::<BetData>(data),
        Channel::BetsResult => fits::<BetsResultData>(data),
        Channel::Balance => fits::<Balance>(data),
        Channel::Stats => fits::<StatsData>(data),
        Channel::Other(_) => Ok(()),
    }
}

feedwire_core::forward_lifecycle!(impl<E: Envelope> Client<E>);

impl<E: Envelope> Session for Client<E> {
    type Event = Event;

    fn handle_open(&mut self, now: Instant, _subprotocol: Option<&str>) {
        self.note_time(now);
        if self.state != State::Connecting {
            return; // a stale open after disconnect: ignore
        }
        self.state = State::Open;
        self.next_ping = Some(now + self.config.ping_interval);
        self.pong_deadline = None;
        self.last_ping_ms = None;
        if let Some(from) = self.lost_at.take() {
            let (from_unix_ms, to_unix_ms) = (self.unix_ms(from), self.unix_ms(now));
            self.emit(Event::Gap {
                from,
                to: now,
                from_unix_ms,
                to_unix_ms,
            });
        }
        if let Some(f) = &self.settings_frame {
            self.out.push_reply(Transmit::Send(f.clone()));
        }
    }

    fn handle_frame(&mut self, now: Instant, frame: Frame) {
        self.note_time(now);
        if self.state != State::Open {
            return; // a frame from a connection we already gave up
        }
        if !self.config.limits.frame_fits(frame.len()) {
            let error = format!(
                "frame of {} bytes exceeds the limit of {} bytes",
                frame.len(),
                self.config.limits.max_frame_size
            );
            self.emit(Event::Malformed {
                error,
                frame: frame.truncated(Frame::MALFORMED_KEEP),
            });
            return;
        }
        self.on_message(now, frame);
    }

    fn handle_close(&mut self, now: Instant, close: Option<Close>) {
        self.note_time(now);
        match self.state {
            State::Open | State::Connecting => {
                self.connection_lost(now, DisconnectReason::Closed(close));
            }
            // Logged out, stopped, or already waiting: nothing to do, and never a reconnect.
            State::Waiting(_) | State::LoggedOut | State::Stopped => {}
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.note_time(now);
        match self.state {
            State::Waiting(at) if at <= now => self.dial(),
            State::Open => {
                if self.pong_deadline.is_some_and(|t| t <= now) {
                    self.out
                        .push_transmit(Transmit::Close(Close::new(PONG_TIMEOUT_CLOSE, "pong timeout")));
                    self.connection_lost(now, DisconnectReason::PongTimeout);
                    return;
                }
                if self.next_ping.is_some_and(|t| t <= now) {
                    let ms = self.unix_ms(now);
                    let ping = ClientMessage::Ping(Ping {
                        ping: ms,
                        extra: Default::default(),
                    });
                    self.out
                        .push_reply(Transmit::Send(ping.encode_with(&self.envelope)));
                    self.last_ping_ms = Some(ms);
                    self.next_ping = Some(now + self.config.ping_interval);
                    if self.pong_deadline.is_none() {
                        self.pong_deadline = Some(now + self.config.pong_timeout);
                    }
                }
            }
            _ => {}
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.poll_transmit()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.out.poll_event()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Waiting(at) => Some(at),
            State::Open => match (self.next_ping, self.pong_deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            _ => None,
        }
    }
}
