//! `feedwire serve pusher --webhook`: a local hyper receiver checks what the built binary POSTs (hosted
//! Pusher's body, `X-Pusher-Key`, `X-Pusher-Signature` recomputed here) and that a failed POST is retried.
#![allow(clippy::disallowed_methods)]

use std::convert::Infallible;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::Value;
use tokio::sync::mpsc;

const BIN: &str = env!("CARGO_BIN_EXE_feedwire");

/// A child process killed when dropped (also when the test fails).
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One POST the receiver got.
#[derive(Debug)]
struct Received {
    path: String,
    key: Option<String>,
    signature: Option<String>,
    content_type: Option<String>,
    body: String,
    answered: u16,
}

/// A hyper HTTP/1.1 receiver on a free loopback port: answers the first `fail_first` POSTs 500, the others
/// 200, and reports each one.
async fn receiver(fail_first: usize) -> (u16, mpsc::UnboundedReceiver<Received>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    let seen = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (tx, seen) = (tx.clone(), seen.clone());
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (tx, seen) = (tx.clone(), seen.clone());
                async move {
                    let header = |n: &str| {
                        req.headers()
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    let (path, key, signature, content_type) = (
                        req.uri().path().to_owned(),
                        header("x-pusher-key"),
                        header("x-pusher-signature"),
                        header("content-type"),
                    );
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let answered = if seen.fetch_add(1, Ordering::SeqCst) < fail_first {
                        500
                    } else {
                        200
                    };
                    let _ = tx.send(Received {
                        path,
                        key,
                        signature,
                        content_type,
                        body: String::from_utf8_lossy(&body).into_owned(),
                        answered,
                    });
                    let mut resp = Response::new(Full::new(Bytes::new()));
                    *resp.status_mut() = hyper::StatusCode::from_u16(answered).unwrap();
                    Ok::<_, Infallible>(resp)
                }
            });
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, svc)
                    .await;
            });
        }
    });
    (port, rx)
}

fn hex_hmac(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Received>, within: Duration) -> Received {
    tokio::time::timeout(within, rx.recv())
        .await
        .expect("no webhook in time")
        .expect("receiver ended")
}

fn events(r: &Received) -> Vec<Value> {
    let v: Value = serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body));
    assert!(
        v["time_ms"].as_u64().is_some_and(|t| t > 1_600_000_000_000),
        "{}",
        r.body
    );
    v["events"].as_array().cloned().unwrap_or_default()
}

fn check_signed(r: &Received, secret: &str) {
    assert_eq!(r.path, "/hook");
    assert_eq!(r.key.as_deref(), Some("app-key"));
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        r.signature.as_deref(),
        Some(hex_hmac(secret, &r.body).as_str()),
        "{}",
        r.body
    );
    assert_ne!(
        r.signature.as_deref(),
        Some(hex_hmac("not-the-secret", &r.body).as_str())
    );
}

#[tokio::test(flavor = "current_thread")]
async fn webhooks_are_signed_batched_and_retried_after_a_failure() {
    let (hook_port, mut rx) = receiver(1).await;
    let port = free_port();
    let _server = Kill(
        Command::new(BIN)
            .args(["serve", "pusher", "--addr", &format!("127.0.0.1:{port}")])
            .args(["--webhook", &format!("http://127.0.0.1:{hook_port}/hook")])
            .env("PUSHER_APP_SECRET", "s3cret")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(10), "serve did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let listener = Kill(
        Command::new(BIN)
            .args([
                "listen",
                "pusher",
                "--key",
                "app-key",
                "--host",
                "127.0.0.1",
                "--no-tls",
            ])
            .args([
                "--port",
                &port.to_string(),
                "--channel",
                "room",
                "--channel",
                "presence-lobby",
            ])
            .args(["--secret", "s3cret", "--user-id", "alice"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // the two subscriptions and the member in one batch; answered 500
    let first = next(&mut rx, Duration::from_secs(10)).await;
    check_signed(&first, "s3cret");
    assert_eq!(first.answered, 500);
    let mut names: Vec<String> = events(&first)
        .iter()
        .map(|e| format!("{} {} {}", e["name"], e["channel"], e["user_id"]))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            r#""channel_occupied" "presence-lobby" null"#,
            r#""channel_occupied" "room" null"#,
            r#""member_added" "presence-lobby" "alice""#,
        ],
        "{}",
        first.body
    );
    // retried after the backoff (1 s), the same signed body
    let t_fail = Instant::now();
    let retry = next(&mut rx, Duration::from_secs(5)).await;
    assert!(
        t_fail.elapsed() >= Duration::from_millis(800),
        "retried after {:?}",
        t_fail.elapsed()
    );
    check_signed(&retry, "s3cret");
    assert_eq!((retry.body.as_str(), retry.answered), (first.body.as_str(), 200));

    // the client goes: member_removed and both channels vacated
    drop(listener);
    let last = next(&mut rx, Duration::from_secs(10)).await;
    check_signed(&last, "s3cret");
    let mut names: Vec<String> = events(&last)
        .iter()
        .map(|e| format!("{} {}", e["name"], e["channel"]))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            r#""channel_vacated" "presence-lobby""#,
            r#""channel_vacated" "room""#,
            r#""member_removed" "presence-lobby""#,
        ],
        "{}",
        last.body
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), rx.recv())
            .await
            .is_err(),
        "nothing else was sent"
    );
}

#[test]
fn webhook_flags_that_cannot_work_are_refused() {
    for args in [
        &["--webhook-event", "channel_occupied"][..],
        &["--webhook", "ftp://example/"][..],
        &["--webhook", "http://127.0.0.1:9/", "--webhook-event", "nope"][..],
    ] {
        let out = Command::new(BIN)
            .args(["serve", "pusher", "--addr", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("webhook"), "{args:?}: {err}");
    }
}
