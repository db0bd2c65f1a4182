//! Runs the fuzzing entry points (and their invariants) over every testdata frame and thousands of generated
//! inputs, so `cargo test` exercises what the fuzzers do.

use feedwire_actioncable::fuzzing;
use proptest::prelude::*;

fn frames() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/actioncable/frames");
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    out.sort();
    assert!(out.len() >= 40);
    out
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
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let bytes: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
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
