//! The feedwire Pusher client against soketi 1.6 (a real, independent Pusher-protocol server), over real
//! loopback sockets through feedwire-tungstenite, with events triggered through the official `pusher` Node SDK.
//! Each test starts its own soketi on a free port and stops it (also when the test fails).
#![allow(clippy::disallowed_methods)] // real time is the point here

use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use feedwire_core::Secret;
use feedwire_interop::{Peer, free_port, peers_dir, start_soketi};
use feedwire_pusher::auth;
use feedwire_pusher::client::{ChannelAuth, Client, Config, Event};
use feedwire_tungstenite::Connection;
use sha2::Digest;

const MASTER_KEY: &str = "tIZ2pg2Yb1JG7PhD9LN9vl5qzLpQ7AUN+Z8YdXnBnUw=";
const STEP: Duration = Duration::from_secs(10);

struct Soketi {
    port: u16,
    _peer: Peer,
}

fn soketi(client_messages: bool) -> Soketi {
    let port = free_port().unwrap();
    Soketi {
        port,
        _peer: start_soketi(port, client_messages).expect("soketi must start (run scripts/install-peers.sh)"),
    }
}

fn client(port: u16, channels: &[&str]) -> Connection<Client> {
    let config = Config::new("app-key")
        .with_host("127.0.0.1")
        .with_port(port)
        .with_tls(false);
    let mut c = Client::new(config);
    for ch in channels {
        c.subscribe(ch).unwrap();
    }
    Connection::new(c)
}

/// What an app's auth endpoint answers: signature, presence data, and for encrypted channels the shared
/// secret (sha256(channel || master key), as the server SDKs derive it).
fn authorize(socket_id: &str, channel: &str, user: &str) -> ChannelAuth {
    let secret = Secret::new("app-secret".to_owned());
    if channel.starts_with("presence-") {
        let data = format!(r#"{{"user_id":"{user}","user_info":{{"name":"{user}"}}}}"#);
        ChannelAuth::new(
            auth::sign_presence("app-key", &secret, socket_id, channel, &data)
                .expose()
                .clone(),
        )
        .with_channel_data(data)
    } else {
        let a = ChannelAuth::new(
            auth::sign_private("app-key", &secret, socket_id, channel)
                .expose()
                .clone(),
        );
        if channel.starts_with("private-encrypted-") {
            let key = base64::engine::general_purpose::STANDARD
                .decode(MASTER_KEY)
                .unwrap();
            let mut h = sha2::Sha256::new();
            h.update(channel.as_bytes());
            h.update(&key);
            a.with_shared_secret(base64::engine::general_purpose::STANDARD.encode(h.finalize()))
        } else {
            a
        }
    }
}

/// Next event, answering auth requests on the way; fails after `STEP` of silence.
async fn next(conn: &mut Connection<Client>, user: &str) -> Event {
    let ev = tokio::time::timeout(STEP, conn.next_event())
        .await
        .unwrap_or_else(|_| panic!("no event within {STEP:?}"))
        .expect("session ended");
    if let Event::AuthRequired { socket_id, channel } = &ev {
        let a = authorize(socket_id, channel, user);
        let channel = channel.clone();
        conn.session_mut().provide_auth(&channel, a).unwrap();
    }
    ev
}

async fn until<T>(conn: &mut Connection<Client>, user: &str, mut f: impl FnMut(&Event) -> Option<T>) -> T {
    let deadline = Instant::now() + STEP * 2;
    loop {
        assert!(Instant::now() < deadline, "condition not reached");
        let ev = next(conn, user).await;
        if let Some(t) = f(&ev) {
            return t;
        }
    }
}

async fn subscribed(conn: &mut Connection<Client>, user: &str, n: usize) {
    let mut seen = 0;
    until(conn, user, |e| {
        if matches!(e, Event::Subscribed { .. } | Event::Resubscribed { .. }) {
            seen += 1;
        }
        (seen == n).then_some(())
    })
    .await;
}

/// Triggers through the official SDK (runs `peers/clients/trigger.js`).
fn trigger(port: u16, channel: &str, event: &str, data: &str, master_key: Option<&str>) {
    let dir = peers_dir().join("clients");
    let mut cmd = Command::new("node");
    cmd.current_dir(&dir)
        .args(["trigger.js", &port.to_string(), channel, event, data]);
    if let Some(k) = master_key {
        cmd.arg(k);
    }
    let out = cmd.output().expect("node must run");
    assert!(
        out.status.success(),
        "trigger failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn message(e: &Event) -> Option<(String, String, String)> {
    match e {
        Event::Message {
            channel, event, data, ..
        } => Some((
            channel.as_deref().unwrap_or("").to_owned(),
            event.to_string(),
            data.as_ref().map(|d| d.text().into_owned()).unwrap_or_default(),
        )),
        _ => None,
    }
}

#[tokio::test]
#[ignore = "needs soketi and node: crates/feedwire-interop/scripts/install-peers.sh (CI runs it)"]
async fn public_and_private_events_through_the_sdk() {
    let s = soketi(false);
    let mut c = client(s.port, &["inventory_changes", "private-orders"]);
    subscribed(&mut c, "u", 2).await;
    trigger(
        s.port,
        "inventory_changes",
        "listed",
        r#"{"asset_id":"1","price":12.5}"#,
        None,
    );
    let m = until(&mut c, "u", message).await;
    assert_eq!(
        m,
        (
            "inventory_changes".into(),
            "listed".into(),
            r#"{"asset_id":"1","price":12.5}"#.into()
        )
    );
    trigger(s.port, "private-orders", "paid", r#"{"order":7}"#, None);
    let m = until(&mut c, "u", message).await;
    assert_eq!(
        m,
        ("private-orders".into(), "paid".into(), r#"{"order":7}"#.into())
    );
}

#[tokio::test]
#[ignore = "needs soketi and node: crates/feedwire-interop/scripts/install-peers.sh (CI runs it)"]
async fn presence_two_clients_see_each_other_join_and_leave() {
    let s = soketi(false);
    let mut a = client(s.port, &["presence-room"]);
    subscribed(&mut a, "alice", 1).await;
    let mut b = client(s.port, &["presence-room"]);
    subscribed(&mut b, "bob", 1).await;
    let members: Vec<String> = b
        .session()
        .members("presence-room")
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(members, vec!["alice".to_string(), "bob".to_string()]);
    let joined = until(&mut a, "alice", |e| {
        if let Event::MemberAdded { user_id, .. } = e {
            Some(user_id.clone())
        } else {
            None
        }
    })
    .await;
    assert_eq!(joined, "bob");
    b.session_mut().disconnect(Instant::now());
    // drive b so its close goes out
    let _ = tokio::time::timeout(Duration::from_millis(500), b.next_event()).await;
    drop(b);
    let left = until(&mut a, "alice", |e| {
        if let Event::MemberRemoved { user_id, .. } = e {
            Some(user_id.clone())
        } else {
            None
        }
    })
    .await;
    assert_eq!(left, "bob");
}

#[tokio::test]
#[ignore = "needs soketi and node: crates/feedwire-interop/scripts/install-peers.sh (CI runs it)"]
async fn client_events_reach_the_other_client() {
    let s = soketi(true);
    let mut a = client(s.port, &["private-chat"]);
    subscribed(&mut a, "alice", 1).await;
    let mut b = client(s.port, &["private-chat"]);
    subscribed(&mut b, "bob", 1).await;
    a.session_mut()
        .trigger(
            Instant::now(),
            "private-chat",
            "client-typing",
            r#"{"who":"alice"}"#,
        )
        .unwrap();
    let (tx_done, got) = tokio::join!(
        async {
            // keep a's driver running so the frame goes out
            let _ = tokio::time::timeout(Duration::from_secs(2), a.next_event()).await;
        },
        until(&mut b, "bob", message)
    );
    let () = tx_done;
    assert_eq!(
        got,
        (
            "private-chat".into(),
            "client-typing".into(),
            r#"{"who":"alice"}"#.into()
        )
    );
}

#[tokio::test]
#[ignore = "needs soketi and node: crates/feedwire-interop/scripts/install-peers.sh (CI runs it)"]
async fn cache_channel_miss_then_cached_replay() {
    let s = soketi(false);
    let mut a = client(s.port, &["cache-prices"]);
    until(&mut a, "a", |e| {
        matches!(e, Event::CacheMiss { .. }).then_some(())
    })
    .await;
    trigger(s.port, "cache-prices", "price", r#"{"p":42}"#, None);
    until(&mut a, "a", message).await;
    let mut b = client(s.port, &["cache-prices"]);
    let replay = until(&mut b, "b", message).await;
    assert_eq!(
        replay,
        ("cache-prices".into(), "price".into(), r#"{"p":42}"#.into())
    );
}

#[tokio::test]
#[ignore = "needs soketi and node: crates/feedwire-interop/scripts/install-peers.sh (CI runs it)"]
async fn encrypted_channel_is_decrypted() {
    let s = soketi(false);
    let mut c = client(s.port, &["private-encrypted-vault"]);
    subscribed(&mut c, "u", 1).await;
    trigger(
        s.port,
        "private-encrypted-vault",
        "secret",
        r#"{"code":"1234"}"#,
        Some(MASTER_KEY),
    );
    let m = until(&mut c, "u", message).await;
    assert_eq!(
        m,
        (
            "private-encrypted-vault".into(),
            "secret".into(),
            r#"{"code":"1234"}"#.into()
        )
    );
}

#[tokio::test]
#[ignore = "needs soketi and node: crates/feedwire-interop/scripts/install-peers.sh (CI runs it)"]
async fn bad_auth_is_a_subscription_error() {
    let s = soketi(false);
    let mut c = client(s.port, &["private-bad"]);
    let ev = tokio::time::timeout(STEP, async {
        loop {
            let ev = c.next_event().await.expect("session ended");
            if let Event::AuthRequired { channel, .. } = &ev {
                let channel = channel.clone();
                c.session_mut()
                    .provide_auth(&channel, ChannelAuth::new("app-key:deadbeef"))
                    .unwrap();
            }
            if let Event::SubscriptionFailed { channel, error } = ev {
                return (channel, error.status);
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(ev, (Some("private-bad".into()), Some(401)));
}

#[tokio::test]
#[ignore = "needs soketi and node: crates/feedwire-interop/scripts/install-peers.sh (CI runs it)"]
async fn soketi_restart_reconnects_reauthorizes_and_resubscribes() {
    let port = free_port().unwrap();
    let mut peer = start_soketi(port, false).unwrap();
    let mut c = client(port, &["inventory_changes", "private-orders"]);
    subscribed(&mut c, "u", 2).await;
    let first_socket = c.session().socket_id().unwrap().to_owned();
    peer.stop();
    drop(peer);
    let peer = start_soketi(port, false).unwrap();
    let mut resubscribed = Vec::new();
    let mut reauthorized = false;
    until(&mut c, "u", |e| {
        match e {
            Event::AuthRequired { channel, .. } if channel == "private-orders" => reauthorized = true,
            Event::Resubscribed { channel, after } => {
                assert!(*after > Duration::ZERO);
                resubscribed.push(channel.clone());
            }
            _ => {}
        }
        (resubscribed.len() == 2).then_some(())
    })
    .await;
    assert!(reauthorized, "the private channel was signed again");
    assert_ne!(c.session().socket_id().unwrap(), first_socket);
    trigger(port, "private-orders", "after_restart", r#"{"ok":true}"#, None);
    let m = until(&mut c, "u", message).await;
    assert_eq!(m.1, "after_restart");
    drop(peer);
}
