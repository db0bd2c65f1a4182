//! Client against hub through the core `Pair`, on a virtual clock.
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin

use std::time::{Duration, Instant};

use feedwire_actioncable::client::{self, Client, Config, DisconnectReason, Event, Flavour, StopReason};
use feedwire_actioncable::identifier::{ApiChannel, Identifier, ModelEvent};
use feedwire_actioncable::server::{Hub, HubConfig, HubEvent};
use feedwire_core::testing::{Pair, Wire};
use feedwire_core::{Backoff, Close, ConnId, Frame, Session, Transmit, UnixAnchor};

const UNIX_MS: u64 = 1_795_342_530_000;

type P = Pair<Client, Hub>;

fn chat() -> Identifier {
    Identifier::builder("ChatChannel")
        .param("id", 42)
        .unwrap()
        .build()
}

const CHAT_SUB: &str = r#"{"command":"subscribe","identifier":"{\"channel\":\"ChatChannel\",\"id\":42}"}"#;
const CHAT_CONFIRM: &str =
    r#"{"identifier":"{\"channel\":\"ChatChannel\",\"id\":42}","type":"confirm_subscription"}"#;

/// A client that has been told to connect (`new` never dials).
fn dialing(config: Config, now: Instant) -> Client {
    let mut c = Client::new(config);
    c.connect(now);
    c
}

fn pair_with(config: Config, hub: HubConfig) -> P {
    let start = Instant::now();
    let config = config.with_unix_anchor(UnixAnchor::new(start, UNIX_MS));
    let hub = hub.with_unix_anchor(UnixAnchor::new(start, UNIX_MS));
    Pair::new(dialing(config, start), Hub::new(hub), start)
}

fn pair() -> P {
    pair_with(
        Config::new("ws://127.0.0.1:28080/cable").with_seed(7),
        HubConfig::default(),
    )
}

/// The host: confirms every subscribe request (streaming from the channel's `id`, or `chat`), except
/// `RejectChannel`, and ignores `SilentChannel`. Returns the other hub events.
fn host(p: &mut P) -> Vec<HubEvent> {
    let mut rest = Vec::new();
    loop {
        p.run_until_quiet();
        let evs = p.take_hub_events();
        if evs.is_empty() {
            return rest;
        }
        for ev in evs {
            match ev {
                HubEvent::SubscribeRequested { conn, identifier } => {
                    let identifier = identifier.as_str();
                    if identifier.contains("RejectChannel") {
                        p.hub_mut().reject(conn, identifier).unwrap();
                    } else if !identifier.contains("SilentChannel") {
                        p.hub_mut().confirm(conn, identifier).unwrap();
                        p.hub_mut().stream_from(conn, identifier, "chat").unwrap();
                    }
                }
                other => rest.push(other),
            }
        }
    }
}

/// Advances in small steps, answering the hub's requests as they come.
fn advance(p: &mut P, d: Duration) -> Vec<HubEvent> {
    let end = p.now() + d;
    let mut rest = host(p);
    while p.now() < end {
        let step = p
            .next_deadline()
            .filter(|t| *t <= end)
            .unwrap_or(end)
            .max(p.now());
        p.advance_to(step);
        rest.extend(host(p));
        if step == end {
            break;
        }
    }
    rest
}

fn sub(p: &mut P, i: usize, id: Identifier) -> client::SubscriptionId {
    let now = p.now();
    p.client_at(i).subscribe(now, id).unwrap()
}

fn connects(p: &P) -> Vec<Duration> {
    p.wire()
        .iter()
        .filter_map(|w| match w {
            Wire::Connect { at, .. } => Some(*at),
            _ => None,
        })
        .collect()
}

fn count(p: &P, frame: &str) -> usize {
    p.frames_to_hub().iter().filter(|f| **f == frame).count()
}

#[test]
fn handshake_subscribe_confirm_and_broadcast() {
    let mut p = pair();
    sub(&mut p, 0, chat());
    host(&mut p);
    match &p.wire()[0] {
        Wire::Connect {
            request,
            conn: Some(ConnId(1)),
            ..
        } => {
            assert_eq!(request.url, "ws://127.0.0.1:28080/cable");
            assert_eq!(
                request.subprotocols,
                vec!["actioncable-v1-json", "actioncable-unsupported"]
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.frames_to_hub(), vec![CHAT_SUB]);
    assert_eq!(p.frames_to_client(), vec![r#"{"type":"welcome"}"#, CHAT_CONFIRM]);
    p.hub_mut().broadcast("chat", r#"{"text":"hi"}"#).unwrap();
    p.run_until_quiet();
    assert_eq!(
        p.frames_to_client().last().copied(),
        Some(r#"{"identifier":"{\"channel\":\"ChatChannel\",\"id\":42}","message":{"text":"hi"}}"#)
    );
    let evs = p.take_client_events();
    assert!(
        matches!(
            &evs[0],
            Event::Connected {
                reconnected: false,
                sid: None,
                restored: false
            }
        ),
        "{evs:?}"
    );
    assert!(
        matches!(&evs[1], Event::Confirmed { identifier, reconnected: false, restored: false } if *identifier == chat())
    );
    assert!(
        matches!(&evs[2], Event::Message { identifier, message, offset: None }
        if *identifier == chat() && message.as_str() == r#"{"text":"hi"}"#)
    );
    assert_eq!(evs.len(), 3);
    assert!(p.client().is_confirmed(&chat()));
}

#[test]
fn pings_every_3s_keep_the_client_alive_and_carry_unix_seconds() {
    let mut p = pair();
    sub(&mut p, 0, chat());
    advance(&mut p, Duration::from_secs(60));
    assert_eq!(connects(&p), vec![Duration::ZERO]);
    let pings: Vec<&str> = p
        .frames_to_client()
        .into_iter()
        .filter(|f| f.contains("ping"))
        .collect();
    assert_eq!(pings.len(), 20);
    assert_eq!(pings[0], r#"{"type":"ping","message":1795342533}"#);
    assert_eq!(pings[19], r#"{"type":"ping","message":1795342590}"#);
}

#[test]
fn stale_connection_reconnects_with_the_rails_backoff() {
    let mut p = pair();
    sub(&mut p, 0, chat());
    advance(&mut p, Duration::from_secs(4)); // last ping at 3 s
    p.hub_mut().set_pinging(false);
    p.take_client_events();
    let mut expected = Backoff::new(client::rails_backoff(), 7);
    let d0 = expected.next_delay_with_jitter(1.0);
    assert!(
        d0 >= Duration::from_secs(6) && d0 < Duration::from_secs(12),
        "{d0:?}"
    );
    advance(&mut p, Duration::from_secs(9) - Duration::from_millis(4001)); // just before 9 s
    assert!(p.connection_of(0).is_some(), "not stale before 6 s of silence");
    advance(&mut p, Duration::from_millis(1));
    // stale at 3 s + 6 s = 9 s: the client closes
    let closed: Vec<_> = p
        .wire()
        .iter()
        .filter_map(|w| match w {
            Wire::ClientClosed { at, close, .. } => Some((*at, close.reason.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(closed, vec![(Duration::from_secs(9), "stale".to_string())]);
    let evs = p.take_client_events();
    assert!(
        matches!(&evs[..2], [Event::Disconnected { reason: DisconnectReason::Stale { silent_for } }, Event::Reconnecting { after: d }]
        if *silent_for == Duration::from_secs(6) && *d == d0),
        "{evs:?}"
    );
    p.hub_mut().set_pinging(true);
    advance(&mut p, d0);
    assert_eq!(connects(&p), vec![Duration::ZERO, Duration::from_secs(9) + d0]);
    assert_eq!(count(&p, CHAT_SUB), 2, "welcome resubscribes");
    let evs = p.take_client_events();
    assert!(
        matches!(
            &evs[0],
            Event::Connected {
                reconnected: true,
                ..
            }
        ),
        "{evs:?}"
    );
    assert!(
        matches!(
            &evs[1],
            Event::Confirmed {
                reconnected: true,
                ..
            }
        ),
        "{evs:?}"
    );
    match &evs[2] {
        Event::Recovered {
            outage,
            subscriptions,
            still_down,
        } => {
            // down from the last frame (3 s) to the confirmation
            assert_eq!(*outage, Duration::from_secs(6) + d0);
            assert_eq!(subscriptions, &vec![(chat(), Duration::from_secs(6) + d0)]);
            assert!(still_down.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.client().attempts(), 0, "welcome resets the backoff");
}

#[test]
fn backoff_sequence_for_a_seed_while_the_server_is_down() {
    let mut p = pair();
    host(&mut p);
    p.refuse_connections(true);
    p.drop_connection();
    advance(&mut p, Duration::from_secs(120));
    let mut b = Backoff::new(client::rails_backoff(), 7);
    let mut t = Duration::ZERO;
    let mut expected = vec![Duration::ZERO];
    for n in 0..12 {
        let d = if n == 0 {
            b.next_delay_with_jitter(1.0)
        } else {
            b.next_delay()
        };
        let base = 6.0 * 1.15f64.powi(n.min(10));
        let jitter = if n == 0 { 1.0 } else { 0.15 };
        assert!(
            d.as_secs_f64() >= base - 1e-9 && d.as_secs_f64() < base * (1.0 + jitter) + 1e-9,
            "{n}: {d:?}"
        );
        t += d;
        if t <= Duration::from_secs(120) {
            expected.push(t);
        }
    }
    assert_eq!(connects(&p), expected);
    assert!(expected.len() >= 10);
    // the server comes back: welcome resets the attempts
    p.refuse_connections(false);
    advance(&mut p, Duration::from_secs(30));
    assert!(p.client().is_open());
    assert_eq!(p.client().attempts(), 0);
}

#[test]
fn server_restart_disconnect_reconnects_quickly_and_resubscribes() {
    let mut p = pair();
    sub(&mut p, 0, chat());
    host(&mut p);
    p.take_client_events();
    p.advance(Duration::from_secs(1));
    p.hub_mut()
        .disconnect(ConnId(1), Some("server_restart"), Some(true))
        .unwrap();
    p.run_until_quiet();
    assert_eq!(
        p.frames_to_client().last().copied(),
        Some(r#"{"type":"disconnect","reason":"server_restart","reconnect":true}"#)
    );
    let evs = p.take_client_events();
    let delay = match &evs[..2] {
        [
            Event::Disconnected {
                reason:
                    DisconnectReason::ServerDisconnect {
                        reason,
                        reconnect: Some(true),
                    },
            },
            Event::Reconnecting { after: d },
        ] => {
            assert_eq!(reason.as_deref(), Some("server_restart"));
            *d
        }
        other => panic!("{other:?}"),
    };
    assert!(
        delay >= Duration::from_millis(500) && delay < Duration::from_secs(1),
        "{delay:?}"
    );
    advance(&mut p, Duration::from_secs(2));
    assert_eq!(connects(&p), vec![Duration::ZERO, Duration::from_secs(1) + delay]);
    assert_eq!(count(&p, CHAT_SUB), 2);
    let evs = p.take_client_events();
    assert!(
        evs.iter().any(|e| matches!(
            e,
            Event::Confirmed {
                reconnected: true,
                ..
            }
        )),
        "{evs:?}"
    );
    assert!(
        evs.iter()
            .any(|e| matches!(e, Event::Recovered { outage, .. } if *outage == delay)),
        "{evs:?}"
    );
}

#[test]
fn disconnect_without_reconnect_stops_for_good() {
    for (reason, reconnect) in [(Some("unauthorized"), Some(false)), (None, None)] {
        let mut p = pair();
        host(&mut p);
        p.take_client_events();
        p.hub_mut().disconnect(ConnId(1), reason, reconnect).unwrap();
        advance(&mut p, Duration::from_secs(100));
        assert_eq!(connects(&p).len(), 1, "no reconnect");
        let evs = p.take_client_events();
        assert!(matches!(&evs[0], Event::Disconnected { .. }), "{evs:?}");
        assert!(
            !evs.iter().any(|e| matches!(e, Event::Reconnecting { .. })),
            "no reconnect scheduled: {evs:?}"
        );
        assert!(
            matches!(&evs[1], Event::Stopped { reason: StopReason::ServerDisconnect { reason: r } } if r.as_deref() == reason),
            "{evs:?}"
        );
        assert!(p.client().is_stopped());
        assert_eq!(p.client().poll_timeout(), None);
    }
    // absent reconnect can be configured to mean reconnect
    let mut p = pair_with(
        Config::new("ws://h/cable").with_reconnect_when_unspecified(true),
        HubConfig::default(),
    );
    host(&mut p);
    p.hub_mut().disconnect(ConnId(1), None, None).unwrap();
    advance(&mut p, Duration::from_secs(2));
    assert_eq!(connects(&p).len(), 2);
    assert!(p.client().is_open());
}

#[test]
fn rails_52_close_without_disconnect_frame_reconnects() {
    let mut p = pair();
    sub(&mut p, 0, chat());
    host(&mut p);
    p.take_client_events();
    p.hub_mut().close(ConnId(1), Close::normal()).unwrap();
    p.run_until_quiet();
    let evs = p.take_client_events();
    let d = match &evs[..2] {
        [
            Event::Disconnected {
                reason: DisconnectReason::Closed(Some(c)),
            },
            Event::Reconnecting { after: d },
        ] if c.code.0 == 1000 => *d,
        other => panic!("{other:?}"),
    };
    let mut b = Backoff::new(client::rails_backoff(), 7);
    assert_eq!(d, b.next_delay_with_jitter(1.0));
    advance(&mut p, d);
    assert_eq!(connects(&p), vec![Duration::ZERO, d]);
    assert!(p.client().is_confirmed(&chat()));
}

#[test]
fn confirmation_timeout_retries_a_bounded_number_of_times() {
    let silent = Identifier::channel_only("SilentChannel");
    let mut p = pair();
    sub(&mut p, 0, silent.clone());
    let hub_evs = advance(&mut p, Duration::from_secs(60));
    let sub = r#"{"command":"subscribe","identifier":"{\"channel\":\"SilentChannel\"}"}"#;
    let at: Vec<Duration> = p
        .wire()
        .iter()
        .filter_map(|w| match w {
            Wire::ToHub { at, frame, .. } if frame.as_str() == sub => Some(*at),
            _ => None,
        })
        .collect();
    assert_eq!(
        at,
        vec![Duration::ZERO, Duration::from_secs(5)],
        "one retry after 5 s, then no more"
    );
    assert!(
        hub_evs
            .iter()
            .any(|e| matches!(e, HubEvent::DuplicateSubscribe { .. }))
    );
    let evs = p.take_client_events();
    let timeouts: Vec<_> = evs
        .iter()
        .filter(
            |e| matches!(e, Event::ConfirmationTimedOut { identifier, attempts: 2 } if *identifier == silent),
        )
        .collect();
    assert_eq!(timeouts.len(), 1, "{evs:?}");
    assert_eq!(
        p.frames_to_client()
            .iter()
            .filter(|f| f.contains("confirm"))
            .count(),
        0
    );
}

#[test]
fn rejected_subscription_is_not_retried() {
    let rej = Identifier::channel_only("RejectChannel");
    let mut p = pair();
    sub(&mut p, 0, rej.clone());
    advance(&mut p, Duration::from_secs(20));
    assert_eq!(
        count(
            &p,
            r#"{"command":"subscribe","identifier":"{\"channel\":\"RejectChannel\"}"}"#
        ),
        1
    );
    assert_eq!(
        p.frames_to_client()[1],
        r#"{"identifier":"{\"channel\":\"RejectChannel\"}","type":"reject_subscription"}"#
    );
    let evs = p.take_client_events();
    assert!(
        matches!(&evs[1], Event::Rejected { identifier, reconnected: false } if *identifier == rej),
        "{evs:?}"
    );
    assert_eq!(p.client().subscriptions().count(), 0);
}

#[test]
fn duplicate_local_subscriptions_share_one_server_subscription() {
    let mut p = pair();
    let a = sub(&mut p, 0, chat());
    let b = sub(&mut p, 0, chat());
    host(&mut p);
    assert_eq!(p.frames_to_hub(), vec![CHAT_SUB]);
    let evs = p.take_client_events();
    assert_eq!(
        evs.iter()
            .filter(|e| matches!(e, Event::Confirmed { .. }))
            .count(),
        1
    );
    // a third one after the confirmation is told at once
    let c = sub(&mut p, 0, chat());
    p.run_until_quiet();
    assert!(matches!(
        &p.take_client_events()[..],
        [Event::Confirmed {
            reconnected: false,
            ..
        }]
    ));
    assert_eq!(p.frames_to_hub().len(), 1);
    let now = p.now();
    p.client_mut().unsubscribe(now, a).unwrap();
    p.client_mut().unsubscribe(now, c).unwrap();
    p.run_until_quiet();
    assert_eq!(p.frames_to_hub().len(), 1, "others still share it");
    p.client_mut().unsubscribe(now, b).unwrap();
    assert!(p.client_mut().unsubscribe(now, b).is_err());
    let hub_evs = host(&mut p);
    let unsub = r#"{"command":"unsubscribe","identifier":"{\"channel\":\"ChatChannel\",\"id\":42}"}"#;
    assert_eq!(p.frames_to_hub(), vec![CHAT_SUB, unsub]);
    assert!(matches!(&hub_evs[..], [HubEvent::Unsubscribed { .. }]));
    // subscribing again within 250 ms waits for the cooldown
    p.advance(Duration::from_millis(100));
    sub(&mut p, 0, chat());
    p.run_until_quiet();
    assert_eq!(p.frames_to_hub().len(), 2);
    advance(&mut p, Duration::from_millis(149));
    assert_eq!(p.frames_to_hub().len(), 2);
    advance(&mut p, Duration::from_millis(1));
    assert_eq!(p.frames_to_hub(), vec![CHAT_SUB, unsub, CHAT_SUB]);
    let at = p.wire().iter().rev().find_map(|w| match w {
        Wire::ToHub { at, .. } => Some(*at),
        _ => None,
    });
    assert_eq!(at, Some(Duration::from_millis(250)));
    assert!(p.client().is_confirmed(&chat()));
}

#[test]
fn perform_sends_data_as_a_json_string_with_action() {
    let mut p = pair();
    assert!(
        p.client_mut()
            .perform(&chat(), "speak", serde_json::json!({}))
            .is_err(),
        "not connected yet"
    );
    sub(&mut p, 0, chat());
    host(&mut p);
    p.client_mut()
        .perform(&chat(), "speak", serde_json::json!({"text": "hi"}))
        .unwrap();
    assert!(
        p.client_mut()
            .perform(&chat(), "speak", serde_json::json!([1]))
            .is_err()
    );
    assert!(
        p.client_mut()
            .perform(&Identifier::channel_only("Other"), "x", serde_json::json!({}))
            .is_err()
    );
    let hub_evs = host(&mut p);
    assert_eq!(
        p.frames_to_hub()[1],
        r#"{"command":"message","identifier":"{\"channel\":\"ChatChannel\",\"id\":42}","data":"{\"text\":\"hi\",\"action\":\"speak\"}"}"#
    );
    match &hub_evs[..] {
        [
            HubEvent::Perform {
                conn: ConnId(1),
                identifier,
                action,
                data,
            },
        ] => {
            assert_eq!(*identifier, chat());
            assert_eq!(action.as_deref(), Some("speak"));
            assert_eq!(data, r#"{"text":"hi","action":"speak"}"#);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        p.client_mut().whisper(&chat(), serde_json::json!({})).is_err(),
        "whisper needs ext"
    );
}

#[test]
fn subprotocol_is_checked() {
    let now = Instant::now();
    for (proto, required) in [
        (Some("actioncable-unsupported"), true),
        (None, true),
        (Some("other"), false),
    ] {
        let mut c = Client::new(Config::new("ws://h/cable").with_require_subprotocol(required));
        assert!(c.poll_transmit().is_none(), "`new` does not dial");
        c.connect(now);
        assert!(matches!(c.poll_transmit(), Some(Transmit::Connect(_))));
        c.handle_open(now, proto);
        assert!(matches!(c.poll_transmit(), Some(Transmit::Close(_))));
        assert!(
            matches!(c.poll_event(), Some(Event::Stopped { reason: StopReason::UnsupportedSubprotocol(p) }) if p.as_deref() == proto)
        );
        assert!(c.is_stopped());
        c.handle_close(now, None);
        assert!(c.poll_transmit().is_none());
        assert_eq!(c.poll_timeout(), None);
    }
    // a server that upgrades without the header is accepted when not required
    let mut c = dialing(Config::new("ws://h/cable").with_require_subprotocol(false), now);
    let _ = c.poll_transmit();
    c.handle_open(now, None);
    c.handle_frame(now, Frame::from(r#"{"type":"welcome"}"#));
    assert!(c.is_open());
}

#[test]
fn malformed_and_foreign_frames_are_events_and_the_session_goes_on() {
    let mut p = pair();
    sub(&mut p, 0, chat());
    host(&mut p);
    p.take_client_events();
    p.inject_to_client(0, Frame::from("{not json"));
    p.inject_to_client(0, Frame::from(r#"{"type":"mystery","x":1}"#));
    p.inject_to_client(
        0,
        Frame::from(r#"{"identifier":"{\"channel\":\"Nope\"}","message":1}"#),
    );
    p.inject_to_client(
        0,
        Frame::from(r#"{"type":"confirm_subscription","identifier":7}"#),
    );
    let evs = p.take_client_events();
    assert!(
        matches!(&evs[0], Event::Malformed { frame, .. } if frame.expose().as_str() == "{not json"),
        "{evs:?}"
    );
    assert!(matches!(&evs[1], Event::Unknown { frame } if frame.expose().as_str().contains("mystery")));
    assert!(matches!(&evs[2], Event::Unmatched { .. }));
    assert!(matches!(&evs[3], Event::Malformed { .. }));
    assert!(p.client().is_open());
    p.hub_mut().broadcast("chat", "1").unwrap();
    p.run_until_quiet();
    assert!(matches!(&p.take_client_events()[..], [Event::Message { .. }]));
}

#[test]
fn hub_handles_bad_input_like_rails() {
    let mut p = pair();
    sub(&mut p, 0, chat());
    host(&mut p);
    let before = p.frames_to_client().len();
    for bad in [
        "{oops",
        r#"{"command":"dance","identifier":"{\"channel\":\"ChatChannel\"}"}"#,
        r#"{"command":"message","identifier":"{\"channel\":\"Missing\"}","data":"{}"}"#,
        r#"{"command":"unsubscribe","identifier":"{\"channel\":\"Missing\"}"}"#,
        r#"{"command":"message","identifier":"{\"channel\":\"ChatChannel\",\"id\":42}","data":{"action":"x"}}"#,
        r#"{"command":"whisper","identifier":"{\"channel\":\"ChatChannel\",\"id\":42}","data":{}}"#,
    ] {
        p.inject_to_hub(0, Frame::from(bad));
    }
    let evs = p.take_hub_events();
    assert_eq!(evs.len(), 6);
    assert!(
        evs.iter()
            .all(|e| matches!(e, HubEvent::BadInput { conn: ConnId(1), .. })),
        "{evs:?}"
    );
    assert_eq!(p.frames_to_client().len(), before, "no reply");
    assert_eq!(
        p.hub().connections().collect::<Vec<_>>(),
        vec![ConnId(1)],
        "connection kept"
    );
    // a duplicate subscribe gets no second confirm
    p.inject_to_hub(0, Frame::from(CHAT_SUB));
    assert!(matches!(
        &p.take_hub_events()[..],
        [HubEvent::DuplicateSubscribe { .. }]
    ));
    assert_eq!(p.frames_to_client().len(), before);
}

#[test]
fn broadcast_is_encoded_once_per_identifier_and_shared() {
    let mut p = pair();
    let other = Identifier::builder("ChatChannel")
        .param("id", 43)
        .unwrap()
        .build();
    sub(&mut p, 0, chat());
    let now = p.now();
    let c1 = p.add_client(dialing(Config::new("ws://h/cable"), now));
    sub(&mut p, c1, chat());
    let c2 = p.add_client(dialing(Config::new("ws://h/cable"), now));
    sub(&mut p, c2, other.clone());
    host(&mut p);
    p.take_wire();
    assert_eq!(p.hub_mut().broadcast("chat", r#"{"n":1}"#).unwrap(), 3);
    assert!(p.hub_mut().broadcast("chat", "{bad").is_err());
    p.run_until_quiet();
    let frames: Vec<&Frame> = p
        .wire()
        .iter()
        .filter_map(|w| match w {
            Wire::ToClient { frame, .. } => Some(frame),
            _ => None,
        })
        .collect();
    assert_eq!(frames.len(), 3);
    assert_eq!(
        frames[0].as_str().as_ptr(),
        frames[1].as_str().as_ptr(),
        "same identifier: one shared buffer"
    );
    assert_ne!(frames[0].as_str().as_ptr(), frames[2].as_str().as_ptr());
    assert!(frames[2].as_str().contains(r#"\"id\":43"#));
    assert!(
        matches!(&p.take_events_of(c2)[..], [.., Event::Message { identifier, .. }] if *identifier == other)
    );
    // pings too are one buffer for everybody
    p.take_wire();
    p.advance(Duration::from_secs(3));
    let pings: Vec<*const u8> = p.frames_to_client().iter().map(|f| f.as_ptr()).collect();
    assert_eq!(pings.len(), 3);
    assert!(pings.iter().all(|x| *x == pings[0]));
}

#[test]
fn metasmoke_api_channel_frames_match_and_the_key_is_redacted() {
    let api = ApiChannel::new("0123456789abcdef0123456789abcdef01234567")
        .with_events("posts", &[ModelEvent::Create])
        .unwrap()
        .with_model("feedbacks")
        .unwrap();
    let id = api.identifier().unwrap();
    let now = Instant::now();
    let mut c = dialing(Config::new("wss://metasmoke.erwaysoftware.com/cable"), now);
    c.subscribe(now, id.clone()).unwrap();
    let _ = c.poll_transmit();
    c.handle_open(now, Some("actioncable-v1-json"));
    c.handle_frame(now, Frame::from(r#"{"type":"welcome"}"#));
    assert!(
        !format!("{c:?}").contains("0123456789abcdef0123456789abcdef01234567"),
        "queued subscribe hidden"
    );
    let sub = match c.poll_transmit() {
        Some(Transmit::Send(f)) => f,
        other => panic!("{other:?}"),
    };
    assert!(sub.as_str().contains(r#"\"events\":\"posts#create;feedbacks\""#));
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/frames/server_message_metasmoke_post.json"
    ))
    .unwrap();
    c.handle_frame(now, Frame::from(text.trim_end().to_string()));
    let evs: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    match &evs[..] {
        [
            Event::Connected { .. },
            Event::Message {
                identifier, message, ..
            },
        ] => {
            assert_eq!(*identifier, id);
            let v: serde_json::Value = message.parse().unwrap();
            assert_eq!(v["event_class"], "Post");
            assert_eq!(v["object"]["title"], "Best <b>Cheap</b> Pills");
        }
        other => panic!("{other:?}"),
    }
    let dbg = format!("{evs:?}{c:?}");
    assert!(
        !dbg.contains("0123456789abcdef0123456789abcdef01234567"),
        "key leaked in Debug"
    );
}

fn anycable() -> P {
    pair_with(
        Config::new("ws://127.0.0.1:8080/cable")
            .with_flavour(Flavour::AnyCable)
            .with_seed(3),
        HubConfig::default().with_anycable(true).with_seed(0xabc),
    )
}

#[test]
fn anycable_restore_history_and_dedupe() {
    let mut p = anycable();
    sub(&mut p, 0, chat());
    host(&mut p);
    match &p.wire()[0] {
        Wire::Connect { request, .. } => assert_eq!(
            request.subprotocols,
            vec![
                "actioncable-v1-ext-json",
                "actioncable-v1-json",
                "actioncable-unsupported"
            ]
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(p.frames_to_client()[0], r#"{"type":"welcome","sid":"abc-1"}"#);
    assert!(p.client().is_ext());
    assert_eq!(p.client().sid(), Some("abc-1"));
    for n in 1..=3 {
        p.hub_mut().broadcast("chat", &format!(r#"{{"n":{n}}}"#)).unwrap();
    }
    p.run_until_quiet();
    assert_eq!(
        p.frames_to_client().last().copied(),
        Some(
            r#"{"identifier":"{\"channel\":\"ChatChannel\",\"id\":42}","message":{"n":3},"stream_id":"chat","epoch":"abc","offset":3}"#
        )
    );
    p.take_client_events();
    // the connection drops; two messages go by while the client is away
    p.advance(Duration::from_secs(2));
    p.drop_connection();
    p.hub_mut().broadcast("chat", r#"{"n":4}"#).unwrap();
    p.hub_mut().broadcast("chat", r#"{"n":5}"#).unwrap();
    p.take_wire();
    let evs = p.take_client_events();
    let d = match &evs[..2] {
        [Event::Disconnected { .. }, Event::Reconnecting { after }] => *after,
        other => panic!("{other:?}"),
    };
    advance(&mut p, d);
    // reconnect with ?sid=, the session is restored: no resubscribe, a history request instead
    match &p.wire()[0] {
        Wire::Connect { request, .. } => assert_eq!(request.url, "ws://127.0.0.1:8080/cable?sid=abc-1"),
        other => panic!("{other:?}"),
    }
    let since = (UNIX_MS / 1000) + 2;
    assert_eq!(
        p.frames_to_hub(),
        vec![format!(
            r#"{{"command":"history","identifier":"{{\"channel\":\"ChatChannel\",\"id\":42}}","history":{{"since":{since},"streams":{{"chat":{{"epoch":"abc","offset":3}}}}}}}}"#
        )]
    );
    let to_client = p.frames_to_client();
    assert_eq!(
        to_client[0],
        r#"{"type":"welcome","sid":"abc-2","restored":true,"restored_ids":["{\"channel\":\"ChatChannel\",\"id\":42}"]}"#
    );
    assert_eq!(to_client.len(), 4, "{to_client:?}");
    assert!(to_client[3].contains("confirm_history"));
    // a replayed duplicate (at-least-once delivery) is dropped
    p.inject_to_client(0, Frame::from(to_client[2].to_string()));
    p.inject_to_client(
        0,
        Frame::from(r#"{"identifier":"{\"channel\":\"ChatChannel\",\"id\":42}","message":{"n":2},"stream_id":"chat","epoch":"abc","offset":2}"#),
    );
    let evs = p.take_client_events();
    let kinds: Vec<String> = evs
        .iter()
        .map(|e| match e {
            Event::Connected { restored, .. } => format!("connected restored={restored}"),
            Event::Confirmed {
                restored,
                reconnected,
                ..
            } => format!("confirmed restored={restored} reconnected={reconnected}"),
            Event::Message { message, offset, .. } => format!("message {} {offset:?}", message.as_str()),
            Event::HistoryConfirmed { .. } => "history confirmed".into(),
            Event::Recovered {
                outage,
                subscriptions,
                ..
            } => {
                assert_eq!(*outage, d);
                assert_eq!(subscriptions, &vec![(chat(), d)]);
                "recovered".into()
            }
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            "connected restored=true",
            "confirmed restored=true reconnected=true",
            "recovered",
            r#"message {"n":4} Some(4)"#,
            r#"message {"n":5} Some(5)"#,
            "history confirmed",
        ]
    );
}

#[test]
fn anycable_resubscribe_then_history_gap_pong_and_whisper() {
    let mut p = anycable();
    sub(&mut p, 0, chat());
    host(&mut p);
    p.hub_mut().broadcast("chat", r#"{"n":1}"#).unwrap();
    p.run_until_quiet();
    // the server forgets the session (restart): the client resubscribes, then asks for history
    p.hub_mut()
        .disconnect(ConnId(1), Some("server_restart"), Some(true))
        .unwrap();
    p.run_until_quiet();
    let mut fresh = Hub::new(HubConfig::default().with_anycable(true).with_seed(0xdef));
    std::mem::swap(p.hub_mut(), &mut fresh);
    p.take_wire();
    advance(&mut p, Duration::from_secs(2));
    let hub_frames = p.frames_to_hub();
    assert_eq!(hub_frames[0], CHAT_SUB);
    assert!(hub_frames[1].starts_with(
        r#"{"command":"history","identifier":"{\"channel\":\"ChatChannel\",\"id\":42}","history":{"since":"#
    ));
    assert!(hub_frames[1].ends_with(r#""streams":{"chat":{"epoch":"abc","offset":1}}}}"#));
    // a new epoch: the hub cannot serve it
    assert!(p.frames_to_client().iter().any(|f| f.contains("reject_history")));
    let evs = p.take_client_events();
    assert!(
        evs.iter()
            .any(|e| matches!(e, Event::HistoryGap { identifier } if *identifier == chat())),
        "{evs:?}"
    );
    // pings are answered with pong on the ext protocol
    p.take_wire();
    advance(&mut p, Duration::from_secs(3));
    assert_eq!(p.frames_to_hub(), vec![r#"{"command":"pong"}"#]);
    // whisper
    p.client_mut()
        .whisper(&chat(), serde_json::json!({"typing": true}))
        .unwrap();
    p.client_mut()
        .join(&chat(), serde_json::json!({"id": "u1"}))
        .unwrap();
    p.client_mut().leave(&chat()).unwrap();
    let hub_evs = host(&mut p);
    assert!(matches!(&hub_evs[0], HubEvent::Whisper { data, .. } if data.as_str() == r#"{"typing":true}"#));
    assert!(
        matches!(&hub_evs[1], HubEvent::Presence { command: "join", presence: Some(p), .. } if p.as_str() == r#"{"id":"u1"}"#)
    );
    assert!(matches!(
        &hub_evs[2],
        HubEvent::Presence {
            command: "leave",
            presence: None,
            ..
        }
    ));
    assert_eq!(hub_evs.len(), 3);
    // presence broadcasts reach the client as events
    p.inject_to_client(
        0,
        Frame::from(r#"{"type":"presence","identifier":"{\"channel\":\"ChatChannel\",\"id\":42}","message":{"type":"join","id":"u2"}}"#),
    );
    assert!(
        matches!(&p.take_client_events()[..], [Event::Presence { message, .. }] if message.as_str() == r#"{"type":"join","id":"u2"}"#)
    );
}

/// The one lifecycle, driven through core's `Lifecycle` trait: stopped before the first `connect`, open after
/// the welcome, stopped (with a close 1000 on the wire) after `disconnect`, and a second `connect` starts the
/// session again, resubscribing what it had.
#[test]
fn lifecycle_connect_disconnect_and_connect_again() {
    use feedwire_actioncable::Lifecycle;
    fn is_up<L: Lifecycle>(l: &L) -> (bool, bool) {
        (l.is_open(), l.is_stopped())
    }
    let start = Instant::now();
    let mut c = Client::new(Config::new("ws://h/cable").with_seed(7));
    assert_eq!(is_up(&c), (false, true), "stopped before the first connect");
    c.subscribe(start, chat()).unwrap();
    assert!(
        c.poll_transmit().is_none() && c.poll_timeout().is_none(),
        "nothing before connect"
    );
    let mut p = Pair::new(c, Hub::new(HubConfig::default()), start);
    let now = p.now();
    Lifecycle::connect(p.client_mut(), now);
    Lifecycle::connect(p.client_mut(), now); // a no-op while connecting
    host(&mut p);
    assert_eq!(connects(&p).len(), 1);
    assert_eq!(is_up(p.client()), (true, false));
    assert!(p.client().is_confirmed(&chat()));
    p.take_client_events();

    p.advance(Duration::from_secs(1));
    let now = p.now();
    Lifecycle::disconnect(p.client_mut(), now);
    p.run_until_quiet();
    assert_eq!(is_up(p.client()), (false, true));
    assert!(!p.client().is_confirmed(&chat()));
    assert!(
        p.wire()
            .iter()
            .any(|w| matches!(w, Wire::ClientClosed { close, .. } if close.code.0 == 1000))
    );
    assert!(matches!(
        &p.take_client_events()[..],
        [Event::Stopped {
            reason: StopReason::Requested
        }]
    ));
    Lifecycle::disconnect(p.client_mut(), now); // a no-op when stopped
    assert!(p.take_client_events().is_empty());

    p.advance(Duration::from_secs(1));
    let now = p.now();
    Lifecycle::connect(p.client_mut(), now);
    host(&mut p);
    assert_eq!(connects(&p), vec![Duration::ZERO, Duration::from_secs(2)]);
    assert_eq!(count(&p, CHAT_SUB), 2, "the subscription is sent again");
    assert_eq!(is_up(p.client()), (true, false));
    let evs = p.take_client_events();
    assert!(
        matches!(
            &evs[..2],
            [
                Event::Connected {
                    reconnected: true,
                    ..
                },
                Event::Confirmed {
                    reconnected: true,
                    ..
                }
            ]
        ),
        "{evs:?}"
    );
}

#[test]
fn app_disconnect_stops() {
    let mut p = pair();
    host(&mut p);
    let now = p.now();
    p.client_mut().disconnect(now);
    advance(&mut p, Duration::from_secs(60));
    assert_eq!(connects(&p).len(), 1);
    assert!(p.client().is_stopped());
    assert!(p.take_client_events().iter().any(|e| matches!(
        e,
        Event::Stopped {
            reason: StopReason::Requested
        }
    )));
}

#[test]
fn oversize_frames_are_errors_and_the_session_goes_on() {
    let now = Instant::now();
    let mut c = dialing(
        Config::new("ws://h/cable").with_limits(feedwire_core::Limits::default().with_max_frame_size(64)),
        now,
    );
    c.subscribe(now, chat()).unwrap();
    let _ = c.poll_transmit();
    c.handle_open(now, Some("actioncable-v1-json"));
    c.handle_frame(now, Frame::from(r#"{"type":"welcome"}"#));
    c.handle_frame(
        now,
        Frame::from(format!(r#"{{"type":"ping","message":{}}}"#, "1".repeat(80))),
    );
    let evs: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    assert!(
        matches!(
            &evs[1],
            Event::Malformed {
                error: feedwire_actioncable::codec::DecodeError::TooLarge { max: 64, .. },
                ..
            }
        ),
        "{evs:?}"
    );
    assert!(c.is_open());
    // the oversize frame still counted as traffic: not stale 5 s later
    c.handle_timeout(now + std::time::Duration::from_secs(5));
    assert!(c.is_open());
}

#[test]
fn any_frame_refreshes_staleness_and_a_missing_welcome_is_stale() {
    // a message flood without pings keeps the connection fresh (7.2+ behaviour)
    let mut p = pair();
    sub(&mut p, 0, chat());
    host(&mut p);
    p.hub_mut().set_pinging(false);
    for _ in 0..15 {
        p.advance(Duration::from_secs(2));
        p.hub_mut().broadcast("chat", "{}").unwrap();
        p.run_until_quiet();
    }
    assert_eq!(connects(&p).len(), 1, "never stale while frames flow");
    // a server that upgrades but never welcomes: stale 6 s after the open, then the backoff
    let mut p = pair_with(
        Config::new("ws://h/cable").with_seed(7),
        HubConfig::default().with_auto_welcome(false),
    );
    p.hub_mut().set_pinging(false);
    p.run_until_quiet();
    p.advance(Duration::from_secs(6));
    let evs = p.take_client_events();
    let d = match &evs[..] {
        [
            Event::Disconnected {
                reason: DisconnectReason::Stale { silent_for },
            },
            Event::Reconnecting { after: d },
        ] => {
            assert_eq!(*silent_for, Duration::from_secs(6));
            *d
        }
        other => panic!("{other:?}"),
    };
    p.advance(d);
    assert_eq!(connects(&p), vec![Duration::ZERO, Duration::from_secs(6) + d]);
}

#[test]
fn a_resubscription_rejected_after_a_reconnect_says_so() {
    let silent = Identifier::channel_only("SilentChannel");
    let mut p = pair();
    sub(&mut p, 0, silent.clone());
    host(&mut p); // the host ignores SilentChannel: confirm by hand
    p.hub_mut().confirm(ConnId(1), silent.as_str()).unwrap();
    p.run_until_quiet();
    p.take_client_events();
    p.hub_mut()
        .disconnect(ConnId(1), Some("server_restart"), Some(true))
        .unwrap();
    advance(&mut p, Duration::from_secs(2));
    p.hub_mut().reject(ConnId(2), silent.as_str()).unwrap();
    p.run_until_quiet();
    let evs = p.take_client_events();
    assert!(
        evs.iter()
            .any(|e| matches!(e, Event::Rejected { identifier, reconnected: true } if *identifier == silent)),
        "{evs:?}"
    );
    match evs.last() {
        Some(Event::Recovered {
            subscriptions,
            still_down,
            ..
        }) => {
            assert!(subscriptions.is_empty() && still_down.is_empty(), "{evs:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn anycable_client_against_a_rails_server_speaks_rails() {
    let mut p = pair_with(
        Config::new("ws://h/cable").with_flavour(Flavour::AnyCable),
        HubConfig::default(), // a Rails server: no ext protocol
    );
    sub(&mut p, 0, chat());
    host(&mut p);
    assert_eq!(p.frames_to_client()[0], r#"{"type":"welcome"}"#);
    assert!(!p.client().is_ext());
    assert!(p.client().is_confirmed(&chat()));
    assert!(matches!(
        p.client_mut().whisper(&chat(), 1),
        Err(client::CommandError::NeedsExtProtocol)
    ));
    p.advance(Duration::from_secs(3));
    assert_eq!(p.frames_to_hub(), vec![CHAT_SUB], "no pong on the Rails protocol");
}
