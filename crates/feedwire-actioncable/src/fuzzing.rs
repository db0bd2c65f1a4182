//! Fuzzing entry points (feature `fuzzing`), used by the cargo-fuzz targets in `fuzz/` and by `tests/chaos.rs`.
//! Unstable: this module is for cargo-fuzz and the chaos tests only and is not covered by semver.
//!
//! Each function reads an `arbitrary` sequence of frames, closes, timeouts (time only moves forward) and
//! commands from its input ([`arbitrary::Unstructured`]), drives the code with it, and asserts invariants after
//! every step (the session's and hub's own `check_invariants`, and what a driver sees). They panic on a broken
//! invariant, which is what a fuzzer looks for; they never panic on a healthy crate, whatever the input.
#![allow(clippy::disallowed_methods)] // the harness takes one real Instant as its virtual clock's origin
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use feedwire_core::json::{raw_value, to_string_literal};
use feedwire_core::{
    Close, ConnId, Frame, Hub as _, HubTransmit, Limits, OpenRequest, Session, Transmit, UnixAnchor,
};

use crate::client::{Client, Config, DisconnectReason, Event, Flavour};
use crate::codec::{self, ClientMessage, HistoryRequest, IdentifierStr, ServerMessage};
use crate::identifier::Identifier;
use crate::server::{Hub, HubConfig};

const IDS: [&str; 4] = [
    r#"{"channel":"ChatChannel","id":42}"#,
    r#"{"channel":"ChatChannel","room":"<b>R&D</b>"}"#,
    r#"{"channel":"ApiChannel","key":"k","events":"posts#create"}"#,
    r#"{"channel":"Ünï\"code\\"}"#,
];

const KNOWN: [&str; 8] = [
    r#"{"type":"welcome"}"#,
    r#"{"type":"ping","message":1795342530}"#,
    r#"{"identifier":"{\"channel\":\"ChatChannel\",\"room\":\"\u003cb\u003eR\u0026D\u003c/b\u003e\"}","message":{"x":1}}"#,
    r#"{"type":"disconnect","reason":null}"#,
    r#"{"type":"disconnect","reason":"server_restart","reconnect":true}"#,
    r#"{"type":"weird"}"#,
    r#"{"identifier":5,"type":"confirm_subscription"}"#,
    "not json",
];

const MAX_QUEUED: usize = 64;

fn id(i: u8) -> &'static str {
    IDS[usize::from(i) % IDS.len()]
}

/// Decodes `data` both ways; identifiers must compare equal to their own decoded text.
pub fn decode(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(msg) = ServerMessage::decode_str(text) {
        let ident = match &msg {
            ServerMessage::Confirm { identifier }
            | ServerMessage::Reject { identifier }
            | ServerMessage::ConfirmHistory { identifier }
            | ServerMessage::RejectHistory { identifier }
            | ServerMessage::Presence { identifier, .. }
            | ServerMessage::Message { identifier, .. } => Some(*identifier),
            _ => None,
        };
        if let Some(i) = ident {
            let text = i.to_cow();
            // invalid escapes decode to U+FFFD in both, so this holds for every string serde accepted
            assert!(
                i.eq_str(&text),
                "identifier does not equal its own decoded text: {:?}",
                i.literal()
            );
        }
        let _ = format!("{msg:?}");
        // what was decoded encodes to a frame that decodes to the same message
        let again = msg.encode();
        let back = ServerMessage::decode(&again);
        assert!(
            back.is_ok(),
            "a decoded frame re-encodes to a valid one: {again:?}"
        );
    }
    if let Ok(msg) = ClientMessage::decode_str(text) {
        let _ = format!("{msg:?}");
        let again = msg.encode();
        assert!(
            ClientMessage::decode(&again).is_ok(),
            "a decoded command re-encodes to a valid one: {again:?}"
        );
    }
    let _ = Identifier::from_raw(text).map(|i| format!("{i:?}{i}"));
}

#[derive(Arbitrary, Debug)]
enum ServerOp {
    Welcome {
        sid: bool,
        restored: Vec<u8>,
    },
    Ping(i64),
    Pong,
    Confirm(u8),
    Reject(u8),
    Disconnect {
        reason: Option<u8>,
        reconnect: Option<bool>,
    },
    Message {
        id: u8,
        stream: Option<(bool, bool, u8)>,
    },
    ConfirmHistory(u8),
    RejectHistory(u8),
    Known(u8),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum ClientOp {
    Frame(ServerOp),
    Open(u8),
    Close(Option<u16>),
    Advance(u16),
    AdvanceToDeadline,
    Subscribe(u8),
    Unsubscribe(u8),
    Perform(u8),
    Whisper(u8),
    Disconnect,
}

fn ident(i: u8) -> IdentifierStr<'static> {
    IdentifierStr::new(id(i))
}

fn server_frame(op: &ServerOp, seq: u64) -> Frame {
    match op {
        ServerOp::Welcome { sid, restored } => ServerMessage::Welcome {
            sid: sid.then_some("s1".into()),
            restored: !restored.is_empty(),
            restored_ids: restored.iter().take(4).map(|i| ident(*i)).collect(),
        }
        .encode(),
        ServerOp::Ping(t) => ServerMessage::Ping { message: Some(*t) }.encode(),
        ServerOp::Pong => ServerMessage::Pong.encode(),
        ServerOp::Confirm(i) => ServerMessage::Confirm {
            identifier: ident(*i),
        }
        .encode(),
        ServerOp::Reject(i) => ServerMessage::Reject {
            identifier: ident(*i),
        }
        .encode(),
        ServerOp::Disconnect { reason, reconnect } => ServerMessage::Disconnect {
            reason: reason.map(|r| ["server_restart", "unauthorized", "remote"][usize::from(r) % 3].into()),
            reconnect: *reconnect,
        }
        .encode(),
        ServerOp::Message { id: i, stream } => {
            let message = format!(r#"{{"n":{seq}}}"#);
            let Ok(message) = raw_value(&message) else {
                return Frame::from("{}");
            };
            ServerMessage::Message {
                identifier: ident(*i),
                message,
                stream_id: stream.map(|(s, _, _)| if s { "a" } else { "b" }.into()),
                epoch: stream.map(|(_, e, _)| if e { "e1" } else { "e2" }.into()),
                offset: stream.map(|(_, _, o)| u64::from(o)),
            }
            .encode()
        }
        ServerOp::ConfirmHistory(i) => ServerMessage::ConfirmHistory {
            identifier: ident(*i),
        }
        .encode(),
        ServerOp::RejectHistory(i) => ServerMessage::RejectHistory {
            identifier: ident(*i),
        }
        .encode(),
        ServerOp::Known(k) => Frame::from(KNOWN[usize::from(*k) % KNOWN.len()]),
        ServerOp::Raw(s) => Frame::from(s.clone()),
    }
}

/// What the session driver tracks across steps.
#[derive(Default)]
struct Track {
    /// Subscribes sent and not yet answered, withdrawn or voided by a new connection, with when they were sent.
    in_flight: std::collections::HashMap<String, Instant>,
    /// The broadcast fed in this step (each carries a unique `n`), whether it must be delivered, and how many
    /// deliveries it got.
    fed: Option<u64>,
    must: bool,
    got: u32,
    /// Every `n` delivered so far.
    delivered: std::collections::HashSet<u64>,
    /// Whether this step fed the fuzzer's own text: a message it carries may spell any `n`, so it is not the
    /// driver's and is not tracked.
    raw: bool,
}

/// Drives a [`Client`] with arbitrary transport happenings, time and commands, checking its invariants (its own
/// [`Client::check_invariants`] after every step, and what a driver sees): `new` does not dial, queues
/// bounded, no dial after a stop until the driver calls `connect` (its `Disconnect` op disconnects a running
/// session and connects a stopped one), a disconnect with `reconnect: false` (or unspecified, as Rails sends
/// for `unauthorized`) stops the session, `Reconnecting` follows `Disconnected` with backoff and restart delays
/// within bounds, wanted subscriptions re-sent after every welcome, never two subscribes in flight for one
/// identifier (a re-send only after the confirmation timeout), deadlines not in the past after handling them,
/// and every broadcast delivered at most once (exactly once for a confirmed subscription on a live
/// connection).
pub fn session(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let anycable = u.arbitrary::<bool>().unwrap_or(false);
    let seed = u.arbitrary::<u64>().unwrap_or(0);
    let start = Instant::now();
    let config = Config::new("ws://h/cable")
        .with_flavour(if anycable {
            Flavour::AnyCable
        } else {
            Flavour::Rails
        })
        .with_seed(seed)
        .with_unix_anchor(UnixAnchor::new(start, 1_795_342_530_000))
        .with_limits(
            Limits::default()
                .with_max_queued(MAX_QUEUED)
                .with_max_frame_size(4096),
        );
    let (lo, hi) = config.backoff.bounds();
    let restart = config.restart_delay;
    let mut c = Client::new(config);
    assert!(
        c.is_stopped() && c.poll_transmit().is_none(),
        "`new` does not dial"
    );
    c.connect(start);
    let mut now = start;
    let mut dialing = false;
    let mut open = false;
    let mut stopped = false;
    let mut handles = Vec::new();
    let confirm_timeout = c.config().confirm_timeout;
    let mut track = Track::default();
    let drain = |c: &mut Client,
                 dialing: &mut bool,
                 open: &mut bool,
                 stopped: &mut bool,
                 track: &mut Track,
                 now: Instant| {
        if let Err(e) = c.check_invariants() {
            panic!("client invariant: {e}");
        }
        let q = c.queue_stats();
        assert!(
            q.queued_transmits <= 2 * MAX_QUEUED + 2 && q.dropped_transmits == 0,
            "queues bounded: {q:?}"
        );
        let mut down: Option<DisconnectReason> = None;
        while let Some(t) = c.poll_transmit() {
            match t {
                Transmit::Connect(_) => {
                    assert!(!*stopped, "no reconnect after a terminal stop");
                    *dialing = true;
                    *open = false;
                    track.in_flight.clear();
                }
                Transmit::Close(_) => {
                    *dialing = false;
                    *open = false;
                    track.in_flight.clear();
                }
                Transmit::Send(f) => {
                    assert!(*open, "sends only on an open connection");
                    let cmd = ClientMessage::decode(&f);
                    assert!(cmd.is_ok(), "the client sends valid commands: {f:?}");
                    match cmd {
                        Ok(ClientMessage::Subscribe { identifier, .. }) => {
                            // a subscribe is re-sent only when the last one went unanswered for the whole
                            // confirmation timeout (the retry), never while it can still be answered
                            let identifier = identifier.to_cow().into_owned();
                            if let Some(sent) = track.in_flight.insert(identifier.clone(), now) {
                                assert!(
                                    now >= sent + confirm_timeout,
                                    "two subscribes in flight for {identifier}"
                                );
                            }
                        }
                        Ok(ClientMessage::Unsubscribe { identifier }) => {
                            track.in_flight.remove(&*identifier.to_cow());
                        }
                        _ => {}
                    }
                }
            }
        }
        while let Some(ev) = c.poll_event() {
            match ev {
                Event::Message { .. } if track.raw => {}
                Event::Message { message, .. } => {
                    // only the driver's numbered broadcasts are tracked (not the known or raw frames)
                    let Some(n) = serde_json::from_str::<serde_json::Value>(message.as_str())
                        .ok()
                        .and_then(|v| v["n"].as_u64())
                    else {
                        continue;
                    };
                    assert!(track.delivered.insert(n), "message {n} delivered twice");
                    assert_eq!(
                        track.fed,
                        Some(n),
                        "message {n} delivered in a step that did not receive it"
                    );
                    track.got += 1;
                }
                Event::Stopped { .. } => *stopped = true,
                Event::Disconnected { reason } => down = Some(reason),
                Event::Reconnecting { after: d } => {
                    let reason = down.take();
                    assert!(reason.is_some(), "Reconnecting follows Disconnected");
                    if matches!(reason, Some(DisconnectReason::ServerDisconnect { .. })) {
                        assert!(d >= restart && d < restart * 2, "restart delay {d:?}");
                    } else {
                        // the first attempt has a full [0, 1) jitter
                        assert!(
                            d >= lo && d < hi.max(lo * 2),
                            "backoff {d:?} not in [{lo:?}, {hi:?})"
                        );
                    }
                }
                _ => {}
            }
        }
    };
    drain(&mut c, &mut dialing, &mut open, &mut stopped, &mut track, now);
    if u.arbitrary::<bool>().unwrap_or(true) {
        // start from a welcomed connection with two subscriptions, so short inputs reach the deep states
        for i in 0..2 {
            if let Ok(ident) = Identifier::from_raw(id(i)) {
                handles.extend(c.subscribe(now, ident).ok());
            }
        }
        // take the dial first, so the driver's view of the transport is right from the start
        drain(&mut c, &mut dialing, &mut open, &mut stopped, &mut track, now);
        let proto = if anycable {
            codec::PROTOCOL_V1_EXT_JSON
        } else {
            codec::PROTOCOL_V1_JSON
        };
        c.handle_open(now, Some(proto));
        dialing = false;
        open = true;
        c.handle_frame(
            now,
            server_frame(
                &ServerOp::Welcome {
                    sid: true,
                    restored: Vec::new(),
                },
                0,
            ),
        );
        assert!(c.is_open());
        drain(&mut c, &mut dialing, &mut open, &mut stopped, &mut track, now);
    }
    let mut seq = 0u64;
    for _ in 0..256 {
        // `arbitrary` keeps yielding default values once the input is used up: stop there
        if u.is_empty() {
            break;
        }
        let Ok(op) = u.arbitrary::<ClientOp>() else { break };
        track.fed = None;
        track.must = false;
        track.got = 0;
        track.raw = false;
        let mut terminal = false;
        match op {
            ClientOp::Frame(f) => {
                if open {
                    let welcome = matches!(f, ServerOp::Welcome { ref restored, .. } if restored.is_empty());
                    seq += 1;
                    match &f {
                        ServerOp::Message { id: i, stream } => {
                            track.fed = Some(seq);
                            // a plain broadcast for a confirmed subscription on a live connection is delivered
                            // (AnyCable stream positions may legitimately drop replays)
                            track.must = stream.is_none()
                                && c.is_open()
                                && Identifier::from_raw(id(*i)).is_ok_and(|ident| c.is_confirmed(&ident));
                        }
                        ServerOp::Confirm(i) | ServerOp::Reject(i) => {
                            track.in_flight.remove(id(*i));
                        }
                        ServerOp::Welcome { .. } => {
                            // a welcome (re)starts the session on the server side: subscribes sent before it
                            // are void, and the client re-sends them as @rails/actioncable does
                            track.in_flight.clear();
                        }
                        ServerOp::Disconnect { reconnect, .. } => {
                            terminal = !reconnect.unwrap_or(c.config().reconnect_when_unspecified);
                        }
                        ServerOp::Raw(text) => {
                            track.raw = true;
                            // the fuzzer's own text may well be a welcome, a confirmation or a rejection:
                            // the bookkeeping follows what the client will make of it
                            match ServerMessage::decode_str(text) {
                                Ok(ServerMessage::Welcome { .. }) => track.in_flight.clear(),
                                Ok(
                                    ServerMessage::Confirm { identifier }
                                    | ServerMessage::Reject { identifier },
                                ) => {
                                    track.in_flight.remove(&*identifier.to_cow());
                                }
                                _ => {}
                            }
                        }
                        ServerOp::Known(k) => {
                            let k = usize::from(*k) % KNOWN.len();
                            if k == 0 {
                                track.in_flight.clear(); // a welcome, as above
                            }
                            // `{"type":"disconnect","reason":null}`: reconnect unspecified
                            terminal = k == 3 && !c.config().reconnect_when_unspecified;
                        }
                        _ => {}
                    }
                    c.handle_frame(now, server_frame(&f, seq));
                    if welcome && c.is_open() {
                        // wanted subscriptions are re-sent after a welcome (`check_invariants` holds it)
                        if let Err(e) = c.check_invariants() {
                            panic!("after a welcome: {e}");
                        }
                    }
                }
            }
            ClientOp::Open(p) => {
                if dialing {
                    dialing = false;
                    let proto = [
                        Some(codec::PROTOCOL_V1_JSON),
                        Some(codec::PROTOCOL_V1_EXT_JSON),
                        Some(codec::PROTOCOL_UNSUPPORTED),
                        None,
                    ][usize::from(p) % 4];
                    c.handle_open(now, proto);
                    open = !c.is_stopped();
                }
            }
            ClientOp::Close(code) => {
                if dialing || open {
                    dialing = false;
                    open = false;
                    c.handle_close(now, code.map(|code| Close::new(code, "")));
                    track.in_flight.clear();
                }
            }
            ClientOp::Advance(ms) => {
                now += Duration::from_millis(u64::from(ms));
                c.handle_timeout(now);
                if let Some(next) = c.poll_timeout() {
                    assert!(next > now, "deadline still in the past after handling it");
                }
            }
            ClientOp::AdvanceToDeadline => {
                if let Some(t) = c.poll_timeout() {
                    now = now.max(t);
                    c.handle_timeout(now);
                    if let Some(next) = c.poll_timeout() {
                        assert!(next > now, "deadline still in the past after handling it");
                    }
                }
            }
            ClientOp::Subscribe(i) => {
                if let Ok(ident) = Identifier::from_raw(id(i)) {
                    // the driver drains after every step: the queue always has room
                    match c.subscribe(now, ident) {
                        Ok(h) => handles.push(h),
                        Err(e) => panic!("subscribe refused with an empty queue: {e}"),
                    }
                }
            }
            ClientOp::Unsubscribe(i) => {
                if !handles.is_empty() {
                    let h = handles.remove(usize::from(i) % handles.len());
                    let _ = c.unsubscribe(now, h); // a rejected subscription is already gone
                }
            }
            ClientOp::Perform(i) => {
                if let Ok(ident) = Identifier::from_raw(id(i)) {
                    let _ = c.perform(&ident, "speak", serde_json::json!({"text": "hi"}));
                }
            }
            ClientOp::Whisper(i) => {
                if let Ok(ident) = Identifier::from_raw(id(i)) {
                    let _ = c.whisper(&ident, serde_json::json!({"typing": true}));
                }
            }
            ClientOp::Disconnect => {
                if stopped {
                    // a stopped session starts again on `connect`
                    c.connect(now);
                    stopped = false;
                    assert!(!c.is_stopped(), "connect restarts a stopped session");
                } else {
                    c.disconnect(now);
                    assert!(c.is_stopped(), "disconnect stops");
                }
            }
        }
        drain(&mut c, &mut dialing, &mut open, &mut stopped, &mut track, now);
        if terminal {
            assert!(
                stopped && c.is_stopped(),
                "a disconnect with reconnect false (or unspecified) stops the session"
            );
        }
        if track.must {
            assert_eq!(
                track.got, 1,
                "a broadcast for a confirmed subscription is delivered once"
            );
        }
        if stopped {
            assert!(
                c.is_stopped() && c.poll_timeout().is_none(),
                "a stopped session schedules nothing"
            );
        }
    }
}

#[derive(Arbitrary, Debug)]
enum HubOp {
    Open { conn: u8, ext: bool, sid: bool },
    Subscribe { conn: u8, id: u8 },
    Command { conn: u8, kind: u8, id: u8 },
    Raw { conn: u8, text: String },
    Close(u8),
    Advance(u16),
    Confirm { conn: u8, id: u8, stream: bool },
    Reject { conn: u8, id: u8 },
    Broadcast { stream: bool, n: u8 },
    Disconnect { conn: u8, reconnect: Option<bool> },
}

/// Drives a [`Hub`] with arbitrary connections, commands, host answers and time, checking its invariants (its
/// own [`Hub::check_invariants`] after every step, bounded queues, nothing sent after a close, every frame
/// valid).
pub fn hub(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let anycable = u.arbitrary::<bool>().unwrap_or(true);
    let start = Instant::now();
    let mut hub = Hub::new(
        HubConfig::default()
            .with_anycable(anycable)
            .with_unix_anchor(UnixAnchor::new(start, 1_795_342_530_000))
            .with_history_limits(8, Duration::from_secs(30))
            .with_limits(
                Limits::default()
                    .with_max_queued(MAX_QUEUED)
                    .with_max_frame_size(4096),
            ),
    );
    let mut now = start;
    let mut open: Vec<ConnId> = Vec::new();
    // two connections subscribed and streaming, so short inputs reach broadcasts and history
    for c in 1..=2u64 {
        let proto = if anycable {
            codec::PROTOCOL_V1_EXT_JSON
        } else {
            codec::PROTOCOL_V1_JSON
        };
        hub.handle_open(
            now,
            ConnId(c),
            &OpenRequest::new("/cable").with_subprotocol(Some(proto.to_owned())),
        );
        open.push(ConnId(c));
        let f = ClientMessage::Subscribe {
            identifier: ident(0),
            history: None,
        }
        .encode();
        hub.handle_frame(now, ConnId(c), f);
        assert!(hub.confirm(ConnId(c), id(0)).is_ok());
        assert!(hub.stream_from(ConnId(c), id(0), "s").is_ok());
    }
    while hub.poll_transmit().is_some() {}
    while hub.poll_event().is_some() {}
    for _ in 0..256 {
        // `arbitrary` keeps yielding default values once the input is used up: stop there
        if u.is_empty() {
            break;
        }
        let Ok(op) = u.arbitrary::<HubOp>() else { break };
        let conn = |c: u8| ConnId(u64::from(c % 4) + 1);
        match op {
            HubOp::Open { conn: c, ext, sid } => {
                let c = conn(c);
                if !open.contains(&c) {
                    let offered = if ext {
                        vec![
                            codec::PROTOCOL_V1_EXT_JSON.to_owned(),
                            codec::PROTOCOL_V1_JSON.to_owned(),
                        ]
                    } else {
                        vec![codec::PROTOCOL_V1_JSON.to_owned()]
                    };
                    let proto = hub.select_subprotocol(&offered);
                    let path = if sid { "/cable?sid=0-1" } else { "/cable" };
                    hub.handle_open(now, c, &OpenRequest::new(path).with_subprotocol(proto));
                    open.push(c);
                }
            }
            HubOp::Subscribe { conn: c, id: i } => {
                let f = ClientMessage::Subscribe {
                    identifier: ident(i),
                    history: None,
                }
                .encode();
                hub.handle_frame(now, conn(c), f);
            }
            HubOp::Command { conn: c, kind, id: i } => {
                let identifier = ident(i);
                let history = HistoryRequest::default().to_json();
                let speak = to_string_literal(r#"{"action":"speak"}"#);
                let (Ok(history), Ok(speak), Ok(empty)) =
                    (raw_value(&history), raw_value(&speak), raw_value("{}"))
                else {
                    panic!("valid JSON refused");
                };
                let f = match kind % 7 {
                    0 => ClientMessage::Unsubscribe { identifier },
                    1 => ClientMessage::Message {
                        identifier,
                        data: speak,
                    },
                    2 => ClientMessage::History { identifier, history },
                    3 => ClientMessage::Whisper {
                        identifier,
                        data: empty,
                    },
                    4 => ClientMessage::Pong,
                    5 => ClientMessage::Ping,
                    _ => ClientMessage::Leave { identifier },
                }
                .encode();
                hub.handle_frame(now, conn(c), f);
            }
            HubOp::Raw { conn: c, text } => hub.handle_frame(now, conn(c), Frame::from(text)),
            HubOp::Close(c) => {
                let c = conn(c);
                open.retain(|x| *x != c);
                hub.handle_close(now, c, None);
            }
            HubOp::Advance(ms) => {
                now += Duration::from_millis(u64::from(ms));
                hub.handle_timeout(now);
                if let Some(t) = hub.poll_timeout() {
                    assert!(t > now, "hub deadline in the past after handling it");
                }
            }
            HubOp::Confirm {
                conn: c,
                id: i,
                stream,
            } => {
                let _ = hub.confirm(conn(c), id(i));
                if stream {
                    let _ = hub.stream_from(conn(c), id(i), "s");
                }
            }
            HubOp::Reject { conn: c, id: i } => {
                let _ = hub.reject(conn(c), id(i));
            }
            HubOp::Broadcast { stream, n } => {
                let sent = hub
                    .broadcast(if stream { "s" } else { "t" }, &format!(r#"{{"n":{n}}}"#))
                    .unwrap_or(0);
                assert!(sent <= 4 * IDS.len());
            }
            HubOp::Disconnect { conn: c, reconnect } => {
                let _ = hub.disconnect(conn(c), Some("remote"), reconnect);
            }
        }
        if let Err(e) = hub.check_invariants() {
            panic!("hub invariant: {e}");
        }
        let q = hub.queue_stats();
        assert!(
            q.queued_transmits <= 2 * MAX_QUEUED && q.queued_events <= MAX_QUEUED + 1,
            "hub queues bounded: {q:?}"
        );
        let mut closed: Vec<ConnId> = Vec::new();
        while let Some((c, t)) = hub.poll_transmit() {
            assert!(!closed.contains(&c), "nothing after a close on {c:?}");
            match t {
                HubTransmit::Close(_) => {
                    closed.push(c);
                    open.retain(|x| *x != c);
                }
                HubTransmit::Send(f) => {
                    assert!(
                        ServerMessage::decode(&f).is_ok(),
                        "the hub sends valid frames: {f:?}"
                    );
                }
            }
        }
        while hub.poll_event().is_some() {}
    }
}
