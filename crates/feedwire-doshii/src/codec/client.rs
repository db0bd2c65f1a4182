//! What a Doshii client sends: [`ClientMessage`], decoded (by the mock hub) and encoded.

use feedwire_core::json::validate_raw_value;
use feedwire_core::{Frame, RawJson};

use super::error::DecodeError;
use super::heartbeat::{Heartbeat, PRIMUS_PING_PREFIX, PRIMUS_PONG_PREFIX, Stamp, encode_primus};
use super::server::{ServerMessage, decode_general};

/// A frame from the client: its heartbeats and the answers to the server's.
///
/// Doshii's two directions share one grammar (either side may ping, and pongs look alike); a client sends
/// no events and no `"primus::server::close"`, so those frames decode here as [`Unknown`](ClientMessage::Unknown).
///
/// ```
/// use feedwire_doshii::codec::{ClientMessage, Heartbeat, PosStatus};
///
/// let ping = ClientMessage::Ping(Heartbeat::new(1539144663417).with_version("1.2.3"));
/// assert_eq!(ping.encode().as_str(), r#"{"doshii":{"ping":1539144663417,"version":"1.2.3"}}"#);
/// let status = PosStatus::default().with_database("online").with_processor("offline");
/// let pos_ping = ClientMessage::Ping(Heartbeat::new(5).with_status(&status));
/// assert_eq!(
///     pos_ping.encode().as_str(),
///     r#"{"doshii":{"ping":5,"status":{"database":"online","processor":"offline"}}}"#
/// );
/// assert_eq!(ClientMessage::decode(&ping.encode()), Ok(ping));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientMessage {
    /// `{"doshii":{"ping":<unix ms>,"version":..,"status":..}}`: the client's heartbeat (the first one
    /// completes the handshake).
    Ping(Heartbeat),
    /// `{"doshii":{"pong":<stamp>,"version":..}}`: the answer to a server ping or a POS `health_check`, with
    /// the same stamp.
    Pong(Heartbeat),
    /// `"primus::ping::<ms>"`.
    PrimusPing(Stamp),
    /// `"primus::pong::<ms>"`: the answer to a Primus ping.
    PrimusPong(Stamp),
    /// Valid JSON that is none of the above (kept whole, never an error).
    Unknown(RawJson),
}

impl ClientMessage {
    /// Decodes one frame. Never panics; unknown shapes are [`ClientMessage::Unknown`], not errors. The
    /// payloads share the frame's buffer (no copy).
    pub fn decode(frame: &Frame) -> Result<ClientMessage, DecodeError> {
        Ok(match decode_general(frame)? {
            ServerMessage::Ping(h) => ClientMessage::Ping(h),
            ServerMessage::Pong(h) => ClientMessage::Pong(h),
            ServerMessage::PrimusPing(s) => ClientMessage::PrimusPing(s),
            ServerMessage::PrimusPong(s) => ClientMessage::PrimusPong(s),
            ServerMessage::Unknown(raw) => ClientMessage::Unknown(raw),
            // what only a server sends: the frame, whole
            ServerMessage::Event(_) | ServerMessage::PrimusServerClose => {
                let raw = validate_raw_value(frame.as_str()).map_err(|e| DecodeError::Json {
                    reason: e.to_string(),
                })?;
                ClientMessage::Unknown(RawJson::from_raw_in(frame, raw))
            }
        })
    }

    /// Encodes the message. Every message decodes back to itself, except that an
    /// [`Unknown`](ClientMessage::Unknown) whose JSON happens to be a known shape decodes as that shape.
    pub fn encode(&self) -> Frame {
        match self {
            ClientMessage::Ping(h) => h.encode("ping"),
            ClientMessage::Pong(h) => h.encode("pong"),
            ClientMessage::PrimusPing(s) => encode_primus(PRIMUS_PING_PREFIX, s),
            ClientMessage::PrimusPong(s) => encode_primus(PRIMUS_PONG_PREFIX, s),
            ClientMessage::Unknown(raw) => Frame::from(raw.to_byte_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_only_a_server_sends_is_unknown_here() {
        for text in [
            r#"{"emit":["order_updated",{"id":"1"}]}"#,
            r#"{"type":"order_created","data":{}}"#,
            r#""primus::server::close""#,
        ] {
            let frame = Frame::from(text);
            let msg = ClientMessage::decode(&frame).unwrap();
            assert_eq!(msg, ClientMessage::Unknown(RawJson::from_json_str(text).unwrap()));
            assert_eq!(msg.encode(), frame);
        }
        let pong = Frame::from(r#"{"doshii":{"pong":7,"version":"1.2.3"}}"#);
        let Ok(ClientMessage::Pong(h)) = ClientMessage::decode(&pong) else {
            panic!()
        };
        assert_eq!(
            (h.stamp.millis(), h.version().as_deref()),
            (Some(7), Some("1.2.3"))
        );
        assert_eq!(
            ClientMessage::PrimusPong(Stamp::new("9")).encode().as_str(),
            r#""primus::pong::9""#
        );
        assert!(ClientMessage::decode(&Frame::from("{")).is_err());
    }
}
