//! Flow control: outgoing bytes accounted per connection and in total, and the server's counters.
//!
//! Every frame the hub sends to a connection becomes a [`Queued`] entry in that connection's (unbounded)
//! queue, a `VecDeque` inside its [`ConnFlow`] that allocates only while frames wait (an idle connection's
//! queue holds no memory). Creating one adds its size to the connection's and to the global count; dropping it (after the frame
//! was written, or with a queue that is thrown away) takes the size off again. A frame broadcast to N
//! connections is N entries: N writes pending, N times its size, one shared buffer.
//!
//! Readers look at the counts before every read: a connection over its budget ("behind"), or any connection
//! while the total is over the global budget, waits until the writers have drained below it. The crossing back
//! below a budget is detected by the one subtraction that makes it (`fetch_sub` returns the value before), which
//! wakes the waiters with `notify_waiters`; waiters create their `Notified` before they look at the count, so
//! no wake-up is lost.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use feedwire_core::HubTransmit;
use tokio::sync::Notify;

/// The size a queued transmit counts: the frame's payload plus its WebSocket header (2, 4 or 10 bytes for a
/// server's unmasked frame); a close counts nothing.
pub(crate) fn wire_size(t: &HubTransmit) -> usize {
    match t {
        HubTransmit::Send(frame) => {
            let len = frame.as_str().len();
            len + match len {
                0..=125 => 2,
                126..=65535 => 4,
                _ => 10,
            }
        }
        HubTransmit::Close(_) => 0,
    }
}

/// The server-wide byte count, budgets and counters (shared with the connection tasks, the HTTP service and,
/// with feature `metrics`, the registry's collector).
#[derive(Debug)]
pub(crate) struct Meters {
    pub(crate) conn_budget: usize,
    pub(crate) global_budget: usize,
    /// Bytes queued on every connection together.
    queued: AtomicUsize,
    /// Woken when `queued` falls to the global budget or below.
    below: Notify,
    /// False once a graceful shutdown started (`/ready` answers 503).
    pub(crate) accepting: AtomicBool,
    pub(crate) conns_open: AtomicU64,
    pub(crate) conns_total: AtomicU64,
    pub(crate) frames_in: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) frames_out: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) slow_reader_closes: AtomicU64,
    pub(crate) read_pauses: AtomicU64,
    pub(crate) publish_waits: AtomicU64,
    pub(crate) publish_rejections: AtomicU64,
    /// HTTP responses by status class: 1xx (upgrades) to 5xx.
    pub(crate) http: [AtomicU64; 5],
}

impl Meters {
    pub(crate) fn new(conn_budget: usize, global_budget: usize) -> Self {
        Meters {
            conn_budget,
            global_budget,
            queued: AtomicUsize::new(0),
            below: Notify::new(),
            accepting: AtomicBool::new(true),
            conns_open: AtomicU64::new(0),
            conns_total: AtomicU64::new(0),
            frames_in: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            frames_out: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            slow_reader_closes: AtomicU64::new(0),
            read_pauses: AtomicU64::new(0),
            publish_waits: AtomicU64::new(0),
            publish_rejections: AtomicU64::new(0),
            http: Default::default(),
        }
    }

    /// Bytes queued on every connection together.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Whether the total is over the global budget.
    pub(crate) fn backlogged(&self) -> bool {
        self.queued() > self.global_budget
    }

    /// Waits until the total is within the global budget.
    pub(crate) async fn wait_below(&self) {
        loop {
            let notified = self.below.notified();
            if !self.backlogged() {
                return;
            }
            notified.await;
        }
    }

    /// Counts an HTTP response.
    pub(crate) fn count_http(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        if let Some(c) = self.http.get(class) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn add(&self, n: usize) {
        self.queued.fetch_add(n, Ordering::AcqRel);
    }

    fn sub(&self, n: usize) {
        let before = self.queued.fetch_sub(n, Ordering::AcqRel);
        if before > self.global_budget && before - n <= self.global_budget {
            self.below.notify_waiters();
        }
    }

    /// A snapshot of the counters.
    pub(crate) fn stats(&self) -> ServerStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ServerStats {
            connections_open: get(&self.conns_open),
            connections_total: get(&self.conns_total),
            frames_in: get(&self.frames_in),
            bytes_in: get(&self.bytes_in),
            frames_out: get(&self.frames_out),
            bytes_out: get(&self.bytes_out),
            slow_reader_closes: get(&self.slow_reader_closes),
            read_pauses: get(&self.read_pauses),
            publish_waits: get(&self.publish_waits),
            publish_rejections: get(&self.publish_rejections),
            queued_bytes: self.queued() as u64,
            http_responses: self.http.each_ref().map(get),
        }
    }
}

/// One connection's outgoing queue and byte count, shared by the router (which pushes) and the connection's
/// task (which pops and writes).
pub(crate) struct ConnFlow {
    queued: AtomicUsize,
    /// Woken when `queued` falls to the connection budget or below.
    drained: Notify,
    meters: Arc<Meters>,
    outbox: Mutex<Outbox>,
    /// Woken (with a stored permit) when an entry was pushed or the router let go.
    ready: Notify,
}

/// The entries waiting for the connection's writer.
#[derive(Default)]
struct Outbox {
    items: VecDeque<Queued>,
    /// The task is ending: pushes are refused.
    closed: bool,
    /// The router has forgotten the connection: nothing more will be pushed.
    released: bool,
}

/// An emptied queue keeps its buffer up to this many entries (a buffer that grew for a burst is freed).
const OUTBOX_KEEP: usize = 4;

impl std::fmt::Debug for ConnFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnFlow")
            .field("queued", &self.queued)
            .finish_non_exhaustive()
    }
}

impl ConnFlow {
    pub(crate) fn new(meters: Arc<Meters>) -> Arc<Self> {
        Arc::new(ConnFlow {
            queued: AtomicUsize::new(0),
            drained: Notify::new(),
            meters,
            outbox: Mutex::new(Outbox::default()),
            ready: Notify::new(),
        })
    }

    fn outbox(&self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a transmit for the writer (counted from now on); false when the task is ending (nothing is
    /// queued or counted then).
    pub(crate) fn push(self: &Arc<Self>, transmit: HubTransmit) -> bool {
        let mut outbox = self.outbox();
        if outbox.closed {
            return false;
        }
        outbox.items.push_back(Queued::new(transmit, self));
        drop(outbox);
        self.ready.notify_one();
        true
    }

    /// The router forgets the connection: once the queue is empty, [`pop`](Self::pop) gives `None`.
    pub(crate) fn release(&self) {
        self.outbox().released = true;
        self.ready.notify_one();
    }

    /// The next entry, waiting for one; `None` once the router let go and the queue is empty.
    pub(crate) async fn pop(&self) -> Option<Queued> {
        loop {
            let notified = self.ready.notified();
            {
                let mut outbox = self.outbox();
                if let Some(q) = outbox.items.pop_front() {
                    if outbox.items.is_empty() && outbox.items.capacity() > OUTBOX_KEEP {
                        outbox.items = VecDeque::new();
                    }
                    return Some(q);
                }
                if outbox.released || outbox.closed {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// The next entry if one waits now (never waits).
    pub(crate) fn try_pop(&self) -> Option<Queued> {
        let mut outbox = self.outbox();
        let q = outbox.items.pop_front()?;
        if outbox.items.is_empty() && outbox.items.capacity() > OUTBOX_KEEP {
            outbox.items = VecDeque::new();
        }
        Some(q)
    }

    /// The task is ending: refuses new entries and uncounts the queued ones.
    pub(crate) fn close(&self) {
        let items = {
            let mut outbox = self.outbox();
            outbox.closed = true;
            std::mem::take(&mut outbox.items)
        };
        drop(items); // outside the lock: each drop uncounts its entry
    }

    /// Whether the connection may read: it is not behind and the total is within the global budget.
    pub(crate) fn readable(&self) -> bool {
        self.queued.load(Ordering::Acquire) <= self.meters.conn_budget && !self.meters.backlogged()
    }

    /// Waits until [`readable`](Self::readable) holds.
    pub(crate) async fn wait_readable(&self) {
        loop {
            let drained = self.drained.notified();
            let below = self.meters.below.notified();
            if self.readable() {
                return;
            }
            tokio::select! {
                _ = drained => {}
                _ = below => {}
            }
        }
    }

    fn add(&self, n: usize) {
        self.queued.fetch_add(n, Ordering::AcqRel);
        self.meters.add(n);
    }

    fn sub(&self, n: usize) {
        let before = self.queued.fetch_sub(n, Ordering::AcqRel);
        if before > self.meters.conn_budget && before - n <= self.meters.conn_budget {
            self.drained.notify_waiters();
        }
        self.meters.sub(n);
    }
}

/// A transmit waiting in a connection's queue; its size is counted while it exists.
pub(crate) struct Queued {
    pub(crate) transmit: HubTransmit,
    size: usize,
    flow: Arc<ConnFlow>,
}

impl Queued {
    pub(crate) fn new(transmit: HubTransmit, flow: &Arc<ConnFlow>) -> Self {
        let size = wire_size(&transmit);
        flow.add(size);
        Queued {
            transmit,
            size,
            flow: flow.clone(),
        }
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.flow.sub(self.size);
    }
}

/// A snapshot of a server's counters ([`ServerHandle::stats`](crate::ServerHandle::stats)); with feature
/// `metrics` the same figures go to a `prometheus-client` registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ServerStats {
    /// WebSocket connections open now.
    pub connections_open: u64,
    /// WebSocket connections opened since the start.
    pub connections_total: u64,
    /// Text frames received (handed to the hub).
    pub frames_in: u64,
    /// Payload bytes of the text frames received.
    pub bytes_in: u64,
    /// Text frames written.
    pub frames_out: u64,
    /// Payload bytes of the text frames written.
    pub bytes_out: u64,
    /// Connections closed with 1008 because they made no write progress for
    /// [`ServerConfig::stall_timeout`](crate::ServerConfig::stall_timeout).
    pub slow_reader_closes: u64,
    /// Times a WebSocket connection stopped reading its socket because its own queue was over
    /// [`ServerConfig::conn_budget`](crate::ServerConfig::conn_budget) or the total over
    /// [`ServerConfig::global_budget`](crate::ServerConfig::global_budget).
    pub read_pauses: u64,
    /// HTTP requests that may publish (not GET, HEAD or OPTIONS) that waited for the global backlog to fall.
    pub publish_waits: u64,
    /// Of those, the ones answered 429 after [`ServerConfig::publish_wait`](crate::ServerConfig::publish_wait).
    pub publish_rejections: u64,
    /// Bytes queued for writing on every connection together now.
    pub queued_bytes: u64,
    /// HTTP responses by status class: `[1xx, 2xx, 3xx, 4xx, 5xx]` (WebSocket upgrades are 101s).
    pub http_responses: [u64; 5],
}

impl ServerStats {
    /// Every backpressure wait: [`read_pauses`](Self::read_pauses) plus [`publish_waits`](Self::publish_waits).
    pub fn backpressure_waits(&self) -> u64 {
        self.read_pauses + self.publish_waits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use feedwire_core::{Close, Frame};

    #[test]
    fn sizes_and_budgets() {
        let meters = Arc::new(Meters::new(100, 150));
        let a = ConnFlow::new(meters.clone());
        let b = ConnFlow::new(meters.clone());
        let frame = HubTransmit::Send(Frame::from("x".repeat(60)));
        assert_eq!(wire_size(&frame), 62);
        assert_eq!(wire_size(&HubTransmit::Close(Close::normal())), 0);
        assert_eq!(wire_size(&HubTransmit::Send(Frame::from("y".repeat(200)))), 204);
        let a1 = Queued::new(frame.clone(), &a);
        let b1 = Queued::new(frame.clone(), &b);
        assert_eq!(meters.queued(), 124);
        assert!(a.readable() && b.readable());
        let a2 = Queued::new(frame.clone(), &a);
        // a is behind (124 > 100) and the total (186) is over the global budget: nobody reads
        assert!(!a.readable() && !b.readable() && meters.backlogged());
        drop(b1);
        assert!(!a.readable() && b.readable());
        drop(a2);
        assert!(a.readable());
        drop(a1);
        assert_eq!(meters.queued(), 0);
        assert_eq!(meters.stats().queued_bytes, 0);
    }

    #[tokio::test]
    async fn the_outbox_allocates_only_while_frames_wait() {
        let meters = Arc::new(Meters::new(1 << 20, 1 << 20));
        let flow = ConnFlow::new(meters.clone());
        let frame = |i: usize| HubTransmit::Send(Frame::from(format!("frame {i}")));
        assert_eq!(flow.outbox().items.capacity(), 0);
        for i in 0..100 {
            assert!(flow.push(frame(i)));
        }
        assert_eq!(
            meters.queued(),
            (0..100).map(|i| wire_size(&frame(i))).sum::<usize>()
        );
        for i in 0..100 {
            let q = flow.pop().await.unwrap();
            assert!(matches!(&q.transmit, HubTransmit::Send(f) if f.as_str() == format!("frame {i}")));
        }
        // the buffer that grew for the burst is gone, and every entry uncounted
        assert_eq!(flow.outbox().items.capacity(), 0);
        assert_eq!(meters.queued(), 0);
        // a push wakes a waiting pop
        let waiter = tokio::spawn({
            let flow = flow.clone();
            async move { flow.pop().await.map(|q| wire_size(&q.transmit)) }
        });
        tokio::task::yield_now().await;
        assert!(flow.push(frame(7)));
        assert_eq!(waiter.await.unwrap(), Some(wire_size(&frame(7))));
        // released by the router: what is queued still comes out, then the end
        assert!(flow.push(frame(8)));
        flow.release();
        assert!(flow.pop().await.is_some());
        assert!(flow.pop().await.is_none());
    }

    #[tokio::test]
    async fn a_closed_outbox_refuses_and_uncounts() {
        let meters = Arc::new(Meters::new(1 << 20, 1 << 20));
        let flow = ConnFlow::new(meters.clone());
        assert!(flow.push(HubTransmit::Send(Frame::from("a"))));
        assert!(meters.queued() > 0);
        flow.close();
        assert_eq!(meters.queued(), 0);
        assert!(!flow.push(HubTransmit::Send(Frame::from("b"))));
        assert_eq!(meters.queued(), 0);
        assert!(flow.pop().await.is_none());
        // the entries held the flow: closing dropped them, so only this reference is left
        assert_eq!(Arc::strong_count(&flow), 1);
    }

    #[test]
    fn http_classes() {
        let m = Meters::new(1, 1);
        for s in [101, 200, 204, 404, 429, 503, 0, 999] {
            m.count_http(s);
        }
        assert_eq!(m.stats().http_responses, [2, 2, 0, 2, 2]);
    }
}
