//! What the hub tells its host, and why its commands refuse.

use feedwire_core::{Close, ConnId, Frame, QueueFull, RawJson};

/// What the hub tells its host.
///
/// **Kept** events are always queued, whatever the queue holds (one each per connection at most):
/// [`Connected`](HubEvent::Connected), [`Rejected`](HubEvent::Rejected),
/// [`Disconnected`](HubEvent::Disconnected), [`PongTimeout`](HubEvent::PongTimeout) and
/// [`Webhook`](HubEvent::Webhook) (at most `max_in_flight` per webhook target) and
/// [`Cluster`](HubEvent::Cluster). Every other event is
/// dropped, and counted in [`QueueStats::dropped_events`](feedwire_core::QueueStats), when `limits.max_queued`
/// events already wait.
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
    /// A webhook request to POST (see [`webhook`](super::webhook)); report its outcome with
    /// [`Hub::webhook_response`](super::Hub::webhook_response). A kept event.
    Webhook(super::WebhookRequest),
    /// A message for the other nodes of the cluster: publish `msg.encode()` on the cluster's channel. A kept
    /// event, and bounded all the same: one per accepted command (a publish, a trigger, a terminate, which
    /// are refused while `limits.max_queued` frames wait), one per connection frame that changes presence or
    /// relays a client event (client events are rate-limited per connection), and one heartbeat per
    /// `heartbeat_interval` (plus one at once when a node joins or [`Hub::cluster_resync`](super::Hub::cluster_resync)
    /// is called). Only a clustered hub emits it.
    Cluster(super::ClusterMessage),
    /// A remote node was heard for the first time (or in a new epoch, after a restart).
    NodeJoined {
        /// Its id.
        node: String,
    },
    /// A remote node was forgotten: silent for `node_timeout`, or it said `leave`.
    NodeExpired {
        /// Its id.
        node: String,
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

/// Why a command of the [`Hub`](super::Hub) refused. Nothing was queued and nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// The driver has not sent the frames already queued; retry after draining `poll_transmit`.
    #[error(transparent)]
    QueueFull(#[from] QueueFull),
}
