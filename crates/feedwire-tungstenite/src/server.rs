//! The server loop: any [`Hub`] on a tokio `TcpListener`.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use feedwire_core::{Close, CloseCode, ConnId, Hub, HubTransmit, OpenRequest};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tungstenite::Message;
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::HeaderValue;

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

struct Shared<H> {
    state: Mutex<State<H>>,
    events: Notify,
    timer: Notify,
    shutdown: watch::Sender<bool>,
    config: ServerConfig,
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

async fn connection<H>(shared: Arc<Shared<H>>, stream: TcpStream)
where
    H: Hub + Send + 'static,
{
    let config = &shared.config;
    let _ = stream.set_nodelay(config.nodelay);
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
    let mut shutdown = shared.shutdown.subscribe();
    let ws = tokio::select! {
        r = tokio::time::timeout(config.handshake_timeout, handshake) => match r {
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
                            if !frame_to_hub(&shared, conn, frame) {
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
