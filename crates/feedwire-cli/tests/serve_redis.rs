//! `feedwire serve --redis` when Redis cannot be reached (the runs with a real redis-server are the interop
//! suite's `cluster.rs` and `cable_redis.rs`): the server serves its own clients, says so, and shows the link
//! in `GET /metrics`.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Feedwire, PATIENCE, closed_port};

fn get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn start(protocol: &str, extra: &[&str]) -> (Feedwire, u16) {
    let port = closed_port();
    let addr = format!("127.0.0.1:{port}");
    let redis = format!("redis://127.0.0.1:{}", closed_port());
    let mut args = vec!["serve", protocol, "--addr", &addr, "--redis", &redis];
    args.extend_from_slice(extra);
    let mut server = Feedwire::start(&args);
    server.stderr_until("redis is unreachable: this server keeps serving its own clients");
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed() < PATIENCE, "serve did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (server, port)
}

#[test]
fn serve_pusher_without_redis_says_so_and_shows_the_link_down_in_metrics() {
    let (mut server, port) = start("pusher", &["--node-id", "n1"]);
    let metrics = get(port, "/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.contains("\nfeedwire_redis_link_up 0\n"), "{metrics}");
    assert!(
        metrics.contains("\nfeedwire_redis_disconnects_total 0\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nfeedwire_server_connections_open 0\n"),
        "{metrics}"
    );
    // a publish still reaches this node's own subscribers (none here): it is accepted
    writeln!(
        server.child.stdin.as_mut().unwrap(),
        r#"{{"channel":"c","event":"e","data":{{}}}}"#
    )
    .unwrap();
    server.stderr_until("published to 0 connections");
    assert!(
        server
            .err_seen
            .iter()
            .any(|l| l.contains("node n1 of the cluster on Redis redis://127.0.0.1:")),
        "{:?}",
        server.err_seen
    );
}

#[test]
fn serve_actioncable_without_redis_broadcasts_to_its_own_clients_only_and_says_so() {
    let (mut server, port) = start("actioncable", &["--redis-prefix", "app"]);
    writeln!(
        server.child.stdin.as_mut().unwrap(),
        r#"{{"stream":"chat","message":{{"text":"hi"}}}}"#
    )
    .unwrap();
    server.stderr_until("published to 0 connections of this server only: Redis is unreachable");
    let metrics = get(port, "/metrics");
    assert!(metrics.contains("\nfeedwire_redis_link_up 0\n"), "{metrics}");
    assert!(
        server
            .err_seen
            .iter()
            .any(|l| l.contains("(channels app:STREAM)")),
        "{:?}",
        server.err_seen
    );
}

#[test]
fn the_redis_options_need_redis() {
    let mut p = Feedwire::start(&["serve", "actioncable", "--redis-prefix", "app"]);
    assert_eq!(p.exit_within(PATIENCE).code(), Some(2));
    let mut p = Feedwire::start(&["serve", "pusher", "--node-id", "a"]);
    assert_eq!(p.exit_within(PATIENCE).code(), Some(2));
}
