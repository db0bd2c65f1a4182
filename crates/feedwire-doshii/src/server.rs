//! A mock Doshii server, for tests and demos.
//!
//! The [`Hub`] accepts the four sockets (`/app/socket`, `/app/socket/v3`, `/pos/socket`, `/vendor/socket`),
//! answers pings with pongs carrying the same stamp, emits events in the wire shape `{"emit":[name,data]}`,
//! filters app connections by their registered device (`events`, `locationIds`), keeps 10 minutes of
//! undelivered events per app (per client id and device) and replays them when the app connects again, and can
//! end a connection with `"primus::server::close"`.
//!
//! ```
//! use std::time::Instant;
//! use feedwire_core::{ConnId, Frame, Hub as _, HubTransmit, OpenRequest, RawJson};
//! use feedwire_doshii::server::Hub;
//!
//! # #[allow(clippy::disallowed_methods)]
//! let now = Instant::now();
//! let mut hub = Hub::new();
//! // auth = base64("client-id")
//! hub.handle_open(now, ConnId(1), &OpenRequest::new("/app/socket?auth=Y2xpZW50LWlk"));
//! hub.handle_frame(now, ConnId(1), Frame::from(r#"{"doshii":{"ping":5,"version":"1.2.3"}}"#));
//! let data = RawJson::from_json_str(r#"{"id":"1","status":"accepted"}"#).unwrap();
//! assert_eq!(hub.publish_to_app(now, "client-id", "order_updated", &data), 1);
//! let sent: Vec<_> = std::iter::from_fn(|| hub.poll_transmit()).collect();
//! assert_eq!(sent, vec![
//!     (ConnId(1), HubTransmit::Send(Frame::from(r#"{"doshii":{"pong":5,"version":"3.2.123"}}"#))),
//!     (ConnId(1), HubTransmit::Send(Frame::from(r#"{"emit":["order_updated",{"id":"1","status":"accepted"}]}"#))),
//! ]);
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use base64::Engine as _;
use feedwire_core::{Close, CloseCode, ConnId, Frame, HubTransmit, Limits, OpenRequest, RawJson};

use crate::codec::{self, DecodeError, Message, PRIMUS_SERVER_CLOSE, Stamp};

/// How long undelivered app events are kept for replay: 10 minutes, as Doshii does.
pub const BACKLOG_WINDOW: Duration = Duration::from_secs(10 * 60);

/// Who is on a connection, from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Peer {
    /// An app partner (`/app/socket`, or `/app/socket/v3` when `v3`).
    App {
        /// The client id, decoded from `auth`.
        client_id: String,
        /// The `deviceId` query parameter (v3).
        device_id: Option<String>,
        /// Whether it came on `/app/socket/v3`.
        v3: bool,
    },
    /// A POS venue (`/pos/socket?token=..`).
    Pos {
        /// The location token.
        token: String,
    },
    /// A cloud POS vendor (`/vendor/socket?token=..&vendor=..`).
    Vendor {
        /// The JWT.
        token: String,
        /// The vendor name.
        vendor: String,
    },
}

/// A registered device's filters (`POST /devices`): empty lists match everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DeviceFilter {
    /// Event names to deliver.
    pub events: Vec<String>,
    /// `locationId`s to deliver.
    pub location_ids: Vec<String>,
}

impl DeviceFilter {
    /// Sets the event names.
    pub fn with_events<I: IntoIterator<Item = S>, S: Into<String>>(mut self, events: I) -> Self {
        self.events = events.into_iter().map(Into::into).collect();
        self
    }
    /// Sets the location ids.
    pub fn with_location_ids<I: IntoIterator<Item = S>, S: Into<String>>(mut self, ids: I) -> Self {
        self.location_ids = ids.into_iter().map(Into::into).collect();
        self
    }

    /// Whether an event `name` with `location_id` passes.
    pub fn matches(&self, name: &str, location_id: Option<&str>) -> bool {
        (self.events.is_empty() || self.events.iter().any(|e| e == name))
            && (self.location_ids.is_empty()
                || location_id.is_some_and(|l| self.location_ids.iter().any(|x| x == l)))
    }
}

/// What the hub tells its host.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HubEvent {
    /// A connection was accepted.
    Opened {
        /// The connection.
        conn: ConnId,
        /// Who it is.
        peer: Peer,
        /// How many backlogged events were replayed to it.
        replayed: usize,
    },
    /// A connection was refused (unknown path or bad credentials) and closed.
    Rejected {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: &'static str,
    },
    /// A client pinged (answered unless pongs are muted).
    Ping {
        /// The connection.
        conn: ConnId,
        /// The ping.
        heartbeat: codec::Heartbeat,
    },
    /// A client answered a server ping or health check.
    Pong {
        /// The connection.
        conn: ConnId,
        /// The stamp.
        stamp: Stamp,
    },
    /// Any other message from a client.
    Message {
        /// The connection.
        conn: ConnId,
        /// The message.
        message: Message,
    },
    /// A frame from a client that could not be decoded.
    Error {
        /// The connection.
        conn: ConnId,
        /// Why.
        error: DecodeError,
    },
    /// A connection closed.
    Closed {
        /// The connection.
        conn: ConnId,
    },
}

/// Backlog key: (client id, device id).
type AppKey = (String, Option<String>);

/// One app key's undelivered events, and when its last connection ended.
#[derive(Default)]
struct AppBacklog {
    since: Option<Instant>,
    queue: VecDeque<Backlogged>,
}

struct Backlogged {
    at: Instant,
    name: String,
    location_id: Option<String>,
    frame: Frame,
}

/// The mock Doshii server. See the [module docs](self).
pub struct Hub {
    conns: BTreeMap<ConnId, Peer>,
    devices: BTreeMap<String, DeviceFilter>,
    backlog: BTreeMap<AppKey, AppBacklog>,
    out: VecDeque<(ConnId, HubTransmit)>,
    events: VecDeque<HubEvent>,
    version: String,
    answer_pings: bool,
    limits: Limits,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

impl Hub {
    /// A hub that answers pings with version `3.2.123` (the docs' sample).
    pub fn new() -> Hub {
        Hub {
            conns: BTreeMap::new(),
            devices: BTreeMap::new(),
            backlog: BTreeMap::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            version: "3.2.123".to_owned(),
            answer_pings: true,
            limits: Limits::default(),
        }
    }

    /// Sets the version the pongs carry.
    pub fn with_version(mut self, v: impl Into<String>) -> Hub {
        self.version = v.into();
        self
    }

    /// Sets the limits (queue bound for transmits, events and each backlog).
    pub fn with_limits(mut self, limits: Limits) -> Hub {
        self.limits = limits;
        self
    }

    /// Whether pings are answered (turn off to test pong timeouts).
    pub fn set_answer_pings(&mut self, on: bool) {
        self.answer_pings = on;
    }

    /// Registers (or replaces) a device and its filters, as `POST /devices` does.
    pub fn register_device(&mut self, device_id: impl Into<String>, filter: DeviceFilter) {
        self.devices.insert(device_id.into(), filter);
    }

    /// The open connections and who is on them.
    pub fn connections(&self) -> impl Iterator<Item = (ConnId, &Peer)> {
        self.conns.iter().map(|(c, p)| (*c, p))
    }

    /// Events waiting for replay for an app (all of its devices).
    pub fn backlog_len(&self, client_id: &str) -> usize {
        self.backlog
            .iter()
            .filter(|((c, _), _)| c == client_id)
            .map(|(_, b)| b.queue.len())
            .sum()
    }

    /// Transmits waiting to be polled.
    pub fn queued_transmits(&self) -> usize {
        self.out.len()
    }

    fn push_out(&mut self, conn: ConnId, t: HubTransmit) {
        if matches!(t, HubTransmit::Send(_)) && self.out.len() >= self.limits.max_queued {
            return;
        }
        self.out.push_back((conn, t));
    }

    fn push_event(&mut self, ev: HubEvent) {
        if self.events.len() < self.limits.max_queued {
            self.events.push_back(ev);
        }
    }

    fn filter_of(&self, device: Option<&str>) -> Option<&DeviceFilter> {
        device.and_then(|d| self.devices.get(d))
    }

    fn prune(&mut self, now: Instant) {
        let old = |t: Instant| now.saturating_duration_since(t) > BACKLOG_WINDOW;
        for b in self.backlog.values_mut() {
            while b.queue.front().is_some_and(|e| old(e.at)) {
                b.queue.pop_front();
            }
        }
        // A key is forgotten once it has nothing to replay and has been gone longer than the window.
        self.backlog
            .retain(|_, b| !b.queue.is_empty() || b.since.is_some_and(|t| !old(t)));
    }

    /// Sends an event to every connection of app `client_id` whose device filter matches; app keys (client id
    /// and device) seen before but not connected now, and the app itself when nothing of it is connected, get
    /// the event in their 10-minute backlog. Returns how many connections got it.
    pub fn publish_to_app(&mut self, now: Instant, client_id: &str, name: &str, data: &RawJson) -> usize {
        self.prune(now);
        let frame = codec::encode_emit(name, data);
        let location_id = codec::EventData::new(data.clone())
            .location_id()
            .map(|l| l.into_owned());
        let mut sent = 0;
        let mut connected: Vec<AppKey> = Vec::new();
        let targets: Vec<(ConnId, Option<String>)> = self
            .conns
            .iter()
            .filter_map(|(c, p)| match p {
                Peer::App {
                    client_id: id,
                    device_id,
                    ..
                } if id == client_id => Some((*c, device_id.clone())),
                _ => None,
            })
            .collect();
        for (conn, device) in targets {
            connected.push((client_id.to_owned(), device.clone()));
            let pass = self
                .filter_of(device.as_deref())
                .is_none_or(|f| f.matches(name, location_id.as_deref()));
            if pass {
                self.push_out(conn, HubTransmit::Send(frame.clone()));
                sent += 1;
            }
        }
        // Backlog for the keys of this app that are known (they had a backlog or connected before) and are
        // not connected now; with no connection at all, the plain key (no device) keeps it too.
        let mut keys: Vec<AppKey> = self
            .backlog
            .keys()
            .filter(|(c, _)| c == client_id)
            .cloned()
            .collect();
        if connected.is_empty() {
            keys.push((client_id.to_owned(), None));
        }
        keys.sort();
        keys.dedup();
        for key in keys {
            if connected.contains(&key) {
                continue;
            }
            let q = &mut self.backlog.entry(key).or_default().queue;
            if q.len() >= self.limits.max_queued {
                q.pop_front();
            }
            q.push_back(Backlogged {
                at: now,
                name: name.to_owned(),
                location_id: location_id.clone(),
                frame: frame.clone(),
            });
        }
        sent
    }

    /// Sends an event to every POS connection with location token `token`. Returns how many got it.
    pub fn publish_to_pos(&mut self, token: &str, name: &str, data: &RawJson) -> usize {
        let frame = codec::encode_emit(name, data);
        let targets: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, p)| matches!(p, Peer::Pos { token: t } if t == token))
            .map(|(c, _)| *c)
            .collect();
        for &c in &targets {
            self.push_out(c, HubTransmit::Send(frame.clone()));
        }
        targets.len()
    }

    /// Sends an event to every vendor connection of `vendor`. Returns how many got it.
    pub fn publish_to_vendor(&mut self, vendor: &str, name: &str, data: &RawJson) -> usize {
        let frame = codec::encode_emit(name, data);
        let targets: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, p)| matches!(p, Peer::Vendor { vendor: v, .. } if v == vendor))
            .map(|(c, _)| *c)
            .collect();
        for &c in &targets {
            self.push_out(c, HubTransmit::Send(frame.clone()));
        }
        targets.len()
    }

    /// Sends any frame to one connection.
    pub fn send(&mut self, conn: ConnId, frame: Frame) {
        if self.conns.contains_key(&conn) {
            self.push_out(conn, HubTransmit::Send(frame));
        }
    }

    /// Pings a connection: `{"doshii":{"ping":<ms>}}`.
    pub fn ping(&mut self, conn: ConnId, unix_ms: u64) {
        self.send(conn, codec::encode_ping(unix_ms, None, None));
    }

    /// Sends a POS `health_check` event: `{"emit":["health_check",{"ping":<ms>}]}`.
    pub fn health_check(&mut self, conn: ConnId, unix_ms: u64) {
        let data = RawJson::from_json_str(&format!("{{\"ping\":{unix_ms}}}"))
            .unwrap_or_else(|_| RawJson::empty_object());
        self.send(conn, codec::encode_emit("health_check", &data));
    }

    /// Ends a connection on purpose: `"primus::server::close"`, then a normal close. The client must not
    /// reconnect.
    pub fn server_close(&mut self, now: Instant, conn: ConnId) {
        if self.conns.contains_key(&conn) {
            self.push_out(conn, HubTransmit::Send(Frame::from(PRIMUS_SERVER_CLOSE)));
            self.close(now, conn, Close::normal());
        }
    }

    /// Closes a connection with `close` (the client will reconnect).
    pub fn close(&mut self, now: Instant, conn: ConnId, close: Close) {
        if self.forget(now, conn) {
            self.push_out(conn, HubTransmit::Close(close));
        }
    }

    /// Drops a connection's state; returns whether it was open.
    fn forget(&mut self, now: Instant, conn: ConnId) -> bool {
        let Some(peer) = self.conns.remove(&conn) else {
            return false;
        };
        // From now on, events for this app key are backlogged until it comes back.
        if let Peer::App {
            client_id, device_id, ..
        } = peer
        {
            let key = (client_id, device_id);
            let still = self.conns.values().any(|p| matches!(p, Peer::App { client_id, device_id, .. } if *client_id == key.0 && *device_id == key.1));
            if !still {
                self.backlog.entry(key).or_default().since = Some(now);
            }
        }
        self.prune(now);
        self.push_event(HubEvent::Closed { conn });
        true
    }

    fn parse_peer(request: &OpenRequest) -> Result<Peer, &'static str> {
        let params: Vec<(String, String)> = url::form_urlencoded::parse(request.query().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let path = request.path().trim_end_matches('/');
        match path {
            "/app/socket" | "/app/socket/v3" => {
                let auth = get("auth").ok_or("missing auth")?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(auth.as_bytes())
                    .map_err(|_| "auth is not base64")?;
                let client_id = String::from_utf8(bytes).map_err(|_| "auth is not UTF-8")?;
                if client_id.is_empty() {
                    return Err("empty client id");
                }
                Ok(Peer::App {
                    client_id,
                    device_id: get("deviceId").filter(|d| !d.is_empty()),
                    v3: path.ends_with("/v3"),
                })
            }
            "/pos/socket" => Ok(Peer::Pos {
                token: get("token").filter(|t| !t.is_empty()).ok_or("missing token")?,
            }),
            "/vendor/socket" => Ok(Peer::Vendor {
                token: get("token").filter(|t| !t.is_empty()).ok_or("missing token")?,
                vendor: get("vendor").filter(|t| !t.is_empty()).ok_or("missing vendor")?,
            }),
            _ => Err("unknown path"),
        }
    }
}

impl feedwire_core::Hub for Hub {
    type Event = HubEvent;

    fn handle_open(&mut self, now: Instant, conn: ConnId, request: &OpenRequest) {
        let peer = match Self::parse_peer(request) {
            Ok(p) => p,
            Err(reason) => {
                self.push_out(
                    conn,
                    HubTransmit::Close(Close::new(CloseCode::POLICY_VIOLATION, reason)),
                );
                self.push_event(HubEvent::Rejected { conn, reason });
                return;
            }
        };
        self.prune(now);
        let mut replayed = 0;
        if let Peer::App {
            client_id, device_id, ..
        } = &peer
        {
            let key = (client_id.clone(), device_id.clone());
            let filter = self.filter_of(device_id.as_deref()).cloned();
            if let Some(backlog) = self.backlog.remove(&key) {
                for b in backlog.queue {
                    if filter
                        .as_ref()
                        .is_none_or(|f| f.matches(&b.name, b.location_id.as_deref()))
                    {
                        self.push_out(conn, HubTransmit::Send(b.frame));
                        replayed += 1;
                    }
                }
            }
        }
        self.conns.insert(conn, peer.clone());
        self.push_event(HubEvent::Opened { conn, peer, replayed });
    }

    fn handle_frame(&mut self, _now: Instant, conn: ConnId, frame: Frame) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        match codec::decode_limited(&frame, self.limits.max_frame_size) {
            Ok(Message::Ping(h)) => {
                if self.answer_pings {
                    let pong = codec::encode_pong(&h.stamp, Some(&self.version));
                    self.push_out(conn, HubTransmit::Send(pong));
                }
                self.push_event(HubEvent::Ping { conn, heartbeat: h });
            }
            Ok(Message::PrimusPing(stamp)) => {
                if self.answer_pings {
                    self.push_out(
                        conn,
                        HubTransmit::Send(Message::PrimusPong(stamp.clone()).to_frame()),
                    );
                }
                self.push_event(HubEvent::Ping {
                    conn,
                    heartbeat: codec::Heartbeat {
                        stamp,
                        version: None,
                        status: None,
                    },
                });
            }
            Ok(Message::Pong(h)) => self.push_event(HubEvent::Pong { conn, stamp: h.stamp }),
            Ok(Message::PrimusPong(stamp)) => self.push_event(HubEvent::Pong { conn, stamp }),
            Ok(message) => self.push_event(HubEvent::Message { conn, message }),
            Err(error) => self.push_event(HubEvent::Error { conn, error }),
        }
    }

    fn handle_close(&mut self, now: Instant, conn: ConnId, _close: Option<Close>) {
        self.forget(now, conn);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.prune(now);
    }

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
