//! The server loop: any [`Hub`] behind hyper's HTTP/1.1 on a tokio `TcpListener` (or mounted in a hyper
//! service of the host's).

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use feedwire_core::{ConnId, Hub, HubTransmit};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::config::ServerConfig;
use crate::wire;

mod flow;
mod http;
mod listen;
#[cfg(feature = "metrics")]
mod metrics;
mod ws;

pub use flow::ServerStats;
pub use http::{HttpRequest, HttpResponse, ResponseBody};

use flow::{ConnFlow, Meters};

/// One open connection as the router sees it: its queue and its byte count. Dropping it (the hub forgot the
/// connection, or the server is gone) lets the connection's writer end once the queue is empty.
struct Slot {
    flow: Arc<ConnFlow>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.flow.release();
    }
}

struct State<H> {
    hub: H,
    conns: HashMap<ConnId, Slot>,
    next_id: u64,
}

impl<H: Hub> State<H> {
    /// Drains the hub's transmits into the per-connection queues. Queues are unbounded in frames and counted
    /// in bytes (see `flow`); nothing here ever closes a connection for being behind.
    fn route(&mut self) {
        while let Some((conn, t)) = self.hub.poll_transmit() {
            let Some(slot) = self.conns.get(&conn) else {
                continue; // a connection that is already gone
            };
            let is_close = matches!(t, HubTransmit::Close(_));
            // a task that is ending refuses the entry (it is never counted)
            let _ = slot.flow.push(t);
            if is_close {
                // the hub has forgotten the connection: its task sends the close and never reports back
                self.conns.remove(&conn);
            }
        }
    }
}

/// The host's handler of plain HTTP requests (see [`Server::new_with_http`]).
type HttpHandler<H> = Box<dyn Fn(&mut H, HttpRequest) -> HttpResponse + Send + Sync>;

/// Where the server is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Running,
    /// Graceful shutdown: no new connections, `/ready` answers 503, the hub said goodbye.
    Draining,
    /// Every task ends: connections still open are closed with 1001.
    Stopped,
}

/// Counts the WebSocket connection tasks (from the 101 to the end of the close handshake), or the accept
/// loop's HTTP connection tasks.
#[derive(Default)]
struct Live {
    n: AtomicUsize,
    idle: Notify,
}

/// Held by a WebSocket connection task; dropping it uncounts the task.
struct LiveGuard(Arc<Live>);

impl Live {
    fn enter(self: &Arc<Self>) -> LiveGuard {
        self.n.fetch_add(1, Ordering::AcqRel);
        LiveGuard(self.clone())
    }

    /// Waits until no task is left.
    async fn wait_all(&self) {
        loop {
            let idle = self.idle.notified();
            if self.n.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Waits until no connection task is left; false when `until` came first.
    async fn wait_idle(&self, until: tokio::time::Instant) -> bool {
        loop {
            let idle = self.idle.notified();
            if self.n.load(Ordering::Acquire) == 0 {
                return true;
            }
            tokio::select! {
                _ = idle => {}
                _ = tokio::time::sleep_until(until) => return self.n.load(Ordering::Acquire) == 0,
            }
        }
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        if self.0.n.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

struct Shared<H> {
    state: Mutex<State<H>>,
    events: Notify,
    timer: Notify,
    phase: watch::Sender<Phase>,
    config: ServerConfig,
    http: Option<HttpHandler<H>>,
    meters: Arc<Meters>,
    live: Arc<Live>,
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
            self.route(&mut st);
            out
        };
        self.wake_timer();
        out
    }

    /// Routes the hub's transmits to the connections' writers, after waking the event reader. The order
    /// matters on a single-threaded runtime: tasks run in the order they were woken, so a host that forwards
    /// an event at once (a cluster message to the other nodes) gets to run before the writers of a fan-out to
    /// thousands of connections, not after all of them.
    fn route(&self, st: &mut State<H>) {
        self.events.notify_one();
        st.route();
    }

    /// Wakes the timer task (the hub's deadline may have changed).
    fn wake_timer(&self) {
        self.timer.notify_one();
    }

    fn phase(&self) -> Phase {
        *self.phase.borrow()
    }
}

/// Completes once the server reached `phase` (without holding the watch guard across an await).
async fn reached(rx: &mut watch::Receiver<Phase>, phase: Phase) {
    let _ = rx.wait_for(|p| *p >= phase).await;
}

/// Completes once every task was told to end.
async fn stopped(rx: &mut watch::Receiver<Phase>) {
    reached(rx, Phase::Stopped).await
}

/// Calls hub methods from any task or thread: [`ServerHandle::call`] runs a closure on the hub (serialised with
/// everything else the server does to it) and then queues whatever the hub wants sent. It also serves HTTP
/// requests that a hyper (or axum) application of the host's routes to the hub
/// ([`serve_http`](Self::serve_http)).
///
/// The hub lives behind a `std::sync::Mutex` rather than on a task of its own: a lock held for one short hub
/// call keeps every path (frames, closes, deadlines, host calls, the HTTP handler) in one order without an
/// extra hop. The closure runs on the caller's thread, so `call` is a plain function that returns the
/// closure's result.
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
    /// Runs `f` on the hub (for example `|hub| hub.publish(..)`) and queues its transmits. The hub lives behind
    /// a mutex held only for the call: keep `f` short, never block inside it, and never call this handle (or
    /// [`Server::call`]) from inside `f` (the mutex is not re-entrant).
    ///
    /// A publish from another task should first await [`ready_to_publish`](Self::ready_to_publish): `call`
    /// itself never waits, so a host that publishes faster than the clients read would otherwise grow the
    /// queues without bound.
    pub fn call<T>(&self, f: impl FnOnce(&mut H) -> T) -> T {
        self.shared.with_hub(|hub, _| f(hub))
    }

    /// Open connections (as the hub knows them).
    pub fn connections(&self) -> usize {
        self.shared.lock().conns.len()
    }

    /// Completes once the bytes queued on all connections together are within
    /// [`ServerConfig::global_budget`] (at once when they are). Await it before [`call`](Self::call)ing a
    /// publish from another task; it is the same wait the HTTP route applies to requests that may publish.
    ///
    /// The wait ends when the writers drain, which they do as fast as clients read; a client that stops
    /// reading is closed after [`ServerConfig::stall_timeout`] and its bytes are dropped, so the wait is
    /// bounded by that timeout plus the time healthy clients need to read what is queued for them. Wrap it in
    /// `tokio::time::timeout` to bound it yourself.
    pub async fn ready_to_publish(&self) {
        self.shared.meters.wait_below().await
    }

    /// Whether the bytes queued on all connections together are over [`ServerConfig::global_budget`] (then
    /// [`ready_to_publish`](Self::ready_to_publish) would wait).
    pub fn is_backlogged(&self) -> bool {
        self.shared.meters.backlogged()
    }

    /// The server's counters: connections, frames and bytes in and out, slow-reader closes, backpressure
    /// waits, 429s, queued bytes, HTTP responses by status class.
    pub fn stats(&self) -> ServerStats {
        self.shared.meters.stats()
    }

    /// Registers the server's counters and gauges (the figures of [`stats`](Self::stats)) into `registry`, as
    /// `feedwire_server_*` metrics read at each scrape. The server does this itself with the registry of
    /// [`ServerConfig::with_metrics`]; call it to add them to a registry you serve elsewhere. Register one
    /// server per (sub-)registry: two would repeat the same metric names (use
    /// `Registry::sub_registry_with_label` to tell servers apart).
    #[cfg(feature = "metrics")]
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        metrics::register(&self.shared.meters, registry);
    }
}

/// A running server: accepts connections and serves hyper's HTTP/1.1 on them; WebSocket upgrades run through
/// one [`Hub`], plain requests go to an optional handler of the host's.
///
/// - each WebSocket connection gets a fresh [`ConnId`] (1, 2, ...) and the hub a `handle_open` with its path,
///   query, headers and the subprotocol [`Hub::select_subprotocol`] chose during the handshake (a client that
///   offered subprotocols and got none agreed is refused by tungstenite clients);
/// - text frames go to `handle_frame`; a close frame to `handle_close(Some(..))`; a reset or read error to
///   `handle_close(None)`; binary frames follow [`ServerConfig::binary`]; a message over the size limit is
///   answered with a 1009 close and invalid UTF-8 with a 1007 close (the hub gets `handle_close(Some(..))`
///   with that code, as for a refused binary frame);
/// - the hub's transmits go to per-connection queues with flow control instead of disconnection (see
///   [`ServerConfig`]: a connection that is behind stops being read, one that stopped reading is closed with
///   1008 after [`ServerConfig::stall_timeout`]);
/// - the hub's deadlines are driven by a timer task; its events come out of [`Server::next_event`] (they
///   stay in the hub's own bounded queue until then).
///
/// Plain HTTP requests on the same port: `GET /health`, `GET /ready` and (feature `metrics`) `GET /metrics`
/// are answered by the server itself (see [`ServerConfig::builtin_routes`]); any other request goes to the
/// host's handler ([`new_with_http`](Self::new_with_http)), for example a hub's REST API, such as the Pusher
/// HTTP API that the official server SDKs trigger through, and is answered 426 without one.
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

/// Puts a server together: a hub, a [`ServerConfig`], an optional HTTP handler, and where it listens
/// ([`bind`](Self::bind), [`listener`](Self::listener)) or that it listens nowhere
/// ([`detached`](Self::detached)). Start with [`Server::builder`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use feedwire_core::testing::doc::EchoHub;
/// use feedwire_tungstenite::{HttpResponse, Server, ServerConfig};
///
/// let server = Server::builder(EchoHub::default())
///     .config(ServerConfig::default().with_backlog(512))
///     .http(|_hub, req| HttpResponse::text(200, format!("{} {}\n", req.method, req.path)))
///     .bind("127.0.0.1:0")
///     .await?;
/// server.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub struct ServerBuilder<H> {
    hub: H,
    config: ServerConfig,
    http: Option<HttpHandler<H>>,
}

impl<H> fmt::Debug for ServerBuilder<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .field("http", &self.http.is_some())
            .finish_non_exhaustive()
    }
}

impl<H> ServerBuilder<H>
where
    H: Hub + Send + 'static,
    H::Event: Send,
{
    /// Sets the configuration (default: [`ServerConfig::default`]).
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets the handler of plain HTTP requests; see [`Server::new_with_http`].
    pub fn http(
        mut self,
        http: impl Fn(&mut H, HttpRequest) -> HttpResponse + Send + Sync + 'static,
    ) -> Self {
        self.http = Some(Box::new(http));
        self
    }

    /// Binds `addr` with a listen backlog of [`ServerConfig::backlog`] (and `SO_REUSEADDR` on Unix, as
    /// tokio's `TcpListener::bind` sets it) and starts serving.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> std::io::Result<Server<H>> {
        let listener = listen::bind(addr, self.config.backlog).await?;
        self.listener(listener)
    }

    /// Starts serving on `listener` (its backlog is whatever it was created with).
    pub fn listener(self, listener: TcpListener) -> std::io::Result<Server<H>> {
        let local_addr = listener.local_addr()?;
        let mut server = Server::start(self, local_addr);
        server
            .tasks
            .push(tokio::spawn(listen::accept_loop(server.shared.clone(), listener)));
        Ok(server)
    }

    /// Starts a server that listens nowhere: it runs the hub's timer and events, and serves whatever HTTP
    /// requests (WebSocket upgrades included) the host's own hyper or axum application hands to
    /// [`ServerHandle::serve_http`]. Its [`local_addr`](Server::local_addr) is the unspecified `0.0.0.0:0`.
    pub fn detached(self) -> Server<H> {
        Server::start(self, SocketAddr::from(([0, 0, 0, 0], 0)))
    }
}

impl<H> Server<H>
where
    H: Hub + Send + 'static,
    H::Event: Send,
{
    /// A [`ServerBuilder`] for `hub`: the way to combine a configuration, an HTTP handler and a bind address,
    /// or to start a detached server for mounting in an application of your own.
    pub fn builder(hub: H) -> ServerBuilder<H> {
        ServerBuilder {
            hub,
            config: ServerConfig::default(),
            http: None,
        }
    }

    /// Binds `addr` (with [`ServerConfig::backlog`]) and starts serving with the default [`ServerConfig`].
    pub async fn bind(addr: impl ToSocketAddrs, hub: H) -> std::io::Result<Self> {
        Self::builder(hub).bind(addr).await
    }

    /// Starts serving on `listener`.
    pub fn new(listener: TcpListener, hub: H, config: ServerConfig) -> std::io::Result<Self> {
        Self::builder(hub).config(config).listener(listener)
    }

    /// Binds `addr` and starts serving with the default [`ServerConfig`] and an HTTP handler; see
    /// [`new_with_http`](Self::new_with_http).
    pub async fn bind_with_http(
        addr: impl ToSocketAddrs,
        hub: H,
        http: impl Fn(&mut H, HttpRequest) -> HttpResponse + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        Self::builder(hub).http(http).bind(addr).await
    }

    /// Starts serving on `listener`, with plain HTTP requests on the same port answered by `http`.
    ///
    /// Every connection speaks HTTP/1.1 through hyper, with keep-alive: a WebSocket upgrade (`Upgrade:
    /// websocket`) goes to the hub, a built-in route (see [`ServerConfig::builtin_routes`]) is answered by the
    /// server, and any other request is read whole (a `Content-Length` or chunked body of at most
    /// [`ServerConfig::max_http_body`] bytes, within [`ServerConfig::handshake_timeout`]) and handed to
    /// `http` with the hub locked (like [`ServerHandle::call`]: whatever the hub sends meanwhile, a publish
    /// for example, is queued to its connections afterwards). Its [`HttpResponse`] is sent with
    /// `Content-Type` and `Content-Length` (no body for HEAD).
    ///
    /// - a head over [`ServerConfig::max_http_head`] is answered 431, a body over the limit 413, a body that
    ///   does not arrive in time 408, a malformed request 400 (by hyper), without calling `http`; a head that
    ///   does not arrive within the handshake timeout ends the connection;
    /// - a request that may publish (any method but GET, HEAD and OPTIONS) waits while the server is over
    ///   [`ServerConfig::global_budget`], for at most [`ServerConfig::publish_wait`], and is then answered
    ///   429 with `Retry-After: 1` without calling `http`.
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
    /// s.write_all(b"GET /stats?full=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await?;
    /// let mut answer = String::new();
    /// s.read_to_string(&mut answer).await?;
    /// assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"));
    /// assert!(answer.contains("content-type: application/json\r\n"));
    /// assert!(answer.ends_with(r#"{"path":"/stats","query":"full=1"}"#));
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
        Self::builder(hub).config(config).http(http).listener(listener)
    }

    fn start(b: ServerBuilder<H>, local_addr: SocketAddr) -> Self {
        let (phase, _) = watch::channel(Phase::Running);
        let meters = Arc::new(Meters::new(b.config.conn_budget, b.config.global_budget));
        #[cfg(feature = "metrics")]
        if let Some(registry) = &b.config.metrics {
            metrics::register(
                &meters,
                &mut registry.lock().unwrap_or_else(PoisonError::into_inner),
            );
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                hub: b.hub,
                conns: HashMap::new(),
                next_id: 0,
            }),
            events: Notify::new(),
            timer: Notify::new(),
            phase,
            config: b.config,
            http: b.http,
            meters,
            live: Arc::default(),
        });
        let tasks = vec![tokio::spawn(timer_loop(shared.clone()))];
        Server {
            shared,
            local_addr,
            tasks,
        }
    }

    /// The address the server listens on (`0.0.0.0:0` for a [`detached`](ServerBuilder::detached) one).
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

    /// The hub's next event; `None` once the server has stopped and no event is left.
    pub async fn next_event(&self) -> Option<H::Event> {
        let mut phase = self.shared.phase.subscribe();
        loop {
            let notified = self.shared.events.notified();
            if let Some(ev) = self.shared.lock().hub.poll_event() {
                return Some(ev);
            }
            if *phase.borrow_and_update() == Phase::Stopped {
                return None;
            }
            tokio::select! {
                _ = notified => {}
                _ = stopped(&mut phase) => {}
            }
        }
    }

    /// Stops at once: stops accepting, closes every WebSocket connection with 1001 (going away; the hub gets
    /// `handle_close(None)` for each, and no [`Hub::handle_shutdown`]), ends the HTTP connections (a request
    /// in progress gets [`ServerConfig::close_timeout`] to finish), waits for the connection tasks (each
    /// bounded by the close timeout) and gives the hub back: `None` when a [`ServerHandle`] is still alive
    /// (the hub then stays reachable through it). See [`shutdown_gracefully`](Self::shutdown_gracefully) for
    /// a planned restart.
    pub async fn shutdown(mut self) -> Option<H> {
        self.stop().await;
        self.into_hub()
    }

    /// A graceful shutdown, for a planned restart:
    ///
    /// 1. stops accepting connections; `GET /ready` answers 503 (on connections already open, and in a host's
    ///    own application that mounts the hub);
    /// 2. calls [`Hub::handle_shutdown`], whose goodbye frames and closes are queued like any others;
    /// 3. waits until every WebSocket connection has closed (the close handshakes the hub started finish
    ///    here) or `deadline` has passed;
    /// 4. then does what [`shutdown`](Self::shutdown) does: the connections still open are closed with 1001.
    pub async fn shutdown_gracefully(mut self, deadline: Duration) -> Option<H> {
        self.stop_gracefully(deadline).await;
        self.into_hub()
    }

    fn into_hub(self) -> Option<H> {
        let shared = self.shared.clone();
        drop(self);
        Arc::try_unwrap(shared)
            .ok()
            .map(|s| s.state.into_inner().unwrap_or_else(PoisonError::into_inner).hub)
    }

    /// Like [`shutdown`](Self::shutdown), keeping the hub inside (reachable through [`call`](Self::call) and
    /// [`next_event`](Self::next_event)).
    pub async fn stop(&mut self) {
        let shared = &self.shared;
        shared.meters.accepting.store(false, Ordering::Release);
        shared.phase.send_replace(Phase::Stopped);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        // each connection task sends its 1001 and finishes its close handshake within the close timeout (and
        // lingers at most as long); the bound only guards against a task that does not
        let bound = shared.config.close_timeout * 3 + Duration::from_secs(1);
        let _ = shared
            .live
            .wait_idle(tokio::time::Instant::from_std(wire::now() + bound))
            .await;
        shared.events.notify_one();
    }

    /// Like [`shutdown_gracefully`](Self::shutdown_gracefully), keeping the hub inside.
    pub async fn stop_gracefully(&mut self, deadline: Duration) {
        let until = tokio::time::Instant::from_std(wire::now() + deadline);
        let shared = &self.shared;
        if shared.phase() == Phase::Running {
            shared.meters.accepting.store(false, Ordering::Release);
            shared.phase.send_replace(Phase::Draining);
            shared.with_hub(|hub, now| hub.handle_shutdown(now));
            let _ = shared.live.wait_idle(until).await;
        }
        self.stop().await;
    }
}

impl<H: Hub> Drop for Server<H> {
    fn drop(&mut self) {
        self.shared.phase.send_replace(Phase::Stopped);
    }
}

async fn timer_loop<H: Hub>(shared: Arc<Shared<H>>) {
    let mut phase = shared.phase.subscribe();
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
            _ = stopped(&mut phase) => break,
        }
    }
}
