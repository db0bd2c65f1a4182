//! Snapshot test of a recorded session (issue 21): `testdata/transcripts/demo_restart.jsonl` was recorded from
//! the hub `feedwire demo` embeds (`crates/feedwire-interop/tests/record.rs`, `FEEDWIRE_RECORD=1`; the token,
//! which that hub echoes as the user id, recorded as `[redacted:1]`): settings, a bet, the server shut down
//! (1001) and started again on the same port, the reconnect with the settings re-sent, another bet. It is
//! replayed into the client under the virtual clock: the client must send what the recorded client sent, and
//! its events, with their virtual times, are snapshotted.

use std::time::Instant;

use feedwire_core::UnixAnchor;
use feedwire_core::testing::replay::replay_client;
use feedwire_core::transcript::Transcript;
use feedwire_igratech::client::{Client, Config, Event};

#[test]
fn demo_restart_replays_with_the_same_frames_and_events() {
    let path = format!(
        "{}/testdata/transcripts/demo_restart.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let t = Transcript::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
    #[allow(clippy::disallowed_methods)] // the virtual clock's origin
    let start = Instant::now();
    let settings = serde_json::from_str(r#"{"lang":"en","gameIds":[7]}"#).unwrap();
    let client = Client::new(
        Config::default()
            .with_url("ws://127.0.0.1:9100/wspublic")
            .with_token("another-token")
            .with_settings(settings)
            .with_seed(21)
            .with_unix_anchor(UnixAnchor::new(start, 1_764_300_000_000)),
    );
    let r = replay_client(&t, client, start);
    assert!(r.mismatches.is_empty(), "{:?}", r.mismatches);
    let mut kinds: Vec<String> = r
        .events
        .iter()
        .map(|e| {
            let d = format!("{:?}", e.event);
            d.split([' ', '{', '(']).next().unwrap_or("").to_owned()
        })
        .collect();
    kinds.dedup();
    assert_eq!(
        kinds,
        [
            "Connected",
            "Settings",
            "Bet",
            "Disconnected",
            "Reconnecting",
            "Gap",
            "Connected",
            "Settings",
            "Bet"
        ]
    );
    let bets = r
        .events
        .iter()
        .filter(|e| matches!(e.event, Event::Bet(_)))
        .count();
    assert_eq!(bets, 2);
    let shown: Vec<String> = r
        .events
        .iter()
        .map(|e| match &e.event {
            // its `Instant`s differ from run to run; the Unix times derive from the fixed anchor
            Event::Gap {
                from_unix_ms,
                to_unix_ms,
                ..
            } => format!(
                "{:>6} ms  Gap {{ from_unix_ms: {from_unix_ms}, to_unix_ms: {to_unix_ms} }}",
                e.at.as_millis()
            ),
            ev => format!("{:>6} ms  {ev:?}", e.at.as_millis()),
        })
        .collect();
    insta::assert_snapshot!(shown.join("\n"));
}
