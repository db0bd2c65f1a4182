//! Allocation budget: decoding the 417-byte BitSkins `listed` frame allocates nothing, and neither does the
//! full client path (`handle_frame` + draining `poll_event`) once the session is warm.
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock origin
#![allow(clippy::print_stderr)] // the figures are reported with --nocapture

mod common;

use std::time::Instant;

use feedwire_core::{Frame, Session};
use feedwire_pusher::client::{Config, Event};
use feedwire_pusher::codec::ServerMessage;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

fn listed_frame() -> Frame {
    let text = common::bitskins_listed();
    assert_eq!(text.len(), 417);
    let frame = Frame::from(text);
    // A Vec-backed `Bytes` allocates its shared header the first time it is cloned or sliced; frames coming
    // from a transport are usually shared already. Promote it here, outside the measured region.
    drop(frame.clone());
    frame
}

/// The counting allocator is global: measurements running on parallel test threads would count each other's
/// allocations (and libtest's). One test runs them in turn.
#[test]
fn allocation_budgets() {
    codec_decode_of_a_channel_event_allocates_nothing();
    client_path_allocates_nothing_when_warm();
    a_fresh_unshared_frame_costs_one_allocation();
}

fn codec_decode_of_a_channel_event_allocates_nothing() {
    let frame = listed_frame();
    let region = Region::new(GLOBAL);
    let mut n = 0;
    for _ in 0..100 {
        let msg = ServerMessage::decode(&frame).unwrap();
        if let ServerMessage::Event(e) = &msg {
            n += e.data.as_ref().map_or(0, |d| d.raw().as_str().len());
        }
        drop(msg);
    }
    let change = region.change();
    assert!(n > 0);
    eprintln!(
        "codec decode x100: {} allocations, {} bytes",
        change.allocations, change.bytes_allocated
    );
    assert_eq!(change.allocations, 0, "decode allocated: {change:?}");
    assert_eq!(change.reallocations, 0);
}

fn client_path_allocates_nothing_when_warm() {
    let now = Instant::now();
    let mut c = common::subscribed(now, Config::bitskins(), "inventory_changes");
    let frame = listed_frame();
    // warm up once (the event queue already has capacity)
    c.handle_frame(now, frame.clone());
    while c.poll_event().is_some() {}

    let region = Region::new(GLOBAL);
    let mut got = 0;
    for _ in 0..100 {
        c.handle_frame(now, frame.clone());
        while let Some(ev) = c.poll_event() {
            if let Event::Message { event, .. } = &ev {
                assert_eq!(event, "listed");
                got += 1;
            }
        }
    }
    let change = region.change();
    eprintln!(
        "client path x100: {} allocations, {} bytes",
        change.allocations, change.bytes_allocated
    );
    assert_eq!(got, 100);
    assert_eq!(change.allocations, 0, "client path allocated: {change:?}");
}

fn a_fresh_unshared_frame_costs_one_allocation() {
    // `Frame::from(String)` keeps the Vec as is; the first zero-copy slice promotes it to a shared buffer,
    // which allocates the reference-count header once per frame. Everything else stays allocation-free.
    let text = common::bitskins_listed();
    let frames: Vec<Frame> = (0..100).map(|_| Frame::from(text.clone())).collect();
    let region = Region::new(GLOBAL);
    for f in &frames {
        drop(ServerMessage::decode(f).unwrap());
    }
    let change = region.change();
    eprintln!(
        "codec decode of 100 fresh frames: {} allocations",
        change.allocations
    );
    assert!(change.allocations <= 100, "{change:?}");
}
