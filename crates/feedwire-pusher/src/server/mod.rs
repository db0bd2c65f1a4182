//! A protocol-faithful Pusher Channels server hub, sans-IO (feature `server`).
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
//! - with the `rest` feature, the signed HTTP API through `Hub::handle_rest`, so the official server SDKs can
//!   trigger through it.
//! - with [`HubConfig::with_cluster`], several hubs (one per node) act as one server: publishes, presence,
//!   HTTP API queries, `send_to_user` and terminations span the nodes, through messages the host carries
//!   (see [`cluster`]).
//!
//! # Queues
//! Frames and events wait in a [`feedwire_core::HubOutbox`] bounded by `limits.max_queued`. The host's
//! commands ([`Hub::publish`], [`Hub::send_to_user`], a REST trigger) are refused with
//! [`HubError::QueueFull`] while that many frames wait, and otherwise queue every frame of their fan-out;
//! the hub's own answers to a connection's frames (and what they fan out) are bounded at twice that, then
//! dropped and counted; closes are never dropped. [`Hub::queue_stats`] reports it all.
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
//! assert_eq!(sent, Ok(1));
//! let Some((ConnId(1), HubTransmit::Send(ev))) = hub.poll_transmit() else { panic!() };
//! assert_eq!(ev.as_str(), r#"{"event":"listed","channel":"inventory_changes","data":"{\"id\":1}"}"#);
//! ```

mod admit;
mod apps;
pub mod cluster;
mod config;
mod event;
mod state;
pub mod webhook;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytestring::ByteString;
use feedwire_core::{
    Close, ConnId, Frame, HubOutbox, HubTransmit, OpenRequest, QueueStats, RawJson, StringOrJson,
};
use serde::Deserialize;

pub use apps::{AppEvent, Apps};
pub use cluster::{ClusterConfig, ClusterError, ClusterMessage, MAX_CLUSTER_MESSAGE, MAX_NODE_ID_LEN};
pub use config::{HubConfig, codes};
pub use event::{HubError, HubEvent};
pub use webhook::{
    WebhookConfig, WebhookEvent, WebhookKind, WebhookQueue, WebhookRequest, WebhookStats, WebhookTarget,
};

use crate::auth;
use crate::codec::{
    ChannelEvent, ClientMessage, ConnectionEstablished, ErrorMessage, ServerMessage,
    SubscriptionErrorMessage, SubscriptionErrorShape,
};
#[cfg(feature = "rest")]
use crate::rest::{ChannelSummary, RestApi, RestCall, RestError, RestRequest, RestResponse};
use admit::{Member, Members, Refusal, admit, admit_connection};
use state::{Channel, Conn};

/// The Pusher server hub. See the [module documentation](self).
pub struct Hub {
    config: HubConfig,
    #[cfg(feature = "rest")]
    rest: RestApi,
    rng: fastrand::Rng,
    conns: BTreeMap<ConnId, Conn>,
    by_socket_id: BTreeMap<ByteString, ConnId>,
    channels: BTreeMap<String, Channel>,
    cache: BTreeMap<String, Frame>,
    deadlines: BTreeSet<(Instant, ConnId)>,
    out: HubOutbox<HubEvent>,
    webhooks: Option<WebhookQueue>,
    /// The latest `now` the host gave (webhook events raised by calls that take none are batched from it).
    now: Option<Instant>,
    /// Cluster state, when clustered (see [`cluster`]).
    cluster: Option<cluster::Cluster>,
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
        Hub {
            #[cfg(feature = "rest")]
            rest: RestApi::new(
                config.app_id.clone(),
                config.key.clone(),
                config.secret.expose().clone(),
            )
            .with_limits(config.rest_limits),
            rng: fastrand::Rng::with_seed(config.seed),
            out: HubOutbox::new(&config.limits),
            webhooks: config
                .webhooks
                .clone()
                .filter(|w| !w.targets.is_empty())
                .map(|w| WebhookQueue::new(w, &config.key, config.secret.clone())),
            now: None,
            cluster: config.cluster.clone().map(cluster::Cluster::new),
            config,
            conns: BTreeMap::new(),
            by_socket_id: BTreeMap::new(),
            channels: BTreeMap::new(),
            cache: BTreeMap::new(),
            deadlines: BTreeSet::new(),
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

    /// The user ids present on a presence channel, in order: with a cluster, those of every node as this
    /// node knows them (see [`cluster`](ClusterConfig)).
    pub fn members(&self, channel: &str) -> Vec<&str> {
        self.cluster_members(channel).into_keys().collect()
    }

    /// What the queues hold and have dropped.
    pub fn queue_stats(&self) -> QueueStats {
        self.out.stats()
    }

    /// What the webhook queue has done and holds (`None` without webhook targets).
    pub fn webhook_stats(&self) -> Option<WebhookStats> {
        self.webhooks.as_ref().map(WebhookQueue::stats)
    }

    /// The outcome of a [`HubEvent::Webhook`] request at `now`: `ok` for a 2xx answer; a failure is retried
    /// with backoff (see [`WebhookQueue::handle_response`]). The host must report every request it was given:
    /// a target holds at most [`WebhookConfig::max_in_flight`] unanswered ones.
    pub fn webhook_response(&mut self, now: Instant, id: u64, ok: bool) {
        self.saw(now);
        if let Some(w) = &mut self.webhooks {
            w.handle_response(now, id, ok);
        }
        self.flush_webhooks(now);
    }

    /// Queues a webhook event (when webhooks are configured), at the latest `now` the hub was given.
    fn webhook(&mut self, event: WebhookEvent<'_>) {
        if let Some(w) = &mut self.webhooks {
            let now = self.now.unwrap_or(w.config().unix_anchor.instant);
            w.push(now, &event);
        }
    }

    /// Hands every webhook request due at `now` to the host, as [`HubEvent::Webhook`] (kept events: a target
    /// has at most `max_in_flight` of them out).
    fn flush_webhooks(&mut self, now: Instant) {
        let Some(w) = &mut self.webhooks else { return };
        while let Some(req) = w.poll_request(now) {
            self.out.push_event_kept(HubEvent::Webhook(req));
        }
    }

    /// Publishes `event` with `data` (written verbatim: pass a JSON string for the hosted form) on every channel
    /// in `channels`, to every subscriber but the one whose socket id is `except_socket_id`. One frame is encoded
    /// per channel and shared by all its subscribers. Returns how many frames were queued. On `cache-*` channels
    /// the frame is kept and replayed to later subscribers. Refused with [`HubError::QueueFull`], nothing
    /// queued, while `limits.max_queued` frames wait for the driver.
    pub fn publish(
        &mut self,
        channels: &[&str],
        event: &str,
        data: &RawJson,
        except_socket_id: Option<&str>,
    ) -> Result<usize, HubError> {
        self.out.check_room()?;
        let queued = self.publish_checked(channels, event, data, except_socket_id);
        self.share_publish(channels, event, data, except_socket_id, None);
        Ok(queued)
    }

    /// Shares a publish with the other nodes (when clustered).
    fn share_publish(
        &mut self,
        channels: &[&str],
        event: &str,
        data: &RawJson,
        socket_id: Option<&str>,
        user_id: Option<&str>,
    ) {
        if self.cluster.is_some() {
            self.share(cluster::Body::Publish {
                channels: channels.iter().map(|c| (*c).to_owned()).collect(),
                event: event.to_owned(),
                data: data.clone(),
                socket_id: socket_id.map(str::to_owned),
                user_id: user_id.map(str::to_owned),
            });
        }
    }

    /// Closes every connection signed in as `user_id` on every node of the cluster (`pusher:error` 4009
    /// "You got disconnected by the app.", then a close with 4009, as soketi does; pusher-js does not
    /// reconnect after it). Returns how many local connections were closed; the other nodes close theirs
    /// when the shared message reaches them. Never refused: closes are never dropped.
    pub fn terminate_user_connections(&mut self, user_id: &str) -> usize {
        let closed = self.close_user(user_id);
        if self.cluster.is_some() {
            self.share(cluster::Body::TerminateUser {
                user_id: user_id.to_owned(),
            });
        }
        closed
    }

    /// Closes the local connections signed in as `user_id`.
    fn close_user(&mut self, user_id: &str) -> usize {
        let conns: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.user_id.as_deref() == Some(user_id))
            .map(|(id, _)| *id)
            .collect();
        let reason = "You got disconnected by the app.";
        for conn in &conns {
            self.send(*conn, pusher_error(Some(codes::UNAUTHORIZED), reason, None));
            self.disconnect(*conn, Close::new(codes::UNAUTHORIZED, reason));
        }
        conns.len()
    }

    /// Sends `event` to every connection of a signed-in user (on `#server-to-user-{id}`); refused as
    /// [`Hub::publish`] is.
    pub fn send_to_user(&mut self, user_id: &str, event: &str, data: &RawJson) -> Result<usize, HubError> {
        let channel = format!("#server-to-user-{user_id}");
        self.publish(&[&channel], event, data, None)
    }

    /// Closes a connection with `close`, as the hub would on its own. Never refused: a close is never dropped
    /// (a host sheds a slow connection this way when the queue is full); what the departure fans out to the
    /// other subscribers (`member_removed`, counts) is the hub's own traffic.
    pub fn disconnect(&mut self, conn: ConnId, close: Close) {
        if self.conns.contains_key(&conn) {
            self.out.push_transmit((conn, HubTransmit::Close(close)));
            self.forget(conn, None);
        }
    }

    /// Serves one request of the Channels HTTP API (`POST /apps/{id}/events`, `/batch_events`,
    /// `GET /apps/{id}/channels`, `/channels/{name}`, `/channels/{name}/users`,
    /// `POST /apps/{id}/users/{user_id}/terminate_connections`) at Unix time `now_unix`.
    /// Triggers are published at once, or refused with 503 while the outgoing queue is full; the response is
    /// ready to write. With a cluster, triggers and terminations reach every node and the queries answer for
    /// the whole cluster: local state exactly, the other nodes' presence members as their messages told, and
    /// their subscriber counts as of their last heartbeat (see [`ClusterConfig`]).
    #[cfg(feature = "rest")]
    pub fn handle_rest(&mut self, req: &RestRequest<'_>, now_unix: u64) -> RestResponse {
        let call = match self.rest.authenticate(req, now_unix) {
            Ok(call) => call,
            Err(e) => return e.response(),
        };
        match call {
            RestCall::Trigger(events) => {
                if let Err(e) = self.out.check_room() {
                    return RestError::Unavailable(e.to_string()).response();
                }
                for ev in events {
                    let chans: Vec<&str> = ev.channels.iter().map(String::as_str).collect();
                    self.publish_checked(&chans, &ev.name, &ev.data, ev.socket_id.as_deref());
                    self.share_publish(&chans, &ev.name, &ev.data, ev.socket_id.as_deref(), None);
                }
                RestResponse::ok_empty()
            }
            RestCall::Channels { prefix, info } => {
                let list = self
                    .cluster_channels()
                    .into_iter()
                    .filter(|name| prefix.as_deref().is_none_or(|p| name.starts_with(p)))
                    .map(|name| ChannelSummary {
                        name,
                        user_count: is_presence(name).then(|| self.cluster_members(name).len()),
                    });
                RestResponse::channels(list, &info)
            }
            RestCall::Channel { channel, info } => {
                let members = self.cluster_members(&channel).len();
                let subscribers = self.cluster_subscriber_count(&channel);
                RestResponse::channel(
                    subscribers > 0 || members > 0,
                    is_presence(&channel).then_some(members),
                    (!is_presence(&channel)).then_some(subscribers as usize),
                    &info,
                )
            }
            RestCall::Users { channel } => RestResponse::users(self.members(&channel)),
            RestCall::TerminateUser { user_id } => {
                self.terminate_user_connections(&user_id);
                RestResponse::ok_empty()
            }
        }
    }

    /// Checks every internal index against every other (for the fuzzer and the chaos tests): connections and
    /// channel subscriber sets mirror each other, presence member counts equal the number of that user's
    /// subscribed connections, every connection has exactly one deadline, socket ids index exactly the open
    /// connections, and no channel is kept empty.
    #[cfg(feature = "fuzzing")]
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        state::check(&self.conns, &self.by_socket_id, &self.channels, &self.deadlines)
    }

    /// A command's fan-out, after `check_room`: every frame is queued.
    fn publish_checked(
        &mut self,
        channels: &[&str],
        event: &str,
        data: &RawJson,
        except_socket_id: Option<&str>,
    ) -> usize {
        let mut queued = 0;
        let except = except_socket_id.and_then(|s| self.by_socket_id.get(s).copied());
        for &name in channels {
            let frame = ServerMessage::encode_channel_event(event, name, data);
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
                self.out.push_transmit((*conn, HubTransmit::Send(frame.clone())));
                queued += 1;
            }
        }
        queued
    }

    /// The hub's own frame to one connection (an answer, a ping, a replay).
    fn send(&mut self, conn: ConnId, frame: Frame) {
        self.out.push_reply((conn, HubTransmit::Send(frame)));
    }

    fn reject(&mut self, conn: ConnId, code: u16, reason: String) {
        self.send(conn, pusher_error(Some(code), &reason, None));
        self.out
            .push_transmit((conn, HubTransmit::Close(Close::new(code, reason.clone()))));
        self.out
            .push_event_kept(HubEvent::Rejected { conn, code, reason });
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

    /// A fresh socket id; with a cluster its first part is derived from the node id and epoch, so ids are
    /// unique cluster-wide.
    fn new_socket_id(&mut self) -> ByteString {
        let prefix = self.cluster.as_ref().map(|c| c.socket_prefix);
        loop {
            let first = prefix.unwrap_or_else(|| self.rng.u64(1..1_000_000_000));
            let id = format!("{first}.{}", self.rng.u64(1..1_000_000_000));
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
        self.out.push_event_kept(HubEvent::Disconnected {
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
        self.out.push_event(HubEvent::Unsubscribed {
            conn,
            channel: channel.to_owned(),
        });
        if let Some(user_id) = removed_member {
            if !self.remote_has(channel, &user_id, None) {
                let frame = ServerMessage::MemberRemoved {
                    channel: ByteString::from(channel.to_owned()),
                    user_id: ByteString::from(user_id.clone()),
                }
                .encode();
                self.fan_out(channel, &frame, Some(conn));
            }
            self.share(cluster::Body::MemberRemoved {
                channel: channel.to_owned(),
                user_id: user_id.clone(),
            });
            self.webhook(WebhookEvent::MemberRemoved {
                channel,
                user_id: &user_id,
            });
            self.out.push_event(HubEvent::MemberRemoved {
                channel: channel.to_owned(),
                user_id,
            });
        }
        if empty {
            self.channels.remove(channel);
            self.webhook(WebhookEvent::ChannelVacated { channel });
            self.out.push_event(HubEvent::ChannelVacated {
                channel: channel.to_owned(),
            });
        } else {
            self.send_count(channel);
        }
    }

    /// What a connection's frame fans out to the channel's other subscribers (the hub's own traffic).
    fn fan_out(&mut self, channel: &str, frame: &Frame, except: Option<ConnId>) {
        if let Some(ch) = self.channels.get(channel) {
            for conn in &ch.subscribers {
                if Some(*conn) != except {
                    self.out.push_reply((*conn, HubTransmit::Send(frame.clone())));
                }
            }
        }
    }

    fn send_count(&mut self, channel: &str) {
        if !self.config.subscription_count || is_presence(channel) || channel.starts_with('#') {
            return;
        }
        let count = self.subscriber_count(channel) as u64;
        self.webhook(WebhookEvent::SubscriptionCount {
            channel,
            subscription_count: count,
        });
        let frame = ServerMessage::SubscriptionCount {
            channel: ByteString::from(channel.to_owned()),
            count,
        }
        .encode();
        self.fan_out(channel, &frame, None);
    }

    fn refuse(&mut self, conn: ConnId, channel: &str, refusal: Refusal) {
        // soketi's shape: pusher-js reports it as `pusher:subscription_error` with the status.
        let frame = ServerMessage::SubscriptionError(SubscriptionErrorMessage {
            shape: SubscriptionErrorShape::PusherEvent,
            channel: Some(ByteString::from(channel.to_owned())),
            kind: Some(ByteString::from(refusal.kind)),
            error: Some(ByteString::from(refusal.reason.clone())),
            status: Some(refusal.status),
            data: None,
        })
        .encode();
        self.send(conn, frame);
        self.out.push_event(HubEvent::SubscriptionRefused {
            conn,
            channel: channel.to_owned(),
            reason: refusal.reason,
        });
    }

    fn subscribe(&mut self, conn: ConnId, channel: ByteString, auth: &str, channel_data: Option<String>) {
        let Some(c) = self.conns.get(&conn) else { return };
        if c.channels.contains_key(&*channel) {
            // Hosted Pusher answers a duplicate with an informational error and keeps the subscription.
            let message = format!("Existing subscription to channel {channel}");
            self.send(conn, pusher_error(None, &message, Some(&channel)));
            return;
        }
        if c.channels.len() >= self.config.max_subscriptions {
            let reason = format!(
                "Subscription limit reached: a connection may hold {} subscriptions",
                self.config.max_subscriptions
            );
            let refusal = Refusal {
                status: 400,
                kind: "LimitReached",
                reason,
            };
            return self.refuse(conn, &channel, refusal);
        }
        let present = |user: &str| {
            self.channels
                .get(&*channel)
                .is_some_and(|ch| ch.members.contains_key(user))
                || self.remote_has(&channel, user, None)
        };
        let count = || self.cluster_members(&channel).len();
        let verdict = admit(
            &self.config,
            &c.socket_id,
            c.user_id.as_deref(),
            &channel,
            auth,
            channel_data,
            Members {
                present: &present,
                count: &count,
            },
        );
        match verdict {
            Ok(member) => self.join(conn, &channel, member),
            Err(refusal) => self.refuse(conn, &channel, refusal),
        }
    }

    /// Subscribes an admitted connection: bookkeeping, `subscription_succeeded`, `member_added` to the others,
    /// the cache replay and the count.
    fn join(&mut self, conn: ConnId, channel: &ByteString, member: Option<Member>) {
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
            self.webhook(WebhookEvent::ChannelOccupied { channel: &name });
            self.out.push_event(HubEvent::ChannelOccupied {
                channel: name.clone(),
            });
        }
        let data = match &member {
            Some(_) => state::presence_data(&self.cluster_members(&name)),
            None => "{}".to_owned(),
        };
        let ok = ServerMessage::SubscriptionSucceeded {
            channel: channel.clone(),
            data: string_data(&data),
        }
        .encode();
        self.send(conn, ok);
        self.out.push_event(HubEvent::Subscribed {
            conn,
            channel: name.clone(),
        });
        if let Some((user_id, info)) = added {
            if !self.remote_has(&name, &user_id, None) {
                let frame = ServerMessage::MemberAdded {
                    channel: channel.clone(),
                    user_id: ByteString::from(user_id.clone()),
                    user_info: info.clone(),
                }
                .encode();
                self.fan_out(&name, &frame, Some(conn));
            }
            self.share(cluster::Body::MemberAdded {
                channel: name.clone(),
                user_id: user_id.clone(),
                user_info: info,
            });
            self.webhook(WebhookEvent::MemberAdded {
                channel: &name,
                user_id: &user_id,
            });
            self.out.push_event(HubEvent::MemberAdded {
                channel: name.clone(),
                user_id,
            });
        }
        if is_cache(&name) {
            let replay = match self.cache.get(&name) {
                Some(frame) => frame.clone(),
                None => {
                    self.webhook(WebhookEvent::CacheMiss { channel: &name });
                    ServerMessage::CacheMiss {
                        channel: channel.clone(),
                    }
                    .encode()
                }
            };
            self.send(conn, replay);
        }
        self.send_count(&name);
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
            hub.out.push_event(HubEvent::ClientEventRejected {
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
        if self.cluster.is_some() {
            let socket_id = self.conns.get(&conn).map(|c| c.socket_id.to_string());
            self.share_publish(&[&channel], &event, &data, socket_id.as_deref(), user.as_deref());
        }
        if self.webhooks.is_some() {
            // hosted Pusher sends `data` as a string: a JSON string's content, or the JSON text as sent
            let text =
                serde_json::from_str::<String>(data.as_str()).unwrap_or_else(|_| data.as_str().to_owned());
            let socket_id = self
                .conns
                .get(&conn)
                .map(|c| c.socket_id.to_string())
                .unwrap_or_default();
            self.webhook(WebhookEvent::ClientEvent {
                channel: &channel,
                event: &event,
                data: &text,
                socket_id: &socket_id,
                user_id: user.as_deref(),
            });
        }
        self.out.push_event(HubEvent::ClientEvent {
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
                .push_transmit((conn, HubTransmit::Close(Close::new(codes::UNAUTHORIZED, reason))));
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
        self.out.push_event(HubEvent::SignedIn { conn, user_id });
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

impl feedwire_core::Hub for Hub {
    type Event = HubEvent;

    fn handle_open(&mut self, now: Instant, conn: ConnId, request: &OpenRequest) {
        self.saw(now);
        if self.conns.contains_key(&conn) {
            return;
        }
        if let Err((code, reason)) = admit_connection(&self.config.key, request) {
            return self.reject(conn, code, reason);
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
        self.out.push_event_kept(HubEvent::Connected {
            conn,
            socket_id: socket_id.to_string(),
        });
    }

    fn handle_frame(&mut self, now: Instant, conn: ConnId, frame: Frame) {
        self.saw(now);
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
            self.out.push_event(HubEvent::BadFrame { conn, reason, frame });
            return;
        }
        let msg = match ClientMessage::decode(&frame) {
            Ok(m) => m,
            Err(e) => {
                let reason = e.to_string();
                #[cfg(feature = "tracing")]
                tracing::debug!(conn = conn.0, %reason, "pusher: undecodable frame from a connection");
                self.send(
                    conn,
                    pusher_error(None, &format!("Invalid message: {reason}"), None),
                );
                self.out.push_event(HubEvent::BadFrame { conn, reason, frame });
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
                self.out.push_event(HubEvent::BadFrame { conn, reason, frame });
            }
        }
    }

    fn handle_close(&mut self, now: Instant, conn: ConnId, close: Option<Close>) {
        self.saw(now);
        self.forget(conn, close);
    }

    /// A planned shutdown: every open connection is closed with 4200 ("reconnect now", as hosted Pusher
    /// does), so clients reconnect at once instead of backing off after a dropped socket. Never refused: the
    /// closes bypass the queue's budget, and the departures fan out as the hub's own traffic.
    ///
    /// With a cluster, the departures are not shared one by one: one `leave` message tells the other nodes
    /// to drop this node at once, and nothing is shared after it.
    fn handle_shutdown(&mut self, now: Instant) {
        self.saw(now);
        self.cluster_stopping();
        let open: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in open {
            self.disconnect(
                conn,
                Close::new(codes::RECONNECT_NOW, "Server is shutting down: reconnect"),
            );
        }
        self.cluster_stopped();
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.saw(now);
        self.flush_webhooks(now);
        self.cluster_timeout(now);
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
                let close = Close::new(codes::PONG_NOT_RECEIVED, "Pong reply not received");
                self.out.push_transmit((conn, HubTransmit::Close(close)));
                self.out.push_event_kept(HubEvent::PongTimeout { conn });
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
        self.out.poll_transmit()
    }

    fn poll_event(&mut self) -> Option<HubEvent> {
        self.out.poll_event()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let conns = self.deadlines.first().map(|(t, _)| *t);
        let hooks = self.webhooks.as_ref().and_then(WebhookQueue::poll_timeout);
        [conns, hooks, self.cluster_poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }
}
