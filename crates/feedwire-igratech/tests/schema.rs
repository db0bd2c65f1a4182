//! Schema conformance: every example in `asyncapi.yaml`, every testdata frame and every frame the encoder,
//! the client and the hub produce validate against the document's JSON Schemas.
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin

mod common;

use std::time::{Duration, Instant};

use common::*;
use feedwire_core::testing::Pair;
use feedwire_core::{Frame, UnixAnchor};
use feedwire_igratech::client::{Client, Config};
use feedwire_igratech::codec::*;
use feedwire_igratech::server::Hub;
use proptest::prelude::*;
use serde_json::Value;

#[test]
fn the_document_lists_the_seed_operations() {
    let doc = document();
    assert_eq!(doc["asyncapi"], "2.6.0");
    assert_eq!(
        doc["servers"]["public"]["url"],
        "ws.igratech.webspark.dev/wspublic"
    );
    assert_eq!(doc["servers"]["public"]["protocol"], "ws");
    // (channel, operation, message) exactly as the rendered page lists them
    let expected = [
        ("connected", "publish", "publish-connected"),
        ("logout", "publish", "publish-logout"),
        ("ping-pong", "publish", "publish-pong"),
        ("ping-pong", "subscribe", "subscribe-ping"),
        ("settings", "publish", "publish-settings"),
        ("settings", "subscribe", "subscribe-settings"),
        ("incident", "publish", "publish-incident"),
        ("bet", "publish", "publish-bet"),
        ("bets-result", "publish", "publish-bets-result"),
        ("balance", "publish", "publish-balance"),
        ("stats", "publish", "publish-stats"),
    ];
    let mut found = Vec::new();
    for (ch, item) in doc["channels"].as_object().unwrap() {
        for op in ["publish", "subscribe"] {
            if let Some(o) = item.get(op) {
                let r = o["message"]["$ref"].as_str().unwrap();
                let name = r.strip_prefix("#/components/messages/").unwrap();
                assert_eq!(doc["components"]["messages"][name]["name"], name);
                found.push((ch.clone(), op.to_owned(), name.to_owned()));
            }
        }
    }
    let mut want: Vec<_> = expected
        .iter()
        .map(|(c, o, m)| (c.to_string(), o.to_string(), m.to_string()))
        .collect();
    want.sort();
    found.sort();
    assert_eq!(found, want);
    assert_eq!(doc["channels"].as_object().unwrap().len(), 9);
    assert_eq!(channel::ALL.len(), 9);
    for ch in channel::ALL {
        assert!(doc["channels"].get(ch).is_some(), "{ch}");
    }
    for s in [
        "status",
        "incident-data",
        "bet-data-item",
        "bets-result-data",
        "stats-data",
        "balance",
        "settings",
        "ping",
        "pong",
        "envelope",
    ] {
        assert!(doc["components"]["schemas"].get(s).is_some(), "schema {s}");
    }
}

#[test]
fn every_example_validates_and_decodes() {
    let doc = document();
    let schemas = Schemas::load();
    assert_eq!(schemas.names().len(), 11);
    let mut count = 0;
    for (name, msg) in doc["components"]["messages"].as_object().unwrap() {
        let examples = msg["examples"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no examples"));
        assert!(!examples.is_empty(), "{name}");
        for ex in examples {
            let text = serde_json::to_string(&ex["payload"]).unwrap();
            schemas.check(name, &text).unwrap();
            // the codec agrees: it decodes to this message and re-encodes to an equal, valid frame
            let reencoded = if name.starts_with("publish-") {
                let m = ServerMessage::decode(&Frame::from(text.clone()))
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(m.message_name(), Some(name.as_str()));
                m.encode()
            } else {
                let m = ClientMessage::decode(&Frame::from(text.clone()))
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(m.message_name(), Some(name.as_str()));
                m.encode()
            };
            schemas.check(name, &reencoded).unwrap();
            let a: Value = serde_json::from_str(&text).unwrap();
            let b: Value = serde_json::from_str(&reencoded).unwrap();
            assert!(same_json(&a, &b), "{name}: {a} vs {b}");
            count += 1;
        }
    }
    assert!(count >= 12, "{count}");
}

#[test]
fn the_schemas_reject_what_they_should() {
    let s = Schemas::load();
    for (message, frame, why) in [
        (
            "publish-bet",
            r#"{"event":"bet","data":{"gameId":"g","bets":[{"betId":1,"odds":"1.5"}]}}"#,
            "odds are a number",
        ),
        (
            "publish-bet",
            r#"{"event":"stats","data":{"gameId":"g","bets":[]}}"#,
            "the event names the message",
        ),
        (
            "publish-bet",
            r#"{"data":{"gameId":"g","bets":[]}}"#,
            "the event is required",
        ),
        (
            "subscribe-ping",
            r#"{"event":"ping-pong","data":{"ping":-1}}"#,
            "a ping is not negative",
        ),
        (
            "publish-incident",
            r#"{"event":"incident","data":{"gameId":1,"incidents":[{"id":1,"type":"goal","startsAt":"yesterday"}]}}"#,
            "date-time format is checked",
        ),
        (
            "publish-stats",
            r#"{"event":"stats","data":{"gameId":1,"stats":{"a":"x"}}}"#,
            "stats are numbers",
        ),
        (
            "publish-connected",
            r#"{"event":"connected","data":{"status":"ok","userId":1.5}}"#,
            "a user id is an integer",
        ),
    ] {
        assert!(s.check(message, frame).is_err(), "{message} {frame}: {why}");
    }
    // unknown fields are allowed everywhere
    s.check(
        "publish-balance",
        r#"{"event":"balance","data":{"balance":1,"bonus":2},"seq":1}"#,
    )
    .unwrap();
}

#[test]
fn every_testdata_frame_validates() {
    let s = Schemas::load();
    let mut checked = 0;
    for (name, text) in frames() {
        if name.starts_with("nonconforming_") {
            assert!(s.check_server_frame(&text).is_err(), "{name} should not conform");
        } else if name.starts_with("to_server_") {
            s.check_client_frame(&text).unwrap();
            checked += 1;
        } else {
            s.check_server_frame(&text).unwrap();
            checked += 1;
        }
    }
    assert_eq!(checked, 13);
}

#[test]
fn frames_from_a_client_and_hub_session_validate() {
    let start = Instant::now();
    let settings = Settings {
        lang: Some("de".into()),
        odds_format: Some(OddsFormat::Fractional),
        game_ids: Some(vec![Id::Int(1), Id::from("g-2")]),
        extra: Default::default(),
    };
    let config = Config::default()
        .with_token("alice")
        .with_settings(settings)
        .with_unix_anchor(UnixAnchor::new(start, 1_764_000_000_000));
    let mut client = Client::new(config);
    client.connect(start);
    let mut pair = Pair::new(client, Hub::default(), start);
    pair.run_until_quiet();
    pair.advance(Duration::from_secs(60)); // pings and pongs
    let bet: ServerMessage = ServerMessage::decode(&Frame::from(frame("bet.json"))).unwrap();
    let mut bet = bet;
    if let ServerMessage::Bet(b) = &mut bet {
        b.game_id = Id::Int(1);
    }
    pair.hub_mut().publish(&bet).unwrap();
    pair.hub_mut()
        .send_to_user(
            "alice",
            &ServerMessage::decode(&Frame::from(frame("balance.json"))).unwrap(),
        )
        .unwrap();
    pair.run_until_quiet();
    assert!(pair.hub_mut().logout_user("alice", "admin").unwrap());
    pair.run_until_quiet();
    let s = Schemas::load();
    let to_hub = pair.frames_to_hub();
    let to_client = pair.frames_to_client();
    assert!(
        to_hub.len() >= 3 && to_client.len() >= 6,
        "{to_hub:?} {to_client:?}"
    );
    for f in to_hub {
        s.check_client_frame(f).unwrap();
    }
    for f in to_client {
        s.check_server_frame(f).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_encoded_server_message_validates(msg in arb_server_message()) {
        let s = Schemas::load_cached();
        let text = msg.encode();
        prop_assert!(s.check(msg.message_name().unwrap(), &text).is_ok(), "{:?}", s.check(msg.message_name().unwrap(), &text));
    }

    #[test]
    fn every_encoded_client_message_validates(msg in arb_client_message()) {
        let s = Schemas::load_cached();
        let text = msg.encode();
        prop_assert!(s.check(msg.message_name().unwrap(), &text).is_ok(), "{:?}", s.check(msg.message_name().unwrap(), &text));
    }
}
