//! Fuzzing entry points (feature `fuzzing`): the codec on arbitrary bytes, and the client and the hub under
//! arbitrary sequences of frames, closes, timeouts and commands, with invariants checked after every step.
//!
//! **Unstable**: this module exists for cargo-fuzz (`fuzz/`, which turns the feature on) and the chaos tests;
//! it is not covered by semver and may change in any release.
//!
//! The fuzzer's bytes are read with [`arbitrary::Unstructured`] into the operations below ([`SessionInput`],
//! [`HubOp`]); tests can also build the operations directly ([`run_session`], [`run_hub`]).
//!
//! The entry points panic when an invariant breaks (that is the point); the library itself never panics.
#![allow(clippy::missing_panics_doc)]

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use feedwire_core::{
    BackoffConfig, Close, ConnId, Frame, Hub as _, HubTransmit, Limits, OpenRequest, Session, Transmit,
    UnixAnchor,
};

use crate::client::{Client, Config, Event};
use crate::codec::{
    Balance, BetData, ClientMessage, Id, Logout, Ping, Pong, ServerMessage, Settings, StatsData, Status,
};
use crate::envelope::{Envelope, NestEnvelope};
use crate::server::{Hub, HubConfig, HubEvent};

const ANCHOR_MS: u64 = 1_700_000_000_000;
const MAX_QUEUED: usize = 32;
const MAX_STEPS: usize = 512;

/// Decodes `data` every way the crate can and checks what comes out.
pub fn decode(data: &[u8]) {
    let frame = Frame::from(String::from_utf8_lossy(data).into_owned());
    let text = frame.as_str();
    if let Ok(m) = NestEnvelope.split(text) {
        let d = m.data.get();
        let inside = d.as_ptr() as usize >= text.as_ptr() as usize
            && d.as_ptr() as usize + d.len() <= text.as_ptr() as usize + text.len();
        assert!(
            inside || d == "null",
            "the payload must be borrowed from the frame"
        );
    }
    if let Ok(msg) = ServerMessage::decode(&frame) {
        let again = msg.encode();
        let back = ServerMessage::decode(&again).expect("an encoded message decodes");
        assert_eq!(back.event(), msg.event());
        assert_eq!(back.message_name(), msg.message_name());
    }
    if let Ok(msg) = ClientMessage::decode(&frame) {
        let again = msg.encode();
        let back = ClientMessage::decode(&again).expect("an encoded message decodes");
        assert_eq!(back.event(), msg.event());
    }
    // The client and the hub take any frame and go on.
    let start = base_instant();
    let mut c =
        Client::new(Config::default().with_checked_payloads(data.first().is_some_and(|b| b & 1 == 1)));
    c.connect(start);
    assert!(matches!(c.poll_transmit(), Some(Transmit::Connect(_))));
    c.handle_open(start, None);
    while c.poll_transmit().is_some() {}
    c.handle_frame(start, frame.clone());
    c.check_invariants().unwrap_or_else(|e| panic!("client: {e}"));
    let events: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    match &events[..] {
        [] | [_] => {}
        [
            Event::LoggedOut(_),
            Event::Disconnected { .. },
            Event::Stopped { .. },
        ] => {
            assert!(c.is_logged_out())
        }
        other => panic!("one frame, at most one event (or a logout's three): {other:?}"),
    }
    let mut hub = Hub::new(HubConfig::default());
    hub.handle_open(start, ConnId(1), &OpenRequest::new("/wspublic"));
    hub.handle_frame(start, ConnId(1), frame);
    hub.check_invariants().unwrap_or_else(|e| panic!("hub: {e}"));
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

/// A frame the server sends in [`run_session`].
#[derive(Debug, Clone, Arbitrary)]
pub enum ServerFrame {
    /// `connected`.
    Connected,
    /// The pong of the client's last ping.
    PongForLastPing,
    /// A pong of any value.
    Pong(u64),
    /// `logout`.
    Logout,
    /// A settings echo.
    Settings,
    /// A bet, with a game id unique to the step.
    Bet(u8),
    /// Stats.
    Stats,
    /// A balance.
    Balance,
    /// A channel the model does not know.
    Unknown,
    /// Any text.
    Garbage(String),
}

/// One step of [`run_session`].
#[derive(Debug, Clone, Arbitrary)]
pub enum ClientOp {
    /// The driver completes a pending connect.
    Open,
    /// The driver fails a pending connect or loses the open connection (with this close code).
    Lost(Option<u16>),
    /// A frame from the server.
    Frame(ServerFrame),
    /// Time moves forward by this many milliseconds (up to ~65 s), then `handle_timeout`.
    Advance(u16),
    /// Jump to the session's next deadline.
    ToDeadline,
    /// The application changes its settings.
    SetSettings(u8),
    /// The application disconnects.
    Disconnect,
    /// The application connects.
    Connect,
    /// The application polls its events.
    DrainEvents,
}

/// What [`run_session`] runs: the client's configuration, then the steps.
#[derive(Debug, Clone)]
pub struct SessionInput {
    /// Start with settings.
    pub initial_settings: bool,
    /// The backoff jitter seed.
    pub seed: u64,
    /// Parse payloads on arrival.
    pub checked_payloads: bool,
    /// The steps (at most 512 are run).
    pub ops: Vec<ClientOp>,
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
    msg.encode()
}

/// [`run_session`] on the operations `data` spells ([`session_input`]).
pub fn session(data: &[u8]) {
    run_session(&session_input(data));
}

/// The configuration and the steps `data` spells: read with [`Unstructured`] until the bytes run out (at
/// most 512 steps).
pub fn session_input(data: &[u8]) -> SessionInput {
    let mut u = Unstructured::new(data);
    SessionInput {
        initial_settings: u.arbitrary().unwrap_or(false),
        seed: u.arbitrary().unwrap_or(0),
        checked_payloads: u.arbitrary().unwrap_or(false),
        ops: read_all(&mut u),
    }
}

/// Operations read from `u` until its bytes run out (at most [`MAX_STEPS`]).
fn read_all<'a, T: Arbitrary<'a>>(u: &mut Unstructured<'a>) -> Vec<T> {
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < MAX_STEPS {
        match u.arbitrary() {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    ops
}

/// Drives a [`Client`] through `input`, checking invariants after each step: the client's own
/// ([`Client::check_invariants`]), no reconnect after a terminal condition, deadlines never in the past after
/// `handle_timeout`, backoff delays within the configured bounds, settings re-sent first on every new
/// connection, pings carrying the anchored Unix time, a logout is terminal, a `Disconnected` is always
/// followed by `Reconnecting` or `Stopped`, and every bet received is delivered at most once (and, when the
/// session was open, delivered or counted as dropped).
pub fn run_session(input: &SessionInput) {
    let start = base_instant();
    let backoff = BackoffConfig::default().with_max(Duration::from_secs(30));
    let (lo, hi) = backoff.bounds();
    let mut config = Config::default()
        .with_unix_anchor(UnixAnchor::new(start, ANCHOR_MS))
        .with_backoff(backoff)
        .with_seed(input.seed)
        .with_limits(Limits::default().with_max_queued(MAX_QUEUED))
        .with_checked_payloads(input.checked_payloads);
    if input.initial_settings {
        config = config.with_settings(settings_with(1));
    }
    let mut c = Client::new(config);
    assert!(c.is_stopped(), "a new client is stopped until `connect`");
    assert_eq!(c.poll_transmit(), None, "`new` never dials");
    c.connect(start); // the driver starts the session
    let mut now = start;
    let mut pending_connect = false; // a Connect was asked for and not yet opened or failed
    let mut open = false; // the driver's view of the transport
    let mut terminal = false; // logged out or disconnected, and no `connect` since
    let mut just_opened = false;
    let mut last_ping = None;
    let mut events = EventCheck {
        lo,
        hi,
        after_disconnect: false,
        fed: HashSet::new(),
        forged: HashSet::new(),
        delivered: HashSet::new(),
    };
    // bets fed (each with a unique game id) to an open session
    let mut seq = 0i64;
    let mut must = HashSet::new();

    for op in input.ops.iter().take(MAX_STEPS) {
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
                    if let ServerFrame::Garbage(text) = f {
                        // any integer the garbage spells (as a number or a string) may pass for a bet id
                        events.forged.extend(
                            feedwire_core::testing::json_scalars(text)
                                .into_iter()
                                .filter_map(|v| match v {
                                    serde_json::Value::Number(n) => n.as_i64(),
                                    serde_json::Value::String(s) => s.parse().ok(),
                                    _ => None,
                                }),
                        );
                    }
                    if let ServerFrame::Bet(n) = f {
                        events.fed.insert(bet_id(seq, *n));
                        if c.is_open() {
                            must.insert(bet_id(seq, *n));
                        }
                    }
                    c.handle_frame(now, server_frame(f, last_ping, seq));
                    if matches!(f, ServerFrame::Logout) {
                        assert!(c.is_logged_out(), "logout is terminal");
                        terminal = true;
                    }
                }
            }
            ClientOp::Advance(ms) => {
                now += Duration::from_millis(u64::from(*ms));
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
                let _ = c.set_settings(settings_with(*n));
            }
            ClientOp::Disconnect => {
                c.disconnect(now);
                assert!(c.is_stopped(), "stopped after disconnect");
                terminal = true;
            }
            ClientOp::Connect => {
                if c.is_stopped() {
                    terminal = false;
                }
                c.connect(now);
                assert!(!c.is_stopped(), "connect starts the session");
            }
            ClientOp::DrainEvents => {
                while let Some(ev) = c.poll_event() {
                    events.check(&ev);
                }
            }
        }
        c.check_invariants().unwrap_or_else(|e| panic!("client: {e}"));
        let queued = c.queue_stats().queued_transmits;
        assert!(queued <= MAX_QUEUED + 4, "transmit queue bounded: {queued}");
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
                        assert_eq!(f, want, "settings first on a new connection");
                    }
                    if let Ok(ClientMessage::Ping(p)) = ClientMessage::decode(&f) {
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
    }
    while let Some(ev) = c.poll_event() {
        events.check(&ev);
    }
    // every bet received on an open connection was delivered once, or counted as dropped (queue full)
    let dropped = c.queue_stats().dropped_events;
    let missing = must
        .difference(&events.delivered)
        .filter(|n| !events.forged.contains(*n))
        .count() as u64;
    assert!(
        missing <= dropped,
        "{missing} bets neither delivered nor counted as dropped ({dropped} dropped)"
    );
}

/// The game id of the bet fed at step `seq`: unique per run.
fn bet_id(seq: i64, n: u8) -> i64 {
    seq * 256 + i64::from(n)
}

/// Checks on the events an application polls, in order.
struct EventCheck {
    lo: Duration,
    hi: Duration,
    /// The previous event was `Disconnected`.
    after_disconnect: bool,
    /// Bets fed, bets whose id a garbage frame spelled, bets delivered.
    fed: HashSet<i64>,
    forged: HashSet<i64>,
    delivered: HashSet<i64>,
}

impl EventCheck {
    fn check(&mut self, ev: &Event) {
        if self.after_disconnect {
            assert!(
                matches!(ev, Event::Reconnecting { .. } | Event::Stopped { .. }),
                "`Disconnected` followed by {ev:?}"
            );
        }
        self.after_disconnect = matches!(ev, Event::Disconnected { .. });
        match ev {
            Event::Reconnecting { after, attempt } => {
                assert!(
                    *after >= self.lo && *after < self.hi,
                    "backoff {after:?} outside [{:?}, {:?})",
                    self.lo,
                    self.hi
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
            // A delivered bet was received, and is delivered once (bets whose id garbage spelled are skipped).
            Event::Bet(p) => {
                if let Ok(bet) = p.parse()
                    && let Id::Int(n) = bet.game_id
                    && !self.forged.contains(&n)
                {
                    assert!(self.fed.contains(&n), "bet {n} delivered but never received");
                    assert!(self.delivered.insert(n), "bet {n} delivered twice");
                }
            }
            _ => {}
        }
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

/// One step of [`run_hub`]. Connections are `conn % 8`, users `u{user % 4}`, games `game % 4`.
#[derive(Debug, Clone, Arbitrary)]
pub enum HubOp {
    /// A connection opens with a user's token.
    Open {
        /// The connection.
        conn: u8,
        /// The user.
        user: u8,
    },
    /// A connection closes.
    Close {
        /// The connection.
        conn: u8,
    },
    /// A connection pings.
    Ping {
        /// The connection.
        conn: u8,
        /// The ping value.
        value: u64,
    },
    /// A connection sends settings.
    Settings {
        /// The connection.
        conn: u8,
        /// How many games.
        games: u8,
    },
    /// A connection sends any text.
    Garbage {
        /// The connection.
        conn: u8,
        /// The frame.
        text: String,
    },
    /// The host publishes a bet.
    Publish {
        /// The game.
        game: u8,
    },
    /// The host publishes a balance.
    PublishBalance,
    /// The host sends a balance to a user.
    SendToUser {
        /// The user.
        user: u8,
    },
    /// The host logs a user out.
    Logout {
        /// The user.
        user: u8,
    },
    /// The host turns ping answers on or off.
    AnswerPings(bool),
}

/// [`run_hub`] on the operations `data` spells ([`hub_ops`]).
pub fn hub(data: &[u8]) {
    run_hub(&hub_ops(data));
}

/// The steps `data` spells: read with [`Unstructured`] until the bytes run out (at most 512 steps).
pub fn hub_ops(data: &[u8]) -> Vec<HubOp> {
    read_all(&mut Unstructured::new(data))
}

/// Drives the [`Hub`] with arbitrary connections, frames and commands, checking after each step: the hub's
/// own invariants ([`Hub::check_invariants`]), the hub only knows connections the driver has open, nothing
/// queued for a closed connection, every ping answered with its value.
pub fn run_hub(ops: &[HubOp]) {
    let now = base_instant();
    let mut hub = Hub::new(HubConfig::default().with_limits(Limits::default().with_max_queued(MAX_QUEUED)));
    let mut open: BTreeSet<u64> = BTreeSet::new();
    let mut answering = true;
    for op in ops.iter().take(MAX_STEPS) {
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
                let f = ClientMessage::Ping(Ping {
                    ping: *value,
                    extra: Default::default(),
                });
                hub.handle_frame(now, ConnId(conn), f.encode());
                if open.contains(&conn) && hub.user_of(ConnId(conn)).is_some() && answering {
                    expect_pong = Some((ConnId(conn), *value));
                }
            }
            HubOp::Settings { conn, games } => {
                let f = ClientMessage::Settings(settings_with(*games)).encode();
                hub.handle_frame(now, ConnId(u64::from(conn % 8)), f);
            }
            HubOp::Garbage { conn, text } => {
                hub.handle_frame(now, ConnId(u64::from(conn % 8)), Frame::from(text.clone()))
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
                let _ = hub.logout_user(&format!("u{}", user % 4), "fuzz");
            }
            HubOp::AnswerPings(yes) => {
                answering = *yes;
                hub.set_answer_pings(*yes);
            }
        }
        hub.check_invariants().unwrap_or_else(|e| panic!("hub: {e}"));
        for c in hub.connections() {
            assert!(open.contains(&c.0), "the hub only knows open connections");
        }
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
                        && let Ok(ServerMessage::Pong(p)) = ServerMessage::decode(&f)
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
