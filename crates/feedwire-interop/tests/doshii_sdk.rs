//! Doshii's own Node SDK, `doshii-partner-node-sdk` 7.0.2, subscribing as an app partner through
//! `feedwire serve doshii` (issue 19):
//!
//! - the SDK connects with `websocketUrlOverride` (it appends `base64(client id)` itself), pings on open and
//!   then every `pingInterval` (250 ms here; 30 s by default), and every pong it hands to the app carries the
//!   stamp of a ping it sent on that socket; feedwire logged a `ping` line for each;
//! - events written to feedwire's stdin reach the SDK's event callback exactly as published: the subscribed
//!   names with their data, in order, and nothing else (not the event the app did not subscribe to, not
//!   another partner's event);
//! - feedwire is stopped (SIGTERM: its graceful shutdown closes the SDK's socket with 1001 at once) and
//!   started again on the same port. The SDK does not reconnect by itself (7.0.2 has
//!   no reconnect at all: its socket's `close` only logs), so the client script is the app a partner writes
//!   around it, with the SDK's public API only: a watchdog on its pong events, then
//!   `clearAllWebsocketSubscriptions()` and `subscribeToWebsockeEvents(..)` again, which opens a new socket.
//!   The test asserts that the SDK itself opened no socket after the close, that the app's reconnect got a
//!   new socket answered by the new server, and that both events published after the restart arrived on it:
//!   one published before the SDK was back (feedwire's 10-minute backlog replays it on connect, unless the
//!   SDK was quicker) and one after.
//!
//! The client side is `peers/clients/doshii-sdk-client.js` (it prints one JSON object per step). Every process
//! is a [`Peer`] (its own process group, stopped when the guard drops, also on failure); every wait is
//! bounded. The `feedwire` binary is built as `js_clients.rs` builds it (see there), or taken from
//! `FEEDWIRE_BIN`.
//!
//! Run: `cargo test -p feedwire-interop --test doshii_sdk -- --ignored` (needs node and the clients from
//! `scripts/install-peers.sh`).
#![allow(clippy::disallowed_methods)] // real time and real processes are the point here
#![allow(clippy::print_stderr)] // the wall time of the scenario, for the report

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use feedwire_interop::{Peer, feedwire_bin, free_port, json_lines, peers_dir};
use serde_json::{Value, json};

/// The SDK's ping interval in the test (its `pingInterval` option).
const PING_MS: u64 = 250;
/// The app partner the SDK connects as.
const CLIENT_ID: &str = "sdk-partner-7";

fn steps(lines: &[Value], step: &str) -> Vec<Value> {
    lines.iter().filter(|v| v["step"] == step).cloned().collect()
}

/// A file feedwire reads as stdin (through `tail -f`), removed when dropped.
struct StdinFile(PathBuf);

impl StdinFile {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("feedwire-interop-{name}-{}.jsonl", std::process::id()));
        std::fs::write(&path, "").unwrap();
        StdinFile(path)
    }
    /// Publishes `event` with `data` to `client_id`'s app.
    fn publish(&self, client_id: &str, event: &str, data: &Value) {
        let line = json!({"client_id": client_id, "event": event, "data": data});
        let mut f = std::fs::OpenOptions::new().append(true).open(&self.0).unwrap();
        writeln!(f, "{line}").unwrap();
    }
}

impl Drop for StdinFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `feedwire serve doshii` on `127.0.0.1:port`, reading `stdin`.
fn start_feedwire(name: &str, port: u16, stdin: &StdinFile) -> Peer {
    Peer::start(
        name,
        &std::env::temp_dir(),
        "sh",
        &[
            "-c",
            r#"tail -n +1 -f "$0" | exec "$1" serve doshii --addr "$2""#,
            stdin.0.to_str().unwrap(),
            feedwire_bin().to_str().unwrap(),
            &format!("127.0.0.1:{port}"),
        ],
        &[],
    )
    .and_then(|p| p.listening(port, Duration::from_secs(10), "feedwire serve doshii"))
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Waits (at most `timeout`) until `done` holds for the client's JSON lines; panics with everything printed
/// so far when it does not, or when the script failed.
fn wait_client(
    client: &mut Peer,
    servers: &[&Peer],
    timeout: Duration,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let out = json_lines(&client.output());
        if done(&out) {
            return out;
        }
        let failed = !steps(&out, "FAIL").is_empty() || !client.is_running();
        if failed || start.elapsed() > timeout {
            let mut all = String::new();
            for (i, s) in servers.iter().enumerate() {
                all.push_str(&format!("--- feedwire #{}:\n{}\n", i + 1, s.output()));
            }
            all.push_str(&format!("--- doshii-sdk-client.js:\n{}", client.output()));
            panic!(
                "waiting for {what}: {}\n{all}",
                if failed { "the client failed" } else { "timed out" }
            );
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// `(socket, event, data)` of every event the SDK handed to the app.
fn received(out: &[Value]) -> Vec<(u64, String, Value)> {
    steps(out, "event")
        .into_iter()
        .map(|v| {
            (
                v["socket"].as_u64().unwrap(),
                v["event"].as_str().unwrap().to_owned(),
                v["data"].clone(),
            )
        })
        .collect()
}

fn order(id: &str, status: &str) -> Value {
    json!({
        "id": id,
        "status": status,
        "locationId": "loc-1",
        "uri": format!("https://sandbox.doshii.co/partner/v3/orders/{id}"),
    })
}

#[test]
#[ignore = "needs node and the JS clients: crates/feedwire-interop/scripts/install-peers.sh (CI runs it)"]
fn doshii_partner_node_sdk_7_0_2_against_feedwire_serve_doshii() {
    feedwire_bin(); // built before the clock starts
    let start = Instant::now();
    let port = free_port().unwrap();
    let stdin1 = StdinFile::new("doshii-sdk-1");
    let server1 = start_feedwire("feedwire-serve-doshii-sdk-1", port, &stdin1);
    let mut client = Peer::start(
        "doshii-sdk-client",
        &peers_dir().join("clients"),
        "node",
        &[
            "doshii-sdk-client.js",
            &format!("ws://127.0.0.1:{port}"),
            CLIENT_ID,
        ],
        &[("PING_MS", &PING_MS.to_string()), ("TIMEOUT_MS", "40000")],
    )
    .unwrap();
    let t = Duration::from_secs(10);

    // 1. connected: the first pong came back
    wait_client(&mut client, &[&server1], t, "the first pong", |o| {
        !steps(o, "ready").is_empty()
    });

    // 2. events: four the app subscribed to (one with escapes and non-ASCII text), one it did not subscribe
    // to, one for another partner; the last subscribed one closes the batch (one socket keeps the order)
    let batch: Vec<(&str, &str, Value)> = vec![
        (CLIENT_ID, "order_created", order("ord-1", "pending")),
        (CLIENT_ID, "table_created", json!({"id": "tbl-4", "name": "4"})),
        ("another-partner", "order_created", order("ord-x", "pending")),
        (
            CLIENT_ID,
            "order_updated",
            json!({"id": "ord-1", "status": "accepted", "posRef": "POS-7", "uri": "https://sandbox.doshii.co/partner/v3/orders/ord-1"}),
        ),
        (
            CLIENT_ID,
            "transaction_updated",
            json!({"id": "txn-9", "orderId": "ord-1", "status": "complete", "posRef": "POS-7", "verifyData": null, "uri": "https://sandbox.doshii.co/partner/v3/transactions/txn-9"}),
        ),
        (
            CLIENT_ID,
            "booking_created",
            json!({"id": "bk-3", "tableNames": ["12", "13"], "date": "2026-12-01T19:00:00.000Z", "covers": 4, "notes": "Zoë's \"window\" table\nnear ☕", "uri": "https://sandbox.doshii.co/partner/v3/bookings/bk-3"}),
        ),
    ];
    for (to, event, data) in &batch {
        stdin1.publish(to, event, data);
    }
    let want_batch: Vec<(u64, String, Value)> = batch
        .iter()
        .filter(|(to, event, _)| *to == CLIENT_ID && *event != "table_created")
        .map(|(_, event, data)| (1, (*event).to_owned(), data.clone()))
        .collect();
    assert_eq!(want_batch.len(), 4);
    let out = wait_client(&mut client, &[&server1], t, "the booking_created event", |o| {
        received(o).iter().any(|(_, e, _)| e == "booking_created")
    });
    assert_eq!(received(&out), want_batch, "{}", client.output());

    // 3. the SDK's heartbeat: at least three more pongs on the first socket, every one answering a ping the
    // SDK sent on that socket, and feedwire saw the pings
    let out = wait_client(&mut client, &[&server1], t, "4 pongs on socket 1", |o| {
        steps(o, "pong").iter().filter(|p| p["socket"] == 1).count() >= 4
    });
    let pongs = steps(&out, "pong");
    assert!(
        pongs
            .iter()
            .all(|p| p["matches_ping"] == true && p["version"] == "3.2.123"),
        "{pongs:?}"
    );
    let server_pings = json_lines(&server1.output())
        .iter()
        .filter(|v| v["kind"] == "ping")
        .count();
    assert!(
        server_pings >= pongs.len(),
        "feedwire logged {server_pings} pings for {} pongs",
        pongs.len()
    );

    // 4. a restart on the same port: stop feedwire (SIGTERM: it closes the connection), start it again with an
    // event already waiting on its stdin (published before the SDK is back), then publish one more once the
    // app's reconnect got a pong on a new socket
    let mut server1 = server1;
    let stopping = Instant::now();
    server1.stop();
    let stopped_in = stopping.elapsed();
    let out = wait_client(&mut client, &[&server1], t, "the close of socket 1", |o| {
        steps(o, "socket")
            .iter()
            .any(|s| s["socket"] == 1 && s["state"] == "closed")
    });
    // feedwire's graceful shutdown closed it with 1001 at once (a Doshii hub has no goodbye message); a
    // server killed after `Peer::stop`'s 3 s would show 1006
    let closed = steps(&out, "socket")
        .into_iter()
        .find(|s| s["socket"] == 1 && s["state"] == "closed")
        .unwrap();
    assert_eq!(closed["code"], 1001, "{}\n{}", server1.output(), client.output());
    let stdin2 = StdinFile::new("doshii-sdk-2");
    stdin2.publish(CLIENT_ID, "order_updated", &order("ord-2", "cancelled"));
    let server2 = start_feedwire("feedwire-serve-doshii-sdk-2", port, &stdin2);
    let out_restart = wait_client(&mut client, &[&server1, &server2], t, "the reconnect", |o| {
        !steps(o, "reconnected").is_empty()
    });
    let reconnected = steps(&out_restart, "reconnected")[0].clone();
    let socket2 = reconnected["socket"].as_u64().unwrap();
    assert!(socket2 >= 2, "{reconnected}");
    // the SDK itself made no socket between the close and the app's first retry
    let watchdog = steps(&out_restart, "watchdog")[0].clone();
    assert_eq!(
        watchdog["sockets_after_close"],
        0,
        "{watchdog}\n{}",
        client.output()
    );

    let mut last = order("ord-3", "complete");
    last["last"] = json!(true);
    stdin2.publish(CLIENT_ID, "order_updated", &last);
    let code = client.wait_exit(t);
    let all = format!(
        "--- feedwire #1:\n{}\n--- feedwire #2:\n{}\n--- doshii-sdk-client.js:\n{}",
        server1.output(),
        server2.output(),
        client.output()
    );
    assert_eq!(code.ok().flatten(), Some(0), "the client failed\n{all}");
    let out = json_lines(&client.output());
    let ok = steps(&out, "OK").first().cloned().unwrap_or_default();
    assert_eq!(ok["step"], "OK", "{all}");

    // everything the app got, in order: the batch on socket 1, both post-restart events on the new socket
    let mut want = want_batch;
    want.push((socket2, "order_updated".into(), order("ord-2", "cancelled")));
    want.push((socket2, "order_updated".into(), last));
    assert_eq!(received(&out), want, "{all}");

    // every pong, on every socket, answered a ping the SDK sent on that socket
    assert_eq!(ok["stats"]["unmatched_pongs"], 0, "{all}");
    let pongs2 = steps(&out, "pong")
        .iter()
        .filter(|p| p["socket"] == socket2)
        .count();
    assert!(pongs2 >= 1, "{all}");

    // the new server: one app connection (the retries before it listened were refused by the OS)
    let srv2 = json_lines(&server2.output());
    let opened: Vec<&Value> = srv2.iter().filter(|v| v["kind"] == "opened").collect();
    assert_eq!(opened.len(), 1, "{all}");
    assert_eq!(opened[0]["peer"], "app", "{all}");
    let replayed = opened[0]["replayed"].as_u64().unwrap();
    assert!(replayed <= 1, "{all}");

    drop(client);
    drop(server2);
    eprintln!(
        "[doshii_sdk] doshii-partner-node-sdk 7.0.2 <-> feedwire serve doshii: ok in {:.1} s (feedwire stopped in \
         {:.1} s; reconnect: watchdog after {} ms of silence, {} attempt(s), ord-2 {} ; {} pongs before the restart)",
        start.elapsed().as_secs_f64(),
        stopped_in.as_secs_f64(),
        watchdog["silent_ms"],
        reconnected["attempts"],
        if replayed == 1 {
            "replayed from the backlog"
        } else {
            "delivered live"
        },
        pongs.len(),
    );
}
