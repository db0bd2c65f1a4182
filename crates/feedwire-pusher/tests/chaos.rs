//! Chaos: the fuzzing entry points (decoder and session invariants) over every testdata frame and over
//! thousands of proptest-generated inputs, so the fuzz invariants run in `cargo test`.

use feedwire_pusher::fuzzing;
use proptest::prelude::*;

fn testdata() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for entry in std::fs::read_dir("../../testdata/pusher/frames").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            v.push(std::fs::read(path).unwrap());
        }
    }
    assert!(v.len() >= 60, "testdata frames: {}", v.len());
    v
}

#[test]
fn decode_every_testdata_frame() {
    for f in testdata() {
        fuzzing::decode(&f);
    }
}

#[test]
fn session_over_testdata_frames_as_scripts() {
    for f in testdata() {
        fuzzing::session(&f);
    }
}

#[test]
fn session_long_deterministic_scripts() {
    // a cheap deterministic generator, independent of proptest's shrinking
    let mut rng = fastrand_like(0x5eed);
    for _ in 0..300 {
        let len = (rng() % 600) as usize;
        let data: Vec<u8> = (0..len).map(|_| (rng() & 0xff) as u8).collect();
        fuzzing::session(&data);
    }
}

fn fastrand_like(mut s: u64) -> impl FnMut() -> u64 {
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decode_never_panics(data in prop::collection::vec(any::<u8>(), 0..300)) {
        fuzzing::decode(&data);
    }

    #[test]
    fn session_invariants_hold(data in prop::collection::vec(any::<u8>(), 0..400)) {
        fuzzing::session(&data);
    }
}
