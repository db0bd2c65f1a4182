//! Virtual-clock scenarios: the real client against a small scripted Pusher hub (written here; the crate's own
//! server hub is a later issue), answering with the frames pusher.md gives, wired through `Pair`.
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock origin

mod common;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use feedwire_core::testing::{Pair, Wire};
use feedwire_core::{
    BackoffConfig, Close, ConnId, Frame, Hub, HubTransmit, Limits, OpenRequest, RawJson, Secret,
};
use feedwire_pusher::auth;
use feedwire_pusher::client::{
    ChannelAuth, Client, CloseAction, CommandError, Config, DisconnectReason, Event, StopReason,
    SubscribeOutcome, TimeoutKind, UnsubscribeOutcome, UserAuth,
};
use feedwire_pusher::codec::{ClientMessage, DecodeError, ServerMessage, SubscriptionErrorShape};
use feedwire_pusher::encrypted::{self, SharedSecret};

const KEY: &str = "278d425bdf160c739803";
const SECRET: &str = "7ad3773142a6692b25b8";

fn secret() -> Secret<String> {
    Secret::new(SECRET.to_owned())
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum ErrStyle {
    Soketi,
    Poxa,
    PusherFake,
    Hosted,
}

struct Conn {
    socket_id: String,
    subs: BTreeSet<String>,
}

/// A scripted Pusher server.
struct TestHub {
    out: VecDeque<(ConnId, HubTransmit)>,
    log: VecDeque<String>,
    conns: BTreeMap<ConnId, Conn>,
    activity_timeout: u64,
    mute_pongs: bool,
    mute_handshake: bool,
    close_on_open: Option<Close>,
    err_style: ErrStyle,
    presence: BTreeMap<String, BTreeMap<ConnId, (String, String)>>,
    cache: BTreeMap<String, Frame>,
    client_events: Vec<String>,
}

impl TestHub {
    fn new() -> Self {
        TestHub {
            out: VecDeque::new(),
            log: VecDeque::new(),
            conns: BTreeMap::new(),
            activity_timeout: 120,
            mute_pongs: false,
            mute_handshake: false,
            close_on_open: None,
            err_style: ErrStyle::Soketi,
            presence: BTreeMap::new(),
            cache: BTreeMap::new(),
            client_events: Vec::new(),
        }
    }

    fn send(&mut self, conn: ConnId, text: String) {
        self.out.push_back((conn, HubTransmit::Send(Frame::from(text))));
    }

    /// A channel event, encoded once and shared by every subscriber.
    fn publish(&mut self, channel: &str, event: &str, data_json: &str) {
        let frame =
            ServerMessage::encode_channel_event(event, channel, &RawJson::from_json_str(data_json).unwrap());
        if channel.starts_with("cache-") {
            self.cache.insert(channel.to_owned(), frame.clone());
        }
        for (id, c) in &self.conns {
            if c.subs.contains(channel) {
                self.out.push_back((*id, HubTransmit::Send(frame.clone())));
            }
        }
    }

    fn publish_encrypted(
        &mut self,
        channel: &str,
        event: &str,
        key: &SharedSecret,
        nonce: u8,
        plaintext: &str,
    ) {
        let data = encrypted::encrypt(key, &[nonce; 24], plaintext.as_bytes());
        self.publish(channel, event, &data);
    }

    fn kick(&mut self, conn: ConnId, code: u16) {
        self.forget(conn);
        self.out
            .push_back((conn, HubTransmit::Close(Close::new(code, "kicked"))));
    }

    fn forget(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
        let chans: Vec<String> = self.presence.keys().cloned().collect();
        for ch in chans {
            self.leave_presence(conn, &ch);
        }
    }

    fn leave_presence(&mut self, conn: ConnId, channel: &str) {
        let Some(members) = self.presence.get_mut(channel) else {
            return;
        };
        let Some((uid, _)) = members.remove(&conn) else {
            return;
        };
        if members.values().any(|(u, _)| *u == uid) {
            return;
        }
        let others: Vec<ConnId> = members.keys().copied().collect();
        for o in others {
            self.send(
                o,
                format!(r#"{{"event":"pusher_internal:member_removed","channel":"{channel}","data":"{{\"user_id\":\"{uid}\"}}"}}"#),
            );
        }
    }

    fn refuse(&mut self, conn: ConnId, channel: &str) {
        let text = match self.err_style {
            ErrStyle::Soketi => format!(
                r#"{{"event":"pusher:subscription_error","channel":"{channel}","data":{{"type":"AuthError","error":"The connection is unauthorized.","status":401}}}}"#
            ),
            ErrStyle::Poxa => r#"{"event":"pusher:subscription_error","data":{}}"#.to_owned(),
            ErrStyle::PusherFake => {
                format!(
                    r#"{{"event":"pusher_internal:subscription_error","channel":"{channel}","data":{{}}}}"#
                )
            }
            ErrStyle::Hosted => format!(
                r#"{{"event":"pusher:error","data":{{"code":null,"message":"Invalid signature: Expected HMAC SHA256 hex digest of x:{channel}, but got y"}}}}"#
            ),
        };
        self.send(conn, text);
    }

    fn on_subscribe(&mut self, conn: ConnId, channel: &str, auth: &str, channel_data: Option<&str>) {
        let socket = self.conns[&conn].socket_id.clone();
        let ok = if channel.starts_with("presence-") {
            let cd = channel_data.unwrap_or("");
            auth::verify(KEY, &secret(), &format!("{socket}:{channel}:{cd}"), auth)
        } else if channel.starts_with("private-") {
            auth::verify(KEY, &secret(), &format!("{socket}:{channel}"), auth)
        } else {
            true
        };
        if !ok {
            self.refuse(conn, channel);
            return;
        }
        self.conns.get_mut(&conn).unwrap().subs.insert(channel.to_owned());
        if channel.starts_with("presence-") {
            let v: serde_json::Value = serde_json::from_str(channel_data.unwrap()).unwrap();
            let uid = match &v["user_id"] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let info = v.get("user_info").map_or("null".into(), |i| i.to_string());
            let members = self.presence.entry(channel.to_owned()).or_default();
            let already = members.values().any(|(u, _)| *u == uid);
            members.insert(conn, (uid.clone(), info.clone()));
            let mut hash = serde_json::Map::new();
            for (u, i) in members.values() {
                hash.insert(u.clone(), serde_json::from_str(i).unwrap());
            }
            let ids: Vec<&String> = hash.keys().collect();
            let data =
                serde_json::json!({"presence": {"ids": ids, "hash": hash, "count": hash.len()}}).to_string();
            let others: Vec<ConnId> = members.keys().copied().filter(|c| *c != conn).collect();
            self.send(
                conn,
                format!(
                    r#"{{"event":"pusher_internal:subscription_succeeded","channel":"{channel}","data":{}}}"#,
                    serde_json::to_string(&data).unwrap()
                ),
            );
            if !already {
                let added =
                    serde_json::to_string(&format!(r#"{{"user_id":"{uid}","user_info":{info}}}"#)).unwrap();
                for o in others {
                    self.send(o, format!(r#"{{"event":"pusher_internal:member_added","channel":"{channel}","data":{added}}}"#));
                }
            }
        } else if channel.starts_with("private-") {
            // soketi: no data on private subscription_succeeded
            self.send(
                conn,
                format!(r#"{{"event":"pusher_internal:subscription_succeeded","channel":"{channel}"}}"#),
            );
        } else {
            self.send(
                conn,
                format!(r#"{{"event":"pusher_internal:subscription_succeeded","data":"{{}}","channel":"{channel}"}}"#),
            );
        }
        if channel.starts_with("cache-") {
            match self.cache.get(channel).cloned() {
                Some(f) => self.out.push_back((conn, HubTransmit::Send(f))),
                None => self.send(
                    conn,
                    format!(r#"{{"event":"pusher:cache_miss","channel":"{channel}"}}"#),
                ),
            }
        }
    }
}

impl Hub for TestHub {
    type Event = String;

    fn handle_open(&mut self, _: Instant, conn: ConnId, request: &OpenRequest) {
        self.log.push_back(format!("open {}", request.path_and_query));
        if let Some(close) = self.close_on_open.clone() {
            self.out.push_back((conn, HubTransmit::Close(close)));
            return;
        }
        let socket_id = format!("{}.{}", conn.0, 1000 + conn.0);
        self.conns.insert(
            conn,
            Conn {
                socket_id: socket_id.clone(),
                subs: BTreeSet::new(),
            },
        );
        if !self.mute_handshake {
            let t = self.activity_timeout;
            self.send(
                conn,
                format!(
                    r#"{{"event":"pusher:connection_established","data":"{{\"socket_id\":\"{socket_id}\",\"activity_timeout\":{t}}}"}}"#
                ),
            );
        }
    }

    fn handle_frame(&mut self, _: Instant, conn: ConnId, frame: Frame) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        match ClientMessage::decode(&frame) {
            Ok(ClientMessage::Subscribe {
                channel,
                auth,
                channel_data,
                ..
            }) => self.on_subscribe(conn, &channel, auth.expose(), channel_data.as_deref()),
            Ok(ClientMessage::Unsubscribe { channel, .. }) => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.subs.remove(&*channel);
                }
                self.leave_presence(conn, &channel);
            }
            Ok(ClientMessage::Ping) => {
                if !self.mute_pongs {
                    self.send(conn, r#"{"event":"pusher:pong","data":{}}"#.into());
                }
            }
            Ok(ClientMessage::Signin { auth, user_data, .. }) => {
                let socket = self.conns[&conn].socket_id.clone();
                if auth::verify(
                    KEY,
                    &secret(),
                    &format!("{socket}::user::{user_data}"),
                    auth.expose(),
                ) {
                    let inner =
                        serde_json::to_string(&serde_json::json!({ "user_data": user_data }).to_string())
                            .unwrap();
                    self.send(
                        conn,
                        format!(r#"{{"event":"pusher:signin_success","data":{inner}}}"#),
                    );
                } else {
                    self.send(
                        conn,
                        r#"{"event":"pusher:error","data":{"code":4009,"message":"Invalid signin"}}"#.into(),
                    );
                }
            }
            Ok(ClientMessage::ClientEvent {
                event, channel, data, ..
            }) => {
                self.client_events.push(format!("{event} {channel} {data}"));
                let uid = self
                    .presence
                    .get(&*channel)
                    .and_then(|m| m.get(&conn))
                    .map(|(u, _)| u.clone());
                let mut text = format!(r#"{{"event":"{event}","channel":"{channel}","data":{data}"#);
                if let Some(u) = uid {
                    text.push_str(&format!(r#","user_id":"{u}""#));
                }
                text.push('}');
                let f = Frame::from(text);
                for (id, c) in &self.conns {
                    if *id != conn && c.subs.contains(&*channel) {
                        self.out.push_back((*id, HubTransmit::Send(f.clone())));
                    }
                }
            }
            Ok(other) => self.log.push_back(format!("other {other:?}")),
            Err(e) => self.log.push_back(format!("bad frame {e}")),
        }
    }

    fn handle_close(&mut self, _: Instant, conn: ConnId, close: Option<Close>) {
        self.log
            .push_back(format!("close {conn:?} {:?}", close.map(|c| c.code.0)));
        self.forget(conn);
    }

    fn handle_timeout(&mut self, _: Instant) {}

    fn poll_transmit(&mut self) -> Option<(ConnId, HubTransmit)> {
        self.out.pop_front()
    }

    fn poll_event(&mut self) -> Option<String> {
        self.log.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

fn config() -> Config {
    Config::new(KEY)
        .with_host("127.0.0.1")
        .with_tls(false)
        .with_port(6001)
        .with_backoff(
            BackoffConfig::default()
                .with_jitter(0.0)
                .with_max(Duration::from_secs(4)),
        )
}

fn pair_with(cfg: Config, hub: TestHub) -> Pair<Client, TestHub> {
    let mut p = Pair::new(Client::new(cfg), hub, Instant::now());
    let now = p.now();
    p.client_mut().connect(now);
    p.run_until_quiet();
    p
}

fn pair() -> Pair<Client, TestHub> {
    pair_with(config(), TestHub::new())
}

/// Answers every pending channel auth the way an auth endpoint would, signing with the app secret.
fn authorize_all(p: &mut Pair<Client, TestHub>, i: usize, user: &str) -> Vec<String> {
    let reqs = p.client_at(i).pending_auth();
    let mut names = Vec::new();
    for r in reqs {
        let ch = r.channel.clone();
        let a = if ch.starts_with("presence-") {
            let cd = format!(r#"{{"user_id":"{user}","user_info":{{"name":"U{user}"}}}}"#);
            let sig = auth::sign_presence(KEY, &secret(), &r.socket_id, &ch, &cd);
            ChannelAuth::new(sig.expose().clone()).with_channel_data(cd)
        } else {
            ChannelAuth::new(
                auth::sign_private(KEY, &secret(), &r.socket_id, &ch)
                    .expose()
                    .clone(),
            )
        };
        p.client_at(i).provide_auth(&ch, a).unwrap();
        names.push(ch);
    }
    p.run_until_quiet();
    names
}

fn connects(p: &Pair<Client, TestHub>) -> Vec<(Duration, String)> {
    p.wire()
        .iter()
        .filter_map(|w| match w {
            Wire::Connect { at, request, .. } => Some((*at, request.url.clone())),
            _ => None,
        })
        .collect()
}

fn messages(evs: &[Event]) -> Vec<(String, String, String)> {
    evs.iter()
        .filter_map(|e| match e {
            Event::Message {
                channel, event, data, ..
            } => Some((
                channel.as_deref().unwrap_or("").to_owned(),
                event.to_string(),
                data.as_ref().map_or(String::new(), |d| d.text().into_owned()),
            )),
            _ => None,
        })
        .collect()
}

const URL: &str =
    "ws://127.0.0.1:6001/app/278d425bdf160c739803?protocol=7&client=feedwire&version=0.1.0&flash=false";

#[test]
fn bitskins_feed_handshake_subscribe_and_events() {
    let mut p = Pair::new(Client::new(Config::bitskins()), TestHub::new(), Instant::now());
    assert!(
        p.client().is_stopped() && !p.client().is_open(),
        "new never dials"
    );
    assert!(p.wire().is_empty());
    let now = p.now();
    p.client_mut().connect(now);
    assert_eq!(
        p.client_mut().subscribe("inventory_changes"),
        Ok(SubscribeOutcome::Started)
    );
    p.run_until_quiet();
    assert_eq!(
        connects(&p)[0].1,
        "wss://notifier.bitskins.com:443/app/c0eef4118084f8164bec65e6253bf195?protocol=7&client=feedwire&version=0.1.0&flash=false"
    );
    assert_eq!(
        p.frames_to_hub(),
        vec![r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"inventory_changes"}}"#]
    );
    let evs = p.take_client_events();
    assert_eq!(
        evs,
        vec![
            Event::Connected {
                socket_id: "1.1001".into(),
                activity_timeout: Duration::from_secs(120)
            },
            Event::Subscribed {
                channel: "inventory_changes".into(),
                data: Some(feedwire_core::StringOrJson::new(
                    RawJson::from_json_str(r#""{}""#).unwrap()
                )),
            },
        ]
    );
    let listed = common::bitskins_listed();
    p.inject_to_client(0, Frame::from(listed));
    p.hub_mut().publish(
        "inventory_changes",
        "delisted_or_sold",
        r#""{\"id\":\"10374522\"}""#,
    );
    p.run_until_quiet();
    let evs = p.take_client_events();
    let m = messages(&evs);
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].1, "listed");
    assert!(m[0].2.starts_with(r#"{"id":"10374522","asset_id""#));
    assert_eq!(
        m[1],
        (
            "inventory_changes".into(),
            "delisted_or_sold".into(),
            r#"{"id":"10374522"}"#.into()
        )
    );
    // duplicate subscribe: a no-op with a clear result, nothing sent
    assert_eq!(
        p.client_mut().subscribe("inventory_changes"),
        Ok(SubscribeOutcome::AlreadySubscribed)
    );
    p.run_until_quiet();
    assert_eq!(p.frames_to_hub().len(), 1);
}

#[test]
fn activity_timeout_is_min_of_config_and_server_and_ping_pong_both_ways() {
    let mut hub = TestHub::new();
    hub.activity_timeout = 30; // soketi / Reverb
    let mut p = pair_with(config(), hub);
    assert_eq!(p.client().activity_timeout(), Duration::from_secs(30));
    p.take_wire();
    p.advance(Duration::from_secs(29));
    assert!(p.frames_to_hub().is_empty());
    // any frame re-arms the timer
    p.inject_to_client(0, Frame::from(r#"{"event":"my-event","channel":"x","data":{}}"#));
    p.advance(Duration::from_secs(29));
    assert!(p.frames_to_hub().is_empty(), "{:?}", p.frames_to_hub());
    p.advance(Duration::from_secs(1));
    assert_eq!(p.frames_to_hub(), vec![r#"{"event":"pusher:ping","data":{}}"#]);
    assert_eq!(
        p.frames_to_client().last(),
        Some(&r#"{"event":"pusher:pong","data":{}}"#)
    );
    // server ping -> pong
    p.take_wire();
    p.inject_to_client(0, Frame::from(r#"{"event":"pusher:ping","data":"{}"}"#));
    assert_eq!(p.frames_to_hub(), vec![r#"{"event":"pusher:pong","data":{}}"#]);
    assert!(p.client().is_open());
    // a shorter configured timeout wins over the server's
    let mut p = pair_with(
        config().with_activity_timeout(Duration::from_secs(10)),
        TestHub::new(),
    );
    assert_eq!(p.client().activity_timeout(), Duration::from_secs(10));
    p.take_wire();
    p.advance(Duration::from_secs(10));
    assert_eq!(p.frames_to_hub(), vec![r#"{"event":"pusher:ping","data":{}}"#]);
}

#[test]
fn pong_timeout_closes_and_reconnects_now() {
    let mut p = pair();
    p.client_mut().subscribe("my-channel").unwrap();
    p.run_until_quiet();
    p.take_client_events();
    p.hub_mut().mute_pongs = true;
    p.advance(Duration::from_secs(120)); // ping
    assert_eq!(
        p.frames_to_hub().last(),
        Some(&r#"{"event":"pusher:ping","data":{}}"#)
    );
    p.hub_mut().mute_pongs = false;
    p.advance(Duration::from_secs(29));
    assert_eq!(p.connection_of(0), Some(ConnId(1)));
    p.advance(Duration::from_secs(1)); // 30 s pong timeout
    let closed: Vec<_> = p
        .wire()
        .iter()
        .filter_map(|w| match w {
            Wire::ClientClosed { at, close, .. } => Some((*at, close.code.0, close.reason.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(
        closed,
        vec![(
            Duration::from_secs(150),
            1000,
            "Pong reply not received".to_string()
        )]
    );
    assert_eq!(
        connects(&p).last().unwrap().0,
        Duration::from_secs(150),
        "reconnected at once"
    );
    assert_eq!(p.connection_of(0), Some(ConnId(2)));
    let evs = p.take_client_events();
    assert!(
        evs.contains(&Event::Disconnected {
            reason: DisconnectReason::TimedOut {
                kind: TimeoutKind::Pong
            }
        }),
        "{evs:?}"
    );
    assert!(
        evs.contains(&Event::Reconnecting {
            after: Duration::ZERO,
            attempt: 0
        }),
        "{evs:?}"
    );
    assert!(
        evs.contains(&Event::Resubscribed {
            channel: "my-channel".into(),
            after: Duration::ZERO
        }),
        "{evs:?}"
    );
}

#[test]
fn every_close_class() {
    // (code, action, reconnect delay: None = stop)
    let cases: Vec<(Option<u16>, CloseAction, Option<Duration>)> = vec![
        (None, CloseAction::Backoff, Some(Duration::from_secs(1))),
        (Some(1000), CloseAction::Backoff, Some(Duration::from_secs(1))),
        (Some(1006), CloseAction::Backoff, Some(Duration::from_secs(1))),
        (Some(3999), CloseAction::Backoff, Some(Duration::from_secs(1))),
        (Some(4000), CloseAction::RetryWithTls, Some(Duration::ZERO)),
        (Some(4001), CloseAction::Stop, None),
        (Some(4009), CloseAction::Stop, None),
        (Some(4099), CloseAction::Stop, None),
        (Some(4100), CloseAction::Backoff, Some(Duration::from_secs(1))),
        (Some(4199), CloseAction::Backoff, Some(Duration::from_secs(1))),
        (Some(4200), CloseAction::Immediate, Some(Duration::ZERO)),
        (Some(4201), CloseAction::Immediate, Some(Duration::ZERO)),
        (Some(4299), CloseAction::Immediate, Some(Duration::ZERO)),
        (Some(4300), CloseAction::Stop, None),
        (Some(4301), CloseAction::Stop, None),
        (Some(4302), CloseAction::Stop, None),
        (Some(4999), CloseAction::Stop, None),
    ];
    for (code, action, delay) in cases {
        let mut p = pair();
        p.advance(Duration::from_secs(5));
        p.take_client_events();
        let t0 = p.elapsed();
        match code {
            Some(c) => {
                p.hub_mut().kick(ConnId(1), c);
                p.run_until_quiet();
            }
            None => p.drop_connection(),
        }
        let evs = p.take_client_events();
        let close = code.map(|c| Close::new(c, "kicked"));
        assert_eq!(
            evs.first(),
            Some(&Event::Disconnected {
                reason: DisconnectReason::Closed {
                    close: close.clone(),
                    action
                }
            }),
            "code {code:?}: {evs:?}"
        );
        match delay {
            None => {
                assert!(p.client().is_stopped(), "code {code:?}");
                assert!(evs.contains(&Event::Stopped {
                    reason: StopReason::Closed {
                        close: close.clone().unwrap()
                    }
                }));
                assert_eq!(
                    p.next_deadline(),
                    None,
                    "code {code:?}: nothing scheduled after a stop"
                );
                p.advance(Duration::from_secs(600));
                assert_eq!(connects(&p).len(), 1, "code {code:?}: no reconnect");
            }
            Some(d) => {
                if d > Duration::ZERO {
                    assert_eq!(connects(&p).len(), 1, "code {code:?}");
                    p.advance(d - Duration::from_millis(1));
                    assert_eq!(connects(&p).len(), 1, "code {code:?}: not before the backoff");
                    p.advance(Duration::from_millis(1));
                }
                let c = connects(&p);
                assert_eq!(c.len(), 2, "code {code:?}");
                assert_eq!(c[1].0, t0 + d, "code {code:?}");
                if code == Some(4000) {
                    assert!(c[1].1.starts_with("wss://127.0.0.1:6001/"), "{}", c[1].1);
                    assert!(p.client().uses_tls());
                } else {
                    assert_eq!(c[1].1, URL);
                }
                assert!(p.client().is_open(), "code {code:?}");
            }
        }
    }
}

#[test]
fn close_during_handshake_backs_off_even_for_4200() {
    let mut hub = TestHub::new();
    hub.close_on_open = Some(Close::new(4200, "generic"));
    let mut p = pair_with(config(), hub);
    let evs = p.take_client_events();
    assert!(
        evs.contains(&Event::Reconnecting {
            after: Duration::from_secs(1),
            attempt: 1
        }),
        "{evs:?}"
    );
    p.hub_mut().close_on_open = None;
    p.advance(Duration::from_secs(1));
    assert!(p.client().is_open());
}

#[test]
fn pusher_error_on_an_open_socket_is_only_an_event() {
    let mut p = pair();
    p.take_client_events();
    for f in [
        r#"{"event":"pusher:error","data":"{\"code\":4200,\"message\":\"Invalid message format\"}"}"#,
        r#"{"event":"pusher:error","data":{"code":4301,"message":"Client event rejected - only 10 per second allowed"}}"#,
    ] {
        p.inject_to_client(0, Frame::from(f));
    }
    let evs = p.take_client_events();
    assert_eq!(
        evs,
        vec![
            Event::ServerError {
                code: Some(4200),
                message: "Invalid message format".into(),
                channel: None
            },
            Event::ServerError {
                code: Some(4301),
                message: "Client event rejected - only 10 per second allowed".into(),
                channel: None
            },
        ]
    );
    assert!(p.client().is_open());
    assert_eq!(p.connection_of(0), Some(ConnId(1)));
    assert!(!p.wire().iter().any(|w| matches!(w, Wire::ClientClosed { .. })));
}

#[test]
fn unavailable_and_backoff_growth_and_cap() {
    let mut p = Pair::new(Client::new(config()), TestHub::new(), Instant::now());
    p.refuse_connections(true);
    let now = p.now();
    p.client_mut().connect(now);
    p.run_until_quiet();
    p.advance(Duration::from_secs(40));
    let evs = p.take_client_events();
    let delays: Vec<Duration> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Reconnecting { after, .. } => Some(*after),
            _ => None,
        })
        .collect();
    let s = Duration::from_secs;
    // 1, 2, 4, then capped at 4 s (jitter off)
    assert_eq!(&delays[..6], &[s(1), s(2), s(4), s(4), s(4), s(4)]);
    let at: Vec<Duration> = connects(&p).iter().map(|c| c.0).collect();
    assert_eq!(&at[..5], &[s(0), s(1), s(3), s(7), s(11)]);
    // unavailable after 10 s without a connection, reported once
    let unavailable: Vec<&Event> = evs.iter().filter(|e| matches!(e, Event::Unavailable)).collect();
    assert_eq!(unavailable.len(), 1);
    assert!(!p.client().is_open() && !p.client().is_stopped());
    p.refuse_connections(false);
    p.advance(Duration::from_secs(4));
    assert!(p.client().is_open());
    let evs = p.take_client_events();
    assert!(
        evs.iter().any(|e| matches!(e, Event::Connected { .. })),
        "{evs:?}"
    );
    assert!(!evs.contains(&Event::Unavailable), "{evs:?}");
    // backoff reset after a working connection
    p.drop_connection();
    assert!(p.take_client_events().contains(&Event::Reconnecting {
        after: s(1),
        attempt: 1
    }));
}

#[test]
fn handshake_timeout_gives_up_and_retries() {
    let mut hub = TestHub::new();
    hub.mute_handshake = true;
    let mut p = pair_with(config(), hub);
    p.advance(Duration::from_secs(10));
    assert!(!p.client().is_open());
    assert!(p.take_client_events().contains(&Event::Unavailable));
    p.hub_mut().mute_handshake = false;
    p.advance(Duration::from_secs(5));
    let evs = p.take_client_events();
    assert!(
        evs.contains(&Event::Disconnected {
            reason: DisconnectReason::TimedOut {
                kind: TimeoutKind::Handshake
            }
        }),
        "{evs:?}"
    );
    assert!(evs.contains(&Event::Reconnecting {
        after: Duration::from_secs(1),
        attempt: 1
    }));
    p.advance(Duration::from_secs(1));
    assert!(p.client().is_open());
    assert_eq!(connects(&p).len(), 2);
}

#[test]
fn resubscribes_every_channel_with_fresh_auth_after_reconnect() {
    let mut p = pair();
    for ch in [
        "inventory_changes",
        "private-room",
        "presence-lobby",
        "cache-prices",
    ] {
        p.client_mut().subscribe(ch).unwrap();
    }
    p.run_until_quiet();
    let evs = p.take_client_events();
    let asked: Vec<&Event> = evs
        .iter()
        .filter(|e| matches!(e, Event::AuthRequired { .. }))
        .collect();
    assert_eq!(
        asked,
        vec![
            &Event::AuthRequired {
                socket_id: "1.1001".into(),
                channel: "private-room".into()
            },
            &Event::AuthRequired {
                socket_id: "1.1001".into(),
                channel: "presence-lobby".into()
            },
        ]
    );
    // all pending requests at once, for batching
    assert_eq!(
        authorize_all(&mut p, 0, "1"),
        vec!["presence-lobby", "private-room"]
    );
    for ch in [
        "inventory_changes",
        "private-room",
        "presence-lobby",
        "cache-prices",
    ] {
        assert!(p.client().is_subscribed(ch), "{ch}");
    }
    p.take_client_events();
    p.take_wire();
    p.advance(Duration::from_secs(3));
    p.drop_connection(); // lost at 3 s; backoff 1 s
    p.advance(Duration::from_secs(1));
    assert!(p.client().is_open());
    assert_eq!(p.client().socket_id(), Some("2.1002"));
    let pending: Vec<(String, String)> = p
        .client()
        .pending_auth()
        .into_iter()
        .map(|r| (r.socket_id.to_string(), r.channel))
        .collect();
    assert_eq!(
        pending,
        vec![
            ("2.1002".into(), "presence-lobby".into()),
            ("2.1002".into(), "private-room".into())
        ]
    );
    authorize_all(&mut p, 0, "1");
    let evs = p.take_client_events();
    let mut resub: Vec<(String, Duration)> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Resubscribed { channel, after } => Some((channel.clone(), *after)),
            _ => None,
        })
        .collect();
    resub.sort();
    let s1 = Duration::from_secs(1);
    assert_eq!(
        resub,
        vec![
            ("cache-prices".into(), s1),
            ("inventory_changes".into(), s1),
            ("presence-lobby".into(), s1),
            ("private-room".into(), s1)
        ]
    );
    // the hub verified the new signatures (made for the new socket id): everything is subscribed
    let subs = p
        .frames_to_hub()
        .iter()
        .filter(|f| f.contains("pusher:subscribe"))
        .count();
    assert_eq!(subs, 4);
    assert!(!evs.iter().any(|e| matches!(e, Event::SubscriptionFailed { .. })));
}

#[test]
fn unsubscribe_while_pending_and_auth_in_flight() {
    let mut p = pair();
    p.client_mut().subscribe("private-room").unwrap();
    p.client_mut().subscribe("private-other").unwrap();
    p.run_until_quiet();
    let req = p.client().pending_auth();
    let room = req.iter().find(|r| r.channel == "private-room").unwrap();
    let sig = auth::sign_private(KEY, &secret(), &room.socket_id, "private-room");
    p.client_mut()
        .provide_auth("private-room", ChannelAuth::new(sig.expose().clone()))
        .unwrap();
    // the subscribe is queued, success not yet received
    assert_eq!(
        p.client_mut().unsubscribe("private-room"),
        Ok(UnsubscribeOutcome::Deferred)
    );
    // awaiting auth: dropped at once, nothing on the wire
    assert_eq!(
        p.client_mut().unsubscribe("private-other"),
        Ok(UnsubscribeOutcome::Done)
    );
    assert_eq!(
        p.client_mut().unsubscribe("nope"),
        Ok(UnsubscribeOutcome::NotSubscribed)
    );
    p.run_until_quiet();
    let to_hub = p.frames_to_hub();
    assert_eq!(to_hub.len(), 2);
    assert!(to_hub[0].starts_with(r#"{"event":"pusher:subscribe","data":{"auth":"278d425bdf160c739803:"#));
    assert_eq!(
        to_hub[1],
        r#"{"event":"pusher:unsubscribe","data":{"channel":"private-room"}}"#
    );
    assert!(p.client().pending_auth().is_empty());
    assert_eq!(p.client().channels().count(), 0);
    assert!(
        p.client_mut()
            .provide_auth("private-other", ChannelAuth::new("x"))
            .is_err()
    );
}

#[test]
fn every_subscription_error_shape_maps_to_one_event() {
    for (style, shape) in [
        (ErrStyle::Soketi, SubscriptionErrorShape::PusherEvent),
        (ErrStyle::Poxa, SubscriptionErrorShape::PusherEvent),
        (ErrStyle::PusherFake, SubscriptionErrorShape::InternalEvent),
        (ErrStyle::Hosted, SubscriptionErrorShape::ErrorEvent),
    ] {
        let mut hub = TestHub::new();
        hub.err_style = style;
        let mut p = pair_with(config(), hub);
        p.client_mut().subscribe("private-bad").unwrap();
        p.run_until_quiet();
        p.take_client_events();
        p.client_mut()
            .provide_auth("private-bad", ChannelAuth::new(format!("{KEY}:deadbeef")))
            .unwrap();
        p.run_until_quiet();
        let evs = p.take_client_events();
        assert_eq!(evs.len(), 1, "{style:?}: {evs:?}");
        match &evs[0] {
            Event::SubscriptionFailed { channel, error } => {
                assert_eq!(channel.as_deref(), Some("private-bad"), "{style:?}");
                assert_eq!(error.shape, shape, "{style:?}");
                if style == ErrStyle::Soketi {
                    assert_eq!(error.status, Some(401));
                    assert_eq!(error.kind.as_deref(), Some("AuthError"));
                }
            }
            other => panic!("{style:?}: {other:?}"),
        }
        assert_eq!(
            p.client().channels().count(),
            0,
            "{style:?}: the channel is dropped"
        );
        // subscribing again is allowed (not a duplicate)
        assert_eq!(
            p.client_mut().subscribe("private-bad"),
            Ok(SubscribeOutcome::Started)
        );
    }
    // the application refusing to authorize
    let mut p = pair();
    p.client_mut().subscribe("private-x").unwrap();
    p.run_until_quiet();
    p.take_client_events();
    p.client_mut()
        .fail_auth("private-x", "HTTP 403 from /pusher/auth")
        .unwrap();
    p.run_until_quiet();
    let evs = p.take_client_events();
    assert!(
        matches!(
            &evs[..],
            [Event::SubscriptionFailed { channel: Some(c), error }]
                if c == "private-x" && error.shape == SubscriptionErrorShape::AuthFailed
                    && error.error.as_deref() == Some("HTTP 403 from /pusher/auth")
        ),
        "{evs:?}"
    );
}

#[test]
fn presence_members_dedup_me_and_reset() {
    let mut p = pair();
    let b = p.add_client(Client::new(config()));
    let now = p.now();
    p.client_at(b).connect(now);
    p.client_mut().subscribe("presence-lobby").unwrap();
    p.run_until_quiet();
    authorize_all(&mut p, 0, "1");
    assert_eq!(p.client().me("presence-lobby"), Some("1"));
    let members: Vec<&String> = p.client().members("presence-lobby").unwrap().keys().collect();
    assert_eq!(members, vec!["1"]);
    p.take_client_events();
    p.client_at(b).subscribe("presence-lobby").unwrap();
    p.run_until_quiet();
    authorize_all(&mut p, b, "2");
    let evs = p.take_client_events();
    assert_eq!(
        evs,
        vec![Event::MemberAdded {
            channel: "presence-lobby".into(),
            user_id: "2".into(),
            user_info: Some(RawJson::from_json_str(r#"{"name":"U2"}"#).unwrap()),
        }]
    );
    let bm: Vec<&String> = p.client_at(b).members("presence-lobby").unwrap().keys().collect();
    assert_eq!(bm, vec!["1", "2"]);
    // a duplicate member_added (numeric id this time) is not reported twice
    p.inject_to_client(
        0,
        Frame::from(r#"{"event":"pusher_internal:member_added","channel":"presence-lobby","data":{"user_id":2,"user_info":{}}}"#),
    );
    assert!(p.take_client_events().is_empty());
    // client events on presence carry the sender's user_id
    let now = p.now();
    p.client_at(b)
        .trigger(now, "presence-lobby", "client-wave", r#"{"hi":1}"#)
        .unwrap();
    p.run_until_quiet();
    let evs = p.take_client_events();
    assert!(
        matches!(&evs[..], [Event::Message { event, user_id: Some(u), .. }] if event == "client-wave" && u == "2"),
        "{evs:?}"
    );
    // member leaves
    assert_eq!(
        p.client_at(b).unsubscribe("presence-lobby"),
        Ok(UnsubscribeOutcome::Done)
    );
    p.run_until_quiet();
    assert_eq!(
        p.take_client_events(),
        vec![Event::MemberRemoved {
            channel: "presence-lobby".into(),
            user_id: "2".into()
        }]
    );
    // a removal of an unknown member says nothing
    p.inject_to_client(
        0,
        Frame::from(r#"{"event":"pusher_internal:member_removed","channel":"presence-lobby","data":"{\"user_id\":\"9\"}"}"#),
    );
    assert!(p.take_client_events().is_empty());
    // reset on disconnect, rebuilt on resubscription
    p.drop_connection();
    assert!(p.client().members("presence-lobby").is_none());
    p.advance(Duration::from_secs(1));
    authorize_all(&mut p, 0, "1");
    let members: Vec<&String> = p.client().members("presence-lobby").unwrap().keys().collect();
    assert_eq!(members, vec!["1"]);
}

#[test]
fn client_events_rules_and_rate_limit() {
    let mut p = pair();
    let b = p.add_client(Client::new(config()));
    let now = p.now();
    p.client_at(b).connect(now);
    for ch in ["private-chat", "public-chat", "private-encrypted-x"] {
        p.client_mut().subscribe(ch).unwrap();
    }
    p.client_at(b).subscribe("private-chat").unwrap();
    p.run_until_quiet();
    // the encrypted channel needs a shared secret; fail it here, it is not what this test is about
    p.client_mut().fail_auth("private-encrypted-x", "skip").unwrap();
    authorize_all(&mut p, 0, "1");
    authorize_all(&mut p, b, "2");
    let now = p.now();
    let c = p.client_mut();
    assert_eq!(
        c.trigger(now, "public-chat", "client-x", "{}"),
        Err(CommandError::NotAllowed {
            channel: "public-chat".into()
        })
    );
    assert!(matches!(
        c.trigger(now, "private-chat", "typing", "{}"),
        Err(CommandError::Name(_))
    ));
    assert!(matches!(
        c.trigger(now, "private-nope", "client-x", "{}"),
        Err(CommandError::NotSubscribed { .. })
    ));
    c.subscribe("private-encrypted-y").unwrap();
    assert_eq!(
        c.trigger(now, "private-encrypted-y", "client-x", "{}"),
        Err(CommandError::NotAllowed {
            channel: "private-encrypted-y".into()
        })
    );
    for i in 0..10 {
        c.trigger(
            now + Duration::from_millis(i * 50),
            "private-chat",
            "client-typing",
            &format!(r#"{{"n":{i}}}"#),
        )
        .unwrap();
    }
    let t = now + Duration::from_millis(900);
    assert_eq!(
        c.trigger(t, "private-chat", "client-typing", "{}"),
        Err(CommandError::RateLimited {
            limit: 10,
            retry_after: Duration::from_millis(100)
        })
    );
    // the window slides: the first one expires at 1 s
    assert_eq!(
        c.trigger(
            now + Duration::from_secs(1),
            "private-chat",
            "client-typing",
            r#"{"n":10}"#
        ),
        Ok(())
    );
    p.run_until_quiet();
    assert_eq!(
        p.frames_to_hub()
            .iter()
            .filter(|f| f.starts_with(r#"{"event":"client-typing""#))
            .count(),
        11
    );
    assert!(
        p.frames_to_hub()
            .contains(&r#"{"event":"client-typing","data":{"n":0},"channel":"private-chat"}"#)
    );
    let got = messages(&p.take_events_of(b));
    assert_eq!(got.len(), 11);
    assert_eq!(
        got[0],
        ("private-chat".into(), "client-typing".into(), r#"{"n":0}"#.into())
    );
}

#[test]
fn cache_channel_miss_then_last_event() {
    let mut p = pair();
    p.client_mut().subscribe("cache-prices").unwrap();
    p.run_until_quiet();
    let evs = p.take_client_events();
    assert_eq!(
        evs.last(),
        Some(&Event::CacheMiss {
            channel: "cache-prices".into()
        })
    );
    p.hub_mut().publish("cache-prices", "price", r#""{\"p\":1}""#);
    p.run_until_quiet();
    p.take_client_events();
    let b = p.add_client(Client::new(config()));
    let now = p.now();
    p.client_at(b).connect(now);
    p.client_at(b).subscribe("cache-prices").unwrap();
    p.run_until_quiet();
    let evs = p.take_events_of(b);
    assert!(!evs.iter().any(|e| matches!(e, Event::CacheMiss { .. })));
    assert_eq!(
        messages(&evs),
        vec![("cache-prices".into(), "price".into(), r#"{"p":1}"#.into())]
    );
}

fn key(b: u8) -> (SharedSecret, String) {
    use base64::Engine;
    let raw = [b; 32];
    (
        SharedSecret::from_bytes(raw),
        base64::engine::general_purpose::STANDARD.encode(raw),
    )
}

fn provide_encrypted(p: &mut Pair<Client, TestHub>, ch: &str, secret_b64: &str) {
    let req = p.client().pending_auth();
    let r = req.iter().find(|r| r.channel == ch).unwrap();
    let sig = auth::sign_private(KEY, &secret(), &r.socket_id, ch);
    p.client_mut()
        .provide_auth(
            ch,
            ChannelAuth::new(sig.expose().clone()).with_shared_secret(secret_b64),
        )
        .unwrap();
    p.run_until_quiet();
}

#[test]
fn encrypted_channel_decrypts_reauths_once_then_drops() {
    let ch = "private-encrypted-vault";
    let (k1, b1) = key(1);
    let (k2, b2) = key(2);
    let (k3, _) = key(3);
    let mut p = pair();
    p.client_mut().subscribe(ch).unwrap();
    p.run_until_quiet();
    // no key: refused with a clear error
    let r = p.client().pending_auth()[0].clone();
    let sig = auth::sign_private(KEY, &secret(), &r.socket_id, ch);
    assert!(
        p.client_mut()
            .provide_auth(ch, ChannelAuth::new(sig.expose().clone()))
            .is_err()
    );
    provide_encrypted(&mut p, ch, &b1);
    p.take_client_events();
    p.hub_mut()
        .publish_encrypted(ch, "secret", &k1, 1, r#"{"gold":7}"#);
    p.run_until_quiet();
    assert_eq!(
        messages(&p.take_client_events()),
        vec![(ch.into(), "secret".into(), r#"{"gold":7}"#.into())]
    );
    // the server rotated the key: one re-authorization, then the event is delivered
    p.hub_mut()
        .publish_encrypted(ch, "secret", &k2, 2, r#"{"gold":8}"#);
    p.run_until_quiet();
    let evs = p.take_client_events();
    assert_eq!(
        evs,
        vec![Event::AuthRequired {
            socket_id: "1.1001".into(),
            channel: ch.into()
        }]
    );
    assert!(p.client().pending_auth()[0].rekey);
    provide_encrypted(&mut p, ch, &b2);
    assert_eq!(
        messages(&p.take_client_events()),
        vec![(ch.into(), "secret".into(), r#"{"gold":8}"#.into())]
    );
    // a key the new authorization does not fix: reported and dropped
    p.hub_mut()
        .publish_encrypted(ch, "secret", &k3, 3, r#"{"gold":9}"#);
    p.run_until_quiet();
    provide_encrypted(&mut p, ch, &b2);
    let evs = p.take_client_events();
    assert!(
        matches!(&evs[..], [Event::AuthRequired { .. }, Event::DecryptionFailed { channel, event, .. }] if channel == ch && event == "secret"),
        "{evs:?}"
    );
    // pusher_internal events are not encrypted
    p.hub_mut()
        .publish_encrypted(ch, "secret", &k2, 4, r#""plain string""#);
    p.run_until_quiet();
    assert_eq!(
        messages(&p.take_client_events()),
        vec![(ch.into(), "secret".into(), "plain string".into())]
    );
    // not even a nonce: reported at once, no re-auth
    p.inject_to_client(
        0,
        Frame::from(format!(r#"{{"event":"secret","channel":"{ch}","data":"{{}}"}}"#)),
    );
    let evs = p.take_client_events();
    assert!(matches!(&evs[..], [Event::DecryptionFailed { .. }]), "{evs:?}");
}

#[test]
fn signin_server_to_user_watchlist_and_resignin() {
    let mut p = pair();
    p.take_client_events();
    p.client_mut().signin();
    p.run_until_quiet();
    let evs = p.take_client_events();
    assert_eq!(
        evs,
        vec![Event::UserAuthRequired {
            socket_id: "1.1001".into()
        }]
    );
    // bad user data is refused before anything is sent
    assert!(
        p.client_mut()
            .provide_user_auth(UserAuth::new("k:s", r#"{"id":""}"#))
            .is_err()
    );
    let user_data = r#"{"id":"12345","watchlist":["1","2"]}"#;
    let sig = auth::sign_user(KEY, &secret(), "1.1001", user_data);
    p.client_mut()
        .provide_user_auth(UserAuth::new(sig.expose().clone(), user_data))
        .unwrap();
    p.run_until_quiet();
    let evs = p.take_client_events();
    assert_eq!(
        evs[0],
        Event::SignedIn {
            user_id: "12345".into(),
            user_data: user_data.into()
        }
    );
    let hub_frames = p.frames_to_hub();
    assert!(hub_frames[0].starts_with(r#"{"event":"pusher:signin","data":{"auth":"278d425bdf160c739803:"#));
    assert_eq!(
        hub_frames[1],
        r##"{"event":"pusher:subscribe","data":{"auth":"","channel":"#server-to-user-12345"}}"##
    );
    p.hub_mut()
        .publish("#server-to-user-12345", "payment", r#""{\"amount\":5}""#);
    p.inject_to_client(
        0,
        Frame::from(r#"{"event":"pusher_internal:watchlist_events","data":"{\"events\":[{\"name\":\"online\",\"user_ids\":[\"1\",2]}]}"}"#),
    );
    p.run_until_quiet();
    let evs = p.take_client_events();
    // the injected watchlist frame went first
    assert!(
        matches!(&evs[1], Event::UserEvent { event, data: Some(d) } if event == "payment" && d.text() == r#"{"amount":5}"#),
        "{evs:?}"
    );
    match &evs[0] {
        Event::Watchlist { events } => {
            assert_eq!(events[0].name, "online");
            assert_eq!(events[0].user_ids, vec!["1", "2"]);
        }
        other => panic!("{other:?}"),
    }
    // after a reconnect: sign in again
    p.drop_connection();
    p.advance(Duration::from_secs(1));
    let evs = p.take_client_events();
    assert!(
        evs.contains(&Event::UserAuthRequired {
            socket_id: "2.1002".into()
        }),
        "{evs:?}"
    );
    let sig = auth::sign_user(KEY, &secret(), "2.1002", user_data);
    p.client_mut()
        .provide_user_auth(UserAuth::new(sig.expose().clone(), user_data))
        .unwrap();
    p.run_until_quiet();
    assert!(
        p.take_client_events()
            .iter()
            .any(|e| matches!(e, Event::SignedIn { .. }))
    );
    assert!(p.client().is_subscribed("#server-to-user-12345"));
}

#[test]
fn malformed_oversize_and_unknown_frames_are_events_and_the_session_goes_on() {
    let mut p = pair_with(
        config().with_limits(Limits::default().with_max_frame_size(200)),
        TestHub::new(),
    );
    p.client_mut().subscribe("my-channel").unwrap();
    p.run_until_quiet();
    p.take_client_events();
    p.inject_to_client(0, Frame::from("not json"));
    let big = format!(
        r#"{{"event":"e","channel":"my-channel","data":"{}"}}"#,
        "x".repeat(300)
    );
    p.inject_to_client(0, Frame::from(big.clone()));
    p.inject_to_client(0, Frame::from(r#"{"event":"pusher:brand_new","data":{}}"#));
    p.inject_to_client(0, Frame::from(r#"{"event":"pusher_internal:subscription_count","channel":"my-channel","data":"{\"subscription_count\":4}"}"#));
    p.inject_to_client(
        0,
        Frame::from(r#"{"event":"pusher_internal:member_added","channel":"presence-x"}"#),
    );
    p.hub_mut().publish("my-channel", "still-here", "{}");
    p.run_until_quiet();
    let evs = p.take_client_events();
    assert!(
        matches!(&evs[0], Event::Malformed { error: DecodeError::Envelope { .. }, frame } if frame.as_str() == "not json"),
        "{:?}",
        evs[0]
    );
    assert!(
        matches!(&evs[1], Event::Malformed { error: DecodeError::TooLarge { len, max: 200 }, frame } if *len == big.len() && frame.as_str() == &big[..256]),
        "the frame cut to 256 bytes: {:?}",
        evs[1]
    );
    assert!(matches!(&evs[2], Event::Unknown { frame } if frame.contains("brand_new")));
    assert_eq!(
        evs[3],
        Event::SubscriptionCount {
            channel: "my-channel".into(),
            count: 4
        }
    );
    assert!(
        matches!(&evs[4], Event::Malformed { error: e, .. } if e.to_string().contains("data is missing"))
    );
    assert_eq!(
        messages(&evs[5..]),
        vec![("my-channel".into(), "still-here".into(), "{}".into())]
    );
    assert!(p.client().is_open());
}

#[test]
fn disconnect_and_connect_again() {
    let mut p = pair();
    p.client_mut().subscribe("my-channel").unwrap();
    p.run_until_quiet();
    p.take_client_events();
    p.advance(Duration::from_secs(2));
    let now = p.now();
    p.client_mut().disconnect(now);
    p.run_until_quiet();
    assert!(matches!(p.wire().last(), Some(Wire::ClientClosed { close, .. }) if close.code.0 == 1000));
    assert!(p.client().is_stopped() && !p.client().is_open());
    assert_eq!(
        p.take_client_events(),
        vec![
            Event::Disconnected {
                reason: DisconnectReason::Requested
            },
            Event::Stopped {
                reason: StopReason::Requested
            }
        ]
    );
    assert_eq!(p.next_deadline(), None);
    p.advance(Duration::from_secs(100));
    assert_eq!(connects(&p).len(), 1);
    let now = p.now();
    p.client_mut().connect(now);
    p.run_until_quiet();
    let evs = p.take_client_events();
    assert!(
        evs.contains(&Event::Resubscribed {
            channel: "my-channel".into(),
            after: Duration::from_secs(100)
        }),
        "{evs:?}"
    );
}

#[test]
fn url_building_for_hosted_clusters_and_custom_hosts() {
    let c = Config::new("app-key");
    assert_eq!(
        c.url(true),
        "wss://ws-mt1.pusher.com:443/app/app-key?protocol=7&client=feedwire&version=0.1.0&flash=false"
    );
    assert_eq!(
        c.clone().with_cluster("ap1").url(false),
        "ws://ws-ap1.pusher.com:80/app/app-key?protocol=7&client=feedwire&version=0.1.0&flash=false"
    );
    assert_eq!(
        Config::bitskins().with_client("pusher-client", "1.1.0").url(true),
        "wss://notifier.bitskins.com:443/app/c0eef4118084f8164bec65e6253bf195?protocol=7&client=pusher-client&version=1.1.0&flash=false"
    );
    assert_eq!(
        Config::new("k")
            .with_host("127.0.0.1")
            .with_ws_port(6001)
            .with_path("pusher/")
            .with_client("my client", "1.0+x")
            .url(false),
        "ws://127.0.0.1:6001/pusher/app/k?protocol=7&client=my+client&version=1.0%2Bx&flash=false"
    );
}

#[test]
fn an_error_naming_a_subscribed_channel_is_not_pinned_on_a_pending_one() {
    let mut p = pair();
    p.client_mut().subscribe("presence-room").unwrap();
    p.run_until_quiet();
    authorize_all(&mut p, 0, "1");
    p.client_mut().subscribe("private-slow").unwrap();
    p.run_until_quiet();
    let r = p.client().pending_auth()[0].clone();
    let sig = auth::sign_private(KEY, &secret(), &r.socket_id, "private-slow");
    // the subscribe is queued but not yet delivered, so it is pending when the error arrives
    p.client_mut()
        .provide_auth("private-slow", ChannelAuth::new(sig.expose().clone()))
        .unwrap();
    p.take_client_events();
    p.inject_to_client(
        0,
        Frame::from(r#"{"event":"pusher:error","data":{"code":null,"message":"Existing subscription to channel presence-room"}}"#),
    );
    let evs = p.take_client_events();
    assert!(
        matches!(&evs[0], Event::ServerError { code: None, message, .. } if message.contains("Existing subscription")),
        "{evs:?}"
    );
    assert!(p.client().is_subscribed("private-slow"));
    assert!(p.client().is_subscribed("presence-room"));
    // an unsolicited success for an unknown channel is surfaced, changes nothing
    p.inject_to_client(
        0,
        Frame::from(r#"{"event":"pusher_internal:subscription_succeeded","channel":"ghost"}"#),
    );
    assert!(matches!(&p.take_client_events()[..], [Event::Unknown { .. }]));
}

#[test]
fn secrets_never_print() {
    let a = ChannelAuth::new("278d425bdf160c739803:58df8b0c36d6")
        .with_channel_data(r#"{"user_id":"1"}"#)
        .with_shared_secret("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    let d = format!("{a:?}");
    assert!(!d.contains("58df8b0c36d6") && !d.contains("AAECAwQF"), "{d}");
    let u = UserAuth::new("k:abcdef123", r#"{"id":"1"}"#);
    assert!(!format!("{u:?}").contains("abcdef123"));
    let parsed =
        ChannelAuth::from_json(r#"{"auth":"k:feedface","channel_data":"{}","shared_secret":"c2VjcmV0"}"#)
            .unwrap();
    assert_eq!(parsed.auth.expose(), "k:feedface");
    assert!(!format!("{parsed:?}").contains("feedface"));
    assert!(ChannelAuth::from_json("{}").is_err());
}

#[test]
fn connect_again_after_a_terminal_close_and_4000_when_already_on_tls() {
    let mut p = pair();
    p.hub_mut().kick(ConnId(1), 4004);
    p.run_until_quiet();
    assert!(p.client().is_stopped());
    p.advance(Duration::from_secs(60));
    assert_eq!(connects(&p).len(), 1);
    let now = p.now();
    p.client_mut().connect(now);
    p.run_until_quiet();
    assert!(p.client().is_open());
    assert_eq!(connects(&p).len(), 2);

    // already on TLS: a 4000 cannot be fixed by switching, so it backs off instead of spinning
    let mut p = pair_with(config().with_tls(true), TestHub::new());
    assert!(connects(&p)[0].1.starts_with("wss://127.0.0.1:6001/"));
    p.take_client_events();
    p.hub_mut().kick(ConnId(1), 4000);
    p.run_until_quiet();
    let evs = p.take_client_events();
    assert_eq!(
        &evs[..2],
        &[
            Event::Disconnected {
                reason: DisconnectReason::Closed {
                    close: Some(Close::new(4000, "kicked")),
                    action: CloseAction::RetryWithTls
                }
            },
            Event::Reconnecting {
                after: Duration::from_secs(1),
                attempt: 1
            },
        ]
    );
}
