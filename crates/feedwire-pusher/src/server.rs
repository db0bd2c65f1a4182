//! A protocol-faithful Pusher Channels server hub, sans-IO.
//!
//! [`Hub`] implements [`feedwire_core::Hub`]: the host's WebSocket server feeds it opens, frames, closes and
//! time, and writes out what it polls. It speaks protocol 7 the way hosted Pusher and soketi do, so pusher-js,
//! pusher-client and feedwire's own client work against it unchanged:
//!
//! - `pusher:connection_established` with a fresh `^\d+\.\d+$` socket id drawn from the configured seed;
//!   a wrong app key closes with 4001, a missing, malformed or unsupported protocol version with 4008/4006/4007,
//!   a path that is not `/app/{key}` with 4005 (each after a `pusher:error` naming the reason);
//! - ping/pong both ways: a connection silent for the activity timeout gets a `pusher:ping`, and is closed
//!   with 4201 when nothing arrives within the grace period after it;
//! - public, private, presence, encrypted and cache channels, with signatures verified in constant time,
//!   presence member bookkeeping across connections (`member_added` only for a user's first connection,
//!   `member_removed` only after the last), presence limits, cache replay or `pusher:cache_miss`, and
//!   `pusher_internal:subscription_count` when enabled;
//! - client events on subscribed private and presence channels (never encrypted ones), relayed to the
//!   other subscribers with `user_id` on presence, at most 10 per second per connection (`pusher:error` 4301);
//! - user signin and `#server-to-user-{id}`;
//! - [`Hub::publish`]: one frame encoded per channel and shared by every subscriber;
//! - the signed HTTP API through [`Hub::handle_rest`], so the official server SDKs can trigger through it.
//!
//! ```
//! use std::time::Instant;
//! use feedwire_core::{ConnId, Frame, Hub as _, HubTransmit, OpenRequest, RawJson};
//! use feedwire_pusher::server::{Hub, HubConfig};
//!
//! let mut hub = Hub::new(HubConfig::default()); // app-id / app-key / app-secret, like soketi
//! let now = Instant::now();
//! hub.handle_open(now, ConnId(1), &OpenRequest::new("/app/app-key?protocol=7&client=js&version=8.6.0"));
//! let Some((_, HubTransmit::Send(hello))) = hub.poll_transmit() else { panic!() };
//! assert!(hello.as_str().starts_with(r#"{"event":"pusher:connection_established","data":"{\"socket_id\":"#));
//!
//! hub.handle_frame(now, ConnId(1), Frame::from(r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"inventory_changes"}}"#));
//! let Some((_, HubTransmit::Send(ok))) = hub.poll_transmit() else { panic!() };
//! assert_eq!(ok.as_str(), r#"{"event":"pusher_internal:subscription_succeeded","channel":"inventory_changes","data":"{}"}"#);
//!
//! let sent = hub.publish(&["inventory_changes"], "listed", &RawJson::from_json_str(r#""{\"id\":1}""#).unwrap(), None);
//! assert_eq!(sent, 1);
//! let Some((ConnId(1), HubTransmit::Send(ev))) = hub.poll_transmit() else { panic!() };
//! assert_eq!(ev.as_str(), r#"{"event":"listed","channel":"inventory_changes","data":"{\"id\":1}"}"#);
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytestring::ByteString;
use feedwire_core::{Close, ConnId, Frame, HubTransmit, Limits, OpenRequest, RawJson, Secret, StringOrJson};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::auth;
use crate::codec::{
    self, ChannelEvent, ClientMessage, ConnectionEstablished, ErrorMessage, ServerMessage,
    SubscriptionErrorMessage, SubscriptionErrorShape,
};
use crate::rest::{ChannelSummary, RestApi, RestCall, RestRequest, RestResponse};

/// Close and error codes the hub uses (hosted Pusher's).
pub mod codes {
    /// The app key in the path is not this app's.
    pub const APP_NOT_FOUND: u16 = 4001;
    /// The path is not `/app/{key}`.
    pub const PATH_NOT_FOUND: u16 = 4005;
    /// `protocol` is not a number.
    pub const INVALID_VERSION: u16 = 4006;
    /// `protocol` is not 5, 6 or 7.
    pub const UNSUPPORTED_PROTOCOL: u16 = 4007;
    /// `protocol` is missing.
    pub const NO_PROTOCOL: u16 = 4008;
    /// Authentication failed (signin).
    pub const UNAUTHORIZED: u16 = 4009;
    /// A ping went unanswered.
    pub const PONG_NOT_RECEIVED: u16 = 4201;
    /// Too many client events.
    pub const CLIENT_EVENT_RATE_LIMIT: u16 = 4301;
}

/// How the hub behaves. `Default` is soketi's: app `app-id`, key `app-key`, secret `app-secret`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HubConfig {
    /// The app id (REST paths).
    pub app_id: String,
    /// The app key (WebSocket path, signatures).
    pub key: String,
    /// The app secret.
    pub secret: Secret<String>,
    /// The activity timeout advertised in `connection_established` and applied to silent connections (120 s).
    pub activity_timeout: Duration,
    /// How long a pinged connection has to answer before it is closed with 4201 (30 s).
    pub pong_grace: Duration,
    /// Whether clients may send `client-*` events (off, as on hosted Pusher until enabled).
    pub client_events: bool,
    /// Most client events per connection per second (10).
    pub client_events_per_second: u32,
    /// Whether `pusher_internal:subscription_count` is sent on non-presence channels (off).
    pub subscription_count: bool,
    /// Most members of one presence channel (100).
    pub max_presence_members: usize,
    /// Largest `user_info` in bytes (1024).
    pub max_user_info: usize,
    /// Longest presence `user_id` (128).
    pub max_user_id_len: usize,
    /// Frame size limit.
    pub limits: Limits,
    /// Seed of the socket-id generator.
    pub seed: u64,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig::new("app-id", "app-key", "app-secret")
    }
}

impl HubConfig {
    /// A configuration for one app.
    pub fn new(app_id: impl Into<String>, key: impl Into<String>, secret: impl Into<String>) -> Self {
        HubConfig {
            app_id: app_id.into(),
            key: key.into(),
            secret: Secret::new(secret.into()),
            activity_timeout: Duration::from_secs(120),
            pong_grace: Duration::from_secs(30),
            client_events: false,
            client_events_per_second: 10,
            subscription_count: false,
            max_presence_members: 100,
            max_user_info: 1024,
            max_user_id_len: 128,
            limits: Limits::default(),
            seed: 0,
        }
    }
    /// Sets the advertised activity timeout (whole seconds on the wire, at least 1).
    pub fn with_activity_timeout(mut self, d: Duration) -> Self {
        self.activity_timeout = d.max(Duration::from_secs(1));
        self
    }
    /// Sets the pong grace period.
    pub fn with_pong_grace(mut self, d: Duration) -> Self {
        self.pong_grace = d;
        self
    }
    /// Enables or disables client events.
    pub fn with_client_events(mut self, on: bool) -> Self {
        self.client_events = on;
        self
    }
    /// Enables or disables `subscription_count` events.
    pub fn with_subscription_count(mut self, on: bool) -> Self {
        self.subscription_count = on;
        self
    }
    /// Sets the socket-id seed.
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

/// What the hub tells its host.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HubEvent {
    /// A connection completed the handshake.
    Connected {
        /// The connection.
        conn: ConnId,
        /// Its socket id.
        socket_id: String,
    },
    /// A connection was refused at open (wrong key, path or protocol version) and closed with `code`.
    Rejected {
        /// The connection.
        conn: ConnId,
        /// The close code.
        code: u16,
        /// Why.
        reason: String,
    },
    /// A connection ended (`close` is `None` when the transport failed or the hub closed it).
    Disconnected {
        /// The connection.
        conn: ConnId,
        /// Its socket id.
        socket_id: String,
        /// The close frame the client sent, if any.
        close: Option<Close>,
    },
    /// A subscription succeeded.
    Subscribed {
        /// The connection.
        conn: ConnId,
        /// The channel.
        channel: String,
    },
    /// A subscription was refused.
    SubscriptionRefused {
        /// The connection.
        conn: ConnId,
        /// The channel.
        channel: String,
        /// Why.
        reason: String,
    },
    /// A connection left a channel.
    Unsubscribed {
        /// The connection.
        conn: ConnId,
        /// The channel.
        channel: String,
    },
    /// A channel got its first subscriber.
    ChannelOccupied {
        /// The channel.
        channel: String,
    },
    /// A channel lost its last subscriber.
    ChannelVacated {
        /// The channel.
        channel: String,
    },
    /// A user joined a presence channel (their first connection).
    MemberAdded {
        /// The channel.
        channel: String,
        /// The user.
        user_id: String,
    },
    /// A user left a presence channel (their last connection).
    MemberRemoved {
        /// The channel.
        channel: String,
        /// The user.
        user_id: String,
    },
    /// A client event was relayed.
    ClientEvent {
        /// The sender.
        conn: ConnId,
        /// The channel.
        channel: String,
        /// The event name.
        event: String,
        /// The payload as sent.
        data: RawJson,
        /// The sender's user id on presence channels.
        user_id: Option<String>,
    },
    /// A client event was refused (disabled, wrong channel, not subscribed, rate limit).
    ClientEventRejected {
        /// The sender.
        conn: ConnId,
        /// The channel.
        channel: String,
        /// Why.
        reason: String,
    },
    /// A user signed in.
    SignedIn {
        /// The connection.
        conn: ConnId,
        /// The user.
        user_id: String,
    },
    /// A connection did not answer a ping in time and was closed with 4201.
    PongTimeout {
        /// The connection.
        conn: ConnId,
    },
    /// A frame could not be understood; the connection was told with `pusher:error` and stays open.
    BadFrame {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: String,
        /// The frame (cut to 256 bytes by its Debug).
        frame: Frame,
    },
}

struct Conn {
    socket_id: ByteString,
    /// Channels this connection is subscribed to, with its presence user id where it has one.
    channels: BTreeMap<String, Option<String>>,
    deadline: Instant,
    pinged: bool,
    user_id: Option<String>,
    window_start: Instant,
    window_count: u32,
}

#[derive(Default)]
struct Channel {
    subscribers: BTreeSet<ConnId>,
    /// Presence: user id -> (info, connections of that user on this channel).
    members: BTreeMap<String, (Option<RawJson>, u32)>,
}

/// The Pusher server hub. See the [module documentation](self).
pub struct Hub {
    config: HubConfig,
    rest: RestApi,
    rng: fastrand::Rng,
    conns: BTreeMap<ConnId, Conn>,
    by_socket_id: BTreeMap<ByteString, ConnId>,
    channels: BTreeMap<String, Channel>,
    cache: BTreeMap<String, Frame>,
    deadlines: BTreeSet<(Instant, ConnId)>,
    out: VecDeque<(ConnId, HubTransmit)>,
    events: VecDeque<HubEvent>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("config", &self.config)
            .field("connections", &self.conns.len())
            .field("channels", &self.channels.len())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct ChannelData<'a> {
    user_id: codec::UserId,
    #[serde(borrow, default)]
    user_info: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct UserData {
    id: serde_json::Value,
}

fn pusher_error(code: Option<u16>, message: &str, channel: Option<&str>) -> Frame {
    ServerMessage::Error(ErrorMessage {
        code: code.map(i64::from),
        message: ByteString::from(message.to_owned()),
        channel: channel.map(|c| ByteString::from(c.to_owned())),
        data: None,
    })
    .encode()
}

fn string_data(inner: &str) -> Option<StringOrJson> {
    RawJson::from_value(inner).ok().map(StringOrJson::new)
}

impl Hub {
    /// A hub with no connections.
    pub fn new(config: HubConfig) -> Self {
        let rest = RestApi::new(
            config.app_id.clone(),
            config.key.clone(),
            config.secret.expose().clone(),
        );
        Hub {
            rng: fastrand::Rng::with_seed(config.seed),
            config,
            rest,
            conns: BTreeMap::new(),
            by_socket_id: BTreeMap::new(),
            channels: BTreeMap::new(),
            cache: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    /// How many connections completed the handshake and are open.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// The socket id of a connection.
    pub fn socket_id(&self, conn: ConnId) -> Option<&str> {
        self.conns.get(&conn).map(|c| &*c.socket_id)
    }

    /// Subscribers of a channel.
    pub fn subscriber_count(&self, channel: &str) -> usize {
        self.channels.get(channel).map_or(0, |c| c.subscribers.len())
    }

    /// The user ids present on a presence channel, in order.
    pub fn members(&self, channel: &str) -> Vec<&str> {
        self.channels
            .get(channel)
            .map(|c| c.members.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Publishes `event` with `data` (written verbatim: pass a JSON string for the hosted form) on every channel
    /// in `channels`, to every subscriber but the one whose socket id is `except_socket_id`. One frame is encoded
    /// per channel and shared by all its subscribers. Returns how many frames were queued. On `cache-*` channels
    /// the frame is kept and replayed to later subscribers.
    pub fn publish(
        &mut self,
        channels: &[&str],
        event: &str,
        data: &RawJson,
        except_socket_id: Option<&str>,
    ) -> usize {
        let mut queued = 0;
        let except = except_socket_id.and_then(|s| self.by_socket_id.get(s).copied());
        for &name in channels {
            let frame = codec::encode_channel_event(event, name, data);
            if is_cache(name) {
                self.cache.insert(name.to_owned(), frame.clone());
            }
            let Some(ch) = self.channels.get(name) else {
                continue;
            };
            for conn in &ch.subscribers {
                if Some(*conn) == except {
                    continue;
                }
                self.out.push_back((*conn, HubTransmit::Send(frame.clone())));
                queued += 1;
            }
        }
        queued
    }

    /// Sends `event` to every connection of a signed-in user (on `#server-to-user-{id}`).
    pub fn send_to_user(&mut self, user_id: &str, event: &str, data: &RawJson) -> usize {
        let channel = format!("#server-to-user-{user_id}");
        self.publish(&[&channel], event, data, None)
    }

    /// Closes a connection with `close`, as the hub would on its own.
    pub fn disconnect(&mut self, conn: ConnId, close: Close) {
        if self.conns.contains_key(&conn) {
            self.out.push_back((conn, HubTransmit::Close(close)));
            self.forget(conn, None);
        }
    }

    /// Serves one request of the Channels HTTP API (`POST /apps/{id}/events`, `/batch_events`,
    /// `GET /apps/{id}/channels`, `/channels/{name}`, `/channels/{name}/users`) at Unix time `now_unix`.
    /// Triggers are published at once; the response is ready to write.
    pub fn handle_rest(&mut self, req: &RestRequest<'_>, now_unix: u64) -> RestResponse {
        let call = match self.rest.authenticate(req, now_unix) {
            Ok(call) => call,
            Err(e) => return e.response(),
        };
        match call {
            RestCall::Trigger(events) => {
                for ev in events {
                    let chans: Vec<&str> = ev.channels.iter().map(String::as_str).collect();
                    self.publish(&chans, &ev.name, &ev.data, ev.socket_id.as_deref());
                }
                RestResponse::ok_empty()
            }
            RestCall::Channels { prefix, info } => {
                let list = self
                    .channels
                    .iter()
                    .filter(|(name, _)| prefix.as_deref().is_none_or(|p| name.starts_with(p)))
                    .filter(|(name, _)| !name.starts_with('#'))
                    .map(|(name, ch)| ChannelSummary {
                        name,
                        user_count: is_presence(name).then_some(ch.members.len()),
                    });
                RestResponse::channels(list, &info)
            }
            RestCall::Channel { channel, info } => {
                let ch = self.channels.get(&channel);
                RestResponse::channel(
                    ch.is_some(),
                    is_presence(&channel).then(|| ch.map_or(0, |c| c.members.len())),
                    (!is_presence(&channel)).then(|| ch.map_or(0, |c| c.subscribers.len())),
                    &info,
                )
            }
            RestCall::Users { channel } => RestResponse::users(self.members(&channel)),
        }
    }

    fn send(&mut self, conn: ConnId, frame: Frame) {
        self.out.push_back((conn, HubTransmit::Send(frame)));
    }

    fn reject(&mut self, conn: ConnId, code: u16, reason: String) {
        self.send(conn, pusher_error(Some(code), &reason, None));
        self.out
            .push_back((conn, HubTransmit::Close(Close::new(code, reason.clone()))));
        self.events.push_back(HubEvent::Rejected { conn, code, reason });
    }

    fn touch(&mut self, now: Instant, conn: ConnId) {
        let timeout = self.config.activity_timeout;
        if let Some(c) = self.conns.get_mut(&conn) {
            self.deadlines.remove(&(c.deadline, conn));
            c.deadline = now + timeout;
            c.pinged = false;
            self.deadlines.insert((c.deadline, conn));
        }
    }

    fn new_socket_id(&mut self) -> ByteString {
        loop {
            let id = format!(
                "{}.{}",
                self.rng.u64(1..1_000_000_000),
                self.rng.u64(1..1_000_000_000)
            );
            let id = ByteString::from(id);
            if !self.by_socket_id.contains_key(&id) {
                return id;
            }
        }
    }

    /// Removes a connection and everything it held; tells the other subscribers.
    fn forget(&mut self, conn: ConnId, close: Option<Close>) {
        let Some(c) = self.conns.remove(&conn) else { return };
        self.by_socket_id.remove(&c.socket_id);
        self.deadlines.remove(&(c.deadline, conn));
        for (channel, user) in &c.channels {
            self.leave(conn, channel, user.as_deref());
        }
        self.events.push_back(HubEvent::Disconnected {
            conn,
            socket_id: c.socket_id.to_string(),
            close,
        });
    }

    /// Takes `conn` off `channel` (the caller removes it from the connection's own list).
    fn leave(&mut self, conn: ConnId, channel: &str, user: Option<&str>) {
        let Some(ch) = self.channels.get_mut(channel) else {
            return;
        };
        ch.subscribers.remove(&conn);
        let mut removed_member = None;
        if let Some(u) = user
            && let Some(entry) = ch.members.get_mut(u)
        {
            entry.1 = entry.1.saturating_sub(1);
            if entry.1 == 0 {
                ch.members.remove(u);
                removed_member = Some(u.to_owned());
            }
        }
        let empty = ch.subscribers.is_empty();
        self.events.push_back(HubEvent::Unsubscribed {
            conn,
            channel: channel.to_owned(),
        });
        if let Some(user_id) = removed_member {
            let frame = ServerMessage::MemberRemoved {
                channel: ByteString::from(channel.to_owned()),
                user_id: ByteString::from(user_id.clone()),
            }
            .encode();
            self.fan_out(channel, &frame, Some(conn));
            self.events.push_back(HubEvent::MemberRemoved {
                channel: channel.to_owned(),
                user_id,
            });
        }
        if empty {
            self.channels.remove(channel);
            self.events.push_back(HubEvent::ChannelVacated {
                channel: channel.to_owned(),
            });
        } else {
            self.send_count(channel);
        }
    }

    fn fan_out(&mut self, channel: &str, frame: &Frame, except: Option<ConnId>) {
        if let Some(ch) = self.channels.get(channel) {
            for conn in &ch.subscribers {
                if Some(*conn) != except {
                    self.out.push_back((*conn, HubTransmit::Send(frame.clone())));
                }
            }
        }
    }

    fn send_count(&mut self, channel: &str) {
        if !self.config.subscription_count || is_presence(channel) || channel.starts_with('#') {
            return;
        }
        let count = self.subscriber_count(channel) as u64;
        let frame = ServerMessage::SubscriptionCount {
            channel: ByteString::from(channel.to_owned()),
            count,
        }
        .encode();
        self.fan_out(channel, &frame, None);
    }

    fn refuse(&mut self, conn: ConnId, channel: &str, status: u16, kind: &str, reason: String) {
        // soketi's shape: pusher-js reports it as `pusher:subscription_error` with the status.
        let frame = ServerMessage::SubscriptionError(SubscriptionErrorMessage {
            shape: SubscriptionErrorShape::PusherEvent,
            channel: Some(ByteString::from(channel.to_owned())),
            kind: Some(ByteString::from(kind.to_owned())),
            error: Some(ByteString::from(reason.clone())),
            status: Some(status),
            data: None,
        })
        .encode();
        self.send(conn, frame);
        self.events.push_back(HubEvent::SubscriptionRefused {
            conn,
            channel: channel.to_owned(),
            reason,
        });
    }

    fn subscribe(&mut self, conn: ConnId, channel: ByteString, auth: &str, channel_data: Option<String>) {
        let Some(c) = self.conns.get(&conn) else { return };
        let socket_id = c.socket_id.clone();
        if c.channels.contains_key(&*channel) {
            // Hosted Pusher answers a duplicate with an informational error and keeps the subscription.
            self.send(
                conn,
                pusher_error(
                    None,
                    &format!("Existing subscription to channel {channel}"),
                    Some(&channel),
                ),
            );
            return;
        }
        let mut member: Option<(String, Option<RawJson>)> = None;
        if let Some(user) = channel.strip_prefix("#server-to-user-") {
            if c.user_id.as_deref() != Some(user) {
                let reason = "subscribing to #server-to-user-{id} needs a signin as that user".to_owned();
                return self.refuse(conn, &channel, 403, "AuthError", reason);
            }
        } else if let Err(e) = codec::validate_channel_name(&channel) {
            return self.refuse(conn, &channel, 400, "InvalidChannel", e.to_string());
        } else if is_presence(&channel) {
            let data = channel_data.unwrap_or_default();
            let to_sign = format!("{socket_id}:{channel}:{data}");
            if !auth::verify(&self.config.key, &self.config.secret, &to_sign, auth) {
                return self.refuse(
                    conn,
                    &channel,
                    401,
                    "AuthError",
                    "The connection is unauthorized.".into(),
                );
            }
            let parsed: ChannelData<'_> = match serde_json::from_str(&data) {
                Ok(d) => d,
                Err(e) => {
                    return self.refuse(
                        conn,
                        &channel,
                        400,
                        "InvalidChannelData",
                        format!("channel_data: {e}"),
                    );
                }
            };
            let user_id = parsed.user_id.0;
            if user_id.is_empty() || user_id.len() > self.config.max_user_id_len {
                let reason = format!("user_id must be 1 to {} characters", self.config.max_user_id_len);
                return self.refuse(conn, &channel, 400, "LimitReached", reason);
            }
            let info = parsed.user_info.map(|i| RawJson::from_json_str(i.get()));
            let info = match info {
                Some(Ok(i)) if i.as_str().len() > self.config.max_user_info => {
                    let reason = format!("user_info is larger than {} bytes", self.config.max_user_info);
                    return self.refuse(conn, &channel, 400, "LimitReached", reason);
                }
                Some(Ok(i)) => Some(i),
                _ => None,
            };
            let ch = self.channels.get(&*channel);
            let present = ch.is_some_and(|ch| ch.members.contains_key(&user_id));
            let count = ch.map_or(0, |ch| ch.members.len());
            if !present && count >= self.config.max_presence_members {
                let reason = format!(
                    "presence channel is full ({} members)",
                    self.config.max_presence_members
                );
                return self.refuse(conn, &channel, 400, "LimitReached", reason);
            }
            member = Some((user_id, info));
        } else if channel.starts_with("private-")
            && !auth::verify(
                &self.config.key,
                &self.config.secret,
                &format!("{socket_id}:{channel}"),
                auth,
            )
        {
            return self.refuse(
                conn,
                &channel,
                401,
                "AuthError",
                "The connection is unauthorized.".into(),
            );
        }

        let name = channel.to_string();
        let first = !self.channels.contains_key(&name);
        let ch = self.channels.entry(name.clone()).or_default();
        ch.subscribers.insert(conn);
        let mut added = None;
        if let Some((user_id, info)) = &member {
            let entry = ch
                .members
                .entry(user_id.clone())
                .or_insert_with(|| (info.clone(), 0));
            entry.1 += 1;
            if entry.1 == 1 {
                added = Some((user_id.clone(), info.clone()));
            }
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.channels
                .insert(name.clone(), member.as_ref().map(|(u, _)| u.clone()));
        }
        if first {
            self.events.push_back(HubEvent::ChannelOccupied {
                channel: name.clone(),
            });
        }
        // subscription_succeeded
        let data = if member.is_some() {
            self.presence_data(&name)
        } else {
            "{}".to_owned()
        };
        let ok = ServerMessage::SubscriptionSucceeded {
            channel: channel.clone(),
            data: string_data(&data),
        }
        .encode();
        self.send(conn, ok);
        self.events.push_back(HubEvent::Subscribed {
            conn,
            channel: name.clone(),
        });
        if let Some((user_id, info)) = added {
            let frame = ServerMessage::MemberAdded {
                channel: channel.clone(),
                user_id: ByteString::from(user_id.clone()),
                user_info: info,
            }
            .encode();
            self.fan_out(&name, &frame, Some(conn));
            self.events.push_back(HubEvent::MemberAdded {
                channel: name.clone(),
                user_id,
            });
        }
        if is_cache(&name) {
            match self.cache.get(&name) {
                Some(frame) => {
                    let frame = frame.clone();
                    self.send(conn, frame);
                }
                None => self.send(
                    conn,
                    ServerMessage::CacheMiss {
                        channel: channel.clone(),
                    }
                    .encode(),
                ),
            }
        }
        self.send_count(&name);
    }

    fn presence_data(&self, channel: &str) -> String {
        let mut ids = Vec::new();
        let mut hash = serde_json::Map::new();
        if let Some(ch) = self.channels.get(channel) {
            for (id, (info, _)) in &ch.members {
                ids.push(serde_json::Value::from(id.as_str()));
                let info = info
                    .as_ref()
                    .and_then(|i| serde_json::from_str::<serde_json::Value>(i.as_str()).ok())
                    .unwrap_or(serde_json::Value::Null);
                hash.insert(id.clone(), info);
            }
        }
        let count = ids.len();
        serde_json::json!({ "presence": { "ids": ids, "hash": hash, "count": count } }).to_string()
    }

    fn unsubscribe(&mut self, conn: ConnId, channel: &str) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if let Some(user) = c.channels.remove(channel) {
            self.leave(conn, channel, user.as_deref());
        }
    }

    fn client_event(
        &mut self,
        now: Instant,
        conn: ConnId,
        event: ByteString,
        channel: ByteString,
        data: RawJson,
    ) {
        let refuse = |hub: &mut Hub, code: Option<u16>, reason: String| {
            hub.send(conn, pusher_error(code, &reason, Some(&channel)));
            hub.events.push_back(HubEvent::ClientEventRejected {
                conn,
                channel: channel.to_string(),
                reason,
            });
        };
        if !self.config.client_events {
            return refuse(
                self,
                None,
                "To send client events, you must enable this feature in the Settings page of your dashboard."
                    .into(),
            );
        }
        if !(channel.starts_with("private-") || is_presence(&channel))
            || channel.starts_with("private-encrypted-")
        {
            return refuse(
                self,
                None,
                format!("Client events are not allowed on channel {channel}"),
            );
        }
        let limit = self.config.client_events_per_second;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(user) = c.channels.get(&*channel) else {
            return refuse(self, None, format!("Not subscribed to channel {channel}"));
        };
        let user = user.clone();
        if now.saturating_duration_since(c.window_start) >= Duration::from_secs(1) {
            c.window_start = now;
            c.window_count = 0;
        }
        if c.window_count >= limit {
            return refuse(
                self,
                Some(codes::CLIENT_EVENT_RATE_LIMIT),
                format!("Client event rejected: more than {limit} per second"),
            );
        }
        c.window_count += 1;
        let frame = ServerMessage::Event(ChannelEvent {
            event: event.clone(),
            channel: Some(channel.clone()),
            data: Some(StringOrJson::new(data.clone())),
            user_id: user.as_ref().map(|u| ByteString::from(u.clone())),
        })
        .encode();
        self.fan_out(&channel, &frame, Some(conn));
        self.events.push_back(HubEvent::ClientEvent {
            conn,
            channel: channel.to_string(),
            event: event.to_string(),
            data,
            user_id: user,
        });
    }

    fn signin(&mut self, conn: ConnId, auth_value: &str, user_data: String) {
        let Some(c) = self.conns.get(&conn) else { return };
        let to_sign = format!("{}::user::{user_data}", c.socket_id);
        let user_id = serde_json::from_str::<UserData>(&user_data)
            .ok()
            .and_then(|u| match u.id {
                serde_json::Value::String(s) if !s.is_empty() => Some(s),
                _ => None,
            });
        let valid = auth::verify(&self.config.key, &self.config.secret, &to_sign, auth_value);
        let Some(user_id) = user_id.filter(|_| valid) else {
            let reason = if valid {
                "user_data must hold a non-empty string id"
            } else {
                "Invalid signature"
            };
            self.send(conn, pusher_error(Some(codes::UNAUTHORIZED), reason, None));
            self.out
                .push_back((conn, HubTransmit::Close(Close::new(codes::UNAUTHORIZED, reason))));
            self.forget(conn, None);
            return;
        };
        if let Some(c) = self.conns.get_mut(&conn) {
            c.user_id = Some(user_id.clone());
        }
        let frame = ServerMessage::SigninSuccess {
            user_data: ByteString::from(user_data),
            user_id: ByteString::from(user_id.clone()),
        }
        .encode();
        self.send(conn, frame);
        self.events.push_back(HubEvent::SignedIn { conn, user_id });
    }
}

fn is_presence(channel: &str) -> bool {
    channel.starts_with("presence-")
}

fn is_cache(channel: &str) -> bool {
    [
        "cache-",
        "private-cache-",
        "private-encrypted-cache-",
        "presence-cache-",
    ]
    .iter()
    .any(|p| channel.starts_with(p))
}

fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
}

impl feedwire_core::Hub for Hub {
    type Event = HubEvent;

    fn handle_open(&mut self, now: Instant, conn: ConnId, request: &OpenRequest) {
        if self.conns.contains_key(&conn) {
            return;
        }
        let path = request.path();
        let Some(key) = path
            .rsplit_once("/app/")
            .map(|(_, k)| k)
            .filter(|k| !k.contains('/'))
        else {
            return self.reject(conn, codes::PATH_NOT_FOUND, format!("Path not found: {path}"));
        };
        match query_param(request.query(), "protocol") {
            None | Some("") => {
                return self.reject(conn, codes::NO_PROTOCOL, "No protocol version supplied".into());
            }
            Some(v) => match v.parse::<u32>() {
                Err(_) => {
                    return self.reject(
                        conn,
                        codes::INVALID_VERSION,
                        "Invalid version string format".into(),
                    );
                }
                Ok(5..=7) => {}
                Ok(_) => {
                    return self.reject(
                        conn,
                        codes::UNSUPPORTED_PROTOCOL,
                        "Unsupported protocol version".into(),
                    );
                }
            },
        }
        if key != self.config.key {
            return self.reject(
                conn,
                codes::APP_NOT_FOUND,
                format!("App key {key} does not exist."),
            );
        }
        let socket_id = self.new_socket_id();
        let deadline = now + self.config.activity_timeout;
        self.conns.insert(
            conn,
            Conn {
                socket_id: socket_id.clone(),
                channels: BTreeMap::new(),
                deadline,
                pinged: false,
                user_id: None,
                window_start: now,
                window_count: 0,
            },
        );
        self.deadlines.insert((deadline, conn));
        self.by_socket_id.insert(socket_id.clone(), conn);
        let hello = ServerMessage::ConnectionEstablished(ConnectionEstablished {
            socket_id: socket_id.clone(),
            activity_timeout: self.config.activity_timeout.as_secs().max(1),
        })
        .encode();
        self.send(conn, hello);
        self.events.push_back(HubEvent::Connected {
            conn,
            socket_id: socket_id.to_string(),
        });
    }

    fn handle_frame(&mut self, now: Instant, conn: ConnId, frame: Frame) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        self.touch(now, conn);
        if frame.len() > self.config.limits.max_frame_size {
            let reason = format!(
                "frame of {} bytes exceeds {}",
                frame.len(),
                self.config.limits.max_frame_size
            );
            self.send(conn, pusher_error(None, &reason, None));
            self.events.push_back(HubEvent::BadFrame { conn, reason, frame });
            return;
        }
        let msg = match codec::decode_client(&frame) {
            Ok(m) => m,
            Err(e) => {
                let reason = e.to_string();
                self.send(
                    conn,
                    pusher_error(None, &format!("Invalid message: {reason}"), None),
                );
                self.events.push_back(HubEvent::BadFrame { conn, reason, frame });
                return;
            }
        };
        match msg {
            ClientMessage::Ping => self.send(conn, Frame::from(r#"{"event":"pusher:pong","data":{}}"#)),
            ClientMessage::Pong => {}
            ClientMessage::Subscribe {
                channel,
                auth,
                channel_data,
            } => self.subscribe(conn, channel, auth.expose(), channel_data),
            ClientMessage::Unsubscribe { channel } => self.unsubscribe(conn, &channel),
            ClientMessage::Signin { auth, user_data } => self.signin(conn, auth.expose(), user_data),
            ClientMessage::ClientEvent { event, channel, data } => {
                self.client_event(now, conn, event, channel, data)
            }
            ClientMessage::Other { event, .. } => {
                let reason = format!("Unknown event {event}");
                self.send(conn, pusher_error(None, &reason, None));
                self.events.push_back(HubEvent::BadFrame { conn, reason, frame });
            }
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }

    fn handle_close(&mut self, _now: Instant, conn: ConnId, close: Option<Close>) {
        self.forget(conn, close);
    }

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(deadline, conn)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.remove(&(deadline, conn));
            let grace = self.config.pong_grace;
            let Some(c) = self.conns.get_mut(&conn) else {
                continue;
            };
            if c.pinged {
                self.out.push_back((
                    conn,
                    HubTransmit::Close(Close::new(codes::PONG_NOT_RECEIVED, "Pong reply not received")),
                ));
                self.events.push_back(HubEvent::PongTimeout { conn });
                self.forget(conn, None);
            } else {
                c.pinged = true;
                c.deadline = now + grace;
                self.deadlines.insert((c.deadline, conn));
                self.send(conn, Frame::from(r#"{"event":"pusher:ping","data":{}}"#));
            }
        }
    }

    fn poll_transmit(&mut self) -> Option<(ConnId, HubTransmit)> {
        self.out.pop_front()
    }

    fn poll_event(&mut self) -> Option<HubEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|(t, _)| *t)
    }
}

#[cfg(any(test, feature = "fuzzing", fuzzing))]
impl Hub {
    /// Asserts that every internal index agrees with every other (for the fuzzer and the chaos tests):
    /// connections and channel subscriber sets mirror each other, presence member counts equal the number of
    /// that user's subscribed connections, every connection has exactly one deadline, socket ids index
    /// exactly the open connections, and no channel is kept empty.
    ///
    /// # Panics
    /// On the first inconsistency.
    pub fn check_invariants(&self) {
        assert_eq!(
            self.deadlines.len(),
            self.conns.len(),
            "one deadline per connection"
        );
        assert_eq!(
            self.by_socket_id.len(),
            self.conns.len(),
            "one socket id per connection"
        );
        for (id, c) in &self.conns {
            assert!(
                self.deadlines.contains(&(c.deadline, *id)),
                "{id:?} deadline indexed"
            );
            assert_eq!(
                self.by_socket_id.get(&c.socket_id),
                Some(id),
                "{id:?} socket id indexed"
            );
            for ch in c.channels.keys() {
                let chan = self
                    .channels
                    .get(ch)
                    .unwrap_or_else(|| panic!("{id:?} on {ch} that does not exist"));
                assert!(
                    chan.subscribers.contains(id),
                    "{id:?} missing from {ch}'s subscribers"
                );
            }
        }
        for (name, chan) in &self.channels {
            assert!(!chan.subscribers.is_empty(), "empty channel {name} kept");
            for id in &chan.subscribers {
                let c = self
                    .conns
                    .get(id)
                    .unwrap_or_else(|| panic!("{name} lists closed {id:?}"));
                assert!(
                    c.channels.contains_key(name),
                    "{name} lists {id:?}, which does not list it"
                );
            }
            for (user, (_, n)) in &chan.members {
                let holders = chan
                    .subscribers
                    .iter()
                    .filter(|id| {
                        self.conns
                            .get(id)
                            .and_then(|c| c.channels.get(name))
                            .is_some_and(|u| u.as_deref() == Some(user))
                    })
                    .count();
                assert_eq!(
                    holders as u32, *n,
                    "{name}: member {user} counted {n}, held by {holders}"
                );
            }
        }
    }
}
