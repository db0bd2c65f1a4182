//! Helpers for the interoperability tests: start a real third-party peer on 127.0.0.1, wait until it listens,
//! and stop it (its whole process group) when the guard drops, also when a test panics.
//!
//! The peers are installed by `scripts/install-peers.sh` (apt for Rails ActionCable + puma, `npm ci` for soketi
//! and the JavaScript clients); `.ci/run` calls it and runs these tests with `--ignored`. Without the peers the
//! tests are skipped by `cargo test` (they are `#[ignore]`d with a reason) and never pass by skipping in CI.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![allow(clippy::disallowed_methods)] // test infrastructure: real time and real processes are the point

/// The README's examples, compiled (and the runnable ones run) as doctests, so the README cannot drift from
/// the API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

use std::fs::File;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The folder holding the peers' files (`peers/` beside this crate's manifest).
pub fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers")
}

/// A free TCP port on 127.0.0.1 (the OS picks it; there is a small window before the peer binds it).
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until something accepts TCP connections on `127.0.0.1:port`, for at most `timeout`.
pub fn wait_for_port(port: u16, timeout: Duration) -> io::Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let start = Instant::now();
    loop {
        // a connect to a free port in the ephemeral range can connect the socket to itself (TCP simultaneous
        // open, when its own source port is that port): that is nobody listening
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200))
            && s.local_addr().ok() != s.peer_addr().ok()
        {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("nothing listens on 127.0.0.1:{port}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running peer process. Dropping it stops the process group it leads (SIGTERM, then SIGKILL after 3 s).
#[derive(Debug)]
pub struct Peer {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Peer {
    /// Starts `program args..` in `dir` with `env`, in a new process group, its output going to a log file.
    pub fn start(
        name: &str,
        dir: &Path,
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> io::Result<Peer> {
        let log = std::env::temp_dir().join(format!("feedwire-interop-{name}-{}.log", std::process::id()));
        let out = File::create(&log)?;
        let err = out.try_clone()?;
        let child = Command::new(program)
            .args(args)
            .current_dir(dir)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("starting {name} ({program}): {e}")))?;
        Ok(Peer {
            name: name.to_owned(),
            child,
            log,
        })
    }

    /// The peer once it listens on `port`, waiting up to `timeout`; when it does not, it is stopped and the
    /// error says that `what` did not start, with the peer's output so far.
    pub fn listening(mut self, port: u16, timeout: Duration, what: &str) -> io::Result<Peer> {
        if let Err(e) = wait_for_port(port, timeout) {
            let out = self.output();
            self.stop();
            return Err(io::Error::new(
                e.kind(),
                format!("{what} did not start: {e}\n{out}"),
            ));
        }
        Ok(self)
    }

    /// The process id (also the process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the peer printed so far.
    pub fn output(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the process to exit by itself, for at most `timeout`; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> io::Result<Option<i32>> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.code());
            }
            if start.elapsed() > timeout {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{} still running after {timeout:?}; output:\n{}",
                        self.name,
                        self.output()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the process group now: SIGTERM, then SIGKILL for whatever is left after 3 s. Returns when no
    /// process of the group is left (or after 6 s).
    pub fn stop(&mut self) {
        let group = format!("-{}", self.child.id());
        let group_alive = || {
            Command::new("kill")
                .args(["-0", "--", &group])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if group_alive() {
            let _ = Command::new("kill")
                .args(["-TERM", "--", &group])
                .stderr(Stdio::null())
                .status();
        }
        let start = Instant::now();
        let mut killed = false;
        loop {
            let _ = self.child.try_wait(); // reap the leader
            if !group_alive() || start.elapsed() > Duration::from_secs(6) {
                break;
            }
            if !killed && start.elapsed() > Duration::from_secs(3) {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &group])
                    .stderr(Stdio::null())
                    .status();
                killed = true;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = self.child.try_wait();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The `feedwire` binary for the tests that run it as a process: `FEEDWIRE_BIN` if set, else built once per
/// test process with `cargo build -p feedwire-cli` into the test's own target directory and profile.
pub fn feedwire_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("FEEDWIRE_BIN") {
            return PathBuf::from(bin);
        }
        let exe = std::env::current_exe().expect("the test executable's path");
        // <target>/<profile>/deps/js_clients-HASH
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test executable lives in <target>/<profile>/deps");
        let target_dir = profile_dir.parent().expect("<target>/<profile>");
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
        let mut build = Command::new(cargo);
        build
            .args([
                "build",
                "--quiet",
                "-p",
                "feedwire-cli",
                "--bin",
                "feedwire",
                "--manifest-path",
            ])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(target_dir);
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("running cargo build -p feedwire-cli");
        assert!(status.success(), "cargo build -p feedwire-cli failed: {status}");
        let bin = profile_dir.join("feedwire");
        assert!(bin.is_file(), "{} missing after the build", bin.display());
        bin
    })
}

/// Starts soketi 1.6 on `127.0.0.1:port` with the default app (`app-id`/`app-key`/`app-secret`) and waits
/// until it listens. `client_messages` enables client events.
pub fn start_soketi(port: u16, client_messages: bool) -> io::Result<Peer> {
    let dir = peers_dir().join("soketi");
    let port_s = port.to_string();
    let metrics = free_port()?.to_string();
    let env = [
        ("SOKETI_DEFAULT_APP_ID", "app-id"),
        ("SOKETI_DEFAULT_APP_KEY", "app-key"),
        ("SOKETI_DEFAULT_APP_SECRET", "app-secret"),
        (
            "SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES",
            if client_messages { "true" } else { "false" },
        ),
        ("SOKETI_PORT", port_s.as_str()),
        ("SOKETI_METRICS_SERVER_PORT", metrics.as_str()),
    ];
    let peer = Peer::start(
        "soketi",
        &dir,
        "node",
        &["node_modules/.bin/soketi", "start", "--config=soketi.json"],
        &env,
    )?;
    peer.listening(port, Duration::from_secs(20), "soketi")
}

/// Starts Rails ActionCable 6.1 under puma on `127.0.0.1:port` (`/cable`) and waits until it listens.
pub fn start_rails(port: u16) -> io::Result<Peer> {
    start_rails_with(port, &[])
}

/// [`start_rails`] with environment variables for `config.ru`: `REDIS_URL` makes it use Rails' `redis`
/// subscription adapter, `CABLE_CHANNEL_PREFIX` sets that adapter's `channel_prefix`.
pub fn start_rails_with(port: u16, env: &[(&str, &str)]) -> io::Result<Peer> {
    let dir = peers_dir().join("actioncable");
    let bind = format!("tcp://127.0.0.1:{port}");
    let peer = Peer::start(
        &format!("rails-{port}"),
        &dir,
        "puma",
        &["-b", &bind, "config.ru"],
        env,
    )?;
    peer.listening(port, Duration::from_secs(30), "puma")
}

/// A `GET` to `127.0.0.1:port` (the Rails peer's test hooks: `/broadcast?stream=..&message=..`, `/restart`);
/// panics unless it is answered 200.
pub fn http_get(port: u16, path_and_query: &str) {
    use std::io::Write as _;
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("the peer listens");
    write!(
        s,
        "GET {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("the request is sent");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("the answer is read");
    assert!(out.starts_with("HTTP/1.1 200"), "{path_and_query}: {out}");
}

/// The JSON objects among `output`'s lines (the peer scripts print one per step; other lines are skipped).
pub fn json_lines(output: &str) -> Vec<serde_json::Value> {
    output
        .lines()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Percent-encodes every byte but ASCII letters and digits (for a query value).
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `redis-server` (Debian's package, from `scripts/install-peers.sh`) on `127.0.0.1:port`, without
/// persistence: a restart on the same port starts empty, as a Redis that lost its memory.
pub fn start_redis(port: u16) -> io::Result<Peer> {
    let p = port.to_string();
    let args = [
        "--port",
        &p,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ];
    let peer = Peer::start(
        &format!("redis-{port}"),
        &std::env::temp_dir(),
        "redis-server",
        &args,
        &[],
    )?;
    peer.listening(port, Duration::from_secs(10), "redis-server")
}

/// A file that a `serve` process reads as its stdin (through `tail -f "$file" | feedwire serve ..`): each
/// [`append`](Self::append)ed line is one line published. Removed when dropped.
#[derive(Debug)]
pub struct StdinFile(PathBuf);

impl StdinFile {
    /// An empty file named after `name` in the temporary folder.
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("feedwire-interop-{name}-{}.jsonl", std::process::id()));
        std::fs::write(&path, "").expect("the temporary folder is writable");
        StdinFile(path)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Appends `line` and a newline.
    pub fn append(&self, line: &str) {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.0)
            .expect("the stdin file exists");
        writeln!(f, "{line}").expect("the stdin file is writable");
    }
}

impl Drop for StdinFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_is_stopped_with_its_children_when_dropped() {
        // `sh` starts a grandchild `sleep`; dropping the guard must stop both (the process group).
        let dir = std::env::temp_dir();
        let mut peer = Peer::start(
            "sleeper",
            &dir,
            "sh",
            &["-c", "sleep 60 & echo started; wait"],
            &[],
        )
        .unwrap();
        let pgid = peer.pid();
        std::thread::sleep(Duration::from_millis(200));
        assert!(peer.is_running());
        assert!(peer.output().contains("started"));
        drop(peer);
        let alive = Command::new("pgrep")
            .args(["-g", &pgid.to_string()])
            .output()
            .unwrap();
        assert!(
            alive.stdout.is_empty(),
            "left running: {}",
            String::from_utf8_lossy(&alive.stdout)
        );
    }

    #[test]
    fn waits_for_a_port_and_times_out_on_a_closed_one() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        wait_for_port(port, Duration::from_secs(1)).unwrap();
        drop(l);
        // a closed port outside the ephemeral range: a just-freed ephemeral port failed this check once in CI
        // (something answered on it within 300 ms; a self-connect is the likely cause, now ignored above)
        assert!(wait_for_port(1, Duration::from_millis(300)).is_err());
    }
}
