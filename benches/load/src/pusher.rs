//! Pusher protocol 7 spoken directly over raw WebSockets: connect to `/app/{key}?protocol=7&client=load&version=1`,
//! wait for `pusher:connection_established`, `pusher:subscribe`, wait for
//! `pusher_internal:subscription_succeeded`; then read events, answer `pusher:ping`, and tally every stamped
//! event (sequence number and publish instant) a subscriber receives.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::now_us;

pub type Ws = WebSocketStream<TcpStream>;

/// The event name every published load event has.
pub const EVENT: &str = "load";

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(borrow, default)]
    channel: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Stamp {
    s: u64,
    t: u64,
}

/// The sequence number and publish instant of a load event's `data` (a JSON string, or an object if a server
/// ever decoded it).
fn stamp(data: &RawValue) -> Option<Stamp> {
    let raw = data.get();
    if raw.starts_with('"') {
        let inner: Cow<'_, str> = serde_json::from_str(raw).ok()?;
        serde_json::from_str(&inner).ok()
    } else {
        serde_json::from_str(raw).ok()
    }
}

/// A short description of a frame that ended a handshake (for the report).
fn describe(text: &str) -> String {
    text.chars().take(200).collect()
}

/// The client's WebSocket settings: small buffers (10,000 connections live in this process).
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(8 * 1024)
}

/// Opens one Pusher connection and waits for `pusher:connection_established`.
pub async fn connect(addr: SocketAddr, key: &str) -> Result<Ws, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let url = format!("ws://{addr}/app/{key}?protocol=7&client=load&version=1");
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(ws_config()))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let f: Frame<'_> = serde_json::from_str(t.as_str())
                    .map_err(|e| format!("bad frame {e}: {}", describe(&t)))?;
                match f.event.as_ref() {
                    "pusher:connection_established" => return Ok(ws),
                    "pusher:error" => return Err(format!("refused: {}", describe(&t))),
                    _ => {}
                }
            }
            Some(Ok(Message::Close(c))) => return Err(format!("closed before established: {c:?}")),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("read: {e}")),
            None => return Err("EOF before established".into()),
        }
    }
}

pub fn subscribe_frame(channel: &str) -> Message {
    Message::text(format!(
        "{{\"event\":\"pusher:subscribe\",\"data\":{{\"channel\":\"{channel}\"}}}}"
    ))
}

/// Subscribes to `channel` and waits for its `pusher_internal:subscription_succeeded`.
pub async fn subscribe(ws: &mut Ws, channel: &str) -> Result<(), String> {
    ws.send(subscribe_frame(channel))
        .await
        .map_err(|e| format!("send subscribe: {e}"))?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let f: Frame<'_> = serde_json::from_str(t.as_str())
                    .map_err(|e| format!("bad frame {e}: {}", describe(&t)))?;
                match f.event.as_ref() {
                    "pusher_internal:subscription_succeeded" if f.channel.as_deref() == Some(channel) => {
                        return Ok(());
                    }
                    "pusher:subscription_error" | "pusher:error" => {
                        return Err(format!("refused: {}", describe(&t)));
                    }
                    "pusher:ping" => {
                        let _ = ws.send(pong()).await;
                    }
                    _ => {}
                }
            }
            Some(Ok(Message::Close(c))) => return Err(format!("closed before subscribed: {c:?}")),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("read: {e}")),
            None => return Err("EOF before subscribed".into()),
        }
    }
}

/// 1000: the subscriber is done (the phase ended).
fn normal_close() -> tokio_tungstenite::tungstenite::protocol::CloseFrame {
    tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Normal,
        reason: "done".into(),
    }
}

fn pong() -> Message {
    Message::text("{\"event\":\"pusher:pong\",\"data\":{}}")
}

/// What all subscribers of one phase received, per sequence number; shared with the publisher, which waits on
/// it.
pub struct Tally {
    pub per_seq: Vec<AtomicU32>,
    pub total: AtomicU64,
    /// The latest receive instant (µs since the epoch).
    pub last_us: AtomicU64,
}

impl Tally {
    pub fn new(events: usize) -> Arc<Tally> {
        Arc::new(Tally {
            per_seq: (0..events).map(|_| AtomicU32::new(0)).collect(),
            total: AtomicU64::new(0),
            last_us: AtomicU64::new(0),
        })
    }

    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Acquire)
    }

    pub fn seq(&self, s: usize) -> u32 {
        self.per_seq[s].load(Ordering::Acquire)
    }
}

/// One subscriber's account at the end of a phase.
#[derive(Debug, Default)]
pub struct SubResult {
    /// Distinct stamped events received.
    pub received: u64,
    /// Events received twice.
    pub duplicates: u64,
    /// Events with a sequence number out of range or data that did not parse.
    pub malformed: u64,
    /// Receive minus publish instant of every event, in µs (only when asked for).
    pub latencies_us: Vec<u32>,
    /// How the server ended this connection before the phase ended (close code and reason, or error).
    pub closed_by_server: Option<String>,
    /// `pusher:ping`s answered.
    pub pings: u64,
    /// `pusher:error`s received.
    pub errors: Vec<String>,
}

/// Reads `ws` until `stop` turns true or the server ends the connection, tallying the stamped events.
pub async fn run_subscriber(
    mut ws: Ws,
    tally: Arc<Tally>,
    mut stop: watch::Receiver<bool>,
    record_latency: bool,
) -> SubResult {
    let n = tally.per_seq.len();
    let mut seen = vec![0u64; n.div_ceil(64)];
    let mut r = SubResult::default();
    if record_latency {
        r.latencies_us.reserve(n);
    }
    loop {
        if *stop.borrow() {
            let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(Some(normal_close()))).await;
            break;
        }
        tokio::select! {
            _ = stop.changed() => {}
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let at = now_us();
                    let Ok(f) = serde_json::from_str::<Frame<'_>>(t.as_str()) else {
                        r.malformed += 1;
                        continue;
                    };
                    match f.event.as_ref() {
                        EVENT => match f.data.and_then(stamp) {
                            Some(st) if (st.s as usize) < n => {
                                let (w, b) = (st.s as usize / 64, st.s % 64);
                                if seen[w] & (1 << b) != 0 {
                                    r.duplicates += 1;
                                    continue;
                                }
                                seen[w] |= 1 << b;
                                r.received += 1;
                                tally.per_seq[st.s as usize].fetch_add(1, Ordering::AcqRel);
                                tally.total.fetch_add(1, Ordering::AcqRel);
                                tally.last_us.fetch_max(at, Ordering::AcqRel);
                                if record_latency {
                                    r.latencies_us.push(at.saturating_sub(st.t).min(u32::MAX as u64) as u32);
                                }
                            }
                            _ => r.malformed += 1,
                        },
                        "pusher:ping" => {
                            r.pings += 1;
                            let _ = ws.send(pong()).await;
                        }
                        "pusher:error" if r.errors.len() < 3 => r.errors.push(describe(&t)),
                        _ => {}
                    }
                }
                Some(Ok(Message::Close(c))) => {
                    r.closed_by_server = Some(match c {
                        Some(c) => format!("{} {}", u16::from(c.code), c.reason),
                        None => "close without code".into(),
                    });
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    r.closed_by_server = Some(format!("error: {e}"));
                    break;
                }
                None => {
                    r.closed_by_server = Some("EOF".into());
                    break;
                }
            }
        }
    }
    r
}

/// The outcome of the burst-subscribe phase.
#[derive(Debug, Default)]
pub struct BurstResult {
    pub channels: usize,
    pub answered: u64,
    pub refused: u64,
    pub seconds: f64,
    pub closed_by_server: Option<String>,
    pub error: Option<String>,
    pub first_refusals: Vec<String>,
}

/// One connection sends `pusher:subscribe` for `channels` channels at once (as fast as it can write) while it
/// reads the answers; done when every one is answered, or nothing arrives for `stall`.
pub async fn burst_subscribe(addr: SocketAddr, key: &str, channels: usize, stall: Duration) -> BurstResult {
    let mut r = BurstResult {
        channels,
        ..Default::default()
    };
    let ws = match connect(addr, key).await {
        Ok(ws) => ws,
        Err(e) => {
            r.error = Some(e);
            return r;
        }
    };
    let (mut sink, mut stream) = ws.split();
    let start = now_us();
    let writer = tokio::spawn(async move {
        for i in 0..channels {
            if let Err(e) = sink.feed(subscribe_frame(&format!("burst-{i}"))).await {
                return (sink, Some(format!("send: {e}")));
            }
        }
        let e = sink.flush().await.err().map(|e| format!("flush: {e}"));
        (sink, e)
    });
    let mut last = start;
    loop {
        let next = tokio::time::timeout(stall, stream.next()).await;
        match next {
            Err(_) => {
                r.error = Some(format!("nothing for {} s", stall.as_secs()));
                break;
            }
            Ok(Some(Ok(Message::Text(t)))) => {
                let Ok(f) = serde_json::from_str::<Frame<'_>>(t.as_str()) else {
                    continue;
                };
                match f.event.as_ref() {
                    "pusher_internal:subscription_succeeded" => {
                        r.answered += 1;
                        last = now_us();
                    }
                    "pusher:subscription_error" | "pusher:error" => {
                        r.refused += 1;
                        last = now_us();
                        if r.first_refusals.len() < 3 {
                            r.first_refusals.push(describe(&t));
                        }
                    }
                    _ => {}
                }
                if (r.answered + r.refused) as usize >= channels {
                    break;
                }
            }
            Ok(Some(Ok(Message::Close(c)))) => {
                r.closed_by_server = Some(format!("{c:?}"));
                break;
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => {
                r.closed_by_server = Some(format!("error: {e}"));
                break;
            }
            Ok(None) => {
                r.closed_by_server = Some("EOF".into());
                break;
            }
        }
    }
    r.seconds = (last - start) as f64 / 1e6;
    let mut writer = writer;
    let joined = match tokio::time::timeout(Duration::from_secs(5), &mut writer).await {
        Ok(j) => j.ok(),
        Err(_) => {
            writer.abort();
            if r.error.is_none() {
                r.error = Some("the subscribes could not all be written".into());
            }
            None
        }
    };
    if let Some((sink, e)) = joined {
        if r.error.is_none() {
            r.error = e;
        }
        if let Ok(mut ws) = sink.reunite(stream) {
            let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(Some(normal_close()))).await;
        }
    }
    r
}
