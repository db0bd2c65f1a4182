//! proptest: every message type of both directions survives encode -> decode, and decoding arbitrary text
//! never panics.

use feedwire_core::{Frame, RawJson};
use feedwire_doshii::codec::{
    ClientMessage, Event, EventKind, EventShape, Heartbeat, PosStatus, ServerMessage, Stamp,
};
use proptest::prelude::*;

fn json_leaf() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-zA-Z0-9 _\"\\\\/\u{e9}\u{1F600}-]{0,12}".prop_map(serde_json::Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn raw(v: &serde_json::Value) -> RawJson {
    RawJson::from_value(v).unwrap()
}

fn kind() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        (0..EventKind::ALL.len()).prop_map(|i| EventKind::ALL[i].clone()),
        "[a-z_]{1,20}|.{0,10}".prop_map(|n| EventKind::from_name(&n)),
    ]
}

fn shape() -> impl Strategy<Value = EventShape> {
    prop_oneof![
        Just(EventShape::Emit),
        Just(EventShape::Type),
        Just(EventShape::Event)
    ]
}

fn stamp_text() -> impl Strategy<Value = String> {
    prop_oneof![any::<u64>().prop_map(|n| n.to_string()), ".{0,16}"]
}

fn heartbeat() -> impl Strategy<Value = Heartbeat> {
    (
        any::<u64>(),
        proptest::option::of("[ -~]{0,12}"),
        proptest::option::of((
            proptest::option::of("[a-z]{0,8}"),
            proptest::option::of("[a-z]{0,8}"),
        )),
    )
        .prop_map(|(ms, version, status)| {
            let mut h = Heartbeat::new(ms);
            if let Some(v) = version {
                h = h.with_version(&v);
            }
            if let Some((d, p)) = status {
                let mut s = PosStatus::default();
                s.database = d;
                s.processor = p;
                h = h.with_status(&s);
            }
            h
        })
}

fn unknown() -> impl Strategy<Value = RawJson> {
    json_value()
        .prop_filter("not a known shape", |v| {
            !(v.is_object() || v.as_str().is_some_and(|s| s.starts_with("primus::")))
        })
        .prop_map(|v| raw(&v))
}

fn message() -> impl Strategy<Value = ServerMessage> {
    let event = (
        kind(),
        json_value(),
        shape(),
        prop::collection::vec(json_value(), 0..3),
    )
        .prop_map(|(k, data, shape, extra)| {
            // the docs' shape wrapping a heartbeat under the name "message" decodes as the heartbeat
            let k = if k.as_str() == "message" {
                EventKind::OrderUpdated
            } else {
                k
            };
            let mut e = Event::new(k, raw(&data)).with_shape(shape);
            if shape == EventShape::Emit {
                e.extra_args = extra.iter().map(raw).collect();
            }
            e
        });
    prop_oneof![
        heartbeat().prop_map(ServerMessage::Ping),
        heartbeat().prop_map(ServerMessage::Pong),
        stamp_text().prop_map(|s| ServerMessage::PrimusPing(Stamp::new(s))),
        stamp_text().prop_map(|s| ServerMessage::PrimusPong(Stamp::new(s))),
        Just(ServerMessage::PrimusServerClose),
        event.prop_map(ServerMessage::Event),
        unknown().prop_map(ServerMessage::Unknown),
    ]
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        heartbeat().prop_map(ClientMessage::Ping),
        heartbeat().prop_map(ClientMessage::Pong),
        stamp_text().prop_map(|s| ClientMessage::PrimusPing(Stamp::new(s))),
        stamp_text().prop_map(|s| ClientMessage::PrimusPong(Stamp::new(s))),
        unknown().prop_map(ClientMessage::Unknown),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_message_round_trips(m in message()) {
        let frame = m.encode();
        let back = ServerMessage::decode(&frame);
        prop_assert_eq!(back.as_ref(), Ok(&m), "frame {:?}", frame);
    }

    #[test]
    fn every_client_message_round_trips(m in client_message()) {
        let frame = m.encode();
        let back = ClientMessage::decode(&frame);
        prop_assert_eq!(back.as_ref(), Ok(&m), "frame {:?}", frame);
    }

    #[test]
    fn pings_and_pongs_keep_their_stamp(ms in any::<u64>(), version in "[ -~]{0,10}") {
        let ping = ClientMessage::Ping(Heartbeat::new(ms).with_version(&version)).encode();
        let ClientMessage::Ping(p) = ClientMessage::decode(&ping).unwrap() else { panic!() };
        prop_assert_eq!(p.stamp.millis(), Some(ms));
        let v = p.version();
        prop_assert_eq!(v.as_deref(), Some(version.as_str()));
        let pong = ClientMessage::Pong(Heartbeat::from_stamp(p.stamp.clone())).encode();
        let ServerMessage::Pong(q) = ServerMessage::decode(&pong).unwrap() else { panic!() };
        prop_assert_eq!(q.stamp, p.stamp);
        prop_assert_eq!(q.version, None);
    }

    #[test]
    fn decoding_arbitrary_text_never_panics(s in ".{0,200}") {
        let _ = ServerMessage::decode(&Frame::from(s.clone()));
        let _ = ClientMessage::decode(&Frame::from(s));
    }

    #[test]
    fn decoding_json_like_text_never_panics(s in r#"[\[\]{}",:0-9a-z\\ ]{0,80}"#) {
        let text = format!("{{\"emit\":[{s}");
        let _ = ServerMessage::decode(&Frame::from(text));
        let _ = ServerMessage::decode(&Frame::from(format!("{{\"doshii\":{{{s}")));
        if let Ok(ServerMessage::Event(e)) = ServerMessage::decode(&Frame::from(format!("{{\"type\":\"x\",\"data\":{s}}}"))) {
            let _ = (e.data.common(), e.data.order(), e.data.transaction(), e.data.health_check_stamp());
        }
    }
}
