//! The smol / async-io client driver (no tokio on the client side) against the tokio server, over loopback.
#![allow(clippy::disallowed_methods)] // tests read the real clock

mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use common::{Ev, TopicClient, closed_port, kicked_and_resubscribed, topic_server};
use feedwire_core::ConnId;
use feedwire_tungstenite::{ClientConfig, SmolConnection};

/// Runs `f` on async-io's executor-free `block_on`, failing after 10 s.
fn run<T>(f: impl Future<Output = T>) -> T {
    async_io::block_on(async {
        match futures_util::future::select(
            Box::pin(f),
            Box::pin(async_io::Timer::after(Duration::from_secs(10))),
        )
        .await
        {
            futures_util::future::Either::Left((out, _)) => out,
            futures_util::future::Either::Right(_) => panic!("timed out"),
        }
    })
}

async fn take(conn: &mut SmolConnection<TopicClient>, n: usize) -> Vec<Ev> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(conn.next_event().await.expect("session ended"));
    }
    v
}

#[test]
fn smol_client_subscribes_receives_reconnects_and_resubscribes() {
    let (rt, server) = topic_server();
    let handle = server.handle();
    let url = format!("ws://{}/topics", server.local_addr());
    let events = run(async {
        let mut conn = SmolConnection::new(TopicClient::new(&url, "news"));
        let mut events = take(&mut conn, 2).await;
        assert_eq!(handle.call(|hub| hub.publish("news", "one")), 1);
        events.extend(take(&mut conn, 1).await);
        handle.call(|hub| hub.kick(ConnId(1), 4001));
        events.extend(take(&mut conn, 4).await);
        handle.call(|hub| hub.publish("news", "two"));
        events.extend(take(&mut conn, 1).await);
        conn.session_mut().stop();
        events.extend(take(&mut conn, 1).await);
        assert_eq!(conn.next_event().await, None);
        events
    });
    assert_eq!(
        events,
        [kicked_and_resubscribed("two"), vec![Ev::Stopped]].concat()
    );
    assert_eq!(handle.call(|hub| hub.subscribers("news")), Vec::<ConnId>::new());
    drop(handle);
    rt.block_on(server.shutdown()).unwrap();
}

#[test]
fn smol_dial_failures_and_timeouts_are_closes() {
    let port = closed_port();
    run(async {
        let mut conn = SmolConnection::new(TopicClient::new(&format!("ws://127.0.0.1:{port}/"), "t").once());
        assert_eq!(take(&mut conn, 2).await, vec![Ev::Closed(None), Ev::Stopped]);
        assert_eq!(conn.next_event().await, None);

        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("ws://{}/", silent.local_addr().unwrap());
        let config = ClientConfig::default().with_dial_timeout(Duration::from_millis(200));
        let mut conn = SmolConnection::with_config(TopicClient::new(&url, "t").once(), config);
        let started = Instant::now();
        assert_eq!(take(&mut conn, 2).await, vec![Ev::Closed(None), Ev::Stopped]);
        assert!(started.elapsed() >= Duration::from_millis(190));
        assert_eq!(conn.stats().dial_failures, 1);
    });
}

#[test]
fn smol_session_deadlines_fire() {
    let (rt, server) = topic_server();
    let url = format!("ws://{}/topics", server.local_addr());
    run(async {
        let session = TopicClient::new(&url, "news").with_ping_every(Duration::from_millis(30));
        let mut conn = SmolConnection::new(session);
        take(&mut conn, 2).await;
        let until = Instant::now() + Duration::from_millis(300);
        let driving = Box::pin(async { while conn.next_event().await.is_some() {} });
        futures_util::future::select(driving, Box::pin(async_io::Timer::at(until))).await;
    });
    let pings = server.call(|hub| hub.pings);
    assert!(
        (3..=15).contains(&pings),
        "{pings} pings in 300 ms at one per 30 ms"
    );
    rt.block_on(server.shutdown());
}

#[test]
fn smol_wss_to_a_plain_server_is_a_close() {
    // builds the futures-rustls client config (ring provider, webpki roots) and fails in the TLS handshake
    let (rt, server) = topic_server();
    let url = format!("wss://{}/topics", server.local_addr());
    run(async {
        let mut conn = SmolConnection::new(TopicClient::new(&url, "t").once());
        assert_eq!(take(&mut conn, 2).await, vec![Ev::Closed(None), Ev::Stopped]);
        assert_eq!(conn.stats().dial_failures, 1);
    });
    rt.block_on(server.shutdown());
}
