//! The payload schemas: `status`, `incident-data`, `bet-data-item`, `bets-result-data`, `stats-data` and the
//! payloads of the other messages, as this project reconstructs them (every object keeps unknown fields in
//! `extra`, every string enum keeps unknown values in `Other`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// Fields a payload object carries that this model does not know, kept as received.
pub type Extra = serde_json::Map<String, serde_json::Value>;

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
    fn null_for_optional_fields_is_absent() {
        let s: Settings = serde_json::from_str(r#"{"lang":null,"gameIds":[1,"b"]}"#).unwrap();
        assert_eq!(s.lang, None);
        assert_eq!(s.game_ids, Some(vec![Id::Int(1), Id::from("b")]));
    }
}
