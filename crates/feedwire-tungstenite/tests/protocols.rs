//! Every protocol crate's client against its own hub through these adapters, over real loopback sockets:
//! connect, subscribe, receive, a server-initiated close, the reconnect and the resubscription, and an event
//! after it. (The adapters know no protocol; these tests only prove the protocols run on them.)
#![allow(clippy::disallowed_methods)] // real sockets, real time

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use feedwire_core::{Close, ConnId, RawJson, Secret};
use feedwire_tungstenite::{Connection, Server};

const STEP: Duration = Duration::from_secs(10);

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

async fn next<S: feedwire_core::Lifecycle + 'static>(c: &mut Connection<S>) -> S::Event {
    tokio::time::timeout(STEP, c.next_event())
        .await
        .expect("no event in time")
        .expect("session ended")
}

#[tokio::test]
async fn pusher_client_and_hub() {
    use feedwire_pusher::client::{ChannelAuth, Client, Config, Event};
    use feedwire_pusher::server::{Hub, HubConfig};
    let server = Server::bind("127.0.0.1:0", Hub::new(HubConfig::default()))
        .await
        .unwrap();
    let mut client = Client::new(
        Config::new("app-key")
            .with_host("127.0.0.1")
            .with_port(server.local_addr().port())
            .with_tls(false),
    );
    client.subscribe("inventory_changes").unwrap();
    client.subscribe("private-orders").unwrap();
    let mut c = Connection::new(client);
    let secret = Secret::new("app-secret".to_owned());
    // answers auth and counts (re)subscriptions until `n` of `kind` arrived
    async fn until(
        c: &mut Connection<Client>,
        secret: &Secret<String>,
        mut done: impl FnMut(&Event) -> bool,
    ) {
        loop {
            let ev = next(c).await;
            if let Event::AuthRequired { socket_id, channel } = &ev {
                let a = feedwire_pusher::auth::sign_private("app-key", secret, socket_id, channel);
                let channel = channel.clone();
                c.session_mut()
                    .provide_auth(&channel, ChannelAuth::new(a.expose().clone()))
                    .unwrap();
            }
            if done(&ev) {
                return;
            }
        }
    }
    let mut subs = 0;
    until(&mut c, &secret, |e| {
        subs += usize::from(matches!(e, Event::Subscribed { .. }));
        subs == 2
    })
    .await;
    // publishes `event` on `channel` to its one subscriber and waits until the client delivers it
    let data = RawJson::from_json_str(r#""{\"id\":1}""#).unwrap();
    async fn delivered(
        server: &Server<Hub>,
        c: &mut Connection<Client>,
        secret: &Secret<String>,
        (channel, name, data): (&str, &str, &RawJson),
    ) {
        assert_eq!(
            server.call(|hub| hub.publish(&[channel], name, data, None)),
            Ok(1)
        );
        until(
            c,
            secret,
            |e| matches!(e, Event::Message { event, .. } if &**event == name),
        )
        .await;
    }
    delivered(&server, &mut c, &secret, ("private-orders", "paid", &data)).await;
    // the server closes every connection with 4200: the client reconnects now and resubscribes both channels
    server.call(|hub| hub.disconnect(ConnId(1), Close::new(4200, "restart")));
    let mut resubs = Vec::new();
    until(&mut c, &secret, |e| {
        if let Event::Resubscribed { channel, .. } = e {
            resubs.push(channel.clone());
        }
        resubs.len() == 2
    })
    .await;
    resubs.sort();
    assert_eq!(resubs, vec!["inventory_changes", "private-orders"]);
    delivered(&server, &mut c, &secret, ("inventory_changes", "listed", &data)).await;
    drop(c);
    server.shutdown().await;
}

#[tokio::test]
async fn actioncable_client_and_hub() {
    use feedwire_actioncable::client::{Client, Config, Event};
    use feedwire_actioncable::identifier::Identifier;
    use feedwire_actioncable::server::{Hub, HubConfig, HubEvent};
    let now = Instant::now();
    let server = Server::bind(
        "127.0.0.1:0",
        Hub::new(HubConfig::default().with_unix_anchor(feedwire_core::UnixAnchor::new(now, unix_ms()))),
    )
    .await
    .unwrap();
    let chat = Identifier::channel_only("ChatChannel");
    let mut client = Client::new(
        Config::new(format!("ws://{}/cable", server.local_addr()))
            .with_unix_anchor(feedwire_core::UnixAnchor::new(now, unix_ms())),
    );
    client.subscribe(now, chat.clone()).unwrap();
    let mut c = Connection::new(client);
    // the host confirms subscriptions and streams them from "chat"
    async fn step(c: &mut Connection<Client>, server: &Server<Hub>) -> Event {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            tokio::select! {
                ev = c.next_event() => return ev.expect("session ended"),
                hev = server.next_event() => if let Some(HubEvent::SubscribeRequested { conn, identifier }) = hev {
                    server.call(|hub| {
                        hub.stream_from(conn, identifier.as_str(), "chat").unwrap();
                        hub.confirm(conn, identifier.as_str()).unwrap();
                    });
                },
                _ = tokio::time::sleep_until(deadline) => panic!("no event in time"),
            }
        }
    }
    while !matches!(step(&mut c, &server).await, Event::Confirmed { .. }) {}
    server
        .call(|hub| hub.broadcast("chat", r#"{"text":"hi"}"#))
        .unwrap();
    loop {
        if let Event::Message { message, .. } = step(&mut c, &server).await {
            assert_eq!(message.as_str(), r#"{"text":"hi"}"#);
            break;
        }
    }
    server.call(|hub| {
        let conns: Vec<_> = hub.connections().collect();
        for conn in conns {
            hub.disconnect(conn, Some("server_restart"), Some(true)).unwrap();
        }
    });
    let recovered = loop {
        if let Event::Recovered { subscriptions, .. } = step(&mut c, &server).await {
            break subscriptions;
        }
    };
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].0, chat);
    server
        .call(|hub| hub.broadcast("chat", r#"{"text":"again"}"#))
        .unwrap();
    while !matches!(step(&mut c, &server).await, Event::Message { .. }) {}
    drop(c);
    server.shutdown().await;
}

#[tokio::test]
async fn doshii_client_and_hub() {
    use feedwire_core::UnixAnchor;
    use feedwire_doshii::client::{Client, Config, Environment, Event};
    use feedwire_doshii::server::Hub;
    let server = Server::bind("127.0.0.1:0", Hub::default()).await.unwrap();
    let now = Instant::now();
    let config = Config::app("partner", UnixAnchor::new(now, unix_ms()))
        .with_environment(Environment::Host(format!("ws://{}", server.local_addr())));
    let client = Client::new(config);
    let mut c = Connection::new(client);
    while !matches!(next(&mut c).await, Event::Pong { .. }) {}
    let order = RawJson::from_json_str(r#"{"id":"1","status":"pending"}"#).unwrap();
    assert_eq!(
        server.call(|hub| hub.publish_to_app(Instant::now(), "partner", "order_created", &order)),
        Ok(1)
    );
    while !matches!(next(&mut c).await, Event::Doshii(_)) {}
    // the server drops the app; an order changes meanwhile; it is replayed after the reconnect
    server.call(|hub| {
        let conns: Vec<_> = hub.connections().map(|(c, _)| c).collect();
        for conn in conns {
            hub.close(Instant::now(), conn, Close::new(1012, "restart"));
        }
    });
    let updated = RawJson::from_json_str(r#"{"id":"1","status":"accepted"}"#).unwrap();
    server
        .call(|hub| hub.publish_to_app(Instant::now(), "partner", "order_updated", &updated))
        .unwrap();
    let (mut catch_up, mut replayed) = (false, false);
    while !(catch_up && replayed) {
        match next(&mut c).await {
            Event::CatchUp(w) => {
                assert!(w.from <= w.to);
                catch_up = true;
            }
            Event::Doshii(ev) => {
                assert_eq!(ev.name(), "order_updated");
                replayed = true;
            }
            _ => {}
        }
    }
    drop(c);
    server.shutdown().await;
}

#[tokio::test]
async fn igratech_client_and_hub_across_a_server_restart() {
    use feedwire_igratech::client::{Client, Config, Event};
    use feedwire_igratech::codec::ServerMessage;
    use feedwire_igratech::server::{Hub, HubConfig};
    let server = Server::bind("127.0.0.1:0", Hub::new(HubConfig::default()))
        .await
        .unwrap();
    let addr = server.local_addr();
    let now = Instant::now();
    let settings = serde_json::from_str(r#"{"lang":"en","gameIds":[7]}"#).unwrap();
    let config = Config::default()
        .with_url(format!("ws://{addr}/wspublic"))
        .with_token("u1")
        .with_settings(settings)
        .with_unix_anchor(feedwire_core::UnixAnchor::new(now, unix_ms()));
    let client = Client::new(config);
    let mut c = Connection::new(client);
    while !matches!(next(&mut c).await, Event::Settings(_)) {}
    let bet = ServerMessage::decode(&feedwire_core::Frame::from(
        r#"{"event":"bet","data":{"gameId":7,"bets":[{"betId":"b1","odds":1.5}]}}"#,
    ))
    .unwrap();
    assert_eq!(server.call(|hub| hub.publish(&bet)).unwrap(), 1);
    while !matches!(next(&mut c).await, Event::Bet(_)) {}
    // restart: the same hub on the same port
    let hub = server.shutdown().await.expect("no handle is alive");
    let server = Server::bind(addr, hub).await.unwrap();
    let (mut gap, mut settings_again) = (false, false);
    while !(gap && settings_again) {
        match next(&mut c).await {
            Event::Gap {
                from_unix_ms,
                to_unix_ms,
                ..
            } => {
                assert!(from_unix_ms <= to_unix_ms);
                gap = true;
            }
            Event::Settings(_) => settings_again = true,
            _ => {}
        }
    }
    assert_eq!(server.call(|hub| hub.publish(&bet)).unwrap(), 1);
    while !matches!(next(&mut c).await, Event::Bet(_)) {}
    drop(c);
    server.shutdown().await;
}
