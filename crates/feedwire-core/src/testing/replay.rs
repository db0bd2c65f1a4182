//! Replaying a recorded [`Transcript`] into a client session or a hub, on a virtual clock.
//!
//! [`replay_client`] plays the recorded server: it opens each recorded connection when the session dials,
//! delivers the recorded frames and closes at the recorded offsets from that connection's open, fires the
//! session's own deadlines in between, compares what the session sends with what the recording sent, and
//! collects the session's events with their virtual times. [`replay_hub`] plays the recorded client into a
//! hub and compares what the hub answers with what the recorded server answered. [`ReplayHub`] is the other
//! way round: a hub that plays the recorded server to live clients (`feedwire replay` serves it over
//! WebSocket), and reports where they differ from the recorded client.
//!
//! Nothing here reads a clock: the same transcript and the same session give the same result every time, so
//! the result is made for snapshot tests:
//!
//! ```
//! use std::time::Instant;
//! use feedwire_core::testing::doc::EchoClient;
//! use feedwire_core::testing::replay::replay_client;
//! use feedwire_core::transcript::Transcript;
//!
//! let transcript = Transcript::parse(r#"{"feedwire_transcript":1,"protocol":"echo","side":"client"}
//! {"t":0,"conn":1,"kind":"connect","url":"ws://127.0.0.1:1/echo"}
//! {"t":5,"conn":1,"kind":"open","subprotocol":null}
//! {"t":6,"conn":1,"kind":"send","text":"hello"}
//! {"t":7,"conn":1,"kind":"recv","text":"hello"}
//! {"t":9,"conn":1,"kind":"close","by":"server","code":1000,"reason":"bye"}
//! "#).unwrap();
//! # #[allow(clippy::disallowed_methods)]
//! let replay = replay_client(&transcript, EchoClient::default(), Instant::now());
//! assert!(replay.mismatches.is_empty(), "{:?}", replay.mismatches);
//! assert_eq!(replay.events.len(), 1); // the echo client's one event: the frame it received
//! assert_eq!(replay.events[0].at.as_millis(), 7);
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crate::close::Close;
use crate::frame::Frame;
use crate::lifecycle::Lifecycle;
use crate::session::{ConnId, Hub, Session};
use crate::transcript::{ClosedBy, Placeholders, Record, Transcript, ms};
use crate::transmit::{HubTransmit, OpenRequest, Transmit};

pub use super::replay_hub::{ReplayEvent, ReplayHub, Speed};

/// An event and the virtual time since the replay started.
#[derive(Debug, Clone, PartialEq)]
pub struct Replayed<E> {
    /// Virtual time since the start of the replay.
    pub at: Duration,
    /// The event.
    pub event: E,
}

/// Where the replayed side did not do what the recorded side did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mismatch {
    /// Virtual time since the start of the replay.
    pub at: Duration,
    /// The recorded connection (from 1).
    pub conn: u64,
    /// What happened.
    pub kind: MismatchKind,
}

/// The kinds of [`Mismatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MismatchKind {
    /// A frame differs from the recorded one at the same place.
    Frame {
        /// The recorded frame.
        expected: String,
        /// The replayed side's frame.
        got: String,
    },
    /// The replayed side sent a frame where the recording has none.
    Unexpected {
        /// The replayed side's frame.
        got: String,
    },
    /// The recording has a frame the replayed side never sent.
    Missing {
        /// The recorded frame.
        expected: String,
    },
    /// The replayed side closed a connection the recording kept open, or the reverse.
    Close {
        /// What was expected and what happened.
        what: String,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {:?}, connection {}: ", self.at, self.conn)?;
        match &self.kind {
            MismatchKind::Frame { expected, got } => write!(f, "expected {expected}, got {got}"),
            MismatchKind::Unexpected { got } => write!(f, "unexpected frame {got}"),
            MismatchKind::Missing { expected } => write!(f, "never sent {expected}"),
            MismatchKind::Close { what } => f.write_str(what),
        }
    }
}

/// What [`replay_client`] observed.
#[derive(Debug)]
#[non_exhaustive]
pub struct ClientReplay<S: Session> {
    /// The session, as the replay left it.
    pub session: S,
    /// Its events, in order, with their virtual times.
    pub events: Vec<Replayed<S::Event>>,
    /// Where it did not send what the recorded client sent (empty when it behaved the same).
    pub mismatches: Vec<Mismatch>,
    /// Every frame it sent, with its virtual time and recorded connection.
    pub sent: Vec<(Duration, u64, String)>,
}

/// What [`replay_hub`] observed.
#[derive(Debug)]
#[non_exhaustive]
pub struct HubReplay<H: Hub> {
    /// The hub, as the replay left it.
    pub hub: H,
    /// Its events, in order, with their virtual times.
    pub events: Vec<Replayed<H::Event>>,
    /// Where it did not answer what the recorded server answered.
    pub mismatches: Vec<Mismatch>,
    /// Every frame it sent, with its virtual time and recorded connection.
    pub sent: Vec<(Duration, u64, String)>,
}

/// One recorded connection.
struct RecConn {
    id: u64,
    connect: u64,
    open: Option<(u64, Option<String>)>,
    url: String,
    /// recv frames and closes, in order, with their recorded times
    timed: VecDeque<(u64, Timed)>,
    /// send frames, in order
    sends: VecDeque<(u64, String)>,
}

enum Timed {
    Recv(String),
    Close(ClosedBy, Option<Close>),
}

fn connections(t: &Transcript, swap: bool) -> Vec<RecConn> {
    let mut out: Vec<RecConn> = Vec::new();
    for e in &t.entries {
        let i = match out.iter().position(|c| c.id == e.conn) {
            Some(i) => i,
            None => {
                out.push(RecConn {
                    id: e.conn,
                    connect: e.t,
                    open: None,
                    url: String::new(),
                    timed: VecDeque::new(),
                    sends: VecDeque::new(),
                });
                out.len() - 1
            }
        };
        let c = &mut out[i];
        match &e.record {
            Record::Connect { url } => {
                c.connect = e.t;
                c.url = url.clone();
            }
            Record::Open { subprotocol } => c.open = Some((e.t, subprotocol.clone())),
            // for a hub replay the roles swap: what the client sent is what the hub receives
            Record::Recv { text } if !swap => c.timed.push_back((e.t, Timed::Recv(text.clone()))),
            Record::Send { text } if !swap => c.sends.push_back((e.t, text.clone())),
            Record::Recv { text } => c.sends.push_back((e.t, text.clone())),
            Record::Send { text } => c.timed.push_back((e.t, Timed::Recv(text.clone()))),
            Record::Close { by, .. } => {
                let by = match (swap, by) {
                    (true, ClosedBy::Server) => ClosedBy::Client,
                    (true, ClosedBy::Client) => ClosedBy::Server,
                    (_, b) => *b,
                };
                c.timed.push_back((e.t, Timed::Close(by, e.close_frame())));
            }
        }
    }
    out
}

/// The most steps a replay takes before it gives up on a session that loops without time moving.
const MAX_STEPS: usize = 1_000_000;

struct Active {
    conn: RecConn,
    /// live time of the recorded open
    live_open: Instant,
    rec_open: u64,
}

impl Active {
    fn live(&self, t: u64) -> Instant {
        self.live_open + ms(t.saturating_sub(self.rec_open))
    }
}

enum Dial {
    Open(Instant, RecConn, u64, Option<String>),
    Fail(Instant, RecConn),
}

/// Replays a client-side transcript into `session` (which is connected here, at `start`), on a virtual clock.
///
/// Each time the session dials, the next recorded connection answers: it opens after the recorded handshake
/// time (or fails, if the recording's did), then its frames and its close arrive at their recorded offsets from
/// that open. The session's own deadlines (pings, timeouts, backoff) fire in between, and its reconnects find
/// the next recorded connection whenever they happen, so a session with another backoff still meets every
/// connection of the recording. Frames the session sends are compared in order with the recorded ones;
/// `[redacted:N]` placeholders match anything and their values are put back into the frames replayed (see
/// [`Placeholders`]). The replay ends when the recording does.
pub fn replay_client<S: Lifecycle>(
    transcript: &Transcript,
    mut session: S,
    start: Instant,
) -> ClientReplay<S> {
    let mut pending: VecDeque<RecConn> = connections(transcript, false).into();
    let mut r = ClientReplay {
        session: {
            session.connect(start);
            session
        },
        events: Vec::new(),
        mismatches: Vec::new(),
        sent: Vec::new(),
    };
    let mut marks = Placeholders::new();
    let mut now = start;
    let mut active: Option<Active> = None;
    let mut dial: Option<Dial> = None;
    let at = |now: Instant| now.saturating_duration_since(start);
    let mut last_deadline: Option<(Instant, usize)> = None;
    for _ in 0..MAX_STEPS {
        // what the session wants done, then what it tells the application
        while let Some(t) = r.session.poll_transmit() {
            match t {
                Transmit::Connect(_) => {
                    if let Some(a) = active.take() {
                        finish(&mut r.mismatches, a.conn, at(now));
                    }
                    match pending.pop_front() {
                        Some(c) => {
                            dial = Some(match c.open.clone() {
                                Some((t, sp)) => Dial::Open(now + ms(t.saturating_sub(c.connect)), c, t, sp),
                                None => {
                                    let fail = c.timed.front().map_or(c.connect, |(t, _)| *t);
                                    Dial::Fail(now + ms(fail.saturating_sub(c.connect)), c)
                                }
                            });
                        }
                        None => {
                            drain_events(&mut r, now, start);
                            return r; // the recording is over: it has no further connection
                        }
                    }
                }
                Transmit::Send(frame) => {
                    let Some(a) = active.as_mut() else { continue };
                    r.sent.push((at(now), a.conn.id, frame.as_str().to_owned()));
                    match a.conn.sends.pop_front() {
                        Some((_, expected)) => {
                            if !marks.matches(&expected, frame.as_str()) {
                                r.mismatches.push(Mismatch {
                                    at: at(now),
                                    conn: a.conn.id,
                                    kind: MismatchKind::Frame {
                                        expected,
                                        got: frame.as_str().to_owned(),
                                    },
                                });
                            }
                        }
                        None => r.mismatches.push(Mismatch {
                            at: at(now),
                            conn: a.conn.id,
                            kind: MismatchKind::Unexpected {
                                got: frame.as_str().to_owned(),
                            },
                        }),
                    }
                }
                Transmit::Close(_) => {
                    if let Some(mut a) = active.take() {
                        let recorded = a
                            .conn
                            .timed
                            .iter()
                            .any(|(_, t)| matches!(t, Timed::Close(ClosedBy::Client, _)));
                        if !recorded {
                            r.mismatches.push(Mismatch {
                                at: at(now),
                                conn: a.conn.id,
                                kind: MismatchKind::Close {
                                    what: "the session closed a connection the recording's server kept open"
                                        .into(),
                                },
                            });
                        }
                        a.conn.timed.clear();
                        finish(&mut r.mismatches, a.conn, at(now));
                    }
                }
            }
        }
        drain_events(&mut r, now, start);

        // the next thing that happens: a dial completing, a recorded frame or close, or a session deadline
        let next_item = match (&dial, &active) {
            (Some(Dial::Open(t, ..)), _) | (Some(Dial::Fail(t, _)), _) => Some(*t),
            (None, Some(a)) => a.conn.timed.front().map(|(t, _)| a.live(*t)),
            (None, None) => None,
        };
        let recording_over = next_item.is_none() && pending.is_empty();
        let deadline = r.session.poll_timeout();
        let fire_deadline = match (deadline, next_item) {
            (Some(d), Some(i)) => d < i,
            (Some(_), None) => !recording_over && active.is_none() && dial.is_none(),
            (None, _) => false,
        };
        if fire_deadline {
            let d = deadline.unwrap_or(now).max(now);
            // a deadline that stays due without the session acting on it would spin: give up after a while
            last_deadline = match last_deadline {
                Some((prev, n)) if prev == d => Some((d, n + 1)),
                _ => Some((d, 0)),
            };
            if last_deadline.is_some_and(|(_, n)| n > 1000) {
                break;
            }
            now = d;
            r.session.handle_timeout(now);
            continue;
        }
        let Some(t) = next_item else {
            break; // the recording is over
        };
        now = now.max(t);
        match dial.take() {
            Some(Dial::Open(_, c, rec_open, sp)) => {
                r.session.handle_open(now, sp.as_deref());
                active = Some(Active {
                    conn: c,
                    live_open: now,
                    rec_open,
                });
            }
            Some(Dial::Fail(_, mut c)) => {
                c.timed.pop_front();
                r.session.handle_close(now, None);
            }
            None => {
                let Some(a) = active.as_mut() else { break };
                let Some((_, item)) = a.conn.timed.pop_front() else {
                    continue;
                };
                match item {
                    Timed::Recv(text) => {
                        let frame = Frame::from(marks.fill(&text).into_owned());
                        r.session.handle_frame(now, frame);
                    }
                    Timed::Close(by, close) => {
                        let a = active.take().map(|a| a.conn);
                        let id = a.as_ref().map_or(0, |c| c.id);
                        match by {
                            ClosedBy::Server => r.session.handle_close(now, close),
                            ClosedBy::Transport => r.session.handle_close(now, None),
                            ClosedBy::Client => {
                                r.mismatches.push(Mismatch {
                                    at: at(now),
                                    conn: id,
                                    kind: MismatchKind::Close {
                                        what: "the recorded client closed here; the session did not".into(),
                                    },
                                });
                                r.session.handle_close(now, None);
                            }
                        }
                        if let Some(c) = a {
                            finish(&mut r.mismatches, c, at(now));
                        }
                    }
                }
            }
        }
    }
    drain_events(&mut r, now, start);
    if let Some(a) = active.take() {
        finish(&mut r.mismatches, a.conn, at(now));
    }
    r
}

fn drain_events<S: Session>(r: &mut ClientReplay<S>, now: Instant, start: Instant) {
    while let Some(event) = r.session.poll_event() {
        r.events.push(Replayed {
            at: now.saturating_duration_since(start),
            event,
        });
    }
}

/// A connection ended: recorded frames its side never sent are mismatches.
fn finish(mismatches: &mut Vec<Mismatch>, conn: RecConn, at: Duration) {
    for (_, expected) in conn.sends {
        mismatches.push(Mismatch {
            at,
            conn: conn.id,
            kind: MismatchKind::Missing { expected },
        });
    }
}

/// Replays a client-side transcript into `hub` as one client per recorded connection, on a virtual clock
/// starting at `start`: each connection opens at its recorded time (with the recorded URL's path and query
/// and the recorded subprotocol), the recorded client's frames and closes arrive at their recorded times, the
/// hub's deadlines fire in between, and what the hub sends each connection is compared in order with what the
/// recorded server sent.
pub fn replay_hub<H: Hub>(transcript: &Transcript, hub: H, start: Instant) -> HubReplay<H> {
    let mut r = HubReplay {
        hub,
        events: Vec::new(),
        mismatches: Vec::new(),
        sent: Vec::new(),
    };
    let mut conns = connections(transcript, true);
    let mut open: Vec<bool> = vec![false; conns.len()];
    let mut opened: Vec<bool> = vec![false; conns.len()];
    let mut marks = Placeholders::new();
    let mut now = start;
    let at = |now: Instant| now.saturating_duration_since(start);
    let mut same = 0usize;
    for _ in 0..MAX_STEPS {
        while let Some((conn, t)) = r.hub.poll_transmit() {
            let Some(i) = conns.iter().position(|c| c.id == conn.0) else {
                continue;
            };
            match t {
                HubTransmit::Send(frame) => {
                    r.sent.push((at(now), conn.0, frame.as_str().to_owned()));
                    match conns[i].sends.pop_front() {
                        Some((_, expected)) if !marks.matches(&expected, frame.as_str()) => {
                            r.mismatches.push(Mismatch {
                                at: at(now),
                                conn: conn.0,
                                kind: MismatchKind::Frame {
                                    expected,
                                    got: frame.as_str().to_owned(),
                                },
                            });
                        }
                        Some(_) => {}
                        None => r.mismatches.push(Mismatch {
                            at: at(now),
                            conn: conn.0,
                            kind: MismatchKind::Unexpected {
                                got: frame.as_str().to_owned(),
                            },
                        }),
                    }
                }
                HubTransmit::Close(_) => {
                    open[i] = false;
                    let recorded = conns[i]
                        .timed
                        .iter()
                        .any(|(_, t)| matches!(t, Timed::Close(ClosedBy::Client, _)));
                    if !recorded {
                        r.mismatches.push(Mismatch {
                            at: at(now),
                            conn: conn.0,
                            kind: MismatchKind::Close {
                                what: "the hub closed a connection the recording's server kept open".into(),
                            },
                        });
                    }
                    conns[i].timed.clear();
                }
            }
        }
        while let Some(event) = r.hub.poll_event() {
            r.events.push(Replayed { at: at(now), event });
        }
        // the next recorded happening: an open, or a frame/close of an open connection
        let mut next: Option<(u64, usize, bool)> = None; // (recorded t, conn index, is_open)
        for (i, c) in conns.iter().enumerate() {
            let cand = if !opened[i] {
                c.open.as_ref().map(|(t, _)| (*t, i, true))
            } else if open[i] {
                c.timed.front().map(|(t, _)| (*t, i, false))
            } else {
                None
            };
            if let Some(cand) = cand
                && next.is_none_or(|n| cand.0 < n.0)
            {
                next = Some(cand);
            }
        }
        let deadline = r.hub.poll_timeout();
        let item_at = next.map(|(t, ..)| start + ms(t));
        match (deadline, item_at) {
            (Some(d), Some(i)) if d < i => {
                let d = d.max(now);
                same = if d == now { same + 1 } else { 0 };
                if same > 1000 {
                    break;
                }
                now = d;
                r.hub.handle_timeout(now);
                continue;
            }
            (_, None) => break,
            _ => {}
        }
        let Some((t, i, is_open)) = next else { break };
        now = now.max(start + ms(t));
        let conn = ConnId(conns[i].id);
        if is_open {
            opened[i] = true;
            open[i] = true;
            let path = path_and_query(&conns[i].url);
            let sp = conns[i].open.as_ref().and_then(|(_, sp)| sp.clone());
            let req = OpenRequest::new(path).with_subprotocol(sp);
            r.hub.handle_open(now, conn, &req);
            continue;
        }
        match conns[i].timed.pop_front() {
            Some((_, Timed::Recv(text))) => {
                r.hub
                    .handle_frame(now, conn, Frame::from(marks.fill(&text).into_owned()));
            }
            Some((_, Timed::Close(by, close))) => {
                open[i] = false;
                match by {
                    ClosedBy::Server => r.hub.handle_close(now, conn, close),
                    ClosedBy::Transport => r.hub.handle_close(now, conn, None),
                    ClosedBy::Client => {
                        r.mismatches.push(Mismatch {
                            at: at(now),
                            conn: conn.0,
                            kind: MismatchKind::Close {
                                what: "the recorded server closed here; the hub did not".into(),
                            },
                        });
                        r.hub.handle_close(now, conn, None);
                    }
                }
            }
            None => {}
        }
    }
    for (i, c) in conns.into_iter().enumerate() {
        if opened[i] {
            finish(&mut r.mismatches, c, at(now));
        }
    }
    while let Some(event) = r.hub.poll_event() {
        r.events.push(Replayed { at: at(now), event });
    }
    r
}

/// The path and query of a recorded URL (`/` when it has none).
fn path_and_query(url: &str) -> String {
    crate::transmit::ConnectRequest::new(url)
        .path_and_query()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::doc::{EchoClient, EchoHub};

    use crate::testing::replay_test_support::{t0, transcript};

    #[test]
    fn reports_frames_that_differ_and_frames_never_sent() {
        let t = transcript(&[
            r#"{"t":0,"conn":1,"kind":"connect","url":"ws://h/echo"}"#,
            r#"{"t":1,"conn":1,"kind":"open","subprotocol":null}"#,
            r#"{"t":2,"conn":1,"kind":"send","text":"goodbye"}"#,
            r#"{"t":3,"conn":1,"kind":"send","text":"again"}"#,
            r#"{"t":4,"conn":1,"kind":"recv","text":"goodbye"}"#,
        ]);
        let r = replay_client(&t, EchoClient::default(), t0());
        assert_eq!(r.sent.len(), 1);
        assert_eq!(
            r.mismatches.iter().map(|m| &m.kind).collect::<Vec<_>>(),
            vec![
                &MismatchKind::Frame {
                    expected: "goodbye".into(),
                    got: "hello".into()
                },
                &MismatchKind::Missing {
                    expected: "again".into()
                },
            ]
        );
        assert!(
            r.mismatches[0]
                .to_string()
                .contains("expected goodbye, got hello")
        );
    }

    #[test]
    fn frames_keep_their_offsets_from_the_open() {
        let t = transcript(&[
            r#"{"t":100,"conn":1,"kind":"connect","url":"ws://h/echo"}"#,
            r#"{"t":130,"conn":1,"kind":"open","subprotocol":null}"#,
            r#"{"t":131,"conn":1,"kind":"send","text":"hello"}"#,
            r#"{"t":1130,"conn":1,"kind":"recv","text":"late"}"#,
        ]);
        let r = replay_client(&t, EchoClient::default(), t0());
        assert!(r.mismatches.is_empty(), "{:?}", r.mismatches);
        // the session dialed at 0: the open came 30 ms later, the frame 1 s after that
        assert_eq!(r.events.len(), 1);
        assert_eq!(r.events[0].at, Duration::from_millis(1030));
        assert_eq!(r.events[0].event, "late");
    }

    #[test]
    fn hub_replay_plays_the_client_and_checks_the_answers() {
        let t = transcript(&[
            r#"{"t":0,"conn":1,"kind":"connect","url":"ws://h/echo?x=1"}"#,
            r#"{"t":1,"conn":1,"kind":"open","subprotocol":null}"#,
            r#"{"t":2,"conn":1,"kind":"send","text":"one"}"#,
            r#"{"t":3,"conn":1,"kind":"recv","text":"one"}"#,
            r#"{"t":4,"conn":1,"kind":"send","text":"two"}"#,
            r#"{"t":5,"conn":1,"kind":"recv","text":"not what the echo hub says"}"#,
            r#"{"t":6,"conn":1,"kind":"close","by":"client","code":1000,"reason":""}"#,
        ]);
        let r = replay_hub(&t, EchoHub::default(), t0());
        assert_eq!(
            r.sent.iter().map(|(_, _, s)| s.as_str()).collect::<Vec<_>>(),
            vec!["one", "two"]
        );
        assert_eq!(r.mismatches.len(), 1, "{:?}", r.mismatches);
        assert!(matches!(&r.mismatches[0].kind, MismatchKind::Frame { got, .. } if got == "two"));
    }
}
