//! [`Payload`]: a received payload, kept as the raw JSON slice of its frame and typed on demand.

use std::fmt;

use feedwire_core::RawJson;
use serde::Deserialize;

/// A payload handed to the application as the raw JSON slice of the received frame (no copy), typed as
/// `T` on demand with [`Payload::parse`]. When the payload does not fit `T`, the raw JSON is still here.
pub struct Payload<T> {
    raw: RawJson,
    _model: std::marker::PhantomData<fn() -> T>,
}

impl<T> Payload<T> {
    /// Wraps a raw payload.
    pub fn new(raw: RawJson) -> Self {
        Payload {
            raw,
            _model: std::marker::PhantomData,
        }
    }

    /// The payload's exact JSON text, sharing the frame's buffer.
    pub fn raw(&self) -> &RawJson {
        &self.raw
    }

    /// Unwraps the raw payload.
    pub fn into_raw(self) -> RawJson {
        self.raw
    }
}

impl<T: for<'de> Deserialize<'de>> Payload<T> {
    /// Phase 2: the typed payload, or why it does not fit the model.
    pub fn parse(&self) -> Result<T, serde_json::Error> {
        self.raw.parse()
    }
}

impl<T> Clone for Payload<T> {
    fn clone(&self) -> Self {
        Payload::new(self.raw.clone())
    }
}

impl<T> PartialEq for Payload<T> {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl<T> fmt::Debug for Payload<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Payload({})", self.raw.as_str())
    }
}
