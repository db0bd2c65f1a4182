//! The blocking client driver over plain tungstenite.

use std::fmt;
use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use feedwire_core::{Close, ConnectRequest, Session, Transmit};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use crate::client::{DriverStats, TransportError};
use crate::config::{BinaryPolicy, ClientConfig};
use crate::wire;

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// The blocking client driver: the same loop as [`ClientDriver`](crate::ClientDriver) for programs without an
/// async runtime (feature `blocking`).
///
/// [`next_event`](Self::next_event) blocks the thread: it dials (each address of the host in turn, bounded
/// by [`ClientConfig::dial_timeout`] as a whole), writes, and reads with a socket read timeout that ends at
/// the session's next deadline, so deadlines fire on time while the socket is quiet. While no connection is
/// open and a deadline is pending (a backoff), it sleeps until the deadline. Failures are reported exactly as
/// by the async driver (`handle_close(now, None)` for dial failures and resets, `Some(close)` for close
/// frames, binary frames per [`ClientConfig::binary`]).
///
/// There is no handle for other threads: call session commands through
/// [`session_mut`](Self::session_mut) between events. A session that redials at once after a dial that
/// fails at once (no backoff) keeps this thread busy; feedwire sessions always back off.
///
/// ```no_run
/// use feedwire_core::testing::doc::EchoClient;
/// use feedwire_tungstenite::BlockingConnection;
///
/// let mut conn = BlockingConnection::new(EchoClient::default());
/// while let Some(event) = conn.next_event() {
///     let _ = event; // and conn.session_mut() for commands
/// }
/// ```
pub struct BlockingConnection<S> {
    session: S,
    config: ClientConfig,
    socket: Option<Socket>,
    fired: Option<Instant>,
    stats: DriverStats,
    last_error: Option<TransportError>,
}

impl<S> fmt::Debug for BlockingConnection<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingConnection")
            .field("open", &self.socket.is_some())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<S: Session> BlockingConnection<S> {
    /// A driver for `session` with the default [`ClientConfig`].
    pub fn new(session: S) -> Self {
        Self::with_config(session, ClientConfig::default())
    }

    /// A driver with `config`.
    pub fn with_config(session: S, config: ClientConfig) -> Self {
        BlockingConnection {
            session,
            config,
            socket: None,
            fired: None,
            stats: DriverStats::default(),
            last_error: None,
        }
    }

    /// The session.
    pub fn session(&self) -> &S {
        &self.session
    }

    /// The session, mutably (for commands; their transmits are carried out at the next `next_event`).
    pub fn session_mut(&mut self) -> &mut S {
        &mut self.session
    }

    /// Gives the session back.
    pub fn into_session(self) -> S {
        self.session
    }

    /// Counters.
    pub fn stats(&self) -> DriverStats {
        self.stats
    }

    /// Whether a connection is open.
    pub fn is_open(&self) -> bool {
        self.socket.is_some()
    }

    /// Why the transport last failed (the reason behind the last `handle_close(now, None)`).
    pub fn last_error(&self) -> Option<&TransportError> {
        self.last_error.as_ref()
    }

    /// Blocks until the session has an event; `None` when it has nothing left to do (no connection, no
    /// deadline, nothing to send).
    pub fn next_event(&mut self) -> Option<S::Event> {
        loop {
            while let Some(t) = self.session.poll_transmit() {
                self.apply(t);
            }
            if let Some(ev) = self.session.poll_event() {
                return Some(ev);
            }
            let deadline = self.session.poll_timeout().filter(|d| Some(*d) != self.fired);
            let now = wire::now();
            if let Some(d) = deadline
                && d <= now
            {
                self.fired = Some(d);
                self.session.handle_timeout(now);
                continue;
            }
            let wait = deadline.map(|d| d.saturating_duration_since(now).max(Duration::from_millis(1)));
            match &mut self.socket {
                None => match wait {
                    Some(w) => sleep(w),
                    None => return None,
                },
                Some(socket) => {
                    set_read_timeout(socket, wait);
                    match socket.read() {
                        Ok(msg) => self.on_message(msg),
                        Err(tungstenite::Error::Io(e))
                            if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                        Err(e) => self.lost(TransportError::Read(e.to_string())),
                    }
                }
            }
        }
    }

    fn apply(&mut self, t: Transmit) {
        match t {
            Transmit::Connect(req) => {
                self.socket = None;
                match dial(&req, &self.config) {
                    Ok((socket, proto)) => {
                        self.socket = Some(socket);
                        self.stats.opened += 1;
                        self.session.handle_open(wire::now(), proto.as_deref());
                    }
                    Err(e) => {
                        self.stats.dial_failures += 1;
                        self.lost(e);
                    }
                }
            }
            Transmit::Send(frame) => match &mut self.socket {
                Some(socket) => {
                    set_write_timeout(socket, Some(self.config.dial_timeout));
                    if let Err(e) = socket.send(wire::frame_to_message(frame)) {
                        self.lost(TransportError::Write(e.to_string()));
                    }
                }
                None => self.stats.dropped_sends += 1,
            },
            Transmit::Close(close) => self.close_socket(&close),
        }
    }

    /// Sends `close`, waits (bounded) for the server's reply and forgets the connection.
    fn close_socket(&mut self, close: &Close) {
        if let Some(mut socket) = self.socket.take() {
            set_write_timeout(&mut socket, Some(self.config.close_timeout));
            set_read_timeout(&mut socket, Some(self.config.close_timeout));
            if socket.send(wire::close_to_message(close)).is_ok() {
                let end = wire::now() + self.config.close_timeout;
                while wire::now() < end && socket.read().is_ok() {}
            }
        }
    }

    /// The connection failed or could not be opened: keep the reason, tell the session.
    fn lost(&mut self, error: TransportError) {
        crate::log::debug(&error);
        self.last_error = Some(error);
        self.socket = None;
        self.session.handle_close(wire::now(), None);
    }

    fn on_message(&mut self, msg: Message) {
        match msg {
            Message::Text(text) => match wire::text_to_frame(text) {
                Some(frame) => self.session.handle_frame(wire::now(), frame),
                None => self.refuse(Close::new(
                    feedwire_core::CloseCode::INVALID_PAYLOAD,
                    "invalid UTF-8",
                )),
            },
            Message::Binary(_) => {
                self.stats.binary_frames += 1;
                if self.config.binary == BinaryPolicy::Close {
                    self.refuse(wire::binary_close());
                }
            }
            Message::Close(frame) => {
                if let Some(mut socket) = self.socket.take() {
                    // send tungstenite's queued reply, bounded
                    set_write_timeout(&mut socket, Some(self.config.close_timeout));
                    let _ = socket.flush();
                }
                self.session
                    .handle_close(wire::now(), Some(wire::close_from_ws(frame)));
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {
                // tungstenite queued a pong for a ping; write it now
                if let Some(socket) = &mut self.socket {
                    let _ = socket.flush();
                }
            }
        }
    }

    fn refuse(&mut self, close: Close) {
        self.close_socket(&close);
        self.session.handle_close(wire::now(), Some(close));
    }
}

#[allow(clippy::disallowed_methods)] // a blocking driver owns the thread: waiting for a deadline is its job
fn sleep(d: Duration) {
    std::thread::sleep(d)
}

fn tcp(socket: &Socket) -> Option<&TcpStream> {
    match socket.get_ref() {
        MaybeTlsStream::Plain(s) => Some(s),
        #[cfg(feature = "rustls")]
        MaybeTlsStream::Rustls(s) => Some(s.get_ref()),
        _ => None,
    }
}

fn set_read_timeout(socket: &mut Socket, d: Option<Duration>) {
    if let Some(s) = tcp(socket) {
        let _ = s.set_read_timeout(d.map(|d| d.max(Duration::from_millis(1))));
    }
}

fn set_write_timeout(socket: &mut Socket, d: Option<Duration>) {
    if let Some(s) = tcp(socket) {
        let _ = s.set_write_timeout(d.map(|d| d.max(Duration::from_millis(1))));
    }
}

fn dial_error(e: impl fmt::Display) -> TransportError {
    TransportError::Dial(e.to_string())
}

/// Resolves, connects (each address in turn), negotiates TLS and shakes hands, all within the dial timeout.
fn dial(req: &ConnectRequest, config: &ClientConfig) -> Result<(Socket, Option<String>), TransportError> {
    let request = wire::build_request(req).map_err(dial_error)?;
    let uri = request.uri();
    let host = uri.host().ok_or_else(|| dial_error("the URL has no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let tls = matches!(uri.scheme_str(), Some("wss" | "https"));
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let end = wire::now() + config.dial_timeout;
    let mut stream = None;
    let mut last = TransportError::Dial(format!("{host}:{port} resolved to no address"));
    for addr in (host, port).to_socket_addrs().map_err(dial_error)? {
        let left = end.saturating_duration_since(wire::now());
        if left.is_zero() {
            last = TransportError::DialTimeout;
            break;
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => last = TransportError::DialTimeout,
            Err(e) => last = dial_error(e),
        }
    }
    let stream = stream.ok_or(last)?;
    stream.set_nodelay(config.nodelay).map_err(dial_error)?;
    let left = end
        .saturating_duration_since(wire::now())
        .max(Duration::from_millis(1));
    stream.set_read_timeout(Some(left)).map_err(dial_error)?;
    stream.set_write_timeout(Some(left)).map_err(dial_error)?;
    let (socket, response) = handshake(request, stream, config)?;
    Ok((socket, wire::agreed_subprotocol(&response)))
}

#[cfg(feature = "rustls")]
fn handshake(
    request: tungstenite::handshake::client::Request,
    stream: TcpStream,
    config: &ClientConfig,
) -> Result<(Socket, tungstenite::handshake::client::Response), TransportError> {
    let connector = config.tls.clone().map(tungstenite::Connector::Rustls);
    tungstenite::client_tls_with_config(request, stream, Some(config.websocket), connector)
        .map_err(handshake_error)
}

#[cfg(not(feature = "rustls"))]
fn handshake(
    request: tungstenite::handshake::client::Request,
    stream: TcpStream,
    config: &ClientConfig,
) -> Result<(Socket, tungstenite::handshake::client::Response), TransportError> {
    if matches!(request.uri().scheme_str(), Some("wss" | "https")) {
        return Err(dial_error("wss:// needs feature `rustls`"));
    }
    tungstenite::client::client_with_config(request, MaybeTlsStream::Plain(stream), Some(config.websocket))
        .map_err(handshake_error)
}

/// A handshake that ran out of time is a dial timeout; anything else a dial failure.
fn handshake_error<R: tungstenite::handshake::HandshakeRole>(
    e: tungstenite::HandshakeError<R>,
) -> TransportError {
    match &e {
        tungstenite::HandshakeError::Interrupted(_) => TransportError::DialTimeout,
        tungstenite::HandshakeError::Failure(tungstenite::Error::Io(io))
            if matches!(io.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
        {
            TransportError::DialTimeout
        }
        tungstenite::HandshakeError::Failure(f) => dial_error(f),
    }
}
