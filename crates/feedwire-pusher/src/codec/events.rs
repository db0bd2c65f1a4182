//! Event names of the protocol.

/// Server: handshake done.
pub const CONNECTION_ESTABLISHED: &str = "pusher:connection_established";
/// Server: an error on an open socket.
pub const ERROR: &str = "pusher:error";
/// Either side: ping.
pub const PING: &str = "pusher:ping";
/// Either side: pong.
pub const PONG: &str = "pusher:pong";
/// Client: subscribe.
pub const SUBSCRIBE: &str = "pusher:subscribe";
/// Client: unsubscribe.
pub const UNSUBSCRIBE: &str = "pusher:unsubscribe";
/// Client: user signin.
pub const SIGNIN: &str = "pusher:signin";
/// Server: signin accepted.
pub const SIGNIN_SUCCESS: &str = "pusher:signin_success";
/// Server: subscription accepted.
pub const SUBSCRIPTION_SUCCEEDED: &str = "pusher_internal:subscription_succeeded";
/// Server (soketi, poxa): subscription refused.
pub const SUBSCRIPTION_ERROR: &str = "pusher:subscription_error";
/// Server (pusher-fake): subscription refused.
pub const INTERNAL_SUBSCRIPTION_ERROR: &str = "pusher_internal:subscription_error";
/// Server: a presence member joined.
pub const MEMBER_ADDED: &str = "pusher_internal:member_added";
/// Server: a presence member left.
pub const MEMBER_REMOVED: &str = "pusher_internal:member_removed";
/// Server: subscriber count of a channel.
pub const SUBSCRIPTION_COUNT: &str = "pusher_internal:subscription_count";
/// Server: nothing cached on a cache channel.
pub const CACHE_MISS: &str = "pusher:cache_miss";
/// Server: watchlist online/offline events.
pub const WATCHLIST_EVENTS: &str = "pusher_internal:watchlist_events";

/// Whether `event` is one of the protocol's own (`pusher:*` or `pusher_internal:*`).
pub fn is_protocol_event(event: &str) -> bool {
    event.starts_with("pusher:") || event.starts_with("pusher_internal:")
}
