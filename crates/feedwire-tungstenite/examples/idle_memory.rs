//! Resident memory per idle client connection: opens 1,000 client [`Connection`]s (1,000 tokio tasks, one
//! idle session each, at most 64 handshakes in flight) against a [`Server`] running in a child process, and
//! reads `VmRSS` from `/proc/self/status` before and after, in both processes.
//!
//! ```text
//! cargo run --release -p feedwire-tungstenite --example idle_memory [-- CONNECTIONS [READ_BUFFER_BYTES]]
//! ```
//!
//! It needs an open-file limit above the connection count (`ulimit -n`). Measured on the development machine
//! (Linux x86_64, release build, the default 4 KiB read buffer): see the crate README / report; the figure
//! printed is (after - before) / connections.
#![allow(clippy::print_stdout, clippy::disallowed_methods)] // an example that prints and waits

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use feedwire_core::testing::doc::EchoHub;
use feedwire_core::{Close, ConnectRequest, Frame, Lifecycle, Session, Transmit};
use feedwire_tungstenite::{ClientConfig, Connection, Server};

/// Connects once and then stays idle: no frames, no deadlines.
struct Idle {
    out: VecDeque<Transmit>,
    events: VecDeque<bool>,
}

impl Session for Idle {
    type Event = bool; // true: open, false: closed
    fn handle_open(&mut self, _: Instant, _: Option<&str>) {
        self.events.push_back(true);
    }
    fn handle_frame(&mut self, _: Instant, _: Frame) {}
    fn handle_close(&mut self, _: Instant, _: Option<Close>) {
        self.events.push_back(false);
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }
    fn poll_event(&mut self) -> Option<bool> {
        self.events.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

/// Its one dial is queued at construction; the lifecycle calls have nothing to add.
impl Lifecycle for Idle {
    fn connect(&mut self, _: Instant) {}
    fn disconnect(&mut self, _: Instant) {
        self.out.push_back(Transmit::Close(Close::normal()));
    }
    fn is_open(&self) -> bool {
        false
    }
    fn is_stopped(&self) -> bool {
        false
    }
}

/// Handshakes in flight at once.
const IN_FLIGHT: usize = 64;

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if args.get(1).map(String::as_str) == Some("--server") {
        return rt.block_on(serve());
    }
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let read_buffer: usize = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(feedwire_tungstenite::DEFAULT_READ_BUFFER_SIZE);
    rt.block_on(clients(n, read_buffer));
}

/// The child: serve, print the port, then print VmRSS each time a line arrives on stdin.
async fn serve() {
    let server = Server::bind("127.0.0.1:0", EchoHub::default())
        .await
        .expect("bind");
    println!("{} {}", server.local_addr().port(), vm_rss_kib());
    let lines = tokio::task::spawn_blocking(move || {
        let stdin = std::io::stdin();
        let mut out = Vec::new();
        for line in stdin.lock().lines() {
            if line.is_err() {
                break;
            }
            println!("{} {}", server.handle().connections(), vm_rss_kib());
            out.push(());
        }
        out.len()
    });
    let _ = lines.await;
}

async fn clients(n: usize, read_buffer: usize) {
    let exe = std::env::current_exe().expect("current exe");
    let mut child = Command::new(exe)
        .arg("--server")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the server process");
    let mut child_out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut child_in = child.stdin.take().expect("stdin");
    let mut line = String::new();
    child_out.read_line(&mut line).expect("port");
    let mut parts = line.split_whitespace();
    let port: u16 = parts.next().and_then(|p| p.parse().ok()).expect("port");
    let server_before: u64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);

    let url = format!("ws://127.0.0.1:{port}/idle");
    let before = vm_rss_kib();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::with_capacity(n);
    let mut opened = 0;
    for i in 0..n {
        // at most IN_FLIGHT handshakes at a time (as a load generator does): the figure is the cost of an
        // open connection, not of n simultaneous handshakes
        while i - opened >= IN_FLIGHT {
            match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
                Ok(Some(true)) => opened += 1,
                Ok(Some(false)) => panic!("a connection closed"),
                _ => panic!("timed out with {opened} of {n} open"),
            }
        }
        let session = Idle {
            out: VecDeque::from([Transmit::Connect(ConnectRequest::new(url.clone()))]),
            events: VecDeque::new(),
        };
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            let config = ClientConfig::default().with_read_buffer_size(read_buffer);
            let mut conn = Connection::with_config(session, config);
            while let Some(open) = conn.next_event().await {
                let _ = tx.send(open);
            }
        }));
    }
    while opened < n {
        match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
            Ok(Some(true)) => opened += 1,
            Ok(Some(false)) => panic!("a connection closed"),
            _ => panic!("timed out with {opened} of {n} open"),
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = vm_rss_kib();
    writeln!(child_in).expect("ask the server");
    line.clear();
    child_out.read_line(&mut line).expect("server rss");
    let mut parts = line.split_whitespace();
    let server_conns: usize = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let server_after: u64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);

    println!(
        "{n} idle client connections open ({server_conns} on the server), client read buffer {read_buffer} B"
    );
    println!(
        "client process: VmRSS {before} KiB -> {after} KiB: {:.1} KiB per connection",
        (after.saturating_sub(before)) as f64 / n as f64
    );
    println!(
        "server process: VmRSS {server_before} KiB -> {server_after} KiB: {:.1} KiB per connection",
        (server_after.saturating_sub(server_before)) as f64 / n as f64
    );
    for t in tasks {
        t.abort();
    }
    drop(child_in);
    let _ = child.wait();
}
