//! The server loop: any [`Hub`] on a tokio `TcpListener`.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use feedwire_core::{Close, CloseCode, ConnId, Hub, HubTransmit, OpenRequest};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tungstenite::Message;
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::{HeaderValue, StatusCode};

use crate::config::{BinaryPolicy, ServerConfig};
use crate::wire;

/// The close sent to a connection whose outgoing queue overflowed.
fn slow_reader_close() -> Close {
    Close::new(CloseCode::POLICY_VIOLATION, "slow reader: outgoing queue full")
}

struct Slot {
    tx: mpsc::Sender<HubTransmit>,
    kill: Option<oneshot::Sender<Close>>,
}

struct State<H> {
    hub: H,
    conns: HashMap<ConnId, Slot>,
    next_id: u64,
    slow_reader_drops: u64,
}

/// The host's handler of plain HTTP requests (see [`Server::new_with_http`]).
type HttpHandler<H> = Box<dyn Fn(&mut H, HttpRequest) -> HttpResponse + Send + Sync>;

struct Shared<H> {
    state: Mutex<State<H>>,
    events: Notify,
    timer: Notify,
    shutdown: watch::Sender<bool>,
    config: ServerConfig,
    http: Option<HttpHandler<H>>,
}

impl<H: Hub> Shared<H> {
    fn lock(&self) -> MutexGuard<'_, State<H>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the hub under the lock, then routes everything the hub wants sent and wakes the event
    /// reader and the timer.
    fn with_hub<T>(&self, f: impl FnOnce(&mut H, Instant) -> T) -> T {
        let out = {
            let mut st = self.lock();
            let out = f(&mut st.hub, wire::now());
            st.route();
            out
        };
        self.events.notify_one();
        self.timer.notify_one();
        out
    }
}

impl<H: Hub> State<H> {
    /// Drains the hub's transmits into the per-connection queues.
    fn route(&mut self) {
        while let Some((conn, t)) = self.hub.poll_transmit() {
            let Some(slot) = self.conns.get_mut(&conn) else {
                continue; // a connection that is already gone
            };
            let is_close = matches!(t, HubTransmit::Close(_));
            match slot.tx.try_send(t) {
                Ok(()) if is_close => {
                    // the hub has forgotten the connection: its task sends the close and never reports back
                    self.conns.remove(&conn);
                }
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(t)) => {
                    let close = match t {
                        HubTransmit::Close(c) => {
                            // the hub asked to close anyway: close now with its code, no report
                            c
                        }
                        HubTransmit::Send(_) => {
                            self.slow_reader_drops += 1;
                            slow_reader_close()
                        }
                    };
                    if let Some(mut slot) = self.conns.remove(&conn)
                        && let Some(kill) = slot.kill.take()
                    {
                        let _ = kill.send(close);
                    }
                    if !is_close {
                        self.hub.handle_close(wire::now(), conn, None);
                    }
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    // the task ended and will report (or has reported) the close itself
                }
            }
        }
    }
}

/// Calls hub methods from any task or thread: [`ServerHandle::call`] runs a closure on the hub (serialised with
/// everything else the server does to it) and then writes whatever the hub wants sent.
///
/// The hub lives behind a `std::sync::Mutex` rather than on a task of its own: the WebSocket handshake
/// callback (where [`Hub::select_subprotocol`] runs) is synchronous, and a lock held for one short hub call
/// keeps every path (frames, closes, deadlines, host calls) in one order without an extra hop. The closure runs
/// on the caller's thread, so `call` is a plain function that returns the closure's result.
pub struct ServerHandle<H> {
    shared: Arc<Shared<H>>,
}

impl<H> Clone for ServerHandle<H> {
    fn clone(&self) -> Self {
        ServerHandle {
            shared: self.shared.clone(),
        }
    }
}

impl<H> fmt::Debug for ServerHandle<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle").finish_non_exhaustive()
    }
}

impl<H: Hub> ServerHandle<H> {
    /// Runs `f` on the hub (for example `|hub| hub.publish(..)`) and routes its transmits. The hub lives behind
    /// a mutex held only for the call: keep `f` short, never block inside it, and never call this handle (or
    /// [`Server::call`]) from inside `f` (the mutex is not re-entrant).
    pub fn call<T>(&self, f: impl FnOnce(&mut H) -> T) -> T {
        self.shared.with_hub(|hub, _| f(hub))
    }

    /// Open connections (as the hub knows them).
    pub fn connections(&self) -> usize {
        self.shared.lock().conns.len()
    }

    /// Connections dropped because their outgoing queue was full.
    pub fn slow_reader_drops(&self) -> u64 {
        self.shared.lock().slow_reader_drops
    }
}

/// A running server: accepts WebSocket connections and runs them through one [`Hub`].
///
/// - each connection gets a fresh [`ConnId`] (1, 2, ...) and the hub a `handle_open` with its path, query,
///   headers and the subprotocol [`Hub::select_subprotocol`] chose during the handshake (a client that offered
///   subprotocols and got none agreed is refused by tungstenite clients);
/// - text frames go to `handle_frame`; a close frame to `handle_close(Some(..))`; a reset, read error or
///   handshake-less end to `handle_close(None)`; binary frames follow [`ServerConfig::binary`];
/// - the hub's transmits go to per-connection queues of [`ServerConfig::queue_capacity`] frames; a
///   connection whose queue is full is a slow reader and is closed with 1008 (the hub gets
///   `handle_close(None)`): memory stays bounded whatever a client does;
/// - the hub's deadlines are driven by a timer task; its events come out of [`Server::next_event`] (they
///   stay in the hub's own bounded queue until then).
///
/// Optionally, plain HTTP requests on the same port go to a handler of the host's
/// ([`new_with_http`](Self::new_with_http)): for example a hub's REST API, such as the Pusher HTTP API that the
/// official server SDKs trigger through.
///
/// Needs a tokio runtime with the `time` and `net` drivers enabled.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use feedwire_core::testing::doc::EchoHub;
/// use feedwire_tungstenite::Server;
///
/// let server = Server::bind("127.0.0.1:8080", EchoHub::default()).await?;
/// let handle = server.handle(); // clone into other tasks: handle.call(|hub| { /* hub.publish(..) */ })
/// # drop(handle);
/// while let Some(event) = server.next_event().await {
///     let _ = event; // the hub's events
/// }
/// # Ok(())
/// # }
/// ```
pub struct Server<H: Hub> {
    shared: Arc<Shared<H>>,
    local_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl<H: Hub> fmt::Debug for Server<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl<H> Server<H>
where
    H: Hub + Send + 'static,
    H::Event: Send,
{
    /// Binds `addr` and starts serving with the default [`ServerConfig`].
    pub async fn bind(addr: impl ToSocketAddrs, hub: H) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Self::new(listener, hub, ServerConfig::default())
    }

    /// Starts serving on `listener`.
    pub fn new(listener: TcpListener, hub: H, config: ServerConfig) -> std::io::Result<Self> {
        Self::start(listener, hub, config, None)
    }

    /// Binds `addr` and starts serving with the default [`ServerConfig`] and an HTTP handler; see
    /// [`new_with_http`](Self::new_with_http).
    pub async fn bind_with_http(
        addr: impl ToSocketAddrs,
        hub: H,
        http: impl Fn(&mut H, HttpRequest) -> HttpResponse + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Self::new_with_http(listener, hub, ServerConfig::default(), http)
    }

    /// Starts serving on `listener`, with plain HTTP requests on the same port answered by `http`.
    ///
    /// Before the WebSocket handshake the server peeks at the request head (without consuming it), for at most
    /// [`ServerConfig::max_http_head`] bytes and [`ServerConfig::handshake_timeout`]:
    ///
    /// - a WebSocket upgrade (an `Upgrade: websocket` header) goes on to the handshake exactly as without a
    ///   handler;
    /// - any other request is read (its head and a `Content-Length` body of at most
    ///   [`ServerConfig::max_http_body`] bytes), `http` is called with the hub locked (like
    ///   [`ServerHandle::call`]: whatever the hub sends meanwhile, a publish for example, is routed to its
    ///   connections afterwards), and its [`HttpResponse`] is written as an HTTP/1.1 response with
    ///   `Connection: close`; then the connection is closed. One request per connection (no keep-alive).
    /// - a malformed request is answered 400, an oversize head 431, an oversize body 413, a chunked body 411
    ///   and a head that does not arrive in time 408, without calling `http`.
    ///
    /// The handler runs under the hub's lock: keep it short and never block in it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use feedwire_core::testing::doc::EchoHub;
    /// use feedwire_tungstenite::{HttpResponse, Server, ServerConfig};
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    ///
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let server = Server::new_with_http(listener, EchoHub::default(), ServerConfig::default(), |_hub, req| {
    ///     HttpResponse::json(200, format!(r#"{{"path":"{}","query":"{}"}}"#, req.path, req.query))
    /// })?;
    /// let mut s = tokio::net::TcpStream::connect(server.local_addr()).await?;
    /// s.write_all(b"GET /health?full=1 HTTP/1.1\r\nHost: x\r\n\r\n").await?;
    /// let mut answer = String::new();
    /// s.read_to_string(&mut answer).await?;
    /// assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"));
    /// assert!(answer.contains("Connection: close\r\n"));
    /// assert!(answer.ends_with(r#"{"path":"/health","query":"full=1"}"#));
    /// server.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn new_with_http(
        listener: TcpListener,
        hub: H,
        config: ServerConfig,
        http: impl Fn(&mut H, HttpRequest) -> HttpResponse + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        Self::start(listener, hub, config, Some(Box::new(http)))
    }

    fn start(
        listener: TcpListener,
        hub: H,
        config: ServerConfig,
        http: Option<HttpHandler<H>>,
    ) -> std::io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                hub,
                conns: HashMap::new(),
                next_id: 0,
                slow_reader_drops: 0,
            }),
            events: Notify::new(),
            timer: Notify::new(),
            shutdown,
            config,
            http,
        });
        let tasks = vec![
            tokio::spawn(accept_loop(shared.clone(), listener)),
            tokio::spawn(timer_loop(shared.clone())),
        ];
        Ok(Server {
            shared,
            local_addr,
            tasks,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle for other tasks.
    pub fn handle(&self) -> ServerHandle<H> {
        ServerHandle {
            shared: self.shared.clone(),
        }
    }

    /// Runs `f` on the hub; see [`ServerHandle::call`].
    pub fn call<T>(&self, f: impl FnOnce(&mut H) -> T) -> T {
        self.shared.with_hub(|hub, _| f(hub))
    }

    /// The hub's next event; `None` once the server has shut down and no event is left.
    pub async fn next_event(&self) -> Option<H::Event> {
        let mut shutdown = self.shared.shutdown.subscribe();
        loop {
            let notified = self.shared.events.notified();
            if let Some(ev) = self.shared.lock().hub.poll_event() {
                return Some(ev);
            }
            if *shutdown.borrow_and_update() {
                return None;
            }
            tokio::select! {
                _ = notified => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Stops accepting, closes every connection with 1001 (going away; the hub gets `handle_close(None)` for
    /// each), waits for the connection tasks to finish (each bounded by [`ServerConfig::close_timeout`]) and
    /// gives the hub back: `None` when a [`ServerHandle`] is still alive (the hub then stays reachable
    /// through it).
    pub async fn shutdown(mut self) -> Option<H> {
        self.stop().await;
        let shared = self.shared.clone();
        drop(self);
        Arc::try_unwrap(shared)
            .ok()
            .map(|s| s.state.into_inner().unwrap_or_else(PoisonError::into_inner).hub)
    }

    /// Like [`shutdown`](Self::shutdown), keeping the hub inside (reachable through [`call`](Self::call) and
    /// [`next_event`](Self::next_event)).
    pub async fn stop(&mut self) {
        self.shared.shutdown.send_replace(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        self.shared.events.notify_one();
    }
}

impl<H: Hub> Drop for Server<H> {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
    }
}

async fn accept_loop<H>(shared: Arc<Shared<H>>, listener: TcpListener)
where
    H: Hub + Send + 'static,
    H::Event: Send,
{
    let mut shutdown = shared.shutdown.subscribe();
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                match accepted {
                    Ok((stream, _)) => {
                        conns.spawn(connection(shared.clone(), stream));
                    }
                    // accept errors (EMFILE, ...) are transient: pause, then keep accepting
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = stopped(&mut shutdown) => break,
        }
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

async fn timer_loop<H: Hub>(shared: Arc<Shared<H>>) {
    let mut shutdown = shared.shutdown.subscribe();
    let mut fired: Option<Instant> = None;
    loop {
        let notified = shared.timer.notified();
        let deadline = shared.lock().hub.poll_timeout().filter(|d| Some(*d) != fired);
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => {
                fired = deadline;
                shared.with_hub(|hub, now| hub.handle_timeout(now));
            }
            _ = notified => {}
            _ = stopped(&mut shutdown) => break,
        }
    }
}

/// How a connection task ended.
enum End {
    /// The peer closed (report `Some`) or the transport failed (report `None`).
    Peer(Option<Close>),
    /// The hub asked to close (already forgotten, never reported).
    Hub,
    /// The server killed it (slow reader; already reported).
    Killed,
    /// Server shutdown.
    Shutdown,
}

async fn connection<H>(shared: Arc<Shared<H>>, mut stream: TcpStream)
where
    H: Hub + Send + 'static,
{
    let config = &shared.config;
    let _ = stream.set_nodelay(config.nodelay);
    let deadline = tokio::time::Instant::from_std(wire::now() + config.handshake_timeout);
    let mut shutdown = shared.shutdown.subscribe();
    if let Some(handler) = &shared.http {
        let peeked = tokio::select! {
            r = tokio::time::timeout_at(deadline, peek_head(&stream, config.max_http_head)) => r,
            _ = stopped(&mut shutdown) => return,
        };
        match peeked {
            Ok(Ok(Head::Upgrade)) => {} // on to the WebSocket handshake, the head still unread
            Ok(Ok(Head::Http(head_len))) => {
                tokio::select! {
                    _ = serve_http(&shared, handler, &mut stream, head_len, deadline) => {}
                    _ = stopped(&mut shutdown) => {}
                }
                return;
            }
            Ok(Ok(Head::TooLarge)) => {
                let resp = HttpResponse::text(431, "request header fields too large\n");
                finish_http(&mut stream, &resp, config.close_timeout).await;
                return;
            }
            Ok(Ok(Head::Closed)) | Ok(Err(_)) => return,
            Err(_) => {
                let resp = HttpResponse::text(408, "request timeout\n");
                finish_http(&mut stream, &resp, config.close_timeout).await;
                return;
            }
        }
    }
    websocket(&shared, stream, deadline, shutdown).await
}

/// The WebSocket handshake and the connection's life.
async fn websocket<H>(
    shared: &Arc<Shared<H>>,
    stream: TcpStream,
    deadline: tokio::time::Instant,
    mut shutdown: watch::Receiver<bool>,
) where
    H: Hub + Send + 'static,
{
    let config = &shared.config;
    let mut open: Option<OpenRequest> = None;
    #[allow(clippy::result_large_err)] // the signature tungstenite's handshake callback requires
    let callback = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        let offered = wire::offered_subprotocols(req.headers());
        let chosen = if offered.is_empty() {
            None
        } else {
            shared.lock().hub.select_subprotocol(&offered)
        };
        if let Some(p) = &chosen
            && let Ok(v) = HeaderValue::from_str(p)
        {
            resp.headers_mut().insert("Sec-WebSocket-Protocol", v);
        }
        let path = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let mut o = OpenRequest::new(path).with_subprotocol(chosen);
        for (k, v) in req.headers() {
            o = o.with_header(k.as_str(), String::from_utf8_lossy(v.as_bytes()));
        }
        open = Some(o);
        Ok(resp)
    };
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config.websocket));
    let ws = tokio::select! {
        r = tokio::time::timeout_at(deadline, handshake) => match r {
            Ok(Ok(ws)) => ws,
            _ => return, // failed or slow handshakes never reach the hub
        },
        _ = stopped(&mut shutdown) => return,
    };
    let Some(open) = open else { return };

    let (tx, mut rx) = mpsc::channel(config.queue_capacity);
    let (kill_tx, mut kill_rx) = oneshot::channel();
    let conn = {
        // allocate, register and open under one lock
        let mut st = shared.lock();
        st.next_id += 1;
        let conn = ConnId(st.next_id);
        st.conns.insert(
            conn,
            Slot {
                tx,
                kill: Some(kill_tx),
            },
        );
        st.hub.handle_open(wire::now(), conn, &open);
        st.route();
        conn
    };
    shared.events.notify_one();
    shared.timer.notify_one();

    let (mut sink, mut stream) = ws.split();
    let binary = config.binary;

    let end = {
        let writer = async {
            while let Some(t) = rx.recv().await {
                match t {
                    HubTransmit::Send(frame) => {
                        if sink.send(wire::frame_to_message(frame)).await.is_err() {
                            return End::Peer(None);
                        }
                    }
                    HubTransmit::Close(close) => {
                        let _ = sink.send(wire::close_to_message(&close)).await;
                        return End::Hub;
                    }
                }
            }
            End::Hub // the slot is gone: forgotten by the hub or killed (kill wins the race below)
        };
        let reader = async {
            loop {
                match stream.next().await {
                    Some(Ok(Message::Text(text))) => match wire::text_to_frame(text) {
                        Some(frame) => {
                            if !frame_to_hub(shared, conn, frame) {
                                return End::Hub;
                            }
                        }
                        None => return End::Peer(None),
                    },
                    Some(Ok(Message::Binary(_))) => {
                        if binary == BinaryPolicy::Close {
                            return End::Peer(Some(wire::binary_close()));
                        }
                    }
                    Some(Ok(Message::Close(frame))) => return End::Peer(Some(wire::close_from_ws(frame))),
                    Some(Ok(_)) => {} // pings are answered by tungstenite
                    Some(Err(_)) | None => return End::Peer(None),
                }
            }
        };
        tokio::select! {
            biased;
            // a dropped (not fired) kill sender is the slot's normal removal: the branch is then disabled
            Ok(close) = &mut kill_rx => {
                // best effort: the socket may be full; the close timeout bounds it
                let send = sink.send(wire::close_to_message(&close));
                let _ = tokio::time::timeout(config.close_timeout, send).await;
                End::Killed
            }
            _ = stopped(&mut shutdown) => End::Shutdown,
            end = writer => end,
            end = reader => end,
        }
    };

    // finish the close handshake, bounded
    let report = match end {
        End::Peer(close) => {
            let binary_refused = close.as_ref().is_some_and(|c| c == &wire::binary_close());
            if binary_refused {
                let _ = sink.send(wire::close_to_message(&wire::binary_close())).await;
            }
            Some(close)
        }
        End::Shutdown => {
            let _ = tokio::time::timeout(
                config.close_timeout,
                sink.send(wire::close_to_message(&Close::going_away())),
            )
            .await;
            Some(None)
        }
        End::Hub | End::Killed => None,
    };
    let _ = tokio::time::timeout(config.close_timeout, async {
        let _ = sink.flush().await;
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
    let mut st = shared.lock();
    if st.conns.remove(&conn).is_some() {
        st.hub.handle_close(wire::now(), conn, report.flatten());
        st.route();
        drop(st);
        shared.events.notify_one();
        shared.timer.notify_one();
    }
}

/// Gives a frame to the hub; false when the hub has already forgotten the connection.
fn frame_to_hub<H: Hub>(shared: &Shared<H>, conn: ConnId, frame: feedwire_core::Frame) -> bool {
    let known = {
        let mut st = shared.lock();
        let known = st.conns.contains_key(&conn);
        if known {
            st.hub.handle_frame(wire::now(), conn, frame);
            st.route();
        }
        known
    };
    if known {
        shared.events.notify_one();
        shared.timer.notify_one();
    }
    known
}

/// Completes once shutdown was requested (without holding the watch guard across an await).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// A plain HTTP request received on the server's port (see [`Server::new_with_http`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpRequest {
    /// The method, as sent (`GET`, `POST`, ...).
    pub method: String,
    /// The path, without the query (`/apps/app-id/events`); not percent-decoded.
    pub path: String,
    /// The raw query string, without `?` (empty when there is none); not percent-decoded.
    pub query: String,
    /// The headers in the order received, names as sent (compare them case-insensitively, or use
    /// [`header`](Self::header)); values that are not UTF-8 are converted lossily.
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` bytes; empty without that header).
    pub body: Bytes,
}

impl HttpRequest {
    /// A request with no headers and no body, for testing a handler: `target` is the path with an optional
    /// `?query`.
    ///
    /// ```
    /// use feedwire_tungstenite::HttpRequest;
    /// let req = HttpRequest::new("POST", "/apps/1/events?auth_key=k").with_header("Content-Type", "application/json");
    /// assert_eq!((req.path.as_str(), req.query.as_str()), ("/apps/1/events", "auth_key=k"));
    /// assert_eq!(req.header("content-type"), Some("application/json"));
    /// ```
    pub fn new(method: impl Into<String>, target: &str) -> Self {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        HttpRequest {
            method: method.into(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The answer to an [`HttpRequest`]: written as `HTTP/1.1 {status}` with `Content-Type`, `Content-Length` and
/// `Connection: close`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpResponse {
    /// The status code (100..=999; anything else is sent as 500).
    pub status: u16,
    /// The `Content-Type` (a value with a line break in it is sent as `application/octet-stream`).
    pub content_type: String,
    /// The body.
    pub body: Bytes,
}

impl HttpResponse {
    /// A response.
    pub fn new(status: u16, content_type: impl Into<String>, body: impl Into<Bytes>) -> Self {
        HttpResponse {
            status,
            content_type: content_type.into(),
            body: body.into(),
        }
    }

    /// An `application/json` response.
    pub fn json(status: u16, body: impl Into<Bytes>) -> Self {
        Self::new(status, "application/json", body)
    }

    /// A `text/plain; charset=utf-8` response.
    pub fn text(status: u16, body: impl Into<Bytes>) -> Self {
        Self::new(status, "text/plain; charset=utf-8", body)
    }

    /// The status line, headers and blank line.
    fn head(&self) -> String {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let content_type = if self.content_type.contains(['\r', '\n']) {
            "application/octet-stream"
        } else {
            self.content_type.as_str()
        };
        format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or("Unknown"),
            self.body.len()
        )
    }
}

/// What the peeked request head is.
enum Head {
    /// A WebSocket upgrade.
    Upgrade,
    /// Another request whose head is this many bytes (the blank line included).
    Http(usize),
    /// No end of head within the size limit, and not an upgrade.
    TooLarge,
    /// The peer closed before sending a whole head.
    Closed,
}

/// Peeks (without consuming) until the end of the request head, at most `max` bytes. Peeking again returns at
/// once while the bytes already received are unchanged, so a head that arrives in pieces is polled with a
/// growing pause (1 ms to 50 ms); the caller bounds the whole by a deadline.
async fn peek_head(stream: &TcpStream, max: usize) -> std::io::Result<Head> {
    let mut buf = vec![0u8; max.min(2048)];
    let mut seen = 0;
    let mut pause = Duration::from_millis(1);
    loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 {
            return Ok(Head::Closed);
        }
        let got = buf.get(..n).unwrap_or_default();
        if let Some(end) = find(got, b"\r\n\r\n") {
            let head_len = end + 4;
            let head = got.get(..head_len).unwrap_or_default();
            return Ok(if is_upgrade(head) {
                Head::Upgrade
            } else {
                Head::Http(head_len)
            });
        }
        if n >= max {
            return Ok(if is_upgrade(got) {
                Head::Upgrade
            } else {
                Head::TooLarge
            });
        }
        if n == buf.len() {
            buf.resize((buf.len() * 2).min(max), 0);
            seen = n;
            continue;
        }
        if n == seen {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        } else {
            seen = n;
            pause = Duration::from_millis(1);
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The header lines of a head (after the request line), split at the first colon, trimmed.
fn header_lines(head: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    head.split(|b| *b == b'\n').skip(1).filter_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line.iter().position(|b| *b == b':')?;
        let (name, value) = line.split_at(colon);
        Some((name.trim_ascii(), value.get(1..).unwrap_or_default().trim_ascii()))
    })
}

/// Whether a (possibly partial) head asks for a WebSocket upgrade.
fn is_upgrade(head: &[u8]) -> bool {
    header_lines(head).any(|(name, value)| {
        name.eq_ignore_ascii_case(b"upgrade")
            && value
                .split(|b| *b == b',')
                .any(|p| p.trim_ascii().eq_ignore_ascii_case(b"websocket"))
    })
}

/// The values of the headers named `name` (case-insensitive).
fn header_values<'a>(headers: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .iter()
        .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A parsed request head.
struct ParsedHead {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

/// Parses a request head; `Err` is the status to answer.
fn parse_head(head: &[u8]) -> Result<ParsedHead, u16> {
    let first = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    let first = std::str::from_utf8(first).map_err(|_| 400u16)?;
    let mut parts = first.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) || !target.starts_with('/') {
        return Err(400);
    }
    if !version.starts_with("HTTP/1.") {
        return Err(505);
    }
    let headers = header_lines(head)
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect();
    Ok(ParsedHead {
        method: method.to_owned(),
        target: target.to_owned(),
        headers,
    })
}

/// Reads one plain HTTP request whose head is `head_len` bytes, calls the handler with the hub locked and
/// writes its response, all before `deadline` (the response and the close are bounded by the close timeout).
async fn serve_http<H: Hub>(
    shared: &Shared<H>,
    handler: &HttpHandler<H>,
    stream: &mut TcpStream,
    head_len: usize,
    deadline: tokio::time::Instant,
) {
    let config = &shared.config;
    let read = async {
        let mut head = vec![0u8; head_len];
        stream.read_exact(&mut head).await.map_err(|_| None)?;
        let parsed = parse_head(&head).map_err(Some)?;
        let header = |name: &'static str| header_values(&parsed.headers, name);
        if header("transfer-encoding").any(|v| !v.eq_ignore_ascii_case("identity")) {
            return Err(Some(411));
        }
        let len = {
            let mut lengths = header("content-length").map(|v| v.parse::<usize>());
            match lengths.next() {
                None => 0,
                Some(Ok(n)) if lengths.all(|l| l == Ok(n)) => n,
                Some(_) => return Err(Some(400)),
            }
        };
        if len > config.max_http_body {
            return Err(Some(413));
        }
        if len > 0 && header("expect").any(|v| v.eq_ignore_ascii_case("100-continue")) {
            stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .map_err(|_| None)?;
        }
        let mut body = vec![0u8; len];
        stream.read_exact(&mut body).await.map_err(|_| None)?;
        let (path, query) = parsed.target.split_once('?').unwrap_or((&parsed.target, ""));
        Ok(HttpRequest {
            path: path.to_owned(),
            query: query.to_owned(),
            method: parsed.method,
            headers: parsed.headers,
            body: Bytes::from(body),
        })
    };
    let resp = match tokio::time::timeout_at(deadline, read).await {
        Ok(Ok(req)) => shared.with_hub(|hub, _| handler(hub, req)),
        Ok(Err(Some(status))) => {
            let reason = StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("bad request");
            HttpResponse::text(status, format!("{}\n", reason.to_ascii_lowercase()))
        }
        Ok(Err(None)) => return, // the peer went away
        Err(_) => HttpResponse::text(408, "request timeout\n"),
    };
    finish_http(stream, &resp, config.close_timeout).await;
}

/// Writes `resp`, closes the write side and drains what the peer still sends (so that unread request bytes do
/// not turn the close into a reset that could destroy the response), bounded by `limit`.
async fn finish_http(stream: &mut TcpStream, resp: &HttpResponse, limit: Duration) {
    let _ = tokio::time::timeout(limit, async {
        stream.write_all(resp.head().as_bytes()).await?;
        stream.write_all(&resp.body).await?;
        stream.flush().await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<(), std::io::Error>(())
    })
    .await;
}
