//! Fuzzing entry points (feature `fuzzing`): the cargo-fuzz targets in `fuzz/fuzz_targets/doshii_*.rs` and the
//! chaos tests call these. Each panics when an invariant breaks; nothing else may panic.
//!
//! Unstable: this module exists for cargo-fuzz and the chaos tests only, is hidden from the docs, and is not
//! covered by semver. The invariants of the session and the hub are read through their own
//! `check_invariants` (fuzzing feature only).
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use feedwire_core::{
    BackoffConfig, Bytes, Close, ConnId, Frame, Hub as _, HubTransmit, Limits, OpenRequest, RawJson,
};
use feedwire_core::{Session, Transmit, UnixAnchor};

use crate::client::{Client, Config, Event};
use crate::codec::{self, ClientMessage, EventKind, ServerMessage};
use crate::server::{BACKLOG_WINDOW, DeviceFilter, Hub, HubConfig};

/// Decodes `data` as one frame, in both directions; a frame that decodes must encode to a frame that decodes
/// to the same message, the server decoder's fast paths must agree with its general path, and the payload
/// accessors must not panic.
pub fn decode(data: &[u8]) {
    let Ok(frame) = Frame::try_from(Bytes::copy_from_slice(data)) else {
        return;
    };
    if let Err(e) = ServerMessage::check_fast_path(&frame) {
        panic!("{e}");
    }
    if let Ok(msg) = ServerMessage::decode(&frame) {
        let again = msg.encode();
        match ServerMessage::decode(&again) {
            Ok(back) => assert_eq!(back, msg, "round trip of {frame:?} via {again:?}"),
            Err(e) => panic!("re-encoded {again:?} (from {frame:?}) does not decode: {e}"),
        }
        if let ServerMessage::Event(e) = &msg {
            let _ = e.data.common();
            let _ = e.data.order();
            let _ = e.data.transaction();
            let _ = e.data.health_check_stamp();
            let _ = (e.data.id(), e.data.uri(), e.data.pos_ref(), e.data.order_id());
        }
    }
    match (ClientMessage::decode(&frame), ServerMessage::decode(&frame)) {
        (Ok(msg), Ok(_)) => {
            let again = msg.encode();
            match ClientMessage::decode(&again) {
                Ok(back) => assert_eq!(back, msg, "round trip of {frame:?} via {again:?}"),
                Err(e) => panic!("re-encoded {again:?} (from {frame:?}) does not decode: {e}"),
            }
        }
        (Err(_), Err(_)) => {}
        (a, b) => panic!("the two directions disagree on {frame:?}: {a:?} and {b:?}"),
    }
}

#[derive(Debug, Arbitrary)]
enum Wire {
    Pong(u64),
    PongNoVersion(u64),
    ServerPing(u64),
    PrimusPing(u32),
    PrimusPong(u32),
    ServerClose,
    Event(u8, u8),
    FallbackEvent(u8),
    HealthCheck(u64),
    Text(String),
    Bytes(Vec<u8>),
    Huge(u16),
}

const NAMES: &[&str] = &[
    "order_updated",
    "order_created",
    "transaction_updated",
    "health_check",
    "mystery",
];

impl Wire {
    /// The frame; `seq` numbers the `emit` events (`"id":"fz-{seq}"`), so deliveries can be counted.
    fn frame(&self, seq: u64) -> Option<Frame> {
        Some(match self {
            Wire::Pong(ms) => Frame::from(format!(
                "{{\"doshii\":{{\"pong\":{ms},\"version\":\"3.2.123\"}}}}"
            )),
            Wire::PongNoVersion(ms) => Frame::from(format!("{{\"doshii\":{{\"pong\":{ms}}}}}")),
            Wire::ServerPing(ms) => Frame::from(format!("{{\"doshii\":{{\"ping\":{ms}}}}}")),
            Wire::PrimusPing(ms) => Frame::from(format!("\"primus::ping::{ms}\"")),
            Wire::PrimusPong(ms) => Frame::from(format!("\"primus::pong::{ms}\"")),
            Wire::ServerClose => Frame::from(codec::PRIMUS_SERVER_CLOSE),
            Wire::Event(n, loc) => Frame::from(format!(
                "{{\"emit\":[\"{}\",{{\"id\":\"fz-{seq}\",\"status\":\"accepted\",\"locationId\":\"l{loc}\"}}]}}",
                NAMES[*n as usize % NAMES.len()]
            )),
            Wire::FallbackEvent(n) => Frame::from(format!(
                "{{\"type\":\"{}\",\"data\":{{\"id\":{n}}}}}",
                NAMES[*n as usize % NAMES.len()]
            )),
            Wire::HealthCheck(ms) => {
                Frame::from(format!("{{\"emit\":[\"health_check\",{{\"ping\":{ms}}}]}}"))
            }
            Wire::Text(s) => Frame::from(s.clone()),
            Wire::Bytes(b) => Frame::try_from(Bytes::copy_from_slice(b)).ok()?,
            Wire::Huge(n) => Frame::from("x".repeat((*n as usize % 256) * 64)),
        })
    }
}

#[derive(Debug, Arbitrary)]
enum ClientOp {
    Connect,
    Open,
    Close(Option<u16>),
    Frame(Wire),
    Advance(u32),
    NextDeadline,
    Disconnect,
    SetToken,
    Drain,
}

struct Driver {
    client: Client,
    now: Instant,
    start_unix_ms: u64,
    t0: Instant,
    /// 0 = no transport, 1 = dialling, 2 = open.
    transport: u8,
    stopped: bool,
    expect_ping: bool,
    past_deadlines: u32,
    bounds: (Duration, Duration),
    /// Events fed (each with a unique id), those fed to a live session, and those delivered.
    fed: std::collections::HashSet<String>,
    must: std::collections::HashSet<String>,
    delivered: std::collections::HashSet<String>,
    /// `fz-` ids that the fuzzer's own text frames spelled: those events are not the driver's, and neither
    /// they nor a driver event of the same id are checked.
    forged: std::collections::HashSet<String>,
}

impl Driver {
    fn check_queues(&self) {
        if let Err(e) = self.client.check_invariants() {
            panic!("{e}");
        }
        if self.stopped {
            assert_eq!(
                self.client.poll_timeout(),
                None,
                "a stopped session has no deadline"
            );
        }
    }

    fn drain(&mut self) {
        while let Some(t) = self.client.poll_transmit() {
            match t {
                Transmit::Connect(req) => {
                    assert!(!self.stopped, "connect after a terminal stop");
                    assert_ne!(self.transport, 2, "connect while a connection is open");
                    assert!(req.url.starts_with("wss://"), "{:?}", req);
                    self.transport = 1;
                    self.expect_ping = true;
                }
                Transmit::Send(frame) => {
                    if self.expect_ping {
                        self.expect_ping = false;
                        match ClientMessage::decode(&frame) {
                            Ok(ClientMessage::Ping(h)) => assert!(h.stamp.millis().is_some()),
                            other => panic!("first frame after connect is not a ping: {other:?}"),
                        }
                    }
                    assert!(
                        matches!(
                            ClientMessage::decode(&frame),
                            Ok(ClientMessage::Ping(_)
                                | ClientMessage::Pong(_)
                                | ClientMessage::PrimusPong(_))
                        ),
                        "the session sent {frame:?}"
                    );
                }
                Transmit::Close(_) => self.transport = 0,
            }
        }
        while let Some(ev) = self.client.poll_event() {
            match ev {
                Event::Stopped { .. } => self.stopped = true,
                Event::Doshii(e) => {
                    if let Some(id) = e
                        .data
                        .id()
                        .filter(|id| id.starts_with("fz-") && !self.forged.contains(&**id))
                    {
                        assert!(self.fed.contains(&*id), "event {id} delivered but never received");
                        assert!(self.delivered.insert(id.into_owned()), "event delivered twice");
                    }
                }
                Event::Reconnecting { after, .. } => {
                    assert!(!self.stopped, "reconnect after a terminal stop");
                    assert!(
                        after >= self.bounds.0 && after <= self.bounds.1,
                        "backoff {after:?} outside {:?}",
                        self.bounds
                    );
                }
                Event::CatchUp(c) => {
                    let now_ms = self.start_unix_ms + (self.now - self.t0).as_millis() as u64;
                    assert!(
                        c.from <= c.to && c.from_ms <= c.to_ms && c.to_ms <= now_ms,
                        "{c:?}"
                    );
                    assert!(c.orders_query.contains(&format!("from={}&to={}", c.from, c.to)));
                }
                _ => {}
            }
        }
    }

    fn timeout(&mut self) {
        self.client.handle_timeout(self.now);
        if self.client.poll_timeout().is_some_and(|t| t <= self.now) {
            self.past_deadlines += 1;
            assert!(self.past_deadlines < 2, "poll_timeout in the past twice in a row");
        } else {
            self.past_deadlines = 0;
        }
    }
}

/// The operations `u` spells, at most 2000. `arbitrary` keeps yielding default values once the input is used
/// up: reading stops there (otherwise every run pads itself to 2000 steps, and the fuzzer runs ~100 times
/// slower).
fn read_ops<'a, T: Arbitrary<'a>>(u: &mut Unstructured<'a>) -> Vec<T> {
    let mut ops = Vec::new();
    while !u.is_empty()
        && ops.len() < 2000
        && let Ok(op) = u.arbitrary()
    {
        ops.push(op);
    }
    ops
}

/// Drives a [`Client`] with an arbitrary sequence of opens, frames, closes, time steps and commands (time only
/// moves forward), checking after each step: no dial after a stop unless the application called `connect`,
/// `poll_timeout` not in the past twice in a row, the session's invariants (bounded queues among them),
/// backoff within its bounds, a ping first after every (re)connect, and sane catch-up windows.
pub fn session(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let t0 = origin();
    let start_unix_ms = 1_700_000_000_000 + u64::from(u.arbitrary::<u16>().unwrap_or(0));
    let max_queued = 4 + usize::from(u.arbitrary::<u8>().unwrap_or(0) % 60);
    let backoff = BackoffConfig::default()
        .with_initial(Duration::from_millis(
            1 + u64::from(u.arbitrary::<u16>().unwrap_or(0) % 2000),
        ))
        .with_max(Duration::from_secs(30));
    let pos = u.arbitrary::<bool>().unwrap_or(false);
    let anchor = UnixAnchor::new(t0, start_unix_ms);
    let config = if pos {
        Config::pos("tok", anchor)
    } else {
        Config::app_v3("client+/=", Some("dev".into()), anchor)
    }
    .with_backoff(backoff)
    .with_seed(u.arbitrary().unwrap_or(0))
    .with_limits(
        Limits::default()
            .with_max_queued(max_queued)
            .with_max_frame_size(4096),
    );
    let mut d = Driver {
        client: Client::new(config),
        now: t0,
        start_unix_ms,
        t0,
        transport: 0,
        stopped: false,
        expect_ping: false,
        past_deadlines: 0,
        bounds: backoff.bounds(),
        fed: Default::default(),
        forged: Default::default(),
        must: Default::default(),
        delivered: Default::default(),
    };
    assert!(
        d.client.is_stopped() && d.client.poll_transmit().is_none(),
        "new never dials"
    );
    d.client.connect(d.now);
    d.drain();
    let mut seq = 0u64;
    for op in read_ops::<ClientOp>(&mut u) {
        match op {
            ClientOp::Connect => {
                // the events queued so far belong to before the call
                d.drain();
                let was_stopped = d.client.is_stopped();
                let before = d.client.queue_stats();
                d.client.connect(d.now);
                if was_stopped {
                    d.stopped = false;
                } else {
                    assert_eq!(
                        d.client.queue_stats(),
                        before,
                        "connect is a no-op unless stopped"
                    );
                }
            }
            ClientOp::Open => {
                if d.transport == 1 {
                    d.transport = 2;
                    d.client.handle_open(d.now, None);
                }
            }
            ClientOp::Close(code) => {
                if d.transport != 0 {
                    d.transport = 0;
                    d.client.handle_close(d.now, code.map(|c| Close::new(c, "")));
                }
            }
            ClientOp::Frame(w) => {
                seq += 1;
                if d.transport == 2
                    && let Some(f) = w.frame(seq)
                {
                    // the driver may not have taken a close the client queued: only a live session counts
                    let live = d.client.is_open();
                    if let Wire::Text(_) | Wire::Bytes(_) = w {
                        let leaves = feedwire_core::testing::json_scalars(f.as_str());
                        d.forged.extend(leaves.into_iter().filter_map(|v| match v {
                            serde_json::Value::String(s) if s.starts_with("fz-") => Some(s),
                            _ => None,
                        }));
                    }
                    d.client.handle_frame(d.now, f);
                    match w {
                        Wire::Event(..) => {
                            d.fed.insert(format!("fz-{seq}"));
                            if live {
                                d.must.insert(format!("fz-{seq}"));
                            }
                        }
                        Wire::ServerClose if live => {
                            d.drain();
                            assert!(
                                d.stopped && d.client.is_stopped(),
                                "primus::server::close is terminal"
                            );
                        }
                        _ => {}
                    }
                }
            }
            ClientOp::Advance(ms) => {
                d.now += Duration::from_millis(u64::from(ms % 120_000));
                d.timeout();
            }
            ClientOp::NextDeadline => {
                if let Some(t) = d.client.poll_timeout() {
                    d.now = d.now.max(t);
                }
                d.timeout();
            }
            ClientOp::Disconnect => {
                let was_stopped = d.client.is_stopped();
                let before = d.client.queue_stats();
                d.client.disconnect(d.now);
                assert!(d.client.is_stopped());
                if was_stopped {
                    assert_eq!(
                        d.client.queue_stats(),
                        before,
                        "disconnect when stopped is a no-op"
                    );
                } else {
                    assert!(
                        d.client.queue_stats().queued_events > before.queued_events,
                        "disconnect reports Stopped"
                    );
                }
            }
            ClientOp::SetToken => {
                let _ = d.client.set_token("new-token");
            }
            ClientOp::Drain => d.drain(),
        }
        d.check_queues();
    }
    d.drain();
    d.check_queues();
    // every event received on an open connection was delivered once, or counted as dropped (queue full)
    let missing = d
        .must
        .difference(&d.delivered)
        .filter(|id| !d.forged.contains(*id))
        .count();
    let dropped = d.client.queue_stats().dropped_events;
    assert!(
        missing as u64 <= dropped,
        "{missing} events neither delivered nor counted as dropped ({dropped} dropped)"
    );
}

#[derive(Debug, Arbitrary)]
enum HubOp {
    Open(u8, u8, u8),
    Frame(u8, Wire),
    Close(u8),
    Publish(u8, u8, u8),
    PublishPos(u8),
    Register(u8, bool, u8),
    ServerClose(u8),
    Ping(u8),
    HealthCheck(u8),
    Advance(u16),
    Drain,
}

/// Drives the mock [`Hub`] with arbitrary opens, frames, closes, publishes, device registrations and time
/// steps, checking the hub's invariants (bounded queues, a consistent backlog index), that every frame it
/// sends decodes, publishes reach no more connections than are open, and no backlog outlives the 10-minute
/// window.
pub fn hub(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let t0 = origin();
    let max_queued = 4 + usize::from(u.arbitrary::<u8>().unwrap_or(0) % 60);
    let mut hub = Hub::new(
        HubConfig::default().with_limits(
            Limits::default()
                .with_max_queued(max_queued)
                .with_max_frame_size(4096),
        ),
    );
    let mut now = t0;
    let mut next = 1u64;
    let mut open: Vec<ConnId> = Vec::new();
    // connections the hub refused or closed whose close the driver has not polled yet: closes are never
    // dropped (the driver must see them), so each may hold one queue entry beyond `max_queued`
    let mut closing: std::collections::BTreeSet<ConnId> = Default::default();
    let apps = ["app-a", "app-b"];
    let devices = [None, Some("d1"), Some("d2")];
    let mut last_publish: Option<Instant> = None;
    for op in read_ops::<HubOp>(&mut u) {
        let pick = |i: u8, open: &Vec<ConnId>| open.get(i as usize % open.len().max(1)).copied();
        match op {
            HubOp::Open(kind, app, dev) => {
                let conn = ConnId(next);
                next += 1;
                let b64 = |s: &str| {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD.encode(s)
                };
                let path = match kind % 6 {
                    0 => format!("/app/socket?auth={}", b64(apps[app as usize % 2])),
                    1 => match devices[dev as usize % 3] {
                        Some(d) => {
                            format!("/app/socket/v3?auth={}&deviceId={d}", b64(apps[app as usize % 2]))
                        }
                        None => format!("/app/socket/v3?auth={}", b64(apps[app as usize % 2])),
                    },
                    2 => "/pos/socket?token=tok".to_owned(),
                    3 => "/vendor/socket?token=jwt&vendor=v".to_owned(),
                    4 => "/app/socket?auth=%%%".to_owned(),
                    _ => "/nope".to_owned(),
                };
                hub.handle_open(now, conn, &OpenRequest::new(path));
                if hub.connections().any(|(c, _)| c == conn) {
                    open.push(conn);
                } else {
                    closing.insert(conn);
                }
            }
            HubOp::Frame(i, w) => {
                if let (Some(c), Some(f)) = (pick(i, &open), w.frame(0)) {
                    hub.handle_frame(now, c, f);
                }
            }
            HubOp::Close(i) => {
                if let Some(c) = pick(i, &open) {
                    open.retain(|x| *x != c);
                    hub.handle_close(now, c, None);
                }
            }
            HubOp::Publish(app, n, loc) => {
                let data =
                    RawJson::from_json_str(&format!("{{\"id\":\"{n}\",\"locationId\":\"l{}\"}}", loc % 3))
                        .expect("valid");
                let name = NAMES[n as usize % NAMES.len()];
                // refused (nothing changed) while the driver has not drained the queue
                if let Ok(sent) = hub.publish_to_app(now, apps[app as usize % 2], name, &data) {
                    assert!(sent <= open.len());
                    last_publish = Some(now);
                }
            }
            HubOp::PublishPos(n) => {
                let data = RawJson::from_json_str(&format!("{{\"id\":\"{n}\"}}")).expect("valid");
                if let Ok(sent) = hub.publish_to_pos("tok", "order_created", &data) {
                    assert!(sent <= open.len());
                }
            }
            HubOp::Register(dev, events, loc) => {
                let mut f = DeviceFilter::default();
                if events {
                    f = f.with_events([EventKind::OrderUpdated.as_str()]);
                }
                if loc % 2 == 1 {
                    f = f.with_location_ids([format!("l{}", loc % 3)]);
                }
                hub.register_device(["d1", "d2"][dev as usize % 2], f);
            }
            HubOp::ServerClose(i) => {
                if let Some(c) = pick(i, &open)
                    && hub.server_close(now, c).is_ok()
                {
                    open.retain(|x| *x != c);
                    closing.insert(c);
                }
            }
            HubOp::Ping(i) => {
                if let Some(c) = pick(i, &open) {
                    let _ = hub.ping(c, 5);
                }
            }
            HubOp::HealthCheck(i) => {
                if let Some(c) = pick(i, &open) {
                    let _ = hub.health_check(c, 5);
                }
            }
            HubOp::Advance(s) => {
                now += Duration::from_secs(u64::from(s % 1200));
                hub.handle_timeout(now);
                if last_publish.is_none_or(|t| now - t > BACKLOG_WINDOW) {
                    for app in apps {
                        assert_eq!(
                            hub.backlog_len(app),
                            0,
                            "an event older than 10 minutes is still kept"
                        );
                    }
                }
            }
            HubOp::Drain => {
                while let Some((conn, t)) = hub.poll_transmit() {
                    assert!(conn.0 < next, "transmit to a connection never opened");
                    match t {
                        HubTransmit::Send(f) => assert!(
                            ServerMessage::decode(&f).is_ok(),
                            "hub sent an undecodable frame {f:?}"
                        ),
                        HubTransmit::Close(_) => {
                            closing.remove(&conn);
                        }
                    }
                }
                while hub.poll_event().is_some() {}
            }
        }
        if let Err(e) = hub.check_invariants() {
            panic!("{e}");
        }
        let queued = hub.queue_stats().queued_transmits;
        assert!(
            queued <= 2 * max_queued + open.len() + 2 * closing.len(),
            "hub transmit queue unbounded: {queued} queued, max_queued {max_queued}, {} open, {} closing",
            open.len(),
            closing.len()
        );
        for app in apps {
            assert!(hub.backlog_len(app) <= max_queued * 3, "backlog unbounded");
        }
    }
}

/// A real `Instant` as the virtual clock's origin: the only clock read in this crate, in fuzzing code only.
/// Nothing depends on its value.
#[allow(clippy::disallowed_methods)]
fn origin() -> Instant {
    Instant::now()
}
