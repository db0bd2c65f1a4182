//! ActionCable broadcasts over Redis in the wire format of Rails' `redis` subscription adapter.
//!
//! Rails (`ActionCable::SubscriptionAdapter::Redis` with `ChannelPrefix`) publishes each
//! `ActionCable.server.broadcast(broadcasting, message)` as one Redis `PUBLISH` on the channel
//! `"{channel_prefix}:{broadcasting}"` (just `broadcasting` without a `channel_prefix` in `cable.yml`), its
//! payload the message's JSON text, and each server subscribes to the channels of the streams its own
//! clients are on. [`CableBroker`] does the same for a feedwire [`Hub`]: so a Rails application with
//! `adapter: redis` and feedwire servers on the same Redis and prefix share broadcasts both ways, and so do
//! several feedwire servers.
//!
//! - The hub must be built with [`HubConfig::with_stream_events`](feedwire_actioncable::server::HubConfig):
//!   it then tells when a stream gets its first local subscriber and loses its last
//!   ([`HubEvent::StreamStarted`] / [`HubEvent::StreamStopped`]); hand every hub event to
//!   [`CableBroker::handle_event`], which follows and stops following the stream's Redis channel.
//! - Broadcast with [`CableBroker::broadcast`], not `Hub::broadcast`: the message goes to Redis, and comes
//!   back to this server's own clients from Redis, as it reaches every other server's (as in Rails, each
//!   client gets it exactly once, in the order Redis gives). While Redis is away, a broadcast is delivered to
//!   this server's own clients only (and [`Routed::LocalOnly`] says so).
//! - A subscription that starts while Redis is away, or a message published in the round trip between a
//!   stream's first subscriber and Redis confirming the `SUBSCRIBE`, misses what Redis delivered meanwhile:
//!   Redis pub/sub keeps nothing. (Rails confirms a subscription only after that round trip; feedwire's hub
//!   confirms it at once.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use feedwire_actioncable::server::{Hub, HubEvent};
use feedwire_tungstenite::ServerHandle;

use crate::{Error, Link, LinkConfig, LinkState};

/// Where [`CableBroker::broadcast`] sent a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routed {
    /// Published to Redis: every server following the stream, this one included, delivers it.
    Redis,
    /// Redis is away: delivered to this many of this server's own connections only.
    LocalOnly(usize),
}

/// Why a broadcast was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BroadcastError {
    /// The message is not JSON.
    #[error("the message is not JSON")]
    InvalidJson,
    /// The publish queue is full (Redis is slow); nothing was sent.
    #[error("the Redis publish queue is full; nothing was sent")]
    QueueFull,
    /// The hub refused the local delivery (its queue is full).
    #[error("{0}")]
    Hub(String),
}

/// The ActionCable hub's link to Redis. See the [module documentation](self).
#[derive(Debug)]
pub struct CableBroker {
    link: Link,
    prefix: Option<String>,
    refused: Arc<AtomicU64>,
}

impl CableBroker {
    /// Starts the link: messages on a followed stream's channel are broadcast to the hub behind `server`.
    /// `channel_prefix` is `cable.yml`'s (`None`: Rails' default of no prefix).
    pub fn start(
        config: LinkConfig,
        channel_prefix: Option<String>,
        server: ServerHandle<Hub>,
    ) -> Result<Self, Error> {
        let refused = Arc::new(AtomicU64::new(0));
        let prefix = channel_prefix.clone();
        let counter = refused.clone();
        let on_message = move |channel: &str, payload: &[u8]| {
            let Some(stream) = strip(prefix.as_deref(), channel) else {
                return;
            };
            let Ok(message) = std::str::from_utf8(payload) else {
                counter.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%channel, "redis: a broadcast that is not UTF-8 was dropped");
                return;
            };
            if let Err(e) = server.call(|hub| hub.broadcast(stream, message)) {
                counter.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%channel, "redis: a broadcast was dropped: {e}");
            }
        };
        let link = Link::start(config, on_message, || {})?;
        Ok(CableBroker {
            link,
            prefix: channel_prefix,
            refused,
        })
    }

    /// Acts on a hub event: follows a stream's Redis channel on [`HubEvent::StreamStarted`], stops on
    /// [`HubEvent::StreamStopped`]. Returns whether the event was one of those.
    pub fn handle_event(&self, event: &HubEvent) -> bool {
        match event {
            HubEvent::StreamStarted { stream } => {
                self.link.subscribe(self.channel(stream));
                true
            }
            HubEvent::StreamStopped { stream } => {
                self.link.unsubscribe(self.channel(stream));
                true
            }
            _ => false,
        }
    }

    /// Broadcasts `message` (JSON text) on `stream` through Redis; while the link is down, to `hub`'s own
    /// connections only. Call it with the hub at hand (inside `ServerHandle::call`).
    pub fn broadcast(&self, hub: &mut Hub, stream: &str, message: &str) -> Result<Routed, BroadcastError> {
        if serde_json::from_str::<serde::de::IgnoredAny>(message).is_err() {
            return Err(BroadcastError::InvalidJson);
        }
        if self.link.state() == LinkState::Up {
            if self.link.publish(self.channel(stream), message) {
                Ok(Routed::Redis)
            } else {
                Err(BroadcastError::QueueFull)
            }
        } else {
            hub.broadcast(stream, message)
                .map(Routed::LocalOnly)
                .map_err(|e| BroadcastError::Hub(e.to_string()))
        }
    }

    /// The Redis channel of `stream`.
    pub fn channel(&self, stream: &str) -> String {
        match &self.prefix {
            Some(p) => format!("{p}:{stream}"),
            None => stream.to_owned(),
        }
    }

    /// The link (its state and counters).
    pub fn link(&self) -> &Link {
        &self.link
    }

    /// Broadcasts from Redis that could not be delivered (not UTF-8, or the hub refused them).
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

fn strip<'a>(prefix: Option<&str>, channel: &'a str) -> Option<&'a str> {
    match prefix {
        Some(p) => channel.strip_prefix(p)?.strip_prefix(':'),
        None => Some(channel),
    }
}

#[cfg(test)]
mod tests {
    use super::strip;

    #[test]
    fn the_prefix_is_rails_channel_prefix_and_a_colon() {
        assert_eq!(strip(Some("app_production"), "app_production:chat"), Some("chat"));
        assert_eq!(strip(Some("app_production"), "app_production:a:b"), Some("a:b"));
        assert_eq!(strip(Some("app"), "application:chat"), None);
        assert_eq!(strip(None, "chat"), Some("chat"));
    }
}
