//! The client session: connects, pings, re-applies settings after reconnects, stops on logout.
//!
//! [`Client`] implements [`feedwire_core::Session`]. It
//! - asks to connect to [`Config::url`] (default [`DEFAULT_URL`], the seed document's server);
//! - sends its [`Settings`] (if any) on every connection, so a reconnect restores them;
//! - pings every [`Config::ping_interval`] (25 s) with `{"ping":<unix ms>}`, the Unix time derived from the
//!   anchor given in the config, never from a clock; no pong within [`Config::pong_timeout`] (10 s) means the
//!   connection is dead: it closes it and reconnects with backoff;
//! - reports a [`Event::Gap`] after every reconnect (the time without a connection, when messages may have
//!   been missed);
//! - on `logout` (a login from another client) reports [`Event::LoggedOut`] and stops for good: reconnecting
//!   on its own would log the other client out in turn. [`Client::connect`] starts it again on purpose.
//!
//! Payloads reach the application as [`Payload`]s: the raw JSON slice of the frame, parsed on demand. With
//! [`Config::with_checked_payloads`] the client parses each typed payload as it arrives and reports one that
//! does not fit the model as [`Event::Mismatch`] (raw JSON and reason) instead.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use feedwire_core::{Session, Transmit};
//! use feedwire_igratech::client::{Client, Config, Event};
//! use feedwire_igratech::codec::{Id, Settings};
//!
//! # #[allow(clippy::disallowed_methods)] let start = Instant::now();
//! let settings = Settings { lang: Some("en".into()), odds_format: None, game_ids: Some(vec![Id::Int(7)]),
//!     extra: Default::default() };
//! let config = Config::default()
//!     .with_unix_anchor(start, 1_700_000_000_000)
//!     .with_settings(settings);
//! let mut client = Client::new(config);
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

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use feedwire_core::{
    Backoff, BackoffConfig, Close, CloseCode, ConnectRequest, Frame, Limits, RawJson, Secret, Session,
    Transmit,
};

use crate::codec::{
    Balance, BetData, BetsResultData, ClientMessage, EncodeError, IncidentData, Logout, Payload, Ping, Pong,
    Settings, StatsData, Status, channel,
};
use crate::envelope::{Envelope, NestEnvelope};

/// The seed document's server.
pub const DEFAULT_URL: &str = "ws://ws.igratech.webspark.dev/wspublic";

/// The close the client sends when no pong came in time.
pub const PONG_TIMEOUT_CLOSE: u16 = 4000;

/// How a [`Client`] behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The WebSocket URL (default [`DEFAULT_URL`]).
    pub url: String,
    /// A bearer token sent as `Authorization: Bearer <token>` when set (how the real service authenticates
    /// is not documented; the mock hub takes the user from it).
    pub token: Option<Secret<String>>,
    /// Settings sent on every connection.
    pub settings: Option<Settings>,
    /// Time between pings (default 25 s).
    pub ping_interval: Duration,
    /// How long to wait for a pong (default 10 s).
    pub pong_timeout: Duration,
    /// Reconnect backoff (default: core's, 1 s doubling to 60 s, 20 % jitter).
    pub backoff: BackoffConfig,
    /// Seed for the backoff jitter.
    pub seed: u64,
    /// `(instant, unix ms)`: the Unix time at one instant, from which pings derive the Unix time. Without
    /// it, the first instant the client sees counts as Unix time 0.
    pub unix_anchor: Option<(Instant, u64)>,
    /// Frame and queue bounds.
    pub limits: Limits,
    /// Parse every typed payload on arrival and report misfits as [`Event::Mismatch`] (default off: payloads
    /// are parsed on demand, which keeps the receive path as cheap as skipping the JSON).
    pub checked_payloads: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            url: DEFAULT_URL.to_owned(),
            token: None,
            settings: None,
            ping_interval: Duration::from_secs(25),
            pong_timeout: Duration::from_secs(10),
            backoff: BackoffConfig::default(),
            seed: 0,
            unix_anchor: None,
            limits: Limits::default(),
            checked_payloads: false,
        }
    }
}

impl Config {
    /// Sets the URL.
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }
    /// Sets the bearer token.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Secret::new(token.into()));
        self
    }
    /// Sets the settings sent on every connection.
    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = Some(settings);
        self
    }
    /// Sets the ping interval.
    pub fn with_ping_interval(mut self, d: Duration) -> Self {
        self.ping_interval = d;
        self
    }
    /// Sets the pong timeout.
    pub fn with_pong_timeout(mut self, d: Duration) -> Self {
        self.pong_timeout = d;
        self
    }
    /// Sets the reconnect backoff.
    pub fn with_backoff(mut self, backoff: BackoffConfig) -> Self {
        self.backoff = backoff;
        self
    }
    /// Sets the jitter seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Sets the Unix time anchor: `unix_ms` was the Unix time in milliseconds at `instant`.
    pub fn with_unix_anchor(mut self, instant: Instant, unix_ms: u64) -> Self {
        self.unix_anchor = Some((instant, unix_ms));
        self
    }
    /// Sets the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
    /// Parses payloads on arrival (see [`Config::checked_payloads`]).
    pub fn with_checked_payloads(mut self, yes: bool) -> Self {
        self.checked_payloads = yes;
        self
    }
}

/// Why the connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The transport closed (`Some`: with a close frame) or could not be opened (`None`).
    Closed(Option<Close>),
    /// No pong came within the pong timeout; the client closed the connection.
    PongTimeout,
}

/// What the client tells the application.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// `publish-connected`: the server accepted the connection.
    Connected(Payload<Status>),
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
    /// `publish-logout`: this user logged in from another client. Terminal: the client closed the
    /// connection and does not reconnect (until [`Client::connect`]).
    LoggedOut(Payload<Logout>),
    /// A message on a channel this model does not know, kept raw.
    Unknown {
        /// The channel name.
        event: String,
        /// The payload (a slice of the frame).
        data: RawJson,
    },
    /// With [`Config::checked_payloads`]: a known channel whose payload does not fit the typed model.
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
        reason: String,
        /// The frame as received.
        raw: Frame,
    },
    /// The connection ended.
    Disconnected(DisconnectReason),
    /// The client will dial again after `delay`.
    Reconnecting {
        /// Attempts since the last good connection, counting this one from 1.
        attempt: u32,
        /// The backoff delay.
        delay: Duration,
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

/// Why a command was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The settings could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// Too many frames wait to be sent; drain `poll_transmit` first.
    #[error("send queue full ({0} frames)")]
    QueueFull(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A `Connect` is queued or in flight.
    Connecting,
    /// The transport is up.
    Open,
    /// Waiting for the backoff deadline.
    Waiting(Instant),
    /// Logged out by the server: terminal until `connect`.
    LoggedOut,
    /// Disconnected on request: terminal until `connect`.
    Stopped,
}

/// The Igratech client session (see the [module docs](self)). `E` is the frame shape, [`NestEnvelope`] by
/// default.
#[derive(Debug)]
pub struct Client<E: Envelope = NestEnvelope> {
    config: Config,
    envelope: E,
    state: State,
    backoff: Backoff,
    out: VecDeque<Transmit>,
    events: VecDeque<Event>,
    settings_frame: Option<Frame>,
    next_ping: Option<Instant>,
    pong_deadline: Option<Instant>,
    last_ping_ms: Option<u64>,
    lost_at: Option<Instant>,
    origin: Option<Instant>,
    dropped_events: u64,
}

impl Client<NestEnvelope> {
    /// A client with the default envelope; it asks to connect at the first `poll_transmit`.
    pub fn new(config: Config) -> Self {
        Client::with_envelope(config, NestEnvelope)
    }
}

impl<E: Envelope> Client<E> {
    /// A client that frames messages with `envelope`.
    pub fn with_envelope(config: Config, envelope: E) -> Self {
        let backoff = Backoff::new(config.backoff, config.seed);
        let mut client = Client {
            envelope,
            state: State::Connecting,
            backoff,
            out: VecDeque::new(),
            events: VecDeque::new(),
            settings_frame: None,
            next_ping: None,
            pong_deadline: None,
            last_ping_ms: None,
            lost_at: None,
            origin: config.unix_anchor.map(|(i, _)| i),
            dropped_events: 0,
            config,
        };
        // Encoding our own settings cannot fail for finite numbers; if it does, they are not sent.
        client.settings_frame = client
            .config
            .settings
            .as_ref()
            .and_then(|s| client.encode(&ClientMessage::Settings(s.clone())).ok());
        client.out.push_back(Transmit::Connect(client.connect_request()));
        client
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The envelope in use.
    pub fn envelope(&self) -> &E {
        &self.envelope
    }

    /// Whether the transport is up.
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Whether the server logged this client out (terminal until [`Client::connect`]).
    pub fn is_logged_out(&self) -> bool {
        self.state == State::LoggedOut
    }

    /// Whether the client has stopped for good (logged out or [`Client::disconnect`]ed).
    pub fn is_stopped(&self) -> bool {
        matches!(self.state, State::LoggedOut | State::Stopped)
    }

    /// Events dropped because the application did not poll and the queue hit [`Limits::max_queued`].
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// Frames and commands waiting in the transmit queue.
    pub fn queued_transmits(&self) -> usize {
        self.out.len()
    }

    /// Events waiting to be polled.
    pub fn queued_events(&self) -> usize {
        self.events.len()
    }

    /// The settings sent on every connection.
    pub fn settings(&self) -> Option<&Settings> {
        self.config.settings.as_ref()
    }

    /// Replaces the settings: sent now when connected, and after every reconnect.
    pub fn set_settings(&mut self, settings: Settings) -> Result<(), ClientError> {
        let frame = self.encode(&ClientMessage::Settings(settings.clone()))?;
        if self.state == State::Open {
            self.check_queue()?;
            self.out.push_back(Transmit::Send(frame.clone()));
        }
        self.settings_frame = Some(frame);
        self.config.settings = Some(settings);
        Ok(())
    }

    /// Closes the connection (1000) and stops: no reconnect until [`Client::connect`].
    pub fn disconnect(&mut self, now: Instant) {
        match self.state {
            State::Open => {
                self.lost_at = Some(now);
                self.out.push_back(Transmit::Close(Close::normal()));
            }
            State::Connecting => {
                // A dial still queued is withdrawn; one in flight is closed.
                let queued = self.out.len();
                self.out.retain(|t| !matches!(t, Transmit::Connect(_)));
                if self.out.len() == queued {
                    self.out.push_back(Transmit::Close(Close::normal()));
                }
            }
            State::Waiting(_) | State::LoggedOut | State::Stopped => {}
        }
        self.clear_timers();
        self.state = State::Stopped;
    }

    /// Starts again after a logout or [`Client::disconnect`] (a no-op otherwise). After a logout this logs the
    /// other client out: call it on purpose only.
    pub fn connect(&mut self, now: Instant) {
        self.note_time(now);
        if self.is_stopped() {
            self.backoff.reset();
            self.state = State::Connecting;
            self.out.push_back(Transmit::Connect(self.connect_request()));
        }
    }

    /// The Unix time in milliseconds at `now`, from the config's anchor.
    pub fn unix_ms(&self, now: Instant) -> u64 {
        let (anchor, ms) = match self.config.unix_anchor {
            Some(a) => a,
            None => match self.origin {
                Some(o) => (o, 0),
                None => return 0,
            },
        };
        if now >= anchor {
            ms.saturating_add(u64::try_from((now - anchor).as_millis()).unwrap_or(u64::MAX))
        } else {
            ms.saturating_sub(u64::try_from((anchor - now).as_millis()).unwrap_or(u64::MAX))
        }
    }

    fn note_time(&mut self, now: Instant) {
        if self.origin.is_none() {
            self.origin = Some(now);
        }
    }

    fn connect_request(&self) -> ConnectRequest {
        let req = ConnectRequest::new(self.config.url.clone());
        match &self.config.token {
            Some(t) => req.with_header("Authorization", format!("Bearer {}", t.expose())),
            None => req,
        }
    }

    fn encode(&self, msg: &ClientMessage) -> Result<Frame, EncodeError> {
        Ok(Frame::from(msg.encode_with(&self.envelope)?))
    }

    fn check_queue(&self) -> Result<(), ClientError> {
        if self.out.len() >= self.config.limits.max_queued {
            Err(ClientError::QueueFull(self.out.len()))
        } else {
            Ok(())
        }
    }

    fn push_event(&mut self, ev: Event) {
        if self.events.len() >= self.config.limits.max_queued.max(1) {
            self.events.pop_front();
            self.dropped_events += 1;
        }
        self.events.push_back(ev);
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
        crate::debug!(?reason, "igratech: connection lost");
        self.push_event(Event::Disconnected(reason));
        let delay = self.backoff.next_delay();
        crate::debug!(?delay, attempt = self.backoff.attempt(), "igratech: reconnecting");
        self.state = State::Waiting(now + delay);
        self.push_event(Event::Reconnecting {
            attempt: self.backoff.attempt(),
            delay,
        });
    }

    fn on_message(&mut self, now: Instant, frame: &Frame) {
        let msg = match self.envelope.split(frame.as_str()) {
            Ok(m) => m,
            Err(e) => {
                self.push_event(Event::Malformed {
                    reason: e.to_string(),
                    raw: frame.clone(),
                });
                return;
            }
        };
        let data = RawJson::from_raw_in(frame, msg.data);
        let event = msg.event.as_ref();
        if self.config.checked_payloads
            && let Err(reason) = check(event, &data)
        {
            self.push_event(Event::Mismatch {
                event: event.to_owned(),
                data,
                reason,
            });
            return;
        }
        let ev = match event {
            channel::BET => Event::Bet(Payload::new(data)),
            channel::STATS => Event::Stats(Payload::new(data)),
            channel::INCIDENT => Event::Incident(Payload::new(data)),
            channel::BETS_RESULT => Event::BetsResult(Payload::new(data)),
            channel::BALANCE => Event::Balance(Payload::new(data)),
            channel::SETTINGS => Event::Settings(Payload::new(data)),
            channel::CONNECTED => {
                self.backoff.reset();
                Event::Connected(Payload::new(data))
            }
            channel::PING_PONG => {
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
            channel::LOGOUT => {
                if self.state == State::Open {
                    self.lost_at = Some(now);
                    self.out
                        .push_back(Transmit::Close(Close::new(CloseCode::NORMAL, "logged out")));
                }
                self.clear_timers();
                crate::debug!("igratech: logged out by the server; not reconnecting");
                self.state = State::LoggedOut;
                Event::LoggedOut(Payload::new(data))
            }
            other => Event::Unknown {
                event: other.to_owned(),
                data,
            },
        };
        self.push_event(ev);
    }
}

/// The typed check of [`Config::checked_payloads`].
fn check(event: &str, data: &RawJson) -> Result<(), String> {
    fn fits<'a, T: serde::Deserialize<'a>>(data: &'a RawJson) -> Result<(), String> {
        data.parse::<T>().map(drop).map_err(|e| e.to_string())
    }
    match event {
        channel::CONNECTED => fits::<Status>(data),
        channel::LOGOUT => fits::<Logout>(data),
        channel::PING_PONG => fits::<Pong>(data),
        channel::SETTINGS => fits::<Settings>(data),
        channel::INCIDENT => fits::<IncidentData>(data),
        channel::BET => fits::<BetData>(data),
        channel::BETS_RESULT => fits::<BetsResultData>(data),
        channel::BALANCE => fits::<Balance>(data),
        channel::STATS => fits::<StatsData>(data),
        _ => Ok(()),
    }
}

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
            self.push_event(Event::Gap {
                from,
                to: now,
                from_unix_ms,
                to_unix_ms,
            });
        }
        if let Some(f) = &self.settings_frame {
            self.out.push_back(Transmit::Send(f.clone()));
        }
    }

    fn handle_frame(&mut self, now: Instant, frame: Frame) {
        self.note_time(now);
        if self.state != State::Open {
            return; // a frame from a connection we already gave up
        }
        if !self.config.limits.frame_fits(frame.len()) {
            let reason = format!(
                "frame of {} bytes exceeds the limit of {} bytes",
                frame.len(),
                self.config.limits.max_frame_size
            );
            self.push_event(Event::Malformed { reason, raw: frame });
            return;
        }
        self.on_message(now, &frame);
    }

    fn handle_close(&mut self, now: Instant, close: Option<Close>) {
        self.note_time(now);
        match self.state {
            State::Open | State::Connecting => self.connection_lost(now, DisconnectReason::Closed(close)),
            // Logged out, stopped, or already waiting: nothing to do, and never a reconnect.
            State::Waiting(_) | State::LoggedOut | State::Stopped => {}
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.note_time(now);
        match self.state {
            State::Waiting(at) if at <= now => {
                self.state = State::Connecting;
                self.out.push_back(Transmit::Connect(self.connect_request()));
            }
            State::Open => {
                if self.pong_deadline.is_some_and(|t| t <= now) {
                    self.out
                        .push_back(Transmit::Close(Close::new(PONG_TIMEOUT_CLOSE, "pong timeout")));
                    self.connection_lost(now, DisconnectReason::PongTimeout);
                    return;
                }
                if self.next_ping.is_some_and(|t| t <= now) {
                    let ms = self.unix_ms(now);
                    if let Ok(f) = self.encode(&ClientMessage::Ping(Ping {
                        ping: ms,
                        extra: Default::default(),
                    })) {
                        self.out.push_back(Transmit::Send(f));
                    }
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
        self.out.pop_front()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
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
