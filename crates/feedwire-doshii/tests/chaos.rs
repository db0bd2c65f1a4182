//! The fuzzing entry points, run over every testdata frame and thousands of generated inputs, so their
//! invariants hold in `cargo test`.

use feedwire_core::testing::chaos;
use feedwire_doshii::fuzzing;
use proptest::prelude::*;

fn testdata() -> Vec<Vec<u8>> {
    let files = chaos::files_in(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/frames"));
    assert!(files.len() > 40, "testdata frames missing");
    files.into_iter().map(|(_, bytes)| bytes).collect()
}

#[test]
fn testdata_frames_through_every_entry_point() {
    let frames = testdata();
    for f in &frames {
        fuzzing::decode(f);
        fuzzing::session(f);
        fuzzing::hub(f);
    }
    // and all of them as one long input
    let all: Vec<u8> = frames.concat();
    fuzzing::session(&all);
    fuzzing::hub(&all);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2500))]

    #[test]
    fn decode_chaos(data in prop::collection::vec(any::<u8>(), 0..256)) {
        fuzzing::decode(&data);
    }

    #[test]
    fn emit_shaped_chaos(name in r#"[a-z_\\"\t ]{0,12}"#, data in r#"[\[\]{}",:0-9a-z\\ ]{0,40}"#) {
        // the exact wire shape, which the codec reads on a fast path: it must agree with the general one
        fuzzing::decode(format!(r#"{{"emit":["{name}",{data}]}}"#).as_bytes());
        fuzzing::decode(format!(r#"{{"emit":["{name}",{{"id":"{data}"}}]}}"#).as_bytes());
    }

    #[test]
    fn session_chaos(data in prop::collection::vec(any::<u8>(), 0..1024)) {
        fuzzing::session(&data);
    }

    #[test]
    fn hub_chaos(data in prop::collection::vec(any::<u8>(), 0..1024)) {
        fuzzing::hub(&data);
    }
}

/// A flood of events and server pings: the queues stay within `max_queued` when the application does not
/// poll, every event is then either delivered once (in order) or counted in `dropped_events`, and with polling
/// every event is delivered exactly once.
#[test]
fn a_flood_keeps_queues_bounded_and_delivers_every_event_once() {
    use feedwire_core::{Frame, Limits, Session, UnixAnchor};
    use feedwire_doshii::client::{Client, Config, Event};
    #[allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin
    let t0 = std::time::Instant::now();
    let mut c = Client::new(
        Config::app("client-id", UnixAnchor::new(t0, 1_700_000_000_000))
            .with_limits(Limits::default().with_max_queued(16)),
    );
    c.connect(t0);
    while c.poll_transmit().is_some() {}
    c.handle_open(t0, None);
    while c.poll_transmit().is_some() {}
    while c.poll_event().is_some() {}
    let event = |n: u64| {
        Frame::from(format!(
            r#"{{"emit":["order_updated",{{"id":"{n}","status":"accepted"}}]}}"#
        ))
    };
    let drain = |c: &mut Client| -> Vec<u64> {
        std::iter::from_fn(|| c.poll_event())
            .filter_map(|ev| match ev {
                Event::Doshii(e) => e.data.id().and_then(|id| id.parse().ok()),
                _ => None,
            })
            .collect()
    };
    for n in 0..1000 {
        c.handle_frame(t0, event(n));
        c.handle_frame(t0, Frame::from(format!(r#"{{"doshii":{{"ping":{n}}}}}"#)));
        // the pongs are the session's own frames: queued up to twice the bound, then dropped and counted
        chaos::assert_bounded(c.queue_stats(), 16, 2 * 16);
    }
    let stats = c.queue_stats();
    assert_eq!(stats.queued_transmits, 2 * 16, "the pongs filled twice the bound");
    assert_eq!(
        stats.dropped_transmits,
        1000 - 2 * 16,
        "and the rest were counted"
    );
    let queued = stats.queued_events as u64;
    let got = drain(&mut c);
    chaos::assert_kept_in_order(&got);
    // one event per frame (the event, or the server ping): each queued or counted as dropped
    assert_eq!(
        queued + c.queue_stats().dropped_events,
        2000,
        "every event delivered or counted"
    );
    chaos::assert_each_delivered_once(&mut c, t0, 1000..3000, event, drain, |c| {
        c.queue_stats().dropped_events
    });
}
