//! Why a transport failed, with its cause.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Why a connection could not be opened, or was lost.
///
/// A session only learns `handle_close(now, None)` when its transport fails; the driver keeps the reason:
/// [`ClientDriver::next_update`](crate::ClientDriver::next_update) yields it in the event stream as
/// [`Update::Transport`](crate::Update::Transport), and `last_error()` keeps the last one. Each variant keeps
/// its cause ([`source`](std::error::Error::source)), and [`io_kind`](Self::io_kind) and
/// [`status`](Self::status) tell the common cases apart without matching on text.
///
/// ```
/// use std::io;
/// use feedwire_tungstenite::TransportError;
/// let e = TransportError::connect("127.0.0.1:9", io::Error::from(io::ErrorKind::ConnectionRefused));
/// assert_eq!(e.io_kind(), Some(io::ErrorKind::ConnectionRefused));
/// assert_eq!(e.to_string(), "could not connect to 127.0.0.1:9: connection refused");
/// assert!(std::error::Error::source(&e).is_some());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TransportError {
    /// The request could not be built: a malformed URL, an unsupported scheme, a bad header or subprotocol.
    Request {
        /// What was wrong.
        source: Arc<tungstenite::Error>,
    },
    /// The host name did not resolve.
    Dns {
        /// The host.
        host: String,
        /// The resolver's error.
        source: Arc<io::Error>,
    },
    /// The TCP connection could not be made (refused, unreachable, reset); [`io_kind`](Self::io_kind) says
    /// which.
    Connect {
        /// `host:port`.
        addr: String,
        /// The socket's error.
        source: Arc<io::Error>,
    },
    /// TLS failed: an untrusted certificate, a plain-text server on a `wss://` URL, ...
    Tls {
        /// `host:port`.
        addr: String,
        /// The TLS error.
        source: Arc<tungstenite::Error>,
    },
    /// The server answered the WebSocket upgrade with an HTTP status other than 101 (a wrong path is
    /// typically 404; a refused origin 403 or 404).
    Status {
        /// The status code.
        status: u16,
        /// The start of the response body, when there was one (at most 256 bytes, as text).
        body: Option<String>,
    },
    /// The WebSocket handshake failed otherwise (the server is not a WebSocket server, a `ws://` URL on a TLS
    /// port, a subprotocol the client offered was not agreed, ...).
    Handshake {
        /// The handshake error.
        source: Arc<tungstenite::Error>,
    },
    /// Resolving, connecting, TLS and the handshake together took longer than the dial timeout.
    DialTimeout(Duration),
    /// Reading from the open connection failed.
    Read {
        /// The read error.
        source: Arc<tungstenite::Error>,
    },
    /// The server ended the connection without a close frame.
    Eof,
    /// Writing to the open connection failed.
    Write {
        /// The write error.
        source: Arc<tungstenite::Error>,
    },
    /// More frames waited to be written than the configured `max_outbox`: the server stopped reading.
    OutboxFull,
}

impl TransportError {
    /// A failed TCP connect to `addr`.
    pub fn connect(addr: impl Into<String>, source: io::Error) -> Self {
        TransportError::Connect {
            addr: addr.into(),
            source: Arc::new(source),
        }
    }

    /// Classifies an error of a dial to `addr` (`host:port`).
    pub(crate) fn from_dial(addr: &str, e: tungstenite::Error) -> Self {
        match e {
            tungstenite::Error::Url(_) | tungstenite::Error::HttpFormat(_) => {
                TransportError::Request { source: Arc::new(e) }
            }
            tungstenite::Error::Io(io) => Self::from_io(addr, io),
            tungstenite::Error::Tls(_) => TransportError::Tls {
                addr: addr.to_owned(),
                source: Arc::new(e),
            },
            tungstenite::Error::Http(resp) => TransportError::Status {
                status: resp.status().as_u16(),
                body: resp.body().as_ref().map(|b| {
                    let cut = &b[..b.len().min(256)];
                    String::from_utf8_lossy(cut).into_owned()
                }),
            },
            other => TransportError::Handshake {
                source: Arc::new(other),
            },
        }
    }

    /// Classifies an IO error of a dial: resolver failures are DNS errors, the rest connect errors.
    pub(crate) fn from_io(addr: &str, io: io::Error) -> Self {
        let text = io.to_string();
        let dns = text.contains("lookup")
            || text.contains("resolve")
            || text.contains("Name or service not known")
            || text.contains("nodename nor servname")
            || text.contains("No address associated");
        if dns {
            TransportError::Dns {
                host: addr.rsplit_once(':').map_or(addr, |(h, _)| h).to_owned(),
                source: Arc::new(io),
            }
        } else {
            TransportError::connect(addr, io)
        }
    }

    /// The IO error kind behind this error, if it came from a socket.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            TransportError::Dns { source, .. } | TransportError::Connect { source, .. } => {
                Some(source.kind())
            }
            TransportError::Read { source }
            | TransportError::Write { source }
            | TransportError::Handshake { source }
            | TransportError::Tls { source, .. } => match &**source {
                tungstenite::Error::Io(io) => Some(io.kind()),
                _ => None,
            },
            _ => None,
        }
    }

    /// The HTTP status the server answered the upgrade with, if it refused it.
    pub fn status(&self) -> Option<u16> {
        match self {
            TransportError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the error happened while opening a connection (as opposed to on an open one).
    pub fn is_dial(&self) -> bool {
        !matches!(
            self,
            TransportError::Read { .. }
                | TransportError::Eof
                | TransportError::Write { .. }
                | TransportError::OutboxFull
        )
    }

    /// A short stable name of the variant (`dns`, `connect`, `tls`, `status`, ...), for logs and metrics.
    pub fn kind_name(&self) -> &'static str {
        match self {
            TransportError::Request { .. } => "request",
            TransportError::Dns { .. } => "dns",
            TransportError::Connect { .. } => "connect",
            TransportError::Tls { .. } => "tls",
            TransportError::Status { .. } => "status",
            TransportError::Handshake { .. } => "handshake",
            TransportError::DialTimeout(_) => "dial_timeout",
            TransportError::Read { .. } => "read",
            TransportError::Eof => "eof",
            TransportError::Write { .. } => "write",
            TransportError::OutboxFull => "outbox_full",
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Request { source } => write!(f, "bad request: {source}"),
            TransportError::Dns { host, source } => write!(f, "could not resolve {host}: {source}"),
            TransportError::Connect { addr, source } => {
                let kind = source.kind();
                // "connection refused (os error 111)" reads worse than the kind's own words
                if matches!(
                    kind,
                    io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::HostUnreachable
                        | io::ErrorKind::NetworkUnreachable
                        | io::ErrorKind::AddrNotAvailable
                ) {
                    write!(f, "could not connect to {addr}: {kind}")
                } else {
                    write!(f, "could not connect to {addr}: {source}")
                }
            }
            TransportError::Tls { addr, source } => write!(f, "TLS with {addr} failed: {}", tls_text(source)),
            TransportError::Status { status, body } => {
                write!(
                    f,
                    "the server answered HTTP {status} instead of upgrading to a WebSocket"
                )?;
                match body.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
                    Some(b) => write!(f, ": {b}"),
                    None => Ok(()),
                }
            }
            TransportError::Handshake { source } => write!(f, "WebSocket handshake failed: {source}"),
            TransportError::DialTimeout(d) => write!(f, "dial timed out after {d:?}"),
            TransportError::Read { source } => write!(f, "connection lost: {source}"),
            TransportError::Eof => f.write_str("the server ended the connection without a close frame"),
            TransportError::Write { source } => write!(f, "write failed: {source}"),
            TransportError::OutboxFull => f.write_str("outgoing queue full: the server stopped reading"),
        }
    }
}

fn tls_text(e: &tungstenite::Error) -> String {
    match e {
        tungstenite::Error::Tls(t) => t.to_string(),
        other => other.to_string(),
    }
}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            TransportError::Request { source }
            | TransportError::Tls { source, .. }
            | TransportError::Handshake { source }
            | TransportError::Read { source }
            | TransportError::Write { source } => Some(&**source),
            TransportError::Dns { source, .. } | TransportError::Connect { source, .. } => Some(&**source),
            TransportError::Status { .. }
            | TransportError::DialTimeout(_)
            | TransportError::Eof
            | TransportError::OutboxFull => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_dial_errors() {
        let refused = TransportError::from_dial(
            "127.0.0.1:1",
            tungstenite::Error::Io(io::Error::from(io::ErrorKind::ConnectionRefused)),
        );
        assert!(matches!(refused, TransportError::Connect { .. }));
        assert!(refused.is_dial());
        let dns = TransportError::from_io(
            "nowhere.invalid:443",
            io::Error::other("failed to lookup address information: Name or service not known"),
        );
        assert!(matches!(&dns, TransportError::Dns { host, .. } if host == "nowhere.invalid"));
        let resp = tungstenite::http::Response::builder()
            .status(404)
            .body(Some(b"Not Found".to_vec()))
            .unwrap();
        let status = TransportError::from_dial("h:80", tungstenite::Error::Http(Box::new(resp)));
        assert_eq!(status.status(), Some(404));
        assert_eq!(
            status.to_string(),
            "the server answered HTTP 404 instead of upgrading to a WebSocket: Not Found"
        );
        assert_eq!(TransportError::Eof.kind_name(), "eof");
        assert!(!TransportError::Eof.is_dial());
    }
}
