//! Plain HTTP on the WebSocket port (hyper's HTTP/1.1), over real sockets on 127.0.0.1: a toy hub handler
//! answers GET and POST (a POST publishes to the hub's WebSocket subscribers), keep-alive, chunked bodies,
//! HEAD and `Expect: 100-continue` work, an upgrade on the same port still reaches the hub, the built-in
//! routes answer, and oversize, malformed or slow requests are refused without hanging. Every wait is bounded.
//!
//! Where hyper legitimately differs from the hand-written responder these tests once covered: header names
//! come back in lower case, responses carry a `date` header and keep the connection open unless asked to
//! close; a malformed request line is hyper's 400 (an unsupported version too); a head that does not arrive
//! in time ends the connection without an answer (hyper's header read timeout), where the old responder
//! answered 408 (a body that does not arrive in time is still answered 408); chunked bodies are read instead
//! of refused with 411.
#![allow(clippy::disallowed_methods)] // tests measure real time

mod common;

use std::time::{Duration, Instant};

use common::http::{Answer, HttpClient};
use common::{Ev, HubEv, TopicClient, TopicHub};
use feedwire_core::ConnId;
use feedwire_tungstenite::{Connection, HttpRequest, HttpResponse, Server, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

/// `GET /subs/{topic}`: the subscriber count; `POST /publish/{topic}`: publishes the body; else 404.
fn handler(hub: &mut TopicHub, req: HttpRequest) -> HttpResponse {
    match (req.method.as_str(), req.path.split_once('/').map(|(_, p)| p)) {
        ("GET" | "HEAD", Some(p)) if p.starts_with("subs/") => {
            let topic = p.trim_start_matches("subs/");
            HttpResponse::json(
                200,
                format!(
                    r#"{{"topic":"{topic}","subscribers":{},"query":"{}","agent":"{}"}}"#,
                    hub.subscribers(topic).len(),
                    req.query,
                    req.header("user-agent").unwrap_or("")
                ),
            )
        }
        ("POST", Some(p)) if p.starts_with("publish/") => {
            let body = String::from_utf8_lossy(&req.body).into_owned();
            let n = hub.publish(p.trim_start_matches("publish/"), &body);
            HttpResponse::json(200, format!(r#"{{"sent":{n}}}"#)).with_header("X-Sent", n.to_string())
        }
        _ => HttpResponse::text(404, "no such route\n"),
    }
}

async fn server_with(config: ServerConfig) -> Server<TopicHub> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    Server::new_with_http(listener, TopicHub::default(), config, handler).unwrap()
}

async fn client(server: &Server<TopicHub>) -> HttpClient<TcpStream> {
    HttpClient::new(TcpStream::connect(server.local_addr()).await.unwrap())
}

/// [`answered_within`] 2 s: an oversize request is refused at once.
async fn answered_at_once(server: &Server<TopicHub>, raw: &[u8], head: &str) {
    answered_within(server, raw, head, Duration::from_secs(2)).await;
}

/// Sends `raw` and checks that the answer starts with `head` and came within `limit` (the server did not wait
/// for the rest of an oversize or short request).
async fn answered_within(server: &Server<TopicHub>, raw: &[u8], head: &str, limit: Duration) {
    let (answer, took) = exchange(server, raw).await;
    assert!(answer.starts_with(head), "{answer}");
    assert!(took < limit, "{took:?}");
}

/// Sends `raw`, reads until the server closes; returns the whole answer and how long it took.
async fn exchange(server: &Server<TopicHub>, raw: &[u8]) -> (String, Duration) {
    let start = Instant::now();
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    s.write_all(raw).await.unwrap();
    let mut answer = Vec::new();
    let _ = timeout(WAIT, s.read_to_end(&mut answer))
        .await
        .expect("the server did not close the connection");
    (String::from_utf8(answer).unwrap(), start.elapsed())
}

async fn next(conn: &mut Connection<TopicClient>) -> Ev {
    timeout(WAIT, conn.next_event())
        .await
        .expect("timed out waiting for a client event")
        .expect("session ended")
}

async fn answer(c: &mut HttpClient<TcpStream>, head_request: bool) -> Answer {
    timeout(WAIT, c.answer(head_request))
        .await
        .expect("no answer")
        .unwrap()
}

#[tokio::test]
async fn get_post_head_chunked_and_keep_alive_reach_the_handler_and_upgrades_still_work_on_the_same_port() {
    let server = server_with(ServerConfig::default()).await;

    // a WebSocket client on the same port
    let url = format!("ws://{}/topics", server.local_addr());
    let mut conn = Connection::new(TopicClient::new(&url, "news"));
    assert_eq!(next(&mut conn).await, Ev::Open(Some("topic-v1".into())));
    assert_eq!(next(&mut conn).await, Ev::Subscribed("news".into()));
    let ev = timeout(WAIT, server.next_event()).await.unwrap().unwrap();
    assert_eq!(
        ev,
        HubEv::Open(ConnId(1), "/topics".into(), Some("topic-v1".into()))
    );

    // one keep-alive connection for everything below
    let mut c = client(&server).await;

    // GET, with a query and headers
    let a = c
        .request(
            "GET",
            "/subs/news?verbose=1",
            &[("User-Agent", "loopback-test")],
            b"",
        )
        .await
        .unwrap();
    let body = r#"{"topic":"news","subscribers":1,"query":"verbose=1","agent":"loopback-test"}"#;
    assert_eq!(a.status, 200, "{a:?}");
    assert!(a.head.starts_with("HTTP/1.1 200 OK\r\n"), "{a:?}");
    assert_eq!(a.header("content-type"), Some("application/json"));
    assert_eq!(a.header("content-length"), Some(body.len().to_string().as_str()));
    assert_eq!(a.text(), body);

    // HEAD: the same headers, no body
    let a = c
        .request(
            "HEAD",
            "/subs/news?verbose=1",
            &[("User-Agent", "loopback-test")],
            b"",
        )
        .await
        .unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-length"), Some(body.len().to_string().as_str()));
    assert!(a.body.is_empty());

    // POST: the handler publishes, and the frame reaches the WebSocket client; extra headers come along
    let a = c
        .request(
            "POST",
            "/publish/news",
            &[("Content-Type", "text/plain")],
            b"hello world",
        )
        .await
        .unwrap();
    assert_eq!((a.status, a.text().as_str()), (200, r#"{"sent":1}"#));
    assert_eq!(a.header("x-sent"), Some("1"));
    assert_eq!(next(&mut conn).await, Ev::Message("hello world".into()));

    // a chunked body, in pieces
    c.send(b"POST /publish/news HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nchun\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    c.send(b"3\r\nked\r\n0\r\n\r\n").await.unwrap();
    let a = answer(&mut c, false).await;
    assert_eq!((a.status, a.text().as_str()), (200, r#"{"sent":1}"#));
    assert_eq!(next(&mut conn).await, Ev::Message("chunked".into()));

    // a body that arrives in two pieces after the head, with Expect: 100-continue
    c.send(b"POST /publish/news HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 6\r\n\r\n")
        .await
        .unwrap();
    let cont = answer(&mut c, false).await;
    assert_eq!(cont.head, "HTTP/1.1 100 Continue\r\n\r\n");
    c.send(b"sec").await.unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    c.send(b"ond").await.unwrap();
    let a = answer(&mut c, false).await;
    assert_eq!(a.text(), r#"{"sent":1}"#);
    assert_eq!(next(&mut conn).await, Ev::Message("second".into()));

    // an unknown route is the handler's 404
    let a = c.request("DELETE", "/nothing", &[], b"").await.unwrap();
    assert_eq!(a.status, 404);
    assert_eq!(a.header("content-type"), Some("text/plain; charset=utf-8"));

    // the built-in routes
    let a = c.request("GET", "/health", &[], b"").await.unwrap();
    assert_eq!((a.status, a.text().as_str()), (200, "ok\n"));
    let a = c.request("GET", "/ready", &[], b"").await.unwrap();
    assert_eq!((a.status, a.text().as_str()), (200, "ready\n"));

    // the client asks to close: the server closes after answering
    let a = c
        .request("GET", "/subs/none", &[("Connection", "close")], b"")
        .await
        .unwrap();
    assert_eq!(a.status, 200);
    assert!(timeout(WAIT, c.closed()).await.unwrap());

    // a head that arrives byte by byte is still read whole
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    for b in b"GET /subs/none HTTP/1.1\r\nConnection: close\r\n\r\n" {
        s.write_all(&[*b]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut answer = String::new();
    timeout(WAIT, s.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(
        answer.ends_with(r#""subscribers":0,"query":"","agent":""}"#),
        "{answer}"
    );

    // the WebSocket connection is still fine, and a second upgrade works too
    let mut conn2 = Connection::new(TopicClient::new(&url, "news"));
    assert_eq!(next(&mut conn2).await, Ev::Open(Some("topic-v1".into())));
    assert_eq!(next(&mut conn2).await, Ev::Subscribed("news".into()));
    assert_eq!(server.call(|hub| hub.publish("news", "both")), 2);
    assert_eq!(next(&mut conn).await, Ev::Message("both".into()));
    assert_eq!(next(&mut conn2).await, Ev::Message("both".into()));
    assert_eq!(server.handle().connections(), 2);
    let stats = server.handle().stats();
    assert_eq!(stats.connections_open, 2);
    assert_eq!(stats.http_responses[0], 2, "two upgrades: {stats:?}");
    assert!(stats.http_responses[1] >= 9, "{stats:?}");
    drop((conn, conn2));
    server.shutdown().await;
}

#[tokio::test]
async fn malformed_oversize_and_forbidden_requests_are_refused_without_calling_the_handler() {
    let config = ServerConfig::default()
        .with_max_http_head(1024)
        .with_max_http_body(64)
        .with_close_timeout(Duration::from_millis(300));
    let server = server_with(config).await;

    // a head larger than the limit: 431, quickly
    let mut raw = b"GET /subs/x HTTP/1.1\r\n".to_vec();
    for i in 0..100 {
        raw.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "a".repeat(20)).as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    answered_at_once(&server, &raw, "HTTP/1.1 431 Request Header Fields Too Large\r\n").await;

    // a body larger than the limit: 413, without reading it, nothing published
    let mut raw = b"POST /publish/news HTTP/1.1\r\nContent-Length: 100000\r\n\r\n".to_vec();
    raw.extend_from_slice(&[b'x'; 1000]);
    answered_at_once(&server, &raw, "HTTP/1.1 413 Payload Too Large\r\n").await;

    // a chunked body larger than the limit: 413 too
    let mut raw = b"POST /publish/news HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..10 {
        raw.extend_from_slice(b"10\r\n0123456789abcdef\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let (answer, _) = exchange(&server, &raw).await;
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");

    // malformed request lines, conflicting or negative lengths, header names RFC 9112 forbids: hyper's 400
    for raw in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET nopath HTTP/1.1\r\n\r\n",
        b"POST /publish/news HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
        b"POST /publish/news HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"GET /subs/x HTTP/1.1\r\nBad Header: 1\r\n\r\n",
        b"GET /subs/x HTTP/1.1\r\nBad\"Name: 1\r\n\r\n",
        b"GET / HTTP/2.0\r\n\r\n",
    ] {
        let (answer, _) = exchange(&server, raw).await;
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n") || answer.starts_with("HTTP/1.1 505 "),
            "{:?} -> {answer}",
            String::from_utf8_lossy(raw)
        );
    }

    // handshakes that are not quite WebSocket ones: 400 / 426, never the handler
    let ws_head =
        |extra: &str| format!("GET /topics HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n{extra}\r\n");
    for (extra, status) in [
        ("Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n", 400), // no key
        (
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
            400,
        ), // no Connection
        (
            "Connection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
            426,
        ),
    ] {
        let (answer, _) = exchange(&server, ws_head(extra).as_bytes()).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{extra} -> {answer}"
        );
    }
    let (answer, _) = exchange(
        &server,
        b"POST /topics HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");

    // a good handshake by hand: 101 with the RFC 6455 accept key
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    s.write_all(ws_head("Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n").as_bytes())
        .await
        .unwrap();
    let mut c = HttpClient::new(s);
    let a = timeout(WAIT, c.answer(false)).await.unwrap().unwrap();
    assert_eq!(a.status, 101, "{a:?}");
    assert_eq!(
        a.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    drop(c);

    // a client that connects and closes without a word is simply dropped
    drop(TcpStream::connect(server.local_addr()).await.unwrap());

    assert_eq!(server.call(|hub| hub.subs.len()), 0);
    server.shutdown().await;
}

#[tokio::test]
async fn slow_heads_are_dropped_and_slow_bodies_answered_408_within_the_handshake_timeout() {
    let config = ServerConfig::default()
        .with_handshake_timeout(Duration::from_millis(400))
        .with_close_timeout(Duration::from_millis(300));
    let server = server_with(config).await;

    // a head that never ends: hyper's header read timeout ends the connection
    let (answer, took) = exchange(&server, b"GET /subs/x HTTP/1.1\r\nHost: x\r\n").await;
    assert_eq!(answer, "");
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_secs(3),
        "{took:?}"
    );

    // a body shorter than its Content-Length: 408
    answered_within(
        &server,
        b"POST /publish/news HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",
        "HTTP/1.1 408 Request Timeout\r\n",
        Duration::from_secs(3),
    )
    .await;

    // silence: no bytes at all, and an idle keep-alive connection after one answer
    let (answer, took) = exchange(&server, b"").await;
    assert_eq!(answer, "");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let mut c = client(&server).await;
    assert_eq!(c.request("GET", "/health", &[], b"").await.unwrap().status, 200);
    assert!(timeout(Duration::from_secs(3), c.closed()).await.unwrap());

    // meanwhile (and afterwards) upgrades work
    let url = format!("ws://{}/topics", server.local_addr());
    let mut conn = Connection::new(TopicClient::new(&url, "news"));
    assert_eq!(next(&mut conn).await, Ev::Open(Some("topic-v1".into())));
    assert_eq!(next(&mut conn).await, Ev::Subscribed("news".into()));
    drop(conn);
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_pending_http_request() {
    let config = ServerConfig::default().with_handshake_timeout(Duration::from_secs(30));
    let server = server_with(config).await;
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    s.write_all(b"GET /subs/x HTTP/1.1\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let start = Instant::now();
    timeout(WAIT, server.shutdown()).await.expect("shutdown hung");
    assert!(start.elapsed() < Duration::from_secs(3));
    let mut rest = Vec::new();
    let _ = timeout(WAIT, s.read_to_end(&mut rest))
        .await
        .expect("socket left open");
}

#[tokio::test]
async fn without_a_handler_a_plain_request_is_answered_426_and_never_reaches_the_hub() {
    let server = Server::bind("127.0.0.1:0", TopicHub::default()).await.unwrap();
    let mut c = client(&server).await;
    let a = c.request("GET", "/subs/news", &[], b"").await.unwrap();
    assert_eq!(a.status, 426, "{a:?}");
    assert_eq!(a.header("upgrade"), Some("websocket"));
    // the built-in routes still answer; they can be turned off
    assert_eq!(c.request("GET", "/health", &[], b"").await.unwrap().status, 200);
    assert_eq!(server.call(|hub| hub.opened.len()), 0);
    assert_eq!(server.handle().connections(), 0);
    server.shutdown().await;

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = ServerConfig::default().with_builtin_routes(false);
    let server = Server::new_with_http(listener, TopicHub::default(), config, handler).unwrap();
    let mut c = client(&server).await;
    assert_eq!(c.request("GET", "/health", &[], b"").await.unwrap().status, 404);
    assert_eq!(c.request("GET", "/ready", &[], b"").await.unwrap().status, 404);
    server.shutdown().await;
}
