//! Issue 11's allocation budgets, in one test binary with a counting global allocator (no unsafe: stats_alloc):
//! - zero heap allocations per inbound Pusher channel event and ActionCable data frame through the client
//!   path (`handle_frame` + draining `poll_event`);
//! - at most one allocation per outbound frame, for every protocol's encoder;
//! - hub fan-out: one encode per publish, nothing per subscriber.
//!
//! The tests share the global counter, so they run in one `#[test]`, in sequence.
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin

use std::hint::black_box;
use std::time::Instant;

use feedwire_core::{ConnId, Frame, Hub as _, OpenRequest, RawJson, Session};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

/// Allocations of `f`, averaged over `n` calls after one warm-up call.
fn per_call(n: usize, mut f: impl FnMut()) -> f64 {
    f();
    let r = Region::new(GLOBAL);
    for _ in 0..n {
        f();
    }
    r.change().allocations as f64 / n as f64
}

fn inbound<S: Session>(mut client: S, text: &str) -> f64 {
    // the transport hands the session a shared buffer: share it once up front, as a driver's read buffer is
    let frame = Frame::from(text.to_owned());
    drop(frame.clone());
    let mut seen = 0usize;
    let a = per_call(1_000, || {
        client.handle_frame(Instant::now(), frame.clone());
        while let Some(ev) = client.poll_event() {
            seen += 1;
            black_box(ev);
        }
    });
    assert_eq!(seen, 1_001, "every frame produced exactly one event");
    a
}

#[test]
fn allocation_budgets() {
    // inbound: zero
    let pusher_in = inbound(
        feedwire_benches::pusher::connected_client(),
        feedwire_benches::pusher::LISTED,
    );
    assert_eq!(
        pusher_in, 0.0,
        "Pusher channel event, client path: {pusher_in} allocations per frame"
    );
    let cable_in = inbound(
        feedwire_benches::actioncable::connected_client(),
        feedwire_benches::actioncable::DATA,
    );
    assert_eq!(
        cable_in, 0.0,
        "ActionCable data frame, client path: {cable_in} allocations per frame"
    );

    // outbound: at most one per frame (the frame's own buffer)
    use feedwire_pusher::codec::ClientMessage;
    let sub = ClientMessage::subscribe("private-orders", "app-key:0123456789abcdef", None);
    let ev = ClientMessage::client_event("client-typing", "private-chat", r#"{"on":true}"#).unwrap();
    let room = feedwire_benches::actioncable::room();
    let cable_sub = feedwire_actioncable::codec::ClientMessage::Subscribe {
        identifier: (&room).into(),
        history: None,
    };
    // a `message` command's data is a string literal, encoded once by `MessageData::encode`
    let cable_data = feedwire_core::json::to_string_literal(r#"{"action":"speak","text":"hi"}"#);
    let cable_msg = feedwire_actioncable::codec::ClientMessage::Message {
        identifier: (&room).into(),
        data: feedwire_core::json::raw_value(&cable_data).unwrap(),
    };
    let data = RawJson::from_json_str(r#"{"id":"1","status":"accepted"}"#).unwrap();
    let ping: feedwire_igratech::codec::Ping = serde_json::from_str(r#"{"ping":1764300000000}"#).unwrap();
    let igra_ping = feedwire_igratech::codec::ClientMessage::Ping(ping);
    let doshii_ping = feedwire_doshii::codec::ClientMessage::Ping(
        feedwire_doshii::codec::Heartbeat::new(1_764_300_000_000).with_version("1.0"),
    );
    let outbound: [(&str, f64); 7] = [
        (
            "pusher subscribe",
            per_call(1_000, || drop(black_box(sub.encode()))),
        ),
        (
            "pusher client event",
            per_call(1_000, || drop(black_box(ev.encode()))),
        ),
        (
            "pusher channel event (hub)",
            per_call(1_000, || {
                drop(black_box(
                    feedwire_pusher::codec::ServerMessage::encode_channel_event(
                        "listed",
                        "inventory_changes",
                        &data,
                    ),
                ))
            }),
        ),
        (
            "actioncable subscribe",
            per_call(1_000, || drop(black_box(cable_sub.encode()))),
        ),
        (
            "actioncable perform",
            per_call(1_000, || drop(black_box(cable_msg.encode()))),
        ),
        (
            "doshii ping",
            per_call(1_000, || drop(black_box(doshii_ping.encode()))),
        ),
        (
            "igratech ping",
            per_call(1_000, || drop(black_box(igra_ping.encode()))),
        ),
    ];
    for (name, a) in outbound {
        assert!(a <= 1.0, "{name}: {a} allocations per outbound frame (budget 1)");
    }

    // hub fan-out: the same count for 10 and for 10,000 subscribers
    let fan_out = |subscribers: u64| {
        let now = Instant::now();
        let mut hub = feedwire_pusher::server::Hub::new(feedwire_pusher::server::HubConfig::default());
        for c in 0..subscribers {
            hub.handle_open(now, ConnId(c), &OpenRequest::new("/app/app-key?protocol=7"));
            hub.handle_frame(
                now,
                ConnId(c),
                Frame::from(
                    r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"inventory_changes"}}"#,
                ),
            );
        }
        while hub.poll_transmit().is_some() {}
        while hub.poll_event().is_some() {}
        per_call(10, || {
            hub.publish(&["inventory_changes"], "listed", &data, None)
                .unwrap();
            while let Some(t) = hub.poll_transmit() {
                black_box(t);
            }
        })
    };
    let (small, large) = (fan_out(10), fan_out(10_000));
    assert_eq!(
        small, large,
        "publish allocations grow with subscribers: {small} for 10, {large} for 10,000"
    );
    assert!(
        large <= 2.0,
        "one publish: {large} allocations (the encoded frame and its shared header)"
    );
}
