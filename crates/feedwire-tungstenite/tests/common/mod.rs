//! A toy session and a toy hub for the loopback tests: no real protocol, just enough behaviour to exercise
//! the adapters (subscribe after "welcome", reconnect with backoff, resubscribe, pings on a deadline, a hub
//! that publishes, kicks and sends on its own deadlines).
#![allow(dead_code)]

pub mod http;

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use feedwire_core::{
    Backoff, BackoffConfig, Close, ConnId, ConnectRequest, Frame, Hub, HubTransmit, Lifecycle, OpenRequest,
    Session, Transmit,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Open(Option<String>),
    Subscribed(String),
    Message(String),
    Closed(Option<u16>),
    Reconnecting,
    Stopped,
}

/// Subscribes to its topics after "welcome"; reconnects after any close except 4000 (and after `stop`).
pub struct TopicClient {
    request: ConnectRequest,
    topics: BTreeSet<String>,
    out: VecDeque<Transmit>,
    events: VecDeque<Ev>,
    connect_at: Option<Instant>,
    dialing: bool,
    connected: bool,
    stopped: bool,
    reconnect: bool,
    ping_every: Option<Duration>,
    next_ping: Option<Instant>,
    backoff: Backoff,
    pub opens: u32,
}

impl TopicClient {
    pub fn new(url: &str, topic: &str) -> Self {
        let request = ConnectRequest::new(url).with_subprotocol("topic-v1");
        TopicClient {
            out: VecDeque::new(),
            request,
            topics: [topic.to_owned()].into(),
            events: VecDeque::new(),
            connect_at: None,
            dialing: false,
            connected: false,
            stopped: false,
            reconnect: true,
            ping_every: None,
            next_ping: None,
            backoff: Backoff::new(
                BackoffConfig::default()
                    .with_initial(Duration::from_millis(50))
                    .with_max(Duration::from_millis(200))
                    .with_jitter(0.0),
                1,
            ),
            opens: 0,
        }
    }

    /// No reconnection: any close stops the session.
    pub fn once(mut self) -> Self {
        self.reconnect = false;
        self
    }

    pub fn with_request(mut self, request: ConnectRequest) -> Self {
        self.request = request;
        self
    }

    pub fn with_ping_every(mut self, d: Duration) -> Self {
        self.ping_every = Some(d);
        self
    }

    pub fn subscribe(&mut self, topic: &str) -> bool {
        let new = self.topics.insert(topic.to_owned());
        if new && self.connected {
            self.out
                .push_back(Transmit::Send(Frame::from(format!("sub:{topic}"))));
        }
        new
    }

    pub fn send(&mut self, text: &str) {
        self.out.push_back(Transmit::Send(Frame::from(text.to_owned())));
    }

    pub fn stop(&mut self) {
        if self.connected || self.dialing {
            self.out.push_back(Transmit::Close(Close::normal()));
        }
        self.dialing = false;
        self.connected = false;
        self.stopped = true;
        self.connect_at = None;
        self.next_ping = None;
        self.events.push_back(Ev::Stopped);
    }
}

impl Session for TopicClient {
    type Event = Ev;
    fn handle_open(&mut self, now: Instant, subprotocol: Option<&str>) {
        self.dialing = false;
        self.connected = true;
        self.opens += 1;
        self.next_ping = self.ping_every.map(|d| now + d);
        self.events.push_back(Ev::Open(subprotocol.map(str::to_owned)));
    }
    fn handle_frame(&mut self, _: Instant, frame: Frame) {
        let text = frame.as_str();
        if text == "welcome" {
            for t in &self.topics {
                self.out
                    .push_back(Transmit::Send(Frame::from(format!("sub:{t}"))));
            }
        } else if let Some(t) = text.strip_prefix("subscribed:") {
            self.backoff.reset();
            self.events.push_back(Ev::Subscribed(t.to_owned()));
        } else if text != "pong" {
            self.events.push_back(Ev::Message(text.to_owned()));
        }
    }
    fn handle_close(&mut self, now: Instant, close: Option<Close>) {
        self.dialing = false;
        self.connected = false;
        self.next_ping = None;
        let code = close.map(|c| c.code.0);
        self.events.push_back(Ev::Closed(code));
        if code == Some(4000) || !self.reconnect || self.stopped {
            self.stopped = true;
            self.events.push_back(Ev::Stopped);
        } else {
            self.connect_at = Some(now + self.backoff.next_delay());
            self.events.push_back(Ev::Reconnecting);
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        if self.connect_at.is_some_and(|t| t <= now) {
            self.connect_at = None;
            self.dialing = true;
            self.out.push_back(Transmit::Connect(self.request.clone()));
        }
        if let (Some(t), Some(every)) = (self.next_ping, self.ping_every)
            && t <= now
        {
            self.next_ping = Some(now + every);
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
        [self.connect_at, self.next_ping].into_iter().flatten().min()
    }
}

impl Lifecycle for TopicClient {
    fn connect(&mut self, _: Instant) {
        if !self.dialing && !self.connected {
            self.stopped = false;
            self.connect_at = None;
            self.dialing = true;
            self.out.push_back(Transmit::Connect(self.request.clone()));
        }
    }
    fn disconnect(&mut self, _: Instant) {
        self.stop();
    }
    fn is_open(&self) -> bool {
        self.connected
    }
    fn is_stopped(&self) -> bool {
        self.stopped || (!self.dialing && !self.connected && self.connect_at.is_none())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubEv {
    Open(ConnId, String, Option<String>),
    Sub(ConnId, String),
    Frame(ConnId, String),
    Close(ConnId, Option<u16>),
}

/// Welcomes, confirms subscriptions, answers "ping" with "pong", publishes, kicks, and sends frames on its own
/// deadlines.
#[derive(Default)]
pub struct TopicHub {
    pub subs: Vec<(ConnId, String)>,
    out: VecDeque<(ConnId, HubTransmit)>,
    events: VecDeque<HubEv>,
    scheduled: Vec<(Instant, ConnId, String)>,
    pub pings: u32,
    pub opened: Vec<OpenRequest>,
}

impl TopicHub {
    pub fn publish(&mut self, topic: &str, msg: &str) -> usize {
        let frame = Frame::from(msg.to_owned());
        let mut n = 0;
        for (conn, t) in &self.subs {
            if t == topic {
                self.out.push_back((*conn, HubTransmit::Send(frame.clone())));
                n += 1;
            }
        }
        n
    }
    pub fn publish_frame(&mut self, topic: &str, frame: Frame) {
        for (conn, t) in &self.subs {
            if t == topic {
                self.out.push_back((*conn, HubTransmit::Send(frame.clone())));
            }
        }
    }
    pub fn kick(&mut self, conn: ConnId, code: u16) {
        self.subs.retain(|(c, _)| *c != conn);
        self.out
            .push_back((conn, HubTransmit::Close(Close::new(code, "kicked"))));
    }
    pub fn send_at(&mut self, at: Instant, conn: ConnId, msg: &str) {
        self.scheduled.push((at, conn, msg.to_owned()));
    }
    pub fn subscribers(&self, topic: &str) -> Vec<ConnId> {
        self.subs
            .iter()
            .filter(|(_, t)| t == topic)
            .map(|(c, _)| *c)
            .collect()
    }
}

impl Hub for TopicHub {
    type Event = HubEv;
    fn select_subprotocol(&self, offered: &[String]) -> Option<String> {
        offered.iter().find(|p| *p == "topic-v1").cloned()
    }
    fn handle_open(&mut self, _: Instant, conn: ConnId, request: &OpenRequest) {
        self.opened.push(request.clone());
        self.events.push_back(HubEv::Open(
            conn,
            request.path_and_query.clone(),
            request.subprotocol.clone(),
        ));
        self.out
            .push_back((conn, HubTransmit::Send(Frame::from("welcome"))));
    }
    fn handle_frame(&mut self, _: Instant, conn: ConnId, frame: Frame) {
        if let Some(topic) = frame.as_str().strip_prefix("sub:") {
            self.subs.push((conn, topic.to_owned()));
            self.events.push_back(HubEv::Sub(conn, topic.to_owned()));
            self.out.push_back((
                conn,
                HubTransmit::Send(Frame::from(format!("subscribed:{topic}"))),
            ));
        } else if frame.as_str() == "ping" {
            self.pings += 1;
            self.out.push_back((conn, HubTransmit::Send(Frame::from("pong"))));
        } else {
            self.events
                .push_back(HubEv::Frame(conn, frame.as_str().to_owned()));
        }
    }
    fn handle_close(&mut self, _: Instant, conn: ConnId, close: Option<Close>) {
        self.subs.retain(|(c, _)| *c != conn);
        self.events.push_back(HubEv::Close(conn, close.map(|c| c.code.0)));
    }
    fn handle_timeout(&mut self, now: Instant) {
        let (due, later): (Vec<_>, Vec<_>) = self.scheduled.drain(..).partition(|(t, _, _)| *t <= now);
        self.scheduled = later;
        for (_, conn, msg) in due {
            self.out.push_back((conn, HubTransmit::Send(Frame::from(msg))));
        }
    }
    fn poll_transmit(&mut self) -> Option<(ConnId, HubTransmit)> {
        self.out.pop_front()
    }
    fn poll_event(&mut self) -> Option<HubEv> {
        self.events.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.scheduled.iter().map(|(t, _, _)| *t).min()
    }
}

/// A [`TopicHub`] server on a free loopback port, and the one-worker tokio runtime that runs it (for a test
/// whose client does not run on tokio).
pub fn topic_server() -> (tokio::runtime::Runtime, feedwire_tungstenite::Server<TopicHub>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(feedwire_tungstenite::Server::bind(
            "127.0.0.1:0",
            TopicHub::default(),
        ))
        .unwrap();
    (rt, server)
}

/// A loopback port nobody listens on (bound, then released): dials to it are refused.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What a [`TopicClient`] on `news` reports when it receives `one`, is kicked with 4001, reconnects,
/// resubscribes and receives `last`.
pub fn kicked_and_resubscribed(last: &str) -> Vec<Ev> {
    vec![
        Ev::Open(Some("topic-v1".into())),
        Ev::Subscribed("news".into()),
        Ev::Message("one".into()),
        Ev::Closed(Some(4001)),
        Ev::Reconnecting,
        Ev::Open(Some("topic-v1".into())),
        Ev::Subscribed("news".into()),
        Ev::Message(last.into()),
    ]
}
