//! The blocking client driver over plain tungstenite.

use std::fmt;
use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use std::collections::VecDeque;
use std::sync::{Arc, mpsc};

use feedwire_core::transcript::ClosedBy;
use feedwire_core::{Close, ConnectRequest, Lifecycle, Transmit};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use crate::client::{DriverStats, Update};
use crate::config::{BinaryPolicy, ClientConfig};
use crate::error::TransportError;
use crate::hook::{Apply, Hook, Jobs, Tap, TapFn};
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
/// fails at once (no backoff) keeps this thread busy; feedwire sessions always back off. A [`Hook`]'s work runs
/// on threads of its own while this thread keeps the connection; its results are applied between reads
/// (which then wait at most 20 ms at a time).
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
    errors: VecDeque<TransportError>,
    started: bool,
    hook: Option<Box<dyn Hook<S>>>,
    /// results of hook work done on other threads, and how many are still running
    done_tx: mpsc::Sender<Apply<S>>,
    done_rx: mpsc::Receiver<Apply<S>>,
    running: usize,
    tap: Option<TapFn>,
}

impl<S> fmt::Debug for BlockingConnection<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingConnection")
            .field("open", &self.socket.is_some())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<S: Lifecycle + 'static> BlockingConnection<S> {
    /// A driver for `session` with the default [`ClientConfig`]; the first `next_event` calls the session's
    /// [`connect`](Lifecycle::connect) (a no-op if the application already did).
    pub fn new(session: S) -> Self {
        Self::with_config(session, ClientConfig::default())
    }

    /// A driver with `config`.
    pub fn with_config(session: S, config: ClientConfig) -> Self {
        let (done_tx, done_rx) = mpsc::channel();
        BlockingConnection {
            session,
            config,
            socket: None,
            fired: None,
            stats: DriverStats::default(),
            last_error: None,
            errors: VecDeque::new(),
            started: false,
            hook: None,
            done_tx,
            done_rx,
            running: 0,
            tap: None,
        }
    }

    /// Puts `hook` between the session and the application; see [`Hook`]. Its work runs on threads of its own.
    pub fn with_hook(mut self, hook: impl Hook<S> + 'static) -> Self {
        self.hook = Some(Box::new(hook));
        self
    }

    /// Calls `tap` with everything that crosses the wire; see [`Tap`].
    pub fn with_tap(mut self, tap: impl FnMut(Tap<'_>) + Send + 'static) -> Self {
        self.tap = Some(Box::new(tap));
        self
    }

    /// Ends the session gracefully ([`Lifecycle::disconnect`]); the following `next_event` calls send the
    /// goodbye and the close, then return `None`.
    pub fn disconnect(&mut self) {
        self.started = true;
        self.session.disconnect(wire::now());
    }

    fn tap(&mut self, what: Tap<'_>) {
        if let Some(tap) = &mut self.tap {
            tap(what);
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

    /// Blocks until the session has an event; `None` when it has nothing left to do (stopped, or no
    /// connection, no deadline, nothing to send). Transport errors are left out: see
    /// [`next_update`](Self::next_update).
    pub fn next_event(&mut self) -> Option<S::Event> {
        loop {
            match self.next_update()? {
                Update::Event(e) => return Some(e),
                Update::Transport(_) => continue,
            }
        }
    }

    /// Blocks until the session has an event or a transport failed ([`Update`]); `None` as for
    /// [`next_event`](Self::next_event).
    pub fn next_update(&mut self) -> Option<Update<S::Event>> {
        if !self.started {
            self.started = true;
            self.session.connect(wire::now());
        }
        loop {
            while let Some(t) = self.session.poll_transmit() {
                self.apply(t);
            }
            if let Some(e) = self.errors.pop_front() {
                return Some(Update::Transport(e));
            }
            while let Some(ev) = self.session.poll_event() {
                let passed = match &mut self.hook {
                    Some(hook) => {
                        let mut jobs = Jobs::new(true);
                        let passed = hook.on_event(&mut self.session, ev, &mut jobs);
                        for job in jobs.into_futures() {
                            self.running += 1;
                            let tx = self.done_tx.clone();
                            let spawned =
                                std::thread::Builder::new()
                                    .name("feedwire-hook".into())
                                    .spawn(move || {
                                        let _ = tx.send(crate::hook::block_on(job));
                                    });
                            if spawned.is_err() {
                                self.running -= 1;
                            }
                        }
                        passed
                    }
                    None => Some(ev),
                };
                if let Some(ev) = passed {
                    return Some(Update::Event(ev));
                }
            }
            if let Ok(apply) = self.done_rx.try_recv() {
                self.running -= 1;
                apply(&mut self.session, wire::now());
                continue;
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
            let mut wait = deadline.map(|d| d.saturating_duration_since(now).max(Duration::from_millis(1)));
            if self.running > 0 {
                // hook work is running elsewhere: look for its result at least every 20 ms
                let tick = Duration::from_millis(20);
                wait = Some(wait.map_or(tick, |w| w.min(tick)));
            }
            if self.session.is_stopped() && self.socket.is_none() && self.running == 0 {
                return None;
            }
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
                        Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                            self.lost(TransportError::Eof)
                        }
                        Err(e) => match wire::read_error_close(&e) {
                            Some(close) => self.refuse(close),
                            None => self.lost(TransportError::Read { source: Arc::new(e) }),
                        },
                    }
                }
            }
        }
    }

    fn apply(&mut self, t: Transmit) {
        match t {
            Transmit::Connect(req) => {
                self.socket = None;
                self.tap(Tap::Connect(&req));
                match dial(&req, &self.config) {
                    Ok((socket, proto)) => {
                        self.socket = Some(socket);
                        self.stats.opened += 1;
                        self.tap(Tap::Open(proto.as_deref()));
                        self.session.handle_open(wire::now(), proto.as_deref());
                    }
                    Err(e) => {
                        self.stats.dial_failures += 1;
                        self.lost(e);
                    }
                }
            }
            Transmit::Send(frame) => {
                if self.socket.is_none() {
                    self.stats.dropped_sends += 1;
                    return;
                }
                self.tap(Tap::Send(frame.as_str()));
                if let Some(socket) = &mut self.socket {
                    set_write_timeout(socket, Some(self.config.dial_timeout));
                    if let Err(e) = socket.send(wire::frame_to_message(frame)) {
                        self.lost(TransportError::Write { source: Arc::new(e) });
                    }
                }
            }
            Transmit::Close(close) => self.close_socket(&close),
        }
    }

    /// Sends `close`, waits (bounded) for the server's reply and forgets the connection.
    fn close_socket(&mut self, close: &Close) {
        if self.socket.is_some() {
            self.tap(Tap::Closed {
                by: ClosedBy::Client,
                close: Some(close),
                error: None,
            });
        }
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
        self.tap(Tap::Closed {
            by: ClosedBy::Transport,
            close: None,
            error: Some(&error),
        });
        self.last_error = Some(error.clone());
        if self.errors.len() >= crate::client::MAX_PENDING_ERRORS {
            self.errors.pop_front(); // nobody reads updates: keep the newest only
        }
        self.errors.push_back(error);
        self.socket = None;
        self.session.handle_close(wire::now(), None);
    }

    fn on_message(&mut self, msg: Message) {
        match msg {
            Message::Text(text) => match wire::text_to_frame(text) {
                Some(frame) => {
                    self.tap(Tap::Recv(frame.as_str()));
                    self.session.handle_frame(wire::now(), frame)
                }
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
                let close = wire::close_from_ws(frame);
                self.tap(Tap::Closed {
                    by: ClosedBy::Server,
                    close: Some(&close),
                    error: None,
                });
                self.session.handle_close(wire::now(), Some(close));
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

/// Resolves, connects (each address in turn), negotiates TLS and shakes hands, all within the dial timeout.
fn dial(req: &ConnectRequest, config: &ClientConfig) -> Result<(Socket, Option<String>), TransportError> {
    let request = wire::build_request(req).map_err(|e| TransportError::Request { source: Arc::new(e) })?;
    let uri = request.uri();
    let no_host = || TransportError::Request {
        source: Arc::new(tungstenite::Error::Url(tungstenite::error::UrlError::NoHostName)),
    };
    let host = uri.host().ok_or_else(no_host)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let tls = matches!(uri.scheme_str(), Some("wss" | "https"));
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let addr_text = format!("{host}:{port}");
    let end = wire::now() + config.dial_timeout;
    let mut stream = None;
    let addrs = (host, port).to_socket_addrs().map_err(|e| TransportError::Dns {
        host: host.to_owned(),
        source: Arc::new(e),
    })?;
    let mut last = TransportError::Dns {
        host: host.to_owned(),
        source: Arc::new(io::Error::new(io::ErrorKind::NotFound, "resolved to no address")),
    };
    for addr in addrs {
        let left = end.saturating_duration_since(wire::now());
        if left.is_zero() {
            last = TransportError::DialTimeout(config.dial_timeout);
            break;
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                last = TransportError::DialTimeout(config.dial_timeout)
            }
            Err(e) => last = TransportError::connect(addr_text.clone(), e),
        }
    }
    let stream = stream.ok_or(last)?;
    let io_err = |e: io::Error| TransportError::connect(addr_text.clone(), e);
    stream.set_nodelay(config.nodelay).map_err(io_err)?;
    let left = end
        .saturating_duration_since(wire::now())
        .max(Duration::from_millis(1));
    stream.set_read_timeout(Some(left)).map_err(io_err)?;
    stream.set_write_timeout(Some(left)).map_err(io_err)?;
    let (socket, response) = handshake(request, stream, config).map_err(|e| match e {
        HandshakeFailure::Timeout => TransportError::DialTimeout(config.dial_timeout),
        HandshakeFailure::Error(e) => TransportError::from_dial(&addr_text, e),
    })?;
    Ok((socket, wire::agreed_subprotocol(&response)))
}

enum HandshakeFailure {
    Timeout,
    Error(tungstenite::Error),
}

#[cfg(feature = "rustls")]
fn handshake(
    request: tungstenite::handshake::client::Request,
    stream: TcpStream,
    config: &ClientConfig,
) -> Result<(Socket, tungstenite::handshake::client::Response), HandshakeFailure> {
    let connector = config.tls.clone().map(tungstenite::Connector::Rustls);
    tungstenite::client_tls_with_config(request, stream, Some(config.websocket), connector)
        .map_err(handshake_error)
}

#[cfg(not(feature = "rustls"))]
fn handshake(
    request: tungstenite::handshake::client::Request,
    stream: TcpStream,
    config: &ClientConfig,
) -> Result<(Socket, tungstenite::handshake::client::Response), HandshakeFailure> {
    if matches!(request.uri().scheme_str(), Some("wss" | "https")) {
        return Err(HandshakeFailure::Error(tungstenite::Error::Url(
            tungstenite::error::UrlError::TlsFeatureNotEnabled,
        )));
    }
    tungstenite::client::client_with_config(request, MaybeTlsStream::Plain(stream), Some(config.websocket))
        .map_err(handshake_error)
}

/// A handshake that ran out of time is a dial timeout; anything else a dial failure.
fn handshake_error<R: tungstenite::handshake::HandshakeRole>(
    e: tungstenite::HandshakeError<R>,
) -> HandshakeFailure {
    match e {
        tungstenite::HandshakeError::Interrupted(_) => HandshakeFailure::Timeout,
        tungstenite::HandshakeError::Failure(tungstenite::Error::Io(io))
            if matches!(io.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
        {
            HandshakeFailure::Timeout
        }
        tungstenite::HandshakeError::Failure(f) => HandshakeFailure::Error(f),
    }
}
