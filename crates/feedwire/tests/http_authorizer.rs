//! `HttpAuthorizer` against a local auth endpoint (hyper, in the test) and the feedwire Pusher hub, both on
//! 127.0.0.1: every kind of answer an endpoint gives, while the connection keeps going.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use feedwire::pusher::{self, Client, Config, Event, HttpAuthorizer, HttpAuthorizerBuilder, server};
use feedwire::tungstenite::{Server, Tap};
use feedwire::{Connection, core::Secret};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

const KEY: &str = "app-key";
const TOKEN: &str = "s3cret-token";
/// A presence member whose name's `ë` (0xC3 0xAB) the chunked answer splits.
const CHANNEL_DATA: &str = r#"{"user_id":"1","user_info":{"name":"Zoë"}}"#;

type Body = BoxBody<Bytes, Infallible>;

/// A request the endpoint saw: path and form fields.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    form: Vec<(String, String)>,
    auth: Option<String>,
}

/// The auth endpoint: answers by path, signs with the hub's secret, checks the custom header.
struct Endpoint {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Endpoint {
    async fn start() -> Endpoint {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let seen = seen2.clone();
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req| answer(req, seen.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Endpoint { addr, seen, task }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn authorizer(&self, path: &str) -> HttpAuthorizerBuilder {
        HttpAuthorizer::builder(self.url(path))
            .header("X-Test-Token", TOKEN)
            .no_proxy()
            .timeout(Duration::from_secs(10))
    }
}

fn full(status: u16, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Full::new(body.into()).boxed())
        .unwrap()
}

fn secret() -> Secret<String> {
    Secret::new("app-secret".to_owned())
}

/// `{"auth":..}` (and channel data for presence) for `channel` on `socket_id`.
fn sign(socket_id: &str, channel: &str) -> serde_json::Value {
    if channel.starts_with("presence-") {
        let a = feedwire::pusher::auth::sign_presence(KEY, &secret(), socket_id, channel, CHANNEL_DATA);
        serde_json::json!({"auth": a.expose(), "channel_data": CHANNEL_DATA})
    } else {
        let a = feedwire::pusher::auth::sign_private(KEY, &secret(), socket_id, channel);
        serde_json::json!({"auth": a.expose()})
    }
}

async fn answer(
    req: Request<hyper::body::Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    let token_ok = req.headers().get("x-test-token").is_some_and(|v| v == TOKEN);
    let auth = req
        .headers()
        .get("authorization")
        .map(|v| v.to_str().unwrap_or("").to_owned());
    let content_type_ok = req
        .headers()
        .get("content-type")
        .is_some_and(|v| v == "application/x-www-form-urlencoded");
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let form: Vec<(String, String)> = url_form(&body);
    seen.lock().unwrap().push(Seen {
        path: path.clone(),
        form: form.clone(),
        auth,
    });
    if path == "/redirect" {
        return Ok(Response::builder()
            .status(307)
            .header("location", "/auth")
            .body(Full::new(Bytes::new()).boxed())
            .unwrap());
    }
    if !token_ok || !content_type_ok {
        return Ok(full(401, "missing X-Test-Token or form content type"));
    }
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let socket_id = get("socket_id").unwrap_or_default();
    let channel = get("channel_name").unwrap_or_default();
    Ok(match path.as_str() {
        "/auth" | "/slow" | "/basic" => {
            if path == "/slow" {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            if path == "/basic" {
                // alice:pa:ss
                let want = "Basic YWxpY2U6cGE6c3M=";
                if seen.lock().unwrap().last().unwrap().auth.as_deref() != Some(want) {
                    return Ok(full(401, "basic auth expected"));
                }
            }
            let batch: Vec<String> = form
                .iter()
                .filter(|(k, _)| k.starts_with("channel_name["))
                .map(|(_, v)| v.clone())
                .collect();
            if batch.is_empty() {
                full(200, sign(&socket_id, &channel).to_string())
            } else {
                let mut out = serde_json::Map::new();
                for c in batch {
                    let entry = if c.contains("refused") {
                        serde_json::json!({"status": 403, "data": "not yours"})
                    } else if c.contains("forgotten") {
                        continue; // missing from the answer: a 404 for it
                    } else {
                        serde_json::json!({"status": 200, "data": sign(&socket_id, &c)})
                    };
                    out.insert(c, entry);
                }
                full(200, serde_json::Value::Object(out).to_string())
            }
        }
        "/forbidden" => full(403, "no session for you"),
        "/error" => full(500, "database exploded\nat line 3"),
        "/notjson" => full(200, "<html>Welcome</html>"),
        "/chunked" => {
            let text = sign(&socket_id, &channel).to_string();
            let bytes = text.into_bytes();
            let at = bytes.windows(2).position(|w| w == [0xc3, 0xab]).unwrap() + 1; // inside `ë`
            let (a, b) = bytes.split_at(at);
            let chunks = vec![Bytes::copy_from_slice(a), Bytes::copy_from_slice(b)];
            let stream = futures_util::stream::unfold(chunks.into_iter(), |mut it| async move {
                let c = it.next()?;
                tokio::time::sleep(Duration::from_millis(30)).await; // two separate chunks on the wire
                Some((Ok::<_, Infallible>(Frame::data(c)), it))
            });
            Response::builder()
                .status(200)
                .body(StreamBody::new(stream).boxed())
                .unwrap()
        }
        "/huge" => {
            let stream = futures_util::stream::iter(
                (0..100).map(|_| Ok::<_, Infallible>(Frame::data(Bytes::from(vec![b' '; 4096])))),
            );
            Response::builder()
                .status(200)
                .body(StreamBody::new(stream).boxed())
                .unwrap()
        }
        "/pusher/user-auth" => {
            let user_data = r#"{"id":"u1","name":"Zoë"}"#;
            let a = feedwire::pusher::auth::sign_user(KEY, &secret(), &socket_id, user_data);
            full(
                200,
                serde_json::json!({"auth": a.expose(), "user_data": user_data}).to_string(),
            )
        }
        _ => full(404, "no such route"),
    })
}

fn url_form(body: &[u8]) -> Vec<(String, String)> {
    // the test's own decoder (not the library's): `+` is a space, `%XX` a byte
    let text = std::str::from_utf8(body).unwrap();
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (dec(k), dec(v))
        })
        .collect()
}

fn dec(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                out.push(u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap(), 16).unwrap());
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

async fn hub(activity: Duration) -> Server<server::Hub> {
    let config = server::HubConfig::default().with_activity_timeout(activity);
    Server::bind("127.0.0.1:0", server::Hub::new(config))
        .await
        .unwrap()
}

fn client_config(server: &Server<server::Hub>) -> Config {
    Config::new(KEY)
        .with_host("127.0.0.1")
        .with_port(server.local_addr().port())
        .with_tls(false)
}

/// Reads events until `done` says so (or 10 s pass), returning them all.
async fn until(conn: &mut Connection<Client>, mut done: impl FnMut(&[Event]) -> bool) -> Vec<Event> {
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done(&events) {
        match tokio::time::timeout_at(deadline, conn.next_event()).await {
            Ok(Some(ev)) => events.push(ev),
            Ok(None) => panic!("the connection ended: {events:?}"),
            Err(_) => panic!("timed out; events: {events:?}"),
        }
    }
    events
}

fn subscribed(events: &[Event], channel: &str) -> bool {
    events
        .iter()
        .any(|e| matches!(e, Event::Subscribed { channel: c, .. } if c == channel))
}

/// The reason of the failed subscription of `channel`, if it failed.
fn failure(events: &[Event], channel: &str) -> Option<String> {
    events.iter().find_map(|e| match e {
        Event::SubscriptionFailed {
            channel: Some(c),
            error,
        } if c == channel => Some(error.error.as_deref().unwrap_or("").to_owned()),
        _ => None,
    })
}

async fn fails_with(path: &str, channel: &str) -> String {
    let endpoint = Endpoint::start().await;
    let server = hub(Duration::from_secs(120)).await;
    let mut conn = pusher::connect(client_config(&server))
        .channel(channel)
        .authorizer(endpoint.authorizer(path).build().unwrap())
        .start()
        .unwrap();
    let events = until(&mut conn, |e| failure(e, channel).is_some()).await;
    assert!(!events.iter().any(|e| matches!(e, Event::Subscribed { .. })));
    server.shutdown().await;
    failure(&events, channel).unwrap()
}

#[tokio::test]
async fn private_and_presence_channels_with_a_custom_header() {
    let endpoint = Endpoint::start().await;
    let server = hub(Duration::from_secs(120)).await;
    let mut conn = pusher::connect(client_config(&server))
        .channels(["private-a", "presence-b", "public"])
        .authorizer(
            endpoint
                .authorizer("/auth")
                .param("team", "blue & green")
                .build()
                .unwrap(),
        )
        .start()
        .unwrap();
    let events = until(&mut conn, |e| {
        ["private-a", "presence-b", "public"]
            .iter()
            .all(|c| subscribed(e, c))
    })
    .await;
    assert!(
        !events.iter().any(|e| matches!(e, Event::AuthRequired { .. })),
        "taken by the authorizer"
    );
    let seen = endpoint.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for s in &seen {
        assert_eq!(s.form[0].0, "socket_id");
        assert_eq!(s.form[1].0, "channel_name");
        assert_eq!(s.form[2], ("team".into(), "blue & green".into()));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_missing_header_is_a_401_that_names_the_status_and_body() {
    let endpoint = Endpoint::start().await;
    let server = hub(Duration::from_secs(120)).await;
    let auth = HttpAuthorizer::builder(endpoint.url("/auth"))
        .no_proxy()
        .build()
        .unwrap();
    let mut conn = pusher::connect(client_config(&server))
        .channel("private-a")
        .authorizer(auth)
        .start()
        .unwrap();
    let events = until(&mut conn, |e| failure(e, "private-a").is_some()).await;
    assert_eq!(
        failure(&events, "private-a").unwrap(),
        "auth endpoint answered HTTP 401: missing X-Test-Token or form content type"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn refusals_and_bad_answers_fail_the_channel_with_a_clear_reason() {
    assert_eq!(
        fails_with("/forbidden", "private-a").await,
        "auth endpoint answered HTTP 403: no session for you"
    );
    assert_eq!(
        fails_with("/error", "private-a").await,
        "auth endpoint answered HTTP 500: database exploded\\nat line 3"
    );
    let e = fails_with("/notjson", "private-a").await;
    assert!(
        e.starts_with("auth endpoint answered HTTP 200 with an invalid body (not JSON"),
        "{e}"
    );
    assert!(e.ends_with(": <html>Welcome</html>"), "{e}");
    assert_eq!(
        fails_with("/huge", "private-a").await,
        "auth endpoint answered HTTP 200 with a body over 65536 bytes"
    );
    assert_eq!(
        fails_with("/nowhere", "private-a").await,
        "auth endpoint answered HTTP 404: no such route"
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_fails_the_channel() {
    // a port that was free a moment ago: nothing listens
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server = hub(Duration::from_secs(120)).await;
    let auth = HttpAuthorizer::builder(format!("http://127.0.0.1:{port}/auth"))
        .no_proxy()
        .build()
        .unwrap();
    let mut conn = pusher::connect(client_config(&server))
        .channel("private-a")
        .authorizer(auth)
        .start()
        .unwrap();
    let events = until(&mut conn, |e| failure(e, "private-a").is_some()).await;
    let e = failure(&events, "private-a").unwrap();
    assert!(e.starts_with("auth request failed: "), "{e}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_chunked_answer_split_inside_a_utf8_character() {
    let endpoint = Endpoint::start().await;
    let server = hub(Duration::from_secs(120)).await;
    let mut conn = pusher::connect(client_config(&server))
        .channel("presence-room")
        .authorizer(endpoint.authorizer("/chunked").build().unwrap())
        .start()
        .unwrap();
    let events = until(&mut conn, |e| subscribed(e, "presence-room")).await;
    assert!(failure(&events, "presence-room").is_none());
    // the member the hub reports is the one signed, name intact
    let Some(Event::Subscribed { data: Some(data), .. }) =
        events.iter().find(|e| matches!(e, Event::Subscribed { .. }))
    else {
        panic!("{events:?}")
    };
    assert!(format!("{data:?}").contains("Zoë"), "{data:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_slow_endpoint_does_not_stop_pings() {
    let endpoint = Endpoint::start().await;
    // the hub advertises 1 s of activity timeout: the client pings after 1 s of silence and wants a pong
    let server = hub(Duration::from_secs(1)).await;
    let pings = Arc::new(Mutex::new((0u32, 0u32)));
    let p = pings.clone();
    let mut conn = pusher::connect(client_config(&server).with_pong_timeout(Duration::from_secs(1)))
        .channel("private-slow")
        .authorizer(endpoint.authorizer("/slow").build().unwrap())
        .start()
        .unwrap()
        .with_tap(move |t| {
            let mut p = p.lock().unwrap();
            match t {
                Tap::Send(s) if s.contains("pusher:ping") => p.0 += 1,
                Tap::Recv(s) if s.contains("pusher:pong") => p.1 += 1,
                _ => {}
            }
        });
    let events = until(&mut conn, |e| subscribed(e, "private-slow")).await;
    let (sent, answered) = *pings.lock().unwrap();
    assert!(
        sent >= 2 && answered >= 2,
        "pings {sent}, pongs {answered} during a 3 s auth request"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Disconnected { .. } | Event::Reconnecting { .. })),
        "the client timed out: {events:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_redirect_is_followed_with_the_post() {
    let endpoint = Endpoint::start().await;
    let server = hub(Duration::from_secs(120)).await;
    let mut conn = pusher::connect(client_config(&server))
        .channel("private-r")
        .authorizer(endpoint.authorizer("/redirect").build().unwrap())
        .start()
        .unwrap();
    until(&mut conn, |e| subscribed(e, "private-r")).await;
    let paths: Vec<String> = endpoint.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(paths, ["/redirect", "/auth"]);
    server.shutdown().await;
}

#[tokio::test]
async fn user_info_in_the_url_is_sent_as_basic_auth() {
    let endpoint = Endpoint::start().await;
    let server = hub(Duration::from_secs(120)).await;
    let url = format!("http://alice:pa%3Ass@{}/basic", endpoint.addr);
    let auth = HttpAuthorizer::builder(url)
        .header("X-Test-Token", TOKEN)
        .no_proxy()
        .build()
        .unwrap();
    let mut conn = pusher::connect(client_config(&server))
        .channel("private-b")
        .authorizer(auth)
        .start()
        .unwrap();
    until(&mut conn, |e| subscribed(e, "private-b")).await;
    server.shutdown().await;
}

#[tokio::test]
async fn batching_sends_one_request_for_all_channels() {
    let endpoint = Endpoint::start().await;
    let server = hub(Duration::from_secs(120)).await;
    let channels = [
        "private-a",
        "private-b",
        "presence-c",
        "private-refused",
        "private-forgotten",
    ];
    let mut conn = pusher::connect(client_config(&server))
        .channels(channels)
        .authorizer(endpoint.authorizer("/auth").batching(true).build().unwrap())
        .start()
        .unwrap();
    let events = until(&mut conn, |e| {
        ["private-a", "private-b", "presence-c"]
            .iter()
            .all(|c| subscribed(e, c))
            && failure(e, "private-refused").is_some()
            && failure(e, "private-forgotten").is_some()
    })
    .await;
    assert_eq!(
        failure(&events, "private-refused").unwrap(),
        "auth endpoint answered HTTP 403: not yours"
    );
    assert!(
        failure(&events, "private-forgotten")
            .unwrap()
            .starts_with("auth endpoint answered HTTP 404")
    );
    let seen = endpoint.seen();
    assert_eq!(seen.len(), 1, "one request for five channels: {seen:?}");
    let mut names: Vec<&str> = seen[0]
        .form
        .iter()
        .filter(|(k, _)| k.starts_with("channel_name["))
        .map(|(_, v)| v.as_str())
        .collect();
    names.sort_unstable();
    let mut want = channels.to_vec();
    want.sort_unstable();
    assert_eq!(names, want);
    server.shutdown().await;
}

#[tokio::test]
async fn signin_through_the_user_endpoint() {
    let endpoint = Endpoint::start().await;
    let server = hub(Duration::from_secs(120)).await;
    let mut conn = pusher::connect(client_config(&server))
        .signin()
        .authorizer(endpoint.authorizer("/auth").build().unwrap())
        .start()
        .unwrap();
    let events = until(&mut conn, |e| {
        e.iter().any(|e| matches!(e, Event::SignedIn { .. }))
    })
    .await;
    let Some(Event::SignedIn { user_id, .. }) = events.iter().find(|e| matches!(e, Event::SignedIn { .. }))
    else {
        unreachable!()
    };
    assert_eq!(&**user_id, "u1");
    assert_eq!(endpoint.seen()[0].path, "/pusher/user-auth");
    server.shutdown().await;
}

#[test]
fn the_blocking_driver_authorizes_and_batches_too() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (endpoint, server) =
        rt.block_on(async { (Endpoint::start().await, hub(Duration::from_secs(120)).await) });
    let config = client_config(&server);
    let auth = rt.block_on(async { endpoint.authorizer("/auth").batching(true).build().unwrap() });
    let mut conn = pusher::connect(config)
        .channels(["private-x", "presence-y"])
        .authorizer(auth)
        .start_blocking()
        .unwrap();
    let mut got = Vec::new();
    while !(subscribed(&got, "private-x") && subscribed(&got, "presence-y")) {
        got.push(conn.next_event().expect("the connection ended"));
        assert!(got.len() < 100, "{got:?}");
    }
    assert_eq!(endpoint.seen().len(), 1, "{:?}", endpoint.seen());
    conn.disconnect();
    rt.block_on(server.shutdown());
}

#[tokio::test]
async fn a_custom_authorizer_signs_locally() {
    use feedwire::pusher::authorizer::{AuthError, ChannelAuthRequest};
    use feedwire::pusher::client::ChannelAuth;
    let server = hub(Duration::from_secs(120)).await;
    let auth = pusher::custom_authorizer(|req: ChannelAuthRequest| async move {
        if req.channel == "private-no" {
            return Err(AuthError::Refused("not this one".into()));
        }
        let sig = feedwire::pusher::auth::sign_private(KEY, &secret(), &req.socket_id, &req.channel);
        Ok(ChannelAuth::new(sig.expose().clone()))
    });
    let mut conn = pusher::connect(client_config(&server))
        .channels(["private-yes", "private-no"])
        .authorizer(auth)
        .start()
        .unwrap();
    let events = until(&mut conn, |e| {
        subscribed(e, "private-yes") && failure(e, "private-no").is_some()
    })
    .await;
    assert_eq!(failure(&events, "private-no").unwrap(), "not this one");
    server.shutdown().await;
}

#[tokio::test]
async fn inputs_that_cannot_work_are_refused_before_dialing() {
    let e = pusher::connect(Config::new(KEY).with_host("ws://127.0.0.1:6001"))
        .start()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"invalid configuration: host "ws://127.0.0.1:6001" is a URL, not a host: use .with_host("127.0.0.1").with_port(6001).with_tls(false)"#
    );
    let e = pusher::connect(Config::new(KEY))
        .channel("private-a")
        .start()
        .unwrap_err();
    assert!(e.to_string().contains("need an authorizer"), "{e}");
    let e = HttpAuthorizer::new("/pusher/auth").unwrap_err();
    assert!(e.to_string().contains("not an http:// or https:// URL"), "{e}");
}
