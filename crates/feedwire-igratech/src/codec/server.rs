//! [`ServerMessage`]: what the server sends, the document's `publish-*` messages.

use feedwire_core::{Frame, RawJson};

use super::channel;
use super::error::DecodeError;
use super::schema::{
    Balance, BetData, BetsResultData, Id, IncidentData, Logout, Pong, Settings, StatsData, Status,
};
use super::wire::{encode_parts, encode_raw, typed};
use crate::envelope::{Envelope, NestEnvelope, RawMessage};

/// A message the server sends (the document's `publish-*` messages).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerMessage {
    /// `publish-connected` on `connected`.
    Connected(Status),
    /// `publish-logout` on `logout`.
    Logout(Logout),
    /// `publish-pong` on `ping-pong`.
    Pong(Pong),
    /// `publish-settings` on `settings`.
    Settings(Settings),
    /// `publish-incident` on `incident`.
    Incident(IncidentData),
    /// `publish-bet` on `bet`.
    Bet(BetData),
    /// `publish-bets-result` on `bets-result`.
    BetsResult(BetsResultData),
    /// `publish-balance` on `balance`.
    Balance(Balance),
    /// `publish-stats` on `stats`.
    Stats(StatsData),
    /// A channel this model does not know, kept raw.
    Other {
        /// The channel name.
        event: String,
        /// The payload (sharing the frame's buffer when decoded).
        data: RawJson,
    },
}

impl ServerMessage {
    /// Decodes a frame in the default envelope, `{"event":"<channel>","data":<payload>}`.
    pub fn decode(frame: &Frame) -> Result<Self, DecodeError> {
        Self::decode_with(frame, &NestEnvelope)
    }

    /// Decodes a frame in another envelope (the non-default path; see [`crate::envelope`]).
    pub fn decode_with<E: Envelope + ?Sized>(frame: &Frame, envelope: &E) -> Result<Self, DecodeError> {
        let m = envelope.split(frame.as_str())?;
        Self::from_parts(&m, frame)
    }

    /// Phase 2: the typed message of a frame already split by an envelope (`raw` borrows from `frame`).
    pub(crate) fn from_parts(raw: &RawMessage<'_>, frame: &Frame) -> Result<Self, DecodeError> {
        let (event, data) = (raw.event.as_ref(), raw.data);
        Ok(match event {
            channel::CONNECTED => ServerMessage::Connected(typed(event, data)?),
            channel::LOGOUT => ServerMessage::Logout(typed(event, data)?),
            channel::PING_PONG => ServerMessage::Pong(typed(event, data)?),
            channel::SETTINGS => ServerMessage::Settings(typed(event, data)?),
            channel::INCIDENT => ServerMessage::Incident(typed(event, data)?),
            channel::BET => ServerMessage::Bet(typed(event, data)?),
            channel::BETS_RESULT => ServerMessage::BetsResult(typed(event, data)?),
            channel::BALANCE => ServerMessage::Balance(typed(event, data)?),
            channel::STATS => ServerMessage::Stats(typed(event, data)?),
            other => ServerMessage::Other {
                event: other.to_owned(),
                data: RawJson::from_raw_in(frame, data),
            },
        })
    }

    /// The channel name.
    pub fn event(&self) -> &str {
        match self {
            ServerMessage::Connected(_) => channel::CONNECTED,
            ServerMessage::Logout(_) => channel::LOGOUT,
            ServerMessage::Pong(_) => channel::PING_PONG,
            ServerMessage::Settings(_) => channel::SETTINGS,
            ServerMessage::Incident(_) => channel::INCIDENT,
            ServerMessage::Bet(_) => channel::BET,
            ServerMessage::BetsResult(_) => channel::BETS_RESULT,
            ServerMessage::Balance(_) => channel::BALANCE,
            ServerMessage::Stats(_) => channel::STATS,
            ServerMessage::Other { event, .. } => event,
        }
    }

    /// The AsyncAPI message name (`publish-bet`, ...); `None` for [`ServerMessage::Other`].
    pub fn message_name(&self) -> Option<&'static str> {
        Some(match self {
            ServerMessage::Connected(_) => "publish-connected",
            ServerMessage::Logout(_) => "publish-logout",
            ServerMessage::Pong(_) => "publish-pong",
            ServerMessage::Settings(_) => "publish-settings",
            ServerMessage::Incident(_) => "publish-incident",
            ServerMessage::Bet(_) => "publish-bet",
            ServerMessage::BetsResult(_) => "publish-bets-result",
            ServerMessage::Balance(_) => "publish-balance",
            ServerMessage::Stats(_) => "publish-stats",
            ServerMessage::Other { .. } => return None,
        })
    }

    /// The `gameId` the message concerns, for incidents, bets and stats.
    pub fn game_id(&self) -> Option<&Id> {
        match self {
            ServerMessage::Incident(d) => Some(&d.game_id),
            ServerMessage::Bet(d) => Some(&d.game_id),
            ServerMessage::Stats(d) => Some(&d.game_id),
            _ => None,
        }
    }

    /// Encodes in the default envelope. Infallible: a number JSON cannot express (NaN, an infinity) is
    /// written as `null`, as serde_json writes it (and then does not decode back into the model).
    pub fn encode(&self) -> Frame {
        self.encode_with(&NestEnvelope)
    }

    /// Encodes in another envelope (the non-default path; see [`crate::envelope`]).
    pub fn encode_with<E: Envelope + ?Sized>(&self, envelope: &E) -> Frame {
        let event = self.event();
        match self {
            ServerMessage::Connected(d) => encode_parts(envelope, event, d),
            ServerMessage::Logout(d) => encode_parts(envelope, event, d),
            ServerMessage::Pong(d) => encode_parts(envelope, event, d),
            ServerMessage::Settings(d) => encode_parts(envelope, event, d),
            ServerMessage::Incident(d) => encode_parts(envelope, event, d),
            ServerMessage::Bet(d) => encode_parts(envelope, event, d),
            ServerMessage::BetsResult(d) => encode_parts(envelope, event, d),
            ServerMessage::Balance(d) => encode_parts(envelope, event, d),
            ServerMessage::Stats(d) => encode_parts(envelope, event, d),
            ServerMessage::Other { data, .. } => encode_raw(envelope, event, data.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_required_field_is_an_error() {
        let e = ServerMessage::decode(&Frame::from(r#"{"event":"bet","data":{"gameId":1}}"#)).unwrap_err();
        assert!(e.to_string().contains("missing field `bets`"), "{e}");
        let e = ServerMessage::decode(&Frame::from(r#"{"event":"balance","data":"12"}"#)).unwrap_err();
        assert!(
            matches!(e, DecodeError::Payload { ref event, .. } if event == "balance"),
            "{e}"
        );
    }

    #[test]
    fn unknown_channel_is_kept_raw() {
        let frame = Frame::from(String::from(r#"{"event":"jackpot","data":{"amount":5}}"#));
        let m = ServerMessage::decode(&frame).unwrap();
        assert_eq!(
            m,
            ServerMessage::Other {
                event: "jackpot".into(),
                data: RawJson::from_json_str(r#"{"amount":5}"#).unwrap()
            }
        );
        let ServerMessage::Other { data, .. } = &m else {
            unreachable!()
        };
        assert!(
            std::ptr::eq(data.as_str().as_ptr(), frame.as_str()[26..].as_ptr()),
            "the raw payload shares the frame's buffer"
        );
        assert_eq!(m.encode().as_str(), r#"{"event":"jackpot","data":{"amount":5}}"#);
        assert_eq!(m.message_name(), None);
    }

    #[test]
    fn non_finite_numbers_encode_as_null() {
        let m = ServerMessage::Balance(Balance {
            balance: f64::NAN,
            currency: None,
            extra: Default::default(),
        });
        let f = m.encode();
        assert_eq!(f.as_str(), r#"{"event":"balance","data":{"balance":null}}"#);
        assert!(
            ServerMessage::decode(&f).is_err(),
            "a null balance does not fit the model"
        );
    }
}
