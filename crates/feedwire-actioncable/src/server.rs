//! The ActionCable server hub (Rails v1, optionally AnyCable ext), implementing [`feedwire_core::Hub`].
//!
//! The hub welcomes every connection (or lets the host decide), pings every 3 s with Unix seconds, surfaces
//! subscribe requests as [`HubEvent::SubscribeRequested`] for the host to answer with [`Hub::confirm`],
//! [`Hub::reject`] and [`Hub::stream_from`], and broadcasts with [`Hub::broadcast`], encoding each frame once per
//! (stream, identifier) and sharing the buffer between subscribers.
//!
//! ```
//! # #![allow(clippy::disallowed_methods)]
//! use std::time::Instant;
//! use feedwire_actioncable::server::{Hub, HubConfig, HubEvent};
//! use feedwire_core::{ConnId, Frame, Hub as _, HubTransmit, OpenRequest};
//!
//! let now = Instant::now();
//! let mut hub = Hub::new(HubConfig::default().with_unix_anchor(now, 1_795_342_530_000));
//! let conn = ConnId(1);
//! hub.handle_open(now, conn, &OpenRequest::new("/cable").with_subprotocol(Some("actioncable-v1-json".into())));
//! let welcome = hub.poll_transmit();
//! assert!(matches!(welcome, Some((_, HubTransmit::Send(f))) if f.as_str() == r#"{"type":"welcome"}"#));
//! hub.handle_frame(now, conn, Frame::from(r#"{"command":"subscribe","identifier":"{\"channel\":\"ChatChannel\"}"}"#));
//! let _opened = hub.poll_event();
//! let Some(HubEvent::SubscribeRequested { identifier, .. }) = hub.poll_event() else { panic!() };
//! hub.confirm(conn, identifier.as_str()).unwrap();
//! hub.stream_from(conn, identifier.as_str(), "chat").unwrap();
//! assert_eq!(hub.broadcast("chat", r#"{"text":"hi"}"#).unwrap(), 1);
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use feedwire_core::{Close, ConnId, Frame, HubTransmit, Limits, OpenRequest, RawJson, Secret};

use crate::codec::{self, ClientMessage, HistoryRequest, JsonStr, MessageData, ServerFrame};
use crate::identifier::Identifier;

/// Hub configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HubConfig {
    /// Accept AnyCable's `actioncable-v1-ext-json` (default false: a plain Rails server).
    pub anycable: bool,
    /// Keep a history buffer per stream and serve `history` requests (ext only; default true).
    pub history: bool,
    /// Messages kept per stream (default 100, as AnyCable).
    pub history_limit: usize,
    /// How long messages are kept (default 300 s, as AnyCable).
    pub history_ttl: Duration,
    /// Ping interval (default 3 s).
    pub ping_interval: Duration,
    /// `(instant, unix_ms)` anchor for ping timestamps; without it pings count seconds from the first instant
    /// the hub saw.
    pub unix_anchor: Option<(Instant, u64)>,
    /// Send `welcome` on open (default true); when false the host calls [`Hub::welcome`] or
    /// [`Hub::reject_connection`] after [`HubEvent::Opened`].
    pub auto_welcome: bool,
    /// Seed for AnyCable session ids and stream epochs.
    pub seed: u64,
    /// Frame and queue bounds.
    pub limits: Limits,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            anycable: false,
            history: true,
            history_limit: 100,
            history_ttl: Duration::from_secs(300),
            ping_interval: Duration::from_secs(3),
            unix_anchor: None,
            auto_welcome: true,
            seed: 0,
            limits: Limits::default(),
        }
    }
}

impl HubConfig {
    /// Enables or disables the AnyCable ext protocol.
    pub fn with_anycable(mut self, on: bool) -> Self {
        self.anycable = on;
        self
    }
    /// Enables or disables history buffers.
    pub fn with_history(mut self, on: bool) -> Self {
        self.history = on;
        self
    }
    /// Sets the history bounds.
    pub fn with_history_limits(mut self, messages: usize, ttl: Duration) -> Self {
        self.history_limit = messages;
        self.history_ttl = ttl;
        self
    }
    /// Sets the ping interval.
    pub fn with_ping_interval(mut self, d: Duration) -> Self {
        self.ping_interval = d;
        self
    }
    /// Sets the Unix-time anchor.
    pub fn with_unix_anchor(mut self, at: Instant, unix_ms: u64) -> Self {
        self.unix_anchor = Some((at, unix_ms));
        self
    }
    /// Sets whether `welcome` is automatic.
    pub fn with_auto_welcome(mut self, on: bool) -> Self {
        self.auto_welcome = on;
        self
    }
    /// Sets the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Sets the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}

/// Why a hub command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// No such open connection.
    #[error("no such connection")]
    UnknownConnection,
    /// The connection has no subscription with this identifier.
    #[error("no such subscription")]
    UnknownSubscription,
    /// The message is not valid JSON.
    #[error("message is not valid JSON")]
    InvalidJson,
}

/// What the hub tells its host.
#[derive(Debug)]
#[non_exhaustive]
pub enum HubEvent {
    /// A connection opened (and was welcomed, unless `auto_welcome` is off).
    Opened {
        /// The connection.
        conn: ConnId,
        /// The request (its `Debug` hides the query and header values).
        request: OpenRequest,
        /// Whether it speaks AnyCable ext.
        ext: bool,
        /// The identifiers AnyCable restored from an earlier session (`?sid=`).
        restored: Vec<Identifier>,
    },
    /// A client asks to subscribe: answer with [`Hub::confirm`] or [`Hub::reject`] (and [`Hub::stream_from`]).
    SubscribeRequested {
        /// The connection.
        conn: ConnId,
        /// The identifier, unescaped (redacted in `Debug`).
        identifier: Identifier,
    },
    /// A subscribe for an identifier the connection already has: ignored (no second confirm), as Rails does.
    DuplicateSubscribe {
        /// The connection.
        conn: ConnId,
        /// The identifier (redacted in `Debug`).
        identifier: Identifier,
    },
    /// A client unsubscribed (never acknowledged on the wire).
    Unsubscribed {
        /// The connection.
        conn: ConnId,
        /// The identifier (redacted in `Debug`).
        identifier: Identifier,
    },
    /// A client performed an action (`message` command).
    Perform {
        /// The connection.
        conn: ConnId,
        /// The identifier (redacted in `Debug`).
        identifier: Identifier,
        /// The action; `None` means Rails' `receive`.
        action: Option<String>,
        /// The data object's JSON text (with `action` in it).
        data: String,
    },
    /// AnyCable whisper (relayed by the host if it wants to).
    Whisper {
        /// The connection.
        conn: ConnId,
        /// The identifier (redacted in `Debug`).
        identifier: Identifier,
        /// The data.
        data: RawJson,
    },
    /// AnyCable presence command (`join`, `leave` or `presence`), for the host to act on.
    Presence {
        /// The connection.
        conn: ConnId,
        /// The identifier (redacted in `Debug`).
        identifier: Identifier,
        /// `join`, `leave` or `presence` (an info request).
        command: &'static str,
        /// The `presence` payload of a `join`.
        presence: Option<RawJson>,
    },
    /// AnyCable history request (answered by the hub from its buffers).
    HistoryRequested {
        /// The connection.
        conn: ConnId,
        /// The identifier (redacted in `Debug`).
        identifier: Identifier,
        /// Whether it was served (false: `reject_history` was sent).
        served: bool,
    },
    /// Bad input (malformed JSON, unknown command, missing subscription, oversize frame): logged, no reply,
    /// the connection stays open, as Rails does.
    BadInput {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: String,
        /// The frame (hidden from `Debug`).
        frame: Secret<Frame>,
    },
    /// A connection closed.
    Closed {
        /// The connection.
        conn: ConnId,
        /// The close frame, if any.
        close: Option<Close>,
    },
}

#[derive(Debug, Clone)]
struct HubSub {
    identifier: Arc<str>,
    confirmed: bool,
    streams: Vec<String>,
}

#[derive(Debug)]
struct ConnState {
    ext: bool,
    welcomed: bool,
    sid: Option<String>,
    restore: Vec<HubSub>,
    subs: Vec<HubSub>,
}

#[derive(Debug)]
struct StreamHistory {
    epoch: String,
    next_offset: u64,
    entries: VecDeque<(u64, Instant, RawJson)>,
}

/// The ActionCable hub. See the [module docs](self).
pub struct Hub {
    config: HubConfig,
    conns: BTreeMap<ConnId, ConnState>,
    out: VecDeque<(ConnId, HubTransmit)>,
    events: VecDeque<HubEvent>,
    next_ping: Option<Instant>,
    first_now: Option<Instant>,
    history: HashMap<String, StreamHistory>,
    sessions: VecDeque<(String, Vec<HubSub>)>,
    next_sid: u64,
    now: Option<Instant>,
    paused: bool,
}

impl std::fmt::Debug for Hub {
    /// A summary: identifiers, queued frames and session ids are not shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("config", &self.config)
            .field("connections", &self.conns.len())
            .field("streams_with_history", &self.history.len())
            .field("queued_transmits", &self.out.len())
            .field("queued_events", &self.events.len())
            .finish_non_exhaustive()
    }
}

fn find_sub(subs: &[HubSub], id: &JsonStr<'_>) -> Option<usize> {
    subs.iter().position(|s| id.eq_str(&s.identifier))
}

impl Hub {
    /// A hub with `config`.
    pub fn new(config: HubConfig) -> Hub {
        Hub {
            config,
            conns: BTreeMap::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            next_ping: None,
            first_now: None,
            history: HashMap::new(),
            sessions: VecDeque::new(),
            next_sid: 1,
            now: None,
            paused: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    /// Pauses or resumes pings (to simulate a silent server, for example).
    pub fn set_pinging(&mut self, on: bool) {
        self.paused = !on;
    }

    /// The open connections.
    pub fn connections(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.conns.keys().copied()
    }

    /// The identifiers `conn` is subscribed to (confirmed or not).
    pub fn subscriptions_of(&self, conn: ConnId) -> Vec<String> {
        self.conns
            .get(&conn)
            .map(|c| c.subs.iter().map(|s| s.identifier.to_string()).collect())
            .unwrap_or_default()
    }

    #[cfg(feature = "fuzzing")]
    pub(crate) fn queue_lens(&self) -> (usize, usize) {
        (self.out.len(), self.events.len())
    }

    fn push_out(&mut self, conn: ConnId, t: HubTransmit) {
        if self.out.len() >= self.config.limits.max_queued.max(1) {
            self.out.pop_front();
        }
        self.out.push_back((conn, t));
    }

    fn push_event(&mut self, ev: HubEvent) {
        if self.events.len() >= self.config.limits.max_queued.max(1) {
            self.events.pop_front();
        }
        self.events.push_back(ev);
    }

    fn send(&mut self, conn: ConnId, frame: ServerFrame<'_>) {
        self.push_out(conn, HubTransmit::Send(Frame::from(frame.encode())));
    }

    fn unix_secs(&self, at: Instant) -> i64 {
        let ms = match self.config.unix_anchor {
            Some((anchor, ms)) => {
                let ms = i128::from(ms);
                if at >= anchor {
                    ms + (at - anchor).as_millis() as i128
                } else {
                    ms - (anchor - at).as_millis() as i128
                }
            }
            None => self
                .first_now
                .map(|f| at.saturating_duration_since(f).as_millis() as i128)
                .unwrap_or(0),
        };
        i64::try_from(ms / 1000).unwrap_or(i64::MAX)
    }

    /// Sends `welcome` to a connection opened with `auto_welcome` off.
    pub fn welcome(&mut self, conn: ConnId) -> Result<(), HubError> {
        let st = self.conns.get_mut(&conn).ok_or(HubError::UnknownConnection)?;
        if st.welcomed {
            return Ok(());
        }
        st.welcomed = true;
        let ext = st.ext;
        let restored = std::mem::take(&mut st.restore);
        let ids: Vec<Arc<str>> = restored.iter().map(|s| s.identifier.clone()).collect();
        st.subs.extend(restored);
        let sid = if ext {
            let sid = format!("{:x}-{}", self.config.seed, self.next_sid);
            self.next_sid += 1;
            if let Some(st) = self.conns.get_mut(&conn) {
                st.sid = Some(sid.clone());
            }
            Some(sid)
        } else {
            None
        };
        let refs: Vec<&str> = ids.iter().map(|s| &**s).collect();
        let frame = ServerFrame::Welcome {
            sid: sid.as_deref(),
            restored_ids: (!refs.is_empty()).then_some(&refs[..]),
        };
        self.send(conn, frame);
        Ok(())
    }

    /// Refuses a connection as Rails' `reject_unauthorized_connection` does: `disconnect` with reason
    /// `unauthorized` and `reconnect: false`, then close 1000.
    pub fn reject_connection(&mut self, conn: ConnId) -> Result<(), HubError> {
        self.disconnect(conn, Some("unauthorized"), Some(false))
    }

    /// Sends `disconnect` (reason and reconnect flag as given; `None` reason is sent as null, `None` reconnect is
    /// left out) and closes the connection with 1000.
    pub fn disconnect(
        &mut self,
        conn: ConnId,
        reason: Option<&str>,
        reconnect: Option<bool>,
    ) -> Result<(), HubError> {
        if !self.conns.contains_key(&conn) {
            return Err(HubError::UnknownConnection);
        }
        self.send(conn, ServerFrame::Disconnect { reason, reconnect });
        self.push_out(conn, HubTransmit::Close(Close::normal()));
        self.forget(conn);
        Ok(())
    }

    /// Closes a connection without a disconnect frame, as Rails 5.2 does.
    pub fn close(&mut self, conn: ConnId, close: Close) -> Result<(), HubError> {
        if !self.conns.contains_key(&conn) {
            return Err(HubError::UnknownConnection);
        }
        self.push_out(conn, HubTransmit::Close(close));
        self.forget(conn);
        Ok(())
    }

    fn forget(&mut self, conn: ConnId) {
        if let Some(st) = self.conns.remove(&conn)
            && let Some(sid) = st.sid
        {
            let subs: Vec<HubSub> = st.subs.into_iter().filter(|s| s.confirmed).collect();
            if self.sessions.len() >= 1024 {
                self.sessions.pop_front();
            }
            self.sessions.push_back((sid, subs));
        }
    }

    fn sub_mut(&mut self, conn: ConnId, identifier: &str) -> Result<&mut HubSub, HubError> {
        let st = self.conns.get_mut(&conn).ok_or(HubError::UnknownConnection)?;
        st.subs
            .iter_mut()
            .find(|s| &*s.identifier == identifier)
            .ok_or(HubError::UnknownSubscription)
    }

    /// Confirms a requested subscription (a second call is a no-op).
    pub fn confirm(&mut self, conn: ConnId, identifier: &str) -> Result<(), HubError> {
        let sub = self.sub_mut(conn, identifier)?;
        if sub.confirmed {
            return Ok(());
        }
        sub.confirmed = true;
        self.send(conn, ServerFrame::Confirm { identifier });
        Ok(())
    }

    /// Rejects a requested subscription and forgets it.
    pub fn reject(&mut self, conn: ConnId, identifier: &str) -> Result<(), HubError> {
        let st = self.conns.get_mut(&conn).ok_or(HubError::UnknownConnection)?;
        let i = st
            .subs
            .iter()
            .position(|s| &*s.identifier == identifier)
            .ok_or(HubError::UnknownSubscription)?;
        st.subs.remove(i);
        self.send(conn, ServerFrame::Reject { identifier });
        Ok(())
    }

    /// Streams `stream`'s broadcasts to the subscription.
    pub fn stream_from(&mut self, conn: ConnId, identifier: &str, stream: &str) -> Result<(), HubError> {
        let sub = self.sub_mut(conn, identifier)?;
        if !sub.streams.iter().any(|s| s == stream) {
            sub.streams.push(stream.to_owned());
        }
        Ok(())
    }

    /// Broadcasts `message` (raw JSON of any type) to every subscription streaming from `stream`. Each frame is
    /// encoded once per (identifier, protocol) and shared by every connection that gets it. Returns how many
    /// connections got it.
    pub fn broadcast(&mut self, stream: &str, message: &str) -> Result<usize, HubError> {
        let message = RawJson::from_json_str(message).map_err(|_| HubError::InvalidJson)?;
        let now = self.now;
        let pos = if self.config.anycable && self.config.history {
            let seed = self.config.seed;
            let limit = self.config.history_limit;
            let h = self
                .history
                .entry(stream.to_owned())
                .or_insert_with(|| StreamHistory {
                    epoch: format!("{seed:x}"),
                    next_offset: 1,
                    entries: VecDeque::new(),
                });
            let offset = h.next_offset;
            h.next_offset += 1;
            if let Some(now) = now {
                h.entries.push_back((offset, now, message.clone()));
            }
            while h.entries.len() > limit {
                h.entries.pop_front();
            }
            Some((h.epoch.clone(), offset))
        } else {
            None
        };
        let mut cache: Vec<(Arc<str>, bool, Frame)> = Vec::new();
        let mut sends: Vec<(ConnId, Frame)> = Vec::new();
        for (conn, st) in &self.conns {
            for sub in &st.subs {
                if !sub.confirmed || !sub.streams.iter().any(|s| s == stream) {
                    continue;
                }
                let ext = st.ext && pos.is_some();
                let frame = match cache.iter().find(|(id, e, _)| *e == ext && id == &sub.identifier) {
                    Some((_, _, f)) => f.clone(),
                    None => {
                        let text = ServerFrame::Message {
                            identifier: &sub.identifier,
                            message: message.as_str(),
                            stream: if ext {
                                pos.as_ref().map(|(e, o)| (stream, e.as_str(), *o))
                            } else {
                                None
                            },
                        }
                        .encode();
                        let f = Frame::from(text);
                        cache.push((sub.identifier.clone(), ext, f.clone()));
                        f
                    }
                };
                sends.push((*conn, frame));
            }
        }
        let n = sends.len();
        for (conn, f) in sends {
            self.push_out(conn, HubTransmit::Send(f));
        }
        Ok(n)
    }

    fn serve_history(&mut self, conn: ConnId, identifier: &str, raw: &str) -> bool {
        let Ok(req) = serde_json::from_str::<HistoryRequest>(raw) else {
            return false;
        };
        let Ok(sub) = self.sub_mut(conn, identifier) else {
            return false;
        };
        if !sub.confirmed {
            return false;
        }
        let streams = sub.streams.clone();
        let mut replay: Vec<(String, String, u64, RawJson)> = Vec::new();
        for stream in &streams {
            let Some(h) = self.history.get(stream) else {
                if req.streams.contains_key(stream) {
                    return false;
                }
                continue;
            };
            match req.streams.get(stream) {
                Some(p) => {
                    if p.epoch != h.epoch {
                        return false;
                    }
                    let oldest = h.entries.front().map(|e| e.0).unwrap_or(h.next_offset);
                    if p.offset.saturating_add(1) < oldest {
                        return false; // evicted
                    }
                    for (o, _, m) in &h.entries {
                        if *o > p.offset {
                            replay.push((stream.clone(), h.epoch.clone(), *o, m.clone()));
                        }
                    }
                }
                None => {
                    if let Some(since) = req.since {
                        for (o, at, m) in &h.entries {
                            if u64::try_from(self.unix_secs(*at)).unwrap_or(0) >= since {
                                replay.push((stream.clone(), h.epoch.clone(), *o, m.clone()));
                            }
                        }
                    }
                }
            }
        }
        for (stream, epoch, offset, m) in replay {
            let f = ServerFrame::Message {
                identifier,
                message: m.as_str(),
                stream: Some((&stream, &epoch, offset)),
            };
            self.send(conn, f);
        }
        true
    }

    fn on_command(&mut self, conn: ConnId, frame: &Frame) {
        let bad = |reason: String| HubEvent::BadInput {
            conn,
            reason,
            frame: Secret::new(frame.clone()),
        };
        let msg = match codec::decode_client(frame.as_str()) {
            Ok(m) => m,
            Err(e) => {
                self.push_event(bad(format!("could not decode: {e}")));
                return;
            }
        };
        let Some(st) = self.conns.get_mut(&conn) else {
            return;
        };
        let ext = st.ext;
        match msg {
            ClientMessage::Subscribe { identifier, .. } => {
                let id = Identifier::from_wire(identifier.to_cow().into_owned());
                if find_sub(&st.subs, &identifier).is_some() {
                    self.push_event(HubEvent::DuplicateSubscribe { conn, identifier: id });
                    return;
                }
                st.subs.push(HubSub {
                    identifier: Arc::from(id.as_str()),
                    confirmed: false,
                    streams: Vec::new(),
                });
                self.push_event(HubEvent::SubscribeRequested { conn, identifier: id });
            }
            ClientMessage::Unsubscribe { identifier } => match find_sub(&st.subs, &identifier) {
                Some(i) => {
                    let sub = st.subs.remove(i);
                    self.push_event(HubEvent::Unsubscribed {
                        conn,
                        identifier: Identifier::from_wire(sub.identifier.to_string()),
                    });
                }
                None => self.push_event(bad(String::from("unsubscribe: no such subscription"))),
            },
            ClientMessage::Message { identifier, data } => {
                if find_sub(&st.subs, &identifier).is_none() {
                    self.push_event(bad(String::from("message: no such subscription")));
                    return;
                }
                match MessageData::from_raw(data) {
                    Ok(d) => self.push_event(HubEvent::Perform {
                        conn,
                        identifier: Identifier::from_wire(identifier.to_cow().into_owned()),
                        action: d.action,
                        data: d.json,
                    }),
                    Err(e) => self.push_event(bad(format!("message data: {e}"))),
                }
            }
            ClientMessage::Whisper { identifier, data } if ext => {
                if find_sub(&st.subs, &identifier).is_none() {
                    self.push_event(bad(String::from("whisper: no such subscription")));
                    return;
                }
                self.push_event(HubEvent::Whisper {
                    conn,
                    identifier: Identifier::from_wire(identifier.to_cow().into_owned()),
                    data: RawJson::from_raw_in(frame, data),
                });
            }
            ClientMessage::History { identifier, history } if ext => {
                let id = identifier.to_cow().into_owned();
                let served = self.config.history && self.serve_history(conn, &id, history.get());
                let f = if served {
                    ServerFrame::ConfirmHistory { identifier: &id }
                } else {
                    ServerFrame::RejectHistory { identifier: &id }
                };
                self.send(conn, f);
                self.push_event(HubEvent::HistoryRequested {
                    conn,
                    identifier: Identifier::from_wire(id),
                    served,
                });
            }
            ClientMessage::Join { identifier, .. }
            | ClientMessage::Leave { identifier }
            | ClientMessage::Presence { identifier }
                if ext =>
            {
                if find_sub(&st.subs, &identifier).is_none() {
                    self.push_event(bad(String::from("presence: no such subscription")));
                    return;
                }
                let (command, presence) = match msg {
                    ClientMessage::Join { presence, .. } => {
                        ("join", presence.map(|p| RawJson::from_raw_in(frame, p)))
                    }
                    ClientMessage::Leave { .. } => ("leave", None),
                    _ => ("presence", None),
                };
                self.push_event(HubEvent::Presence {
                    conn,
                    identifier: Identifier::from_wire(identifier.to_cow().into_owned()),
                    command,
                    presence,
                });
            }
            ClientMessage::Ping if ext => self.send(conn, ServerFrame::Pong),
            ClientMessage::Pong if ext => {}
            _ => self.push_event(bad(String::from("unrecognized command"))),
        }
    }
}

impl feedwire_core::Hub for Hub {
    type Event = HubEvent;

    fn select_subprotocol(&self, offered: &[String]) -> Option<String> {
        if self.config.anycable && offered.iter().any(|p| p == codec::PROTOCOL_V1_EXT_JSON) {
            return Some(codec::PROTOCOL_V1_EXT_JSON.to_owned());
        }
        offered.iter().find(|p| *p == codec::PROTOCOL_V1_JSON).cloned()
    }

    fn handle_open(&mut self, now: Instant, conn: ConnId, request: &OpenRequest) {
        self.now = Some(now);
        self.first_now.get_or_insert(now);
        if self.next_ping.is_none() {
            self.next_ping = Some(now + self.config.ping_interval);
        }
        let ext = self.config.anycable && request.subprotocol.as_deref() == Some(codec::PROTOCOL_V1_EXT_JSON);
        let mut restore = Vec::new();
        if ext {
            let sid = request
                .header("X-ANYCABLE-RESTORE-SID")
                .map(str::to_owned)
                .or_else(|| {
                    url::form_urlencoded::parse(request.query().as_bytes())
                        .find(|(k, _)| k == "sid")
                        .map(|(_, v)| v.into_owned())
                });
            if let Some(sid) = sid
                && let Some(i) = self.sessions.iter().position(|(s, _)| *s == sid)
                && let Some((_, subs)) = self.sessions.remove(i)
            {
                restore = subs;
            }
        }
        let restored: Vec<Identifier> = restore
            .iter()
            .map(|s| Identifier::from_wire(s.identifier.to_string()))
            .collect();
        self.conns.insert(
            conn,
            ConnState {
                ext,
                welcomed: false,
                sid: None,
                restore,
                subs: Vec::new(),
            },
        );
        if self.config.auto_welcome {
            let _ = self.welcome(conn);
        }
        self.push_event(HubEvent::Opened {
            conn,
            request: request.clone(),
            ext,
            restored,
        });
    }

    fn handle_frame(&mut self, now: Instant, conn: ConnId, frame: Frame) {
        self.now = Some(now);
        if !self.conns.contains_key(&conn) {
            return;
        }
        let max = self.config.limits.max_frame_size;
        if frame.len() > max {
            self.push_event(HubEvent::BadInput {
                conn,
                reason: format!("frame of {} bytes exceeds the limit of {max} bytes", frame.len()),
                frame: Secret::new(frame),
            });
            return;
        }
        self.on_command(conn, &frame);
    }

    fn handle_close(&mut self, now: Instant, conn: ConnId, close: Option<Close>) {
        self.now = Some(now);
        if self.conns.contains_key(&conn) {
            self.forget(conn);
            self.push_event(HubEvent::Closed { conn, close });
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = Some(now);
        let Some(due) = self.next_ping else { return };
        if now < due {
            return;
        }
        let mut next = due + self.config.ping_interval;
        if next <= now {
            next = now + self.config.ping_interval;
        }
        self.next_ping = if self.conns.is_empty() { None } else { Some(next) };
        let ttl = self.config.history_ttl;
        for h in self.history.values_mut() {
            while h
                .entries
                .front()
                .is_some_and(|e| now.saturating_duration_since(e.1) > ttl)
            {
                h.entries.pop_front();
            }
        }
        if self.paused {
            return;
        }
        let ping = Frame::from(
            ServerFrame::Ping {
                message: self.unix_secs(now),
            }
            .encode(),
        );
        let conns: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, st)| st.welcomed)
            .map(|(c, _)| *c)
            .collect();
        for conn in conns {
            self.push_out(conn, HubTransmit::Send(ping.clone()));
        }
    }

    fn poll_transmit(&mut self) -> Option<(ConnId, HubTransmit)> {
        self.out.pop_front()
    }

    fn poll_event(&mut self) -> Option<HubEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next_ping
    }
}
