//! `feedwire replay` with pusher-js 8 (issue 21): the soketi recording of `tests/record.rs`
//! (`crates/feedwire-pusher/testdata/transcripts/soketi_restart.jsonl`: subscribe, two events, soketi's
//! restart, reconnect and resubscription, two more events) is served by the `feedwire` binary, and pusher-js
//! (`peers/clients/pusher-replay-client.js`) connects to it: it must receive the recorded events, see the
//! recorded close, reconnect, and meet the second recorded connection, which continues the session; the
//! replay must end with every recorded connection served and no mismatch (pusher-js sends the frames
//! feedwire's client sent when it was recorded).
//!
//! The `feedwire` binary is built as in `js_clients.rs` (or taken from `FEEDWIRE_BIN`).
//!
//! Run: `cargo test -p feedwire-interop --test replay -- --ignored` (needs node and the clients from
//! `scripts/install-peers.sh`).
#![allow(clippy::disallowed_methods)] // real time and real processes are the point here

use std::path::Path;
use std::time::Duration;

use feedwire_interop::{Peer, feedwire_bin, free_port, json_lines, peers_dir};

/// Both sides' output, for failure messages.
fn both(replay: &Peer, client: &Peer) -> String {
    format!(
        "--- feedwire replay:\n{}\n--- pusher-js:\n{}",
        replay.output(),
        client.output()
    )
}

/// The JSON objects among a process's output lines.
#[test]
#[ignore = "needs node and pusher-js: crates/feedwire-interop/scripts/install-peers.sh (CI runs it)"]
fn pusher_js_meets_the_recorded_soketi_restart() {
    let transcript = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../feedwire-pusher/testdata/transcripts/soketi_restart.jsonl");
    let port = free_port().unwrap();
    let port_s = port.to_string();
    let mut replay = Peer::start(
        "feedwire-replay-for-pusher-js",
        &std::env::temp_dir(),
        feedwire_bin().to_str().unwrap(),
        &[
            "replay",
            transcript.to_str().unwrap(),
            "--speed",
            "4",
            "--port",
            &port_s,
        ],
        &[("NO_COLOR", "1")],
    )
    .and_then(|p| p.listening(port, Duration::from_secs(10), "feedwire replay"))
    .unwrap_or_else(|e| panic!("{e}"));
    let mut client = Peer::start(
        "pusher-js-replay",
        &peers_dir().join("clients"),
        "node",
        &["pusher-replay-client.js", &port_s, "inventory_changes", "4"],
        &[("TIMEOUT_MS", "20000")],
    )
    .unwrap();
    let code = client.wait_exit(Duration::from_secs(30));
    assert_eq!(code.ok().flatten(), Some(0), "{}", both(&replay, &client));
    let replay_code = replay.wait_exit(Duration::from_secs(10));
    assert_eq!(replay_code.ok().flatten(), Some(0), "{}", both(&replay, &client));

    // pusher-js's view: the recorded socket ids, the events of both connections, the reconnect in between
    let steps = json_lines(&client.output());
    let shown: Vec<String> = steps
        .iter()
        .filter_map(|s| match s["step"].as_str()? {
            "connected" => Some(format!("connected {}", s["socket_id"].as_str()?)),
            "subscribed" => Some("subscribed".to_owned()),
            "event" => Some(format!("{} {}", s["event"].as_str()?, s["data"])),
            "state" if s["to"] == "connecting" && s["from"] == "connected" => Some("reconnecting".to_owned()),
            "OK" => Some("OK".to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(
        shown,
        [
            "connected 2978118952.9920074328",
            "subscribed",
            r#"listed {"asset_id":"1","price":12.5}"#,
            r#"sold {"asset_id":"1"}"#,
            "reconnecting",
            "connected 8194091738.6874433555",
            "subscribed",
            r#"listed {"asset_id":"2","price":7}"#,
            r#"sold {"asset_id":"2"}"#,
            "OK",
        ],
        "{}",
        both(&replay, &client)
    );

    // the replay's view: two recorded connections served, the first closed with the recorded 4200, no mismatch
    let lines = json_lines(&replay.output());
    let kinds: Vec<&str> = lines.iter().filter_map(|l| l["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        ["listening", "opened", "closed", "opened", "closed", "finished"],
        "{}",
        both(&replay, &client)
    );
    assert_eq!(lines[2]["code"], 4200, "{}", both(&replay, &client));
    assert!(
        replay.output().contains("transcript replayed with 0 mismatches"),
        "{}",
        both(&replay, &client)
    );
}
