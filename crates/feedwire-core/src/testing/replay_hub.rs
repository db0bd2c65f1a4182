//! [`ReplayHub`]: a transcript's recorded server as a [`Hub`], for `feedwire replay` and any server loop.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::close::{Close, CloseCode};
use crate::frame::Frame;
use crate::session::{ConnId, Hub};
use crate::transcript::{ClosedBy, Placeholders, Record, Side, Transcript};
use crate::transmit::{HubTransmit, OpenRequest};

use super::replay::{Mismatch, MismatchKind};

/// How fast a [`ReplayHub`] plays the recorded timing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// The recorded offsets divided by this factor (`1.0`: as recorded; `2.0`: twice as fast). A factor that is
    /// not finite and positive plays as fast as possible.
    Scaled(f64),
    /// Every recorded frame is due at once, in order (still after the client frames recorded before it).
    AsFastAsPossible,
}

impl Speed {
    fn scale(self, d: Duration) -> Duration {
        match self {
            Speed::Scaled(f) if f.is_finite() && f > 0.0 => d.div_f64(f),
            _ => Duration::ZERO,
        }
    }
}

/// What a [`ReplayHub`] tells its host.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplayEvent {
    /// A client connected and is served recorded connection `recorded`.
    Opened {
        /// The live connection.
        conn: ConnId,
        /// The recorded connection (from 1).
        recorded: u64,
    },
    /// The client did not do what the recorded client did (also kept in [`ReplayHub::mismatches`]).
    Mismatch(Mismatch),
    /// A served connection ended (the recording closed it, or the client did).
    Closed {
        /// The live connection.
        conn: ConnId,
        /// The recorded connection.
        recorded: u64,
        /// The close frame sent or received (`None`: a recorded transport drop, or the client vanished).
        close: Option<Close>,
    },
    /// A client connected after the recording's last connection: it is closed with 1001 "transcript
    /// exhausted" (not a mismatch: clients reconnect after the last recorded drop).
    Refused {
        /// The live connection.
        conn: ConnId,
    },
    /// Every recorded connection was served and has closed: the replay is over.
    Finished,
}

/// One recorded connection, as the server side plays it.
struct Served {
    id: u64,
    /// recorded time of the open
    open_t: u64,
    subprotocol: Option<String>,
    /// what the server does, in order: (recorded t, client frames recorded before it, what)
    items: VecDeque<(u64, usize, Item)>,
    /// what the client sent, in order
    sends: VecDeque<String>,
}

enum Item {
    /// a frame to send
    Frame(String),
    /// the recorded server closed (`Some`) or the transport dropped (`None`)
    Close(Option<Close>),
    /// the recorded client closed here: wait for the live client to close
    ClientCloses(Option<Close>),
}

struct Live {
    conn: ConnId,
    rec: Served,
    opened: Instant,
    /// client frames received on this connection
    received: usize,
}

/// A [`Hub`] that serves a client-side [`Transcript`]'s recorded server to live clients, one recorded
/// connection per incoming connection, and reports where the clients' frames differ from the recorded ones.
///
/// Each incoming connection gets the next recorded connection that opened (recorded dials that never opened,
/// such as the refused dials while a server restarted, are skipped: the live client's own backoff takes their
/// place). Its recorded frames are sent at their recorded offsets from the open, scaled by the [`Speed`], and
/// never before the client frames recorded before them have arrived (a reply waits for its request), unless
/// those are later than [`with_wait`](Self::with_wait) allows. Its recorded close ends it: a close frame with the
/// recorded code and reason, or for a recorded transport drop a [`HubTransmit::Close`] with 1006
/// ([`CloseCode::ABNORMAL`]), which the `feedwire-tungstenite` server carries out as a drop without a close
/// frame; a recording that ends with the connection open leaves closing to the client. The client's frames
/// are compared, in order, with the recorded ones; `[redacted:N]` placeholders
/// match anything and their values are put into later frames ([`Placeholders`]). Differences become
/// [`Mismatch`]es, reported as events and kept: nothing panics. A side-`server` transcript plays its recorded
/// client frames as the server's.
///
/// Nothing here reads a clock; under a virtual clock (the [`Pair`](crate::testing::Pair)) the replay is
/// deterministic:
///
/// ```
/// use std::time::{Duration, Instant};
/// use feedwire_core::testing::Pair;
/// use feedwire_core::testing::doc::EchoClient;
/// use feedwire_core::testing::replay::{ReplayEvent, ReplayHub, Speed};
/// use feedwire_core::transcript::Transcript;
/// use feedwire_core::Lifecycle;
///
/// let transcript = Transcript::parse(r#"{"feedwire_transcript":1,"protocol":"echo","side":"client"}
/// {"t":0,"conn":1,"kind":"connect","url":"ws://127.0.0.1:1/echo"}
/// {"t":5,"conn":1,"kind":"open","subprotocol":null}
/// {"t":6,"conn":1,"kind":"send","text":"hello"}
/// {"t":1007,"conn":1,"kind":"recv","text":"world"}
/// {"t":2009,"conn":1,"kind":"close","by":"server","code":1000,"reason":"bye"}
/// "#).unwrap();
/// # #[allow(clippy::disallowed_methods)]
/// let start = Instant::now();
/// let hub = ReplayHub::new(&transcript).with_speed(Speed::Scaled(2.0));
/// let mut pair = Pair::new(EchoClient::default(), hub, start);
/// pair.client_mut().connect(start);
/// pair.advance(Duration::from_secs(2));
/// assert_eq!(pair.frames_to_client(), vec!["world"]); // 1001 ms after the open, at speed 2: 500 ms
/// assert!(pair.hub().mismatches().is_empty());
/// assert!(pair.hub().is_finished());
/// assert!(pair.take_hub_events().contains(&ReplayEvent::Finished));
/// ```
pub struct ReplayHub {
    pending: VecDeque<Served>,
    live: Vec<Live>,
    speed: Speed,
    wait: Duration,
    marks: Placeholders,
    start: Option<Instant>,
    out: VecDeque<(ConnId, HubTransmit)>,
    events: VecDeque<ReplayEvent>,
    mismatches: Vec<Mismatch>,
    finished: bool,
}

impl std::fmt::Debug for ReplayHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayHub")
            .field("pending", &self.pending.len())
            .field("live", &self.live.len())
            .field("speed", &self.speed)
            .field("mismatches", &self.mismatches.len())
            .field("finished", &self.finished)
            .finish()
    }
}

impl ReplayHub {
    /// How long a recorded frame waits, past its time, for the client frames recorded before it, by default.
    pub const DEFAULT_WAIT: Duration = Duration::from_secs(5);

    /// A hub serving `transcript` at the recorded speed.
    pub fn new(transcript: &Transcript) -> Self {
        let pending: VecDeque<Served> = served(transcript).into();
        let finished = pending.is_empty();
        ReplayHub {
            pending,
            live: Vec::new(),
            speed: Speed::Scaled(1.0),
            wait: Self::DEFAULT_WAIT,
            marks: Placeholders::new(),
            start: None,
            out: VecDeque::new(),
            events: VecDeque::new(),
            mismatches: Vec::new(),
            finished,
        }
    }

    /// Plays at `speed`.
    pub fn with_speed(mut self, speed: Speed) -> Self {
        self.speed = speed;
        self
    }

    /// How long a recorded frame (or a recorded client close) waits past its time for the client frames
    /// recorded before it; then it goes anyway, and the frames never sent become mismatches when the
    /// connection ends.
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// Every mismatch so far, in order.
    pub fn mismatches(&self) -> &[Mismatch] {
        &self.mismatches
    }

    /// Recorded connections not yet served.
    pub fn remaining(&self) -> usize {
        self.pending.len()
    }

    /// Whether every recorded connection was served and has closed.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    fn at(&self, now: Instant) -> Duration {
        self.start
            .map_or(Duration::ZERO, |s| now.saturating_duration_since(s))
    }

    fn mismatch(&mut self, now: Instant, conn: u64, kind: MismatchKind) {
        let m = Mismatch {
            at: self.at(now),
            conn,
            kind,
        };
        self.mismatches.push(m.clone());
        self.events.push_back(ReplayEvent::Mismatch(m));
    }

    /// When item `due` of a connection opened at `opened` is due, and when it goes without its client frames.
    fn due(&self, l: &Live, t: u64) -> (Instant, Instant) {
        let offset = Duration::from_millis(t.saturating_sub(l.rec.open_t));
        let due = l.opened + self.speed.scale(offset);
        (due, due + self.wait)
    }

    /// Sends, closes and waits out what is due on every served connection.
    fn release(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.live.len() {
            let mut ended: Option<Option<Close>> = None;
            loop {
                let l = &self.live[i];
                let Some((t, after, _)) = l.rec.items.front() else {
                    break;
                };
                let (due, give_up) = self.due(l, *t);
                let ready = l.received >= *after;
                if due > now || (!ready && give_up > now) {
                    break;
                }
                let l = &mut self.live[i];
                let Some((_, _, item)) = l.rec.items.pop_front() else {
                    break;
                };
                match item {
                    Item::Frame(text) => {
                        let frame = Frame::from(self.marks.fill(&text).into_owned());
                        self.out.push_back((l.conn, HubTransmit::Send(frame)));
                    }
                    Item::Close(close) => {
                        let sent = close
                            .clone()
                            .unwrap_or_else(|| Close::new(CloseCode::ABNORMAL, "recorded transport drop"));
                        self.out.push_back((l.conn, HubTransmit::Close(sent)));
                        ended = Some(close);
                        break;
                    }
                    Item::ClientCloses(close) => {
                        // the recorded client closed here and the live one did not within the wait
                        let (id, conn) = (l.rec.id, l.conn);
                        let close = close.unwrap_or_else(Close::normal);
                        self.out.push_back((conn, HubTransmit::Close(close.clone())));
                        self.mismatch(
                            now,
                            id,
                            MismatchKind::Close {
                                what: format!(
                                    "the recorded client closed here ({close}); the client did not"
                                ),
                            },
                        );
                        ended = Some(Some(close));
                        break;
                    }
                }
            }
            match ended {
                Some(close) => {
                    let l = self.live.remove(i);
                    self.end(now, l, close);
                }
                None => i += 1,
            }
        }
        self.check_finished();
    }

    /// A served connection ended: the client frames it never sent are mismatches.
    fn end(&mut self, now: Instant, l: Live, close: Option<Close>) {
        let Live { conn, rec, .. } = l;
        for expected in rec.sends {
            self.mismatch(now, rec.id, MismatchKind::Missing { expected });
        }
        self.events.push_back(ReplayEvent::Closed {
            conn,
            recorded: rec.id,
            close,
        });
    }

    fn check_finished(&mut self) {
        if !self.finished && self.pending.is_empty() && self.live.is_empty() {
            self.finished = true;
            self.events.push_back(ReplayEvent::Finished);
        }
    }
}

impl Hub for ReplayHub {
    type Event = ReplayEvent;

    /// The subprotocol the next recorded connection agreed, when the client offers it.
    fn select_subprotocol(&self, offered: &[String]) -> Option<String> {
        let sp = self.pending.front()?.subprotocol.as_ref()?;
        offered.iter().find(|o| *o == sp).cloned()
    }

    fn handle_open(&mut self, now: Instant, conn: ConnId, _request: &OpenRequest) {
        self.start.get_or_insert(now);
        let Some(rec) = self.pending.pop_front() else {
            self.out
                .push_back((conn, HubTransmit::Close(Close::new(1001, "transcript exhausted"))));
            self.events.push_back(ReplayEvent::Refused { conn });
            return;
        };
        self.events.push_back(ReplayEvent::Opened {
            conn,
            recorded: rec.id,
        });
        self.live.push(Live {
            conn,
            rec,
            opened: now,
            received: 0,
        });
        self.release(now);
    }

    fn handle_frame(&mut self, now: Instant, conn: ConnId, frame: Frame) {
        let Some(i) = self.live.iter().position(|l| l.conn == conn) else {
            return;
        };
        let l = &mut self.live[i];
        l.received += 1;
        let id = l.rec.id;
        match l.rec.sends.pop_front() {
            Some(expected) => {
                if !same_frame(&mut self.marks, &expected, frame.as_str()) {
                    let got = frame.as_str().to_owned();
                    self.mismatch(now, id, MismatchKind::Frame { expected, got });
                }
            }
            None => {
                let got = frame.as_str().to_owned();
                self.mismatch(now, id, MismatchKind::Unexpected { got });
            }
        }
        self.release(now);
    }

    fn handle_close(&mut self, now: Instant, conn: ConnId, close: Option<Close>) {
        let Some(i) = self.live.iter().position(|l| l.conn == conn) else {
            return;
        };
        let l = self.live.remove(i);
        let expected = l.rec.items.iter().find_map(|(_, _, item)| match item {
            Item::ClientCloses(_) => Some(true),
            Item::Close(_) => Some(false),
            Item::Frame(_) => None,
        });
        // fine where the recorded client closed too, and where the recording ends with the connection open
        if expected != Some(true) && !l.rec.items.is_empty() {
            let what = match &close {
                Some(c) => {
                    format!("the client closed ({c}) where the recording's server kept the connection")
                }
                None => "the client's connection dropped where the recording's server kept it".to_owned(),
            };
            self.mismatch(now, l.rec.id, MismatchKind::Close { what });
        }
        self.end(now, l, close);
        self.check_finished();
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.release(now);
    }

    fn poll_transmit(&mut self) -> Option<(ConnId, HubTransmit)> {
        self.out.pop_front()
    }

    fn poll_event(&mut self) -> Option<ReplayEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.live
            .iter()
            .filter_map(|l| {
                let (t, after, _) = l.rec.items.front()?;
                let (due, give_up) = self.due(l, *t);
                Some(if l.received >= *after { due } else { give_up })
            })
            .min()
    }
}

/// Whether a live client frame matches the recorded one: the same text (placeholders matching anything), or
/// the same JSON value when both are JSON without placeholders (clients differ in key order and spacing).
fn same_frame(marks: &mut Placeholders, recorded: &str, live: &str) -> bool {
    if marks.matches(recorded, live) {
        return true;
    }
    if recorded.contains("[redacted:") {
        return false;
    }
    match (
        serde_json::from_str::<serde_json::Value>(recorded),
        serde_json::from_str::<serde_json::Value>(live),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The recorded connections that opened, as the server plays them.
fn served(t: &Transcript) -> Vec<Served> {
    // in a client transcript the server sent `recv` and the client `send`; a server transcript the reverse
    let client_side = t.header.side == Side::Client;
    let mut out: Vec<(Served, bool)> = Vec::new();
    for e in &t.entries {
        let i = match out.iter().position(|(c, _)| c.id == e.conn) {
            Some(i) => i,
            None => {
                out.push((
                    Served {
                        id: e.conn,
                        open_t: e.t,
                        subprotocol: None,
                        items: VecDeque::new(),
                        sends: VecDeque::new(),
                    },
                    false,
                ));
                out.len() - 1
            }
        };
        let (c, opened) = &mut out[i];
        let from_server = |text: &String, sent_by_server: bool, c: &mut Served| {
            if sent_by_server {
                let after = c.sends.len();
                c.items.push_back((e.t, after, Item::Frame(text.clone())));
            } else {
                c.sends.push_back(text.clone());
            }
        };
        match &e.record {
            Record::Connect { .. } => {}
            Record::Open { subprotocol } => {
                *opened = true;
                c.open_t = e.t;
                c.subprotocol = subprotocol.clone();
            }
            Record::Recv { text } => from_server(text, client_side, c),
            Record::Send { text } => from_server(text, !client_side, c),
            Record::Close { by, .. } => {
                let by_client = matches!(
                    (by, client_side),
                    (ClosedBy::Client, true) | (ClosedBy::Server, false)
                );
                let item = match by {
                    ClosedBy::Transport => Item::Close(None),
                    _ if by_client => Item::ClientCloses(e.close_frame()),
                    _ => Item::Close(e.close_frame()),
                };
                let after = c.sends.len();
                c.items.push_back((e.t, after, item));
            }
        }
    }
    out.into_iter()
        .filter(|(_, opened)| *opened)
        .map(|(c, _)| c)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Lifecycle;
    use crate::testing::doc::EchoClient;
    use crate::testing::{Pair, Wire};

    use crate::testing::replay_test_support::{t0, transcript};

    const TWO_CONNECTIONS: &[&str] = &[
        r#"{"t":0,"conn":1,"kind":"connect","url":"ws://h/echo"}"#,
        r#"{"t":10,"conn":1,"kind":"open","subprotocol":null}"#,
        r#"{"t":11,"conn":1,"kind":"send","text":"hello"}"#,
        r#"{"t":20,"conn":1,"kind":"recv","text":"welcome [redacted:1]"}"#,
        r#"{"t":1010,"conn":1,"kind":"recv","text":"one"}"#,
        r#"{"t":2010,"conn":1,"kind":"close","by":"transport","error":"reset"}"#,
        r#"{"t":2100,"conn":2,"kind":"connect","url":"ws://h/echo"}"#,
        r#"{"t":2101,"conn":2,"kind":"close","by":"transport","error":"refused"}"#,
        r#"{"t":3000,"conn":3,"kind":"connect","url":"ws://h/echo"}"#,
        r#"{"t":3010,"conn":3,"kind":"open","subprotocol":null}"#,
        r#"{"t":3011,"conn":3,"kind":"send","text":"hello"}"#,
        r#"{"t":3500,"conn":3,"kind":"recv","text":"two"}"#,
        r#"{"t":4010,"conn":3,"kind":"close","by":"server","code":4200,"reason":"restart"}"#,
    ];

    /// (virtual ms, frame) of every frame the hub sent, and the closes as "close CODE".
    fn to_client(wire: &[Wire]) -> Vec<(u128, String)> {
        wire.iter()
            .filter_map(|w| match w {
                Wire::ToClient { at, frame, .. } => Some((at.as_millis(), frame.as_str().to_owned())),
                Wire::HubClosed { at, close, .. } => {
                    Some((at.as_millis(), format!("close {}", close.code.0)))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn serves_each_connection_at_its_offsets_and_drops_where_the_recording_dropped() {
        let start = t0();
        let hub = ReplayHub::new(&transcript(TWO_CONNECTIONS));
        assert_eq!(hub.remaining(), 2, "the refused dial is skipped");
        let mut pair = Pair::new(EchoClient::default(), hub, start);
        pair.client_mut().connect(start);
        pair.advance(Duration::from_millis(2500));
        // the drop closes the first connection; the client reconnects when it wants to (here: at once)
        let now = pair.now();
        pair.client_mut().connect(now);
        pair.advance(Duration::from_secs(5));
        assert_eq!(
            to_client(pair.wire()),
            vec![
                (10, "welcome [redacted:1]".to_owned()), // nothing learned: the placeholder stays
                (1000, "one".to_owned()),
                (2000, "close 1006".to_owned()),
                (2500 + 490, "two".to_owned()),
                (2500 + 1000, "close 4200".to_owned()),
            ]
        );
        let hub = pair.hub();
        assert!(hub.mismatches().is_empty(), "{:?}", hub.mismatches());
        assert!(hub.is_finished());
        let events = pair.take_hub_events();
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, ReplayEvent::Opened { .. }))
                .count(),
            2
        );
        assert_eq!(events.last(), Some(&ReplayEvent::Finished));
        assert!(events.contains(&ReplayEvent::Closed {
            conn: ConnId(1),
            recorded: 1,
            close: None
        }));
    }

    #[test]
    fn speed_scales_and_as_fast_as_possible_sends_at_once_in_order() {
        let start = t0();
        let hub = ReplayHub::new(&transcript(TWO_CONNECTIONS)).with_speed(Speed::Scaled(10.0));
        let mut pair = Pair::new(EchoClient::default(), hub, start);
        pair.client_mut().connect(start);
        pair.advance(Duration::from_secs(1));
        assert_eq!(
            to_client(pair.wire()),
            vec![
                (1, "welcome [redacted:1]".to_owned()),
                (100, "one".to_owned()),
                (200, "close 1006".to_owned())
            ]
        );

        let hub = ReplayHub::new(&transcript(TWO_CONNECTIONS)).with_speed(Speed::AsFastAsPossible);
        let mut pair = Pair::new(EchoClient::default(), hub, start);
        pair.client_mut().connect(start);
        pair.run_until_quiet();
        let now = pair.now();
        pair.client_mut().connect(now);
        pair.run_until_quiet();
        let frames = to_client(pair.wire());
        assert!(frames.iter().all(|(at, _)| *at == 0), "{frames:?}");
        assert_eq!(
            frames.iter().map(|(_, f)| f.as_str()).collect::<Vec<_>>(),
            ["welcome [redacted:1]", "one", "close 1006", "two", "close 4200"]
        );
        assert!(pair.hub().is_finished());
    }

    #[test]
    fn a_reply_waits_for_its_request_and_placeholders_are_filled_back() {
        // the recorded client sent its key after 11 ms; the reply mentions it
        let t = transcript(&[
            r#"{"t":0,"conn":1,"kind":"connect","url":"ws://h/echo"}"#,
            r#"{"t":10,"conn":1,"kind":"open","subprotocol":null}"#,
            r#"{"t":11,"conn":1,"kind":"send","text":"hello"}"#,
            r#"{"t":12,"conn":1,"kind":"send","text":"key=[redacted:1]"}"#,
            r#"{"t":13,"conn":1,"kind":"recv","text":"{\"ok\":\"[redacted:1]\"}"}"#,
        ]);
        let start = t0();
        let mut pair = Pair::new(EchoClient::default(), ReplayHub::new(&t), start);
        pair.client_mut().connect(start);
        pair.advance(Duration::from_millis(500));
        assert!(pair.frames_to_client().is_empty(), "the reply waits");
        pair.inject_to_hub(0, Frame::from("key=live-key-42"));
        assert_eq!(pair.frames_to_client(), vec![r#"{"ok":"live-key-42"}"#]);
        assert!(
            pair.hub().mismatches().is_empty(),
            "{:?}",
            pair.hub().mismatches()
        );
    }

    #[test]
    fn differing_frames_are_reported_and_a_missing_request_stops_the_wait() {
        let t = transcript(&[
            r#"{"t":0,"conn":1,"kind":"connect","url":"ws://h/echo"}"#,
            r#"{"t":10,"conn":1,"kind":"open","subprotocol":null}"#,
            r#"{"t":11,"conn":1,"kind":"send","text":"{\"a\":1,\"b\":[2]}"}"#,
            r#"{"t":12,"conn":1,"kind":"send","text":"subscribe"}"#,
            r#"{"t":20,"conn":1,"kind":"recv","text":"subscribed"}"#,
            r#"{"t":30,"conn":1,"kind":"close","by":"server","code":1000,"reason":"bye"}"#,
        ]);
        let start = t0();
        let hub = ReplayHub::new(&t).with_wait(Duration::from_secs(1));
        let mut pair = Pair::new(EchoClient::default(), hub, start);
        pair.client_mut().connect(start);
        pair.run_until_quiet();
        // the echo client says "hello" instead of the recorded JSON
        pair.advance(Duration::from_millis(500));
        assert!(pair.frames_to_client().is_empty());
        pair.advance(Duration::from_secs(1));
        assert_eq!(pair.frames_to_client(), vec!["subscribed"]);
        let hub = pair.hub();
        assert!(hub.is_finished());
        let kinds: Vec<&MismatchKind> = hub.mismatches().iter().map(|m| &m.kind).collect();
        assert_eq!(
            kinds,
            vec![
                &MismatchKind::Frame {
                    expected: r#"{"a":1,"b":[2]}"#.into(),
                    got: "hello".into()
                },
                &MismatchKind::Missing {
                    expected: "subscribe".into()
                },
            ]
        );
        assert!(hub.mismatches()[0].to_string().contains("got hello"));
        // the same JSON with other spacing and key order matches
        let mut marks = Placeholders::new();
        assert!(same_frame(
            &mut marks,
            r#"{"a":1,"b":[2]}"#,
            r#"{ "b": [2], "a": 1 }"#
        ));
        assert!(!same_frame(&mut marks, r#"{"a":1}"#, r#"{"a":2}"#));
    }

    #[test]
    fn client_closes_are_compared_and_extra_connections_refused() {
        let t = transcript(&[
            r#"{"t":0,"conn":1,"kind":"connect","url":"ws://h/echo"}"#,
            r#"{"t":1,"conn":1,"kind":"open","subprotocol":"v1"}"#,
            r#"{"t":2,"conn":1,"kind":"send","text":"hello"}"#,
            r#"{"t":9,"conn":1,"kind":"close","by":"client","code":1000,"reason":""}"#,
        ]);
        let start = t0();
        let hub = ReplayHub::new(&t);
        assert_eq!(
            hub.select_subprotocol(&["v0".into(), "v1".into()]),
            Some("v1".into())
        );
        assert_eq!(hub.select_subprotocol(&["v0".into()]), None);
        let mut pair = Pair::new(EchoClient::default(), hub, start);
        pair.client_mut().connect(start);
        pair.advance(Duration::from_millis(5));
        let now = pair.now();
        pair.client_mut().disconnect(now);
        pair.run_until_quiet();
        assert!(
            pair.hub().mismatches().is_empty(),
            "{:?}",
            pair.hub().mismatches()
        );
        assert!(pair.hub().is_finished());
        // one more client: nothing left to serve
        let now = pair.now();
        pair.client_mut().connect(now);
        pair.run_until_quiet();
        let events = pair.take_hub_events();
        assert!(
            matches!(events.last(), Some(ReplayEvent::Refused { .. })),
            "{events:?}"
        );
        assert!(pair.hub().mismatches().is_empty());

        // a client that never closes where the recorded one did is closed after the wait, and reported
        let mut pair = Pair::new(
            EchoClient::default(),
            ReplayHub::new(&t).with_wait(Duration::from_secs(1)),
            start,
        );
        pair.client_mut().connect(start);
        pair.advance(Duration::from_secs(2));
        assert!(!pair.client().is_open());
        let m = pair.hub().mismatches();
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].to_string().contains("the client did not"), "{}", m[0]);
    }

    #[test]
    fn a_client_may_close_where_the_recording_ends_with_the_connection_open() {
        let t = transcript(&[
            r#"{"t":0,"conn":1,"kind":"connect","url":"ws://h/echo"}"#,
            r#"{"t":1,"conn":1,"kind":"open","subprotocol":null}"#,
            r#"{"t":2,"conn":1,"kind":"send","text":"hello"}"#,
            r#"{"t":3,"conn":1,"kind":"recv","text":"last"}"#,
        ]);
        let start = t0();
        let mut pair = Pair::new(EchoClient::default(), ReplayHub::new(&t), start);
        pair.client_mut().connect(start);
        pair.advance(Duration::from_millis(100));
        assert!(
            !pair.hub().is_finished(),
            "the recording ends open: the client decides"
        );
        let now = pair.now();
        pair.client_mut().disconnect(now);
        pair.run_until_quiet();
        assert!(
            pair.hub().mismatches().is_empty(),
            "{:?}",
            pair.hub().mismatches()
        );
        assert!(pair.hub().is_finished());
    }

    #[test]
    fn a_client_leaving_early_is_a_mismatch_with_the_frames_it_never_sent() {
        let start = t0();
        let mut pair = Pair::new(
            EchoClient::default(),
            ReplayHub::new(&transcript(TWO_CONNECTIONS)),
            start,
        );
        pair.client_mut().connect(start);
        pair.advance(Duration::from_millis(100));
        pair.drop_connection();
        let kinds: Vec<String> = pair.hub().mismatches().iter().map(ToString::to_string).collect();
        assert_eq!(kinds.len(), 1, "{kinds:?}");
        assert!(
            kinds[0].contains("dropped where the recording's server kept it"),
            "{kinds:?}"
        );
        assert!(
            !pair.hub().is_finished(),
            "the second recorded connection is still to come"
        );
    }
}
