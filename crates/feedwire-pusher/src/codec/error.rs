//! Why a frame is not a valid Pusher message.

/// Why a frame is not a valid Pusher message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame is not a JSON object with a string `event`.
    #[error("not a Pusher envelope: {reason}")]
    Envelope {
        /// What serde_json said.
        reason: String,
    },
    /// The `data` of a protocol event does not have the shape the protocol gives it.
    #[error("invalid data for {event}: {reason}")]
    Data {
        /// The event.
        event: String,
        /// What is wrong.
        reason: String,
    },
    /// A protocol event that needs a `channel` has none.
    #[error("{event} has no channel")]
    MissingChannel {
        /// The event.
        event: String,
    },
    /// The frame is larger than the session's or hub's `limits.max_frame_size` (checked before decoding, by
    /// the client and the hub; the decoders themselves take any length).
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The frame's length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl DecodeError {
    pub(crate) fn data(event: &str, reason: impl ToString) -> DecodeError {
        DecodeError::Data {
            event: event.to_owned(),
            reason: reason.to_string(),
        }
    }
}
