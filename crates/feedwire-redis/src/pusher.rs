//! Several Pusher nodes on one Redis channel.
//!
//! Every node runs a [`Hub`] (or [`Apps`]) built with
//! [`HubConfig::with_cluster`](feedwire_pusher::server::HubConfig::with_cluster) and a unique node id. The
//! hub decides what the others must learn (publishes, client events, presence joins and leaves, heartbeats
//! with a snapshot of its presence and channels, a goodbye on shutdown) and hands it out as
//! [`HubEvent::Cluster`](feedwire_pusher::server::HubEvent::Cluster); give each one to
//! [`PusherCluster::publish`]. [`PusherCluster`] publishes them on one Redis channel and feeds what the other
//! nodes published to the hub's `handle_cluster`. When its link to Redis comes back after a loss, it asks
//! the hub to resynchronize (`cluster_resync`: a snapshot at once). A node that stops sending heartbeats is
//! expired by the others' hubs after the configured node timeout, its presence members removed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use feedwire_pusher::server::{Apps, ClusterMessage, Hub};
use feedwire_tungstenite::ServerHandle;

use crate::{Error, Link, LinkConfig};

/// The Redis channel nodes share when no other is given.
pub const DEFAULT_CHANNEL: &str = "feedwire:pusher";

/// A hub that takes part in a cluster: [`Hub`], or [`Apps`] (which routes by app id).
pub trait ClusterHub: feedwire_core::Hub + Send + 'static {
    /// A message from another node.
    fn handle_cluster(&mut self, now: Instant, msg: ClusterMessage);
    /// The link came back: send a full snapshot at once.
    fn cluster_resync(&mut self, now: Instant);
}

impl ClusterHub for Hub {
    fn handle_cluster(&mut self, now: Instant, msg: ClusterMessage) {
        Hub::handle_cluster(self, now, msg)
    }
    fn cluster_resync(&mut self, now: Instant) {
        Hub::cluster_resync(self, now)
    }
}

impl ClusterHub for Apps {
    fn handle_cluster(&mut self, now: Instant, msg: ClusterMessage) {
        Apps::handle_cluster(self, now, msg)
    }
    fn cluster_resync(&mut self, now: Instant) {
        Apps::cluster_resync(self, now)
    }
}

/// One node's link to the others. See the [module documentation](self).
#[derive(Debug)]
pub struct PusherCluster {
    link: Link,
    channel: String,
    undecodable: Arc<AtomicU64>,
}

impl PusherCluster {
    /// Starts the link on `channel` (all nodes of a cluster use the same; [`DEFAULT_CHANNEL`] is a good
    /// one) for the hub behind `server`.
    #[allow(clippy::disallowed_methods)] // the adapter owns the clock: messages arrive now
    pub fn start<H: ClusterHub>(
        config: LinkConfig,
        channel: impl Into<String>,
        server: ServerHandle<H>,
    ) -> Result<Self, Error>
    where
        H::Event: Send,
    {
        let channel = channel.into();
        let undecodable = Arc::new(AtomicU64::new(0));
        let counter = undecodable.clone();
        let handle = server.clone();
        let on_message = move |_: &str, payload: &[u8]| match ClusterMessage::decode(payload) {
            Ok(msg) => handle.call(|hub| hub.handle_cluster(Instant::now(), msg)),
            Err(e) => {
                counter.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("redis: a cluster message was dropped: {e}");
            }
        };
        let on_up = move || server.call(|hub| hub.cluster_resync(Instant::now()));
        let link = Link::start(config, on_message, on_up)?;
        link.subscribe(channel.clone());
        Ok(PusherCluster {
            link,
            channel,
            undecodable,
        })
    }

    /// Publishes a message of this node's hub; `false` when the publish queue was full and it was dropped
    /// (the next heartbeat's snapshot repairs presence; a dropped publish is lost).
    pub fn publish(&self, msg: &ClusterMessage) -> bool {
        self.link.publish(self.channel.as_str(), msg.encode())
    }

    /// The link (its state and counters).
    pub fn link(&self) -> &Link {
        &self.link
    }

    /// Messages from Redis that were not cluster messages (another program on the channel, or a newer
    /// version of feedwire).
    pub fn undecodable(&self) -> u64 {
        self.undecodable.load(Ordering::Relaxed)
    }
}
