//! The ActionCable server hub (Rails v1, optionally AnyCable ext), implementing [`feedwire_core::Hub`].
//!
//! The hub welcomes every connection (or lets the host decide), pings every 3 s with Unix seconds, surfaces
//! subscribe requests as [`HubEvent::SubscribeRequested`] for the host to answer with [`Hub::confirm`],
//! [`Hub::reject`] and [`Hub::stream_from`], and broadcasts with [`Hub::broadcast`], encoding each frame once per
//! (stream, identifier) and sharing the buffer between subscribers.
//!
//! Subscriptions are indexed by identifier (per connection) and by stream (hub-wide, confirmed subscriptions
//! only), so a broadcast visits the stream's subscribers and nothing else, and a command finds its subscription
//! in O(log n). A host that shares broadcasts through a broker (Rails' Redis adapter: one Redis channel per
//! stream) turns on [`HubConfig::with_stream_events`] and follows [`HubEvent::StreamStarted`] and
//! [`HubEvent::StreamStopped`], or reads [`Hub::streams`]; [`Hub::broadcast`] stays a local fan-out, called
//! when a message arrives from the broker.
//!
//! ```
//! # #![allow(clippy::disallowed_methods)]
//! use std::time::Instant;
//! use feedwire_actioncable::server::{Hub, HubConfig, HubEvent};
//! use feedwire_core::{ConnId, Frame, Hub as _, HubTransmit, OpenRequest, UnixAnchor};
//!
//! let now = Instant::now();
//! let mut hub = Hub::new(HubConfig::default().with_unix_anchor(UnixAnchor::new(now, 1_795_342_530_000)));
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

mod config;
mod event;
mod history;
mod index;

pub use config::HubConfig;
pub use event::{HubError, HubEvent};

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use feedwire_core::json::raw_value;
use feedwire_core::{
    Close, ConnId, Frame, HubOutbox, HubTransmit, OpenRequest, QueueStats, RawJson, Secret, UnixAnchor,
};

use crate::codec::{self, ClientMessage, HistoryRequest, IdentifierStr, MessageData, ServerMessage};
use crate::identifier::Identifier;
use history::Histories;
use index::{HubSub, StreamIndex, Subs};

/// How many AnyCable sessions (of closed connections) the hub remembers for `?sid=` restores.
const MAX_SESSIONS: usize = 1024;

#[derive(Debug)]
struct ConnState {
    ext: bool,
    welcomed: bool,
    sid: Option<String>,
    restore: Vec<HubSub>,
    subs: Subs,
}

/// The ActionCable hub. See the [module docs](self).
pub struct Hub {
    config: HubConfig,
    conns: BTreeMap<ConnId, ConnState>,
    index: StreamIndex,
    out: HubOutbox<HubEvent>,
    next_ping: Option<Instant>,
    first_now: Option<Instant>,
    history: Histories,
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
            .field("queues", &self.out.stats())
            .finish_non_exhaustive()
    }
}

fn has_sub(subs: &Subs, id: &IdentifierStr<'_>) -> bool {
    subs.contains(&id.to_cow())
}

/// Whether Rails 6.1 would look a channel up for `identifier` (`Subscriptions#add`): it decodes it as JSON
/// and reads `channel` (the last one when the key repeats) as a class name, so anything but a JSON object with
/// a string `channel` fails there, is logged and gets no reply.
fn names_a_channel(identifier: &str) -> bool {
    crate::identifier::parse_fields(identifier).is_some_and(|fields| {
        fields
            .iter()
            .rev()
            .find(|(k, _)| k == "channel")
            .is_some_and(|(_, v)| v.get().starts_with('"'))
    })
}

impl Hub {
    /// A hub with `config`.
    pub fn new(config: HubConfig) -> Hub {
        let stream_events = config.stream_events;
        Hub {
            out: HubOutbox::new(&config.limits),
            config,
            conns: BTreeMap::new(),
            index: StreamIndex::new(stream_events),
            next_ping: None,
            first_now: None,
            history: Histories::default(),
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
            .map(|c| c.subs.iter().map(|(_, s)| s.identifier.to_string()).collect())
            .unwrap_or_default()
    }

    /// The streams that have at least one confirmed subscription streaming from them on this hub (what a
    /// broadcast would reach now), in byte order. With [`HubConfig::with_stream_events`] on, the hub announces
    /// each change of this set as [`HubEvent::StreamStarted`] / [`HubEvent::StreamStopped`].
    pub fn streams(&self) -> impl Iterator<Item = &str> + '_ {
        self.index.streams()
    }

    /// What the queues hold and have dropped.
    pub fn queue_stats(&self) -> QueueStats {
        self.out.stats()
    }

    /// The hub's bookkeeping agrees with itself (for the fuzzers and chaos tests; not covered by semver).
    #[cfg(feature = "fuzzing")]
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        for (conn, st) in &self.conns {
            st.subs.check().map_err(|e| format!("{conn:?}: {e}"))?;
            if st.welcomed && !st.restore.is_empty() {
                return Err(format!("{conn:?} welcomed with restores still pending"));
            }
            if st.sid.is_some() && !st.ext {
                return Err(format!("{conn:?} has a session id without the ext protocol"));
            }
        }
        self.index
            .check(self.conns.iter().map(|(c, st)| (*c, &st.subs)))?;
        if self.sessions.len() > MAX_SESSIONS {
            return Err(format!("{} sessions remembered", self.sessions.len()));
        }
        self.history.check(self.config.history_limit)?;
        if self.next_ping.is_some() && self.first_now.is_none() {
            return Err(String::from("a ping scheduled before any connection"));
        }
        let max = self.out.max_queued();
        let droppable = self
            .out
            .events()
            .filter(|e| {
                !matches!(
                    e,
                    HubEvent::Opened { .. }
                        | HubEvent::Closed { .. }
                        | HubEvent::StreamStarted { .. }
                        | HubEvent::StreamStopped { .. }
                )
            })
            .count();
        if droppable > max {
            return Err(format!("{droppable} droppable events queued, bound {max}"));
        }
        Ok(())
    }

    /// Queues a frame of a host command (which checked the room first).
    fn send(&mut self, conn: ConnId, msg: ServerMessage<'_>) {
        self.out.push_transmit((conn, HubTransmit::Send(msg.encode())));
    }

    /// Queues a frame the hub sends on its own (a welcome, a pong, a history replay, a ping).
    fn reply(&mut self, conn: ConnId, frame: Frame) {
        if !self.out.push_reply((conn, HubTransmit::Send(frame))) {
            #[cfg(feature = "tracing")]
            tracing::debug!(
                conn = conn.0,
                "actioncable: hub queue full, a frame of the hub's own dropped"
            );
        }
    }

    fn unix_secs(&self, at: Instant) -> u64 {
        match (self.config.unix_anchor, self.first_now) {
            (Some(anchor), _) => anchor.unix_secs(at),
            (None, Some(first)) => UnixAnchor::epoch_at(first).unix_secs(at),
            (None, None) => 0,
        }
    }

    /// Sends `welcome` to a connection opened with `auto_welcome` off.
    pub fn welcome(&mut self, conn: ConnId) -> Result<(), HubError> {
        let st = self.conns.get(&conn).ok_or(HubError::UnknownConnection)?;
        if st.welcomed {
            return Ok(());
        }
        self.out.check_room()?;
        let frame = self.welcome_frame(conn);
        self.out.push_transmit((conn, HubTransmit::Send(frame)));
        Ok(())
    }

    /// Marks `conn` welcomed (its restored subscriptions active again) and builds its `welcome`.
    fn welcome_frame(&mut self, conn: ConnId) -> Frame {
        let sid = match self.conns.get(&conn) {
            Some(st) if st.ext => {
                let sid = format!("{:x}-{}", self.config.seed, self.next_sid);
                self.next_sid += 1;
                Some(sid)
            }
            _ => None,
        };
        let Some(st) = self.conns.get_mut(&conn) else {
            return ServerMessage::Welcome {
                sid: None,
                restored: false,
                restored_ids: Vec::new(),
            }
            .encode();
        };
        st.welcomed = true;
        st.sid.clone_from(&sid);
        let restored = std::mem::take(&mut st.restore);
        let mut ids: Vec<Arc<str>> = Vec::with_capacity(restored.len());
        for sub in restored {
            // a subscribe that came before the welcome (auto_welcome off) wins over the restored one
            let id = sub.identifier.clone();
            let indexed = sub.clone();
            if let Some(seq) = st.subs.push(sub) {
                self.index.add_sub(&mut self.out, conn, seq, &indexed);
                ids.push(id);
            }
        }
        ServerMessage::Welcome {
            sid: sid.map(Into::into),
            restored: !ids.is_empty(),
            restored_ids: ids.iter().map(|s| IdentifierStr::new(s)).collect(),
        }
        .encode()
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
        self.out.check_room()?;
        self.send(
            conn,
            ServerMessage::Disconnect {
                reason: reason.map(Into::into),
                reconnect,
            },
        );
        self.out
            .push_transmit((conn, HubTransmit::Close(Close::normal())));
        self.forget(conn);
        Ok(())
    }

    /// Closes a connection without a disconnect frame, as Rails 5.2 does. Never refused: a close is always
    /// queued.
    pub fn close(&mut self, conn: ConnId, close: Close) -> Result<(), HubError> {
        if !self.conns.contains_key(&conn) {
            return Err(HubError::UnknownConnection);
        }
        self.out.push_transmit((conn, HubTransmit::Close(close)));
        self.forget(conn);
        Ok(())
    }

    /// Forgets a connection, remembering its AnyCable session for a restore.
    fn forget(&mut self, conn: ConnId) {
        let Some(mut st) = self.conns.remove(&conn) else {
            return;
        };
        let subs = st.subs.take_all();
        for (seq, sub) in &subs {
            self.index.remove_sub(&mut self.out, conn, *seq, sub);
        }
        if let Some(sid) = st.sid {
            let subs: Vec<HubSub> = subs.into_iter().map(|(_, s)| s).filter(|s| s.confirmed).collect();
            if self.sessions.len() >= MAX_SESSIONS {
                self.sessions.pop_front();
            }
            self.sessions.push_back((sid, subs));
        }
    }

    fn sub_mut(&mut self, conn: ConnId, identifier: &str) -> Result<&mut HubSub, HubError> {
        let st = self.conns.get_mut(&conn).ok_or(HubError::UnknownConnection)?;
        st.subs
            .get_mut(identifier)
            .map(|(_, s)| s)
            .ok_or(HubError::UnknownSubscription)
    }

    /// Confirms a requested subscription (a second call is a no-op).
    pub fn confirm(&mut self, conn: ConnId, identifier: &str) -> Result<(), HubError> {
        if self.sub_mut(conn, identifier)?.confirmed {
            return Ok(());
        }
        self.out.check_room()?;
        if let Some(st) = self.conns.get_mut(&conn)
            && let Some((seq, sub)) = st.subs.get_mut(identifier)
        {
            sub.confirmed = true;
            self.index.add_sub(&mut self.out, conn, seq, sub);
        }
        self.send(
            conn,
            ServerMessage::Confirm {
                identifier: IdentifierStr::new(identifier),
            },
        );
        Ok(())
    }

    /// Rejects a requested subscription and forgets it.
    pub fn reject(&mut self, conn: ConnId, identifier: &str) -> Result<(), HubError> {
        let st = self.conns.get(&conn).ok_or(HubError::UnknownConnection)?;
        if !st.subs.contains(identifier) {
            return Err(HubError::UnknownSubscription);
        }
        self.out.check_room()?;
        if let Some(st) = self.conns.get_mut(&conn)
            && let Some((seq, sub)) = st.subs.remove(identifier)
        {
            self.index.remove_sub(&mut self.out, conn, seq, &sub);
        }
        self.send(
            conn,
            ServerMessage::Reject {
                identifier: IdentifierStr::new(identifier),
            },
        );
        Ok(())
    }

    /// Streams `stream`'s broadcasts to the subscription (a second call for one stream is a no-op). Broadcasts
    /// reach it once it is confirmed too, whichever comes first.
    pub fn stream_from(&mut self, conn: ConnId, identifier: &str, stream: &str) -> Result<(), HubError> {
        let st = self.conns.get_mut(&conn).ok_or(HubError::UnknownConnection)?;
        let (seq, sub) = st.subs.get_mut(identifier).ok_or(HubError::UnknownSubscription)?;
        if !sub.streams.iter().any(|s| s == stream) {
            sub.streams.push(stream.to_owned());
            if sub.confirmed {
                self.index.add(&mut self.out, stream, (conn, seq));
            }
        }
        Ok(())
    }

    /// Stops streaming `stream`'s broadcasts to the subscription, as Rails' `stop_stream_from` (a no-op when it
    /// does not stream from it).
    pub fn stop_stream_from(&mut self, conn: ConnId, identifier: &str, stream: &str) -> Result<(), HubError> {
        let st = self.conns.get_mut(&conn).ok_or(HubError::UnknownConnection)?;
        let (seq, sub) = st.subs.get_mut(identifier).ok_or(HubError::UnknownSubscription)?;
        if let Some(i) = sub.streams.iter().position(|s| s == stream) {
            sub.streams.remove(i);
            if sub.confirmed {
                self.index.remove(&mut self.out, stream, (conn, seq));
            }
        }
        Ok(())
    }

    /// Stops every stream of the subscription, as Rails' `stop_all_streams`; the subscription stays.
    pub fn stop_all_streams(&mut self, conn: ConnId, identifier: &str) -> Result<(), HubError> {
        let st = self.conns.get_mut(&conn).ok_or(HubError::UnknownConnection)?;
        let (seq, sub) = st.subs.get_mut(identifier).ok_or(HubError::UnknownSubscription)?;
        let streams = std::mem::take(&mut sub.streams);
        if sub.confirmed {
            for s in &streams {
                self.index.remove(&mut self.out, s, (conn, seq));
            }
        }
        Ok(())
    }

    /// Broadcasts `message` (raw JSON of any type) to every confirmed subscription streaming from `stream`, on
    /// this hub only (a host with a broker publishes there instead and calls this on receipt). Each frame is
    /// encoded once per (identifier, protocol) and shared by every connection that gets it. Returns how many
    /// subscriptions got it. Refused with nothing queued when the outgoing queue is full; once accepted, every
    /// subscriber's frame is queued, in connection order, then subscribe order.
    ///
    /// The cost is one index lookup (O(log streams)) plus the stream's own subscribers: other connections and
    /// subscriptions are not visited.
    pub fn broadcast(&mut self, stream: &str, message: &str) -> Result<usize, HubError> {
        let message = RawJson::from_json_str(message).map_err(|_| HubError::InvalidJson)?;
        self.out.check_room()?;
        let pos = if self.config.anycable && self.config.history {
            let seed = self.config.seed;
            Some(self.history.append(
                stream,
                || format!("{seed:x}"),
                self.config.history_limit,
                self.now,
                &message,
            ))
        } else {
            None
        };
        let raw = raw_value(message.as_str()).map_err(|_| HubError::InvalidJson)?;
        let Some(subscribers) = self.index.subscribers(stream) else {
            return Ok(0);
        };
        // frames by (identifier, ext); most streams have one identifier, so the first is kept out of the map
        let mut first: Option<(&str, bool, Frame)> = None;
        let mut cache: BTreeMap<(&str, bool), Frame> = BTreeMap::new();
        let mut n = 0;
        for &(conn, seq) in subscribers {
            let Some(st) = self.conns.get(&conn) else { continue };
            let Some(sub) = st.subs.by_seq(seq) else { continue };
            let ext = st.ext && pos.is_some();
            let id: &str = &sub.identifier;
            let cached = match &first {
                Some((i, e, f)) if *i == id && *e == ext => Some(f.clone()),
                Some(_) => cache.get(&(id, ext)).cloned(),
                None => None,
            };
            let frame = match cached {
                Some(f) => f,
                None => {
                    let position = pos.as_ref().filter(|_| ext);
                    let f = ServerMessage::Message {
                        identifier: IdentifierStr::new(id),
                        message: raw,
                        stream_id: position.map(|_| stream.into()),
                        epoch: position.map(|(e, _)| e.as_str().into()),
                        offset: position.map(|(_, o)| *o),
                    }
                    .encode();
                    if first.is_none() {
                        first = Some((id, ext, f.clone()));
                    } else {
                        cache.insert((id, ext), f.clone());
                    }
                    f
                }
            };
            self.out.push_transmit((conn, HubTransmit::Send(frame)));
            n += 1;
        }
        Ok(n)
    }

    /// Replays the history `raw` asks for on `identifier`; `false` when it cannot be served.
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
        let Some(replay) = self.history.replay(&req, &streams, |at| self.unix_secs(at)) else {
            return false;
        };
        for r in replay {
            let Ok(message) = raw_value(r.message.as_str()) else {
                continue;
            };
            let f = ServerMessage::Message {
                identifier: IdentifierStr::new(identifier),
                message,
                stream_id: Some(r.stream.as_str().into()),
                epoch: Some(r.epoch.as_str().into()),
                offset: Some(r.offset),
            }
            .encode();
            self.reply(conn, f);
        }
        true
    }

    /// Queues an event derived from a peer's frame; `false` when the host is not polling and it was dropped.
    fn event(&mut self, ev: HubEvent) -> bool {
        self.out.push_event(ev)
    }

    fn on_command(&mut self, conn: ConnId, frame: &Frame) {
        let bad = |reason: String| HubEvent::BadInput {
            conn,
            reason,
            frame: Secret::new(frame.clone()),
        };
        let msg = match ClientMessage::decode(frame) {
            Ok(m) => m,
            Err(e) => {
                self.event(bad(format!("could not decode: {e}")));
                return;
            }
        };
        let Some(st) = self.conns.get_mut(&conn) else {
            return;
        };
        let ext = st.ext;
        match msg {
            ClientMessage::Subscribe { identifier, .. } => {
                let text = identifier.to_cow();
                if !names_a_channel(&text) {
                    self.event(bad(String::from(
                        "subscribe: identifier is not a JSON object with a string `channel`",
                    )));
                    return;
                }
                let id = Identifier::from_wire(text.into_owned());
                if st.subs.contains(id.as_str()) {
                    self.event(HubEvent::DuplicateSubscribe { conn, identifier: id });
                    return;
                }
                let key: Arc<str> = Arc::from(id.as_str());
                st.subs.push(HubSub {
                    identifier: key.clone(),
                    confirmed: false,
                    streams: Vec::new(),
                });
                if !self.event(HubEvent::SubscribeRequested { conn, identifier: id })
                    && let Some(st) = self.conns.get_mut(&conn)
                {
                    // the host will not hear of it: forget it (unconfirmed, so in no stream), the client's
                    // retry asks again
                    st.subs.remove(&key);
                }
            }
            ClientMessage::Unsubscribe { identifier } => match st.subs.remove(&identifier.to_cow()) {
                Some((seq, sub)) => {
                    self.index.remove_sub(&mut self.out, conn, seq, &sub);
                    self.event(HubEvent::Unsubscribed {
                        conn,
                        identifier: Identifier::from_wire(sub.identifier.to_string()),
                    });
                }
                None => {
                    self.event(bad(String::from("unsubscribe: no such subscription")));
                }
            },
            ClientMessage::Message { identifier, data } => {
                if !has_sub(&st.subs, &identifier) {
                    self.event(bad(String::from("message: no such subscription")));
                    return;
                }
                let ev = match MessageData::from_raw(data) {
                    Ok(d) => HubEvent::Perform {
                        conn,
                        identifier: Identifier::from_wire(identifier.to_cow().into_owned()),
                        action: d.action,
                        data: d.json,
                    },
                    Err(e) => bad(format!("message data: {e}")),
                };
                self.event(ev);
            }
            ClientMessage::Whisper { identifier, data } if ext => {
                if !has_sub(&st.subs, &identifier) {
                    self.event(bad(String::from("whisper: no such subscription")));
                    return;
                }
                self.event(HubEvent::Whisper {
                    conn,
                    identifier: Identifier::from_wire(identifier.to_cow().into_owned()),
                    data: RawJson::from_raw_in(frame, data),
                });
            }
            ClientMessage::History { identifier, history } if ext => {
                let id = identifier.to_cow().into_owned();
                let served = self.config.history && self.serve_history(conn, &id, history.get());
                let f = if served {
                    ServerMessage::ConfirmHistory {
                        identifier: IdentifierStr::new(&id),
                    }
                } else {
                    ServerMessage::RejectHistory {
                        identifier: IdentifierStr::new(&id),
                    }
                }
                .encode();
                self.reply(conn, f);
                self.event(HubEvent::HistoryRequested {
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
                if !has_sub(&st.subs, &identifier) {
                    self.event(bad(String::from("presence: no such subscription")));
                    return;
                }
                let (command, presence) = match msg {
                    ClientMessage::Join { presence, .. } => {
                        ("join", presence.map(|p| RawJson::from_raw_in(frame, p)))
                    }
                    ClientMessage::Leave { .. } => ("leave", None),
                    _ => ("presence", None),
                };
                self.event(HubEvent::Presence {
                    conn,
                    identifier: Identifier::from_wire(identifier.to_cow().into_owned()),
                    command,
                    presence,
                });
            }
            ClientMessage::Ping if ext => self.reply(conn, ServerMessage::Pong.encode()),
            ClientMessage::Pong if ext => {}
            _ => {
                self.event(bad(String::from("unrecognized command")));
            }
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
                    form_urlencoded::parse(request.query().as_bytes())
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
                subs: Subs::default(),
            },
        );
        if self.config.auto_welcome {
            let frame = self.welcome_frame(conn);
            self.reply(conn, frame);
        }
        self.out.push_event_kept(HubEvent::Opened {
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
            self.event(HubEvent::BadInput {
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
            self.out.push_event_kept(HubEvent::Closed { conn, close });
        }
    }

    /// A planned shutdown, as Rails' `ActionCable.server.restart`: every connection gets `disconnect` with
    /// reason `server_restart` and `reconnect: true`, then a close; clients reconnect at once. A connection whose
    /// queue has no room for the frame is closed with 1001 (going away) without it.
    fn handle_shutdown(&mut self, _now: Instant) {
        let open: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in open {
            if self.disconnect(conn, Some("server_restart"), Some(true)).is_err() {
                let _ = self.close(conn, Close::new(1001, "server_restart"));
            }
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
        self.history.expire(now, self.config.history_ttl);
        if self.paused {
            return;
        }
        let ping = ServerMessage::Ping {
            message: Some(i64::try_from(self.unix_secs(now)).unwrap_or(i64::MAX)),
        }
        .encode();
        let conns: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, st)| st.welcomed)
            .map(|(c, _)| *c)
            .collect();
        for conn in conns {
            self.reply(conn, ping.clone());
        }
    }

    fn poll_transmit(&mut self) -> Option<(ConnId, HubTransmit)> {
        self.out.poll_transmit()
    }

    fn poll_event(&mut self) -> Option<HubEvent> {
        self.out.poll_event()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next_ping
    }
}
