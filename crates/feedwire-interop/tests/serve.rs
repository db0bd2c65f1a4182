//! `feedwire serve`'s production features against the real peers people use with them:
//!
//! - webhooks: pusher-js 8.6 clients (the whole scenario of `pusher-serve-client.js`: public, private and
//!   presence channels, two members joining and one leaving) against `feedwire serve pusher --webhook URL`,
//!   with the official `pusher` server SDK 5.3 as the receiver (`peers/clients/webhook-receiver.js`):
//!   `pusher.webhook({headers, rawBody}).isValid()` must accept every POST, and the events it reads must be
//!   the channel and member changes the clients caused; a server signing with another secret is refused by
//!   the same receiver (so the check can fail);
//! - AnyCable's extended protocol: @anycable/core 1.1 asking for `actioncable-v1-ext-json` against
//!   `feedwire serve actioncable --echo --anycable` (the scenario of `actioncable-serve-client.mjs`: subscribe
//!   twice, perform and receive the echo, a rejection, broadcasts written to feedwire's stdin, a quiet period
//!   without reconnects), with the extended subprotocol agreed on both sides.
//!
//! Every process is a [`Peer`] (its own process group, stopped when the guard drops, also on failure); every
//! wait is bounded. The `feedwire` binary is built as `js_clients.rs` builds it (see there), or taken from
//! `FEEDWIRE_BIN`.
//!
//! Run: `cargo test -p feedwire-interop --test serve -- --ignored` (needs node and the clients from
//! `scripts/install-peers.sh`).
#![allow(clippy::disallowed_methods)] // real time and real processes are the point here

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use feedwire_interop::{Peer, StdinFile, feedwire_bin, free_port, json_lines, peers_dir};
use serde_json::Value;

/// The official SDK's webhook receiver on a free port.
fn start_receiver(name: &str) -> (u16, Peer) {
    let port = free_port().unwrap();
    let peer = Peer::start(
        &format!("webhook-receiver-{name}"),
        &peers_dir().join("clients"),
        "node",
        &["webhook-receiver.js", &port.to_string()],
        &[],
    )
    .and_then(|p| p.listening(port, Duration::from_secs(10), "webhook-receiver.js"))
    .unwrap_or_else(|e| panic!("{e}"));
    (port, peer)
}

/// `feedwire serve pusher` on a free port with `args`, its secret `secret`.
fn start_feedwire(name: &str, args: &[&str], secret: &str) -> (u16, Peer) {
    let port = free_port().unwrap();
    let addr = format!("127.0.0.1:{port}");
    let mut all = vec!["serve", "pusher", "--addr", &addr];
    all.extend_from_slice(args);
    let peer = Peer::start(
        &format!("feedwire-serve-{name}"),
        &std::env::temp_dir(),
        feedwire_bin().to_str().unwrap(),
        &all,
        &[("PUSHER_APP_SECRET", secret)],
    )
    .and_then(|p| p.listening(port, Duration::from_secs(10), "feedwire serve pusher"))
    .unwrap_or_else(|e| panic!("{e}"));
    (port, peer)
}

/// The receiver's `webhook` lines once `done` holds for them, or after `timeout`.
fn webhooks_until(receiver: &Peer, timeout: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let hooks: Vec<Value> = json_lines(&receiver.output())
            .into_iter()
            .filter(|v| v["step"] == "webhook")
            .collect();
        if done(&hooks) || start.elapsed() > timeout {
            return hooks;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `name channel [user_id]` of every event of the valid webhooks.
fn event_names(hooks: &[Value]) -> Vec<String> {
    hooks
        .iter()
        .filter(|h| h["valid"] == true)
        .flat_map(|h| h["events"].as_array().cloned().unwrap_or_default())
        .map(|e| {
            let mut s = format!(
                "{} {}",
                e["name"].as_str().unwrap_or("?"),
                e["channel"].as_str().unwrap_or("?")
            );
            if let Some(u) = e["user_id"].as_str() {
                s.push(' ');
                s.push_str(u);
            }
            s
        })
        .collect()
}

#[test]
#[ignore = "needs node and the peers of scripts/install-peers.sh"]
fn pusher_sdk_verifies_the_webhooks_of_feedwire_serve_pusher() {
    feedwire_bin();
    let (hook_port, receiver) = start_receiver("valid");
    let url = format!("http://127.0.0.1:{hook_port}/pusher/webhooks");
    let (port, server) = start_feedwire("webhooks", &["--webhook", &url], "app-secret");
    let mut client = Peer::start(
        "pusher-js-webhooks",
        &peers_dir().join("clients"),
        "node",
        &["pusher-serve-client.js", "pusher-js", &port.to_string()],
        &[("TIMEOUT_MS", "15000")],
    )
    .unwrap();
    let code = client.wait_exit(Duration::from_secs(25));
    let transcript = || {
        format!(
            "--- feedwire:\n{}\n--- client:\n{}\n--- receiver:\n{}",
            server.output(),
            client.output(),
            receiver.output()
        )
    };
    assert_eq!(
        code.ok().flatten(),
        Some(0),
        "the client scenario failed\n{}",
        transcript()
    );

    // alice disconnected at the end: every channel is vacated once the batch is out
    let want: BTreeSet<&str> = [
        "channel_occupied my-channel",
        "channel_occupied private-room",
        "channel_occupied presence-room",
        "member_added presence-room alice",
        "member_added presence-room bob",
        "member_removed presence-room bob",
        "member_removed presence-room alice",
        "channel_vacated my-channel",
        "channel_vacated private-room",
        "channel_vacated presence-room",
    ]
    .into_iter()
    .collect();
    let hooks = webhooks_until(&receiver, Duration::from_secs(10), |h| {
        let got = event_names(h);
        want.iter().all(|w| got.iter().any(|g| g == w))
    });
    let all = transcript();
    assert!(!hooks.is_empty(), "no webhook arrived\n{all}");
    for h in &hooks {
        assert_eq!(h["valid"], true, "the SDK refused a webhook: {h}\n{all}");
        assert_eq!(
            (h["method"].as_str(), h["path"].as_str()),
            (Some("POST"), Some("/pusher/webhooks"))
        );
        let t = h["time_ms"].as_u64().unwrap_or(0);
        assert!(t > 1_600_000_000_000, "time_ms {t}");
    }
    let got = event_names(&hooks);
    for w in &want {
        assert_eq!(
            got.iter().filter(|g| g == w).count(),
            1,
            "{w} not exactly once in {got:?}\n{all}"
        );
    }
    // bob's second connection never existed: alice's and bob's member events are all there is
    assert_eq!(got.len(), want.len(), "{got:?}\n{all}");
    // feedwire printed one line per POST
    let posted = json_lines(&server.output())
        .into_iter()
        .filter(|v| v["kind"] == "webhook")
        .count();
    assert_eq!(posted, hooks.len(), "{all}");
}

#[test]
#[ignore = "needs node and the peers of scripts/install-peers.sh"]
fn pusher_sdk_refuses_webhooks_signed_with_another_secret() {
    feedwire_bin();
    let (hook_port, receiver) = start_receiver("forged");
    let url = format!("http://127.0.0.1:{hook_port}/hook");
    let (port, server) = start_feedwire("forged", &["--webhook", &url], "not-the-app-secret");
    let mut listener = Peer::start(
        "feedwire-listen-forged",
        &std::env::temp_dir(),
        feedwire_bin().to_str().unwrap(),
        &[
            "listen",
            "pusher",
            "--key",
            "app-key",
            "--host",
            "127.0.0.1",
            "--no-tls",
            "--port",
            &port.to_string(),
            "--channel",
            "news",
        ],
        &[],
    )
    .unwrap();
    let hooks = webhooks_until(&receiver, Duration::from_secs(10), |h| !h.is_empty());
    listener.stop();
    let all = format!(
        "--- feedwire:\n{}\n--- receiver:\n{}",
        server.output(),
        receiver.output()
    );
    assert!(!hooks.is_empty(), "no webhook arrived\n{all}");
    assert!(hooks.iter().all(|h| h["valid"] == false), "{all}");
}

/// A file feedwire reads as stdin (through `tail -f`), removed when dropped.
#[test]
#[ignore = "needs node and the peers of scripts/install-peers.sh"]
fn anycable_core_in_extended_mode_against_feedwire_serve_actioncable_anycable() {
    const QUIET_MS: u64 = 7_000;
    feedwire_bin();
    let port = free_port().unwrap();
    let stdin = StdinFile::new("actioncable-anycable-ext");
    let server = Peer::start(
        "feedwire-serve-actioncable-anycable",
        &std::env::temp_dir(),
        "sh",
        &[
            "-c",
            r#"tail -n +1 -f "$0" | exec "$1" serve actioncable --echo --anycable --addr "$2""#,
            stdin.path().to_str().unwrap(),
            feedwire_bin().to_str().unwrap(),
            &format!("127.0.0.1:{port}"),
        ],
        &[],
    )
    .and_then(|p| p.listening(port, Duration::from_secs(10), "feedwire serve actioncable"))
    .unwrap_or_else(|e| panic!("{e}"));
    let url = format!("ws://127.0.0.1:{port}/cable");
    let mut client = Peer::start(
        "anycable-ext",
        &peers_dir().join("clients"),
        "node",
        &["actioncable-serve-client.mjs", "anycable-ext", &url],
        &[
            ("QUIET_MS", &QUIET_MS.to_string()),
            ("TIMEOUT_MS", &(QUIET_MS + 20_000).to_string()),
        ],
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_millis(QUIET_MS + 25_000);
    let mut published = 0;
    while client.is_running() {
        for ask in json_lines(&client.output())
            .iter()
            .filter(|v| v["step"] == "publish")
        {
            let n = ask["n"].as_u64().unwrap();
            if n > published {
                stdin.append(&format!(
                    r#"{{"stream":"ChatChannel","message":{{"text":"from stdin","n":{n}}}}}"#
                ));
                published = n;
            }
        }
        assert!(Instant::now() < deadline, "still running\n{}", client.output());
        std::thread::sleep(Duration::from_millis(50));
    }
    let code = client.wait_exit(Duration::from_secs(5));
    let all = format!(
        "--- feedwire:\n{}\n--- client:\n{}",
        server.output(),
        client.output()
    );
    assert_eq!(code.ok().flatten(), Some(0), "the client scenario failed\n{all}");
    assert_eq!(published, 2, "{all}");
    let out = json_lines(&client.output());
    let ok = out
        .iter()
        .find(|v| v["step"] == "OK")
        .cloned()
        .unwrap_or_default();
    assert_eq!(ok["stats"]["protocol"], "actioncable-v1-ext-json", "{all}");
    assert_eq!(ok["stats"]["sockets"], 1, "{all}");
    assert_eq!(ok["stats"]["disconnects"], 0, "{all}");
    for sub in ["chat-1", "chat-2"] {
        let got: Vec<Value> = out
            .iter()
            .filter(|v| v["step"] == "received" && v["sub"] == sub)
            .map(|v| v["message"].clone())
            .collect();
        assert_eq!(got.len(), 3, "{sub}: {got:?}\n{all}");
        assert_eq!(got[1], serde_json::json!({"text":"from stdin","n":1}));
        assert_eq!(got[2], serde_json::json!({"text":"from stdin","n":2}));
    }
    // the server agreed to the extended protocol for that one connection
    let opened: Vec<Value> = json_lines(&server.output())
        .into_iter()
        .filter(|v| v["kind"] == "opened")
        .collect();
    assert_eq!(opened.len(), 1, "{all}");
    assert_eq!(opened[0]["ext"], true, "{all}");
}

/// The test CA and the server certificate for 127.0.0.1 of feedwire-tungstenite's TLS tests.
fn tls_file(name: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../feedwire-tungstenite/testdata/tls")
        .join(name)
        .to_str()
        .unwrap()
        .to_owned()
}

/// The whole pusher-js scenario of `pusher-serve-client.js` (public, private and presence channels, the SDK
/// triggering and querying) over `wss://` and `https://`: `feedwire serve pusher --tls-cert --tls-key` with a
/// certificate of a test CA that node trusts through `NODE_EXTRA_CA_CERTS`.
#[test]
#[ignore = "needs node and the peers of scripts/install-peers.sh"]
fn pusher_js_and_the_sdk_over_wss_and_https_against_feedwire_serve_pusher_tls() {
    feedwire_bin();
    let (cert, key, ca) = (tls_file("server.pem"), tls_file("server.key"), tls_file("ca.pem"));
    let (port, server) = start_feedwire("tls", &["--tls-cert", &cert, "--tls-key", &key], "app-secret");
    let mut client = Peer::start(
        "pusher-js-tls",
        &peers_dir().join("clients"),
        "node",
        &["pusher-serve-client.js", "pusher-js", &port.to_string()],
        &[
            ("TIMEOUT_MS", "15000"),
            ("FEEDWIRE_TLS", "1"),
            ("NODE_EXTRA_CA_CERTS", &ca),
        ],
    )
    .unwrap();
    let code = client.wait_exit(Duration::from_secs(25));
    assert_eq!(
        code.ok().flatten(),
        Some(0),
        "the scenario over TLS failed\n--- feedwire:\n{}\n--- client:\n{}",
        server.output(),
        client.output()
    );
    assert!(
        client.output().contains(r#"{"step":"OK"}"#),
        "{}",
        client.output()
    );
    assert!(
        server
            .output()
            .contains(&format!("pusher server on wss://127.0.0.1:{port}/app/app-key"))
    );
    // the client spoke TLS: the server saw its subscriptions
    let subscribed = json_lines(&server.output())
        .iter()
        .filter(|l| l["kind"] == "subscribed")
        .count();
    assert!(
        subscribed >= 4,
        "{subscribed} subscriptions seen\n{}\n--- client:\n{}",
        server.output(),
        client.output()
    );
}

/// Two apps from `--config` on one server, each through the whole scenario of `pusher-serve-client.js` at the
/// same time with the same channel names: each app's clients see exactly their own events and members (the
/// scenario fails on any unexpected or doubled event and on a wrong member list), and each app's SDK signs
/// with its own secret.
#[test]
#[ignore = "needs node and the peers of scripts/install-peers.sh"]
fn two_apps_on_one_feedwire_serve_pusher_with_their_own_clients_and_sdks() {
    feedwire_bin();
    let config = std::env::temp_dir().join(format!("feedwire-interop-apps-{}.json", std::process::id()));
    std::fs::write(
        &config,
        r#"{"apps":[{"id":"app-id","key":"app-key","secret":"app-secret"},
                    {"id":"app-2","key":"key-2","secret":"secret-2"}]}"#,
    )
    .unwrap();
    let (port, server) = start_feedwire("apps", &["--config", config.to_str().unwrap()], "unused");
    let run = |name: &str, env: &[(&str, &str)]| {
        let mut all = vec![("TIMEOUT_MS", "20000")];
        all.extend_from_slice(env);
        Peer::start(
            name,
            &peers_dir().join("clients"),
            "node",
            &["pusher-serve-client.js", "pusher-js", &port.to_string()],
            &all,
        )
        .unwrap()
    };
    let mut one = run("pusher-js-app-1", &[]);
    let mut two = run(
        "pusher-js-app-2",
        &[
            ("APP_ID", "app-2"),
            ("APP_KEY", "key-2"),
            ("APP_SECRET", "secret-2"),
        ],
    );
    let (c1, c2) = (
        one.wait_exit(Duration::from_secs(30)),
        two.wait_exit(Duration::from_secs(30)),
    );
    let _ = std::fs::remove_file(&config);
    let ctx = || {
        format!(
            "--- feedwire:\n{}\n--- app 1:\n{}\n--- app 2:\n{}",
            server.output(),
            one.output(),
            two.output()
        )
    };
    assert_eq!(c1.ok().flatten(), Some(0), "app 1's scenario failed\n{}", ctx());
    assert_eq!(c2.ok().flatten(), Some(0), "app 2's scenario failed\n{}", ctx());
    for p in [&one, &two] {
        assert!(p.output().contains(r#"{"step":"OK"}"#), "{}", ctx());
    }
    let apps: BTreeSet<String> = json_lines(&server.output())
        .iter()
        .filter(|l| l["kind"] == "subscribed")
        .filter_map(|l| l["app"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        apps,
        BTreeSet::from(["app-id".to_owned(), "app-2".to_owned()]),
        "{}",
        ctx()
    );
}
