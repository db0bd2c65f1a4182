//! The async client driver and the server loop over real sockets on 127.0.0.1, with the toy session and hub
//! from `common`. Every wait is bounded.
#![allow(clippy::disallowed_methods)] // tests read the real clock to schedule hub deadlines

mod common;

use std::time::{Duration, Instant};

use common::{Ev, HubEv, TopicClient, TopicHub};
use feedwire_core::{ConnId, ConnectRequest};
use feedwire_tungstenite::tungstenite::Message;
use feedwire_tungstenite::tungstenite::protocol::CloseFrame;
use feedwire_tungstenite::{
    BinaryPolicy, ClientConfig, Connection, Server, ServerConfig, TransportError, Update,
};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

async fn server() -> Server<TopicHub> {
    Server::bind("127.0.0.1:0", TopicHub::default()).await.unwrap()
}

fn url(server: &Server<TopicHub>) -> String {
    format!("ws://{}/topics?v=1", server.local_addr())
}

/// A plain tungstenite client on `/raw` of `server`, welcomed.
async fn raw_client(
    server: &Server<TopicHub>,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/raw", server.local_addr()))
        .await
        .unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("welcome"));
    ws
}

/// A client connected to `server` and subscribed to `news` (its open and subscribed events taken).
async fn subscribed(server: &Server<TopicHub>) -> Connection<TopicClient> {
    let mut conn = Connection::new(TopicClient::new(&url(server), "news"));
    take(&mut conn, 2).await;
    conn
}

async fn next(conn: &mut Connection<TopicClient>) -> Ev {
    timeout(WAIT, conn.next_event())
        .await
        .expect("timed out waiting for a client event")
        .expect("session ended")
}

async fn take(conn: &mut Connection<TopicClient>, n: usize) -> Vec<Ev> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(next(conn).await);
    }
    v
}

async fn hub_event(server: &Server<TopicHub>) -> HubEv {
    timeout(WAIT, server.next_event())
        .await
        .expect("timed out waiting for a hub event")
        .expect("server ended")
}

#[tokio::test]
async fn connect_subscribe_and_frames_both_ways() {
    let server = server().await;
    let mut conn = Connection::new(TopicClient::new(&url(&server), "news"));
    assert_eq!(
        take(&mut conn, 2).await,
        vec![Ev::Open(Some("topic-v1".into())), Ev::Subscribed("news".into())]
    );
    assert_eq!(
        hub_event(&server).await,
        HubEv::Open(ConnId(1), "/topics?v=1".into(), Some("topic-v1".into()))
    );
    assert_eq!(hub_event(&server).await, HubEv::Sub(ConnId(1), "news".into()));

    assert_eq!(server.call(|hub| hub.publish("news", "headline")), 1);
    server.call(|hub| hub.publish("sport", "score"));
    assert_eq!(next(&mut conn).await, Ev::Message("headline".into()));

    conn.session_mut().send("hello hub");
    let relay = async {
        let ev = conn.next_event().await;
        panic!("unexpected client event {ev:?}");
    };
    tokio::select! {
        ev = hub_event(&server) => assert_eq!(ev, HubEv::Frame(ConnId(1), "hello hub".into())),
        _ = relay => {}
    }

    // a close the session asks for reaches the hub as a close frame, and is not reported back
    conn.session_mut().stop();
    assert_eq!(next(&mut conn).await, Ev::Stopped);
    assert_eq!(timeout(WAIT, conn.next_event()).await.unwrap(), None);
    assert_eq!(hub_event(&server).await, HubEv::Close(ConnId(1), Some(1000)));
    let hub = server.shutdown().await.expect("no handle is alive");
    assert!(hub.subs.is_empty());
}

#[tokio::test]
async fn server_close_then_backoff_reconnect_and_resubscribe() {
    let server = server().await;
    let mut conn = subscribed(&server).await;
    conn.session_mut().subscribe("sport");
    assert_eq!(next(&mut conn).await, Ev::Subscribed("sport".into()));

    let kicked_at = Instant::now();
    server.call(|hub| hub.kick(ConnId(1), 4001));
    assert_eq!(
        take(&mut conn, 2).await,
        vec![Ev::Closed(Some(4001)), Ev::Reconnecting]
    );
    assert_eq!(next(&mut conn).await, Ev::Open(Some("topic-v1".into())));
    assert!(
        kicked_at.elapsed() >= Duration::from_millis(50),
        "reconnected before the session's backoff"
    );
    let mut resubscribed = take(&mut conn, 2).await;
    resubscribed.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(
        resubscribed,
        vec![Ev::Subscribed("news".into()), Ev::Subscribed("sport".into())]
    );
    assert_eq!(conn.session().opens, 2);
    // the hub forgot conn 1 itself (no close reported for a close it asked for); conn 2 has both topics
    server.call(|hub| {
        assert_eq!(hub.subscribers("news"), vec![ConnId(2)]);
        assert_eq!(hub.subscribers("sport"), vec![ConnId(2)]);
    });
    let mut hub_events = Vec::new();
    while let Ok(Some(ev)) = timeout(Duration::from_millis(100), server.next_event()).await {
        hub_events.push(ev);
    }
    assert!(
        !hub_events.contains(&HubEv::Close(ConnId(1), None)),
        "{hub_events:?}"
    );
    assert!(hub_events.contains(&HubEv::Open(
        ConnId(2),
        "/topics?v=1".into(),
        Some("topic-v1".into())
    )));
    server.call(|hub| hub.publish("sport", "goal"));
    assert_eq!(next(&mut conn).await, Ev::Message("goal".into()));
    drop(conn); // an undriven client would hold shutdown for the close timeout
    server.shutdown().await;
}

#[tokio::test]
async fn a_dial_to_a_closed_port_is_a_close_without_frame() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    }; // dropped: nothing listens there now
    let session = TopicClient::new(&format!("ws://127.0.0.1:{port}/x"), "news").once();
    let mut conn = Connection::new(session);
    assert_eq!(take(&mut conn, 2).await, vec![Ev::Closed(None), Ev::Stopped]);
    assert_eq!(conn.stats().dial_failures, 1);
    match conn.last_error() {
        Some(e @ TransportError::Connect { .. }) => {
            assert_eq!(e.io_kind(), Some(std::io::ErrorKind::ConnectionRefused), "{e}");
            assert_eq!(
                e.to_string(),
                format!("could not connect to 127.0.0.1:{port}: connection refused")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(timeout(WAIT, conn.next_event()).await.unwrap(), None);
}

#[tokio::test]
async fn transport_errors_come_in_the_update_stream_before_the_sessions_reaction() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let mut conn = Connection::new(TopicClient::new(&format!("ws://127.0.0.1:{port}/x"), "news").once());
    let mut updates = Vec::new();
    while let Some(u) = timeout(WAIT, conn.next_update()).await.unwrap() {
        updates.push(u);
    }
    assert_eq!(updates.len(), 3, "{updates:?}");
    assert!(
        matches!(&updates[0], Update::Transport(e) if e.io_kind() == Some(std::io::ErrorKind::ConnectionRefused)),
        "{updates:?}"
    );
    assert!(matches!(updates[1], Update::Event(Ev::Closed(None))));
    assert!(matches!(updates[2], Update::Event(Ev::Stopped)));
}

#[tokio::test]
async fn a_404_on_the_upgrade_says_so() {
    // a plain HTTP server that answers 404 to everything
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await;
        let body = "no such app";
        let resp = format!(
            "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        tokio::io::AsyncWriteExt::write_all(&mut s, resp.as_bytes())
            .await
            .unwrap();
    });
    let mut conn = Connection::new(TopicClient::new(&format!("ws://{addr}/wrong"), "news").once());
    match timeout(WAIT, conn.next_update()).await.unwrap() {
        Some(Update::Transport(e)) => {
            assert_eq!(e.status(), Some(404), "{e}");
            assert!(e.to_string().contains("HTTP 404"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    task.await.unwrap();
}

#[tokio::test]
async fn a_dial_that_hangs_times_out_into_a_close() {
    // a listener that never accepts: TCP connects (backlog), the HTTP handshake never answers
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/x", silent.local_addr().unwrap());
    let config = ClientConfig::default().with_dial_timeout(Duration::from_millis(200));
    let mut conn = Connection::with_config(TopicClient::new(&url, "news").once(), config);
    let started = Instant::now();
    assert_eq!(take(&mut conn, 2).await, vec![Ev::Closed(None), Ev::Stopped]);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(
        matches!(conn.last_error(), Some(TransportError::DialTimeout(d)) if *d == Duration::from_millis(200)),
        "{:?}",
        conn.last_error()
    );
    drop(silent);
}

#[tokio::test]
async fn bad_urls_headers_and_wss_without_a_server_are_closes() {
    for request in [
        ConnectRequest::new("not a url"),
        ConnectRequest::new("ws://127.0.0.1:1/").with_header("bad header", "x"),
        ConnectRequest::new("wss://127.0.0.1:1/"),
    ] {
        let session = TopicClient::new("ws://unused", "t").once().with_request(request);
        let mut conn = Connection::new(session);
        assert_eq!(take(&mut conn, 2).await, vec![Ev::Closed(None), Ev::Stopped]);
    }
}

#[tokio::test]
async fn a_subprotocol_the_server_refuses_fails_the_dial() {
    let server = server().await;
    let request = ConnectRequest::new(url(&server)).with_subprotocol("other-v2");
    let session = TopicClient::new("ws://unused", "t").once().with_request(request);
    let mut conn = Connection::new(session);
    assert_eq!(take(&mut conn, 2).await, vec![Ev::Closed(None), Ev::Stopped]);
    server.shutdown().await;
}

#[tokio::test]
async fn headers_and_no_subprotocol_reach_the_hub() {
    let server = server().await;
    let request =
        ConnectRequest::new(format!("ws://{}/plain?a=b", server.local_addr())).with_header("X-Api-Key", "k1");
    let session = TopicClient::new("ws://unused", "t").with_request(request);
    let mut conn = Connection::new(session);
    assert_eq!(next(&mut conn).await, Ev::Open(None));
    assert_eq!(
        hub_event(&server).await,
        HubEv::Open(ConnId(1), "/plain?a=b".into(), None)
    );
    server.call(|hub| {
        assert_eq!(hub.opened[0].header("x-api-key"), Some("k1"));
        assert_eq!(hub.opened[0].query(), "a=b");
        assert!(hub.opened[0].header("sec-websocket-protocol").is_none());
    });
    drop(conn); // an undriven client would hold shutdown for the close timeout
    server.shutdown().await;
}

#[tokio::test]
async fn handles_send_commands_from_other_tasks() {
    let server = server().await;
    let mut conn = subscribed(&server).await;
    let handle = conn.handle();
    let h2 = handle.clone();
    let task = tokio::spawn(async move {
        let added = h2
            .request(|s: &mut TopicClient| s.subscribe("sport"))
            .await
            .unwrap();
        let again = h2
            .request(|s: &mut TopicClient| s.subscribe("sport"))
            .await
            .unwrap();
        (added, again)
    });
    assert_eq!(next(&mut conn).await, Ev::Subscribed("sport".into()));
    assert_eq!(task.await.unwrap(), (true, false));
    handle.disconnect().unwrap();
    assert_eq!(next(&mut conn).await, Ev::Stopped);
    // a stopped session ends the event stream, even while a handle is alive
    assert_eq!(timeout(WAIT, conn.next_event()).await.unwrap(), None);
    // ... and a handle may start it again
    handle
        .call(|s| feedwire_core::Lifecycle::connect(s, Instant::now()))
        .unwrap();
    assert_eq!(next(&mut conn).await, Ev::Open(Some("topic-v1".into())));
    drop(handle);
    conn.disconnect();
    assert_eq!(next(&mut conn).await, Ev::Stopped);
    assert_eq!(timeout(WAIT, conn.next_event()).await.unwrap(), None);
    let orphan = conn.handle();
    drop(conn);
    assert!(orphan.call(|_| {}).is_err());
    server.shutdown().await;
}

#[tokio::test]
async fn session_deadlines_fire_and_the_event_stream_works() {
    let server = server().await;
    let session = TopicClient::new(&url(&server), "news").with_ping_every(Duration::from_millis(30));
    let mut conn = Connection::new(session);
    // the Stream of events
    let first: Vec<Ev> = (&mut conn).take(2).collect().await;
    assert_eq!(first[1], Ev::Subscribed("news".into()));
    let pinger = tokio::spawn(async move { while conn.next_event().await.is_some() {} });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let pings = server.call(|hub| hub.pings);
    assert!(
        (4..=20).contains(&pings),
        "{pings} pings in 400 ms at one per 30 ms"
    );
    pinger.abort();
    server.shutdown().await;
}

#[tokio::test]
async fn hub_deadlines_fire() {
    let server = server().await;
    let mut conn = subscribed(&server).await;
    let at = Instant::now() + Duration::from_millis(100);
    server.call(|hub| hub.send_at(at, ConnId(1), "later"));
    assert_eq!(next(&mut conn).await, Ev::Message("later".into()));
    assert!(Instant::now() >= at);
    drop(conn); // an undriven client would hold shutdown for the close timeout
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_every_connection_with_going_away() {
    let server = server().await;
    let mut a = Connection::new(TopicClient::new(&url(&server), "news").once());
    let mut b = Connection::new(TopicClient::new(&url(&server), "news").once());
    take(&mut a, 2).await;
    take(&mut b, 2).await;
    assert_eq!(server.handle().connections(), 2);
    let handle = server.handle();
    let shut = tokio::spawn(server.shutdown());
    assert_eq!(take(&mut a, 2).await, vec![Ev::Closed(Some(1001)), Ev::Stopped]);
    assert_eq!(take(&mut b, 2).await, vec![Ev::Closed(Some(1001)), Ev::Stopped]);
    let hub = timeout(WAIT, shut).await.unwrap().unwrap();
    assert!(hub.is_none(), "a handle is alive: the hub stays with it");
    assert_eq!(handle.connections(), 0);
    let events = handle.call(|hub| {
        assert!(hub.subs.is_empty());
        std::iter::from_fn(|| feedwire_core::Hub::poll_event(hub)).collect::<Vec<_>>()
    });
    assert!(events.contains(&HubEv::Close(ConnId(1), None)), "{events:?}");
    assert!(events.contains(&HubEv::Close(ConnId(2), None)), "{events:?}");
}

/// A bare tokio-tungstenite server for one connection, to send what our server never would.
async fn raw_server() -> (
    String,
    tokio::task::JoinHandle<Vec<Message>>,
    tokio::sync::mpsc::Sender<Message>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/raw", listener.local_addr().unwrap());
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Message>(16);
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
        let mut got = Vec::new();
        loop {
            tokio::select! {
                m = rx.recv() => match m {
                    Some(m) => ws.send(m).await.unwrap(),
                    None => break,
                },
                m = ws.next() => match m {
                    Some(Ok(m)) => {
                        let close = matches!(m, Message::Close(_));
                        got.push(m);
                        if close { break; }
                    }
                    _ => break,
                },
            }
        }
        got
    });
    (url, task, tx)
}

fn raw_session(url: &str) -> TopicClient {
    TopicClient::new("ws://unused", "t")
        .once()
        .with_request(ConnectRequest::new(url))
}

#[tokio::test]
async fn pings_are_answered_and_binary_frames_close_with_1003() {
    let (url, task, tx) = raw_server().await;
    let mut conn = Connection::new(raw_session(&url));
    assert_eq!(next(&mut conn).await, Ev::Open(None));
    tx.send(Message::Ping("are you there".into())).await.unwrap();
    tx.send(Message::text("text after ping")).await.unwrap();
    assert_eq!(next(&mut conn).await, Ev::Message("text after ping".into()));
    tx.send(Message::Binary(vec![0xff, 0x00].into())).await.unwrap();
    assert_eq!(
        take(&mut conn, 2).await,
        vec![Ev::Closed(Some(1003)), Ev::Stopped]
    );
    assert_eq!(conn.stats().binary_frames, 1);
    assert_eq!(timeout(WAIT, conn.next_event()).await.unwrap(), None);
    let got = timeout(WAIT, task).await.unwrap().unwrap();
    assert_eq!(got[0], Message::Pong("are you there".into()));
    match &got[1] {
        Message::Close(Some(CloseFrame { code, .. })) => assert_eq!(u16::from(*code), 1003),
        other => panic!("expected a 1003 close, got {other:?}"),
    }
}

#[tokio::test]
async fn binary_frames_can_be_ignored() {
    let (url, task, tx) = raw_server().await;
    let config = ClientConfig::default().with_binary(BinaryPolicy::Ignore);
    let mut conn = Connection::with_config(raw_session(&url), config);
    assert_eq!(next(&mut conn).await, Ev::Open(None));
    tx.send(Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    tx.send(Message::text("still here")).await.unwrap();
    assert_eq!(next(&mut conn).await, Ev::Message("still here".into()));
    assert_eq!(conn.stats().binary_frames, 1);
    drop(tx);
    assert_eq!(take(&mut conn, 2).await, vec![Ev::Closed(None), Ev::Stopped]);
    assert!(
        matches!(
            conn.last_error(),
            Some(TransportError::Read { .. } | TransportError::Eof)
        ),
        "{:?}",
        conn.last_error()
    );
    timeout(WAIT, task).await.unwrap().unwrap();
}

#[tokio::test]
async fn malformed_text_is_handed_over_and_invalid_utf8_drops_the_connection() {
    let (url, task, tx) = raw_server().await;
    let mut conn = Connection::new(raw_session(&url));
    assert_eq!(next(&mut conn).await, Ev::Open(None));
    // not JSON, not anything: the driver hands it over as is; judging it is the session's job
    tx.send(Message::text("{\"event\": oops")).await.unwrap();
    assert_eq!(next(&mut conn).await, Ev::Message("{\"event\": oops".into()));
    // a text frame that is not UTF-8 is a protocol error: the driver closes with 1007 (invalid payload) and
    // reports that close
    let bad = tungstenite::protocol::frame::Frame::message(
        vec![b'a', 0xff, 0xfe],
        tungstenite::protocol::frame::coding::OpCode::Data(tungstenite::protocol::frame::coding::Data::Text),
        true,
    );
    tx.send(Message::Frame(bad)).await.unwrap();
    assert_eq!(
        take(&mut conn, 2).await,
        vec![Ev::Closed(Some(1007)), Ev::Stopped]
    );
    // the close frame itself is best effort after tungstenite failed the read (its stream is fused then):
    // what the session learns is the 1007, and the connection ends
    assert_eq!(timeout(WAIT, conn.next_event()).await.unwrap(), None);
    drop(conn);
    drop(tx);
    let _ = timeout(WAIT, task).await;
}

#[tokio::test]
async fn a_close_frame_without_status_is_reported_as_1005() {
    let (url, task, tx) = raw_server().await;
    let mut conn = Connection::new(raw_session(&url));
    assert_eq!(next(&mut conn).await, Ev::Open(None));
    tx.send(Message::Close(None)).await.unwrap();
    assert_eq!(
        take(&mut conn, 2).await,
        vec![Ev::Closed(Some(1005)), Ev::Stopped]
    );
    drop(tx);
    let _ = timeout(WAIT, task).await;
}

#[tokio::test]
async fn the_server_refuses_binary_and_survives_garbage() {
    let server = server().await;
    // a raw client: binary frame -> 1003 close back, hub told handle_close(Some(1003))
    let mut ws = raw_client(&server).await;
    ws.send(Message::text("not a command {")).await.unwrap();
    ws.send(Message::Binary(vec![0u8; 10].into())).await.unwrap();
    let mut close = None;
    while let Some(Ok(m)) = timeout(WAIT, ws.next()).await.unwrap() {
        if let Message::Close(f) = m {
            close = f;
        }
    }
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1003));
    let mut evs = Vec::new();
    for _ in 0..3 {
        evs.push(hub_event(&server).await);
    }
    assert_eq!(
        evs[1..],
        [
            HubEv::Frame(ConnId(1), "not a command {".into()),
            HubEv::Close(ConnId(1), Some(1003))
        ]
    );

    // plain garbage on the TCP port never reaches the hub, and the server goes on
    let mut raw = tokio::net::TcpStream::connect(server.local_addr()).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut raw, b"GARBAGE\r\n\r\n")
        .await
        .unwrap();
    drop(raw);
    let mut conn = Connection::new(TopicClient::new(&url(&server), "news"));
    assert_eq!(take(&mut conn, 2).await[1], Ev::Subscribed("news".into()));
    assert_eq!(
        hub_event(&server).await,
        HubEv::Open(ConnId(2), "/topics?v=1".into(), Some("topic-v1".into()))
    );
    drop(conn); // an undriven client would hold shutdown for the close timeout
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_reset_is_a_close_without_frame_for_the_hub() {
    let server = server().await;
    drop(raw_client(&server).await);
    hub_event(&server).await; // open
    assert_eq!(hub_event(&server).await, HubEv::Close(ConnId(1), None));
    server.shutdown().await;
}

#[tokio::test]
async fn a_tiny_byte_budget_still_serves() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = Server::new(
        listener,
        TopicHub::default(),
        ServerConfig::default().with_conn_budget(4).with_global_budget(4),
    )
    .unwrap();
    let mut conn = Connection::new(TopicClient::new(&url(&server), "news"));
    take(&mut conn, 2).await;
    for i in 0..3 {
        server.call(|hub| hub.publish("news", &format!("m{i}")));
    }
    assert_eq!(
        take(&mut conn, 3).await,
        vec![
            Ev::Message("m0".into()),
            Ev::Message("m1".into()),
            Ev::Message("m2".into())
        ]
    );
    drop(conn); // an undriven client would hold shutdown for the close timeout
    server.shutdown().await;
}

#[tokio::test]
async fn wss_to_a_plain_server_fails_the_tls_handshake_into_a_close() {
    // builds the rustls client config (ring provider, webpki roots) and fails in the TLS handshake
    let server = server().await;
    let request = ConnectRequest::new(format!("wss://{}/topics", server.local_addr()));
    let session = TopicClient::new("ws://unused", "t").once().with_request(request);
    let mut conn = Connection::new(session);
    assert_eq!(take(&mut conn, 2).await, vec![Ev::Closed(None), Ev::Stopped]);
    assert_eq!(conn.stats().dial_failures, 1);
    server.shutdown().await;
}

/// Redials at once after every failure (no backoff) and never emits an event.
struct Impatient {
    closes: u32,
    out: std::collections::VecDeque<feedwire_core::Transmit>,
}

impl feedwire_core::Session for Impatient {
    type Event = ();
    fn handle_open(&mut self, _: Instant, _: Option<&str>) {}
    fn handle_frame(&mut self, _: Instant, _: feedwire_core::Frame) {}
    fn handle_close(&mut self, _: Instant, _: Option<feedwire_core::Close>) {
        self.closes += 1;
        self.out
            .push_back(feedwire_core::Transmit::Connect(ConnectRequest::new("not a url")));
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self) -> Option<feedwire_core::Transmit> {
        self.out.pop_front()
    }
    fn poll_event(&mut self) -> Option<()> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

impl feedwire_core::Lifecycle for Impatient {
    fn connect(&mut self, _: Instant) {
        self.out
            .push_back(feedwire_core::Transmit::Connect(ConnectRequest::new("not a url")));
    }
    fn disconnect(&mut self, _: Instant) {}
    fn is_open(&self) -> bool {
        false
    }
    fn is_stopped(&self) -> bool {
        false
    }
}

#[tokio::test]
async fn a_session_without_backoff_does_not_starve_the_runtime() {
    let session = Impatient {
        closes: 0,
        out: Default::default(),
    };
    let mut conn = Connection::new(session);
    // on this single-threaded runtime the timeout can only fire if the driver yields
    assert!(
        timeout(Duration::from_millis(100), conn.next_event())
            .await
            .is_err()
    );
    assert!(conn.session().closes > 100, "{}", conn.session().closes);
    assert_eq!(conn.stats().opened, 0);
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_stalled_handshake() {
    let server = server().await;
    // TCP only: the opening handshake never comes (the server would wait 10 s for it)
    let stalled = tokio::net::TcpStream::connect(server.local_addr()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    timeout(WAIT, server.shutdown()).await.unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    drop(stalled);
}

#[tokio::test]
async fn slow_handshakes_time_out_without_reaching_the_hub() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = ServerConfig::default().with_handshake_timeout(Duration::from_millis(100));
    let server = Server::new(listener, TopicHub::default(), config).unwrap();
    let mut stalled = tokio::net::TcpStream::connect(server.local_addr()).await.unwrap();
    // the server gives up and closes the socket: reading sees EOF (or a reset), never a handshake reply
    let mut buf = [0u8; 16];
    let n = timeout(WAIT, tokio::io::AsyncReadExt::read(&mut stalled, &mut buf))
        .await
        .unwrap();
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    assert!(
        timeout(Duration::from_millis(100), server.next_event())
            .await
            .is_err()
    );
    assert_eq!(server.handle().connections(), 0);
    server.shutdown().await;
}

#[tokio::test]
async fn the_server_answers_pings_and_can_ignore_binary() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = ServerConfig::default().with_binary(BinaryPolicy::Ignore);
    let server = Server::new(listener, TopicHub::default(), config).unwrap();
    let mut ws = raw_client(&server).await;
    ws.send(Message::Ping("hi".into())).await.unwrap();
    ws.send(Message::Binary(vec![7u8; 4].into())).await.unwrap();
    ws.send(Message::text("after binary")).await.unwrap();
    assert_eq!(
        timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap(),
        Message::Pong("hi".into())
    );
    hub_event(&server).await; // open
    assert_eq!(
        hub_event(&server).await,
        HubEv::Frame(ConnId(1), "after binary".into())
    );
    // a client-initiated close reaches the hub with its code
    ws.close(Some(CloseFrame {
        code: 4100.into(),
        reason: "done".into(),
    }))
    .await
    .unwrap();
    assert_eq!(hub_event(&server).await, HubEv::Close(ConnId(1), Some(4100)));
    server.shutdown().await;
}
