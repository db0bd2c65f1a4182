//! The ActionCable client session (Rails v1 or AnyCable ext), implementing [`feedwire_core::Session`].
//!
//! ```
//! # #![allow(clippy::disallowed_methods)]
//! use std::time::Instant;
//! use feedwire_actioncable::client::{Client, Config, Event};
//! use feedwire_actioncable::identifier::Identifier;
//! use feedwire_core::{Frame, Session, Transmit};
//!
//! let now = Instant::now();
//! let mut client = Client::new(Config::new("wss://example.test/cable"));
//! let room = Identifier::builder("ChatChannel").param("id", 42).unwrap().build();
//! client.subscribe(now, room.clone());
//! assert!(matches!(client.poll_transmit(), Some(Transmit::Connect(_))));
//! client.handle_open(now, Some("actioncable-v1-json"));
//! client.handle_frame(now, Frame::from(r#"{"type":"welcome"}"#));
//! match client.poll_transmit() {
//!     Some(Transmit::Send(f)) => assert_eq!(
//!         f.as_str(),
//!         r#"{"command":"subscribe","identifier":"{\"channel\":\"ChatChannel\",\"id\":42}"}"#
//!     ),
//!     other => panic!("{other:?}"),
//! }
//! client.handle_frame(now, Frame::from(
//!     r#"{"identifier":"{\"channel\":\"ChatChannel\",\"id\":42}","type":"confirm_subscription"}"#,
//! ));
//! client.handle_frame(now, Frame::from(
//!     r#"{"identifier":"{\"channel\":\"ChatChannel\",\"id\":42}","message":{"text":"hi"}}"#,
//! ));
//! let events: Vec<Event> = std::iter::from_fn(|| client.poll_event()).collect();
//! assert!(matches!(&events[..], [
//!     Event::Connected { reconnected: false, .. },
//!     Event::Confirmed { reconnected: false, .. },
//!     Event::Message { message, .. },
//! ] if message.as_str() == r#"{"text":"hi"}"#));
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use feedwire_core::{
    Backoff, BackoffConfig, Close, ConnectRequest, Frame, Limits, RawJson, Secret, Session, Transmit,
};
use serde::Serialize;

use crate::codec::{self, Command, DecodeError, HistoryRequest, JsonStr, ServerMessage, StreamPosition};
use crate::identifier::Identifier;

/// Which protocol the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Flavour {
    /// Rails: offers `actioncable-v1-json, actioncable-unsupported`.
    #[default]
    Rails,
    /// AnyCable extensions: offers `actioncable-v1-ext-json` first (falls back to Rails when the server picks
    /// `actioncable-v1-json`).
    AnyCable,
}

/// Client configuration. Defaults follow @rails/actioncable 7+ (stale after 6 s, backoff
/// `6 s * 1.15^min(n,10) * (1 + jitter)`) and anycable-client (confirmation retried once after 5 s,
/// 250 ms before resubscribing a just-unsubscribed identifier).
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// `ws://` or `wss://` URL of the cable endpoint.
    pub url: String,
    /// Extra request headers (cookies, authorization). Their values never appear in `Debug`.
    pub headers: Vec<(String, String)>,
    /// Rails or AnyCable.
    pub flavour: Flavour,
    /// Subprotocols to offer; empty means the flavour's default list.
    pub subprotocols: Vec<String>,
    /// Stop when the server agrees to no subprotocol (default true).
    pub require_subprotocol: bool,
    /// No frame for this long means the connection is stale (default 6 s).
    pub stale_after: Duration,
    /// Reconnect backoff (default: the @rails/actioncable formula).
    pub backoff: BackoffConfig,
    /// Jitter of the first reconnect attempt (default 1.0, as Rails).
    pub first_attempt_jitter: f64,
    /// Base delay of a reconnect the server asked for (`disconnect` with `reconnect: true`); the actual delay is
    /// drawn in `[d, 2d)` (default 500 ms), so it never waits a stale window.
    pub restart_delay: Duration,
    /// How long to wait for `confirm_subscription` / `reject_subscription` (default 5 s).
    pub confirm_timeout: Duration,
    /// How many times a subscribe is re-sent after a confirmation timeout before giving up (default 1).
    pub confirm_retries: u32,
    /// Wait this long after an unsubscribe before subscribing the same identifier again (default 250 ms).
    pub resubscribe_cooldown: Duration,
    /// Whether a `disconnect` frame with `reconnect` absent or null means reconnect (default false: stop, as
    /// @rails/actioncable does).
    pub reconnect_when_unspecified: bool,
    /// Answer server pings with `{"command":"pong"}` on the AnyCable ext protocol (default true).
    pub answer_pings: bool,
    /// Seed of the jitter generator.
    pub seed: u64,
    /// A Unix-time anchor: `(instant, unix_ms at that instant)`, used for AnyCable `history.since`.
    pub unix_anchor: Option<(Instant, u64)>,
    /// Frame and queue bounds.
    pub limits: Limits,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("url", &ConnectRequest::new(self.url.clone()).redacted_url())
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            )
            .field("flavour", &self.flavour)
            .field("subprotocols", &self.subprotocols)
            .field("require_subprotocol", &self.require_subprotocol)
            .field("stale_after", &self.stale_after)
            .field("backoff", &self.backoff)
            .field("confirm_timeout", &self.confirm_timeout)
            .field("confirm_retries", &self.confirm_retries)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// The backoff of @rails/actioncable 7+: `6 s * 1.15^min(n,10) * (1 + 0.15 r)`.
pub fn rails_backoff() -> BackoffConfig {
    BackoffConfig::default()
        .with_initial(Duration::from_secs(6))
        .with_multiplier(1.15)
        .with_max(Duration::from_secs_f64(6.0 * 1.15f64.powi(10)))
        .with_jitter(0.15)
}

impl Default for Config {
    fn default() -> Self {
        Config {
            url: String::from("ws://127.0.0.1:3000/cable"),
            headers: Vec::new(),
            flavour: Flavour::Rails,
            subprotocols: Vec::new(),
            require_subprotocol: true,
            stale_after: Duration::from_secs(6),
            backoff: rails_backoff(),
            first_attempt_jitter: 1.0,
            restart_delay: Duration::from_millis(500),
            confirm_timeout: Duration::from_secs(5),
            confirm_retries: 1,
            resubscribe_cooldown: Duration::from_millis(250),
            reconnect_when_unspecified: false,
            answer_pings: true,
            seed: 0,
            unix_anchor: None,
            limits: Limits::default(),
        }
    }
}

impl Config {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Config {
            url: url.into(),
            ..Config::default()
        }
    }
    /// Adds a request header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// Sets the flavour.
    pub fn with_flavour(mut self, flavour: Flavour) -> Self {
        self.flavour = flavour;
        self
    }
    /// Sets the subprotocols to offer.
    pub fn with_subprotocols(mut self, protocols: Vec<String>) -> Self {
        self.subprotocols = protocols;
        self
    }
    /// Sets whether a negotiated subprotocol is required.
    pub fn with_require_subprotocol(mut self, required: bool) -> Self {
        self.require_subprotocol = required;
        self
    }
    /// Sets the stale threshold.
    pub fn with_stale_after(mut self, d: Duration) -> Self {
        self.stale_after = d;
        self
    }
    /// Sets the backoff.
    pub fn with_backoff(mut self, b: BackoffConfig) -> Self {
        self.backoff = b;
        self
    }
    /// Sets the server-requested reconnect delay.
    pub fn with_restart_delay(mut self, d: Duration) -> Self {
        self.restart_delay = d;
        self
    }
    /// Sets the confirmation timeout and retries.
    pub fn with_confirm_timeout(mut self, timeout: Duration, retries: u32) -> Self {
        self.confirm_timeout = timeout;
        self.confirm_retries = retries;
        self
    }
    /// Sets the resubscribe cooldown.
    pub fn with_resubscribe_cooldown(mut self, d: Duration) -> Self {
        self.resubscribe_cooldown = d;
        self
    }
    /// Sets what a `disconnect` without `reconnect` means.
    pub fn with_reconnect_when_unspecified(mut self, reconnect: bool) -> Self {
        self.reconnect_when_unspecified = reconnect;
        self
    }
    /// Sets whether pings are answered on the ext protocol.
    pub fn with_answer_pings(mut self, answer: bool) -> Self {
        self.answer_pings = answer;
        self
    }
    /// Sets the jitter seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Sets the Unix-time anchor.
    pub fn with_unix_anchor(mut self, at: Instant, unix_ms: u64) -> Self {
        self.unix_anchor = Some((at, unix_ms));
        self
    }
    /// Sets the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The subprotocols offered, in order.
    pub fn offered_subprotocols(&self) -> Vec<String> {
        if !self.subprotocols.is_empty() {
            return self.subprotocols.clone();
        }
        let mut v = Vec::with_capacity(3);
        if self.flavour == Flavour::AnyCable {
            v.push(codec::PROTOCOL_V1_EXT_JSON.to_owned());
        }
        v.push(codec::PROTOCOL_V1_JSON.to_owned());
        v.push(codec::PROTOCOL_UNSUPPORTED.to_owned());
        v
    }
}

/// A local subscription handle. Several handles may share one identifier (and one server subscription).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(pub u64);

/// Why a command was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No welcome on an open connection yet (or the session is stopped).
    #[error("not connected")]
    NotConnected,
    /// No local subscription has this identifier or handle.
    #[error("no such subscription")]
    NotSubscribed,
    /// `perform` data must serialize to a JSON object.
    #[error("data must be a JSON object")]
    DataNotAnObject,
    /// The data could not be serialized.
    #[error("data cannot be serialized: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The command needs the AnyCable ext protocol, which this connection does not speak.
    #[error("needs the AnyCable extended protocol")]
    NeedsExtProtocol,
}

/// Why the connection went down.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DownReason {
    /// No frame for the stale threshold.
    Stale {
        /// How long the connection was silent.
        silent_for: Duration,
    },
    /// The transport closed (with the close frame, if any) or could not be opened.
    Closed(Option<Close>),
    /// The server sent `disconnect`.
    ServerDisconnect {
        /// Its reason.
        reason: Option<String>,
        /// Its `reconnect` flag as sent.
        reconnect: Option<bool>,
    },
}

/// Why the session stopped for good (no reconnect after this).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The server picked `actioncable-unsupported`, a protocol that was not offered, or none when one is required.
    UnsupportedSubprotocol(Option<String>),
    /// The server sent `disconnect` without permission to reconnect.
    ServerDisconnect {
        /// Its reason.
        reason: Option<String>,
    },
    /// The application called [`Client::disconnect`].
    Requested,
}

/// A malformed frame.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The frame could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// What the client tells the application.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// `welcome` arrived.
    Connected {
        /// Whether this follows an earlier connection.
        reconnected: bool,
        /// AnyCable session id.
        sid: Option<String>,
        /// Whether AnyCable restored the previous session.
        restored: bool,
    },
    /// The server confirmed (or AnyCable restored) a subscription.
    Confirmed {
        /// The subscription.
        identifier: Identifier,
        /// Whether it had been confirmed before (a resubscription after a reconnect).
        reconnected: bool,
        /// Whether AnyCable restored it without a new subscribe.
        restored: bool,
    },
    /// The server rejected a subscription; it is forgotten (no retry), with every local handle.
    Rejected {
        /// The subscription.
        identifier: Identifier,
        /// Whether it had been confirmed before (the server refused a resubscription after a reconnect).
        reconnected: bool,
    },
    /// Neither confirm nor reject came after every retry. The subscription stays wanted and is sent again after
    /// the next reconnect.
    ConfirmationTimedOut {
        /// The subscription.
        identifier: Identifier,
        /// How many subscribes were sent.
        attempts: u32,
    },
    /// A broadcast.
    Message {
        /// The subscription.
        identifier: Identifier,
        /// The payload, a zero-copy slice of the frame.
        message: RawJson,
        /// AnyCable stream offset.
        offset: Option<u64>,
    },
    /// AnyCable presence.
    Presence {
        /// The subscription.
        identifier: Identifier,
        /// The presence payload.
        message: RawJson,
    },
    /// AnyCable replayed the history asked for.
    HistoryConfirmed {
        /// The subscription.
        identifier: Identifier,
    },
    /// AnyCable could not replay the history: messages were lost; the application must catch up itself.
    HistoryGap {
        /// The subscription.
        identifier: Identifier,
    },
    /// The connection went down; `reconnect_in` is `None` when the session stops.
    Disconnected {
        /// Why.
        reason: DownReason,
        /// When the next attempt is made.
        reconnect_in: Option<Duration>,
    },
    /// A reconnect finished: every wanted subscription is confirmed (or timed out).
    Recovered {
        /// From losing the connection to now.
        outage: Duration,
        /// Each subscription that was down, and for how long.
        subscriptions: Vec<(Identifier, Duration)>,
        /// Subscriptions still not confirmed (timed out).
        still_down: Vec<Identifier>,
    },
    /// The session stopped for good.
    Stopped {
        /// Why.
        reason: StopReason,
    },
    /// A frame for an identifier the client has no subscription for.
    Unmatched {
        /// The whole frame (hidden from `Debug`: identifiers can hold API keys).
        frame: Secret<Frame>,
    },
    /// A frame of unknown `type` (kept, as @rails/actioncable passes it on).
    Unknown {
        /// The whole frame (hidden from `Debug`).
        frame: Secret<Frame>,
    },
    /// A malformed or oversize frame; the session goes on.
    Error {
        /// Why.
        error: ProtocolError,
        /// The frame (hidden from `Debug`).
        frame: Secret<Frame>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Not connected; `reconnect_at` says when to dial.
    Idle,
    Connecting,
    Open {
        welcomed: bool,
    },
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubState {
    /// Not sent on this connection; `send_at` delays it (cooldown).
    Wanted {
        send_at: Option<Instant>,
    },
    Pending {
        deadline: Instant,
        attempts: u32,
    },
    Confirmed,
    TimedOut,
}

#[derive(Debug, Clone)]
pub(crate) struct Stream {
    id: String,
    epoch: String,
    offset: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Sub {
    pub(crate) id: Identifier,
    pub(crate) refs: u32,
    pub(crate) state: SubState,
    confirmed_once: bool,
    down_since: Option<Instant>,
    streams: Vec<Stream>,
    /// The server's spelling of the identifier literal on this connection (Rails escapes `<`, `>` and `&`
    /// as `\u003c`...), learned from the first frame that names it, usually the confirmation.
    wire_id: Option<Box<str>>,
}

/// The ActionCable client session. See the [module docs](self).
pub struct Client {
    config: Config,
    pub(crate) phase: Phase,
    pub(crate) reconnect_at: Option<Instant>,
    backoff: Backoff,
    rng: fastrand::Rng,
    out: VecDeque<Transmit>,
    events: VecDeque<Event>,
    dropped_events: u64,
    last_rx: Option<Instant>,
    ext: bool,
    sid: Option<String>,
    pub(crate) subs: Vec<Sub>,
    handles: Vec<(SubscriptionId, Identifier)>,
    next_handle: u64,
    cooldowns: Vec<(Identifier, Instant)>,
    down_since: Option<Instant>,
    connected_once: bool,
    recovery: Option<Vec<(Identifier, Duration)>>,
}

impl fmt::Debug for Client {
    /// A summary: identifiers are redacted, queued frames and the session id are not shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .field("phase", &self.phase)
            .field("ext", &self.ext)
            .field(
                "subscriptions",
                &self
                    .subs
                    .iter()
                    .map(|s| (&s.id, s.refs, s.state))
                    .collect::<Vec<_>>(),
            )
            .field("queued_transmits", &self.out.len())
            .field("queued_events", &self.events.len())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client that dials `config.url` at once (its first `poll_transmit` is the `Connect`).
    pub fn new(config: Config) -> Client {
        let mut c = Client {
            backoff: Backoff::new(config.backoff, config.seed),
            rng: fastrand::Rng::with_seed(config.seed ^ 0x9e37_79b9_7f4a_7c15),
            config,
            phase: Phase::Idle,
            reconnect_at: None,
            out: VecDeque::new(),
            events: VecDeque::new(),
            dropped_events: 0,
            last_rx: None,
            ext: false,
            sid: None,
            subs: Vec::new(),
            handles: Vec::new(),
            next_handle: 1,
            cooldowns: Vec::new(),
            down_since: None,
            connected_once: false,
            recovery: None,
        };
        c.connect();
        c
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether the connection is open and welcomed.
    pub fn is_connected(&self) -> bool {
        self.phase == Phase::Open { welcomed: true }
    }

    /// Whether the session stopped for good.
    pub fn is_stopped(&self) -> bool {
        self.phase == Phase::Stopped
    }

    /// Whether this connection speaks the AnyCable ext protocol.
    pub fn is_ext(&self) -> bool {
        self.ext
    }

    /// The AnyCable session id of the last welcome.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// The reconnect attempts since the last welcome.
    pub fn attempts(&self) -> u32 {
        self.backoff.attempt()
    }

    /// The identifiers subscribed locally (each once, however many handles share it).
    pub fn subscriptions(&self) -> impl Iterator<Item = &Identifier> {
        self.subs.iter().map(|s| &s.id)
    }

    /// Whether the server confirmed `identifier` on this connection.
    pub fn is_confirmed(&self, identifier: &Identifier) -> bool {
        self.subs
            .iter()
            .any(|s| &s.id == identifier && s.state == SubState::Confirmed)
    }

    fn connect(&mut self) {
        let mut url = self.config.url.clone();
        if self.ext_wanted()
            && let Some(sid) = &self.sid
        {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str("sid=");
            url.extend(url::form_urlencoded::byte_serialize(sid.as_bytes()));
        }
        let mut req = ConnectRequest::new(url);
        #[cfg(feature = "tracing")]
        tracing::debug!(url = req.redacted_url(), "actioncable: connecting");
        req.subprotocols = self.config.offered_subprotocols();
        req.headers = self.config.headers.clone();
        self.out.push_back(Transmit::Connect(req));
        self.phase = Phase::Connecting;
        self.reconnect_at = None;
    }

    /// How many events were dropped (the oldest first) because the application did not poll them before the
    /// queue reached [`Limits::max_queued`].
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    #[cfg(feature = "fuzzing")]
    pub(crate) fn queue_lens(&self) -> (usize, usize) {
        (self.out.len(), self.events.len())
    }

    fn ext_wanted(&self) -> bool {
        self.config.flavour == Flavour::AnyCable
    }

    fn push_event(&mut self, ev: Event) {
        if self.events.len() >= self.config.limits.max_queued.max(1) {
            self.events.pop_front();
            self.dropped_events = self.dropped_events.saturating_add(1);
        }
        self.events.push_back(ev);
    }

    fn send(&mut self, cmd: Command<'_>) {
        if self.out.len() >= self.config.limits.max_queued.max(1) {
            // drop the oldest frame, never a queued connect or close: the driver must still see those, or its
            // view of the transport goes wrong
            match self.out.iter().position(|t| matches!(t, Transmit::Send(_))) {
                Some(i) => {
                    self.out.remove(i);
                }
                None => return,
            }
        }
        self.out.push_back(Transmit::Send(Frame::from(cmd.encode())));
    }

    fn unix_secs(&self, at: Instant) -> Option<u64> {
        let (anchor, ms) = self.config.unix_anchor?;
        let ms = if at >= anchor {
            ms.saturating_add(u64::try_from((at - anchor).as_millis()).unwrap_or(u64::MAX))
        } else {
            ms.saturating_sub(u64::try_from((anchor - at).as_millis()).unwrap_or(u64::MAX))
        };
        Some(ms / 1000)
    }

    fn history_for(&self, i: usize) -> Option<HistoryRequest> {
        let sub = self.subs.get(i)?;
        if sub.streams.is_empty() {
            return None;
        }
        let mut h = HistoryRequest {
            since: sub.down_since.and_then(|t| self.unix_secs(t)),
            ..HistoryRequest::default()
        };
        for s in &sub.streams {
            h.streams.insert(
                s.id.clone(),
                StreamPosition {
                    epoch: s.epoch.clone(),
                    offset: s.offset,
                },
            );
        }
        Some(h)
    }

    fn send_subscribe(&mut self, now: Instant, i: usize) {
        let cooldown = self
            .subs
            .get(i)
            .and_then(|s| self.cooldowns.iter().find(|(id, _)| *id == s.id))
            .map(|(_, until)| *until)
            .filter(|until| *until > now);
        let Some(sub) = self.subs.get_mut(i) else { return };
        if let Some(until) = cooldown {
            sub.state = SubState::Wanted { send_at: Some(until) };
            return;
        }
        let attempts = match sub.state {
            SubState::Pending { attempts, .. } => attempts + 1,
            _ => 1,
        };
        sub.state = SubState::Pending {
            deadline: now + self.config.confirm_timeout,
            attempts,
        };
        let id = sub.id.clone();
        self.send(Command::Subscribe {
            identifier: id.as_str(),
            history: None,
        });
    }

    /// Subscribes to `identifier`. A second local subscription with the same identifier shares the server
    /// subscription (and gets its own `Confirmed` event at once when already confirmed).
    pub fn subscribe(&mut self, now: Instant, identifier: Identifier) -> SubscriptionId {
        let handle = SubscriptionId(self.next_handle);
        self.next_handle += 1;
        self.handles.push((handle, identifier.clone()));
        if let Some(sub) = self.subs.iter_mut().find(|s| s.id == identifier) {
            sub.refs += 1;
            if sub.state == SubState::Confirmed {
                self.push_event(Event::Confirmed {
                    identifier,
                    reconnected: false,
                    restored: false,
                });
            }
            return handle;
        }
        self.subs.push(Sub {
            id: identifier,
            refs: 1,
            state: SubState::Wanted { send_at: None },
            confirmed_once: false,
            down_since: None,
            streams: Vec::new(),
            wire_id: None,
        });
        if self.is_connected() {
            self.send_subscribe(now, self.subs.len() - 1);
        }
        handle
    }

    /// Drops a local subscription; `unsubscribe` goes to the server only when it was the last one sharing its
    /// identifier.
    pub fn unsubscribe(&mut self, now: Instant, handle: SubscriptionId) -> Result<(), ClientError> {
        let pos = self
            .handles
            .iter()
            .position(|(h, _)| *h == handle)
            .ok_or(ClientError::NotSubscribed)?;
        let (_, identifier) = self.handles.remove(pos);
        let Some(i) = self.subs.iter().position(|s| s.id == identifier) else {
            return Ok(());
        };
        let sub = &mut self.subs[i];
        sub.refs = sub.refs.saturating_sub(1);
        if sub.refs > 0 {
            return Ok(());
        }
        let sent = !matches!(sub.state, SubState::Wanted { .. });
        self.subs.remove(i);
        if sent && self.is_connected() {
            self.send(Command::Unsubscribe {
                identifier: identifier.as_str(),
            });
            self.cooldowns
                .retain(|(id, until)| *until > now && *id != identifier);
            self.cooldowns
                .push((identifier, now + self.config.resubscribe_cooldown));
        }
        Ok(())
    }

    /// Calls `action` on the channel: `data` (a JSON object) gets `"action": action` (in place if it has one,
    /// appended otherwise, as `data.action = action` does in JavaScript) and is sent string-encoded.
    pub fn perform(
        &mut self,
        identifier: &Identifier,
        action: &str,
        data: impl Serialize,
    ) -> Result<(), ClientError> {
        if !self.is_connected() {
            return Err(ClientError::NotConnected);
        }
        if !self.subs.iter().any(|s| &s.id == identifier) {
            return Err(ClientError::NotSubscribed);
        }
        let json = serde_json::to_string(&data)?;
        let text = with_action(&json, action).ok_or(ClientError::DataNotAnObject)?;
        self.send(Command::Message {
            identifier: identifier.as_str(),
            data: &text,
        });
        Ok(())
    }

    /// AnyCable `whisper`: `data` is sent as JSON (not string-encoded) to the other subscribers.
    pub fn whisper(&mut self, identifier: &Identifier, data: impl Serialize) -> Result<(), ClientError> {
        self.ext_command_check(identifier)?;
        let json = serde_json::to_string(&data)?;
        self.send(Command::Whisper {
            identifier: identifier.as_str(),
            data: &json,
        });
        Ok(())
    }

    /// AnyCable presence `join` with `presence` (for example `{"id":"u1","info":{"name":"Jack"}}`).
    pub fn join(&mut self, identifier: &Identifier, presence: impl Serialize) -> Result<(), ClientError> {
        self.ext_command_check(identifier)?;
        let json = serde_json::to_string(&presence)?;
        self.send(Command::Join {
            identifier: identifier.as_str(),
            presence: &json,
        });
        Ok(())
    }

    /// AnyCable presence `leave`.
    pub fn leave(&mut self, identifier: &Identifier) -> Result<(), ClientError> {
        self.ext_command_check(identifier)?;
        self.send(Command::Leave {
            identifier: identifier.as_str(),
        });
        Ok(())
    }

    fn ext_command_check(&self, identifier: &Identifier) -> Result<(), ClientError> {
        if !self.is_connected() {
            return Err(ClientError::NotConnected);
        }
        if !self.ext {
            return Err(ClientError::NeedsExtProtocol);
        }
        if !self.subs.iter().any(|s| &s.id == identifier) {
            return Err(ClientError::NotSubscribed);
        }
        Ok(())
    }

    /// Closes the connection and stops for good.
    pub fn disconnect(&mut self) {
        if matches!(self.phase, Phase::Open { .. } | Phase::Connecting) {
            self.out.push_back(Transmit::Close(Close::normal()));
        }
        self.stop(StopReason::Requested);
    }

    fn stop(&mut self, reason: StopReason) {
        if self.phase == Phase::Stopped {
            return;
        }
        #[cfg(feature = "tracing")]
        tracing::debug!(?reason, "actioncable: stopped");
        self.phase = Phase::Stopped;
        self.reconnect_at = None;
        self.last_rx = None;
        self.push_event(Event::Stopped { reason });
    }

    /// The connection is gone: mark subscriptions down and schedule the next attempt (or stop).
    fn go_down(&mut self, now: Instant, since: Instant, reason: DownReason, delay: Option<Duration>) {
        #[cfg(feature = "tracing")]
        tracing::debug!(
            ?reason,
            ?delay,
            attempt = self.backoff.attempt(),
            "actioncable: connection down"
        );
        self.last_rx = None;
        self.ext = false;
        if self.down_since.is_none() {
            self.down_since = Some(since);
        }
        for sub in &mut self.subs {
            if sub.state == SubState::Confirmed && sub.down_since.is_none() {
                sub.down_since = Some(since);
            }
            sub.state = SubState::Wanted { send_at: None };
            sub.wire_id = None; // the next server may spell identifiers differently
        }
        match delay {
            Some(d) => {
                self.phase = Phase::Idle;
                self.reconnect_at = Some(now + d);
                self.push_event(Event::Disconnected {
                    reason,
                    reconnect_in: Some(d),
                });
            }
            None => {
                self.push_event(Event::Disconnected {
                    reason: reason.clone(),
                    reconnect_in: None,
                });
                let stop = match reason {
                    DownReason::ServerDisconnect { reason, .. } => StopReason::ServerDisconnect { reason },
                    _ => StopReason::Requested,
                };
                self.stop(stop);
            }
        }
    }

    fn backoff_delay(&mut self) -> Duration {
        if self.backoff.attempt() == 0 {
            self.backoff
                .next_delay_with_jitter(self.config.first_attempt_jitter)
        } else {
            self.backoff.next_delay()
        }
    }

    /// The subscription a frame's identifier names. A literal spelled as the server spelled it before is
    /// found with one byte comparison; otherwise escapes are decoded to compare, and the spelling is
    /// remembered (one allocation per subscription and connection, so data frames allocate nothing).
    fn find(&mut self, id: &JsonStr<'_>) -> Option<usize> {
        let raw = id.raw();
        if let Some(i) = self.subs.iter().position(|s| s.wire_id.as_deref() == Some(raw)) {
            return Some(i);
        }
        let i = self.subs.iter().position(|s| id.eq_str(s.id.as_str()))?;
        let sub = &mut self.subs[i];
        if sub.wire_id.is_none() {
            sub.wire_id = Some(raw.into());
        }
        Some(i)
    }

    fn on_welcome(&mut self, now: Instant, sid: Option<String>, restored: bool, restored_ids: &[&str]) {
        #[cfg(feature = "tracing")]
        tracing::debug!(restored, subscriptions = self.subs.len(), "actioncable: welcome");
        self.phase = Phase::Open { welcomed: true };
        self.backoff.reset();
        let reconnected = self.connected_once;
        self.connected_once = true;
        if self.ext && sid.is_some() {
            self.sid = sid.clone();
        }
        self.push_event(Event::Connected {
            reconnected,
            sid,
            restored,
        });
        if reconnected {
            self.recovery = Some(Vec::new());
        }
        for i in 0..self.subs.len() {
            let was_restored =
                restored && self.ext && restored_ids.iter().any(|r| *r == self.subs[i].id.as_str());
            if was_restored {
                self.confirm(now, i, true);
            } else {
                self.send_subscribe(now, i);
            }
        }
        self.check_recovered(now);
    }

    fn confirm(&mut self, now: Instant, i: usize, restored: bool) {
        let Some(sub) = self.subs.get_mut(i) else { return };
        if sub.state == SubState::Confirmed {
            return; // a duplicate confirm
        }
        sub.state = SubState::Confirmed;
        let reconnected = sub.confirmed_once;
        sub.confirmed_once = true;
        let id = sub.id.clone();
        let history = if self.ext && reconnected {
            self.history_for(i)
        } else {
            None
        };
        let down = self.subs.get_mut(i).and_then(|s| s.down_since.take());
        if let (Some(rec), Some(since)) = (self.recovery.as_mut(), down) {
            rec.push((id.clone(), now.saturating_duration_since(since)));
        }
        if let Some(h) = history {
            self.send(Command::History {
                identifier: id.as_str(),
                history: &h,
            });
        }
        self.push_event(Event::Confirmed {
            identifier: id,
            reconnected,
            restored,
        });
    }

    fn check_recovered(&mut self, now: Instant) {
        if self.recovery.is_none() {
            return;
        }
        let pending = self
            .subs
            .iter()
            .any(|s| matches!(s.state, SubState::Wanted { .. } | SubState::Pending { .. }));
        if pending {
            return;
        }
        let subscriptions = self.recovery.take().unwrap_or_default();
        let still_down = self
            .subs
            .iter()
            .filter(|s| s.state == SubState::TimedOut)
            .map(|s| s.id.clone())
            .collect();
        let outage = self
            .down_since
            .take()
            .map(|t| now.saturating_duration_since(t))
            .unwrap_or_default();
        self.push_event(Event::Recovered {
            outage,
            subscriptions,
            still_down,
        });
    }

    fn on_message(&mut self, now: Instant, frame: &Frame) {
        let msg = match codec::decode_server(frame.as_str()) {
            Ok(m) => m,
            Err(e) => {
                self.push_event(Event::Error {
                    error: e.into(),
                    frame: Secret::new(frame.clone()),
                });
                return;
            }
        };
        match msg {
            ServerMessage::Message {
                identifier,
                message,
                stream_id,
                epoch,
                offset,
            } => {
                let Some(i) = self.find(&identifier) else {
                    self.push_event(Event::Unmatched {
                        frame: Secret::new(frame.clone()),
                    });
                    return;
                };
                if let (Some(stream_id), Some(epoch), Some(offset)) = (stream_id, epoch, offset) {
                    let sub = &mut self.subs[i];
                    match sub.streams.iter_mut().find(|s| s.id == stream_id) {
                        Some(s) if s.epoch == epoch && offset <= s.offset => return, // replayed duplicate
                        Some(s) => {
                            if s.epoch != epoch {
                                s.epoch = epoch.into_owned();
                            }
                            s.offset = offset;
                        }
                        None => sub.streams.push(Stream {
                            id: stream_id.into_owned(),
                            epoch: epoch.into_owned(),
                            offset,
                        }),
                    }
                }
                let event = Event::Message {
                    identifier: self.subs[i].id.clone(),
                    message: RawJson::from_raw_in(frame, message),
                    offset,
                };
                self.push_event(event);
            }
            ServerMessage::Ping { .. } => {
                if self.ext && self.config.answer_pings {
                    self.send(Command::Pong);
                }
            }
            ServerMessage::Welcome {
                sid,
                restored,
                restored_ids,
            } => {
                let ids: Vec<String> = restored_ids.iter().map(|c| c.to_string()).collect();
                let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
                self.on_welcome(now, sid.map(|s| s.into_owned()), restored, &refs);
            }
            ServerMessage::Confirm { identifier } => match self.find(&identifier) {
                Some(i) => {
                    self.confirm(now, i, false);
                    self.check_recovered(now);
                }
                None => self.push_event(Event::Unmatched {
                    frame: Secret::new(frame.clone()),
                }),
            },
            ServerMessage::Reject { identifier } => match self.find(&identifier) {
                Some(i) => {
                    let sub = self.subs.remove(i);
                    self.handles.retain(|(_, id)| *id != sub.id);
                    self.push_event(Event::Rejected {
                        identifier: sub.id,
                        reconnected: sub.confirmed_once,
                    });
                    self.check_recovered(now);
                }
                None => self.push_event(Event::Unmatched {
                    frame: Secret::new(frame.clone()),
                }),
            },
            ServerMessage::Disconnect { reason, reconnect } => {
                let again = reconnect.unwrap_or(self.config.reconnect_when_unspecified);
                self.out.push_back(Transmit::Close(Close::normal()));
                let delay = again.then(|| self.config.restart_delay.mul_f64(1.0 + self.rng.f64()));
                let reason = DownReason::ServerDisconnect {
                    reason: reason.map(|r| r.into_owned()),
                    reconnect,
                };
                self.go_down(now, now, reason, delay);
            }
            ServerMessage::ConfirmHistory { identifier } | ServerMessage::RejectHistory { identifier } => {
                let gap = matches!(msg, ServerMessage::RejectHistory { .. });
                match self.find(&identifier) {
                    Some(i) => {
                        let identifier = self.subs[i].id.clone();
                        self.push_event(if gap {
                            Event::HistoryGap { identifier }
                        } else {
                            Event::HistoryConfirmed { identifier }
                        });
                    }
                    None => self.push_event(Event::Unmatched {
                        frame: Secret::new(frame.clone()),
                    }),
                }
            }
            ServerMessage::Presence { identifier, message } => match self.find(&identifier) {
                Some(i) => {
                    let event = Event::Presence {
                        identifier: self.subs[i].id.clone(),
                        message: RawJson::from_raw_in(frame, message),
                    };
                    self.push_event(event);
                }
                None => self.push_event(Event::Unmatched {
                    frame: Secret::new(frame.clone()),
                }),
            },
            ServerMessage::Pong => {}
            ServerMessage::Unknown { .. } => self.push_event(Event::Unknown {
                frame: Secret::new(frame.clone()),
            }),
        }
    }

    /// The earliest subscription deadline (confirmation timeouts, cooldowns).
    fn sub_deadline(&self) -> Option<Instant> {
        if !self.is_connected() {
            return None;
        }
        self.subs
            .iter()
            .filter_map(|s| match s.state {
                SubState::Pending { deadline, .. } => Some(deadline),
                SubState::Wanted { send_at } => send_at,
                _ => None,
            })
            .min()
    }
}

/// Sets `action` in the JSON object text `json` (in place when present, appended otherwise).
fn with_action(json: &str, action: &str) -> Option<String> {
    let fields = crate::identifier::parse_fields_raw(json)?;
    let mut out = String::with_capacity(json.len() + action.len() + 16);
    out.push('{');
    let mut replaced = false;
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        codec::push_json_str(&mut out, k);
        out.push(':');
        if k == "action" {
            codec::push_json_str(&mut out, action);
            replaced = true;
        } else {
            out.push_str(v.get());
        }
    }
    if !replaced {
        if !fields.is_empty() {
            out.push(',');
        }
        out.push_str("\"action\":");
        codec::push_json_str(&mut out, action);
    }
    out.push('}');
    Some(out)
}

impl Session for Client {
    type Event = Event;

    fn handle_open(&mut self, now: Instant, subprotocol: Option<&str>) {
        if self.phase != Phase::Connecting {
            return;
        }
        let offered = self.config.offered_subprotocols();
        let ok = match subprotocol {
            Some(p) => p != codec::PROTOCOL_UNSUPPORTED && offered.iter().any(|o| o == p),
            None => !self.config.require_subprotocol,
        };
        if !ok {
            self.out.push_back(Transmit::Close(Close::normal()));
            self.stop(StopReason::UnsupportedSubprotocol(subprotocol.map(str::to_owned)));
            return;
        }
        self.ext = subprotocol == Some(codec::PROTOCOL_V1_EXT_JSON);
        self.phase = Phase::Open { welcomed: false };
        self.last_rx = Some(now);
    }

    fn handle_frame(&mut self, now: Instant, frame: Frame) {
        if !matches!(self.phase, Phase::Open { .. }) {
            return;
        }
        self.last_rx = Some(now);
        let max = self.config.limits.max_frame_size;
        if frame.len() > max {
            self.push_event(Event::Error {
                error: DecodeError::TooLarge {
                    len: frame.len(),
                    max,
                }
                .into(),
                frame: Secret::new(frame),
            });
            return;
        }
        self.on_message(now, &frame);
    }

    fn handle_close(&mut self, now: Instant, close: Option<Close>) {
        if !matches!(self.phase, Phase::Open { .. } | Phase::Connecting) {
            return;
        }
        // Rails 5.2 sends no disconnect frame: a close is always worth a reconnect.
        let delay = self.backoff_delay();
        self.go_down(now, now, DownReason::Closed(close), Some(delay));
    }

    fn handle_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::Idle => {
                if self.reconnect_at.is_some_and(|t| t <= now) {
                    self.connect();
                }
            }
            Phase::Open { welcomed } => {
                if let Some(last) = self.last_rx
                    && now >= last + self.config.stale_after
                {
                    self.out.push_back(Transmit::Close(Close::new(1000u16, "stale")));
                    let delay = self.backoff_delay();
                    let reason = DownReason::Stale {
                        silent_for: now.saturating_duration_since(last),
                    };
                    self.go_down(now, last, reason, Some(delay));
                    return;
                }
                if welcomed {
                    self.cooldowns.retain(|(_, until)| *until > now);
                    for i in 0..self.subs.len() {
                        match self.subs[i].state {
                            SubState::Wanted { send_at: Some(t) } if t <= now => {
                                self.subs[i].state = SubState::Wanted { send_at: None };
                                self.send_subscribe(now, i);
                            }
                            SubState::Pending { deadline, attempts } if deadline <= now => {
                                if attempts <= self.config.confirm_retries {
                                    self.send_subscribe(now, i);
                                } else {
                                    self.subs[i].state = SubState::TimedOut;
                                    let identifier = self.subs[i].id.clone();
                                    self.push_event(Event::ConfirmationTimedOut { identifier, attempts });
                                }
                            }
                            _ => {}
                        }
                    }
                    self.check_recovered(now);
                }
            }
            Phase::Connecting | Phase::Stopped => {}
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Idle => self.reconnect_at,
            Phase::Open { .. } => {
                let stale = self.last_rx.map(|t| t + self.config.stale_after);
                [stale, self.sub_deadline()].into_iter().flatten().min()
            }
            Phase::Connecting | Phase::Stopped => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_action_keeps_order() {
        assert_eq!(
            with_action(r#"{"text":"hi"}"#, "speak").unwrap(),
            r#"{"text":"hi","action":"speak"}"#
        );
        assert_eq!(
            with_action(r#"{"action":"x","n":1}"#, "speak").unwrap(),
            r#"{"action":"speak","n":1}"#
        );
        assert_eq!(with_action("{}", "a").unwrap(), r#"{"action":"a"}"#);
        assert!(with_action("[1]", "a").is_none());
    }
}
