//! Output: one JSON object per line on stdout for every event, human-readable status on stderr.
//!
//! The JSON lines share a schema across protocols (fields absent when they do not apply):
//!
//! ```text
//! {"ts":1764300000123,"protocol":"pusher","kind":"message","channel":"inventory_changes","event":"listed","data":{..}}
//! ```
//!
//! - `ts`: Unix time in milliseconds when the CLI printed the line;
//! - `protocol`: `pusher`, `actioncable`, `doshii` or `igratech`;
//! - `kind`: what happened, in snake case (`message`, `subscribed`, `resubscribed`, `reconnecting`, `closed`,
//!   `gap`, `error`, ...), one per event of the protocol's session;
//! - `channel`, `event`: where and what, when the event has them;
//! - `data`: the payload as JSON (a string-encoded JSON payload is decoded; a plain string stays a string);
//! - other fields name themselves (`after_ms`, `code`, `reason`, `user_id`, ...).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use feedwire_core::Close;

use serde_json::{Map, Value};

/// Lines `serve` keeps for a stdout that does not keep up before it drops them.
pub const STDOUT_QUEUE: usize = 8192;

/// The longest refused frame an event line shows (bytes; cut at a character boundary, `…` appended).
pub const MAX_RAW: usize = 256;

/// `s` cut to [`MAX_RAW`] bytes.
pub fn cut(s: &str) -> String {
    if s.len() <= MAX_RAW {
        return s.to_owned();
    }
    let mut end = MAX_RAW;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// `serve`'s stdout: a bounded queue drained by a writer thread of its own, so a reader that does not keep up
/// (or a pipe nobody reads) never blocks the server; lines over [`STDOUT_QUEUE`] are dropped, counted, and
/// reported by a `{"kind":"dropped_lines","lines":N}` line once stdout takes lines again.
struct Nonblocking {
    tx: SyncSender<String>,
    queued: Arc<AtomicUsize>,
    dropped: Arc<AtomicU64>,
    dropped_total: AtomicU64,
}

static NONBLOCKING: OnceLock<Nonblocking> = OnceLock::new();

/// Makes every later [`Out::line`] non-blocking (see [`STDOUT_QUEUE`]).
pub fn nonblocking_stdout() {
    NONBLOCKING.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<String>(STDOUT_QUEUE);
        let queued = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicU64::new(0));
        let (q, d) = (queued.clone(), dropped.clone());
        std::thread::spawn(move || {
            for text in rx {
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(stdout, "{text}");
                let n = d.swap(0, Ordering::AcqRel);
                if n > 0 {
                    let _ = writeln!(
                        stdout,
                        r#"{{"kind":"dropped_lines","lines":{n},"protocol":"feedwire","ts":{}}}"#,
                        unix_ms()
                    );
                }
                let _ = stdout.flush();
                q.fetch_sub(1, Ordering::AcqRel);
            }
        });
        Nonblocking {
            tx,
            queued,
            dropped,
            dropped_total: AtomicU64::new(0),
        }
    });
}

/// Waits up to `bound` for the non-blocking stdout to write what it holds; returns how many lines it dropped
/// in all.
pub fn flush_stdout(bound: Duration) -> u64 {
    let Some(nb) = NONBLOCKING.get() else { return 0 };
    #[allow(clippy::disallowed_methods)] // the CLI owns the clock
    let until = std::time::Instant::now() + bound;
    #[allow(clippy::disallowed_methods)]
    while nb.queued.load(Ordering::Acquire) > 0 && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    nb.dropped_total.load(Ordering::Acquire)
}

/// Unix time in milliseconds (the CLI owns the clock; libraries never read it).
#[allow(clippy::disallowed_methods)]
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A payload as JSON: string-encoded JSON is decoded one level, anything else is kept as it is.
pub fn payload(raw: &str) -> Value {
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::String(s)) => serde_json::from_str::<Value>(&s).unwrap_or(Value::String(s)),
        Ok(v) => v,
        Err(_) => Value::String(raw.to_owned()),
    }
}

/// Why a session's connection ended, in words, for the `reason` of a `disconnected` line and for stderr: a
/// closed connection gives its close (the server's own text kept), or says that none came.
pub fn closed_reason(close: Option<&Close>) -> String {
    match close {
        Some(c) => format!("the server closed the connection with {c}"),
        None => "the connection ended without a close frame".to_owned(),
    }
}

/// Builds one output line.
pub struct Line(Map<String, Value>);

impl Line {
    /// A line of `kind` for `protocol`.
    pub fn new(protocol: &str, kind: &str) -> Self {
        let mut m = Map::new();
        m.insert("ts".into(), unix_ms().into());
        m.insert("protocol".into(), protocol.into());
        m.insert("kind".into(), kind.into());
        Line(m)
    }
    /// Adds a field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.insert(key.into(), value.into());
        self
    }
    /// Adds `after_ms` and `attempt`: the session dials again `after` from now, its `attempt`-th try.
    pub fn reconnect(self, after: Duration, attempt: u32) -> Self {
        self.with("after_ms", after.as_millis() as u64)
            .with("attempt", attempt)
    }
    /// Adds a field when there is a value.
    pub fn opt(self, key: &str, value: Option<impl Into<Value>>) -> Self {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }
    /// The JSON object.
    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
    /// A field of the line.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }
}

/// Where lines and status go.
#[derive(Clone, Copy)]
pub struct Out {
    pretty: bool,
    color: bool,
}

impl Out {
    /// `pretty` prints indented JSON; colors are used on a terminal unless `NO_COLOR` is set.
    pub fn new(pretty: bool) -> Self {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Out { pretty, color }
    }

    /// Prints a line on stdout.
    #[allow(clippy::print_stdout)]
    pub fn line(&self, line: Line) {
        let v = line.into_value();
        let text = if self.pretty {
            serde_json::to_string_pretty(&v)
        } else {
            serde_json::to_string(&v)
        };
        let text = text.unwrap_or_default();
        if let Some(nb) = NONBLOCKING.get() {
            nb.queued.fetch_add(1, Ordering::AcqRel);
            if let Err(e) = nb.tx.try_send(text) {
                nb.queued.fetch_sub(1, Ordering::AcqRel);
                if matches!(e, TrySendError::Full(_)) {
                    nb.dropped.fetch_add(1, Ordering::AcqRel);
                    nb.dropped_total.fetch_add(1, Ordering::AcqRel);
                }
            }
            return;
        }
        let mut stdout = std::io::stdout().lock();
        // A closed stdout (`| head`) is not an error worth a panic.
        let _ = writeln!(stdout, "{text}");
        let _ = stdout.flush();
    }

    /// Prints a status message on stderr (dim, with colors).
    pub fn status(&self, msg: impl std::fmt::Display) {
        self.stderr(&format!("\x1b[2m{msg}\x1b[0m"), &msg.to_string());
    }

    /// Prints a warning or error on stderr.
    pub fn error(&self, msg: impl std::fmt::Display) {
        self.stderr(&format!("\x1b[31merror:\x1b[0m {msg}"), &format!("error: {msg}"));
    }

    /// Prints a hint (what to try) on stderr, under an error.
    pub fn hint(&self, msg: impl std::fmt::Display) {
        self.stderr(
            &format!("  \x1b[36mhint:\x1b[0m {msg}"),
            &format!("  hint: {msg}"),
        );
    }

    /// Prints `colored` on stderr when colors are on, else `plain`.
    #[allow(clippy::print_stderr)]
    fn stderr(&self, colored: &str, plain: &str) {
        eprintln!("{}", if self.color { colored } else { plain });
    }

    /// Whether colors are on.
    pub fn color(&self) -> bool {
        self.color
    }
}
