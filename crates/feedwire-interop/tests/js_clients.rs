//! The JavaScript clients people actually use, against the `feedwire` binary's servers:
//!
//! - pusher-js 8.6 and pusher-client 1.1.0 (the BitSkins doc's client) <-> `feedwire serve pusher`: connect,
//!   subscribe public, private and presence channels (signed locally in the script), two presence members
//!   seeing each other join and leave, and events triggered through the official `pusher` server SDK 5.3
//!   against feedwire's HTTP API on the same port (single, multi-channel, socket-id exclusion, batch), plus
//!   the SDK's `GET` of the presence users and the channel list;
//! - @rails/actioncable 8.1 and @anycable/core 1.1 <-> `feedwire serve actioncable --echo`: subscribe, perform
//!   (echoed back), receive a broadcast written to feedwire's stdin, reject, duplicate subscribes tolerated,
//!   and no stale-connection reconnect by the client's monitor during a 20 s quiet period (the hub pings
//!   every 3 s).
//!
//! The client side of each scenario is a script in `peers/clients/` (`pusher-serve-client.js`,
//! `actioncable-serve-client.mjs`) that prints one JSON object per step; these tests start feedwire and the
//! script as [`Peer`]s (each in its own process group, stopped when the guard drops, also on failure), feed
//! feedwire's stdin when the script asks, bound every wait, and assert on both sides' output.
//!
//! # The `feedwire` binary
//!
//! A test cannot depend on another crate's binary (`CARGO_BIN_EXE_*` only exists for the crate's own bins), so
//! the first test that needs it runs `cargo build -p feedwire-cli --bin feedwire` (with `--release` when the
//! tests themselves were built in release) against this workspace, once per test process, and uses
//! `<target dir>/<profile>/feedwire`, the target dir found from this test executable's own path
//! (`<target>/<profile>/deps/js_clients-*`). The build is a no-op when the binary is up to date, and it makes
//! sure a stale binary is never tested. Set `FEEDWIRE_BIN=/path/to/feedwire` to test a given binary instead.
//!
//! Run: `cargo test -p feedwire-interop --test js_clients -- --ignored` (needs node and the clients from
//! `scripts/install-peers.sh`).
#![allow(clippy::disallowed_methods)] // real time and real processes are the point here
#![allow(clippy::print_stderr)] // the wall time of each scenario, for the report

use std::time::{Duration, Instant};

use feedwire_interop::{Peer, StdinFile, feedwire_bin, free_port, json_lines, peers_dir};
use serde_json::Value;

/// The JSON objects among a process's output lines (feedwire's event lines, a script's steps).
fn steps<'a>(lines: &'a [Value], step: &str) -> Vec<&'a Value> {
    lines.iter().filter(|v| v["step"] == step).collect()
}

fn kinds<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|v| v["kind"] == kind).collect()
}

/// Both sides' output, for failure messages.
fn transcript(server: &Peer, client: &Peer) -> String {
    format!(
        "--- feedwire:\n{}\n--- client:\n{}",
        server.output(),
        client.output()
    )
}

/// `feedwire serve pusher` on a free port; `name` keeps the peer's log file apart from other tests' (the log
/// is named after the peer and the test process).
fn start_feedwire_pusher(name: &str) -> (u16, Peer) {
    let port = free_port().unwrap();
    let addr = format!("127.0.0.1:{port}");
    let server = Peer::start(
        &format!("feedwire-serve-pusher-for-{name}"),
        &std::env::temp_dir(),
        feedwire_bin().to_str().unwrap(),
        &["serve", "pusher", "--addr", &addr],
        &[],
    )
    .and_then(|server| server.listening(port, Duration::from_secs(10), "feedwire serve pusher"))
    .unwrap_or_else(|e| panic!("{e}"));
    (port, server)
}

/// A pusher JS client library through the whole scenario of `pusher-serve-client.js`.
fn pusher_scenario(lib: &str) {
    feedwire_bin(); // built before the clock starts
    let start = Instant::now();
    let (port, server) = start_feedwire_pusher(lib);
    let port_s = port.to_string();
    let mut client = Peer::start(
        lib,
        &peers_dir().join("clients"),
        "node",
        &["pusher-serve-client.js", lib, &port_s],
        &[("TIMEOUT_MS", "15000")],
    )
    .unwrap();
    let code = client.wait_exit(Duration::from_secs(25));
    let all = transcript(&server, &client);
    assert_eq!(code.ok().flatten(), Some(0), "{lib} failed\n{all}");

    let out = json_lines(&client.output());
    assert_eq!(out.last().map(|v| v["step"].clone()), Some("OK".into()), "{all}");
    assert!(steps(&out, "FAIL").is_empty(), "{all}");
    // the client side: three subscriptions, presence members as each saw them, every event once
    let subscribed: Vec<_> = steps(&out, "subscribed")
        .iter()
        .map(|v| {
            format!(
                "{}:{}",
                v["user"].as_str().unwrap(),
                v["channel"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        subscribed.len(),
        4,
        "{subscribed:?}\n{all}" // alice x3, bob x1 (the order of alice's three is the library's)
    );
    for s in [
        "alice:my-channel",
        "alice:private-room",
        "alice:presence-room",
        "bob:presence-room",
    ] {
        assert!(subscribed.iter().any(|x| x == s), "{s} missing\n{all}");
    }
    let bob_view = steps(&out, "subscribed")
        .into_iter()
        .find(|v| v["user"] == "bob")
        .unwrap()
        .clone();
    assert_eq!(
        bob_view["members"],
        serde_json::json!({"me":"bob","count":2,"ids":["alice","bob"]})
    );
    let events: Vec<String> = steps(&out, "event")
        .iter()
        .map(|v| {
            format!(
                "{} {}/{} {}",
                v["user"].as_str().unwrap(),
                v["channel"].as_str().unwrap(),
                v["event"].as_str().unwrap(),
                v["data"]
            )
        })
        .collect();
    let mut sorted = events.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        vec![
            r#"alice my-channel/batch-1 {"b":1}"#,
            r#"alice my-channel/multi {"multi":true}"#,
            r#"alice my-channel/my-event {"hello":"public"}"#,
            r#"alice presence-room/my-event {"hello":"presence","n":3}"#,
            r#"alice private-room/batch-2 {"b":2}"#,
            r#"alice private-room/multi {"multi":true}"#,
            r#"alice private-room/my-event {"hello":"private"}"#,
            r#"bob presence-room/my-event {"hello":"presence","n":3}"#,
            r#"bob presence-room/not-for-alice {"excluded":"alice"}"#,
        ],
        "{all}"
    );
    assert_eq!(
        steps(&out, "triggered")[0]["statuses"],
        serde_json::json!([200, 200, 200, 200, 200, 200])
    );
    assert_eq!(
        steps(&out, "users")[0]["body"],
        serde_json::json!({"users":[{"id":"alice"},{"id":"bob"}]})
    );
    assert_eq!(steps(&out, "member_removed")[0]["id"], "bob");

    // the server side, as feedwire reported it
    let srv = json_lines(&server.output());
    assert_eq!(kinds(&srv, "connected").len(), 2, "{all}");
    let added: Vec<_> = kinds(&srv, "member_added")
        .iter()
        .map(|v| v["user_id"].clone())
        .collect();
    assert_eq!(added, vec![Value::from("alice"), Value::from("bob")], "{all}");
    assert!(
        kinds(&srv, "member_removed")
            .iter()
            .any(|v| v["user_id"] == "bob"),
        "{all}"
    );
    assert!(kinds(&srv, "subscription_refused").is_empty(), "{all}");
    drop(client);
    drop(server);
    eprintln!(
        "[js_clients] {lib} <-> feedwire serve pusher: ok in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

#[test]
#[ignore = "needs node and the JS clients: crates/feedwire-interop/scripts/install-peers.sh (CI runs it)"]
fn pusher_js_8_6_against_feedwire_serve_pusher() {
    pusher_scenario("pusher-js");
}

#[test]
#[ignore = "needs node and the JS clients: crates/feedwire-interop/scripts/install-peers.sh (CI runs it)"]
fn pusher_client_1_1_against_feedwire_serve_pusher() {
    pusher_scenario("pusher-client");
}

/// A file feedwire reads as stdin (through `tail -f`), removed when dropped.
/// An ActionCable JS client library through the whole scenario of `actioncable-serve-client.mjs`.
fn actioncable_scenario(lib: &str) {
    const QUIET_MS: u64 = 20_000;
    feedwire_bin(); // built before the clock starts
    let start = Instant::now();
    let port = free_port().unwrap();
    let stdin = StdinFile::new(&format!("actioncable-{lib}"));
    // feedwire's stdin is a file the test appends to; `tail -f` and feedwire share the peer's process group
    let server = Peer::start(
        &format!("feedwire-serve-actioncable-for-{lib}"),
        &std::env::temp_dir(),
        "sh",
        &[
            "-c",
            r#"tail -n +1 -f "$0" | exec "$1" serve actioncable --echo --addr "$2""#,
            stdin.path().to_str().unwrap(),
            feedwire_bin().to_str().unwrap(),
            &format!("127.0.0.1:{port}"),
        ],
        &[],
    )
    .and_then(|server| server.listening(port, Duration::from_secs(10), "feedwire serve actioncable"))
    .unwrap_or_else(|e| panic!("{e}"));
    let url = format!("ws://127.0.0.1:{port}/cable");
    let quiet = QUIET_MS.to_string();
    let timeout_ms = (QUIET_MS + 25_000).to_string();
    let mut client = Peer::start(
        lib,
        &peers_dir().join("clients"),
        "node",
        &["actioncable-serve-client.mjs", lib, &url],
        &[("QUIET_MS", &quiet), ("TIMEOUT_MS", &timeout_ms)],
    )
    .unwrap();

    // publish through feedwire's stdin when the script asks, until it exits
    let deadline = Instant::now() + Duration::from_millis(QUIET_MS + 30_000);
    let mut published = 0;
    while client.is_running() {
        let out = json_lines(&client.output());
        for ask in steps(&out, "publish") {
            let n = ask["n"].as_u64().unwrap();
            if n > published {
                stdin.append(&format!(
                    r#"{{"stream":"ChatChannel","message":{{"text":"from stdin","n":{n}}}}}"#
                ));
                published = n;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{lib} still running\n{}",
            transcript(&server, &client)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let code = client.wait_exit(Duration::from_secs(5));
    let all = transcript(&server, &client);
    assert_eq!(code.ok().flatten(), Some(0), "{lib} failed\n{all}");
    assert_eq!(published, 2, "{all}");

    let out = json_lines(&client.output());
    // after OK the script disconnects: the library may still report that
    let ok = steps(&out, "OK")
        .first()
        .map(|v| (*v).clone())
        .unwrap_or_default();
    assert_eq!(ok["step"], "OK", "{all}");
    assert!(steps(&out, "FAIL").is_empty(), "{all}");
    // the client: both subscription objects got the echo and both broadcasts, once each
    for sub in ["chat-1", "chat-2"] {
        let got: Vec<_> = steps(&out, "received")
            .iter()
            .filter(|v| v["sub"] == sub)
            .map(|v| v["message"].clone())
            .collect();
        assert_eq!(got.len(), 3, "{sub}: {got:?}\n{all}");
        assert_eq!(got[0]["action"], "speak");
        assert_eq!(got[0]["data"]["text"], format!("hi from {lib}"));
        assert_eq!(got[1], serde_json::json!({"text":"from stdin","n":1}));
        assert_eq!(got[2], serde_json::json!({"text":"from stdin","n":2}));
    }
    // the quiet period: one socket all along, pings every 3 s, no disconnect
    let quiet_done = steps(&out, "quiet_done")[0].clone();
    assert!(
        quiet_done["pings"].as_u64().unwrap() >= QUIET_MS / 3000 - 1,
        "{quiet_done}"
    );
    assert_eq!(ok["stats"]["sockets"], 1, "{all}");
    assert_eq!(ok["stats"]["disconnects"], 0, "{all}");
    assert_eq!(ok["stats"]["closes"], 0, "{all}");
    let subscribes = &ok["stats"]["subscribes"];
    assert_eq!(subscribes[r#"{"channel":"RejectChannel"}"#], 1, "{all}");
    // two subscribe commands for ChatChannel crossed the wire: @rails/actioncable sends one per subscription
    // object, duplicates included; @anycable/core shares one server subscription between its objects, so the
    // script injects the duplicate on the library's socket itself
    assert_eq!(subscribes[r#"{"channel":"ChatChannel"}"#], 2, "{all}");

    // the server: one connection, one stream for the duplicate, the perform, the rejection
    let srv = json_lines(&server.output());
    assert_eq!(kinds(&srv, "opened").len(), 1, "reconnected?\n{all}");
    let chat = |kind: &str| {
        kinds(&srv, kind)
            .iter()
            .filter(|v| v["channel"] == "ChatChannel")
            .count()
    };
    assert_eq!(chat("confirmed"), 1, "{all}");
    assert_eq!(chat("duplicate_subscribe"), 1, "{all}");
    assert_eq!(chat("perform"), 1, "{all}");
    assert_eq!(
        kinds(&srv, "rejected")
            .iter()
            .map(|v| v["channel"].clone())
            .collect::<Vec<_>>(),
        vec![Value::from("RejectChannel")],
        "{all}"
    );
    assert!(kinds(&srv, "bad_input").is_empty(), "{all}");
    drop(client);
    drop(server);
    eprintln!(
        "[js_clients] {lib} <-> feedwire serve actioncable: ok in {:.1} s (quiet period {} s, {} pings)",
        start.elapsed().as_secs_f64(),
        QUIET_MS / 1000,
        quiet_done["pings"]
    );
}

#[test]
#[ignore = "needs node and the JS clients: crates/feedwire-interop/scripts/install-peers.sh (CI runs it)"]
fn rails_actioncable_8_1_against_feedwire_serve_actioncable() {
    actioncable_scenario("rails");
}

#[test]
#[ignore = "needs node and the JS clients: crates/feedwire-interop/scripts/install-peers.sh (CI runs it)"]
fn anycable_core_1_1_against_feedwire_serve_actioncable() {
    actioncable_scenario("anycable");
}
