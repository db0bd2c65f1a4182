//! The feedwire ActionCable client against Rails ActionCable 6.1 under puma (Debian's packages), over real
//! loopback sockets through feedwire-tungstenite. Each test starts its own server and stops it.
#![allow(clippy::disallowed_methods)] // real time is the point here

use std::time::{Duration, Instant};

use feedwire_actioncable::client::{Client, Config, DisconnectReason, Event, StopReason};
use feedwire_actioncable::identifier::{ApiChannel, Identifier, ModelEvent};
use feedwire_core::UnixAnchor;
use feedwire_interop::{Peer, free_port, http_get, start_rails, url_encode as enc};
use feedwire_tungstenite::Connection;

const STEP: Duration = Duration::from_secs(10);

struct Rails {
    port: u16,
    _peer: Peer,
}

fn rails() -> Rails {
    let port = free_port().unwrap();
    Rails {
        port,
        _peer: start_rails(port).expect("rails must start (run scripts/install-peers.sh)"),
    }
}

fn connect(port: u16, query: &str, ids: &[Identifier]) -> Connection<Client> {
    let now = Instant::now();
    let config = Config::new(format!("ws://127.0.0.1:{port}/cable{query}"))
        .with_unix_anchor(UnixAnchor::new(now, 1_764_300_000_000));
    let mut c = Client::new(config);
    for id in ids {
        c.subscribe(now, id.clone()).unwrap();
    }
    Connection::new(c)
}

async fn next(conn: &mut Connection<Client>) -> Event {
    tokio::time::timeout(STEP, conn.next_event())
        .await
        .unwrap_or_else(|_| panic!("no event within {STEP:?}"))
        .expect("session ended")
}

async fn until<T>(conn: &mut Connection<Client>, mut f: impl FnMut(&Event) -> Option<T>) -> T {
    let deadline = Instant::now() + STEP * 2;
    loop {
        assert!(Instant::now() < deadline, "condition not reached");
        let ev = next(conn).await;
        if let Some(t) = f(&ev) {
            return t;
        }
    }
}

fn chat() -> Identifier {
    Identifier::channel_only("ChatChannel")
}

#[tokio::test]
#[ignore = "needs Rails ActionCable + puma: crates/feedwire-interop/scripts/install-peers.sh (CI runs it)"]
async fn welcome_confirm_perform_broadcast_and_reject() {
    let r = rails();
    let reject = Identifier::channel_only("RejectChannel");
    let mut c = connect(r.port, "?uid=alice", &[chat(), reject.clone()]);
    until(&mut c, |e| {
        matches!(
            e,
            Event::Connected {
                reconnected: false,
                ..
            }
        )
        .then_some(())
    })
    .await;
    let mut confirmed = false;
    let mut rejected = false;
    until(&mut c, |e| {
        match e {
            Event::Confirmed { identifier, .. } if *identifier == chat() => confirmed = true,
            Event::Rejected { identifier, .. } if *identifier == reject => rejected = true,
            _ => {}
        }
        (confirmed && rejected).then_some(())
    })
    .await;
    c.session_mut()
        .perform(&chat(), "speak", serde_json::json!({"text": "hi from feedwire"}))
        .unwrap();
    let msg = until(&mut c, |e| {
        if let Event::Message { message, .. } = e {
            Some(message.as_str().to_owned())
        } else {
            None
        }
    })
    .await;
    let v: serde_json::Value = serde_json::from_str(&msg).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"from": "alice", "text": "hi from feedwire"})
    );
}

#[tokio::test]
#[ignore = "needs Rails ActionCable + puma: crates/feedwire-interop/scripts/install-peers.sh (CI runs it)"]
async fn pings_keep_the_connection_fresh() {
    let r = rails();
    let mut c = connect(r.port, "", &[chat()]);
    until(&mut c, |e| matches!(e, Event::Confirmed { .. }).then_some(())).await;
    // Rails pings every 3 s; the 6 s stale threshold must never fire in 8 quiet seconds
    let quiet = tokio::time::timeout(Duration::from_secs(8), async {
        loop {
            let ev = c.next_event().await.expect("session ended");
            assert!(
                !matches!(ev, Event::Disconnected { .. }),
                "went stale or dropped: {ev:?}"
            );
        }
    })
    .await;
    assert!(quiet.is_err(), "the loop only ends by timing out");
    assert!(c.session().is_open());
}

#[tokio::test]
#[ignore = "needs Rails ActionCable + puma: crates/feedwire-interop/scripts/install-peers.sh (CI runs it)"]
async fn unauthorized_stops_for_good() {
    let r = rails();
    let mut c = connect(r.port, "?uid=bad", &[chat()]);
    let reason = until(&mut c, |e| {
        if let Event::Stopped { reason } = e {
            Some(reason.clone())
        } else {
            None
        }
    })
    .await;
    assert_eq!(
        reason,
        StopReason::ServerDisconnect {
            reason: Some("unauthorized".into())
        }
    );
    assert!(c.session().is_stopped());
    // nothing more happens: no reconnect
    let after = tokio::time::timeout(Duration::from_secs(2), c.next_event()).await;
    assert!(matches!(after, Ok(None) | Err(_)), "{after:?}");
}

#[tokio::test]
#[ignore = "needs Rails ActionCable + puma: crates/feedwire-interop/scripts/install-peers.sh (CI runs it)"]
async fn server_restart_reconnects_and_resubscribes() {
    let r = rails();
    let mut c = connect(r.port, "?uid=bob", &[chat()]);
    until(&mut c, |e| {
        matches!(
            e,
            Event::Confirmed {
                reconnected: false,
                ..
            }
        )
        .then_some(())
    })
    .await;
    http_get(r.port, "/restart");
    let reason = until(&mut c, |e| {
        if let Event::Disconnected { reason } = e {
            Some(reason.clone())
        } else {
            None
        }
    })
    .await;
    assert!(
        matches!(&reason, DisconnectReason::ServerDisconnect { reason: Some(r), reconnect: Some(true) } if r == "server_restart"),
        "{reason:?}"
    );
    let scheduled = next(&mut c).await;
    assert!(
        matches!(scheduled, Event::Reconnecting { .. }),
        "a reconnect is scheduled: {scheduled:?}"
    );
    until(&mut c, |e| {
        matches!(
            e,
            Event::Confirmed {
                reconnected: true,
                ..
            }
        )
        .then_some(())
    })
    .await;
    let recovered = until(&mut c, |e| {
        if let Event::Recovered { subscriptions, .. } = e {
            Some(subscriptions.clone())
        } else {
            None
        }
    })
    .await;
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].0, chat());
    c.session_mut()
        .perform(&chat(), "speak", serde_json::json!({"text": "back"}))
        .unwrap();
    until(&mut c, |e| matches!(e, Event::Message { .. }).then_some(())).await;
}

#[tokio::test]
#[ignore = "needs Rails ActionCable + puma: crates/feedwire-interop/scripts/install-peers.sh (CI runs it)"]
async fn identifier_with_characters_rails_escapes() {
    let r = rails();
    let id = Identifier::builder("ChatChannel")
        .param("room", "<b>&amp; \u{2028}")
        .unwrap()
        .build();
    let mut c = connect(r.port, "?uid=carol", std::slice::from_ref(&id));
    // Rails echoes the identifier with \u003c, \u003e, \u0026 and \u2028 escapes: it must still match
    until(&mut c, |e| {
        matches!(e, Event::Confirmed { identifier, .. } if *identifier == id).then_some(())
    })
    .await;
    c.session_mut()
        .perform(&id, "speak", serde_json::json!({"text": "<escaped & fine>"}))
        .unwrap();
    let msg = until(&mut c, |e| {
        if let Event::Message {
            identifier, message, ..
        } = e
        {
            (identifier == &id).then(|| message.as_str().to_owned())
        } else {
            None
        }
    })
    .await;
    assert!(msg.contains("escaped") && msg.contains("fine"), "{msg}");
}

#[tokio::test]
#[ignore = "needs Rails ActionCable + puma: crates/feedwire-interop/scripts/install-peers.sh (CI runs it)"]
async fn metasmoke_shaped_api_channel_with_an_events_filter() {
    let r = rails();
    let api = ApiChannel::new("good-key")
        .with_events("statistics", &[ModelEvent::Create, ModelEvent::Update])
        .unwrap()
        .with_events("posts", &[ModelEvent::Create])
        .unwrap()
        .identifier()
        .unwrap();
    let bad = ApiChannel::new("wrong-key")
        .with_events("posts", &[ModelEvent::Create])
        .unwrap()
        .identifier()
        .unwrap();
    let mut c = connect(r.port, "", &[api.clone(), bad.clone()]);
    let mut ok = false;
    let mut rejected = false;
    until(&mut c, |e| {
        match e {
            Event::Confirmed { identifier, .. } if *identifier == api => ok = true,
            Event::Rejected { identifier, .. } if *identifier == bad => rejected = true,
            _ => {}
        }
        (ok && rejected).then_some(())
    })
    .await;
    let message = r#"{"event_class":"Post","event_type":"create","object":{"id":1,"title":"<b>spam</b>"}}"#;
    http_get(
        r.port,
        &format!(
            "/broadcast?stream={}&message={}",
            enc("api:posts#create"),
            enc(message)
        ),
    );
    let got = until(&mut c, |e| {
        if let Event::Message {
            identifier, message, ..
        } = e
        {
            (identifier == &api).then(|| message.as_str().to_owned())
        } else {
            None
        }
    })
    .await;
    let v: serde_json::Value = serde_json::from_str(&got).unwrap();
    assert_eq!(v["object"]["title"], "<b>spam</b>");
    assert!(
        !format!("{api:?}").contains("good-key"),
        "the API key never reaches Debug"
    );
}
