//! Allocation counts of the hot paths, with a counting global allocator (its own test binary).
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin

use std::time::Instant;

use feedwire_core::{Frame, Session};
use feedwire_igratech::client::{Client, Config, Event};
use feedwire_igratech::codec::ServerMessage;
use feedwire_igratech::envelope::{Envelope, NestEnvelope};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

const BET: &str = include_str!("../testdata/frames/bet.json");

fn connected_client(checked: bool) -> Client {
    let now = Instant::now();
    let mut c = Client::new(Config::default().with_checked_payloads(checked));
    c.connect(now);
    while c.poll_transmit().is_some() {}
    c.handle_open(now, None);
    while c.poll_transmit().is_some() {}
    c
}

/// Allocations of `handle_frame(bet)` + draining `poll_event`, in steady state (the frame's buffer already
/// shared, as a transport's frames are; the event queue already grown).
fn client_path(checked: bool) -> usize {
    let now = Instant::now();
    let mut c = connected_client(checked);
    let frame = Frame::from(BET.to_owned());
    drop(frame.clone());
    for _ in 0..3 {
        c.handle_frame(now, frame.clone());
        while c.poll_event().is_some() {}
    }
    let r = Region::new(GLOBAL);
    c.handle_frame(now, frame.clone());
    let mut got = 0;
    while let Some(ev) = c.poll_event() {
        assert!(matches!(ev, Event::Bet(_)), "{ev:?}");
        got += 1;
    }
    let n = r.change().allocations;
    assert_eq!(got, 1);
    n
}

// One test function: the allocator is global, so measurements must not run in parallel.
#[test]
#[allow(clippy::print_stderr)] // the counts are reported with --nocapture
fn allocation_budgets() {
    let frame = Frame::from(BET.to_owned());
    drop(frame.clone());

    // The reference: serde_json skipping the same bytes. Its skipper keeps a nesting stack in a `Vec`, so
    // skipping any payload nested two levels deep costs one allocation, for `IgnoredAny` and `RawValue` alike.
    let r = Region::new(GLOBAL);
    serde_json::from_str::<serde::de::IgnoredAny>(frame.as_str()).unwrap();
    let ignored_any = r.change().allocations;
    // The counter is process-wide: an allocation made elsewhere in the process while a measurement runs
    // (seen about once in ten runs on a loaded machine, for the first measurement of a process) must not fail
    // a budget, so the fewest of three tries counts; an allocation per frame shows in every try.
    let split = (0..3)
        .map(|_| {
            let r = Region::new(GLOBAL);
            let m = NestEnvelope.split(frame.as_str()).unwrap();
            let n = r.change().allocations;
            assert_eq!(m.event, "bet");
            n
        })
        .min()
        .unwrap_or(usize::MAX);

    let r = Region::new(GLOBAL);
    let typed = ServerMessage::decode(&frame).unwrap();
    let decode = r.change().allocations;
    drop(typed);

    let path = (0..3).map(|_| client_path(false)).min().unwrap_or(usize::MAX);
    let checked = client_path(true);

    eprintln!(
        "igratech bet frame ({} B): serde_json IgnoredAny {ignored_any} allocations, envelope split {split}, \
         typed decode {decode}, client path {path}, client path with checked payloads {checked}",
        BET.len()
    );
    assert_eq!(ignored_any, 1);
    assert_eq!(split, 0, "phase 1 borrows everything");
    assert_eq!(path, 0, "the client path hands out a slice of the frame");
    // typed decode: 4 bets x 3 strings (betId, market, outcome) + the game id + the bets Vec (+ growth)
    assert!(decode <= 20, "typed decode allocated {decode} times");
    // checked: the same typed parse, dropped again
    assert!(checked <= decode, "checked client path allocated {checked} times");
}
