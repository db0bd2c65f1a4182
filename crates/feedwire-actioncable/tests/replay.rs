//! Snapshot tests of recorded sessions (issue 21): each transcript under `testdata/transcripts/` was recorded
//! from a real server (`crates/feedwire-interop/tests/record.rs`, `FEEDWIRE_RECORD=1`) and is replayed here
//! into the client under the virtual clock. The client must send what the recorded client sent (no
//! mismatch), and its events, with their virtual times, are snapshotted.
//!
//! - `rails_restart.jsonl`: Rails ActionCable 6.1 under puma, metasmoke's `ApiChannel` with its key inside
//!   the identifier (recorded as `[redacted:1]`), two broadcasts, puma killed (a drop without a close frame)
//!   and started again on the same port, the reconnect and resubscription, two more broadcasts.

use std::time::Instant;

use feedwire_actioncable::client::{Client, Config, Event};
use feedwire_actioncable::identifier::{ApiChannel, ModelEvent};
use feedwire_core::UnixAnchor;
use feedwire_core::testing::replay::replay_client;
use feedwire_core::transcript::Transcript;

fn transcript(name: &str) -> Transcript {
    let path = format!("{}/testdata/transcripts/{name}", env!("CARGO_MANIFEST_DIR"));
    Transcript::parse(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The variant name of an event.
fn kind(e: &Event) -> String {
    let d = format!("{e:?}");
    d.split([' ', '{', '(']).next().unwrap_or("").to_owned()
}

fn client(key: &str, now: Instant) -> Client {
    let config = Config::new("ws://127.0.0.1:28080/cable?uid=recorder")
        .with_unix_anchor(UnixAnchor::new(now, 1_764_300_000_000))
        .with_seed(21);
    let mut c = Client::new(config);
    let api = ApiChannel::new(key)
        .with_events("posts", &[ModelEvent::Create])
        .unwrap()
        .identifier()
        .unwrap();
    c.subscribe(now, api).unwrap();
    c
}

#[test]
fn rails_restart_replays_with_the_same_frames_and_events() {
    #[allow(clippy::disallowed_methods)] // the virtual clock's origin
    let start = Instant::now();
    let r = replay_client(
        &transcript("rails_restart.jsonl"),
        client("good-key", start),
        start,
    );
    assert!(r.mismatches.is_empty(), "{:?}", r.mismatches);

    let mut kinds: Vec<String> = r.events.iter().map(|e| kind(&e.event)).collect();
    kinds.dedup();
    assert_eq!(
        kinds,
        [
            "Connected",
            "Confirmed",
            "Message",
            "Disconnected",
            "Reconnecting",
            "Connected",
            "Confirmed",
            "Recovered",
            "Message"
        ]
    );
    let messages: Vec<String> = r
        .events
        .iter()
        .filter_map(|e| match &e.event {
            Event::Message { message, .. } => Some(message.as_str().to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(messages.len(), 4);
    for (i, m) in messages.iter().enumerate() {
        assert!(m.contains(&format!(r#""object":{{"id":{}}}"#, i + 1)), "{m}");
    }
    let shown: Vec<String> = r
        .events
        .iter()
        .map(|e| format!("{:>6} ms  {:?}", e.at.as_millis(), e.event))
        .collect();
    insta::assert_snapshot!(shown.join("\n"));
}

/// The recorded key is a placeholder: a client with another key replays the same session, and the frames
/// it receives carry its own key back.
#[test]
fn a_client_with_another_key_replays_the_same_session() {
    #[allow(clippy::disallowed_methods)] // the virtual clock's origin
    let start = Instant::now();
    let r = replay_client(
        &transcript("rails_restart.jsonl"),
        client("my-own-key", start),
        start,
    );
    assert!(r.mismatches.is_empty(), "{:?}", r.mismatches);
    let messages = r
        .events
        .iter()
        .filter(|e| matches!(&e.event, Event::Message { identifier, .. } if identifier.as_str().contains("my-own-key")))
        .count();
    assert_eq!(messages, 4);
}
