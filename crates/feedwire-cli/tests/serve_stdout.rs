//! `feedwire serve` with a stdout nobody reads: the server keeps accepting connections and answering HTTP,
//! and says how many event lines it dropped once stdout is read again.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_feedwire");

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends `request` and reads the answer's head, within 5 s.
fn head(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

const UPGRADE: &str = "GET /app/app-key?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

#[test]
fn a_stdout_nobody_reads_never_stops_the_server() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Kill(
        Command::new(BIN)
            .args(["serve", "pusher", "--addr", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()) // never read until the end
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(10), "serve did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    // two event lines per connection (connected, disconnected): far more than a pipe holds (64 KiB) and
    // than the CLI queues (8192 lines)
    for i in 0..5000 {
        let h = head(port, UPGRADE);
        assert!(h.starts_with("HTTP/1.1 101"), "connection {i}: {h:?}");
    }
    let health = head(
        port,
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(health.starts_with("HTTP/1.1 200"), "{health:?}");
    let api = head(
        port,
        "GET /apps/app-id/channels HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(
        api.starts_with("HTTP/1.1 401"),
        "the HTTP API answers (unsigned): {api:?}"
    );

    // read stdout now: the lines that fitted, then the count of those dropped
    let stdout = server.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains(r#""kind":"dropped_lines""#) {
                let _ = tx.send(line);
                return;
            }
        }
    });
    let dropped = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("no dropped_lines report");
    let v: serde_json::Value = serde_json::from_str(&dropped).unwrap();
    assert!(v["lines"].as_u64().is_some_and(|n| n > 0), "{dropped}");
}

#[test]
fn refused_frames_are_cut_to_256_bytes_in_event_lines() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Kill(
        Command::new(BIN)
            .args(["serve", "pusher", "--addr", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(10), "serve did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(UPGRADE.as_bytes()).unwrap();
    // one masked text frame of 4,000 bytes that is not a Pusher message
    let payload = format!("{{\"event\":\"nope\",\"data\":\"{}\"}}", "é".repeat(1980));
    let len = payload.len();
    let mut frame = vec![0x81, 0x80 | 126, (len >> 8) as u8, len as u8, 1, 2, 3, 4];
    frame.extend(payload.bytes().enumerate().map(|(i, b)| b ^ [1, 2, 3, 4][i % 4]));
    s.write_all(&frame).unwrap();
    let stdout = server.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains(r#""kind":"bad_frame""#) {
                let _ = tx.send(line);
                return;
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("no bad_frame line");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let raw = v["raw"].as_str().unwrap();
    assert!(
        raw.len() <= 256 + "…".len() && raw.ends_with('…'),
        "{} bytes: {raw}",
        raw.len()
    );
    assert!(raw.starts_with(r#"{"event":"nope""#), "{raw}");
}
