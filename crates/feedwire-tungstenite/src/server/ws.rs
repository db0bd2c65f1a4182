//! WebSocket upgrades on hyper and the life of one connection: reading with flow control, writing with a stall
//! watchdog, closing with the right code.

use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use feedwire_core::{Close, CloseCode, ConnId, Frame, Hub, HubTransmit, OpenRequest};
use futures_util::{SinkExt, StreamExt};
use hyper::body::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::upgrade::OnUpgrade;
use hyper::{Method, Request, Response, StatusCode, Version};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tungstenite::handshake::derive_accept_key;
use tungstenite::protocol::Role;
use tungstenite::{Error as WsError, Message};

use super::flow::{ConnFlow, Queued};
use super::http::{ResponseBody, plain};
use super::{Shared, Slot, stopped};
use crate::config::BinaryPolicy;
use crate::wire;

/// Whether a request asks for a WebSocket (an `Upgrade` header with the `websocket` token); such a request is
/// then checked as a handshake and never reaches the HTTP handler.
pub(super) fn is_upgrade(headers: &HeaderMap) -> bool {
    has_token(headers, header::UPGRADE, "websocket")
}

/// Whether any of the headers named `name` lists `token` (comma-separated, case-insensitive).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Checks the opening handshake (RFC 6455 4.2.1), lets the hub choose a subprotocol, spawns the connection
/// task (it waits for hyper to hand the connection over) and answers 101; or answers 400 / 426 / 500.
pub(super) fn upgrade<H, B>(shared: &Arc<Shared<H>>, mut req: Request<B>) -> Response<ResponseBody>
where
    H: Hub + Send + 'static,
    H::Event: Send,
{
    let headers = req.headers();
    if req.method() != Method::GET || req.version() < Version::HTTP_11 {
        return plain(
            StatusCode::BAD_REQUEST,
            "a WebSocket handshake is a GET over HTTP/1.1\n",
            true,
        );
    }
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return plain(
            StatusCode::BAD_REQUEST,
            "a WebSocket handshake needs `Connection: upgrade`\n",
            true,
        );
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        let mut resp = plain(
            StatusCode::UPGRADE_REQUIRED,
            "unsupported WebSocket version (13 only)\n",
            true,
        );
        resp.headers_mut()
            .insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return resp;
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY).filter(|k| !k.is_empty()) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "a WebSocket handshake needs `Sec-WebSocket-Key`\n",
            true,
        );
    };
    let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) else {
        return plain(StatusCode::BAD_REQUEST, "bad `Sec-WebSocket-Key`\n", true);
    };
    if req.extensions().get::<OnUpgrade>().is_none() {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "this connection cannot be upgraded (serve it with hyper's upgrades enabled)\n",
            true,
        );
    }
    if shared.phase() >= super::Phase::Draining {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n", true);
    }

    let offered = wire::offered_subprotocols(headers);
    let chosen = if offered.is_empty() {
        None
    } else {
        shared.lock().hub.select_subprotocol(&offered)
    };
    let chosen_value = chosen.as_deref().and_then(|p| HeaderValue::from_str(p).ok());
    let path = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut open = OpenRequest::new(path).with_subprotocol(chosen_value.as_ref().and(chosen));
    for (k, v) in headers {
        open = open.with_header(k.as_str(), String::from_utf8_lossy(v.as_bytes()));
    }

    let on_upgrade = hyper::upgrade::on(&mut req);
    let live = shared.live.enter();
    let task_shared = shared.clone();
    tokio::spawn(async move {
        let _live = live; // dropped last: the task counts until its close handshake is over
        let shared = task_shared;
        let mut phase = shared.phase.subscribe();
        let upgraded = tokio::select! {
            r = tokio::time::timeout(shared.config.handshake_timeout, on_upgrade) => r,
            _ = stopped(&mut phase) => return,
        };
        if let Ok(Ok(upgraded)) = upgraded {
            run(&shared, upgraded, open).await;
        }
    });

    let mut resp = Response::new(ResponseBody::new(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    if let Some(p) = chosen_value {
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, p);
    }
    resp
}

/// When the connection last wrote a byte to its socket, shared between the socket wrapper and the writer's
/// stall watchdog.
struct Progress {
    base: Instant,
    /// Microseconds after `base`.
    last_write: AtomicU64,
}

impl Progress {
    fn new() -> Arc<Self> {
        Arc::new(Progress {
            base: wire::now(),
            last_write: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let micros =
            u64::try_from(wire::now().saturating_duration_since(self.base).as_micros()).unwrap_or(u64::MAX);
        self.last_write.store(micros, Ordering::Relaxed);
    }

    fn last_write(&self) -> Instant {
        self.base + Duration::from_micros(self.last_write.load(Ordering::Relaxed))
    }
}

/// How much one read from the socket takes at most (into a buffer on the stack).
const READ_CHUNK: usize = 16 << 10;

/// The upgraded socket, recording write progress and reading in chunks of up to [`READ_CHUNK`].
///
/// tungstenite allocates its read buffer for every connection, idle or not, and reads at most that much at a
/// time; the server keeps it small ([`DEFAULT_SERVER_READ_BUFFER_SIZE`](crate::DEFAULT_SERVER_READ_BUFFER_SIZE)) and
/// reads the socket here through a stack buffer instead, so that a large message still takes few system
/// calls. What one read brings beyond what tungstenite asked for waits in `rest`, which is allocated only
/// while it holds bytes: an idle connection holds no read buffer here.
struct ProgressIo<T> {
    inner: T,
    progress: Arc<Progress>,
    /// Bytes read from the socket that tungstenite has not taken yet, from `taken` on.
    rest: Vec<u8>,
    taken: usize,
}

impl<T> ProgressIo<T> {
    fn new(inner: T, progress: Arc<Progress>) -> Self {
        ProgressIo {
            inner,
            progress,
            rest: Vec::new(),
            taken: 0,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ProgressIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if let Some(rest) = this.rest.get(this.taken..).filter(|r| !r.is_empty()) {
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.taken += n;
            if this.taken == this.rest.len() {
                this.rest = Vec::new(); // free it: nothing waits
                this.taken = 0;
            }
            return Poll::Ready(Ok(()));
        }
        if buf.remaining() >= READ_CHUNK {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let mut chunk = [std::mem::MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut chunk = ReadBuf::uninit(&mut chunk);
        std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, &mut chunk))?;
        let got = chunk.filled();
        let n = got.len().min(buf.remaining());
        buf.put_slice(&got[..n]);
        if n < got.len() {
            this.rest = got[n..].to_vec();
            this.taken = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ProgressIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.progress.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.progress.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

type Ws = WebSocketStream<ProgressIo<TokioIo<hyper::upgrade::Upgraded>>>;

/// How a connection task ended.
enum End {
    /// The peer closed (report `Some`) or the transport failed (report `None`).
    Peer(Option<Close>),
    /// The server refuses what the peer sent (binary frame, oversize message, invalid UTF-8): send this close
    /// and report it. `ended`: the read side failed and can no longer be read through tungstenite.
    Refused { close: Close, ended: bool },
    /// The hub asked to close (already sent, already forgotten, never reported).
    Hub,
    /// The hub asked to close with 1006 (abnormal closure, never sent on the wire): the connection is dropped
    /// without a close frame (already forgotten, never reported).
    Dropped,
    /// No write progress for the stall timeout (already reported).
    Stalled,
    /// Server shutdown.
    Shutdown,
}

/// The close for a message over the size limit.
fn too_big_close() -> Close {
    Close::new(CloseCode::MESSAGE_TOO_BIG, "message too big")
}

/// The close for a text message that is not UTF-8.
fn invalid_utf8_close() -> Close {
    Close::new(CloseCode::INVALID_PAYLOAD, "invalid UTF-8 in a text message")
}

/// The close for a connection that stopped reading.
fn stalled_close(stall: Duration) -> Close {
    let reason = if stall.subsec_millis() == 0 && stall.as_secs() > 0 {
        format!("slow reader: no progress for {} s", stall.as_secs())
    } else {
        format!("slow reader: no progress for {} ms", stall.as_millis())
    };
    Close::new(CloseCode::POLICY_VIOLATION, reason)
}

/// The most payload bytes the writer feeds before it flushes (see the writer in `run`).
const WRITE_BATCH: usize = 16 * 1024;

/// Why a watched send failed.
enum SendError {
    Stalled,
    Failed,
}

/// Runs one sink operation (a feed or a flush); fails with `Stalled` once nothing was written for `stall`
/// while it is pending.
async fn watched<E>(
    op: impl std::future::Future<Output = Result<(), E>>,
    progress: &Progress,
    stall: Duration,
) -> Result<(), SendError> {
    let start = wire::now();
    let mut send = pin!(op);
    loop {
        let deadline = progress.last_write().max(start) + stall;
        tokio::select! {
            r = &mut send => return r.map_err(|_| SendError::Failed),
            _ = tokio::time::sleep_until(deadline.into()) => {
                if progress.last_write().max(start) + stall <= wire::now() {
                    return Err(SendError::Stalled);
                }
            }
        }
    }
}

/// The life of one upgraded connection.
async fn run<H>(shared: &Arc<Shared<H>>, upgraded: hyper::upgrade::Upgraded, open: OpenRequest)
where
    H: Hub + Send + 'static,
{
    let config = &shared.config;
    let meters = &shared.meters;
    let progress = Progress::new();
    let io = ProgressIo::new(TokioIo::new(upgraded), progress.clone());
    let ws: Ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config.websocket)).await;
    let mut phase = shared.phase.subscribe();

    let flow = ConnFlow::new(meters.clone());
    // however the task ends (also when the runtime drops it), its queue is emptied: the entries hold the flow
    let _closing = Closing(flow.clone());
    let conn = {
        // allocate, register and open under one lock
        let mut st = shared.lock();
        st.next_id += 1;
        let conn = ConnId(st.next_id);
        st.conns.insert(conn, Slot { flow: flow.clone() });
        st.hub.handle_open(wire::now(), conn, &open);
        shared.route(&mut st);
        conn
    };
    drop(open);
    meters.conns_open.fetch_add(1, Ordering::Relaxed);
    meters.conns_total.fetch_add(1, Ordering::Relaxed);
    shared.wake_timer();

    let (mut sink, mut stream) = ws.split();
    let binary = config.binary;
    let stall = config.stall_timeout;

    let end = {
        let writer = async {
            // Frames that wait together go out together: each is fed into tungstenite's write buffer
            // (`write_buffer_size`, see `ServerConfig::websocket`), then one flush writes them, so a burst costs
            // one `write` per batch instead of one per frame. A batch ends when the queue is empty or holds
            // `WRITE_BATCH` bytes; its entries stay counted until the flush wrote them.
            let mut batch: Vec<Queued> = Vec::new();
            while let Some(first) = flow.pop().await {
                let mut next = Some(first);
                let mut bytes = 0;
                let mut close = None;
                while let Some(queued) = next.take() {
                    match &queued.transmit {
                        HubTransmit::Send(frame) => {
                            bytes += frame.as_str().len();
                            let msg = wire::frame_to_message(frame.clone());
                            match watched(sink.feed(msg), &progress, stall).await {
                                Ok(()) => batch.push(queued),
                                Err(SendError::Stalled) => return End::Stalled,
                                Err(SendError::Failed) => return End::Peer(None),
                            }
                            if bytes < WRITE_BATCH {
                                next = flow.try_pop();
                            }
                        }
                        // after what was queued before it, as every close
                        HubTransmit::Close(c) if c.code == CloseCode::ABNORMAL => close = Some(None),
                        HubTransmit::Close(c) => close = Some(Some(wire::close_to_message(c))),
                    }
                }
                match watched(sink.flush(), &progress, stall).await {
                    Ok(()) => {}
                    Err(SendError::Stalled) => return End::Stalled,
                    Err(SendError::Failed) => return End::Peer(None),
                }
                meters.frames_out.fetch_add(batch.len() as u64, Ordering::Relaxed);
                meters.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
                // dropping the entries after the write takes their bytes off the counts
                batch.clear();
                match close {
                    None => {}
                    Some(None) => return End::Dropped,
                    Some(Some(msg)) => {
                        let _ = tokio::time::timeout(config.close_timeout, sink.send(msg)).await;
                        return End::Hub;
                    }
                }
            }
            End::Hub // the slot is gone: forgotten by the hub
        };
        let reader = async {
            loop {
                if !flow.readable() {
                    meters.read_pauses.fetch_add(1, Ordering::Relaxed);
                    flow.wait_readable().await;
                }
                match stream.next().await {
                    Some(Ok(Message::Text(text))) => {
                        let len = text.len() as u64;
                        match wire::text_to_frame(text) {
                            Some(frame) => {
                                meters.frames_in.fetch_add(1, Ordering::Relaxed);
                                meters.bytes_in.fetch_add(len, Ordering::Relaxed);
                                if !frame_to_hub(shared, conn, frame) {
                                    // the hub closed it: the writer sends that close and ends the task
                                    return std::future::pending().await;
                                }
                            }
                            None => {
                                return End::Refused {
                                    close: invalid_utf8_close(),
                                    ended: false,
                                };
                            }
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        if binary == BinaryPolicy::Close {
                            return End::Refused {
                                close: wire::binary_close(),
                                ended: false,
                            };
                        }
                    }
                    Some(Ok(Message::Close(frame))) => return End::Peer(Some(wire::close_from_ws(frame))),
                    Some(Ok(_)) => {} // pings are answered by tungstenite
                    Some(Err(WsError::Capacity(_))) => {
                        return End::Refused {
                            close: too_big_close(),
                            ended: true,
                        };
                    }
                    Some(Err(WsError::Utf8(_))) => {
                        return End::Refused {
                            close: invalid_utf8_close(),
                            ended: true,
                        };
                    }
                    Some(Err(_)) | None => return End::Peer(None),
                }
            }
        };
        tokio::select! {
            biased;
            _ = stopped(&mut phase) => End::Shutdown,
            end = writer => end,
            end = reader => end,
        }
    };
    // nothing more gets written: refuse new entries and uncount the queued ones now
    flow.close();

    // finish the close handshake, bounded
    let (report, linger) = match end {
        End::Peer(close) => (Some(close), false),
        End::Refused { close, ended } => {
            let _ =
                tokio::time::timeout(config.close_timeout, sink.send(wire::close_to_message(&close))).await;
            (Some(Some(close)), ended)
        }
        End::Stalled => {
            meters.slow_reader_closes.fetch_add(1, Ordering::Relaxed);
            forget(shared, conn, None);
            let close = stalled_close(stall);
            let _ =
                tokio::time::timeout(config.close_timeout, sink.send(wire::close_to_message(&close))).await;
            (None, false)
        }
        End::Shutdown => {
            let _ = tokio::time::timeout(
                config.close_timeout,
                sink.send(wire::close_to_message(&Close::going_away())),
            )
            .await;
            (Some(None), false)
        }
        End::Hub => (None, false),
        End::Dropped => {
            // no close frame, no close handshake: the transport just ends, as a crashed server's does
            meters.conns_open.fetch_sub(1, Ordering::Relaxed);
            if let Ok(mut ws) = stream.reunite(sink) {
                let _ = ws.get_mut().shutdown().await;
            }
            return;
        }
    };
    let _ = tokio::time::timeout(config.close_timeout, async {
        let _ = sink.flush().await;
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
    if linger && let Ok(mut ws) = stream.reunite(sink) {
        // the read side failed mid-message: what the peer still sends would turn our close into a reset that
        // can destroy the close frame before the peer reads it; end our side and discard until the peer ends
        let _ = tokio::time::timeout(config.close_timeout, async {
            let io = ws.get_mut();
            let _ = io.shutdown().await;
            // on the heap, not in the task: a buffer in this future would be part of every connection's task
            let mut discard = vec![0u8; 4096];
            while matches!(io.read(&mut discard).await, Ok(n) if n > 0) {}
        })
        .await;
    }
    meters.conns_open.fetch_sub(1, Ordering::Relaxed);
    if let Some(report) = report {
        forget(shared, conn, report);
    }
}

/// Closes a connection's queue when dropped.
struct Closing(Arc<ConnFlow>);

impl Drop for Closing {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Forgets `conn` and tells the hub it closed, unless the hub has already forgotten it.
fn forget<H: Hub>(shared: &Shared<H>, conn: ConnId, close: Option<Close>) {
    let mut st = shared.lock();
    if st.conns.remove(&conn).is_some() {
        st.hub.handle_close(wire::now(), conn, close);
        shared.route(&mut st);
        drop(st);
        shared.wake_timer();
    }
}

/// Gives a frame to the hub; false when the hub has already forgotten the connection.
fn frame_to_hub<H: Hub>(shared: &Shared<H>, conn: ConnId, frame: Frame) -> bool {
    let known = {
        let mut st = shared.lock();
        let known = st.conns.contains_key(&conn);
        if known {
            st.hub.handle_frame(wire::now(), conn, frame);
            shared.route(&mut st);
        }
        known
    };
    if known {
        shared.wake_timer();
    }
    known
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stall_reasons() {
        assert_eq!(
            stalled_close(Duration::from_secs(30)).reason.as_ref(),
            "slow reader: no progress for 30 s"
        );
        assert_eq!(
            stalled_close(Duration::from_millis(300)).reason.as_ref(),
            "slow reader: no progress for 300 ms"
        );
        assert_eq!(
            stalled_close(Duration::from_secs(30)).code,
            CloseCode::POLICY_VIOLATION
        );
    }

    /// Reads `data` through a [`ProgressIo`] `ask` bytes at a time, as tungstenite does with its small buffer.
    async fn read_through(data: &[u8], ask: usize) -> (Vec<u8>, usize) {
        let mut io = ProgressIo::new(data, Progress::new());
        let mut out = Vec::new();
        let mut most_kept = 0;
        loop {
            let mut buf = vec![0u8; ask];
            let n = io.read(&mut buf).await.unwrap();
            most_kept = most_kept.max(io.rest.capacity());
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        // nothing is held once everything was taken
        assert_eq!((io.rest.capacity(), io.taken), (0, 0));
        (out, most_kept)
    }

    #[tokio::test]
    async fn reads_keep_the_rest_only_while_it_lasts() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        for ask in [1, 14, 100, 512, READ_CHUNK - 1] {
            let (out, most_kept) = read_through(&data, ask).await;
            assert!(out == data, "ask {ask}");
            // one socket read takes a chunk; the caller's part is not kept
            assert!(
                most_kept > 0 && most_kept <= READ_CHUNK - ask,
                "ask {ask}: kept {most_kept}"
            );
        }
        // a caller that asks for a chunk or more reads the socket directly: nothing is kept
        let (out, most_kept) = read_through(&data, READ_CHUNK).await;
        assert!(out == data);
        assert_eq!(most_kept, 0);
    }

    #[tokio::test]
    async fn an_empty_buffer_reads_nothing() {
        let mut io = ProgressIo::new(&b"abc"[..], Progress::new());
        let mut buf = ReadBuf::new(&mut []);
        std::future::poll_fn(|cx| Pin::new(&mut io).poll_read(cx, &mut buf))
            .await
            .unwrap();
        assert_eq!(io.rest.capacity(), 0);
        let mut all = Vec::new();
        io.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"abc");
    }

    #[test]
    fn upgrade_tokens() {
        let mut h = HeaderMap::new();
        h.append(header::UPGRADE, HeaderValue::from_static("h2c, WebSocket"));
        h.append(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        h.append(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        assert!(is_upgrade(&h));
        assert!(has_token(&h, header::CONNECTION, "upgrade"));
        assert!(!has_token(&h, header::CONNECTION, "close"));
    }
}
