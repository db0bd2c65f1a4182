//! Why a frame could not be decoded.

/// Why a frame could not be decoded. The client keeps the frame beside it (see
/// [`client::Event::Malformed`](crate::client::Event::Malformed)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame is not valid JSON, or a known envelope has the wrong shape.
    #[error("invalid JSON: {reason}")]
    Json {
        /// serde_json's description (line and column included).
        reason: String,
    },
    /// An `emit` frame whose value is not an array starting with a string.
    #[error("invalid emit frame: {reason}")]
    Emit {
        /// What is wrong.
        reason: &'static str,
    },
    /// The frame is larger than the configured limit (checked by the client and the hub, which know it).
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The frame's length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl From<serde_json::Error> for DecodeError {
    fn from(e: serde_json::Error) -> Self {
        DecodeError::Json {
            reason: e.to_string(),
        }
    }
}
