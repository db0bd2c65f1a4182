//! Why a frame could not be decoded.

use feedwire_core::JsonSyntaxError;

/// Why a frame could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not JSON, or a field of the wrong JSON type.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A field the frame's type requires is absent.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// A field that must be a JSON string is not.
    #[error("field `{0}` is not a JSON string")]
    NotAString(&'static str),
    /// Not JSON: the scanner stopped at byte `at`.
    #[error("invalid JSON at byte {at}: expected {expected}")]
    Syntax {
        /// Byte offset.
        at: usize,
        /// What was expected there.
        expected: &'static str,
    },
    /// A field has the wrong JSON type.
    #[error("field `{field}` must be {expected}")]
    WrongType {
        /// The field.
        field: &'static str,
        /// The type it must have.
        expected: &'static str,
    },
    /// The frame is larger than the limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Frame length.
        len: usize,
        /// Limit in force.
        max: usize,
    },
}

impl From<JsonSyntaxError> for DecodeError {
    fn from(e: JsonSyntaxError) -> Self {
        DecodeError::Syntax {
            at: e.at,
            expected: e.expected,
        }
    }
}
