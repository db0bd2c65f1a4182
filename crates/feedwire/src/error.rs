//! What a one-call connect refuses.

/// Why a one-call connect could not start: the input cannot work, so nothing was dialed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The configuration cannot work (a URL in a host field, an `http://` URL where `ws://` is meant, ...).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A subscription was refused before dialing (an invalid channel name, a channel given twice, ...).
    #[error("cannot subscribe to {name:?}: {reason}")]
    Subscribe {
        /// The channel or identifier.
        name: String,
        /// Why.
        reason: String,
    },
}
