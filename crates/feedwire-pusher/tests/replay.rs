//! Snapshot tests of recorded sessions (issue 21): each transcript under `testdata/transcripts/` was recorded
//! from a real server (`crates/feedwire-interop/tests/record.rs`, `FEEDWIRE_RECORD=1`) and is replayed here
//! into the client under the virtual clock. The client must send what the recorded client sent (no
//! mismatch), and its events, with their virtual times, are snapshotted.
//!
//! - `soketi_restart.jsonl`: soketi 1.6, one public channel, two events through the HTTP API, soketi stopped
//!   (it says `pusher:error` 4200 and closes 4200) and started again on the same port, the reconnect and
//!   resubscription, two more events.

use std::time::Instant;

use feedwire_core::testing::replay::replay_client;
use feedwire_core::transcript::Transcript;
use feedwire_pusher::client::{Client, Config, Event};

fn transcript(name: &str) -> Transcript {
    let path = format!("{}/testdata/transcripts/{name}", env!("CARGO_MANIFEST_DIR"));
    Transcript::parse(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The variant name of an event.
fn kind(e: &Event) -> String {
    let d = format!("{e:?}");
    d.split([' ', '{', '(']).next().unwrap_or("").to_owned()
}

#[test]
fn soketi_restart_replays_with_the_same_frames_and_events() {
    let t = transcript("soketi_restart.jsonl");
    // the client as recorded (the port does not matter to a replay: it dials whatever the recording serves)
    let config = Config::new("app-key")
        .with_host("127.0.0.1")
        .with_port(6001)
        .with_tls(false)
        .with_seed(21);
    let mut client = Client::new(config);
    client.subscribe("inventory_changes").unwrap();
    #[allow(clippy::disallowed_methods)] // the virtual clock's origin
    let start = Instant::now();
    let r = replay_client(&t, client, start);
    assert!(r.mismatches.is_empty(), "{:?}", r.mismatches);

    let mut kinds: Vec<String> = r.events.iter().map(|e| kind(&e.event)).collect();
    kinds.dedup();
    assert_eq!(
        kinds,
        [
            "Connected",
            "Subscribed",
            "Message",
            "ServerError",
            "Disconnected",
            "Reconnecting",
            "Connected",
            "Resubscribed",
            "Message"
        ]
    );
    let messages: Vec<(String, String)> = r
        .events
        .iter()
        .filter_map(|e| match &e.event {
            Event::Message { event, data, .. } => Some((
                event.to_string(),
                data.as_ref().map(|d| d.text().into_owned()).unwrap_or_default(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        messages,
        [
            ("listed".to_owned(), r#"{"asset_id":"1","price":12.5}"#.to_owned()),
            ("sold".to_owned(), r#"{"asset_id":"1"}"#.to_owned()),
            ("listed".to_owned(), r#"{"asset_id":"2","price":7}"#.to_owned()),
            ("sold".to_owned(), r#"{"asset_id":"2"}"#.to_owned()),
        ]
    );
    let shown: Vec<String> = r
        .events
        .iter()
        .map(|e| format!("{:>6} ms  {:?}", e.at.as_millis(), e.event))
        .collect();
    insta::assert_snapshot!(shown.join("\n"));
}
