//! What the protocol crates' chaos tests share: their testdata frames, a deterministic byte stream for long
//! fuzz runs, and the checks after a flood of numbered events.

use std::fmt::Debug;
use std::path::PathBuf;
use std::time::Instant;

use crate::frame::Frame;
use crate::outbox::QueueStats;
use crate::session::Session;

/// The files of `dir`, sorted by path, each read whole.
pub fn files_in(dir: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|entry| entry.unwrap().path())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, bytes)
        })
        .collect()
}

/// A xorshift64 stream from `seed` (not zero): cheap, deterministic pseudo-random numbers, independent of
/// proptest's shrinking, for long fuzz runs from fixed seeds.
pub fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

/// The next `len` numbers of `rng`, each cut to its low byte.
pub fn bytes(rng: &mut impl FnMut() -> u64, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng() as u8).collect()
}

/// Checks a session's queues during a flood nobody polls: at most `events` events and `transmits` transmits
/// wait.
pub fn assert_bounded(stats: QueueStats, events: usize, transmits: usize) {
    assert!(
        stats.queued_events <= events,
        "event queue {}",
        stats.queued_events
    );
    assert!(
        stats.queued_transmits <= transmits,
        "transmit queue {}",
        stats.queued_transmits
    );
}

/// Checks what a client let through of a flood it could not keep up with: `got`, the numbers it delivered,
/// are not empty and strictly increasing (each delivered once, in order).
pub fn assert_kept_in_order<N: Ord + Debug>(got: &[N]) {
    assert!(!got.is_empty() && got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
}

/// Checks the aftermath of a flood of `sent` events: the numbers delivered, `got`, are in order
/// ([`assert_kept_in_order`]), and with the `dropped` events they count every one sent.
pub fn assert_delivered_or_counted<N: Ord + Debug>(got: &[N], dropped: u64, sent: u64) {
    assert_kept_in_order(got);
    assert_eq!(
        got.len() as u64 + dropped,
        sent,
        "every event delivered or counted"
    );
}

/// Feeds `session` the event `frame(n)` for each `n` of `numbers`, polling with `drain` (the numbers of the
/// events it delivered) after each, and checks that every number is delivered exactly once, in order, and
/// that no more events are dropped (`dropped`, the session's count of dropped events, stays as it was).
pub fn assert_each_delivered_once<S: Session, N: Copy + PartialEq + Debug>(
    session: &mut S,
    now: Instant,
    numbers: impl IntoIterator<Item = N> + Clone,
    frame: impl Fn(N) -> Frame,
    mut drain: impl FnMut(&mut S) -> Vec<N>,
    dropped: impl Fn(&S) -> u64,
) {
    let before = dropped(session);
    let mut all = Vec::new();
    for n in numbers.clone() {
        session.handle_frame(now, frame(n));
        all.extend(drain(session));
    }
    assert_eq!(
        all,
        numbers.into_iter().collect::<Vec<N>>(),
        "each event exactly once, in order"
    );
    assert_eq!(dropped(session), before, "no event dropped while polled");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_xorshift_stream_is_the_classic_one() {
        let mut rng = xorshift(1);
        assert_eq!(rng(), 1_082_269_761);
        assert_eq!(bytes(&mut xorshift(1), 2), [0x41, 0x41]);
    }
}
