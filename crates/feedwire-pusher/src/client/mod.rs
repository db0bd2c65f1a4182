//! The Pusher client session: a [`Session`] with pusher-js's connection policy.
//!
//! # What it does
//! - follows feedwire's one [`Lifecycle`](feedwire_core::Lifecycle): [`Client::new`] never dials, [`Client::connect`] does,
//!   [`Client::disconnect`] closes (1000) and stops; [`Client::is_open`] is true from
//!   `pusher:connection_established` until the connection is lost;
//! - dials `ws[s]://HOST:PORT[/PATH]/app/KEY?protocol=7&client=..&version=..&flash=false` ([`Config::url`]);
//! - tells the application [`Event::Connected`], [`Event::Disconnected`] (with why), [`Event::Reconnecting`],
//!   [`Event::Stopped`], and [`Event::Unavailable`] when no connection was made within
//!   [`Config::unavailable_timeout`] (pusher-js's `unavailable` state; retrying goes on);
//! - activity timeout = min([`Config::activity_timeout`], the server's `activity_timeout`): every received frame
//!   re-arms it; on expiry it sends `pusher:ping`; no frame within [`Config::pong_timeout`] closes and reconnects
//!   at once; a server `pusher:ping` is answered with `pusher:pong`;
//! - closes are classified strictly by code ([`CloseAction::classify`]): 4000 retry now with TLS, 4001-4099 stop,
//!   4100-4199 backoff, 4200-4299 reconnect now, 4300+ stop, below 4000 (or no code) backoff. A `pusher:error`
//!   on an open socket is only an event;
//! - subscriptions to public, private, presence, encrypted (feature `encrypted`) and cache channels; private,
//!   presence and encrypted channels raise [`Event::AuthRequired`], answered by [`Client::provide_auth`] or
//!   [`Client::fail_auth`]; all requests pending at once are listed by [`Client::pending_auth`] so a caller can
//!   batch them;
//! - after every reconnect, every wanted channel is subscribed again with fresh auth, and
//!   [`Event::Resubscribed`] says how long it was down (catch up over REST for that window);
//! - presence members, client events (rate limited), encrypted channels, user signin, watchlist events.
//!
//! # Queues
//! Frames and events wait in a [`feedwire_core::Outbox`] bounded by `limits.max_queued`: a command that would
//! send while that many frames wait returns [`CommandError::QueueFull`] with nothing changed; the session's own
//! frames (pongs, resubscribes) and the events are bounded as the outbox documents; [`Event`] lists the events
//! that are never dropped. [`Client::queue_stats`] reports it all.
//!
//! # Client events
//! [`Client::trigger`] accepts events only on subscribed `private-*` / `presence-*` channels (never
//! `private-encrypted-*`) and at most [`Config::client_event_rate`] per second per connection, counted over a
//! sliding one-second window. An event over the limit is **rejected** with [`CommandError::RateLimited`] (which
//! says when the next one is allowed), not queued: a queue would deliver stale events late and hide back
//! pressure, and the server would close the connection with 4301 if the limit were exceeded.
//!
//! # Commands and time
//! Commands that need time take `now` ([`Client::connect`], [`Client::disconnect`], [`Client::trigger`]); the
//! others use the latest instant the session has seen.

mod auth;
mod config;
mod event;
mod kind;
mod registry;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytestring::ByteString;
use feedwire_core::{Backoff, Close, ConnectRequest, Frame, Outbox, QueueStats, RawJson, Session, Transmit};
use serde::Deserialize;

pub use auth::{AuthRequest, AuthResponseError, ChannelAuth, UserAuth};
pub use config::{Config, ConfigError};
pub use event::{
    CloseAction, CommandError, DisconnectReason, Event, StopReason, SubscribeOutcome, TimeoutKind,
    UnsubscribeOutcome,
};
pub use kind::ChannelKind;

use crate::codec::{ChannelEvent, ClientMessage, DecodeError, ServerMessage, events};
use event::cut;
use registry::Registry;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Idle,
    Dialing,
    Open,
    Connected { socket_id: ByteString },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signin {
    Off,
    Wanted,
    AwaitingAuth,
    Sent,
    Done,
}

/// The Pusher client session. See the [module docs](self).
///
/// ```
/// use std::time::Instant;
/// use feedwire_core::{Frame, Session, Transmit};
/// use feedwire_pusher::client::{ChannelAuth, Client, Config, Event};
///
/// let now = Instant::now();
/// let mut c = Client::new(Config::new("278d425bdf160c739803").with_host("127.0.0.1").with_tls(false).with_port(6001));
/// c.subscribe("private-foobar").unwrap();
/// assert!(c.poll_transmit().is_none() && c.is_stopped()); // `new` never dials
/// c.connect(now);
/// assert!(matches!(c.poll_transmit(), Some(Transmit::Connect(_))));
/// c.handle_open(now, None);
/// c.handle_frame(now, Frame::from(r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"1234.1234\",\"activity_timeout\":30}"}"#));
/// assert!(c.is_open());
/// let requests = c.pending_auth();
/// assert_eq!(requests[0].channel, "private-foobar");
/// c.provide_auth("private-foobar", ChannelAuth::new("278d425bdf160c739803:58df8b0c")).unwrap();
/// let Some(Transmit::Send(f)) = c.poll_transmit() else { panic!() };
/// assert_eq!(f.as_str(), r#"{"event":"pusher:subscribe","data":{"auth":"278d425bdf160c739803:58df8b0c","channel":"private-foobar"}}"#);
/// ```
#[derive(Debug)]
pub struct Client {
    config: Config,
    tls: bool,
    phase: Phase,
    stopped: bool,
    unavailable: bool,
    backoff: Backoff,
    registry: Registry,
    out: Outbox<Event>,
    last_now: Option<Instant>,
    activity: Duration,
    reconnect_at: Option<Instant>,
    handshake_deadline: Option<Instant>,
    unavailable_deadline: Option<Instant>,
    activity_deadline: Option<Instant>,
    pong_deadline: Option<Instant>,
    client_events: VecDeque<Instant>,
    signin: Signin,
}

impl Client {
    /// A stopped session that has not dialed; call [`Client::connect`] to dial. Subscriptions made before
    /// then go out once connected.
    pub fn new(config: Config) -> Self {
        Client {
            tls: config.tls,
            phase: Phase::Idle,
            stopped: true,
            unavailable: false,
            backoff: Backoff::new(config.backoff, config.seed),
            registry: Registry::default(),
            out: Outbox::new(&config.limits),
            last_now: None,
            activity: config.activity_timeout,
            reconnect_at: None,
            handshake_deadline: None,
            unavailable_deadline: None,
            activity_deadline: None,
            pong_deadline: None,
            client_events: VecDeque::new(),
            signin: Signin::Off,
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether `pusher:connection_established` arrived on the current connection.
    pub fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Connected { .. })
    }

    /// Whether the session is stopped and will not dial by itself: before the first [`Client::connect`],
    /// after [`Client::disconnect`], and after a close that says not to reconnect (4001-4099, 4300+).
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// The socket id while connected.
    pub fn socket_id(&self) -> Option<&str> {
        match &self.phase {
            Phase::Connected { socket_id } => Some(socket_id),
            _ => None,
        }
    }

    /// Whether the next connection uses TLS.
    pub fn uses_tls(&self) -> bool {
        self.tls
    }

    /// The effective activity timeout.
    pub fn activity_timeout(&self) -> Duration {
        self.activity
    }

    /// What the queues hold and have dropped.
    pub fn queue_stats(&self) -> QueueStats {
        self.out.stats()
    }

    /// The backoff (for inspection).
    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    /// The channels the application wants, in name order.
    pub fn channels(&self) -> impl Iterator<Item = &str> {
        self.registry.wanted()
    }

    /// Whether `channel` is subscribed on the wire right now.
    pub fn is_subscribed(&self, channel: &str) -> bool {
        self.registry.is_subscribed(channel)
    }

    /// The members of a subscribed presence channel (user id -> info).
    pub fn members(&self, channel: &str) -> Option<&BTreeMap<String, Option<RawJson>>> {
        self.registry.members(channel)
    }

    /// Our own user id on a presence channel (from the `channel_data` we were authorized with).
    pub fn me(&self, channel: &str) -> Option<&str> {
        self.registry.me(channel)
    }

    /// Every authorization the session waits for, all at once (batch them).
    pub fn pending_auth(&self) -> Vec<AuthRequest> {
        match &self.phase {
            Phase::Connected { socket_id } => self.registry.pending_auth(socket_id),
            _ => Vec::new(),
        }
    }

    /// Starts connecting; a no-op while connecting (backoff waits included) or open. A stopped session
    /// starts again with its backoff reset; wanted channels are subscribed once connected.
    pub fn connect(&mut self, now: Instant) {
        self.touch(now);
        if !self.stopped {
            return;
        }
        self.stopped = false;
        self.unavailable = false;
        self.backoff.reset();
        self.tls = self.config.tls;
        self.unavailable_deadline = Some(later(now, self.config.unavailable_timeout));
        self.dial(now);
    }

    /// Closes the connection (1000) if one is up or being dialed, and stops: no reconnect until
    /// [`Client::connect`]. Emits [`Event::Disconnected`] (when a connection was open) and [`Event::Stopped`].
    /// Wanted channels are kept and subscribed again by a later [`Client::connect`]. Pusher says nothing on
    /// leaving: pusher-js closes the socket.
    pub fn disconnect(&mut self, now: Instant) {
        self.touch(now);
        if self.stopped {
            return;
        }
        let was_open = matches!(self.phase, Phase::Open | Phase::Connected { .. });
        if self.phase != Phase::Idle {
            self.out.push_transmit(Transmit::Close(Close::normal()));
        }
        self.lose();
        self.reconnect_at = None;
        self.unavailable_deadline = None;
        self.stopped = true;
        if was_open {
            self.out.push_event_kept(Event::Disconnected {
                reason: DisconnectReason::Requested,
            });
        }
        self.out.push_event_kept(Event::Stopped {
            reason: StopReason::Requested,
        });
    }

    /// Subscribes to a channel (now if connected, else once connected). Subscribing to a channel already
    /// wanted is a no-op that returns [`SubscribeOutcome::AlreadySubscribed`].
    pub fn subscribe(&mut self, channel: &str) -> Result<SubscribeOutcome, CommandError> {
        let connected = match &self.phase {
            Phase::Connected { socket_id } => Some(socket_id),
            _ => None,
        };
        self.registry
            .subscribe(channel, self.config.limits.max_queued, connected, &mut self.out)
    }

    /// Unsubscribes. When a subscribe is in flight, `pusher:unsubscribe` is sent when its success arrives.
    pub fn unsubscribe(&mut self, channel: &str) -> Result<UnsubscribeOutcome, CommandError> {
        self.registry.unsubscribe(channel, &mut self.out)
    }

    /// Answers an [`Event::AuthRequired`]: sends the subscription (or, for a re-authorization of an encrypted
    /// channel, installs the new key and retries the events that failed).
    pub fn provide_auth(&mut self, channel: &str, auth: ChannelAuth) -> Result<(), CommandError> {
        self.registry.provide_auth(channel, auth, &mut self.out)
    }

    /// Refuses an [`Event::AuthRequired`]: the subscription fails with [`Event::SubscriptionFailed`]
    /// (shape [`SubscriptionErrorShape::AuthFailed`](crate::codec::SubscriptionErrorShape::AuthFailed)); for a
    /// re-authorization, the waiting events are dropped.
    pub fn fail_auth(&mut self, channel: &str, reason: &str) -> Result<(), CommandError> {
        self.registry.fail_auth(channel, reason, &mut self.out)
    }

    /// Asks to sign the user in: raises [`Event::UserAuthRequired`] now if connected (else once connected),
    /// and again after every reconnect.
    pub fn signin(&mut self) {
        if self.signin == Signin::Off {
            self.signin = Signin::Wanted;
        }
        if self.signin == Signin::Wanted {
            self.request_signin();
        }
    }

    /// Answers [`Event::UserAuthRequired`]: sends `pusher:signin`.
    pub fn provide_user_auth(&mut self, auth: UserAuth) -> Result<(), CommandError> {
        if self.signin != Signin::AwaitingAuth || !self.is_open() {
            return Err(CommandError::SigninNotPending);
        }
        #[derive(Deserialize)]
        struct Id {
            id: String,
        }
        match serde_json::from_str::<Id>(&auth.user_data) {
            Ok(Id { id }) if !id.is_empty() => {}
            Ok(_) => {
                return Err(CommandError::BadUserData {
                    reason: "id is empty".into(),
                });
            }
            Err(e) => {
                return Err(CommandError::BadUserData {
                    reason: e.to_string(),
                });
            }
        }
        self.out.check_room()?;
        self.signin = Signin::Sent;
        self.send(ClientMessage::Signin {
            auth: auth.auth,
            user_data: auth.user_data,
        });
        Ok(())
    }

    /// Refuses [`Event::UserAuthRequired`]: signin is abandoned until [`Client::signin`] is called again.
    pub fn fail_user_auth(&mut self) -> Result<(), CommandError> {
        if self.signin != Signin::AwaitingAuth {
            return Err(CommandError::SigninNotPending);
        }
        self.signin = Signin::Off;
        Ok(())
    }

    /// Sends a client event (`client-*`) with JSON `data` on a subscribed private or presence channel. See the
    /// module docs for the rate limit (rejects, does not queue).
    pub fn trigger(
        &mut self,
        now: Instant,
        channel: &str,
        event: &str,
        data: &str,
    ) -> Result<(), CommandError> {
        self.touch(now);
        let msg = ClientMessage::client_event(event, channel, data)?;
        if !self.is_open() {
            return Err(CommandError::NotConnected);
        }
        self.registry.check_client_event(channel)?;
        let window = Duration::from_secs(1);
        while self
            .client_events
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            self.client_events.pop_front();
        }
        let limit = self.config.client_event_rate;
        if self.client_events.len() >= limit as usize {
            let retry_after = match self.client_events.front() {
                Some(t) => later(*t, window).saturating_duration_since(now),
                None => window,
            };
            return Err(CommandError::RateLimited { limit, retry_after });
        }
        self.out.check_room()?;
        self.client_events.push_back(now);
        self.send(msg);
        Ok(())
    }

    /// Checks the session's internal invariants (for the fuzzer and the chaos tests).
    #[cfg(feature = "fuzzing")]
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        let connected = self.is_open();
        if self.stopped && (self.phase != Phase::Idle || self.reconnect_at.is_some()) {
            return Err(format!(
                "stopped, yet {:?} with reconnect at {:?}",
                self.phase, self.reconnect_at
            ));
        }
        if !self.stopped && self.phase == Phase::Idle && self.reconnect_at.is_none() {
            return Err("idle and not stopped, yet no reconnect scheduled".into());
        }
        if matches!(self.phase, Phase::Dialing | Phase::Open) != self.handshake_deadline.is_some() {
            return Err(format!(
                "{:?} with handshake deadline {:?}",
                self.phase, self.handshake_deadline
            ));
        }
        if !connected && (self.activity_deadline.is_some() || self.pong_deadline.is_some()) {
            return Err("activity or pong deadline while not connected".into());
        }
        if !connected && !self.client_events.is_empty() {
            return Err("client event window kept while not connected".into());
        }
        if self.client_events.len() > self.config.client_event_rate as usize {
            return Err("more client events in the window than the rate allows".into());
        }
        if !connected && matches!(self.signin, Signin::AwaitingAuth | Signin::Sent | Signin::Done) {
            return Err(format!("signin {:?} while not connected", self.signin));
        }
        self.registry.check(connected)
    }

    // ---- internals ----

    fn touch(&mut self, now: Instant) {
        if self.last_now.is_none_or(|t| now > t) {
            self.last_now = Some(now);
        }
    }

    /// Queues a frame the session sends on its own (pongs, pings, resubscribes).
    fn send_reply(&mut self, msg: ClientMessage) {
        self.out.push_reply(Transmit::Send(msg.encode()));
    }

    /// Queues a command's frame (the command passed `check_room`).
    fn send(&mut self, msg: ClientMessage) {
        self.out.push_transmit(Transmit::Send(msg.encode()));
    }

    fn dial(&mut self, now: Instant) {
        self.reconnect_at = None;
        self.phase = Phase::Dialing;
        self.handshake_deadline = Some(later(now, self.config.handshake_timeout));
        self.out
            .push_transmit(Transmit::Connect(ConnectRequest::new(self.config.url(self.tls))));
    }

    /// The connection is gone: channels down, members reset, timers off.
    fn lose(&mut self) {
        self.phase = Phase::Idle;
        self.activity_deadline = None;
        self.pong_deadline = None;
        self.handshake_deadline = None;
        self.client_events.clear();
        self.registry.lose(self.last_now);
        if matches!(self.signin, Signin::AwaitingAuth | Signin::Sent | Signin::Done) {
            self.signin = Signin::Wanted;
        }
    }

    /// Schedules the next dial after a loss that does not stop the session.
    fn after_loss(&mut self, now: Instant, action: CloseAction, was_connected: bool) {
        if self.unavailable_deadline.is_none() && !self.unavailable {
            self.unavailable_deadline = Some(later(now, self.config.unavailable_timeout));
        }
        let now_again = match action {
            CloseAction::RetryWithTls if !self.tls => {
                self.tls = true;
                true
            }
            CloseAction::Immediate => was_connected,
            _ => false,
        };
        if now_again {
            self.out.push_event_kept(Event::Reconnecting {
                after: Duration::ZERO,
                attempt: self.backoff.attempt(),
            });
            self.dial(now);
        } else {
            let attempt = self.backoff.attempt() + 1;
            let after = self.backoff.next_delay();
            self.reconnect_at = Some(later(now, after));
            self.out.push_event_kept(Event::Reconnecting { after, attempt });
        }
    }

    /// The session gave the connection up: close it, report why, reconnect as `action` says.
    fn give_up(&mut self, now: Instant, close: Close, kind: TimeoutKind, action: CloseAction) {
        let was_connected = self.is_open();
        self.out.push_transmit(Transmit::Close(close));
        self.lose();
        self.out.push_event_kept(Event::Disconnected {
            reason: DisconnectReason::TimedOut { kind },
        });
        self.after_loss(now, action, was_connected);
    }

    fn request_signin(&mut self) {
        if let Phase::Connected { socket_id } = &self.phase {
            let socket_id = socket_id.clone();
            self.signin = Signin::AwaitingAuth;
            self.out.push_event_kept(Event::UserAuthRequired { socket_id });
        }
    }

    fn on_established(&mut self, now: Instant, socket_id: ByteString, server_timeout: u64) {
        self.activity = self
            .config
            .activity_timeout
            .min(Duration::from_secs(server_timeout));
        self.phase = Phase::Connected {
            socket_id: socket_id.clone(),
        };
        self.handshake_deadline = None;
        self.unavailable_deadline = None;
        self.unavailable = false;
        self.reconnect_at = None;
        self.backoff.reset();
        self.activity_deadline = Some(later(now, self.activity));
        #[cfg(feature = "tracing")]
        tracing::debug!(socket_id = %socket_id, "pusher: connected");
        self.out.push_event_kept(Event::Connected {
            socket_id: socket_id.clone(),
            activity_timeout: self.activity,
        });
        self.registry.start_all(&socket_id, &mut self.out);
        if self.signin == Signin::Wanted {
            self.request_signin();
        }
    }

    fn on_channel_event(&mut self, e: ChannelEvent) {
        let socket_id = match &self.phase {
            Phase::Connected { socket_id } => Some(socket_id),
            _ => None,
        };
        self.registry.on_event(e, socket_id, &mut self.out);
    }

    fn on_message(&mut self, now: Instant, msg: ServerMessage, frame: &Frame) {
        let out = &mut self.out;
        match msg {
            ServerMessage::Event(e) if e.channel.is_none() && events::is_protocol_event(&e.event) => {
                out.push_event(Event::Unknown { frame: frame.clone() });
            }
            ServerMessage::Event(e) => self.on_channel_event(e),
            ServerMessage::ConnectionEstablished(c) => {
                if self.phase == Phase::Open || self.phase == Phase::Dialing {
                    self.on_established(now, c.socket_id, c.activity_timeout);
                } else {
                    out.push_event(Event::Unknown { frame: frame.clone() });
                }
            }
            ServerMessage::Error(e) => self.registry.on_error(e, out),
            ServerMessage::Ping { .. } => self.send_reply(ClientMessage::Pong),
            ServerMessage::Pong { .. } => {}
            ServerMessage::SubscriptionSucceeded { channel, data } => {
                self.registry.on_succeeded(now, channel, data, frame, out)
            }
            ServerMessage::SubscriptionError(e) => self.registry.on_subscription_error(e, out),
            ServerMessage::MemberAdded {
                channel,
                user_id,
                user_info,
            } => self.registry.on_member_added(channel, user_id, user_info, out),
            ServerMessage::MemberRemoved { channel, user_id } => {
                self.registry.on_member_removed(channel, user_id, out)
            }
            ServerMessage::SubscriptionCount { channel, count } => {
                out.push_event(Event::SubscriptionCount { channel, count });
            }
            ServerMessage::CacheMiss { channel } => {
                out.push_event(Event::CacheMiss { channel });
            }
            ServerMessage::SigninSuccess { user_data, user_id } => {
                if !self.is_open() {
                    // Signin is only sent once connected: a success before connection_established answers
                    // nothing of ours. Acting on it would subscribe the user channel twice (once now, once
                    // when the connection is established).
                    self.out.push_event(Event::Unknown { frame: frame.clone() });
                    return;
                }
                self.signin = Signin::Done;
                self.out.push_event(Event::SignedIn {
                    user_id: user_id.clone(),
                    user_data,
                });
                self.registry.signed_in(&user_id, &mut self.out);
            }
            ServerMessage::WatchlistEvents(events) => {
                out.push_event(Event::Watchlist { events });
            }
        }
    }
}

/// `now + d`, saturating far in the future instead of overflowing (a huge configured timeout never panics).
fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(1 << 30)))
        .unwrap_or(now)
}

impl Session for Client {
    type Event = Event;

    fn handle_open(&mut self, now: Instant, _subprotocol: Option<&str>) {
        self.touch(now);
        if self.phase == Phase::Dialing {
            self.phase = Phase::Open;
        }
    }

    fn handle_frame(&mut self, now: Instant, frame: Frame) {
        self.touch(now);
        if matches!(self.phase, Phase::Idle | Phase::Dialing) {
            return; // a late frame of a connection we already gave up
        }
        if let Phase::Connected { .. } = self.phase {
            self.activity_deadline = Some(later(now, self.activity));
            self.pong_deadline = None;
        }
        let max = self.config.limits.max_frame_size;
        if frame.len() > max {
            let len = frame.len();
            #[cfg(feature = "tracing")]
            tracing::debug!(len, max, "pusher: frame too large");
            self.out.push_event(Event::Malformed {
                error: DecodeError::TooLarge { len, max },
                frame: cut(frame),
            });
            return;
        }
        // the hot path: a channel event keeps the frame's buffer as its payload
        let frame = match ChannelEvent::take_from_frame(frame) {
            Ok(e) => return self.on_channel_event(e),
            Err(frame) => frame,
        };
        match ServerMessage::decode(&frame) {
            Ok(msg) => self.on_message(now, msg, &frame),
            Err(error) => {
                #[cfg(feature = "tracing")]
                tracing::debug!(%error, len = frame.len(), "pusher: undecodable frame");
                self.out.push_event(Event::Malformed {
                    error,
                    frame: cut(frame),
                });
            }
        }
    }

    fn handle_close(&mut self, now: Instant, close: Option<Close>) {
        self.touch(now);
        if self.phase == Phase::Idle {
            return; // we closed it ourselves, or it is already accounted for
        }
        let was_connected = self.is_open();
        self.lose();
        let action = CloseAction::classify(close.as_ref().map(|c| c.code.0));
        #[cfg(feature = "tracing")]
        tracing::debug!(close = ?close, ?action, "pusher: connection closed");
        self.out.push_event_kept(Event::Disconnected {
            reason: DisconnectReason::Closed {
                close: close.clone(),
                action,
            },
        });
        match (action, close) {
            (CloseAction::Stop, Some(close)) => {
                self.reconnect_at = None;
                self.unavailable_deadline = None;
                self.stopped = true;
                self.out.push_event_kept(Event::Stopped {
                    reason: StopReason::Closed { close },
                });
            }
            _ => self.after_loss(now, action, was_connected),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.touch(now);
        if self.unavailable_deadline.is_some_and(|t| t <= now) {
            self.unavailable_deadline = None;
            if !self.is_open() && !self.unavailable {
                self.unavailable = true;
                self.out.push_event_kept(Event::Unavailable);
            }
        }
        if self.reconnect_at.is_some_and(|t| t <= now) && self.phase == Phase::Idle {
            self.dial(now);
        }
        if self.handshake_deadline.is_some_and(|t| t <= now)
            && matches!(self.phase, Phase::Dialing | Phase::Open)
        {
            let close = Close::new(1000, "handshake timeout");
            self.give_up(now, close, TimeoutKind::Handshake, CloseAction::Backoff);
        }
        if self.pong_deadline.is_some_and(|t| t <= now) && self.is_open() {
            let close = Close::new(1000, "Pong reply not received");
            self.give_up(now, close, TimeoutKind::Pong, CloseAction::Immediate);
        } else if self.activity_deadline.is_some_and(|t| t <= now) && self.is_open() {
            self.activity_deadline = None;
            self.pong_deadline = Some(later(now, self.config.pong_timeout));
            self.send_reply(ClientMessage::Ping);
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.poll_transmit()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.out.poll_event()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [
            self.reconnect_at,
            self.handshake_deadline,
            self.unavailable_deadline,
            self.activity_deadline,
            self.pong_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

feedwire_core::forward_lifecycle!(Client);
