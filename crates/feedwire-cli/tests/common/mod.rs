//! The `feedwire` binary as a process for tests: its stdout and stderr read line by line, waits bounded by
//! what a user would wait, `feedwire serve` on a free port. Killed when dropped, also when a test fails.
#![allow(dead_code, clippy::disallowed_methods)] // each test file uses a part

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_feedwire");

/// How long a user would wait for a message; far more than any of them takes.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A port nobody listens on (bound, then freed; outside any server these tests start).
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `feedwire` process whose stdout and stderr are read line by line; killed when dropped.
pub struct Feedwire {
    pub child: Child,
    stderr: mpsc::Receiver<String>,
    stdout: mpsc::Receiver<String>,
    pub err_seen: Vec<String>,
    pub out_seen: Vec<String>,
}

pub fn lines_of(r: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Feedwire {
    pub fn start(args: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = lines_of(child.stderr.take().unwrap());
        let stdout = lines_of(child.stdout.take().unwrap());
        Feedwire {
            child,
            stderr,
            stdout,
            err_seen: Vec::new(),
            out_seen: Vec::new(),
        }
    }

    /// Waits (at most [`PATIENCE`]) for a stderr line containing `needle`; panics with what came otherwise.
    pub fn stderr_until(&mut self, needle: &str) {
        let t0 = Instant::now();
        while !self.err_seen.iter().any(|l| l.contains(needle)) {
            let left = PATIENCE.saturating_sub(t0.elapsed());
            match self.stderr.recv_timeout(left) {
                Ok(l) => self.err_seen.push(l),
                Err(_) => panic!(
                    "no {needle:?} on stderr within {PATIENCE:?}:\n{}",
                    self.err_seen.join("\n")
                ),
            }
        }
    }

    /// Waits (at most [`PATIENCE`]) for a stdout JSON line of `kind`; returns it.
    pub fn stdout_kind(&mut self, kind: &str) -> serde_json::Value {
        self.stdout_n(kind, 1).remove(0)
    }

    /// Waits (at most [`PATIENCE`]) for `n` stdout JSON lines of `kind`; returns them.
    pub fn stdout_n(&mut self, kind: &str, n: usize) -> Vec<serde_json::Value> {
        let t0 = Instant::now();
        loop {
            let found: Vec<serde_json::Value> = self
                .out_seen
                .iter()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|v| v["kind"] == kind)
                .collect();
            if found.len() >= n {
                return found;
            }
            let left = PATIENCE.saturating_sub(t0.elapsed());
            match self.stdout.recv_timeout(left) {
                Ok(l) => self.out_seen.push(l),
                Err(_) => panic!(
                    "no {kind:?} line on stdout within {PATIENCE:?}:\n{}",
                    self.out_seen.join("\n")
                ),
            }
        }
    }

    /// Waits (at most [`PATIENCE`]) for the process to exit on its own; reads what it printed.
    pub fn exit(&mut self) -> ExitStatus {
        self.exit_within(PATIENCE)
    }

    /// Waits (at most `patience`) for the process to exit on its own; reads what it printed.
    pub fn exit_within(&mut self, patience: Duration) -> ExitStatus {
        let t0 = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.drain();
                return status;
            }
            assert!(
                t0.elapsed() < patience,
                "still running after {patience:?}:\n{}",
                self.err_seen.join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything printed so far, once the pipes are closed (or after a short wait).
    pub fn drain(&mut self) {
        let until = Instant::now() + Duration::from_secs(2);
        while let Ok(l) = self
            .stderr
            .recv_timeout(until.saturating_duration_since(Instant::now()))
        {
            self.err_seen.push(l);
        }
        while let Ok(l) = self
            .stdout
            .recv_timeout(until.saturating_duration_since(Instant::now()))
        {
            self.out_seen.push(l);
        }
    }

    /// Sends a signal (SIGINT, SIGTERM) by the child's id.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// The stderr lines seen, normalised for a snapshot: ports, times and socket ids replaced.
    pub fn stderr_text(&self) -> String {
        normalise(&self.err_seen.join("\n"))
    }
}

impl Drop for Feedwire {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Replaces every `127.0.0.1:N` port and every `in N ms` time, which change from run to run.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(|c: char| c.is_ascii_digit()) {
        let (head, tail) = rest.split_at(i);
        out.push_str(head);
        let end = tail
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(tail.len());
        let number = &tail[..end];
        let after = &tail[end..];
        if out.ends_with("127.0.0.1:") && !number.contains('.') {
            out.push_str("PORT");
        } else if out.ends_with(" in ") && after.starts_with(" ms") {
            out.push('T');
        } else {
            out.push_str(number);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// `feedwire serve PROTOCOL` on a free port, ready; killed when dropped.
pub fn serve(protocol: &str) -> (Feedwire, u16) {
    let port = closed_port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = Feedwire::start(&["serve", protocol, "--addr", &addr]);
    server.stderr_until("publish by writing");
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed() < PATIENCE, "serve did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (server, port)
}
