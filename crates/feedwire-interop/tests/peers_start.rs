//! The peers install and start here, and stop with their guard.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use feedwire_interop::{free_port, start_rails, start_soketi, wait_for_port};

fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
#[ignore = "needs the real peers: crates/feedwire-interop/scripts/install-peers.sh (CI runs it)"]
fn soketi_starts_answers_and_stops() {
    let port = free_port().unwrap();
    let peer = start_soketi(port, false).unwrap();
    let resp = http_get(port, "/");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    drop(peer);
    assert!(
        wait_for_port(port, Duration::from_millis(300)).is_err(),
        "soketi still listens after drop"
    );
}

#[test]
#[ignore = "needs the real peers: crates/feedwire-interop/scripts/install-peers.sh (CI runs it)"]
fn rails_starts_and_stops() {
    let port = free_port().unwrap();
    let peer = start_rails(port).unwrap();
    // a plain GET on /cable is refused by ActionCable (not a WebSocket upgrade), which proves it is there
    let resp = http_get(port, "/cable");
    assert!(
        resp.starts_with("HTTP/1.1 404") || resp.starts_with("HTTP/1.1 400"),
        "{resp}"
    );
    drop(peer);
    assert!(
        wait_for_port(port, Duration::from_millis(300)).is_err(),
        "puma still listens after drop"
    );
}
