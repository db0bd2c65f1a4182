//! Message types, decode and encode (no state).
//!
//! Decoding happens in two phases: an [`Envelope`] splits a frame into channel name and a borrowed raw
//! payload (phase 1, no payload parsing), then [`ServerMessage::from_parts`] / [`ClientMessage::from_parts`]
//! (or [`Payload::parse`] in the client) turn the payload into its typed model on demand (phase 2).
//!
//! Every payload object keeps the fields this model does not know in its `extra` map, and re-emits them when
//! encoded. A channel this model does not know decodes to the `Other` variant with its raw payload.
//!
//! Directions follow the AsyncAPI document (`testdata/igratech/asyncapi.yaml`): `publish-*` messages go
//! server -> client ([`ServerMessage`]), `subscribe-*` messages client -> server ([`ClientMessage`]).
//!
//! ```
//! use feedwire_igratech::codec::{BetStatus, ServerMessage};
//!
//! let text = r#"{"event":"bet","data":{"gameId":"g-1","bets":[{"betId":"b-1","market":"1x2",
//!     "outcome":"home","odds":1.85,"stake":10.0,"status":"open","boost":true}]}}"#;
//! let ServerMessage::Bet(bet) = ServerMessage::decode(text).unwrap() else { panic!() };
//! assert_eq!(bet.game_id.to_string(), "g-1");
//! assert_eq!(bet.bets[0].odds, 1.85);
//! assert_eq!(bet.bets[0].status, Some(BetStatus::Open));
//! assert_eq!(bet.bets[0].extra["boost"], true); // unknown fields are kept
//!
//! let again = ServerMessage::Bet(bet).encode().unwrap();
//! assert!(again.starts_with(r#"{"event":"bet","data":{"gameId":"g-1","bets":[{"betId":"b-1","#));
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use feedwire_core::{Frame, RawJson};
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;

use crate::envelope::{Envelope, EnvelopeError, NestEnvelope, RawMessage};

/// Fields a payload object carries that this model does not know, kept as received.
pub type Extra = serde_json::Map<String, serde_json::Value>;

/// The channel names of the AsyncAPI document.
pub mod channel {
    /// `connected`: `publish-connected` (server -> client, on socket connected).
    pub const CONNECTED: &str = "connected";
    /// `logout`: `publish-logout` (server -> client: login from another client; the server then closes).
    pub const LOGOUT: &str = "logout";
    /// `ping-pong`: `subscribe-ping` (client -> server) and `publish-pong` (server -> client).
    pub const PING_PONG: &str = "ping-pong";
    /// `settings`: `subscribe-settings` (client -> server) and `publish-settings` (server -> client).
    pub const SETTINGS: &str = "settings";
    /// `incident`: `publish-incident` (server -> client).
    pub const INCIDENT: &str = "incident";
    /// `bet`: `publish-bet` (server -> client).
    pub const BET: &str = "bet";
    /// `bets-result`: `publish-bets-result` (server -> client).
    pub const BETS_RESULT: &str = "bets-result";
    /// `balance`: `publish-balance` (server -> client).
    pub const BALANCE: &str = "balance";
    /// `stats`: `publish-stats` (server -> client).
    pub const STATS: &str = "stats";
    /// All nine channels, in the document's order.
    pub const ALL: [&str; 9] = [
        CONNECTED,
        LOGOUT,
        PING_PONG,
        SETTINGS,
        INCIDENT,
        BET,
        BETS_RESULT,
        BALANCE,
        STATS,
    ];
}

/// A map key that borrows from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Defines a payload object: required fields, optional fields, and `extra` for unknown ones, with a
/// hand-written map visitor (no `flatten`, which buffers).
macro_rules! payload_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            required { $( $(#[$rmeta:meta])* $rkey:literal => $rfield:ident : $rty:ty, )* }
            optional { $( $(#[$ometa:meta])* $okey:literal => $ofield:ident : $oty:ty, )* }
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $( $(#[$rmeta])* pub $rfield: $rty, )*
            $( $(#[$ometa])* pub $ofield: Option<$oty>, )*
            /// Fields this model does not know, kept as received and written back when encoded.
            pub extra: Extra,
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(None)?;
                $( map.serialize_entry($rkey, &self.$rfield)?; )*
                $( if let Some(v) = &self.$ofield { map.serialize_entry($okey, v)?; } )*
                for (k, v) in &self.extra {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!("a `", stringify!($name), "` object"))
                    }
                    #[allow(unused_mut)]
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$name, A::Error> {
                        $( let mut $rfield: Option<$rty> = None; )*
                        $( let mut $ofield: Option<$oty> = None; )*
                        let mut extra = Extra::new();
                        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                            match key.as_ref() {
                                $( $rkey => $rfield = Some(map.next_value()?), )*
                                $( $okey => $ofield = map.next_value()?, )*
                                _ => {
                                    let v: serde_json::Value = map.next_value()?;
                                    extra.insert(key.into_owned(), v);
                                }
                            }
                        }
                        $( let $rfield = $rfield.ok_or_else(|| de::Error::missing_field($rkey))?; )*
                        Ok($name { $($rfield,)* $($ofield,)* extra })
                    }
                }
                d.deserialize_map(V)
            }
        }
    };
}

/// Defines a string enum that keeps values it does not know in `Other`.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this model does not know, kept as received.
            Other(String),
        }

        impl $name {
            /// The wire text.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $text, )*
                    $name::Other(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $( $text => $name::$variant, )*
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let Key(k) = Key::deserialize(d)?;
                Ok($name::from(k.as_ref()))
            }
        }
    };
}

/// An identifier (game, bet, user, session, incident) that the service may send as a string or an integer;
/// kept in the form it came in, so it is written back the same way.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Id {
    /// An integer id.
    Int(i64),
    /// A string id.
    Str(String),
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Int(n) => write!(f, "{n}"),
            Id::Str(s) => f.write_str(s),
        }
    }
}

impl From<&str> for Id {
    fn from(s: &str) -> Self {
        Id::Str(s.to_owned())
    }
}

impl From<String> for Id {
    fn from(s: String) -> Self {
        Id::Str(s)
    }
}

impl From<i64> for Id {
    fn from(n: i64) -> Self {
        Id::Int(n)
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Id::Int(n) => s.serialize_i64(*n),
            Id::Str(v) => s.serialize_str(v),
        }
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or integer id")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id, E> {
                Ok(Id::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
                i64::try_from(v)
                    .map(Id::Int)
                    .map_err(|_| E::custom("integer id out of range"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
                Ok(Id::Str(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Id, E> {
                Ok(Id::Str(v))
            }
        }
        d.deserialize_any(V)
    }
}

string_enum! {
    /// The state of a bet (`bet-data-item` and `bets-result-data`).
    pub enum BetStatus {
        /// `open`: accepting stakes.
        Open => "open",
        /// `won`.
        Won => "won",
        /// `lost`.
        Lost => "lost",
        /// `void`: cancelled, stake returned.
        Void => "void",
        /// `cashout`: settled early.
        Cashout => "cashout",
    }
}

string_enum! {
    /// The kind of an incident (`incident-data`).
    pub enum IncidentType {
        /// `goal`.
        Goal => "goal",
        /// `card`.
        Card => "card",
        /// `corner`.
        Corner => "corner",
    }
}

string_enum! {
    /// Which side an incident concerns.
    pub enum Team {
        /// `home`.
        Home => "home",
        /// `away`.
        Away => "away",
    }
}

string_enum! {
    /// How odds are shown (`settings`).
    pub enum OddsFormat {
        /// `decimal`.
        Decimal => "decimal",
        /// `fractional`.
        Fractional => "fractional",
        /// `american`.
        American => "american",
    }
}

payload_struct! {
    /// `status` schema, the payload of `publish-connected`: `{"status":"ok","userId":..,"sessionId":..}`.
    pub struct Status {
        required {
            /// `status`, `"ok"` on success.
            "status" => status: String,
        }
        optional {
            /// `userId`: the user the connection is logged in as.
            "userId" => user_id: Id,
            /// `sessionId`: this connection's session.
            "sessionId" => session_id: Id,
        }
    }
}

payload_struct! {
    /// Payload of `publish-logout`: `{"reason":".."}`. The server closes the connection after it.
    pub struct Logout {
        required {}
        optional {
            /// Why (login from another client).
            "reason" => reason: String,
        }
    }
}

payload_struct! {
    /// Payload of `subscribe-ping`: `{"ping":<unix ms>}`.
    pub struct Ping {
        required {
            /// The client's Unix time in milliseconds.
            "ping" => ping: u64,
        }
        optional {}
    }
}

payload_struct! {
    /// Payload of `publish-pong`: `{"pong":<unix ms>}` (the ping's value, echoed).
    pub struct Pong {
        required {
            /// The echoed Unix time in milliseconds.
            "pong" => pong: u64,
        }
        optional {}
    }
}

payload_struct! {
    /// Payload of `subscribe-settings` (sent) and `publish-settings` (the applied settings, echoed).
    pub struct Settings {
        required {}
        optional {
            /// `lang`: language code such as `en`.
            "lang" => lang: String,
            /// `oddsFormat`.
            "oddsFormat" => odds_format: OddsFormat,
            /// `gameIds`: the games to receive incidents, bets and stats for.
            "gameIds" => game_ids: Vec<Id>,
        }
    }
}

payload_struct! {
    /// One incident of `incident-data`.
    pub struct Incident {
        required {
            /// `id`.
            "id" => id: Id,
            /// `type`.
            "type" => kind: IncidentType,
        }
        optional {
            /// `minute` of play.
            "minute" => minute: u32,
            /// `team`.
            "team" => team: Team,
            /// `startsAt`, RFC 3339.
            "startsAt" => starts_at: String,
        }
    }
}

payload_struct! {
    /// `incident-data` schema, the payload of `publish-incident`.
    pub struct IncidentData {
        required {
            /// `gameId`.
            "gameId" => game_id: Id,
            /// `incidents`.
            "incidents" => incidents: Vec<Incident>,
        }
        optional {}
    }
}

payload_struct! {
    /// One bet of `bet-data-item`.
    pub struct Bet {
        required {
            /// `betId`.
            "betId" => bet_id: Id,
            /// `odds` (decimal).
            "odds" => odds: f64,
        }
        optional {
            /// `market`, such as `1x2`.
            "market" => market: String,
            /// `outcome`, such as `home`.
            "outcome" => outcome: String,
            /// `stake`.
            "stake" => stake: f64,
            /// `status`.
            "status" => status: BetStatus,
        }
    }
}

payload_struct! {
    /// `bet-data-item` schema, the payload of `publish-bet`: the bets of one game.
    pub struct BetData {
        required {
            /// `gameId`.
            "gameId" => game_id: Id,
            /// `bets`.
            "bets" => bets: Vec<Bet>,
        }
        optional {}
    }
}

payload_struct! {
    /// One result of `bets-result-data`.
    pub struct BetResult {
        required {
            /// `betId`.
            "betId" => bet_id: Id,
            /// `status`.
            "status" => status: BetStatus,
        }
        optional {
            /// `payout`.
            "payout" => payout: f64,
        }
    }
}

payload_struct! {
    /// `bets-result-data` schema, the payload of `publish-bets-result`.
    pub struct BetsResultData {
        required {
            /// `results`.
            "results" => results: Vec<BetResult>,
        }
        optional {}
    }
}

payload_struct! {
    /// Payload of `publish-balance`.
    pub struct Balance {
        required {
            /// `balance`.
            "balance" => balance: f64,
        }
        optional {
            /// `currency`, ISO 4217.
            "currency" => currency: String,
        }
    }
}

payload_struct! {
    /// `stats-data` schema, the payload of `publish-stats`.
    pub struct StatsData {
        required {
            /// `gameId`.
            "gameId" => game_id: Id,
            /// `stats`: named numbers.
            "stats" => stats: BTreeMap<String, f64>,
        }
        optional {}
    }
}

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

/// Why a message could not be encoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// Serialization failed.
    #[error("cannot encode payload: {0}")]
    Json(#[from] serde_json::Error),
}

fn typed<'a, T: Deserialize<'a>>(event: &str, data: &'a RawValue) -> Result<T, DecodeError> {
    serde_json::from_str(data.get()).map_err(|source| DecodeError::Payload {
        event: event.to_owned(),
        source,
    })
}

fn raw_of(frame: Option<&Frame>, data: &RawValue) -> RawJson {
    match frame {
        Some(f) => RawJson::from_raw_in(f, data),
        None => RawJson::from_raw_in(&Frame::default(), data),
    }
}

fn encode_parts<E: Envelope + ?Sized, T: Serialize>(
    envelope: &E,
    event: &str,
    data: &T,
) -> Result<String, EncodeError> {
    // A small payload is serialized into a stack buffer, so the frame is the only allocation; a larger one
    // (or one the buffer cannot hold) goes through a heap string.
    let mut stack = [0u8; 512];
    let mut cursor = std::io::Cursor::new(&mut stack[..]);
    let written = serde_json::to_writer(&mut cursor, data).map(|()| cursor.position() as usize);
    let heap;
    let payload = match written {
        Ok(n) => match stack.get(..n).map(std::str::from_utf8) {
            Some(Ok(text)) => text,
            _ => {
                heap = serde_json::to_string(data)?;
                &heap
            }
        },
        Err(e) if e.is_io() => {
            heap = serde_json::to_string(data)?;
            &heap
        }
        Err(e) => return Err(e.into()),
    };
    let mut out = String::new();
    envelope.join(event, payload, &mut out);
    Ok(out)
}

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
        /// The payload.
        data: RawJson,
    },
}

impl ServerMessage {
    /// Decodes a frame in the default envelope.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        Self::decode_with(&NestEnvelope, text)
    }

    /// Decodes a frame in `envelope`.
    pub fn decode_with<E: Envelope + ?Sized>(envelope: &E, text: &str) -> Result<Self, DecodeError> {
        let m = envelope.split(text)?;
        Self::from_parts(&m, None)
    }

    /// Phase 2: the typed message of a split frame. `frame`, when given, is the frame `raw` was split from,
    /// so the raw payload of an unknown channel shares its buffer.
    pub fn from_parts(raw: &RawMessage<'_>, frame: Option<&Frame>) -> Result<Self, DecodeError> {
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
                data: raw_of(frame, data),
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

    /// Encodes in the default envelope.
    pub fn encode(&self) -> Result<String, EncodeError> {
        self.encode_with(&NestEnvelope)
    }

    /// Encodes in `envelope`.
    pub fn encode_with<E: Envelope + ?Sized>(&self, envelope: &E) -> Result<String, EncodeError> {
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
            ServerMessage::Other { data, .. } => {
                let mut out = String::new();
                envelope.join(event, data.as_str(), &mut out);
                Ok(out)
            }
        }
    }
}

/// A message the client sends (the document's `subscribe-*` messages).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientMessage {
    /// `subscribe-ping` on `ping-pong`.
    Ping(Ping),
    /// `subscribe-settings` on `settings`.
    Settings(Settings),
    /// A channel this model does not know, kept raw.
    Other {
        /// The channel name.
        event: String,
        /// The payload.
        data: RawJson,
    },
}

impl ClientMessage {
    /// Decodes a frame in the default envelope.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        Self::decode_with(&NestEnvelope, text)
    }

    /// Decodes a frame in `envelope`.
    pub fn decode_with<E: Envelope + ?Sized>(envelope: &E, text: &str) -> Result<Self, DecodeError> {
        let m = envelope.split(text)?;
        Self::from_parts(&m, None)
    }

    /// Phase 2: the typed message of a split frame (see [`ServerMessage::from_parts`]).
    pub fn from_parts(raw: &RawMessage<'_>, frame: Option<&Frame>) -> Result<Self, DecodeError> {
        let (event, data) = (raw.event.as_ref(), raw.data);
        Ok(match event {
            channel::PING_PONG => ClientMessage::Ping(typed(event, data)?),
            channel::SETTINGS => ClientMessage::Settings(typed(event, data)?),
            other => ClientMessage::Other {
                event: other.to_owned(),
                data: raw_of(frame, data),
            },
        })
    }

    /// The channel name.
    pub fn event(&self) -> &str {
        match self {
            ClientMessage::Ping(_) => channel::PING_PONG,
            ClientMessage::Settings(_) => channel::SETTINGS,
            ClientMessage::Other { event, .. } => event,
        }
    }

    /// The AsyncAPI message name (`subscribe-ping`, `subscribe-settings`); `None` for `Other`.
    pub fn message_name(&self) -> Option<&'static str> {
        match self {
            ClientMessage::Ping(_) => Some("subscribe-ping"),
            ClientMessage::Settings(_) => Some("subscribe-settings"),
            ClientMessage::Other { .. } => None,
        }
    }

    /// Encodes in the default envelope.
    pub fn encode(&self) -> Result<String, EncodeError> {
        self.encode_with(&NestEnvelope)
    }

    /// Encodes in `envelope`.
    pub fn encode_with<E: Envelope + ?Sized>(&self, envelope: &E) -> Result<String, EncodeError> {
        let event = self.event();
        match self {
            ClientMessage::Ping(d) => encode_parts(envelope, event, d),
            ClientMessage::Settings(d) => encode_parts(envelope, event, d),
            ClientMessage::Other { data, .. } => {
                let mut out = String::new();
                envelope.join(event, data.as_str(), &mut out);
                Ok(out)
            }
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_their_form() {
        let s: Id = serde_json::from_str("\"g1\"").unwrap();
        let n: Id = serde_json::from_str("42").unwrap();
        assert_eq!((s.clone(), n.clone()), (Id::from("g1"), Id::Int(42)));
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"g1\"");
        assert_eq!(serde_json::to_string(&n).unwrap(), "42");
        assert!(serde_json::from_str::<Id>("1.5").is_err());
        assert!(serde_json::from_str::<Id>("18446744073709551615").is_err());
    }

    #[test]
    fn unknown_enum_values_and_fields_are_kept() {
        let r: BetResult = serde_json::from_str(r#"{"betId":1,"status":"half-won","x":{"y":[1]}}"#).unwrap();
        assert_eq!(r.status, BetStatus::Other("half-won".into()));
        assert_eq!(r.extra["x"]["y"][0], 1);
        let back = serde_json::to_string(&r).unwrap();
        assert_eq!(back, r#"{"betId":1,"status":"half-won","x":{"y":[1]}}"#);
    }

    #[test]
    fn missing_required_field_is_an_error() {
        let e = ServerMessage::decode(r#"{"event":"bet","data":{"gameId":1}}"#).unwrap_err();
        assert!(e.to_string().contains("missing field `bets`"), "{e}");
        let e = ServerMessage::decode(r#"{"event":"balance","data":"12"}"#).unwrap_err();
        assert!(
            matches!(e, DecodeError::Payload { ref event, .. } if event == "balance"),
            "{e}"
        );
    }

    #[test]
    fn unknown_channel_is_kept_raw() {
        let m = ServerMessage::decode(r#"{"event":"jackpot","data":{"amount":5}}"#).unwrap();
        assert_eq!(
            m,
            ServerMessage::Other {
                event: "jackpot".into(),
                data: RawJson::from_json_str(r#"{"amount":5}"#).unwrap()
            }
        );
        assert_eq!(m.encode().unwrap(), r#"{"event":"jackpot","data":{"amount":5}}"#);
        assert_eq!(m.message_name(), None);
    }

    #[test]
    fn null_for_optional_fields_is_absent() {
        let s: Settings = serde_json::from_str(r#"{"lang":null,"gameIds":[1,"b"]}"#).unwrap();
        assert_eq!(s.lang, None);
        assert_eq!(s.game_ids, Some(vec![Id::Int(1), Id::from("b")]));
    }
}
