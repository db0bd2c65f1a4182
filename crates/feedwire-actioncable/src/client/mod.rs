//! The ActionCable client session (Rails v1 or AnyCable ext), implementing [`feedwire_core::Session`] and
//! [`feedwire_core::Lifecycle`].
//!
//! `Client::new` only prepares; [`Client::connect`] dials. Subscriptions may be made before: they go out
//! after the server's `welcome`, and again after every reconnect.
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
//! client.subscribe(now, room.clone()).unwrap();
//! assert!(client.poll_transmit().is_none()); // `new` never dials
//! client.connect(now);
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

mod config;
mod event;
mod registry;

pub use config::{Config, ConfigError, Flavour, rails_backoff};
pub use event::{CommandError, DisconnectReason, Event, StopReason, SubscriptionId};

use std::fmt;
use std::time::{Duration, Instant};

use feedwire_core::json::raw_value;
use feedwire_core::{Backoff, Close, Frame, Outbox, QueueStats, RawJson, Secret, Session, Transmit};
use serde::Serialize;

use crate::codec::{self, ClientMessage, DecodeError, IdentifierStr, MessageData, ServerMessage};
use crate::identifier::Identifier;
use registry::{Added, Confirmation, Due, Registry};

/// Where the session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not connected; `reconnect_at` says when to dial.
    Idle,
    Connecting,
    Open {
        welcomed: bool,
    },
    /// Before the first `connect`, after `disconnect`, and after a final close.
    Stopped,
}

/// What follows a lost connection.
enum After {
    Reconnect(Duration),
    Stop(StopReason),
}

/// Whether a frame answers an application command (never refused once the command passed the queue
/// check) or is the session's own (a resubscribe, a pong, a history request: bounded by the outbox).
#[derive(Clone, Copy)]
enum Origin {
    Command,
    Own,
}

/// The ActionCable client session. See the [module docs](self).
pub struct Client {
    config: Config,
    phase: Phase,
    reconnect_at: Option<Instant>,
    backoff: Backoff,
    rng: fastrand::Rng,
    out: Outbox<Event>,
    last_rx: Option<Instant>,
    ext: bool,
    sid: Option<String>,
    reg: Registry,
    connected_once: bool,
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
                    .reg
                    .iter()
                    .map(|s| (&s.id, s.refs, s.state))
                    .collect::<Vec<_>>(),
            )
            .field("queues", &self.out.stats())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `config`. It does not dial until [`connect`](Client::connect).
    pub fn new(config: Config) -> Client {
        Client {
            backoff: Backoff::new(config.backoff, config.seed),
            rng: fastrand::Rng::with_seed(config.seed ^ 0x9e37_79b9_7f4a_7c15),
            out: Outbox::new(&config.limits),
            config,
            phase: Phase::Stopped,
            reconnect_at: None,
            last_rx: None,
            ext: false,
            sid: None,
            reg: Registry::default(),
            connected_once: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Dials now; a no-op while connecting or open. A stopped session (new, disconnected, or stopped by the
    /// server) starts again with its backoff reset, and its subscriptions are sent after the welcome. (There is
    /// no handshake deadline: the stale timer starts when the transport opens.)
    pub fn connect(&mut self, now: Instant) {
        let _ = now;
        match self.phase {
            Phase::Connecting | Phase::Open { .. } => return,
            Phase::Stopped => self.backoff.reset(),
            Phase::Idle => {}
        }
        self.dial();
    }

    /// Closes the connection (ActionCable says nothing on leaving: @rails/actioncable just closes) and stops:
    /// no reconnect until [`connect`](Client::connect). Emits [`Event::Stopped`] with
    /// [`StopReason::Requested`]; a no-op when already stopped.
    pub fn disconnect(&mut self, now: Instant) {
        if self.phase == Phase::Stopped {
            return;
        }
        if matches!(self.phase, Phase::Open { .. } | Phase::Connecting) {
            self.out.push_transmit(Transmit::Close(Close::normal()));
        }
        if matches!(self.phase, Phase::Open { .. }) {
            self.lose_connection(now);
        }
        self.stop(StopReason::Requested);
    }

    /// Whether the connection is open and welcomed: commands reach the server now.
    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open { welcomed: true }
    }

    /// Whether the session is stopped: before the first [`connect`](Client::connect), after
    /// [`disconnect`](Client::disconnect), and after a close the server made final.
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
        self.reg.iter().map(|s| &s.id)
    }

    /// Whether the server confirmed `identifier` on this connection.
    pub fn is_confirmed(&self, identifier: &Identifier) -> bool {
        self.reg.is_confirmed(identifier)
    }

    /// What the queues hold and have dropped.
    pub fn queue_stats(&self) -> QueueStats {
        self.out.stats()
    }

    /// Subscribes to `identifier`. A second local subscription with the same identifier shares the server
    /// subscription (and gets its own `Confirmed` event at once when already confirmed).
    pub fn subscribe(
        &mut self,
        now: Instant,
        identifier: Identifier,
    ) -> Result<SubscriptionId, CommandError> {
        self.out.check_room()?;
        let (handle, added) = self.reg.add(identifier.clone());
        match added {
            Added::Shared { confirmed: true } => {
                self.out.push_event(Event::Confirmed {
                    identifier,
                    reconnected: false,
                    restored: false,
                });
            }
            Added::Shared { confirmed: false } => {}
            Added::New(i) if self.is_open() => self.send_subscribe(now, i, Origin::Command),
            Added::New(_) => {}
        }
        Ok(handle)
    }

    /// Drops a local subscription; `unsubscribe` goes to the server only when it was the last one sharing its
    /// identifier.
    pub fn unsubscribe(&mut self, now: Instant, handle: SubscriptionId) -> Result<(), CommandError> {
        if !self.reg.has_handle(handle) {
            return Err(CommandError::NotSubscribed);
        }
        self.out.check_room()?;
        if let Some((identifier, sent)) = self.reg.remove_handle(handle)
            && sent
            && self.is_open()
        {
            self.send(
                ClientMessage::Unsubscribe {
                    identifier: (&identifier).into(),
                },
                Origin::Command,
            );
            let until = now + self.config.resubscribe_cooldown;
            self.reg.start_cooldown(identifier, now, until);
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
    ) -> Result<(), CommandError> {
        if !self.is_open() {
            return Err(CommandError::NotConnected);
        }
        if !self.reg.contains(identifier) {
            return Err(CommandError::NotSubscribed);
        }
        let json = serde_json::to_string(&data)?;
        let literal = MessageData::encode(&json, action).ok_or(CommandError::DataNotAnObject)?;
        self.out.check_room()?;
        let msg = ClientMessage::Message {
            identifier: identifier.into(),
            data: raw_value(&literal)?,
        };
        self.send(msg, Origin::Command);
        Ok(())
    }

    /// AnyCable `whisper`: `data` is sent as JSON (not string-encoded) to the other subscribers.
    pub fn whisper(&mut self, identifier: &Identifier, data: impl Serialize) -> Result<(), CommandError> {
        self.ext_command_check(identifier)?;
        let json = serde_json::to_string(&data)?;
        self.out.check_room()?;
        let msg = ClientMessage::Whisper {
            identifier: identifier.into(),
            data: raw_value(&json)?,
        };
        self.send(msg, Origin::Command);
        Ok(())
    }

    /// AnyCable presence `join` with `presence` (for example `{"id":"u1","info":{"name":"Jack"}}`).
    pub fn join(&mut self, identifier: &Identifier, presence: impl Serialize) -> Result<(), CommandError> {
        self.ext_command_check(identifier)?;
        let json = serde_json::to_string(&presence)?;
        self.out.check_room()?;
        let msg = ClientMessage::Join {
            identifier: identifier.into(),
            presence: Some(raw_value(&json)?),
        };
        self.send(msg, Origin::Command);
        Ok(())
    }

    /// AnyCable presence `leave`.
    pub fn leave(&mut self, identifier: &Identifier) -> Result<(), CommandError> {
        self.ext_command_check(identifier)?;
        self.out.check_room()?;
        let msg = ClientMessage::Leave {
            identifier: identifier.into(),
        };
        self.send(msg, Origin::Command);
        Ok(())
    }

    /// The session's bookkeeping agrees with itself (for the fuzzers and chaos tests; not covered by semver).
    #[cfg(feature = "fuzzing")]
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        let open = matches!(self.phase, Phase::Open { .. });
        self.reg.check(open, self.is_open())?;
        if (self.phase == Phase::Idle) != self.reconnect_at.is_some() {
            return Err(format!(
                "{:?} with reconnect_at {:?}",
                self.phase, self.reconnect_at
            ));
        }
        if open != self.last_rx.is_some() {
            return Err(format!("{:?} with last_rx {:?}", self.phase, self.last_rx));
        }
        if !open && self.ext {
            return Err(String::from("speaks the ext protocol without a connection"));
        }
        event::check_queues(&self.out)
    }

    fn ext_command_check(&self, identifier: &Identifier) -> Result<(), CommandError> {
        if !self.is_open() {
            return Err(CommandError::NotConnected);
        }
        if !self.ext {
            return Err(CommandError::NeedsExtProtocol);
        }
        if !self.reg.contains(identifier) {
            return Err(CommandError::NotSubscribed);
        }
        Ok(())
    }

    /// Queues a `Connect`, with AnyCable's `?sid=` when there is a session to restore.
    fn dial(&mut self) {
        let req = self.config.connect_request(self.sid.as_deref());
        #[cfg(feature = "tracing")]
        tracing::debug!(url = req.redacted_url(), "actioncable: connecting");
        self.out.push_transmit(Transmit::Connect(req));
        self.phase = Phase::Connecting;
        self.reconnect_at = None;
    }

    fn send(&mut self, msg: ClientMessage<'_>, origin: Origin) {
        let t = Transmit::Send(msg.encode());
        match origin {
            Origin::Command => self.out.push_transmit(t),
            Origin::Own => {
                if !self.out.push_reply(t) {
                    #[cfg(feature = "tracing")]
                    tracing::debug!("actioncable: outgoing queue full, a frame of the session's own dropped");
                }
            }
        }
    }

    fn unix_secs(&self, at: Instant) -> Option<u64> {
        self.config.unix_anchor.map(|a| a.unix_secs(at))
    }

    /// Sends subscription `i`'s subscribe, unless it was unsubscribed too lately (then it waits).
    fn send_subscribe(&mut self, now: Instant, i: usize, origin: Origin) {
        let deadline = now + self.config.confirm_timeout;
        if let Some(id) = self.reg.begin_subscribe(i, now, deadline) {
            let msg = ClientMessage::Subscribe {
                identifier: (&id).into(),
                history: None,
            };
            self.send(msg, origin);
        }
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
        self.out.push_event_kept(Event::Stopped { reason });
    }

    /// The connection is gone since `since`: every subscription waits for the next welcome.
    fn lose_connection(&mut self, since: Instant) {
        self.last_rx = None;
        self.ext = false;
        self.reg.all_down(since);
    }

    /// The connection went down (silent since `since`): report it, then schedule the next attempt or stop.
    fn go_down(&mut self, now: Instant, since: Instant, reason: DisconnectReason, after: After) {
        #[cfg(feature = "tracing")]
        tracing::debug!(
            ?reason,
            attempt = self.backoff.attempt(),
            "actioncable: connection down"
        );
        self.lose_connection(since);
        self.out.push_event_kept(Event::Disconnected { reason });
        match after {
            After::Reconnect(d) => {
                self.phase = Phase::Idle;
                self.reconnect_at = Some(now + d);
                self.out.push_event_kept(Event::Reconnecting { after: d });
            }
            After::Stop(reason) => self.stop(reason),
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

    fn on_welcome(
        &mut self,
        now: Instant,
        sid: Option<String>,
        restored: bool,
        restored_ids: &[IdentifierStr<'_>],
    ) {
        #[cfg(feature = "tracing")]
        tracing::debug!(restored, subscriptions = self.reg.len(), "actioncable: welcome");
        let first = !self.is_open();
        self.phase = Phase::Open { welcomed: true };
        self.backoff.reset();
        let reconnected = self.connected_once;
        self.connected_once = true;
        if self.ext && sid.is_some() {
            self.sid = sid.clone();
        }
        let event = Event::Connected {
            reconnected,
            sid,
            restored,
        };
        if first {
            // one kept Connected per connection; a server repeating its welcome cannot fill the queue
            self.out.push_event_kept(event);
            if reconnected {
                self.reg.start_recovery();
            }
        } else {
            self.out.push_event(event);
        }
        for i in 0..self.reg.len() {
            let was_restored = restored
                && self.ext
                && self
                    .reg
                    .get(i)
                    .is_some_and(|s| restored_ids.iter().any(|r| r.eq_str(s.id.as_str())));
            if was_restored {
                self.confirm(now, i, true);
            } else {
                self.send_subscribe(now, i, Origin::Own);
            }
        }
        self.check_recovered(now);
    }

    fn confirm(&mut self, now: Instant, i: usize, restored: bool) {
        let Some(Confirmation {
            id,
            reconnected,
            down,
        }) = self.reg.confirm(i, now)
        else {
            return; // a duplicate confirm
        };
        let history = if self.ext && reconnected {
            self.reg.history_request(i, down.and_then(|t| self.unix_secs(t)))
        } else {
            None
        };
        if let Some(h) = history {
            let text = h.to_json();
            if let Ok(history) = raw_value(&text) {
                if let Some(sub) = self.reg.get_mut(i) {
                    sub.history_pending = true;
                }
                let msg = ClientMessage::History {
                    identifier: (&id).into(),
                    history,
                };
                self.send(msg, Origin::Own);
            }
        }
        self.out.push_event(Event::Confirmed {
            identifier: id,
            reconnected,
            restored,
        });
    }

    fn check_recovered(&mut self, now: Instant) {
        if let Some(recovered) = self.reg.recovered(now) {
            self.out.push_event_kept(recovered);
        }
    }

    fn unmatched(&mut self, frame: &Frame) {
        self.out.push_event(Event::Unmatched {
            frame: Secret::new(frame.clone()),
        });
    }

    fn on_frame(&mut self, now: Instant, frame: &Frame) {
        let msg = match ServerMessage::decode(frame) {
            Ok(m) => m,
            Err(error) => {
                self.out.push_event(Event::Malformed {
                    error,
                    frame: Secret::new(event::cut(frame)),
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
                let Some(i) = self.reg.find(&identifier) else {
                    return self.unmatched(frame);
                };
                if let (Some(stream_id), Some(epoch), Some(offset)) = (&stream_id, &epoch, offset)
                    && !self.reg.record_stream(i, stream_id, epoch, offset)
                {
                    return; // a replayed duplicate
                }
                if let Some(identifier) = self.reg.id(i) {
                    self.out.push_event(Event::Message {
                        identifier,
                        message: RawJson::from_raw_in(frame, message),
                        offset,
                    });
                }
            }
            ServerMessage::Ping { .. } => {
                if self.ext && self.config.answer_pings {
                    self.send(ClientMessage::Pong, Origin::Own);
                }
            }
            ServerMessage::Welcome {
                sid,
                restored,
                restored_ids,
            } => self.on_welcome(now, sid.map(|s| s.into_owned()), restored, &restored_ids),
            ServerMessage::Confirm { identifier } => match self.reg.find(&identifier) {
                Some(i) => {
                    self.confirm(now, i, false);
                    self.check_recovered(now);
                }
                None => self.unmatched(frame),
            },
            ServerMessage::Reject { identifier } => match self.reg.find(&identifier) {
                Some(i) => {
                    if let Some(sub) = self.reg.remove(i) {
                        self.out.push_event_kept(Event::Rejected {
                            identifier: sub.id,
                            reconnected: sub.confirmed_once,
                        });
                    }
                    self.check_recovered(now);
                }
                None => self.unmatched(frame),
            },
            ServerMessage::Disconnect { reason, reconnect } => {
                let again = reconnect.unwrap_or(self.config.reconnect_when_unspecified);
                self.out.push_transmit(Transmit::Close(Close::normal()));
                let reason = reason.map(|r| r.into_owned());
                let after = if again {
                    After::Reconnect(self.config.restart_delay.mul_f64(1.0 + self.rng.f64()))
                } else {
                    After::Stop(StopReason::ServerDisconnect {
                        reason: reason.clone(),
                    })
                };
                let reason = DisconnectReason::ServerDisconnect { reason, reconnect };
                self.go_down(now, now, reason, after);
            }
            ServerMessage::ConfirmHistory { identifier } | ServerMessage::RejectHistory { identifier } => {
                let gap = matches!(msg, ServerMessage::RejectHistory { .. });
                let Some(i) = self.reg.find(&identifier) else {
                    return self.unmatched(frame);
                };
                let Some(sub) = self.reg.get_mut(i) else { return };
                let asked = std::mem::take(&mut sub.history_pending);
                let identifier = sub.id.clone();
                match (gap, asked) {
                    // the answer to the client's own request: what was missed is lost, the application must
                    // hear it
                    (true, true) => self.out.push_event_kept(Event::HistoryGap { identifier }),
                    (true, false) => {
                        self.out.push_event(Event::HistoryGap { identifier });
                    }
                    (false, _) => {
                        self.out.push_event(Event::HistoryConfirmed { identifier });
                    }
                }
            }
            ServerMessage::Presence { identifier, message } => match self.reg.find(&identifier) {
                Some(i) => {
                    if let Some(identifier) = self.reg.id(i) {
                        self.out.push_event(Event::Presence {
                            identifier,
                            message: RawJson::from_raw_in(frame, message),
                        });
                    }
                }
                None => self.unmatched(frame),
            },
            ServerMessage::Pong => {}
            ServerMessage::Unknown { .. } => {
                self.out.push_event(Event::Unknown {
                    frame: Secret::new(frame.clone()),
                });
            }
        }
    }

    /// The earliest subscription deadline (confirmation timeouts, cooldowns).
    fn sub_deadline(&self) -> Option<Instant> {
        if !self.is_open() {
            return None;
        }
        self.reg.next_deadline()
    }

    /// Re-sends subscribes whose cooldown ended and retries or gives up those not answered in time.
    fn subscription_timers(&mut self, now: Instant) {
        for due in self.reg.due(now, self.config.confirm_retries) {
            match due {
                Due::Send(i) => self.send_subscribe(now, i, Origin::Own),
                Due::TimedOut { identifier, attempts } => {
                    self.out
                        .push_event_kept(Event::ConfirmationTimedOut { identifier, attempts });
                }
            }
        }
        self.check_recovered(now);
    }
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
            self.out.push_transmit(Transmit::Close(Close::normal()));
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
            self.out.push_event(Event::Malformed {
                error: DecodeError::TooLarge {
                    len: frame.len(),
                    max,
                },
                frame: Secret::new(event::cut(&frame)),
            });
            return;
        }
        self.on_frame(now, &frame);
    }

    fn handle_close(&mut self, now: Instant, close: Option<Close>) {
        if !matches!(self.phase, Phase::Open { .. } | Phase::Connecting) {
            return;
        }
        // Rails 5.2 sends no disconnect frame: a close is always worth a reconnect.
        let delay = self.backoff_delay();
        self.go_down(now, now, DisconnectReason::Closed(close), After::Reconnect(delay));
    }

    fn handle_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::Idle => {
                if self.reconnect_at.is_some_and(|t| t <= now) {
                    self.dial();
                }
            }
            Phase::Open { welcomed } => {
                if let Some(last) = self.last_rx
                    && now >= last + self.config.stale_after
                {
                    self.out
                        .push_transmit(Transmit::Close(Close::new(1000u16, "stale")));
                    let delay = self.backoff_delay();
                    let reason = DisconnectReason::Stale {
                        silent_for: now.saturating_duration_since(last),
                    };
                    self.go_down(now, last, reason, After::Reconnect(delay));
                    return;
                }
                if welcomed {
                    self.subscription_timers(now);
                }
            }
            Phase::Connecting | Phase::Stopped => {}
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.poll_transmit()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.out.poll_event()
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

feedwire_core::forward_lifecycle!(Client);
