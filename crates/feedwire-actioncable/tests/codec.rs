//! Snapshots of every testdata frame, and proptest round trips of every message type.

use feedwire_actioncable::codec::{
    self, ClientMessage, DecodeError, HistoryRequest, IdentifierStr, MessageData, ServerMessage,
    StreamPosition,
};
use feedwire_core::json::{raw_value, to_string_literal};
use proptest::prelude::*;
use serde_json::value::RawValue;

fn decode_server(text: &str) -> Result<ServerMessage<'_>, DecodeError> {
    ServerMessage::decode_str(text)
}

fn decode_client(text: &str) -> Result<ClientMessage<'_>, DecodeError> {
    ClientMessage::decode_str(text)
}

fn raw(text: &str) -> &RawValue {
    raw_value(text).unwrap()
}

fn id(text: &str) -> IdentifierStr<'_> {
    IdentifierStr::new(text)
}

#[test]
fn snapshot_every_frame() {
    insta::glob!("../testdata/frames", "*.json", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let text = text.trim_end_matches('\n');
        let name = path.file_name().unwrap().to_str().unwrap();
        let decoded = if name.starts_with("client_") {
            format!("{:#?}", decode_client(text))
        } else {
            format!("{:#?}", decode_server(text))
        };
        assert!(
            !decoded.contains("0123456789abcdef0123456789abcdef01234567"),
            "API key leaked: {decoded}"
        );
        insta::assert_snapshot!(decoded);
    });
}

#[test]
fn rails_escapes_compare_after_unescaping() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/frames/server_message_rails_escapes.json"
    ))
    .unwrap();
    let ServerMessage::Message {
        identifier, message, ..
    } = decode_server(&text).unwrap()
    else {
        panic!()
    };
    assert!(identifier.eq_str(r#"{"channel":"ChatChannel","room":"<b>R&D</b>"}"#));
    assert!(!identifier.eq_str(r#"{"channel":"ChatChannel","room":"\u003cb\u003eR\u0026D\u003c/b\u003e"}"#));
    assert_eq!(
        identifier.to_cow(),
        r#"{"channel":"ChatChannel","room":"<b>R&D</b>"}"#
    );
    let v: serde_json::Value = serde_json::from_str(message.get()).unwrap();
    assert_eq!(v["html"], "<p>Tom & Jerry</p>");
    assert_eq!(v["sep"], "\u{2028}");
}

#[test]
fn disconnect_null_reason_and_absent_reconnect() {
    let m = decode_server(r#"{"type":"disconnect","reason":null}"#).unwrap();
    assert!(matches!(
        m,
        ServerMessage::Disconnect {
            reason: None,
            reconnect: None
        }
    ));
    let m = decode_server(r#"{"type":"disconnect","reconnect":null,"extra":[1]}"#).unwrap();
    assert!(matches!(
        m,
        ServerMessage::Disconnect {
            reason: None,
            reconnect: None
        }
    ));
}

#[test]
fn message_of_every_json_type_and_unknown_type_is_kept() {
    for m in ["{}", "[1,2]", "\"s\"", "1.5", "-3", "true", "null"] {
        let text = format!(r#"{{"identifier":"{{\"channel\":\"C\"}}","message":{m}}}"#);
        match decode_server(&text).unwrap() {
            ServerMessage::Message { message, .. } => assert_eq!(message.get(), m),
            other => panic!("{other:?}"),
        }
    }
    match decode_server(r#"{"type":"new_thing","x":1}"#).unwrap() {
        ServerMessage::Unknown { kind, .. } => assert_eq!(kind.as_deref(), Some("new_thing")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        decode_server("{}").unwrap(),
        ServerMessage::Unknown { kind: None, .. }
    ));
    assert!(decode_server(r#"{"type":"confirm_subscription"}"#).is_err());
    assert!(decode_server(r#"{"type":"confirm_subscription","identifier":{"channel":"C"}}"#).is_err());
}

#[test]
fn message_command_data_is_a_string_and_whisper_data_is_not() {
    let ident = r#"{"channel":"ChatChannel"}"#;
    let data = to_string_literal(r#"{"action":"speak","text":"hi"}"#);
    let m = ClientMessage::Message {
        identifier: id(ident),
        data: raw(&data),
    }
    .encode();
    assert_eq!(
        m.as_str(),
        r#"{"command":"message","identifier":"{\"channel\":\"ChatChannel\"}","data":"{\"action\":\"speak\",\"text\":\"hi\"}"}"#
    );
    let w = ClientMessage::Whisper {
        identifier: id(ident),
        data: raw(r#"{"event":"typing"}"#),
    }
    .encode();
    assert_eq!(
        w.as_str(),
        r#"{"command":"whisper","identifier":"{\"channel\":\"ChatChannel\"}","data":{"event":"typing"}}"#
    );
    // the Rails frames are byte for byte what Rails sends
    assert_eq!(
        ServerMessage::Confirm {
            identifier: id(ident)
        }
        .encode()
        .as_str(),
        r#"{"identifier":"{\"channel\":\"ChatChannel\"}","type":"confirm_subscription"}"#
    );
    assert_eq!(
        ServerMessage::Disconnect {
            reason: Some("unauthorized".into()),
            reconnect: Some(false)
        }
        .encode()
        .as_str(),
        r#"{"type":"disconnect","reason":"unauthorized","reconnect":false}"#
    );
    assert_eq!(
        ServerMessage::Ping {
            message: Some(1795342530)
        }
        .encode()
        .as_str(),
        r#"{"type":"ping","message":1795342530}"#
    );
    let mut h = HistoryRequest::default();
    h.since = Some(1795342500);
    h.streams.insert(
        "chat_42".into(),
        StreamPosition {
            epoch: "y2023".into(),
            offset: 32,
        },
    );
    let history = h.to_json();
    assert_eq!(
        ClientMessage::History {
            identifier: id(r#"{"channel":"ChatChannel","id":42}"#),
            history: raw(&history)
        }
        .encode()
        .as_str(),
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/frames/client_history.json"
        ))
        .unwrap()
        .trim_end()
    );
}

fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        ".*".prop_map(|s| serde_json::to_string(&s).unwrap()),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((".*", inner), 0..4).prop_map(|v| {
                let fields: Vec<String> = v
                    .into_iter()
                    .map(|(k, v)| format!("{}:{v}", serde_json::to_string(&k).unwrap()))
                    .collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn server_frames_round_trip(id in ".*", msg in json_value(), sid in "[a-zA-Z0-9\"\\\\]{0,12}",
                                reason in proptest::option::of(".*"), reconnect in proptest::option::of(any::<bool>()),
                                ts in any::<i64>(), stream in ".*", epoch in ".*", offset in any::<u64>()) {
        let ident = IdentifierStr::new(&id);
        let e = ServerMessage::Welcome { sid: Some(sid.as_str().into()), restored: true, restored_ids: vec![ident] }.encode();
        match ServerMessage::decode(&e).unwrap() {
            ServerMessage::Welcome { sid: s, restored, restored_ids } => {
                prop_assert_eq!(s.as_deref(), Some(sid.as_str()));
                prop_assert!(restored);
                prop_assert_eq!(restored_ids.len(), 1);
                prop_assert_eq!(restored_ids[0].to_cow(), id.as_str());
            }
            other => prop_assert!(false, "{:?}", other),
        }
        let e = ServerMessage::Welcome { sid: None, restored: false, restored_ids: Vec::new() }.encode();
        prop_assert_eq!(e.as_str(), r#"{"type":"welcome"}"#);
        let ok = matches!(ServerMessage::decode(&e).unwrap(), ServerMessage::Welcome { sid: None, restored: false, .. });
        prop_assert!(ok);
        let e = ServerMessage::Ping { message: Some(ts) }.encode();
        let ok = matches!(ServerMessage::decode(&e).unwrap(), ServerMessage::Ping { message: Some(t) } if t == ts);
        prop_assert!(ok);
        prop_assert!(matches!(ServerMessage::decode(&ServerMessage::Pong.encode()).unwrap(), ServerMessage::Pong));
        for (f, k) in [
            (ServerMessage::Confirm { identifier: ident }, 0),
            (ServerMessage::Reject { identifier: ident }, 1),
            (ServerMessage::ConfirmHistory { identifier: ident }, 2),
            (ServerMessage::RejectHistory { identifier: ident }, 3),
        ] {
            let e = f.encode();
            let (got, kind) = match ServerMessage::decode(&e).unwrap() {
                ServerMessage::Confirm { identifier } => (identifier, 0),
                ServerMessage::Reject { identifier } => (identifier, 1),
                ServerMessage::ConfirmHistory { identifier } => (identifier, 2),
                ServerMessage::RejectHistory { identifier } => (identifier, 3),
                other => { prop_assert!(false, "{:?}", other); unreachable!() }
            };
            prop_assert_eq!(kind, k);
            prop_assert!(got.eq_str(&id));
            prop_assert_eq!(got.to_cow(), id.as_str());
        }
        let e = ServerMessage::Disconnect { reason: reason.as_deref().map(Into::into), reconnect }.encode();
        match ServerMessage::decode(&e).unwrap() {
            ServerMessage::Disconnect { reason: r, reconnect: c } => {
                prop_assert_eq!(r.as_deref(), reason.as_deref());
                prop_assert_eq!(c, reconnect);
            }
            other => prop_assert!(false, "{:?}", other),
        }
        for ext in [false, true] {
            let e = ServerMessage::Message {
                identifier: ident,
                message: raw(&msg),
                stream_id: ext.then(|| stream.as_str().into()),
                epoch: ext.then(|| epoch.as_str().into()),
                offset: ext.then_some(offset),
            }
            .encode();
            match ServerMessage::decode(&e).unwrap() {
                ServerMessage::Message { identifier, message, stream_id, epoch: ep, offset: o } => {
                    prop_assert!(identifier.eq_str(&id));
                    prop_assert_eq!(message.get(), msg.as_str());
                    if ext {
                        prop_assert_eq!(stream_id.as_deref(), Some(stream.as_str()));
                        prop_assert_eq!(ep.as_deref(), Some(epoch.as_str()));
                        prop_assert_eq!(o, Some(offset));
                    } else {
                        prop_assert!(stream_id.is_none() && ep.is_none() && o.is_none());
                    }
                }
                other => prop_assert!(false, "{:?}", other),
            }
        }
        let e = ServerMessage::Presence { identifier: ident, message: raw(&msg) }.encode();
        match ServerMessage::decode(&e).unwrap() {
            ServerMessage::Presence { identifier, message } => {
                prop_assert!(identifier.eq_str(&id));
                prop_assert_eq!(message.get(), msg.as_str());
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }

    #[test]
    fn commands_round_trip(id in ".*", text in ".*", msg in json_value(), since in proptest::option::of(any::<u64>()),
                           stream in ".*", epoch in ".*", offset in any::<u64>()) {
        let mut h = HistoryRequest::default();
        h.since = since;
        h.streams.insert(stream.clone(), StreamPosition { epoch: epoch.clone(), offset });
        let data = serde_json::json!({ "text": text }).to_string();
        let with_action = format!(r#"{{"action":"speak","text":{}}}"#, serde_json::to_string(&text).unwrap());
        let ident = IdentifierStr::new(&id);
        let history = h.to_json();
        let data_literal = to_string_literal(&with_action);
        let cmds = [
            ClientMessage::Subscribe { identifier: ident, history: None },
            ClientMessage::Subscribe { identifier: ident, history: Some(raw(&history)) },
            ClientMessage::Unsubscribe { identifier: ident },
            ClientMessage::Message { identifier: ident, data: raw(&data_literal) },
            ClientMessage::History { identifier: ident, history: raw(&history) },
            ClientMessage::Whisper { identifier: ident, data: raw(&msg) },
            ClientMessage::Join { identifier: ident, presence: Some(raw(&msg)) },
            ClientMessage::Leave { identifier: ident },
            ClientMessage::Presence { identifier: ident },
            ClientMessage::Pong,
            ClientMessage::Ping,
        ];
        // `MessageData::encode` builds the same `data` literal from the object without `action`
        let built = MessageData::encode(&data, "speak").unwrap();
        let md = MessageData::from_raw(raw(&built)).unwrap();
        prop_assert_eq!(md.action.as_deref(), Some("speak"));
        prop_assert_eq!(md.json, format!(r#"{{"text":{},"action":"speak"}}"#, serde_json::to_string(&text).unwrap()));
        for (i, c) in cmds.iter().enumerate() {
            let e = c.encode();
            let d = ClientMessage::decode(&e).unwrap();
            let ident = match &d {
                ClientMessage::Subscribe { identifier, history } => {
                    prop_assert_eq!(history.is_some(), i == 1);
                    if let Some(raw) = history {
                        prop_assert_eq!(&serde_json::from_str::<HistoryRequest>(raw.get()).unwrap(), &h);
                    }
                    Some(*identifier)
                }
                ClientMessage::Unsubscribe { identifier } => Some(*identifier),
                ClientMessage::Message { identifier, data } => {
                    let md = MessageData::from_raw(data).unwrap();
                    prop_assert_eq!(md.action.as_deref(), Some("speak"));
                    prop_assert_eq!(&md.json, &with_action);
                    Some(*identifier)
                }
                ClientMessage::History { identifier, history } => {
                    prop_assert_eq!(&serde_json::from_str::<HistoryRequest>(history.get()).unwrap(), &h);
                    Some(*identifier)
                }
                ClientMessage::Whisper { identifier, data } => {
                    prop_assert_eq!(data.get(), msg.as_str());
                    Some(*identifier)
                }
                ClientMessage::Join { identifier, presence } => {
                    prop_assert_eq!(presence.map(|p| p.get()), Some(msg.as_str()));
                    Some(*identifier)
                }
                ClientMessage::Leave { identifier } | ClientMessage::Presence { identifier } => Some(*identifier),
                ClientMessage::Pong | ClientMessage::Ping => None,
                other => { prop_assert!(false, "{:?}", other); None }
            };
            if let Some(got) = ident {
                prop_assert!(got.eq_str(&id), "{} vs {:?}", e.as_str(), id);
            }
        }
    }

    #[test]
    fn decoding_arbitrary_text_never_panics(s in ".*") {
        let _ = decode_server(&s);
        let _ = decode_client(&s);
    }

    #[test]
    fn decoding_json_shaped_text_never_panics(
        kind in prop_oneof![Just("welcome"), Just("ping"), Just("disconnect"), Just("confirm_subscription"),
                            Just("presence"), Just("reject_history"), Just("x")],
        id in json_value(), msg in json_value(), extra in json_value()) {
        let text = format!(r#"{{"type":"{kind}","identifier":{id},"message":{msg},"reason":{extra},"offset":{extra},"sid":{extra}}}"#);
        let _ = decode_server(&text);
        let cmd = format!(r#"{{"command":"{kind}","identifier":{id},"data":{msg},"history":{extra}}}"#);
        let _ = decode_client(&cmd);
        let _ = codec::PROTOCOL_V1_JSON;
    }
}
