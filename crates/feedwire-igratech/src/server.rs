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

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use feedwire_core::{Close, ConnId, Frame, HubTransmit, Limits, OpenRequest, RawJson};

use crate::codec::{ClientMessage, EncodeError, Id, Logout, Pong, ServerMessage, Settings, Status};
use crate::envelope::{Envelope, NestEnvelope};

/// The close code the hub uses after `logout`.
pub const LOGOUT_CLOSE: u16 = 4001;

/// How a [`Hub`] behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HubConfig {
    /// Answer pings (default true; turn off to test a client's pong timeout).
    pub answer_pings: bool,
    /// The `reason` of the `logout` sent when a user logs in again.
    pub logout_reason: String,
    /// Frame and queue bounds.
    pub limits: Limits,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            answer_pings: true,
            logout_reason: "login from another client".to_owned(),
            limits: Limits::default(),
        }
    }
}

impl HubConfig {
    /// Sets whether pings are answered.
    pub fn with_answer_pings(mut self, yes: bool) -> Self {
        self.answer_pings = yes;
        self
    }
    /// Sets the logout reason.
    pub fn with_logout_reason(mut self, reason: impl Into<String>) -> Self {
        self.logout_reason = reason.into();
        self
    }
    /// Sets the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}

/// What the hub tells its host.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HubEvent {
    /// A connection opened and was logged in as `user`.
    Opened {
        /// The connection.
        conn: ConnId,
        /// The user.
        user: String,
    },
    /// A connection was logged out (`logout` sent, then closed).
    LoggedOut {
        /// The connection logged out.
        conn: ConnId,
        /// Its user.
        user: String,
        /// The connection that logged in as the same user, if that was the cause.
        by: Option<ConnId>,
    },
    /// A connection sent settings, now applied.
    Settings {
        /// The connection.
        conn: ConnId,
        /// The settings.
        settings: Settings,
    },
    /// A connection pinged.
    Ping {
        /// The connection.
        conn: ConnId,
        /// The ping value.
        unix_ms: u64,
    },
    /// A message on a channel the hub does not handle.
    Unknown {
        /// The connection.
        conn: ConnId,
        /// The channel.
        event: String,
        /// The payload.
        data: RawJson,
    },
    /// A frame that is not an envelope, too large, or with a payload that does not fit.
    Malformed {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: String,
        /// The frame.
        raw: Frame,
    },
    /// A connection closed.
    Closed {
        /// The connection.
        conn: ConnId,
        /// Its user.
        user: String,
    },
}

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
    out: VecDeque<(ConnId, HubTransmit)>,
    events: VecDeque<HubEvent>,
    dropped_events: u64,
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
            config,
            envelope,
            conns: BTreeMap::new(),
            users: HashMap::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            dropped_events: 0,
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

    /// Transmits waiting to be polled.
    pub fn queued_transmits(&self) -> usize {
        self.out.len()
    }

    /// Events waiting to be polled.
    pub fn queued_events(&self) -> usize {
        self.events.len()
    }

    /// Encodes `msg` in this hub's envelope.
    pub fn encode(&self, msg: &ServerMessage) -> Result<Frame, EncodeError> {
        Ok(Frame::from(msg.encode_with(&self.envelope)?))
    }

    /// Sends `msg` to every connection it concerns (see the [module docs](self)), encoded once; returns how
    /// many connections it went to.
    pub fn publish(&mut self, msg: &ServerMessage) -> Result<usize, EncodeError> {
        let frame = self.encode(msg)?;
        let game = msg.game_id();
        let targets: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| match (&c.settings, game) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(s), Some(g)) => match &s.game_ids {
                    None => true,
                    Some(ids) => ids.is_empty() || ids.contains(g),
                },
            })
            .map(|(id, _)| *id)
            .collect();
        for conn in &targets {
            self.out.push_back((*conn, HubTransmit::Send(frame.clone())));
        }
        Ok(targets.len())
    }

    /// Sends `msg` to `user`'s connection, if any; returns whether it had one.
    pub fn send_to_user(&mut self, user: &str, msg: &ServerMessage) -> Result<bool, EncodeError> {
        let Some(conn) = self.users.get(user).copied() else {
            return Ok(false);
        };
        let frame = self.encode(msg)?;
        self.out.push_back((conn, HubTransmit::Send(frame)));
        Ok(true)
    }

    /// Sends `frame` as is to `conn` (for malformed or foreign frames in tests).
    pub fn send_raw(&mut self, conn: ConnId, frame: Frame) {
        if self.conns.contains_key(&conn) {
            self.out.push_back((conn, HubTransmit::Send(frame)));
        }
    }

    /// Logs `user` out: `logout` with `reason`, then a close. Returns whether the user had a connection.
    pub fn logout_user(&mut self, user: &str, reason: &str) -> bool {
        match self.users.get(user).copied() {
            Some(conn) => {
                self.logout(conn, reason.to_owned(), None);
                true
            }
            None => false,
        }
    }

    fn logout(&mut self, conn: ConnId, reason: String, by: Option<ConnId>) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        crate::debug!(%conn, ?by, "igratech hub: logging a connection out");
        if self.users.get(&c.user) == Some(&conn) {
            self.users.remove(&c.user);
        }
        let msg = ServerMessage::Logout(Logout {
            reason: Some(reason),
            extra: Default::default(),
        });
        if let Ok(f) = self.encode(&msg) {
            self.out.push_back((conn, HubTransmit::Send(f)));
        }
        self.out
            .push_back((conn, HubTransmit::Close(Close::new(LOGOUT_CLOSE, "logged out"))));
        self.push_event(HubEvent::LoggedOut {
            conn,
            user: c.user,
            by,
        });
    }

    fn push_event(&mut self, ev: HubEvent) {
        if self.events.len() >= self.config.limits.max_queued.max(1) {
            self.events.pop_front();
            self.dropped_events += 1;
        }
        self.events.push_back(ev);
    }

    fn send(&mut self, conn: ConnId, msg: &ServerMessage) {
        if let Ok(f) = self.encode(msg) {
            self.out.push_back((conn, HubTransmit::Send(f)));
        }
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
    url::form_urlencoded::parse(request.query().as_bytes())
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
        self.send(conn, &status);
        self.push_event(HubEvent::Opened { conn, user });
    }

    fn handle_frame(&mut self, _now: Instant, conn: ConnId, frame: Frame) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        if !self.config.limits.frame_fits(frame.len()) {
            let reason = format!("frame of {} bytes exceeds the limit", frame.len());
            self.push_event(HubEvent::Malformed {
                conn,
                reason,
                raw: frame,
            });
            return;
        }
        let decoded = self
            .envelope
            .split(frame.as_str())
            .map_err(crate::codec::DecodeError::from)
            .and_then(|m| ClientMessage::from_parts(&m, Some(&frame)));
        match decoded {
            Err(e) => self.push_event(HubEvent::Malformed {
                conn,
                reason: e.to_string(),
                raw: frame,
            }),
            Ok(ClientMessage::Ping(p)) => {
                if self.config.answer_pings {
                    let pong = ServerMessage::Pong(Pong {
                        pong: p.ping,
                        extra: Default::default(),
                    });
                    self.send(conn, &pong);
                }
                self.push_event(HubEvent::Ping {
                    conn,
                    unix_ms: p.ping,
                });
            }
            Ok(ClientMessage::Settings(s)) => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.settings = Some(s.clone());
                }
                self.send(conn, &ServerMessage::Settings(s.clone()));
                self.push_event(HubEvent::Settings { conn, settings: s });
            }
            Ok(ClientMessage::Other { event, data }) => {
                self.push_event(HubEvent::Unknown { conn, event, data })
            }
        }
    }

    fn handle_close(&mut self, _now: Instant, conn: ConnId, _close: Option<Close>) {
        if let Some(c) = self.conns.remove(&conn) {
            if self.users.get(&c.user) == Some(&conn) {
                self.users.remove(&c.user);
            }
            self.out.retain(|(id, _)| *id != conn);
            self.push_event(HubEvent::Closed { conn, user: c.user });
        }
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self) -> Option<(ConnId, HubTransmit)> {
        self.out.pop_front()
    }

    fn poll_event(&mut self) -> Option<HubEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}
