//! An in-memory harness that wires client sessions to a hub on a virtual clock (feature `testing`).
//!
//! [`Pair`] plays the driver for one [`Hub`] and one or more [`Session`]s: it dials when a session asks, hands
//! frames across, fires deadlines in time order, and records everything that crossed the "wire" so tests can
//! assert on exact frames.
//!
//! Being test code, `Pair` panics when the system under test livelocks (more than [`Pair::MAX_ROUNDS`] rounds of
//! traffic without going quiet, or more than [`Pair::MAX_DEADLINES`] deadlines without time moving).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::close::Close;
use crate::frame::Frame;
use crate::session::{ConnId, Hub, Session};
use crate::transmit::{ConnectRequest, HubTransmit, OpenRequest, Transmit};

/// One thing that crossed the in-memory wire. `at` is the virtual time since the pair was made; `client` is the
/// index of the client session involved.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Wire {
    /// A client asked to connect; `conn` is `None` when the pair refused the connection.
    Connect {
        /// Virtual time since start.
        at: Duration,
        /// Client index.
        client: usize,
        /// The request.
        request: ConnectRequest,
        /// The connection made, if any.
        conn: Option<ConnId>,
    },
    /// A frame from a client to the hub.
    ToHub {
        /// Virtual time since start.
        at: Duration,
        /// Client index.
        client: usize,
        /// The connection.
        conn: ConnId,
        /// The frame.
        frame: Frame,
    },
    /// A frame from the hub to a client.
    ToClient {
        /// Virtual time since start.
        at: Duration,
        /// Client index.
        client: usize,
        /// The connection.
        conn: ConnId,
        /// The frame.
        frame: Frame,
    },
    /// A client closed its connection.
    ClientClosed {
        /// Virtual time since start.
        at: Duration,
        /// Client index.
        client: usize,
        /// The connection.
        conn: ConnId,
        /// The close sent.
        close: Close,
    },
    /// The hub closed a connection.
    HubClosed {
        /// Virtual time since start.
        at: Duration,
        /// Client index.
        client: usize,
        /// The connection.
        conn: ConnId,
        /// The close sent.
        close: Close,
    },
    /// The test dropped a connection without a close frame.
    Dropped {
        /// Virtual time since start.
        at: Duration,
        /// Client index.
        client: usize,
        /// The connection.
        conn: ConnId,
    },
}

struct Client<S: Session> {
    session: S,
    conn: Option<ConnId>,
    events: VecDeque<S::Event>,
}

/// Client sessions and a hub connected in memory, on a virtual clock.
///
/// ```
/// # #[cfg(feature = "testing")] {
/// use std::time::{Duration, Instant};
/// use feedwire_core::testing::Pair;
/// # use feedwire_core::testing::doc::{EchoClient, EchoHub};
/// use feedwire_core::Lifecycle;
/// let start = Instant::now();
/// let mut pair = Pair::new(EchoClient::default(), EchoHub::default(), start);
/// pair.client_mut().connect(start);
/// pair.run_until_quiet();                       // the client dials and says hello; the hub echoes
/// assert_eq!(pair.frames_to_client(), vec!["hello"]);
/// pair.advance(Duration::from_secs(30));        // deadlines fire in order on the virtual clock
/// # }
/// ```
pub struct Pair<S: Session, H: Hub> {
    clients: Vec<Client<S>>,
    hub: H,
    hub_events: VecDeque<H::Event>,
    start: Instant,
    now: Instant,
    next_conn: u64,
    refuse: bool,
    wire: Vec<Wire>,
    request_headers: Vec<(String, String)>,
}

impl<S: Session, H: Hub> Pair<S, H> {
    /// Rounds of traffic allowed before `run_until_quiet` declares a livelock.
    pub const MAX_ROUNDS: usize = 100_000;
    /// Deadlines allowed at one virtual instant before `advance` declares a busy loop.
    pub const MAX_DEADLINES: usize = 10_000;

    /// One client and a hub, with the virtual clock at `start`. Nothing happens until you run the pair.
    pub fn new(client: S, hub: H, start: Instant) -> Self {
        Pair {
            clients: vec![Client {
                session: client,
                conn: None,
                events: VecDeque::new(),
            }],
            hub,
            hub_events: VecDeque::new(),
            start,
            now: start,
            next_conn: 1,
            refuse: false,
            wire: Vec::new(),
            request_headers: Vec::new(),
        }
    }

    /// Adds another client session; returns its index.
    pub fn add_client(&mut self, client: S) -> usize {
        self.clients.push(Client {
            session: client,
            conn: None,
            events: VecDeque::new(),
        });
        self.clients.len() - 1
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Virtual time since the pair was made.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// The first client session.
    pub fn client(&self) -> &S {
        &self.clients[0].session
    }

    /// The first client session, to call commands on; run the pair afterwards.
    pub fn client_mut(&mut self) -> &mut S {
        &mut self.clients[0].session
    }

    /// Client session `i`.
    pub fn client_at(&mut self, i: usize) -> &mut S {
        &mut self.clients[i].session
    }

    /// The hub.
    pub fn hub(&self) -> &H {
        &self.hub
    }

    /// The hub, to call commands on (publish, broadcast, ...); run the pair afterwards.
    pub fn hub_mut(&mut self) -> &mut H {
        &mut self.hub
    }

    /// The open connection of client `i`, if any.
    pub fn connection_of(&self, i: usize) -> Option<ConnId> {
        self.clients[i].conn
    }

    /// While `true`, every connect attempt fails at once (`handle_close(now, None)`), as when the server is down.
    pub fn refuse_connections(&mut self, refuse: bool) {
        self.refuse = refuse;
    }

    /// Headers the "driver" adds to every open request the hub sees (cookies, for example).
    pub fn set_request_headers(&mut self, headers: Vec<(String, String)>) {
        self.request_headers = headers;
    }

    /// Everything that crossed the wire so far.
    pub fn wire(&self) -> &[Wire] {
        &self.wire
    }

    /// Takes the wire record, leaving it empty.
    pub fn take_wire(&mut self) -> Vec<Wire> {
        std::mem::take(&mut self.wire)
    }

    /// The text of every frame clients sent to the hub, in order (all clients).
    pub fn frames_to_hub(&self) -> Vec<&str> {
        self.frames(true)
    }

    /// The text of every frame the hub sent to clients, in order (all clients).
    pub fn frames_to_client(&self) -> Vec<&str> {
        self.frames(false)
    }

    /// The text of every frame sent to the hub (`to_hub`) or to clients, in order.
    fn frames(&self, to_hub: bool) -> Vec<&str> {
        self.wire
            .iter()
            .filter_map(|w| match (w, to_hub) {
                (Wire::ToHub { frame, .. }, true) | (Wire::ToClient { frame, .. }, false) => {
                    Some(frame.as_str())
                }
                _ => None,
            })
            .collect()
    }

    /// Takes the events the first client produced so far.
    pub fn take_client_events(&mut self) -> Vec<S::Event> {
        self.clients[0].events.drain(..).collect()
    }

    /// Takes the events client `i` produced so far.
    pub fn take_events_of(&mut self, i: usize) -> Vec<S::Event> {
        self.clients[i].events.drain(..).collect()
    }

    /// Takes the events the hub produced so far.
    pub fn take_hub_events(&mut self) -> Vec<H::Event> {
        self.hub_events.drain(..).collect()
    }

    fn at(&self) -> Duration {
        self.now - self.start
    }

    fn client_of(&self, conn: ConnId) -> Option<usize> {
        self.clients.iter().position(|c| c.conn == Some(conn))
    }

    /// One round: every client's transmits, then the hub's, then everybody's events. Returns whether any
    /// transmit happened.
    pub fn pump(&mut self) -> bool {
        let mut moved = false;
        for i in 0..self.clients.len() {
            while let Some(t) = self.clients[i].session.poll_transmit() {
                moved = true;
                self.client_transmit(i, t);
            }
        }
        while let Some((conn, t)) = self.hub.poll_transmit() {
            moved = true;
            self.hub_transmit(conn, t);
        }
        for c in &mut self.clients {
            while let Some(ev) = c.session.poll_event() {
                c.events.push_back(ev);
            }
        }
        while let Some(ev) = self.hub.poll_event() {
            self.hub_events.push_back(ev);
        }
        moved
    }

    fn client_transmit(&mut self, i: usize, t: Transmit) {
        let now = self.now;
        let at = self.at();
        match t {
            Transmit::Connect(request) => {
                if let Some(old) = self.clients[i].conn.take() {
                    // The session dials again without closing: the old transport is simply dropped.
                    self.wire.push(Wire::Dropped {
                        at,
                        client: i,
                        conn: old,
                    });
                    self.hub.handle_close(now, old, None);
                }
                if self.refuse {
                    self.wire.push(Wire::Connect {
                        at,
                        client: i,
                        request,
                        conn: None,
                    });
                    self.clients[i].session.handle_close(now, None);
                    return;
                }
                let conn = ConnId(self.next_conn);
                self.next_conn += 1;
                let subprotocol = self.hub.select_subprotocol(&request.subprotocols);
                let mut open = OpenRequest::new(request.path_and_query().to_owned())
                    .with_subprotocol(subprotocol.clone());
                open.headers = request.headers.clone();
                open.headers.extend(self.request_headers.iter().cloned());
                self.wire.push(Wire::Connect {
                    at,
                    client: i,
                    request,
                    conn: Some(conn),
                });
                self.clients[i].conn = Some(conn);
                self.hub.handle_open(now, conn, &open);
                self.clients[i].session.handle_open(now, subprotocol.as_deref());
            }
            Transmit::Send(frame) => {
                // Sending on a closed transport is dropped, as a real driver drops it.
                if let Some(conn) = self.clients[i].conn {
                    self.deliver(i, conn, frame, true);
                }
            }
            Transmit::Close(close) => {
                if let Some(conn) = self.clients[i].conn.take() {
                    self.wire.push(Wire::ClientClosed {
                        at,
                        client: i,
                        conn,
                        close: close.clone(),
                    });
                    self.hub.handle_close(now, conn, Some(close));
                }
            }
        }
    }

    fn hub_transmit(&mut self, conn: ConnId, t: HubTransmit) {
        let now = self.now;
        let at = self.at();
        let Some(i) = self.client_of(conn) else {
            return; // the connection is already gone; a real driver drops it too
        };
        match t {
            HubTransmit::Send(frame) => self.deliver(i, conn, frame, false),
            HubTransmit::Close(close) => {
                self.clients[i].conn = None;
                self.wire.push(Wire::HubClosed {
                    at,
                    client: i,
                    conn,
                    close: close.clone(),
                });
                self.clients[i].session.handle_close(now, Some(close));
            }
        }
    }

    /// Pumps until nothing moves.
    ///
    /// # Panics
    /// After [`Pair::MAX_ROUNDS`] rounds that all moved traffic (a livelock).
    pub fn run_until_quiet(&mut self) {
        for _ in 0..Self::MAX_ROUNDS {
            if !self.pump() {
                return;
            }
        }
        panic!(
            "Pair: no quiet after {} rounds of traffic (livelock?)",
            Self::MAX_ROUNDS
        );
    }

    /// The earliest deadline of any client or the hub.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.clients
            .iter()
            .filter_map(|c| c.session.poll_timeout())
            .chain(self.hub.poll_timeout())
            .min()
    }

    /// Fires every deadline up to and including `t` in time order (running to quiet after each), then sets the
    /// clock to `t`. The clock never goes back: a `t` in the past only runs deadlines already due.
    ///
    /// # Panics
    /// If more than [`Pair::MAX_DEADLINES`] deadlines are due at one instant (a busy loop).
    pub fn advance_to(&mut self, t: Instant) {
        self.run_until_quiet();
        let mut same_instant = 0usize;
        while let Some(d) = self.next_deadline() {
            if d > t {
                break;
            }
            if d <= self.now {
                same_instant += 1;
                assert!(
                    same_instant <= Self::MAX_DEADLINES,
                    "Pair: {} deadlines due at {:?} without time moving (busy loop?)",
                    Self::MAX_DEADLINES,
                    self.at()
                );
            } else {
                same_instant = 0;
                self.now = d;
            }
            self.fire_timeouts();
        }
        if t > self.now {
            self.now = t;
        }
        self.fire_timeouts();
    }

    fn fire_timeouts(&mut self) {
        let now = self.now;
        for c in &mut self.clients {
            c.session.handle_timeout(now);
        }
        self.hub.handle_timeout(now);
        self.run_until_quiet();
    }

    /// Advances the virtual clock by `d`, firing deadlines on the way.
    pub fn advance(&mut self, d: Duration) {
        let t = self.now + d;
        self.advance_to(t);
    }

    /// Jumps to the next deadline and fires it; returns `false` when nothing is scheduled.
    pub fn advance_to_next_deadline(&mut self) -> bool {
        self.run_until_quiet();
        match self.next_deadline() {
            Some(d) => {
                self.advance_to(d.max(self.now));
                true
            }
            None => false,
        }
    }

    /// Drops client `i`'s connection without a close frame: both sides see `handle_close(now, None)`.
    pub fn drop_connection_of(&mut self, i: usize) {
        if let Some(conn) = self.clients[i].conn.take() {
            let now = self.now;
            self.wire.push(Wire::Dropped {
                at: self.at(),
                client: i,
                conn,
            });
            self.hub.handle_close(now, conn, None);
            self.clients[i].session.handle_close(now, None);
        }
        self.run_until_quiet();
    }

    /// Drops the first client's connection without a close frame.
    pub fn drop_connection(&mut self) {
        self.drop_connection_of(0);
    }

    /// Closes client `i`'s connection from outside the hub (a proxy, a restart) with `close`: the client
    /// sees the close frame, the hub sees the connection end.
    pub fn close_from_server(&mut self, i: usize, close: Close) {
        if let Some(conn) = self.clients[i].conn.take() {
            let now = self.now;
            self.wire.push(Wire::HubClosed {
                at: self.at(),
                client: i,
                conn,
                close: close.clone(),
            });
            self.hub.handle_close(now, conn, None);
            self.clients[i].session.handle_close(now, Some(close));
        }
        self.run_until_quiet();
    }

    /// Delivers a frame to client `i` as if the hub had sent it (for malformed or foreign frames).
    pub fn inject_to_client(&mut self, i: usize, frame: Frame) {
        self.inject(i, frame, false);
    }

    /// Delivers a frame to the hub as if client `i` had sent it.
    pub fn inject_to_hub(&mut self, i: usize, frame: Frame) {
        self.inject(i, frame, true);
    }

    /// Delivers `frame` now to the hub (`to_hub`, from client `i`) or to client `i` (from the hub) on
    /// `conn`, and records it on the wire.
    fn deliver(&mut self, i: usize, conn: ConnId, frame: Frame, to_hub: bool) {
        let (now, at, sent) = (self.now, self.at(), frame.clone());
        if to_hub {
            self.wire.push(Wire::ToHub {
                at,
                client: i,
                conn,
                frame: sent,
            });
            self.hub.handle_frame(now, conn, frame);
        } else {
            self.wire.push(Wire::ToClient {
                at,
                client: i,
                conn,
                frame: sent,
            });
            self.clients[i].session.handle_frame(now, frame);
        }
    }

    /// Delivers `frame` to the hub (`to_hub`, as if client `i` had sent it) or to client `i`, then runs until
    /// quiet; without a connection, only runs.
    fn inject(&mut self, i: usize, frame: Frame, to_hub: bool) {
        if let Some(conn) = self.clients[i].conn {
            self.deliver(i, conn, frame, to_hub);
        }
        self.run_until_quiet();
    }
}

/// Every string and number in `text` if it is JSON (nothing otherwise), depth first: fuzz drivers use it to
/// see which of their own event ids a frame of the fuzzer's own text happens to spell.
///
/// ```
/// let leaves = feedwire_core::testing::json_scalars(r#"{"id":"fz-1","n":[2,{"x":"y"}],"b":true}"#);
/// assert_eq!(leaves, [serde_json::json!("fz-1"), serde_json::json!(2), serde_json::json!("y")]);
/// ```
pub fn json_scalars(text: &str) -> Vec<serde_json::Value> {
    fn walk(v: serde_json::Value, out: &mut Vec<serde_json::Value>) {
        match v {
            serde_json::Value::Array(a) => a.into_iter().for_each(|v| walk(v, out)),
            serde_json::Value::Object(o) => o.into_iter().for_each(|(_, v)| walk(v, out)),
            v @ (serde_json::Value::String(_) | serde_json::Value::Number(_)) => out.push(v),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::from_str(text) {
        walk(v, &mut out);
    }
    out
}

pub mod bad_input;
pub mod chaos;
pub mod replay;
mod replay_hub;

/// What the replay modules' unit tests share: an echo transcript from its record lines, and the virtual
/// clock's origin.
#[cfg(test)]
mod replay_test_support {
    use std::time::Instant;

    use crate::transcript::Transcript;

    /// A client-side echo transcript: the header, then `lines`.
    pub(super) fn transcript(lines: &[&str]) -> Transcript {
        let mut text = String::from(r#"{"feedwire_transcript":1,"protocol":"echo","side":"client"}"#);
        for l in lines {
            text.push('\n');
            text.push_str(l);
        }
        Transcript::parse(&text).unwrap()
    }

    #[allow(clippy::disallowed_methods)] // the virtual clock's origin
    pub(super) fn t0() -> Instant {
        Instant::now()
    }
}

#[doc(hidden)]
pub mod doc {
    //! A toy client and hub for the documentation examples.
    #![allow(missing_docs)]
    use super::*;

    /// Follows the [`Lifecycle`](crate::Lifecycle): dials on `connect`, says "hello" on open, pings every
    /// 30 s, and tells the application every frame it receives.
    #[derive(Default)]
    pub struct EchoClient {
        out: VecDeque<Transmit>,
        events: VecDeque<String>,
        next_ping: Option<Instant>,
        dialing: bool,
        open: bool,
        stopped: bool,
    }

    impl Session for EchoClient {
        type Event = String;
        fn handle_open(&mut self, now: Instant, _: Option<&str>) {
            self.open = true;
            self.out.push_back(Transmit::Send(Frame::from("hello")));
            self.next_ping = Some(now + Duration::from_secs(30));
        }
        fn handle_frame(&mut self, _: Instant, frame: Frame) {
            self.events.push_back(frame.as_str().to_owned());
        }
        fn handle_close(&mut self, _: Instant, _: Option<Close>) {
            self.open = false;
            self.dialing = false;
            self.next_ping = None;
        }
        fn handle_timeout(&mut self, now: Instant) {
            if self.next_ping.is_some_and(|t| t <= now) {
                self.out.push_back(Transmit::Send(Frame::from("ping")));
                self.next_ping = Some(now + Duration::from_secs(30));
            }
        }
        fn poll_transmit(&mut self) -> Option<Transmit> {
            self.out.pop_front()
        }
        fn poll_event(&mut self) -> Option<String> {
            self.events.pop_front()
        }
        fn poll_timeout(&self) -> Option<Instant> {
            self.next_ping
        }
    }

    impl crate::Lifecycle for EchoClient {
        fn connect(&mut self, _: Instant) {
            if !self.dialing && !self.open {
                self.dialing = true;
                self.stopped = false;
                self.out
                    .push_back(Transmit::Connect(ConnectRequest::new("ws://127.0.0.1/echo")));
            }
        }
        fn disconnect(&mut self, _: Instant) {
            if self.dialing || self.open {
                self.out.push_back(Transmit::Close(Close::normal()));
            }
            self.dialing = false;
            self.open = false;
            self.stopped = true;
            self.next_ping = None;
        }
        fn is_open(&self) -> bool {
            self.open
        }
        fn is_stopped(&self) -> bool {
            self.stopped || (!self.dialing && !self.open)
        }
    }

    /// Echoes every frame back.
    #[derive(Default)]
    pub struct EchoHub {
        out: VecDeque<(ConnId, HubTransmit)>,
    }

    impl Hub for EchoHub {
        type Event = ();
        fn handle_open(&mut self, _: Instant, _: ConnId, _: &OpenRequest) {}
        fn handle_frame(&mut self, _: Instant, conn: ConnId, frame: Frame) {
            self.out.push_back((conn, HubTransmit::Send(frame)));
        }
        fn handle_close(&mut self, _: Instant, _: ConnId, _: Option<Close>) {}
        fn handle_timeout(&mut self, _: Instant) {}
        fn poll_transmit(&mut self) -> Option<(ConnId, HubTransmit)> {
            self.out.pop_front()
        }
        fn poll_event(&mut self) -> Option<()> {
            None
        }
        fn poll_timeout(&self) -> Option<Instant> {
            None
        }
    }
}
