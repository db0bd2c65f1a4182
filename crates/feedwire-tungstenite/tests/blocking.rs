//! The blocking driver against the async server, over loopback.
#![allow(clippy::disallowed_methods)] // tests read the real clock

mod common;

use std::time::{Duration, Instant};

use common::{Ev, TopicClient, TopicHub, closed_port, kicked_and_resubscribed, topic_server};
use feedwire_core::ConnId;
use feedwire_tungstenite::{BlockingConnection, ClientConfig, TransportError};

#[test]
fn blocking_client_subscribes_receives_reconnects_and_resubscribes() {
    let (rt, server) = topic_server();
    let url = format!("ws://{}/topics", server.local_addr());
    let handle = server.handle();

    let client = std::thread::spawn(move || {
        let session = TopicClient::new(&url, "news").with_ping_every(Duration::from_millis(40));
        let mut conn = BlockingConnection::new(session);
        let mut events = Vec::new();
        let started = Instant::now();
        while let Some(ev) = conn.next_event() {
            let done = ev == Ev::Message("bye".into());
            events.push(ev);
            if done || started.elapsed() > Duration::from_secs(10) {
                break;
            }
        }
        conn.session_mut().stop();
        while conn.next_event().is_some() {}
        (events, conn.stats().opened)
    });

    let wait_for = |pred: &dyn Fn(&TopicHub) -> bool| {
        let end = Instant::now() + Duration::from_secs(5);
        while !handle.call(|hub| pred(hub)) {
            assert!(Instant::now() < end, "timed out");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_for(&|hub| hub.subscribers("news") == vec![ConnId(1)]);
    handle.call(|hub| hub.publish("news", "one"));
    // pings flow on the session's deadlines while the socket is otherwise quiet
    wait_for(&|hub| hub.pings >= 3);
    handle.call(|hub| hub.kick(ConnId(1), 4001));
    wait_for(&|hub| hub.subscribers("news") == vec![ConnId(2)]);
    handle.call(|hub| hub.publish("news", "bye"));

    let (events, opened) = client.join().unwrap();
    assert_eq!(opened, 2);
    assert_eq!(events, kicked_and_resubscribed("bye"));
    rt.block_on(server.shutdown());
}

#[test]
fn blocking_dial_failures_are_closes() {
    let port = closed_port();
    let mut conn = BlockingConnection::new(TopicClient::new(&format!("ws://127.0.0.1:{port}/"), "t").once());
    assert_eq!(conn.next_event(), Some(Ev::Closed(None)));
    assert_eq!(conn.next_event(), Some(Ev::Stopped));
    assert_eq!(conn.next_event(), None);
    assert!(
        matches!(conn.last_error(), Some(TransportError::Connect { .. })),
        "{:?}",
        conn.last_error()
    );

    // a server that accepts TCP but never answers the handshake: the dial timeout applies
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", silent.local_addr().unwrap());
    let config = ClientConfig::default().with_dial_timeout(Duration::from_millis(200));
    let mut conn = BlockingConnection::with_config(TopicClient::new(&url, "t").once(), config);
    let started = Instant::now();
    assert_eq!(conn.next_event(), Some(Ev::Closed(None)));
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(conn.stats().dial_failures, 1);
    assert!(
        matches!(conn.last_error(), Some(TransportError::DialTimeout(_))),
        "{:?}",
        conn.last_error()
    );
}

#[test]
fn blocking_client_backs_off_between_failed_dials() {
    let port = closed_port();
    let mut conn = BlockingConnection::new(TopicClient::new(&format!("ws://127.0.0.1:{port}/"), "t"));
    let started = Instant::now();
    let mut closes = 0;
    while closes < 3 {
        if conn.next_event() == Some(Ev::Closed(None)) {
            closes += 1;
        }
    }
    // backoff 50 ms then 100 ms between the three dials
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(conn.stats().dial_failures, 3);
}

#[test]
fn blocking_wss_to_a_plain_server_is_a_close() {
    let (rt, server) = topic_server();
    let url = format!("wss://{}/topics", server.local_addr());
    let config = ClientConfig::default().with_dial_timeout(Duration::from_secs(2));
    let mut conn = BlockingConnection::with_config(TopicClient::new(&url, "t").once(), config);
    assert_eq!(conn.next_event(), Some(Ev::Closed(None)));
    assert_eq!(conn.stats().dial_failures, 1);
    rt.block_on(server.shutdown());
}
