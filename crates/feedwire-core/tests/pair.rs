//! The Pair harness drives a small session and hub written here: open, frames both ways, a deadline, a close,
//! a reconnect with backoff, a refused dial.
#![allow(clippy::disallowed_methods)] // tests take one real Instant as the virtual clock's origin

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use feedwire_core::testing::{Pair, Wire};
use feedwire_core::{
    Backoff, BackoffConfig, Close, CloseCode, ConnId, ConnectRequest, Frame, Hub, HubTransmit, OpenRequest,
    Session, Transmit,
};

/// A tiny protocol: the client sends "sub:<topic>" after "welcome", pings after 10 s of silence and gives the
/// connection up when no "pong" comes within 5 s; it reconnects with backoff after any close except 4000.
struct TopicClient {
    topic: String,
    out: VecDeque<Transmit>,
    events: VecDeque<Ev>,
    want_connect: Option<Instant>, // None = connect now (at next poll) when not connected; set = at this time
    connected: bool,
    stopped: bool,
    idle_deadline: Option<Instant>,
    pong_deadline: Option<Instant>,
    backoff: Backoff,
}

#[derive(Debug, PartialEq)]
enum Ev {
    Open(Option<String>),
    Subscribed,
    Message(String),
    Closed(Option<u16>),
    Reconnecting(Duration),
    Stopped,
}

impl TopicClient {
    fn new(topic: &str) -> Self {
        TopicClient {
            topic: topic.into(),
            out: VecDeque::from([Transmit::Connect(
                ConnectRequest::new("ws://127.0.0.1:1/topics?v=1").with_subprotocol("topic-v1"),
            )]),
            events: VecDeque::new(),
            want_connect: None,
            connected: false,
            stopped: false,
            idle_deadline: None,
            pong_deadline: None,
            backoff: Backoff::new(BackoffConfig::default().with_jitter(0.0), 1),
        }
    }
    fn schedule_reconnect(&mut self, now: Instant) {
        let d = self.backoff.next_delay();
        self.want_connect = Some(now + d);
        self.events.push_back(Ev::Reconnecting(d));
    }
}

impl Session for TopicClient {
    type Event = Ev;
    fn handle_open(&mut self, now: Instant, subprotocol: Option<&str>) {
        self.connected = true;
        self.idle_deadline = Some(now + Duration::from_secs(10));
        self.events.push_back(Ev::Open(subprotocol.map(str::to_owned)));
    }
    fn handle_frame(&mut self, now: Instant, frame: Frame) {
        self.idle_deadline = Some(now + Duration::from_secs(10));
        self.pong_deadline = None;
        match frame.as_str() {
            "welcome" => self
                .out
                .push_back(Transmit::Send(Frame::from(format!("sub:{}", self.topic)))),
            "subscribed" => {
                self.backoff.reset();
                self.events.push_back(Ev::Subscribed)
            }
            "pong" => {}
            other => self.events.push_back(Ev::Message(other.to_owned())),
        }
    }
    fn handle_close(&mut self, now: Instant, close: Option<Close>) {
        self.connected = false;
        self.idle_deadline = None;
        self.pong_deadline = None;
        let code = close.map(|c| c.code.0);
        self.events.push_back(Ev::Closed(code));
        if code == Some(4000) {
            self.stopped = true;
            self.events.push_back(Ev::Stopped);
        } else {
            self.schedule_reconnect(now);
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        if self.want_connect.is_some_and(|t| t <= now) && !self.connected && !self.stopped {
            self.want_connect = None;
            self.out.push_back(Transmit::Connect(
                ConnectRequest::new("ws://127.0.0.1:1/topics?v=1").with_subprotocol("topic-v1"),
            ));
        }
        if self.pong_deadline.is_some_and(|t| t <= now) {
            self.pong_deadline = None;
            self.idle_deadline = None;
            self.connected = false;
            self.out
                .push_back(Transmit::Close(Close::new(4201, "pong timeout")));
            self.events.push_back(Ev::Closed(None));
            self.schedule_reconnect(now);
        } else if self.idle_deadline.is_some_and(|t| t <= now) {
            self.idle_deadline = None;
            self.pong_deadline = Some(now + Duration::from_secs(5));
            self.out.push_back(Transmit::Send(Frame::from("ping")));
        }
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }
    fn poll_event(&mut self) -> Option<Ev> {
        self.events.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        [self.want_connect, self.idle_deadline, self.pong_deadline]
            .into_iter()
            .flatten()
            .min()
    }
}

/// Welcomes, confirms subscriptions, answers pings unless muted, publishes to subscribers.
#[derive(Default)]
struct TopicHub {
    subs: Vec<(ConnId, String)>,
    out: VecDeque<(ConnId, HubTransmit)>,
    events: VecDeque<String>,
    mute_pongs: bool,
}

impl TopicHub {
    fn publish(&mut self, topic: &str, msg: &str) {
        let frame = Frame::from(msg.to_owned()); // encoded once, shared by every subscriber
        for (conn, t) in &self.subs {
            if t == topic {
                self.out.push_back((*conn, HubTransmit::Send(frame.clone())));
            }
        }
    }
    fn kick(&mut self, conn: ConnId, code: u16) {
        self.subs.retain(|(c, _)| *c != conn);
        self.out
            .push_back((conn, HubTransmit::Close(Close::new(code, "kicked"))));
    }
}

impl Hub for TopicHub {
    type Event = String;
    fn select_subprotocol(&self, offered: &[String]) -> Option<String> {
        offered.iter().find(|p| *p == "topic-v1").cloned()
    }
    fn handle_open(&mut self, _: Instant, conn: ConnId, request: &OpenRequest) {
        self.events.push_back(format!(
            "open {conn:?} {} {:?}",
            request.path_and_query, request.subprotocol
        ));
        self.out
            .push_back((conn, HubTransmit::Send(Frame::from("welcome"))));
    }
    fn handle_frame(&mut self, _: Instant, conn: ConnId, frame: Frame) {
        if let Some(topic) = frame.as_str().strip_prefix("sub:") {
            self.subs.push((conn, topic.to_owned()));
            self.out
                .push_back((conn, HubTransmit::Send(Frame::from("subscribed"))));
        } else if frame.as_str() == "ping" && !self.mute_pongs {
            self.out.push_back((conn, HubTransmit::Send(Frame::from("pong"))));
        }
    }
    fn handle_close(&mut self, _: Instant, conn: ConnId, close: Option<Close>) {
        self.subs.retain(|(c, _)| *c != conn);
        self.events
            .push_back(format!("close {conn:?} {:?}", close.map(|c| c.code.0)));
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self) -> Option<(ConnId, HubTransmit)> {
        self.out.pop_front()
    }
    fn poll_event(&mut self) -> Option<String> {
        self.events.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

fn pair() -> Pair<TopicClient, TopicHub> {
    Pair::new(TopicClient::new("news"), TopicHub::default(), Instant::now())
}

#[test]
fn open_handshake_and_frames_both_ways() {
    let mut p = pair();
    p.run_until_quiet();
    assert_eq!(p.frames_to_client(), vec!["welcome", "subscribed"]);
    assert_eq!(p.frames_to_hub(), vec!["sub:news"]);
    assert_eq!(
        p.take_client_events(),
        vec![Ev::Open(Some("topic-v1".into())), Ev::Subscribed]
    );
    assert_eq!(
        p.take_hub_events(),
        vec!["open conn#1 /topics?v=1 Some(\"topic-v1\")".to_string()]
    );
    match &p.wire()[0] {
        Wire::Connect {
            at,
            client: 0,
            request,
            conn: Some(ConnId(1)),
        } => {
            assert_eq!(*at, Duration::ZERO);
            assert_eq!(request.url, "ws://127.0.0.1:1/topics?v=1");
        }
        other => panic!("unexpected first wire record {other:?}"),
    }

    p.hub_mut().publish("news", "headline");
    p.hub_mut().publish("sport", "score");
    p.run_until_quiet();
    assert_eq!(p.take_client_events(), vec![Ev::Message("headline".into())]);
}

#[test]
fn published_frames_share_one_buffer() {
    let mut p = pair();
    let second = p.add_client(TopicClient::new("news"));
    p.run_until_quiet();
    p.take_wire();
    p.hub_mut().publish("news", "shared");
    p.run_until_quiet();
    let ptrs: Vec<*const u8> = p.frames_to_client().iter().map(|f| f.as_ptr()).collect();
    assert_eq!(ptrs.len(), 2);
    assert_eq!(ptrs[0], ptrs[1], "both subscribers got the same buffer");
    assert_eq!(
        p.take_events_of(second).last(),
        Some(&Ev::Message("shared".into()))
    );
}

#[test]
fn deadlines_fire_in_virtual_time() {
    let mut p = pair();
    p.run_until_quiet();
    let start = p.now();
    assert_eq!(p.next_deadline(), Some(start + Duration::from_secs(10)));
    p.advance(Duration::from_secs(9));
    assert!(
        !p.frames_to_hub().contains(&"ping"),
        "no ping before the idle deadline"
    );
    p.advance(Duration::from_secs(1));
    assert_eq!(p.frames_to_hub(), vec!["sub:news", "ping"]);
    assert_eq!(p.frames_to_client().last(), Some(&"pong"));
    let ping_at = p.wire().iter().find_map(|w| match w {
        Wire::ToHub { at, frame, .. } if frame.as_str() == "ping" => Some(*at),
        _ => None,
    });
    assert_eq!(ping_at, Some(Duration::from_secs(10)));
    // spurious early timeouts are harmless
    p.client_mut().handle_timeout(start);
    p.run_until_quiet();
    assert_eq!(p.frames_to_hub().len(), 2);
}

#[test]
fn pong_timeout_closes_and_reconnects_after_backoff() {
    let mut p = pair();
    p.run_until_quiet();
    p.hub_mut().mute_pongs = true;
    p.advance(Duration::from_secs(15)); // ping at 10 s, pong deadline at 15 s
    let closed: Vec<_> = p
        .wire()
        .iter()
        .filter_map(|w| match w {
            Wire::ClientClosed { at, close, conn, .. } => Some((*at, close.code, *conn)),
            _ => None,
        })
        .collect();
    assert_eq!(
        closed,
        vec![(Duration::from_secs(15), CloseCode(4201), ConnId(1))]
    );
    assert_eq!(p.connection_of(0), None);
    assert!(
        p.take_hub_events()
            .contains(&"close conn#1 Some(4201)".to_string())
    );
    // backoff of 1 s (jitter off), then a new connection that resubscribes
    p.hub_mut().mute_pongs = false;
    p.advance(Duration::from_millis(999));
    assert_eq!(p.connection_of(0), None);
    p.advance(Duration::from_millis(1));
    assert_eq!(p.connection_of(0), Some(ConnId(2)));
    assert_eq!(p.frames_to_hub().iter().filter(|f| **f == "sub:news").count(), 2);
    let evs = p.take_client_events();
    assert!(evs.contains(&Ev::Reconnecting(Duration::from_secs(1))), "{evs:?}");
    assert_eq!(evs.last(), Some(&Ev::Subscribed));
}

#[test]
fn hub_close_reaches_the_client_and_terminal_codes_stop() {
    let mut p = pair();
    p.run_until_quiet();
    p.hub_mut().kick(ConnId(1), 4000);
    p.run_until_quiet();
    assert!(matches!(p.wire().last(), Some(Wire::HubClosed { close, .. }) if close.code == CloseCode(4000)));
    let evs = p.take_client_events();
    assert_eq!(&evs[evs.len() - 2..], &[Ev::Closed(Some(4000)), Ev::Stopped]);
    assert_eq!(p.next_deadline(), None);
    assert!(!p.advance_to_next_deadline());
}

#[test]
fn refused_and_dropped_connections() {
    let mut p = pair();
    p.refuse_connections(true);
    p.run_until_quiet();
    assert!(matches!(p.wire()[0], Wire::Connect { conn: None, .. }));
    assert_eq!(
        p.take_client_events(),
        vec![Ev::Closed(None), Ev::Reconnecting(Duration::from_secs(1))]
    );
    p.advance(Duration::from_secs(1)); // refused again: backoff grows
    assert_eq!(
        p.take_client_events(),
        vec![Ev::Closed(None), Ev::Reconnecting(Duration::from_secs(2))]
    );
    p.refuse_connections(false);
    p.advance(Duration::from_secs(2));
    assert_eq!(p.connection_of(0), Some(ConnId(1)));
    p.drop_connection();
    assert!(matches!(
        p.wire().iter().rev().find(|w| matches!(w, Wire::Dropped { .. })),
        Some(Wire::Dropped { conn: ConnId(1), .. })
    ));
    assert!(p.take_hub_events().contains(&"close conn#1 None".to_string()));
    let evs = p.take_client_events();
    assert!(
        evs.ends_with(&[Ev::Closed(None), Ev::Reconnecting(Duration::from_secs(1))]),
        "{evs:?}"
    );
}

#[test]
fn injected_frames_and_server_side_close() {
    let mut p = pair();
    p.run_until_quiet();
    p.inject_to_client(0, Frame::from("raw"));
    assert_eq!(p.take_client_events().last(), Some(&Ev::Message("raw".into())));
    p.inject_to_hub(0, Frame::from("sub:extra"));
    p.hub_mut().publish("extra", "x");
    p.run_until_quiet();
    assert_eq!(p.take_client_events().last(), Some(&Ev::Message("x".into())));
    p.close_from_server(0, Close::new(CloseCode::SERVICE_RESTART, "restart"));
    let evs = p.take_client_events();
    assert!(evs.contains(&Ev::Closed(Some(1012))), "{evs:?}");
}
