//! Fuzzing entry points (feature `fuzzing`, or `--cfg fuzzing` as cargo-fuzz sets it): the codec on arbitrary
//! bytes, and the client and the hub under arbitrary sequences of frames, closes, timeouts and commands,
//! with invariants checked after every step.
//!
//! The operations are read from the fuzzer's bytes by a small reader here rather than the `arbitrary` crate,
//! so the module builds under `cargo fuzz` whether or not the fuzz crate enables the `fuzzing` feature.
//!
//! They panic when an invariant breaks (that is the point); the library itself never panics.
#![allow(clippy::missing_panics_doc)]

use std::time::{Duration, Instant};

use feedwire_core::{
    BackoffConfig, Close, ConnId, Frame, Hub as _, HubTransmit, Limits, OpenRequest, Session, Transmit,
};

use crate::client::{Client, Config, Event};
use crate::codec::{
    Balance, BetData, ClientMessage, Id, Logout, Pong, ServerMessage, Settings, StatsData, Status,
};
use crate::envelope::{Envelope, NestEnvelope};
use crate::server::{Hub, HubConfig, HubEvent};

const ANCHOR_MS: u64 = 1_700_000_000_000;
const MAX_QUEUED: usize = 32;

/// Decodes `data` every way the crate can and checks what comes out.
pub fn decode(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(m) = NestEnvelope.split(&text) {
        let d = m.data.get();
        let inside = d.as_ptr() as usize >= text.as_ptr() as usize
            && d.as_ptr() as usize + d.len() <= text.as_ptr() as usize + text.len();
        assert!(
            inside || d == "null",
            "the payload must be borrowed from the frame"
        );
    }
    if let Ok(msg) = ServerMessage::decode(&text) {
        let again = msg.encode().expect("a decoded message encodes");
        let back = ServerMessage::decode(&again).expect("an encoded message decodes");
        assert_eq!(back.event(), msg.event());
        assert_eq!(back.message_name(), msg.message_name());
    }
    if let Ok(msg) = ClientMessage::decode(&text) {
        let again = msg.encode().expect("a decoded message encodes");
        let back = ClientMessage::decode(&again).expect("an encoded message decodes");
        assert_eq!(back.event(), msg.event());
    }
    // The client and the hub take any frame and go on.
    let start = base_instant();
    let mut c =
        Client::new(Config::default().with_checked_payloads(data.first().is_some_and(|b| b & 1 == 1)));
    let _ = c.poll_transmit();
    c.handle_open(start, None);
    while c.poll_transmit().is_some() {}
    c.handle_frame(start, Frame::from(text.clone().into_owned()));
    let events: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    assert!(events.len() <= 1, "one frame, at most one event: {events:?}");
    let mut hub = Hub::new(HubConfig::default());
    hub.handle_open(start, ConnId(1), &OpenRequest::new("/wspublic"));
    hub.handle_frame(start, ConnId(1), Frame::from(text.into_owned()));
    while hub.poll_transmit().is_some() {}
    while hub.poll_event().is_some() {}
}

/// The origin of the fuzzers' virtual clock. `Instant` has no constructor, so this fuzzing-only helper
/// (never compiled into the library without `fuzzing`) reads the clock once per run; every
/// later instant is this one plus a fuzzer-chosen duration, so runs stay deterministic.
#[allow(clippy::disallowed_methods)]
fn base_instant() -> Instant {
    Instant::now()
}

/// Reads fuzzer bytes as operations; every read past the end is `None`, which ends the run.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn bool(&mut self) -> Option<bool> {
        Some(self.byte()? & 1 == 1)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.byte()?, self.byte().unwrap_or(0)]))
    }
    fn u64(&mut self) -> Option<u64> {
        let mut v = u64::from(self.byte()?);
        for i in 1..8 {
            v |= u64::from(self.byte().unwrap_or(0)) << (8 * i);
        }
        Some(v)
    }
    fn text(&mut self) -> Option<String> {
        let n = usize::from(self.byte()? % 64).min(self.0.len());
        let (t, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(String::from_utf8_lossy(t).into_owned())
    }
}

#[derive(Debug)]
enum ServerFrame {
    Connected,
    PongForLastPing,
    Pong(u64),
    Logout,
    Settings,
    Bet(u8),
    Stats,
    Balance,
    Unknown,
    Garbage(String),
}

impl ServerFrame {
    fn read(u: &mut Input<'_>) -> Option<Self> {
        Some(match u.byte()? % 10 {
            0 => ServerFrame::Connected,
            1 => ServerFrame::PongForLastPing,
            2 => ServerFrame::Pong(u.u64()?),
            3 => ServerFrame::Logout,
            4 => ServerFrame::Settings,
            5 => ServerFrame::Bet(u.byte()?),
            6 => ServerFrame::Stats,
            7 => ServerFrame::Balance,
            8 => ServerFrame::Unknown,
            _ => ServerFrame::Garbage(u.text()?),
        })
    }
}

#[derive(Debug)]
enum ClientOp {
    /// The driver completes a pending connect.
    Open,
    /// The driver fails a pending connect or loses the open connection.
    Lost(Option<u16>),
    Frame(ServerFrame),
    /// Time moves forward by this many milliseconds (up to ~65 s), then `handle_timeout`.
    Advance(u16),
    /// Jump to the session's next deadline.
    ToDeadline,
    SetSettings(u8),
    Disconnect,
    Connect,
    DrainEvents,
}

impl ClientOp {
    fn read(u: &mut Input<'_>) -> Option<Self> {
        Some(match u.byte()? % 10 {
            0 | 1 => ClientOp::Open,
            2 => ClientOp::Lost(if u.bool()? { Some(u.u16()?) } else { None }),
            3 => ClientOp::Frame(ServerFrame::read(u)?),
            4 => ClientOp::Advance(u.u16()?),
            5 => ClientOp::ToDeadline,
            6 => ClientOp::SetSettings(u.byte()?),
            7 => ClientOp::Disconnect,
            8 => ClientOp::Connect,
            _ => ClientOp::DrainEvents,
        })
    }
}

fn settings_with(n: u8) -> Settings {
    Settings {
        lang: Some("en".to_owned()),
        odds_format: None,
        game_ids: Some((0..i64::from(n % 4)).map(Id::Int).collect()),
        extra: Default::default(),
    }
}

/// The frame for `f`; a bet carries `seq` as its game id (unique per run), so deliveries can be counted.
fn server_frame(f: &ServerFrame, last_ping: Option<u64>, seq: i64) -> Frame {
    let msg = match f {
        ServerFrame::Connected => ServerMessage::Connected(Status {
            status: "ok".to_owned(),
            user_id: Some(Id::Int(1)),
            session_id: None,
            extra: Default::default(),
        }),
        ServerFrame::PongForLastPing => ServerMessage::Pong(Pong {
            pong: last_ping.unwrap_or(0),
            extra: Default::default(),
        }),
        ServerFrame::Pong(n) => ServerMessage::Pong(Pong {
            pong: *n,
            extra: Default::default(),
        }),
        ServerFrame::Logout => ServerMessage::Logout(Logout {
            reason: Some("fuzz".to_owned()),
            extra: Default::default(),
        }),
        ServerFrame::Settings => ServerMessage::Settings(settings_with(2)),
        ServerFrame::Bet(n) => ServerMessage::Bet(BetData {
            game_id: Id::Int(bet_id(seq, *n)),
            bets: Vec::new(),
            extra: Default::default(),
        }),
        ServerFrame::Stats => ServerMessage::Stats(StatsData {
            game_id: Id::Int(1),
            stats: Default::default(),
            extra: Default::default(),
        }),
        ServerFrame::Balance => ServerMessage::Balance(Balance {
            balance: 1.5,
            currency: None,
            extra: Default::default(),
        }),
        ServerFrame::Unknown => {
            return Frame::from(r#"{"event":"jackpot","data":{"amount":1}}"#);
        }
        ServerFrame::Garbage(s) => return Frame::from(s.clone()),
    };
    Frame::from(msg.encode().unwrap_or_default())
}

/// Drives a [`Client`] with arbitrary operations decoded from `data`, checking invariants after each step:
/// no reconnect after a terminal condition, deadlines never in the past after `handle_timeout`, queues
/// bounded, backoff delays within the configured bounds, settings re-sent first on every new connection,
/// pings carrying the anchored Unix time, a logout is terminal, and every bet received is delivered at most once
/// (and, when the session was open, delivered or counted as dropped).
pub fn session(data: &[u8]) {
    let mut u = Input(data);
    let start = base_instant();
    let backoff = BackoffConfig::default().with_max(Duration::from_secs(30));
    let (lo, hi) = backoff.bounds();
    let initial_settings = u.bool().unwrap_or(false);
    let mut config = Config::default()
        .with_unix_anchor(start, ANCHOR_MS)
        .with_backoff(backoff)
        .with_seed(u.u64().unwrap_or(0))
        .with_limits(Limits::default().with_max_queued(MAX_QUEUED))
        .with_checked_payloads(u.bool().unwrap_or(false));
    if initial_settings {
        config = config.with_settings(settings_with(1));
    }
    let mut c = Client::new(config);
    let mut now = start;
    let mut pending_connect = false; // a Connect was asked for and not yet opened or failed
    let mut open = false; // the driver's view of the transport
    let mut terminal = false; // logged out or disconnected, and no `connect` since
    let mut just_opened = false;
    let mut last_ping = None;
    // bets fed (each with a unique game id), those fed to an open session, and those delivered
    let mut seq = 0i64;
    let mut fed = std::collections::HashSet::new();
    let mut must = std::collections::HashSet::new();
    let mut delivered = std::collections::HashSet::new();
    let mut forged = std::collections::HashSet::new();

    for _ in 0..512 {
        let Some(op) = ClientOp::read(&mut u) else { break };
        match op {
            ClientOp::Open => {
                if pending_connect {
                    pending_connect = false;
                    open = true;
                    just_opened = true;
                    c.handle_open(now, None);
                }
            }
            ClientOp::Lost(code) => {
                if pending_connect || open {
                    pending_connect = false;
                    open = false;
                    c.handle_close(now, code.map(|code| Close::new(code, "")));
                }
            }
            ClientOp::Frame(f) => {
                if open {
                    seq += 1;
                    if let ServerFrame::Garbage(text) = &f {
                        // any integer the garbage spells (as a number or a string) may pass for a bet id
                        forged.extend(feedwire_core::testing::json_scalars(text).into_iter().filter_map(
                            |v| match v {
                                serde_json::Value::Number(n) => n.as_i64(),
                                serde_json::Value::String(s) => s.parse().ok(),
                                _ => None,
                            },
                        ));
                    }
                    if let ServerFrame::Bet(n) = f {
                        fed.insert(bet_id(seq, n));
                        if c.is_open() {
                            must.insert(bet_id(seq, n));
                        }
                    }
                    c.handle_frame(now, server_frame(&f, last_ping, seq));
                    if matches!(f, ServerFrame::Logout) {
                        assert!(c.is_logged_out(), "logout is terminal");
                        terminal = true;
                    }
                }
            }
            ClientOp::Advance(ms) => {
                now += Duration::from_millis(u64::from(ms));
                c.handle_timeout(now);
                check_deadline(&c, now);
            }
            ClientOp::ToDeadline => {
                if let Some(t) = c.poll_timeout() {
                    now = now.max(t);
                    c.handle_timeout(now);
                    check_deadline(&c, now);
                }
            }
            ClientOp::SetSettings(n) => {
                let _ = c.set_settings(settings_with(n));
            }
            ClientOp::Disconnect => {
                c.disconnect(now);
                terminal = true;
            }
            ClientOp::Connect => {
                if c.is_stopped() {
                    terminal = false;
                }
                c.connect(now);
            }
            ClientOp::DrainEvents => {
                while let Some(ev) = c.poll_event() {
                    check_event(&ev, lo, hi);
                    check_delivery(&ev, &fed, &forged, &mut delivered);
                }
            }
        }
        assert!(c.queued_events() <= MAX_QUEUED, "event queue bounded");
        assert!(c.queued_transmits() <= MAX_QUEUED + 4, "transmit queue bounded");
        // The driver drains transmits after every step.
        let mut first = true;
        while let Some(t) = c.poll_transmit() {
            match t {
                Transmit::Connect(req) => {
                    assert!(!terminal, "no reconnect after a terminal condition");
                    assert!(!open, "connect while the transport is open");
                    assert_eq!(req.url, crate::client::DEFAULT_URL);
                    pending_connect = true;
                }
                Transmit::Send(f) => {
                    assert!(open, "send without a transport");
                    if just_opened
                        && first
                        && let Some(s) = c.settings()
                    {
                        let want = ClientMessage::Settings(s.clone()).encode_with(c.envelope());
                        assert_eq!(
                            Some(f.as_str()),
                            want.ok().as_deref(),
                            "settings first on a new connection"
                        );
                    }
                    if let Ok(ClientMessage::Ping(p)) = ClientMessage::decode(f.as_str()) {
                        let elapsed = u64::try_from((now - start).as_millis()).unwrap_or(u64::MAX);
                        assert_eq!(p.ping, ANCHOR_MS + elapsed, "pings carry the anchored Unix time");
                        last_ping = Some(p.ping);
                    }
                }
                Transmit::Close(_) => {
                    open = false;
                    pending_connect = false;
                }
            }
            first = false;
        }
        if just_opened && c.settings().is_some() && open {
            assert!(!first, "settings are sent on every new connection");
        }
        just_opened = false;
        if c.is_stopped() {
            assert_eq!(
                c.poll_timeout(),
                None,
                "nothing scheduled after a terminal condition"
            );
        }
    }
    while let Some(ev) = c.poll_event() {
        check_event(&ev, lo, hi);
        check_delivery(&ev, &fed, &forged, &mut delivered);
    }
    // every bet received on an open connection was delivered once, or counted as dropped (queue full)
    let missing = must
        .difference(&delivered)
        .filter(|n| !forged.contains(*n))
        .count() as u64;
    assert!(
        missing <= c.dropped_events(),
        "{missing} bets neither delivered nor counted as dropped ({} dropped)",
        c.dropped_events()
    );
}

/// The game id of the bet fed at step `seq`: unique per run.
fn bet_id(seq: i64, n: u8) -> i64 {
    seq * 256 + i64::from(n)
}

/// A delivered bet was received, and is delivered once (bets whose id a garbage frame spelled are skipped).
fn check_delivery(
    ev: &Event,
    fed: &std::collections::HashSet<i64>,
    forged: &std::collections::HashSet<i64>,
    delivered: &mut std::collections::HashSet<i64>,
) {
    if let Event::Bet(p) = ev
        && let Ok(bet) = p.parse()
        && let Id::Int(n) = bet.game_id
        && !forged.contains(&n)
    {
        assert!(fed.contains(&n), "bet {n} delivered but never received");
        assert!(delivered.insert(n), "bet {n} delivered twice");
    }
}

fn check_deadline<E: Envelope>(c: &Client<E>, now: Instant) {
    if let Some(t) = c.poll_timeout() {
        assert!(
            t > now,
            "deadline {t:?} not after {now:?} right after handle_timeout: a busy loop"
        );
    }
}

fn check_event(ev: &Event, lo: Duration, hi: Duration) {
    match ev {
        Event::Reconnecting { delay, attempt } => {
            assert!(
                *delay >= lo && *delay < hi,
                "backoff {delay:?} outside [{lo:?}, {hi:?})"
            );
            assert!(*attempt >= 1);
        }
        Event::Gap {
            from,
            to,
            from_unix_ms,
            to_unix_ms,
        } => {
            assert!(from <= to && from_unix_ms <= to_unix_ms, "a gap goes forward");
        }
        _ => {}
    }
}

#[derive(Debug)]
enum HubOp {
    Open { conn: u8, user: u8 },
    Close { conn: u8 },
    Ping { conn: u8, value: u64 },
    Settings { conn: u8, games: u8 },
    Garbage { conn: u8, text: String },
    Publish { game: u8 },
    PublishBalance,
    SendToUser { user: u8 },
    Logout { user: u8 },
    AnswerPings(bool),
}

impl HubOp {
    fn read(u: &mut Input<'_>) -> Option<Self> {
        Some(match u.byte()? % 10 {
            0 => HubOp::Open {
                conn: u.byte()?,
                user: u.byte()?,
            },
            1 => HubOp::Close { conn: u.byte()? },
            2 => HubOp::Ping {
                conn: u.byte()?,
                value: u.u64()?,
            },
            3 => HubOp::Settings {
                conn: u.byte()?,
                games: u.byte()?,
            },
            4 => HubOp::Garbage {
                conn: u.byte()?,
                text: u.text()?,
            },
            5 => HubOp::Publish { game: u.byte()? },
            6 => HubOp::PublishBalance,
            7 => HubOp::SendToUser { user: u.byte()? },
            8 => HubOp::Logout { user: u.byte()? },
            _ => HubOp::AnswerPings(u.bool()?),
        })
    }
}

/// Drives the [`Hub`] with arbitrary connections, frames and commands, checking after each step: one
/// connection per user, nothing queued for a closed connection, every ping answered with its value,
/// queues bounded.
pub fn hub(data: &[u8]) {
    let mut u = Input(data);
    let now = base_instant();
    let mut hub = Hub::new(HubConfig::default().with_limits(Limits::default().with_max_queued(MAX_QUEUED)));
    let mut open: std::collections::BTreeSet<u64> = Default::default();
    let mut answering = true;
    for _ in 0..512 {
        let Some(op) = HubOp::read(&mut u) else { break };
        let mut expect_pong = None;
        match op {
            HubOp::Open { conn, user } => {
                // Re-opening an open id (a driver bug) must not corrupt the hub either.
                let conn = u64::from(conn % 8);
                open.insert(conn);
                let req = OpenRequest::new(format!("/wspublic?token=u{}", user % 4));
                hub.handle_open(now, ConnId(conn), &req);
            }
            HubOp::Close { conn } => {
                let conn = u64::from(conn % 8);
                if open.remove(&conn) {
                    hub.handle_close(now, ConnId(conn), None);
                }
            }
            HubOp::Ping { conn, value } => {
                let conn = u64::from(conn % 8);
                let f = ClientMessage::Ping(crate::codec::Ping {
                    ping: value,
                    extra: Default::default(),
                });
                hub.handle_frame(now, ConnId(conn), Frame::from(f.encode().unwrap_or_default()));
                if open.contains(&conn) && hub.user_of(ConnId(conn)).is_some() && answering {
                    expect_pong = Some((ConnId(conn), value));
                }
            }
            HubOp::Settings { conn, games } => {
                let f = ClientMessage::Settings(settings_with(games))
                    .encode()
                    .unwrap_or_default();
                hub.handle_frame(now, ConnId(u64::from(conn % 8)), Frame::from(f));
            }
            HubOp::Garbage { conn, text } => {
                hub.handle_frame(now, ConnId(u64::from(conn % 8)), Frame::from(text))
            }
            HubOp::Publish { game } => {
                let msg = ServerMessage::Bet(BetData {
                    game_id: Id::Int(i64::from(game % 4)),
                    bets: Vec::new(),
                    extra: Default::default(),
                });
                let n = hub.publish(&msg).unwrap_or(0);
                assert!(n <= open.len());
            }
            HubOp::PublishBalance => {
                let msg = ServerMessage::Balance(Balance {
                    balance: 2.0,
                    currency: None,
                    extra: Default::default(),
                });
                let _ = hub.publish(&msg);
            }
            HubOp::SendToUser { user } => {
                let msg = ServerMessage::Balance(Balance {
                    balance: 2.0,
                    currency: None,
                    extra: Default::default(),
                });
                let _ = hub.send_to_user(&format!("u{}", user % 4), &msg);
            }
            HubOp::Logout { user } => {
                hub.logout_user(&format!("u{}", user % 4), "fuzz");
            }
            HubOp::AnswerPings(yes) => {
                answering = yes;
                hub.set_answer_pings(yes);
            }
        }
        // one connection per user, and the maps agree
        for user in 0..4 {
            let name = format!("u{user}");
            if let Some(conn) = hub.connection_of(&name) {
                assert_eq!(hub.user_of(conn), Some(name.as_str()));
            }
        }
        let users: Vec<&str> = hub.connections().filter_map(|c| hub.user_of(c)).collect();
        let mut dedup = users.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(users.len(), dedup.len(), "one connection per user");
        for c in hub.connections() {
            assert!(open.contains(&c.0), "the hub only knows open connections");
        }
        assert!(hub.queued_events() <= MAX_QUEUED);
        let mut pong_seen = false;
        while let Some((conn, t)) = hub.poll_transmit() {
            assert!(
                open.contains(&conn.0),
                "transmit for a connection the driver closed"
            );
            match t {
                HubTransmit::Close(_) => {
                    open.remove(&conn.0); // the hub logged it out
                }
                HubTransmit::Send(f) => {
                    if let Some((pc, v)) = expect_pong
                        && pc == conn
                        && let Ok(ServerMessage::Pong(p)) = ServerMessage::decode(f.as_str())
                    {
                        assert_eq!(p.pong, v, "pongs echo the ping");
                        pong_seen = true;
                    }
                }
            }
        }
        if expect_pong.is_some() {
            assert!(pong_seen, "every ping on an open connection is answered");
        }
        while let Some(ev) = hub.poll_event() {
            if let HubEvent::LoggedOut {
                conn, by: Some(by), ..
            } = ev
            {
                assert_ne!(conn, by);
            }
        }
    }
}
