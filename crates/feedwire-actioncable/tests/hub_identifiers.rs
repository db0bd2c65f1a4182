//! Subscribe identifiers checked as Rails 6.1 checks them (issue 19): `Subscriptions#add` decodes the identifier
//! as JSON and looks up `channel`; anything else is logged and gets no reply (no confirm, no reject).
#![allow(clippy::disallowed_methods)] // one real Instant as the clock origin

use std::time::Instant;

use feedwire_actioncable::codec::{ClientMessage, IdentifierStr};
use feedwire_actioncable::server::{Hub, HubConfig, HubEvent};
use feedwire_core::{ConnId, Frame, Hub as _, OpenRequest};

fn hub() -> (Hub, Instant) {
    let now = Instant::now();
    let mut hub = Hub::new(HubConfig::default());
    hub.handle_open(
        now,
        ConnId(1),
        &OpenRequest::new("/cable").with_subprotocol(Some("actioncable-v1-json".into())),
    );
    while hub.poll_transmit().is_some() {}
    while hub.poll_event().is_some() {}
    (hub, now)
}

fn subscribe(id: &str) -> Frame {
    ClientMessage::Subscribe {
        identifier: IdentifierStr::new(id),
        history: None,
    }
    .encode()
}

/// What the hub did with a subscribe for `id`: the event it surfaced (`requested`, or `bad: <reason>`) and
/// how many frames it queued.
fn outcome(id: &str) -> (String, usize) {
    let (mut hub, now) = hub();
    hub.handle_frame(now, ConnId(1), subscribe(id));
    let sent = std::iter::from_fn(|| hub.poll_transmit()).count();
    let evs: Vec<String> = std::iter::from_fn(|| hub.poll_event())
        .map(|e| match e {
            HubEvent::SubscribeRequested { identifier, .. } => {
                assert_eq!(identifier.as_str(), id, "kept byte for byte");
                String::from("requested")
            }
            HubEvent::BadInput { reason, .. } => format!("bad: {reason}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(evs.len(), 1, "{evs:?}");
    let surfaced = !evs[0].starts_with("bad");
    assert_eq!(
        hub.subscriptions_of(ConnId(1)).len(),
        usize::from(surfaced),
        "a refused identifier leaves no subscription waiting"
    );
    (evs[0].clone(), sent)
}

const BAD: &str = "bad: subscribe: identifier is not a JSON object with a string `channel`";

#[test]
fn identifiers_rails_cannot_look_a_channel_up_for_get_no_reply_and_a_bad_input_event() {
    for id in [
        "",
        "ChatChannel",
        "not json {",
        "[1,2]",
        "\"ChatChannel\"",
        "42",
        "null",
        "{}",
        r#"{"id":1}"#,
        r#"{"channel":5}"#,
        r#"{"channel":null}"#,
        r#"{"channel":{"name":"ChatChannel"}}"#,
        r#"{"channel":["ChatChannel"]}"#,
        r#"{"Channel":"ChatChannel"}"#,
        r#"{"channel":"ChatChannel"} x"#,
        r#"{"channel":"ChatChannel"}{}"#,
        // Ruby's JSON keeps the last of a repeated key
        r#"{"channel":"ChatChannel","channel":1}"#,
    ] {
        assert_eq!(outcome(id), (BAD.to_string(), 0), "identifier {id:?}");
    }
}

#[test]
fn identifiers_with_a_string_channel_are_surfaced_as_sent() {
    for id in [
        r#"{"channel":"ChatChannel"}"#,
        r#"{"channel":"ChatChannel","id":42}"#,
        r#"{"room":1,"channel":"ChatChannel"}"#,
        r#" { "channel" : "ChatChannel" } "#,
        r#"{"channel":""}"#,
        r#"{"channel":"\u0043hat"}"#,
        r#"{"channel":1,"channel":"ChatChannel"}"#,
        r#"{"channel":"ApiChannel","key":"k","events":"posts#create"}"#,
    ] {
        assert_eq!(outcome(id), (String::from("requested"), 0), "identifier {id:?}");
    }
}

#[test]
fn a_refused_identifier_is_not_a_subscription_for_later_commands() {
    let (mut hub, now) = hub();
    hub.handle_frame(now, ConnId(1), subscribe("{}"));
    assert!(hub.confirm(ConnId(1), "{}").is_err());
    hub.handle_frame(
        now,
        ConnId(1),
        ClientMessage::Unsubscribe {
            identifier: IdentifierStr::new("{}"),
        }
        .encode(),
    );
    let reasons: Vec<String> = std::iter::from_fn(|| hub.poll_event())
        .map(|e| match e {
            HubEvent::BadInput { reason, .. } => reason,
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            "subscribe: identifier is not a JSON object with a string `channel`",
            "unsubscribe: no such subscription",
        ]
    );
    assert!(hub.poll_transmit().is_none(), "nothing sent, as Rails");
}
