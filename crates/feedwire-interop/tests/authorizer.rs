//! The `feedwire` crate's `HttpAuthorizer` against soketi 1.6 and against the feedwire Pusher hub: private and
//! presence channels authorized by a local auth endpoint (hyper, in this test, on 127.0.0.1) that checks a
//! custom header and signs with the app secret, one request per channel and batched (the endpoint answers the
//! pusher-js-auth batch format; soketi itself never sees the batching).
#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use feedwire::Connection;
use feedwire::core::Secret;
use feedwire::pusher::{self, Client, Config, Event, HttpAuthorizer, auth};
use feedwire::tungstenite::Server;
use feedwire_interop::{Peer, free_port, start_soketi};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

const HEADER: &str = "x-app-session";
const TOKEN: &str = "session-7f3a";
const CHANNELS: [&str; 2] = ["private-orders", "presence-room"];

/// The app's auth endpoint: 401 without the header, else signs (batch or single, by the form it gets).
struct Endpoint {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn endpoint() -> Endpoint {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = requests.clone();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            let log = log.clone();
            conns.spawn(async move {
                let svc = hyper::service::service_fn(move |req| answer(req, log.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Endpoint { addr, requests, task }
}

fn sign(socket_id: &str, channel: &str) -> serde_json::Value {
    let secret = Secret::new("app-secret".to_owned());
    if channel.starts_with("presence-") {
        let data = r#"{"user_id":"42","user_info":{"name":"Ada"}}"#;
        let a = auth::sign_presence("app-key", &secret, socket_id, channel, data);
        serde_json::json!({"auth": a.expose(), "channel_data": data})
    } else {
        let a = auth::sign_private("app-key", &secret, socket_id, channel);
        serde_json::json!({"auth": a.expose()})
    }
}

async fn answer(
    req: Request<hyper::body::Incoming>,
    log: Arc<Mutex<Vec<String>>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let header_ok = req.headers().get(HEADER).is_some_and(|v| v == TOKEN);
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    log.lock().unwrap().push(text.clone());
    let reply = |status: u16, body: String| {
        Response::builder()
            .status(status)
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    };
    if !header_ok {
        return Ok(reply(401, "no session".into()));
    }
    let form: Vec<(String, String)> = text
        .split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                s.replace("%5B", "[")
                    .replace("%5D", "]")
                    .replace("%3A", ":")
                    .replace("%2E", ".")
            };
            (dec(k), dec(v))
        })
        .collect();
    let socket_id = form.iter().find(|(k, _)| k == "socket_id").unwrap().1.clone();
    let batch: Vec<&String> = form
        .iter()
        .filter(|(k, _)| k.starts_with("channel_name["))
        .map(|(_, v)| v)
        .collect();
    Ok(if batch.is_empty() {
        let channel = &form.iter().find(|(k, _)| k == "channel_name").unwrap().1;
        reply(200, sign(&socket_id, channel).to_string())
    } else {
        let mut out = serde_json::Map::new();
        for c in batch {
            out.insert(
                c.clone(),
                serde_json::json!({"status": 200, "data": sign(&socket_id, c)}),
            );
        }
        reply(200, serde_json::Value::Object(out).to_string())
    })
}

fn config(port: u16) -> Config {
    Config::new("app-key")
        .with_host("127.0.0.1")
        .with_port(port)
        .with_tls(false)
}

/// Subscribes to both channels through the endpoint and waits for both successes; returns the requests the
/// endpoint saw.
async fn subscribe_both(port: u16, batching: bool) -> Vec<String> {
    let ep = endpoint().await;
    let authorizer = HttpAuthorizer::builder(format!("http://{}/pusher/auth", ep.addr))
        .header_line(&format!("X-App-Session: {TOKEN}"))
        .batching(batching)
        .no_proxy()
        .build()
        .unwrap();
    let mut conn: Connection<Client> = pusher::connect(config(port))
        .channels(CHANNELS)
        .authorizer(authorizer)
        .start()
        .unwrap();
    let mut subscribed = Vec::new();
    let mut members = None;
    while subscribed.len() < CHANNELS.len() {
        let ev = tokio::time::timeout(Duration::from_secs(15), conn.next_event())
            .await
            .expect("no event in 15 s")
            .expect("the connection ended");
        match ev {
            Event::Subscribed { channel, data } => {
                if channel.starts_with("presence-") {
                    members = data.map(|d| d.text().into_owned());
                }
                subscribed.push(channel);
            }
            Event::SubscriptionFailed { channel, error } => panic!("{channel:?} failed: {error:?}"),
            Event::AuthRequired { .. } => panic!("the authorizer should have taken it"),
            _ => {}
        }
    }
    let members = members.expect("presence data");
    assert!(members.contains("\"42\"") && members.contains("Ada"), "{members}");
    conn.disconnect();
    while conn.next_event().await.is_some() {}
    ep.requests.lock().unwrap().clone()
}

fn soketi() -> (u16, Peer) {
    let port = free_port().unwrap();
    (
        port,
        start_soketi(port, false).expect("soketi must start (run scripts/install-peers.sh)"),
    )
}

#[tokio::test]
#[ignore = "needs soketi (scripts/install-peers.sh); .ci/run runs it"]
async fn http_authorizer_private_and_presence_against_soketi() {
    let (port, _soketi) = soketi();
    let requests = subscribe_both(port, false).await;
    assert_eq!(requests.len(), 2, "{requests:?}");
}

#[tokio::test]
#[ignore = "needs soketi (scripts/install-peers.sh); .ci/run runs it"]
async fn http_authorizer_batched_against_soketi() {
    let (port, _soketi) = soketi();
    let requests = subscribe_both(port, true).await;
    assert_eq!(requests.len(), 1, "one request for both channels: {requests:?}");
    assert!(requests[0].contains("channel_name%5B1%5D="), "{requests:?}");
}

#[tokio::test]
#[ignore = "interop suite; .ci/run runs it"]
async fn http_authorizer_private_and_presence_against_the_feedwire_hub() {
    let hub = feedwire::pusher::server::Hub::new(feedwire::pusher::server::HubConfig::default());
    let server = Server::bind("127.0.0.1:0", hub).await.unwrap();
    let port = server.local_addr().port();
    assert_eq!(subscribe_both(port, false).await.len(), 2);
    assert_eq!(subscribe_both(port, true).await.len(), 1);
    server.shutdown().await;
}

#[tokio::test]
#[ignore = "needs soketi (scripts/install-peers.sh); .ci/run runs it"]
async fn a_missing_header_fails_the_channels_against_soketi() {
    let (port, _soketi) = soketi();
    let ep = endpoint().await;
    let authorizer = HttpAuthorizer::builder(format!("http://{}/pusher/auth", ep.addr))
        .no_proxy()
        .build()
        .unwrap();
    let mut conn = pusher::connect(config(port))
        .channel("private-orders")
        .authorizer(authorizer)
        .start()
        .unwrap();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(15), conn.next_event())
            .await
            .unwrap()
            .unwrap();
        if let Event::SubscriptionFailed { error, .. } = ev {
            assert_eq!(
                error.error.as_deref(),
                Some("auth endpoint answered HTTP 401: no session")
            );
            break;
        }
        assert!(
            !matches!(ev, Event::Subscribed { .. }),
            "subscribed without a signature"
        );
    }
}
