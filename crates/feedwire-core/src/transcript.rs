//! Transcripts: a recorded WebSocket session, one JSON object per line, for record and replay.
//!
//! A transcript is what one side of a feed saw: every connection attempt, open, frame received and sent, and
//! close, with its offset in milliseconds from the start. The `feedwire record` command and the adapters'
//! recorder write them; `feedwire replay` serves one to any WebSocket client; `testing::replay_client` and
//! `testing::replay_hub` (feature `testing`) replay one into a session or a hub on a virtual clock, so an
//! application's tests can snapshot what a captured feed does to it.
//!
//! # Format, version 1
//!
//! The first line is the header; every other line is an entry. Lines are UTF-8 JSON objects; blank lines are
//! ignored. Unknown fields are ignored, so later minor additions do not break readers; a different `version`
//! is refused.
//!
//! ```text
//! {"feedwire_transcript":1,"protocol":"pusher","side":"client","url":"wss://ws.example/app/key?protocol=7"}
//! {"t":0,"conn":1,"kind":"connect","url":"wss://ws.example/app/key?protocol=7"}
//! {"t":31,"conn":1,"kind":"open","subprotocol":null}
//! {"t":33,"conn":1,"kind":"recv","text":"{\"event\":\"pusher:connection_established\",...}"}
//! {"t":34,"conn":1,"kind":"send","text":"{\"event\":\"pusher:subscribe\",...}"}
//! {"t":9050,"conn":1,"kind":"close","by":"server","code":4200,"reason":"restart"}
//! {"t":9051,"conn":2,"kind":"connect","url":"..."}
//! ```
//!
//! - `side`: whose view the transcript is. For `"client"`, `recv` is a frame from the server and `send` a frame
//!   the client sent.
//! - `t`: milliseconds since the recording started. `conn`: the connection attempt, counted from 1.
//! - `kind`: `connect` (a dial started; `url`), `open` (the handshake completed; the agreed `subprotocol`),
//!   `recv` and `send` (one text frame; `text`), `close` (`by`: `"server"` when a close frame arrived,
//!   `"client"` when the recorded side closed, `"transport"` when the connection failed or could not be opened,
//!   with `error`; `code` and `reason` when there was a close frame).
//!
//! # Secrets
//!
//! Secrets never reach a transcript. URLs keep their scheme, host and path, and every query value is replaced
//! with `[redacted]` except a few known to be harmless (`protocol`, `client`, `version`); user info is dropped.
//! Secrets the recording side knows (API keys inside ActionCable identifiers, tokens, client ids) are given to
//! the [`Redactor`], which replaces them in every frame, raw and JSON-escaped, with a numbered placeholder
//! `[redacted:N]`. Replay treats `[redacted:N]` in a recorded frame as a wildcard: it learns the value from the
//! first live frame that matches and puts it back into the frames it replays, so a client under test that
//! uses its own key still sees identifiers it recognises.

use std::borrow::Cow;
use std::fmt;
#[cfg(any(test, feature = "testing"))]
use std::time::Duration;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::close::Close;
use crate::secret::Secret;

/// The transcript format's version, written in every header.
pub const VERSION: u32 = 1;

/// Whose view a transcript records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// A client's: `recv` frames came from the server.
    Client,
    /// A server's view of one client connection: `recv` frames came from the client.
    Server,
}

/// The first line of a transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Header {
    /// The format version ([`VERSION`]).
    pub feedwire_transcript: u32,
    /// The protocol (`pusher`, `actioncable`, `doshii`, `igratech`, or another name).
    pub protocol: String,
    /// Whose view.
    pub side: Side,
    /// The URL first dialed, redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Unix milliseconds when the recording started, if the recorder knew it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_unix_ms: Option<u64>,
}

impl Header {
    /// A version-1 header.
    pub fn new(protocol: impl Into<String>, side: Side) -> Self {
        Header {
            feedwire_transcript: VERSION,
            protocol: protocol.into(),
            side,
            url: None,
            started_unix_ms: None,
        }
    }

    /// Sets the URL, redacting it ([`redact_url`]).
    pub fn with_url(mut self, url: &str) -> Self {
        self.url = Some(redact_url(url).into_owned());
        self
    }

    /// Sets the Unix time of the start.
    pub fn with_started_unix_ms(mut self, ms: u64) -> Self {
        self.started_unix_ms = Some(ms);
        self
    }
}

/// Who ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClosedBy {
    /// The peer of the recording side sent a close frame (for a client transcript: the server).
    Server,
    /// The recording side closed.
    Client,
    /// No close frame: the connection failed, was reset or could not be opened.
    Transport,
}

/// What happened, in an [`Entry`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Record {
    /// A connection attempt started.
    Connect {
        /// The URL, redacted.
        url: String,
    },
    /// The handshake completed.
    Open {
        /// The subprotocol agreed.
        subprotocol: Option<String>,
    },
    /// A text frame arrived at the recording side.
    Recv {
        /// The frame, secrets redacted.
        text: String,
    },
    /// The recording side sent a text frame.
    Send {
        /// The frame, secrets redacted.
        text: String,
    },
    /// The connection ended.
    Close {
        /// Who ended it.
        by: ClosedBy,
        /// The close code, when a close frame was sent or received.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<u16>,
        /// The close reason, when a close frame was sent or received.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Why the transport failed, for `by: transport`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

/// One line after the header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Entry {
    /// Milliseconds since the recording started.
    pub t: u64,
    /// The connection attempt, counted from 1.
    pub conn: u64,
    /// What happened.
    #[serde(flatten)]
    pub record: Record,
}

impl Entry {
    /// An entry.
    pub fn new(t: u64, conn: u64, record: Record) -> Self {
        Entry { t, conn, record }
    }

    /// The close frame of a `close` entry that had one.
    pub fn close_frame(&self) -> Option<Close> {
        match &self.record {
            Record::Close {
                code: Some(code),
                reason,
                ..
            } => Some(Close::new(*code, reason.clone().unwrap_or_default())),
            _ => None,
        }
    }
}

/// Why a transcript could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TranscriptError {
    /// The text is empty.
    #[error("empty transcript: the first line must be a header")]
    Empty,
    /// The first line is not a header.
    #[error("line 1 is not a transcript header: {0}")]
    BadHeader(String),
    /// The header names another version.
    #[error("transcript version {0} is not supported (this reader knows version {VERSION})")]
    Version(u32),
    /// A line is not an entry.
    #[error("line {line}: {reason}")]
    BadLine {
        /// The line number, from 1.
        line: usize,
        /// What was wrong.
        reason: String,
    },
}

/// A parsed transcript.
///
/// ```
/// use feedwire_core::transcript::{Record, Transcript};
/// let text = r#"{"feedwire_transcript":1,"protocol":"pusher","side":"client"}
/// {"t":0,"conn":1,"kind":"connect","url":"ws://127.0.0.1:6001/app/key"}
/// {"t":5,"conn":1,"kind":"open","subprotocol":null}
/// {"t":6,"conn":1,"kind":"recv","text":"{\"event\":\"pusher:connection_established\"}"}
/// "#;
/// let t = Transcript::parse(text).unwrap();
/// assert_eq!(t.header.protocol, "pusher");
/// assert_eq!(t.entries.len(), 3);
/// assert!(matches!(&t.entries[2].record, Record::Recv { text } if text.contains("established")));
/// assert_eq!(Transcript::parse(&t.to_jsonl()).unwrap(), t); // writes back what it read
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    /// The header.
    pub header: Header,
    /// The entries, in order.
    pub entries: Vec<Entry>,
}

impl Transcript {
    /// Whether `text` starts like a transcript (its first non-blank line is a header), without parsing it.
    pub fn sniff(text: &str) -> bool {
        text.lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .is_some_and(|l| l.starts_with('{') && l.contains("\"feedwire_transcript\""))
    }

    /// Parses JSON lines.
    pub fn parse(text: &str) -> Result<Transcript, TranscriptError> {
        let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
        let (_, first) = lines.next().ok_or(TranscriptError::Empty)?;
        let header: Header =
            serde_json::from_str(first).map_err(|e| TranscriptError::BadHeader(e.to_string()))?;
        if header.feedwire_transcript != VERSION {
            return Err(TranscriptError::Version(header.feedwire_transcript));
        }
        let entries = lines
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| TranscriptError::BadLine {
                    line: i + 1,
                    reason: e.to_string(),
                })
            })
            .collect::<Result<Vec<Entry>, _>>()?;
        Ok(Transcript { header, entries })
    }

    /// The transcript as JSON lines, header first, each line ending in `\n`.
    pub fn to_jsonl(&self) -> String {
        let mut out = line(&self.header);
        for e in &self.entries {
            out.push_str(&line(e));
        }
        out
    }

    /// The frames received by the recording side, in order (for `feedwire decode`).
    pub fn received(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().filter_map(|e| match &e.record {
            Record::Recv { text } => Some(text.as_str()),
            _ => None,
        })
    }
}

fn line<T: Serialize>(value: &T) -> String {
    // Serializing these plain structs cannot fail; an empty object keeps the file line-structured if it did.
    let mut s = serde_json::to_string(value).unwrap_or_else(|_| String::from("{}"));
    s.push('\n');
    s
}

/// Query parameters whose values are kept in a recorded URL: they name a protocol or client, never a secret.
const HARMLESS_QUERY: &[&str] = &["protocol", "client", "version", "flash"];

/// `url` without user info, and with every query value replaced by `[redacted]` except `protocol`, `client`,
/// `version` and `flash`.
///
/// ```
/// use feedwire_core::transcript::redact_url;
/// assert_eq!(
///     redact_url("wss://u:pw@socket.example/app/socket?auth=c2VjcmV0&protocol=7"),
///     "wss://socket.example/app/socket?auth=[redacted]&protocol=7"
/// );
/// assert_eq!(redact_url("ws://127.0.0.1:6001/app/key"), "ws://127.0.0.1:6001/app/key");
/// ```
pub fn redact_url(url: &str) -> Cow<'_, str> {
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(q.split('#').next().unwrap_or(""))),
        None => (tail.split('#').next().unwrap_or(""), None),
    };
    if host.len() == authority.len() && query.is_none() && !tail.contains('#') {
        return Cow::Borrowed(url);
    }
    let mut out = format!("{scheme}{host}{path}");
    if let Some(q) = query {
        out.push('?');
        for (i, pair) in q.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((k, _)) if HARMLESS_QUERY.contains(&k) => out.push_str(pair),
                Some((k, _)) => {
                    out.push_str(k);
                    out.push_str("=[redacted]");
                }
                None => out.push_str(pair),
            }
        }
    }
    Cow::Owned(out)
}

/// Replaces known secrets in recorded text with numbered placeholders `[redacted:N]` (N from 1, in the order
/// the secrets were added).
///
/// Each secret is searched raw, JSON-escaped once (inside a JSON string) and twice (inside a JSON string that
/// is itself inside a JSON string, as ActionCable's identifiers are). Secrets shorter than four bytes are
/// refused: they would redact ordinary text.
///
/// ```
/// use feedwire_core::transcript::Redactor;
/// let mut r = Redactor::new();
/// r.add("k3y-\"q\"").unwrap();
/// let frame = r#"{"identifier":"{\"channel\":\"ApiChannel\",\"key\":\"k3y-\\\"q\\\"\"}"}"#;
/// assert_eq!(
///     r.redact(frame),
///     r#"{"identifier":"{\"channel\":\"ApiChannel\",\"key\":\"[redacted:1]\"}"}"#
/// );
/// assert!(!format!("{r:?}").contains("k3y"));
/// ```
#[derive(Default, Clone)]
pub struct Redactor {
    /// (placeholder, forms of the secret, longest first)
    secrets: Vec<(String, Vec<Secret<String>>)>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

/// A secret too short to redact safely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a secret of {0} bytes is too short to redact (at least 4)")]
pub struct ShortSecret(pub usize);

impl Redactor {
    /// A redactor that knows no secret (it still leaves frames as they are).
    pub fn new() -> Self {
        Redactor::default()
    }

    /// Learns a secret; returns its placeholder number.
    pub fn add(&mut self, secret: &str) -> Result<usize, ShortSecret> {
        if secret.len() < 4 {
            return Err(ShortSecret(secret.len()));
        }
        if let Some(i) = self
            .secrets
            .iter()
            .position(|(_, forms)| forms.first().is_some_and(|f| f.expose() == secret))
        {
            return Ok(i + 1);
        }
        let once = escape_inner(secret);
        let twice = escape_inner(&once);
        let mut forms: Vec<String> = vec![secret.to_owned(), once, twice];
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        forms.dedup();
        let n = self.secrets.len() + 1;
        self.secrets.push((
            format!("[redacted:{n}]"),
            forms.into_iter().map(Secret::new).collect(),
        ));
        Ok(n)
    }

    /// How many secrets it knows.
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// Whether it knows none.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every known secret replaced.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for (placeholder, forms) in &self.secrets {
            for form in forms {
                if out.contains(form.expose().as_str()) {
                    out = Cow::Owned(out.replace(form.expose().as_str(), placeholder));
                }
            }
        }
        out
    }
}

/// `s` escaped as the inside of a JSON string literal (no quotes).
fn escape_inner(s: &str) -> String {
    let lit = crate::json::to_string_literal(s);
    lit[1..lit.len() - 1].to_owned()
}

/// Builds transcript lines as a session runs: the adapters' recorder and `feedwire record` feed it what the
/// driver sees, and write each returned line (flushing as they go, so a killed process leaves a usable file).
///
/// ```
/// use std::time::{Duration, Instant};
/// use feedwire_core::transcript::{Header, Recorder, Redactor, Side, Transcript};
/// # #[allow(clippy::disallowed_methods)]
/// let t0 = Instant::now();
/// let mut r = Recorder::new(Header::new("pusher", Side::Client), Redactor::new(), t0);
/// let mut file = r.header_line();
/// file += &r.connect(t0, "ws://127.0.0.1:6001/app/key?protocol=7");
/// file += &r.open(t0 + Duration::from_millis(3), None);
/// file += &r.recv(t0 + Duration::from_millis(4), r#"{"event":"pusher:connection_established"}"#);
/// let t = Transcript::parse(&file).unwrap();
/// assert_eq!((t.entries.len(), t.entries[2].t), (3, 4));
/// ```
#[derive(Debug, Clone)]
pub struct Recorder {
    header: Header,
    redactor: Redactor,
    start: Instant,
    conn: u64,
}

impl Recorder {
    /// A recorder whose time zero is `start`.
    pub fn new(header: Header, redactor: Redactor, start: Instant) -> Self {
        Recorder {
            header,
            redactor,
            start,
            conn: 0,
        }
    }

    /// The header line (write it first).
    pub fn header_line(&self) -> String {
        line(&self.header)
    }

    /// Learns a secret the recording side came to know during the session (a Pusher channel signature made
    /// for a socket id, a token fetched from an auth endpoint): lines built from now on redact it too. Returns
    /// its placeholder number.
    pub fn add_secret(&mut self, secret: &str) -> Result<usize, ShortSecret> {
        self.redactor.add(secret)
    }

    /// The current connection number (0 before the first `connect`).
    pub fn conn(&self) -> u64 {
        self.conn
    }

    fn entry(&self, now: Instant, record: Record) -> String {
        let t = u64::try_from(now.saturating_duration_since(self.start).as_millis()).unwrap_or(u64::MAX);
        line(&Entry::new(t, self.conn, record))
    }

    /// A connection attempt to `url` (starts the next connection number).
    pub fn connect(&mut self, now: Instant, url: &str) -> String {
        self.conn += 1;
        let url = self.redactor.redact(&redact_url(url)).into_owned();
        self.entry(now, Record::Connect { url })
    }

    /// The handshake completed.
    pub fn open(&self, now: Instant, subprotocol: Option<&str>) -> String {
        self.entry(
            now,
            Record::Open {
                subprotocol: subprotocol.map(str::to_owned),
            },
        )
    }

    /// A frame arrived.
    pub fn recv(&self, now: Instant, text: &str) -> String {
        let text = self.redactor.redact(text).into_owned();
        self.entry(now, Record::Recv { text })
    }

    /// A frame was sent.
    pub fn send(&self, now: Instant, text: &str) -> String {
        let text = self.redactor.redact(text).into_owned();
        self.entry(now, Record::Send { text })
    }

    /// The connection ended: `close` is the close frame sent or received, if any; `error` why the transport
    /// failed, for [`ClosedBy::Transport`].
    pub fn close(&self, now: Instant, by: ClosedBy, close: Option<&Close>, error: Option<&str>) -> String {
        self.entry(
            now,
            Record::Close {
                by,
                code: close.map(|c| c.code.0),
                reason: close.map(|c| self.redactor.redact(&c.reason).into_owned()),
                error: error.map(|e| self.redactor.redact(e).into_owned()),
            },
        )
    }
}

/// Matches a live frame against a recorded one whose `[redacted:N]` placeholders stand for any text, learning
/// what each placeholder stood for. Captures persist across calls.
#[derive(Debug, Default, Clone)]
pub struct Placeholders {
    values: Vec<(String, String)>,
}

impl Placeholders {
    /// Empty.
    pub fn new() -> Self {
        Placeholders::default()
    }

    /// Whether `live` matches `recorded`; on a match, learns the placeholders' values. A placeholder learned
    /// before must stand for the same text again.
    pub fn matches(&mut self, recorded: &str, live: &str) -> bool {
        if !recorded.contains("[redacted:") {
            return recorded == live;
        }
        let mut learned = Vec::new();
        let mut rest_rec = recorded;
        let mut rest_live = live;
        loop {
            let Some(i) = rest_rec.find("[redacted:") else {
                if rest_rec != rest_live {
                    return false;
                }
                break;
            };
            let (lit, tail) = rest_rec.split_at(i);
            let Some(r) = rest_live.strip_prefix(lit) else {
                return false;
            };
            let Some(end) = tail.find(']') else {
                return false;
            };
            let name = &tail[..=end];
            let after = &tail[end + 1..];
            // the placeholder's text runs up to the next literal piece of the recorded frame
            let next_lit_len = after.find("[redacted:").unwrap_or(after.len());
            let next_lit = &after[..next_lit_len];
            let value_len = if next_lit.is_empty() {
                if after.is_empty() { r.len() } else { 0 }
            } else {
                match r.find(next_lit) {
                    Some(j) => j,
                    None => return false,
                }
            };
            learned.push((name.to_owned(), r[..value_len].to_owned()));
            rest_live = &r[value_len..];
            rest_rec = after;
        }
        for (name, value) in &learned {
            if let Some((_, known)) = self.values.iter().find(|(n, _)| n == name)
                && known != value
            {
                return false;
            }
        }
        for (name, value) in learned {
            if !self.values.iter().any(|(n, _)| *n == name) {
                self.values.push((name, value));
            }
        }
        true
    }

    /// `recorded` with every learned placeholder replaced by its value (unknown ones stay).
    pub fn fill<'a>(&self, recorded: &'a str) -> Cow<'a, str> {
        if !recorded.contains("[redacted:") {
            return Cow::Borrowed(recorded);
        }
        let mut out = recorded.to_owned();
        for (name, value) in &self.values {
            out = out.replace(name.as_str(), value);
        }
        Cow::Owned(out)
    }
}

/// Milliseconds as a `Duration`.
#[cfg(any(test, feature = "testing"))]
pub(crate) fn ms(t: u64) -> Duration {
    Duration::from_millis(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_secrets_and_keep_the_rest() {
        assert_eq!(
            redact_url("wss://socket.sandbox.doshii.co/app/socket/v3?auth=Y2xpZW50&deviceId=d1"),
            "wss://socket.sandbox.doshii.co/app/socket/v3?auth=[redacted]&deviceId=[redacted]"
        );
        assert_eq!(
            redact_url("wss://ws-mt1.pusher.com/app/key?protocol=7&client=feedwire&version=0.1.0"),
            "wss://ws-mt1.pusher.com/app/key?protocol=7&client=feedwire&version=0.1.0"
        );
        assert_eq!(redact_url("ws://a:b@h/x#frag"), "ws://h/x");
        assert_eq!(redact_url("ws://h/cable?flag"), "ws://h/cable?flag");
    }

    #[test]
    fn redactor_numbers_secrets_and_refuses_short_ones() {
        let mut r = Redactor::new();
        assert_eq!(r.add("abc"), Err(ShortSecret(3)));
        assert_eq!(r.add("first-secret"), Ok(1));
        assert_eq!(r.add("second\\secret"), Ok(2));
        assert_eq!(r.add("first-secret"), Ok(1));
        let text = r#"first-secret and "second\\secret" and "{\"k\":\"second\\\\secret\"}""#;
        let out = r.redact(text);
        assert!(!out.contains("first-secret") && !out.contains("second"), "{out}");
        assert_eq!(out.matches("[redacted:1]").count(), 1);
        assert_eq!(out.matches("[redacted:2]").count(), 2);
    }

    #[test]
    fn placeholders_match_learn_and_fill() {
        let mut p = Placeholders::new();
        let rec = r#"{"command":"subscribe","identifier":"{\"key\":\"[redacted:1]\"}"}"#;
        let live = r#"{"command":"subscribe","identifier":"{\"key\":\"live-key-42\"}"}"#;
        assert!(p.matches(rec, live));
        assert_eq!(
            p.fill(r#"{"identifier":"{\"key\":\"[redacted:1]\"}","type":"confirm_subscription"}"#),
            r#"{"identifier":"{\"key\":\"live-key-42\"}","type":"confirm_subscription"}"#
        );
        // the same placeholder must stand for the same text again
        assert!(!p.matches(rec, &live.replace("live-key-42", "other")));
        assert!(p.matches(rec, live));
        assert!(!p.matches(rec, r#"{"command":"unsubscribe"}"#));
        assert!(p.matches("plain", "plain") && !p.matches("plain", "other"));
        // a placeholder at the end takes the rest
        let mut q = Placeholders::new();
        assert!(q.matches("token=[redacted:2]", "token=abc"));
        assert_eq!(q.fill("[redacted:2]"), "abc");
    }

    #[test]
    fn recorder_round_trips_through_the_parser() {
        #[allow(clippy::disallowed_methods)] // a test's origin instant
        let t0 = Instant::now();
        let mut red = Redactor::new();
        red.add("s3cr3t-key").unwrap();
        let mut r = Recorder::new(
            Header::new("actioncable", Side::Client).with_url("ws://h/cable?token=s3cr3t-key"),
            red,
            t0,
        );
        let mut text = r.header_line();
        text += &r.connect(t0, "ws://h/cable?token=s3cr3t-key");
        text += &r.open(t0 + ms(2), Some("actioncable-v1-json"));
        text += &r.send(t0 + ms(3), r#"{"identifier":"{\"key\":\"s3cr3t-key\"}"}"#);
        text += &r.close(
            t0 + ms(9),
            ClosedBy::Server,
            Some(&Close::new(1000, "bye s3cr3t-key")),
            None,
        );
        text += &r.connect(t0 + ms(10), "ws://h/cable");
        text += &r.close(t0 + ms(11), ClosedBy::Transport, None, Some("connection refused"));
        assert!(!text.contains("s3cr3t"), "{text}");
        let t = Transcript::parse(&text).unwrap();
        assert_eq!(t.entries.len(), 6);
        assert_eq!(t.entries[4].conn, 2);
        assert_eq!(
            t.entries[3].close_frame(),
            Some(Close::new(1000, "bye [redacted:1]"))
        );
        assert!(Transcript::sniff(&text));
        assert!(!Transcript::sniff(r#"{"event":"x"}"#));
    }

    #[test]
    fn parse_errors_say_where() {
        assert!(matches!(Transcript::parse(""), Err(TranscriptError::Empty)));
        assert!(matches!(
            Transcript::parse("{}"),
            Err(TranscriptError::BadHeader(_))
        ));
        let v2 = r#"{"feedwire_transcript":2,"protocol":"x","side":"client"}"#;
        assert!(matches!(Transcript::parse(v2), Err(TranscriptError::Version(2))));
        let bad = "{\"feedwire_transcript\":1,\"protocol\":\"x\",\"side\":\"client\"}\n\n{\"t\":1}";
        match Transcript::parse(bad) {
            Err(TranscriptError::BadLine { line, .. }) => assert_eq!(line, 3),
            other => panic!("{other:?}"),
        }
    }
}
