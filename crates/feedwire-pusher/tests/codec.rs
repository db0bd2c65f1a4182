//! Codec tests: every testdata frame snapshotted, exact pusher-js encodings, name validation, proptest round
//! trips of every message in both directions, and arbitrary text never panicking.

mod common;

use feedwire_core::{Frame, RawJson, Secret, StringOrJson};
use feedwire_pusher::codec::ByteString;
use feedwire_pusher::codec::{
    self, ChannelEvent, ClientMessage, ConnectionEstablished, DecodeError, ErrorMessage, NameError,
    ServerMessage, SubscriptionErrorMessage, SubscriptionErrorShape, WatchlistEvent,
};
use proptest::prelude::*;

#[test]
fn testdata_frames_snapshot() {
    insta::glob!("../testdata/frames", "*.json", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let frame = Frame::from(text.trim_end().to_owned());
        let name = path.file_name().unwrap().to_str().unwrap();
        if name.starts_with("client_") {
            let decoded = ClientMessage::decode(&frame);
            let m = decoded.as_ref().expect("client frames decode");
            // re-encoding a pusher-js frame gives the same bytes (key order included), except the raw
            // soketi-raw.js form without `auth`, which pusher-js would write with "auth":"".
            if name.ends_with("_pusher_js.json")
                || name.starts_with("client_unsubscribe")
                || name.starts_with("client_p")
                || name.starts_with("client_signin")
            {
                assert_eq!(m.encode().as_str(), frame.as_str(), "{name}");
            }
            insta::assert_debug_snapshot!(decoded);
        } else {
            let decoded = ServerMessage::decode(&frame);
            assert_eq!(
                name.starts_with("invalid_"),
                decoded.is_err(),
                "{name}: {decoded:?}"
            );
            if let Ok(m) = &decoded {
                // what we decode re-encodes to a frame that decodes again
                assert!(ServerMessage::decode(&m.encode()).is_ok(), "{name}");
            }
            insta::assert_debug_snapshot!(decoded);
        }
    });
}

#[test]
fn bitskins_listed_is_417_bytes_and_zero_copy() {
    let text = common::bitskins_listed();
    assert_eq!(text.len(), 417);
    let frame = Frame::from(text);
    let ServerMessage::Event(e) = ServerMessage::decode(&frame).unwrap() else {
        panic!("not a channel event")
    };
    assert_eq!(e.event, "listed");
    assert_eq!(e.channel.as_deref(), Some("inventory_changes"));
    let data = e.data.unwrap();
    assert!(data.is_string_encoded());
    let range = frame.as_str().as_ptr() as usize..frame.as_str().as_ptr() as usize + frame.len();
    assert!(
        range.contains(&(data.raw().as_str().as_ptr() as usize)),
        "data is a slice of the frame"
    );
    assert!(
        range.contains(&(e.channel.as_ref().unwrap().as_ptr() as usize)),
        "channel is a slice"
    );
    #[derive(serde::Deserialize)]
    struct Listed {
        id: String,
        price: u64,
        name: String,
    }
    let l: Listed = data.parse().unwrap();
    assert_eq!(
        (l.id.as_str(), l.price, l.name.as_str()),
        ("10374522", 1830, "AK-47 | Redline (Field-Tested)")
    );
}

#[test]
fn encodes_exactly_what_pusher_js_writes() {
    let cases = [
        (
            ClientMessage::subscribe("inventory_changes", "", None),
            r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"inventory_changes"}}"#,
        ),
        (
            ClientMessage::subscribe("presence-foobar", "k:s", Some(r#"{"user_id":10}"#)),
            r#"{"event":"pusher:subscribe","data":{"auth":"k:s","channel_data":"{\"user_id\":10}","channel":"presence-foobar"}}"#,
        ),
        (
            ClientMessage::Unsubscribe {
                channel: ByteString::from_static("inventory_changes"),
            },
            r#"{"event":"pusher:unsubscribe","data":{"channel":"inventory_changes"}}"#,
        ),
        (ClientMessage::Ping, r#"{"event":"pusher:ping","data":{}}"#),
        (ClientMessage::Pong, r#"{"event":"pusher:pong","data":{}}"#),
        (
            ClientMessage::Signin {
                auth: Secret::new("k:s".into()),
                user_data: r#"{"id":"1"}"#.into(),
            },
            r#"{"event":"pusher:signin","data":{"auth":"k:s","user_data":"{\"id\":\"1\"}"}}"#,
        ),
        (
            ClientMessage::client_event("client-x", "private-a", r#" {"a":[1, 2]} "#).unwrap(),
            r#"{"event":"client-x","data":{"a":[1, 2]},"channel":"private-a"}"#,
        ),
    ];
    for (msg, expected) in cases {
        assert_eq!(msg.encode().as_str(), expected);
    }
    // secrets never print
    let m = ClientMessage::subscribe("private-a", "key:supersecret", None);
    assert!(!format!("{m:?}").contains("supersecret"));
}

#[test]
fn server_encoding_is_hosted_form() {
    let m = ServerMessage::ConnectionEstablished(connection("123.456", 120));
    assert_eq!(
        m.encode().as_str(),
        r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"123.456\",\"activity_timeout\":120}"}"#
    );
    let data = RawJson::from_json_str(r#""{\"id\":1}""#).unwrap();
    let f = ServerMessage::encode_channel_event("listed", "inventory_changes", &data);
    assert_eq!(
        f.as_str(),
        r#"{"event":"listed","channel":"inventory_changes","data":"{\"id\":1}"}"#
    );
    // a broadcast frame is built once; clones share the buffer
    assert_eq!(f.clone().as_str().as_ptr(), f.as_str().as_ptr());
}

fn connection(socket: &str, t: u64) -> ConnectionEstablished {
    let f = Frame::from(
        ServerMessage::ConnectionEstablished(
            match ServerMessage::decode(&Frame::from(format!(
                r#"{{"event":"pusher:connection_established","data":{{"socket_id":"{socket}","activity_timeout":{t}}}}}"#
            )))
            .unwrap()
            {
                ServerMessage::ConnectionEstablished(c) => c,
                _ => unreachable!(),
            },
        )
        .encode()
        .as_str()
        .to_owned(),
    );
    match ServerMessage::decode(&f).unwrap() {
        ServerMessage::ConnectionEstablished(c) => c,
        _ => unreachable!(),
    }
}

#[test]
fn names_are_validated_with_clear_errors() {
    assert!(codec::validate_channel_name("private-encrypted-cache-a_b=c@d,e.f;g").is_ok());
    assert_eq!(
        codec::validate_channel_name(""),
        Err(NameError::Empty { what: "channel" })
    );
    let long = "a".repeat(165);
    assert_eq!(
        codec::validate_channel_name(&long).unwrap_err().to_string(),
        "channel name is 165 bytes long; the limit is 164"
    );
    assert!(codec::validate_channel_name(&"a".repeat(164)).is_ok());
    assert_eq!(
        codec::validate_channel_name("room#1").unwrap_err().to_string(),
        "channel name \"room#1\" has the invalid character '#' at byte 4 (allowed: A-Z a-z 0-9 _ - = @ , . ;)"
    );
    assert!(matches!(
        codec::validate_channel_name("#server-to-user-1"),
        Err(NameError::Reserved { .. })
    ));
    assert!(matches!(
        codec::validate_channel_name("caf\u{e9}"),
        Err(NameError::InvalidChar {
            ch: '\u{e9}',
            at: 3,
            ..
        })
    ));
    assert_eq!(
        codec::validate_client_event_name("typing")
            .unwrap_err()
            .to_string(),
        "client event name \"typing\" must start with \"client-\""
    );
    assert!(codec::validate_event_name(&"e".repeat(201)).is_err());
    assert!(matches!(
        ClientMessage::client_event("client-x", "private-a", "{oops"),
        Err(NameError::InvalidData { .. })
    ));
}

#[test]
fn decode_errors_say_why() {
    let e = ServerMessage::decode(&Frame::from(r#"{"data":1}"#)).unwrap_err();
    assert!(matches!(e, DecodeError::Envelope { .. }));
    assert!(e.to_string().contains("missing field `event`"), "{e}");
    let e = ServerMessage::decode(&Frame::from(
        r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"1.2\"}"}"#,
    ))
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid data for pusher:connection_established: activity_timeout is missing or 0"
    );
}

// ---- proptest round trips ----

fn channel() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_=@,.;-]{1,40}"
}
fn text() -> impl Strategy<Value = String> {
    "\\PC{0,24}"
}
fn bs(s: String) -> ByteString {
    ByteString::from(s)
}
fn json_value() -> impl Strategy<Value = RawJson> {
    prop_oneof![
        text().prop_map(|s| RawJson::from_value(&serde_json::json!({ "s": s })).unwrap()),
        any::<i64>().prop_map(|n| RawJson::from_value(&serde_json::json!([n, true, null])).unwrap()),
        text().prop_map(|s| {
            // a string-encoded payload, as hosted Pusher sends
            let inner = serde_json::to_string(&serde_json::json!({ "v": s })).unwrap();
            RawJson::from_value(&inner).unwrap()
        }),
    ]
}
fn sj(r: RawJson) -> StringOrJson {
    StringOrJson::new(r)
}

fn server_message() -> impl Strategy<Value = ServerMessage> {
    let user = "[0-9a-z]{1,12}";
    prop_oneof![
        ("[0-9]{1,10}", "[0-9]{1,10}", 1u64..100_000).prop_map(|(a, b, t)| {
            ServerMessage::ConnectionEstablished(connection(&format!("{a}.{b}"), t))
        }),
        prop::option::of(json_value()).prop_map(|d| ServerMessage::Ping { data: d.map(sj) }),
        prop::option::of(json_value()).prop_map(|d| ServerMessage::Pong { data: d.map(sj) }),
        (channel(), prop::option::of(json_value())).prop_map(|(c, d)| {
            ServerMessage::SubscriptionSucceeded {
                channel: bs(c),
                data: d.map(sj),
            }
        }),
        (channel(), user, prop::option::of(json_value())).prop_map(|(c, u, i)| {
            // user_info travels inside a JSON string and comes back as the same compact text
            ServerMessage::MemberAdded {
                channel: bs(c),
                user_id: bs(u),
                user_info: i.filter(|r| !r.is_string()),
            }
        }),
        (channel(), user).prop_map(|(c, u)| ServerMessage::MemberRemoved {
            channel: bs(c),
            user_id: bs(u)
        }),
        (channel(), any::<u64>()).prop_map(|(c, n)| ServerMessage::SubscriptionCount {
            channel: bs(c),
            count: n
        }),
        channel().prop_map(|c| ServerMessage::CacheMiss { channel: bs(c) }),
        (user, text()).prop_map(|(u, name)| {
            let user_data = serde_json::json!({ "id": u, "user_info": { "name": name } }).to_string();
            ServerMessage::SigninSuccess {
                user_data: bs(user_data),
                user_id: bs(u),
            }
        }),
        prop::collection::vec(
            (
                prop_oneof![Just("online"), Just("offline")],
                prop::collection::vec(user, 0..4)
            ),
            0..3
        )
        .prop_map(|v| ServerMessage::WatchlistEvents(
            v.into_iter()
                .map(|(n, ids)| {
                    let mut e = match ServerMessage::decode(&Frame::from(
                        r#"{"event":"pusher_internal:watchlist_events","data":{"events":[{"name":"x"}]}}"#,
                    ))
                    .unwrap()
                    {
                        ServerMessage::WatchlistEvents(mut l) => l.remove(0),
                        _ => unreachable!(),
                    };
                    e.name = ByteString::from(n);
                    e.user_ids = ids.into_iter().map(bs).collect();
                    e
                })
                .collect::<Vec<WatchlistEvent>>()
        )),
        (
            "[a-z][a-z0-9_ \"\\\\é-]{0,20}",
            prop::option::of(prop_oneof![channel(), Just("#server-to-user-1".to_owned())]),
            prop::option::of(json_value()),
            prop::option::of(user)
        )
            .prop_map(|(e, c, d, u)| ServerMessage::Event(channel_event(e, c, d, u.as_deref()))),
    ]
}

fn channel_event(e: String, c: Option<String>, d: Option<RawJson>, u: Option<&str>) -> ChannelEvent {
    // build through the decoder so the non_exhaustive struct can be made outside the crate
    let mut frame = format!("{{\"event\":{}", serde_json::to_string(&e).unwrap());
    if let Some(c) = &c {
        frame.push_str(&format!(",\"channel\":{}", serde_json::to_string(c).unwrap()));
    }
    if let Some(d) = &d {
        frame.push_str(&format!(",\"data\":{}", d.as_str()));
    }
    if let Some(u) = u {
        frame.push_str(&format!(",\"user_id\":\"{u}\""));
    }
    frame.push('}');
    match ServerMessage::decode(&Frame::from(frame)).unwrap() {
        ServerMessage::Event(ev) => ev,
        other => panic!("{other:?}"),
    }
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        (channel(), text(), prop::option::of(text())).prop_map(|(c, a, d)| ClientMessage::Subscribe {
            channel: bs(c),
            auth: Secret::new(a),
            channel_data: d,
        }),
        channel().prop_map(|c| ClientMessage::Unsubscribe { channel: bs(c) }),
        Just(ClientMessage::Ping),
        Just(ClientMessage::Pong),
        (text(), text()).prop_map(|(a, u)| ClientMessage::Signin {
            auth: Secret::new(a),
            user_data: u,
        }),
        ("client-[a-z0-9-]{1,20}", channel(), json_value())
            .prop_map(|(e, c, d)| ClientMessage::client_event(&e, &c, d.as_str()).unwrap()),
        (
            "x-[a-z0-9-]{1,20}",
            prop::option::of(channel()),
            prop::option::of(json_value())
        )
            .prop_map(|(e, c, d)| ClientMessage::Other {
                event: bs(e),
                channel: c.map(bs),
                data: d.map(sj),
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn server_messages_round_trip(m in server_message()) {
        let f = m.encode();
        let back = ServerMessage::decode(&f).unwrap();
        prop_assert_eq!(back, m);
    }

    #[test]
    fn server_errors_round_trip(code in prop::option::of(any::<i64>()), msg in text(), ch in prop::option::of(channel())) {
        let frame = format!(
            r#"{{"event":"pusher:error","data":{{"code":{},"message":{}}}{}}}"#,
            code.map_or("null".into(), |c| c.to_string()),
            serde_json::to_string(&msg).unwrap(),
            ch.as_ref().map_or(String::new(), |c| format!(r#","channel":"{c}""#)),
        );
        let ServerMessage::Error(e) = ServerMessage::decode(&Frame::from(frame)).unwrap() else { panic!() };
        let ErrorMessage { code: c2, message, channel, .. } = e.clone();
        prop_assert_eq!(c2, code);
        prop_assert_eq!(&*message, msg.as_str());
        prop_assert_eq!(channel.as_deref(), ch.as_deref());
        let again = ServerMessage::decode(&ServerMessage::Error(e.clone()).encode()).unwrap();
        prop_assert_eq!(again, ServerMessage::Error(e));
    }

    #[test]
    fn subscription_errors_round_trip(ch in prop::option::of(channel()), kind in prop::option::of(text()), err in prop::option::of(text()), status in prop::option::of(any::<u16>()), internal in any::<bool>()) {
        let mut data = serde_json::Map::new();
        if let Some(k) = &kind { data.insert("type".into(), k.clone().into()); }
        if let Some(e) = &err { data.insert("error".into(), e.clone().into()); }
        if let Some(s) = status { data.insert("status".into(), s.into()); }
        let ev = if internal { "pusher_internal:subscription_error" } else { "pusher:subscription_error" };
        let frame = format!(
            r#"{{"event":"{ev}"{},"data":{}}}"#,
            ch.as_ref().map_or(String::new(), |c| format!(r#","channel":"{c}""#)),
            serde_json::Value::Object(data),
        );
        let ServerMessage::SubscriptionError(e) = ServerMessage::decode(&Frame::from(frame)).unwrap() else { panic!() };
        let SubscriptionErrorMessage { shape, channel, kind: k2, error, status: s2, .. } = e.clone();
        prop_assert_eq!(shape, if internal { SubscriptionErrorShape::InternalEvent } else { SubscriptionErrorShape::PusherEvent });
        prop_assert_eq!(channel.as_deref(), ch.as_deref());
        prop_assert_eq!(k2.as_deref(), kind.as_deref());
        prop_assert_eq!(error.as_deref(), err.as_deref());
        prop_assert_eq!(s2, status);
        let again = ServerMessage::decode(&ServerMessage::SubscriptionError(e.clone()).encode()).unwrap();
        prop_assert_eq!(again, ServerMessage::SubscriptionError(e));
    }

    #[test]
    fn client_messages_round_trip(m in client_message()) {
        let f = m.encode();
        let back = ClientMessage::decode(&f).unwrap();
        prop_assert_eq!(back, m);
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
        let f = Frame::from(s.clone());
        let _ = ServerMessage::decode(&f);
        let _ = ClientMessage::decode(&f);
        let _ = codec::Envelope::parse(&s);
    }

    #[test]
    fn json_like_text_never_panics(s in r#"\{"event":"(pusher:[a-z_]{0,20}|pusher_internal:[a-z_]{0,20}|[a-z-]{0,5})"(,"(channel|data|user_id)":("[^"]{0,10}"|\{[^}]{0,20}\}|null|[0-9]{1,3}|"\{\\"[a-z_]{1,12}\\":[0-9"a-z\\]{0,10}\}")){0,3}\}"#) {
        let f = Frame::from(s);
        let _ = ServerMessage::decode(&f);
        let _ = ClientMessage::decode(&f);
    }
}

#[test]
fn the_client_paths_take_from_frame_agrees_with_decode_on_every_testdata_frame() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/frames");
    let mut taken = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let frame = Frame::from(text.trim_end().to_owned());
        let decoded = ServerMessage::decode(&frame);
        match ChannelEvent::take_from_frame(frame.clone()) {
            Ok(e) => {
                taken += 1;
                assert_eq!(decoded, Ok(ServerMessage::Event(e)), "{frame}");
            }
            Err(back) => {
                assert_eq!(back.as_str(), frame.as_str());
                let fast_shape = matches!(&decoded, Ok(ServerMessage::Event(e))
                    if e.data.is_some() && !codec::events::is_protocol_event(&e.event));
                assert!(!fast_shape, "a channel event with data was not taken: {frame}");
            }
        }
    }
    assert!(taken >= 10, "{taken}");
}
