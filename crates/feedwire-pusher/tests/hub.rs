//! The Pusher hub on its own: every handshake and rejection path, frame by frame and close code by close code.
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin

mod common;

use common::req;
use std::time::{Duration, Instant};

use feedwire_core::{Close, CloseCode, ConnId, Frame, Hub as _, HubTransmit, OpenRequest, RawJson, Secret};
use feedwire_pusher::auth;
use feedwire_pusher::server::{Hub, HubConfig, HubEvent};

const OPEN: &str = "/app/app-key?protocol=7&client=js&version=8.6.0&flash=false";

struct H {
    hub: Hub,
    now: Instant,
}

impl H {
    fn new(config: HubConfig) -> Self {
        H {
            hub: Hub::new(config),
            now: Instant::now(),
        }
    }
    fn open(&mut self, conn: u64, path: &str) -> Vec<(u64, String)> {
        self.hub
            .handle_open(self.now, ConnId(conn), &OpenRequest::new(path));
        self.drain()
    }
    /// Opens and returns the socket id.
    /// A hub with the default configuration and connection 1 established; its socket id.
    fn connected() -> (H, String) {
        let mut h = H::new(HubConfig::default());
        let sid = h.connect(1);
        (h, sid)
    }
    fn connect(&mut self, conn: u64) -> String {
        let out = self.open(conn, OPEN);
        assert_eq!(out.len(), 1, "{out:?}");
        let v: serde_json::Value = serde_json::from_str(&out[0].1).unwrap();
        assert_eq!(v["event"], "pusher:connection_established");
        let data: serde_json::Value = serde_json::from_str(v["data"].as_str().unwrap()).unwrap();
        data["socket_id"].as_str().unwrap().to_owned()
    }
    fn send(&mut self, conn: u64, text: &str) -> Vec<(u64, String)> {
        self.hub
            .handle_frame(self.now, ConnId(conn), Frame::from(text.to_owned()));
        self.drain()
    }
    fn drain(&mut self) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        while let Some((c, t)) = self.hub.poll_transmit() {
            out.push((
                c.0,
                match t {
                    HubTransmit::Send(f) => f.as_str().to_owned(),
                    HubTransmit::Close(c) => format!("CLOSE {} {}", c.code.0, c.reason),
                },
            ));
        }
        out
    }
    fn events(&mut self) -> Vec<HubEvent> {
        std::iter::from_fn(|| self.hub.poll_event()).collect()
    }
    fn advance(&mut self, d: Duration) -> Vec<(u64, String)> {
        self.now += d;
        self.hub.handle_timeout(self.now);
        self.drain()
    }
}

fn secret() -> Secret<String> {
    Secret::new("app-secret".to_owned())
}

fn s(frames: &[(u64, &str)]) -> Vec<(u64, String)> {
    frames.iter().map(|(c, f)| (*c, f.to_string())).collect()
}

#[test]
fn handshake_gives_a_fresh_socket_id_and_the_activity_timeout() {
    let mut h = H::new(HubConfig::default().with_activity_timeout(Duration::from_secs(30)));
    let out = h.open(1, OPEN);
    let v: serde_json::Value = serde_json::from_str(&out[0].1).unwrap();
    let data: serde_json::Value =
        serde_json::from_str(v["data"].as_str().expect("data is a JSON string")).unwrap();
    assert_eq!(data["activity_timeout"], 30);
    let id = data["socket_id"].as_str().unwrap();
    let (a, b) = id.split_once('.').unwrap();
    assert!(
        !a.is_empty() && !b.is_empty() && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit()),
        "{id}"
    );
    let ids: std::collections::BTreeSet<String> = (2..200).map(|c| h.connect(c)).collect();
    assert_eq!(ids.len(), 198, "socket ids are unique");
    assert!(matches!(&h.events()[0], HubEvent::Connected { conn: ConnId(1), socket_id } if socket_id == id));
    // same seed, same ids: deterministic
    let mut h2 = H::new(HubConfig::default());
    let mut h3 = H::new(HubConfig::default());
    assert_eq!(h2.connect(1), h3.connect(1));
    // path prefixes before /app are allowed
    let mut h4 = H::new(HubConfig::default());
    assert!(
        h4.open(1, "/ws/app/app-key?protocol=7")[0]
            .1
            .contains("connection_established")
    );
}

#[test]
fn every_open_rejection_has_its_code() {
    let cases = [
        (
            "/app/wrong-key?protocol=7",
            4001,
            "App key wrong-key does not exist.",
        ),
        ("/app/app-key", 4008, "No protocol version supplied"),
        ("/app/app-key?protocol=", 4008, "No protocol version supplied"),
        (
            "/app/app-key?protocol=seven",
            4006,
            "Invalid version string format",
        ),
        ("/app/app-key?protocol=4", 4007, "Unsupported protocol version"),
        ("/app/app-key?protocol=8", 4007, "Unsupported protocol version"),
        ("/socket?protocol=7", 4005, "Path not found: /socket"),
        (
            "/app/app-key/extra?protocol=7",
            4005,
            "Path not found: /app/app-key/extra",
        ),
    ];
    for (path, code, reason) in cases {
        let mut h = H::new(HubConfig::default());
        let out = h.open(1, path);
        assert_eq!(
            out,
            s(&[
                (
                    1,
                    &format!(r#"{{"event":"pusher:error","data":{{"code":{code},"message":"{reason}"}}}}"#)
                ),
                (1, &format!("CLOSE {code} {reason}")),
            ]),
            "{path}"
        );
        assert_eq!(
            h.events(),
            vec![HubEvent::Rejected {
                conn: ConnId(1),
                code,
                reason: reason.into()
            }]
        );
        assert_eq!(h.hub.connection_count(), 0);
        // frames on a rejected connection are ignored
        assert!(h.send(1, r#"{"event":"pusher:ping","data":{}}"#).is_empty());
    }
}

#[test]
fn ping_pong_both_ways_and_4201_after_silence() {
    let mut h = H::new(HubConfig::default().with_activity_timeout(Duration::from_secs(120)));
    h.connect(1);
    assert_eq!(
        h.send(1, r#"{"event":"pusher:ping","data":{}}"#),
        s(&[(1, r#"{"event":"pusher:pong","data":{}}"#)])
    );
    assert!(h.advance(Duration::from_secs(119)).is_empty());
    assert_eq!(
        h.advance(Duration::from_secs(1)),
        s(&[(1, r#"{"event":"pusher:ping","data":{}}"#)])
    );
    // an answer resets the clock
    assert!(h.send(1, r#"{"event":"pusher:pong","data":{}}"#).is_empty());
    assert!(h.advance(Duration::from_secs(119)).is_empty());
    assert_eq!(h.advance(Duration::from_secs(1)).len(), 1);
    assert!(h.advance(Duration::from_secs(29)).is_empty());
    assert_eq!(
        h.advance(Duration::from_secs(1)),
        s(&[(1, "CLOSE 4201 Pong reply not received")])
    );
    let evs = h.events();
    assert!(evs.contains(&HubEvent::PongTimeout { conn: ConnId(1) }));
    assert_eq!(h.hub.connection_count(), 0);
    assert_eq!(h.hub.poll_timeout(), None);
}

#[test]
fn public_private_and_bad_signatures() {
    let (mut h, sid) = H::connected();
    assert_eq!(
        h.send(
            1,
            r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"inventory_changes"}}"#
        ),
        s(&[(
            1,
            r#"{"event":"pusher_internal:subscription_succeeded","channel":"inventory_changes","data":"{}"}"#
        )])
    );
    // duplicate: informational error, subscription kept
    assert_eq!(
        h.send(
            1,
            r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"inventory_changes"}}"#
        ),
        s(&[(
            1,
            r#"{"event":"pusher:error","channel":"inventory_changes","data":{"code":null,"message":"Existing subscription to channel inventory_changes"}}"#
        )])
    );
    assert_eq!(h.hub.subscriber_count("inventory_changes"), 1);
    let good = auth::sign_private("app-key", &secret(), &sid, "private-room");
    let frame = format!(
        r#"{{"event":"pusher:subscribe","data":{{"auth":"{}","channel":"private-room"}}}}"#,
        good.expose()
    );
    assert_eq!(
        h.send(1, &frame)[0].1,
        r#"{"event":"pusher_internal:subscription_succeeded","channel":"private-room","data":"{}"}"#
    );
    // a signature for another socket id, for another channel, with another key, or none at all
    let other = auth::sign_private("app-key", &secret(), "1.1", "private-b");
    let wrong_chan = auth::sign_private("app-key", &secret(), &sid, "private-a");
    let wrong_key = format!(
        "other-key:{}",
        auth::signature(&secret(), &format!("{sid}:private-b"))
    );
    for a in [
        other.expose().as_str(),
        wrong_chan.expose().as_str(),
        wrong_key.as_str(),
        "",
        "garbage",
    ] {
        let f = format!(r#"{{"event":"pusher:subscribe","data":{{"auth":"{a}","channel":"private-b"}}}}"#);
        assert_eq!(
            h.send(1, &f),
            s(&[(
                1,
                r#"{"event":"pusher:subscription_error","channel":"private-b","data":{"type":"AuthError","error":"The connection is unauthorized.","status":401}}"#
            )]),
            "auth {a:?}"
        );
    }
    assert_eq!(h.hub.subscriber_count("private-b"), 0);
    // encrypted channels authenticate like private ones
    let enc = auth::sign_private("app-key", &secret(), &sid, "private-encrypted-x");
    let f = format!(
        r#"{{"event":"pusher:subscribe","data":{{"auth":"{}","channel":"private-encrypted-x"}}}}"#,
        enc.expose()
    );
    assert!(h.send(1, &f)[0].1.contains("subscription_succeeded"));
    // invalid names
    let out = h.send(
        1,
        r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"bad channel"}}"#,
    );
    assert!(
        out[0].1.contains("pusher:subscription_error") && out[0].1.contains("InvalidChannel"),
        "{out:?}"
    );
    let long = "a".repeat(165);
    let out = h.send(
        1,
        &format!(r#"{{"event":"pusher:subscribe","data":{{"auth":"","channel":"{long}"}}}}"#),
    );
    assert!(out[0].1.contains("InvalidChannel"), "{out:?}");
    // unsubscribe: no acknowledgement
    assert!(
        h.send(
            1,
            r#"{"event":"pusher:unsubscribe","data":{"channel":"inventory_changes"}}"#
        )
        .is_empty()
    );
    assert_eq!(h.hub.subscriber_count("inventory_changes"), 0);
}

fn presence_subscribe(
    h: &mut H,
    conn: u64,
    sid: &str,
    channel: &str,
    channel_data: &str,
) -> Vec<(u64, String)> {
    let a = auth::sign_presence("app-key", &secret(), sid, channel, channel_data);
    let frame = serde_json::json!({"event":"pusher:subscribe","data":{"auth": a.expose(),"channel":channel,"channel_data":channel_data}});
    h.send(conn, &frame.to_string())
}

#[test]
fn presence_members_across_connections() {
    let (mut h, s1) = H::connected();
    let s2 = h.connect(2);
    let s3 = h.connect(3);
    let out = presence_subscribe(
        &mut h,
        1,
        &s1,
        "presence-room",
        r#"{"user_id":10,"user_info":{"name":"Mr. Channels"}}"#,
    );
    assert_eq!(
        out,
        s(&[(
            1,
            r#"{"event":"pusher_internal:subscription_succeeded","channel":"presence-room","data":"{\"presence\":{\"count\":1,\"hash\":{\"10\":{\"name\":\"Mr. Channels\"}},\"ids\":[\"10\"]}}"}"#
        )])
    );
    // user 20 joins: conn 1 hears member_added
    let out = presence_subscribe(&mut h, 2, &s2, "presence-room", r#"{"user_id":"20"}"#);
    assert_eq!(out[0].0, 2);
    assert!(out[0].1.contains(r#"\"count\":2"#), "{out:?}");
    assert_eq!(out[1], (1, r#"{"event":"pusher_internal:member_added","channel":"presence-room","data":"{\"user_id\":\"20\"}"}"#.to_string()));
    assert_eq!(out.len(), 2);
    // user 10 again on a second connection: no member_added for anybody
    let out = presence_subscribe(
        &mut h,
        3,
        &s3,
        "presence-room",
        r#"{"user_id":10,"user_info":{"name":"Mr. Channels"}}"#,
    );
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(h.hub.members("presence-room"), vec!["10", "20"]);
    h.events();
    // user 10 closes one connection: still present
    h.hub.handle_close(h.now, ConnId(1), Some(Close::normal()));
    assert!(h.drain().is_empty());
    assert!(
        !h.events()
            .iter()
            .any(|e| matches!(e, HubEvent::MemberRemoved { .. }))
    );
    // ... and the other: member_removed to user 20
    h.hub.handle_close(h.now, ConnId(3), None);
    assert_eq!(
        h.drain(),
        s(&[(
            2,
            r#"{"event":"pusher_internal:member_removed","channel":"presence-room","data":"{\"user_id\":\"10\"}"}"#
        )])
    );
    assert!(h.events().contains(&HubEvent::MemberRemoved {
        channel: "presence-room".into(),
        user_id: "10".into()
    }));
}

#[test]
fn presence_limits_and_bad_channel_data() {
    let mut config = HubConfig::default();
    config.max_presence_members = 2;
    let mut h = H::new(config);
    let sids: Vec<String> = (1..=4).map(|c| h.connect(c)).collect();
    assert!(
        presence_subscribe(&mut h, 1, &sids[0], "presence-x", r#"{"user_id":"a"}"#)[0]
            .1
            .contains("succeeded")
    );
    assert!(
        presence_subscribe(&mut h, 2, &sids[1], "presence-x", r#"{"user_id":"b"}"#)[0]
            .1
            .contains("succeeded")
    );
    let out = presence_subscribe(&mut h, 3, &sids[2], "presence-x", r#"{"user_id":"c"}"#);
    assert!(
        out[0].1.contains("LimitReached") && out[0].1.contains("full"),
        "{out:?}"
    );
    // an existing member may still add a connection when full
    assert!(
        presence_subscribe(&mut h, 3, &sids[2], "presence-x", r#"{"user_id":"a"}"#)[0]
            .1
            .contains("succeeded")
    );
    let long_id = format!(r#"{{"user_id":"{}"}}"#, "u".repeat(129));
    assert!(
        presence_subscribe(&mut h, 4, &sids[3], "presence-y", &long_id)[0]
            .1
            .contains("LimitReached")
    );
    let big_info = format!(r#"{{"user_id":"u","user_info":{{"x":"{}"}}}}"#, "i".repeat(1100));
    assert!(
        presence_subscribe(&mut h, 4, &sids[3], "presence-y", &big_info)[0]
            .1
            .contains("LimitReached")
    );
    assert!(
        presence_subscribe(&mut h, 4, &sids[3], "presence-y", "not json")[0]
            .1
            .contains("InvalidChannelData")
    );
    // a signature over other channel_data is refused
    let a = auth::sign_presence("app-key", &secret(), &sids[3], "presence-y", r#"{"user_id":"u"}"#);
    let f = serde_json::json!({"event":"pusher:subscribe","data":{"auth":a.expose(),"channel":"presence-y","channel_data":r#"{"user_id":"admin"}"#}});
    assert!(h.send(4, &f.to_string())[0].1.contains("AuthError"));
}

#[test]
fn cache_channels_replay_or_miss() {
    let mut h = H::new(HubConfig::default());
    h.connect(1);
    h.connect(2);
    assert_eq!(
        h.send(
            1,
            r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"cache-prices"}}"#
        ),
        s(&[
            (
                1,
                r#"{"event":"pusher_internal:subscription_succeeded","channel":"cache-prices","data":"{}"}"#
            ),
            (1, r#"{"event":"pusher:cache_miss","channel":"cache-prices"}"#),
        ])
    );
    h.hub
        .publish(
            &["cache-prices"],
            "price_changed",
            &RawJson::from_json_str(r#""{\"p\":1}""#).unwrap(),
            None,
        )
        .unwrap();
    h.hub
        .publish(
            &["cache-prices"],
            "price_changed",
            &RawJson::from_json_str(r#""{\"p\":2}""#).unwrap(),
            None,
        )
        .unwrap();
    assert_eq!(h.drain().len(), 2);
    assert_eq!(
        h.send(
            2,
            r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"cache-prices"}}"#
        )[1]
        .1,
        r#"{"event":"price_changed","channel":"cache-prices","data":"{\"p\":2}"}"#
    );
}

#[test]
fn client_events_rules_and_rate_limit() {
    let mut h = H::new(HubConfig::default().with_client_events(true));
    let s1 = h.connect(1);
    let s2 = h.connect(2);
    presence_subscribe(&mut h, 1, &s1, "presence-chat", r#"{"user_id":"ann"}"#);
    presence_subscribe(&mut h, 2, &s2, "presence-chat", r#"{"user_id":"bob"}"#);
    h.drain();
    // relayed to the others, not the sender, with user_id
    assert_eq!(
        h.send(
            1,
            r#"{"event":"client-typing","data":{"on":true},"channel":"presence-chat"}"#
        ),
        s(&[(
            2,
            r#"{"event":"client-typing","channel":"presence-chat","data":{"on":true},"user_id":"ann"}"#
        )])
    );
    // 10 per second, the 11th refused with 4301 and the connection kept
    for _ in 0..9 {
        assert_eq!(
            h.send(1, r#"{"event":"client-x","data":{},"channel":"presence-chat"}"#)
                .len(),
            1
        );
    }
    let out = h.send(1, r#"{"event":"client-x","data":{},"channel":"presence-chat"}"#);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, 1);
    assert!(out[0].1.contains(r#""code":4301"#), "{out:?}");
    h.now += Duration::from_secs(1);
    assert_eq!(
        h.send(1, r#"{"event":"client-x","data":{},"channel":"presence-chat"}"#)[0].0,
        2
    );
    // not on public or encrypted channels, not when unsubscribed
    h.send(
        1,
        r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"public"}}"#,
    );
    for (chan, why) in [
        ("public", "not allowed"),
        ("private-encrypted-z", "not allowed"),
        ("private-other", "Not subscribed"),
    ] {
        let out = h.send(
            1,
            &format!(r#"{{"event":"client-x","data":{{}},"channel":"{chan}"}}"#),
        );
        assert_eq!(out.len(), 1, "{chan}");
        assert!(out[0].0 == 1 && out[0].1.contains(why), "{chan}: {out:?}");
    }
    // disabled by default
    let mut off = H::new(HubConfig::default());
    let sid = off.connect(1);
    presence_subscribe(&mut off, 1, &sid, "presence-chat", r#"{"user_id":"ann"}"#);
    let out = off.send(1, r#"{"event":"client-x","data":{},"channel":"presence-chat"}"#);
    assert!(out[0].1.contains("enable this feature"), "{out:?}");
}

#[test]
fn signin_and_server_to_user() {
    let (mut h, sid) = H::connected();
    // subscribing to a user channel before signin is refused
    assert!(
        h.send(
            1,
            r##"{"event":"pusher:subscribe","data":{"auth":"","channel":"#server-to-user-42"}}"##
        )[0]
        .1
        .contains("AuthError")
    );
    let user_data = r#"{"id":"42","name":"x"}"#;
    let a = auth::sign_user("app-key", &secret(), &sid, user_data);
    let f = serde_json::json!({"event":"pusher:signin","data":{"auth":a.expose(),"user_data":user_data}});
    assert_eq!(
        h.send(1, &f.to_string()),
        s(&[(
            1,
            r#"{"event":"pusher:signin_success","data":"{\"user_data\":\"{\\\"id\\\":\\\"42\\\",\\\"name\\\":\\\"x\\\"}\"}"}"#
        )])
    );
    assert!(
        h.send(
            1,
            r##"{"event":"pusher:subscribe","data":{"auth":"","channel":"#server-to-user-42"}}"##
        )[0]
        .1
        .contains("subscription_succeeded")
    );
    assert_eq!(
        h.hub
            .send_to_user("42", "note", &RawJson::from_json_str(r#""hi""#).unwrap()),
        Ok(1)
    );
    assert_eq!(
        h.drain(),
        s(&[(
            1,
            r##"{"event":"note","channel":"#server-to-user-42","data":"hi"}"##
        )])
    );
    // a bad signin signature closes with 4009
    let sid2 = h.connect(2);
    let bad = auth::sign_user("app-key", &secret(), &sid2, r#"{"id":"other"}"#);
    let f = serde_json::json!({"event":"pusher:signin","data":{"auth":bad.expose(),"user_data":user_data}});
    let out = h.send(2, &f.to_string());
    assert_eq!(out[1], (2, "CLOSE 4009 Invalid signature".into()));
}

#[test]
fn bad_frames_get_an_error_and_the_connection_stays() {
    let mut h =
        H::new(HubConfig::default().with_limits(feedwire_core::Limits::default().with_max_frame_size(64)));
    h.connect(1);
    h.events();
    for bad in [
        "not json",
        "{}",
        r#"{"event":5}"#,
        r#"{"event":"pusher:subscribe","data":"x"}"#,
        r#"{"event":"whatever"}"#,
    ] {
        let out = h.send(1, bad);
        assert_eq!(out.len(), 1, "{bad}");
        assert!(
            out[0].1.starts_with(r#"{"event":"pusher:error""#),
            "{bad}: {out:?}"
        );
        assert!(
            matches!(h.events().as_slice(), [HubEvent::BadFrame { .. }]),
            "{bad}"
        );
    }
    let out = h.send(
        1,
        &format!(r#"{{"event":"pusher:ping","data":"{}"}}"#, "x".repeat(80)),
    );
    assert!(out[0].1.contains("exceeds 64"), "{out:?}");
    assert_eq!(
        h.send(1, r#"{"event":"pusher:ping","data":{}}"#).len(),
        1,
        "still open"
    );
}

#[test]
fn publish_to_ten_thousand_shares_one_buffer() {
    let mut h = H::new(HubConfig::default());
    for c in 0..10_000 {
        h.hub.handle_open(h.now, ConnId(c), &OpenRequest::new(OPEN));
        h.hub.handle_frame(
            h.now,
            ConnId(c),
            Frame::from(r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"inventory_changes"}}"#),
        );
    }
    while h.hub.poll_transmit().is_some() {}
    let except = h.hub.socket_id(ConnId(7)).unwrap().to_owned();
    let n = h.hub.publish(
        &["inventory_changes"],
        "listed",
        &RawJson::from_json_str(r#""{\"id\":1}""#).unwrap(),
        Some(&except),
    );
    assert_eq!(n, Ok(9_999));
    let mut first: Option<*const u8> = None;
    let mut count = 0;
    while let Some((conn, t)) = h.hub.poll_transmit() {
        let HubTransmit::Send(f) = t else { panic!() };
        assert_ne!(conn, ConnId(7), "the excluded socket gets nothing");
        let p = f.as_str().as_ptr();
        assert_eq!(*first.get_or_insert(p), p, "every subscriber shares one buffer");
        count += 1;
    }
    assert_eq!(count, 9_999);
}

#[test]
fn rest_triggers_reach_subscribers_and_read_endpoints_answer() {
    let v = common::vectors();
    let (mut h, s1) = H::connected();
    h.send(
        1,
        r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"inventory_changes"}}"#,
    );
    presence_subscribe(&mut h, 1, &s1, "presence-room", r#"{"user_id":"7"}"#);
    h.drain();
    let resp = h.hub.handle_rest(&req(&v.requests[0]), v.now_unix);
    assert_eq!((resp.status, resp.body.as_str()), (200, "{}"));
    assert_eq!(
        h.drain(),
        s(&[(
            1,
            r#"{"event":"listed","channel":"inventory_changes","data":"{\"asset_id\":\"123\",\"price\":12.5,\"name\":\"AK-47 | Redline <FT> & \\\"x\\\"\"}"}"#
        )])
    );
    assert_eq!(
        h.hub.handle_rest(&req(&v.requests[3]), v.now_unix).body,
        r#"{"channels":{"presence-room":{"user_count":1}}}"#
    );
    assert_eq!(
        h.hub.handle_rest(&req(&v.requests[4]), v.now_unix).body,
        r#"{"occupied":true,"user_count":1}"#
    );
    assert_eq!(
        h.hub.handle_rest(&req(&v.requests[5]), v.now_unix).body,
        r#"{"users":[{"id":"7"}]}"#
    );
    let late = h.hub.handle_rest(&req(&v.requests[0]), v.now_unix + 3600);
    assert_eq!(late.status, 401);
    assert!(h.drain().is_empty());
}

#[test]
fn disconnect_by_host_and_spurious_timeouts() {
    let mut h = H::new(HubConfig::default());
    h.connect(1);
    h.hub.handle_timeout(h.now); // nothing due
    assert!(h.drain().is_empty());
    h.hub
        .disconnect(ConnId(1), Close::new(CloseCode(4200), "restart"));
    assert_eq!(h.drain(), s(&[(1, "CLOSE 4200 restart")]));
    assert_eq!(h.hub.connection_count(), 0);
    h.hub.handle_close(h.now, ConnId(1), None); // a late close from the driver is harmless
    assert!(h.drain().is_empty());
}

#[test]
fn a_graceful_shutdown_closes_every_connection_with_4200_and_forgets_it() {
    let (mut h, _) = H::connected();
    h.connect(2);
    h.send(
        2,
        r#"{"event":"pusher:subscribe","data":{"channel":"inventory_changes"}}"#,
    );
    h.events();
    h.hub.handle_shutdown(h.now);
    assert_eq!(
        h.drain(),
        s(&[
            (1, "CLOSE 4200 Server is shutting down: reconnect"),
            (2, "CLOSE 4200 Server is shutting down: reconnect"),
        ])
    );
    assert_eq!(h.hub.connection_count(), 0);
    assert_eq!(h.hub.subscriber_count("inventory_changes"), 0);
    h.hub.check_invariants().unwrap();
}
