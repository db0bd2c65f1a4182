//! The Doshii client session: connects, keeps the heartbeat, answers server pings, reconnects with backoff
//! and tells the application which window of events to fetch after a reconnect.
//!
//! # Behaviour
//!
//! - On open, a ping `{"doshii":{"ping":<unix ms>,"version":..}}` goes out at once (it completes Doshii's
//!   handshake), then one every [`Config::heartbeat_interval`] (30 s).
//! - A ping whose pong does not arrive within [`Config::pong_timeout`] means the connection is dead: the session
//!   closes it ([`Transmit::Close`]) and reconnects with backoff.
//! - Server pings (`{"doshii":{"ping":..}}`, `"primus::ping::<ms>"`) and POS `health_check` events are answered
//!   with a pong carrying the same timestamp.
//! - `"primus::server::close"` stops the session: no reconnect. Every other close (with or without a close
//!   frame, refused dials included) reconnects after a backoff delay.
//! - After a reconnect, [`Event::CatchUp`] gives the window of events that may have been missed, in epoch
//!   seconds, with the ready-made `GET /partner/v3/orders` queries. Doshii itself replays up to 10 minutes of
//!   events on reconnect; the window covers whatever is older.
//!
//! Every timestamp is derived from the [`UnixAnchor`] given in the [`Config`] and the `Instant`s the driver
//! passes in: the session never reads a clock.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use base64::Engine as _;
use feedwire_core::{
    Backoff, BackoffConfig, Close, CloseCode, ConnectRequest, Frame, Limits, Secret, Session, Transmit,
};

use crate::codec::{self, DecodeError, EventKind, Message, PosStatus, Stamp};

/// Maps the session's `Instant`s to Unix time: `unix_ms` is the Unix time in milliseconds at `instant`.
///
/// ```
/// use std::time::{Duration, Instant};
/// use feedwire_doshii::client::UnixAnchor;
/// # #[allow(clippy::disallowed_methods)]
/// let t0 = Instant::now(); // a driver reads its clock once, here, and passes instants in
/// let anchor = UnixAnchor::new(t0, 1_700_000_000_000);
/// assert_eq!(anchor.unix_ms(t0 + Duration::from_millis(1500)), 1_700_000_001_500);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnixAnchor {
    /// The instant of the anchor.
    pub instant: Instant,
    /// Unix milliseconds at `instant`.
    pub unix_ms: u64,
}

impl UnixAnchor {
    /// An anchor saying that `instant` is `unix_ms` milliseconds after the Unix epoch.
    pub fn new(instant: Instant, unix_ms: u64) -> Self {
        UnixAnchor { instant, unix_ms }
    }

    /// Unix milliseconds at `now`.
    pub fn unix_ms(&self, now: Instant) -> u64 {
        // whole milliseconds without a u128 division (this runs for every event)
        let ms = |d: Duration| {
            d.as_secs()
                .saturating_mul(1000)
                .saturating_add(u64::from(d.subsec_millis()))
        };
        if now >= self.instant {
            self.unix_ms.saturating_add(ms(now.duration_since(self.instant)))
        } else {
            self.unix_ms.saturating_sub(ms(self.instant.duration_since(now)))
        }
    }
}

/// Which Doshii socket to use, with its credential.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    /// An app partner: `/app/socket?auth=<base64(client id)>`.
    App,
    /// An app partner on the v3 socket: `/app/socket/v3?auth=..&deviceId=..`. The device id (the `doshiiId` of
    /// a device registered with `POST /devices`) restricts the connection to the events its filters match.
    AppV3 {
        /// The registered device's id, if any.
        device_id: Option<String>,
    },
    /// One POS venue: `/pos/socket?token=<location token>`.
    Pos {
        /// The location token.
        location_token: Secret<String>,
    },
    /// A cloud POS vendor: `/vendor/socket?token=<jwt>&vendor=<api name>`. The JWT expires after 10 minutes:
    /// give a fresh one with [`Client::set_token`] before reconnects.
    Vendor {
        /// The JWT.
        jwt: Secret<String>,
        /// The vendor's API name.
        vendor: String,
    },
}

impl fmt::Debug for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::App => f.write_str("App"),
            Role::AppV3 { device_id } => f.debug_struct("AppV3").field("device_id", device_id).finish(),
            Role::Pos { location_token } => f
                .debug_struct("Pos")
                .field("location_token", location_token)
                .finish(),
            Role::Vendor { jwt, vendor } => f
                .debug_struct("Vendor")
                .field("jwt", jwt)
                .field("vendor", vendor)
                .finish(),
        }
    }
}

/// Which Doshii environment to connect to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Environment {
    /// `wss://socket.sandbox.doshii.co`.
    #[default]
    Sandbox,
    /// `wss://live-socket.doshii.co`.
    Live,
    /// An explicit host (`sandbox-socket.doshii.co`, `socket.live.doshii.co`, ...), with `wss://`, or a full
    /// base URL with a scheme (`ws://127.0.0.1:9000`, for a mock).
    Host(String),
}

impl Environment {
    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> String {
        match self {
            Environment::Sandbox => "wss://socket.sandbox.doshii.co".to_owned(),
            Environment::Live => "wss://live-socket.doshii.co".to_owned(),
            Environment::Host(h) => {
                let h = h.trim().trim_end_matches('/');
                if h.contains("://") {
                    h.to_owned()
                } else {
                    format!("wss://{h}")
                }
            }
        }
    }
}

/// How a [`Client`] connects and keeps its connection.
///
/// `Debug` never shows the client id, the location token or the JWT.
///
/// ```
/// use std::time::{Duration, Instant};
/// use feedwire_doshii::client::{Config, Environment, UnixAnchor};
/// # #[allow(clippy::disallowed_methods)]
/// let anchor = UnixAnchor::new(Instant::now(), 1_700_000_000_000);
/// let config = Config::app("my-client-id", anchor)
///     .with_environment(Environment::Live)
///     .with_app_version("1.2.3")
///     .with_pong_timeout(Duration::from_secs(10));
/// assert_eq!(config.url(), "wss://live-socket.doshii.co/app/socket?auth=bXktY2xpZW50LWlk");
/// assert!(!format!("{config:?}").contains("my-client-id"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// The socket and its credential.
    pub role: Role,
    /// The environment (default: sandbox).
    pub environment: Environment,
    /// The Doshii client id (app roles): standard base64, URL-encoded, becomes the `auth` query parameter.
    pub client_id: Secret<String>,
    /// The `version` sent in every ping (default: `feedwire-doshii/<crate version>`).
    pub app_version: String,
    /// The POS `status` sent in pings, if any.
    pub pos_status: Option<PosStatus>,
    /// Time between pings (default 30 s; at least 1 ms).
    pub heartbeat_interval: Duration,
    /// How long a ping may wait for its pong before the connection counts as dead (default 10 s; at least 1 ms).
    pub pong_timeout: Duration,
    /// Reconnect backoff (default: 1 s doubling to 60 s, 20 % jitter).
    pub backoff: BackoffConfig,
    /// Seed for the backoff jitter.
    pub seed: u64,
    /// Where Unix time comes from.
    pub anchor: UnixAnchor,
    /// Frame and queue bounds.
    pub limits: Limits,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("role", &self.role)
            .field("environment", &self.environment)
            .field("client_id", &self.client_id)
            .field("app_version", &self.app_version)
            .field("pos_status", &self.pos_status)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("pong_timeout", &self.pong_timeout)
            .field("backoff", &self.backoff)
            .field("seed", &self.seed)
            .field("anchor", &self.anchor)
            .field("limits", &self.limits)
            .finish()
    }
}

impl Config {
    /// The default heartbeat interval: 30 s.
    pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);
    /// The default pong timeout: 10 s.
    pub const PONG_TIMEOUT: Duration = Duration::from_secs(10);

    fn base(role: Role, client_id: Secret<String>, anchor: UnixAnchor) -> Config {
        Config {
            role,
            environment: Environment::Sandbox,
            client_id,
            app_version: concat!("feedwire-doshii/", env!("CARGO_PKG_VERSION")).to_owned(),
            pos_status: None,
            heartbeat_interval: Self::HEARTBEAT_INTERVAL,
            pong_timeout: Self::PONG_TIMEOUT,
            backoff: BackoffConfig::default(),
            seed: 0,
            anchor,
            limits: Limits::default(),
        }
    }

    /// An app partner on `/app/socket`.
    pub fn app(client_id: impl Into<String>, anchor: UnixAnchor) -> Config {
        Self::base(Role::App, Secret::new(client_id.into()), anchor)
    }

    /// An app partner on `/app/socket/v3`, optionally restricted to a registered device.
    pub fn app_v3(client_id: impl Into<String>, device_id: Option<String>, anchor: UnixAnchor) -> Config {
        Self::base(Role::AppV3 { device_id }, Secret::new(client_id.into()), anchor)
    }

    /// One POS venue on `/pos/socket`.
    pub fn pos(location_token: impl Into<String>, anchor: UnixAnchor) -> Config {
        Self::base(
            Role::Pos {
                location_token: Secret::new(location_token.into()),
            },
            Secret::new(String::new()),
            anchor,
        )
    }

    /// A cloud POS vendor on `/vendor/socket`.
    pub fn vendor(jwt: impl Into<String>, vendor: impl Into<String>, anchor: UnixAnchor) -> Config {
        Self::base(
            Role::Vendor {
                jwt: Secret::new(jwt.into()),
                vendor: vendor.into(),
            },
            Secret::new(String::new()),
            anchor,
        )
    }

    /// Sets the role.
    pub fn with_role(mut self, role: Role) -> Self {
        self.role = role;
        self
    }
    /// Sets the environment.
    pub fn with_environment(mut self, env: Environment) -> Self {
        self.environment = env;
        self
    }
    /// Sets the client id.
    pub fn with_client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Secret::new(id.into());
        self
    }
    /// Sets the version sent in pings.
    pub fn with_app_version(mut self, v: impl Into<String>) -> Self {
        self.app_version = v.into();
        self
    }
    /// Sets the POS status sent in pings.
    pub fn with_pos_status(mut self, s: Option<PosStatus>) -> Self {
        self.pos_status = s;
        self
    }
    /// Sets the heartbeat interval.
    pub fn with_heartbeat_interval(mut self, d: Duration) -> Self {
        self.heartbeat_interval = d;
        self
    }
    /// Sets the pong timeout.
    pub fn with_pong_timeout(mut self, d: Duration) -> Self {
        self.pong_timeout = d;
        self
    }
    /// Sets the backoff.
    pub fn with_backoff(mut self, b: BackoffConfig) -> Self {
        self.backoff = b;
        self
    }
    /// Sets the jitter seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Sets the Unix-time anchor.
    pub fn with_anchor(mut self, anchor: UnixAnchor) -> Self {
        self.anchor = anchor;
        self
    }
    /// Sets the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The socket URL for this role and environment, credentials included (keep it out of logs).
    pub fn url(&self) -> String {
        let base = self.environment.base_url();
        let auth = || {
            let b64 = base64::engine::general_purpose::STANDARD.encode(self.client_id.expose().as_bytes());
            encode_query(&b64)
        };
        match &self.role {
            Role::App => format!("{base}/app/socket?auth={}", auth()),
            Role::AppV3 { device_id: None } => format!("{base}/app/socket/v3?auth={}", auth()),
            Role::AppV3 { device_id: Some(d) } => format!(
                "{base}/app/socket/v3?auth={}&deviceId={}",
                auth(),
                encode_query(d)
            ),
            Role::Pos { location_token } => {
                format!(
                    "{base}/pos/socket?token={}",
                    encode_query(location_token.expose())
                )
            }
            Role::Vendor { jwt, vendor } => format!(
                "{base}/vendor/socket?token={}&vendor={}",
                encode_query(jwt.expose()),
                encode_query(vendor)
            ),
        }
    }

    fn interval(&self) -> Duration {
        self.heartbeat_interval.max(Duration::from_millis(1))
    }

    fn pong_wait(&self) -> Duration {
        self.pong_timeout.max(Duration::from_millis(1))
    }
}

/// Percent-encodes a query value (`+`, `/`, `=` and every other reserved byte).
fn encode_query(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

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
    /// The application called [`Client::disconnect`].
    Requested,
}

/// What the session tells the application.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The connection is open and the handshake ping went out; `reconnect` is whether an earlier connection
    /// was lost.
    Connected {
        /// Whether this replaces a lost connection.
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
    Unknown(feedwire_core::RawJson),
    /// A frame that could not be decoded; the session goes on.
    Error {
        /// Why.
        error: DecodeError,
        /// The frame as received.
        frame: Frame,
    },
    /// The connection ended.
    Disconnected(DisconnectReason),
    /// A new connection will be dialled after `delay`.
    Reconnecting {
        /// The backoff delay.
        delay: Duration,
        /// Reconnect attempts since the last working connection (1 for the first).
        attempt: u32,
    },
    /// The session stopped for good (server close or [`Client::disconnect`]).
    Stopped,
}

/// Errors of the application commands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The session has stopped.
    #[error("the session has stopped")]
    Stopped,
    /// The role has no token to replace.
    #[error("this role has no token (only POS and vendor roles do)")]
    NoToken,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A Connect is queued or in flight.
    Connecting,
    /// The transport is up.
    Open,
    /// Waiting to dial again.
    Waiting { until: Instant },
    /// Done for good.
    Stopped,
}

/// The Doshii client session. See the [module docs](self) for what it does.
///
/// ```
/// use std::time::Instant;
/// use feedwire_core::{Frame, Session, Transmit};
/// use feedwire_doshii::client::{Client, Config, Event, UnixAnchor};
///
/// # #[allow(clippy::disallowed_methods)]
/// let t0 = Instant::now();
/// let mut client = Client::new(Config::app("client-id", UnixAnchor::new(t0, 1_700_000_000_000)));
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
    out: VecDeque<Transmit>,
    events: VecDeque<Event>,
    backoff: Backoff,
    next_ping: Option<Instant>,
    pong_deadline: Option<Instant>,
    /// When the last event arrived.
    last_event_at: Option<Instant>,
    /// Unix ms when the last open connection was lost; `Some` until the next open.
    lost_ms: Option<u64>,
    /// Whether the driver has taken the queued Connect (a close before that belongs to the old connection).
    dialing: bool,
    dropped_events: u64,
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
    /// A session that asks to connect at once (the first [`poll_transmit`](Session::poll_transmit) gives the
    /// [`Transmit::Connect`]).
    pub fn new(config: Config) -> Client {
        let backoff = Backoff::new(config.backoff, config.seed);
        let mut c = Client {
            config,
            state: State::Connecting,
            out: VecDeque::new(),
            events: VecDeque::new(),
            backoff,
            next_ping: None,
            pong_deadline: None,
            last_event_at: None,
            lost_ms: None,
            dialing: false,
            dropped_events: 0,
        };
        c.queue_connect();
        c
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether the transport is up.
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Whether the session has stopped for good.
    pub fn is_stopped(&self) -> bool {
        self.state == State::Stopped
    }

    /// Events dropped because the application did not poll them and the queue hit [`Limits::max_queued`].
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// Transmits waiting to be polled.
    pub fn queued_transmits(&self) -> usize {
        self.out.len()
    }

    /// Events waiting to be polled.
    pub fn queued_events(&self) -> usize {
        self.events.len()
    }

    /// Replaces the POS location token or the vendor JWT; used from the next connection on.
    pub fn set_token(&mut self, token: impl Into<String>) -> Result<(), CommandError> {
        if self.state == State::Stopped {
            return Err(CommandError::Stopped);
        }
        match &mut self.config.role {
            Role::Pos { location_token } => *location_token = Secret::new(token.into()),
            Role::Vendor { jwt, .. } => *jwt = Secret::new(token.into()),
            _ => return Err(CommandError::NoToken),
        }
        Ok(())
    }

    /// Sets the POS status sent in the following pings.
    pub fn set_pos_status(&mut self, status: Option<PosStatus>) {
        self.config.pos_status = status;
    }

    /// Closes the connection and stops for good.
    pub fn disconnect(&mut self) -> Result<(), CommandError> {
        match self.state {
            State::Stopped => return Err(CommandError::Stopped),
            State::Open => self.push_out(Transmit::Close(Close::normal())),
            State::Connecting => {
                // A queued Connect not yet taken is withdrawn; one in flight is closed.
                let before = self.out.len();
                self.out.retain(|t| !matches!(t, Transmit::Connect(_)));
                if self.out.len() == before {
                    self.push_out(Transmit::Close(Close::normal()));
                }
            }
            State::Waiting { .. } => {}
        }
        self.stop(DisconnectReason::Requested);
        Ok(())
    }

    fn stop(&mut self, reason: DisconnectReason) {
        self.state = State::Stopped;
        self.next_ping = None;
        self.pong_deadline = None;
        #[cfg(feature = "tracing")]
        tracing::debug!(reason = ?reason, "doshii: stopped");
        // The terminal pair is never dropped, even on a full queue: the application must learn it stopped.
        self.events.push_back(Event::Disconnected(reason));
        self.events.push_back(Event::Stopped);
    }

    fn queue_connect(&mut self) {
        self.state = State::Connecting;
        self.dialing = false;
        let req = ConnectRequest::new(self.config.url());
        #[cfg(feature = "tracing")]
        tracing::debug!(url = req.redacted_url(), "doshii: connecting");
        self.push_out(Transmit::Connect(req));
    }

    #[inline]
    fn push_event(&mut self, ev: Event) {
        if self.events.len() >= self.config.limits.max_queued {
            self.dropped_events = self.dropped_events.saturating_add(1);
            return;
        }
        self.events.push_back(ev);
    }

    fn push_out(&mut self, t: Transmit) {
        // Connects and closes are never dropped; frames (pongs, pings) are, when the driver does not poll.
        let is_frame = matches!(t, Transmit::Send(_));
        if is_frame && self.out.len() >= self.config.limits.max_queued {
            return;
        }
        self.out.push_back(t);
    }

    fn unix_ms(&self, now: Instant) -> u64 {
        self.config.anchor.unix_ms(now)
    }

    fn send_ping(&mut self, now: Instant) {
        let frame = codec::encode_ping(
            self.unix_ms(now),
            Some(&self.config.app_version),
            self.config.pos_status.as_ref(),
        );
        self.push_out(Transmit::Send(frame));
        // checked: an absurd interval means "never", not an overflow panic
        self.next_ping = now.checked_add(self.config.interval());
        if self.pong_deadline.is_none() {
            self.pong_deadline = now.checked_add(self.config.pong_wait());
        }
    }

    fn answer(&mut self, stamp: Stamp, legacy: bool) {
        let frame = if legacy {
            Message::PrimusPong(stamp.clone()).to_frame()
        } else {
            codec::encode_pong(&stamp, Some(&self.config.app_version))
        };
        self.push_out(Transmit::Send(frame));
        self.push_event(Event::ServerPing { stamp });
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
        self.push_event(Event::Disconnected(reason));
        let delay = self.backoff.next_delay();
        #[cfg(feature = "tracing")]
        tracing::debug!(
            delay_ms = delay.as_millis() as u64,
            "doshii: reconnecting after backoff"
        );
        let until = now.checked_add(delay).unwrap_or(now);
        self.state = State::Waiting { until };
        self.push_event(Event::Reconnecting {
            delay,
            attempt: self.backoff.attempt(),
        });
    }

    fn on_message(&mut self, now: Instant, msg: Message) {
        match msg {
            Message::Pong(h) => self.on_pong(h.stamp.clone(), h.version().map(|v| v.into_owned())),
            Message::PrimusPong(stamp) => self.on_pong(stamp, None),
            Message::Ping(h) => self.answer(h.stamp, false),
            Message::PrimusPing(stamp) => self.answer(stamp, true),
            Message::PrimusServerClose => {
                self.push_out(Transmit::Close(Close::normal()));
                self.stop(DisconnectReason::ServerClose);
            }
            Message::Event(ev) => self.on_event(now, ev),
            Message::Unknown(raw) => self.push_event(Event::Unknown(raw)),
        }
    }

    #[inline]
    fn on_event(&mut self, now: Instant, ev: codec::Event) {
        if ev.kind == EventKind::HealthCheck
            && let Some(stamp) = ev.data.health_check_stamp()
        {
            let frame = codec::encode_pong(&stamp, Some(&self.config.app_version));
            self.push_out(Transmit::Send(frame));
        }
        // kept as an Instant: the Unix time is computed once, for the catch-up after a loss
        self.last_event_at = Some(now);
        self.push_event(Event::Doshii(ev));
    }

    fn on_pong(&mut self, stamp: Stamp, version: Option<String>) {
        self.pong_deadline = None;
        // A pong proves the connection works: the next loss starts the backoff over.
        self.backoff.reset();
        self.push_event(Event::Pong { stamp, version });
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
        self.push_event(Event::Connected { reconnect });
        if let Some(lost) = self.lost_ms.take() {
            let to = self.unix_ms(now);
            let (from, from_last_event) = match self.last_event_at {
                Some(e) => (self.unix_ms(e), true),
                None => (lost, false),
            };
            self.push_event(Event::CatchUp(CatchUp::new(from, to, from_last_event)));
        }
    }

    fn handle_frame(&mut self, now: Instant, frame: Frame) {
        if self.state != State::Open {
            return;
        }
        // Doshii's own wire shape first, its data keeping the frame (see codec::decode_owned)
        let frame = match codec::take_emit_event(frame, self.config.limits.max_frame_size) {
            Ok(ev) => return self.on_event(now, ev),
            Err(frame) => frame,
        };
        match codec::decode_limited(&frame, self.config.limits.max_frame_size) {
            Ok(msg) => self.on_message(now, msg),
            Err(error) => self.push_event(Event::Error { error, frame }),
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
                    self.push_out(Transmit::Close(Close::new(CloseCode::NORMAL, "pong timeout")));
                    self.lost(now, DisconnectReason::PongTimeout);
                } else if self.next_ping.is_some_and(|t| t <= now) {
                    self.send_ping(now);
                }
            }
            _ => {}
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self.out.pop_front()?;
        if matches!(t, Transmit::Connect(_)) {
            self.dialing = true;
        }
        Some(t)
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Waiting { until } => Some(until),
            State::Open => [self.next_ping, self.pong_deadline].into_iter().flatten().min(),
            State::Connecting | State::Stopped => None,
        }
    }
}
