//! Why a frame does not decode.

use crate::envelope::EnvelopeError;

/// Why a frame could not be decoded into a typed message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame is not an envelope.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The channel is known but its payload does not fit the typed model.
    #[error("payload of `{event}` does not fit the model: {source}")]
    Payload {
        /// The channel.
        event: String,
        /// The serde error.
        source: serde_json::Error,
    },
}
