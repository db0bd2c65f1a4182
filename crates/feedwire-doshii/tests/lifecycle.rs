//! The lifecycle every feedwire client follows (`feedwire_core::Lifecycle`), on the Doshii session: `new` never
//! dials, `connect` starts (and restarts) it, `disconnect` closes and stops; and the queue policy of
//! `feedwire_core::Outbox` on the session and the mock hub.
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin

use std::time::{Duration, Instant};

use feedwire_core::{
    BackoffConfig, Close, ConnId, Frame, Hub as _, HubTransmit, Limits, OpenRequest, QueueFull, RawJson,
    Session, Transmit, UnixAnchor,
};
use feedwire_doshii::client::{DisconnectReason, StopReason};
use feedwire_doshii::server::HubConfig;
use feedwire_doshii::{Client, Config, Event, Hub, HubError, Lifecycle};

const T0_MS: u64 = 1_700_000_000_000;

fn client(t0: Instant) -> Client {
    Client::new(
        Config::app("client-id", UnixAnchor::new(t0, T0_MS))
            .with_backoff(BackoffConfig::default().with_jitter(0.0)),
    )
}

/// A client whose connection opened at `t0`, its dial drained.
fn opened(t0: Instant) -> Client {
    let mut c = client(t0);
    c.connect(t0);
    let _ = transmits(&mut c);
    c.handle_open(t0, None);
    c
}

fn transmits(c: &mut Client) -> Vec<Transmit> {
    std::iter::from_fn(|| c.poll_transmit()).collect()
}

fn events(c: &mut Client) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// Driven through the trait, as a protocol-agnostic driver does.
fn start<L: Lifecycle>(session: &mut L, now: Instant) {
    assert!(session.is_stopped() && !session.is_open());
    session.connect(now);
    assert!(!session.is_stopped());
}

#[test]
fn new_never_dials_and_connect_is_a_no_op_unless_stopped() {
    let t0 = Instant::now();
    let mut c = client(t0);
    assert!(c.is_stopped() && !c.is_open());
    assert_eq!(c.poll_transmit(), None);
    assert_eq!(c.poll_timeout(), None);
    start(&mut c, t0);
    c.connect(t0); // connecting: no second dial
    let sent = transmits(&mut c);
    assert!(matches!(&sent[..], [Transmit::Connect(_)]), "{sent:?}");
    c.handle_open(t0, None);
    assert!(c.is_open());
    c.connect(t0); // open: nothing
    assert!(matches!(&transmits(&mut c)[..], [Transmit::Send(_)])); // the handshake ping only
    c.handle_close(t0, None);
    assert!(!c.is_open() && !c.is_stopped());
    c.connect(t0); // waiting to reconnect: the backoff stands
    assert_eq!(c.poll_transmit(), None);
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(1)));
}

#[test]
fn disconnect_closes_what_is_up_or_dialled_and_withdraws_what_is_not() {
    let t0 = Instant::now();
    // nothing sent, and only `Stopped` reported
    let disconnect_with_nothing_to_close = |c: &mut Client| {
        c.disconnect(t0);
        assert_eq!(transmits(c), vec![]);
        assert_eq!(
            events(c),
            vec![Event::Stopped {
                reason: StopReason::Requested
            }]
        );
    };
    // a dial the driver has not taken: withdrawn, nothing to close, only Stopped
    let mut c = client(t0);
    c.connect(t0);
    disconnect_with_nothing_to_close(&mut c);
    // a dial in flight: closed
    c.connect(t0);
    assert!(matches!(&transmits(&mut c)[..], [Transmit::Connect(_)]));
    c.disconnect(t0);
    assert_eq!(transmits(&mut c), vec![Transmit::Close(Close::normal())]);
    assert_eq!(
        events(&mut c),
        vec![
            Event::Disconnected {
                reason: DisconnectReason::Requested
            },
            Event::Stopped {
                reason: StopReason::Requested
            }
        ]
    );
    // the open of the abandoned dial is stale
    c.handle_open(t0, None);
    assert!(!c.is_open() && c.is_stopped());
    // waiting to reconnect: nothing to close, the loss was reported already
    c.connect(t0);
    let _ = transmits(&mut c);
    c.handle_close(t0, None);
    let _ = events(&mut c);
    disconnect_with_nothing_to_close(&mut c);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn connect_restarts_a_stopped_session_with_the_backoff_reset_and_the_window_it_missed() {
    let t0 = Instant::now();
    let mut c = opened(t0);
    c.handle_frame(t0, Frame::from(r#"{"emit":["order_updated",{"id":"1"}]}"#));
    // two failed dials grow the backoff
    let mut now = t0 + Duration::from_secs(5);
    c.handle_close(now, None);
    for _ in 0..2 {
        let Some(t) = c.poll_timeout() else { panic!() };
        now = t;
        c.handle_timeout(now);
        let _ = transmits(&mut c);
        c.handle_close(now, None);
    }
    let evs = events(&mut c);
    assert!(evs.contains(&Event::Reconnecting {
        after: Duration::from_secs(4),
        attempt: 3
    }));
    c.disconnect(now);
    let _ = events(&mut c);
    // started again: a dial at once, and after another loss the backoff starts over at 1 s
    let later = now + Duration::from_secs(60);
    c.connect(later);
    assert!(matches!(&transmits(&mut c)[..], [Transmit::Connect(_)]));
    c.handle_open(later, None);
    let evs = events(&mut c);
    assert_eq!(evs[0], Event::Connected { reconnect: true });
    let Event::CatchUp(window) = &evs[1] else {
        panic!("{evs:?}")
    };
    assert_eq!(
        (window.from_ms, window.to_ms, window.from_last_event),
        (T0_MS, T0_MS + 68_000, true)
    );
    c.handle_close(later, None);
    assert_eq!(
        events(&mut c)[1],
        Event::Reconnecting {
            after: Duration::from_secs(1),
            attempt: 1
        }
    );
}

#[test]
fn a_malformed_frame_keeps_at_most_256_bytes_cut_at_a_character() {
    let t0 = Instant::now();
    let mut c = opened(t0);
    let _ = events(&mut c);
    let text = format!("x{}", "é".repeat(200)); // 401 bytes, not JSON; byte 256 is inside an 'é'
    c.handle_frame(t0, Frame::from(text.clone()));
    let evs = events(&mut c);
    let [Event::Malformed { frame, .. }] = &evs[..] else {
        panic!("{evs:?}")
    };
    assert_eq!(frame.as_str(), &text[..255]);
    assert!(c.is_open());
}

#[test]
fn message_events_are_dropped_and_counted_when_not_polled_but_lifecycle_events_are_kept() {
    let t0 = Instant::now();
    let mut c = Client::new(
        Config::app("client-id", UnixAnchor::new(t0, T0_MS))
            .with_limits(Limits::default().with_max_queued(4)),
    );
    c.connect(t0);
    let _ = transmits(&mut c);
    c.handle_open(t0, None); // Connected: 1 event
    for n in 0..10 {
        c.handle_frame(
            t0,
            Frame::from(format!(r#"{{"emit":["order_updated",{{"id":"{n}"}}]}}"#)),
        );
    }
    c.handle_close(t0, None); // Disconnected and Reconnecting: kept past the bound
    let stats = c.queue_stats();
    assert_eq!((stats.queued_events, stats.dropped_events), (6, 7));
    let evs = events(&mut c);
    assert!(matches!(evs[0], Event::Connected { .. }));
    assert!(matches!(
        &evs[1..4],
        [Event::Doshii(_), Event::Doshii(_), Event::Doshii(_)]
    ));
    assert!(matches!(
        &evs[4..],
        [Event::Disconnected { .. }, Event::Reconnecting { .. }]
    ));
}

#[test]
fn hub_commands_are_refused_with_nothing_changed_until_the_driver_drains() {
    let now = Instant::now();
    let mut hub = Hub::new(HubConfig::default().with_limits(Limits::default().with_max_queued(2)));
    hub.handle_open(now, ConnId(1), &OpenRequest::new("/app/socket?auth=Y2xpZW50LWlk"));
    hub.handle_open(now, ConnId(2), &OpenRequest::new("/app/socket?auth=Y2xpZW50LWlk"));
    hub.handle_open(now, ConnId(3), &OpenRequest::new("/app/socket?auth=Y2xpZW50LWlk"));
    let data = RawJson::from_json_str(r#"{"id":"1"}"#).unwrap();
    // a fan-out passes the room check as one command and queues a frame per connection
    assert_eq!(
        hub.publish_to_app(now, "client-id", "order_created", &data),
        Ok(3)
    );
    assert_eq!(hub.queue_stats().queued_transmits, 3);
    let full = HubError::QueueFull(QueueFull { queued: 3 });
    assert_eq!(
        hub.publish_to_app(now, "client-id", "order_created", &data),
        Err(full.clone())
    );
    assert_eq!(hub.ping(ConnId(1), 5), Err(full.clone()));
    assert_eq!(hub.server_close(now, ConnId(1)), Err(full));
    assert_eq!(
        hub.connections().count(),
        3,
        "a refused server_close closed nothing"
    );
    // the client drops: its frames go with it, and the app is not away (two connections remain)
    hub.handle_close(now, ConnId(3), None);
    assert_eq!(hub.queue_stats().queued_transmits, 2);
    assert_eq!(hub.backlog_len("client-id"), 0);
    while hub.poll_transmit().is_some() {}
    assert_eq!(
        hub.publish_to_app(now, "client-id", "order_updated", &data),
        Ok(2)
    );
    // closes are never refused
    hub.close(now, ConnId(1), Close::normal());
    hub.close(now, ConnId(2), Close::normal());
    let sent: Vec<_> = std::iter::from_fn(|| hub.poll_transmit()).collect();
    assert_eq!(sent.len(), 4);
    assert!(matches!(sent[3], (ConnId(2), HubTransmit::Close(_))));
    // everyone is away now: the next publish is kept for the replay
    assert_eq!(
        hub.publish_to_app(now, "client-id", "order_updated", &data),
        Ok(0)
    );
    assert_eq!(hub.backlog_len("client-id"), 1);
}

#[cfg(feature = "fuzzing")]
#[test]
fn the_invariants_hold_along_the_way() {
    let t0 = Instant::now();
    let mut c = client(t0);
    c.check_invariants().unwrap();
    c.connect(t0);
    c.check_invariants().unwrap();
    let _ = transmits(&mut c);
    c.handle_open(t0, None);
    c.check_invariants().unwrap();
    c.disconnect(t0);
    c.check_invariants().unwrap();
    let mut hub = Hub::default();
    hub.handle_open(
        t0,
        ConnId(1),
        &OpenRequest::new("/app/socket/v3?auth=Y2xpZW50LWlk&deviceId=d"),
    );
    hub.handle_close(t0, ConnId(1), None);
    let data = RawJson::from_json_str("{}").unwrap();
    hub.publish_to_app(t0, "client-id", "order_created", &data)
        .unwrap();
    hub.check_invariants().unwrap();
    hub.handle_timeout(t0 + Duration::from_secs(601));
    assert_eq!(hub.backlog_len("client-id"), 0);
    hub.check_invariants().unwrap();
}
