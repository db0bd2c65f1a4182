//! Runs the fuzzing entry points (and their invariants) over every testdata frame and thousands of generated
//! inputs, so `cargo test` exercises what the fuzzers do.

mod common;

use std::time::Instant;

use feedwire_actioncable::client::{Client, Config};
use feedwire_actioncable::fuzzing;
use feedwire_actioncable::identifier::Identifier;
use feedwire_core::Limits;
use feedwire_core::testing::chaos;
use proptest::prelude::*;

fn frames() -> Vec<Vec<u8>> {
    let files = chaos::files_in(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/frames"));
    assert!(files.len() >= 40);
    files.into_iter().map(|(_, bytes)| bytes).collect()
}

#[test]
fn every_testdata_frame_through_every_entry_point() {
    for f in frames() {
        fuzzing::decode(&f);
        fuzzing::session(&f);
        fuzzing::hub(&f);
    }
}

#[test]
fn long_deterministic_runs() {
    // a cheap xorshift stream of bytes: long op sequences from fixed seeds
    for seed in 1..200u64 {
        let bytes = chaos::bytes(
            &mut chaos::xorshift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            4096,
        );
        fuzzing::session(&bytes);
        fuzzing::hub(&bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        fuzzing::decode(&data);
        fuzzing::session(&data);
        fuzzing::hub(&data);
    }
}

/// The `n` of a `{"n":N}` payload.
fn n_of(text: &str) -> Option<u64> {
    serde_json::from_str::<serde_json::Value>(text).ok()?["n"].as_u64()
}

/// A client in `common::ROOM` whose queues hold `max_queued` each, and the time it stands at.
fn in_room_with_max_queued(max_queued: usize) -> (Client, Identifier, Instant) {
    #[allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin
    let now = Instant::now();
    let config = Config::new("ws://h/cable").with_limits(Limits::default().with_max_queued(max_queued));
    let (c, room) = common::in_room(now, config);
    (c, room, now)
}

/// A flood of broadcasts and commands: the queues stay within `max_queued` when the application does not poll,
/// commands past the bound are refused (`QueueFull`, nothing lost silently), every broadcast is then either
/// delivered once (in order) or counted in `dropped_events`, and with polling every broadcast is delivered
/// exactly once.
#[test]
fn a_flood_keeps_queues_bounded_and_delivers_every_broadcast_once() {
    use feedwire_actioncable::client::{CommandError, Event};
    use feedwire_core::{Frame, Session, Transmit};
    let (mut c, room, now) = in_room_with_max_queued(16);
    let msg = |n: u64| {
        Frame::from(format!(
            r#"{{"identifier":"{{\"channel\":\"ChatChannel\",\"id\":42}}","message":{{"n":{n}}}}}"#
        ))
    };
    let drain = |c: &mut Client| -> Vec<u64> {
        std::iter::from_fn(|| c.poll_event())
            .filter_map(|ev| match ev {
                Event::Message { message, .. } => n_of(message.as_str()),
                _ => None,
            })
            .collect()
    };
    let mut refused = 0;
    for n in 0..1000 {
        c.handle_frame(now, msg(n));
        match c.perform(&room, "speak", serde_json::json!({ "n": n })) {
            Ok(()) => assert!(n < 16, "perform {n} accepted past the bound"),
            Err(CommandError::QueueFull(full)) => {
                assert_eq!(full.queued, 16);
                refused += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(
        refused,
        1000 - 16,
        "commands past the bound are refused, not dropped"
    );
    assert_eq!(c.queue_stats().dropped_transmits, 0);
    // a disconnect after the flood: its close must survive the full transmit queue
    c.disconnect(now);
    let out: Vec<Transmit> = std::iter::from_fn(|| c.poll_transmit()).collect();
    assert!(out.len() <= 17, "transmit queue {}", out.len());
    assert!(
        matches!(out.last(), Some(Transmit::Close(_))),
        "the close is kept: {out:?}"
    );
    let stats = c.queue_stats();
    let got = drain(&mut c);
    assert!(got.len() <= 16);
    // the newest are dropped (the oldest stay, in order), and `Stopped` is kept past the bound, so every
    // dropped event was a broadcast
    assert_eq!(got, (0..16).collect::<Vec<u64>>());
    chaos::assert_delivered_or_counted(&got, stats.dropped_events, 1000);
}

/// With the application polling after every frame, every broadcast is delivered exactly once, in order.
#[test]
fn every_broadcast_is_delivered_exactly_once() {
    use feedwire_actioncable::client::Event;
    use feedwire_core::{Frame, Session};
    let (mut c, _, now) = in_room_with_max_queued(4);
    let mut all = Vec::new();
    for n in 0..3000u64 {
        c.handle_frame(
            now,
            Frame::from(format!(
                r#"{{"identifier":"{{\"channel\":\"ChatChannel\",\"id\":42}}","message":{{"n":{n}}}}}"#
            )),
        );
        while let Some(ev) = c.poll_event() {
            if let Event::Message { message, .. } = ev {
                all.extend(n_of(message.as_str()));
            }
        }
    }
    assert_eq!(all, (0..3000).collect::<Vec<u64>>());
    assert_eq!(c.queue_stats().dropped_events, 0);
}

/// Found by the fuzz campaign (actioncable_client, 5.6M executions in): a raw frame that was a welcome
/// (`{"type":"welcome"}` and trailing newlines) made the client re-send its subscribes, as @rails/actioncable
/// does, but the driver cleared its in-flight set only for welcomes it built itself and reported two
/// subscribes in flight. The client was right; the driver now decodes raw frames for its bookkeeping.
#[test]
fn campaign_crash_two_subscribes_in_flight() {
    let input: &[u8] = &[
        123, 192, 17, 17, 17, 0, 0, 0, 0, 17, 17, 17, 17, 17, 17, 17, 140, 17, 17, 17, 17, 17, 17, 17, 17,
        255, 123, 9, 34, 17, 26, 239, 232, 117, 214, 214, 214, 214, 98, 41, 41, 255, 10, 10, 10, 10, 10, 10,
        10, 10, 10, 10, 10, 10, 17, 17, 17, 17, 17, 17, 17, 17, 255, 123, 9, 34, 17, 26, 241, 232, 117, 214,
        214, 214, 214, 98, 41, 41, 255, 0, 0, 0, 0, 1, 0, 255, 123, 255, 0, 0, 0, 0, 255, 255, 255, 123, 34,
        115, 105, 110, 99, 101, 34, 58, 9, 91, 91, 91, 91, 91, 91, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,
        10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,
        92, 34, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,
        10, 10, 10, 10, 10, 10, 10, 10, 10, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 123,
        32, 34, 112, 111, 110, 103, 34, 32, 32, 32, 224, 223, 140, 17, 17, 17, 17, 17, 17, 17, 17, 255, 123,
        9, 34, 17, 26, 239, 232, 26, 239, 232, 117, 214, 214, 214, 214, 98, 41, 41, 255, 0, 0, 0, 0, 1, 0,
        255, 123, 34, 116, 121, 112, 101, 34, 58, 34, 119, 101, 108, 99, 111, 109, 101, 34, 125, 10, 10, 10,
        10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,
        10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,
        10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 9, 9, 9, 42, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
        9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 109, 101, 115, 115, 97, 103, 9, 9, 9, 9, 9, 9, 112, 111, 110,
        103, 34, 32, 32, 32, 41, 41, 255, 0, 0, 0, 17, 17, 17, 183, 183, 183, 183, 183, 183, 42, 0, 0, 9, 9,
        9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
        9, 9, 9, 9, 9, 9, 9, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190,
        190, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190,
        190, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190, 190,
        190, 190, 190, 190, 190, 190, 190, 190, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 0, 0, 214, 98, 41, 41, 255,
        0, 0, 0, 0, 255, 255, 255, 123, 34, 115, 159, 158, 255, 159, 159, 183, 0, 0, 143, 105, 110, 153, 99,
        101, 34, 114, 10, 10, 10, 10, 8, 10, 10, 10, 10, 10, 10, 10, 10, 10, 128, 10, 10, 155,
    ];
    fuzzing::session(input);
}
