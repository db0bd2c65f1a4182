//! What [`ServerMessage`](super::ServerMessage) and [`ClientMessage`](super::ClientMessage) share: the typed
//! parse of a payload, and writing a payload into a frame through an envelope.

use feedwire_core::Frame;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::error::DecodeError;
use crate::envelope::Envelope;

/// Phase 2 of a decode: the payload of channel `event` as `T`.
pub(super) fn typed<'a, T: Deserialize<'a>>(event: &str, data: &'a RawValue) -> Result<T, DecodeError> {
    serde_json::from_str(data.get()).map_err(|source| DecodeError::Payload {
        event: event.to_owned(),
        source,
    })
}

/// The frame carrying `data` on channel `event`, framed by `envelope`.
///
/// Cannot fail: the payload types serialize to JSON whatever their values (serde_json writes a number JSON
/// cannot express, NaN or an infinity, as `null`, so such a payload does not decode back into the model).
/// Should serialization ever be refused all the same, the payload is written as `null`.
pub(super) fn encode_parts<E: Envelope + ?Sized, T: Serialize>(envelope: &E, event: &str, data: &T) -> Frame {
    // A small payload is serialized into a stack buffer, so the frame is the only allocation; a larger one
    // (which the buffer cannot hold) goes through a heap string.
    let mut stack = [0u8; 512];
    let mut cursor = std::io::Cursor::new(&mut stack[..]);
    let written = serde_json::to_writer(&mut cursor, data)
        .ok()
        .and_then(|()| usize::try_from(cursor.position()).ok());
    let heap;
    let payload = match written
        .and_then(|n| stack.get(..n))
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
    {
        Some(text) => text,
        None => {
            heap = serde_json::to_string(data).unwrap_or_else(|_| "null".to_owned());
            heap.as_str()
        }
    };
    encode_raw(envelope, event, payload)
}

/// The frame carrying `data` (JSON text) on channel `event`, framed by `envelope`.
pub(super) fn encode_raw<E: Envelope + ?Sized>(envelope: &E, event: &str, data: &str) -> Frame {
    // room for the default envelope's frame, so the text is written without growing
    let mut out = String::with_capacity(event.len() + data.len() + 20);
    envelope.join(event, data, &mut out);
    Frame::from(out)
}
