//! A mock Igratech server for tests and demos.
//!
//! [`Hub`] implements [`feedwire_core::Hub`]. On open it identifies the user (the bearer token of an
//! `Authorization` header, else a `token` query parameter, else an anonymous user per connection), logs out
//! the user's previous connection (single session per user, as the real service does: `logout`, then a
//! close), and sends `connected`. It answers every ping with a pong echoing its value, applies and echoes
//! settings, and publishes any [`ServerMessage`] to the connections it concerns, encoded once and shared.
//!
//! A connection is subscribed once it has sent settings. Messages with a `gameId` (incident, bet, stats) go
//! to subscribed connections whose `gameIds` contain it (or that gave no or an empty `gameIds`); other messages go to
//! every subscribed connection. [`Hub::send_to_user`] targets one user (balance, bets-result).
//!
//! The hub's queues follow core's [`HubOutbox`] policy: its commands ([`Hub::publish`], [`Hub::send_to_user`],
//! [`Hub::send_raw`], [`Hub::logout_user`]) are refused with [`HubError::QueueFull`], nothing sent, while
//! `max_queued` transmits wait for the driver; its own answers (`connected`, pongs, settings echoes) are
//! dropped and counted only when the driver does not drain at all; closes are never dropped.
//!
//! ```
//! use std::time::Instant;
//! use feedwire_core::{ConnId, Hub as _, HubTransmit, OpenRequest};
//! use feedwire_igratech::server::{Hub, HubConfig};
//!
//! # #[allow(clippy::disallowed_methods)] let now = Instant::now();
//! let mut hub = Hub::new(HubConfig::default());
//! hub.handle_open(now, ConnId(1), &OpenRequest::new("/wspublic?token=alice"));
//! let Some((ConnId(1), HubTransmit::Send(f))) = hub.poll_transmit() else { panic!() };
//! assert_eq!(f.as_str(), r#"{"event":"connected","data":{"status":"ok","userId":"alice","sessionId":"1"}}"#);
//! hub.handle_frame(now, ConnId(1), r#"{"event":"ping-pong","data":{"ping":5}}"#.into());
//! let Some((_, HubTransmit::Send(f))) = hub.poll_transmit() else { panic!() };
//! assert_eq!(f.as_str(), r#"{"event":"ping-pong","data":{"pong":5}}"#);
//! ```

mod config;
mod event;

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use feedwire_core::{Close, ConnId, Frame, HubOutbox, HubTransmit, OpenRequest, QueueStats};

pub use config::HubConfig;
pub use event::{HubError, HubEvent};

use crate::codec::{ClientMessage, Id, Logout, Pong, ServerMessage, Settings, Status};
use crate::envelope::{Envelope, NestEnvelope};

/// The close code the hub uses after `logout`.
pub const LOGOUT_CLOSE: u16 = 4001;

#[derive(Debug)]
struct Conn {
    user: String,
    settings: Option<Settings>,
}

/// The mock Igratech server (see the [module docs](self)).
#[derive(Debug)]
pub struct Hub<E: Envelope = NestEnvelope> {
    config: HubConfig,
    envelope: E,
    conns: BTreeMap<ConnId, Conn>,
    users: HashMap<String, ConnId>,
    out: HubOutbox<HubEvent>,
}

impl Hub<NestEnvelope> {
    /// A hub with the default envelope.
    pub fn new(config: HubConfig) -> Self {
        Hub::with_envelope(config, NestEnvelope)
    }
}

impl Default for Hub<NestEnvelope> {
    fn default() -> Self {
        Hub::new(HubConfig::default())
    }
}

impl<E: Envelope> Hub<E> {
    /// A hub that frames messages with `envelope`.
    pub fn with_envelope(config: HubConfig, envelope: E) -> Self {
        Hub {
            out: HubOutbox::new(&config.limits),
            config,
            envelope,
            conns: BTreeMap::new(),
            users: HashMap::new(),
        }
    }

    /// Sets whether pings are answered, from now on.
    pub fn set_answer_pings(&mut self, yes: bool) {
        self.config.answer_pings = yes;
    }

    /// The open connections.
    pub fn connections(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.conns.keys().copied()
    }

    /// The connection `user` is logged in on.
    pub fn connection_of(&self, user: &str) -> Option<ConnId> {
        self.users.get(user).copied()
    }

    /// The user of `conn`.
    pub fn user_of(&self, conn: ConnId) -> Option<&str> {
        self.conns.get(&conn).map(|c| c.user.as_str())
    }

    /// The settings `conn` applied.
    pub fn settings_of(&self, conn: ConnId) -> Option<&Settings> {
        self.conns.get(&conn).and_then(|c| c.settings.as_ref())
    }

    /// What the queues hold and have dropped.
    pub fn queue_stats(&self) -> QueueStats {
        self.out.stats()
    }

    /// Encodes `msg` in this hub's envelope.
    pub fn encode(&self, msg: &ServerMessage) -> Frame {
        msg.encode_with(&self.envelope)
    }

    /// Sends `msg` to every connection it concerns (see the [module docs](self)), encoded once; returns how
    /// many connections it went to. Refused, with nothing sent, while the driver has not drained the frames
    /// already queued.
    pub fn publish(&mut self, msg: &ServerMessage) -> Result<usize, HubError> {
        self.out.check_room()?;
        let frame = self.encode(msg);
        let game = msg.game_id();
        let mut sent = 0;
        for (conn, c) in &self.conns {
            let wanted = match (&c.settings, game) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(s), Some(g)) => match &s.game_ids {
                    None => true,
                    Some(ids) => ids.is_empty() || ids.contains(g),
                },
            };
            if wanted {
                self.out.push_transmit((*conn, HubTransmit::Send(frame.clone())));
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// Sends `msg` to `user`'s connection, if any; returns whether it had one.
    pub fn send_to_user(&mut self, user: &str, msg: &ServerMessage) -> Result<bool, HubError> {
        self.out.check_room()?;
        let Some(conn) = self.users.get(user).copied() else {
            return Ok(false);
        };
        let frame = self.encode(msg);
        self.out.push_transmit((conn, HubTransmit::Send(frame)));
        Ok(true)
    }

    /// Sends `frame` as is to `conn` (for malformed or foreign frames in tests); returns whether `conn` is
    /// open.
    pub fn send_raw(&mut self, conn: ConnId, frame: Frame) -> Result<bool, HubError> {
        self.out.check_room()?;
        if !self.conns.contains_key(&conn) {
            return Ok(false);
        }
        self.out.push_transmit((conn, HubTransmit::Send(frame)));
        Ok(true)
    }

    /// Logs `user` out: `logout` with `reason`, then a close. Returns whether the user had a connection.
    pub fn logout_user(&mut self, user: &str, reason: &str) -> Result<bool, HubError> {
        self.out.check_room()?;
        match self.users.get(user).copied() {
            Some(conn) => {
                self.logout(conn, reason.to_owned(), None);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The fuzzers' invariants: one connection per user and the two maps agree, droppable events within the
    /// bound, and frames queued only for open connections or ahead of their close.
    #[cfg(feature = "fuzzing")]
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        for (user, conn) in &self.users {
            match self.conns.get(conn) {
                Some(c) if &c.user == user => {}
                other => return Err(format!("user {user} on {conn}, which is {other:?}")),
            }
        }
        for (conn, c) in &self.conns {
            if self.users.get(&c.user) != Some(conn) {
                return Err(format!("{conn} of {} is not that user's connection", c.user));
            }
        }
        let max = self.out.max_queued();
        let droppable = self.out.events().filter(|e| !e.is_kept()).count();
        if droppable > max {
            return Err(format!("{droppable} droppable events queued, bound {max}"));
        }
        let queued: Vec<_> = self.out.transmits().collect();
        let mut closing = std::collections::BTreeSet::new();
        for (conn, t) in queued.into_iter().rev() {
            if matches!(t, HubTransmit::Close(_)) {
                closing.insert(*conn);
            } else if !self.conns.contains_key(conn) && !closing.contains(conn) {
                return Err(format!(
                    "a frame queued for {conn}, which is neither open nor closing"
                ));
            }
        }
        Ok(())
    }

    /// Logs `conn` out. `logout` is the session's own frame when a second login causes it (`by`), the
    /// application's when it asked ([`Hub::logout_user`], whose room is checked); the close is never dropped.
    fn logout(&mut self, conn: ConnId, reason: String, by: Option<ConnId>) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        #[cfg(feature = "tracing")]
        tracing::debug!(%conn, ?by, "igratech hub: logging a connection out");
        if self.users.get(&c.user) == Some(&conn) {
            self.users.remove(&c.user);
        }
        let msg = ServerMessage::Logout(Logout {
            reason: Some(reason),
            extra: Default::default(),
        });
        let frame = (conn, HubTransmit::Send(self.encode(&msg)));
        if by.is_some() {
            self.out.push_reply(frame);
        } else {
            self.out.push_transmit(frame);
        }
        self.out
            .push_transmit((conn, HubTransmit::Close(Close::new(LOGOUT_CLOSE, "logged out"))));
        self.emit(HubEvent::LoggedOut {
            conn,
            user: c.user,
            by,
        });
    }

    /// Queues an event under the outbox policy ([`HubEvent`] says which are kept).
    fn emit(&mut self, ev: HubEvent) {
        if ev.is_kept() {
            self.out.push_event_kept(ev);
        } else {
            self.out.push_event(ev);
        }
    }

    /// Sends the hub's own answer `msg` to `conn`.
    fn reply(&mut self, conn: ConnId, msg: &ServerMessage) {
        let frame = self.encode(msg);
        self.out.push_reply((conn, HubTransmit::Send(frame)));
    }
}

/// The user an open request logs in as: `Authorization: Bearer <token>`, else `?token=<token>`.
fn user_of_request(request: &OpenRequest) -> Option<String> {
    if let Some(t) = request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        && !t.is_empty()
    {
        return Some(t.to_owned());
    }
    form_urlencoded::parse(request.query().as_bytes())
        .find(|(k, v)| k == "token" && !v.is_empty())
        .map(|(_, v)| v.into_owned())
}

impl<E: Envelope> feedwire_core::Hub for Hub<E> {
    type Event = HubEvent;

    fn handle_open(&mut self, now: Instant, conn: ConnId, request: &OpenRequest) {
        if self.conns.contains_key(&conn) {
            // The driver reused an open id: the old connection is gone.
            self.handle_close(now, conn, None);
        }
        let user = user_of_request(request).unwrap_or_else(|| format!("anonymous-{conn}"));
        if let Some(old) = self.users.get(&user).copied()
            && old != conn
        {
            let reason = self.config.logout_reason.clone();
            self.logout(old, reason, Some(conn));
        }
        self.users.insert(user.clone(), conn);
        self.conns.insert(
            conn,
            Conn {
                user: user.clone(),
                settings: None,
            },
        );
        let status = ServerMessage::Connected(Status {
            status: "ok".to_owned(),
            user_id: Some(Id::Str(user.clone())),
            session_id: Some(Id::Str(conn.to_string())),
            extra: Default::default(),
        });
        self.reply(conn, &status);
        self.emit(HubEvent::Opened { conn, user });
    }

    fn handle_frame(&mut self, _now: Instant, conn: ConnId, frame: Frame) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        if !self.config.limits.frame_fits(frame.len()) {
            let error = format!("frame of {} bytes exceeds the limit", frame.len());
            self.emit(HubEvent::Malformed {
                conn,
                error,
                frame: frame.truncated(Frame::MALFORMED_KEEP),
            });
            return;
        }
        match ClientMessage::decode_with(&frame, &self.envelope) {
            Err(e) => self.emit(HubEvent::Malformed {
                conn,
                error: e.to_string(),
                frame: frame.truncated(Frame::MALFORMED_KEEP),
            }),
            Ok(ClientMessage::Ping(p)) => {
                if self.config.answer_pings {
                    let pong = ServerMessage::Pong(Pong {
                        pong: p.ping,
                        extra: Default::default(),
                    });
                    self.reply(conn, &pong);
                }
                self.emit(HubEvent::Ping {
                    conn,
                    unix_ms: p.ping,
                });
            }
            Ok(ClientMessage::Settings(s)) => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.settings = Some(s.clone());
                }
                self.reply(conn, &ServerMessage::Settings(s.clone()));
                self.emit(HubEvent::Settings { conn, settings: s });
            }
            Ok(ClientMessage::Other { event, data }) => self.emit(HubEvent::Unknown { conn, event, data }),
        }
    }

    fn handle_close(&mut self, _now: Instant, conn: ConnId, _close: Option<Close>) {
        if let Some(c) = self.conns.remove(&conn) {
            if self.users.get(&c.user) == Some(&conn) {
                self.users.remove(&c.user);
            }
            self.out.retain_transmits(|(id, _)| *id != conn);
            self.emit(HubEvent::Closed { conn, user: c.user });
        }
    }

    /// A planned restart: the feed has no "reconnect now" message, so every connection is closed at once with
    /// 1001 (going away), which the client treats as a drop and reconnects with backoff (re-sending its login
    /// and settings), instead of the host's close after its grace period (5 s in `feedwire serve`) during
    /// which the clients, told nothing, would keep the connection open.
    fn handle_shutdown(&mut self, _now: Instant) {
        let open: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in open {
            if let Some(c) = self.conns.remove(&conn) {
                if self.users.get(&c.user) == Some(&conn) {
                    self.users.remove(&c.user);
                }
                self.out
                    .push_transmit((conn, HubTransmit::Close(Close::going_away())));
                self.emit(HubEvent::Closed { conn, user: c.user });
            }
        }
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self) -> Option<(ConnId, HubTransmit)> {
        self.out.poll_transmit()
    }

    fn poll_event(&mut self) -> Option<HubEvent> {
        self.out.poll_event()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}
