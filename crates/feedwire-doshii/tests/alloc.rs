//! Allocations of an `order_updated` event: the codec decode and the full client path (`handle_frame` plus
//! draining `poll_event`). A counting global allocator, no unsafe.
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin
#![allow(clippy::print_stderr)] // the figures are part of the report

use std::time::Instant;

use feedwire_core::{Bytes, Frame, Session, Transmit, UnixAnchor};
use feedwire_doshii::client::{Client, Config, Event};
use feedwire_doshii::codec::{EventKind, ServerMessage};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

const ORDER_UPDATED: &str = r#"{"emit":["order_updated",{"id":"1234","status":"accepted","posRef":"pos-5678","locationId":"4gcd5","uri":"https://sandbox.doshii.co/partner/v3/orders/1234"}]}"#;

/// A frame as a transport hands it over: a shared `Bytes` buffer (what tungstenite's `Utf8Bytes` holds).
fn shared_frame() -> Frame {
    let b = Bytes::from(ORDER_UPDATED.as_bytes().to_vec());
    let f = Frame::try_from(b.clone()).unwrap(); // the clone turns the Vec-backed buffer into a shared one
    drop(b);
    f
}

// One test in this binary: the counter is global, a parallel test would pollute it.
#[test]
fn order_updated_allocations() {
    // codec decode
    let frame = shared_frame();
    let r = Region::new(GLOBAL);
    let msg = ServerMessage::decode(&frame).unwrap();
    let decode_allocs = r.change().allocations;
    assert!(matches!(&msg, ServerMessage::Event(e) if e.kind == EventKind::OrderUpdated));
    drop(msg);

    // the full client path
    let t0 = Instant::now();
    let mut client = Client::new(Config::app("client-id", UnixAnchor::new(t0, 1_700_000_000_000)));
    client.connect(t0);
    while let Some(t) = client.poll_transmit() {
        assert!(matches!(t, Transmit::Connect(_)));
    }
    client.handle_open(t0, None);
    while client.poll_transmit().is_some() {}
    while client.poll_event().is_some() {}
    // warm the event queue once so its buffer exists, as in a running session
    client.handle_frame(t0, shared_frame());
    while client.poll_event().is_some() {}

    let frames: Vec<Frame> = (0..100).map(|_| shared_frame()).collect();
    let r = Region::new(GLOBAL);
    let mut seen = 0;
    for f in frames {
        client.handle_frame(t0, f);
        while let Some(ev) = client.poll_event() {
            if let Event::Doshii(e) = ev {
                assert_eq!(e.kind, EventKind::OrderUpdated);
                seen += 1;
            }
        }
    }
    let client_allocs = r.change().allocations;
    assert_eq!(seen, 100);

    // A Vec-backed frame (Frame::from(String)) pays one allocation when first shared (bytes promotes the
    // buffer to a shared one on the first slice).
    let owned = Frame::from(ORDER_UPDATED.to_owned());
    let r = Region::new(GLOBAL);
    let msg = ServerMessage::decode(&owned).unwrap();
    let owned_allocs = r.change().allocations;
    drop(msg);

    eprintln!(
        "order_updated allocations: codec decode {decode_allocs}, client path {} per frame, decode of a Vec-backed frame {owned_allocs}",
        client_allocs as f64 / 100.0
    );
    assert_eq!(
        decode_allocs, 0,
        "codec decode of a shared frame allocates nothing"
    );
    assert_eq!(client_allocs, 0, "handle_frame + poll_event allocates nothing");
    assert!(owned_allocs <= 1, "{owned_allocs}");
}
