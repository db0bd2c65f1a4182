//! Several hubs as one cluster (issue 20), sans-IO: what a hub must share leaves it as
//! [`HubEvent::Cluster`], what the other nodes shared enters it through
//! [`Hub::handle_cluster`](super::Hub::handle_cluster).
//!
//! The carrier (a Redis pub/sub channel in `feedwire serve pusher`) publishes every
//! [`ClusterMessage::encode`] of every node and hands every message it receives to
//! [`ClusterMessage::decode`] and then to `handle_cluster`. It may lose, duplicate or delay messages: the
//! design converges anyway.
//!
//! - **Publishes** ([`Hub::publish`](super::Hub::publish), [`Hub::send_to_user`](super::Hub::send_to_user),
//!   HTTP API triggers, relayed client events) are delivered locally and sent as one `publish` message;
//!   every other node encodes the frame once per channel and delivers it to its own subscribers, skipping the
//!   excluded socket id if it is one of its connections (socket ids are unique cluster-wide: their first part
//!   is derived from the node id and epoch). A remote publish updates the local cache of `cache-*`
//!   channels. Delivery is at most once: a lost message is not repeated.
//! - **Presence**: a user's first connection on a presence channel of a node sends `member_added`, its last
//!   `member_removed`; every node sends a `heartbeat` every [`ClusterConfig::heartbeat_interval`] (2 s)
//!   carrying a full snapshot of its presence members (with `user_info`) and its subscriber counts per
//!   occupied channel. A snapshot replaces what was known of that node, so lost or duplicated incremental
//!   messages converge at the next heartbeat. Clients see `member_added` when a user first appears in the
//!   cluster as this node knows it, `member_removed` when the user's last connection on any node is gone;
//!   `subscription_succeeded` and the presence member cap count the cluster's members.
//! - **Heartbeats** are deadlines in `poll_timeout`. The first is due at the first time the hub is given (any
//!   `handle_*` call, or [`Hub::cluster_resync`], which the host calls when its broker link comes up and
//!   again whenever it comes back).
//! - **Liveness**: a node not heard from for [`ClusterConfig::node_timeout`] (10 s) is expired at
//!   `handle_timeout`: its members leave and its counts vanish. A node that shuts down sends `leave` and the
//!   others drop it at once. A node heard for the first time (or in a new epoch) makes every node send its
//!   heartbeat at once, so a newcomer learns the cluster within one round trip.
//! - **Order and duplicates**: every message carries (node, epoch, seq). A receiver keeps, per node, the
//!   highest seq it accepted and drops anything at or below it (the carrier keeps each publisher's order, so
//!   this drops duplicates; a message overtaken by a later one is dropped too, as if lost); a greater epoch
//!   (the node restarted) resets what was known of that node. Messages of the hub's own node id or of another
//!   app id are ignored.
//! - **Memory**: per remote node, what its last snapshot and later increments hold (a message is at most
//!   [`MAX_CLUSTER_MESSAGE`] bytes); at most [`ClusterConfig::max_nodes`] (256) remote nodes are tracked
//!   (messages of more are ignored until one expires); expired nodes are forgotten.
//!
//! **Staleness** of the HTTP API's answers: local state is exact; a remote node's subscriber counts are those
//! of its last heartbeat (at most `heartbeat_interval` plus the carrier's delay old while nothing is lost);
//! remote presence members follow incremental messages at once. A node that died without `leave` still
//! counts until `node_timeout` passes.
//!
//! Not shared: webhooks (each node sends those of its own connections, so a user on two nodes may give two
//! `member_added` webhooks), `pusher_internal:subscription_count` (local counts) and
//! [`HubEvent::MemberAdded`]/`MemberRemoved` (local transitions only).
//!
//! # Wire format
//! One JSON object per message, version 1; unknown fields are ignored, an unknown `kind` is accepted for
//! liveness and otherwise ignored (so a newer node can add kinds):
//! ```text
//! {"v":1,"kind":"publish","node":"n1","epoch":7,"seq":3,"app":"app-id","channels":["a","b"],"event":"e","data":"{}","socket_id":"1.2"}
//! {"v":1,"kind":"publish","node":"n1","epoch":7,"seq":4,"app":"app-id","channels":["presence-r"],"event":"client-x","data":{},"user_id":"u1"}
//! {"v":1,"kind":"member_added","node":"n1","epoch":7,"seq":5,"app":"app-id","channel":"presence-r","user_id":"u1","user_info":{"name":"Ann"}}
//! {"v":1,"kind":"member_removed","node":"n1","epoch":7,"seq":6,"app":"app-id","channel":"presence-r","user_id":"u1"}
//! {"v":1,"kind":"heartbeat","node":"n1","epoch":7,"seq":7,"app":"app-id","presence":{"presence-r":{"u1":{"name":"Ann"}}},"counts":{"a":2,"presence-r":1}}
//! {"v":1,"kind":"terminate_user","node":"n1","epoch":7,"seq":8,"app":"app-id","user_id":"u1"}
//! {"v":1,"kind":"leave","node":"n1","epoch":7,"seq":9,"app":"app-id"}
//! ```
//! The app secret is never in a message; `user_info` is (it is public to presence members anyway).

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use bytestring::ByteString;
use feedwire_core::{ConnId, Frame, RawJson, StringOrJson};
use serde::{Deserialize, Deserializer, Serialize};

use super::{Hub, HubEvent};
use crate::codec::{ChannelEvent, ServerMessage};

/// The largest message [`ClusterMessage::decode`] accepts: 16 MiB. A heartbeat holds a node's presence
/// members and occupied channels, so this bounds what one node may report (about 15,000 members with 1 KiB of
/// `user_info` each).
pub const MAX_CLUSTER_MESSAGE: usize = 16 * 1024 * 1024;

/// The longest node id a message may carry (bytes).
pub const MAX_NODE_ID_LEN: usize = 256;

/// How a hub takes part in a cluster. See the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterConfig {
    /// This node's id, unique in the cluster (1 to [`MAX_NODE_ID_LEN`] bytes).
    pub node_id: String,
    /// This node's incarnation: give a greater one at every start (the Unix time in milliseconds, say), so the
    /// others reset what they knew of the previous run at once instead of waiting for `node_timeout`. It
    /// also feeds the socket-id prefix. Default 0.
    pub epoch: u64,
    /// How often a heartbeat (a full snapshot) is sent (2 s; at least 1 ms).
    pub heartbeat_interval: Duration,
    /// How long a silent node stays known (10 s; keep it several heartbeats long).
    pub node_timeout: Duration,
    /// Most remote nodes tracked (256); messages of further nodes are ignored until one is forgotten.
    pub max_nodes: usize,
}

impl ClusterConfig {
    /// Node `node_id`, epoch 0, heartbeats every 2 s, nodes expired after 10 s of silence, 256 nodes.
    pub fn new(node_id: impl Into<String>) -> Self {
        ClusterConfig {
            node_id: node_id.into(),
            epoch: 0,
            heartbeat_interval: Duration::from_secs(2),
            node_timeout: Duration::from_secs(10),
            max_nodes: 256,
        }
    }
    /// Sets the heartbeat interval (at least 1 ms).
    pub fn with_heartbeat_interval(mut self, d: Duration) -> Self {
        self.heartbeat_interval = d.max(Duration::from_millis(1));
        self
    }
    /// Sets how long a silent node stays known.
    pub fn with_node_timeout(mut self, d: Duration) -> Self {
        self.node_timeout = d;
        self
    }
    /// Sets the epoch (incarnation) of this run.
    pub fn with_epoch(mut self, epoch: u64) -> Self {
        self.epoch = epoch;
        self
    }
    /// Sets the most remote nodes tracked.
    pub fn with_max_nodes(mut self, n: usize) -> Self {
        self.max_nodes = n;
        self
    }
}

/// Why [`ClusterMessage::decode`] refused a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cluster message: {reason}")]
pub struct ClusterError {
    reason: String,
}

impl ClusterError {
    fn new(reason: impl Into<String>) -> Self {
        ClusterError {
            reason: reason.into(),
        }
    }
    /// What was wrong.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// Presence members per channel: channel -> user id -> `user_info`.
pub(super) type Presence = BTreeMap<String, BTreeMap<String, Option<RawJson>>>;

/// What a message says.
#[derive(Clone, PartialEq)]
pub(super) enum Body {
    Publish {
        channels: Vec<String>,
        event: String,
        data: RawJson,
        socket_id: Option<String>,
        user_id: Option<String>,
    },
    MemberAdded {
        channel: String,
        user_id: String,
        user_info: Option<RawJson>,
    },
    MemberRemoved {
        channel: String,
        user_id: String,
    },
    Heartbeat {
        presence: Presence,
        counts: BTreeMap<String, u64>,
    },
    TerminateUser {
        user_id: String,
    },
    Leave,
    /// A kind this version does not know (liveness only).
    Other(String),
}

impl Body {
    fn kind(&self) -> &str {
        match self {
            Body::Publish { .. } => "publish",
            Body::MemberAdded { .. } => "member_added",
            Body::MemberRemoved { .. } => "member_removed",
            Body::Heartbeat { .. } => "heartbeat",
            Body::TerminateUser { .. } => "terminate_user",
            Body::Leave => "leave",
            Body::Other(k) => k,
        }
    }
}

/// One message between the nodes of a cluster; see the [module documentation](self) for the wire format.
/// Its `Debug` names the kind, node, epoch, seq and app only.
#[derive(Clone, PartialEq)]
pub struct ClusterMessage {
    pub(super) node: String,
    pub(super) epoch: u64,
    pub(super) seq: u64,
    pub(super) app: String,
    pub(super) body: Body,
}

impl fmt::Debug for ClusterMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterMessage")
            .field("kind", &self.body.kind())
            .field("node", &self.node)
            .field("epoch", &self.epoch)
            .field("seq", &self.seq)
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct WireOut<'a> {
    v: u32,
    kind: &'a str,
    node: &'a str,
    epoch: u64,
    seq: u64,
    app: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    channels: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a RawJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    socket_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_info: Option<&'a RawJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence: Option<&'a Presence>,
    #[serde(skip_serializing_if = "Option::is_none")]
    counts: Option<&'a BTreeMap<String, u64>>,
}

#[derive(Deserialize)]
struct WireIn {
    v: u64,
    kind: String,
    node: String,
    epoch: u64,
    seq: u64,
    app: String,
    #[serde(default)]
    channels: Option<Vec<String>>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    event: Option<String>,
    #[serde(default, deserialize_with = "present")]
    data: Option<RawJson>,
    #[serde(default)]
    socket_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    user_info: Option<RawJson>,
    #[serde(default)]
    presence: Option<Presence>,
    #[serde(default)]
    counts: Option<BTreeMap<String, u64>>,
}

/// A present field, `null` included, is `Some`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RawJson>, D::Error> {
    RawJson::deserialize(d).map(Some)
}

impl ClusterMessage {
    /// The message as JSON text (version 1), to publish as it is.
    pub fn encode(&self) -> String {
        let mut w = WireOut {
            v: 1,
            kind: self.body.kind(),
            node: &self.node,
            epoch: self.epoch,
            seq: self.seq,
            app: &self.app,
            channels: None,
            channel: None,
            event: None,
            data: None,
            socket_id: None,
            user_id: None,
            user_info: None,
            presence: None,
            counts: None,
        };
        match &self.body {
            Body::Publish {
                channels,
                event,
                data,
                socket_id,
                user_id,
            } => {
                w.channels = Some(channels);
                w.event = Some(event);
                w.data = Some(data);
                w.socket_id = socket_id.as_deref();
                w.user_id = user_id.as_deref();
            }
            Body::MemberAdded {
                channel,
                user_id,
                user_info,
            } => {
                w.channel = Some(channel);
                w.user_id = Some(user_id);
                w.user_info = user_info.as_ref();
            }
            Body::MemberRemoved { channel, user_id } => {
                w.channel = Some(channel);
                w.user_id = Some(user_id);
            }
            Body::Heartbeat { presence, counts } => {
                w.presence = Some(presence);
                w.counts = Some(counts);
            }
            Body::TerminateUser { user_id } => w.user_id = Some(user_id),
            Body::Leave | Body::Other(_) => {}
        }
        // Serialising strings, integers, maps with string keys and validated raw JSON cannot fail.
        serde_json::to_string(&w).unwrap_or_default()
    }

    /// Reads a message; refuses one larger than [`MAX_CLUSTER_MESSAGE`], one that is not JSON of version 1,
    /// that lacks `node` (1 to [`MAX_NODE_ID_LEN`] bytes), `epoch`, `seq` or `app`, or a field its kind needs
    /// (`publish`: `channels` (at least one), `event`, `data`; `member_added`/`member_removed`: `channel`,
    /// `user_id`; `terminate_user`: `user_id`). Never panics.
    pub fn decode(bytes: &[u8]) -> Result<ClusterMessage, ClusterError> {
        if bytes.len() > MAX_CLUSTER_MESSAGE {
            return Err(ClusterError::new(format!(
                "{} bytes exceed the limit of {MAX_CLUSTER_MESSAGE}",
                bytes.len()
            )));
        }
        let w: WireIn = serde_json::from_slice(bytes).map_err(|e| ClusterError::new(e.to_string()))?;
        if w.v != 1 {
            return Err(ClusterError::new(format!("unsupported version {}", w.v)));
        }
        if w.node.is_empty() || w.node.len() > MAX_NODE_ID_LEN {
            return Err(ClusterError::new(format!(
                "node id must be 1 to {MAX_NODE_ID_LEN} bytes"
            )));
        }
        let missing = |field: &str| ClusterError::new(format!("{} without `{field}`", w.kind));
        let body = match w.kind.as_str() {
            "publish" => {
                let channels = w.channels.ok_or_else(|| missing("channels"))?;
                if channels.is_empty() {
                    return Err(ClusterError::new("publish to no channel"));
                }
                Body::Publish {
                    channels,
                    event: w.event.ok_or_else(|| missing("event"))?,
                    data: w.data.ok_or_else(|| missing("data"))?,
                    socket_id: w.socket_id,
                    user_id: w.user_id,
                }
            }
            "member_added" => Body::MemberAdded {
                channel: w.channel.ok_or_else(|| missing("channel"))?,
                user_id: w.user_id.ok_or_else(|| missing("user_id"))?,
                user_info: w.user_info,
            },
            "member_removed" => Body::MemberRemoved {
                channel: w.channel.ok_or_else(|| missing("channel"))?,
                user_id: w.user_id.ok_or_else(|| missing("user_id"))?,
            },
            "heartbeat" => Body::Heartbeat {
                presence: w.presence.unwrap_or_default(),
                counts: w.counts.unwrap_or_default(),
            },
            "terminate_user" => Body::TerminateUser {
                user_id: w.user_id.ok_or_else(|| missing("user_id"))?,
            },
            "leave" => Body::Leave,
            _ => Body::Other(w.kind.clone()),
        };
        Ok(ClusterMessage {
            node: w.node,
            epoch: w.epoch,
            seq: w.seq,
            app: w.app,
            body,
        })
    }

    /// The id of the node that sent it.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The app id it is about.
    pub fn app_id(&self) -> &str {
        &self.app
    }

    /// The sender's epoch (incarnation).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The sender's sequence number (1, 2, ... within an epoch).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The kind: `publish`, `member_added`, `member_removed`, `heartbeat`, `terminate_user`, `leave`, or an
    /// unknown one as received.
    pub fn kind(&self) -> &str {
        self.body.kind()
    }
}

/// What this node knows of another.
struct Node {
    epoch: u64,
    seq: u64,
    last_heard: Instant,
    presence: Presence,
    counts: BTreeMap<String, u64>,
}

/// A hub's cluster state.
pub(super) struct Cluster {
    pub(super) config: ClusterConfig,
    seq: u64,
    next_heartbeat: Option<Instant>,
    nodes: BTreeMap<String, Node>,
    /// Nodes that said `leave`: (epoch, when forgotten); their late messages of that epoch are ignored.
    departed: BTreeMap<String, (u64, Instant)>,
    /// No message leaves any more (after a shutdown), or the departures of a shutdown are being made.
    stopped: bool,
    /// `leave` was sent.
    left: bool,
    /// The first part of this node's socket ids.
    pub(super) socket_prefix: u64,
}

/// FNV-1a over the node id and epoch, into `1..1_000_000_000`.
fn socket_prefix(node: &str, epoch: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in node.as_bytes().iter().chain(&epoch.to_le_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h % 999_999_999 + 1
}

impl Cluster {
    pub(super) fn new(config: ClusterConfig) -> Self {
        Cluster {
            socket_prefix: socket_prefix(&config.node_id, config.epoch),
            config,
            seq: 0,
            next_heartbeat: None,
            nodes: BTreeMap::new(),
            departed: BTreeMap::new(),
            stopped: false,
            left: false,
        }
    }

    /// The next deadline: a heartbeat or a node's expiry.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        if self.stopped {
            return None;
        }
        let expiry = self
            .nodes
            .values()
            .map(|n| n.last_heard + self.config.node_timeout)
            .min();
        match (self.next_heartbeat, expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether `user` is on `channel` at a remote node other than `except`.
    fn remote_has(&self, channel: &str, user: &str, except: Option<&str>) -> bool {
        self.nodes.iter().any(|(id, n)| {
            Some(id.as_str()) != except && n.presence.get(channel).is_some_and(|m| m.contains_key(user))
        })
    }

    /// Remote members of `channel`, into `out` (kept where `out` has the user already).
    fn remote_members<'a>(&'a self, channel: &str, out: &mut BTreeMap<&'a str, Option<&'a RawJson>>) {
        for n in self.nodes.values() {
            if let Some(m) = n.presence.get(channel) {
                for (u, info) in m {
                    out.entry(u.as_str()).or_insert(info.as_ref());
                }
            }
        }
    }

    /// Remote subscriber counts of `channel`, summed.
    #[cfg(feature = "rest")]
    fn remote_count(&self, channel: &str) -> u64 {
        self.nodes
            .values()
            .filter_map(|n| n.counts.get(channel))
            .fold(0u64, |a, b| a.saturating_add(*b))
    }

    /// Channels any remote node reports occupied (by subscribers or presence members).
    #[cfg(feature = "rest")]
    fn remote_channels(&self) -> impl Iterator<Item = &str> {
        self.nodes.values().flat_map(|n| {
            n.counts
                .keys()
                .chain(n.presence.iter().filter(|(_, m)| !m.is_empty()).map(|(c, _)| c))
                .map(String::as_str)
        })
    }

    /// Remote presence entries and counts held, summed over nodes (for tests of the memory bound).
    #[cfg(feature = "fuzzing")]
    fn entries(&self) -> usize {
        self.nodes
            .values()
            .map(|n| n.counts.len() + n.presence.values().map(BTreeMap::len).sum::<usize>())
            .sum()
    }
}

impl Hub {
    /// Notes `now`; a clustered hub's first heartbeat is due at the first time it is given.
    pub(super) fn saw(&mut self, now: Instant) {
        self.now = Some(now);
        if let Some(c) = &mut self.cluster
            && c.next_heartbeat.is_none()
        {
            c.next_heartbeat = Some(now);
        }
    }

    /// Queues a message to the other nodes (a kept event), when clustered and not stopped.
    pub(super) fn share(&mut self, body: Body) {
        let Some(c) = &mut self.cluster else { return };
        if c.stopped {
            return;
        }
        c.seq += 1;
        let msg = ClusterMessage {
            node: c.config.node_id.clone(),
            epoch: c.config.epoch,
            seq: c.seq,
            app: self.config.app_id.clone(),
            body,
        };
        self.out.push_event_kept(HubEvent::Cluster(msg));
    }

    /// Whether `user` is on presence `channel` at a remote node (other than `except`).
    pub(super) fn remote_has(&self, channel: &str, user: &str, except: Option<&str>) -> bool {
        self.cluster
            .as_ref()
            .is_some_and(|c| c.remote_has(channel, user, except))
    }

    /// The cluster's members of `channel` with their `user_info` (the local one where the user is local).
    pub(super) fn cluster_members(&self, channel: &str) -> BTreeMap<&str, Option<&RawJson>> {
        let mut out = BTreeMap::new();
        if let Some(ch) = self.channels.get(channel) {
            for (u, (info, _)) in &ch.members {
                out.insert(u.as_str(), info.as_ref());
            }
        }
        if let Some(c) = &self.cluster {
            c.remote_members(channel, &mut out);
        }
        out
    }

    /// Subscribers of `channel` in the cluster: local ones plus the remote counts last reported.
    #[cfg(feature = "rest")]
    pub(super) fn cluster_subscriber_count(&self, channel: &str) -> u64 {
        let remote = self.cluster.as_ref().map_or(0, |c| c.remote_count(channel));
        (self.subscriber_count(channel) as u64).saturating_add(remote)
    }

    /// Occupied channel names of the cluster, sorted, without `#` ones.
    #[cfg(feature = "rest")]
    pub(super) fn cluster_channels(&self) -> Vec<&str> {
        let mut names: std::collections::BTreeSet<&str> = self.channels.keys().map(String::as_str).collect();
        if let Some(c) = &self.cluster {
            names.extend(c.remote_channels());
        }
        names.into_iter().filter(|n| !n.starts_with('#')).collect()
    }

    /// Live remote nodes, by id. Empty when not clustered.
    pub fn cluster_nodes(&self) -> Vec<String> {
        self.cluster
            .as_ref()
            .map(|c| c.nodes.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// How many remote presence members and channel counts this hub holds, over all remote nodes (for tests
    /// of the memory bound).
    #[cfg(feature = "fuzzing")]
    #[doc(hidden)]
    pub fn cluster_entries(&self) -> usize {
        self.cluster.as_ref().map_or(0, Cluster::entries)
    }

    /// The broker link came back (or first came up): sends a heartbeat (a full snapshot) at once, so the
    /// other nodes converge on this node's state without waiting for the next interval. No-op when not
    /// clustered.
    pub fn cluster_resync(&mut self, now: Instant) {
        self.saw(now);
        if self.cluster.is_some() {
            self.heartbeat(now);
        }
    }

    fn heartbeat(&mut self, now: Instant) {
        let mut presence = Presence::new();
        let mut counts = BTreeMap::new();
        for (name, ch) in &self.channels {
            if name.starts_with('#') {
                continue;
            }
            counts.insert(name.clone(), ch.subscribers.len() as u64);
            if !ch.members.is_empty() {
                presence.insert(
                    name.clone(),
                    ch.members
                        .iter()
                        .map(|(u, (info, _))| (u.clone(), info.clone()))
                        .collect(),
                );
            }
        }
        if let Some(c) = &mut self.cluster {
            c.next_heartbeat = Some(now + c.config.heartbeat_interval);
        }
        self.share(Body::Heartbeat { presence, counts });
    }

    /// Heartbeats and expiries due at `now`.
    pub(super) fn cluster_timeout(&mut self, now: Instant) {
        let Some(c) = &self.cluster else { return };
        if c.stopped {
            return;
        }
        if c.next_heartbeat.is_some_and(|t| t <= now) {
            self.heartbeat(now);
        }
        let Some(c) = &mut self.cluster else { return };
        let timeout = c.config.node_timeout;
        let expired: Vec<String> = c
            .nodes
            .iter()
            .filter(|(_, n)| now.saturating_duration_since(n.last_heard) >= timeout)
            .map(|(id, _)| id.clone())
            .collect();
        c.departed.retain(|_, (_, until)| *until > now);
        for node in expired {
            self.drop_node(&node);
        }
    }

    /// The next cluster deadline.
    pub(super) fn cluster_poll_timeout(&self) -> Option<Instant> {
        self.cluster.as_ref().and_then(Cluster::poll_timeout)
    }

    /// A planned shutdown, before the connections close: the departures are not shared one by one.
    pub(super) fn cluster_stopping(&mut self) {
        if let Some(c) = &mut self.cluster {
            c.stopped = true;
        }
    }

    /// After a planned shutdown's closes: `leave`, then nothing more.
    pub(super) fn cluster_stopped(&mut self) {
        let Some(c) = &mut self.cluster else { return };
        if c.left {
            return;
        }
        c.left = true;
        c.stopped = false;
        self.share(Body::Leave);
        if let Some(c) = &mut self.cluster {
            c.stopped = true;
            c.next_heartbeat = None;
        }
    }

    /// Forgets a node: its members leave (with `member_removed` where the user is nowhere else).
    fn drop_node(&mut self, node: &str) {
        let Some(c) = &mut self.cluster else { return };
        let Some(n) = c.nodes.remove(node) else { return };
        self.forget_presence(n.presence);
        self.out.push_event(HubEvent::NodeExpired {
            node: node.to_owned(),
        });
    }

    /// Tells local subscribers of the members of `old` (no longer held by its node) that are now gone.
    fn forget_presence(&mut self, old: Presence) {
        for (channel, members) in old {
            for user in members.keys() {
                self.remote_member_gone(&channel, user);
            }
        }
    }

    /// `user` left `channel` at a remote node (already removed from its view): `member_removed` to local
    /// subscribers unless the user is still present somewhere.
    fn remote_member_gone(&mut self, channel: &str, user: &str) {
        let local = self
            .channels
            .get(channel)
            .is_some_and(|ch| ch.members.contains_key(user));
        if local || self.remote_has(channel, user, None) {
            return;
        }
        if self.channels.contains_key(channel) {
            let frame = ServerMessage::MemberRemoved {
                channel: ByteString::from(channel.to_owned()),
                user_id: ByteString::from(user.to_owned()),
            }
            .encode();
            self.fan_out(channel, &frame, None);
        }
    }

    /// `user` is about to be added to `channel` at remote node `node`: `member_added` to local subscribers
    /// unless the user is already present somewhere.
    fn remote_member_new(&mut self, node: &str, channel: &str, user: &str, info: Option<&RawJson>) {
        let local = self
            .channels
            .get(channel)
            .is_some_and(|ch| ch.members.contains_key(user));
        if local || self.remote_has(channel, user, Some(node)) {
            return;
        }
        if self.channels.contains_key(channel) {
            let frame = ServerMessage::MemberAdded {
                channel: ByteString::from(channel.to_owned()),
                user_id: ByteString::from(user.to_owned()),
                user_info: info.cloned(),
            }
            .encode();
            self.fan_out(channel, &frame, None);
        }
    }

    /// Takes in a message of another node, received at `now`. Ignored: messages of this node's own id, of
    /// another app id, of an older epoch than the one known for that node, at or below the highest seq
    /// accepted from it (duplicates), of a node that said `leave` (same epoch), and of a new node when
    /// `max_nodes` are tracked already; and every message when not clustered. A remote publish is delivered
    /// to local subscribers as the hub's own traffic (dropped and counted past twice `limits.max_queued`,
    /// like any fan-out of a connection's frame).
    pub fn handle_cluster(&mut self, now: Instant, msg: ClusterMessage) {
        self.saw(now);
        let Some(c) = &mut self.cluster else { return };
        if msg.node == c.config.node_id || msg.app != self.config.app_id {
            return;
        }
        if c.departed.get(&msg.node).is_some_and(|(e, _)| msg.epoch <= *e) {
            return;
        }
        let mut joined = false;
        let mut reset = None;
        match c.nodes.get_mut(&msg.node) {
            None => {
                if matches!(msg.body, Body::Leave) || c.nodes.len() >= c.config.max_nodes {
                    return;
                }
                c.nodes.insert(
                    msg.node.clone(),
                    Node {
                        epoch: msg.epoch,
                        seq: msg.seq,
                        last_heard: now,
                        presence: Presence::new(),
                        counts: BTreeMap::new(),
                    },
                );
                joined = true;
            }
            Some(n) => {
                if msg.epoch < n.epoch || (msg.epoch == n.epoch && msg.seq <= n.seq) {
                    return;
                }
                if msg.epoch > n.epoch {
                    n.epoch = msg.epoch;
                    n.counts.clear();
                    reset = Some(std::mem::take(&mut n.presence));
                    joined = true;
                }
                n.seq = msg.seq;
                n.last_heard = now;
            }
        }
        if joined {
            // a newcomer (or a restarted node) learns this node's state at once
            c.next_heartbeat = Some(now);
            self.out.push_event(HubEvent::NodeJoined {
                node: msg.node.clone(),
            });
        }
        if let Some(old) = reset {
            self.forget_presence(old);
        }
        self.apply(now, msg);
    }

    fn apply(&mut self, now: Instant, msg: ClusterMessage) {
        let node = msg.node;
        match msg.body {
            Body::Publish {
                channels,
                event,
                data,
                socket_id,
                user_id,
            } => {
                let except = socket_id.and_then(|s| self.by_socket_id.get(s.as_str()).copied());
                for name in &channels {
                    let frame = match &user_id {
                        None => ServerMessage::encode_channel_event(&event, name, &data),
                        Some(u) => ServerMessage::Event(ChannelEvent {
                            event: ByteString::from(event.clone()),
                            channel: Some(ByteString::from(name.clone())),
                            data: Some(StringOrJson::new(data.clone())),
                            user_id: Some(ByteString::from(u.clone())),
                        })
                        .encode(),
                    };
                    self.deliver(name, frame, except);
                }
            }
            Body::MemberAdded {
                channel,
                user_id,
                user_info,
            } => {
                let known = self
                    .cluster
                    .as_ref()
                    .and_then(|c| c.nodes.get(&node))
                    .is_some_and(|n| n.presence.get(&channel).is_some_and(|m| m.contains_key(&user_id)));
                if !known {
                    self.remote_member_new(&node, &channel, &user_id, user_info.as_ref());
                }
                if let Some(n) = self.cluster.as_mut().and_then(|c| c.nodes.get_mut(&node)) {
                    n.presence.entry(channel).or_default().insert(user_id, user_info);
                }
            }
            Body::MemberRemoved { channel, user_id } => {
                let Some(n) = self.cluster.as_mut().and_then(|c| c.nodes.get_mut(&node)) else {
                    return;
                };
                let Some(m) = n.presence.get_mut(&channel) else {
                    return;
                };
                if m.remove(&user_id).is_none() {
                    return;
                }
                if m.is_empty() {
                    n.presence.remove(&channel);
                }
                self.remote_member_gone(&channel, &user_id);
            }
            Body::Heartbeat { presence, counts } => {
                let Some(n) = self.cluster.as_mut().and_then(|c| c.nodes.get_mut(&node)) else {
                    return;
                };
                n.counts = counts;
                let old = std::mem::take(&mut n.presence);
                // the additions first, with the node's old view out of the way
                for (channel, members) in &presence {
                    for (user, info) in members {
                        if !old.get(channel).is_some_and(|m| m.contains_key(user)) {
                            self.remote_member_new(&node, channel, user, info.as_ref());
                        }
                    }
                }
                if let Some(n) = self.cluster.as_mut().and_then(|c| c.nodes.get_mut(&node)) {
                    n.presence = presence;
                    n.presence.retain(|_, m| !m.is_empty());
                }
                for (channel, members) in &old {
                    for user in members.keys() {
                        let still = self
                            .cluster
                            .as_ref()
                            .and_then(|c| c.nodes.get(&node))
                            .is_some_and(|n| n.presence.get(channel).is_some_and(|m| m.contains_key(user)));
                        if !still {
                            self.remote_member_gone(channel, user);
                        }
                    }
                }
            }
            Body::TerminateUser { user_id } => {
                self.close_user(&user_id);
            }
            Body::Leave => {
                if let Some(c) = &mut self.cluster {
                    let epoch = c.nodes.get(&node).map_or(0, |n| n.epoch);
                    let until = now + c.config.node_timeout;
                    if c.departed.len() >= c.config.max_nodes
                        && let Some(first) = c.departed.keys().next().cloned()
                    {
                        c.departed.remove(&first);
                    }
                    c.departed.insert(node.clone(), (epoch, until));
                }
                self.drop_node(&node);
            }
            Body::Other(_) => {}
        }
    }

    /// A remote publish's frame on `channel`: cached on `cache-*` channels, delivered to local subscribers
    /// (but `except`) as the hub's own traffic.
    fn deliver(&mut self, channel: &str, frame: Frame, except: Option<ConnId>) {
        if super::is_cache(channel) {
            self.cache.insert(channel.to_owned(), frame.clone());
        }
        self.fan_out(channel, &frame, except);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_prefixes_differ_by_node_and_epoch() {
        let a = socket_prefix("a", 0);
        assert_ne!(a, socket_prefix("b", 0));
        assert_ne!(a, socket_prefix("a", 1));
        assert!((1..1_000_000_000).contains(&a));
    }

    #[test]
    fn decode_refuses_what_is_wrong_and_says_why() {
        let too_big = vec![b' '; MAX_CLUSTER_MESSAGE + 1];
        assert!(
            ClusterMessage::decode(&too_big)
                .unwrap_err()
                .reason()
                .contains("exceed")
        );
        let v2 = br#"{"v":2,"kind":"leave","node":"n","epoch":0,"seq":1,"app":"a"}"#;
        assert!(
            ClusterMessage::decode(v2)
                .unwrap_err()
                .reason()
                .contains("version 2")
        );
        let no_data = br#"{"v":1,"kind":"publish","node":"n","epoch":0,"seq":1,"app":"a","channels":["c"],"event":"e"}"#;
        assert!(
            ClusterMessage::decode(no_data)
                .unwrap_err()
                .reason()
                .contains("`data`")
        );
        let no_node = br#"{"v":1,"kind":"leave","node":"","epoch":0,"seq":1,"app":"a"}"#;
        assert!(ClusterMessage::decode(no_node).is_err());
        let null_data = br#"{"v":1,"kind":"publish","node":"n","epoch":0,"seq":1,"app":"a","channels":["c"],"event":"e","data":null}"#;
        let m = ClusterMessage::decode(null_data).unwrap();
        assert_eq!(ClusterMessage::decode(m.encode().as_bytes()).unwrap(), m);
        let other = br#"{"v":1,"kind":"gossip","node":"n","epoch":0,"seq":1,"app":"a","x":1}"#;
        assert_eq!(ClusterMessage::decode(other).unwrap().kind(), "gossip");
    }
}
