//! Transcripts recorded from real peers (issue 21): a feedwire client runs against soketi and against Rails
//! ActionCable through the tungstenite driver with a transcript tap (core's `Recorder`, the secrets given to
//! its `Redactor`), while the peer is killed and restarted mid-session. The fresh recording is replayed into
//! the same client under the virtual clock (`replay_client`) and must give the same events as the live run.
//!
//! With `FEEDWIRE_RECORD=1` the recordings are written to the protocol crates' `testdata/transcripts/`, where
//! their snapshot tests (`tests/replay.rs`) replay them:
//!
//! ```text
//! FEEDWIRE_RECORD=1 cargo test -p feedwire-interop --test record -- --ignored
//! ```
#![allow(clippy::disallowed_methods)] // real time is the point here

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use feedwire_actioncable::identifier::{ApiChannel, Identifier, ModelEvent};
use feedwire_core::UnixAnchor;
use feedwire_core::testing::replay::replay_client;
use feedwire_core::transcript::{Header, Recorder, Redactor, Side, Transcript};
use feedwire_interop::{free_port, peers_dir, start_rails, start_soketi};
use feedwire_tungstenite::{Connection, Tap};

const STEP: Duration = Duration::from_secs(20);

/// A transcript being recorded by a driver's tap.
#[derive(Clone)]
struct Tape(Arc<Mutex<String>>);

impl Tape {
    /// A tape for `protocol` at `url` whose `secrets` never reach it, and the tap that writes it.
    fn new(protocol: &str, url: &str, secrets: &[&str]) -> (Tape, impl FnMut(Tap<'_>) + Send + 'static) {
        let mut redactor = Redactor::new();
        for s in secrets {
            redactor.add(s).unwrap();
        }
        let mut recorder = Recorder::new(
            Header::new(protocol, Side::Client).with_url(url),
            redactor,
            Instant::now(),
        );
        let tape = Tape(Arc::new(Mutex::new(recorder.header_line())));
        let t = tape.clone();
        let tap = move |what: Tap<'_>| {
            let line = what.transcript_line(&mut recorder, Instant::now());
            t.0.lock().unwrap().push_str(&line);
        };
        (tape, tap)
    }

    fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

/// Writes the recording to `crate/testdata/transcripts/name` when `FEEDWIRE_RECORD=1`.
fn keep(krate: &str, name: &str, text: &str) {
    if std::env::var("FEEDWIRE_RECORD").as_deref() != Ok("1") {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("testdata/transcripts");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

/// The variant name of an event (its `Debug` text up to the first space or brace).
fn kind<E: std::fmt::Debug>(e: &E) -> String {
    let d = format!("{e:?}");
    d.split([' ', '{', '(']).next().unwrap_or("").to_owned()
}

/// Kinds with runs of the same kind collapsed (the number of failed dials while a peer is down depends on
/// how long its restart took: live and replayed agree on it, but a summary should not).
fn kinds<E: std::fmt::Debug>(events: &[E]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in events {
        let k = kind(e);
        if out.last() != Some(&k) {
            out.push(k);
        }
    }
    out
}

async fn next<S>(conn: &mut Connection<S>) -> S::Event
where
    S: feedwire_core::Lifecycle + Send + 'static,
{
    tokio::time::timeout(STEP, conn.next_event())
        .await
        .unwrap_or_else(|_| panic!("no event within {STEP:?}"))
        .expect("session ended")
}

/// Events until `f` says stop (included), appended to `seen`.
async fn until<S>(conn: &mut Connection<S>, seen: &mut Vec<S::Event>, mut f: impl FnMut(&S::Event) -> bool)
where
    S: feedwire_core::Lifecycle + Send + 'static,
    S::Event: std::fmt::Debug,
{
    let deadline = Instant::now() + STEP * 2;
    loop {
        assert!(Instant::now() < deadline, "condition not reached; seen {seen:?}");
        let ev = next(conn).await;
        let stop = f(&ev);
        seen.push(ev);
        if stop {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// soketi

mod soketi {
    use super::*;
    use feedwire_pusher::client::{Client, Config, Event};

    pub const CHANNEL: &str = "inventory_changes";

    pub fn client(port: u16) -> Client {
        let config = Config::new("app-key")
            .with_host("127.0.0.1")
            .with_port(port)
            .with_tls(false)
            .with_seed(21);
        let mut c = Client::new(config);
        c.subscribe(CHANNEL).unwrap();
        c
    }

    pub fn trigger(port: u16, event: &str, data: &str) {
        let out = Command::new("node")
            .current_dir(peers_dir().join("clients"))
            .args(["trigger.js", &port.to_string(), CHANNEL, event, data])
            .output()
            .expect("node must run");
        assert!(
            out.status.success(),
            "trigger failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// (channel, event, data) of the messages.
    pub fn messages(events: &[Event]) -> Vec<(String, String, String)> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Message {
                    channel, event, data, ..
                } => Some((
                    channel.as_deref().unwrap_or("").to_owned(),
                    event.to_string(),
                    data.as_ref().map(|d| d.text().into_owned()).unwrap_or_default(),
                )),
                _ => None,
            })
            .collect()
    }

    pub fn is_message(e: &Event) -> bool {
        matches!(e, Event::Message { .. })
    }
}

#[tokio::test]
#[ignore = "needs soketi and node: crates/feedwire-interop/scripts/install-peers.sh (CI runs it)"]
async fn soketi_session_with_a_restart_replays_as_it_ran_live() {
    use feedwire_pusher::client::Event;
    let port = free_port().unwrap();
    let mut peer = start_soketi(port, false).expect("soketi must start (run scripts/install-peers.sh)");
    let client = soketi::client(port);
    let url = client.config().url(false);
    // the app secret is the server's, and never crosses the wire: still given, as `feedwire record` gives
    // every secret of its command line
    let (tape, tap) = Tape::new("pusher", &url, &["app-secret"]);
    let mut conn = Connection::new(client).with_tap(tap);
    let mut live = Vec::new();
    until(&mut conn, &mut live, |e| matches!(e, Event::Subscribed { .. })).await;
    soketi::trigger(port, "listed", r#"{"asset_id":"1","price":12.5}"#);
    until(&mut conn, &mut live, soketi::is_message).await;
    soketi::trigger(port, "sold", r#"{"asset_id":"1"}"#);
    until(&mut conn, &mut live, soketi::is_message).await;

    peer.stop();
    drop(peer);
    // the client sees the drop and retries against the closed port for a while
    until(&mut conn, &mut live, |e| matches!(e, Event::Reconnecting { .. })).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let peer = start_soketi(port, false).expect("soketi must start again");
    until(&mut conn, &mut live, |e| matches!(e, Event::Resubscribed { .. })).await;
    soketi::trigger(port, "listed", r#"{"asset_id":"2","price":7}"#);
    until(&mut conn, &mut live, soketi::is_message).await;
    soketi::trigger(port, "sold", r#"{"asset_id":"2"}"#);
    until(&mut conn, &mut live, soketi::is_message).await;
    // a moment for a late frame, then the recording ends with the connection open
    tokio::time::sleep(Duration::from_millis(200)).await;
    let text = tape.text();
    drop(conn);
    drop(peer);

    assert!(!text.contains("app-secret"));
    let transcript = Transcript::parse(&text).unwrap();
    let replay = replay_client(&transcript, soketi::client(port), Instant::now());
    assert!(replay.mismatches.is_empty(), "{:?}\n{text}", replay.mismatches);
    let replayed: Vec<Event> = replay.events.into_iter().map(|r| r.event).collect();
    assert_eq!(soketi::messages(&replayed), soketi::messages(&live), "{text}");
    assert_eq!(soketi::messages(&live).len(), 4);
    assert_eq!(kinds(&replayed), kinds(&live), "{text}");
    for k in [
        "Connected",
        "Subscribed",
        "Message",
        "Disconnected",
        "Reconnecting",
        "Resubscribed",
    ] {
        assert!(kinds(&live).iter().any(|x| x == k), "no {k}: {:?}", kinds(&live));
    }
    keep("feedwire-pusher", "soketi_restart.jsonl", &text);
}

// ---------------------------------------------------------------------------------------------------------
// Rails ActionCable

mod rails {
    use super::*;
    use feedwire_actioncable::client::{Client, Config, Event};

    /// metasmoke's shape: the API key travels inside the identifier.
    pub const KEY: &str = "good-key";

    pub fn api() -> Identifier {
        ApiChannel::new(KEY)
            .with_events("posts", &[ModelEvent::Create])
            .unwrap()
            .identifier()
            .unwrap()
    }

    pub fn client(port: u16, now: Instant) -> Client {
        let config = Config::new(format!("ws://127.0.0.1:{port}/cable?uid=recorder"))
            .with_unix_anchor(UnixAnchor::new(now, 1_764_300_000_000))
            .with_seed(21);
        let mut c = Client::new(config);
        c.subscribe(now, api()).unwrap();
        c
    }

    pub fn broadcast(port: u16, message: &str) {
        let enc = feedwire_interop::url_encode;
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            s,
            "GET /broadcast?stream={}&message={} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            enc("api:posts#create"),
            enc(message)
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    }

    pub fn messages(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Message { message, .. } => Some(message.as_str().to_owned()),
                _ => None,
            })
            .collect()
    }

    pub fn is_message(e: &Event) -> bool {
        matches!(e, Event::Message { .. })
    }
}

#[tokio::test]
#[ignore = "needs Rails ActionCable + puma: crates/feedwire-interop/scripts/install-peers.sh (CI runs it)"]
async fn rails_session_with_a_restart_replays_as_it_ran_live() {
    use feedwire_actioncable::client::Event;
    let port = free_port().unwrap();
    let mut peer = start_rails(port).expect("rails must start (run scripts/install-peers.sh)");
    let start = Instant::now();
    let client = rails::client(port, start);
    let url = format!("ws://127.0.0.1:{port}/cable?uid=recorder");
    let (tape, tap) = Tape::new("actioncable", &url, &[rails::KEY]);
    let mut conn = Connection::new(client).with_tap(tap);
    let mut live = Vec::new();
    until(&mut conn, &mut live, |e| matches!(e, Event::Confirmed { .. })).await;
    rails::broadcast(
        port,
        r#"{"event_class":"Post","event_type":"create","object":{"id":1}}"#,
    );
    until(&mut conn, &mut live, rails::is_message).await;
    rails::broadcast(
        port,
        r#"{"event_class":"Post","event_type":"create","object":{"id":2}}"#,
    );
    until(&mut conn, &mut live, rails::is_message).await;

    peer.stop();
    drop(peer);
    until(&mut conn, &mut live, |e| matches!(e, Event::Reconnecting { .. })).await;
    let peer = start_rails(port).expect("rails must start again");
    until(&mut conn, &mut live, |e| {
        matches!(
            e,
            Event::Confirmed {
                reconnected: true,
                ..
            }
        )
    })
    .await;
    rails::broadcast(
        port,
        r#"{"event_class":"Post","event_type":"create","object":{"id":3}}"#,
    );
    until(&mut conn, &mut live, rails::is_message).await;
    rails::broadcast(
        port,
        r#"{"event_class":"Post","event_type":"create","object":{"id":4}}"#,
    );
    until(&mut conn, &mut live, rails::is_message).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let text = tape.text();
    drop(conn);
    drop(peer);

    assert!(!text.contains(rails::KEY), "{text}");
    assert!(!text.contains("recorder"), "query values are redacted: {text}");
    let transcript = Transcript::parse(&text).unwrap();
    let now = Instant::now();
    let replay = replay_client(&transcript, rails::client(port, now), now);
    assert!(replay.mismatches.is_empty(), "{:?}\n{text}", replay.mismatches);
    let replayed: Vec<Event> = replay.events.into_iter().map(|r| r.event).collect();
    assert_eq!(rails::messages(&live).len(), 4);
    assert_eq!(rails::messages(&replayed), rails::messages(&live), "{text}");
    assert_eq!(kinds(&replayed), kinds(&live), "{text}");
    keep("feedwire-actioncable", "rails_restart.jsonl", &text);
}

// ---------------------------------------------------------------------------------------------------------
// Igratech, against the hub `feedwire demo` and `feedwire serve igratech` embed (no external peer: not
// ignored)

#[tokio::test]
async fn igratech_demo_server_session_with_a_restart_replays_as_it_ran_live() {
    use feedwire_core::Frame;
    use feedwire_igratech::client::{Client, Config, Event};
    use feedwire_igratech::codec::ServerMessage;
    use feedwire_igratech::server::{Hub, HubConfig};
    use feedwire_tungstenite::Server;
    const TOKEN: &str = "igratech-demo-token";
    let server = Server::bind("127.0.0.1:0", Hub::new(HubConfig::default()))
        .await
        .unwrap();
    let addr = server.local_addr();
    let url = format!("ws://{addr}/wspublic");
    let client = |now: Instant| {
        let settings = serde_json::from_str(r#"{"lang":"en","gameIds":[7]}"#).unwrap();
        Client::new(
            Config::default()
                .with_url(url.clone())
                .with_token(TOKEN)
                .with_settings(settings)
                .with_seed(21)
                .with_unix_anchor(UnixAnchor::new(now, 1_764_300_000_000)),
        )
    };
    let (tape, tap) = Tape::new("igratech", &url, &[TOKEN]);
    let mut conn = Connection::new(client(Instant::now())).with_tap(tap);
    let bet = |id: &str| {
        ServerMessage::decode(&Frame::from(format!(
            r#"{{"event":"bet","data":{{"gameId":7,"bets":[{{"betId":"{id}","odds":1.5}}]}}}}"#
        )))
        .unwrap()
    };
    let mut live = Vec::new();
    until(&mut conn, &mut live, |e| matches!(e, Event::Settings(_))).await;
    server.call(|hub| hub.publish(&bet("b1"))).unwrap();
    until(&mut conn, &mut live, |e| matches!(e, Event::Bet(_))).await;
    // the demo's restart: the same hub on the same port
    let hub = server.shutdown().await.expect("no handle is alive");
    let server = Server::bind(addr, hub).await.unwrap();
    until(&mut conn, &mut live, |e| matches!(e, Event::Settings(_))).await;
    server.call(|hub| hub.publish(&bet("b2"))).unwrap();
    until(&mut conn, &mut live, |e| matches!(e, Event::Bet(_))).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let text = tape.text();
    drop(conn);
    server.shutdown().await;

    assert!(!text.contains(TOKEN), "{text}");
    let transcript = Transcript::parse(&text).unwrap();
    let now = Instant::now();
    let replay = replay_client(&transcript, client(now), now);
    assert!(replay.mismatches.is_empty(), "{:?}\n{text}", replay.mismatches);
    let replayed: Vec<Event> = replay.events.into_iter().map(|r| r.event).collect();
    let bets = |events: &[Event]| -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Bet(b) => Some(format!("{b:?}")),
                _ => None,
            })
            .collect()
    };
    assert_eq!(bets(&live).len(), 2);
    assert_eq!(bets(&replayed), bets(&live), "{text}");
    assert_eq!(kinds(&replayed), kinds(&live), "{text}");
    keep("feedwire-igratech", "demo_restart.jsonl", &text);
}
