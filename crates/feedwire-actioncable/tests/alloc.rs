//! Allocation budget of the inbound data path: zero heap allocations per data frame.
#![allow(clippy::disallowed_methods)] // one real Instant as the clock origin
#![allow(clippy::print_stderr)] // the test reports its figures (run with --nocapture)

mod common;

use std::time::Instant;

use feedwire_actioncable::client::{Client, Config, Event};
use feedwire_actioncable::codec::ServerMessage;
use feedwire_actioncable::identifier::Identifier;
use feedwire_core::{Frame, Session};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

/// A ~320-byte data frame whose identifier carries Rails' `\u003c` escapes (and the usual `\"`).
const FRAME: &str =
    include_str!("../testdata/frames/server_message_escaped_identifier_320b.json").trim_ascii_end();

fn room() -> Identifier {
    Identifier::builder("ChatChannel")
        .param("room", "<b>R&D</b>")
        .unwrap()
        .build()
}

fn connected_client(now: Instant) -> Client {
    common::confirmed(
        now,
        Config::new("ws://h/cable"),
        &room(),
        r#"{\"channel\":\"ChatChannel\",\"room\":\"\u003cb\u003eR\u0026D\u003c/b\u003e\"}"#,
    )
}

/// Feeds `frames` and drains events; returns the allocations counted and the messages seen.
fn client_path(c: &mut Client, now: Instant, frames: Vec<Frame>) -> (usize, usize) {
    let mut messages = 0;
    let region = Region::new(GLOBAL);
    for f in frames {
        c.handle_frame(now, f);
        while let Some(ev) = c.poll_event() {
            if let Event::Message { message, .. } = &ev {
                messages += usize::from(message.as_str().len() > 100);
            }
        }
    }
    (region.change().allocations, messages)
}

/// One test function: the counting allocator is global, so parallel tests would count each other.
#[test]
fn allocation_budget() {
    decode_allocates_nothing();
    client_path_allocates_nothing_per_data_frame();
}

fn decode_allocates_nothing() {
    assert!((300..=340).contains(&FRAME.len()), "{}", FRAME.len());
    let frame = Frame::from(FRAME);
    // The counter is process-wide: an allocation made elsewhere in the process while a measurement runs (4 of
    // them once, in CI's package check, not reproduced since) must not fail the budget, so the fewest of three
    // tries of 100 frames counts; an allocation per frame shows in every try.
    let allocs = (0..3)
        .map(|_| {
            let region = Region::new(GLOBAL);
            let mut ok = 0;
            for _ in 0..100 {
                if let Ok(ServerMessage::Message { identifier, .. }) = ServerMessage::decode(&frame) {
                    ok += usize::from(identifier.eq_str(r#"{"channel":"ChatChannel","room":"<b>R&D</b>"}"#));
                }
            }
            let n = region.change().allocations;
            assert_eq!(ok, 100);
            n
        })
        .min()
        .unwrap_or(usize::MAX);
    eprintln!("decode: {allocs} allocations for 100 frames");
    assert_eq!(allocs, 0);
}

fn client_path_allocates_nothing_per_data_frame() {
    let now = Instant::now();
    let mut c = connected_client(now);
    // warm up: the event queue reaches its working capacity
    client_path(&mut c, now, vec![Frame::from(FRAME)]);

    // The transport's buffer is already shared (a static here; a refcounted `Bytes` alike).
    let frames: Vec<Frame> = (0..100).map(|_| Frame::from(FRAME)).collect();
    let (allocs, messages) = client_path(&mut c, now, frames);
    eprintln!("client path, shared buffers: {allocs} allocations for 100 frames");
    assert_eq!(messages, 100);
    assert_eq!(allocs, 0, "zero allocations per inbound data frame");

    // A frame built from an owned `String` holds a "promotable" `Bytes`: the first zero-copy slice of it makes
    // `bytes` allocate its shared header once. That is the transport buffer's cost, at most one per frame.
    let frames: Vec<Frame> = (0..100).map(|_| Frame::from(FRAME.to_string())).collect();
    let (allocs, messages) = client_path(&mut c, now, frames);
    eprintln!("client path, owned String buffers: {allocs} allocations for 100 frames");
    assert_eq!(messages, 100);
    assert!(allocs <= 100, "{allocs}");
}
