//! The server's closes, shutdowns, built-in routes and metrics, over real sockets on 127.0.0.1: oversize
//! messages close with 1009 and invalid UTF-8 with 1007 (close frames the client reads, not resets); a
//! graceful shutdown lets the hub say goodbye and close, answers 503 on `/ready` meanwhile and closes what is
//! left with 1001 at its deadline; `/health`, `/ready` and `/metrics` answer.
#![allow(clippy::disallowed_methods)] // tests measure real time

mod common;

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use common::http::HttpClient;
use common::{HubEv, TopicHub};
use feedwire_core::{Close, ConnId, Frame, Hub, HubTransmit, OpenRequest};
use feedwire_tungstenite::tungstenite;
use feedwire_tungstenite::tungstenite::Message;
use feedwire_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use feedwire_tungstenite::{BinaryPolicy, Server, ServerConfig, default_websocket_config};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn ws(server_addr: std::net::SocketAddr, path: &str) -> Ws {
    tokio_tungstenite::connect_async(format!("ws://{server_addr}{path}"))
        .await
        .unwrap()
        .0
}

/// Reads until a close frame (its code and reason) or the end (`None`: no close frame).
async fn close_of(ws: &mut Ws) -> Option<(u16, String)> {
    timeout(WAIT, async {
        while let Some(m) = ws.next().await {
            match m {
                Ok(Message::Close(f)) => return f.map(|f| (u16::from(f.code), f.reason.as_str().to_owned())),
                Ok(_) => {}
                Err(e) => panic!("a reset instead of a close frame: {e}"),
            }
        }
        None
    })
    .await
    .expect("no close")
}

async fn hub_event(server: &Server<TopicHub>) -> HubEv {
    timeout(WAIT, server.next_event()).await.unwrap().unwrap()
}

#[tokio::test]
async fn oversize_messages_close_with_1009_and_invalid_utf8_with_1007() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let websocket = default_websocket_config()
        .max_message_size(Some(1024))
        .max_frame_size(Some(1024));
    let config = ServerConfig::default()
        .with_websocket(websocket)
        .with_binary(BinaryPolicy::Ignore);
    let server = Server::new(listener, TopicHub::default(), config).unwrap();
    let addr = server.local_addr();

    // one frame over the limit, with more after it in flight: a 1009 close frame, not a reset
    let mut a = ws(addr, "/big").await;
    assert_eq!(a.next().await.unwrap().unwrap(), Message::text("welcome"));
    a.send(Message::text("x".repeat(64 * 1024))).await.unwrap();
    let _ = a.send(Message::text("after")).await;
    assert_eq!(close_of(&mut a).await, Some((1009, "message too big".to_owned())));
    assert_eq!(
        hub_event(&server).await,
        HubEv::Open(ConnId(1), "/big".into(), None)
    );
    assert_eq!(hub_event(&server).await, HubEv::Close(ConnId(1), Some(1009)));

    // a fragmented message whose parts add up to more than the limit: 1009 as well
    let mut b = ws(addr, "/fragments").await;
    assert_eq!(b.next().await.unwrap().unwrap(), Message::text("welcome"));
    for (i, op) in [
        OpCode::Data(Data::Text),
        OpCode::Data(Data::Continue),
        OpCode::Data(Data::Continue),
    ]
    .into_iter()
    .enumerate()
    {
        let part = tungstenite::protocol::frame::Frame::message(vec![b'y'; 600], op, i == 2);
        let _ = b.send(Message::Frame(part)).await;
    }
    assert_eq!(close_of(&mut b).await.map(|c| c.0), Some(1009));

    // a text frame that is not UTF-8: 1007
    let mut c = ws(addr, "/utf8").await;
    assert_eq!(c.next().await.unwrap().unwrap(), Message::text("welcome"));
    let bad =
        tungstenite::protocol::frame::Frame::message(vec![b'a', 0xff, 0xfe], OpCode::Data(Data::Text), true);
    c.send(Message::Frame(bad)).await.unwrap();
    assert_eq!(
        close_of(&mut c).await,
        Some((1007, "invalid UTF-8 in a text message".to_owned()))
    );

    // the server goes on: binary frames are ignored as configured, text within the limit reaches the hub
    let mut d = ws(addr, "/fine").await;
    assert_eq!(d.next().await.unwrap().unwrap(), Message::text("welcome"));
    d.send(Message::Binary(vec![1u8; 200].into())).await.unwrap();
    d.send(Message::text("y".repeat(1000))).await.unwrap();
    let mut frames = Vec::new();
    while frames.is_empty() {
        if let HubEv::Frame(conn, text) = hub_event(&server).await {
            frames.push((conn, text.len()));
        }
    }
    assert_eq!(frames, vec![(ConnId(4), 1000)]);
    drop((a, b, c, d));
    server.shutdown().await;
}

/// Says goodbye and closes every connection with 4200 on `handle_shutdown`.
#[derive(Default)]
struct Goodbye {
    conns: BTreeSet<ConnId>,
    out: VecDeque<(ConnId, HubTransmit)>,
    closes: Vec<(ConnId, Option<u16>)>,
}

impl Hub for Goodbye {
    type Event = ();
    fn handle_open(&mut self, _: Instant, conn: ConnId, _: &OpenRequest) {
        self.conns.insert(conn);
        self.out
            .push_back((conn, HubTransmit::Send(Frame::from("welcome"))));
    }
    fn handle_frame(&mut self, _: Instant, conn: ConnId, frame: Frame) {
        self.out.push_back((conn, HubTransmit::Send(frame)));
    }
    fn handle_close(&mut self, _: Instant, conn: ConnId, close: Option<Close>) {
        self.conns.remove(&conn);
        self.closes.push((conn, close.map(|c| c.code.0)));
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn handle_shutdown(&mut self, _: Instant) {
        for conn in std::mem::take(&mut self.conns) {
            self.out
                .push_back((conn, HubTransmit::Send(Frame::from("goodbye: reconnect"))));
            self.out
                .push_back((conn, HubTransmit::Close(Close::new(4200, "restarting"))));
        }
    }
    fn poll_transmit(&mut self) -> Option<(ConnId, HubTransmit)> {
        self.out.pop_front()
    }
    fn poll_event(&mut self) -> Option<()> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

#[tokio::test]
async fn a_graceful_shutdown_delivers_the_hubs_goodbye_and_close_and_answers_503_on_ready_meanwhile() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = ServerConfig::default().with_close_timeout(Duration::from_secs(3));
    let server = Server::new(listener, Goodbye::default(), config).unwrap();
    let addr = server.local_addr();
    let handle = server.handle();

    let mut a = ws(addr, "/a").await;
    let mut b = ws(addr, "/b").await;
    for w in [&mut a, &mut b] {
        assert_eq!(w.next().await.unwrap().unwrap(), Message::text("welcome"));
    }
    let mut http = HttpClient::new(TcpStream::connect(addr).await.unwrap());
    assert_eq!(http.request("GET", "/ready", &[], b"").await.unwrap().status, 200);

    let started = Instant::now();
    let shutdown = tokio::spawn(server.shutdown_gracefully(Duration::from_secs(8)));

    // a reads its goodbye, then the hub's close frame, and answers it (tungstenite does on the next read)
    assert_eq!(
        timeout(WAIT, a.next()).await.unwrap().unwrap().unwrap(),
        Message::text("goodbye: reconnect")
    );
    assert_eq!(close_of(&mut a).await, Some((4200, "restarting".to_owned())));

    // b does not read yet, so its close handshake keeps the drain going: /ready says 503 meanwhile, and the
    // listener accepts no one
    let ready = http.request("GET", "/ready", &[], b"").await.unwrap();
    assert_eq!((ready.status, ready.text().as_str()), (503, "shutting down\n"));
    assert_eq!(
        http.request("GET", "/health", &[], b"").await.unwrap().status,
        200
    );
    let refused = timeout(Duration::from_secs(2), TcpStream::connect(addr)).await;
    assert!(!matches!(refused, Ok(Ok(_))), "a new connection was accepted");

    // b reads: the same goodbye and close, then the drain ends well before its deadline
    assert_eq!(
        timeout(WAIT, b.next()).await.unwrap().unwrap().unwrap(),
        Message::text("goodbye: reconnect")
    );
    assert_eq!(close_of(&mut b).await, Some((4200, "restarting".to_owned())));
    let hub = timeout(WAIT, shutdown).await.unwrap().unwrap();
    assert!(hub.is_none(), "a handle is alive");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    // the hub closed both itself: nothing was reported back
    assert_eq!(handle.call(|hub| hub.closes.clone()), vec![]);
    assert_eq!(handle.connections(), 0);
    assert!(
        timeout(WAIT, http.closed()).await.unwrap(),
        "the HTTP connection was left open"
    );
}

#[tokio::test]
async fn at_the_graceful_deadline_what_is_left_is_closed_with_1001() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    // TopicHub says nothing on shutdown (the default `handle_shutdown`)
    let server = Server::new(listener, TopicHub::default(), ServerConfig::default()).unwrap();
    let mut a = ws(server.local_addr(), "/a").await;
    assert_eq!(a.next().await.unwrap().unwrap(), Message::text("welcome"));
    let started = Instant::now();
    let shutdown = tokio::spawn(server.shutdown_gracefully(Duration::from_millis(300)));
    assert_eq!(close_of(&mut a).await.map(|c| c.0), Some(1001));
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    let hub = timeout(WAIT, shutdown)
        .await
        .unwrap()
        .unwrap()
        .expect("no handle is alive");
    assert!(hub.subs.is_empty());
}

#[tokio::test]
async fn health_and_ready_answer_get_and_head() {
    let server = Server::bind("127.0.0.1:0", TopicHub::default()).await.unwrap();
    let mut c = HttpClient::new(TcpStream::connect(server.local_addr()).await.unwrap());
    let a = c.request("GET", "/health", &[], b"").await.unwrap();
    assert_eq!((a.status, a.text().as_str()), (200, "ok\n"));
    let a = c.request("HEAD", "/health", &[], b"").await.unwrap();
    assert_eq!((a.status, a.header("content-length")), (200, Some("3")));
    let a = c.request("GET", "/ready", &[], b"").await.unwrap();
    assert_eq!((a.status, a.text().as_str()), (200, "ready\n"));
    // without the feature or a registry, /metrics is no built-in route: no handler, so 426
    let a = c.request("GET", "/metrics", &[], b"").await.unwrap();
    assert_eq!(a.status, 426);
    server.shutdown().await;
}

#[cfg(feature = "metrics")]
#[tokio::test]
async fn metrics_are_served_from_the_hosts_registry() {
    use feedwire_tungstenite::prometheus_client::metrics::counter::Counter;
    use feedwire_tungstenite::prometheus_client::registry::Registry;
    use std::sync::{Arc, Mutex};

    let registry = Arc::new(Mutex::new(Registry::default()));
    let hub_metric = Counter::<u64>::default();
    registry.lock().unwrap().register(
        "myhub_publishes",
        "Publishes of the host's hub",
        hub_metric.clone(),
    );
    let config = ServerConfig::default().with_metrics(registry.clone());
    let server = Server::builder(TopicHub::default())
        .config(config)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut a = ws(server.local_addr(), "/m").await;
    assert_eq!(a.next().await.unwrap().unwrap(), Message::text("welcome"));
    a.send(Message::text("hello")).await.unwrap();
    hub_metric.inc();
    timeout(WAIT, async {
        while server.handle().stats().frames_in < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();

    let mut c = HttpClient::new(TcpStream::connect(server.local_addr()).await.unwrap());
    let m = c.request("GET", "/metrics", &[], b"").await.unwrap();
    assert_eq!(m.status, 200);
    assert!(
        m.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{m:?}"
    );
    let text = m.text();
    for line in [
        "myhub_publishes_total 1",
        "feedwire_server_connections_open 1",
        "feedwire_server_connections_total 1",
        "feedwire_server_frames_received_total 1",
        "feedwire_server_received_bytes_total 5",
        "feedwire_server_frames_sent_total 1",
        "feedwire_server_slow_reader_closes_total 0",
        "feedwire_server_backpressure_waits_total{kind=\"read\"} 0",
        "feedwire_server_backpressure_waits_total{kind=\"publish\"} 0",
        "feedwire_server_publish_rejections_total 0",
        "feedwire_server_queued_bytes 0",
        "feedwire_server_http_responses_total{class=\"1xx\"} 1",
        "# TYPE feedwire_server_http_responses_total counter",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} missing from:\n{text}");
    }
    // the host may also register the figures into a registry of its own
    let mut own = Registry::default();
    server.handle().register_metrics(&mut own);
    let mut out = String::new();
    feedwire_tungstenite::prometheus_client::encoding::text::encode(&mut out, &own).unwrap();
    assert!(out.contains("feedwire_server_connections_open 1"), "{out}");
    drop(a);
    server.shutdown().await;
}

/// A hub's close with 1006 (never sent on the wire) drops the connection without a close frame: how the
/// replay hub plays a recorded transport failure (a killed server).
#[tokio::test]
async fn a_hub_close_with_1006_drops_the_connection_without_a_close_frame() {
    use feedwire_core::testing::replay::{ReplayEvent, ReplayHub, Speed};
    use feedwire_core::transcript::Transcript;
    let transcript = Transcript::parse(
        r#"{"feedwire_transcript":1,"protocol":"echo","side":"client"}
{"t":0,"conn":1,"kind":"connect","url":"ws://h/echo"}
{"t":1,"conn":1,"kind":"open","subprotocol":null}
{"t":2,"conn":1,"kind":"recv","text":"one"}
{"t":3,"conn":1,"kind":"close","by":"transport","error":"reset"}
{"t":4,"conn":2,"kind":"connect","url":"ws://h/echo"}
{"t":5,"conn":2,"kind":"open","subprotocol":null}
{"t":6,"conn":2,"kind":"recv","text":"two"}
{"t":7,"conn":2,"kind":"close","by":"server","code":4200,"reason":"restart"}
"#,
    )
    .unwrap();
    let hub = ReplayHub::new(&transcript).with_speed(Speed::AsFastAsPossible);
    let server = Server::bind("127.0.0.1:0", hub).await.unwrap();
    let addr = server.local_addr();

    let mut a = ws(addr, "/echo").await;
    let first = timeout(WAIT, a.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(first, Message::text("one"));
    let end = timeout(WAIT, a.next()).await.expect("the connection stays open");
    assert!(
        !matches!(end, Some(Ok(Message::Close(_)))),
        "a close frame instead of a drop: {end:?}"
    );

    let mut b = ws(addr, "/echo").await;
    let second = timeout(WAIT, b.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(second, Message::text("two"));
    assert_eq!(close_of(&mut b).await, Some((4200, "restart".to_owned())));
    loop {
        let ev = timeout(WAIT, server.next_event()).await.unwrap().unwrap();
        if ev == ReplayEvent::Finished {
            break;
        }
        assert!(!matches!(ev, ReplayEvent::Mismatch(_)), "{ev:?}");
    }
    assert!(server.call(|hub| hub.mismatches().is_empty()));
    server.shutdown().await;
}
