//! feedwire's one shape on the Pusher client and hub: the `Lifecycle` contract, and the outbox policy (a
//! command on a full queue is refused with nothing changed; closes are never refused).
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin

mod common;

use std::time::Instant;

use feedwire_core::{
    Close, ConnId, Frame, Hub as _, HubTransmit, Lifecycle, Limits, QueueFull, RawJson, Session, Transmit,
};
use feedwire_pusher::client::{ChannelAuth, DisconnectReason, StopReason, UserAuth};
use feedwire_pusher::{Client, CommandError, Config, Event, Hub, HubConfig, HubError};

use common::ESTABLISHED;

fn config(max_queued: usize) -> Config {
    Config::new("key")
        .with_host("127.0.0.1")
        .with_limits(Limits::default().with_max_queued(max_queued))
}

/// A connected client with `private-chat` subscribed and nothing left to poll.
fn connected(max_queued: usize) -> (Client, Instant) {
    let now = Instant::now();
    let mut c = Client::new(config(max_queued));
    c.connect(now);
    c.handle_open(now, None);
    c.handle_frame(now, Frame::from(ESTABLISHED));
    c.subscribe("private-chat").unwrap();
    c.provide_auth("private-chat", ChannelAuth::new("key:sig"))
        .unwrap();
    c.handle_frame(
        now,
        Frame::from(r#"{"event":"pusher_internal:subscription_succeeded","channel":"private-chat"}"#),
    );
    while c.poll_transmit().is_some() {}
    while c.poll_event().is_some() {}
    (c, now)
}

/// Fills the outgoing queue to `max_queued` with client events (the driver does not drain).
fn fill(c: &mut Client, now: Instant, max_queued: usize) {
    for _ in 0..max_queued {
        c.trigger(now, "private-chat", "client-x", "{}").unwrap();
    }
    assert_eq!(c.queue_stats().queued_transmits, max_queued);
}

/// Any session, driven only through the shared lifecycle.
fn lifecycle_of<S: Lifecycle>(s: &mut S, now: Instant) -> (bool, bool, bool) {
    let before = s.is_stopped();
    s.connect(now);
    let connecting = !s.is_stopped() && !s.is_open();
    s.disconnect(now);
    (before, connecting, s.is_stopped())
}

#[test]
fn the_lifecycle_contract() {
    let now = Instant::now();
    let mut c = Client::new(config(8));
    assert!(c.is_stopped() && !c.is_open(), "stopped before the first connect");
    assert!(c.poll_transmit().is_none(), "new never dials");
    assert_eq!(lifecycle_of(&mut c, now), (true, true, true));
    // the dial, then the close of the connection being dialed; the session says it stopped
    let sent: Vec<Transmit> = std::iter::from_fn(|| c.poll_transmit()).collect();
    assert!(
        matches!(&sent[..], [Transmit::Connect(_), Transmit::Close(close)] if close.code.0 == 1000),
        "{sent:?}"
    );
    let evs: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    assert_eq!(
        evs,
        vec![Event::Stopped {
            reason: StopReason::Requested
        }],
        "no connection was open: no Disconnected"
    );
    // disconnect on a stopped session is a no-op; connect starts it again and is a no-op while connecting
    c.disconnect(now);
    assert!(c.poll_transmit().is_none() && c.poll_event().is_none());
    c.connect(now);
    c.connect(now);
    let dials = std::iter::from_fn(|| c.poll_transmit())
        .filter(|t| matches!(t, Transmit::Connect(_)))
        .count();
    assert_eq!(dials, 1);
    c.handle_open(now, None);
    assert!(!c.is_open(), "open only once connection_established arrived");
    c.handle_frame(now, Frame::from(ESTABLISHED));
    assert!(c.is_open() && !c.is_stopped());
    c.connect(now);
    assert!(c.poll_transmit().is_none(), "connect while open is a no-op");
    while c.poll_event().is_some() {}
    c.disconnect(now);
    assert!(matches!(c.poll_transmit(), Some(Transmit::Close(close)) if close.code.0 == 1000));
    assert_eq!(
        std::iter::from_fn(|| c.poll_event()).collect::<Vec<_>>(),
        vec![
            Event::Disconnected {
                reason: DisconnectReason::Requested
            },
            Event::Stopped {
                reason: StopReason::Requested
            }
        ]
    );
    assert!(c.is_stopped() && !c.is_open());
    assert_eq!(c.poll_timeout(), None, "nothing scheduled once stopped");
}

#[test]
fn a_terminal_close_stops_the_session() {
    let (mut c, now) = connected(8);
    c.handle_close(now, Some(Close::new(4009, "unauthorized")));
    assert!(c.is_stopped() && !c.is_open());
    let evs: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    assert_eq!(
        evs.last(),
        Some(&Event::Stopped {
            reason: StopReason::Closed {
                close: Close::new(4009, "unauthorized")
            }
        }),
        "{evs:?}"
    );
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn commands_on_a_full_queue_are_refused_with_nothing_changed() {
    let (mut c, now) = connected(4);
    fill(&mut c, now, 4);
    let full =
        |e: Result<(), CommandError>| matches!(e, Err(CommandError::QueueFull(QueueFull { queued: 4 })));

    // a client event: refused, and it does not count against the rate limit
    assert!(full(c.trigger(now, "private-chat", "client-x", "{}")));
    // a public subscription would send at once: refused, the channel is not wanted
    assert!(matches!(
        c.subscribe("inventory_changes"),
        Err(CommandError::QueueFull(_))
    ));
    assert!(!c.channels().any(|ch| ch == "inventory_changes"));
    // a private one only asks for auth (no frame yet): accepted; its answer would send: refused, still pending
    c.subscribe("private-orders").unwrap();
    assert!(full(
        c.provide_auth("private-orders", ChannelAuth::new("key:sig"))
    ));
    assert_eq!(c.pending_auth().len(), 1);
    // unsubscribing a subscribed channel sends: refused, still subscribed
    assert!(matches!(
        c.unsubscribe("private-chat"),
        Err(CommandError::QueueFull(_))
    ));
    assert!(c.is_subscribed("private-chat"));
    // signin
    c.signin();
    assert!(full(
        c.provide_user_auth(UserAuth::new("key:sig", r#"{"id":"7"}"#))
    ));
    assert_eq!(c.queue_stats().queued_transmits, 4, "nothing was queued");

    // the driver drains: every command goes through, the pending ones still answerable
    while c.poll_transmit().is_some() {}
    c.trigger(now, "private-chat", "client-x", "{}").unwrap();
    c.provide_auth("private-orders", ChannelAuth::new("key:sig"))
        .unwrap();
    c.provide_user_auth(UserAuth::new("key:sig", r#"{"id":"7"}"#))
        .unwrap();
    assert_eq!(c.queue_stats().queued_transmits, 3);

    // a close is never refused, however full the queue
    while c.poll_transmit().is_some() {}
    fill(&mut c, now + std::time::Duration::from_secs(2), 4);
    c.disconnect(now);
    assert!(
        std::iter::from_fn(|| c.poll_transmit()).any(|t| matches!(t, Transmit::Close(_))),
        "the close went out"
    );
}

#[test]
fn the_sessions_own_frames_wait_up_to_twice_the_bound_then_are_counted() {
    let (mut c, now) = connected(4);
    let ping = Frame::from(r#"{"event":"pusher:ping","data":{}}"#);
    for _ in 0..20 {
        c.handle_frame(now, ping.clone());
    }
    let s = c.queue_stats();
    assert_eq!((s.queued_transmits, s.dropped_transmits), (8, 12));
    // and the application's commands are refused meanwhile
    assert!(matches!(
        c.trigger(now, "private-chat", "client-x", "{}"),
        Err(CommandError::QueueFull(_))
    ));
}

#[test]
fn a_malformed_frame_is_kept_cut_to_256_bytes() {
    let (mut c, now) = connected(8);
    let bad = format!("{{\"event\":\"x\",\"data\":{}", "é".repeat(300));
    c.handle_frame(now, Frame::from(bad.clone()));
    match c.poll_event() {
        Some(Event::Malformed { frame, .. }) => {
            assert!(frame.len() <= 256 && frame.len() >= 255, "{}", frame.len());
            assert!(bad.starts_with(frame.as_str()));
        }
        other => panic!("{other:?}"),
    }
    assert!(c.is_open(), "the session goes on");
}

fn hub_with_subscribers(max_queued: usize, n: u64) -> (Hub, Instant) {
    let now = Instant::now();
    let config = HubConfig::default().with_limits(Limits::default().with_max_queued(max_queued));
    (common::hub_with_subscribers(now, config, n), now)
}

#[test]
fn hub_commands_are_bounded_and_closes_are_not() {
    let (mut hub, _) = hub_with_subscribers(4, 3);
    let data = RawJson::from_json_str(r#""{}""#).unwrap();
    // a publish passes while fewer than 4 frames wait, and queues its whole fan-out
    assert_eq!(hub.publish(&["inventory_changes"], "e", &data, None), Ok(3));
    assert_eq!(hub.publish(&["inventory_changes"], "e", &data, None), Ok(3));
    assert_eq!(hub.queue_stats().queued_transmits, 6);
    assert!(matches!(
        hub.publish(&["inventory_changes"], "e", &data, None),
        Err(HubError::QueueFull(QueueFull { queued: 6 }))
    ));
    assert!(matches!(
        hub.send_to_user("7", "e", &data),
        Err(HubError::QueueFull(_))
    ));
    assert_eq!(hub.queue_stats().queued_transmits, 6, "nothing queued");
    // closing a connection is never refused
    hub.disconnect(ConnId(0), Close::new(4200, "restart"));
    let closes = std::iter::from_fn(|| hub.poll_transmit())
        .filter(|(c, t)| *c == ConnId(0) && matches!(t, HubTransmit::Close(_)))
        .count();
    assert_eq!(closes, 1);
    assert_eq!(hub.connection_count(), 2);
}

#[test]
fn a_rest_trigger_on_a_full_hub_is_503_and_publishes_nothing() {
    // the first captured request is the `pusher` SDK's trigger of `listed` on `inventory_changes`
    let v = common::vectors();
    let req = common::req(&v.requests[0]);
    let (mut hub, _) = hub_with_subscribers(1, 1);
    let data = RawJson::from_json_str(r#""{}""#).unwrap();
    hub.publish(&["inventory_changes"], "e", &data, None).unwrap();
    // a request that fails authentication is still answered 401, queue or not
    assert_eq!(hub.handle_rest(&req, v.now_unix + 3600).status, 401);
    // a signed trigger while the queue is full: 503, nothing queued
    let resp = hub.handle_rest(&req, v.now_unix);
    assert_eq!(resp.status, 503, "{}", resp.body);
    assert_eq!(hub.queue_stats().queued_transmits, 1);
    while hub.poll_transmit().is_some() {}
    assert_eq!(hub.handle_rest(&req, v.now_unix).status, 200);
    let sent: Vec<(ConnId, HubTransmit)> = std::iter::from_fn(|| hub.poll_transmit()).collect();
    assert!(
        matches!(&sent[..], [(ConnId(0), HubTransmit::Send(f))] if f.contains(r#""event":"listed""#)),
        "published once the queue had room: {sent:?}"
    );
}
