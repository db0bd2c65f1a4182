//! What a channel's name says it is.

/// The kind of a channel, from its name's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChannelKind {
    /// No prefix (or `cache-`).
    Public,
    /// `private-` (or `private-cache-`).
    Private,
    /// `presence-` (or `presence-cache-`).
    Presence,
    /// `private-encrypted-` (or `private-encrypted-cache-`).
    Encrypted,
    /// `#server-to-user-{id}`, subscribed by the session after signin.
    ServerToUser,
}

impl ChannelKind {
    /// The kind of `name`.
    pub fn of(name: &str) -> ChannelKind {
        if name.starts_with("private-encrypted-") {
            ChannelKind::Encrypted
        } else if name.starts_with("private-") {
            ChannelKind::Private
        } else if name.starts_with("presence-") {
            ChannelKind::Presence
        } else if name.starts_with("#server-to-user-") {
            ChannelKind::ServerToUser
        } else {
            ChannelKind::Public
        }
    }

    /// Whether `name` is a cache channel (`cache-`, `private-cache-`, `private-encrypted-cache-`, `presence-cache-`).
    pub fn is_cache(name: &str) -> bool {
        [
            "cache-",
            "private-cache-",
            "private-encrypted-cache-",
            "presence-cache-",
        ]
        .iter()
        .any(|p| name.starts_with(p))
    }

    /// Whether subscribing needs a signature.
    pub fn needs_auth(self) -> bool {
        matches!(
            self,
            ChannelKind::Private | ChannelKind::Presence | ChannelKind::Encrypted
        )
    }
}
