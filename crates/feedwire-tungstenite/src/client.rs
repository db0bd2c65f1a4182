//! The async client driver, generic over the session and over the runtime.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use feedwire_core::transcript::ClosedBy;
use feedwire_core::{Close, ConnectRequest, Lifecycle, Transmit};
use futures_channel::{mpsc, oneshot};
use futures_core::Stream;
use futures_sink::Sink;
use futures_util::stream::FuturesUnordered;
use futures_util::{SinkExt, StreamExt};
use tungstenite::Message;
use tungstenite::handshake::client::{Request, Response};

use crate::config::{BinaryPolicy, ClientConfig};
use crate::error::TransportError;
use crate::hook::{Hook, Job, Jobs, Tap, TapFn};
use crate::wire;

/// How many rounds of work one `poll_next_event` call does before it yields to the executor.
const POLL_BUDGET: u32 = 128;

/// Transport errors kept for [`ClientDriver::next_update`] while nobody reads them.
pub(crate) const MAX_PENDING_ERRORS: usize = 64;

/// A dial in progress: resolves to the open WebSocket and the server's handshake response.
pub type DialFuture<T> = Pin<Box<dyn Future<Output = Result<(T, Response), tungstenite::Error>> + Send>>;

/// What the driver needs from an async runtime: a WebSocket transport, a way to dial one, and a timer.
///
/// The driver itself only polls futures, so another runtime is one small implementation of this trait
/// (the crate ships [`Tokio`](crate::Tokio) behind feature `tokio`).
pub trait Runtime: 'static {
    /// An open WebSocket: a sink of messages and a stream of received messages.
    type Transport: Sink<Message, Error = tungstenite::Error>
        + Stream<Item = Result<Message, tungstenite::Error>>
        + Unpin
        + Send
        + 'static;
    /// A timer future.
    type Sleep: Future<Output = ()> + Send + 'static;

    /// A timer that completes at `deadline`.
    fn sleep_until(deadline: Instant) -> Self::Sleep;

    /// Resolves, connects, negotiates TLS for `wss://` and performs the WebSocket handshake. The driver puts
    /// its own dial timeout around the returned future.
    fn connect(request: Request, config: &ClientConfig) -> DialFuture<Self::Transport>;
}

/// The driver is gone (dropped), so a [`Handle`] command could not be delivered or answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandleError {
    /// The connection driver was dropped.
    #[error("the connection driver is gone")]
    DriverGone,
}

type Command<S> = Box<dyn FnOnce(&mut S) + Send>;

enum Msg<S> {
    Run(Command<S>),
    /// A handle was dropped: the driver re-checks whether any handle is left.
    HandleDropped,
}

/// A cloneable way to act on the session from other tasks: each command is a closure the driver runs on the
/// session, in order, from inside [`ClientDriver::next_event`] (so commands run only while something awaits
/// events). Dropping every handle lets `next_event` return `None` once the session has stopped.
pub struct Handle<S> {
    tx: mpsc::UnboundedSender<Msg<S>>,
    alive: Option<Arc<()>>,
}

impl<S> Clone for Handle<S> {
    fn clone(&self) -> Self {
        Handle {
            tx: self.tx.clone(),
            alive: self.alive.clone(),
        }
    }
}

impl<S> Drop for Handle<S> {
    fn drop(&mut self) {
        drop(self.alive.take()); // count first, then wake the driver to re-count
        let _ = self.tx.unbounded_send(Msg::HandleDropped);
    }
}

impl<S> fmt::Debug for Handle<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

impl<S: Lifecycle + 'static> Handle<S> {
    /// Asks the session to end gracefully ([`Lifecycle::disconnect`]); the driver's event stream then ends.
    pub fn disconnect(&self) -> Result<(), HandleError> {
        self.call(|s| s.disconnect(wire::now()))
    }
}

impl<S> Handle<S> {
    /// Runs `f` on the session (in the driver's task) and returns at once.
    pub fn call(&self, f: impl FnOnce(&mut S) + Send + 'static) -> Result<(), HandleError> {
        self.tx
            .unbounded_send(Msg::Run(Box::new(f)))
            .map_err(|_| HandleError::DriverGone)
    }

    /// Runs `f` on the session and waits for its result (for example the `Result` of `subscribe`).
    pub fn request<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut S) -> T + Send + 'static,
    ) -> impl Future<Output = Result<T, HandleError>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let sent = self.call(move |s| {
            let _ = tx.send(f(s));
        });
        async move {
            sent?;
            rx.await.map_err(|_| HandleError::DriverGone)
        }
    }
}

/// What [`ClientDriver::next_update`] yields: a session event, or why the transport failed.
///
/// The session itself only learns `handle_close(now, None)` when a dial fails or a connection breaks (and says
/// so in its own events, with its reconnect plan); the update stream puts the cause right before them, so an
/// application (or the `feedwire` command) can say "connection refused" the moment it happens.
#[derive(Debug)]
#[non_exhaustive]
pub enum Update<E> {
    /// An event of the session.
    Event(E),
    /// A dial failed or an open connection broke; the session has been told and will decide what to do.
    Transport(TransportError),
}

/// Counters a driver keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DriverStats {
    /// Connections opened.
    pub opened: u64,
    /// Dials that failed or timed out (each reported as `handle_close(now, None)`).
    pub dial_failures: u64,
    /// Binary frames received.
    pub binary_frames: u64,
    /// Frames dropped because the session sent them while no connection was open.
    pub dropped_sends: u64,
}

enum Link<T: Send + 'static, Sl> {
    Idle,
    Dialing {
        dial: DialFuture<T>,
        timeout: Pin<Box<Sl>>,
        /// `host:port`, for errors
        addr: String,
    },
    Open(T),
}

struct Closing<T, Sl> {
    transport: T,
    flushed: bool,
    timeout: Pin<Box<Sl>>,
}

/// The async client driver: runs one [`Session`](feedwire_core::Session) (that follows the
/// [`Lifecycle`]) over real WebSockets.
///
/// With feature `tokio` (default) use the alias [`Connection`](crate::Connection). The driver dials when the
/// session asks ([`Transmit::Connect`]: URL, subprotocols as `Sec-WebSocket-Protocol`, extra headers), writes
/// its frames and closes, feeds it frames, closes and deadlines, and hands out its events. It decides nothing:
///
/// - a dial that fails (DNS, TCP, TLS, handshake, a subprotocol the server did not agree to) or takes longer
///   than [`ClientConfig::dial_timeout`] is reported as `handle_close(now, None)`, so the session's backoff
///   applies; the reason is kept in [`last_error`](Self::last_error) (and logged with feature `tracing`);
/// - a close frame from the server is reported as `handle_close(now, Some(close))` (no status: 1005); a reset or
///   read error as `handle_close(now, None)`;
/// - a close the session asked for is sent and never reported back;
/// - ping control frames are answered by tungstenite; pongs are ignored;
/// - binary frames follow [`ClientConfig::binary`] (default: close with 1003, reported as that close);
/// - frames sent while no connection is open are dropped and counted; if a server stops reading and more
///   than [`ClientConfig::max_outbox`] frames wait, the connection is dropped (`handle_close(now, None)`).
///
/// Everything happens inside [`next_event`](Self::next_event) (or the [`Stream`] implementation): keep awaiting
/// it. It is cancel-safe (`tokio::select!` on it loses nothing), and returns `None` only when the session has
/// nothing left to do (no connection, no deadline, nothing to send) and no [`Handle`] is alive.
pub struct ClientDriver<S, R: Runtime> {
    session: S,
    config: ClientConfig,
    link: Link<R::Transport, R::Sleep>,
    closing: Option<Closing<R::Transport, R::Sleep>>,
    outbox: VecDeque<Message>,
    timer: Option<(Instant, Pin<Box<R::Sleep>>)>,
    fired: Option<Instant>,
    rx: mpsc::UnboundedReceiver<Msg<S>>,
    tx: mpsc::UnboundedSender<Msg<S>>,
    alive: Arc<()>,
    stats: DriverStats,
    last_error: Option<TransportError>,
    /// transport errors not yet handed out by `next_update`
    errors: VecDeque<TransportError>,
    started: bool,
    hook: Option<Box<dyn Hook<S>>>,
    jobs: FuturesUnordered<Job<S>>,
    tap: Option<TapFn>,
}

impl<S, R: Runtime> fmt::Debug for ClientDriver<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let link = match self.link {
            Link::Idle => "idle",
            Link::Dialing { .. } => "dialing",
            Link::Open(_) => "open",
        };
        f.debug_struct("ClientDriver")
            .field("link", &link)
            .field("outbox", &self.outbox.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<S: Lifecycle + 'static, R: Runtime> ClientDriver<S, R> {
    /// A driver for `session` with the default [`ClientConfig`]. Nothing happens until
    /// [`next_event`](Self::next_event) is awaited; the first await calls the session's
    /// [`connect`](Lifecycle::connect) (a no-op if the application already did).
    pub fn new(session: S) -> Self {
        Self::with_config(session, ClientConfig::default())
    }

    /// A driver with `config`.
    pub fn with_config(session: S, config: ClientConfig) -> Self {
        let (tx, rx) = mpsc::unbounded();
        ClientDriver {
            session,
            config,
            link: Link::Idle,
            closing: None,
            outbox: VecDeque::new(),
            timer: None,
            fired: None,
            rx,
            tx,
            alive: Arc::new(()),
            stats: DriverStats::default(),
            last_error: None,
            errors: VecDeque::new(),
            started: false,
            hook: None,
            jobs: FuturesUnordered::new(),
            tap: None,
        }
    }

    /// Puts `hook` between the session and the application: it sees every event first and may take it and
    /// start work that runs concurrently with the connection (an authorization request, say), whose result it
    /// applies to the session when done. See [`Hook`].
    pub fn with_hook(mut self, hook: impl Hook<S> + 'static) -> Self {
        self.hook = Some(Box::new(hook));
        self
    }

    /// Calls `tap` with everything that crosses the wire (dials, opens, frames both ways, closes), for a
    /// recording; see [`Tap`].
    pub fn with_tap(mut self, tap: impl FnMut(Tap<'_>) + Send + 'static) -> Self {
        self.tap = Some(Box::new(tap));
        self
    }

    /// Ends the session gracefully ([`Lifecycle::disconnect`]): the protocol's goodbye and a close frame are
    /// sent by the next awaits of [`next_event`](Self::next_event), which then returns `None`.
    pub fn disconnect(&mut self) {
        self.started = true;
        self.session.disconnect(wire::now());
    }

    /// The session, for commands (`subscribe`, ...). Their transmits are carried out at the next
    /// [`next_event`](Self::next_event).
    pub fn session(&self) -> &S {
        &self.session
    }

    /// The session, mutably.
    pub fn session_mut(&mut self) -> &mut S {
        &mut self.session
    }

    /// Gives the session back (an open connection is dropped without a close frame).
    pub fn into_session(self) -> S {
        self.session
    }

    /// A handle for other tasks.
    pub fn handle(&self) -> Handle<S> {
        Handle {
            tx: self.tx.clone(),
            alive: Some(self.alive.clone()),
        }
    }

    /// Counters.
    pub fn stats(&self) -> DriverStats {
        self.stats
    }

    /// Whether a connection is open.
    pub fn is_open(&self) -> bool {
        matches!(self.link, Link::Open(_))
    }

    /// Why the transport last failed (the reason behind the last `handle_close(now, None)`).
    pub fn last_error(&self) -> Option<&TransportError> {
        self.last_error.as_ref()
    }

    /// The next event of the session, driving the connection meanwhile; `None` when the session is done
    /// (stopped, or idle with nothing scheduled and no [`Handle`] alive). Transport errors are left out: see
    /// [`next_update`](Self::next_update) for them.
    pub async fn next_event(&mut self) -> Option<S::Event> {
        std::future::poll_fn(|cx| self.poll_next_event(cx)).await
    }

    /// The next event of the session or transport error ([`Update`]), driving the connection meanwhile.
    pub async fn next_update(&mut self) -> Option<Update<S::Event>> {
        std::future::poll_fn(|cx| self.poll_next_update(cx)).await
    }

    /// Polls for the next event; the building block of [`next_event`](Self::next_event) and of the
    /// [`Stream`] implementation.
    pub fn poll_next_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<S::Event>> {
        let mut budget = POLL_BUDGET;
        loop {
            return match self.poll_next_update(cx) {
                Poll::Ready(Some(Update::Transport(_))) => {
                    // a session that redials at once into failure after failure must not hold the thread
                    budget -= 1;
                    if budget == 0 {
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    continue;
                }
                Poll::Ready(Some(Update::Event(e))) => Poll::Ready(Some(e)),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            };
        }
    }

    /// Polls for the next [`Update`].
    pub fn poll_next_update(&mut self, cx: &mut Context<'_>) -> Poll<Option<Update<S::Event>>> {
        if !self.started {
            self.started = true;
            self.session.connect(wire::now());
        }
        let mut budget = POLL_BUDGET;
        loop {
            // a session that redials at once after a dial that fails at once (no backoff) must not hold the
            // executor thread forever: after a bounded number of rounds, yield and come back
            budget -= 1;
            if budget == 0 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            while let Some(t) = self.session.poll_transmit() {
                self.apply(t);
            }
            if let Err(e) = self.poll_write(cx) {
                self.lost(TransportError::Write { source: Arc::new(e) });
                continue;
            }
            self.poll_closing(cx);
            if let Some(e) = self.errors.pop_front() {
                return Poll::Ready(Some(Update::Transport(e)));
            }
            while let Some(ev) = self.session.poll_event() {
                let passed = match &mut self.hook {
                    Some(hook) => {
                        let mut jobs = Jobs::new(false);
                        let passed = hook.on_event(&mut self.session, ev, &mut jobs);
                        self.jobs.extend(jobs.into_futures());
                        passed
                    }
                    None => Some(ev),
                };
                if let Some(ev) = passed {
                    return Poll::Ready(Some(Update::Event(ev)));
                }
            }

            let mut progressed = false;
            // work of the hook, running beside the connection
            while let Poll::Ready(Some(apply)) = self.jobs.poll_next_unpin(cx) {
                apply(&mut self.session, wire::now());
                progressed = true;
            }
            // commands from handles
            while let Poll::Ready(Some(msg)) = self.rx.poll_next_unpin(cx) {
                if let Msg::Run(f) = msg {
                    f(&mut self.session);
                    progressed = true;
                }
            }
            if progressed {
                continue;
            }
            progressed |= self.poll_link(cx);
            progressed |= self.poll_timer(cx);
            if progressed {
                continue;
            }
            let quiet = matches!(self.link, Link::Idle) && self.closing.is_none() && self.jobs.is_empty();
            if quiet
                && (self.session.is_stopped()
                    || (self.session.poll_timeout().is_none() && Arc::strong_count(&self.alive) == 1))
            {
                return Poll::Ready(None);
            }
            return Poll::Pending;
        }
    }

    fn apply(&mut self, t: Transmit) {
        match t {
            Transmit::Connect(req) => {
                // a previous connection, if any, is dropped without being reported
                self.link = Link::Idle;
                self.outbox.clear();
                self.tap(Tap::Connect(&req));
                self.dial(&req);
            }
            Transmit::Send(frame) => {
                if matches!(self.link, Link::Open(_)) {
                    if self.outbox.len() >= self.config.max_outbox {
                        self.lost(TransportError::OutboxFull);
                    } else {
                        self.tap(Tap::Send(frame.as_str()));
                        self.outbox.push_back(wire::frame_to_message(frame));
                    }
                } else {
                    self.stats.dropped_sends += 1;
                }
            }
            Transmit::Close(close) => self.close_link(&close),
        }
    }

    fn tap(&mut self, what: Tap<'_>) {
        if let Some(tap) = &mut self.tap {
            tap(what);
        }
    }

    fn dial(&mut self, req: &ConnectRequest) {
        let timeout = Box::pin(R::sleep_until(wire::now() + self.config.dial_timeout));
        let addr = wire::host_port(req);
        let dial: DialFuture<R::Transport> = match wire::build_request(req) {
            Ok(request) => R::connect(request, &self.config),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        };
        self.link = Link::Dialing { dial, timeout, addr };
    }

    /// Starts the close handshake on the open connection, if any, and forgets it.
    fn close_link(&mut self, close: &Close) {
        let link = std::mem::replace(&mut self.link, Link::Idle);
        if !matches!(link, Link::Idle) {
            self.tap(Tap::Closed {
                by: ClosedBy::Client,
                close: Some(close),
                error: None,
            });
        }
        if let Link::Open(mut transport) = link {
            let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
            // queue the close frame; it is flushed by poll_closing
            if let Poll::Ready(Ok(())) = Pin::new(&mut transport).poll_ready(&mut cx) {
                let _ = Pin::new(&mut transport).start_send(wire::close_to_message(close));
            }
            self.start_closing(transport);
        }
        self.outbox.clear();
    }

    fn start_closing(&mut self, transport: R::Transport) {
        self.closing = Some(Closing {
            transport,
            flushed: false,
            timeout: Box::pin(R::sleep_until(wire::now() + self.config.close_timeout)),
        });
    }

    /// The connection failed: drop it, keep the reason and tell the session (`handle_close(now, None)`).
    fn lost(&mut self, error: TransportError) {
        crate::log::debug(&error);
        self.tap(Tap::Closed {
            by: ClosedBy::Transport,
            close: None,
            error: Some(&error),
        });
        self.last_error = Some(error.clone());
        if self.errors.len() >= MAX_PENDING_ERRORS {
            self.errors.pop_front(); // nobody reads updates: keep the newest only
        }
        self.errors.push_back(error);
        self.link = Link::Idle;
        self.outbox.clear();
        self.session.handle_close(wire::now(), None);
    }

    fn poll_write(&mut self, cx: &mut Context<'_>) -> Result<(), tungstenite::Error> {
        let Link::Open(transport) = &mut self.link else {
            return Ok(());
        };
        while !self.outbox.is_empty() {
            match transport.poll_ready_unpin(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => return Ok(()),
            }
            if let Some(msg) = self.outbox.pop_front() {
                transport.start_send_unpin(msg)?;
            }
        }
        match transport.poll_flush_unpin(cx) {
            Poll::Ready(Err(e)) => Err(e),
            Poll::Ready(Ok(())) | Poll::Pending => Ok(()),
        }
    }

    fn poll_closing(&mut self, cx: &mut Context<'_>) {
        let Some(c) = &mut self.closing else { return };
        let done = if c.timeout.as_mut().poll(cx).is_ready() {
            true
        } else {
            if !c.flushed {
                match c.transport.poll_close_unpin(cx) {
                    Poll::Ready(Ok(())) => c.flushed = true,
                    Poll::Ready(Err(_)) => return self.closing = None,
                    Poll::Pending => {}
                }
            }
            // read (and discard) until the server ends the connection
            let mut done = false;
            if c.flushed {
                loop {
                    match c.transport.poll_next_unpin(cx) {
                        Poll::Ready(Some(Ok(_))) => continue,
                        Poll::Ready(_) => {
                            done = true;
                            break;
                        }
                        Poll::Pending => break,
                    }
                }
            }
            done
        };
        if done {
            self.closing = None;
        }
    }

    /// Polls the dial or the open connection; true when something was fed to the session.
    fn poll_link(&mut self, cx: &mut Context<'_>) -> bool {
        match &mut self.link {
            Link::Idle => false,
            Link::Dialing { dial, timeout, addr } => match dial.as_mut().poll(cx) {
                Poll::Ready(Ok((transport, response))) => {
                    self.link = Link::Open(transport);
                    self.stats.opened += 1;
                    let proto = wire::agreed_subprotocol(&response);
                    self.tap(Tap::Open(proto.as_deref()));
                    self.session.handle_open(wire::now(), proto.as_deref());
                    true
                }
                Poll::Ready(Err(e)) => {
                    self.stats.dial_failures += 1;
                    let error = TransportError::from_dial(addr, e);
                    self.lost(error);
                    true
                }
                Poll::Pending => {
                    if timeout.as_mut().poll(cx).is_ready() {
                        self.stats.dial_failures += 1;
                        self.lost(TransportError::DialTimeout(self.config.dial_timeout));
                        true
                    } else {
                        false
                    }
                }
            },
            Link::Open(transport) => match transport.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(msg))) => {
                    self.on_message(msg);
                    true
                }
                Poll::Ready(Some(Err(e))) => {
                    match wire::read_error_close(&e) {
                        // a frame over the size limit or invalid UTF-8: close with the code that says so
                        Some(close) => self.refuse(close),
                        None => self.lost(TransportError::Read { source: Arc::new(e) }),
                    }
                    true
                }
                Poll::Ready(None) => {
                    self.lost(TransportError::Eof);
                    true
                }
                Poll::Pending => false,
            },
        }
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
                // tungstenite has queued the reply; poll_closing flushes it
                if let Link::Open(transport) = std::mem::replace(&mut self.link, Link::Idle) {
                    self.start_closing(transport);
                }
                self.outbox.clear();
                let close = wire::close_from_ws(frame);
                self.tap(Tap::Closed {
                    by: ClosedBy::Server,
                    close: Some(&close),
                    error: None,
                });
                self.session.handle_close(wire::now(), Some(close));
            }
            // pings are answered by tungstenite; pongs and raw frames need nothing
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }

    /// Closes the connection with `close` and reports that close to the session.
    fn refuse(&mut self, close: Close) {
        self.close_link(&close);
        self.session.handle_close(wire::now(), Some(close));
    }

    /// Keeps the timer on the session's next deadline; true when `handle_timeout` was called.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.session.poll_timeout() else {
            self.timer = None;
            return false;
        };
        if self.fired == Some(deadline) {
            // already handled this very deadline; a session that keeps it is not re-fired in a loop
            self.timer = None;
            return false;
        }
        let timer = match &mut self.timer {
            Some((at, t)) if *at == deadline => t,
            slot => &mut slot.insert((deadline, Box::pin(R::sleep_until(deadline)))).1,
        };
        if timer.as_mut().poll(cx).is_ready() {
            self.timer = None;
            self.fired = Some(deadline);
            self.session.handle_timeout(wire::now());
            true
        } else {
            false
        }
    }
}

impl<S: Lifecycle + Unpin + 'static, R: Runtime> Stream for ClientDriver<S, R> {
    type Item = S::Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Event>> {
        self.get_mut().poll_next_event(cx)
    }
}
