//! The optional HTTP route on the WebSocket port (`Server::new_with_http`), over real sockets on 127.0.0.1:
//! a toy hub handler answers GET and POST (a POST publishes to the hub's WebSocket subscribers), an upgrade on
//! the same port still reaches the hub, and oversize or slow requests are refused without hanging. Every wait
//! is bounded.
#![allow(clippy::disallowed_methods)] // tests measure real time

mod common;

use std::time::{Duration, Instant};

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
        ("GET", Some(p)) if p.starts_with("subs/") => {
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
            HttpResponse::json(200, format!(r#"{{"sent":{n}}}"#))
        }
        _ => HttpResponse::text(404, "no such route\n"),
    }
}

async fn server_with(config: ServerConfig) -> Server<TopicHub> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    Server::new_with_http(listener, TopicHub::default(), config, handler).unwrap()
}

/// Sends `raw`, reads until the server closes; returns the whole answer and how long it took.
async fn exchange(server: &Server<TopicHub>, raw: &[u8]) -> (String, Duration) {
    let start = Instant::now();
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    s.write_all(raw).await.unwrap();
    let mut answer = Vec::new();
    timeout(WAIT, s.read_to_end(&mut answer))
        .await
        .expect("the server did not close the connection")
        .unwrap();
    (String::from_utf8(answer).unwrap(), start.elapsed())
}

async fn next(conn: &mut Connection<TopicClient>) -> Ev {
    timeout(WAIT, conn.next_event())
        .await
        .expect("timed out waiting for a client event")
        .expect("session ended")
}

#[tokio::test]
async fn get_and_post_are_answered_by_the_hub_handler_and_upgrades_still_work_on_the_same_port() {
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

    // GET, with a query and headers
    let (answer, _) = exchange(
        &server,
        b"GET /subs/news?verbose=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: loopback-test\r\n\r\n",
    )
    .await;
    let body = r#"{"topic":"news","subscribers":1,"query":"verbose=1","agent":"loopback-test"}"#;
    assert_eq!(
        answer,
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    );

    // POST: the handler publishes, and the frame reaches the WebSocket client
    let (answer, _) = exchange(
        &server,
        b"POST /publish/news HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\n{\"sent\":1}"), "{answer}");
    assert_eq!(next(&mut conn).await, Ev::Message("hello world".into()));

    // a body that arrives in two pieces after the head, with Expect: 100-continue
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    s.write_all(
        b"POST /publish/news HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 6\r\n\r\n",
    )
    .await
    .unwrap();
    let mut cont = [0u8; 25];
    timeout(WAIT, s.read_exact(&mut cont)).await.unwrap().unwrap();
    assert_eq!(&cont, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"sec").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    s.write_all(b"ond").await.unwrap();
    let mut answer = String::new();
    timeout(WAIT, s.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.ends_with("{\"sent\":1}"), "{answer}");
    assert_eq!(next(&mut conn).await, Ev::Message("second".into()));

    // an unknown route is the handler's 404
    let (answer, _) = exchange(&server, b"DELETE /nothing HTTP/1.1\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n"));

    // a head that arrives byte by byte is still read whole (peeked until its end)
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    for b in b"GET /subs/none HTTP/1.1\r\n\r\n" {
        s.write_all(&[*b]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(3)).await;
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
    drop((conn, conn2));
    server.shutdown().await;
}

#[tokio::test]
async fn malformed_oversize_and_chunked_requests_are_refused_without_calling_the_handler() {
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
    let (answer, took) = exchange(&server, &raw).await;
    assert!(
        answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{answer}"
    );
    assert!(took < Duration::from_secs(2), "{took:?}");

    // a body larger than the limit: 413, without reading it, nothing published
    let mut raw = b"POST /publish/news HTTP/1.1\r\nContent-Length: 100000\r\n\r\n".to_vec();
    raw.extend_from_slice(&[b'x'; 1000]);
    let (answer, took) = exchange(&server, &raw).await;
    assert!(
        answer.starts_with("HTTP/1.1 413 Payload Too Large\r\n"),
        "{answer}"
    );
    assert!(took < Duration::from_secs(2), "{took:?}");

    // chunked bodies are not supported: 411
    let (answer, _) = exchange(
        &server,
        b"POST /publish/news HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 411 Length Required\r\n"), "{answer}");

    // malformed request lines: 400; conflicting lengths: 400; HTTP/2 preface-like versions: 505
    for raw in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET nopath HTTP/1.1\r\n\r\n",
        b"POST /publish/news HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
        b"POST /publish/news HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    ] {
        let (answer, _) = exchange(&server, raw).await;
        assert!(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{answer}");
    }
    let (answer, _) = exchange(&server, b"GET / HTTP/2.0\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 505 "), "{answer}");

    // a client that connects and closes without a word is simply dropped
    drop(TcpStream::connect(server.local_addr()).await.unwrap());

    assert_eq!(server.call(|hub| hub.subs.len()), 0);
    assert_eq!(server.handle().connections(), 0);
    server.shutdown().await;
}

#[tokio::test]
async fn slow_requests_are_answered_408_when_the_handshake_timeout_runs_out() {
    let config = ServerConfig::default()
        .with_handshake_timeout(Duration::from_millis(400))
        .with_close_timeout(Duration::from_millis(300));
    let server = server_with(config).await;

    // a head that never ends
    let (answer, took) = exchange(&server, b"GET /subs/x HTTP/1.1\r\nHost: x\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{answer}");
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_secs(2),
        "{took:?}"
    );

    // a body shorter than its Content-Length
    let (answer, took) = exchange(
        &server,
        b"POST /publish/news HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{answer}");
    assert!(took < Duration::from_secs(2), "{took:?}");

    // silence: no bytes at all
    let (answer, took) = exchange(&server, b"").await;
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(took < Duration::from_secs(2), "{took:?}");

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
async fn without_a_handler_a_plain_request_never_reaches_the_hub() {
    let server = Server::bind("127.0.0.1:0", TopicHub::default()).await.unwrap();
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    s.write_all(b"GET /subs/news HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    // the WebSocket handshake refuses it and closes: no handler, no hub call
    let _ = timeout(WAIT, s.read_to_end(&mut answer))
        .await
        .expect("the server did not close the connection");
    let answer = String::from_utf8_lossy(&answer);
    assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(server.call(|hub| hub.opened.len()), 0);
    assert_eq!(server.handle().connections(), 0);
    server.shutdown().await;
}
