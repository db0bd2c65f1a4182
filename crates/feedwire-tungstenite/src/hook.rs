//! Hooks: work beside the connection (authorization requests, say), and taps: what crossed the wire.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use feedwire_core::transcript::{ClosedBy, Recorder};
use feedwire_core::{Close, ConnectRequest, Session};

use crate::error::TransportError;

/// A change to apply to the session once a hook's work is done.
pub type Apply<S> = Box<dyn FnOnce(&mut S, Instant) + Send>;

/// A hook's work in progress: resolves to what to apply to the session.
pub type Job<S> = Pin<Box<dyn Future<Output = Apply<S>> + Send>>;

/// Sits between a session and the application in a driver ([`ClientDriver::with_hook`](crate::ClientDriver::with_hook),
/// `BlockingConnection::with_hook`): sees every event first, and may take it and start work that runs while
/// the driver keeps the connection going (frames, pings and timeouts flow meanwhile). When the work is done,
/// its result is applied to the session, in the driver.
///
/// This is how sessions reach the outside world without doing IO themselves: a Pusher session raises
/// `AuthRequired`, an authorizer hook takes it, asks the application's auth endpoint over HTTP, and answers
/// with `provide_auth` (the `feedwire` crate's `pusher::HttpAuthorizer` is one).
///
/// ```
/// use std::time::Instant;
/// use feedwire_core::testing::doc::EchoClient;
/// use feedwire_tungstenite::{Hook, Jobs};
///
/// /// Answers every "question" frame after asking something slow, and keeps other events.
/// struct Answer;
/// impl Hook<EchoClient> for Answer {
///     fn on_event(&mut self, _: &mut EchoClient, event: String, jobs: &mut Jobs<EchoClient>) -> Option<String> {
///         if event != "question" {
///             return Some(event);
///         }
///         jobs.spawn_blocking(|| {
///             let answer = String::from("42"); // an HTTP request, a database read, ...
///             move |_client: &mut EchoClient, _now: Instant| drop(answer) // e.g. client.provide_auth(..)
///         });
///         None // taken: the application never sees it
///     }
/// }
/// ```
pub trait Hook<S: Session>: Send {
    /// Called with each event before the application sees it: return it to pass it on, or `None` to take it.
    /// Start work with `jobs`; `session` takes immediate commands.
    fn on_event(&mut self, session: &mut S, event: S::Event, jobs: &mut Jobs<S>) -> Option<S::Event>;
}

/// Where a [`Hook`] starts its work.
pub struct Jobs<S> {
    blocking: bool,
    futures: Vec<Job<S>>,
}

impl<S: 'static> Jobs<S> {
    pub(crate) fn new(blocking: bool) -> Self {
        Jobs {
            blocking,
            futures: Vec::new(),
        }
    }

    /// Whether the driver is the blocking one (no async runtime: futures given to [`spawn`](Self::spawn) run
    /// on a thread of their own, so they must not need a runtime's reactor; prefer
    /// [`spawn_blocking`](Self::spawn_blocking) there).
    pub fn is_blocking_driver(&self) -> bool {
        self.blocking
    }

    /// Runs `work` beside the connection (in the async drivers, polled by the driver's own task, so it may use
    /// the runtime the driver runs on); when it resolves, its output is applied to the session.
    pub fn spawn<F, A>(&mut self, work: F)
    where
        F: Future<Output = A> + Send + 'static,
        A: FnOnce(&mut S, Instant) + Send + 'static,
    {
        self.futures.push(Box::pin(async move {
            let apply = work.await;
            Box::new(apply) as Apply<S>
        }));
    }

    /// Runs blocking `work` on a thread of its own; its output is applied to the session when it returns.
    pub fn spawn_blocking<F, A>(&mut self, work: F)
    where
        F: FnOnce() -> A + Send + 'static,
        A: FnOnce(&mut S, Instant) + Send + 'static,
    {
        let (tx, rx) = futures_channel::oneshot::channel::<Apply<S>>();
        let spawned = std::thread::Builder::new()
            .name("feedwire-hook".into())
            .spawn(move || {
                let apply = work();
                let _ = tx.send(Box::new(apply));
            });
        if spawned.is_err() {
            return; // no thread: the work is lost, as a failed request would be; the session's timeouts apply
        }
        self.futures.push(Box::pin(async move {
            match rx.await {
                Ok(apply) => apply,
                Err(_) => Box::new(|_: &mut S, _: Instant| {}) as Apply<S>, // the work panicked
            }
        }));
    }

    pub(crate) fn into_futures(self) -> Vec<Job<S>> {
        self.futures
    }
}

/// What a driver saw on the wire, for a tap ([`ClientDriver::with_tap`](crate::ClientDriver::with_tap)):
/// recordings ([`Tap::transcript_line`]), traffic logs, tests.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Tap<'a> {
    /// A dial started.
    Connect(&'a ConnectRequest),
    /// The connection opened with this subprotocol.
    Open(Option<&'a str>),
    /// A text frame arrived.
    Recv(&'a str),
    /// A text frame is being sent.
    Send(&'a str),
    /// The connection ended.
    Closed {
        /// Who ended it: the server's close frame, the session's close, or a transport failure.
        by: ClosedBy,
        /// The close frame, if there was one.
        close: Option<&'a Close>,
        /// Why the transport failed, for [`ClosedBy::Transport`].
        error: Option<&'a TransportError>,
    },
}

impl Tap<'_> {
    /// This happening as a transcript line (see `feedwire_core::transcript`), secrets redacted by the
    /// recorder.
    pub fn transcript_line(&self, recorder: &mut Recorder, now: Instant) -> String {
        match *self {
            Tap::Connect(req) => recorder.connect(now, &req.url),
            Tap::Open(sp) => recorder.open(now, sp),
            Tap::Recv(text) => recorder.recv(now, text),
            Tap::Send(text) => recorder.send(now, text),
            Tap::Closed { by, close, error } => {
                let error = error.map(ToString::to_string);
                recorder.close(now, by, close, error.as_deref())
            }
        }
    }
}

pub(crate) type TapFn = Box<dyn FnMut(Tap<'_>) + Send>;

/// Runs a future to completion on this thread (the blocking driver's hook threads): parks between polls.
#[cfg(feature = "blocking")]
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}
