//! Shared test helpers: the AsyncAPI document's validators, testdata frames, proptest strategies.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use feedwire_core::{Frame, RawJson};
use feedwire_igratech::codec::*;
use proptest::prelude::*;
use serde_json::{Value, json};

pub fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// The AsyncAPI document as JSON.
pub fn document() -> Value {
    let text = std::fs::read_to_string(testdata().join("asyncapi.yaml")).expect("asyncapi.yaml");
    serde_yaml::from_str(&text).expect("asyncapi.yaml is YAML")
}

/// Every `frames/*.json` file: (file name, text).
pub fn frames() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(testdata().join("frames"))
        .expect("frames dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).expect("frame"))
        })
        .collect();
    out.sort();
    out
}

pub fn frame(name: &str) -> String {
    std::fs::read_to_string(testdata().join("frames").join(name)).expect("frame")
}

/// One validator per message of the document's `components.messages`, each validating a whole frame
/// against the message's payload schema. `$ref`s to `#/components/...` resolve inside the schema because
/// the document's `components` are embedded in it.
pub struct Schemas {
    validators: HashMap<String, jsonschema::Validator>,
}

impl Schemas {
    pub fn load() -> Self {
        let doc = document();
        let components = doc["components"].clone();
        let names: Vec<String> = components["messages"]
            .as_object()
            .expect("components.messages")
            .keys()
            .cloned()
            .collect();
        let mut validators = HashMap::new();
        for name in names {
            let schema = json!({
                "$ref": format!("#/components/messages/{name}/payload"),
                "components": components.clone(),
            });
            let v = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft7)
                .should_validate_formats(true)
                .build(&schema)
                .unwrap_or_else(|e| panic!("schema of {name}: {e}"));
            validators.insert(name, v);
        }
        Schemas { validators }
    }

    /// One shared instance per test binary.
    pub fn load_cached() -> &'static Schemas {
        static CELL: std::sync::OnceLock<Schemas> = std::sync::OnceLock::new();
        CELL.get_or_init(Schemas::load)
    }

    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.validators.keys().map(String::as_str).collect();
        v.sort();
        v
    }

    /// Validates a frame's text against message `name`.
    pub fn check(&self, name: &str, frame: &str) -> Result<(), String> {
        let v = self
            .validators
            .get(name)
            .ok_or_else(|| format!("no message {name} in the document"))?;
        let instance: Value = serde_json::from_str(frame).map_err(|e| format!("not JSON: {e}"))?;
        let errors: Vec<String> = v
            .iter_errors(&instance)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("{name}: {frame}: {}", errors.join("; ")))
        }
    }

    /// Validates a server -> client frame against the message its channel names.
    pub fn check_server_frame(&self, frame: &str) -> Result<(), String> {
        let msg = ServerMessage::decode(&Frame::from(frame.to_owned())).map_err(|e| e.to_string())?;
        let name = msg.message_name().ok_or("unknown channel")?;
        self.check(name, frame)
    }

    /// Validates a client -> server frame against the message its channel names.
    pub fn check_client_frame(&self, frame: &str) -> Result<(), String> {
        let msg = ClientMessage::decode(&Frame::from(frame.to_owned())).map_err(|e| e.to_string())?;
        let name = msg.message_name().ok_or("unknown channel")?;
        self.check(name, frame)
    }
}

/// JSON equality where numbers compare by value (`5` equals `5.0`).
pub fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_json(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

// ---------- proptest strategies (values the schema allows) ----------

pub fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 _.-]{0,12}",
        "\\PC{0,6}",
        Just("quote\" back\\slash\nnewline".to_owned()),
    ]
}

pub fn arb_id() -> impl Strategy<Value = Id> {
    prop_oneof![any::<i64>().prop_map(Id::Int), arb_text().prop_map(Id::Str)]
}

/// Money, odds and stats: up to 4 decimals (serde_json without `float_roundtrip` reads longer mantissas
/// within one ulp, not always exactly).
pub fn arb_num() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-100_000_000_000i64..100_000_000_000).prop_map(|n| n as f64 / 100.0),
        (0i64..100_000_000).prop_map(|n| n as f64 / 10_000.0),
        (-1_000_000i64..1_000_000).prop_map(|n| n as f64),
    ]
}

pub fn arb_extra() -> impl Strategy<Value = Extra> {
    prop::collection::btree_map(
        "x_[a-z]{1,6}",
        prop_oneof![
            any::<bool>().prop_map(Value::from),
            any::<i32>().prop_map(Value::from),
            arb_text().prop_map(Value::from),
            Just(json!({"nested": [1, null, "x"]})),
        ],
        0..3,
    )
    .prop_map(|m| m.into_iter().collect())
}

pub fn arb_bet_status() -> impl Strategy<Value = BetStatus> {
    prop_oneof![
        Just(BetStatus::Open),
        Just(BetStatus::Won),
        Just(BetStatus::Lost),
        Just(BetStatus::Void),
        Just(BetStatus::Cashout),
    ]
}

pub fn arb_rfc3339() -> impl Strategy<Value = String> {
    (
        2000u32..2100,
        1u32..13,
        1u32..29,
        0u32..24,
        0u32..60,
        0u32..60,
        prop::bool::ANY,
    )
        .prop_map(|(y, mo, d, h, mi, s, z)| {
            let tz = if z { "Z".to_owned() } else { "+01:00".to_owned() };
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{tz}")
        })
}

pub fn arb_settings() -> impl Strategy<Value = Settings> {
    (
        prop::option::of(arb_text()),
        prop::option::of(prop_oneof![
            Just(OddsFormat::Decimal),
            Just(OddsFormat::Fractional),
            Just(OddsFormat::American)
        ]),
        prop::option::of(prop::collection::vec(arb_id(), 0..4)),
        arb_extra(),
    )
        .prop_map(|(lang, odds_format, game_ids, extra)| Settings {
            lang,
            odds_format,
            game_ids,
            extra,
        })
}

pub fn arb_incident() -> impl Strategy<Value = Incident> {
    (
        arb_id(),
        prop_oneof![
            Just(IncidentType::Goal),
            Just(IncidentType::Card),
            Just(IncidentType::Corner),
            "[a-z]{1,8}".prop_map(|s| IncidentType::from(s.as_str())),
        ],
        prop::option::of(0u32..130),
        prop::option::of(prop_oneof![Just(Team::Home), Just(Team::Away)]),
        prop::option::of(arb_rfc3339()),
        arb_extra(),
    )
        .prop_map(|(id, kind, minute, team, starts_at, extra)| Incident {
            id,
            kind,
            minute,
            team,
            starts_at,
            extra,
        })
}

pub fn arb_bet() -> impl Strategy<Value = Bet> {
    (
        arb_id(),
        arb_num(),
        prop::option::of(arb_text()),
        prop::option::of(arb_text()),
        prop::option::of(arb_num()),
        prop::option::of(arb_bet_status()),
        arb_extra(),
    )
        .prop_map(|(bet_id, odds, market, outcome, stake, status, extra)| Bet {
            bet_id,
            odds,
            market,
            outcome,
            stake,
            status,
            extra,
        })
}

pub fn arb_server_message() -> impl Strategy<Value = ServerMessage> {
    prop_oneof![
        (
            arb_text(),
            prop::option::of(arb_id()),
            prop::option::of(arb_id()),
            arb_extra()
        )
            .prop_map(
                |(status, user_id, session_id, extra)| ServerMessage::Connected(Status {
                    status,
                    user_id,
                    session_id,
                    extra
                })
            ),
        (prop::option::of(arb_text()), arb_extra())
            .prop_map(|(reason, extra)| ServerMessage::Logout(Logout { reason, extra })),
        (any::<u64>(), arb_extra()).prop_map(|(pong, extra)| ServerMessage::Pong(Pong { pong, extra })),
        arb_settings().prop_map(ServerMessage::Settings),
        (arb_id(), prop::collection::vec(arb_incident(), 0..4), arb_extra()).prop_map(
            |(game_id, incidents, extra)| ServerMessage::Incident(IncidentData {
                game_id,
                incidents,
                extra
            })
        ),
        (arb_id(), prop::collection::vec(arb_bet(), 0..4), arb_extra())
            .prop_map(|(game_id, bets, extra)| { ServerMessage::Bet(BetData { game_id, bets, extra }) }),
        (
            prop::collection::vec(
                (
                    arb_id(),
                    arb_bet_status(),
                    prop::option::of(arb_num()),
                    arb_extra()
                )
                    .prop_map(|(bet_id, status, payout, extra)| BetResult {
                        bet_id,
                        status,
                        payout,
                        extra
                    }),
                0..4
            ),
            arb_extra()
        )
            .prop_map(|(results, extra)| ServerMessage::BetsResult(BetsResultData { results, extra })),
        (arb_num(), prop::option::of("[A-Z]{3}"), arb_extra()).prop_map(|(balance, currency, extra)| {
            ServerMessage::Balance(Balance {
                balance,
                currency,
                extra,
            })
        }),
        (
            arb_id(),
            prop::collection::btree_map(arb_text(), arb_num(), 0..5),
            arb_extra()
        )
            .prop_map(|(game_id, stats, extra): (Id, BTreeMap<String, f64>, Extra)| {
                ServerMessage::Stats(StatsData {
                    game_id,
                    stats,
                    extra,
                })
            }),
    ]
}

pub fn arb_client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        (any::<u64>(), arb_extra()).prop_map(|(ping, extra)| ClientMessage::Ping(Ping { ping, extra })),
        arb_settings().prop_map(ClientMessage::Settings),
    ]
}

/// An unknown channel with some JSON payload.
pub fn arb_other_server_message() -> impl Strategy<Value = ServerMessage> {
    ("[a-z]{1,10}-x", arb_extra()).prop_map(|(event, extra)| ServerMessage::Other {
        event,
        data: RawJson::from_value(&extra).unwrap(),
    })
}
