//! The listen loop every protocol shares: events become lines, failures are said once per change of reason
//! (on stderr and as an `error` line), a session that can deliver nothing more ends the command with 1, and
//! Ctrl-C closes the connection gracefully and exits 0.
//!
//! Each protocol module says what its events mean through [`Protocol`] and owns its `listen` function; this
//! loop only drives the connection.

use std::io::ErrorKind;
use std::process::ExitCode;
use std::time::Duration;

use feedwire_core::Lifecycle;
use feedwire_tungstenite::{ClientDriver, Tokio, TransportError, Update};

use crate::out::{Line, Out};
use crate::record::Recording;

/// How long a graceful close after Ctrl-C may take before the command exits anyway.
const CLOSE_GRACE: Duration = Duration::from_secs(3);

/// Why a connection attempt failed or a connection ended: said once per change of reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// `error_kind`: `connect`, `dns`, `tls`, `status`, `handshake`, `close`, `timeout`, ...
    pub kind: &'static str,
    /// What happened, in the user's words (the server's own text kept).
    pub text: String,
    /// What to try, when it is obvious.
    pub hint: Option<String>,
    /// The HTTP status of a refused upgrade.
    pub status: Option<u16>,
    /// The IO error kind, in snake case (`connection_refused`).
    pub io_kind: Option<String>,
    /// The close code.
    pub code: Option<u16>,
}

impl Failure {
    /// A failure of `kind` said as `text`.
    pub fn new(kind: &'static str, text: impl Into<String>) -> Self {
        Failure {
            kind,
            text: text.into(),
            hint: None,
            status: None,
            io_kind: None,
            code: None,
        }
    }

    /// With a hint.
    pub fn hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    /// With a close code.
    pub fn code(mut self, code: Option<u16>) -> Self {
        self.code = code;
        self
    }

    /// A transport error, with the hint the protocol has for it.
    pub fn transport(e: &TransportError, hint: Option<String>) -> Self {
        Failure {
            kind: error_kind(e),
            text: e.to_string(),
            hint,
            status: e.status(),
            // "uncategorized" and "other" say nothing a script could use
            io_kind: e
                .io_kind()
                .filter(|k| !matches!(k, ErrorKind::Other) && format!("{k:?}") != "Uncategorized")
                .map(snake_kind),
            code: None,
        }
    }

    fn line(&self, protocol: &str) -> Line {
        Line::new(protocol, "error")
            .with("error_kind", self.kind)
            .with("reason", self.text.as_str())
            .opt("status", self.status)
            .opt("io_kind", self.io_kind.clone())
            .opt("code", self.code)
            .opt("hint", self.hint.clone())
    }
}

/// The `error_kind` of a transport error: its own name, except that a TLS alert surfaced by the TLS stream as
/// an IO error of kind `InvalidData` (a plain-text server on a `wss://` URL: "received corrupt message of type
/// InvalidContentType") is `tls`, which it is.
fn error_kind(e: &TransportError) -> &'static str {
    match e.kind_name() {
        "connect" if e.io_kind() == Some(ErrorKind::InvalidData) => "tls",
        other => other,
    }
}

/// `ConnectionRefused` as `connection_refused`.
fn snake_kind(kind: ErrorKind) -> String {
    let debug = format!("{kind:?}");
    let mut s = String::with_capacity(debug.len() + 4);
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                s.push('_');
            }
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}

/// The hints every protocol shares for a transport error; `tls_off` is what the user types for plain
/// ws:// (`--no-tls`, or `ws:// instead of wss://`), `path` what decides the path (`the URL's path`).
pub fn common_hint(e: &TransportError, tls_off: &str, path: &str) -> Option<String> {
    let text = e.to_string();
    match error_kind(e) {
        "connect" if e.io_kind() == Some(ErrorKind::ConnectionRefused) => {
            Some("nothing accepts connections there: is the server running, and are the host and port right?".into())
        }
        "connect" => Some("check the host, the port and the network (firewall, proxy)".into()),
        "dns" => Some("check the host name".into()),
        "tls" if text.contains("certificate") || text.contains("Certificate") => Some(
            "the server's certificate is not trusted: a private CA needs --ca-file (pusher), or the host name is wrong"
                .into(),
        ),
        "tls" => Some(format!("does the server speak plain ws://? try {tls_off}")),
        "status" => match e.status() {
            Some(404) => Some(format!("check {path}")),
            Some(401 | 403) => Some("the server refused this client: check the credentials and the origin it allows".into()),
            Some(s) if s >= 500 => Some("the server failed: it may be down or restarting".into()),
            _ => None,
        },
        "dial_timeout" => Some("the host did not answer in time: check the host, the port and the network".into()),
        _ => None,
    }
}

/// What an event means to `listen`.
pub enum Seen {
    /// Nothing special.
    Nothing,
    /// A connection is up (failures are said again once they happen again).
    Connected,
    /// Why a connection ended, said once per change of reason; the session goes on.
    Failure(Failure),
    /// Nothing asked for can arrive any more: exit 1 with this message (and hint).
    Fatal(String, Option<String>),
}

/// What a protocol's `listen` needs to say about its events.
pub trait Protocol {
    /// The session.
    type Session: Lifecycle + Send + 'static;

    /// The protocol name in output lines.
    fn name(&self) -> &'static str;

    /// The output line of an event; `None` leaves it out (filtered by the user).
    fn line(&self, ev: &<Self::Session as feedwire_core::Session>::Event) -> Option<Line>;

    /// Whether `--count` counts the event.
    fn is_message(&self, ev: &<Self::Session as feedwire_core::Session>::Event) -> bool;

    /// What the event means (called after its line was printed).
    fn assess(&mut self, ev: &<Self::Session as feedwire_core::Session>::Event) -> Seen;

    /// What to try after a transport error, when it is obvious.
    fn hint(&self, e: &TransportError) -> Option<String>;
}

/// Says each failure once per change of reason.
#[derive(Default)]
struct Reporter {
    last: Option<Failure>,
}

impl Reporter {
    fn report(&mut self, out: &Out, protocol: &str, f: Failure) {
        if self.last.as_ref() == Some(&f) {
            return;
        }
        out.error(&f.text);
        if let Some(h) = &f.hint {
            out.hint(h);
        }
        out.line(f.line(protocol));
        self.last = Some(f);
    }

    fn connected(&mut self) {
        self.last = None;
    }
}

/// Runs `conn` until `count` messages arrived (exit 0), Ctrl-C (graceful close, exit 0), the recording's
/// bound (`record`: graceful close, exit 0) or nothing more can arrive (exit 1).
pub async fn run<P: Protocol>(
    out: &Out,
    mut conn: ClientDriver<P::Session, Tokio>,
    count: Option<u64>,
    mut protocol: P,
    recording: &Recording,
) -> Result<ExitCode, String> {
    let name = protocol.name();
    let mut reporter = Reporter::default();
    let mut messages = 0u64;
    let ctrl_c = tokio::signal::ctrl_c();
    let bound = recording.bound();
    tokio::pin!(ctrl_c, bound);
    loop {
        let update = tokio::select! {
            u = conn.next_update() => u,
            _ = &mut ctrl_c => {
                out.status("interrupted: closing the connection");
                close(out, &mut conn, &protocol).await;
                return Ok(ExitCode::SUCCESS);
            }
            why = &mut bound => {
                out.status(format!("{why}: closing the connection"));
                close(out, &mut conn, &protocol).await;
                return Ok(ExitCode::SUCCESS);
            }
        };
        let ev = match update {
            None => {
                out.status("the session ended");
                return Ok(ExitCode::SUCCESS);
            }
            Some(Update::Transport(e)) => {
                let hint = protocol.hint(&e);
                reporter.report(out, name, Failure::transport(&e, hint));
                continue;
            }
            Some(Update::Event(ev)) => ev,
            Some(_) => continue,
        };
        if let Some(line) = protocol.line(&ev) {
            out.line(line);
        }
        match protocol.assess(&ev) {
            Seen::Nothing => {}
            Seen::Connected => reporter.connected(),
            Seen::Failure(f) => reporter.report(out, name, f),
            Seen::Fatal(why, hint) => {
                out.error(why);
                if let Some(h) = hint {
                    out.hint(h);
                }
                close(out, &mut conn, &protocol).await;
                return Ok(ExitCode::FAILURE);
            }
        }
        if protocol.is_message(&ev) {
            messages += 1;
            if count.is_some_and(|n| messages >= n) {
                close(out, &mut conn, &protocol).await;
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
}

/// Ends the session gracefully (its goodbye and a close frame go out), printing what still comes, for at most
/// [`CLOSE_GRACE`] or until a second Ctrl-C.
async fn close<P: Protocol>(out: &Out, conn: &mut ClientDriver<P::Session, Tokio>, protocol: &P) {
    conn.disconnect();
    let drain = async {
        while let Some(u) = conn.next_update().await {
            if let Update::Event(ev) = u
                && let Some(line) = protocol.line(&ev)
            {
                out.line(line);
            }
        }
    };
    tokio::select! {
        _ = tokio::time::timeout(CLOSE_GRACE, drain) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_kinds_are_snake_case() {
        assert_eq!(snake_kind(ErrorKind::ConnectionRefused), "connection_refused");
        assert_eq!(snake_kind(ErrorKind::TimedOut), "timed_out");
    }

    #[test]
    fn the_same_failure_is_said_once() {
        let mut r = Reporter::default();
        let f = Failure::new("connect", "refused");
        r.report(&Out::new(false), "pusher", f.clone());
        assert_eq!(r.last.as_ref(), Some(&f));
        r.connected();
        assert!(r.last.is_none());
    }
}
