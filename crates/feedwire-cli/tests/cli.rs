//! End to end: the built `feedwire` binary, on loopback only.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_feedwire");

#[test]
fn demo_exits_zero_and_every_protocol_received_and_reconnected() {
    let start = Instant::now();
    let out = Command::new(BIN)
        .arg("demo")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "demo took {:?}",
        start.elapsed()
    );
    let table: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("protocol"))
        .collect();
    assert!(table.len() >= 6, "no summary table:\n{stdout}");
    for proto in ["pusher", "actioncable", "doshii", "igratech"] {
        let row = table
            .iter()
            .find(|l| l.starts_with(proto))
            .unwrap_or_else(|| panic!("no {proto} row:\n{stdout}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        let events: u64 = cols[1].parse().unwrap();
        let reconnects: u64 = cols[2].parse().unwrap();
        assert!(events > 0 && reconnects > 0, "{row}");
        assert!(row.ends_with("ok"), "{row}");
    }
}

/// `feedwire serve pusher` on a free port, ready (it accepts connections); stopped when dropped, also when
/// the test fails.
struct ServePusher {
    child: std::process::Child,
    port: u16,
}

impl ServePusher {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(BIN)
            .args(["serve", "pusher", "--addr", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = ServePusher { child, port };
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(10), "serve did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }
}

impl ServePusher {
    /// Publishes one JSON line through the server's stdin.
    fn publish(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for ServePusher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_and_listen_pusher_deliver_a_published_event() {
    let mut server = ServePusher::start();
    let port = server.port;
    let mut listener = Command::new(BIN)
        .args([
            "listen",
            "pusher",
            "--key",
            "app-key",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--no-tls",
        ])
        .args([
            "--channel",
            "inventory_changes",
            "--channel",
            "private-orders",
            "--secret",
            "app-secret",
            "--count",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // publish once both subscriptions are confirmed by the listener
    let mut lines = BufReader::new(listener.stdout.take().unwrap()).lines();
    let mut subscribed = 0;
    while subscribed < 2 {
        let line = lines.next().expect("listener ended early").unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["protocol"], "pusher");
        if v["kind"] == "subscribed" {
            subscribed += 1;
        }
    }
    server.publish(r#"{"channel":"private-orders","event":"order_update","data":"{\"id\":7}"}"#);
    let line = lines.next().expect("no event").unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        (v["kind"].as_str(), v["channel"].as_str(), v["event"].as_str()),
        (Some("message"), Some("private-orders"), Some("order_update"))
    );
    assert_eq!(v["data"]["id"], 7);
    assert!(v["ts"].as_u64().unwrap() > 1_700_000_000_000);
    let status = listener.wait().unwrap();
    assert!(status.success());
    drop(server);
}

#[test]
fn listen_exits_non_zero_with_a_clear_message_on_a_terminal_close() {
    let server = ServePusher::start();
    let port = server.port;
    // the wrong app key: the server answers 4001, which must not be retried
    let out = Command::new(BIN)
        .args([
            "listen",
            "pusher",
            "--key",
            "wrong-key",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--no-tls",
            "--channel",
            "c",
        ])
        .output()
        .unwrap();
    drop(server);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("4001") && stderr.contains("not to reconnect"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().any(|l| l.contains(r#""code":4001"#)), "{stdout}");
}

/// A child process killed when the test ends, passed or failed.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An https:// auth endpoint on 127.0.0.1 with the test certificate of `testdata/tls` (signed by its test CA),
/// signing private channels for `serve pusher`'s default app as a pusher-js backend would. It serves in a
/// thread for as long as the test runs; returns its URL.
fn https_auth_endpoint() -> String {
    use feedwire_tungstenite::rustls;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::io::Read;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/tls");
    let cert = CertificateDer::from_pem_file(dir.join("server.pem")).unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    let config = std::sync::Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "https://127.0.0.1:{}/pusher/auth",
        listener.local_addr().unwrap().port()
    );
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            // the request: head, then Content-Length bytes of form body
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            let body = loop {
                let Ok(n) = tls.read(&mut chunk) else { break None };
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if body.len() >= len {
                        break Some(body.to_owned());
                    }
                }
            };
            let Some(body) = body else { continue };
            let field = |name: &str| {
                body.split('&')
                    .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                    .unwrap_or("")
                    .replace("%3A", ":")
                    .replace("%2D", "-")
            };
            let secret = feedwire_core::Secret::new("app-secret".to_owned());
            let sig = feedwire_pusher::auth::sign_private(
                "app-key",
                &secret,
                &field("socket_id"),
                &field("channel_name"),
            );
            let answer = format!(r#"{{"auth":"{}"}}"#, sig.expose());
            let _ = write!(
                tls,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    url
}

fn listen_private(port: u16, auth: &str, ca_file: Option<&str>) -> KillOnDrop {
    let mut cmd = Command::new(BIN);
    cmd.args(["listen", "pusher", "--key", "app-key", "--host", "127.0.0.1"])
        .args([
            "--port",
            &port.to_string(),
            "--no-tls",
            "--channel",
            "private-orders",
        ])
        .args(["--auth-endpoint", auth, "--count", "1"]);
    if let Some(ca) = ca_file {
        cmd.args(["--ca-file", ca]);
    }
    KillOnDrop(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap())
}

#[test]
fn listen_pusher_authorizes_through_an_https_endpoint_with_a_private_ca() {
    let mut server = ServePusher::start();
    let auth = https_auth_endpoint();
    let ca = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/tls/ca.pem");
    let mut listener = listen_private(server.port, &auth, Some(ca.to_str().unwrap()));
    let mut lines = BufReader::new(listener.0.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("listener ended before subscribing").unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["kind"] == "subscribed" {
            assert_eq!(v["channel"], "private-orders");
            break;
        }
    }
    server.publish(r#"{"channel":"private-orders","event":"paid","data":"{\"id\":9}"}"#);
    let v: serde_json::Value = serde_json::from_str(&lines.next().expect("no event").unwrap()).unwrap();
    assert_eq!(
        (v["kind"].as_str(), v["event"].as_str()),
        (Some("message"), Some("paid"))
    );
    assert!(listener.0.wait().unwrap().success());
}

#[test]
fn an_https_endpoint_with_an_untrusted_certificate_is_refused_clearly() {
    let server = ServePusher::start();
    let auth = https_auth_endpoint();
    // no --ca-file: the public roots do not know the test CA
    let mut listener = listen_private(server.port, &auth, None);
    let stderr = BufReader::new(listener.0.stderr.take().unwrap());
    let mut lines = stderr.lines().map_while(Result::ok);
    let line = lines
        .find(|l| l.contains("private-orders"))
        .expect("an auth error on stderr");
    assert!(line.contains("certificate"), "{line}");
    let hint = lines.next().expect("a hint");
    assert!(hint.contains("--ca-file"), "{hint}");
}

/// Input that cannot work is refused before dialing (exit 2), with what to type instead (issue 17).
#[test]
fn inputs_that_cannot_work_are_refused_with_what_to_type_instead() {
    let pusher = ["listen", "pusher", "--key", "k", "--channel", "c", "--host"];
    let with = |head: &[&'static str], last: &'static str| [head, &[last]].concat();
    let cases: [(Vec<&str>, &str); 5] = [
        (
            with(&pusher, "ws://127.0.0.1:6001"),
            "a host name, not a URL: try --host 127.0.0.1 --port 6001 --no-tls",
        ),
        (
            with(&pusher, "127.0.0.1:6001"),
            "the port goes in --port: try --host 127.0.0.1 --port 6001",
        ),
        (
            with(
                &["listen", "actioncable", "--channel", "X", "--url"],
                "http://localhost:3000/cable",
            ),
            "a WebSocket URL: try ws://localhost:3000/cable",
        ),
        (
            with(&["listen", "igratech", "--url"], "https://feed.example/wspublic"),
            "a WebSocket URL: try wss://feed.example/wspublic",
        ),
        (
            with(&["serve", "doshii"], "--echo"),
            "unexpected argument '--echo'",
        ),
    ];
    for (args, message) in cases {
        let out = Command::new(BIN).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(
            out.stdout.is_empty(),
            "{args:?}: nothing dialled, nothing printed"
        );
    }
}

/// `PUSHER_APP_SECRET` belongs to `serve`: exported, it does not make `listen --auth-endpoint` conflict with
/// a `--secret` the user never typed (issue 17).
#[test]
fn listen_reads_no_server_secret_from_the_environment() {
    let mut child = Command::new(BIN)
        .args([
            "listen",
            "pusher",
            "--key",
            "k",
            "--host",
            "127.0.0.1",
            "--port",
            "1",
            "--no-tls",
        ])
        .args([
            "--channel",
            "private-a",
            "--auth-endpoint",
            "http://127.0.0.1:1/auth",
        ])
        .env("PUSHER_APP_SECRET", "app-secret")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("cannot be used with"), "{stderr}");
    assert!(
        stderr.contains("connecting to ws://127.0.0.1:1/app/k"),
        "{stderr}"
    );
}
